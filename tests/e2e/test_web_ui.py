"""e2e: the --web-ui demo page in a real browser (Debian's headless chromium via puppeteer-core).

The page (examples/web: stubs generated from the .proto files by protoc-gen-es, Connect's
gRPC-Web transport, bundled by the build into <build>/web) calls the server over gRPC-Web;
the rendered recommendations must equal a native gRPC call with the same input, and the
drawn image is classified through the model's typed API and through KServe ModelInfer.
A second page, served by another server, calls this one cross-origin (?api=) through its CORS
policy. A screenshot goes to <build>/test-artifacts/web_ui.png. tests/browser holds the pinned
puppeteer-core (package.json + package-lock.json), installed with `npm ci` when missing.
Fails when chromium, node or npm is missing (scripts/setup installs them).
"""
import json
import os
import shutil
import subprocess
import sys
import unittest
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import BUILD, ROOT, Server, stubs  # noqa: E402

stubs()
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE, NPM = shutil.which("node"), shutil.which("npm")
SCREENSHOT = os.path.join(BUILD, "test-artifacts", "web_ui.png")


def npm_ci_if_needed():
    installed = os.path.join(BROWSER_DIR, "node_modules", ".package-lock.json")
    lock = os.path.join(BROWSER_DIR, "package-lock.json")
    if os.path.exists(installed) and os.path.getmtime(installed) >= os.path.getmtime(lock):
        return
    # --ignore-scripts: puppeteer-core downloads no browser anyway; we use Debian's.
    out = subprocess.run([NPM, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"npm ci failed in {BROWSER_DIR}:\n{out.stdout}\n{out.stderr}")


class WebUiE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium"
        assert NODE and NPM, "node and npm are needed to drive chromium (scripts/setup installs them)"
        npm_ci_if_needed()
        cls.server = Server("--web-ui").__enter__()
        # Another origin's page calling this server (--cors-allowed-origins), and one it does not allow.
        cls.page_server = Server("--web-ui").__enter__()
        cls.page_origin = f"http://127.0.0.1:{cls.page_server.http_port}"
        cls.cors_server = Server(f"--cors-allowed-origins={cls.page_origin}").__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.stub = recommender_pb2_grpc.RecommenderStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        for server in (cls.cors_server, cls.page_server, cls.server):
            server.__exit__(None, None, None)

    def drive(self, **args):
        out = subprocess.run([NODE, os.path.join(BROWSER_DIR, "web_ui.js"), json.dumps(args)], cwd=BROWSER_DIR,
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, f"browser driver failed:\n{out.stdout}\n{out.stderr}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def test_static_files_served(self):
        url = f"http://127.0.0.1:{self.server.http_port}"
        with urllib.request.urlopen(url + "/") as r:
            self.assertEqual(r.status, 200)
            self.assertIn("text/html", r.headers["content-type"])
            self.assertIn(b"gRPC-Web", r.read())
        with urllib.request.urlopen(url + "/app.js") as r:
            self.assertIn("javascript", r.headers["content-type"])
            bundle = r.read()
        # The esbuild bundle of Connect's gRPC-Web transport, not the old hand-written codec.
        self.assertIn(b"application/grpc-web", bundle)
        for gone in ("/pbwire.js", "/grpcweb.js"):
            with self.assertRaises(urllib.error.HTTPError) as ctx:
                urllib.request.urlopen(url + gone)
            self.assertEqual(ctx.exception.code, 404)
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(url + "/../README.md")
        self.assertEqual(ctx.exception.code, 404)

    def test_rendered_recommendations_equal_native_grpc(self):
        user_id, top_k, sliders, rest = "user_00036", 8, [0.0625, 0.5, 0.25, 1.0], 0.125
        result = self.drive(url=f"http://127.0.0.1:{self.server.http_port}/", user_id=user_id, top_k=top_k,
                            sliders=sliders, rest=rest, screenshot=SCREENSHOT)
        self.assertEqual(result["state"], "done", result)
        self.assertEqual(result["server"], "ready")
        self.assertEqual(result["features"], 32)
        features = sliders + [rest] * (32 - len(sliders))
        native = self.stub.GetRecommendations(
            pb.RecommendationRequest(user_id=user_id, features=features, top_k=top_k), timeout=30)
        self.assertEqual([r["item"] for r in result["recommendations"]], list(native.item_ids))
        self.assertEqual([r["score"] for r in result["recommendations"]], list(native.scores))
        self.assertEqual([r["shown"] for r in result["recommendations"]], [f"{s:.4f}" for s in native.scores])
        self.assertGreater(result["latency_ms"], 0)
        with open(os.path.join(BUILD, "model_repository", "fashion_mnist", "labels.txt")) as f:
            labels = {line.strip() for line in f if line.strip()}
        # The same drawing through KServe ModelInfer (classification extension): top-3 labelled classes.
        kserve = result["classify"]["classify-kserve-button"]
        self.assertEqual((kserve["state"], kserve["api"]), ("done", "ModelInfer"), kserve["error"])
        self.assertEqual(len(kserve["classes"]), 3)
        self.assertTrue(all(c["label"] in labels for c in kserve["classes"]), kserve["classes"])
        scores = [c["score"] for c in kserve["classes"]]
        self.assertEqual(scores, sorted(scores, reverse=True))
        # The typed API, FashionMnist.Classify, through the stub generated from the model's .proto:
        # labelled classes with softmax probabilities, in the order of the KServe answer's logits.
        typed = result["classify"]["classify-button"]
        self.assertEqual((typed["state"], typed["api"]), ("done", "FashionMnist.Classify"), typed["error"])
        self.assertEqual([c["label"] for c in typed["classes"]], [c["label"] for c in kserve["classes"]])
        probabilities = [c["score"] for c in typed["classes"]]
        self.assertEqual(probabilities, sorted(probabilities, reverse=True))
        self.assertTrue(0 < sum(probabilities) <= 1.001, probabilities)
        self.assertEqual(result["console_errors"], [])
        self.assertTrue(os.path.getsize(SCREENSHOT) > 1000)


    def test_cross_origin_page_through_cors(self):
        # The page from page_server calls cors_server (Connect sends x-grpc-web, x-user-agent and
        # grpc-timeout: a preflighted request); its answers equal a native call to this server.
        user_id, top_k, sliders, rest = "user_00042", 5, [0.25, 0.0, 1.0, 0.5], 0.0625
        api = f"http://127.0.0.1:{self.cors_server.http_port}"
        result = self.drive(url=f"{self.page_origin}/?api={api}", user_id=user_id, top_k=top_k,
                            sliders=sliders, rest=rest)
        self.assertEqual((result["state"], result["server"]), ("done", "ready"), result)
        native = self.stub.GetRecommendations(pb.RecommendationRequest(
            user_id=user_id, features=sliders + [rest] * 28, top_k=top_k), timeout=30)
        self.assertEqual([r["item"] for r in result["recommendations"]], list(native.item_ids))
        for button in ("classify-button", "classify-kserve-button"):  # typed and KServe paths
            self.assertEqual(result["classify"][button]["state"], "done", result["classify"])
        self.assertEqual(result["console_errors"], [])

    def test_cross_origin_page_refused_without_cors(self):
        # The same page calling a server that does not allow its origin: the browser blocks the call.
        api = f"http://127.0.0.1:{self.server.http_port}"
        result = self.drive(url=f"{self.page_origin}/?api={api}", user_id="user_00042", top_k=5,
                            sliders=[0, 0, 0, 0], rest=0, classify_buttons=[])
        self.assertTrue(result["server"].startswith("metadata failed:"), result["server"])
        self.assertEqual(result["state"], "error")
        self.assertEqual(result["recommendations"], [])
        self.assertTrue(any("CORS" in e for e in result["console_errors"]), result["console_errors"])


if __name__ == "__main__":
    unittest.main()
