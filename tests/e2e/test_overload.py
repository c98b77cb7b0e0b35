"""e2e: overload and shutdown behaviour of the real server.

The model. The demo recommender costs the server a few microseconds per
request: its peak (~14 000 req/s at 32 in flight on the 2-core build machine)
is bounded by gRPC's CPU cost on both sides, so no client sharing those two
cores can offer twice that rate (measured: the bench client lagged its
schedule by seconds). A real model costs milliseconds. These tests therefore
serve the demo recommender wrapped in a TorchScript module that adds ~2 ms of
CPU work per row (`costly_recommender`, answers unchanged), one instance, one
intra-op thread: the model is the bottleneck, as in production, and the client
can offer twice its rate with CPU to spare.

Overload: a fixed, conservative notion of "over capacity", independent of
whatever else runs on the machine. The overload server's recommender costs
~20 ms of CPU per row (100 sin passes instead of 10), one instance, one
intra-op thread, a queue of QUEUE requests: it can serve at most ~50 rows/s
here, and a machine busy with other tests only serves fewer. OFFERED_RATE is
an order of magnitude above that, so most requests must be refused with
RESOURCE_EXHAUSTED at once, accepted ones must keep the wait the small queue
bounds, and health stays SERVING. (It used to measure its own peak first and
offer twice that; under `ctest -j 2` the peak was measured on a busier
machine than the overload ran on, and nothing was shed.)

Shutdown: with --shutdown-delay-secs, health turns NOT_SERVING while calls
are still served; clients that stop sending on NOT_SERVING lose no call over
several shutdowns. Without it, calls the server has accepted (counted by its
in-flight gauge) when SIGTERM arrives all complete, while new calls are
refused (UNAVAILABLE) during that drain.

Thresholds are loose on purpose (a shared 2-core machine), but each one fails
for the behaviour it guards against: an unbounded queue puts seconds of wait
on accepted calls at 2x, a slow refusal path shows in refusal latency, a drain
that drops work shows as a non-OK in-flight call. Figures go to stderr
(`ctest -V`); docs/security.md records them.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLI, DATA, PYTHON, REPO, Server, stubs  # noqa: E402

stubs()
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

SAMPLES_FILE = os.path.join(DATA, "recommender_samples.json")
with open(SAMPLES_FILE) as f:
    SAMPLES = json.load(f)
QUEUE = 8            # max_queue_size of the overload server's recommender
MAX_BATCH = 8        # max_batch_size: a batch in execution is at most this many requests
OVERLOAD_SECS = 8    # an unbounded queue would make accepted calls wait for most of it
OFFERED_RATE = 600   # requests/s: >= 10x what the slow model can serve on this machine

# ~0.2 ms of CPU per row and sin pass at one intra-op thread: sin over 64 Ki
# floats, `passes` times (linear in the batch size, so batching cannot
# amortise it away). The result is added times 0.0, so the scores, hence the
# answers, are the demo model's.
COSTLY_MODEL = r"""
import sys, torch
source, target = sys.argv[1], sys.argv[2]

class CostlyRecommender(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, user_hash: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        scores = self.inner(user_hash, features)
        x = features.repeat(1, 2048)
        for _ in range(PASSES):
            x = torch.sin(x)
        return scores + 0.0 * x.sum(1, keepdim=True)

torch.jit.script(CostlyRecommender(torch.jit.load(source))).save(target)
"""  # PASSES: replaced by the number of sin passes


_COSTLY = {}


def setUpModule():
    _COSTLY["dir"] = tempfile.mkdtemp(prefix="protoserve-costly-")
    for key, passes in (("model", 10), ("slow_model", 100)):
        _COSTLY[key] = os.path.join(_COSTLY["dir"], f"{key}.pt")
        script = os.path.join(_COSTLY["dir"], f"{key}.py")  # a file: torch.jit.script reads the source
        with open(script, "w") as f:
            f.write(COSTLY_MODEL.replace("PASSES", str(passes)))
        subprocess.run([PYTHON, script, os.path.join(REPO, "recommender", "1", "model.pt"), _COSTLY[key]],
                       check=True, timeout=300)


def tearDownModule():
    shutil.rmtree(_COSTLY["dir"], ignore_errors=True)


def costly_repository(queue=None, model="model"):
    """A repository whose `recommender` is the costly wrapper: 1 instance, MAX_BATCH, optional queue bound."""
    root = tempfile.mkdtemp(prefix="protoserve-overload-")
    target = os.path.join(root, "recommender")
    shutil.copytree(os.path.join(REPO, "recommender"), target)
    shutil.copyfile(_COSTLY[model], os.path.join(target, "1", "model.pt"))
    with open(os.path.join(target, "config.pbtxt")) as f:
        config = f.read()
    policy = f" default_queue_policy {{ max_queue_size: {queue} }}" if queue else ""
    config = re.sub(r"dynamic_batching \{[^}]*\}", f"dynamic_batching {{ max_queue_delay_microseconds: 500{policy} }}",
                    config)
    config = re.sub(r"max_batch_size: \d+", f"max_batch_size: {MAX_BATCH}", config)
    # The recommender's OPTIMIZE_FOR_INFERENCE was measured on the recommender, not on this wrapper, whose
    # sin loop it makes cost per row grow with the batch size (up to ~2.5 s for 8 rows seen under load).
    config = re.sub(r'parameters \{ key: "OPTIMIZE_FOR_INFERENCE"[^\n]*\n', "", config)
    config = re.sub(r"instance_group \[[^\]]*\]", "instance_group [ { count: 1 kind: KIND_CPU } ]", config)
    assert f"max_batch_size: {MAX_BATCH}" in config and "count: 1 " in config and (not queue or policy in config)
    assert "OPTIMIZE_FOR_INFERENCE" not in config
    with open(os.path.join(target, "config.pbtxt"), "w") as f:
        f.write(config)
    return root


def bench(target, *args, timeout=180):
    command = [CLI, "bench", "--mode", "grpc-recommend", "--target", target, "--data", SAMPLES_FILE,
               "--format", "json", "--no-progress", *args]
    for attempt in range(60):
        try:
            r = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            break
        except OSError:  # not executable for a moment: the build dir is being relinked (shared machine)
            if attempt == 59:
                raise
            time.sleep(1)
    if r.returncode not in (0, 1):  # 1: the run had errors (expected under overload)
        raise AssertionError(f"bench failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)["runs"][0]


def request(i):
    s = SAMPLES[i % len(SAMPLES)]
    return pb.RecommendationRequest(user_id=s["user_id"], features=s["features"])


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else None


def ms(seconds):
    return None if seconds is None else round(1000 * seconds, 2)


def model_execution(server, model="recommender"):
    """(seconds the model's batches executed, rows they held), from the server's own histograms."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics", timeout=10) as r:
        text = r.read().decode()

    def total(name):
        return sum(float(v) for v in re.findall(rf'^{name}_sum\{{[^}}]*model="{model}"[^}}]*\}} (\S+)$', text, re.M))
    return total("protoserve_compute_duration_seconds"), total("protoserve_batch_size")


def grpc_inflight(server):
    """The server's protoserve_inflight_requests{api="grpc"}: calls received and not yet answered."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^protoserve_inflight_requests\{api="grpc"\} (\S+)$', text, re.M)
    return int(float(m.group(1)))


class OverloadE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.repo = costly_repository(queue=QUEUE, model="slow_model")
        cls.server = Server(repo=cls.repo).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.repo, ignore_errors=True)

    def test_ten_times_capacity_sheds_fast_and_keeps_accepted_latency_bounded(self):
        # A probe beside the load: one call every 10 ms, each timed from its
        # send to its answer. Not one call after the other: a call sent when
        # the previous one is answered arrives just as a batch has freed
        # queue slots, and is (nearly) never refused (seen under ASan).
        probes = {}  # call index -> (code, seconds)
        stop = threading.Event()

        def probe():
            with grpc.insecure_channel(self.server.target) as channel:
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                calls = []
                while not stop.is_set():
                    i, start = len(calls), time.perf_counter()
                    call = stub.GetRecommendations.future(request(i), timeout=10)
                    call.add_done_callback(
                        lambda c, i=i, start=start: probes.__setitem__(i, (c.code(), time.perf_counter() - start)))
                    calls.append(call)
                    time.sleep(0.01)
                for call in calls:
                    call.exception()  # waits for the answer
                deadline = time.time() + 10
                while len(probes) < len(calls) and time.time() < deadline:
                    time.sleep(0.01)
        prober = threading.Thread(target=probe)
        rate = OFFERED_RATE
        busy_before, rows_before = model_execution(self.server)
        started = time.monotonic()
        prober.start()
        try:
            over = bench(self.server.target, "--rate", str(rate), "-c", "512", "-d", f"{OVERLOAD_SECS}s",
                         "--warmup", "1s", "--timeout", "10")
        finally:
            stop.set()
            prober.join()
        elapsed = time.monotonic() - started
        busy_after, rows_after = model_execution(self.server)
        busy, rows = busy_after - busy_before, rows_after - rows_before

        errors = over["errors"]
        shed = errors.get("RESOURCE_EXHAUSTED", 0)
        other = {k: v for k, v in errors.items() if k != "RESOURCE_EXHAUSTED"}
        refused = [t for code, t in probes.values() if code == grpc.StatusCode.RESOURCE_EXHAUSTED]
        accepted_probes = [t for code, t in probes.values() if code == grpc.StatusCode.OK]
        probe_other = sorted(code.name for code, _ in probes.values()
                             if code not in (grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED))
        # What the queue allows: QUEUE waiting + one batch executing, at the
        # cost per row the model showed during this very run (the server's
        # own compute histogram). That cost is ~10-20 ms here, several times
        # more when other tests share the two cores, and ~10x more under ASan
        # (its allocator quarantine makes torch's large tensors fresh pages):
        # a nominal figure made the bound wrong by an order of magnitude.
        # An unbounded queue makes accepted calls wait most of OVERLOAD_SECS
        # (then time out); a bounded one about queue_bound. The limit: 3x it.
        self.assertGreater(rows, 0, "the model executed nothing")
        row_s = busy / rows
        queue_bound_s = (QUEUE + MAX_BATCH) * row_s
        p99_limit_s = max(0.5, 3 * queue_bound_s)
        figures = {
            "offered_rate": rate, "seconds": OVERLOAD_SECS, "sent": over["requests"],
            "accepted": over["successes"], "accepted_qps": round(over["successes"] / over["duration_s"]),
            "resource_exhausted": shed, "shed_percent": round(100 * shed / max(1, over["requests"]), 1),
            "other_errors": other,
            "accepted_p50_ms": round(over["latency_ms"]["p50"], 2),
            "accepted_p99_ms": round(over["latency_ms"]["p99"], 2),
            "accepted_max_ms": round(over["latency_ms"]["max"], 2),
            "model_row_ms": ms(row_s), "model_busy_percent": round(100 * busy / elapsed, 1),
            "queue_bound_ms": ms(queue_bound_s), "p99_limit_ms": ms(p99_limit_s),
            "client_send_lag_p99_ms": round(over.get("send_lag_ms", {}).get("p99", 0), 2),
            "client_cpu_cores": round(over.get("client_cpu_cores", 0), 2),
            "probe_calls": len(probes), "probe_other_errors": probe_other,
            "probe_accepted_p50_ms": ms(percentile(accepted_probes, 0.5)),
            "probe_accepted_p99_ms": ms(percentile(accepted_probes, 0.99)),
            "refusal_p50_ms": ms(percentile(refused, 0.5)), "refusal_p99_ms": ms(percentile(refused, 0.99)),
        }
        print("\noverload figures: " + json.dumps(figures), file=sys.stderr)

        self.assertEqual(other, {}, figures)  # nothing but refusals: no timeouts, no internal errors
        self.assertEqual(probe_other, [], figures)
        # The excess is refused: at >= 10x capacity about nine in ten; more
        # than half whatever the machine's load (a busier machine serves less).
        self.assertGreater(shed, 0.5 * over["requests"], figures)
        # Goodput does not collapse (refusals are cheap): the model is kept
        # executing for most of the run, and the accepted calls are what it
        # could execute (probes and warm-up took the rest of its rows).
        self.assertGreater(busy / elapsed, 0.5, figures)
        self.assertGreater(over["successes"], 0.25 * over["duration_s"] / row_s, figures)
        # The bounded queue bounds the wait of accepted calls (bench latency is
        # from each call's intended send time, so client lag counts against it).
        self.assertLess(over["latency_ms"]["p99"] / 1000, p99_limit_s, figures)
        # Refusals are immediate: no queueing before RESOURCE_EXHAUSTED.
        self.assertGreater(len(refused), 5, figures)
        self.assertLess(percentile(refused, 0.5), 0.1, figures)
        self.assertLess(percentile(refused, 0.99), 1.0, figures)
        # The probes (a Python thread beside the C++ load) check the same bound
        # by their median: their tail is the Python client's own scheduling on
        # a busy machine (probe p99 744 ms against the load generator's 372 ms
        # in one run at load average 8), which the load generator's p99 above,
        # lag included, already bounds precisely.
        if accepted_probes:
            self.assertLess(percentile(accepted_probes, 0.5), p99_limit_s, figures)
        # Health stays SERVING under overload (overload is not unhealthiness),
        # and the answers are still right.
        with grpc.insecure_channel(self.server.target) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            self.assertEqual(health.status, health_pb2.HealthCheckResponse.SERVING)
            self.assertEqual(list(recommender_pb2_grpc.RecommenderStub(channel).GetRecommendations(
                request(0), timeout=30).item_ids), SAMPLES[0]["top10"])


class ShutdownE2E(unittest.TestCase):
    CLIENTS = 8
    IN_FLIGHT = 200  # ~0.4 s of work for the costly model: SIGTERM lands mid-drain

    @classmethod
    def setUpClass(cls):
        cls.repo = costly_repository()  # default queue (1024): nothing refused for being full

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.repo, ignore_errors=True)

    def test_with_shutdown_delay_clients_that_watch_health_lose_nothing(self):
        total, failed, drained, served_after_not_serving = 0, [], 0, 0
        for _ in range(3):
            with Server("--shutdown-delay-secs=2", repo=self.repo) as server:
                channel = grpc.insecure_channel(server.target)
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                stub.GetRecommendations(request(0), timeout=30)
                statuses = []
                not_serving = threading.Event()
                outcomes = []
                lock = threading.Lock()

                def watch():
                    try:
                        for answer in health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(),
                                                                                timeout=60):
                            statuses.append(answer.status)
                            if answer.status != health_pb2.HealthCheckResponse.SERVING:
                                not_serving.set()
                                return
                    except grpc.RpcError as e:
                        statuses.append(e.code())
                        not_serving.set()

                def client(k):
                    i = k
                    while not not_serving.is_set():
                        try:
                            stub.GetRecommendations(request(i), timeout=30)
                            code = grpc.StatusCode.OK
                        except grpc.RpcError as e:
                            code = e.code()
                        with lock:
                            outcomes.append(code)
                        i += self.CLIENTS

                watcher = threading.Thread(target=watch, daemon=True)
                watcher.start()
                threads = [threading.Thread(target=client, args=(k,)) for k in range(self.CLIENTS)]
                for t in threads:
                    t.start()
                time.sleep(1.5)
                in_flight = [stub.GetRecommendations.future(request(i), timeout=30) for i in range(100)]
                server.proc.send_signal(signal.SIGTERM)
                self.assertTrue(not_serving.wait(30), "health never left SERVING")
                # Still serving during the delay: a call made after NOT_SERVING succeeds.
                self.assertEqual(list(stub.GetRecommendations(request(0), timeout=30).item_ids), SAMPLES[0]["top10"])
                served_after_not_serving += 1
                for t in threads:
                    t.join(60)
                in_flight_codes = [f.code() for f in in_flight]
                channel.close()
                self.assertEqual(server.proc.wait(60), 0)
            # The health service said NOT_SERVING (not merely a broken stream).
            self.assertEqual(statuses[-1], health_pb2.HealthCheckResponse.NOT_SERVING, statuses)
            total += len(outcomes)
            failed += [c for c in outcomes if c != grpc.StatusCode.OK]
            self.assertEqual(in_flight_codes, [grpc.StatusCode.OK] * len(in_flight_codes))
            drained += len(in_flight_codes)
        print(f"\nshutdown with delay: {total} calls over 3 shutdowns, {len(failed)} failed; "
              f"{drained} in flight at SIGTERM all completed; {served_after_not_serving} calls served after "
              "NOT_SERVING", file=sys.stderr)
        self.assertGreater(total, 100)
        self.assertEqual(failed, [])

    def test_without_delay_accepted_calls_drain_and_new_calls_are_refused(self):
        with Server(repo=self.repo) as server:
            channel = grpc.insecure_channel(server.target)
            stub = recommender_pb2_grpc.RecommenderStub(channel)
            stub.GetRecommendations(request(0), timeout=30)
            finished = {}  # index -> perf_counter at completion

            def track(i, future):
                future.add_done_callback(lambda _: finished.setdefault(i, time.perf_counter()))
                return future

            in_flight = [track(i, stub.GetRecommendations.future(request(i), timeout=60))
                         for i in range(self.IN_FLIGHT)]
            # Wait until the server holds every one of them: those answered
            # (counted first) plus those it reports in flight (counted after:
            # a call finishing in between is counted in neither, never twice).
            deadline = time.time() + 30
            while True:
                done = sum(f.done() for f in in_flight)
                held = grpc_inflight(server)
                if done + held >= self.IN_FLIGHT or time.time() > deadline:
                    break
                time.sleep(0.005)
            accepted_at_sigterm = self.IN_FLIGHT - done
            self.assertGreaterEqual(done + held, self.IN_FLIGHT, "the server never held all the calls")
            self.assertGreater(accepted_at_sigterm, 0, "all calls answered before SIGTERM: nothing to drain")
            sigterm = time.perf_counter()
            server.proc.send_signal(signal.SIGTERM)

            # New calls after SIGTERM, one every 10 ms on a fresh channel, until the server is gone.
            late = []  # (future, perf_counter at the call)
            with grpc.insecure_channel(server.target) as late_channel:
                late_stub = recommender_pb2_grpc.RecommenderStub(late_channel)
                while server.proc.poll() is None and time.perf_counter() - sigterm < 30:
                    late.append((late_stub.GetRecommendations.future(request(0), timeout=10), time.perf_counter()))
                    time.sleep(0.01)
                late = [(f.code(), t) for f, t in late]
            codes = [f.code() for f in in_flight]
            self.assertEqual(server.proc.wait(60), 0)
            channel.close()

        last_done = max(finished.values())
        # Refused: UNAVAILABLE (listener closed, GOAWAY), or CANCELLED for a
        # call that reached gRPC but no handler yet when shutdown began.
        refused = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        refused_during_drain = [t for code, t in late if code in refused and t < last_done]
        print(f"\nshutdown without delay: {accepted_at_sigterm} calls held by the server at SIGTERM, "
              f"{codes.count(grpc.StatusCode.OK)}/{len(codes)} completed OK, drain {ms(last_done - sigterm)} ms; "
              f"{len(late)} new calls after SIGTERM: {sum(c == grpc.StatusCode.OK for c, _ in late)} served, "
              f"{len(refused_during_drain)} refused while the drain ran "
              f"({sorted({c.name for c, _ in late if c in refused})})", file=sys.stderr)
        # 0 lost: every call the server had accepted completes.
        self.assertEqual(codes, [grpc.StatusCode.OK] * len(codes))
        # Stops accepting: new calls are refused, some while accepted work still drains.
        for code, _ in late:
            self.assertIn(code, (grpc.StatusCode.OK,) + refused, late)
        self.assertGreater(len(refused_during_drain), 0, late)


if __name__ == "__main__":
    unittest.main()
