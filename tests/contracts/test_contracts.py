"""Contracts: every .proto passes `buf lint` and `buf breaking` against proto/baseline.json.

buf is npm's @bufbuild/buf, pinned in tools/buf and installed by scripts/setup; the test
fails (does not skip) when it is missing. buf.yaml at the repository root lists the
modules and the lint exceptions (docs/contracts.md). The breaking checks build images:
the workspace now, and temporary copies of it with one incompatible change each, which
buf breaking must reject.
"""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUF = os.path.join(ROOT, "tools", "buf", "node_modules", ".bin", "buf")
BASELINE = os.path.join(ROOT, "proto", "baseline.json")
SEED_PROTO_DIR = os.path.join(ROOT, "tests", "e2e", "seed_proto")


def buf(*args, cwd=ROOT):
    return subprocess.run([BUF, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def project_protos():
    """Every .proto of the project's contracts: proto/ and each model's folder."""
    found = glob.glob("proto/**/*.proto", root_dir=ROOT, recursive=True)
    found += glob.glob("models/**/*.proto", root_dir=ROOT, recursive=True)
    return sorted(found)


class Contracts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(BUF, os.X_OK):
            raise AssertionError(f"{BUF} is missing: run scripts/setup (npm ci in tools/buf)")
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-contracts-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ok(self, out, what):
        self.assertEqual(out.returncode, 0, f"{what}:\n{out.stdout}\n{out.stderr}")
        return out

    def image(self, workspace, name):
        """A buf image (with source info, for error locations) of `workspace`."""
        path = os.path.join(self.tmp, name)
        self.ok(buf("build", "-o", path, cwd=workspace), f"buf build {workspace}")
        return path

    def breaking(self, image, against):
        return buf("breaking", image, "--against", against, "--config", os.path.join(ROOT, "buf.yaml"))

    def copy_of_workspace(self, name):
        """A copy of buf.yaml and every module's directory (only .proto files) to change."""
        dest = os.path.join(self.tmp, name)
        os.makedirs(dest)
        shutil.copy(os.path.join(ROOT, "buf.yaml"), os.path.join(dest, "buf.yaml"))
        for rel in project_protos():
            os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, rel), os.path.join(dest, rel))
        return dest

    def edit(self, workspace, rel, old, new):
        path = os.path.join(workspace, rel)
        with open(path) as f:
            text = f.read()
        self.assertEqual(text.count(old), 1, f"{old!r} must occur once in {rel}")
        with open(path, "w") as f:
            f.write(text.replace(old, new))

    # --- the project's contracts ----------------------------------------------------
    def test_buf_version_is_the_pinned_one(self):
        with open(os.path.join(ROOT, "tools", "buf", "package.json")) as f:
            pinned = json.load(f)["dependencies"]["@bufbuild/buf"]
        self.assertEqual(self.ok(buf("--version"), "buf --version").stdout.strip(), pinned)

    def test_lint(self):
        self.ok(buf("lint"), "buf lint (fix the .proto, or add a commented exception to buf.yaml "
                             "only where a public contract forces it)")

    def test_every_proto_is_in_a_module(self):
        listed = self.ok(buf("ls-files"), "buf ls-files").stdout.split()
        missing = sorted(set(project_protos()) - set(listed))
        self.assertEqual(missing, [], "these .proto files are in no module of buf.yaml, so neither lint nor "
                                      "breaking sees them: add their folder (the proto path they are loaded "
                                      "with) under `modules`")
        self.assertIn("proto/recommender.proto", listed)

    def test_breaking_against_baseline(self):
        out = self.breaking(self.image(ROOT, "current.binpb"), BASELINE)
        self.ok(out, "buf breaking against proto/baseline.json: a change that breaks compatibility with a "
                     "released contract (docs/contracts.md)")

    def test_baseline_describes_the_current_contracts(self):
        # Every contract change updates the baseline in the same commit (make proto-baseline,
        # which runs buf breaking first): the baseline never lags, so no addition goes unprotected.
        current = os.path.join(self.tmp, "now.json")
        self.ok(buf("build", "--exclude-source-info", "-o", current), "buf build")
        with open(current) as f, open(BASELINE) as g:
            now, base = json.load(f), json.load(g)
        by_name = lambda image: {f["name"]: f for f in image["file"]}  # noqa: E731
        now_files, base_files = by_name(now), by_name(base)
        self.assertEqual(sorted(now_files), sorted(base_files),
                         "files differ from proto/baseline.json: run `make proto-baseline` and commit it")
        changed = [n for n in now_files if now_files[n] != base_files[n]]
        self.assertEqual(changed, [], "these contracts changed since proto/baseline.json: run "
                                      "`make proto-baseline` (it runs buf breaking first) and commit it")

    def test_recommender_stays_compatible_with_the_seed_proto(self):
        # The seed's file, verbatim (tests/e2e/seed_proto): everything it declares is still there.
        seed = os.path.join(self.tmp, "seed.binpb")
        self.ok(buf("build", SEED_PROTO_DIR, "-o", seed), "buf build of the seed's proto")
        current = self.image(ROOT, "current_for_seed.binpb")
        self.ok(self.breaking(current, seed), "proto/recommender.proto against the seed's recommender.proto")

    # --- the checks catch what they are for ---------------------------------------
    def assert_breaking_rejects(self, name, rel, old, new, expect):
        workspace = self.copy_of_workspace(name)
        self.edit(workspace, rel, old, new)
        out = self.breaking(self.image(workspace, name + ".binpb"), BASELINE)
        self.assertNotEqual(out.returncode, 0, f"buf breaking accepted {old!r} -> {new!r} in {rel}")
        self.assertRegex(out.stdout + out.stderr, expect)

    def test_breaking_catches_a_renumbered_seed_field(self):
        self.assert_breaking_rejects("renumbered", "proto/recommender.proto", "repeated float features = 2;",
                                     "repeated float features = 7;",
                                     r'field "2" with name "features" on message "RecommendationRequest"')

    def test_breaking_catches_a_changed_field_type(self):
        self.assert_breaking_rejects(
            "retyped", "models/fashion_mnist/protoserve/fashion_mnist/v1/fashion_mnist.proto",
            "repeated float pixels = 1;", "repeated double pixels = 1;", r'"float" to "double"')

    def test_breaking_catches_a_removed_rpc(self):
        self.assert_breaking_rejects("removed_rpc", "proto/inference.proto",
                                     "rpc ServerLive(ServerLiveRequest) returns (ServerLiveResponse) {}", "",
                                     r'RPC "ServerLive" on service "GRPCInferenceService" was deleted')

    def test_lint_catches_a_badly_named_message(self):
        workspace = self.copy_of_workspace("lint")
        self.edit(workspace, "proto/feedback.proto", "message EvaluationRequest {",
                  "message evaluation_request_v2 {}\nmessage EvaluationRequest {")
        out = buf("lint", cwd=workspace)
        self.assertNotEqual(out.returncode, 0, "buf lint accepted a message named evaluation_request_v2")
        self.assertIn("should be PascalCase", out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main()
