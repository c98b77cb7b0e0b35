"""Train the `patient_record` demo model: the seed's "2 MB patient record" scenario.

A record is a long monitoring trace: 131 072 FP32 samples (e.g. 2 hours of a
vital sign at ~18 Hz). As JSON that is about 2 MB of text; as protobuf raw
contents 512 KiB. The task (synthetic, principled): flag records whose trace
contains episodes of a slow oscillation (a deterioration pattern) buried in
noise and baseline drift.

The TorchScript model averages the trace in 128-sample windows (1 024
values), then a small MLP outputs P(normal), P(at risk). Because that pooling
is fixed and linear, training runs on pooled traces directly (fast, small
memory); the exported module takes the full record.

    /usr/bin/python3 models/patient_record/train.py --repo build/model_repository --data build/data
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common  # noqa: E402  (first: sets thread env vars before numpy/torch load)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

SEED = 7
LENGTH, WINDOW = 131_072, 128
POOLED = LENGTH // WINDOW
N_TRAIN, N_TEST = 4000, 1000

CONFIG = f"""name: "patient_record"
platform: "pytorch_libtorch"
max_batch_size: 8
input [ {{ name: "record" data_type: TYPE_FP32 dims: [ {LENGTH} ] }} ]
output [ {{ name: "probability" data_type: TYPE_FP32 dims: [ 2 ] label_filename: "labels.txt" }} ]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
dynamic_batching {{ max_queue_delay_microseconds: 1000 }}
parameters {{ key: "INTRA_OP_THREAD_COUNT" value {{ string_value: "1" }} }}
"""


class RecordClassifier(nn.Module):
    """Window means -> detrend -> 1-D conv filters -> max over time -> logits."""

    def __init__(self):
        super().__init__()
        self.window = WINDOW
        self.conv = nn.Conv1d(1, 8, kernel_size=33, padding=16)
        self.head = nn.Linear(16, 2)

    def pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        x = pooled - torch.nn.functional.avg_pool1d(pooled.unsqueeze(1), 65, 1, 32, count_include_pad=False).squeeze(1)
        h = torch.relu(self.conv(x.unsqueeze(1)))
        features = torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1)
        return torch.softmax(self.head(features), dim=1)

    def forward(self, record: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.avg_pool1d(record.unsqueeze(1), self.window).squeeze(1)
        return self.pooled(pooled)


def pooled_traces(rng, n):
    """Pooled (window-mean) traces and labels; at-risk ones carry oscillation episodes."""
    t = np.arange(POOLED, dtype=np.float32)
    label = rng.integers(0, 2, n)
    drift = rng.normal(0, 1, (n, 1)) * (t / POOLED) + rng.normal(0, 0.5, (n, 1))
    noise = rng.normal(0, 0.6, (n, POOLED))
    x = drift + noise
    for i in np.nonzero(label)[0]:
        for _ in range(rng.integers(1, 4)):
            start = rng.integers(0, POOLED - 128)
            period = rng.uniform(12, 24)
            x[i, start:start + 128] += 0.9 * np.sin(2 * np.pi * np.arange(128) / period)
    return x.astype(np.float32), label


def main():
    args = common.parse_args(__doc__)
    timer = common.Timer()
    rng = common.seed_everything(SEED)
    x_tr, y_tr = pooled_traces(rng, N_TRAIN)
    x_te, y_te = pooled_traces(rng, N_TEST)
    model = RecordClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    for epoch in range(15):
        perm = torch.randperm(N_TRAIN)
        for b in range(0, N_TRAIN, 128):
            idx = perm[b:b + 128]
            loss = nn.functional.nll_loss(torch.log(model.pooled(xt[idx]) + 1e-9), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model.pooled(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean())
    print(f"held-out accuracy: {accuracy:.4f} ({N_TEST} synthetic records)")

    root, vdir = common.model_dir(args.repo, "patient_record")
    common.write_text(os.path.join(root, "config.pbtxt"), CONFIG)
    common.write_labels(os.path.join(root, "labels.txt"), ["normal", "at_risk"])
    scripted = torch.jit.script(model)
    path = os.path.join(vdir, "model.pt")
    scripted.save(path)

    # Two full-length samples (each window repeats its pooled value plus
    # zero-mean jitter), with the exported module's own outputs.
    reloaded = torch.jit.load(path)
    samples = []
    for i in range(2):
        jitter = rng.normal(0, 0.05, (POOLED, WINDOW)).astype(np.float32)
        jitter -= jitter.mean(axis=1, keepdims=True)
        record = (np.repeat(x_te[i], WINDOW).reshape(POOLED, WINDOW) + jitter).reshape(-1).astype(np.float32)
        with torch.no_grad():
            prob = reloaded(torch.from_numpy(record).unsqueeze(0))[0].numpy()
        samples.append({"record": common.floats(record), "label": int(y_te[i]), "probability": common.floats(prob)})
    common.write_samples(args.data, "patient_record", samples)
    print(f"training wall time: {timer():.2f}s")


if __name__ == "__main__":
    main()
