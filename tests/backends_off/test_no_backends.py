"""A server built with both backends switched off (-DPROTOSERVE_WITH_TORCH=OFF
-DPROTOSERVE_WITH_XGBOOST=OFF, `make test-backends-off`): it builds, starts on
the demo repository, says why each model cannot load, and serves what needs
no backend (health, metadata of the index) instead of refusing to start."""
import json
import os
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import Server  # noqa: E402


class NoBackendsE2E(unittest.TestCase):
    def test_starts_and_explains_every_model_it_cannot_load(self):
        with Server() as server:
            self.assertTrue(any("protoserve started with failed models" in line for line in server.lines))
            base = f"http://127.0.0.1:{server.http_port}"
            with urllib.request.urlopen(base + "/v2/health/live", timeout=10) as r:
                self.assertEqual(r.status, 200)
            request = urllib.request.Request(base + "/v2/repository/index", data=b"{}", method="POST")
            with urllib.request.urlopen(request, timeout=10) as r:
                index = json.load(r)
            self.assertTrue(index)
            for model in index:
                self.assertEqual(model["state"], "FAILED", model)
                self.assertIn("no backend for", model["reason"], model)


if __name__ == "__main__":
    unittest.main()
