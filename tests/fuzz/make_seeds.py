"""Regenerates the seed corpora in tests/fuzz/corpus/ (small, checked in).

Run with Debian's /usr/bin/python3 (grpcio-tools, numpy): python3 tests/fuzz/make_seeds.py
"""
import base64
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import stubs  # noqa: E402

stubs()
from google.protobuf import text_format  # noqa: E402
import inference_pb2 as ipb  # noqa: E402
import recommender_pb2 as pb  # noqa: E402

RECOMMENDER_CONFIG = (
    'platform: "pytorch_libtorch"\nmax_batch_size: 64\n'
    'input [ { name: "user_hash" data_type: TYPE_INT64 dims: [ 1 ] },\n'
    '        { name: "features" data_type: TYPE_FP32 dims: [ 32 ] } ]\n'
    'output [ { name: "scores" data_type: TYPE_FP32 dims: [ 1000 ] label_filename: "labels.txt" } ]\n'
    'instance_group [ { count: 2 kind: KIND_CPU } ]\n'
    'dynamic_batching { preferred_batch_size: [ 8, 16 ] max_queue_delay_microseconds: 500 '
    'default_queue_policy { max_queue_size: 64 } }\n'
    'parameters { key: "INTRA_OP_THREAD_COUNT" value { string_value: "1" } }\n')


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def tensor(name, datatype, shape, **contents):
    t = ipb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=shape)
    if contents:
        t.contents.CopyFrom(ipb.InferTensorContents(**contents))
    return t


def infer_seeds():
    r = ipb.ModelInferRequest(model_name="recommender", id="a")
    r.inputs.extend([tensor("user_hash", "INT64", [1, 1], int64_contents=[42]),
                     tensor("features", "FP32", [1, 32], fp32_contents=[0.5] * 32)])
    write("fuzz_infer_request", "recommender_typed", r.SerializeToString())
    r = ipb.ModelInferRequest(model_name="recommender", model_version="1")
    r.inputs.extend([tensor("user_hash", "INT64", [2, 1]), tensor("features", "FP32", [2, 32])])
    r.raw_input_contents.extend([struct.pack("<2q", 1, 2), struct.pack("<64f", *([0.25] * 64))])
    out = r.outputs.add(name="scores")
    out.parameters["classification"].int64_param = 3
    write("fuzz_infer_request", "recommender_raw_classified", r.SerializeToString())
    r = ipb.ModelInferRequest(model_name="text")
    r.inputs.extend([tensor("text", "BYTES", [2], bytes_contents=[b"hello", b""])])
    write("fuzz_infer_request", "text_typed", r.SerializeToString())
    r = ipb.ModelInferRequest(model_name="text")
    r.inputs.extend([tensor("text", "BYTES", [2])])
    r.raw_input_contents.append(struct.pack("<I", 3) + b"abc" + struct.pack("<I", 0))
    write("fuzz_infer_request", "text_raw", r.SerializeToString())
    r = ipb.ModelInferRequest(model_name="image")
    r.inputs.extend([tensor("image", "FP32", [1, 1, 28, 28])])
    r.raw_input_contents.append(b"\0" * (4 * 784))
    r.outputs.add(name="ids")
    write("fuzz_infer_request", "image_raw", r.SerializeToString())
    r = ipb.ModelInferRequest(model_name="mixed")
    r.parameters["routing_key"].string_param = "user"
    r.inputs.extend([tensor("a", "INT32", [1, 2, 2], int_contents=[1, 2, 3, 4]),
                     tensor("b", "UINT8", [1, 3], uint_contents=[1, 2, 255]),
                     tensor("c", "BOOL", [1, 2], bool_contents=[True, False]),
                     tensor("d", "FP64", [1, 1], fp64_contents=[float("nan")])])
    write("fuzz_infer_request", "mixed_typed_missing_fp16", r.SerializeToString())
    r = ipb.ModelInferRequest(model_name="mixed")
    r.inputs.extend([tensor("a", "INT32", [1, 1, 1]), tensor("b", "UINT8", [1, 1]), tensor("c", "BOOL", [1, 2]),
                     tensor("d", "FP64", [1, 1]), tensor("e", "FP16", [1, 2])])
    r.raw_input_contents.extend([b"\1\0\0\0", b"\7", b"\1\0", b"\0" * 8, b"\0\x3c\0\x3c"])
    write("fuzz_infer_request", "mixed_raw", r.SerializeToString())
    r = ipb.ModelInferRequest(model_name="image")
    r.inputs.extend([tensor("image", "FP32", [1 << 40, 1 << 30])])
    r.raw_input_contents.append(b"\0" * 16)
    write("fuzz_infer_request", "huge_dims", r.SerializeToString())


def recommender_seeds():
    features = [0.1 * i for i in range(32)]
    write("fuzz_recommender_request", "seed_contract",
          pb.RecommendationRequest(user_id="user_00042", features=features).SerializeToString())
    write("fuzz_recommender_request", "extensions",
          pb.RecommendationRequest(user_id="u", features=features, top_k=50, model_name="recommender",
                                   model_version=1, exclude_item_ids=["item_1", "item_7"]).SerializeToString())
    write("fuzz_recommender_request", "nan_feature",
          pb.RecommendationRequest(user_id="u", features=[float("nan")] * 32).SerializeToString())
    write("fuzz_recommender_request", "wrong_count",
          pb.RecommendationRequest(user_id="u", features=[1.0] * 5, top_k=1000).SerializeToString())


def config_seeds():
    write("fuzz_model_config", "recommender", RECOMMENDER_CONFIG)
    write("fuzz_model_config", "xgboost_versions",
          'name: "m"\nbackend: "xgboost"\nmax_batch_size: 0\n'
          'input { name: "x" data_type: TYPE_FP32 dims: [ -1, 30 ] }\n'
          'output { name: "p" data_type: TYPE_FP32 dims: [ -1 ] }\n'
          'version_policy { specific { versions: [ 1, 2 ] } }\n'
          'parameters { key: "protoserve.traffic_split" value { string_value: "1:90,2:10" } }\n'
          'parameters { key: "protoserve.traffic_split_sticky" value { string_value: "true" } }\n'
          'parameters { key: "protoserve.shadow" value { string_value: "3:5" } }\n')
    write("fuzz_model_config", "latest",
          'platform: "pytorch_libtorch"\ndefault_model_filename: "model.pt"\n'
          'input { name: "image" data_type: TYPE_FP16 dims: [ 1, 28, 28 ] }\n'
          'output { name: "logits" data_type: TYPE_STRING dims: [ 10 ] }\n'
          'version_policy { latest { num_versions: 2 } }\n')


def names_seeds():
    write("fuzz_names", "names", "recommender\n1\n../etc\n.hidden\n")
    write("fuzz_names", "split", "1:90,2:10\ntrue\n3:5\nuser_1\n")
    write("fuzz_names", "tokens", "# c\ninfer-token-0123456789 infer\nmanage-token-0123456789 infer,manage\n")
    write("fuzz_names", "auth", "Bearer abcdefghijklmnop\nabcdefghijklmnop\n/inference.GRPCInferenceService/ModelInfer\n"
          "ipv4:127.0.0.1:5\n")


def http_request_seeds():
    """First byte: bits 0-5 the read size (0: all at once), bit 6 the server's body limit, bit 7 a tiny one."""
    recommend = b'{"user_id": "u1", "features": [0.5, 1]}'
    write("fuzz_http_request", "pipelined", b"\x40" + b"GET /v2/health/ready HTTP/1.1\r\nHost: t\r\n\r\n"
          + b"POST /v1/recommendations HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
          + b"Content-Length: " + str(len(recommend)).encode() + b"\r\n\r\n" + recommend
          + b"GET /v2/models/recommender/versions/1/stats?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"
          + b"POST /v2/repository/models/recommender/load HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
          + b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")
    write("fuzz_http_request", "chunked", b"\x07" + b"POST /v2/models/recommender/infer HTTP/1.1\r\nHost: t\r\n"
          + b"Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"
          + b"GET /v2 HTTP/1.1\r\n\r\n")
    frame = b"\0\0\0\0\x05" + b"\x0a\x03u42"
    write("fuzz_http_request", "grpc_web", b"\x45" + b"POST /Recommender/GetRecommendations HTTP/1.1\r\n"
          + b"Content-Type: Application/GRPC-Web+proto\r\ngrpc-timeout: 500m\r\nContent-Length: "
          + str(len(frame)).encode() + b"\r\n\r\n" + frame
          + b"OPTIONS /inference.GRPCInferenceService/ModelInfer HTTP/1.1\r\nOrigin: x\r\n\r\n")
    write("fuzz_http_request", "over_limit", b"\x81" + b"POST /v1/recommendations HTTP/1.1\r\nContent-Length: 1000\r\n"
          + b"Expect: 100-continue\r\n\r\n" + b"a" * 200)
    write("fuzz_http_request", "http10", b"\x00" + b"GET /v2/models/m/ready HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
          + b"PUT /v2/models/m/versions/2/infer HTTP/1.0\r\n\r\n")
    write("fuzz_http_request", "duplicate_length", b"\x40" + b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n"
          + b"Content-Length: 6\r\n\r\nhello!")


def grpc_web_seeds():
    message = pb.RecommendationRequest(user_id="u", features=[0.5] * 4).SerializeToString()
    frame = b"\0" + struct.pack(">I", len(message)) + message
    write("fuzz_grpc_web", "frame", frame)
    write("fuzz_grpc_web", "text", base64.b64encode(frame) + b"\r\n" + base64.b64encode(b"ab"))
    write("fuzz_grpc_web", "trailers", b"\x80\0\0\0\x10grpc-status:0\r\n\r\n")
    for name, timeout in (("timeout_ms", b"500m"), ("timeout_hours_max", b"99999999H"), ("timeout_bound", b"1281023H")):
        write("fuzz_grpc_web", name, timeout)


def proto_json_seeds():
    config = ipb.ModelConfigResponse()
    text_format.Parse(RECOMMENDER_CONFIG, config.config)
    write("fuzz_proto_json", "config", config.SerializeToString())
    stats = ipb.ModelStatisticsResponse()
    s = stats.model_stats.add(name="recommender", version="1", last_inference=2 ** 64 - 1, inference_count=7)
    s.inference_stats.success.count = 7
    s.inference_stats.success.ns = 2 ** 63
    s.batch_stats.add(batch_size=8).compute_infer.ns = 1
    s.response_stats["r\u00e9ponse"].success.count = 1
    write("fuzz_proto_json", "statistics", stats.SerializeToString())
    metadata = ipb.ModelMetadataResponse(name="recommender", versions=["1", "2"], platform="pytorch_libtorch")
    metadata.inputs.add(name="features", datatype="FP32", shape=[-1, 32, -(2 ** 63)])
    metadata.outputs.add(name="scores", datatype="FP32", shape=[2 ** 63 - 1])
    write("fuzz_proto_json", "metadata", metadata.SerializeToString())


if __name__ == "__main__":
    infer_seeds()
    recommender_seeds()
    config_seeds()
    names_seeds()
    http_request_seeds()
    grpc_web_seeds()
    proto_json_seeds()
