"""e2e: memory under hostile HTTP bodies (issue 19, finding 2)."""
import http.client
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server  # noqa: E402


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class HttpBodyMemoryE2E(unittest.TestCase):
    """Issue 19, finding 2: two parallel ~60 MB JSON bodies to a 784-value model
    took the server from ~200 MB to 2.35 GB resident (the whole body parsed
    into a DOM before the model's sizes were looked at). The facade now looks
    the model up first and refuses a body larger than any valid request to it
    before parsing: what is left is the bodies themselves, read up to
    --http-max-body-mb (64) per connection."""

    def test_huge_json_bodies_are_refused_from_their_size(self):
        with Server() as server:
            body = b'{"inputs":[{"name":"image","datatype":"FP32","shape":[1,1,28,28],"data":[' + \
                b"0," * (30 * 1024 * 1024 - 64) + b'0]}]}'
            baseline = vm_kib(server.proc.pid, "VmRSS")
            answers, served = [], []

            def attack():
                connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=120)
                connection.request("POST", "/v2/models/fashion_mnist/infer", body=body,
                                   headers={"content-type": "application/json"})
                response = connection.getresponse()
                answers.append((response.status, response.read()))
                connection.close()

            def bystander():
                while len(answers) < 2:
                    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
                    connection.request("GET", "/v2/health/ready")
                    served.append(connection.getresponse().status)
                    connection.close()
            threads = [threading.Thread(target=attack) for _ in range(2)] + [threading.Thread(target=bystander)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(180)
            peak_mib = (vm_kib(server.proc.pid, "VmHWM") - baseline) / 1024
            print(f"\nbody memory: 2 x {len(body) >> 20} MiB JSON bodies: answered {[a[0] for a in answers]}, "
                  f"peak RSS +{peak_mib:.0f} MiB over {baseline >> 10} MiB, {len(served)} bystander calls served",
                  file=sys.stderr)
            self.assertEqual([a[0] for a in answers], [400, 400], answers)
            self.assertIn(b"more than any valid request to 'fashion_mnist'", answers[0][1])
            self.assertGreater(len(served), 0)
            self.assertTrue(all(code == 200 for code in served), served)
            # Two bodies of 60 MiB held while read, nothing proportional to their values
            # (the previous main: +2127 MiB). Under ASan (make test-asan) freed memory sits in
            # its quarantine (256 MiB) and shadow memory adds 1/8: a looser bound there.
            self.assertLess(peak_mib, 1024 if "ASAN_OPTIONS" in os.environ else 400)


if __name__ == "__main__":
    unittest.main()
