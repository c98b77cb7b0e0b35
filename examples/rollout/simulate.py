#!/usr/bin/python3
"""Feedback simulator for protoserve's progressive rollout demo (docs/rollout.md).

Plays the users of models/recommender_rollout (their held-out interactions,
build/data/recommender_rollout_users.json): each visit asks the Recommender
for a user's top-k (GetRecommendations, model `recommender_rollout`), "clicks"
the returned items that are in that user's held-out set, and reports what
happened with SendFeedback (the clicked items; an empty list when nothing was
clicked: the answer was seen and ignored). Meanwhile it polls the model's
rollout (Rollout.GetRollout) and prints its progress, and at the end the
decision table with the evidence of each decision.

    build/protoserve --model-repository=build/rollout_repository --prediction-log=/tmp/rollout.sqlite \\
        --allow-unauthenticated-management &
    /usr/bin/python3 examples/rollout/simulate.py --target 127.0.0.1:8001 --start 2   # then --start 3

--start V starts a rollout of candidate V first (a management call: a
token with scope manage via --token-file, or a loopback client of a server
run with --allow-unauthenticated-management). Without it, the simulator only
plays users (a rollout started by config.pbtxt or protoserve-cli rollout start).

Exit status: 0 when the rollout finished (promoted / rolled back / aborted)
and no request failed, 1 when a request failed, 2 on timeout.
"""
import argparse
import atexit
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def import_stubs():
    """The generated modules of proto/ (made into a temp dir with grpc_tools when not importable)."""
    try:
        import recommender_pb2  # noqa: F401
        import rollout_pb2  # noqa: F401
    except ImportError:
        out = tempfile.mkdtemp(prefix="protoserve-sim-stubs-")
        atexit.register(shutil.rmtree, out, True)
        proto_dir = os.path.join(ROOT, "proto")
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", proto_dir, "--python_out", out,
                        "--grpc_python_out", out, "recommender.proto", "rollout.proto"], check=True)
        sys.path.insert(0, out)
    import grpc
    import recommender_pb2
    import recommender_pb2_grpc
    import rollout_pb2
    import rollout_pb2_grpc
    return grpc, recommender_pb2, recommender_pb2_grpc, rollout_pb2, rollout_pb2_grpc


grpc, rpb, rpb_grpc, opb, opb_grpc = import_stubs()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.visits = 0
        self.clicks = 0
        self.feedback = 0
        self.failures = {}  # "RPC CODE: message" -> count
        self.by_version = {}  # version -> [visits, visits with a click]

    def fail(self, what, error):
        key = f"{what} {error.code().name}: {error.details()}"
        with self.lock:
            self.failures[key] = self.failures.get(key, 0) + 1

    def failed(self):
        with self.lock:
            return sum(self.failures.values())


class Simulator:
    """Threads of users visiting; start() / stop(); `stats` counts what happened."""

    def __init__(self, target, users, model="recommender_rollout", top_k=10, concurrency=4, seed=7,
                 metadata=()):
        self.target, self.users, self.model, self.top_k = target, users, model, top_k
        self.concurrency, self.seed, self.metadata = concurrency, seed, list(metadata)
        self.stats = Stats()
        self._stop = threading.Event()
        self._threads = []

    def _run(self, index):
        rng = random.Random(self.seed * 1000 + index)
        channel = grpc.insecure_channel(self.target)
        stub = rpb_grpc.RecommenderStub(channel)
        heldout = [set(u["heldout"]) for u in self.users]
        while not self._stop.is_set():
            u = rng.randrange(len(self.users))
            user = self.users[u]
            try:
                answer = stub.GetRecommendations(
                    rpb.RecommendationRequest(user_id=user["user_id"], features=user["features"], top_k=self.top_k,
                                              model_name=self.model),
                    timeout=30, metadata=self.metadata)
            except grpc.RpcError as e:
                self.stats.fail("GetRecommendations", e)
                continue
            clicked = [item for item in answer.item_ids if item in heldout[u]]
            try:
                stub.SendFeedback(rpb.RecommendationFeedback(request_id=answer.request_id, clicked_item_ids=clicked),
                                  timeout=30, metadata=self.metadata)
            except grpc.RpcError as e:
                self.stats.fail("SendFeedback", e)
                continue
            with self.stats.lock:
                self.stats.visits += 1
                self.stats.feedback += 1
                self.stats.clicks += len(clicked)
                seen = self.stats.by_version.setdefault(answer.model_version, [0, 0])
                seen[0] += 1
                seen[1] += 1 if clicked else 0
        channel.close()

    def start(self):
        self._stop.clear()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.concurrency)]
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(60)


def load_users(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def policy_from_args(args):
    policy = opb.RolloutPolicy(candidate_version=args.start)
    if args.baseline:
        policy.baseline_version.value = args.baseline
    if args.steps:
        policy.steps.extend(int(s) for s in args.steps.split(","))
    for name in ("min_requests", "min_feedback", "min_step_secs", "max_p99_ratio", "max_error_rate_margin", "alpha"):
        value = getattr(args, name)
        if value is not None:
            getattr(policy, name).value = value  # wrapper fields: unset differs from 0
    return policy


def decision_table(status):
    """The rollout's decisions as text, one line each, with their evidence."""
    lines = [f"rollout of {status.model_name}: {status.phase} — baseline v{status.baseline_version}, "
             f"candidate v{status.candidate_version} at {status.candidate_percent}% "
             f"(steps {','.join(str(s) for s in status.steps)})",
             f"{'time':8} {'outcome':8} {'step':>4} {'split':>9} {'requests b/c':>13} {'errors b/c':>10} "
             f"{'p99 ms b/c':>11} {'hit rate b':>16} {'hit rate c':>16} {'z':>7} {'p':>9}  reason"]
    for d in status.decisions:
        e = d.evidence
        tested = e.metric not in ("", "none") and (e.baseline_trials + e.candidate_trials) > 0
        base = f"{e.baseline_successes}/{e.baseline_trials}={e.baseline_rate:.3f}" if tested else "-"
        cand = f"{e.candidate_successes}/{e.candidate_trials}={e.candidate_rate:.3f}" if tested else "-"
        lines.append(
            f"{time.strftime('%H:%M:%S', time.gmtime(d.time_unix_ms / 1000)):8} {d.outcome:8} {d.step:>4} "
            f"{str(d.from_percent) + '->' + str(d.to_percent) + '%':>9} "
            f"{str(e.baseline_requests) + '/' + str(e.candidate_requests):>13} "
            f"{str(e.baseline_errors) + '/' + str(e.candidate_errors):>10} "
            f"{e.baseline_p99_ms:5.1f}/{e.candidate_p99_ms:<5.1f} {base:>16} {cand:>16} "
            f"{e.z:7.2f} {e.p_value if tested else 1.0:9.3g}  {d.reason}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default="127.0.0.1:8001", help="server gRPC HOST:PORT")
    p.add_argument("--model", default="recommender_rollout")
    p.add_argument("--users", default=os.path.join(ROOT, "build", "data", "recommender_rollout_users.json"))
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=4, help="simulated users visiting at once")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--token-file", help="bearer token (for --start: scope manage)")
    p.add_argument("--start", type=int, metavar="V", help="start a rollout of candidate version V first")
    p.add_argument("--baseline", type=int)
    p.add_argument("--steps", help="candidate percent per step, e.g. 10,25,50,100")
    p.add_argument("--min-requests", dest="min_requests", type=int)
    p.add_argument("--min-feedback", dest="min_feedback", type=int)
    p.add_argument("--min-step-secs", dest="min_step_secs", type=int)
    p.add_argument("--max-p99-ratio", dest="max_p99_ratio", type=float)
    p.add_argument("--max-error-rate-margin", dest="max_error_rate_margin", type=float)
    p.add_argument("--alpha", type=float)
    p.add_argument("--until-step", type=int, help="stop once the rollout is at this step (or finished)")
    p.add_argument("--timeout", type=float, default=600, help="seconds before giving up")
    p.add_argument("--summary-json", help="write the run's summary (counts, final status) here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args()

    metadata = []
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            metadata.append(("authorization", "Bearer " + f.read().strip()))
    channel = grpc.insecure_channel(args.target)
    rollout = opb_grpc.RolloutStub(channel)
    if args.start:
        try:
            rollout.StartRollout(opb.StartRolloutRequest(model_name=args.model, policy=policy_from_args(args)),
                                 timeout=30, metadata=metadata)
        except grpc.RpcError as e:
            print(f"StartRollout: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    users = load_users(args.users)
    sim = Simulator(args.target, users, args.model, args.top_k, args.concurrency, args.seed, metadata).start()
    started = time.time()
    status, finished, last_state, last_print = None, False, None, 0.0
    try:
        while time.time() - started < args.timeout:
            time.sleep(0.25)
            try:
                status = rollout.GetRollout(opb.GetRolloutRequest(model_name=args.model), timeout=30,
                                            metadata=metadata)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                continue
            e = status.evidence
            line = (f"[{time.time() - started:6.1f}s] {status.phase} candidate v{status.candidate_version} at "
                    f"{status.candidate_percent:3d}% (step {status.step}) | this step: requests "
                    f"{e.baseline_requests}/{e.candidate_requests}, hit rate {e.baseline_rate:.3f}/"
                    f"{e.candidate_rate:.3f}, z {e.z:.2f} | visits {sim.stats.visits}, failed {sim.stats.failed()}")
            state = (status.phase, status.step)
            if not args.quiet and (state != last_state or time.time() - last_print >= 2):
                print(line, flush=True)
                last_state, last_print = state, time.time()
            if status.phase != "progressing":
                finished = True
                break
            if args.until_step is not None and status.step >= args.until_step:
                break
    finally:
        sim.stop()
    elapsed = time.time() - started
    print(f"\n{sim.stats.visits} visits ({sim.stats.clicks} clicks, {sim.stats.feedback} feedback) in "
          f"{elapsed:.1f}s, {sim.stats.failed()} failed request(s)")
    for version, (visits, hits) in sorted(sim.stats.by_version.items()):
        print(f"  version {version}: {visits} visits, observed hit rate {hits / max(visits, 1):.3f}")
    for what, n in sim.stats.failures.items():
        print(f"  FAILED x{n}: {what}")
    if status is not None:
        print("\n" + decision_table(status))
    if args.summary_json:
        with open(args.summary_json, "w", encoding="utf-8") as f:
            json.dump({"visits": sim.stats.visits, "clicks": sim.stats.clicks, "failed": sim.stats.failed(),
                       "failures": sim.stats.failures, "finished": finished, "elapsed_secs": elapsed,
                       "by_version": {str(k): v for k, v in sim.stats.by_version.items()},
                       "phase": status.phase if status else None,
                       "step": status.step if status else None}, f)
    if sim.stats.failed():
        return 1
    if not finished and args.until_step is None:
        print(f"timeout: the rollout did not finish in {args.timeout:.0f}s", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
