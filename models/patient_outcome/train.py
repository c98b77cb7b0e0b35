"""Train the `patient_outcome` demo model (XGBoost, platform xgboost).

Binary classifier on scikit-learn's bundled Wisconsin breast-cancer data;
output = probability of class 1 (benign).

    /usr/bin/python3 models/patient_outcome/train.py --repo build/model_repository --data build/data
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import common  # noqa: E402  (first: sets thread env vars before numpy/xgboost load)
import numpy as np  # noqa: E402
import xgboost as xgb  # noqa: E402
from sklearn.metrics import accuracy_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

CSV = "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv"
SEED = 42
PARAMS = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 3,
          "eta": 0.1, "subsample": 0.9, "colsample_bytree": 0.8, "nthread": 2, "seed": SEED}
NUM_ROUNDS = 150

CONFIG = """name: "patient_outcome"
platform: "xgboost"
backend: "xgboost"
max_batch_size: 256
input [ { name: "features" data_type: TYPE_FP32 dims: [ 30 ] } ]
output [ { name: "probability" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
parameters { key: "predict_type" value { string_value: "probability" } }
parameters { key: "nthread" value { string_value: "1" } }
# The typed API (docs/typed-apis.md): PredictOutcome(PatientRecord) returns (Outcome).
parameters { key: "typed.proto" value { string_value: "protoserve/patient_outcome/v1/patient_outcome.proto" } }
parameters { key: "typed.method" value { string_value: "protoserve.patient_outcome.v1.PatientOutcome/PredictOutcome" } }
# The 30 features, in the order the model was trained on.
parameters { key: "typed.input.features" value { string_value:
  "mean_radius, mean_texture, mean_perimeter, mean_area, mean_smoothness,"
  "mean_compactness, mean_concavity, mean_concave_points, mean_symmetry, mean_fractal_dimension,"
  "radius_error, texture_error, perimeter_error, area_error, smoothness_error,"
  "compactness_error, concavity_error, concave_points_error, symmetry_error, fractal_dimension_error,"
  "worst_radius, worst_texture, worst_perimeter, worst_area, worst_smoothness,"
  "worst_compactness, worst_concavity, worst_concave_points, worst_symmetry, worst_fractal_dimension" } }
# probability = P(benign): class 0 malignant, class 1 benign.
parameters { key: "typed.output.probability" value { string_value:
  "argmax binary labels=malignant,benign label=label probability=probability;"
  " threshold below=0.5 to=malignant" } }
"""
# The model's typed contract, copied beside config.pbtxt (same path below the model folder).
PROTO = "protoserve/patient_outcome/v1/patient_outcome.proto"


def load_csv():
    """Header line: n_samples,n_features,class names (index 0 = malignant, 1 = benign)."""
    with open(CSV) as f:
        header = f.readline().strip().split(",")
    assert header[2:] == ["malignant", "benign"], header
    data = np.loadtxt(CSV, delimiter=",", skiprows=1)
    assert data.shape == (int(header[0]), int(header[1]) + 1)
    return data[:, :-1].astype(np.float32), data[:, -1].astype(np.int64)


def main():
    args = common.parse_args(__doc__)
    timer = common.Timer()
    common.seed_everything(SEED)
    x, y = load_csv()
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=SEED)
    print(f"data: {len(x_tr)} train / {len(x_te)} held-out rows, {x.shape[1]} features, "
          f"{y.mean():.3f} benign")

    booster = xgb.train(PARAMS, xgb.DMatrix(x_tr, label=y_tr), num_boost_round=NUM_ROUNDS)
    train_time = timer()
    prob = booster.predict(xgb.DMatrix(x_te)).astype(np.float32)
    print(f"held-out accuracy: {accuracy_score(y_te, prob >= 0.5):.4f}")
    print(f"held-out ROC AUC:  {roc_auc_score(y_te, prob):.4f}")

    root, vdir = common.model_dir(args.repo, "patient_outcome")
    common.write_text(os.path.join(root, "config.pbtxt"), CONFIG)
    os.makedirs(os.path.dirname(os.path.join(root, PROTO)), exist_ok=True)
    shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), PROTO), os.path.join(root, PROTO))
    path = os.path.join(vdir, "model.json")
    booster.save_model(path)

    # Reference outputs from the reloaded model file (what the server loads).
    reloaded = xgb.Booster(model_file=path)
    ref = reloaded.predict(xgb.DMatrix(x_te)).astype(np.float32)
    assert np.array_equal(ref, prob)
    samples = [{"features": common.floats(x_te[i]), "label": int(y_te[i]),
                "probability": float(ref[i])} for i in range(len(x_te))]
    common.write_samples(args.data, "patient_outcome", samples)
    print(f"training wall time: {train_time:.2f}s; total {timer():.2f}s")


if __name__ == "__main__":
    main()
