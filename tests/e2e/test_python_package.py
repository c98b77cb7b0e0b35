"""e2e: the installable Python client (examples/python, `protoserve-client`), as a user gets it.

Builds the wheel offline from a copy of examples/python (Debian's setuptools, pip wheel
--no-build-isolation: no download; its build step generates the stubs from proto/ and
models/*/), installs it into a fresh venv (--system-site-packages: Debian's grpcio,
protobuf, numpy), and calls the running server through it from a directory outside the
checkout, so only the installed package can be imported.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import PYTHON, REPO, ROOT, Server, load_samples  # noqa: E402

SOURCE = os.path.join(ROOT, "examples", "python")
RECOMMENDER = load_samples("recommender")
FASHION = load_samples("fashion_mnist")
PATIENT = load_samples("patient_outcome")

# What the wheel must ship: the package, and a stub module per contract.
EXPECTED_MODULES = [
    "protoserve_client/__init__.py", "protoserve_client/_client.py",
    *(f"protoserve_client/stubs/{name}{suffix}.py"
      for name in ("recommender", "inference", "model_config", "health", "feedback")
      for suffix in ("_pb2", "_pb2_grpc")),
    "protoserve_client/stubs/protoserve/fashion_mnist/v1/fashion_mnist_pb2_grpc.py",
    "protoserve_client/stubs/protoserve/patient_outcome/v1/patient_outcome_pb2_grpc.py",
]


def run(args, **kw):
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


class PythonPackageE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-pypkg-")
        source = os.path.join(cls.tmp, "src")
        shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns(
            "build", "dist", "*.egg-info", "__pycache__", "*_pb2.py", "*_pb2_grpc.py", "protoserve"))
        dist = os.path.join(cls.tmp, "dist")
        env = dict(os.environ, PROTOSERVE_SOURCE_ROOT=ROOT)
        run([PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, source],
            env=env, cwd=cls.tmp)
        wheels = os.listdir(dist)
        assert len(wheels) == 1 and wheels[0].endswith("-py3-none-any.whl"), wheels
        cls.wheel = os.path.join(dist, wheels[0])
        cls.venv = os.path.join(cls.tmp, "venv")
        run([PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", cls.venv])
        cls.python = os.path.join(cls.venv, "bin", "python")
        run([PYTHON, "-m", "pip", "--python", cls.python, "install", "--no-deps", "--no-index", cls.wheel])
        cls.server = Server().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def in_venv(self, code, **values):
        """Runs `code` with the venv's python outside the checkout; it prints one JSON value."""
        prelude = "import json, sys\nARGS = json.loads(sys.argv[1])\n"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PROTOSERVE_STUBS_DIR")}
        out = run([self.python, "-c", prelude + textwrap.dedent(code), json.dumps(values)], cwd=self.tmp, env=env)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def test_wheel_ships_generated_stubs(self):
        with zipfile.ZipFile(self.wheel) as whl:
            names = set(whl.namelist())
            metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        self.assertEqual([m for m in EXPECTED_MODULES if m not in names], [])
        self.assertIn("Name: protoserve-client", metadata)
        self.assertIn("Requires-Dist: grpcio", metadata)

    def test_installed_package_is_the_one_imported(self):
        where = self.in_venv("""
            import protoserve_client, protoserve_client.stubs.inference_pb2 as ipb
            print(json.dumps([protoserve_client.__file__, ipb.__file__, ipb.DESCRIPTOR.name]))
        """)
        site = os.path.join(self.venv, "lib")
        self.assertTrue(where[0].startswith(site), where)
        self.assertTrue(where[1].startswith(site), where)
        self.assertEqual(where[2], "inference.proto")  # the file name the server's reflection uses

    def test_recommender_client(self):
        samples = RECOMMENDER[:3]
        got = self.in_venv("""
            from protoserve_client import RecommenderClient, ProtoserveError
            with RecommenderClient(ARGS["target"], timeout=30) as c:
                recs = [c.recommend(s["user_id"], s["features"]).item_ids for s in ARGS["samples"]]
                try:
                    c.recommend("u", [0.5] * 3)
                    error = None
                except ProtoserveError as e:
                    error = e.code
            print(json.dumps({"recs": recs, "error": error}))
        """, target=self.server.target, samples=samples)
        self.assertEqual(got["recs"], [s["top10"] for s in samples])
        self.assertEqual(got["error"], "INVALID_ARGUMENT")

    def test_inference_client(self):
        got = self.in_venv("""
            import numpy as np
            from protoserve_client import InferenceClient
            with InferenceClient(ARGS["target"], timeout=30) as c:
                meta = c.model_metadata("fashion_mnist")
                image = np.array(ARGS["image"], np.float32).reshape(1, 1, 28, 28)
                logits = c.infer("fashion_mnist", {"image": image})["logits"]
                top = c.infer("fashion_mnist", {"image": image}, classification=3)["logits"]
                features = np.array([ARGS["features"]], np.float32)
                probability = c.infer("patient_outcome", {"features": features})["probability"]
                print(json.dumps({
                    "live": c.is_server_live(), "ready": c.is_server_ready(),
                    "model_ready": c.is_model_ready("fashion_mnist"), "health": c.health(),
                    "inputs": [(t.name, t.datatype) for t in meta.inputs],
                    "logits": logits.ravel().tolist(), "top": [b.decode() for b in top.ravel()],
                    "probability": probability.ravel().tolist()}))
        """, target=self.server.target, image=FASHION[0]["image"], features=PATIENT[0]["features"])
        self.assertEqual((got["live"], got["ready"], got["model_ready"], got["health"]), (True, True, True, "SERVING"))
        self.assertEqual(got["inputs"], [["image", "FP32"]])
        for a, b in zip(got["logits"], FASHION[0]["logits"]):
            self.assertAlmostEqual(a, b, delta=1e-4)
        self.assertEqual(len(got["top"]), 3)
        best = max(range(10), key=lambda i: FASHION[0]["logits"][i])
        self.assertEqual(int(got["top"][0].split(":")[1]), best)
        self.assertAlmostEqual(got["probability"][0], PATIENT[0]["probability"], delta=1e-5)

    def test_typed_model_apis_through_the_packaged_stubs(self):
        # Each model's typed contract (models/*/), generated into the wheel, called on the client's channel.
        fashion, patient = FASHION[1], next(s for s in PATIENT if s["probability"] < 0.5)
        got = self.in_venv("""
            from protoserve_client import InferenceClient
            from protoserve_client.stubs.protoserve.fashion_mnist.v1 import fashion_mnist_pb2 as fm, fashion_mnist_pb2_grpc
            from protoserve_client.stubs.protoserve.patient_outcome.v1 import (patient_outcome_pb2 as po,
                                                                               patient_outcome_pb2_grpc)
            with InferenceClient(ARGS["target"]) as c:
                answer = fashion_mnist_pb2_grpc.FashionMnistStub(c.channel).Classify(
                    fm.Image(pixels=ARGS["image"], top_k=3), timeout=30)
                names = [f.name for f in po.PatientRecord.DESCRIPTOR.fields]
                outcome = patient_outcome_pb2_grpc.PatientOutcomeStub(c.channel).PredictOutcome(
                    po.PatientRecord(**dict(zip(names, ARGS["features"]))), timeout=30)
            print(json.dumps({"service": fm.DESCRIPTOR.services_by_name["FashionMnist"].full_name,
                              "classes": [[x.label, x.probability] for x in answer.classes],
                              "outcome": [outcome.label, outcome.probability, outcome.malignant]}))
        """, target=self.server.target, image=fashion["image"], features=patient["features"])
        self.assertEqual(got["service"], "protoserve.fashion_mnist.v1.FashionMnist")
        with open(os.path.join(REPO, "fashion_mnist", "labels.txt")) as f:
            labels = f.read().splitlines()
        logits = fashion["logits"]
        exp = [math.exp(x - max(logits)) for x in logits]
        probs = [e / sum(exp) for e in exp]
        top = sorted(range(10), key=lambda k: -probs[k])[:3]
        self.assertEqual([c[0] for c in got["classes"]], [labels[k] for k in top])
        for (_, p), k in zip(got["classes"], top):
            self.assertAlmostEqual(p, probs[k], places=4)
        self.assertEqual(got["outcome"][0], "malignant")
        self.assertAlmostEqual(got["outcome"][1], 1 - patient["probability"], places=4)
        self.assertTrue(got["outcome"][2])

if __name__ == "__main__":
    unittest.main()
