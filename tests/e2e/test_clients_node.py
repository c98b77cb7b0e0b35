"""e2e: the Node.js clients (examples/node: client.js, reflect.js) against the real server.

Installs examples/node's locked dependencies with `npm ci` when node_modules is missing or older
than package-lock.json; skipped only when node or npm is not installed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import REPO, ROOT, Server, load_samples  # noqa: E402

NODE_DIR = os.path.join(ROOT, "examples", "node")
NODE, NPM = shutil.which("node"), shutil.which("npm")
TOL = 1e-5


RECOMMENDER = load_samples("recommender")
FASHION = load_samples("fashion_mnist")
PATIENT = load_samples("patient_outcome")


def npm_ci_if_needed():
    installed = os.path.join(NODE_DIR, "node_modules", ".package-lock.json")
    lock = os.path.join(NODE_DIR, "package-lock.json")
    if os.path.exists(installed) and os.path.getmtime(installed) >= os.path.getmtime(lock):
        return
    out = subprocess.run([NPM, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"npm ci failed in {NODE_DIR}:\n{out.stdout}\n{out.stderr}")


@unittest.skipUnless(NODE and NPM, "node and npm are needed for the Node.js clients (scripts/setup installs them)")
class NodeClientsE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        npm_ci_if_needed()
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-node-")
        cls.server = Server().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def node(self, script, *args, stdin=None, ok=True):
        out = subprocess.run([NODE, script, *args, "--target", self.server.target], cwd=NODE_DIR, input=stdin,
                             capture_output=True, text=True, timeout=120)
        if ok:
            self.assertEqual(out.returncode, 0, f"node {script} {args}:\n{out.stderr}")
        return out

    def node_json(self, script, *args, stdin=None):
        return json.loads(self.node(script, *args, stdin=stdin).stdout)

    def write(self, name, value):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(value, f)
        return path

    # --- Recommender --------------------------------------------------------------
    def test_recommend_unary_equals_samples_top10(self):
        for s in RECOMMENDER[:5]:
            rec = self.node_json("client.js", "recommend", "--user-id", s["user_id"],
                                 "--features", ",".join(repr(x) for x in s["features"]))
            self.assertEqual(rec["item_ids"], s["top10"], s["user_id"])
            self.assertEqual((rec["model_name"], rec["model_version"]), ("recommender", 1))
            self.assertEqual(rec["scores"], sorted(rec["scores"], reverse=True))
        s = RECOMMENDER[0]
        rec = self.node_json("client.js", "recommend", "--user-id", s["user_id"], "--features",
                             ",".join(repr(x) for x in s["features"]), "--top-k", "3", "--exclude", s["top10"][0])
        self.assertEqual(rec["item_ids"], s["top10"][1:4])

    def test_recommend_stream_200_in_order_with_errors(self):
        bad = {3: {"user_id": "", "features": RECOMMENDER[0]["features"]},
               4: {"user_id": "u", "features": [0.5] * 5},
               150: {"user_id": "u", "features": RECOMMENDER[0]["features"], "model_name": "no_such_model"}}
        lines = []
        for i in range(200):
            s = RECOMMENDER[i % len(RECOMMENDER)]
            lines.append(json.dumps(bad.get(i, {"user_id": s["user_id"], "features": s["features"]})))
        out = self.node("client.js", "stream", stdin="\n".join(lines) + "\n").stdout.splitlines()
        self.assertEqual(len(out), 200)
        for i, line in enumerate(out):
            result = json.loads(line)
            if i in bad:
                self.assertEqual(result["error"]["code"], "NOT_FOUND" if i == 150 else "INVALID_ARGUMENT", (i, result))
            else:
                self.assertEqual(result["item_ids"], RECOMMENDER[i % len(RECOMMENDER)]["top10"], i)
        self.assertIn("expected 32 values, got 5", json.loads(out[4])["error"]["message"])

    # --- KServe v2 ModelInfer -------------------------------------------------------
    def infer(self, model, *specs):
        return self.node_json("client.js", "infer", "--model", model, *specs)

    def test_infer_fashion_mnist_matches_torch(self):
        path = self.write("images.json", [s["image"] for s in FASHION])
        res = self.infer("fashion_mnist", "--input", f"image:FP32:{len(FASHION)},1,28,28:@{path}")
        self.assertEqual(res["model_name"], "fashion_mnist")
        out = res["outputs"][0]
        self.assertEqual((out["name"], out["datatype"], out["shape"]), ("logits", "FP32", [len(FASHION), 10]))
        logits = np.array(out["data"], dtype=np.float32).reshape(out["shape"])
        expected = np.array([s["logits"] for s in FASHION], dtype=np.float32)
        self.assertLessEqual(float(np.max(np.abs(logits - expected))), TOL)

    def test_infer_patient_outcome_matches_xgboost(self):
        path = self.write("rows.json", [s["features"] for s in PATIENT])
        out = self.infer("patient_outcome", "--input", f"features:FP32:{len(PATIENT)},30:@{path}",
                         "--output", "probability", "--version", "1")["outputs"][0]
        self.assertEqual(out["shape"], [len(PATIENT), 1])
        expected = np.array([s["probability"] for s in PATIENT], dtype=np.float32)
        self.assertLessEqual(float(np.max(np.abs(np.array(out["data"], dtype=np.float32) - expected))), TOL)

    def test_infer_recommender_int64_user_hash(self):
        batch = RECOMMENDER[:4]
        hashes = self.write("hashes.json", [[s["user_hash"]] for s in batch])  # > 2^53: must survive as BigInt
        features = self.write("features.json", [s["features"] for s in batch])
        out = self.infer("recommender", "--input", f"user_hash:INT64:4,1:@{hashes}",
                         "--input", f"features:FP32:4,32:@{features}")["outputs"][0]
        scores = np.array(out["data"], dtype=np.float32).reshape(out["shape"])
        expected = np.array([s["scores"] for s in batch], dtype=np.float32)
        self.assertLessEqual(float(np.max(np.abs(scores - expected))), TOL)

    def test_infer_classification(self):
        path = self.write("image.json", FASHION[0]["image"])
        out = self.infer("fashion_mnist", "--input", f"image:FP32:1,1,28,28:@{path}",
                         "--output", "logits:classification=3")["outputs"][0]
        self.assertEqual((out["datatype"], out["shape"]), ("BYTES", [1, 3]))
        with open(os.path.join(REPO, "fashion_mnist", "labels.txt")) as f:
            labels = f.read().splitlines()
        best = int(np.argmax(FASHION[0]["logits"]))
        score, index, label = out["data"][0].split(":", 2)
        self.assertEqual((int(index), label), (best, labels[best]))
        self.assertAlmostEqual(float(score), FASHION[0]["logits"][best], places=4)

    def test_errors_are_json_with_grpc_code(self):
        for model, spec, code in [("nope", "x:FP32:1,2:[1,2]", "NOT_FOUND"),
                                  ("fashion_mnist", "image:FP32:1,2:[1,2]", "INVALID_ARGUMENT")]:
            out = self.node("client.js", "infer", "--model", model, "--input", spec, ok=False)
            self.assertEqual(out.returncode, 1)
            self.assertEqual(json.loads(out.stderr)["error"]["code"], code, out.stderr)

    def test_models(self):
        models = self.node_json("client.js", "models")["models"]
        self.assertEqual({m["name"]: m["state"] for m in models},
                         {"recommender": "READY", "fashion_mnist": "READY", "patient_outcome": "READY",
                          "patient_record": "READY"})

    # --- reflection -----------------------------------------------------------------------
    def test_reflection_lists_services(self):
        services = self.node_json("reflect.js", "list", "--json")["services"]
        for name in ("Recommender", "inference.GRPCInferenceService", "grpc.health.v1.Health"):
            self.assertIn(name, services)
        text = self.node("reflect.js", "list").stdout.splitlines()
        self.assertEqual(sorted(text), sorted(services))
        methods = self.node_json("reflect.js", "list", "Recommender", "--json")["methods"]
        self.assertEqual(methods, ["Recommender.GetRecommendations", "Recommender.StreamRecommendations",
                                   "Recommender.SendFeedback"])
        self.assertIn("protoserve.feedback.v1.Feedback", services)

    def test_reflection_describes_get_recommendations(self):
        d = self.node_json("reflect.js", "describe", "Recommender", "--json")
        self.assertEqual((d["kind"], d["file"]), ("service", "recommender.proto"))
        methods = {m["name"]: m for m in d["methods"]}
        self.assertEqual(methods["GetRecommendations"], {
            "name": "GetRecommendations", "input_type": ".RecommendationRequest",
            "output_type": ".RecommendationResponse", "client_streaming": False, "server_streaming": False})
        self.assertTrue(methods["StreamRecommendations"]["client_streaming"])
        self.assertTrue(methods["StreamRecommendations"]["server_streaming"])
        text = self.node("reflect.js", "describe", "Recommender").stdout
        self.assertIn("rpc GetRecommendations ( .RecommendationRequest ) returns ( .RecommendationResponse );", text)
        # A message, and a service whose file imports another (inference.proto -> model_config.proto).
        fields = self.node_json("reflect.js", "describe", "RecommendationRequest", "--json")["fields"]
        self.assertEqual([(f["name"], f["id"]) for f in fields][:2], [("user_id", 1), ("features", 2)])
        d = self.node_json("reflect.js", "describe", "inference.GRPCInferenceService", "--json")
        self.assertIn("ModelInfer", [m["name"] for m in d["methods"]])
        missing = self.node("reflect.js", "describe", "NoSuchSymbol", ok=False)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("NOT_FOUND", missing.stderr)


if __name__ == "__main__":
    unittest.main()
