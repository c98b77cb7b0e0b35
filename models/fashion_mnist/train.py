"""Train the `fashion_mnist` demo model (TorchScript, platform pytorch_libtorch).

Small CNN on Debian's dataset-fashion-mnist; pixels scaled to [0, 1].

    /usr/bin/python3 models/fashion_mnist/train.py --repo build/model_repository --data build/data
"""
import gzip
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common  # noqa: E402  (first: sets thread env vars before numpy/torch load)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
EPOCHS, BATCH, LR = 4, 128, 2e-3
N_SAMPLES = 64

CONFIG = """name: "fashion_mnist"
platform: "pytorch_libtorch"
max_batch_size: 128
input [ { name: "image" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]
output [ { name: "logits" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "labels.txt" } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
dynamic_batching {
  preferred_batch_size: [ 32, 64 ]
  max_queue_delay_microseconds: 2000
}
parameters { key: "INTRA_OP_THREAD_COUNT" value { string_value: "2" } }
# The typed API (docs/typed-apis.md): Classify(Image) returns (Classification).
parameters { key: "typed.proto" value { string_value: "protoserve/fashion_mnist/v1/fashion_mnist.proto" } }
parameters { key: "typed.method" value { string_value: "protoserve.fashion_mnist.v1.FashionMnist/Classify" } }
parameters { key: "typed.input.image" value { string_value: "pixels" } }
# logits are raw scores: their softmax gives the probabilities.
parameters { key: "typed.output.logits" value { string_value:
  "top_k k=top_k default_k=3 max_k=10 softmax label=classes.label score=classes.probability" } }
"""
# The model's typed contract, copied beside config.pbtxt (same path below the model folder).
PROTO = "protoserve/fashion_mnist/v1/fashion_mnist.proto"


def load_idx(split):
    """-> images float32 [N,1,28,28] in [0,1], labels int64 [N]."""
    with gzip.open(f"{DATA_DIR}/{split}-images-idx3-ubyte.gz") as f:
        raw = f.read()
    assert int.from_bytes(raw[:4], "big") == 2051
    n = int.from_bytes(raw[4:8], "big")
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, 28, 28)
    with gzip.open(f"{DATA_DIR}/{split}-labels-idx1-ubyte.gz") as f:
        raw = f.read()
    assert int.from_bytes(raw[:4], "big") == 2049
    labels = np.frombuffer(raw, np.uint8, offset=8)
    assert len(labels) == n
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


def make_model():
    """forward(image: float32 [B,1,28,28]) -> logits float32 [B,10]."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 16x14x14
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 32x7x7
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((pred == y).float().mean())


def main():
    args = common.parse_args(__doc__)
    timer = common.Timer()
    common.seed_everything(20240601)
    x_train, y_train = load_idx("train")
    x_test, y_test = load_idx("t10k")
    print(f"data: {len(x_train)} train / {len(x_test)} test images ({timer():.1f}s)")

    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=LR, total_steps=EPOCHS * ((len(x_train) + BATCH - 1) // BATCH))
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(EPOCHS):
        model.train()
        perm, total = torch.randperm(len(x_train)), 0.0
        for i in range(0, len(x_train), BATCH):
            idx = perm[i:i + BATCH]
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}: train loss {total / len(x_train):.4f} ({timer():.1f}s)")
    train_time = timer()
    acc = accuracy(model, x_test, y_test)
    print(f"test accuracy: {acc:.4f}")

    root, vdir = common.model_dir(args.repo, "fashion_mnist")
    common.write_labels(os.path.join(root, "labels.txt"), CLASSES)
    common.write_text(os.path.join(root, "config.pbtxt"), CONFIG)
    os.makedirs(os.path.dirname(os.path.join(root, PROTO)), exist_ok=True)
    shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), PROTO), os.path.join(root, PROTO))
    model.eval()
    torch.jit.script(model).save(os.path.join(vdir, "model.pt"))

    # Reference outputs from the reloaded TorchScript module, first 64 test images, one batch.
    scripted = torch.jit.load(os.path.join(vdir, "model.pt"))
    with torch.no_grad():
        logits = scripted(x_test[:N_SAMPLES]).numpy()
    samples = [{"image": common.floats(x_test[i]), "label": int(y_test[i]),
                "logits": common.floats(logits[i])} for i in range(N_SAMPLES)]
    common.write_samples(args.data, "fashion_mnist", samples)
    print(f"training wall time: {train_time:.1f}s; total {timer():.1f}s")


if __name__ == "__main__":
    main()
