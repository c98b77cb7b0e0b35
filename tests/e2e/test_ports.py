"""e2e: a second server never silently shares the gRPC port (issue 19, finding 7).

gRPC enables SO_REUSEPORT by default: a second `protoserve --grpc-port=P`
started, said "gRPC listening", and the kernel spread new connections over
both processes (an old version left running during a deploy answered part
of the traffic). The server now refuses a port in use unless
--reuse-grpc-port asks for sharing (Triton's flag of the same name).
"""
import os
import subprocess
import sys
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import REPO, SERVER, Server  # noqa: E402


class GrpcPortE2E(unittest.TestCase):
    def test_a_second_server_on_the_same_grpc_port_fails_to_start(self):
        with Server() as first:
            second = subprocess.run(
                [SERVER, f"--model-repository={REPO}", f"--grpc-port={first.grpc_port}", "--http-port=0",
                 "--address=127.0.0.1"], capture_output=True, text=True, timeout=120)
            self.assertNotEqual(second.returncode, 0, second.stdout + second.stderr)
            self.assertIn(f"cannot listen for gRPC on 127.0.0.1:{first.grpc_port}", second.stdout + second.stderr)
            # The first one still serves, alone.
            with grpc.insecure_channel(first.target) as channel:
                grpc.channel_ready_future(channel).result(timeout=30)

    def test_reuse_grpc_port_shares_it_on_request(self):
        with Server("--reuse-grpc-port") as first:
            with Server("--reuse-grpc-port", f"--grpc-port={first.grpc_port}") as second:
                self.assertEqual(second.grpc_port, first.grpc_port)


if __name__ == "__main__":
    unittest.main()
