"""e2e: model lifecycle — hot swaps under load with zero failed requests, failed loads that keep the
previous version serving, weighted and sticky traffic splits, shadow mirroring, explicit load/unload,
and repository path safety."""
import collections
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, REPO, Server, stubs, wait_until  # noqa: E402

stubs()
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLES = json.load(f)
SRC = os.path.join(REPO, "recommender")
with open(os.path.join(SRC, "config.pbtxt")) as f:
    BASE_CONFIG = f.read()


def make_repo(versions, extra_config=""):
    root = tempfile.mkdtemp(prefix="protoserve-lifecycle-")
    model = os.path.join(root, "recommender")
    os.makedirs(model)
    shutil.copy(os.path.join(SRC, "labels.txt"), model)
    write_config(root, extra_config)
    for v in versions:
        add_version(root, v)
    return root


def write_config(root, extra):
    path = os.path.join(root, "recommender", "config.pbtxt")
    with open(path + ".tmp", "w") as f:
        f.write(BASE_CONFIG + "\n" + extra + "\n")
    os.replace(path + ".tmp", path)  # atomic: a poll never sees half a file


def add_version(root, v, broken=False):
    tmp = os.path.join(root, f".staging-{v}")
    os.makedirs(tmp)
    if broken:
        with open(os.path.join(tmp, "model.pt"), "wb") as f:
            f.write(b"this is not a TorchScript archive")
    else:
        shutil.copy(os.path.join(SRC, "1", "model.pt"), os.path.join(tmp, "model.pt"))
    os.rename(tmp, os.path.join(root, "recommender", str(v)))  # appears whole


def request(i):
    s = SAMPLES[i % len(SAMPLES)]
    return pb.RecommendationRequest(user_id=s["user_id"], features=s["features"])


def index(stub):
    return {(m.name, m.version): (m.state, m.reason) for m in stub.RepositoryIndex(ipb.RepositoryIndexRequest()).models}


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


class HotSwapE2E(unittest.TestCase):
    def test_ten_swaps_and_a_broken_version_under_load(self):
        root = make_repo([1])
        try:
            with Server("--model-control-mode=poll", "--repository-poll-secs=1", repo=root) as server:
                channel = grpc.insecure_channel(server.target)
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                admin = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                stop = threading.Event()
                results = []  # (time, latency_s, version or error)
                lock = threading.Lock()

                def client(seed):
                    i = seed
                    while not stop.is_set():
                        start = time.perf_counter()
                        try:
                            r = stub.GetRecommendations(request(i), timeout=30)
                            outcome = r.model_version
                            if len(r.item_ids) != 10:
                                outcome = "short answer"
                        except grpc.RpcError as e:
                            outcome = f"{e.code().name}: {e.details()}"
                        with lock:
                            results.append((time.time(), time.perf_counter() - start, outcome))
                        i += 7

                threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
                for t in threads:
                    t.start()
                time.sleep(2)
                steady_end = time.time()
                ready_versions = {1}
                swap_start = time.time()
                for v in range(2, 12):
                    if v == 6:  # once: a broken version is dropped in; the current one keeps serving
                        add_version(root, 100, broken=True)
                        self.assertTrue(wait_until(lambda: index(admin).get(("recommender", "100"), ("",))[0] == "FAILED", 20))
                        state, reason = index(admin)[("recommender", "100")]
                        self.assertIn("TorchScript", reason)
                        shutil.rmtree(os.path.join(root, "recommender", "100"))
                        self.assertTrue(wait_until(lambda: ("recommender", "100") not in index(admin)
                                                   or index(admin)[("recommender", "100")][0] != "FAILED", 20))
                    add_version(root, v)
                    self.assertTrue(wait_until(lambda: index(admin).get(("recommender", str(v)), ("",))[0] == "READY", 30),
                                    index(admin))
                    ready_versions.add(v)
                    time.sleep(0.5)
                swap_end = time.time()
                time.sleep(1)
                stop.set()
                for t in threads:
                    t.join()
                channel.close()
        finally:
            shutil.rmtree(root)

        failures = [r for r in results if not isinstance(r[2], int)]
        self.assertEqual(failures[:5], [], f"{len(failures)} failed of {len(results)}")
        served = collections.Counter(r[2] for r in results)
        self.assertTrue(set(served) <= ready_versions, served)
        self.assertNotIn(100, served)
        self.assertGreaterEqual(len(served), 8, served)  # traffic really moved across versions
        steady = [r[1] for r in results if r[0] < steady_end]
        swapping = [r[1] for r in results if swap_start <= r[0] <= swap_end]
        print(f"\nhot swap: {len(results)} requests, 0 failed, versions served {dict(sorted(served.items()))}; "
              f"p99 steady {percentile(steady, 99) * 1e3:.2f} ms vs during swaps {percentile(swapping, 99) * 1e3:.2f} ms "
              f"(p50 {percentile(steady, 50) * 1e3:.2f} / {percentile(swapping, 50) * 1e3:.2f} ms)", file=sys.stderr)


SPLIT = """version_policy { specific { versions: [1, 2] } }
parameters { key: "protoserve.traffic_split" value { string_value: "%s" } }
parameters { key: "protoserve.traffic_split_sticky" value { string_value: "%s" } }
"""


def stream_versions(stub, n, user_ids=None):
    reqs = []
    for i in range(n):
        s = SAMPLES[i % len(SAMPLES)]
        uid = user_ids[i] if user_ids else f"random_user_{i}"
        reqs.append(pb.RecommendationRequest(user_id=uid, features=s["features"]))
    out = list(stub.StreamRecommendations(iter(reqs), timeout=300))
    assert all(not r.error_message for r in out), [r.error_message for r in out if r.error_message][:3]
    return [r.model_version for r in out]


class TrafficSplitE2E(unittest.TestCase):
    def test_weights_sticky_and_live_change(self):
        root = make_repo([1, 2], SPLIT % ("1:90,2:10", "false"))
        try:
            with Server("--model-control-mode=poll", "--repository-poll-secs=1", repo=root) as server:
                channel = grpc.insecure_channel(server.target)
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                versions = stream_versions(stub, 10000)
                share = versions.count(2) / len(versions)
                print(f"\nsplit 90/10 over 10000 requests: version 2 got {share:.2%}", file=sys.stderr)
                self.assertLess(abs(share - 0.10), 0.03)

                # An explicit version bypasses the split.
                r = stub.GetRecommendations(pb.RecommendationRequest(user_id="u", features=SAMPLES[0]["features"],
                                                                     model_version=2), timeout=10)
                self.assertEqual(r.model_version, 2)

                # Sticky: a user keeps one version while weights are fixed.
                write_config(root, SPLIT % ("1:50,2:50", "true"))
                time.sleep(2.5)
                users = [f"user_{i % 300:05d}" for i in range(3000)]
                versions = stream_versions(stub, 3000, users)
                by_user = collections.defaultdict(set)
                for u, v in zip(users, versions):
                    by_user[u].add(v)
                self.assertTrue(all(len(v) == 1 for v in by_user.values()))
                share = sum(1 for v in by_user.values() if 2 in v) / len(by_user)
                print(f"sticky 50/50 over 300 users: {share:.2%} of users on version 2, none switched", file=sys.stderr)
                self.assertLess(abs(share - 0.5), 0.12)

                # Weight change in poll mode takes effect without restart.
                write_config(root, SPLIT % ("1:0,2:100", "false"))
                time.sleep(2.5)
                self.assertEqual(set(stream_versions(stub, 500)), {2})
                channel.close()
        finally:
            shutil.rmtree(root)

    def test_shadow_mirrors_without_answering(self):
        root = make_repo([1, 2], """version_policy { specific { versions: [1, 2] } }
parameters { key: "protoserve.traffic_split" value { string_value: "1:100" } }
parameters { key: "protoserve.shadow" value { string_value: "2:50" } }""")
        try:
            with Server(repo=root) as server:
                channel = grpc.insecure_channel(server.target)
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                admin = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                self.assertEqual(set(stream_versions(stub, 2000)), {1})

                def successes(v):
                    st = admin.ModelStatistics(ipb.ModelStatisticsRequest(name="recommender", version=str(v)))
                    return st.model_stats[0].inference_stats.success.count
                self.assertTrue(wait_until(lambda: 800 <= successes(2) <= 1200, 10), successes(2))
                self.assertEqual(successes(1), 2000)

                # KServe over gRPC (inputs are views into the message: the
                # shadow gets copies) and over REST mirror the same way.
                mirrored_before = successes(2)
                sample = SAMPLES[0]
                user_hash = ipb.InferTensorContents(int64_contents=[12345])
                infer = ipb.ModelInferRequest(model_name="recommender")
                infer.inputs.add(name="user_hash", datatype="INT64", shape=[1, 1], contents=user_hash)
                infer.inputs.add(name="features", datatype="FP32", shape=[1, len(sample["features"])],
                                 contents=ipb.InferTensorContents(fp32_contents=sample["features"]))
                for _ in range(200):
                    self.assertEqual(admin.ModelInfer(infer, timeout=30).model_version, "1")
                body = json.dumps({"inputs": [
                    {"name": "user_hash", "datatype": "INT64", "shape": [1, 1], "data": [12345]},
                    {"name": "features", "datatype": "FP32", "shape": [1, len(sample["features"])],
                     "data": sample["features"]}]}).encode()
                for _ in range(200):
                    reply = urllib.request.urlopen(urllib.request.Request(
                        f"http://127.0.0.1:{server.http_port}/v2/models/recommender/infer", data=body,
                        headers={"Content-Type": "application/json"}), timeout=30)
                    self.assertEqual(json.loads(reply.read())["model_version"], "1")
                self.assertTrue(wait_until(lambda: 120 <= successes(2) - mirrored_before <= 280, 10),
                                successes(2) - mirrored_before)
                self.assertEqual(successes(1), 2400)

                # Identical versions agree on every mirrored request, whatever the API.
                metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics", timeout=30).read()
                agreement = {}
                for line in metrics.decode().splitlines():
                    for part in ("sum", "count"):
                        if line.startswith(f"protoserve_shadow_agreement_{part}{{") and 'model="recommender"' in line:
                            agreement[part] = float(line.split()[-1])
                self.assertEqual(agreement["count"], successes(2), agreement)
                self.assertAlmostEqual(agreement["sum"], agreement["count"], places=6)
                channel.close()
        finally:
            shutil.rmtree(root)


class ExplicitControlE2E(unittest.TestCase):
    def test_load_unload_and_unload_under_load(self):
        root = make_repo([1])
        try:
            with Server("--model-control-mode=explicit", "--allow-unauthenticated-management", repo=root) as server:
                channel = grpc.insecure_channel(server.target)
                admin = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                self.assertEqual(index(admin), {})  # nothing loaded without --load-model
                with self.assertRaises(grpc.RpcError) as ctx:
                    stub.GetRecommendations(request(0), timeout=10)
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
                admin.RepositoryModelLoad(ipb.RepositoryModelLoadRequest(model_name="recommender"), timeout=60)
                self.assertEqual(stub.GetRecommendations(request(0), timeout=10).model_version, 1)
                with self.assertRaises(grpc.RpcError) as ctx:
                    admin.RepositoryModelLoad(ipb.RepositoryModelLoadRequest(model_name="../etc"), timeout=10)
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
                with self.assertRaises(grpc.RpcError) as ctx:
                    admin.RepositoryModelLoad(ipb.RepositoryModelLoadRequest(model_name="absent"), timeout=10)
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

                codes = collections.Counter()
                stop = threading.Event()

                def client():
                    i = 0
                    while not stop.is_set():
                        try:
                            stub.GetRecommendations(request(i), timeout=30)
                            codes["OK"] += 1
                        except grpc.RpcError as e:
                            codes[e.code().name] += 1
                        i += 1

                threads = [threading.Thread(target=client) for _ in range(4)]
                for t in threads:
                    t.start()
                time.sleep(1)
                admin.RepositoryModelUnload(ipb.RepositoryModelUnloadRequest(model_name="recommender"), timeout=60)
                time.sleep(1)
                stop.set()
                for t in threads:
                    t.join()
                self.assertGreater(codes["OK"], 0)
                self.assertTrue(set(codes) <= {"OK", "UNAVAILABLE", "NOT_FOUND"}, codes)
                self.assertGreater(codes["UNAVAILABLE"] + codes["NOT_FOUND"], 0)
                self.assertEqual(index(admin)[("recommender", "1")][0], "UNAVAILABLE")
                # Load again: serving resumes.
                admin.RepositoryModelLoad(ipb.RepositoryModelLoadRequest(model_name="recommender"), timeout=60)
                self.assertEqual(stub.GetRecommendations(request(0), timeout=10).model_version, 1)
                channel.close()
        finally:
            shutil.rmtree(root)

    def test_load_unload_refused_outside_explicit_mode(self):
        with Server() as server:
            channel = grpc.insecure_channel(server.target)
            admin = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
            for call in (lambda: admin.RepositoryModelLoad(ipb.RepositoryModelLoadRequest(model_name="recommender")),
                         lambda: admin.RepositoryModelUnload(ipb.RepositoryModelUnloadRequest(model_name="recommender"))):
                with self.assertRaises(grpc.RpcError) as ctx:
                    call()
                self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)
            channel.close()


class RepositorySafetyE2E(unittest.TestCase):
    def test_symlink_escape_is_refused(self):
        root = make_repo([1])
        outside = tempfile.mkdtemp(prefix="protoserve-outside-")
        try:
            shutil.copy(os.path.join(SRC, "1", "model.pt"), os.path.join(outside, "model.pt"))
            with Server("--model-control-mode=poll", "--repository-poll-secs=1", repo=root) as server:
                channel = grpc.insecure_channel(server.target)
                admin = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                os.symlink(outside, os.path.join(root, "recommender", "2"))  # version 2 points outside
                self.assertTrue(wait_until(lambda: ("recommender", "2") in index(admin)
                                           and index(admin)[("recommender", "2")][0] == "FAILED", 20))
                state, reason = index(admin)[("recommender", "2")]
                self.assertEqual(state, "FAILED")
                self.assertIn("outside the repository", reason)
                # The previous version keeps serving.
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                self.assertEqual(stub.GetRecommendations(request(0), timeout=10).model_version, 1)
                channel.close()
        finally:
            shutil.rmtree(root)
            shutil.rmtree(outside)

    def test_filesystem_errors_fail_the_model_not_the_server(self):
        # Finding 5 of issue 19: a config.pbtxt that is a symlink to itself
        # made fs::exists throw on the poller thread, which terminated the server.
        root = make_repo([1])
        try:
            with Server("--model-control-mode=poll", "--repository-poll-secs=1", repo=root) as server:
                channel = grpc.insecure_channel(server.target)
                admin = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                os.makedirs(os.path.join(root, "looping", "1"))
                os.symlink("config.pbtxt", os.path.join(root, "looping", "config.pbtxt"))
                os.symlink("labels.txt", os.path.join(root, "recommender", "loop.txt"))  # never read: harmless
                self.assertTrue(wait_until(lambda: any(
                    m.name == "looping" and "symbolic links" in m.reason
                    for m in admin.RepositoryIndex(ipb.RepositoryIndexRequest(), timeout=10).models), 20),
                    "\n".join(server.lines[-20:]))
                self.assertIsNone(server.proc.poll())
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                self.assertEqual(stub.GetRecommendations(request(0), timeout=10).model_version, 1)
                channel.close()
        finally:
            shutil.rmtree(root)


if __name__ == "__main__":
    unittest.main()
