"""deploy/kserve: the runtime contract KServe relies on, and the real server started exactly
as the ServingRuntime's container would be.

The container is started as KServe starts it: the image's ENTRYPOINT (deploy/Dockerfile)
and ENV, the runtime's args with {{.Name}} filled in, and a repository laid out as KServe's
storage initializer lays out a local (file:// or older pvc://) source: /mnt/models/<entry>
a symlink to each entry of the source. Only what cannot exist on a test machine is
replaced: /mnt/models and /mnt/pvc by temporary directories, the ports 8080 and 9000 by
free ones (port 0). It is then called with the KServe v2 protocol over REST and gRPC.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

import grpc
import numpy as np
import yaml

sys.path.insert(0, os.path.dirname(__file__))
from deploy_support import DATA, DEPLOY, REPO, SERVER, Server, stubs  # noqa: E402
from test_dockerfile import instructions  # noqa: E402

stubs()
import inference_pb2 as kpb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as rpb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

KSERVE = os.path.join(DEPLOY, "kserve")
ISVC_NAME = "recommender"


def load(name):
    with open(os.path.join(KSERVE, name)) as f:
        return yaml.safe_load(f)


def flag(args, name):
    values = [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]
    return values[0] if len(values) == 1 else None


def image_entrypoint_and_env():
    """The runtime stage's ENTRYPOINT (exec form) and ENV of deploy/Dockerfile."""
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        steps = instructions(f.read())
    runtime = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM"):]
    entrypoint = json.loads([rest for w, rest in runtime if w == "ENTRYPOINT"][-1])
    env = {}
    for word, rest in runtime:
        if word == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    return entrypoint, env


class RuntimeContract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.runtime = load("servingruntime.yaml")
        cls.container = cls.runtime["spec"]["containers"][0]
        cls.args = cls.container["args"]

    def test_cluster_runtime_is_the_same_runtime(self):
        cluster = load("clusterservingruntime.yaml")
        self.assertEqual((self.runtime["kind"], cluster["kind"]), ("ServingRuntime", "ClusterServingRuntime"))
        self.assertEqual(cluster["spec"], self.runtime["spec"])
        self.assertEqual(cluster["metadata"]["name"], self.runtime["metadata"]["name"])

    def test_protocols_formats_and_container_name(self):
        spec = self.runtime["spec"]
        self.assertEqual(spec["protocolVersions"], ["v2", "grpc-v2"])
        formats = {f["name"]: f for f in spec["supportedModelFormats"]}
        self.assertEqual(set(formats), {"protoserve", "pytorch", "xgboost"})
        # Auto-selected only for its own format: pytorch/xgboost InferenceServices without a
        # runtime keep going to KServe's TorchServe / XGBoost servers.
        self.assertEqual({n: f["autoSelect"] for n, f in formats.items()},
                         {"protoserve": True, "pytorch": False, "xgboost": False})
        self.assertFalse(spec["multiModel"])
        self.assertEqual([c["name"] for c in spec["containers"]], ["kserve-container"])
        self.assertNotIn("command", self.container, "the image's ENTRYPOINT starts protoserve")

    def test_args_serve_the_one_named_model_from_mnt_models(self):
        self.assertEqual(flag(self.args, "--model-repository"), "/mnt/models")
        self.assertEqual(flag(self.args, "--model-control-mode"), "explicit")
        self.assertEqual(flag(self.args, "--load-model"), "{{.Name}}")
        self.assertEqual(flag(self.args, "--recommender-model"), "{{.Name}}")
        self.assertEqual((flag(self.args, "--http-port"), flag(self.args, "--grpc-port")), ("8080", "9000"))
        self.assertEqual(flag(self.args, "--allow-symlinks-within"), "/mnt/pvc")
        self.assertNotIn("--allow-unauthenticated-management", self.args)

    def test_every_arg_is_a_server_flag(self):
        help_text = subprocess.run([SERVER, "--help"], capture_output=True, text=True, check=True).stdout
        for arg in self.args:
            name = arg.split("=", 1)[0]
            self.assertRegex(help_text, r"(^|\s|,)" + re.escape(name) + r"\b", f"{name} is not a protoserve flag")

    def test_v2_readiness_probe_and_prometheus_annotations(self):
        probe = self.container["readinessProbe"]["httpGet"]
        self.assertEqual((probe["path"], probe["port"]), ("/v2/health/ready", 8080))
        annotations = self.runtime["spec"]["annotations"]
        self.assertEqual(annotations["prometheus.kserve.io/port"], "8080")
        self.assertEqual(annotations["prometheus.kserve.io/path"], "/metrics")
        self.assertEqual(annotations["prometheus.io/scrape"], "true")

    def test_security_context_matches_the_image_user(self):
        security = self.container["securityContext"]
        self.assertTrue(security["runAsNonRoot"])
        self.assertEqual(security["runAsUser"], 10001)
        self.assertTrue(security["readOnlyRootFilesystem"])
        self.assertFalse(security["allowPrivilegeEscalation"])
        mounts = {m["mountPath"] for m in self.container["volumeMounts"]}
        self.assertIn("/tmp", mounts)

    def test_inference_services(self):
        grpc_port = int(flag(self.args, "--grpc-port"))
        http_port = int(flag(self.args, "--http-port"))
        for name, protocol, ports in (("inferenceservice-rest.yaml", "v2", None),
                                      ("inferenceservice-grpc.yaml", "grpc-v2", [("h2c", grpc_port)]),
                                      ("inferenceservice-raw.yaml", "v2", [("http", http_port), ("grpc", grpc_port)])):
            with self.subTest(name):
                isvc = load(name)
                self.assertEqual(isvc["metadata"]["name"], ISVC_NAME, "{{.Name}}: the model the runtime loads")
                model = isvc["spec"]["predictor"]["model"]
                self.assertEqual((model["runtime"], model["modelFormat"]["name"]), ("protoserve", "protoserve"))
                self.assertEqual(model["protocolVersion"], protocol)
                self.assertTrue(model["storageUri"])
                got = [(p["name"], p["containerPort"]) for p in model.get("ports", [])] or None
                self.assertEqual(got, ports)
                raw = isvc["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode")
                self.assertEqual(raw, "RawDeployment" if name.endswith("raw.yaml") else None)


class StartedAsKServeStartsIt(unittest.TestCase):
    """The real binary, the runtime's args, a storage-initializer layout with symlinks."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-kserve-")
        # The source (a PVC at /mnt/pvc, or a file:// directory): a Triton-style repository.
        source = os.path.join(cls.tmp, "mnt", "pvc", "model_repository")
        for model in (ISVC_NAME, "patient_outcome"):
            shutil.copytree(os.path.join(REPO, model), os.path.join(source, model))
        # What the storage initializer does for a local source: /mnt/models/<entry> -> <source>/<entry>.
        cls.models = os.path.join(cls.tmp, "mnt", "models")
        os.makedirs(cls.models)
        for entry in sorted(os.listdir(source)):
            os.symlink(os.path.join(source, entry), os.path.join(cls.models, entry))
        runtime = load("servingruntime.yaml")
        container = runtime["spec"]["containers"][0]
        entrypoint, image_env = image_entrypoint_and_env()
        substitutions = {"{{.Name}}": ISVC_NAME, "/mnt/models": cls.models,
                         "/mnt/pvc": os.path.join(cls.tmp, "mnt", "pvc")}
        args = []
        for arg in container["args"]:
            for old, new in substitutions.items():
                arg = arg.replace(old, new)
            if arg.split("=", 1)[0] in ("--http-port", "--grpc-port"):
                arg = arg.split("=", 1)[0] + "=0"
            args.append(arg)
        cls.command = [SERVER if entrypoint[0] == "protoserve" else entrypoint[0]] + entrypoint[1:] + args
        # The image's ENV (PROTOSERVE_MODEL_REPOSITORY=/models, which the runtime's flag replaces),
        # then the container's env.
        env = dict(image_env, **{e["name"]: e["value"] for e in container.get("env", [])})
        # The harness adds none of its defaults: the args set every one of them.
        cls.env = env
        cls.server = Server(*cls.command[1:], env=env)
        cls.server.__enter__()
        cls.http = f"http://127.0.0.1:{cls.server.http_port}"
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.kserve = inference_pb2_grpc.GRPCInferenceServiceStub(cls.channel)
        with open(os.path.join(DATA, "recommender_samples.json")) as f:
            cls.samples = json.load(f)[:4]

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def get(self, path):
        try:
            with urllib.request.urlopen(self.http + path, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def test_the_command_line_is_the_containers(self):
        self.assertEqual(self.server.args, self.command)
        self.assertIn(f"--load-model={ISVC_NAME}", self.command)
        self.assertIn(f"--model-repository={self.models}", self.command)
        self.assertTrue(all(os.path.islink(os.path.join(self.models, e)) for e in os.listdir(self.models)))

    def test_readiness_probe_and_metrics(self):
        probe = load("servingruntime.yaml")["spec"]["containers"][0]["readinessProbe"]["httpGet"]
        self.assertEqual(self.get(probe["path"])[0], 200)
        status, body = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"protoserve_", body)

    def test_only_the_named_model_is_loaded(self):
        self.assertTrue(self.kserve.ModelReady(kpb.ModelReadyRequest(name=ISVC_NAME), timeout=10).ready)
        # The repository holds patient_outcome too: in explicit mode it is not loaded.
        with self.assertRaises(grpc.RpcError) as ctx:
            self.kserve.ModelReady(kpb.ModelReadyRequest(name="patient_outcome"), timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(self.get("/v2/models/patient_outcome/ready")[0], 404)
        self.assertEqual(self.get(f"/v2/models/{ISVC_NAME}/ready")[0], 200)

    def test_v2_rest_infer(self):
        body = {"inputs": [
            {"name": "user_hash", "datatype": "INT64", "shape": [len(self.samples), 1],
             "data": [s["user_hash"] for s in self.samples]},
            {"name": "features", "datatype": "FP32", "shape": [len(self.samples), 32],
             "data": [x for s in self.samples for x in s["features"]]}]}
        request = urllib.request.Request(f"{self.http}/v2/models/{ISVC_NAME}/infer", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as r:
            reply = json.load(r)
        self.assertEqual(reply["model_name"], ISVC_NAME)
        scores = np.array(reply["outputs"][0]["data"], dtype=np.float32).reshape(len(self.samples), 1000)
        expected = np.array([s["scores"] for s in self.samples], dtype=np.float32)
        self.assertLessEqual(float(np.max(np.abs(scores - expected))), 1e-5)

    def test_v2_grpc_infer_and_the_seed_api(self):
        request = kpb.ModelInferRequest(model_name=ISVC_NAME)
        hashes = np.array([[s["user_hash"]] for s in self.samples], dtype=np.int64)
        features = np.array([s["features"] for s in self.samples], dtype=np.float32)
        for name, dtype, array in (("user_hash", "INT64", hashes), ("features", "FP32", features)):
            request.inputs.add(name=name, datatype=dtype, shape=list(array.shape))
            request.raw_input_contents.append(array.tobytes())
        reply = self.kserve.ModelInfer(request, timeout=60)
        scores = np.frombuffer(reply.raw_output_contents[0], dtype=np.float32).reshape(len(self.samples), 1000)
        expected = np.array([s["scores"] for s in self.samples], dtype=np.float32)
        self.assertLessEqual(float(np.max(np.abs(scores - expected))), 1e-5)
        # --recommender-model={{.Name}}: the seed's Recommender answers with no model named.
        seed = recommender_pb2_grpc.RecommenderStub(self.channel)
        sample = self.samples[0]
        answer = seed.GetRecommendations(rpb.RecommendationRequest(user_id=sample["user_id"],
                                                                   features=sample["features"], top_k=3), timeout=30)
        self.assertEqual(len(answer.item_ids), 3)

    def test_without_the_flag_the_linked_repository_does_not_load(self):
        args = [a for a in self.command[1:] if not a.startswith("--allow-symlinks-within=")]
        with Server(*args, env=self.env) as server:
            self.assertTrue(any("resolves outside the repository" in line for line in server.lines), server.lines)
            with grpc.insecure_channel(server.target) as channel:
                stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                try:
                    ready = stub.ModelReady(kpb.ModelReadyRequest(name=ISVC_NAME), timeout=10).ready
                except grpc.RpcError:
                    ready = False
            self.assertFalse(ready)

    def test_management_stays_refused(self):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.kserve.RepositoryModelLoad(kpb.RepositoryModelLoadRequest(model_name="patient_outcome"), timeout=10)
        self.assertIn(ctx.exception.code(), (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED))

    def test_model_names_cannot_leave_the_repository(self):
        for name in ("../pvc/model_repository/patient_outcome", "../models/recommender", ".."):
            status, _ = self.get(f"/v2/models/{urllib.request.quote(name, safe='')}/ready")
            self.assertNotEqual(status, 200, name)
            try:
                ready = self.kserve.ModelReady(kpb.ModelReadyRequest(name=name), timeout=10).ready
            except grpc.RpcError as e:
                ready = e.code() == grpc.StatusCode.OK
            self.assertFalse(ready, name)


class ImageDefaultRepository(unittest.TestCase):
    """The image's PROTOSERVE_MODEL_REPOSITORY is a default that --model-repository replaces."""

    def run_server(self, env, *args):
        return subprocess.run([SERVER, "--grpc-port=0", "--http-port=0", "--address=127.0.0.1", *args],
                              capture_output=True, text=True, timeout=60, env=dict(os.environ, **env))

    def test_env_is_the_default_and_the_flag_wins(self):
        tmp = tempfile.mkdtemp(prefix="protoserve-env-")
        try:
            from_env, from_flag = os.path.join(tmp, "from-env"), os.path.join(tmp, "from-flag")
            out = self.run_server({"PROTOSERVE_MODEL_REPOSITORY": from_env})
            self.assertNotEqual(out.returncode, 0)
            self.assertIn(from_env, out.stdout + out.stderr)
            out = self.run_server({"PROTOSERVE_MODEL_REPOSITORY": from_env}, f"--model-repository={from_flag}")
            self.assertNotEqual(out.returncode, 0)
            self.assertIn(from_flag, out.stdout + out.stderr)
            self.assertNotIn(from_env, out.stdout + out.stderr)
        finally:
            shutil.rmtree(tmp)

    def test_allow_symlinks_within_refuses_the_root(self):
        out = self.run_server({}, f"--model-repository={REPO}", "--allow-symlinks-within=/")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--allow-symlinks-within", out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main()
