"""e2e: the online-evaluation loop so far (issue 17, items 1-3).

A real server with the SQLite prediction log and the CloudEvents sink (to a
receiver this test starts): Recommender answers carry a request id, feedback
on them is joined to the version that answered and shows in /metrics, the
evaluation endpoint, the SQLite file and the CloudEvents; malformed, unknown
and duplicate feedback get clear errors; the CLI sends feedback and prints
the per-version table.
"""
import http.server
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import unittest

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import REPO, Server, cli, frame, load_samples, stubs, unframe, wait_until  # noqa: E402
from rest_client import Rest, infer_body, metric_samples  # noqa: E402

stubs()
import feedback_pb2 as fpb  # noqa: E402
import feedback_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

RECOMMENDER = load_samples("recommender")
FASHION = load_samples("fashion_mnist")
PATIENT = load_samples("patient_outcome")


class Receiver(http.server.ThreadingHTTPServer):
    """Collects CloudEvents POSTed to it: (headers dict, JSON body)."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.events.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def find(self, ce_id, ce_type):
        with self.lock:
            return [e for e in self.events if e[0].get("ce-id") == ce_id and e[0].get("ce-type") == ce_type]


def make_repository(root):
    """The demo models, with the classifiers' predictions sampled into the log (default 0 for KServe infer)."""
    for name in ("recommender", "fashion_mnist", "patient_outcome"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(root, name))
    for name in ("fashion_mnist", "patient_outcome"):
        with open(os.path.join(root, name, "config.pbtxt"), "a") as f:
            f.write('\nparameters { key: "prediction_log_sample_rate" value { string_value: "1" } }\n')


class FeedbackE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-feedback-")
        repo = os.path.join(cls.tmp, "repo")
        os.mkdir(repo)
        make_repository(repo)
        cls.log_path = os.path.join(cls.tmp, "log.sqlite")
        cls.receiver = Receiver()
        threading.Thread(target=cls.receiver.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{cls.receiver.server_address[1]}/events"
        cls.server = Server(f"--prediction-log={cls.log_path}", f"--prediction-log-url={url}",
                            "--prediction-log-source=/e2e/protoserve", repo=repo).__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.recommender = recommender_pb2_grpc.RecommenderStub(cls.channel)
        cls.feedback = feedback_pb2_grpc.FeedbackStub(cls.channel)
        cls.rest = Rest(cls.server.http_port)

    @classmethod
    def tearDownClass(cls):
        cls.rest.close()
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        cls.receiver.shutdown()
        cls.receiver.server_close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------
    def recommend(self, sample=0, metadata=None):
        s = RECOMMENDER[sample]
        return self.recommender.GetRecommendations(
            pb.RecommendationRequest(user_id=s["user_id"], features=s["features"]), timeout=30, metadata=metadata)

    def send(self, **kw):
        return self.recommender.SendFeedback(pb.RecommendationFeedback(**kw), timeout=30)

    def assert_rpc_error(self, code, fragment, call, *args):
        with self.assertRaises(grpc.RpcError) as ctx:
            call(*args)
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        self.assertIn(fragment, ctx.exception.details())

    def metric(self, name, **labels):
        status, _, body = self.rest.call("GET", "/metrics")
        self.assertEqual(status, 200)
        for s in metric_samples(body.decode()):
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        return 0.0

    def rows(self, sql, *args):
        db = sqlite3.connect(self.log_path, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    # --- 1. request ids --------------------------------------------------------------------
    def test_request_id_in_every_recommender_answer(self):
        r = self.recommend()
        self.assertRegex(r.request_id, r"^[0-9a-f]{32}$")
        self.assertNotEqual(self.recommend().request_id, r.request_id)
        # The client's own x-request-id is the id.
        self.assertEqual(self.recommend(metadata=[("x-request-id", "client-id-1")]).request_id, "client-id-1")
        # Streaming: each message its own id.
        s = RECOMMENDER[0]
        requests = [pb.RecommendationRequest(user_id=s["user_id"], features=s["features"]) for _ in range(3)]
        ids = [m.request_id for m in self.recommender.StreamRecommendations(iter(requests), timeout=30)]
        self.assertEqual(len(set(ids)), 3, ids)
        # REST /v1: in the body and the x-request-id header.
        status, headers, body = self.rest.call("POST", "/v1/recommendations",
                                               {"user_id": s["user_id"], "features": s["features"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["request_id"], headers["x-request-id"])
        # gRPC-Web (the browser's path): the same field.
        query = pb.RecommendationRequest(user_id=s["user_id"], features=s["features"])
        status, _, body = self.rest.call("POST", "/Recommender/GetRecommendations",
                                         frame(query.SerializeToString()),
                                         {"content-type": "application/grpc-web+proto", "x-request-id": "web-1"})
        messages, trailers = unframe(body)
        self.assertEqual(trailers.get("grpc-status"), "0", trailers)
        self.assertEqual(pb.RecommendationResponse.FromString(messages[0]).request_id, "web-1")

    # --- 2 + 3. recommender feedback -> metrics, evaluation, SQLite, CloudEvents -----------
    def test_click_is_joined_to_the_version_and_counted(self):
        labels = {"model": "recommender", "version": "1"}
        clicks_before = self.metric("protoserve_online_clicks_total", **labels)
        hits_before = self.metric("protoserve_online_hits_total", **labels)
        r = self.recommend(sample=1)
        answer = self.send(request_id=r.request_id, clicked_item_ids=[r.item_ids[2], "not-returned"],
                           bought_item_ids=[r.item_ids[2]])
        self.assertEqual((answer.request_id, answer.model_name, answer.model_version, answer.matched_items),
                         (r.request_id, "recommender", 1, 1))
        self.assertEqual(self.metric("protoserve_online_clicks_total", **labels) - clicks_before, 1)
        self.assertEqual(self.metric("protoserve_online_hits_total", **labels) - hits_before, 1)
        impressions = self.metric("protoserve_online_impressions_total", **labels)
        ctr = self.metric("protoserve_online_ctr", **labels)
        self.assertGreater(ctr, 0)
        self.assertAlmostEqual(ctr, self.metric("protoserve_online_clicks_total", **labels) / impressions, places=6)
        # The same numbers from the evaluation endpoint.
        status, evaluation = self.rest.json("GET", "/v2/models/recommender/evaluation")
        self.assertEqual(status, 200, evaluation)
        v1 = [v for v in evaluation["versions"] if v["model_version"] == 1][0]
        self.assertGreaterEqual(v1["clicks"], 1)
        self.assertGreater(v1["hit_rate"], 0)
        # The SQLite log holds the prediction and its feedback (written off the request path).
        self.assertTrue(wait_until(lambda: self.rows("SELECT 1 FROM feedback WHERE request_id = ?", r.request_id)))
        (model, version, api, key, output), = self.rows(
            "SELECT model, version, api, routing_key, output FROM predictions WHERE request_id = ?", r.request_id)
        self.assertEqual((model, version, api, key), ("recommender", 1, "grpc", RECOMMENDER[1]["user_id"]))
        self.assertEqual(json.loads(output)["item_ids"], list(r.item_ids))
        (truth,), = self.rows("SELECT truth FROM feedback WHERE request_id = ?", r.request_id)
        self.assertEqual(json.loads(truth)["matched"], 1)
        # CloudEvents: KServe's payload-logger headers, ce-id = the request id.
        self.assertTrue(wait_until(
            lambda: self.receiver.find(r.request_id, "org.kubeflow.serving.inference.response")
            and self.receiver.find(r.request_id, "org.protoserve.feedback")))
        headers, body = self.receiver.find(r.request_id, "org.kubeflow.serving.inference.response")[0]
        self.assertEqual(headers["ce-specversion"], "1.0")
        self.assertEqual(headers["ce-source"], "/e2e/protoserve")
        self.assertEqual(headers["ce-inferenceservicename"], "recommender")
        self.assertRegex(headers["ce-time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(body["output"]["item_ids"], list(r.item_ids))

    def test_feedback_by_user_id_joins_the_latest_answer(self):
        self.recommend(sample=2)
        latest = self.recommend(sample=2)
        answer = self.send(user_id=RECOMMENDER[2]["user_id"], clicked_item_ids=[latest.item_ids[0]])
        self.assertEqual(answer.request_id, latest.request_id)
        self.assertEqual(answer.matched_items, 1)

    def test_malformed_unknown_and_duplicate_feedback_are_refused(self):
        r = self.recommend(sample=3)
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "or a user_id",
                              lambda: self.send(clicked_item_ids=["x"]))
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND, "unknown",
                              lambda: self.send(request_id="no-such-request", clicked_item_ids=["x"]))
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "at most 1000",
                              lambda: self.send(request_id=r.request_id, clicked_item_ids=["i"] * 1001))
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "clicked_item_ids[0]",
                              lambda: self.send(request_id=r.request_id, clicked_item_ids=[""]))
        # The refusals above did not use up the prediction; the first feedback counts, a second is refused.
        self.send(request_id=r.request_id, clicked_item_ids=[r.item_ids[0]])
        self.assert_rpc_error(grpc.StatusCode.ALREADY_EXISTS, "already has feedback",
                              lambda: self.send(request_id=r.request_id, clicked_item_ids=[r.item_ids[1]]))
        self.assertGreaterEqual(self.metric("protoserve_feedback_rejected_total", reason="duplicate"), 1)
        self.assertGreaterEqual(self.metric("protoserve_feedback_rejected_total", reason="unknown"), 1)
        self.assertGreaterEqual(self.metric("protoserve_feedback_rejected_total", reason="invalid"), 1)

    def test_a_flood_of_bad_feedback_is_refused_and_counted_while_predictions_go_on(self):
        # 4 threads send 300 feedbacks each (unknown ids, and over-long item lists refused before
        # they are copied) while predictions continue: every bad one gets its error and is counted,
        # every prediction is answered, and none of the flood joins anything.
        unknown_before = self.metric("protoserve_feedback_rejected_total", reason="unknown")
        invalid_before = self.metric("protoserve_feedback_rejected_total", reason="invalid")
        errors, stop = [], threading.Event()

        def flood(index):
            channel = grpc.insecure_channel(self.server.target)
            stub = recommender_pb2_grpc.RecommenderStub(channel)
            try:
                for i in range(300):
                    request = (pb.RecommendationFeedback(request_id=f"flood-{index}-{i}", clicked_item_ids=["x"])
                               if i % 2 else
                               pb.RecommendationFeedback(request_id=f"flood-{index}-{i}", clicked_item_ids=["i"] * 1001))
                    try:
                        stub.SendFeedback(request, timeout=30)
                        errors.append("accepted")
                    except grpc.RpcError as e:
                        expected = grpc.StatusCode.NOT_FOUND if i % 2 else grpc.StatusCode.INVALID_ARGUMENT
                        if e.code() != expected:
                            errors.append(e.code())
            finally:
                channel.close()

        threads = [threading.Thread(target=flood, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        answered = 0
        while any(t.is_alive() for t in threads):
            self.recommend(sample=answered % len(RECOMMENDER))
            answered += 1
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertGreater(answered, 0)
        self.assertEqual(self.metric("protoserve_feedback_rejected_total", reason="unknown") - unknown_before, 600)
        self.assertEqual(self.metric("protoserve_feedback_rejected_total", reason="invalid") - invalid_before, 600)

    def test_rest_recommendation_feedback(self):
        s = RECOMMENDER[4]
        status, body = self.rest.json("POST", "/v1/recommendations",
                                      {"user_id": s["user_id"], "features": s["features"]})
        self.assertEqual(status, 200, body)
        request_id = body["request_id"]
        status, answer = self.rest.json("POST", "/v1/feedback",
                                        {"request_id": request_id, "clicked_item_ids": body["item_ids"][:2]})
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["matched_items"], 2)
        status, error = self.rest.json("POST", "/v1/feedback",
                                       {"request_id": request_id, "clicked_item_ids": body["item_ids"][:1]})
        self.assertEqual(status, 409, error)
        for bad in ({"request_id": 7}, {"request_id": request_id, "clicked_item_ids": "x"},
                    {"request_id": request_id, "clicked_item_ids": ["i"] * 5000}, [1]):
            status, error = self.rest.json("POST", "/v1/feedback", bad)
            self.assertEqual(status, 400, (bad if not isinstance(bad, dict) or len(str(bad)) < 200 else "", error))
        status, error = self.rest.json("POST", "/v1/feedback", {"request_id": "nope", "clicked_item_ids": ["a"]})
        self.assertEqual(status, 404, error)

    # --- 3. feedback for any model: classifier labels, binary labels -----------------------
    def test_classifier_label_feedback_gives_accuracy(self):
        def infer(i):
            image = np.array(FASHION[i]["image"], dtype=np.float32).reshape(1, 1, 28, 28)
            status, body = self.rest.json("POST", "/v2/models/fashion_mnist/infer",
                                          infer_body([("image", "FP32", image)], id=f"fashion-{i}"))
            self.assertEqual(status, 200, body)
            self.assertEqual(body["id"], f"fashion-{i}")
            return int(np.argmax(body["outputs"][0]["data"]))

        predicted = [infer(i) for i in range(4)]
        correct = 0
        for i in range(4):
            truth = FASHION[i]["label"]
            status, answer = self.rest.json("POST", "/v2/models/fashion_mnist/feedback",
                                            {"request_id": f"fashion-{i}", "label": truth})
            self.assertEqual(status, 200, answer)
            self.assertEqual(answer["correct"], predicted[i] == truth)
            correct += predicted[i] == truth
        status, evaluation = self.rest.json("GET", "/v2/models/fashion_mnist/evaluation")
        self.assertEqual(status, 200)
        (v,) = evaluation["versions"]
        self.assertEqual((v["labelled"], v["correct"]), (4, correct))
        self.assertAlmostEqual(v["accuracy"], correct / 4)
        self.assertGreater(v["log_loss"], 0)
        self.assertEqual(self.metric("protoserve_online_labelled_total", model="fashion_mnist", version="1"), 4)
        # Wrong kinds of truth and unknown classes are refused without using the prediction up.
        status, error = self.rest.json("POST", "/v2/models/fashion_mnist/feedback",
                                       {"request_id": "fashion-0", "label": FASHION[0]["label"]})
        self.assertEqual(status, 409, error)
        infer(10)
        for bad in ({"request_id": "fashion-10", "value": 1.0}, {"request_id": "fashion-10", "label": "Spaceship"},
                    {"request_id": "fashion-10"}, {"request_id": "fashion-10", "label": [1]}):
            status, error = self.rest.json("POST", "/v2/models/fashion_mnist/feedback", bad)
            self.assertEqual(status, 400, (bad, error))
        status, error = self.rest.json("POST", "/v2/models/patient_outcome/feedback",
                                       {"request_id": "fashion-10", "label": "1"})
        self.assertEqual(status, 404, error)
        status, error = self.rest.json("POST", "/v2/models/no_such_model/feedback",
                                       {"request_id": "fashion-10", "label": "1"})
        self.assertEqual(status, 404, error)
        status, answer = self.rest.json("POST", "/v2/models/fashion_mnist/feedback",
                                        {"request_id": "fashion-10", "label": FASHION[10]["label"]})
        self.assertEqual(status, 200, answer)

    def test_grpc_feedback_service_binary_classifier(self):
        features = np.array(PATIENT[0]["features"], dtype=np.float32).reshape(1, -1)
        status, body = self.rest.json("POST", "/v2/models/patient_outcome/infer",
                                      infer_body([("features", "FP32", features)], id="patient-0"))
        self.assertEqual(status, 200, body)
        p = body["outputs"][0]["data"][0]
        truth = int(PATIENT[0]["label"])
        answer = self.feedback.SendFeedback(
            fpb.FeedbackRequest(model_name="patient_outcome", request_id="patient-0", label=str(truth)), timeout=30)
        self.assertEqual(answer.correct, (p >= 0.5) == (truth == 1))
        evaluation = self.feedback.GetEvaluation(fpb.EvaluationRequest(model_name="patient_outcome"), timeout=30)
        self.assertEqual(evaluation.versions[0].labelled, 1)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.feedback.SendFeedback(fpb.FeedbackRequest(model_name="patient_outcome", request_id="patient-0",
                                                           label="2"), timeout=30)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.feedback.GetEvaluation(fpb.EvaluationRequest(model_name="no_such_model"), timeout=30)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

    # --- CLI -------------------------------------------------------------------------------
    def test_cli_feedback_and_rollout_status(self):
        r = self.recommend(sample=5)
        done = cli("feedback", f"--target={self.server.target}", f"--request-id={r.request_id}",
                   f"--clicked={r.item_ids[0]}")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(json.loads(done.stdout)["matched_items"], 1)
        again = cli("feedback", f"--target={self.server.target}", f"--request-id={r.request_id}",
                    f"--clicked={r.item_ids[0]}")
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("ALREADY_EXISTS", again.stderr + again.stdout)
        status = cli("rollout", "status", f"--target={self.server.target}", "--model=recommender", "--json")
        self.assertEqual(status.returncode, 0, status.stderr)
        (v,) = json.loads(status.stdout)["versions"]
        self.assertGreaterEqual(v["clicks"], 1)
        table = cli("rollout", "status", f"--target={self.server.target}", "--model=recommender")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn("CTR@k", table.stdout)
        self.assertIn("no rollout of recommender", table.stdout)


if __name__ == "__main__":
    unittest.main()
