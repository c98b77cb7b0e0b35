#!/usr/bin/python3
"""Calls patient_outcome's typed API, PatientOutcome.PredictOutcome(PatientRecord) -> Outcome, with
stubs compiled from the model's own .proto (models/patient_outcome/protoserve/patient_outcome/v1/).

    /usr/bin/python3 examples/python/typed_patient_outcome.py --target 127.0.0.1:8001

Sends the first held-out record of build/data/patient_outcome_samples.json that the model finds
malignant, field by field, and prints the verdict.
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
    parser.add_argument("--samples", default=os.path.join(ROOT, "build", "data", "patient_outcome_samples.json"))
    args = parser.parse_args()
    pb2, pb2_grpc = compile_model_proto("patient_outcome", "protoserve/patient_outcome/v1/patient_outcome.proto")
    with open(args.samples) as f:
        sample = next(s for s in json.load(f) if s["probability"] < 0.5)
    # The 30 named fields, in the order of the message (and of the model's features).
    names = [field.name for field in pb2.PatientRecord.DESCRIPTOR.fields]
    record = pb2.PatientRecord(**dict(zip(names, sample["features"])))
    with grpc.insecure_channel(args.target) as channel:
        try:
            outcome = pb2_grpc.PatientOutcomeStub(channel).PredictOutcome(record, timeout=10)
        except grpc.RpcError as e:
            print(f"{e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    print(f"label={outcome.label} probability={outcome.probability:.4f} malignant={outcome.malignant}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
