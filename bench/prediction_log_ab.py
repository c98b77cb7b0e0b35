#!/usr/bin/python3
"""Recommender throughput with the prediction log on vs off, side by side.

Two servers on the same repository, one without and one with
`--prediction-log` (SQLite, every Recommender answer sampled: the default
rate 1.0), measured in alternating rounds with the same client, so both see
the same machine. Prints a Markdown table and the median on/off ratio.

    /usr/bin/python3 bench/prediction_log_ab.py [--build build] [--rounds 4] [-d 5s] [-c 8]
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite_support import bench, protoserve  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def prediction_log_ab(build, repo, samples, rounds, duration, concurrency):
    """[(round, off run, on run)]: alternating rounds, off first in odd rounds, on first in even ones."""
    work = tempfile.mkdtemp(prefix="protoserve-bench-predlog-")
    off = protoserve(build, repo)
    on = protoserve(build, repo, f"--prediction-log={os.path.join(work, 'log.sqlite')}")
    try:
        out = []
        for i in range(rounds):
            runs = {}
            order = (("off", off), ("on", on)) if i % 2 == 0 else (("on", on), ("off", off))
            for name, server in order:
                runs[name] = bench(build, "--target", f"127.0.0.1:{server.ports['grpc']}", "--mode",
                                   "grpc-recommend", "--data", samples, "-c", str(concurrency), duration=duration)[0]
            out.append((i + 1, runs["off"], runs["on"]))
        return out
    finally:
        off.stop()
        on.stop()


def table(rounds):
    lines = ["| round | log off qps | log on qps | on / off | off p50 | on p50 | off p99 | on p99 |",
             "|---|---|---|---|---|---|---|---|"]
    for i, a, b in rounds:
        lines.append(f"| {i} | {a['qps']:,.0f} | {b['qps']:,.0f} | {b['qps'] / a['qps']:.3f} | "
                     f"{a['latency_ms']['p50']:.3f} | {b['latency_ms']['p50']:.3f} | "
                     f"{a['latency_ms']['p99']:.3f} | {b['latency_ms']['p99']:.3f} |")
    ratio = statistics.median(b["qps"] / a["qps"] for _, a, b in rounds)
    return "\n".join(lines), ratio


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("-d", "--duration", default="5s")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    args = parser.parse_args()
    repo = os.path.join(args.build, "model_repository")
    samples = os.path.join(args.build, "data", "recommender_samples.json")
    text, ratio = table(prediction_log_ab(args.build, repo, samples, args.rounds, args.duration, args.concurrency))
    print(text)
    print(f"\nmedian on/off qps ratio: {ratio:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
