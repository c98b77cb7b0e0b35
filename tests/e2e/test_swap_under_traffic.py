"""e2e: hot swaps and unloads under traffic on every front-end (issue 19, finding 1).

The routed version handle used to be released before the batcher and the
version were done with a request (inline execution, refused enqueues), while
the repository's drain watched use_count() drop and freed the version: a
use-after-free under steady traffic during a swap or an unload. This drives
gRPC (Recommender and KServe), REST (/v1 and /v2) and gRPC-Web at once while
the poller swaps the model (its files change) and unloads and reloads it
(its version folder leaves and comes back). Every call must get an answer:
OK, or UNAVAILABLE / 503 while no version is ready; never INTERNAL, never a
hang, never a dead server. `make test-asan` runs it against the ASan build,
where a use-after-free aborts the server.
"""
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, REPO, Server, frame, stubs, wait_until  # noqa: E402

stubs()
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLE = json.load(f)[0]
SECONDS = 10


class SwapUnderTrafficE2E(unittest.TestCase):
    def test_swaps_and_unloads_under_traffic_on_every_front_end(self):
        root = tempfile.mkdtemp(prefix="protoserve-swap-")
        try:
            shutil.copytree(os.path.join(REPO, "recommender"), os.path.join(root, "recommender"))
            model = os.path.join(root, "recommender", "1", "model.pt")
            with Server("--model-control-mode=poll", "--repository-poll-secs=1", repo=root) as server:
                outcomes = {}
                lock = threading.Lock()
                stop = threading.Event()

                def record(api, outcome):
                    with lock:
                        outcomes.setdefault(api, {}).setdefault(outcome, 0)
                        outcomes[api][outcome] += 1

                request = pb.RecommendationRequest(user_id=SAMPLE["user_id"], features=SAMPLE["features"])

                def grpc_client():
                    with grpc.insecure_channel(server.target) as channel:
                        stub = recommender_pb2_grpc.RecommenderStub(channel)
                        kserve = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                        infer = ipb.ModelInferRequest(model_name="recommender")
                        infer.inputs.add(name="user_hash", datatype="INT64", shape=[1, 1]).contents.int64_contents.append(7)
                        infer.inputs.add(name="features", datatype="FP32", shape=[1, len(SAMPLE["features"])]) \
                            .contents.fp32_contents.extend(SAMPLE["features"])
                        while not stop.is_set():
                            for api, call in (("grpc", lambda: stub.GetRecommendations(request, timeout=30)),
                                              ("grpc-kserve", lambda: kserve.ModelInfer(infer, timeout=30))):
                                try:
                                    call()
                                    record(api, "OK")
                                except grpc.RpcError as e:
                                    record(api, e.code().name)

                def http_client():
                    body_v1 = json.dumps({"user_id": SAMPLE["user_id"], "features": SAMPLE["features"]})
                    body_v2 = json.dumps({"inputs": [
                        {"name": "user_hash", "datatype": "INT64", "shape": [1, 1], "data": [7]},
                        {"name": "features", "datatype": "FP32", "shape": [1, len(SAMPLE["features"])],
                         "data": SAMPLE["features"]}]})
                    web = frame(request.SerializeToString())
                    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
                    while not stop.is_set():
                        for api, path, body, content_type in (
                                ("rest-v1", "/v1/recommendations", body_v1, "application/json"),
                                ("rest-v2", "/v2/models/recommender/infer", body_v2, "application/json"),
                                ("grpc-web", "/Recommender/GetRecommendations", web, "application/grpc-web+proto")):
                            connection.request("POST", path, body=body, headers={"content-type": content_type})
                            response = connection.getresponse()
                            response.read()
                            status = response.status
                            if api == "grpc-web":
                                status = response.getheader("grpc-status") or "0"
                            record(api, str(status))

                clients = [threading.Thread(target=grpc_client), threading.Thread(target=http_client)]
                for t in clients:
                    t.start()
                swaps = unloads = 0

                def loads():
                    return sum(" READY (" in line for line in server.lines)
                deadline = time.time() + SECONDS
                while time.time() < deadline:
                    # A changed model file: the poller loads a fresh copy and swaps it in.
                    before = loads()
                    os.utime(model, (time.time(), time.time() + swaps + 1))
                    swaps += 1
                    self.assertTrue(wait_until(lambda: loads() > before, 10), "no hot swap")
                    if swaps % 3 == 0:
                        # The model leaves the repository (unload under traffic), then comes back.
                        os.rename(os.path.join(root, "recommender"), os.path.join(root, ".held"))
                        unloads += 1
                        self.assertTrue(wait_until(lambda: sum("removed from the repository" in line
                                                               for line in server.lines) >= unloads, 10))
                        before = loads()
                        os.rename(os.path.join(root, ".held"), os.path.join(root, "recommender"))
                        self.assertTrue(wait_until(lambda: loads() > before, 20), "not reloaded")
                stop.set()
                for t in clients:
                    t.join(60)
                print(f"\nswap under traffic: {swaps} swaps, {unloads} unloads in {SECONDS} s: {outcomes}",
                      file=sys.stderr)
                self.assertIsNone(server.proc.poll(), "\n".join(server.lines[-30:]))
                allowed = {"grpc": {"OK", "UNAVAILABLE", "NOT_FOUND"}, "grpc-kserve": {"OK", "UNAVAILABLE", "NOT_FOUND"},
                           "rest-v1": {"200", "503", "404"}, "rest-v2": {"200", "503", "404"},
                           "grpc-web": {"0", "14", "5"}}
                for api, seen in outcomes.items():
                    self.assertLessEqual(set(seen), allowed[api], outcomes)
                    self.assertGreater(seen.get("OK", 0) + seen.get("200", 0) + seen.get("0", 0), 0, outcomes)
                # The unloads were seen by the clients (no version ready for a moment).
                self.assertGreater(sum(n for api in outcomes.values() for code, n in api.items()
                                       if code in ("UNAVAILABLE", "NOT_FOUND", "503", "404", "14", "5")), 0, outcomes)
                self.assertEqual(set(outcomes), set(allowed))
                self.assertGreater(swaps, 3)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
