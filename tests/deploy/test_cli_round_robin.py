"""protoserve-cli --target with several replicas: comma-separated HOST:PORT lists and
gRPC target URIs (ipv4:, dns:///) use the round_robin policy, i.e. calls are spread
over every replica without a proxy (client-side load balancing)."""
import json
import os
import subprocess
import sys
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from deploy_support import CLI, DATA, Replica, stubs  # noqa: E402

stubs()
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLE = json.load(f)[0]
FEATURES = ",".join(str(v) for v in SAMPLE["features"])


def cli(*args, env=None):
    return subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))


class ClientSideRoundRobin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = Replica().__enter__()
        cls.b = Replica().__enter__()
        cls.ports = (cls.a.grpc_port, cls.b.grpc_port)

    @classmethod
    def tearDownClass(cls):
        cls.a.__exit__(None, None, None)
        cls.b.__exit__(None, None, None)

    def served(self):
        return self.a.served_recommendations(), self.b.served_recommendations()

    def recommend(self, target, **kwargs):
        return cli("recommend", "--target", target, "--user-id", SAMPLE["user_id"], "--features", FEATURES,
                   "--top-k", "3", **kwargs)

    def test_grpc_round_robin_with_the_same_target_string_alternates(self):
        """The ipv4: URI the CLI builds, in one grpcio channel with round_robin: an even split."""
        target = f"ipv4:127.0.0.1:{self.ports[0]},127.0.0.1:{self.ports[1]}"
        options = [("grpc.lb_policy_name", "round_robin")]
        with grpc.insecure_channel(target, options=options) as channel:
            # The channel is ready once one subchannel is; round_robin picks
            # among the READY ones, so calls go to one replica until the
            # other connects (seen: a 13/7 split). Measure once both served.
            stub = recommender_pb2_grpc.RecommenderStub(channel)
            request = pb.RecommendationRequest(user_id=SAMPLE["user_id"], features=SAMPLE["features"], top_k=3)
            start = self.served()
            for _ in range(200):
                stub.GetRecommendations(request, timeout=10)
                now = self.served()
                if all(now[i] > start[i] for i in range(2)):
                    break
            self.assertTrue(all(now[i] > start[i] for i in range(2)), f"one replica never served: {now} vs {start}")
            before = self.served()
            for _ in range(20):
                stub.GetRecommendations(request, timeout=10)
        after = self.served()
        split = [after[i] - before[i] for i in range(2)]
        self.assertEqual(sum(split), 20)
        self.assertGreaterEqual(min(split), 9, f"round_robin should alternate, got {split}")

    def check_cli_target(self, target):
        """20 CLI calls (one process each) succeed, all reach the replicas, and the CLI's
        channel runs round_robin over both addresses (gRPC's own trace says so)."""
        before = self.served()
        for _ in range(20):
            r = self.recommend(target)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(json.loads(r.stdout)["items"]), 3)
        after = self.served()
        self.assertEqual(sum(after) - sum(before), 20)
        traced = self.recommend(target, env={"GRPC_TRACE": "round_robin", "GRPC_VERBOSITY": "debug"})
        self.assertEqual(traced.returncode, 0, traced.stderr[-2000:])
        self.assertRegex(traced.stderr, r"\[RR 0x[0-9a-f]+\] received update with 2 addresses")

    def test_cli_comma_separated_host_port_list(self):
        self.check_cli_target(f"127.0.0.1:{self.ports[0]},127.0.0.1:{self.ports[1]}")

    def test_cli_ipv4_uri(self):
        self.check_cli_target(f"ipv4:127.0.0.1:{self.ports[0]},127.0.0.1:{self.ports[1]}")

    def test_cli_host_names_in_the_list_are_resolved(self):
        self.check_cli_target(f"localhost:{self.ports[0]}, 127.0.0.1:{self.ports[1]}")

    def test_cli_dns_uri_uses_round_robin(self):
        # dns:/// re-resolves a name (e.g. a Kubernetes headless Service) into all its addresses.
        r = self.recommend(f"dns:///127.0.0.1:{self.ports[0]}", env={"GRPC_TRACE": "round_robin",
                                                                      "GRPC_VERBOSITY": "debug"})
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertRegex(r.stderr, r"\[RR 0x[0-9a-f]+\] received update with 1 addresses")

    def test_cli_single_target_keeps_pick_first(self):
        r = self.recommend(f"127.0.0.1:{self.ports[0]}", env={"GRPC_TRACE": "round_robin", "GRPC_VERBOSITY": "debug"})
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertNotIn("[RR ", r.stderr)

    def test_cli_keeps_working_when_one_replica_is_unreachable(self):
        dead = Replica().__enter__()
        dead_port = dead.grpc_port
        dead.__exit__(None, None, None)
        for _ in range(5):
            r = self.recommend(f"127.0.0.1:{dead_port},127.0.0.1:{self.ports[0]}")
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_cli_rejects_malformed_lists(self):
        for target, message in (("127.0.0.1:1,nocolon", "expected HOST:PORT"),
                                ("127.0.0.1:1,[::1]:2", "mixes IPv4 and IPv6"),
                                ("127.0.0.1:1,host.invalid:2", "cannot resolve")):
            r = self.recommend(target)
            self.assertNotEqual(r.returncode, 0, target)
            self.assertIn(message, json.loads(r.stderr)["error"]["message"], target)


if __name__ == "__main__":
    unittest.main()
