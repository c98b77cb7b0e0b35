"""Stubs generated from protoserve's .proto files by grpc_tools.protoc.

    from protoserve_client.stubs import recommender_pb2, recommender_pb2_grpc, inference_pb2
    from protoserve_client.stubs.protoserve.fashion_mnist.v1 import fashion_mnist_pb2, fashion_mnist_pb2_grpc

An installed wheel ships them (generated when it was built: setup.py). From a source
checkout (examples/python on sys.path) they are generated on first import into
$PROTOSERVE_STUBS_DIR, or this directory, and regenerated when a .proto is newer.
"""
import os as _os

from . import _generate

_HERE = _os.path.dirname(_os.path.abspath(__file__))

if _os.path.exists(_os.path.join(_generate.source_root(), "proto", "recommender.proto")):  # a source checkout
    _out = _os.environ.get("PROTOSERVE_STUBS_DIR") or _HERE
    _marker = _os.path.join(_out, "recommender_pb2.py")
    if not _os.path.exists(_marker) or _os.path.getmtime(_marker) < _generate.newest_input():
        _os.makedirs(_out, exist_ok=True)
        _generate.generate(_out)
    if _out != _HERE:
        __path__.insert(0, _out)  # noqa: F821 (searched first: fresher than stubs left in this directory)
elif not _os.path.exists(_os.path.join(_HERE, "recommender_pb2.py")):
    raise ImportError("protoserve_client.stubs: no generated stubs (build the package with "
                      "`pip wheel examples/python` from a protoserve checkout)")
