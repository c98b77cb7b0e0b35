"""Shared helpers for the protoserve demo-model training scripts.

Run the scripts with Debian's interpreter (/usr/bin/python3), which has
torch, xgboost, numpy and scikit-learn, e.g.

    /usr/bin/python3 models/recommender/train.py --repo build/model_repository --data build/data
"""
import argparse
import json
import os
import random
import time

# Threading defaults; they only take effect if this module is imported BEFORE
# numpy/torch (the train scripts do that). Measured on the 2-core box:
# - OMP_WAIT_POLICY=PASSIVE: with libgomp's default spin-waiting, two torch
#   processes with 2 threads each on 2 cores ran a Fashion-MNIST epoch in ~130 s
#   instead of ~15 s; passive waiting costs nothing measurable when run alone.
# - OPENBLAS_NUM_THREADS=1: torch's OpenMP pool already parallelises; a second
#   (pthread) OpenBLAS pool only oversubscribes the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

FNV64_OFFSET_BASIS = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
MASK63 = (1 << 63) - 1


def user_hash(user_id: str) -> int:
    """Public contract: map a user id string to the recommender's int64 input.

    FNV-1a 64 over the UTF-8 bytes of ``user_id`` (offset basis
    0xcbf29ce484222325, prime 0x100000001b3, arithmetic mod 2**64), then
    ``& 0x7FFFFFFFFFFFFFFF`` so the value is a non-negative int64.

    >>> user_hash("")
    5472609002491880229
    >>> user_hash("user_00042")
    4915307962085163531
    """
    h = FNV64_OFFSET_BASIS
    for byte in user_id.encode("utf-8"):
        h ^= byte
        h = (h * FNV64_PRIME) & MASK64
    return h & MASK63


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--repo", default="build/model_repository", help="model repository root")
    p.add_argument("--data", default="build/data", help="directory for *_samples.json")
    return p.parse_args()


def seed_everything(seed, threads=2):
    """Fixed seeds everywhere; returns a numpy Generator."""
    import numpy as np
    random.seed(seed)
    try:
        import torch
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
    except ImportError:
        pass
    return np.random.default_rng(seed)


def model_dir(repo, name, version=1):
    """Create <repo>/<name>/<version>/ and return (model_root, version_dir)."""
    root = os.path.join(repo, name)
    vdir = os.path.join(root, str(version))
    os.makedirs(vdir, exist_ok=True)
    return root, vdir


def write_text(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_labels(path, labels):
    assert len(set(labels)) == len(labels), "labels must be unique"
    write_text(path, "".join(label + "\n" for label in labels))


def floats(values):
    """float32 array -> list of Python floats. Every float32 is exactly a
    double, and json writes the shortest round-trip repr, so a reader that
    parses the number and casts to float32 gets the identical bits."""
    import numpy as np
    return [float(v) for v in np.asarray(values, dtype=np.float32).reshape(-1)]


def write_samples(data_dir, model_name, samples):
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, f"{model_name}_samples.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(samples, f, separators=(",", ":"))
    print(f"wrote {len(samples)} samples to {path}")
    return path


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self):
        return time.perf_counter() - self.t0
