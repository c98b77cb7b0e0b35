"""The typed clients of protoserve_client (see the package's docstring).

RecommenderClient (the seed's Recommender), InferenceClient (KServe v2
GRPCInferenceService, grpc.health.v1, protoserve's Feedback) and ProtoserveClient
(both on one channel) wrap the generated stubs (protoserve_client.stubs) with
plain Python / numpy values in and out. Every failed call raises
ProtoserveError(code, message), with code the gRPC status name ("NOT_FOUND",
"INVALID_ARGUMENT", ...).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, Optional, Sequence, Union

import grpc
import numpy as np

from .stubs import feedback_pb2 as fpb
from .stubs import feedback_pb2_grpc
from .stubs import health_pb2 as hpb
from .stubs import health_pb2_grpc
from .stubs import inference_pb2 as ipb
from .stubs import inference_pb2_grpc
from .stubs import recommender_pb2 as rpb
from .stubs import recommender_pb2_grpc

# KServe v2 datatype <-> numpy dtype. BYTES travels as numpy object arrays of bytes (Triton's convention).
_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64), "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16), "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
# Typed `contents` field per datatype (only used if a response comes back without raw contents).
_CONTENTS = {"BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
             "UINT32": "uint_contents", "UINT64": "uint64_contents", "INT8": "int_contents",
             "INT16": "int_contents", "INT32": "int_contents", "INT64": "int64_contents",
             "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}


def kserve_datatype(dtype: np.dtype) -> str:
    """KServe v2 datatype name of a numpy dtype (str/bytes/object arrays are BYTES)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return "BYTES"
    for name, candidate in _DTYPES.items():
        if candidate == dtype:
            return name
    raise ValueError(f"no KServe datatype for numpy dtype {dtype}")


def encode_tensor(array: np.ndarray) -> bytes:
    """Raw little-endian bytes of a tensor; BYTES elements are each prefixed with a uint32 length."""
    if kserve_datatype(array.dtype) != "BYTES":
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    parts = []
    for item in array.ravel():
        data = item if isinstance(item, bytes) else str(item).encode()
        parts += [struct.pack("<I", len(data)), data]
    return b"".join(parts)


def decode_tensor(raw: bytes, datatype: str, shape: Sequence[int]) -> np.ndarray:
    """The inverse of encode_tensor."""
    if datatype != "BYTES":
        return np.frombuffer(raw, dtype=_DTYPES[datatype].newbyteorder("<")).astype(_DTYPES[datatype]).reshape(shape)
    items, i = [], 0
    while i < len(raw):
        (n,) = struct.unpack_from("<I", raw, i)
        items.append(raw[i + 4:i + 4 + n])
        i += 4 + n
    result = np.empty(len(items), dtype=object)
    result[:] = items
    return result.reshape(shape)


def user_hash(user_id: str) -> int:
    """The Recommender's user_id -> model input: FNV-1a 64 of the UTF-8 bytes, masked to 63 bits."""
    h = 0xCBF29CE484222325
    for byte in user_id.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


class ProtoserveError(Exception):
    """A failed call: `code` is the gRPC status name, `message` the server's details."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message

    @property
    def status_code(self) -> grpc.StatusCode:
        return grpc.StatusCode[self.code]

    @classmethod
    def from_rpc(cls, error: grpc.RpcError) -> "ProtoserveError":
        return cls(error.code().name, error.details() or "")

    @classmethod
    def from_stream(cls, text: str) -> "ProtoserveError":
        """Parses a streaming error_message, "CODE: message"."""
        code, _, message = text.partition(": ")
        return cls(code, message) if code in grpc.StatusCode.__members__ else cls("UNKNOWN", text)


@dataclass(frozen=True)
class Recommendation:
    item_ids: list[str]
    scores: list[float]
    model_name: str
    model_version: int


@dataclass(frozen=True)
class Query:
    """One recommendation request (for recommend_stream)."""
    user_id: str
    features: Sequence[float]
    top_k: int = 10
    model: Optional[str] = None
    version: Optional[int] = None
    exclude: Optional[Sequence[str]] = None


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: list[int]  # -1 marks a variable dimension (the batch)


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)


@dataclass(frozen=True)
class ModelState:
    name: str
    version: str
    state: str  # "READY", "UNAVAILABLE", "LOADING", ...
    reason: str = ""


def _request(q: Query):
    return rpb.RecommendationRequest(user_id=q.user_id, features=list(q.features), top_k=q.top_k,
                                     model_name=q.model or "", model_version=q.version or 0,
                                     exclude_item_ids=list(q.exclude or ()))


def _recommendation(r) -> Recommendation:
    return Recommendation(list(r.item_ids), list(r.scores), r.model_name, int(r.model_version))


class _Client:
    """One channel to a protoserve server; safe to share between threads. Use as a context manager.

    `channel` is public: stubs of a model's typed contract use it too, e.g.
    stubs.protoserve.fashion_mnist.v1.fashion_mnist_pb2_grpc.FashionMnistStub(client.channel).
    """

    def __init__(self, target: str = "127.0.0.1:8001", timeout: Optional[float] = 30.0,
                 max_message_bytes: int = 64 << 20):
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", max_message_bytes),
                                                              ("grpc.max_send_message_length", max_message_bytes)])
        self._recommender = recommender_pb2_grpc.RecommenderStub(self.channel)
        self._inference = inference_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)
        self._feedback = feedback_pb2_grpc.FeedbackStub(self.channel)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise ProtoserveError.from_rpc(e) from None


class RecommenderClient(_Client):
    """The seed's Recommender service (proto/recommender.proto)."""

    def recommend(self, user_id: str, features: Sequence[float], top_k: int = 10, model: Optional[str] = None,
                  version: Optional[int] = None, exclude: Optional[Sequence[str]] = None) -> Recommendation:
        """Recommender.GetRecommendations: the top_k items for a user, highest score first."""
        q = Query(user_id, features, top_k, model, version, exclude)
        return _recommendation(self._call(self._recommender.GetRecommendations, _request(q)))

    def recommend_stream(self, queries: Iterable[Union[Query, Mapping]], raise_errors: bool = False
                         ) -> Iterator[Union[Recommendation, ProtoserveError]]:
        """Recommender.StreamRecommendations: one result per query, in order, over one stream.

        `queries` are Query objects or dicts of recommend()'s keyword arguments. A query the server
        rejects yields a ProtoserveError in its place (the stream goes on), or raises it if raise_errors.
        A failure of the whole stream raises ProtoserveError.
        """
        requests = (_request(q if isinstance(q, Query) else Query(**q)) for q in queries)
        try:
            for response in self._recommender.StreamRecommendations(requests, timeout=self.timeout):
                if not response.error_message:
                    yield _recommendation(response)
                elif raise_errors:
                    raise ProtoserveError.from_stream(response.error_message)
                else:
                    yield ProtoserveError.from_stream(response.error_message)
        except grpc.RpcError as e:
            raise ProtoserveError.from_rpc(e) from None

    def send_feedback(self, request_id: str = "", user_id: str = "", clicked: Sequence[str] = (),
                      bought: Sequence[str] = ()) -> int:
        """Recommender.SendFeedback: clicked / bought items of a recommendation (by its request id, or
        the user's latest); returns how many of them were among the returned items."""
        request = rpb.RecommendationFeedback(request_id=request_id, user_id=user_id,
                                             clicked_item_ids=list(clicked), bought_item_ids=list(bought))
        return int(self._call(self._recommender.SendFeedback, request).matched_items)


class InferenceClient(_Client):
    """Any model through the KServe v2 / Open Inference Protocol (tritonclient's grpc client, smaller),
    plus grpc.health.v1 and protoserve's Feedback service."""

    def infer(self, model: str, inputs: Mapping[str, np.ndarray], outputs: Optional[Sequence[str]] = None,
              version: Optional[Union[int, str]] = None,
              classification: Optional[Union[int, Mapping[str, int]]] = None) -> dict[str, np.ndarray]:
        """ModelInfer with raw tensor contents: {input name: array} -> {output name: array}.

        `outputs` limits the outputs returned (default: all). `classification` asks for the top-K classes
        (KServe classification extension) of every requested output (an int), or per output ({name: K});
        such outputs come back as BYTES arrays [batch, K] of b"score:index:label".
        """
        if isinstance(classification, int):
            names = outputs or [t.name for t in self.model_metadata(model).outputs]
            classification = {name: classification for name in names}
        wanted = dict.fromkeys(outputs or ())
        wanted.update(dict.fromkeys(classification or ()))
        request = ipb.ModelInferRequest(model_name=model, model_version=str(version or ""))
        for name, value in inputs.items():
            array = np.asarray(value)
            request.inputs.add(name=name, datatype=kserve_datatype(array.dtype), shape=array.shape)
            request.raw_input_contents.append(encode_tensor(array))
        for name in wanted:
            out = request.outputs.add(name=name)
            if classification and name in classification:
                out.parameters["classification"].int64_param = int(classification[name])
        response = self._call(self._inference.ModelInfer, request)
        result = {}
        for i, out in enumerate(response.outputs):
            if i < len(response.raw_output_contents):
                result[out.name] = decode_tensor(response.raw_output_contents[i], out.datatype, out.shape)
            else:
                values = list(getattr(out.contents, _CONTENTS[out.datatype]))
                result[out.name] = np.array(values, dtype=_DTYPES[out.datatype]).reshape(list(out.shape))
        return result

    def models(self) -> list[ModelState]:
        """RepositoryIndex: every model version in the repository and its state."""
        index = self._call(self._inference.RepositoryIndex, ipb.RepositoryIndexRequest())
        return [ModelState(m.name, m.version, m.state, m.reason) for m in index.models]

    def model_metadata(self, model: str, version: Optional[Union[int, str]] = None) -> ModelMetadata:
        """ModelMetadata: platform, versions and input/output tensors of a model."""
        meta = self._call(self._inference.ModelMetadata, ipb.ModelMetadataRequest(name=model, version=str(version or "")))
        specs = lambda ts: [TensorSpec(t.name, t.datatype, list(t.shape)) for t in ts]  # noqa: E731
        return ModelMetadata(meta.name, list(meta.versions), meta.platform, specs(meta.inputs), specs(meta.outputs))

    def is_server_live(self) -> bool:
        return self._call(self._inference.ServerLive, ipb.ServerLiveRequest()).live

    def is_server_ready(self) -> bool:
        return self._call(self._inference.ServerReady, ipb.ServerReadyRequest()).ready

    def is_model_ready(self, model: str, version: Optional[Union[int, str]] = None) -> bool:
        """ModelReady (an unknown model raises NOT_FOUND)."""
        return self._call(self._inference.ModelReady, ipb.ModelReadyRequest(name=model, version=str(version or ""))).ready

    def health(self, service: str = "") -> str:
        """grpc.health.v1 Check: "SERVING", "NOT_SERVING", ... ("" is the whole server)."""
        response = self._call(self._health.Check, hpb.HealthCheckRequest(service=service))
        return hpb.HealthCheckResponse.ServingStatus.Name(response.status)

    def send_ground_truth(self, model: str, request_id: str, label: Optional[str] = None,
                          value: Optional[float] = None) -> bool:
        """Feedback.SendFeedback: the ground truth of a logged prediction (a class label, or a value);
        returns whether the prediction was correct (classifiers)."""
        request = fpb.FeedbackRequest(model_name=model, request_id=request_id)
        if label is not None:
            request.label = label
        if value is not None:
            request.value = value
        return bool(self._call(self._feedback.SendFeedback, request).correct)


class ProtoserveClient(RecommenderClient, InferenceClient):
    """Both clients on one channel (the original one-class API of examples/python)."""

    def metadata(self, model: str, version: Optional[Union[int, str]] = None) -> ModelMetadata:
        return self.model_metadata(model, version)

    def ready(self, model: Optional[str] = None, version: Optional[Union[int, str]] = None) -> bool:
        """ServerReady, or ModelReady when a model is named (an unknown model raises NOT_FOUND)."""
        return self.is_server_ready() if model is None else self.is_model_ready(model, version)
