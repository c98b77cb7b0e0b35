"""e2e: typed APIs from the models' own .proto files (issue 21, docs/typed-apis.md).

Each demo model's typed method is called from Python stubs compiled from the model's .proto by
protoc, from the REST twin (proto3 JSON), over gRPC-Web, and by server reflection alone (the
descriptors come from the server, no .proto); bad requests are INVALID_ARGUMENT naming the field;
a .proto that does not parse, or a mapping naming a missing tensor, fails the reload with that
reason in RepositoryIndex while the version loaded before keeps serving."""
import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLI, PYTHON, REPO, ROOT, Server, frame, generate_stubs, load_samples, stubs, unframe, wait_until  # noqa: E402,E501

stubs()
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import reflection_pb2  # noqa: E402
import reflection_pb2_grpc  # noqa: E402

FASHION_PROTO = "protoserve/fashion_mnist/v1/fashion_mnist.proto"
PATIENT_PROTO = "protoserve/patient_outcome/v1/patient_outcome.proto"
TYPED_STUBS = tempfile.mkdtemp(prefix="protoserve-typed-stubs-")
generate_stubs(os.path.join(ROOT, "models", "fashion_mnist"), [FASHION_PROTO], TYPED_STUBS)
generate_stubs(os.path.join(ROOT, "models", "patient_outcome"), [PATIENT_PROTO], TYPED_STUBS)
sys.path.insert(0, TYPED_STUBS)
from protoserve.fashion_mnist.v1 import fashion_mnist_pb2 as fm  # noqa: E402
from protoserve.fashion_mnist.v1 import fashion_mnist_pb2_grpc as fm_grpc  # noqa: E402
from protoserve.patient_outcome.v1 import patient_outcome_pb2 as po  # noqa: E402
from protoserve.patient_outcome.v1 import patient_outcome_pb2_grpc as po_grpc  # noqa: E402

FASHION = load_samples("fashion_mnist")
PATIENT = load_samples("patient_outcome")
with open(os.path.join(REPO, "fashion_mnist", "labels.txt")) as f:
    LABELS = f.read().splitlines()
PATIENT_FIELDS = [f.name for f in po.PatientRecord.DESCRIPTOR.fields]
CLASSIFY = "/protoserve.fashion_mnist.v1.FashionMnist/Classify"


def softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def record(features):
    return po.PatientRecord(**dict(zip(PATIENT_FIELDS, features)))


def expected_outcome(p):
    return ("benign", p) if p >= 0.5 else ("malignant", 1 - p)


class TypedE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server().__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.fashion = fm_grpc.FashionMnistStub(cls.channel)
        cls.patient = po_grpc.PatientOutcomeStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def post(self, path, body, content_type="application/json"):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=30)
        conn.request("POST", path, body=body, headers={"content-type": content_type})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response, data

    def check_classification(self, sample, classes, k=3):
        probs = softmax(sample["logits"])
        order = sorted(range(10), key=lambda i: -probs[i])[:k]
        self.assertEqual([c.label if hasattr(c, "label") else c["label"] for c in classes], [LABELS[i] for i in order])
        for c, i in zip(classes, order):
            p = c.probability if hasattr(c, "probability") else c["probability"]
            self.assertAlmostEqual(p, probs[i], places=4)

    # --- stubs compiled from the model's .proto ------------------------------------------------
    def test_fashion_mnist_classify_from_compiled_stubs(self):
        for sample in FASHION[:16]:
            answer = self.fashion.Classify(fm.Image(pixels=sample["image"]), timeout=30)
            self.assertEqual(len(answer.classes), 3)
            self.check_classification(sample, answer.classes)
        answer = self.fashion.Classify(fm.Image(pixels=FASHION[0]["image"], top_k=10), timeout=30)
        self.check_classification(FASHION[0], answer.classes, k=10)

    def test_patient_outcome_from_compiled_stubs(self):
        for sample in PATIENT[:40]:
            answer = self.patient.PredictOutcome(record(sample["features"]), timeout=30)
            label, probability = expected_outcome(sample["probability"])
            self.assertEqual(answer.label, label)
            self.assertAlmostEqual(answer.probability, probability, places=5)
            self.assertEqual(answer.malignant, label == "malignant")
        self.assertIn("malignant", {expected_outcome(s["probability"])[0] for s in PATIENT[:40]})

    def test_typed_calls_go_through_the_core_facade(self):
        admin = inference_pb2_grpc.GRPCInferenceServiceStub(self.channel)

        def count():
            stats = admin.ModelStatistics(ipb.ModelStatisticsRequest(name="patient_outcome"), timeout=10)
            return sum(s.inference_stats.success.count for s in stats.model_stats)
        before = count()
        for sample in PATIENT[:5]:
            self.patient.PredictOutcome(record(sample["features"]), timeout=30)
        self.assertTrue(wait_until(lambda: count() >= before + 5, timeout=10), (before, count()))

    # --- bad requests ---------------------------------------------------------------------------
    def assert_invalid(self, call, *words):
        with self.assertRaises(grpc.RpcError) as caught:
            call()
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, caught.exception.details())
        for word in words:
            self.assertIn(word, caught.exception.details())

    def test_bad_requests_are_invalid_argument_naming_the_field(self):
        features = PATIENT[0]["features"]
        bad = record(features[:2] + [float("nan")] + features[3:])
        self.assert_invalid(lambda: self.patient.PredictOutcome(bad, timeout=30), "mean_perimeter", "not finite")
        # A missing field (every PatientRecord field is `optional`: explicit presence); a 0 that is set is a value.
        missing = record(features)
        missing.ClearField("worst_symmetry")
        self.assert_invalid(lambda: self.patient.PredictOutcome(missing, timeout=30), "worst_symmetry", "not set")
        self.assert_invalid(lambda: self.patient.PredictOutcome(po.PatientRecord(), timeout=30), "mean_radius",
                            "not set")
        self.assertIn(self.patient.PredictOutcome(record([0.0] * 30), timeout=30).label, ("benign", "malignant"))
        self.assert_invalid(lambda: self.fashion.Classify(fm.Image(pixels=FASHION[0]["image"][:783]), timeout=30),
                            "pixels", "expected 784 values, got 783")
        # A missing repeated field: none of its 784 values.
        self.assert_invalid(lambda: self.fashion.Classify(fm.Image(top_k=3), timeout=30), "pixels", "got 0")
        self.assert_invalid(lambda: self.fashion.Classify(fm.Image(pixels=FASHION[0]["image"], top_k=11),
                                                          timeout=30), "top_k", "at most 10")
        garbage = self.channel.unary_unary(CLASSIFY, request_serializer=None, response_deserializer=None)
        self.assert_invalid(lambda: garbage(b"\xff\xff\xff", timeout=30), "protoserve.fashion_mnist.v1.Image")

    def test_unknown_method_is_unimplemented(self):
        for path in ("/protoserve.fashion_mnist.v1.FashionMnist/Nope", "/no.such.Service/Call"):
            call = self.channel.unary_unary(path, request_serializer=None, response_deserializer=None)
            with self.assertRaises(grpc.RpcError) as caught:
                call(b"", timeout=30)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.UNIMPLEMENTED)

    # --- REST twin ------------------------------------------------------------------------------
    def test_rest_twin_takes_and_returns_proto3_json(self):
        sample = FASHION[1]
        response, data = self.post("/v1/models/fashion_mnist/Classify",
                                   json.dumps({"pixels": sample["image"], "top_k": 4}))
        self.assertEqual(response.status, 200, data)
        answer = json.loads(data)
        self.assertEqual(len(answer["classes"]), 4)
        self.check_classification(sample, answer["classes"], k=4)
        sample = PATIENT[2]
        body = dict(zip(PATIENT_FIELDS, sample["features"]))
        response, data = self.post("/v1/models/patient_outcome/PredictOutcome", json.dumps(body))
        self.assertEqual(response.status, 200, data)
        answer = json.loads(data)
        label, probability = expected_outcome(sample["probability"])
        self.assertEqual((answer["label"], answer["malignant"]), (label, label == "malignant"))
        self.assertAlmostEqual(answer["probability"], probability, places=5)
        # lowerCamelCase names are proto3 JSON too.
        camel = {"".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))): v for k, v in body.items()}
        response, data = self.post("/v1/models/patient_outcome/PredictOutcome", json.dumps(camel))
        self.assertEqual((response.status, json.loads(data)["label"]), (200, label))

    def test_rest_twin_refuses_bad_json_naming_the_field(self):
        body = dict(zip(PATIENT_FIELDS, PATIENT[0]["features"]))
        body["mean_texture"] = "high"
        response, data = self.post("/v1/models/patient_outcome/PredictOutcome", json.dumps(body))
        self.assertEqual(response.status, 400, data)
        self.assertIn("mean_texture", json.loads(data)["error"])
        body["mean_texture"] = 1.0
        body["mean_texture_typo"] = 1.0
        response, data = self.post("/v1/models/patient_outcome/PredictOutcome", json.dumps(body))
        self.assertEqual(response.status, 400, data)
        self.assertIn("mean_texture_typo", json.loads(data)["error"])
        del body["mean_texture_typo"], body["area_error"]
        response, data = self.post("/v1/models/patient_outcome/PredictOutcome", json.dumps(body))
        self.assertEqual(response.status, 400, data)
        self.assertIn("field 'area_error' is not set", json.loads(data)["error"])
        response, data = self.post("/v1/models/fashion_mnist/Classify", json.dumps({"top_k": 2}))
        self.assertEqual(response.status, 400, data)
        self.assertIn("field 'pixels': expected 784 values, got 0", json.loads(data)["error"])
        response, data = self.post("/v1/models/fashion_mnist/Classify", json.dumps({"pixels": [0.5] * 10}))
        self.assertEqual(response.status, 400, data)
        self.assertIn("pixels", json.loads(data)["error"])
        response, data = self.post("/v1/models/fashion_mnist/PredictOutcome", "{}")
        self.assertEqual(response.status, 501, data)
        response, data = self.post("/v1/models/no_such_model/Classify", "{}")
        self.assertEqual(response.status, 404, data)

    # --- gRPC-Web -------------------------------------------------------------------------------
    def test_grpc_web_reaches_the_typed_method(self):
        sample = FASHION[2]
        response, data = self.post(CLASSIFY, frame(fm.Image(pixels=sample["image"]).SerializeToString()),
                                   "application/grpc-web+proto")
        self.assertEqual(response.status, 200)
        messages, trailers = unframe(data)
        self.assertEqual(trailers.get("grpc-status"), "0", trailers)
        answer = fm.Classification.FromString(messages[0])
        self.check_classification(sample, answer.classes)

    # --- reflection alone -----------------------------------------------------------------------
    def reflect(self, **request):
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        return next(iter(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(**request)]),
                                                   timeout=10)))

    def test_reflection_lists_and_describes_the_typed_services(self):
        names = {s.name for s in self.reflect(list_services="").list_services_response.service}
        for name in ("protoserve.fashion_mnist.v1.FashionMnist", "protoserve.patient_outcome.v1.PatientOutcome",
                     "Recommender", "inference.GRPCInferenceService", "grpc.health.v1.Health"):
            self.assertIn(name, names)
        missing = self.reflect(file_containing_symbol="no.such.Symbol")
        self.assertEqual(missing.error_response.error_code, grpc.StatusCode.NOT_FOUND.value[0])

    def test_call_by_reflection_alone(self):
        """No .proto and no compiled stub: descriptors from the server, messages built from them."""
        answer = self.reflect(file_containing_symbol="protoserve.patient_outcome.v1.PatientOutcome")
        pool = descriptor_pool.DescriptorPool()
        for raw in answer.file_descriptor_response.file_descriptor_proto:
            pool.Add(descriptor_pb2.FileDescriptorProto.FromString(raw))
        method = pool.FindServiceByName("protoserve.patient_outcome.v1.PatientOutcome").FindMethodByName(
            "PredictOutcome")
        request_class = message_factory.MessageFactory(pool).GetPrototype(method.input_type)
        response_class = message_factory.MessageFactory(pool).GetPrototype(method.output_type)
        call = self.channel.unary_unary("/protoserve.patient_outcome.v1.PatientOutcome/PredictOutcome",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=response_class.FromString)
        sample = PATIENT[3]
        fields = [f.name for f in method.input_type.fields]
        self.assertEqual(fields, PATIENT_FIELDS)
        result = call(request_class(**dict(zip(fields, sample["features"]))), timeout=30)
        label, probability = expected_outcome(sample["probability"])
        self.assertEqual(result.label, label)
        self.assertAlmostEqual(result.probability, probability, places=5)

    # --- the CLI prints the contract ------------------------------------------------------------
    def test_cli_proto_prints_the_contract(self):
        out = subprocess.run([CLI, "proto", "fashion_mnist", f"--target={self.server.target}"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("package protoserve.fashion_mnist.v1;", out.stdout)
        self.assertIn("rpc Classify(.protoserve.fashion_mnist.v1.Image) returns "
                      "(.protoserve.fashion_mnist.v1.Classification);", out.stdout)
        self.assertIn("repeated float pixels = 1;", out.stdout)
        # The recommender declares the seed's Recommender contract (compiled into the server).
        out = subprocess.run([CLI, "proto", "recommender", f"--target={self.server.target}"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("rpc GetRecommendations(.RecommendationRequest) returns (.RecommendationResponse);", out.stdout)
        out = subprocess.run([CLI, "proto", "patient_record", f"--target={self.server.target}"],
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("declares no typed API", out.stderr)

    # --- the Python example clients -------------------------------------------------------------
    def test_python_example_clients(self):
        for script, expected in (("typed_fashion_mnist.py", LABELS[FASHION[0]["label"]]),
                                 ("typed_patient_outcome.py", "malignant")):
            out = subprocess.run([PYTHON, os.path.join(ROOT, "examples", "python", script),
                                  f"--target={self.server.target}"], capture_output=True, text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(expected, out.stdout)


NODE, NPM = shutil.which("node"), shutil.which("npm")


@unittest.skipUnless(NODE and NPM, "node and npm are needed for the Node.js client (scripts/setup installs them)")
class TypedNodeE2E(unittest.TestCase):
    """examples/node/typed.js: the types come from server reflection only."""

    @classmethod
    def setUpClass(cls):
        from test_clients_node import NODE_DIR, npm_ci_if_needed
        npm_ci_if_needed()
        cls.node_dir = NODE_DIR
        cls.server = Server().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)

    def node(self, *args):
        return subprocess.run([NODE, "typed.js", *args, "--target", self.server.target], cwd=self.node_dir,
                              capture_output=True, text=True, timeout=120)

    def test_node_client_by_reflection_alone(self):
        sample = PATIENT[4]
        body = json.dumps(dict(zip(PATIENT_FIELDS, sample["features"])))
        out = self.node("protoserve.patient_outcome.v1.PatientOutcome/PredictOutcome", body)
        self.assertEqual(out.returncode, 0, out.stderr)
        answer = json.loads(out.stdout)
        label, probability = expected_outcome(sample["probability"])
        self.assertEqual((answer["label"], answer["malignant"]), (label, label == "malignant"))
        self.assertAlmostEqual(answer["probability"], probability, places=5)
        sample = FASHION[5]
        out = self.node(CLASSIFY[1:], json.dumps({"pixels": sample["image"], "top_k": 2}))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([c["label"] for c in json.loads(out.stdout)["classes"]],
                         [LABELS[i] for i in sorted(range(10), key=lambda i: -sample["logits"][i])[:2]])
        out = self.node(CLASSIFY[1:], json.dumps({"pixels": [0.5] * 3}))
        self.assertNotEqual(out.returncode, 0)
        self.assertEqual(json.loads(out.stderr)["error"]["code"], "INVALID_ARGUMENT")
        self.assertIn("pixels", json.loads(out.stderr)["error"]["message"])


class TypedLifecycleE2E(unittest.TestCase):
    """A broken contract fails the reload with its reason; the version loaded before keeps serving."""

    def test_broken_proto_and_missing_tensor_keep_the_previous_version(self):
        root = tempfile.mkdtemp(prefix="protoserve-typed-")
        try:
            model = os.path.join(root, "patient_outcome")
            shutil.copytree(os.path.join(REPO, "patient_outcome"), model)
            proto = os.path.join(model, PATIENT_PROTO)
            config = os.path.join(model, "config.pbtxt")
            with open(proto) as f:
                good_proto = f.read()
            with open(config) as f:
                good_config = f.read()

            def write(path, text):
                with open(path + ".tmp", "w") as f:
                    f.write(text)
                os.replace(path + ".tmp", path)  # a poll never sees half a file

            with Server("--model-control-mode=poll", "--repository-poll-secs=1", repo=root) as server:
                channel = grpc.insecure_channel(server.target)
                admin = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                patient = po_grpc.PatientOutcomeStub(channel)
                sample = PATIENT[0]
                label, _ = expected_outcome(sample["probability"])

                def reason():
                    index = admin.RepositoryIndex(ipb.RepositoryIndexRequest(), timeout=10)
                    return " ".join(m.reason for m in index.models if m.name == "patient_outcome")

                def still_serves():
                    self.assertEqual(patient.PredictOutcome(record(sample["features"]), timeout=30).label, label)

                still_serves()
                self.assertEqual(reason(), "")
                broken = good_proto.replace("float mean_radius = 1;", "float mean_radius = ;")
                self.assertNotEqual(broken, good_proto)
                write(proto, broken)
                self.assertTrue(wait_until(lambda: "cannot parse" in reason(), timeout=30), reason())
                self.assertIn("patient_outcome.proto:", reason())
                still_serves()
                write(proto, good_proto)
                missing_tensor = good_config.replace('"typed.input.features"', '"typed.input.vitals"')
                self.assertNotEqual(missing_tensor, good_config)
                write(config, missing_tensor)
                self.assertTrue(wait_until(lambda: "'vitals'" in reason(), timeout=30), reason())
                self.assertIn("which the model does not have", reason())
                still_serves()
                write(config, good_config)
                self.assertTrue(wait_until(lambda: reason() == "", timeout=30), reason())
                still_serves()
                channel.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)


class TypedLateModelE2E(unittest.TestCase):
    """A method declared at start is a registered unary method; a model added later is served all the same
    (through gRPC's generic service), and a registered method whose model left answers UNIMPLEMENTED."""

    def test_a_model_added_after_start_is_served_and_one_removed_is_unimplemented(self):
        root = tempfile.mkdtemp(prefix="protoserve-typed-late-")
        stage = tempfile.mkdtemp(prefix="protoserve-typed-stage-")
        try:
            shutil.copytree(os.path.join(REPO, "fashion_mnist"), os.path.join(root, "fashion_mnist"))
            with Server("--model-control-mode=poll", "--repository-poll-secs=1", repo=root) as server:
                channel = grpc.insecure_channel(server.target)
                patient = po_grpc.PatientOutcomeStub(channel)
                fashion = fm_grpc.FashionMnistStub(channel)
                with self.assertRaises(grpc.RpcError) as raised:
                    patient.PredictOutcome(record(PATIENT[0]["features"]), timeout=30)
                self.assertEqual(raised.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
                staged = os.path.join(stage, "patient_outcome")
                shutil.copytree(os.path.join(REPO, "patient_outcome"), staged)
                os.rename(staged, os.path.join(root, "patient_outcome"))  # appears whole (one file system: /tmp)

                def answers():
                    try:
                        return patient.PredictOutcome(record(PATIENT[0]["features"]), timeout=30)
                    except grpc.RpcError:
                        return None
                self.assertTrue(wait_until(answers, timeout=60), "the model added after start is not served")
                label, _ = expected_outcome(PATIENT[0]["probability"])
                self.assertEqual(answers().label, label)
                self.assertEqual(len(fashion.Classify(fm.Image(pixels=[0.0] * 784), timeout=30).classes), 3)
                shutil.rmtree(os.path.join(root, "fashion_mnist"))

                def gone():
                    try:
                        fashion.Classify(fm.Image(pixels=[0.0] * 784), timeout=30)
                        return None
                    except grpc.RpcError as e:
                        return e.code()
                self.assertTrue(wait_until(gone, timeout=60), "the removed model still answers")
                self.assertIn(gone(), (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.NOT_FOUND))
                channel.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(stage, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
