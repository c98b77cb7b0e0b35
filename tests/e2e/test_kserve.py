"""e2e: the KServe v2 gRPC API on every demo model, checked against the frameworks' own outputs."""
import json
import os
import struct
import sys
import unittest

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, Server, cli, load_samples, stubs  # noqa: E402

stubs()
import inference_pb2 as pb  # noqa: E402
import inference_pb2_grpc  # noqa: E402


RECOMMENDER = load_samples("recommender")
FASHION = load_samples("fashion_mnist")
PATIENT = load_samples("patient_outcome")
RECORD = load_samples("patient_record")
TOL = 1e-5


def tensor(name, array, raw, request):
    array = np.ascontiguousarray(array)
    dtype = {np.float32: "FP32", np.int64: "INT64", np.float64: "FP64", np.int32: "INT32"}[array.dtype.type]
    t = request.inputs.add(name=name, datatype=dtype, shape=list(array.shape))
    if raw:
        request.raw_input_contents.append(array.tobytes())
    elif dtype == "FP32":
        t.contents.fp32_contents.extend(array.ravel().tolist())
    elif dtype == "INT64":
        t.contents.int64_contents.extend(array.ravel().tolist())
    return t


def output_array(response, index):
    out = response.outputs[index]
    np_type = {"FP32": np.float32, "INT64": np.int64, "FP64": np.float64}[out.datatype]
    if response.raw_output_contents:
        data = np.frombuffer(response.raw_output_contents[index], dtype=np_type)
    else:
        field = {"FP32": "fp32_contents", "INT64": "int64_contents", "FP64": "fp64_contents"}[out.datatype]
        data = np.array(getattr(out.contents, field), dtype=np_type)
    return data.reshape(list(out.shape))


class KServeE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server().__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target,
                                            options=[("grpc.max_receive_message_length", 64 << 20),
                                                     ("grpc.max_send_message_length", 64 << 20)])
        cls.stub = inference_pb2_grpc.GRPCInferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def infer(self, request):
        return self.stub.ModelInfer(request, timeout=60)

    def assert_invalid(self, request, fragment, code=grpc.StatusCode.INVALID_ARGUMENT):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.infer(request)
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        self.assertIn(fragment, ctx.exception.details())

    # --- framework equality -------------------------------------------------
    def test_recommender_matches_torch(self):
        for raw in (True, False):
            batch = RECOMMENDER[:16]
            req = pb.ModelInferRequest(model_name="recommender")
            tensor("user_hash", np.array([[s["user_hash"]] for s in batch], dtype=np.int64), raw, req)
            tensor("features", np.array([s["features"] for s in batch], dtype=np.float32), raw, req)
            res = self.infer(req)
            scores = output_array(res, 0)
            self.assertEqual(scores.shape, (16, 1000))
            expected = np.array([s["scores"] for s in batch], dtype=np.float32)
            self.assertLessEqual(float(np.max(np.abs(scores - expected))), TOL, f"raw={raw}")
            self.assertEqual(bool(res.raw_output_contents), raw)

    def test_fashion_mnist_matches_torch(self):
        for raw in (True, False):
            images = np.array([s["image"] for s in FASHION], dtype=np.float32).reshape(-1, 1, 28, 28)
            req = pb.ModelInferRequest(model_name="fashion_mnist", model_version="1")
            tensor("image", images, raw, req)
            logits = output_array(self.infer(req), 0)
            expected = np.array([s["logits"] for s in FASHION], dtype=np.float32)
            self.assertLessEqual(float(np.max(np.abs(logits - expected))), TOL, f"raw={raw}")
            accuracy = float(np.mean(np.argmax(logits, 1) == np.array([s["label"] for s in FASHION])))
            self.assertGreater(accuracy, 0.8)

    def test_patient_outcome_matches_xgboost(self):
        for raw in (True, False):
            rows = np.array([s["features"] for s in PATIENT], dtype=np.float32)
            req = pb.ModelInferRequest(model_name="patient_outcome")
            tensor("features", rows, raw, req)
            prob = output_array(self.infer(req), 0)
            self.assertEqual(prob.shape, (len(PATIENT), 1))
            expected = np.array([s["probability"] for s in PATIENT], dtype=np.float32)
            self.assertLessEqual(float(np.max(np.abs(prob[:, 0] - expected))), TOL, f"raw={raw}")

    def test_patient_record_large_payload_matches_torch(self):
        """The seed's ~2 MB patient record: 131072 FP32 values per request."""
        for raw in (True, False):
            records = np.array([s["record"] for s in RECORD], dtype=np.float32)
            req = pb.ModelInferRequest(model_name="patient_record")
            tensor("record", records, raw, req)
            prob = output_array(self.infer(req), 0)
            expected = np.array([s["probability"] for s in RECORD], dtype=np.float32)
            self.assertLessEqual(float(np.max(np.abs(prob - expected))), TOL, f"raw={raw}")

    def test_single_row_requests_match(self):
        for s in FASHION[:8]:
            req = pb.ModelInferRequest(model_name="fashion_mnist")
            tensor("image", np.array(s["image"], dtype=np.float32).reshape(1, 1, 28, 28), True, req)
            logits = output_array(self.infer(req), 0)[0]
            self.assertLessEqual(float(np.max(np.abs(logits - np.array(s["logits"], dtype=np.float32)))), TOL)

    # --- classification extension and requested outputs ----------------------
    def test_classification_extension(self):
        req = pb.ModelInferRequest(model_name="fashion_mnist")
        tensor("image", np.array([s["image"] for s in FASHION[:3]], dtype=np.float32).reshape(-1, 1, 28, 28), True, req)
        out = req.outputs.add(name="logits")
        out.parameters["classification"].int64_param = 3
        res = self.infer(req)
        self.assertEqual(res.outputs[0].datatype, "BYTES")
        self.assertEqual(list(res.outputs[0].shape), [3, 3])
        raw = res.raw_output_contents[0]
        values, i = [], 0
        while i < len(raw):
            (n,) = struct.unpack_from("<I", raw, i)
            values.append(raw[i + 4:i + 4 + n].decode())
            i += 4 + n
        self.assertEqual(len(values), 9)
        with open(os.path.join(self.server_repo(), "fashion_mnist", "labels.txt")) as f:
            labels = f.read().splitlines()
        for row, s in enumerate(FASHION[:3]):
            best = int(np.argmax(s["logits"]))
            score, index, label = values[row * 3].split(":", 2)
            self.assertEqual(int(index), best)
            self.assertEqual(label, labels[best])
            self.assertAlmostEqual(float(score), s["logits"][best], places=4)

    def server_repo(self):
        return os.path.join(os.path.dirname(DATA), "model_repository")

    def test_unknown_requested_output(self):
        req = pb.ModelInferRequest(model_name="patient_outcome")
        tensor("features", np.zeros((1, 30), np.float32), True, req)
        req.outputs.add(name="nope")
        self.assert_invalid(req, "unknown output 'nope'")

    # --- validation -----------------------------------------------------------
    def test_validation_errors(self):
        def base(model="patient_outcome", shape=(1, 30)):
            req = pb.ModelInferRequest(model_name=model)
            tensor("features", np.zeros(shape, np.float32), True, req)
            return req

        req = base(shape=(1, 29))
        self.assert_invalid(req, "shape [1,29] does not match [-1,30]")
        req = pb.ModelInferRequest(model_name="patient_outcome")
        tensor("features", np.zeros((1, 30), np.float64), True, req)
        self.assert_invalid(req, "datatype FP64 does not match the model's FP32")
        req = base()
        req.raw_input_contents[0] = b"\0" * 119
        self.assert_invalid(req, "119 bytes of data, but shape [1,30] of FP32 needs 120")
        req = base()
        req.inputs[0].contents.fp32_contents.extend([1.0] * 30)
        self.assert_invalid(req, "both contents and raw_input_contents")
        req = pb.ModelInferRequest(model_name="patient_outcome")
        tensor("features", np.zeros((1, 30), np.float32), False, req)
        del req.inputs[0].contents.fp32_contents[5:]
        self.assert_invalid(req, "5 values in fp32_contents, shape [1,30] needs 30")
        req = base()
        req.inputs[0].name = "other"
        self.assert_invalid(req, "unknown input 'other'")
        req = pb.ModelInferRequest(model_name="patient_outcome")
        self.assert_invalid(req, "at least one input")
        req = base()
        req.inputs[0].datatype = "FLOAT32"
        self.assert_invalid(req, "unknown datatype 'FLOAT32'")
        req = base()
        del req.inputs[0].shape[:]
        req.inputs[0].shape.extend([1 << 20, 1 << 20])
        self.assert_invalid(req, "does not match")
        req = base()
        del req.inputs[0].shape[:]
        req.inputs[0].shape.extend([1 << 20, 1 << 20, 1 << 20, 1 << 20])
        self.assert_invalid(req, "more than")
        req = base()
        del req.inputs[0].shape[:]
        req.inputs[0].shape.extend([1, -30])
        self.assert_invalid(req, "negative")
        req = base(shape=(257, 30))
        self.assert_invalid(req, "batch size 257 is outside [1, 256]")
        req = base()
        req.raw_input_contents.append(b"extra")
        self.assert_invalid(req, "raw_input_contents has 2 entries for 1 inputs")
        req = base(model="recommender")
        self.assert_invalid(req, "features")
        req = base()
        req.model_version = "abc"
        self.assert_invalid(req, "model_version 'abc' is not a positive integer")
        req = base()
        req.model_version = "7"
        self.assert_invalid(req, "no version 7", grpc.StatusCode.NOT_FOUND)
        req = base(model="nope")
        self.assert_invalid(req, "model 'nope'", grpc.StatusCode.NOT_FOUND)
        req = base(model="../../etc")
        self.assert_invalid(req, "invalid model name")
        # The server is still serving.
        self.assertEqual(len(self.infer(base()).outputs), 1)

    # --- metadata, config, statistics, repository index ------------------------
    def test_server_endpoints(self):
        self.assertTrue(self.stub.ServerLive(pb.ServerLiveRequest()).live)
        self.assertTrue(self.stub.ServerReady(pb.ServerReadyRequest()).ready)
        meta = self.stub.ServerMetadata(pb.ServerMetadataRequest())
        self.assertEqual(meta.name, "protoserve")
        self.assertIn("classification", meta.extensions)
        self.assertTrue(self.stub.ModelReady(pb.ModelReadyRequest(name="fashion_mnist")).ready)
        self.assertTrue(self.stub.ModelReady(pb.ModelReadyRequest(name="fashion_mnist", version="1")).ready)
        self.assertFalse(self.stub.ModelReady(pb.ModelReadyRequest(name="fashion_mnist", version="5")).ready)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.ModelReady(pb.ModelReadyRequest(name="missing"))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_model_metadata(self):
        meta = self.stub.ModelMetadata(pb.ModelMetadataRequest(name="recommender"))
        self.assertEqual(meta.platform, "pytorch_libtorch")
        self.assertEqual(list(meta.versions), ["1"])
        inputs = {t.name: (t.datatype, list(t.shape)) for t in meta.inputs}
        self.assertEqual(inputs, {"user_hash": ("INT64", [-1, 1]), "features": ("FP32", [-1, 32])})
        self.assertEqual([(t.name, t.datatype, list(t.shape)) for t in meta.outputs], [("scores", "FP32", [-1, 1000])])
        meta = self.stub.ModelMetadata(pb.ModelMetadataRequest(name="patient_outcome"))
        self.assertEqual(meta.platform, "xgboost")
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.ModelMetadata(pb.ModelMetadataRequest(name="nope"))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_model_config(self):
        config = self.stub.ModelConfig(pb.ModelConfigRequest(name="fashion_mnist")).config
        self.assertEqual(config.name, "fashion_mnist")
        self.assertEqual(config.max_batch_size, 128)
        self.assertEqual(config.output[0].label_filename, "labels.txt")
        self.assertTrue(config.HasField("dynamic_batching"))

    def test_model_statistics_move(self):
        def stats():
            res = self.stub.ModelStatistics(pb.ModelStatisticsRequest(name="patient_outcome", version="1"))
            self.assertEqual(len(res.model_stats), 1)
            return res.model_stats[0]

        before = stats()
        req = pb.ModelInferRequest(model_name="patient_outcome")
        tensor("features", np.zeros((3, 30), np.float32), True, req)
        for _ in range(4):
            self.infer(req)
        bad = pb.ModelInferRequest(model_name="patient_outcome")
        tensor("features", np.zeros((1, 30), np.float32), True, bad)
        bad.raw_input_contents[0] = b"12"
        with self.assertRaises(grpc.RpcError):
            self.infer(bad)
        after = stats()
        self.assertEqual(after.inference_stats.success.count - before.inference_stats.success.count, 4)
        self.assertEqual(after.inference_count - before.inference_count, 12)
        for part in ("compute_input", "compute_infer", "compute_output"):
            self.assertEqual(getattr(after.inference_stats, part).count - getattr(before.inference_stats, part).count,
                             4, part)
            self.assertGreater(getattr(after.inference_stats, part).ns, getattr(before.inference_stats, part).ns, part)
        self.assertGreater(after.last_inference, 0)
        self.assertIn(3, [b.batch_size for b in after.batch_stats])
        all_stats = self.stub.ModelStatistics(pb.ModelStatisticsRequest())
        self.assertEqual({m.name for m in all_stats.model_stats},
                         {"recommender", "fashion_mnist", "patient_outcome", "patient_record"})

    def test_repository_index_and_cli(self):
        index = self.stub.RepositoryIndex(pb.RepositoryIndexRequest())
        states = {(m.name, m.version): m.state for m in index.models}
        self.assertEqual(states, {("recommender", "1"): "READY", ("fashion_mnist", "1"): "READY",
                                  ("patient_outcome", "1"): "READY", ("patient_record", "1"): "READY"})
        out = cli("models", "--target", self.server.target)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(json.loads(out.stdout)["models"]), 4)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="fashion_mnist"))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_cli_infer_json_and_npy(self):
        s = PATIENT[0]
        out = cli("infer", "--target", self.server.target, "--model", "patient_outcome", "--input",
                  "features:FP32:1,30:" + json.dumps(s["features"]))
        self.assertEqual(out.returncode, 0, out.stderr)
        data = json.loads(out.stdout)["outputs"][0]
        self.assertEqual(data["shape"], [1, 1])
        self.assertAlmostEqual(data["data"][0], s["probability"], places=5)
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"img-{os.getpid()}.npy")
        np.save(path, np.array(FASHION[0]["image"], dtype=np.float32).reshape(1, 1, 28, 28))
        out = cli("infer", "--target", self.server.target, "--model", "fashion_mnist", "--input",
                  f"image:FP32:1,1,28,28:@{path}", "--output", "logits:classification=2")
        os.unlink(path)
        self.assertEqual(out.returncode, 0, out.stderr)
        top = json.loads(out.stdout)["outputs"][0]["data"]
        self.assertEqual(len(top), 2)
        self.assertEqual(int(top[0].split(":")[1]), int(np.argmax(FASHION[0]["logits"])))
        bad = cli("infer", "--target", self.server.target, "--model", "fashion_mnist", "--input", "image:FP32:1,2:[1,2]")
        self.assertEqual(bad.returncode, 1)
        self.assertEqual(json.loads(bad.stderr)["error"]["code"], "INVALID_ARGUMENT")


if __name__ == "__main__":
    unittest.main()
