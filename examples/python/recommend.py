#!/usr/bin/python3
"""Call protoserve's Recommender from Python (Debian's python3-grpcio).

Generates the stubs from proto/recommender.proto on first use (into
examples/python/_generated/), then asks for recommendations:

    /usr/bin/python3 examples/python/recommend.py --target 127.0.0.1:8001 \
        --user-id user_00042 --top-k 5

Without --features it sends 32 uniform behaviour features (1/32 each).
With --bench N it makes N sequential calls and prints latency percentiles.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "proto")
GEN_DIR = os.path.join(HERE, "_generated")


def load_stubs():
    if not os.path.exists(os.path.join(GEN_DIR, "recommender_pb2_grpc.py")):
        os.makedirs(GEN_DIR, exist_ok=True)
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", PROTO_DIR, "--python_out", GEN_DIR,
                        "--grpc_python_out", GEN_DIR, "recommender.proto"], check=True)
    sys.path.insert(0, GEN_DIR)
    import recommender_pb2
    import recommender_pb2_grpc
    return recommender_pb2, recommender_pb2_grpc


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="127.0.0.1:8001")
    parser.add_argument("--user-id", default="user_00042")
    parser.add_argument("--features", help="comma-separated floats (default: 32 x 1/32)")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--bench", type=int, default=0, help="make N sequential calls and report latency")
    args = parser.parse_args()

    import grpc
    pb, pb_grpc = load_stubs()
    features = [float(x) for x in args.features.split(",")] if args.features else [1 / 32] * 32
    request = pb.RecommendationRequest(user_id=args.user_id, features=features, top_k=args.top_k)
    with grpc.insecure_channel(args.target) as channel:
        stub = pb_grpc.RecommenderStub(channel)
        try:
            response = stub.GetRecommendations(request, timeout=10)
        except grpc.RpcError as e:
            print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
        print(f"model {response.model_name} v{response.model_version} for {args.user_id}:")
        for item, score in zip(response.item_ids, response.scores):
            print(f"  {item:24s} {score:8.4f}")
        if args.bench:
            latencies = []
            for _ in range(args.bench):
                start = time.perf_counter()
                stub.GetRecommendations(request, timeout=10)
                latencies.append((time.perf_counter() - start) * 1000)
            latencies.sort()
            pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]  # noqa: E731
            print(f"{args.bench} sequential calls: p50 {pct(50):.3f} ms, p90 {pct(90):.3f} ms, "
                  f"p99 {pct(99):.3f} ms, max {latencies[-1]:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
