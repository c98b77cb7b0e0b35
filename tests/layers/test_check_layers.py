"""scripts/check_layers: the real tree passes, and a forbidden arrow fails it."""
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(ROOT, "scripts", "check_layers")


def run(root):
    return subprocess.run(["/usr/bin/python3", CHECK, root], capture_output=True, text=True, timeout=60)


class CheckLayers(unittest.TestCase):
    def test_the_repository_respects_its_layers(self):
        result = run(ROOT)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_forbidden_arrows_are_reported(self):
        root = tempfile.mkdtemp(prefix="protoserve-layers-")
        try:
            os.makedirs(os.path.join(root, "docs"))
            shutil.copy(os.path.join(ROOT, "docs", "layers.txt"), os.path.join(root, "docs"))
            for folder in ("core", "grpc", "http", "kserve"):
                os.makedirs(os.path.join(root, "src", folder))
            with open(os.path.join(root, "src", "core", "bad.cc"), "w") as f:
                f.write('#include "core/tensor.h"\n#include "grpc/auth.h"\n#include <grpcpp/grpcpp.h>\n'
                        '#include "inference.grpc.pb.h"\n#include "inference.pb.h"\n')
            with open(os.path.join(root, "src", "http", "bad.h"), "w") as f:
                f.write('#include "kserve/kserve_codec.h"\n#include "grpc/inference_service.h"\n')
            result = run(root)
            self.assertEqual(result.returncode, 1)
            lines = result.stdout.splitlines()
            self.assertEqual(len(lines), 4, result.stdout)
            self.assertIn("src/core/bad.cc:2: src/core may not include src/grpc", result.stdout)
            self.assertIn("src/core/bad.cc:3: src/core may not include grpcpp/grpcpp.h", result.stdout)
            self.assertIn("src/core/bad.cc:4: src/core may not include inference.grpc.pb.h", result.stdout)
            self.assertIn("src/http/bad.h:2: src/http may not include src/grpc", result.stdout)
        finally:
            shutil.rmtree(root)


if __name__ == "__main__":
    unittest.main()
