#!/usr/bin/python3
"""Recommender throughput with the prediction log on vs off, side by side.

Two servers on the same repository, one without and one with
`--prediction-log` (SQLite, every Recommender answer sampled: the default
rate 1.0), measured in alternating rounds with the same client, so both see
the same machine. With --baseline-build, a third contender: another build's
server (e.g. main before the feedback loop existed), to show what the join
window and online metrics cost by themselves. Prints a Markdown table and the
median ratios.

    /usr/bin/python3 bench/prediction_log_ab.py [--build build] [--baseline-build DIR] [--rounds 4] [-d 5s] [-c 8]
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite_support import bench, protoserve  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def cpu_seconds(proc):
    """User + system CPU seconds the server process has used so far."""
    with open(f"/proc/{proc.p.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prediction_log_ab(build, repo, samples, rounds, duration, concurrency, baseline_build=None, prewarm=None):
    """[(round, {contender: run})]: the contenders in a rotating order, one round each in turn.

    `prewarm` (e.g. "20s"): load each server that long first, so that the join window is full (65,536
    predictions) and the rounds measure the steady state, where each answer also evicts the oldest one.
    """
    work = tempfile.mkdtemp(prefix="protoserve-bench-predlog-")
    servers = {"off": protoserve(build, repo), "on": protoserve(build, repo, f"--prediction-log={work}/log.sqlite")}
    if baseline_build:
        servers["baseline"] = protoserve(baseline_build, repo)
    try:
        out = []
        names = list(servers)
        for name in names if prewarm else ():
            bench(build, "--target", f"127.0.0.1:{servers[name].ports['grpc']}", "--mode", "grpc-recommend",
                  "--data", samples, "-c", str(concurrency), duration=prewarm)
        for i in range(rounds):
            runs = {}
            for name in names[i % len(names):] + names[:i % len(names)]:
                before = cpu_seconds(servers[name])
                runs[name] = bench(build, "--target", f"127.0.0.1:{servers[name].ports['grpc']}", "--mode",
                                   "grpc-recommend", "--data", samples, "-c", str(concurrency), duration=duration)[0]
                # Server CPU per answered request: less noisy than qps on a shared machine, where other
                # processes change the wall clock more than the work per request. The 1 s warm-up is
                # counted at the measured rate.
                r = runs[name]
                served = r["requests"] * (1 + 1 / r["duration_s"])
                r["cpu_us"] = (cpu_seconds(servers[name]) - before) * 1e6 / served
            out.append((i + 1, runs))
        return out
    finally:
        for server in servers.values():
            server.stop()


def table(rounds):
    """(Markdown table, median on/off qps ratio)."""
    baseline = "baseline" in rounds[0][1]
    head = ("| round | log off qps | log on qps | on / off | off p50 | on p50 | off p99 | on p99 | "
            "off CPU µs/req | on CPU µs/req |")
    if baseline:
        head += " baseline qps | off / baseline | baseline CPU µs/req |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for i, r in rounds:
        a, b = r["off"], r["on"]
        line = (f"| {i} | {a['qps']:,.0f} | {b['qps']:,.0f} | {b['qps'] / a['qps']:.3f} | "
                f"{a['latency_ms']['p50']:.3f} | {b['latency_ms']['p50']:.3f} | "
                f"{a['latency_ms']['p99']:.3f} | {b['latency_ms']['p99']:.3f} | {a['cpu_us']:.0f} | {b['cpu_us']:.0f} |")
        if baseline:
            line += (f" {r['baseline']['qps']:,.0f} | {a['qps'] / r['baseline']['qps']:.3f} | "
                     f"{r['baseline']['cpu_us']:.0f} |")
        lines.append(line)
    ratio = statistics.median(r["on"]["qps"] / r["off"]["qps"] for _, r in rounds)
    cpu = {name: statistics.median(r[name]["cpu_us"] for _, r in rounds) for name in rounds[0][1]}
    lines.append("")
    lines.append("Median server CPU per request: " +
                 ", ".join(f"{name} {us:.0f} µs" for name, us in cpu.items()) + ".")
    return "\n".join(lines), ratio


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--baseline-build", help="another build dir whose protoserve runs as a third contender")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("-d", "--duration", default="5s")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--prewarm", help="load each server this long before the rounds (e.g. 20s)")
    args = parser.parse_args()
    repo = os.path.join(args.build, "model_repository")
    samples = os.path.join(args.build, "data", "recommender_samples.json")
    rounds = prediction_log_ab(args.build, repo, samples, args.rounds, args.duration, args.concurrency,
                               args.baseline_build, args.prewarm)
    text, ratio = table(rounds)
    print(text)
    print(f"\nmedian on/off qps ratio: {ratio:.3f} (target >= 0.95)")
    if args.baseline_build:
        off = statistics.median(r["off"]["qps"] / r["baseline"]["qps"] for _, r in rounds)
        print(f"median off/baseline qps ratio: {off:.3f}")


if __name__ == "__main__":
    main()
