"""e2e: the seed's Recommender answered by the trained model, through real clients."""
import json
import math
import os
import subprocess
import sys
import threading
import time
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLI, DATA, PYTHON, Server, cli, stubs, wait_until  # noqa: E402

stubs()
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402
import reflection_pb2  # noqa: E402
import reflection_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLES = json.load(f)


class RecommenderE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server().__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.stub = recommender_pb2_grpc.RecommenderStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def recommend(self, **kw):
        return self.stub.GetRecommendations(pb.RecommendationRequest(**kw), timeout=30)

    def assert_code(self, code, fragment, **kw):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.recommend(**kw)
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        self.assertIn(fragment, ctx.exception.details())

    def test_ten_distinct_items_non_increasing(self):
        s = SAMPLES[0]
        r = self.recommend(user_id=s["user_id"], features=s["features"])
        self.assertEqual(len(r.item_ids), 10)
        self.assertEqual(len(set(r.item_ids)), 10)
        self.assertEqual(len(r.scores), 10)
        self.assertTrue(all(a >= b for a, b in zip(r.scores, r.scores[1:])), list(r.scores))
        self.assertEqual(r.model_name, "recommender")
        self.assertEqual(r.model_version, 1)

    def test_matches_the_framework(self):
        """Top-10 and scores equal the scripted model run in Python torch."""
        for s in SAMPLES[:50]:
            r = self.recommend(user_id=s["user_id"], features=s["features"])
            expected = sorted(range(len(s["scores"])), key=lambda i: (-s["scores"][i], i))[:10]
            for got, idx in zip(r.scores, expected):
                self.assertLessEqual(abs(got - s["scores"][idx]), 1e-5)
            self.assertEqual(list(r.item_ids), s["top10"], s["user_id"])

    def test_identical_requests_identical_answers(self):
        s = SAMPLES[1]
        a = self.recommend(user_id=s["user_id"], features=s["features"], top_k=25)
        b = self.recommend(user_id=s["user_id"], features=s["features"], top_k=25)
        self.assertNotEqual(a.request_id, b.request_id)  # the one field that identifies the answer
        a.request_id = b.request_id = ""
        self.assertEqual(a, b)
        self.assertEqual(len(a.item_ids), 25)

    def test_different_users_different_lists(self):
        lists = {tuple(self.recommend(user_id=s["user_id"], features=s["features"]).item_ids) for s in SAMPLES[:20]}
        self.assertGreater(len(lists), 15)

    def test_exclude_item_ids(self):
        s = SAMPLES[2]
        first = self.recommend(user_id=s["user_id"], features=s["features"])
        again = self.recommend(user_id=s["user_id"], features=s["features"], exclude_item_ids=first.item_ids[:3])
        self.assertFalse(set(first.item_ids[:3]) & set(again.item_ids))
        self.assertEqual(list(again.item_ids[:7]), list(first.item_ids[3:]))

    def test_invalid_inputs(self):
        f = SAMPLES[0]["features"]
        bad = grpc.StatusCode.INVALID_ARGUMENT
        self.assert_code(bad, "features: expected 32 values, got 5", user_id="u", features=f[:5])
        self.assert_code(bad, "features: expected 32 values, got 0", user_id="u")
        self.assert_code(bad, "features[3]", user_id="u", features=f[:3] + [math.nan] + f[4:])
        self.assert_code(bad, "features[0]", user_id="u", features=[math.inf] + f[1:])
        self.assert_code(bad, "features[31]", user_id="u", features=f[:31] + [-math.inf])
        self.assert_code(bad, "user_id: must not be empty", user_id="", features=f)
        self.assert_code(bad, "user_id: 257 bytes", user_id="u" * 257, features=f)
        self.assert_code(bad, "top_k", user_id="u", features=f, top_k=-1)
        self.assert_code(bad, "top_k", user_id="u", features=f, top_k=1001)
        self.assert_code(grpc.StatusCode.NOT_FOUND, "model 'nope'", user_id="u", features=f, model_name="nope")
        self.assert_code(grpc.StatusCode.NOT_FOUND, "no version 9", user_id="u", features=f, model_version=9)
        self.assert_code(bad, "model_name", user_id="u", features=f, model_name="../etc")
        # Still healthy afterwards.
        self.assertEqual(len(self.recommend(user_id="u" * 256, features=f, top_k=1000).item_ids), 1000)

    def test_seed_proto_client(self):
        """A client compiled from the seed's byte-for-byte proto works unchanged."""
        requests = [{"user_id": s["user_id"], "features": s["features"]} for s in SAMPLES[:5]]
        requests.append({"user_id": "", "features": SAMPLES[0]["features"]})
        out = subprocess.run([PYTHON, os.path.join(os.path.dirname(__file__), "seed_client.py"), self.server.target],
                             input=json.dumps(requests), capture_output=True, text=True, timeout=120, check=True)
        results = json.loads(out.stdout)
        for s, r in zip(SAMPLES[:5], results):
            self.assertEqual(r["item_ids"], s["top10"])
            self.assertTrue(all(a >= b for a, b in zip(r["scores"], r["scores"][1:])))
        self.assertEqual(results[-1]["error"], "INVALID_ARGUMENT")

    def test_cli_recommend(self):
        s = SAMPLES[3]
        out = cli("recommend", "--target", self.server.target, "--user-id", s["user_id"], "--features",
                  ",".join(repr(x) for x in s["features"]), "--top-k", "5")
        self.assertEqual(out.returncode, 0, out.stderr)
        result = json.loads(out.stdout)
        self.assertEqual([i["item_id"] for i in result["items"]], s["top10"][:5])
        bad = cli("recommend", "--target", self.server.target, "--user-id", "x", "--features", "1,2,3")
        self.assertEqual(bad.returncode, 1)
        self.assertEqual(json.loads(bad.stderr)["error"]["code"], "INVALID_ARGUMENT")

    def test_cli_features_from_file(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"features-{os.getpid()}.json")
        with open(path, "w") as f:
            json.dump(SAMPLES[4]["features"], f)
        out = cli("recommend", "--target", self.server.target, "--user-id", SAMPLES[4]["user_id"],
                  "--features", "@" + path)
        os.unlink(path)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([i["item_id"] for i in json.loads(out.stdout)["items"]], SAMPLES[4]["top10"])

    def test_health(self):
        health = health_pb2_grpc.HealthStub(self.channel)
        for service in ["", "Recommender", "inference.GRPCInferenceService"]:
            r = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            self.assertEqual(r.status, health_pb2.HealthCheckResponse.SERVING, service)
        out = cli("health", "--target", self.server.target)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["status"], "SERVING")

    def test_reflection_lists_services(self):
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                              timeout=10)
        names = {s.name for r in responses for s in r.list_services_response.service}
        self.assertIn("Recommender", names)
        self.assertIn("grpc.health.v1.Health", names)

    def test_concurrent_clients_no_errors(self):
        """8 concurrent clients x 500 calls: 0 errors."""
        errors, done = [], [0]
        lock = threading.Lock()

        def client(idx):
            channel = grpc.insecure_channel(self.server.target)
            stub = recommender_pb2_grpc.RecommenderStub(channel)
            for i in range(500):
                s = SAMPLES[(idx * 500 + i) % len(SAMPLES)]
                try:
                    r = stub.GetRecommendations(pb.RecommendationRequest(user_id=s["user_id"], features=s["features"]),
                                                timeout=30)
                    if list(r.item_ids) != s["top10"]:
                        raise AssertionError(f"wrong answer for {s['user_id']}")
                    with lock:
                        done[0] += 1
                except Exception as e:  # noqa: BLE001 - every failure counts
                    with lock:
                        errors.append(repr(e))
            channel.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        start = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"\n8x500 calls in {time.time() - start:.1f} s", file=sys.stderr)
        self.assertEqual(errors, [])
        self.assertEqual(done[0], 4000)


class LifecycleE2E(unittest.TestCase):
    def test_sigterm_finishes_in_flight_calls(self):
        # --shutdown-delay-secs: health turns NOT_SERVING first while calls are still served, so
        # nothing arrives at the listener after it closes (gRPC 1.51 fails calls that arrive
        # during Server::Shutdown); then in-flight calls drain.
        with Server("--shutdown-delay-secs=1") as server:
            channel = grpc.insecure_channel(server.target)
            stub = recommender_pb2_grpc.RecommenderStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            s = SAMPLES[0]
            request = pb.RecommendationRequest(user_id=s["user_id"], features=s["features"])
            stub.GetRecommendations(request, timeout=30)  # connected
            futures = [stub.GetRecommendations.future(request, timeout=30) for _ in range(300)]
            time.sleep(0.05)
            server.proc.send_signal(15)
            self.assertTrue(wait_until(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                                       == health_pb2.HealthCheckResponse.NOT_SERVING, 5))
            codes = [f.code() for f in futures]
            self.assertEqual(codes, [grpc.StatusCode.OK] * 300)  # every accepted call completed
            self.assertEqual(server.proc.wait(60), 0)
            self.assertTrue(any("protoserve stopped" in line for line in server.lines))
            # Once stopped, calls are refused, not hung.
            with self.assertRaises(grpc.RpcError):
                stub.GetRecommendations(request, timeout=5)
            channel.close()

    def test_bad_repository_path_fails_clearly(self):
        proc = subprocess.run([os.path.join(os.path.dirname(CLI), "protoserve"), "--model-repository=/nonexistent",
                               "--grpc-port=0"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("not a directory", proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
