#!/usr/bin/python3
"""Benchmark fixture for the payload-size sweep of `make bench`: NOT a demo model.

Writes, into a throw-away model repository, `bench_payload`: a TorchScript
module that takes any number of FP32 values (input `values`, dims [-1],
max_batch_size 0) and returns their mean and maximum (output `summary`, [2]).
Its work is O(n) and a few microseconds even at 131 072 values, so what the
sweep measures is the request's trip (encoding, transport, decoding), not a
model. Beside it, one KServe v2 JSON request per size, whose values are the
first n values of the patient_record demo's first sample (the seed's "2 MB
patient record" at n = 131 072), so every size sends realistic numbers.

    /usr/bin/python3 bench/payload_fixture.py --repo DIR --requests DIR \\
        --record build/data/patient_record_samples.json --sizes 32,256,2048,16384,131072

Prints one line, the JSON {"model": ..., "requests": {n: path}}.
"""
import argparse
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

MODEL = "bench_payload"
CONFIG = f"""# Benchmark fixture (bench/payload_fixture.py), not a demo model.
name: "{MODEL}"
platform: "pytorch_libtorch"
max_batch_size: 0
input [ {{ name: "values" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "summary" data_type: TYPE_FP32 dims: [ 2 ] }} ]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters {{ key: "INTRA_OP_THREAD_COUNT" value {{ string_value: "1" }} }}
"""


class PayloadSummary(torch.nn.Module):
    """Any number of values in; their mean and maximum out."""

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return torch.stack([values.mean(), values.max()])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="model repository to write (created)")
    parser.add_argument("--requests", required=True, help="directory for the request files (created)")
    parser.add_argument("--record", required=True, help="patient_record samples JSON (build/data)")
    parser.add_argument("--sizes", default="32,256,2048,16384,131072")
    args = parser.parse_args()

    version_dir = os.path.join(args.repo, MODEL, "1")
    os.makedirs(version_dir, exist_ok=True)
    with open(os.path.join(args.repo, MODEL, "config.pbtxt"), "w") as f:
        f.write(CONFIG)
    torch.jit.script(PayloadSummary()).save(os.path.join(version_dir, "model.pt"))

    with open(args.record) as f:
        record = json.load(f)[0]["record"]
    os.makedirs(args.requests, exist_ok=True)
    requests = {}
    for n in (int(s) for s in args.sizes.split(",")):
        values = (record * (n // len(record) + 1))[:n]
        path = os.path.join(args.requests, f"values_{n}.json")
        with open(path, "w") as f:
            json.dump({"inputs": [{"name": "values", "datatype": "FP32", "shape": [n], "data": values}]}, f)
        requests[n] = path
    print(json.dumps({"model": MODEL, "requests": requests}))


if __name__ == "__main__":
    main()
