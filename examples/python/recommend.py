#!/usr/bin/python3
"""Call protoserve's Recommender from Python (Debian's python3-grpcio).

Uses the protoserve_client package beside it (or the installed wheel; stubs
generated from proto/ on first use), then asks for recommendations:

    /usr/bin/python3 examples/python/recommend.py --target 127.0.0.1:8001 \
        --user-id user_00042 --top-k 5

Without --features it sends 32 uniform behaviour features (1/32 each).
With --bench N it makes N sequential calls and prints latency percentiles.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protoserve_client import ProtoserveClient, ProtoserveError  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="127.0.0.1:8001")
    parser.add_argument("--user-id", default="user_00042")
    parser.add_argument("--features", help="comma-separated floats (default: 32 x 1/32)")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--bench", type=int, default=0, help="make N sequential calls and report latency")
    args = parser.parse_args()

    features = [float(x) for x in args.features.split(",")] if args.features else [1 / 32] * 32
    with ProtoserveClient(args.target, timeout=10) as client:
        try:
            rec = client.recommend(args.user_id, features, top_k=args.top_k)
        except ProtoserveError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"model {rec.model_name} v{rec.model_version} for {args.user_id}:")
        for item, score in zip(rec.item_ids, rec.scores):
            print(f"  {item:24s} {score:8.4f}")
        if args.bench:
            latencies = []
            for _ in range(args.bench):
                start = time.perf_counter()
                client.recommend(args.user_id, features, top_k=args.top_k)
                latencies.append((time.perf_counter() - start) * 1000)
            latencies.sort()
            pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]  # noqa: E731
            print(f"{args.bench} sequential calls: p50 {pct(50):.3f} ms, p90 {pct(90):.3f} ms, "
                  f"p99 {pct(99):.3f} ms, max {latencies[-1]:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
