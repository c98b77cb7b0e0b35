"""e2e: progressive rollout decided by the server (issue 17, item 4 and its "Done when").

The demo model `recommender_rollout` (models/recommender_rollout: v1 baseline,
v2 better, v3 worse), made into a temporary repository, served with the
SQLite prediction log; the feedback simulator (examples/rollout/simulate.py)
plays users against it as a subprocess:
  - the worse candidate is rolled back by the quality test, the better one
    promoted to 100%; the final split, the recorded decisions and their
    evidence (gRPC, REST, /metrics, the SQLite file, the CLI) are checked,
    and no request of the simulator failed during either rollout;
  - a server killed (SIGKILL) mid-rollout resumes at the step it was at;
  - start/abort are management calls (refused without a token or the
    unauthenticated-management flag, or with an infer-only token), and bad
    policies get clear errors.
Small steps and minimums keep it well under a minute and a half.
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import unittest

import grpc
from google.protobuf import wrappers_pb2

sys.path.insert(0, os.path.dirname(__file__))
from harness import PYTHON, ROOT, Server, cli, stubs  # noqa: E402
from rest_client import Rest, metric_samples  # noqa: E402

stubs()
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402
import rollout_pb2 as opb  # noqa: E402
import rollout_pb2_grpc  # noqa: E402

MODEL = "recommender_rollout"
SIMULATOR = os.path.join(ROOT, "examples", "rollout", "simulate.py")
# Small minimums: a step decides after ~100 answers per version. The p99
# bound is loose: the machine running the tests is shared and noisy, and the
# latency guard has its own unit tests.
FAST = ["--min-requests=100", "--min-feedback=100", "--max-p99-ratio=20"]
MANAGE_TOKEN = "rollout-manage-token-000000000000"
INFER_TOKEN = "rollout-infer-token-0000000000000"


class RolloutTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-rollout-")
        cls.repo = os.path.join(cls.tmp, "repo")
        cls.data = os.path.join(cls.tmp, "data")
        subprocess.run([PYTHON, os.path.join(ROOT, "models", "recommender_rollout", "make_models.py"),
                        "--repo", cls.repo, "--data", cls.data], check=True, capture_output=True, timeout=300)
        cls.users_file = os.path.join(cls.data, f"{MODEL}_users.json")
        with open(cls.users_file) as f:
            cls.users = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def serve(self, log, *extra):
        return Server(f"--model-repository={self.repo}", f"--prediction-log={log}", "--rollout-interval-ms=100",
                      *extra)

    def simulate(self, server, *args, timeout=120):
        """Runs the simulator to the end of the rollout (or --until-step); returns (summary, stdout)."""
        summary = os.path.join(self.tmp, "summary.json")
        run = subprocess.run([PYTHON, SIMULATOR, f"--target={server.target}", f"--users={self.users_file}",
                              "--concurrency=4", "--timeout=90", f"--summary-json={summary}", *args],
                             capture_output=True, text=True, timeout=timeout)
        self.assertIn(run.returncode, (0,), run.stdout + run.stderr + "\n".join(server.lines[-30:]))
        with open(summary) as f:
            return json.load(f), run.stdout

    def rollout(self, channel, metadata=()):
        return rollout_pb2_grpc.RolloutStub(channel).GetRollout(opb.GetRolloutRequest(model_name=MODEL),
                                                                timeout=30, metadata=metadata)

    def versions_answering(self, channel, users, metadata=()):
        stub = recommender_pb2_grpc.RecommenderStub(channel)
        return [stub.GetRecommendations(pb.RecommendationRequest(user_id=u["user_id"], features=u["features"],
                                                                 top_k=10, model_name=MODEL), timeout=30,
                                        metadata=metadata).model_version
                for u in users]


class RolloutE2E(RolloutTestCase):
    def test_worse_candidate_rolled_back_better_one_promoted(self):
        log = os.path.join(self.tmp, "both.sqlite")
        with self.serve(log, "--allow-unauthenticated-management") as server, \
                grpc.insecure_channel(server.target) as channel:
            # 1. The worse version (3): rolled back at its first step by the quality test.
            summary, out = self.simulate(server, "--start=3", "--baseline=1", "--steps=10,50,100", *FAST)
            self.assertEqual(summary["failed"], 0, summary["failures"])
            self.assertEqual(summary["phase"], "rolled_back", out)
            self.assertIn("rollback", out)  # the decision table
            status = self.rollout(channel)
            self.assertEqual((status.phase, status.candidate_percent, status.candidate_version), ("rolled_back", 0, 3))
            self.assertEqual([d.outcome for d in status.decisions], ["start", "rollback"])
            rollback = status.decisions[-1]
            e = rollback.evidence
            self.assertEqual((rollback.from_percent, rollback.to_percent), (10, 0))
            self.assertIn("hit_rate guard", rollback.reason)
            self.assertEqual(e.metric, "hit_rate")
            self.assertGreaterEqual(min(e.baseline_requests, e.candidate_requests), 100)
            self.assertGreaterEqual(min(e.baseline_feedback, e.candidate_feedback), 100)
            self.assertLess(e.candidate_rate, e.baseline_rate)
            self.assertAlmostEqual(e.candidate_rate, e.candidate_successes / e.candidate_trials, places=9)
            self.assertLess(e.z, 0)
            self.assertLess(e.p_value, status.policy.alpha.value)
            self.assertEqual(set(self.versions_answering(channel, self.users[:40])), {1})

            # 2. The better version (2): through 10% and 50% to 100%.
            summary, out = self.simulate(server, "--start=2", "--baseline=1", "--steps=10,50,100", *FAST)
            self.assertEqual(summary["failed"], 0, summary["failures"])
            self.assertEqual(summary["phase"], "promoted", out)
            status = self.rollout(channel)
            self.assertEqual((status.phase, status.candidate_percent, status.step), ("promoted", 100, 2))
            self.assertEqual([d.outcome for d in status.decisions], ["start", "advance", "promote"])
            for d, (before, after) in zip(status.decisions[1:], [(10, 50), (50, 100)]):
                self.assertEqual((d.from_percent, d.to_percent), (before, after))
                self.assertGreaterEqual(min(d.evidence.baseline_requests, d.evidence.candidate_requests), 100)
                self.assertGreaterEqual(d.evidence.p_value, status.policy.alpha.value)
                self.assertGreater(d.evidence.candidate_rate, 0)
                self.assertIn("not worse", d.reason)
            self.assertEqual(set(self.versions_answering(channel, self.users[:40])), {2})
            self.assertIn("2", summary["by_version"])

            # The same evidence over REST, in /metrics, in the SQLite file and in the CLI.
            rest = Rest(server.http_port)
            code, body = rest.json("GET", f"/v2/models/{MODEL}/rollout")
            self.assertEqual(code, 200, body)
            self.assertEqual(body["phase"], "promoted")
            self.assertEqual(body["decisions"][-1]["outcome"], "promote")
            self.assertIsInstance(body["decisions"][-1]["evidence"]["candidate_requests"], int)
            samples = metric_samples(rest.call("GET", "/metrics")[2].decode())
            rest.close()
            weight = [s.value for s in samples
                      if s.name == "protoserve_rollout_candidate_weight_percent" and s.labels.get("model") == MODEL]
            self.assertEqual(weight, [100.0])
            decisions = {s.labels["outcome"]: s.value for s in samples
                         if s.name == "protoserve_rollout_decisions_total" and s.labels.get("model") == MODEL}
            self.assertEqual(decisions, {"start": 2.0, "rollback": 1.0, "advance": 1.0, "promote": 1.0})
            table = cli("rollout", "status", f"--target={server.target}", f"--model={MODEL}")
            self.assertEqual(table.returncode, 0, table.stderr)
            self.assertIn("rollout of recommender_rollout: promoted", table.stdout)
            self.assertIn("promote", table.stdout)
        with sqlite3.connect(log) as db:
            rows = db.execute("SELECT candidate_version, outcome, candidate_trials, z, p_value FROM rollout_decisions "
                              "WHERE model = ? ORDER BY rowid", (MODEL,)).fetchall()
            self.assertEqual([(r[0], r[1]) for r in rows],
                             [(3, "start"), (3, "rollback"), (2, "start"), (2, "advance"), (2, "promote")])
            self.assertLess(rows[1][3], 0)
            self.assertLess(rows[1][4], 0.05)
            self.assertEqual(db.execute("SELECT phase, step FROM rollouts WHERE model = ?", (MODEL,)).fetchone(),
                             ("promoted", 2))

    def test_resumes_at_its_step_after_sigkill(self):
        log = os.path.join(self.tmp, "restart.sqlite")
        steps = [5, 10, 20, 40, 100]
        with self.serve(log, "--allow-unauthenticated-management") as server, \
                grpc.insecure_channel(server.target) as channel:
            summary, out = self.simulate(server, "--start=2", "--baseline=1", "--steps=" + ",".join(map(str, steps)),
                                         "--until-step=2", *FAST)
            self.assertEqual(summary["failed"], 0, summary["failures"])
            before = self.rollout(channel)  # no traffic now: it stays at this step
            self.assertEqual(before.phase, "progressing", out)
            self.assertGreaterEqual(before.step, 2)
            self.assertLess(before.step, len(steps) - 1)
            answered_before = self.versions_answering(channel, self.users[:200])
            server.stop(signal.SIGKILL)
        self.assertEqual(server.proc.returncode, -signal.SIGKILL)

        with self.serve(log, "--allow-unauthenticated-management") as server, \
                grpc.insecure_channel(server.target) as channel:
            after = self.rollout(channel)
            self.assertEqual((after.phase, after.step, after.candidate_percent),
                             ("progressing", before.step, steps[before.step]))
            self.assertEqual(after.decisions[-1].outcome, "resume")
            self.assertEqual([d.outcome for d in after.decisions[:-1]], [d.outcome for d in before.decisions])
            # The same users land on the same versions as before the kill (sticky split, same weights).
            self.assertEqual(self.versions_answering(channel, self.users[:200]), answered_before)
            share = answered_before.count(2) / len(answered_before)
            self.assertLess(abs(share - steps[before.step] / 100), 0.12, share)
            summary, out = self.simulate(server, *FAST)  # no --start: it carries on from where it was
            self.assertEqual(summary["failed"], 0, summary["failures"])
            self.assertEqual(summary["phase"], "promoted", out)
            final = self.rollout(channel)
            self.assertEqual(final.candidate_percent, 100)
            outcomes = [d.outcome for d in final.decisions]
            self.assertEqual(outcomes[-1], "promote")
            self.assertEqual(outcomes.count("resume"), 1)

    def test_a_policy_in_config_pbtxt_starts_by_itself(self):
        repo = os.path.join(self.tmp, "config-repo")
        shutil.copytree(self.repo, repo)
        with open(os.path.join(repo, MODEL, "config.pbtxt"), "a") as f:
            f.write('parameters { key: "rollout_candidate_version" value { string_value: "2" } }\n'
                    'parameters { key: "rollout_steps" value { string_value: "20,100" } }\n'
                    'parameters { key: "rollout_min_requests" value { string_value: "100" } }\n'
                    'parameters { key: "rollout_min_feedback" value { string_value: "100" } }\n'
                    'parameters { key: "rollout_max_p99_ratio" value { string_value: "20" } }\n')
        # No token and no --allow-unauthenticated-management: a config rollout needs no management call.
        with Server(f"--model-repository={repo}", "--rollout-interval-ms=100") as server, \
                grpc.insecure_channel(server.target) as channel:
            status = self.rollout(channel)
            self.assertEqual((status.phase, status.source, status.baseline_version, status.candidate_percent),
                             ("progressing", "config", 1, 20))
            self.assertTrue(any("in memory only" in line for line in server.lines))  # no --prediction-log
            summary, out = self.simulate(server)
            self.assertEqual(summary["failed"], 0, summary["failures"])
            self.assertEqual(summary["phase"], "promoted", out)
            self.assertEqual([d.outcome for d in self.rollout(channel).decisions], ["start", "promote"])

    def test_management_is_protected_and_bad_policies_refused(self):
        tokens = os.path.join(self.tmp, "tokens")
        with open(tokens, "w") as f:
            f.write(f"{INFER_TOKEN} infer\n{MANAGE_TOKEN} manage\n")
        os.chmod(tokens, 0o600)
        start = opb.StartRolloutRequest(model_name=MODEL, policy=opb.RolloutPolicy(candidate_version=2))
        infer = [("authorization", "Bearer " + INFER_TOKEN)]
        manage = [("authorization", "Bearer " + MANAGE_TOKEN)]
        with self.serve(os.path.join(self.tmp, "none.sqlite")) as server, \
                grpc.insecure_channel(server.target) as channel:
            stub = rollout_pb2_grpc.RolloutStub(channel)
            with self.assertRaises(grpc.RpcError) as ctx:
                stub.StartRollout(start, timeout=30)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertIn("--auth-tokens", ctx.exception.details())
            rest = Rest(server.http_port)
            self.assertEqual(rest.call("POST", f"/v2/models/{MODEL}/rollout/start", {"candidate_version": 2})[0], 403)
            self.assertEqual(rest.call("GET", f"/v2/models/{MODEL}/rollout")[0], 404)  # no rollout: a read, allowed
            rest.close()
        with self.serve(os.path.join(self.tmp, "tokens.sqlite"), f"--auth-tokens={tokens}") as server, \
                grpc.insecure_channel(server.target) as channel:
            stub = rollout_pb2_grpc.RolloutStub(channel)
            for metadata, code in [((), grpc.StatusCode.UNAUTHENTICATED), (infer, grpc.StatusCode.PERMISSION_DENIED)]:
                with self.assertRaises(grpc.RpcError) as ctx:
                    stub.StartRollout(start, timeout=30, metadata=metadata)
                self.assertEqual(ctx.exception.code(), code)
            bad = [(opb.RolloutPolicy(candidate_version=2, steps=[50, 10]), grpc.StatusCode.INVALID_ARGUMENT,
                    "rollout_steps"),
                   (opb.RolloutPolicy(candidate_version=2, alpha=wrappers_pb2.DoubleValue(value=0.9)), grpc.StatusCode.INVALID_ARGUMENT,
                    "rollout_alpha"),
                   (opb.RolloutPolicy(candidate_version=0), grpc.StatusCode.INVALID_ARGUMENT,
                    "rollout_candidate_version"),
                   (opb.RolloutPolicy(candidate_version=9), grpc.StatusCode.FAILED_PRECONDITION, "not READY")]
            for policy, code, text in bad:
                with self.assertRaises(grpc.RpcError) as ctx:
                    stub.StartRollout(opb.StartRolloutRequest(model_name=MODEL, policy=policy), timeout=30,
                                      metadata=manage)
                self.assertEqual(ctx.exception.code(), code, policy)
                self.assertIn(text, ctx.exception.details())
            with self.assertRaises(grpc.RpcError) as ctx:
                stub.StartRollout(opb.StartRolloutRequest(model_name="no_such_model",
                                                          policy=opb.RolloutPolicy(candidate_version=2)),
                                  timeout=30, metadata=manage)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
            with self.assertRaises(grpc.RpcError) as ctx:
                stub.AbortRollout(opb.AbortRolloutRequest(model_name=MODEL), timeout=30, metadata=manage)
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

            started = stub.StartRollout(start, timeout=30, metadata=manage)
            self.assertEqual((started.phase, started.candidate_percent, started.baseline_version),
                             ("progressing", 10, 1))
            self.assertEqual(list(started.steps), [10, 25, 50, 100])
            rest = Rest(server.http_port)
            auth = {"authorization": "Bearer " + MANAGE_TOKEN}
            code, body = rest.json("POST", f"/v2/models/{MODEL}/rollout/abort", {"reason": "pager"},
                                   {"authorization": "Bearer " + INFER_TOKEN})
            self.assertEqual(code, 403, body)
            code, body = rest.json("POST", f"/v2/models/{MODEL}/rollout/start", {"candidate_version": 2, "stpes": []},
                                   auth)
            self.assertEqual(code, 400, body)
            self.assertIn("stpes", body["error"])
            code, body = rest.json("POST", f"/v2/models/{MODEL}/rollout/abort", {"reason": "pager"}, auth)
            self.assertEqual(code, 200, body)
            self.assertEqual((body["phase"], body["candidate_percent"]), ("aborted", 0))
            self.assertIn("pager", body["decisions"][-1]["reason"])
            self.assertEqual(rest.json("POST", f"/v2/models/{MODEL}/rollout/abort", {}, auth)[0], 400)
            rest.close()
            self.assertEqual(set(self.versions_answering(channel, self.users[:20], infer)), {1})


if __name__ == "__main__":
    unittest.main()
