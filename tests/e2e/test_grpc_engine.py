"""e2e: the completion-queue engine (src/grpc/cq_engine.h) as a client sees it.

grpc.health.v1 is protoserve's own now (Check and Watch), every other method
arrives on the same queue, and a client that leaves in the middle of a stream
or a unary call costs the server nothing but that call.
"""
import json
import os
import queue
import signal
import sys
import threading
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import DATA, Server, stubs  # noqa: E402

stubs()
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLES = json.load(f)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


def request(i):
    s = SAMPLES[i % len(SAMPLES)]
    return pb.RecommendationRequest(user_id=s["user_id"], features=s["features"])


class Watcher:
    """Reads a Watch stream on a thread; its messages and its end land in a queue."""

    def __init__(self, channel, service):
        self.events = queue.Queue()
        self.call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=service),
                                                               timeout=120)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for message in self.call:
                self.events.put(message.status)
            self.events.put(("end", grpc.StatusCode.OK))
        except grpc.RpcError as e:
            self.events.put(("end", e.code()))

    def next(self):
        return self.events.get(timeout=60)


class GrpcEngineE2E(unittest.TestCase):
    def test_health_watch_follows_the_server_until_it_stops(self):
        server = Server().__enter__()
        try:
            channel = grpc.insecure_channel(server.target)
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "Recommender", "inference.GRPCInferenceService"):
                self.assertEqual(health.Check(health_pb2.HealthCheckRequest(service=service), timeout=30).status,
                                 SERVING)
            with self.assertRaises(grpc.RpcError) as unknown:
                health.Check(health_pb2.HealthCheckRequest(service="no.Such"), timeout=30)
            self.assertEqual(unknown.exception.code(), grpc.StatusCode.NOT_FOUND)

            overall, recommender, other = (Watcher(channel, s) for s in ("", "Recommender", "no.Such"))
            self.assertEqual(overall.next(), SERVING)
            self.assertEqual(recommender.next(), SERVING)
            self.assertEqual(other.next(), SERVICE_UNKNOWN)
            # Shutdown: every watcher hears NOT_SERVING (a known service), then its call ends cleanly.
            server.proc.send_signal(signal.SIGTERM)
            for watcher in (overall, recommender):
                self.assertEqual(watcher.next(), NOT_SERVING)
                self.assertEqual(watcher.next(), ("end", grpc.StatusCode.OK))
            self.assertEqual(other.next(), ("end", grpc.StatusCode.OK))
            self.assertEqual(server.proc.wait(60), 0)
            channel.close()
        finally:
            server.stop()

    def test_clients_leaving_mid_call_leave_the_server_serving(self):
        with Server("--shutdown-grace-secs=2") as server:
            channel = grpc.insecure_channel(server.target)
            stub = recommender_pb2_grpc.RecommenderStub(channel)
            # A stream cancelled with requests in flight, many times over.
            for round_ in range(20):
                stream = stub.StreamRecommendations(iter([request(i) for i in range(round_ * 50, round_ * 50 + 50)]),
                                                    timeout=60)
                next(stream)
                stream.cancel()
            # Unary calls whose client gives up at once (a deadline already short of any answer).
            for i in range(200):
                future = stub.GetRecommendations.future(request(i), timeout=60)
                if i % 2:
                    future.cancel()
            # A stream the client never closes, left open while the server shuts down below.
            forever = threading.Event()

            def requests():
                yield request(0)
                forever.wait(120)

            open_stream = stub.StreamRecommendations(requests(), timeout=120)
            self.assertEqual(len(next(open_stream).item_ids), 10)
            # Still answering, with the same answers.
            for i in range(20):
                self.assertEqual(list(stub.GetRecommendations(request(i), timeout=30).item_ids),
                                 SAMPLES[i % len(SAMPLES)]["top10"])
            health = health_pb2_grpc.HealthStub(channel)
            self.assertEqual(health.Check(health_pb2.HealthCheckRequest(), timeout=30).status, SERVING)
            # The server drains, cancels the stream still open when the grace period ends, and exits 0.
            self.assertEqual(server.stop(), 0, "\n".join(server.lines[-20:]))
            forever.set()
            channel.close()

    def test_an_unknown_method_is_unimplemented_and_more_queues_serve_alike(self):
        with Server("--grpc-threads=3") as server:
            channel = grpc.insecure_channel(server.target)
            unknown = channel.unary_unary("/no.Such/Method")
            with self.assertRaises(grpc.RpcError) as e:
                unknown(b"", timeout=30)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
            stub = recommender_pb2_grpc.RecommenderStub(channel)
            futures = [stub.GetRecommendations.future(request(i), timeout=60) for i in range(64)]
            for i, future in enumerate(futures):
                self.assertEqual(list(future.result().item_ids), SAMPLES[i % len(SAMPLES)]["top10"])
            channel.close()


if __name__ == "__main__":
    unittest.main()
