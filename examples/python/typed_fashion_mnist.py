#!/usr/bin/python3
"""Calls fashion_mnist's typed API, FashionMnist.Classify(Image) -> Classification, with stubs
compiled from the model's own .proto (models/fashion_mnist/protoserve/fashion_mnist/v1/).

    /usr/bin/python3 examples/python/typed_fashion_mnist.py --target 127.0.0.1:8001 [--top-k 5]

Sends the first test image of build/data/fashion_mnist_samples.json (pixels already / 255) and
prints the top classes with their probabilities (softmax of the model's logits).
"""
import argparse
import json
import os
import sys

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from typed_stubs import ROOT, compile_model_proto  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="127.0.0.1:8001")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--samples", default=os.path.join(ROOT, "build", "data", "fashion_mnist_samples.json"))
    args = parser.parse_args()
    pb2, pb2_grpc = compile_model_proto("fashion_mnist", "protoserve/fashion_mnist/v1/fashion_mnist.proto")
    with open(args.samples) as f:
        sample = json.load(f)[0]
    with grpc.insecure_channel(args.target) as channel:
        stub = pb2_grpc.FashionMnistStub(channel)
        try:
            answer = stub.Classify(pb2.Image(pixels=sample["image"], top_k=args.top_k), timeout=10)
        except grpc.RpcError as e:
            print(f"{e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    for c in answer.classes:
        print(f"{c.label:12s} {c.probability:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
