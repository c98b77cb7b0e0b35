"""e2e: the default deadline (--request-timeout-secs) is the same on every
front-end (issue 16). It used to reach gRPC only (a process-wide global):
REST and gRPC-Web calls without a deadline of their own waited forever.

The recommender is served by a wrapper whose cost the request chooses: a
last feature above 1000 runs that many in-place sin passes over 64 Ki floats
(no allocation per pass, so the cost is about the same under ASan); any
other request costs what the demo model costs and gets its answers. One
instance, so a call that arrives while a long one executes waits in the
queue. The test measures the cost of a pass first, then holds the instance
with a call of ~3 s (its own deadline: 120 s) and sends, without a deadline,
the same request through gRPC, REST and gRPC-Web (KServe infer) and through
gRPC, REST /v1 and gRPC-Web (the seed's Recommender). With a 1 s default
every one of them fails with DEADLINE_EXCEEDED (REST: 504), and counts so in
the metrics; sent again once the instance is free, every one of them is
answered.
"""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, PYTHON, REPO, Server, frame, stubs, unframe, wait_until  # noqa: E402

stubs()
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLE = json.load(f)[0]
DEFAULT_TIMEOUT_S = 1
HOLD_S = 3.0  # the long call's target duration: well past the default deadline

BUSY_MODEL = r"""
import sys, torch
source, target = sys.argv[1], sys.argv[2]

class Busy(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, user_hash: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        scores = self.inner(user_hash, features)
        passes = int(features[0, -1].item())
        if passes > 1000:
            x = features.repeat(1, 2048)
            for _ in range(passes):
                x.sin_()
            scores = scores + 0.0 * x.sum()
        return scores

torch.jit.script(Busy(torch.jit.load(source))).save(target)
"""


def kserve_request(features):
    request = ipb.ModelInferRequest(model_name="recommender")
    request.inputs.add(name="user_hash", datatype="INT64", shape=[1, 1]).contents.int64_contents.append(7)
    request.inputs.add(name="features", datatype="FP32", shape=[1, len(features)]).contents.fp32_contents.extend(
        features)
    return request


class DeadlineParityE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="protoserve-deadline-")
        target = os.path.join(cls.root, "recommender")
        shutil.copytree(os.path.join(REPO, "recommender"), target)
        script = os.path.join(cls.root, "busy.py")
        with open(script, "w") as f:
            f.write(BUSY_MODEL)
        subprocess.run([PYTHON, script, os.path.join(REPO, "recommender", "1", "model.pt"),
                        os.path.join(target, "1", "model.pt")], check=True, timeout=300)
        config_path = os.path.join(target, "config.pbtxt")
        with open(config_path) as f:
            config = f.read()
        config = re.sub(r"instance_group \[[^\]]*\]", "instance_group [ { count: 1 kind: KIND_CPU } ]", config)
        config = re.sub(r"dynamic_batching \{[^}]*\}", "dynamic_batching { }", config)
        assert "count: 1 " in config
        with open(config_path, "w") as f:
            f.write(config)
        cls.server = Server(f"--request-timeout-secs={DEFAULT_TIMEOUT_S}", repo=cls.root).__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.kserve = inference_pb2_grpc.GRPCInferenceServiceStub(cls.channel)
        cls.recommender = recommender_pb2_grpc.RecommenderStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root, ignore_errors=True)

    def http(self, path, body, content_type="application/json"):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=120)
        try:
            connection.request("POST", path, body=body, headers={"content-type": content_type})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.http_port}/metrics", timeout=10) as r:
            return r.read().decode()

    def deadline_counts(self):
        found = re.findall(r'^protoserve_requests_total\{api="(\w+)",code="DEADLINE_EXCEEDED",'
                           r'model="recommender",version="1"\} (\S+)$', self.metrics(), re.M)
        return {api: float(value) for api, value in found}

    def held(self):
        """The long call is executing: one gRPC call in flight, nothing queued."""
        text = self.metrics()
        inflight = re.search(r'^protoserve_inflight_requests\{api="grpc"\} (\S+)$', text, re.M)
        depth = re.search(r'^protoserve_queue_depth\{model="recommender",version="1"\} (\S+)$', text, re.M)
        return inflight and float(inflight.group(1)) == 1 and depth and float(depth.group(1)) == 0

    def every_front_end(self):
        """The same request through six doors, without a deadline; returns {door: outcome}."""
        features = SAMPLE["features"]
        query = pb.RecommendationRequest(user_id=SAMPLE["user_id"], features=features)
        v2_json = json.dumps({"inputs": [
            {"name": "user_hash", "datatype": "INT64", "shape": [1, 1], "data": [7]},
            {"name": "features", "datatype": "FP32", "shape": [1, len(features)], "data": features}]})
        outcome, threads = {}, []

        def grpc_call(name, method, request):
            try:
                method(request)
                outcome[name] = "OK"
            except grpc.RpcError as e:
                outcome[name] = e.code().name

        def rest(name, path, body):
            status, _ = self.http(path, body)
            outcome[name] = status

        def web(name, path, message):
            status, raw = self.http(path, frame(message.SerializeToString()), "application/grpc-web+proto")
            outcome[name] = (status, unframe(raw)[1].get("grpc-status"))

        calls = [(grpc_call, "kserve-grpc", self.kserve.ModelInfer, kserve_request(features)),
                 (rest, "kserve-rest", "/v2/models/recommender/infer", v2_json),
                 (web, "kserve-grpc-web", "/inference.GRPCInferenceService/ModelInfer", kserve_request(features)),
                 (grpc_call, "recommender-grpc", self.recommender.GetRecommendations, query),
                 (rest, "recommender-rest", "/v1/recommendations",
                  json.dumps({"user_id": SAMPLE["user_id"], "features": features})),
                 (web, "recommender-grpc-web", "/Recommender/GetRecommendations", query)]
        for fn, *args in calls:
            threads.append(threading.Thread(target=fn, args=args))
            threads[-1].start()
        for t in threads:
            t.join(120)
        return outcome

    def test_every_front_end_gets_the_same_default_deadline(self):
        # The cost of one pass, measured here (so HOLD_S is about right on any machine).
        passes = 2000
        start = time.perf_counter()
        self.kserve.ModelInfer(kserve_request(SAMPLE["features"][:-1] + [float(passes)]), timeout=120)
        per_pass = (time.perf_counter() - start) / passes
        hold_passes = max(5000, int(HOLD_S / per_pass))

        before = self.deadline_counts()
        long_call = self.kserve.ModelInfer.future(
            kserve_request(SAMPLE["features"][:-1] + [float(hold_passes)]), timeout=120)
        self.assertTrue(wait_until(self.held, 30), "the long call never held the instance")
        held_at = time.perf_counter()
        outcome = self.every_front_end()
        long_call.result()  # answered: its own deadline, not the default, applied to it
        held_for = time.perf_counter() - held_at
        self.assertGreater(held_for, DEFAULT_TIMEOUT_S, f"the long call ended too soon ({held_for:.2f} s)")
        self.assertEqual(outcome, {
            "kserve-grpc": "DEADLINE_EXCEEDED", "kserve-rest": 504, "kserve-grpc-web": (200, "4"),
            "recommender-grpc": "DEADLINE_EXCEEDED", "recommender-rest": 504, "recommender-grpc-web": (200, "4")})
        after = self.deadline_counts()
        self.assertEqual(after.get("grpc", 0) - before.get("grpc", 0), 2, after)
        self.assertEqual(after.get("http", 0) - before.get("http", 0), 4, after)  # REST and gRPC-Web

        # The instance free again, the same six calls are answered.
        self.assertEqual(self.every_front_end(), {
            "kserve-grpc": "OK", "kserve-rest": 200, "kserve-grpc-web": (200, "0"),
            "recommender-grpc": "OK", "recommender-rest": 200, "recommender-grpc-web": (200, "0")})


if __name__ == "__main__":
    unittest.main()
