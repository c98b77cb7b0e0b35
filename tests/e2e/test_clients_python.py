"""e2e: the Python client (examples/python: the protoserve_client package, from the source tree) against the real server."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import PYTHON, REPO, ROOT, Server, load_samples  # noqa: E402

# Stubs into a scratch dir, not the source tree (recommend.py, run below, inherits it).
if "PROTOSERVE_STUBS_DIR" not in os.environ:
    os.environ["PROTOSERVE_STUBS_DIR"] = tempfile.mkdtemp(prefix="protoserve-client-stubs-")
    atexit.register(shutil.rmtree, os.environ["PROTOSERVE_STUBS_DIR"], True)
EXAMPLES = os.path.join(ROOT, "examples", "python")
sys.path.insert(0, EXAMPLES)
from protoserve_client import (ProtoserveClient, ProtoserveError, Query, Recommendation,  # noqa: E402
                               decode_tensor, encode_tensor, kserve_datatype, user_hash)


RECOMMENDER = load_samples("recommender")
FASHION = load_samples("fashion_mnist")
PATIENT = load_samples("patient_outcome")
TOL = 1e-5


class TensorCodec(unittest.TestCase):
    """The numpy <-> KServe raw encoding, no server needed."""

    def test_round_trip_every_datatype(self):
        for dtype, name in [(np.bool_, "BOOL"), (np.uint8, "UINT8"), (np.uint16, "UINT16"), (np.uint32, "UINT32"),
                            (np.uint64, "UINT64"), (np.int8, "INT8"), (np.int16, "INT16"), (np.int32, "INT32"),
                            (np.int64, "INT64"), (np.float16, "FP16"), (np.float32, "FP32"), (np.float64, "FP64")]:
            array = (np.arange(6) % 2 == 1) if dtype is np.bool_ else np.arange(6).astype(dtype)
            array = array.reshape(2, 3)
            self.assertEqual(kserve_datatype(array.dtype), name)
            back = decode_tensor(encode_tensor(array), name, [2, 3])
            self.assertEqual(back.dtype, array.dtype)
            np.testing.assert_array_equal(back, array)

    def test_bytes(self):
        for array in (np.array([["a", "bc"], ["", "ünï"]]), np.array([b"x", b"\0\1"], dtype=object)):
            self.assertEqual(kserve_datatype(array.dtype), "BYTES")
            raw = encode_tensor(array)
            back = decode_tensor(raw, "BYTES", array.shape)
            expected = [x if isinstance(x, bytes) else x.encode() for x in array.ravel()]
            self.assertEqual(list(back.ravel()), expected)
        self.assertEqual(encode_tensor(np.array(["ab"])), b"\x02\x00\x00\x00ab")

    def test_user_hash_is_the_documented_fnv1a(self):
        self.assertEqual(user_hash("user_00042"), 4915307962085163531)
        for s in RECOMMENDER[:20]:
            self.assertEqual(user_hash(s["user_id"]), s["user_hash"])


class PythonClientE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server().__enter__()
        cls.client = ProtoserveClient(cls.server.target, timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.__exit__(None, None, None)

    # --- Recommender ------------------------------------------------------------
    def test_recommend_equals_samples_top10(self):
        for s in RECOMMENDER:
            rec = self.client.recommend(s["user_id"], s["features"])
            self.assertIsInstance(rec, Recommendation)
            self.assertEqual(rec.item_ids, s["top10"], s["user_id"])
            self.assertEqual(len(rec.scores), 10)
            self.assertEqual(rec.scores, sorted(rec.scores, reverse=True))
            self.assertEqual((rec.model_name, rec.model_version), ("recommender", 1))

    def test_recommend_options(self):
        s = RECOMMENDER[0]
        rec = self.client.recommend(s["user_id"], s["features"], top_k=3, model="recommender", version=1,
                                    exclude=s["top10"][:1])
        self.assertEqual(rec.item_ids, s["top10"][1:4])

    def test_recommend_stream_200_with_errors_in_place(self):
        f = RECOMMENDER[0]["features"]
        bad = {0: (Query("", f), "INVALID_ARGUMENT"),  # first, two in a row, middle, last
               17: (Query("u", f[:5]), "INVALID_ARGUMENT"),
               18: ({"user_id": "u", "features": f, "top_k": 5000}, "INVALID_ARGUMENT"),
               101: (Query("u", f, model="no_such_model"), "NOT_FOUND"),
               199: (Query("u", [float("nan")] * 32), "INVALID_ARGUMENT")}
        queries, expected = [], []
        for i in range(200):
            s = RECOMMENDER[i % len(RECOMMENDER)]
            if i in bad:
                queries.append(bad[i][0])
                expected.append(bad[i][1])
            else:  # Query objects and plain dicts both work
                queries.append({"user_id": s["user_id"], "features": s["features"]} if i % 2 else Query(s["user_id"], s["features"]))
                expected.append(s["top10"])
        results = list(self.client.recommend_stream(iter(queries)))
        self.assertEqual(len(results), 200)
        for i, (result, want) in enumerate(zip(results, expected)):
            if isinstance(want, str):
                self.assertIsInstance(result, ProtoserveError, i)
                self.assertEqual(result.code, want, (i, result))
                self.assertTrue(result.message, i)
            else:
                self.assertIsInstance(result, Recommendation, (i, result))
                self.assertEqual(result.item_ids, want, i)
        self.assertEqual([i for i, r in enumerate(results) if isinstance(r, ProtoserveError)], sorted(bad))
        self.assertIn("features: expected 32 values, got 5", str(results[17]))

    def test_recommend_stream_raise_errors(self):
        s = RECOMMENDER[0]
        stream = self.client.recommend_stream([Query(s["user_id"], s["features"]), Query("", s["features"])],
                                              raise_errors=True)
        self.assertEqual(next(stream).item_ids, s["top10"])
        with self.assertRaises(ProtoserveError) as ctx:
            next(stream)
        self.assertEqual(ctx.exception.code, "INVALID_ARGUMENT")
        stream.close()

    # --- KServe v2 ----------------------------------------------------------------
    def test_infer_fashion_mnist_matches_torch(self):
        images = np.array([s["image"] for s in FASHION], dtype=np.float32).reshape(-1, 1, 28, 28)
        out = self.client.infer("fashion_mnist", {"image": images})
        self.assertEqual(list(out), ["logits"])
        self.assertEqual(out["logits"].dtype, np.float32)
        expected = np.array([s["logits"] for s in FASHION], dtype=np.float32)
        self.assertEqual(out["logits"].shape, expected.shape)
        self.assertLessEqual(float(np.max(np.abs(out["logits"] - expected))), TOL)

    def test_infer_patient_outcome_matches_xgboost(self):
        rows = np.array([s["features"] for s in PATIENT], dtype=np.float32)
        out = self.client.infer("patient_outcome", {"features": rows}, outputs=["probability"], version=1)
        expected = np.array([s["probability"] for s in PATIENT], dtype=np.float32)
        self.assertEqual(out["probability"].shape, (len(PATIENT), 1))
        self.assertLessEqual(float(np.max(np.abs(out["probability"][:, 0] - expected))), TOL)

    def test_infer_recommender_int64_input(self):
        batch = RECOMMENDER[:8]
        out = self.client.infer("recommender", {
            "user_hash": np.array([[user_hash(s["user_id"])] for s in batch], dtype=np.int64),
            "features": np.array([s["features"] for s in batch], dtype=np.float32)})
        expected = np.array([s["scores"] for s in batch], dtype=np.float32)
        self.assertLessEqual(float(np.max(np.abs(out["scores"] - expected))), TOL)

    def test_classification(self):
        images = np.array([s["image"] for s in FASHION[:4]], dtype=np.float32).reshape(-1, 1, 28, 28)
        with open(os.path.join(REPO, "fashion_mnist", "labels.txt")) as f:
            labels = f.read().splitlines()
        for classification in (3, {"logits": 3}):
            top = self.client.infer("fashion_mnist", {"image": images}, classification=classification)["logits"]
            self.assertEqual(top.shape, (4, 3))
            for row, s in enumerate(FASHION[:4]):
                score, index, label = top[row, 0].decode().split(":", 2)
                best = int(np.argmax(s["logits"]))
                self.assertEqual((int(index), label), (best, labels[best]))
                self.assertAlmostEqual(float(score), s["logits"][best], places=4)
                scores = [float(v.decode().split(":")[0]) for v in top[row]]
                self.assertEqual(scores, sorted(scores, reverse=True))

    # --- error mapping ---------------------------------------------------------------
    def assert_error(self, code, fragment, fn, *args, **kwargs):
        with self.assertRaises(ProtoserveError) as ctx:
            fn(*args, **kwargs)
        self.assertEqual(ctx.exception.code, code, ctx.exception)
        self.assertEqual(ctx.exception.status_code.name, code)
        self.assertIn(fragment, ctx.exception.message)
        return ctx.exception

    def test_error_mapping(self):
        zeros = np.zeros((1, 30), np.float32)
        self.assert_error("NOT_FOUND", "nope", self.client.infer, "nope", {"features": zeros})
        self.assert_error("NOT_FOUND", "nope", self.client.metadata, "nope")
        self.assert_error("NOT_FOUND", "nope", self.client.ready, "nope")
        self.assert_error("NOT_FOUND", "no version 7", self.client.infer, "patient_outcome", {"features": zeros}, version=7)
        self.assert_error("INVALID_ARGUMENT", "shape [1,29] does not match [-1,30]",
                          self.client.infer, "patient_outcome", {"features": np.zeros((1, 29), np.float32)})
        self.assert_error("INVALID_ARGUMENT", "datatype FP64", self.client.infer, "patient_outcome",
                          {"features": np.zeros((1, 30))})
        self.assert_error("INVALID_ARGUMENT", "unknown output 'nope'", self.client.infer, "patient_outcome",
                          {"features": zeros}, outputs=["nope"])
        self.assert_error("INVALID_ARGUMENT", "features: expected 32 values, got 3",
                          self.client.recommend, "user_1", [0.0] * 3)
        self.assert_error("NOT_FOUND", "", self.client.recommend, "user_1", [0.0] * 32, model="nope")
        with ProtoserveClient("127.0.0.1:1", timeout=2) as dead:  # nothing listens on port 1
            self.assert_error("UNAVAILABLE", "", dead.health)

    # --- discovery and health ------------------------------------------------------------
    def test_models_metadata_ready_health(self):
        states = {(m.name, m.version): m.state for m in self.client.models()}
        self.assertEqual(states, {("recommender", "1"): "READY", ("fashion_mnist", "1"): "READY",
                                  ("patient_outcome", "1"): "READY", ("patient_record", "1"): "READY"})
        meta = self.client.metadata("recommender")
        self.assertEqual(meta.platform, "pytorch_libtorch")
        self.assertEqual({(t.name, t.datatype, tuple(t.shape)) for t in meta.inputs},
                         {("user_hash", "INT64", (-1, 1)), ("features", "FP32", (-1, 32))})
        self.assertEqual(meta.outputs[0].name, "scores")
        self.assertTrue(self.client.ready())
        self.assertTrue(self.client.ready("fashion_mnist"))
        self.assertFalse(self.client.ready("fashion_mnist", version=5))
        self.assertEqual(self.client.health(), "SERVING")
        self.assertEqual(self.client.health("Recommender"), "SERVING")
        self.assertEqual(self.client.health("inference.GRPCInferenceService"), "SERVING")

    def test_recommend_py_still_works(self):
        out = subprocess.run([PYTHON, os.path.join(EXAMPLES, "recommend.py"), "--target", self.server.target,
                              "--user-id", "user_00042", "--top-k", "3", "--bench", "5"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0], "model recommender v1 for user_00042:")
        self.assertEqual(len(lines), 5, out.stdout)
        self.assertIn("5 sequential calls", lines[-1])
        bad = subprocess.run([PYTHON, os.path.join(EXAMPLES, "recommend.py"), "--target", self.server.target,
                              "--features", "1,2"], capture_output=True, text=True, timeout=60)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("INVALID_ARGUMENT", bad.stderr)


if __name__ == "__main__":
    unittest.main()
