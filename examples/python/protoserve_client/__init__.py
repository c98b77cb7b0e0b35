"""protoserve_client: typed Python clients for protoserve, over stubs generated from its .proto files.

    import numpy as np
    from protoserve_client import InferenceClient, RecommenderClient

    with RecommenderClient("127.0.0.1:8001") as client:
        rec = client.recommend("user_00042", [1 / 32] * 32, top_k=5)
    with InferenceClient("127.0.0.1:8001") as client:
        out = client.infer("patient_outcome", {"features": np.zeros((1, 30), np.float32)})
        meta = client.model_metadata("fashion_mnist")

    # A model's typed contract, through its generated stub on the client's channel:
    from protoserve_client.stubs.protoserve.fashion_mnist.v1 import fashion_mnist_pb2, fashion_mnist_pb2_grpc
    stub = fashion_mnist_pb2_grpc.FashionMnistStub(client.channel)

The generated modules are in protoserve_client.stubs (recommender_pb2, inference_pb2,
model_config_pb2, health_pb2, feedback_pb2 and their _pb2_grpc, plus each model's).
"""
from ._client import (InferenceClient, ModelMetadata, ModelState, ProtoserveClient, ProtoserveError, Query,
                      Recommendation, RecommenderClient, TensorSpec, decode_tensor, encode_tensor, kserve_datatype,
                      user_hash)

__all__ = ["InferenceClient", "ModelMetadata", "ModelState", "ProtoserveClient", "ProtoserveError", "Query",
           "Recommendation", "RecommenderClient", "TensorSpec", "decode_tensor", "encode_tensor",
           "kserve_datatype", "user_hash"]
__version__ = "0.1.0"
