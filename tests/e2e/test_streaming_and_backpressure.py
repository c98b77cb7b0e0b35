"""e2e: streaming RPCs (ordering, in-stream errors) and backpressure (full queue, deadlines)."""
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, REPO, Server, stubs  # noqa: E402

stubs()
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLES = json.load(f)
with open(os.path.join(DATA, "patient_outcome_samples.json")) as f:
    PATIENT = json.load(f)


class StreamingE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server().__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    def test_recommendation_stream_1000_messages_in_order_with_errors(self):
        stub = recommender_pb2_grpc.RecommenderStub(self.channel)
        requests, expected = [], []
        for i in range(1000):
            s = SAMPLES[i % len(SAMPLES)]
            if i % 7 == 3:  # interleaved invalid messages of several kinds
                bad = [dict(user_id="", features=s["features"]), dict(user_id="u", features=s["features"][:4]),
                       dict(user_id="u", features=s["features"], top_k=5000)][i % 3]
                requests.append(pb.RecommendationRequest(**bad))
                expected.append(None)
            else:
                requests.append(pb.RecommendationRequest(user_id=s["user_id"], features=s["features"]))
                expected.append(s["top10"])
        responses = list(stub.StreamRecommendations(iter(requests), timeout=120))
        self.assertEqual(len(responses), 1000)
        for i, (response, want) in enumerate(zip(responses, expected)):
            if want is None:
                self.assertTrue(response.error_message.startswith("INVALID_ARGUMENT: "), (i, response.error_message))
                self.assertEqual(len(response.item_ids), 0)
            else:
                self.assertEqual(response.error_message, "", i)
                self.assertEqual(list(response.item_ids), want, i)

    def test_model_stream_infer_1000_messages_in_order_with_errors(self):
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        requests, expected = [], []
        for i in range(1000):
            s = PATIENT[i % len(PATIENT)]
            req = ipb.ModelInferRequest(model_name="patient_outcome", id=f"req-{i}")
            t = req.inputs.add(name="features", datatype="FP32", shape=[1, 30])
            data = np.array(s["features"], dtype=np.float32)
            if i % 5 == 2:
                data = data[:20]  # lying size: invalid
                expected.append(None)
            elif i % 5 == 4:
                req.model_name = "no_such_model"
                expected.append("NOT_FOUND")
            else:
                expected.append(s["probability"])
            req.raw_input_contents.append(data.tobytes())
            requests.append(req)
        responses = list(stub.ModelStreamInfer(iter(requests), timeout=120))
        self.assertEqual(len(responses), 1000)
        for i, (response, want) in enumerate(zip(responses, expected)):
            self.assertEqual(response.infer_response.id, f"req-{i}")
            if want is None:
                self.assertTrue(response.error_message.startswith("INVALID_ARGUMENT: "), response.error_message)
            elif want == "NOT_FOUND":
                self.assertTrue(response.error_message.startswith("NOT_FOUND: "), response.error_message)
            else:
                self.assertEqual(response.error_message, "")
                got = np.frombuffer(response.infer_response.raw_output_contents[0], dtype=np.float32)[0]
                self.assertLessEqual(abs(float(got) - want), 1e-5)

    def test_stream_client_cancel_leaves_server_healthy(self):
        stub = recommender_pb2_grpc.RecommenderStub(self.channel)
        s = SAMPLES[0]

        def endless():
            while True:
                yield pb.RecommendationRequest(user_id=s["user_id"], features=s["features"])
                time.sleep(0.001)

        call = stub.StreamRecommendations(endless(), timeout=60)
        for i, _ in enumerate(call):
            if i == 50:
                call.cancel()
                break
        r = stub.GetRecommendations(pb.RecommendationRequest(user_id=s["user_id"], features=s["features"]), timeout=10)
        self.assertEqual(list(r.item_ids), s["top10"])


def make_tight_repo():
    """A repository with fashion_mnist on one instance and an 8-deep queue."""
    root = tempfile.mkdtemp(prefix="protoserve-tight-")
    src = os.path.join(REPO, "fashion_mnist")
    dst = os.path.join(root, "fashion_mnist")
    os.makedirs(os.path.join(dst, "1"))
    shutil.copy(os.path.join(src, "labels.txt"), dst)
    shutil.copy(os.path.join(src, "1", "model.pt"), os.path.join(dst, "1", "model.pt"))
    with open(os.path.join(dst, "config.pbtxt"), "w") as f:
        f.write("""
            name: "fashion_mnist"
            platform: "pytorch_libtorch"
            max_batch_size: 128
            input [ { name: "image" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]
            output [ { name: "logits" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "labels.txt" } ]
            instance_group [ { count: 1 kind: KIND_CPU } ]
            dynamic_batching { default_queue_policy { max_queue_size: 8 } }
        """)
    return root


class BackpressureE2E(unittest.TestCase):
    def test_full_queue_and_deadlines(self):
        root = make_tight_repo()
        try:
            with Server(repo=root) as server:
                channel = grpc.insecure_channel(server.target)
                stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                big = ipb.ModelInferRequest(model_name="fashion_mnist")
                big.inputs.add(name="image", datatype="FP32", shape=[128, 1, 28, 28])
                big.raw_input_contents.append(np.random.default_rng(0).random((128, 1, 28, 28), np.float32).tobytes())
                stub.ModelInfer(big, timeout=60)  # warm

                # 1) Flood: far more concurrent requests than the 4-deep queue holds.
                futures = [stub.ModelInfer.future(big, timeout=60) for _ in range(40)]
                start = time.time()
                codes = [f.code() for f in futures]
                exhausted = [c for c in codes if c == grpc.StatusCode.RESOURCE_EXHAUSTED]
                self.assertGreater(len(exhausted), 0, codes)
                self.assertTrue(all(c in (grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED) for c in codes))
                self.assertLess(time.time() - start, 30)

                # 2) Deadlines: requests that expire while queued are never executed.
                def executed():
                    stats = stub.ModelStatistics(ipb.ModelStatisticsRequest(name="fashion_mnist")).model_stats[0]
                    return stats.execution_count
                before = executed()
                backlog = [stub.ModelInfer.future(big, timeout=60) for _ in range(4)]
                short = [stub.ModelInfer.future(big, timeout=0.005) for _ in range(3)]
                short_codes = [f.code() for f in short]
                backlog_codes = [f.code() for f in backlog]
                self.assertTrue(all(c == grpc.StatusCode.DEADLINE_EXCEEDED for c in short_codes), short_codes)
                ok_backlog = sum(1 for c in backlog_codes if c == grpc.StatusCode.OK)
                time.sleep(0.2)
                self.assertEqual(executed() - before, ok_backlog)  # the 3 expired ones never ran
                channel.close()
        finally:
            shutil.rmtree(root)


if __name__ == "__main__":
    unittest.main()
