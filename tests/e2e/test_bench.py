"""e2e: `protoserve-cli bench` against the real server (every mode), and over TLS against
small Python TLS servers (the server itself has no TLS yet).

Runs are short (about a second) and the assertions are about sane output, never timings.
"""
import csv
import io
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, Server, cli, stubs  # noqa: E402

stubs()
import recommender_pb2 as rpb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

SHORT = ["--duration", "1s", "--warmup", "0.2s", "--timeout", "10"]


def run_bench(*args, fmt="json", check_exit=True):
    proc = cli("bench", "--format", fmt, *args, timeout=120)
    if check_exit and proc.returncode != 0:
        raise AssertionError(f"bench exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


class BenchChecks:
    def assert_sane(self, run, errors_allowed=False):
        self.assertGreater(run["requests"], 0, run)
        if not errors_allowed:
            self.assertEqual(run["errors"], {}, run)
            self.assertEqual(run["successes"], run["requests"], run)
            self.assertGreater(run["qps"], 0, run)
            lat = run["latency_ms"]
            self.assertGreater(lat["p50"], 0, run)
            self.assertLessEqual(lat["p50"], lat["p90"])
            self.assertLessEqual(lat["p90"], lat["p95"])
            self.assertLessEqual(lat["p95"], lat["p99"])
            self.assertLessEqual(lat["p99"], lat["p999"])
            self.assertLessEqual(lat["p999"], lat["max"])
            self.assertGreater(run["request_bytes"], 0, run)
            self.assertGreater(run["response_bytes"], 0, run)
        self.assertGreater(run["duration_s"], 0, run)
        self.assertGreaterEqual(run["client_cpu_cores"], 0, run)

    def sweep(self, mode, *args, levels=(1, 4)):
        proc = run_bench("--mode", mode, "--concurrency", ",".join(map(str, levels)), *SHORT, *args)
        runs = json.loads(proc.stdout)["runs"]
        self.assertEqual([r["concurrency"] for r in runs], list(levels))
        for run in runs:
            self.assertEqual(run["mode"], mode)
            self.assertIsNone(run["rate"])
            self.assert_sane(run)
        return runs


class BenchE2E(unittest.TestCase, BenchChecks):
    @classmethod
    def setUpClass(cls):
        cls.server = Server().__enter__()
        cls.grpc = ["--target", cls.server.target]
        cls.http = ["--http-target", f"127.0.0.1:{cls.server.http_port}"]
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-bench-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        cls.server.__exit__(None, None, None)

    def test_grpc_recommend(self):
        runs = self.sweep("grpc-recommend", *self.grpc)
        self.assertEqual(runs[0]["target"], self.server.target)

    def test_grpc_stream(self):
        self.sweep("grpc-stream", *self.grpc)

    def test_grpc_infer(self):
        self.sweep("grpc-infer", *self.grpc, "--model", "patient_outcome")
        runs = self.sweep("grpc-infer", *self.grpc, "--model", "fashion_mnist", "--batch", "4", levels=(2,))
        self.assertGreater(runs[0]["request_bytes"], 4 * 784 * 4)

    def test_rest_recommend(self):
        runs = self.sweep("rest-recommend", *self.http)
        self.assertEqual(runs[0]["target"], f"127.0.0.1:{self.server.http_port}")

    def test_rest_infer(self):
        self.sweep("rest-infer", *self.http, "--model", "patient_outcome")

    def test_open_loop_sends_on_schedule(self):
        proc = run_bench("--mode", "grpc-recommend", *self.grpc, "--rate", "200", "--concurrency", "8", *SHORT)
        (run,) = json.loads(proc.stdout)["runs"]
        self.assertEqual(run["rate"], 200)
        self.assertEqual(run["concurrency"], 8)
        # The schedule has exactly 200 arrivals in a 1 s window.
        self.assertEqual(run["requests"], 200)
        self.assert_sane(run)
        self.assertIn("send_lag_ms", run)

    def test_open_loop_rest_stream_and_fixed_request_count(self):
        for mode in ("rest-recommend", "grpc-stream"):
            proc = run_bench("--mode", mode, *self.grpc, *self.http, "--rate", "300", "-c", "4",
                             "--requests", "120", "--warmup", "0.1s")
            (run,) = json.loads(proc.stdout)["runs"]
            self.assertEqual(run["requests"], 120, mode)
            self.assert_sane(run)

    def test_csv(self):
        proc = run_bench("--mode", "grpc-recommend", *self.grpc, "-c", "1,2", "--requests", "100",
                         "--warmup", "0s", fmt="csv")
        rows = list(csv.DictReader(io.StringIO(proc.stdout)))
        self.assertEqual([int(r["concurrency"]) for r in rows], [1, 2])
        for r in rows:
            self.assertEqual(int(r["requests"]), 100)
            self.assertEqual(r["errors"], "")
            self.assertEqual(r["rate"], "")
            self.assertGreater(float(r["qps"]), 0)
            self.assertLessEqual(float(r["p50_ms"]), float(r["p99_ms"]))
            self.assertLessEqual(float(r["p99_ms"]), float(r["max_ms"]))

    def test_table_and_html(self):
        html = os.path.join(self.tmp, "report.html")
        proc = run_bench("--mode", "grpc-recommend", *self.grpc, "-c", "1,4", "--requests", "200",
                         "--html", html, fmt="table")
        self.assertIn("grpc-recommend", proc.stdout)
        self.assertIn("p99.9ms", proc.stdout)
        with open(html) as f:
            page = f.read()
        self.assertIn("<svg", page)
        self.assertIn("Latency vs throughput", page)
        self.assertNotIn("<script", page)

    def test_request_and_data_files(self):
        with open(os.path.join(DATA, "recommender_samples.json")) as f:
            sample = json.load(f)[0]
        request = os.path.join(self.tmp, "request.json")
        with open(request, "w") as f:
            json.dump({"user_id": sample["user_id"], "features": sample["features"], "top_k": 5}, f)
        for mode in ("grpc-recommend", "rest-recommend"):
            for source in (["--request", request], ["--data", os.path.join(DATA, "recommender_samples.json")]):
                proc = run_bench("--mode", mode, *self.grpc, *self.http, "--requests", "50", "--warmup", "0s",
                                 *source)
                self.assert_sane(json.loads(proc.stdout)["runs"][0])

    def test_infer_request_file(self):
        with open(os.path.join(DATA, "patient_outcome_samples.json")) as f:
            sample = json.load(f)[0]
        features = sample.get("features") or sample.get("data") or sample.get("input")
        request = os.path.join(self.tmp, "infer.json")
        with open(request, "w") as f:
            json.dump({"inputs": [{"name": "features", "shape": [1, len(features)], "datatype": "FP32",
                                   "data": features}]}, f)
        for mode in ("grpc-infer", "rest-infer"):
            proc = run_bench("--mode", mode, *self.grpc, *self.http, "--model", "patient_outcome",
                             "--request", request, "--requests", "50", "--warmup", "0s")
            self.assert_sane(json.loads(proc.stdout)["runs"][0])

    def test_input_tensor_formats(self):
        # The same request four ways; the server answers them all, and the byte counts say which way it went.
        request = os.path.join(self.tmp, "formats.json")
        with open(request, "w") as f:
            json.dump({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32",
                                   "data": [0.1 * i for i in range(30)]}]}, f)
        sizes = {}
        for mode, fmt in (("grpc-infer", "binary"), ("grpc-infer", "typed"), ("rest-infer", "json"),
                          ("rest-infer", "binary")):
            proc = run_bench("--mode", mode, *self.grpc, *self.http, "--model", "patient_outcome", "--request",
                             request, "--input-tensor-format", fmt, "--requests", "50", "--warmup", "0s")
            (run,) = json.loads(proc.stdout)["runs"]
            self.assert_sane(run)
            sizes[mode, fmt] = run["request_bytes"]
        self.assertGreater(sizes["rest-infer", "json"], sizes["rest-infer", "binary"])
        self.assertGreater(sizes["rest-infer", "binary"], 30 * 4)  # JSON header + 120 raw bytes
        self.assertGreaterEqual(sizes["grpc-infer", "typed"], sizes["grpc-infer", "binary"])
        proc = run_bench("--mode", "rest-infer", *self.http, "--model", "patient_outcome",
                         "--input-tensor-format", "typed", "--requests", "5", check_exit=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("does not apply", proc.stderr)

    def test_json_histogram_and_chart(self):
        proc = run_bench("--mode", "rest-recommend", *self.http, "--requests", "300", "--warmup", "0s")
        (run,) = json.loads(proc.stdout)["runs"]
        bins = run["histogram"]
        self.assertEqual(sum(b["count"] for b in bins), run["successes"])
        self.assertLessEqual(bins[0]["lower_ms"], run["latency_ms"]["p50"])
        self.assertGreater(bins[-1]["upper_ms"], run["latency_ms"]["max"])
        spec = {"type": "line", "title": "histogram", "log_x": True,
                "series": [{"name": "rest", "points": [{"x": b["lower_ms"], "y": b["count"]} for b in bins]}]}
        spec_path, out = os.path.join(self.tmp, "chart.json"), os.path.join(self.tmp, "chart.svg")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        proc = cli("bench", "chart", spec_path, "-o", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out) as f:
            svg = f.read()
        self.assertTrue(svg.startswith("<svg"), svg[:100])
        self.assertIn("(log scale)", svg)

    def test_failed_calls_are_counted_by_status(self):
        # The demo recommender takes 32 features; 5 are refused as INVALID_ARGUMENT / HTTP 400.
        for mode, code in (("grpc-recommend", "INVALID_ARGUMENT"), ("grpc-stream", "INVALID_ARGUMENT"),
                           ("rest-recommend", "HTTP_400")):
            proc = run_bench("--mode", mode, *self.grpc, *self.http, "--payload-floats", "5",
                             "--requests", "40", "--warmup", "0s")
            (run,) = json.loads(proc.stdout)["runs"]
            self.assertEqual(run["errors"], {code: 40}, mode)
            self.assertEqual(run["successes"], 0)
            self.assertEqual(run["qps"], 0)

    def test_connections_and_metadata(self):
        for mode in ("grpc-recommend", "grpc-infer", "rest-recommend"):
            proc = run_bench("--mode", mode, *self.grpc, *self.http, "--model", "patient_outcome"
                             if mode == "grpc-infer" else "recommender", "--connections", "3", "-c", "6",
                             "--metadata", "x-bench=e2e", "-H", "X-Tenant=blue", "--requests", "300")
            self.assert_sane(json.loads(proc.stdout)["runs"][0])

    def test_unreachable_target_and_bad_flags(self):
        proc = run_bench("--mode", "grpc-recommend", "--target", "127.0.0.1:1", "--timeout", "1",
                         "--requests", "5", check_exit=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("UNAVAILABLE", proc.stderr)
        proc = run_bench("--mode", "grpc-infer", *self.grpc, "--requests", "5", check_exit=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--model", proc.stderr)
        proc = run_bench("--mode", "grpc-infer", *self.grpc, "--model", "nope", "--requests", "5",
                         check_exit=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("NOT_FOUND", proc.stderr)
        proc = run_bench("--mode", "grpc-recommend", "--concurrency", "0", check_exit=False)
        self.assertEqual(proc.returncode, 2)


# ---- TLS: the bench client against small Python servers with a throwaway CA ----

def make_certs(directory):
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bench-test-ca",
            "-keyout", "ca.key", "-out", "ca.pem")
    with open(os.path.join(directory, "san.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn in (("server", "localhost"), ("client", "bench-client")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "1", "-out", f"{name}.pem", *(["-extfile", "san.cnf"] if name == "server" else []))
    return {n: os.path.join(directory, n) for n in ("ca.pem", "server.pem", "server.key", "client.pem",
                                                    "client.key")}


def read(path):
    with open(path, "rb") as f:
        return f.read()


class FakeRecommender(recommender_pb2_grpc.RecommenderServicer):
    def __init__(self):
        self.metadata = []

    def GetRecommendations(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        return rpb.RecommendationResponse(item_ids=["a", "b"], scores=[0.5, 0.25])


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"item_ids":["a"],"scores":[0.5]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make test certificates")
class BenchTlsE2E(unittest.TestCase, BenchChecks):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-bench-tls-")
        cls.certs = make_certs(cls.tmp)
        cls.servicer = FakeRecommender()
        cls.grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        recommender_pb2_grpc.add_RecommenderServicer_to_server(cls.servicer, cls.grpc_server)
        credentials = grpc.ssl_server_credentials(
            [(read(cls.certs["server.key"]), read(cls.certs["server.pem"]))],
            root_certificates=read(cls.certs["ca.pem"]), require_client_auth=True)
        cls.grpc_port = cls.grpc_server.add_secure_port("127.0.0.1:0", credentials)
        cls.grpc_server.start()
        cls.https = ThreadingHTTPServer(("127.0.0.1", 0), JsonHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cls.certs["server.pem"], cls.certs["server.key"])
        cls.https.socket = context.wrap_socket(cls.https.socket, server_side=True)
        cls.https_thread = threading.Thread(target=cls.https.serve_forever, daemon=True)
        cls.https_thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.https.shutdown()
        cls.grpc_server.stop(0)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_grpc_mutual_tls(self):
        client = ["--tls-ca", self.certs["ca.pem"], "--tls-cert", self.certs["client.pem"],
                  "--tls-key", self.certs["client.key"]]
        proc = run_bench("--mode", "grpc-recommend", "--target", f"127.0.0.1:{self.grpc_port}",
                         "--tls-server-name", "localhost", *client, "-c", "1,2", "--requests", "50",
                         "--warmup", "0s", "--metadata", "x-bench=tls")
        for run in json.loads(proc.stdout)["runs"]:
            self.assert_sane(run)
        self.assertEqual(self.servicer.metadata[-1].get("x-bench"), "tls")
        # Without the client certificate the server refuses the handshake.
        proc = run_bench("--mode", "grpc-recommend", "--target", f"127.0.0.1:{self.grpc_port}",
                         "--tls-ca", self.certs["ca.pem"], "--timeout", "2", "--requests", "5",
                         check_exit=False)
        self.assertEqual(proc.returncode, 1)

    def test_https(self):
        target = f"127.0.0.1:{self.https.server_address[1]}"
        proc = run_bench("--mode", "rest-recommend", "--http-target", target, "--tls-ca", self.certs["ca.pem"],
                         "-c", "1,2", "--requests", "50", "--warmup", "0s")
        for run in json.loads(proc.stdout)["runs"]:
            self.assert_sane(run)
        # A certificate from an unknown CA is refused.
        proc = run_bench("--mode", "rest-recommend", "--http-target", target, "--tls", "--requests", "5",
                         check_exit=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("UNAVAILABLE", proc.stderr)


# ---- Timeouts: every request is bounded, even on a stream that never answers ----

def wait_while_active(context, limit=5.0):
    deadline = time.time() + limit
    while context.is_active() and time.time() < deadline:
        time.sleep(0.02)


class SilentRecommender(recommender_pb2_grpc.RecommenderServicer):
    def GetRecommendations(self, request, context):
        wait_while_active(context)
        return rpb.RecommendationResponse()

    def StreamRecommendations(self, request_iterator, context):
        next(request_iterator, None)
        wait_while_active(context)
        return iter(())


class SlowHandler(JsonHandler):
    def do_POST(self):
        time.sleep(1.5)
        try:
            super().do_POST()
        except OSError:
            pass  # the client gave up


class BenchTimeoutE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        recommender_pb2_grpc.add_RecommenderServicer_to_server(SilentRecommender(), cls.grpc_server)
        cls.grpc_port = cls.grpc_server.add_insecure_port("127.0.0.1:0")
        cls.grpc_server.start()
        cls.http = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
        cls.http.daemon_threads = True
        threading.Thread(target=cls.http.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.http.shutdown()
        cls.grpc_server.stop(0)

    def test_timeouts_are_errors_and_runs_end(self):
        for mode, code in (("grpc-recommend", "DEADLINE_EXCEEDED"), ("grpc-stream", "DEADLINE_EXCEEDED"),
                           ("rest-recommend", "TIMEOUT")):
            started = time.time()
            proc = run_bench("--mode", mode, "--target", f"127.0.0.1:{self.grpc_port}", "--http-target",
                             f"127.0.0.1:{self.http.server_address[1]}", "--timeout", "0.3", "-c", "2",
                             "--requests", "4", "--warmup", "0s")
            (run,) = json.loads(proc.stdout)["runs"]
            self.assertEqual(run["errors"], {code: 4}, mode)
            self.assertLess(time.time() - started, 30, mode)


if __name__ == "__main__":
    unittest.main()
