"""e2e: the HTTP server around the REST API: body limits and the sampled
access log, a full queue answered 429, probes without models, explicit model
control and SIGTERM finishing requests in progress. (test_http.py checks the
API itself.)"""
import http.client
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, Server, load_samples, stubs, wait_until  # noqa: E402
from rest_client import Rest, binary_request, infer_body, metric_samples, outputs_of, read_response  # noqa: E402

stubs()


RECOMMENDER = load_samples("recommender")
FASHION = load_samples("fashion_mnist")
PATIENT = load_samples("patient_outcome")


class LimitsE2E(unittest.TestCase):
    """A server with a 1 MiB body limit and a sampled access log."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server("--http-max-body-mb=1", "--http-access-log", "--http-access-log-sample=2").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def test_body_over_the_limit_is_413_before_it_is_sent(self):
        with socket.create_connection(("127.0.0.1", self.server.http_port), timeout=30) as sock:
            sock.sendall(b"POST /v2/models/patient_outcome/infer HTTP/1.1\r\nHost: t\r\n"
                         b"Content-Length: 100000000\r\n\r\n")  # the header only
            status, headers, body = read_response(sock.makefile("rb"))
        self.assertEqual(status, 413)
        self.assertIn("limit of 1048576 bytes", json.loads(body)["error"])
        self.assertEqual(headers.get("connection"), "close")

    def test_body_over_the_limit_is_413_when_sent(self):
        rest = Rest(self.server.http_port)
        status, _, data = rest.call("POST", "/v2/models/patient_outcome/infer", b"[" + b" " * (2 << 20) + b"]")
        rest.close()
        self.assertEqual(status, 413, data)
        # A body just under the limit is read (and then refused for what it says).
        rest = Rest(self.server.http_port)
        padded = json.dumps(infer_body([("features", "FP32", np.zeros((1, 30), np.float32))]))
        padded += " " * ((1 << 20) - len(padded))
        self.assertEqual(rest.call("POST", "/v2/models/patient_outcome/infer", padded)[0], 200)
        rest.close()

    def test_access_log_samples_one_in_n(self):
        def logged():
            return [line for line in self.server.lines if '"GET /v2/health/live?probe=' in line]

        rest = Rest(self.server.http_port)
        for i in range(10):
            self.assertEqual(rest.call("GET", f"/v2/health/live?probe={i}")[0], 200)
        rest.close()
        self.assertTrue(wait_until(lambda: len(logged()) >= 5, timeout=10), self.server.lines[-10:])
        time.sleep(0.2)
        self.assertEqual(len(logged()), 5)
        self.assertRegex(logged()[0], r'HTTP 127\.0\.0\.1:\d+ "GET /v2/health/live\?probe=\d" 200 13B [\d.]+ms')


class QueueFullE2E(unittest.TestCase):
    """fashion_mnist with a queue of one request: a burst is partly refused with 429."""

    def test_full_queue_is_429(self):
        repo = tempfile.mkdtemp(prefix="protoserve-queue-")
        try:
            source = os.path.join(os.path.dirname(DATA), "model_repository", "fashion_mnist")
            shutil.copytree(source, os.path.join(repo, "fashion_mnist"))
            config_path = os.path.join(repo, "fashion_mnist", "config.pbtxt")
            with open(config_path) as f:
                config = f.read()
            config = config.replace("dynamic_batching {", "dynamic_batching {\n  default_queue_policy { max_queue_size: 1 }", 1)
            with open(config_path, "w") as f:
                f.write(config)
            images = np.array([s["image"] for s in FASHION], dtype=np.float32).reshape(-1, 1, 28, 28)
            body, headers = binary_request([("image", "FP32", images)])
            with Server(repo=repo) as server:
                statuses, errors = [], []
                lock = threading.Lock()

                def client():
                    rest = Rest(server.http_port)
                    for _ in range(5):
                        status, _, data = rest.call("POST", "/v2/models/fashion_mnist/infer", body, headers)
                        with lock:
                            statuses.append(status)
                            if status != 200:
                                errors.append(json.loads(data)["error"])
                    rest.close()

                threads = [threading.Thread(target=client) for _ in range(12)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                print(f"\n{statuses.count(200)} answered, {statuses.count(429)} refused", file=sys.stderr)
                self.assertEqual(set(statuses) - {200, 429}, set(), errors[:3])
                self.assertIn(429, statuses, "a burst of 12 clients never filled a queue of 1")
                self.assertIn(200, statuses)
                self.assertIn("request queue is full (max_queue_size=1)", errors[0])
                rest = Rest(server.http_port)
                samples = metric_samples(rest.call("GET", "/metrics")[2].decode())
                rest.close()
                refused = sum(s.value for s in samples if s.name == "protoserve_requests_total"
                              and s.labels["api"] == "http" and s.labels["code"] == "RESOURCE_EXHAUSTED")
                self.assertEqual(refused, statuses.count(429))
        finally:
            shutil.rmtree(repo)


class LifecycleE2E(unittest.TestCase):
    def test_probes_answer_without_models(self):
        empty = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"empty-repo-{os.getpid()}")
        os.makedirs(empty, exist_ok=True)
        try:
            with Server(repo=empty) as server:
                rest = Rest(server.http_port)
                self.assertEqual(rest.json("GET", "/v2/health/live"), (200, {"live": True}))
                self.assertEqual(rest.json("GET", "/v2/health/ready")[0], 200)
                self.assertEqual(rest.call("GET", "/metrics")[0], 200)
                self.assertEqual(rest.json("POST", "/v2/repository/index"), (200, []))
                rest.close()
        finally:
            os.rmdir(empty)

    def test_explicit_model_control(self):
        with Server("--model-control-mode=explicit", "--allow-unauthenticated-management") as server:
            rest = Rest(server.http_port)
            self.assertEqual(rest.json("POST", "/v2/repository/index"), (200, []))  # nothing loaded yet
            body = infer_body([("features", "FP32", np.array(PATIENT[0]["features"], np.float32).reshape(1, 30))])
            self.assertEqual(rest.call("POST", "/v2/models/patient_outcome/infer", body)[0], 404)
            self.assertEqual(rest.call("POST", "/v2/repository/models/patient_outcome/load")[0], 200)
            self.assertEqual(rest.json("GET", "/v2/models/patient_outcome/ready"),
                             (200, {"name": "patient_outcome", "ready": True}))
            status, headers, data = rest.call("POST", "/v2/models/patient_outcome/infer", body)
            self.assertEqual(status, 200)
            self.assertAlmostEqual(float(outputs_of(headers, data)[1]["probability"][0, 0]),
                                   PATIENT[0]["probability"], places=5)
            self.assertEqual(rest.call("POST", "/v2/repository/models/patient_outcome/unload")[0], 200)
            self.assertEqual(rest.json("GET", "/v2/models/patient_outcome/ready")[0], 503)
            self.assertEqual(rest.call("POST", "/v2/repository/models/nope/load")[0], 404)
            rest.close()

    def test_sigterm_finishes_requests_in_progress(self):
        with Server() as server:
            s = RECOMMENDER[0]
            body = json.dumps({"user_id": s["user_id"], "features": s["features"]})
            rest = Rest(server.http_port)

            def answered():
                text = rest.call("GET", "/metrics")[2].decode()
                return sum(s.value for s in metric_samples(text) if s.name == "protoserve_requests_total"
                           and s.labels["api"] == "http" and s.labels["model"] == "recommender")

            before = answered()
            conns = [http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30) for _ in range(20)]
            for conn in conns:
                conn.connect()
            for conn in conns:
                conn.request("POST", "/v1/recommendations", body=body)
            # Every request is with the server (counted), its answer still unread by the client.
            self.assertTrue(wait_until(lambda: answered() - before == 20, 30), answered() - before)
            rest.close()
            server.proc.send_signal(signal.SIGTERM)
            results = []
            for conn in conns:
                response = conn.getresponse()
                results.append((response.status, json.loads(response.read())["item_ids"]))
                conn.close()
            self.assertEqual(results, [(200, s["top10"])] * 20)
            self.assertEqual(server.proc.wait(60), 0)


if __name__ == "__main__":
    unittest.main()
