"""What the seed article's reader would write: load the TorchScript recommender
from protoserve's model repository and answer one request at a time.

Shared by the two Python baselines (gRPC and REST) so they run the same model
the same way; only the transport differs.
"""
import os
import threading

import torch

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def user_hash(user_id: str) -> int:
    h = FNV_OFFSET
    for byte in user_id.encode("utf-8"):
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


class RecommenderModel:
    def __init__(self, repo, threads=1):
        torch.set_num_threads(threads)
        model_dir = os.path.join(repo, "recommender")
        self.module = torch.jit.load(os.path.join(model_dir, "1", "model.pt"))
        self.module.eval()
        with open(os.path.join(model_dir, "labels.txt")) as f:
            self.labels = f.read().splitlines()
        self.lock = threading.Lock()

    def recommend(self, user_id, features, top_k=10):
        if not user_id or len(features) != 32:
            raise ValueError("user_id must be non-empty and features must have 32 values")
        top_k = top_k or 10
        with torch.inference_mode():
            scores = self.module(torch.tensor([[user_hash(user_id)]], dtype=torch.int64),
                                 torch.tensor([features], dtype=torch.float32))[0]
            values, indices = torch.topk(scores, top_k)
        return [self.labels[i] for i in indices.tolist()], values.tolist()
