"""A client compiled from the seed's verbatim recommender.proto.

Runs in its own process (the seed's messages have no package, so they cannot
share a descriptor pool with the extended proto). Reads a JSON list of
{"user_id", "features"} from stdin, calls GetRecommendations for each and
prints a JSON list of {"item_ids", "scores"} or {"error": code}.
Usage: seed_client.py HOST:PORT < requests.json
"""
import json
import os
import sys
import tempfile

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import generate_stubs  # noqa: E402

out = tempfile.mkdtemp(prefix="seed-stubs-")
generate_stubs(os.path.join(os.path.dirname(__file__), "seed_proto"), ["recommender.proto"], out)
sys.path.insert(0, out)
import recommender_pb2  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

channel = grpc.insecure_channel(sys.argv[1])
stub = recommender_pb2_grpc.RecommenderStub(channel)
results = []
for item in json.load(sys.stdin):
    request = recommender_pb2.RecommendationRequest(user_id=item["user_id"], features=item["features"])
    try:
        response = stub.GetRecommendations(request, timeout=30)
        results.append({"item_ids": list(response.item_ids), "scores": list(response.scores)})
    except grpc.RpcError as e:
        results.append({"error": e.code().name, "message": e.details()})
print(json.dumps(results))
