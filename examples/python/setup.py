"""Build step of the protoserve-client package (metadata: pyproject.toml).

build_py generates protoserve_client.stubs from the .proto files of the checkout this
directory is in (proto/ and models/*/, protoserve_client/stubs/_generate.py) into the
build tree, so the wheel ships them and needs no compiler at run time.
$PROTOSERVE_SOURCE_ROOT names the checkout when this directory was copied elsewhere.
"""
import importlib.util
import os

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _generator():
    spec = importlib.util.spec_from_file_location(
        "_protoserve_generate", os.path.join(HERE, "protoserve_client", "stubs", "_generate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        generator = _generator()
        root = os.environ.get("PROTOSERVE_SOURCE_ROOT") or generator.source_root()
        if not os.path.exists(os.path.join(root, "proto", "recommender.proto")):
            raise SystemExit(f"protoserve-client: build it from a protoserve checkout (no proto/ at {root})")
        out = os.path.join(self.build_lib, "protoserve_client", "stubs")
        os.makedirs(out, exist_ok=True)
        generator.generate(out, root)


setup(cmdclass={"build_py": BuildPyWithStubs})
