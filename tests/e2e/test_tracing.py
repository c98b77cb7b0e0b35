"""e2e: W3C trace context in and out, spans exported over OTLP/HTTP (issue 20).

A small OTLP receiver (otlp_receiver.py: decodes the protobuf bodies with
stubs generated from proto/otlp) collects what the server exports. Requests
with and without a `traceparent` go through gRPC, REST and gRPC-Web; the test
reads the span tree back: parents, names, attributes, the execute span of a
batch linked to each request it served, error status on failed calls, and
that at ratio 0 only failed requests are exported. It waits for spans by
polling the receiver (bounded), never by sleeping a fixed time.

The repository serves the recommender as versions 1 and 2, a traffic split
sending default-version requests to 2 and a 100% shadow to 1.
"""
import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, REPO, Server, frame, stubs, unframe, wait_until  # noqa: E402
from otlp_receiver import OtlpGrpcReceiver, OtlpReceiver  # noqa: E402
from rest_client import Rest, metric_samples  # noqa: E402

stubs()
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLE = json.load(f)[0]

PARENT_ID = "00f067aa0ba902b7"
SPAN_KIND_SERVER = 2
STATUS_ERROR = 2


def new_trace_id():
    """Each test its own trace: the receiver holds the spans of every test of the class."""
    return os.urandom(16).hex()


def traceparent(trace_id, parent=PARENT_ID, flags="01"):
    return f"00-{trace_id}-{parent}-{flags}"


def make_repository():
    root = tempfile.mkdtemp(prefix="protoserve-tracing-")
    shutil.copytree(os.path.join(REPO, "recommender"), os.path.join(root, "recommender"))
    shutil.copytree(os.path.join(root, "recommender", "1"), os.path.join(root, "recommender", "2"))
    with open(os.path.join(root, "recommender", "config.pbtxt"), "a") as f:
        f.write('\nversion_policy { all {} }\n'
                'parameters { key: "protoserve.traffic_split" value { string_value: "2:100" } }\n'
                'parameters { key: "protoserve.shadow" value { string_value: "1:100" } }\n')
    return root


def otel_env(receiver, sampler="parentbased_always_on", arg=""):
    return {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_TRACES_SAMPLER": sampler, "OTEL_TRACES_SAMPLER_ARG": arg, "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_SERVICE_NAME": "protoserve-e2e"}


def infer_request(version="", request_id="", features=None):
    request = ipb.ModelInferRequest(model_name="recommender", model_version=version, id=request_id)
    request.inputs.add(name="user_hash", datatype="INT64", shape=[1, 1]).contents.int64_contents.append(12345)
    values = SAMPLE["features"] if features is None else features
    request.inputs.add(name="features", datatype="FP32", shape=[1, len(values)]).contents.fp32_contents.extend(values)
    return request


class Client:
    """The three front-ends of one server."""

    def __init__(self, server):
        self.rest = Rest(server.http_port)
        self.channel = grpc.insecure_channel(server.target)
        self.recommender = recommender_pb2_grpc.RecommenderStub(self.channel)
        self.inference = inference_pb2_grpc.GRPCInferenceServiceStub(self.channel)

    def close(self):
        self.channel.close()
        self.rest.close()

    def http(self, path, body, content_type="application/json", headers=None):
        """(status, headers, body) of a POST."""
        return self.rest.call("POST", path, body, {"content-type": content_type, **(headers or {})})

    def rest_infer(self, model="recommender", headers=None, features=None):
        values = SAMPLE["features"] if features is None else features
        body = json.dumps({"inputs": [
            {"name": "user_hash", "datatype": "INT64", "shape": [1, 1], "data": [12345]},
            {"name": "features", "datatype": "FP32", "shape": [1, len(values)], "data": values}]})
        status, response_headers, raw = self.http(f"/v2/models/{model}/infer", body, headers=headers)
        return status, response_headers, raw, body

    def grpc_web_infer(self, request, headers=None):
        return self.grpc_web_raw("/inference.GRPCInferenceService/ModelInfer", frame(request.SerializeToString()),
                                 headers)

    def grpc_web_raw(self, path, body, headers=None):
        _, response_headers, raw = self.http(path, body, "application/grpc-web+proto", headers)
        return response_headers, unframe(raw)


def by_trace(spans, trace_id):
    return [s for s in spans if s["trace_id"] == trace_id]


def server_span(spans, trace_id):
    found = [s for s in by_trace(spans, trace_id) if s["kind"] == SPAN_KIND_SERVER]
    return found[0] if len(found) == 1 else None


def has_server_span(trace_id):
    return lambda spans: server_span(spans, trace_id) is not None


def children(spans, parent):
    return {s["name"]: s for s in spans if s["trace_id"] == parent["trace_id"] and
            s["parent_span_id"] == parent["span_id"]}


class TracingE2E(unittest.TestCase):
    """Every request sampled (parentbased_always_on), JSON logs with the access log."""

    @classmethod
    def setUpClass(cls):
        cls.root = make_repository()
        cls.receiver = OtlpReceiver().__enter__()
        cls.server = Server("--log-format=json", "--http-access-log", repo=cls.root,
                            env=otel_env(cls.receiver)).__enter__()
        cls.client = Client(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.__exit__(None, None, None)
        cls.receiver.__exit__(None, None, None)
        shutil.rmtree(cls.root, ignore_errors=True)

    def assertAttributes(self, span, expected):
        for key, value in expected.items():
            self.assertEqual(span["attributes"].get(key), value, f"{span['name']}.{key}: {span['attributes']}")

    def test_grpc_traceparent_is_the_parent_and_comes_back(self):
        TRACE_ID = new_trace_id()
        query = pb.RecommendationRequest(user_id=SAMPLE["user_id"], features=SAMPLE["features"])
        answer, call = self.client.recommender.GetRecommendations.with_call(
            query, timeout=60, metadata=[("traceparent", traceparent(TRACE_ID)), ("tracestate", "vendor=e2e"),
                                         ("x-request-id", "t-grpc")])
        trailers = dict(call.trailing_metadata())
        self.assertEqual(trailers["x-request-id"], "t-grpc")
        self.assertRegex(trailers["traceresponse"], rf"^00-{TRACE_ID}-[0-9a-f]{{16}}-01$")

        spans = self.receiver.wait_for(has_server_span(TRACE_ID))
        self.assertIsNotNone(spans, "no server span arrived")
        server = server_span(spans, TRACE_ID)
        self.assertEqual(server["name"], "GetRecommendations")
        self.assertEqual(server["parent_span_id"], PARENT_ID)
        self.assertEqual(server["span_id"], trailers["traceresponse"].split("-")[2])
        self.assertEqual(server["trace_state"], "vendor=e2e")
        self.assertEqual(server["flags"] & 0x301, 0x301)  # sampled, remote parent
        self.assertEqual(server["status_code"], 0)
        self.assertEqual(server["resource"]["service.name"], "protoserve-e2e")
        self.assertAttributes(server, {
            "protoserve.model.name": "recommender", "protoserve.model.version": 2, "protoserve.api": "grpc",
            "protoserve.status_code": "OK", "protoserve.request_id": "t-grpc", "protoserve.route": "split",
            "protoserve.shadow.version": 1, "protoserve.request.bytes": query.ByteSize(),
            "protoserve.response.bytes": answer.ByteSize()})
        # queue and encode under the server span; execute too when this request led its batch.
        spans = self.receiver.wait_for(lambda s: {"queue", "encode"} <= children(s, server).keys())
        self.assertIsNotNone(spans, children(self.receiver.snapshot(), server).keys())
        tree = children(spans, server)
        for name in ("queue", "encode"):
            self.assertGreaterEqual(tree[name]["start"], server["start"], name)
            self.assertLessEqual(tree[name]["end"], server["end"], name)
        self.assertLessEqual(tree["queue"]["end"], tree["encode"]["start"])
        if "execute" in tree:
            self.assertIn(server["span_id"], [link["span_id"] for link in tree["execute"]["links"]])

    def test_rest_request_span_decode_and_response_headers(self):
        TRACE_ID, parent = new_trace_id(), "a1b2c3d4e5f60718"
        status, headers, raw, body = self.client.rest_infer(headers={"traceparent": traceparent(TRACE_ID, parent)})
        self.assertEqual(status, 200, raw)
        self.assertRegex(headers["traceresponse"], rf"^00-{TRACE_ID}-[0-9a-f]{{16}}-01$")
        request_id = headers["x-request-id"]
        span_id = headers["traceresponse"].split("-")[2]
        spans = self.receiver.wait_for(lambda s: any(x["span_id"] == span_id for x in s))
        self.assertIsNotNone(spans)
        server = next(s for s in spans if s["span_id"] == span_id)
        self.assertEqual(server["name"], "ModelInfer")
        self.assertEqual(server["parent_span_id"], parent)
        self.assertAttributes(server, {"protoserve.api": "http", "protoserve.request_id": request_id,
                                       "protoserve.request.bytes": len(body), "protoserve.response.bytes": len(raw),
                                       "protoserve.route": "split", "protoserve.model.version": 2})
        spans = self.receiver.wait_for(lambda s: {"decode", "queue", "encode"} <= children(s, server).keys())
        self.assertIsNotNone(spans)
        tree = children(spans, server)
        self.assertLessEqual(tree["decode"]["end"], tree["queue"]["start"])

        # The JSON access log line of this request carries both ids.
        def access_line():
            for line in self.server.lines:
                if line.startswith("{") and request_id in line and "POST /v2/models/recommender/infer" in line:
                    return json.loads(line)
            return None
        self.assertTrue(wait_until(access_line), "no access log line")
        entry = access_line()
        self.assertEqual(entry["request_id"], request_id)
        self.assertEqual(entry["trace_id"], TRACE_ID)
        self.assertEqual(entry["level"], "info")

    def test_grpc_web_without_traceparent_starts_a_trace(self):
        headers, (messages, trailers) = self.client.grpc_web_infer(infer_request(request_id="t-web"))
        self.assertEqual(trailers.get("grpc-status"), "0", trailers)
        self.assertEqual(headers["x-request-id"], "t-web")
        returned = headers["traceresponse"]
        self.assertRegex(returned, r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
        trace_id = returned.split("-")[1]
        spans = self.receiver.wait_for(has_server_span(trace_id))
        self.assertIsNotNone(spans)
        server = server_span(spans, trace_id)
        self.assertEqual(server["parent_span_id"], "")  # a root span
        self.assertAttributes(server, {"protoserve.api": "http", "protoserve.request_id": "t-web",
                                       "protoserve.response.bytes": len(messages[0])})

    def test_failed_calls_have_error_status(self):
        # REST: unknown model (NOT_FOUND before any decoding).
        status, _, raw, _ = self.client.rest_infer(
            model="nosuchmodel", headers={"traceparent": traceparent(new_trace_id(), "1111111111111111")})
        self.assertEqual(status, 404, raw)
        # gRPC: invalid input (three features instead of 32).
        with self.assertRaises(grpc.RpcError) as raised:
            self.client.inference.ModelInfer(infer_request(features=[1.0, 2.0, 3.0]), timeout=60,
                                             metadata=[("traceparent", traceparent(new_trace_id(), "2222222222222222"))])
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

        def failed(parent):
            return [s for s in self.receiver.snapshot() if s["parent_span_id"] == parent]
        self.assertTrue(wait_until(lambda: failed("1111111111111111") and failed("2222222222222222")))
        not_found, invalid = failed("1111111111111111")[0], failed("2222222222222222")[0]
        self.assertEqual(not_found["status_code"], STATUS_ERROR)
        self.assertIn("nosuchmodel", not_found["status_message"])
        self.assertAttributes(not_found, {"protoserve.status_code": "NOT_FOUND", "protoserve.model.name": "nosuchmodel"})
        self.assertEqual(invalid["status_code"], STATUS_ERROR)
        self.assertAttributes(invalid, {"protoserve.status_code": "INVALID_ARGUMENT", "protoserve.api": "grpc"})

    def test_each_streamed_answer_names_its_own_span(self):
        # ModelStreamInfer: one span per message under the stream's traceparent; each answer carries its
        # span in-band (parameters["traceresponse"]), since the trailers come once, at the stream's end.
        TRACE_ID = new_trace_id()
        answers = list(self.client.inference.ModelStreamInfer(
            iter([infer_request(request_id="s-1"), infer_request(request_id="s-2")]), timeout=60,
            metadata=[("traceparent", traceparent(TRACE_ID, "5555555555555555"))]))
        self.assertEqual([a.error_message for a in answers], ["", ""])
        returned = [a.infer_response.parameters["traceresponse"].string_param for a in answers]
        for value in returned:
            self.assertRegex(value, rf"^00-{TRACE_ID}-[0-9a-f]{{16}}-01$")
        span_ids = [value.split("-")[2] for value in returned]
        self.assertNotEqual(span_ids[0], span_ids[1])
        spans = self.receiver.wait_for(lambda s: set(span_ids) <= {x["span_id"] for x in s})
        self.assertIsNotNone(spans)
        for span_id, request_id in zip(span_ids, ("s-1", "s-2")):
            span = next(x for x in spans if x["span_id"] == span_id)
            self.assertEqual(span["parent_span_id"], "5555555555555555")
            self.assertAttributes(span, {"protoserve.request_id": request_id})

    def test_requests_refused_before_the_core_are_traced_too(self):
        # A /v1/recommendations body that is not JSON, and a gRPC-Web body that is not a framed message:
        # each front-end refuses them itself, and each is still one failed span under the caller's.
        trace_id = new_trace_id()
        status, headers, raw = self.client.http("/v1/recommendations", "{not json",
                                                headers={"traceparent": traceparent(trace_id, "3333333333333333")})
        self.assertEqual(status, 400, raw)
        self.assertRegex(headers["traceresponse"], rf"^00-{trace_id}-[0-9a-f]{{16}}-01$")
        web_headers, (_, trailers) = self.client.grpc_web_raw(
            "/inference.GRPCInferenceService/ModelInfer", b"\x00\x00",
            headers={"traceparent": traceparent(new_trace_id(), "4444444444444444")})
        self.assertEqual(trailers.get("grpc-status"), "3", trailers)  # INVALID_ARGUMENT
        self.assertIn("traceresponse", web_headers)

        def failed(parent):
            return [s for s in self.receiver.snapshot() if s["parent_span_id"] == parent]
        self.assertTrue(wait_until(lambda: failed("3333333333333333") and failed("4444444444444444")))
        rest, web = failed("3333333333333333")[0], failed("4444444444444444")[0]
        self.assertEqual(rest["name"], "GetRecommendations")
        self.assertEqual(rest["span_id"], headers["traceresponse"].split("-")[2])
        self.assertEqual(rest["status_code"], STATUS_ERROR)
        self.assertAttributes(rest, {"protoserve.status_code": "INVALID_ARGUMENT", "protoserve.api": "http",
                                     "protoserve.request_id": headers["x-request-id"]})
        self.assertEqual(web["name"], "ModelInfer")
        self.assertEqual(web["status_code"], STATUS_ERROR)
        self.assertIn("gRPC-Web", web["status_message"])
        self.assertAttributes(web, {"protoserve.status_code": "INVALID_ARGUMENT"})

    def test_a_batch_is_one_execute_span_linked_to_each_request(self):
        # Concurrent calls to version 2 (explicit: no shadow copies, nothing untraced in its batches)
        # until one batch served more than one request; 16 calls at once per round.
        def call(i):
            self.client.inference.ModelInfer(infer_request(version="2", request_id=f"b{i}"), timeout=60)

        def batched(spans):
            return [s for s in spans if s["name"] == "execute" and
                    s["attributes"].get("protoserve.model.version") == 2 and
                    s["attributes"]["protoserve.batch.size"] > 1]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            for round_ in range(30):
                list(pool.map(call, range(round_ * 16, round_ * 16 + 16)))
                if self.receiver.wait_for(batched, timeout=5):
                    break
        spans = self.receiver.wait_for(batched, timeout=30)
        self.assertIsNotNone(spans, "no batch of more than one request formed in 30 rounds")
        execute = batched(spans)[0]
        size = execute["attributes"]["protoserve.batch.size"]
        self.assertEqual(len(execute["links"]), size)  # every request sampled: each one linked
        self.assertGreaterEqual(execute["attributes"]["protoserve.batch.rows"], size)
        self.assertIn("protoserve.instance", execute["attributes"])
        # Child of the first linked request's server span, in its trace.
        self.assertEqual((execute["trace_id"], execute["parent_span_id"]),
                         (execute["links"][0]["trace_id"], execute["links"][0]["span_id"]))
        # Each link is a request's server span, which names this batch.
        linked = {(link["trace_id"], link["span_id"]) for link in execute["links"]}
        spans = self.receiver.wait_for(
            lambda s: len([x for x in s if (x["trace_id"], x["span_id"]) in linked]) == size)
        self.assertIsNotNone(spans)
        for request in [x for x in spans if (x["trace_id"], x["span_id"]) in linked]:
            self.assertEqual(request["name"], "ModelInfer")
            self.assertAttributes(request, {"protoserve.batch.size": size,
                                            "protoserve.batch.span_id": execute["span_id"],
                                            "protoserve.route": "explicit"})
            queue = children(spans, request).get("queue")
            self.assertIsNotNone(queue, request)
            self.assertLessEqual(queue["end"], execute["start"] + 1)


class RatioZeroE2E(unittest.TestCase):
    """traceidratio 0: nothing is head-sampled; failed requests are exported all the same."""

    def test_only_errors_are_exported(self):
        root = make_repository()
        try:
            with OtlpReceiver() as receiver, \
                    Server(repo=root, env=otel_env(receiver, "traceidratio", "0")) as server:
                client = Client(server)
                try:
                    # OK calls on every front-end, with and without a (sampled!) traceparent: none exported.
                    query = pb.RecommendationRequest(user_id=SAMPLE["user_id"], features=SAMPLE["features"])
                    _, call = client.recommender.GetRecommendations.with_call(
                        query, timeout=60, metadata=[("traceparent", traceparent(new_trace_id()))])
                    # Not exported, so no traceresponse names it.
                    self.assertNotIn("traceresponse", dict(call.trailing_metadata()))
                    client.inference.ModelInfer(infer_request(), timeout=60)
                    status, headers, raw, _ = client.rest_infer(headers={"traceparent": traceparent(new_trace_id())})
                    self.assertEqual(status, 200, raw)
                    self.assertNotIn("traceresponse", headers)
                    _, (_, trailers) = client.grpc_web_infer(infer_request())
                    self.assertEqual(trailers.get("grpc-status"), "0")
                    # Then one failure. Spans leave in order, so once it arrived, the OK ones would have too.
                    status, headers, raw, _ = client.rest_infer(model="nosuchmodel")
                    self.assertEqual(status, 404, raw)
                    self.assertRegex(headers["traceresponse"], r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$")  # exported: named
                    spans = receiver.wait_for(lambda s: any(x["status_code"] == STATUS_ERROR for x in s))
                    self.assertIsNotNone(spans, "the failed request was not exported")
                    # Only the failed request's trace: its server span (and the encoding of its error answer).
                    self.assertEqual({s["trace_id"] for s in spans}, {spans[0]["trace_id"]}, spans)
                    servers = [s for s in spans if s["kind"] == SPAN_KIND_SERVER]
                    self.assertEqual(len(servers), 1, spans)
                    self.assertEqual(servers[0]["attributes"]["protoserve.status_code"], "NOT_FOUND")
                    for span in spans:
                        self.assertEqual(span["flags"] & 1, 0)  # exported for its error, not sampled
                finally:
                    client.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)


class OtlpGrpcE2E(unittest.TestCase):
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc: the same spans reach a collector over OTLP/gRPC (TraceService/Export)."""

    def test_spans_are_exported_over_grpc(self):
        root = make_repository()
        try:
            with OtlpGrpcReceiver() as receiver, \
                    Server(repo=root, env=dict(otel_env(receiver), OTEL_EXPORTER_OTLP_PROTOCOL="grpc")) as server:
                client = Client(server)
                try:
                    trace_id = new_trace_id()
                    query = pb.RecommendationRequest(user_id=SAMPLE["user_id"], features=SAMPLE["features"])
                    client.recommender.GetRecommendations(query, timeout=60,
                                                         metadata=[("traceparent", traceparent(trace_id))])
                    spans = receiver.wait_for(lambda s: any(x["trace_id"] == trace_id and x["kind"] == SPAN_KIND_SERVER
                                                            for x in s))
                    self.assertIsNotNone(spans, "no server span arrived over OTLP/gRPC")
                    server_span = next(x for x in spans if x["trace_id"] == trace_id and x["kind"] == SPAN_KIND_SERVER)
                    self.assertEqual(server_span["resource"]["service.name"], "protoserve-e2e")
                    self.assertIn("queue", " ".join(children(spans, server_span)), spans)
                finally:
                    client.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_a_refusing_collector_is_counted_as_failed(self):
        root = make_repository()
        try:
            with OtlpGrpcReceiver(status=grpc.StatusCode.UNAVAILABLE) as receiver, \
                    Server(repo=root, env=dict(otel_env(receiver), OTEL_EXPORTER_OTLP_PROTOCOL="grpc")) as server:
                client = Client(server)
                try:
                    query = pb.RecommendationRequest(user_id=SAMPLE["user_id"], features=SAMPLE["features"])
                    client.recommender.GetRecommendations(query, timeout=60)
                    rest = Rest(server.http_port)

                    def failed_spans():
                        _, _, body = rest.call("GET", "/metrics")
                        return sum(s.value for s in metric_samples(body.decode())
                                   if s.name == "protoserve_trace_spans_failed_total")
                    try:
                        self.assertTrue(wait_until(lambda: failed_spans() > 0, timeout=60),
                                        "the refused export was not counted")
                    finally:
                        rest.close()
                    self.assertGreater(receiver.requests, 0)
                    self.assertEqual(receiver.snapshot(), [])
                finally:
                    client.close()
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
