"""Generates protoserve_client.stubs from the .proto files (protoc + gRPC's Python plugin).

Used at build time by setup.py (the wheel ships the generated modules) and, from a
source checkout, on first import (protoserve_client/stubs/__init__.py). No import
of grpc or protobuf here: setup.py loads this file alone.

What is generated: the server's contracts from proto/ (recommender, inference,
model_config, health, feedback), flat, as protoserve_client.stubs.<name>_pb2 and
_pb2_grpc; and every model's typed contract from models/<model>/, at its package
path, e.g. protoserve_client.stubs.protoserve.fashion_mnist.v1.fashion_mnist_pb2.
protoc writes imports as top-level modules (`import model_config_pb2`); they are
rewritten to absolute imports inside the package. The descriptors keep the file
names the server uses ("inference.proto", "protoserve/fashion_mnist/v1/fashion_mnist.proto").

The compiler: Debian's protoc (protobuf-compiler, 3.21, the version of the
python3-protobuf runtime) with grpc_python_plugin (protobuf-compiler-grpc), both
installed by scripts/setup. Debian 12's python3-grpc-tools bundles protoc 3.5.1,
which rejects proto3 `optional` fields (which a model team's contract may use), so
grpc_tools.protoc is only the fallback where those are not installed.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

PACKAGE = "protoserve_client.stubs"
SERVER_PROTOS = ("recommender.proto", "inference.proto", "model_config.proto", "health.proto", "feedback.proto")


def source_root():
    """The checkout this file is in (examples/python/protoserve_client/stubs/ -> the root)."""
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".."))


def proto_sets(root=None):
    """[(proto_path, [files relative to it])]: proto/, then each model folder that has .proto files."""
    root = root or source_root()
    sets = [(os.path.join(root, "proto"), list(SERVER_PROTOS))]
    for model_dir in sorted(glob.glob(os.path.join(root, "models", "*", ""))):
        files = sorted(glob.glob("**/*.proto", root_dir=model_dir, recursive=True))
        if files:
            sets.append((model_dir.rstrip("/"), files))
    return sets


def newest_input(root=None):
    return max(os.path.getmtime(os.path.join(d, f)) for d, files in proto_sets(root) for f in files)


def _modules(out_dir):
    """Generated module names (dotted, relative to the package)."""
    found = glob.glob("**/*_pb2*.py", root_dir=out_dir, recursive=True)
    return {f[:-3].replace(os.sep, ".") for f in found}


def _rewrite_imports(out_dir):
    modules = _modules(out_dir)
    for rel in glob.glob("**/*_pb2*.py", root_dir=out_dir, recursive=True):
        path = os.path.join(out_dir, rel)
        with open(path) as f:
            text = f.read()

        def absolute_import(m):
            module = m.group(1)
            return f"import {PACKAGE}.{module} as" if module in modules else m.group(0)

        def absolute_from(m):
            parent, name = m.group(1), m.group(2)
            return f"from {PACKAGE}.{parent} import {name}" if f"{parent}.{name}" in modules else m.group(0)

        text = re.sub(r"^import (\S+_pb2) as", absolute_import, text, flags=re.M)
        text = re.sub(r"^from (\S+) import (\S+_pb2)\b", absolute_from, text, flags=re.M)
        with open(path, "w") as f:
            f.write(text)
    # Packages for the model protos' folders (protoserve/, protoserve/fashion_mnist/, ...).
    for dirpath, _, _ in os.walk(out_dir):
        init = os.path.join(dirpath, "__init__.py")
        if dirpath != out_dir and not os.path.exists(init):
            open(init, "w").close()


def compiler(python=sys.executable):
    """The protoc command line (without inputs and outputs)."""
    protoc, plugin = shutil.which("protoc"), shutil.which("grpc_python_plugin")
    if protoc and plugin:
        return [protoc, f"--plugin=protoc-gen-grpc_python={plugin}"]
    return [python, "-m", "grpc_tools.protoc"]


def generate(out_dir, root=None, python=sys.executable):
    """Writes every stub module into out_dir (an existing directory). Files appear whole:
    they are generated into a scratch directory first and renamed into place."""
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        for proto_path, files in proto_sets(root):
            subprocess.run([*compiler(python), "-I", proto_path, "--python_out", scratch,
                            "--grpc_python_out", scratch, *files], check=True)
        _rewrite_imports(scratch)
        for dirpath, _, names in os.walk(scratch):
            dest_dir = os.path.join(out_dir, os.path.relpath(dirpath, scratch))
            os.makedirs(dest_dir, exist_ok=True)
            for name in names:
                os.replace(os.path.join(dirpath, name), os.path.join(dest_dir, name))
