#!/usr/bin/python3
"""Tracing's cost on the recommender: throughput with tracing off, on at ratio 0.01 and on at 1.0.

Four servers run side by side on the demo repository, identical but for their OpenTelemetry settings (two with tracing off: an A/A control),
exporting over OTLP/HTTP to one local receiver that reads and discards the bodies
(tests/e2e/otlp_receiver.py). `protoserve-cli bench` loads them in turn, for alternating rounds, so the
four share the machine's mood; the ratios to "off" are what to read. A section of `make bench`
(bench/run_suite.py); alone, it prints its markdown:

    /usr/bin/python3 bench/tracing_bench.py [--build build] [--rounds 5] [--duration 5s]
"""
import argparse
import datetime
import os
import random
import re
import shutil
import statistics
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from suite_support import Report, command_text, costed_bench, errors_in, protoserve, snapshot_binaries  # noqa: E402
from otlp_receiver import OtlpReceiver  # noqa: E402

MODES = (("grpc-recommend", 8), ("rest-recommend", 8))
# (label, OpenTelemetry environment; None: tracing off)
# "off, again" is a second server with tracing off: its ratio to "off" is this machine's noise floor (an
# A/A test), against which the other two are read.
SETTINGS = (("off", None), ("off, again (A/A)", None), ("on, ratio 0.01", "0.01"), ("on, ratio 1.0", "1.0"))


def otel_env(endpoint, ratio):
    if ratio is None:
        return {"OTEL_TRACES_EXPORTER": "none"}
    return {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": ratio}


def trace_counters(http_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {name: float(value) for name, value in
            re.findall(r"^protoserve_trace_spans_(\w+)_total (\S+)$", text, re.M)}


def tracing_overhead(build, repo, data, duration, rounds, rep, procs):
    samples = os.path.join(data, "recommender_samples.json")
    receiver = OtlpReceiver(discard=True).__enter__()
    try:
        servers = {}
        for label, ratio in SETTINGS:
            servers[label] = protoserve(build, repo, env=otel_env(receiver.endpoint, ratio))
            procs.append(servers[label])
        qps = {(mode, label): [] for mode, _ in MODES for label, _ in SETTINGS}
        cpu = {(mode, label): [] for mode, _ in MODES for label, _ in SETTINGS}
        errors = 0
        for r in range(rounds):
            for mode, c in MODES:
                # A new order every round (seeded: reproducible), so that no setting always runs first or
                # right after the same other one (rotating a fixed order keeps each one's predecessor).
                order = list(SETTINGS)
                random.Random(r).shuffle(order)
                for label, _ in order:
                    server = servers[label]
                    target = (["--target", f"127.0.0.1:{server.ports['grpc']}"] if mode.startswith("grpc") else
                              ["--http-target", f"127.0.0.1:{server.ports['http']}"])
                    run = costed_bench(build, server.p.pid, *target, "--mode", mode, "--data", samples, "-c", str(c),
                                       duration=duration)
                    qps[mode, label].append(run["qps"])
                    cpu[mode, label].append(run["server_cpu_us"])
                    errors += errors_in(run)
        counters = {label: trace_counters(servers[label].ports["http"]) for label, ratio in SETTINGS if ratio}
    finally:
        receiver.__exit__(None, None, None)

    rep.add("## Tracing: the recommender with OpenTelemetry tracing off, at ratio 0.01 and at 1.0\n")
    rep.add(f"""Four servers on the demo repository, identical but for their tracing settings (two with tracing
off: the second, "off, again", is an A/A control whose ratio to "off" shows how far two identical servers
differ on this machine) (`OTEL_TRACES_EXPORTER=otlp`, `OTEL_TRACES_SAMPLER=traceidratio`, `OTEL_TRACES_SAMPLER_ARG=0.01|1.0`, the
batch span processor's defaults), export over OTLP/HTTP to one local receiver that reads and discards
the bodies; {rounds} alternating rounds of {duration} per server and path (in a new seeded order every round). With tracing on, every request
is recorded (a few timestamps: failed requests are exported whatever the sampler says) and the sampled
ones are exported as 4 spans (request, queue, execute, encode). Targets (issue 20): >= 0.97x at 0.01,
>= 0.85x at 1.0.""")
    rep.add("Each round's throughput moves with whatever else the shared machine runs, so \"vs off\" is paired: "
            "each round's figure divided by off's in the same round, then the median over the rounds; beside it the server's CPU per request (`/proc/<pid>/stat` over the same "
            "window), the steadier measure of what tracing costs: throughput on a CPU-bound server is inversely "
            "proportional to it.\n")
    rows = []
    for mode, c in MODES:
        for label, _ in SETTINGS:
            runs = qps[mode, label]
            # Paired: each round's figure against off's in the same round (the machine's mood of that round
            # cancels), then the median over the rounds.
            vs_off = statistics.median(q / off for q, off in zip(runs, qps[mode, "off"]))
            cpu_vs_off = statistics.median(off / x for x, off in zip(cpu[mode, label], cpu[mode, "off"]))
            rows.append([mode, c, label, ", ".join(f"{q:,.0f}" for q in runs), f"{statistics.median(runs):,.0f}",
                         f"{vs_off:.2f}", f"{statistics.median(cpu[mode, label]):.1f}", f"{cpu_vs_off:.2f}"])
    rep.table(["mode", "concurrency", "tracing", "req/s per round", "median req/s", "throughput vs off",
               "server CPU us/req (median)", "off's CPU / this CPU"], rows,
              "Command: `/usr/bin/python3 bench/tracing_bench.py` (a section of `make bench`), which runs "
              f"`{command_text('--mode grpc-recommend|rest-recommend --data recommender_samples.json -c 8', duration=duration)}` "
              f"against each server in turn; {errors} errors")
    lines = [f"{label}: {int(v.get('exported', 0)):,} spans exported, {int(v.get('dropped', 0)):,} dropped "
             f"(queue full), {int(v.get('failed', 0)):,} in failed exports" for label, v in counters.items()]
    rep.add("Export counters after the runs (`protoserve_trace_spans_*_total` on /metrics): " + "; ".join(lines) +
            ".")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", default="5s")
    args = parser.parse_args()
    build = snapshot_binaries(args.build)
    rep = Report(f"on {datetime.date.today().isoformat()}, {os.cpu_count()} cores")
    procs = []
    try:
        tracing_overhead(build, os.path.join(args.build, "model_repository"), os.path.join(args.build, "data"),
                         args.duration, args.rounds, rep, procs)
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(build, ignore_errors=True)
    print("".join(rep.parts))


if __name__ == "__main__":
    main()
