"""deploy/haproxy: the config passes `haproxy -c` as committed and rendered, and its
native grpc.health.v1 check and per-call balancing work against real replicas."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from deploy_support import DATA, DEPLOY, REPO, HAProxy, Replica, stubs  # noqa: E402

sys.path.insert(0, os.path.join(DEPLOY, "haproxy"))
import grpc_health_check  # noqa: E402
from render import render  # noqa: E402

stubs()
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

CONFIG = os.path.join(DEPLOY, "haproxy", "haproxy.cfg")


def haproxy_check(path):
    return subprocess.run(["haproxy", "-c", "-f", path], capture_output=True, text=True)


def sample_request():
    with open(os.path.join(DATA, "recommender_samples.json")) as f:
        sample = json.load(f)[0]
    return pb.RecommendationRequest(user_id=sample["user_id"], features=sample["features"], top_k=3)


class ConfigChecks(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="protoserve-haproxy-")
        with open(CONFIG) as f:
            self.text = f.read()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_committed_config_is_valid(self):
        r = haproxy_check(CONFIG)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_rendered_config_is_valid(self):
        text = render(self.text, binds={"grpc": "127.0.0.1:19001", "rest": "127.0.0.1:19000",
                                        "stats": "127.0.0.1:18404", "admin": os.path.join(self.tmp, "a.sock")},
                      servers={"grpc": ["127.0.0.1:8001", "127.0.0.1:8101"],
                               "rest": ["127.0.0.1:8000", "127.0.0.1:8100"]})
        self.assertNotRegex(text, r"(?m)^\s*server-template")
        self.assertIn("server r2 127.0.0.1:8101", text)
        path = os.path.join(self.tmp, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(text)
        r = haproxy_check(path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_required_settings(self):
        for line in ("bind :9001 proto h2", "balance leastconn", "option redispatch", "retries 3",
                     "retry-on conn-failure empty-response", "http-reuse always",
                     "default-server proto h2 check inter 500ms", "fall 2 rise 2", "timeout connect",
                     "timeout server", "timeout client", "http-check send meth GET uri /v2/health/ready"):
            self.assertIn(line, self.text)

    def test_grpc_health_check_bytes_are_current(self):
        """haproxy.cfg holds exactly what grpc_health_check.py generates."""
        for line in grpc_health_check.tcp_check_lines():
            self.assertIn("    " + line + "\n", self.text)

    def test_grpc_health_check_request_is_well_formed_http2(self):
        data = grpc_health_check.request_bytes()
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        self.assertTrue(data.startswith(preface))
        frames, i = [], len(preface)
        while i < len(data):
            length = int.from_bytes(data[i:i + 3], "big")
            frames.append((data[i + 3], data[i + 4], int.from_bytes(data[i + 5:i + 9], "big"),
                           data[i + 9:i + 9 + length]))
            i += 9 + length
        self.assertEqual(i, len(data))
        self.assertEqual([(t, flags, stream) for t, flags, stream, _ in frames],
                         [(4, 0, 0), (1, 4, 1), (0, 1, 1)])  # SETTINGS, HEADERS, DATA(END_STREAM)
        self.assertIn(b"/grpc.health.v1.Health/Check", frames[1][3])
        self.assertEqual(frames[2][3], b"\x00\x00\x00\x00\x00")  # empty HealthCheckRequest


class LiveHAProxy(unittest.TestCase):
    """Two healthy replicas and one that is NOT_SERVING (a model failed to load)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-haproxy-live-")
        # A repository whose second model cannot load: the server stays NOT_SERVING.
        broken_repo = os.path.join(cls.tmp, "broken_repo")
        os.makedirs(os.path.join(broken_repo, "broken", "1"))
        os.symlink(os.path.join(os.path.abspath(REPO), "recommender"), os.path.join(broken_repo, "recommender"))
        with open(os.path.join(broken_repo, "broken", "config.pbtxt"), "w") as f:
            f.write('name: "broken"\nplatform: "pytorch_libtorch"\nmax_batch_size: 4\n'
                    'input [{name: "x" data_type: TYPE_FP32 dims: [2]}]\n'
                    'output [{name: "y" data_type: TYPE_FP32 dims: [2]}]\n')
        with open(os.path.join(broken_repo, "broken", "1", "model.pt"), "w") as f:
            f.write("not a TorchScript file\n")
        cls.replicas = [Replica().__enter__(), Replica().__enter__(), Replica(repo=broken_repo).__enter__()]
        cls.haproxy = HAProxy([f"127.0.0.1:{r.grpc_port}" for r in cls.replicas],
                              [f"127.0.0.1:{r.http_port}" for r in cls.replicas], cls.tmp).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.haproxy.__exit__(None, None, None)
        for r in cls.replicas:
            r.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_grpc_health_check_passes_serving_and_fails_not_serving(self):
        self.haproxy.wait_states({"r1": "UP", "r2": "UP", "r3": "DOWN"})
        # The REST backend checks /v2/health/ready; the broken replica is not ready there either.
        self.haproxy.wait_states({"r1": "UP", "r2": "UP", "r3": "DOWN"}, backend="protoserve_rest")

    def test_calls_are_balanced_per_call_over_one_connection(self):
        self.haproxy.wait_states({"r1": "UP", "r2": "UP", "r3": "DOWN"})
        before = [r.served_recommendations() for r in self.replicas[:2]]
        request = sample_request()
        # One channel = one HTTP/2 connection to HAProxy; calls one after another.
        with grpc.insecure_channel(f"127.0.0.1:{self.haproxy.ports['grpc']}") as channel:
            stub = recommender_pb2_grpc.RecommenderStub(channel)
            for _ in range(40):
                response = stub.GetRecommendations(request, timeout=10)
                self.assertEqual(len(response.item_ids), 3)
        after = [r.served_recommendations() for r in self.replicas[:2]]
        served = [a - b for a, b in zip(after, before)]
        self.assertEqual(sum(served), 40)
        for count in served:
            self.assertGreaterEqual(count, 10, f"per-call balancing expected, got {served}")

    def test_rest_through_haproxy(self):
        self.haproxy.wait_states({"r1": "UP", "r2": "UP", "r3": "DOWN"}, backend="protoserve_rest")
        url = f"http://127.0.0.1:{self.haproxy.ports['rest']}/v2/health/ready"
        with urllib.request.urlopen(url, timeout=5) as r:
            self.assertEqual(r.status, 200)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.haproxy.ports['rest']}/v2/models/recommender",
                                    timeout=5) as r:
            self.assertEqual(json.load(r)["name"], "recommender")

    def test_model_management_is_never_forwarded(self):
        # Behind the proxy every client reaches the replicas from 127.0.0.1:
        # management routes must stop at the proxy (docs/security.md).
        self.haproxy.wait_states({"r1": "UP", "r2": "UP", "r3": "DOWN"}, backend="protoserve_rest")
        url = f"http://127.0.0.1:{self.haproxy.ports['rest']}/v2/repository/models/recommender/unload"
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=5)
        self.assertEqual(ctx.exception.code, 403)


if __name__ == "__main__":
    unittest.main()
