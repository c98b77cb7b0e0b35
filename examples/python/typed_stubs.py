"""Compiles a model's own .proto (its typed API, docs/typed-apis.md) with protoc and gRPC's Python plugin
into a temporary folder and imports the generated modules: what a team does once with protoc in its build.
The compiler is the one the protoserve-client package uses (protoserve_client/stubs/_generate.py:
Debian's protoc 3.21, which compiles proto3 `optional`).

    pb2, pb2_grpc = compile_model_proto("fashion_mnist", "protoserve/fashion_mnist/v1/fashion_mnist.proto")
"""
import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _compiler():
    spec = importlib.util.spec_from_file_location(
        "_protoserve_generate", os.path.join(os.path.dirname(os.path.abspath(__file__)), "protoserve_client", "stubs",
                                             "_generate.py"))
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate.compiler()


def compile_model_proto(model, proto, models_dir=os.path.join(ROOT, "models")):
    """-> (messages module, stubs module) of models/<model>/<proto>."""
    include = os.path.join(models_dir, model)
    out = tempfile.mkdtemp(prefix=f"protoserve-{model}-stubs-")
    done = subprocess.run([*_compiler(), f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", proto],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"protoc failed on {proto}: {done.stderr}")
    sys.path.insert(0, out)
    module = proto[:-len(".proto")].replace("/", ".")
    return importlib.import_module(module + "_pb2"), importlib.import_module(module + "_pb2_grpc")
