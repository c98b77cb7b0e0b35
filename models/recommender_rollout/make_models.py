"""Make the `recommender_rollout` demo model: three versions of a recommender
for the progressive-rollout demo (docs/rollout.md), in a repository of its
own so the default demo repository (and every test and benchmark using it)
is untouched.

    /usr/bin/python3 models/recommender_rollout/make_models.py \
        --repo build/rollout_repository --data build/data

Same data generator as models/recommender (latent factors, history/held-out
split, category-share features), fewer users; no gradient training, so it
takes seconds. Same inputs and output as `recommender` (user_hash, 32
features -> 1000 item scores), so the Recommender API serves it unchanged:
  version 1, baseline:  item popularity (from the users' history clicks);
  version 2, better:    popularity + the user's category shares (features);
  version 3, worse:     popularity with shuffled item labels (the counts of
                        another item: a broken join in a training pipeline).
Writes <repo>/recommender_rollout/{config.pbtxt,labels.txt,1..3/model.pt} and
<data>/recommender_rollout_users.json (user id, features, held-out items: what
the simulator plays) and prints each version's offline hit rate@10.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "recommender"))
import common  # noqa: E402  (first: sets thread env vars before numpy/torch load)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import train as base  # noqa: E402  (models/recommender/train.py: its data generator)

N_USERS = 4000
TOP_K = 10
NAME = "recommender_rollout"
CONFIG = """name: "recommender_rollout"
platform: "pytorch_libtorch"
max_batch_size: 64
input [
  { name: "user_hash" data_type: TYPE_INT64 dims: [ 1 ] },
  { name: "features" data_type: TYPE_FP32 dims: [ 32 ] }
]
output [
  { name: "scores" data_type: TYPE_FP32 dims: [ 1000 ] label_filename: "labels.txt" }
]
version_policy { all { } }
instance_group [ { count: 1 kind: KIND_CPU } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
parameters { key: "INTRA_OP_THREAD_COUNT" value { string_value: "1" } }
"""


class Scorer(nn.Module):
    """scores = item_bias + weight * log(category share of the item's category + eps)."""

    def __init__(self, item_bias, item_cat, weight):
        super().__init__()
        self.register_buffer("item_bias", torch.tensor(item_bias, dtype=torch.float32))
        onehot = np.eye(base.N_CATS, dtype=np.float32)[item_cat].T  # [cats, items]
        self.register_buffer("onehot", torch.from_numpy(np.ascontiguousarray(onehot)))
        self.weight = weight

    def forward(self, user_hash: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        affinity = torch.log(features + 1e-3) @ self.onehot
        return self.item_bias.unsqueeze(0) + self.weight * affinity + 0.0 * user_hash.to(torch.float32)


def hit_rate(model, feats, held, labels_idx=None):
    with torch.no_grad():
        scores = model(torch.zeros(len(feats), 1, dtype=torch.int64), torch.from_numpy(feats)).numpy()
    top = np.argsort(-scores, axis=1, kind="stable")[:, :TOP_K]
    return float(np.mean(np.take_along_axis(held, top, axis=1).any(axis=1)))


def main():
    args = common.parse_args(__doc__)
    timer = common.Timer()
    rng = common.seed_everything(4321)
    base.N_USERS = N_USERS  # make_data reads the module's constant
    item_cat, _, hist, held, feats = base.make_data(rng)
    popularity = np.log1p(hist.sum(0)).astype(np.float32)
    shuffled = rng.permutation(popularity)
    versions = {
        1: ("baseline: popularity", Scorer(popularity, item_cat, 0.0)),
        2: ("better: popularity + category shares", Scorer(popularity, item_cat, 1.0)),
        3: ("worse: popularity of shuffled item labels", Scorer(shuffled, item_cat, 0.0)),
    }
    root = os.path.join(args.repo, NAME)
    labels = [f"{base.CATEGORIES[c]}-{np.sum(item_cat[:i] == c):03d}" for i, c in enumerate(item_cat)]
    common.write_labels(os.path.join(root, "labels.txt"), labels)
    common.write_text(os.path.join(root, "config.pbtxt"), CONFIG + base.TYPED_PARAMETERS)
    for version, (what, model) in versions.items():
        model.eval()
        _, vdir = common.model_dir(args.repo, NAME, version)
        torch.jit.script(model).save(os.path.join(vdir, "model.pt"))
        print(f"version {version} ({what}): offline hit rate@{TOP_K} {hit_rate(model, feats, held):.3f}")
    users = [{"user_id": f"rollout_user_{u:05d}", "features": common.floats(feats[u]),
              "heldout": [labels[i] for i in np.flatnonzero(held[u])]} for u in range(N_USERS)]
    os.makedirs(args.data, exist_ok=True)
    path = os.path.join(args.data, f"{NAME}_users.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(users, f, separators=(",", ":"))
    print(f"wrote {len(users)} users to {path} ({timer():.1f}s)")


if __name__ == "__main__":
    main()
