#!/usr/bin/python3
"""Baseline: a plain Python grpcio server for the seed's Recommender, as the
seed's reader would write it (grpc.server + ThreadPoolExecutor + torch).

    /usr/bin/python3 bench/baselines/grpc_server.py --repo build/model_repository --port 0

Prints "gRPC listening on 127.0.0.1:PORT" once ready.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from concurrent import futures

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from common import RecommenderModel  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", default=os.path.join(ROOT, "build", "model_repository"))
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    out = tempfile.mkdtemp(prefix="baseline-stubs-")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "proto"), "--python_out",
                    out, "--grpc_python_out", out, "recommender.proto"], check=True)
    sys.path.insert(0, out)
    import recommender_pb2
    import recommender_pb2_grpc

    model = RecommenderModel(args.repo)

    class Recommender(recommender_pb2_grpc.RecommenderServicer):
        def GetRecommendations(self, request, context):
            try:
                items, scores = model.recommend(request.user_id, list(request.features), request.top_k)
            except ValueError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            return recommender_pb2.RecommendationResponse(item_ids=items, scores=scores)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    recommender_pb2_grpc.add_RecommenderServicer_to_server(Recommender(), server)
    port = server.add_insecure_port(f"{args.address}:{args.port}")
    server.start()
    print(f"gRPC listening on {args.address}:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
