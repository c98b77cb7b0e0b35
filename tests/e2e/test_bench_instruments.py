"""e2e: the instruments `make bench` measures the engine with (bench/): the floor server, the stage server
(the floor answering through the model only, or through the whole core, over gRPC or REST), core_alone and
model_alone.

Each must answer what it claims to, so that a figure in docs/benchmarks.md measures the work it names: a stage
server that failed every call, or a core_alone whose requests all failed, would report a cost for nothing.
Assertions are about answers and output, never timings. About 15 s.
"""
import json
import os
import re
import signal
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import BUILD, REPO, load_samples, stubs  # noqa: E402

stubs()
import recommender_pb2 as rpb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402


class Listening:
    """A bench server process, stopped on exit; `port` is the one it printed."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([os.path.join(BUILD, args[0]), *args[1:]], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.head = []  # what it printed up to that line
        for line in self.proc.stdout:  # the server prints its port once it listens
            self.head.append(line)
            m = re.search(r"listening on \S+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return
        raise AssertionError(f"{args[0]} exited before listening (code {self.proc.wait()})")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def executions(self):
        """(forward passes, their thread CPU ns) a model stage has timed so far (SIGUSR1 prints them)."""
        self.proc.send_signal(signal.SIGUSR1)
        for line in self.proc.stdout:
            m = re.search(r"model executions (\d+) thread_cpu_ns (-?\d+)", line)
            if m:
                return int(m.group(1)), int(m.group(2))
        raise AssertionError(f"the server exited (code {self.proc.wait()}) without printing its executions")

    def call(self, request):
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            return recommender_pb2_grpc.RecommenderStub(channel).GetRecommendations(request, timeout=30)

    def post(self, body, path="/v1/recommendations"):
        """(HTTP status, JSON body) of a POST to a REST stage."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


def seed_request(features=None):
    sample = load_samples("recommender")[0]
    return rpb.RecommendationRequest(user_id=sample["user_id"],
                                     features=sample["features"] if features is None else features)


def stage_server_refusing(*args):
    """stage_server run with options it must refuse (it exits before listening)."""
    return subprocess.run([os.path.join(BUILD, "stage_server"), *args, "--model-repository", REPO],
                          capture_output=True, text=True, timeout=60)


def json_line(stdout):
    return json.loads(next(line for line in stdout.splitlines() if line.startswith("{")))


class StageServerTest(unittest.TestCase):
    def test_core_stage_answers_as_protoserve_does(self):
        with Listening("stage_server", "--stage", "core", "--model-repository", REPO) as server:
            reply = server.call(seed_request())
            self.assertEqual(len(reply.item_ids), 10)
            self.assertEqual(list(reply.scores), sorted(reply.scores, reverse=True))  # top-k, best first
            self.assertEqual(reply.model_name, "recommender")
            self.assertTrue(reply.request_id)
            with self.assertRaises(grpc.RpcError) as bad:
                server.call(seed_request(features=[0.5] * 31))
            self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn("features", bad.exception.details())

    def test_core_stage_on_the_completion_queue_engine(self):
        for extra in ([], ["--with-callback-health"]):
            with Listening("stage_server", "--engine", "cq", "--stage", "core", "--model-repository", REPO,
                           *extra) as server:
                self.assertIn("engine cq", server.head[-1])
                for _ in range(3):  # calls after the first reuse the armed slots
                    reply = server.call(seed_request())
                    self.assertEqual(len(reply.item_ids), 10)
                    self.assertEqual(list(reply.scores), sorted(reply.scores, reverse=True))
                with self.assertRaises(grpc.RpcError) as bad:
                    server.call(seed_request(features=[0.5] * 31))
                self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
                self.assertIn("features", bad.exception.details())

    def test_model_stage_executes_the_model(self):
        with Listening("stage_server", "--stage", "model", "--model-repository", REPO) as server:
            one = server.call(seed_request())
            other = server.call(seed_request(features=[0.0] * 32))
            self.assertEqual(len(one.scores), 10)
            # log-softmax scores of a real execution: negative, and they depend on the input.
            self.assertTrue(all(s < 0 for s in one.scores), one.scores)
            self.assertNotEqual(list(one.scores), list(other.scores))
            with self.assertRaises(grpc.RpcError) as bad:
                server.call(seed_request(features=[0.5] * 3))
            self.assertEqual(bad.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            # Each forward pass is timed; the refused request never executed.
            executed, cpu_ns = server.executions()
            self.assertEqual(executed, 2)
            self.assertGreater(cpu_ns, 0)
            server.call(seed_request())
            self.assertEqual(server.executions()[0], 3)

    def test_floor_replies_canned(self):
        with Listening("floor_server", "--spin-us", "5") as server:
            # The spin is calibrated against the thread's CPU clock: a positive count of iterations.
            spin = [re.search(r"spin: (\d+) iterations per call = 5 us of thread CPU", line) for line in server.head]
            self.assertTrue(any(m and int(m.group(1)) > 0 for m in spin), server.head)
            reply = server.call(seed_request())
            self.assertEqual(reply.model_name, "floor")
            self.assertEqual(len(reply.item_ids), 10)
        with Listening("floor_server", "--engine", "cq", "--threads", "1", "--spin-us", "5") as server:
            self.assertEqual(server.call(seed_request()).model_name, "floor")

    def test_unknown_stage_is_refused(self):
        out = stage_server_refusing("--stage", "wire")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--stage", out.stderr)

    def test_grpc_has_no_floor_stage(self):
        out = stage_server_refusing("--stage", "floor")
        self.assertEqual(out.returncode, 2)
        self.assertIn("floor_server", out.stderr)


class RestStageServerTest(unittest.TestCase):
    """stage_server --protocol rest: protoserve's HTTP engine and JSON twin, through each stage."""

    def seed_json(self, features=None):
        sample = load_samples("recommender")[0]
        return {"user_id": sample["user_id"], "features": sample["features"] if features is None else features}

    def test_floor_replies_canned_json_and_refuses_what_it_cannot_parse(self):
        with Listening("stage_server", "--protocol", "rest", "--stage", "floor", "--model-repository", REPO) as server:
            status, reply = server.post(self.seed_json())
            self.assertEqual(status, 200)
            self.assertEqual(reply["model_name"], "floor")
            self.assertEqual(len(reply["item_ids"]), 10)
            status, reply = server.post({"user_id": "u1", "features": "not an array"})
            self.assertEqual(status, 400)
            self.assertIn("features", reply["error"])
            status, _ = server.post(self.seed_json(), path="/v2/models")
            self.assertEqual(status, 404)

    def test_model_stage_executes_the_model(self):
        with Listening("stage_server", "--protocol", "rest", "--stage", "model", "--model-repository", REPO) as server:
            status, one = server.post(self.seed_json())
            self.assertEqual(status, 200, one)
            _, other = server.post(self.seed_json(features=[0.0] * 32))
            self.assertEqual(len(one["scores"]), 10)
            self.assertTrue(all(s < 0 for s in one["scores"]), one["scores"])  # log-softmax of a real execution
            self.assertNotEqual(one["scores"], other["scores"])
            status, reply = server.post(self.seed_json(features=[0.5] * 3))
            self.assertEqual(status, 400)
            self.assertIn("features", reply["error"])
            self.assertEqual(server.executions()[0], 2)  # timed on the I/O thread too; the refused one never ran

    def test_core_stage_answers_as_protoserve_does(self):
        with Listening("stage_server", "--protocol", "rest", "--stage", "core", "--model-repository", REPO) as server:
            status, reply = server.post(self.seed_json())
            self.assertEqual(status, 200, reply)
            self.assertEqual(len(reply["item_ids"]), 10)
            self.assertEqual(reply["scores"], sorted(reply["scores"], reverse=True))
            self.assertEqual(reply["model_name"], "recommender")
            self.assertTrue(reply["request_id"])
            status, reply = server.post(self.seed_json(features=[0.5] * 31))
            self.assertEqual(status, 400)
            self.assertIn("features", reply["error"])


class AloneTest(unittest.TestCase):
    def test_core_alone_with_cold_caches(self):
        out = subprocess.run([os.path.join(BUILD, "core_alone"), "--model-repository", REPO, "--threads", "1",
                              "--requests", "400", "--rounds", "1", "--evict-kb", "0,64"],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)  # it exits 1 if any request failed
        runs = json_line(out.stdout)["runs"]
        self.assertEqual([(r["threads"], r["evict_kb"]) for r in runs], [(1, 0), (1, 64)])
        self.assertTrue(all(r["cpu_us_per_request"] > 0 and r["model_cpu_us"] > 0 for r in runs), runs)

    def test_model_alone(self):
        out = subprocess.run([os.path.join(BUILD, "model_alone"), "--model-dir", os.path.join(REPO, "recommender"),
                              "--batch", "1,4", "--iterations", "50"], capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        runs = json_line(out.stdout)["runs"]
        self.assertEqual([r["batch"] for r in runs], [1, 4])
        self.assertTrue(all(r["cpu_us"] > 0 for r in runs), runs)


if __name__ == "__main__":
    unittest.main()
