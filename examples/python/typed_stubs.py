"""Compiles a model's own .proto (its typed API, docs/typed-apis.md) with grpc_tools.protoc into a
temporary folder and imports the generated modules: what a team does once with protoc in its build.

    pb2, pb2_grpc = compile_model_proto("fashion_mnist", "protoserve/fashion_mnist/v1/fashion_mnist.proto")
"""
import importlib
import os
import sys
import tempfile

from grpc_tools import protoc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def compile_model_proto(model, proto, models_dir=os.path.join(ROOT, "models")):
    """-> (messages module, stubs module) of models/<model>/<proto>."""
    include = os.path.join(models_dir, model)
    out = tempfile.mkdtemp(prefix=f"protoserve-{model}-stubs-")
    wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")  # google/protobuf/*.proto
    code = protoc.main(["protoc", f"-I{include}", f"-I{wkt}", f"--python_out={out}", f"--grpc_python_out={out}", proto])
    if code != 0:
        raise RuntimeError(f"protoc failed on {proto} ({code})")
    sys.path.insert(0, out)
    module = proto[:-len(".proto")].replace("/", ".")
    return importlib.import_module(module + "_pb2"), importlib.import_module(module + "_pb2_grpc")
