"""Train the `recommender` demo model (TorchScript, platform pytorch_libtorch).

Synthetic latent-factor data -> hashed-user-embedding + feature-MLP model
scoring 1000 items. See README.md for the data description and the contract.

    /usr/bin/python3 models/recommender/train.py --repo build/model_repository --data build/data
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common  # noqa: E402  (first: sets thread env vars before numpy/torch load)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

N_USERS, N_ITEMS, N_CATS, K = 20_000, 1_000, 32, 16
NUM_BUCKETS, DIM, HIDDEN = 32_768, 64, 128
EPOCHS, BATCH, LR, EMB_LR, EMB_L2 = 12, 512, 3e-3, 2e-3, 1e-3
CATEGORIES = [
    "books", "music", "movies", "games", "laptops", "phones", "cameras", "headphones",
    "kitchen", "garden", "tools", "toys", "shoes", "jackets", "dresses", "watches",
    "jewelry", "beauty", "fitness", "camping", "cycling", "pet_supplies", "baby", "office",
    "furniture", "lighting", "bedding", "snacks", "coffee", "tea", "wine", "art_supplies"]
assert len(CATEGORIES) == N_CATS

CONFIG = """name: "recommender"
platform: "pytorch_libtorch"
max_batch_size: 64
input [
  { name: "user_hash" data_type: TYPE_INT64 dims: [ 1 ] },
  { name: "features" data_type: TYPE_FP32 dims: [ 32 ] }
]
output [
  { name: "scores" data_type: TYPE_FP32 dims: [ 1000 ] label_filename: "labels.txt" }
]
instance_group [ { count: 2 kind: KIND_CPU } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
parameters { key: "INTRA_OP_THREAD_COUNT" value { string_value: "1" } }
parameters { key: "OPTIMIZE_FOR_INFERENCE" value { string_value: "true" } }
"""

# The seed's Recommender contract, declared like any typed model's
# (docs/typed-apis.md). Its .proto is proto/recommender.proto, compiled into
# the server: with no typed.proto the mapping is read against the compiled
# descriptors and served by the generated Recommender service. Appended to
# the config by models/recommender_rollout/make_models.py too.
TYPED_PARAMETERS = """parameters { key: "typed.method" value { string_value: "Recommender/GetRecommendations" } }
parameters { key: "typed.stream_method" value { string_value: "Recommender/StreamRecommendations" } }
parameters { key: "typed.input.user_hash" value { string_value: "hash(user_id)" } }
parameters { key: "typed.input.features" value { string_value: "features" } }
parameters { key: "typed.output.scores" value { string_value:
  "top_k items label=item_ids score=scores k=top_k default_k=10 max_k=1000 exclude=exclude_item_ids" } }
parameters { key: "typed.model_name" value { string_value: "model_name" } }
parameters { key: "typed.model_version" value { string_value: "model_version" } }
parameters { key: "typed.reply.model_name" value { string_value: "model_name" } }
parameters { key: "typed.reply.model_version" value { string_value: "model_version" } }
parameters { key: "typed.reply.request_id" value { string_value: "request_id" } }
parameters { key: "typed.error_field" value { string_value: "error_message" } }
parameters { key: "typed.error_style" value { string_value: "prefix" } }
"""


def make_data(rng):
    """Latent-factor ground truth -> per-user interactions split 80/20."""
    item_cat = np.arange(N_ITEMS) * N_CATS // N_ITEMS              # 31-32 items per category
    centres = rng.normal(size=(N_CATS, K))
    V = centres[item_cat] + 0.7 * rng.normal(size=(N_ITEMS, K))
    bias = -0.8 * np.log1p(rng.permutation(N_ITEMS))                # Zipf-like popularity
    n_fav = rng.integers(1, 4, size=N_USERS)                        # 1-3 favourite categories
    U = 1.5 * rng.normal(size=(N_USERS, K))
    for u in range(N_USERS):
        cats = rng.choice(N_CATS, size=n_fav[u], replace=False)
        U[u] += rng.dirichlet(np.ones(n_fav[u])) @ centres[cats]
    logits = (U @ V.T / np.sqrt(K) + bias).astype(np.float32)      # affinity / temperature(=1)
    # Gumbel top-k == sampling n distinct items from softmax(logits) without replacement.
    gumbel = rng.gumbel(size=logits.shape).astype(np.float32)
    top = np.argpartition(-(logits + gumbel), 40, axis=1)[:, :40]
    n_inter = rng.integers(20, 41, size=N_USERS)
    hist = np.zeros((N_USERS, N_ITEMS), np.float32)
    held = np.zeros((N_USERS, N_ITEMS), bool)
    for u in range(N_USERS):
        items = rng.permutation(top[u])[: n_inter[u]]
        n_held = int(round(0.2 * n_inter[u]))
        held[u, items[:n_held]] = True
        hist[u, items[n_held:]] = 1.0
    counts = hist @ np.eye(N_CATS, dtype=np.float32)[item_cat]     # history clicks per category
    feats = counts / counts.sum(1, keepdims=True)                   # category click shares
    return item_cat, logits, hist, held, feats


class Recommender(nn.Module):
    """scores = log_softmax(items(mlp(features) + user_emb[hash % buckets]))."""

    def __init__(self):
        super().__init__()
        self.num_buckets = NUM_BUCKETS
        self.user_emb = nn.Embedding(NUM_BUCKETS, DIM)
        nn.init.zeros_(self.user_emb.weight)   # never-trained buckets contribute nothing
        self.mlp = nn.Sequential(nn.Linear(N_CATS, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, DIM))
        self.items = nn.Linear(DIM, N_ITEMS)   # item embeddings + item bias
        self.emb_dropout = 0.25                # train to cope without a known user id

    def forward(self, user_hash: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        bucket = torch.remainder(user_hash.reshape(-1), self.num_buckets)
        emb = self.user_emb(bucket)
        if self.training:
            keep = torch.rand(emb.shape[0], 1) >= self.emb_dropout
            emb = emb * keep.to(emb.dtype)
        return torch.log_softmax(self.items(self.mlp(features) + emb), dim=1)


def recall_at_10(scores, hist, held):
    """Mean over users of |top10 ∩ held-out| / |held-out|, history items masked."""
    s = torch.from_numpy(np.array(scores, dtype=np.float32))
    s[torch.as_tensor(hist) > 0] = -float("inf")
    top = torch.topk(s, 10, dim=1).indices.numpy()
    hits = np.take_along_axis(held, top, axis=1).sum(1)
    return float(np.mean(hits / held.sum(1)))


def main():
    args = common.parse_args(__doc__)
    timer = common.Timer()
    rng = common.seed_everything(1234)
    item_cat, true_logits, hist, held, feats = make_data(rng)
    user_ids = [f"user_{u:05d}" for u in range(N_USERS)]
    hashes = torch.tensor([common.user_hash(s) for s in user_ids], dtype=torch.int64)
    print(f"data: {N_USERS} users, {int(hist.sum())} history + {int(held.sum())} held-out "
          f"interactions ({timer():.1f}s)")

    X, H = torch.from_numpy(feats), torch.from_numpy(hist / hist.sum(1, keepdims=True))
    model = Recommender()
    emb = model.user_emb.weight
    opt = torch.optim.Adam([{"params": [p for p in model.parameters() if p is not emb]},
                            {"params": [emb], "lr": EMB_LR}], lr=LR)
    for epoch in range(EPOCHS):
        model.train()
        perm, total = torch.randperm(N_USERS), 0.0
        for i in range(0, N_USERS, BATCH):
            idx = perm[i:i + BATCH]
            loss = -(H[idx] * model(hashes[idx], X[idx])).sum(1).mean()
            loss = loss + EMB_L2 * emb[torch.remainder(hashes[idx], NUM_BUCKETS)].pow(2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}: train loss {total / N_USERS:.4f} ({timer():.1f}s)")
    train_time = timer()

    model.eval()
    with torch.no_grad():
        scores = model(hashes, X).numpy()
        guest = torch.tensor([common.user_hash(f"guest_{u:05d}") for u in range(N_USERS)])
        cold = model(guest, X).numpy()
    metrics = {
        "model": recall_at_10(scores, hist, held),
        "model, unseen user ids (guest_NNNNN)": recall_at_10(cold, hist, held),
        "popularity baseline": recall_at_10(np.broadcast_to(hist.sum(0), hist.shape), hist, held),
        "oracle (true affinities)": recall_at_10(true_logits, hist, held),
    }
    for k, v in metrics.items():
        print(f"recall@10 {k}: {v:.4f}")

    root, vdir = common.model_dir(args.repo, "recommender")
    labels = [f"{CATEGORIES[c]}-{np.sum(item_cat[:i] == c):03d}" for i, c in enumerate(item_cat)]
    common.write_labels(os.path.join(root, "labels.txt"), labels)
    common.write_text(os.path.join(root, "config.pbtxt"), CONFIG + TYPED_PARAMETERS)
    torch.jit.script(model).save(os.path.join(vdir, "model.pt"))

    # Reference outputs come from the reloaded TorchScript module (what the server runs).
    scripted = torch.jit.load(os.path.join(vdir, "model.pt"))
    users = np.sort(rng.choice(N_USERS, size=200, replace=False))
    with torch.no_grad():
        ref = scripted(hashes[users].reshape(-1, 1), X[users]).numpy()
    assert np.allclose(ref, scores[users], atol=1e-5)
    samples = []
    for row, u in enumerate(users):
        top10 = np.argsort(-ref[row], kind="stable")[:10]
        samples.append({"user_id": user_ids[u], "user_hash": int(hashes[u]),
                        "features": common.floats(feats[u]), "scores": common.floats(ref[row]),
                        "top10": [labels[i] for i in top10],
                        "heldout": [labels[i] for i in np.flatnonzero(held[u])]})
    common.write_samples(args.data, "recommender", samples)
    print(f"training wall time (incl. data generation): {train_time:.1f}s; total {timer():.1f}s")


if __name__ == "__main__":
    main()
