"""A small OTLP/HTTP trace receiver for tests and benchmarks.

Listens on loopback, accepts POST /v1/traces with protobuf bodies
(ExportTraceServiceRequest), decodes them with Python stubs that grpc_tools
generates from the project's own OTLP subset (proto/otlp), and keeps the
spans as plain dicts: ids as hex, attributes as a dict, links, status.
`discard=True` answers without decoding (a benchmark's collector).

    with OtlpReceiver() as receiver:
        ... point OTEL_EXPORTER_OTLP_ENDPOINT at receiver.endpoint ...
        receiver.wait_for(lambda spans: len(spans) >= 3)

Run as a program it serves until killed and writes every span, one JSON
object a line, to the file given (python3 otlp_receiver.py PORT spans.jsonl).
"""
import http.server
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOT, generate_stubs  # noqa: E402

_OTLP = None


def otlp_stubs():
    """Generates opentelemetry/proto/... _pb2 modules once per process; returns trace_service_pb2."""
    global _OTLP
    if _OTLP is None:
        out = tempfile.mkdtemp(prefix="protoserve-otlp-")
        proto_dir = os.path.join(ROOT, "proto", "otlp")
        protos = ["opentelemetry/proto/common/v1/common.proto", "opentelemetry/proto/resource/v1/resource.proto",
                  "opentelemetry/proto/trace/v1/trace.proto",
                  "opentelemetry/proto/collector/trace/v1/trace_service.proto"]
        generate_stubs(proto_dir, protos, out)
        sys.path.insert(0, out)
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        _OTLP = trace_service_pb2
    return _OTLP


def _value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _attributes(key_values):
    return {kv.key: _value(kv.value) for kv in key_values}


def decode(body):
    """The spans of one ExportTraceServiceRequest body, as dicts."""
    request = otlp_stubs().ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                spans.append({
                    "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(), "trace_state": s.trace_state,
                    "flags": s.flags, "name": s.name, "kind": s.kind,
                    "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                    "attributes": _attributes(s.attributes),
                    "links": [{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex(),
                               "attributes": _attributes(link.attributes)} for link in s.links],
                    "status_code": s.status.code, "status_message": s.status.message,
                    "resource": resource, "scope": scope_spans.scope.name,
                })
    return spans


class OtlpReceiver:
    """POST /v1/traces on a free loopback port; `spans` grows as exports arrive."""

    def __init__(self, discard=False, status=200):
        self.discard = discard
        self.status = status
        self.spans = []
        self.requests = 0
        self._lock = threading.Lock()
        if not discard:
            otlp_stubs()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                ok = self.path == "/v1/traces" and self.headers.get("content-type") == "application/x-protobuf"
                if ok and not receiver.discard:
                    decoded = decode(body)
                    with receiver._lock:
                        receiver.spans.extend(decoded)
                with receiver._lock:
                    receiver.requests += 1
                status = receiver.status if ok else 400
                self.send_response(status)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def snapshot(self):
        with self._lock:
            return list(self.spans)

    def wait_for(self, predicate, timeout=60):
        """Polls until predicate(spans) is true; returns the spans (or None after `timeout` s)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            spans = self.snapshot()
            if predicate(spans):
                return spans
            time.sleep(0.05)
        return None


class OtlpGrpcReceiver(OtlpReceiver):
    """OTLP/gRPC: TraceService/Export on a free loopback port (grpcio); `spans` grows as exports arrive.
    `status`: the gRPC status code every call answers (grpc.StatusCode.OK: accepted)."""

    def __init__(self, status=None):
        import grpc  # only this receiver needs grpcio
        self.discard = False
        self.status = status or grpc.StatusCode.OK
        self.spans = []
        self.requests = 0
        self._lock = threading.Lock()
        stubs = otlp_stubs()
        receiver = self

        def export(body, context):
            with receiver._lock:
                receiver.requests += 1
            if receiver.status != grpc.StatusCode.OK:
                context.abort(receiver.status, "the test collector refuses")
            decoded = decode(body)
            with receiver._lock:
                receiver.spans.extend(decoded)
            return stubs.ExportTraceServiceResponse()

        from concurrent import futures
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(
                export, response_serializer=stubs.ExportTraceServiceResponse.SerializeToString)}),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop(None)


if __name__ == "__main__":
    port, path = int(sys.argv[1]), sys.argv[2]
    receiver = OtlpReceiver()
    receiver.httpd.server_close()
    receiver.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), receiver.httpd.RequestHandlerClass)
    with receiver, open(path, "a") as out:
        written = 0
        while True:
            spans = receiver.snapshot()
            for span in spans[written:]:
                out.write(json.dumps(span) + "\n")
            out.flush()
            written = len(spans)
            time.sleep(0.2)
