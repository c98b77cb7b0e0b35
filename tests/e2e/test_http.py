"""e2e: the REST API (KServe v2 over HTTP, /v1/recommendations, /metrics) of the real server.

Answers are checked against the frameworks' own outputs and against the gRPC API, which
takes the same core path; the transport against keep-alive, pipelining, limits and slow clients.
"""
import json
import os
import socket
import sys
import threading
import time
import unittest

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, Server, load_samples, stubs  # noqa: E402
from rest_client import (Rest, binary_request, infer_body, metric_samples, outputs_of,  # noqa: E402
                         read_response)

stubs()
import inference_pb2 as kpb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as rpb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402


RECOMMENDER = load_samples("recommender")
FASHION = load_samples("fashion_mnist")
PATIENT = load_samples("patient_outcome")
TOL = 1e-5
HEADER_TIMEOUT = 2



class RestE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(f"--http-header-timeout-secs={HEADER_TIMEOUT}").__enter__()
        cls.rest = Rest(cls.server.http_port)
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.kserve = inference_pb2_grpc.GRPCInferenceServiceStub(cls.channel)
        cls.recommender = recommender_pb2_grpc.RecommenderStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.rest.close()
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def assert_error(self, method, path, body, status, fragment, headers=None):
        got, headers_out, data = self.rest.call(method, path, body, headers)
        self.assertEqual(got, status, data)
        self.assertEqual(headers_out.get("Content-Type"), "application/json")
        self.assertIn(fragment, json.loads(data)["error"])

    # --- health, metadata, config, statistics, repository -----------------------------
    def test_health_and_server_metadata(self):
        self.assertEqual(self.rest.json("GET", "/v2/health/live"), (200, {"live": True}))
        self.assertEqual(self.rest.json("GET", "/v2/health/ready"), (200, {"ready": True}))
        status, meta = self.rest.json("GET", "/v2")
        self.assertEqual(status, 200)
        grpc_meta = self.kserve.ServerMetadata(kpb.ServerMetadataRequest())
        self.assertEqual((meta["name"], meta["version"], meta["extensions"]),
                         (grpc_meta.name, grpc_meta.version, list(grpc_meta.extensions)))

    def test_model_metadata_same_as_grpc(self):
        for model in ("recommender", "fashion_mnist", "patient_outcome"):
            for path in (f"/v2/models/{model}", f"/v2/models/{model}/versions/1"):
                status, meta = self.rest.json("GET", path)
                self.assertEqual(status, 200, meta)
                g = self.kserve.ModelMetadata(kpb.ModelMetadataRequest(name=model))
                self.assertEqual(meta["name"], g.name)
                self.assertEqual(meta["platform"], g.platform)
                self.assertEqual(meta["versions"], list(g.versions))
                for key, tensors in (("inputs", g.inputs), ("outputs", g.outputs)):
                    self.assertEqual([(t["name"], t["datatype"], t["shape"]) for t in meta[key]],
                                     [(t.name, t.datatype, list(t.shape)) for t in tensors])
        self.assert_error("GET", "/v2/models/nope", None, 404, "model 'nope'")
        self.assert_error("GET", "/v2/models/recommender/versions/9", None, 404, "no version 9")
        self.assert_error("GET", "/v2/models/recommender/versions/x", None, 400, "not a positive integer")

    def test_model_ready(self):
        self.assertEqual(self.rest.json("GET", "/v2/models/fashion_mnist/ready"),
                         (200, {"name": "fashion_mnist", "ready": True}))
        self.assertEqual(self.rest.json("GET", "/v2/models/fashion_mnist/versions/1/ready")[0], 200)
        self.assertEqual(self.rest.json("GET", "/v2/models/fashion_mnist/versions/5/ready"),
                         (503, {"name": "fashion_mnist", "ready": False}))
        self.assert_error("GET", "/v2/models/missing/ready", None, 404, "model 'missing'")

    def test_model_config_and_statistics(self):
        status, config = self.rest.json("GET", "/v2/models/fashion_mnist/config")
        self.assertEqual(status, 200)
        self.assertEqual(config["name"], "fashion_mnist")
        self.assertEqual(config["max_batch_size"], 128)
        self.assertEqual(config["output"][0]["label_filename"], "labels.txt")
        self.assertIn("dynamic_batching", config)

        def stats():
            status, body = self.rest.json("GET", "/v2/models/patient_outcome/versions/1/stats")
            self.assertEqual(status, 200)
            self.assertEqual(len(body["model_stats"]), 1)
            return body["model_stats"][0]

        before = stats()
        rows = np.zeros((3, 30), np.float32)
        for _ in range(2):
            status, _ = self.rest.json("POST", "/v2/models/patient_outcome/infer",
                                       infer_body([("features", "FP32", rows)]))
            self.assertEqual(status, 200)
        after = stats()
        self.assertEqual(after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"], 2)
        self.assertEqual(after["inference_count"] - before["inference_count"], 6)
        status, everything = self.rest.json("GET", "/v2/models/stats")
        self.assertEqual({m["name"] for m in everything["model_stats"]},
                         {"recommender", "fashion_mnist", "patient_outcome", "patient_record"})

    def test_repository_index(self):
        status, index = self.rest.json("POST", "/v2/repository/index")
        self.assertEqual(status, 200)
        self.assertEqual({(m["name"], m["version"], m["state"]) for m in index},
                         {("recommender", "1", "READY"), ("fashion_mnist", "1", "READY"),
                          ("patient_outcome", "1", "READY"), ("patient_record", "1", "READY")})
        self.assertEqual(len(self.rest.json("POST", "/v2/repository/index", {"ready": True})[1]), 4)
        self.assert_error("POST", "/v2/repository/models/fashion_mnist/load", None, 503, "model-control-mode")

    # --- inference against the frameworks ----------------------------------------------
    def test_fashion_mnist_matches_torch_json_and_binary(self):
        images = np.array([s["image"] for s in FASHION], dtype=np.float32).reshape(-1, 1, 28, 28)
        expected = np.array([s["logits"] for s in FASHION], dtype=np.float32)
        status, headers, data = self.rest.call("POST", "/v2/models/fashion_mnist/infer",
                                               infer_body([("image", "FP32", images)], id="batch-1"))
        self.assertEqual(status, 200, data)
        header, out = outputs_of(headers, data)
        self.assertEqual((header["model_name"], header["model_version"], header["id"]), ("fashion_mnist", "1", "batch-1"))
        self.assertLessEqual(float(np.max(np.abs(out["logits"] - expected))), TOL)

        body, request_headers = binary_request([("image", "FP32", images)])
        status, headers, data = self.rest.call("POST", "/v2/models/fashion_mnist/versions/1/infer", body,
                                               request_headers)
        self.assertEqual(status, 200, data[:200])
        self.assertEqual(headers["Content-Type"], "application/octet-stream")
        _, out = outputs_of(headers, data)
        self.assertEqual(out["logits"].shape, expected.shape)
        self.assertLessEqual(float(np.max(np.abs(out["logits"] - expected))), TOL)

    def test_nested_data_equals_flat(self):
        image = np.array(FASHION[0]["image"], dtype=np.float32).reshape(1, 1, 28, 28)
        nested = {"inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": image.tolist()}]}
        _, flat = outputs_of(*self.rest.call("POST", "/v2/models/fashion_mnist/infer",
                                             infer_body([("image", "FP32", image)]))[1:])
        _, deep = outputs_of(*self.rest.call("POST", "/v2/models/fashion_mnist/infer", nested)[1:])
        np.testing.assert_array_equal(flat["logits"], deep["logits"])

    def test_patient_outcome_matches_xgboost_json_and_binary(self):
        rows = np.array([s["features"] for s in PATIENT], dtype=np.float32)
        expected = np.array([s["probability"] for s in PATIENT], dtype=np.float32)
        for body, headers in ((json.dumps(infer_body([("features", "FP32", rows)])), {}),
                              binary_request([("features", "FP32", rows)])):
            status, response_headers, data = self.rest.call("POST", "/v2/models/patient_outcome/infer", body, headers)
            self.assertEqual(status, 200, data[:300])
            _, out = outputs_of(response_headers, data)
            self.assertEqual(out["probability"].shape, (len(PATIENT), 1))
            self.assertLessEqual(float(np.max(np.abs(out["probability"][:, 0] - expected))), TOL)

    def test_rest_and_grpc_infer_agree_bit_for_bit(self):
        """JSON floats round-trip exactly: REST and gRPC return the same FP32 bits."""
        batch = RECOMMENDER[:16]
        hashes = np.array([[s["user_hash"]] for s in batch], dtype=np.int64)
        features = np.array([s["features"] for s in batch], dtype=np.float32)
        status, headers, data = self.rest.call("POST", "/v2/models/recommender/infer",
                                               infer_body([("user_hash", "INT64", hashes),
                                                           ("features", "FP32", features)]))
        self.assertEqual(status, 200, data[:300])
        _, rest_out = outputs_of(headers, data)
        request = kpb.ModelInferRequest(model_name="recommender")
        for name, dtype, array in (("user_hash", "INT64", hashes), ("features", "FP32", features)):
            request.inputs.add(name=name, datatype=dtype, shape=list(array.shape))
            request.raw_input_contents.append(array.tobytes())
        grpc_out = self.kserve.ModelInfer(request, timeout=60)
        grpc_scores = np.frombuffer(grpc_out.raw_output_contents[0], dtype=np.float32).reshape(16, 1000)
        np.testing.assert_array_equal(rest_out["scores"].astype(np.float32), grpc_scores)
        expected = np.array([s["scores"] for s in batch], dtype=np.float32)
        self.assertLessEqual(float(np.max(np.abs(grpc_scores - expected))), TOL)

    def test_classification_extension(self):
        images = np.array([s["image"] for s in FASHION[:3]], dtype=np.float32).reshape(-1, 1, 28, 28)
        status, headers, data = self.rest.call("POST", "/v2/models/fashion_mnist/infer", infer_body(
            [("image", "FP32", images)], outputs=[{"name": "logits", "parameters": {"classification": 2}}]))
        self.assertEqual(status, 200, data)
        out = json.loads(data)["outputs"][0]
        self.assertEqual((out["datatype"], out["shape"]), ("BYTES", [3, 2]))
        with open(os.path.join(os.path.dirname(DATA), "model_repository", "fashion_mnist", "labels.txt")) as f:
            labels = f.read().splitlines()
        for row, s in enumerate(FASHION[:3]):
            best = int(np.argmax(s["logits"]))
            score, index, label = out["data"][row * 2].split(":", 2)
            self.assertEqual((int(index), label), (best, labels[best]))
            self.assertAlmostEqual(float(score), s["logits"][best], places=4)

    # --- recommendations: REST twin of GetRecommendations -----------------------------
    def test_recommendations_same_as_grpc(self):
        for s in RECOMMENDER[:50]:
            status, rest = self.rest.json("POST", "/v1/recommendations",
                                          {"user_id": s["user_id"], "features": s["features"]})
            self.assertEqual(status, 200, rest)
            g = self.recommender.GetRecommendations(
                rpb.RecommendationRequest(user_id=s["user_id"], features=s["features"]), timeout=30)
            self.assertEqual(rest["item_ids"], list(g.item_ids))
            self.assertEqual(rest["item_ids"], s["top10"])
            np.testing.assert_array_equal(np.array(rest["scores"], np.float32), np.array(g.scores, np.float32))
            self.assertEqual((rest["model_name"], rest["model_version"]), (g.model_name, g.model_version))
        s = RECOMMENDER[5]
        status, rest = self.rest.json("POST", "/v1/recommendations", {
            "user_id": s["user_id"], "features": s["features"], "top_k": 25, "model_name": "recommender",
            "model_version": 1, "exclude_item_ids": s["top10"][:3]})
        self.assertEqual(status, 200)
        g = self.recommender.GetRecommendations(rpb.RecommendationRequest(
            user_id=s["user_id"], features=s["features"], top_k=25, exclude_item_ids=s["top10"][:3]), timeout=30)
        self.assertEqual(rest["item_ids"], list(g.item_ids))
        self.assertEqual(len(rest["item_ids"]), 25)

    def test_recommendation_errors_same_as_grpc(self):
        f = RECOMMENDER[0]["features"]
        cases = [
            ({"user_id": "u", "features": f[:5]}, 400),
            ({"user_id": "", "features": f}, 400),
            ({"user_id": "u" * 257, "features": f}, 400),
            ({"user_id": "u", "features": f, "top_k": 1001}, 400),
            ({"user_id": "u", "features": f, "model_name": "nope"}, 404),
            ({"user_id": "u", "features": f, "model_version": 9}, 404),
            ({"user_id": "u", "features": f, "model_name": "../etc"}, 400),
        ]
        for body, status in cases:
            with self.assertRaises(grpc.RpcError) as ctx:
                self.recommender.GetRecommendations(rpb.RecommendationRequest(**body), timeout=30)
            got, rest = self.rest.json("POST", "/v1/recommendations", body)
            self.assertEqual(got, status, body)
            self.assertEqual(rest["error"], ctx.exception.details())
        # JSON type errors name the field.
        for body, fragment in (({"user_id": 5, "features": f}, "user_id: must be a string"),
                               ({"user_id": "u", "features": [1, "2"]}, "features[1]: must be a number"),
                               ({"user_id": "u", "features": f, "top_k": "3"}, "top_k: must be an integer")):
            self.assert_error("POST", "/v1/recommendations", body, 400, fragment)

    # --- errors --------------------------------------------------------------------
    def test_error_statuses(self):
        zeros = np.zeros((1, 30), np.float32)
        good = infer_body([("features", "FP32", zeros)])
        self.assert_error("GET", "/v3/nothing", None, 404, "no route for GET /v3/nothing")
        self.assert_error("GET", "/v2/models/patient_outcome/infer", None, 405, "use POST")
        self.assertEqual(self.rest.call("DELETE", "/v2/health/live")[1]["Allow"], "GET")
        self.assert_error("POST", "/v2/models/patient_outcome/infer", '{"inputs": [', 400, "malformed JSON at offset 12")
        bad = infer_body([("features", "FP32", zeros)])
        bad["inputs"][0]["data"] = bad["inputs"][0]["data"][:5]
        self.assert_error("POST", "/v2/models/patient_outcome/infer", bad, 400,
                          "input 'features': 5 values in data, shape [1,30] needs 30")
        bad = infer_body([("features", "FP32", zeros)])
        bad["inputs"][0]["shape"] = [1 << 20, 1 << 20]
        # Counted against the claimed shape before anything of that size is allocated.
        self.assert_error("POST", "/v2/models/patient_outcome/infer", bad, 400,
                          "30 values in data, shape [1048576,1048576] needs 1099511627776")
        # The core's validation, word for word as over gRPC.
        for mutate, fragment in ((lambda b: b["inputs"][0].update(shape=[1, 29], data=[0] * 29),
                                  "shape [1,29] does not match [-1,30]"),
                                 (lambda b: b["inputs"][0].update(datatype="FP64"),
                                  "datatype FP64 does not match the model's FP32"),
                                 (lambda b: b["inputs"][0].update(name="other"), "unknown input 'other'"),
                                 (lambda b: b.update(outputs=[{"name": "nope"}]), "unknown output 'nope'"),
                                 (lambda b: b["inputs"][0].update(datatype="FLOAT32"), "unknown datatype 'FLOAT32'")):
            body = json.loads(json.dumps(good))
            mutate(body)
            self.assert_error("POST", "/v2/models/patient_outcome/infer", body, 400, fragment)
        self.assert_error("POST", "/v2/models/nope/infer", good, 404, "model 'nope'")
        self.assert_error("POST", "/v2/models/patient_outcome/versions/7/infer", good, 404, "no version 7")
        self.assert_error("POST", "/v2/models/patient_outcome/versions/abc/infer", good, 400,
                          "model_version 'abc' is not a positive integer")
        self.assert_error("POST", "/v2/models/..%2F..%2Fetc/infer", good, 400, "invalid model name")
        body, headers = binary_request([("features", "FP32", zeros)])
        self.assert_error("POST", "/v2/models/patient_outcome/infer", body[:-1], 400,
                          "binary_data_size 120 exceeds the 119 bytes of binary data left", headers)
        headers["Inference-Header-Content-Length"] = "abc"
        self.assert_error("POST", "/v2/models/patient_outcome/infer", body, 400, "is not a byte count", headers)
        # Triton's "timeout" request parameter (microseconds) becomes the request's deadline.
        self.assertEqual(self.rest.call("POST", "/v2/models/patient_outcome/infer",
                                        dict(good, parameters={"timeout": 60_000_000}))[0], 200)
        self.assert_error("POST", "/v2/models/patient_outcome/infer", dict(good, parameters={"timeout": -5}), 400,
                          "parameters.timeout must be a non-negative integer")
        # Still serving, on the same connection.
        self.assertEqual(self.rest.call("POST", "/v2/models/patient_outcome/infer", good)[0], 200)

    # --- transport -------------------------------------------------------------------
    def test_keep_alive_serves_many_requests_on_one_connection(self):
        rest = Rest(self.server.http_port)
        rest.call("GET", "/v2/health/live")
        sock = rest.conn.sock
        body = infer_body([("features", "FP32", np.zeros((1, 30), np.float32))])
        for i in range(30):
            path, payload = (("/v2/models/patient_outcome/infer", body), ("/v2/health/ready", None))[i % 2]
            status, headers, _ = rest.call("POST" if payload else "GET", path, payload)
            self.assertEqual(status, 200)
            self.assertNotEqual(headers.get("Connection"), "close")
        self.assertIs(rest.conn.sock, sock, "the connection was reopened")
        rest.close()

    def test_pipelined_requests_are_answered_in_order(self):
        rows = np.array([s["features"] for s in PATIENT[:2]], dtype=np.float32)
        infer = json.dumps(infer_body([("features", "FP32", rows)])).encode()
        requests = (b"POST /v2/models/patient_outcome/infer HTTP/1.1\r\nHost: t\r\nContent-Length: "
                    + str(len(infer)).encode() + b"\r\n\r\n" + infer
                    + b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n"
                    + b"GET /v2/models/nope HTTP/1.1\r\nHost: t\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.server.http_port), timeout=30) as sock:
            sock.sendall(requests)  # all three back to back, before reading anything
            stream = sock.makefile("rb")
            first, second, third = (read_response(stream) for _ in range(3))
        self.assertEqual(first[0], 200)
        probability = json.loads(first[2])["outputs"][0]["data"]
        self.assertLessEqual(max(abs(p - s["probability"]) for p, s in zip(probability, PATIENT)), TOL)
        self.assertEqual((second[0], json.loads(second[2])), (200, {"live": True}))
        self.assertEqual(third[0], 404)

    def test_slow_header_client_is_dropped_while_others_are_served(self):
        slow = socket.create_connection(("127.0.0.1", self.server.http_port), timeout=30)
        slow.sendall(b"POST /v1/recommendations HTTP/1.1\r\nHost: t\r\nContent-Le")  # ...and stalls
        start = time.time()
        rest = Rest(self.server.http_port)
        s = RECOMMENDER[0]
        served = 0
        while time.time() - start < HEADER_TIMEOUT - 0.5:
            status, body = rest.json("POST", "/v1/recommendations", {"user_id": s["user_id"], "features": s["features"]})
            self.assertEqual((status, body["item_ids"]), (200, s["top10"]))
            served += 1
        rest.close()
        try:
            data = slow.recv(1024)  # blocks until the server gives up on the header
        except ConnectionResetError:
            data = b""
        elapsed = time.time() - start
        slow.close()
        self.assertEqual(data, b"", "a half-sent header gets no answer, only a closed connection")
        self.assertGreater(served, 0)
        self.assertGreaterEqual(elapsed, HEADER_TIMEOUT - 0.5)
        self.assertLess(elapsed, HEADER_TIMEOUT + 3)

    def test_concurrent_clients_no_errors(self):
        errors = []

        def client(idx):
            rest = Rest(self.server.http_port)
            try:
                for i in range(100):
                    s = RECOMMENDER[(idx * 100 + i) % len(RECOMMENDER)]
                    status, body = rest.json("POST", "/v1/recommendations",
                                             {"user_id": s["user_id"], "features": s["features"]})
                    if status != 200 or body["item_ids"] != s["top10"]:
                        errors.append((status, body))
            except Exception as e:  # noqa: BLE001 - every failure counts
                errors.append(repr(e))
            rest.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    # --- metrics ---------------------------------------------------------------------
    def test_metrics_count_both_apis(self):
        def scrape():
            status, headers, data = self.rest.call("GET", "/metrics")
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4")
            return metric_samples(data.decode())

        def requests_total(samples, api):
            return sum(s.value for s in samples if s.name == "protoserve_requests_total"
                       and s.labels["api"] == api and s.labels["model"] == "recommender" and s.labels["code"] == "OK")

        before = scrape()
        s = RECOMMENDER[0]
        for _ in range(3):
            self.rest.json("POST", "/v1/recommendations", {"user_id": s["user_id"], "features": s["features"]})
        middle = scrape()
        self.assertEqual(requests_total(middle, "http") - requests_total(before, "http"), 3)
        self.assertEqual(requests_total(middle, "grpc"), requests_total(before, "grpc"))
        for _ in range(2):
            self.recommender.GetRecommendations(rpb.RecommendationRequest(user_id=s["user_id"],
                                                                          features=s["features"]), timeout=30)
        after = scrape()
        self.assertEqual(requests_total(after, "grpc") - requests_total(middle, "grpc"), 2)
        self.assertEqual(requests_total(after, "http"), requests_total(middle, "http"))

        ready = {s.labels["model"]: s.value for s in after
                 if s.name == "protoserve_model_state" and s.labels["state"] == "READY"}
        self.assertEqual(ready, {"recommender": 1, "fashion_mnist": 1, "patient_outcome": 1, "patient_record": 1})
        inflight = {s.labels["api"]: s.value for s in after if s.name == "protoserve_inflight_requests"}
        self.assertEqual((inflight["grpc"], inflight["http"]), (0, 0))
