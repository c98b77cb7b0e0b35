"""e2e: one request path (issue 16). The same request through gRPC, REST,
gRPC-Web and the /v1 twin gets identical outputs, the same shadow mirroring,
the same request id echoed, and the same metric and statistics increments,
because every front-end only translates to the core facade (InferenceServer).

The repository serves the recommender as versions 1 and 2 with version 1 as
a 100% shadow: version 2 answers, version 1 gets a mirrored copy of every
request, from every front-end (gRPC-Web used not to mirror).
"""
import http.client
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import unittest
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, REPO, Server, frame, stubs, unframe, wait_until  # noqa: E402

stubs()
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLE = json.load(f)[0]
USER_HASH = 1234567


class ParityE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="protoserve-parity-")
        shutil.copytree(os.path.join(REPO, "recommender"), os.path.join(cls.root, "recommender"))
        shutil.copytree(os.path.join(cls.root, "recommender", "1"), os.path.join(cls.root, "recommender", "2"))
        with open(os.path.join(cls.root, "recommender", "config.pbtxt"), "a") as f:
            f.write('\nversion_policy { all {} }\n'
                    'parameters { key: "protoserve.shadow" value { string_value: "1:100" } }\n')
        cls.server = Server(repo=cls.root).__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root, ignore_errors=True)

    def http(self, path, body, content_type="application/json", headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=30)
        try:
            connection.request("POST", path, body=body, headers={"content-type": content_type, **(headers or {})})
            response = connection.getresponse()
            return response, response.read()
        finally:
            connection.close()

    def grpc_web(self, path, message, response_type, request_id):
        response, raw = self.http(path, frame(message.SerializeToString()), "application/grpc-web+proto",
                                  {"x-request-id": request_id})
        messages, trailers = unframe(raw)
        self.assertEqual(trailers.get("grpc-status"), "0", trailers)
        return response_type.FromString(messages[0]), response

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        counts = {}
        for api, version, value in re.findall(
                r'^protoserve_requests_total\{api="(\w+)",code="OK",model="recommender",version="(\d)"\} (\S+)$',
                text, re.M):
            counts[(api, version)] = float(value)
        return counts

    def successes(self, version):
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        stats = stub.ModelStatistics(ipb.ModelStatisticsRequest(name="recommender", version=str(version)), timeout=10)
        return stats.model_stats[0].inference_stats.success.count

    def test_every_front_end_answers_mirrors_echoes_and_counts_the_same(self):
        before_metrics, before_primary, before_shadow = self.metrics(), self.successes(2), self.successes(1)
        recommendations, tensors, ids = {}, {}, {}

        # The seed's contract: gRPC, REST /v1, gRPC-Web.
        query = pb.RecommendationRequest(user_id=SAMPLE["user_id"], features=SAMPLE["features"])
        stub = recommender_pb2_grpc.RecommenderStub(self.channel)
        answer, call = stub.GetRecommendations.with_call(query, timeout=30, metadata=[("x-request-id", "p-grpc")])
        recommendations["grpc"] = (list(answer.item_ids), list(answer.scores), answer.model_version)
        ids["grpc"] = dict(call.trailing_metadata()).get("x-request-id")
        response, body = self.http("/v1/recommendations", json.dumps(
            {"user_id": SAMPLE["user_id"], "features": SAMPLE["features"]}), headers={"x-request-id": "p-v1"})
        self.assertEqual(response.status, 200, body)
        answer_json = json.loads(body)
        recommendations["rest"] = (answer_json["item_ids"], answer_json["scores"], answer_json["model_version"])
        ids["rest"] = response.getheader("x-request-id")
        web, response = self.grpc_web("/Recommender/GetRecommendations", query, pb.RecommendationResponse, "p-web")
        recommendations["grpc-web"] = (list(web.item_ids), list(web.scores), web.model_version)

        # KServe v2: gRPC, REST, gRPC-Web.
        infer = ipb.ModelInferRequest(model_name="recommender", id="k-grpc")
        infer.inputs.add(name="user_hash", datatype="INT64", shape=[1, 1]).contents.int64_contents.append(USER_HASH)
        infer.inputs.add(name="features", datatype="FP32", shape=[1, len(SAMPLE["features"])]) \
            .contents.fp32_contents.extend(SAMPLE["features"])
        native = inference_pb2_grpc.GRPCInferenceServiceStub(self.channel).ModelInfer(infer, timeout=30)
        tensors["grpc"], ids["kserve-grpc"] = list(native.outputs[0].contents.fp32_contents), native.id
        response, body = self.http("/v2/models/recommender/infer", json.dumps({"id": "k-rest", "inputs": [
            {"name": "user_hash", "datatype": "INT64", "shape": [1, 1], "data": [USER_HASH]},
            {"name": "features", "datatype": "FP32", "shape": [1, len(SAMPLE["features"])],
             "data": SAMPLE["features"]}]}))
        self.assertEqual(response.status, 200, body)
        rest = json.loads(body)
        tensors["rest"], ids["kserve-rest"] = rest["outputs"][0]["data"], rest["id"]
        infer.id = "k-web"
        web, _ = self.grpc_web("/inference.GRPCInferenceService/ModelInfer", infer, ipb.ModelInferResponse, "ignored")
        tensors["grpc-web"], ids["kserve-grpc-web"] = list(web.outputs[0].contents.fp32_contents), web.id

        # Identical answers (floats compared as the wire carries them: FP32).
        first = recommendations["grpc"]
        self.assertEqual(first[2], 2)  # the primary, never the shadow
        for name, got in recommendations.items():
            self.assertEqual(got[0], first[0], name)
            self.assertEqual([struct.pack("<f", x) for x in got[1]], [struct.pack("<f", x) for x in first[1]], name)
            self.assertEqual(got[2], first[2], name)
        self.assertEqual(list(answer.item_ids), SAMPLE["top10"])
        for name, got in tensors.items():
            self.assertEqual([struct.pack("<f", x) for x in got], [struct.pack("<f", x) for x in tensors["grpc"]], name)
        # Ids echoed: the client's own on every front-end.
        self.assertEqual(ids, {"grpc": "p-grpc", "rest": "p-v1", "kserve-grpc": "k-grpc", "kserve-rest": "k-rest",
                               "kserve-grpc-web": "k-web"})
        # Without one, REST makes one (32 hex digits).
        response, _ = self.http("/v1/recommendations", json.dumps(
            {"user_id": SAMPLE["user_id"], "features": SAMPLE["features"]}))
        self.assertRegex(response.getheader("x-request-id"), r"^[0-9a-f]{32}$")

        # The same statistics and metrics increments: 7 answered by version 2,
        # 7 mirrored to version 1 (gRPC-Web included), by API.
        self.assertEqual(self.successes(2) - before_primary, 7)
        self.assertTrue(wait_until(lambda: self.successes(1) - before_shadow == 7, 10),
                        f"shadow saw {self.successes(1) - before_shadow} of 7")
        after = self.metrics()
        delta = {k: after.get(k, 0) - before_metrics.get(k, 0) for k in after}
        self.assertEqual(delta.get(("grpc", "2")), 2, delta)     # Recommender + ModelInfer
        self.assertEqual(delta.get(("http", "2")), 5, delta)     # /v1 x2, /v2, and gRPC-Web x2
        self.assertTrue(wait_until(lambda: self.metrics().get(("shadow", "1"), 0)
                                   - before_metrics.get(("shadow", "1"), 0) == 7, 10), self.metrics())


if __name__ == "__main__":
    unittest.main()
