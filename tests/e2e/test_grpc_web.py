"""e2e: gRPC-Web (binary and text) on the HTTP port equals native gRPC.

Requests are framed by hand (flag byte, 4-byte big-endian length, message)
and sent with http.client, so nothing but the protocol is assumed.
"""
import base64
import http.client
import json
import os
import sys
import unittest
import urllib.parse

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, Server, frame, stubs, unframe  # noqa: E402

stubs()
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLES = json.load(f)
with open(os.path.join(DATA, "fashion_mnist_samples.json")) as f:
    FASHION = json.load(f)

BINARY = "application/grpc-web+proto"
TEXT = "application/grpc-web-text"


class GrpcWebE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--cors-allowed-origins=http://allowed.example,http://other.example").__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.recommender = recommender_pb2_grpc.RecommenderStub(cls.channel)
        cls.inference = inference_pb2_grpc.GRPCInferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def post(self, path, body, content_type=BINARY, headers=None, method="POST"):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={"content-type": content_type, "x-grpc-web": "1",
                                                            **(headers or {})})
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()

    def call(self, path, request, response_type, content_type=BINARY, headers=None):
        """Returns (response message or None, grpc-status, grpc-message, http response)."""
        body = frame(request.SerializeToString())
        if content_type.startswith(TEXT):
            body = base64.b64encode(body)
        http_response, raw = self.post(path, body, content_type, headers)
        self.assertEqual(http_response.status, 200)
        self.assertEqual(http_response.getheader("content-type"), content_type)
        if content_type.startswith(TEXT):
            raw = base64.b64decode(raw)
        messages, trailers = unframe(raw)
        status = int(trailers["grpc-status"])
        message = urllib.parse.unquote(trailers.get("grpc-message", ""))
        if status != 0:
            self.assertEqual(messages, [])
            self.assertEqual(http_response.getheader("grpc-status"), str(status))  # trailers-only
            return None, status, message, http_response
        self.assertEqual(len(messages), 1)
        return response_type.FromString(messages[0]), status, message, http_response

    def test_recommendations_equal_native_grpc(self):
        for content_type in (BINARY, TEXT, "application/grpc-web", "application/grpc-web-text+proto"):
            for s in SAMPLES[:3]:
                request = pb.RecommendationRequest(user_id=s["user_id"], features=s["features"], top_k=7)
                native = self.recommender.GetRecommendations(request, timeout=30)
                web, status, message, _ = self.call("/Recommender/GetRecommendations", request,
                                                    pb.RecommendationResponse, content_type)
                self.assertEqual(status, 0, message)
                self.assertNotEqual(web.request_id, native.request_id)  # each answer has its own
                web.request_id = native.request_id = ""
                self.assertEqual(web, native)
                self.assertEqual(len(web.item_ids), 7)

    def test_text_request_in_padded_chunks(self):
        """grpc-web-text clients may send concatenated, separately padded base64 chunks."""
        s = SAMPLES[0]
        request = pb.RecommendationRequest(user_id=s["user_id"], features=s["features"])
        framed = frame(request.SerializeToString())
        body = base64.b64encode(framed[:4]) + base64.b64encode(framed[4:])
        response, raw = self.post("/Recommender/GetRecommendations", body, TEXT)
        messages, trailers = unframe(base64.b64decode(raw))
        self.assertEqual(trailers["grpc-status"], "0")
        web = pb.RecommendationResponse.FromString(messages[0])
        native = self.recommender.GetRecommendations(request, timeout=30)
        web.request_id = native.request_id = ""  # each answer has its own
        self.assertEqual(web, native)

    def test_model_infer_equals_native_grpc(self):
        for content_type in (BINARY, TEXT):
            for sample in FASHION[:2]:
                image = np.asarray(sample["image"], dtype=np.float32)
                # The same id on both: a response echoes its request's id (made when absent).
                request = ipb.ModelInferRequest(model_name="fashion_mnist", id=f"parity-{sample['label']}")
                request.inputs.add(name="image", datatype="FP32", shape=[1, 1, 28, 28])
                request.raw_input_contents.append(image.tobytes())
                out = request.outputs.add(name="logits")
                out.parameters["classification"].int64_param = 3
                native = self.inference.ModelInfer(request, timeout=30)
                web, status, message, _ = self.call("/inference.GRPCInferenceService/ModelInfer", request,
                                                    ipb.ModelInferResponse, content_type)
                self.assertEqual(status, 0, message)
                self.assertEqual(web, native)
                self.assertEqual(web.outputs[0].datatype, "BYTES")
                # typed contents too
                typed = ipb.ModelInferRequest(model_name="fashion_mnist", id="typed")
                typed.inputs.add(name="image", datatype="FP32", shape=[1, 1, 28, 28]).contents.fp32_contents.extend(
                    image.tolist())
                web, status, message, _ = self.call("/inference.GRPCInferenceService/ModelInfer", typed,
                                                    ipb.ModelInferResponse, content_type)
                self.assertEqual(status, 0, message)
                self.assertEqual(web, self.inference.ModelInfer(typed, timeout=30))

    def test_health_and_metadata_equal_native_grpc(self):
        base = "/inference.GRPCInferenceService/"
        for name, request, response_type in (
                ("ServerLive", ipb.ServerLiveRequest(), ipb.ServerLiveResponse),
                ("ServerReady", ipb.ServerReadyRequest(), ipb.ServerReadyResponse),
                ("ModelMetadata", ipb.ModelMetadataRequest(name="recommender"), ipb.ModelMetadataResponse),
                ("ModelMetadata", ipb.ModelMetadataRequest(name="fashion_mnist", version="1"),
                 ipb.ModelMetadataResponse)):
            web, status, message, _ = self.call(base + name, request, response_type)
            self.assertEqual(status, 0, message)
            self.assertEqual(web, getattr(self.inference, name)(request, timeout=30), name)
        live, _, _, _ = self.call(base + "ServerLive", ipb.ServerLiveRequest(), ipb.ServerLiveResponse)
        self.assertTrue(live.live)

    def test_errors_in_trailers_match_native(self):
        unknown = ipb.ModelInferRequest(model_name="no_such_model")
        unknown.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(1.0)
        cases = [
            ("/Recommender/GetRecommendations",
             pb.RecommendationRequest(user_id="u", features=[float("nan")] * 32), pb.RecommendationResponse,
             self.recommender.GetRecommendations, grpc.StatusCode.INVALID_ARGUMENT),
            ("/Recommender/GetRecommendations",
             pb.RecommendationRequest(user_id="u", features=[0.0] * 3), pb.RecommendationResponse,
             self.recommender.GetRecommendations, grpc.StatusCode.INVALID_ARGUMENT),
            ("/inference.GRPCInferenceService/ModelInfer",
             unknown, ipb.ModelInferResponse,
             self.inference.ModelInfer, grpc.StatusCode.NOT_FOUND),
            ("/inference.GRPCInferenceService/ModelMetadata",
             ipb.ModelMetadataRequest(name="no_such_model"), ipb.ModelMetadataResponse,
             self.inference.ModelMetadata, grpc.StatusCode.NOT_FOUND),
        ]
        for path, request, response_type, native_call, code in cases:
            for content_type in (BINARY, TEXT):
                with self.assertRaises(grpc.RpcError) as ctx:
                    native_call(request, timeout=30)
                self.assertEqual(ctx.exception.code(), code)
                web, status, message, response = self.call(path, request, response_type, content_type)
                self.assertIsNone(web)
                self.assertEqual(status, code.value[0], message)
                self.assertEqual(message, ctx.exception.details())
                self.assertEqual(urllib.parse.unquote(response.getheader("grpc-message")), message)

    def test_protocol_errors(self):
        # unknown method, bidi stream, compressed frame, truncated frame, garbage base64
        cases = [
            ("/Recommender/StreamRecommendations", frame(b""), BINARY, 12),
            ("/inference.GRPCInferenceService/ModelStreamInfer", frame(b""), BINARY, 12),
            ("/Nope/Nothing", frame(b""), BINARY, 12),
            ("/Recommender/GetRecommendations", frame(b"", flags=1), BINARY, 12),
            ("/Recommender/GetRecommendations", frame(b"abc")[:6], BINARY, 3),
            ("/Recommender/GetRecommendations", frame(b"\xff\xff"), BINARY, 3),
            ("/Recommender/GetRecommendations", b"!!!not base64!!!", TEXT, 3),
        ]
        for path, body, content_type, code in cases:
            response, raw = self.post(path, body, content_type)
            self.assertEqual(response.status, 200, path)
            if content_type == TEXT:
                raw = base64.b64decode(raw)
            messages, trailers = unframe(raw)
            self.assertEqual(messages, [])
            self.assertEqual(int(trailers["grpc-status"]), code, (path, trailers))
            self.assertEqual(response.getheader("grpc-status"), str(code))

    def test_deadline_from_grpc_timeout(self):
        s = SAMPLES[0]
        request = pb.RecommendationRequest(user_id=s["user_id"], features=s["features"])
        web, status, message, _ = self.call("/Recommender/GetRecommendations", request, pb.RecommendationResponse,
                                            headers={"grpc-timeout": "30S"})
        self.assertEqual(status, 0, message)
        _, status, message, _ = self.call("/Recommender/GetRecommendations", request, pb.RecommendationResponse,
                                          headers={"grpc-timeout": "soon"})
        self.assertEqual(status, 3, message)

    def test_cors(self):
        path = "/Recommender/GetRecommendations"
        preflight, _ = self.post(path, None, headers={
            "origin": "http://allowed.example", "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-grpc-web,x-user-agent"}, method="OPTIONS")
        self.assertEqual(preflight.status, 204)
        self.assertEqual(preflight.getheader("access-control-allow-origin"), "http://allowed.example")
        self.assertIn("POST", preflight.getheader("access-control-allow-methods"))
        self.assertIn("x-grpc-web", preflight.getheader("access-control-allow-headers"))
        # not listed: no permission
        denied, _ = self.post(path, None, headers={"origin": "http://evil.example",
                                                   "access-control-request-method": "POST"}, method="OPTIONS")
        self.assertIsNone(denied.getheader("access-control-allow-origin"))
        # the call itself exposes the status headers to the page
        s = SAMPLES[0]
        request = pb.RecommendationRequest(user_id=s["user_id"], features=s["features"])
        _, status, _, response = self.call(path, request, pb.RecommendationResponse,
                                           headers={"origin": "http://other.example"})
        self.assertEqual(status, 0)
        self.assertEqual(response.getheader("access-control-allow-origin"), "http://other.example")
        self.assertEqual(response.getheader("access-control-expose-headers"), "grpc-status,grpc-message")
        _, _, _, response = self.call(path, request, pb.RecommendationResponse, headers={"origin": "http://evil.example"})
        self.assertIsNone(response.getheader("access-control-allow-origin"))

    def test_rest_unaffected_and_no_web_ui_by_default(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=30)
        conn.request("GET", "/v2/health/live")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=30)
        conn.request("GET", "/")
        self.assertEqual(conn.getresponse().status, 404)
        conn.close()


class GrpcWebNoCorsE2E(unittest.TestCase):
    def test_no_cors_headers_by_default(self):
        with Server() as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
            conn.request("OPTIONS", "/Recommender/GetRecommendations",
                         headers={"origin": "http://allowed.example", "access-control-request-method": "POST"})
            response = conn.getresponse()
            response.read()
            self.assertIsNone(response.getheader("access-control-allow-origin"))
            request = pb.RecommendationRequest(user_id="u1", features=[0.0] * 32)
            conn.request("POST", "/Recommender/GetRecommendations", body=frame(request.SerializeToString()),
                         headers={"content-type": BINARY, "origin": "http://allowed.example"})
            response = conn.getresponse()
            messages, trailers = unframe(response.read())
            self.assertEqual(trailers["grpc-status"], "0")
            self.assertIsNone(response.getheader("access-control-allow-origin"))
            conn.close()


if __name__ == "__main__":
    unittest.main()
