#!/usr/bin/python3
"""Writes kserve_schema.json: the KServe-specific part of KServe's CRD schemas.

No maintained npm package publishes KServe's CRD schemas (kubernetes-models has
packages for Istio, Knative, the Prometheus Operator, ... but not KServe), and
the CRDs themselves are too large to vendor (InferenceService: ~39,000 lines).
So this keeps, from KServe's own CRDs, the schema of every field KServe adds
(supportedModelFormats, protocolVersions, predictor.model.modelFormat, ...), made
strict (additionalProperties: false wherever the CRD lists properties), and marks
the fields that are Kubernetes types (containers, volumes, the container fields
of predictor.model, the pod fields of predictor, ...) with "x-k8s": validate.js
checks those against the Kubernetes API schemas of kubernetes-models instead.

Regenerate after a KServe upgrade:
  git clone https://github.com/kserve/kserve && /usr/bin/python3 extract_kserve_schema.py kserve/config/crd/full
"""
import json
import os
import sys

import yaml

# Fields of corev1.PodSpec / corev1.Container that KServe embeds inline.
POD_SPEC_FIELDS = {
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers", "dnsConfig", "dnsPolicy",
    "enableServiceLinks", "hostAliases", "hostIPC", "hostNetwork", "hostPID", "hostUsers", "hostname",
    "hostnameOverride", "imagePullSecrets", "initContainers", "nodeName", "nodeSelector", "os", "overhead",
    "preemptionPolicy", "priority", "priorityClassName", "readinessGates", "resourceClaims", "resources",
    "restartPolicy", "runtimeClassName", "schedulerName", "schedulingGates", "securityContext", "serviceAccount",
    "serviceAccountName", "setHostnameAsFQDN", "shareProcessNamespace", "subdomain",
    "terminationGracePeriodSeconds", "tolerations", "topologySpreadConstraints", "volumes", "ephemeralContainers"}
CONTAINER_FIELDS = {
    "args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle", "livenessProbe", "name", "ports",
    "readinessProbe", "resizePolicy", "resources", "restartPolicy", "restartPolicyRules", "securityContext",
    "startupProbe", "stdin", "stdinOnce", "terminationMessagePath", "terminationMessagePolicy", "tty",
    "volumeDevices", "volumeMounts", "workingDir"}
# Parts protoserve's manifests do not use: kept out (validate.js refuses them).
UNUSED_PREDICTOR = {"huggingface", "lightgbm", "onnx", "paddle", "pmml", "pytorch", "sklearn", "tensorflow", "triton",
                    "xgboost", "workerSpec"}


def strict(schema):
    """The CRD schema with additionalProperties: false wherever it lists properties."""
    schema = {k: v for k, v in schema.items() if k != "description"}
    if "properties" in schema:
        schema["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    if isinstance(schema.get("items"), dict):
        schema["items"] = strict(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = strict(schema["additionalProperties"])
    return schema


def split(schema, k8s_fields, k8s_type, drop=()):
    """`schema` (an object) with its Kubernetes-typed fields replaced by a marker."""
    out = strict({**schema, "properties": {k: v for k, v in schema["properties"].items()
                                           if k not in k8s_fields and k not in drop}})
    for k in sorted(set(schema["properties"]) & k8s_fields):
        out["properties"][k] = {"x-k8s": k8s_type}
    out.pop("required", None) if k8s_type == "Container" else None  # name defaults to kserve-container
    return out


def crd_schema(directory, name, version):
    with open(os.path.join(directory, f"serving.kserve.io_{name}.yaml")) as f:
        crd = yaml.safe_load(f)
    return next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]


def main(directory):
    runtime = crd_schema(directory, "servingruntimes", "v1alpha1")["properties"]["spec"]
    runtime_spec = split(runtime, POD_SPEC_FIELDS, "PodSpec", drop={"workerSpec"})
    isvc = crd_schema(directory, "inferenceservices", "v1beta1")["properties"]["spec"]
    predictor = isvc["properties"]["predictor"]
    predictor_spec = split(predictor, POD_SPEC_FIELDS, "PodSpec", drop=UNUSED_PREDICTOR | {"model"})
    predictor_spec["properties"]["model"] = split(predictor["properties"]["model"], CONTAINER_FIELDS, "Container")
    out = {
        "source": "KServe CRDs (config/crd/full) " + os.environ.get("KSERVE_VERSION", "unknown version"),
        "ServingRuntime": runtime_spec,
        "InferenceService": {"type": "object", "required": ["predictor"], "additionalProperties": False,
                             "properties": {"predictor": predictor_spec}},
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kserve_schema.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=None, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main(sys.argv[1])
