"""Every Kubernetes manifest under deploy/ validated against the API's JSON schemas, offline.

tests/deploy/manifest_schema/validate.js (node) does the checking: the kubernetes-models
package's validators for built-in kinds, @kubernetes-models/prometheus-operator for the
ServiceMonitor, KServe's CRD fields (kserve_schema.json, extracted from KServe's CRDs: no
maintained npm package publishes them) plus the Kubernetes types embedded in them. Unknown
fields are errors (the API server would drop or refuse them), so a misspelt field fails:
deliberately broken copies below show it. Its npm dependencies install from the committed
package-lock.json (`npm ci`, from npm's cache when offline) when node_modules is missing or
older than the lock file. node and npm are required (scripts/setup installs them).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(__file__))
from deploy_support import DEPLOY  # noqa: E402

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "manifest_schema")
NODE, NPM = shutil.which("node"), shutil.which("npm")
# Where the manifests live; every YAML document with apiVersion and kind in them is checked.
MANIFEST_DIRS = ("k8s", "kserve")


def npm_ci_if_needed():
    installed = os.path.join(SCHEMA_DIR, "node_modules", ".package-lock.json")
    lock = os.path.join(SCHEMA_DIR, "package-lock.json")
    if os.path.exists(installed) and os.path.getmtime(installed) >= os.path.getmtime(lock):
        return
    out = subprocess.run([NPM, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
                         cwd=SCHEMA_DIR, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"npm ci failed in {SCHEMA_DIR}:\n{out.stdout}\n{out.stderr}")


def manifest_files():
    files = []
    for sub in MANIFEST_DIRS:
        for name in sorted(os.listdir(os.path.join(DEPLOY, sub))):
            if name.endswith((".yaml", ".yml")):
                files.append(os.path.join(DEPLOY, sub, name))
    return files


def documents(path, text=None):
    if text is None:
        with open(path) as f:
            text = f.read()
    name = os.path.relpath(path, DEPLOY)
    return [{"file": name, "index": i, "doc": doc} for i, doc in enumerate(yaml.safe_load_all(text)) if doc]


def validate(docs):
    """validate.js's verdict: [{file, index, kind, name, checked, errors}]."""
    out = subprocess.run([NODE, os.path.join(SCHEMA_DIR, "validate.js")], input=json.dumps(docs),
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"validate.js failed:\n{out.stderr}")
    return json.loads(out.stdout)


def misspell(path, original, typo, count=1):
    """The text of `path` with the `count`-th occurrence of `original` (a whole YAML key) misspelt."""
    with open(path) as f:
        text = f.read()
    matches = list(re.finditer(r"(?m)^(\s*(?:- )?)" + re.escape(original) + r":", text))
    if len(matches) < count:
        raise AssertionError(f"{original}: not in {path}")
    m = matches[count - 1]
    return text[:m.start()] + m.group(1) + typo + ":" + text[m.end():]


class ManifestSchemas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not (NODE and NPM):
            raise RuntimeError("node and npm are required to validate manifests (scripts/setup installs them)")
        npm_ci_if_needed()
        cls.docs = [d for path in manifest_files() for d in documents(path)]
        cls.results = validate(cls.docs)

    def test_every_manifest_is_covered(self):
        checked = {r["file"] for r in self.results}
        for path in manifest_files():
            self.assertIn(os.path.relpath(path, DEPLOY), checked)
        kinds = {r["kind"] for r in self.results}
        for kind in ("Deployment", "Service", "ConfigMap", "Namespace", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                     "ServiceMonitor", "Kustomization", "ServingRuntime", "ClusterServingRuntime", "InferenceService"):
            self.assertIn(kind, kinds)

    def test_every_manifest_is_valid(self):
        failures = {f"{r['file']}#{r['index']} {r['kind']}": r["errors"] for r in self.results if r["errors"]}
        self.assertEqual(failures, {})

    def test_each_is_checked_by_the_schema_of_its_kind(self):
        for r in self.results:
            self.assertNotEqual(r["checked"], "none", r)
            if r["kind"] in ("ServingRuntime", "ClusterServingRuntime", "InferenceService"):
                self.assertIn("KServe CRD", r["checked"])
            elif r["kind"] == "ServiceMonitor":
                self.assertIn("prometheus-operator schema monitoring.coreos.com/v1", r["checked"])
            elif r["kind"] != "Kustomization":
                self.assertIn("kubernetes schema", r["checked"])

    def test_a_misspelt_kind_or_unknown_api_version_is_an_error(self):
        for api_version, kind in (("apps/v1", "Deploymnet"), ("apps/v2", "Deployment"),
                                  ("serving.kserve.io/v1beta1", "ServingRuntime")):
            doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
            [result] = validate([{"file": "x", "index": 0, "doc": doc}])
            self.assertEqual(result["errors"], [f"no schema for apiVersion {api_version} kind {kind}"])


    def test_a_misspelt_field_fails_in_every_kind_of_manifest(self):
        cases = [
            # (file, field, misspelling, where the error must point)
            ("k8s/deployment.yaml", "imagePullPolicy", "imagePullPolicyy", "/spec/template/spec/containers/0", 2),
            ("k8s/deployment.yaml", "port", "prot", "/readinessProbe/grpc", 2),
            ("k8s/deployment.yaml", "maxUnavailable", "maxUnavailible", "/spec/strategy/rollingUpdate"),
            ("k8s/service.yaml", "appProtocol", "appProtcol", "/spec/ports/"),
            ("k8s/hpa-queue-depth.yaml", "averageValue", "avergeValue", "/spec/metrics/0/pods/target"),
            ("k8s/servicemonitor.yaml", "scrapeTimeout", "scrapeTimout", "/spec/endpoints/0"),
            ("k8s/kustomization.yaml", "resources", "resource", "unknown field"),
            ("kserve/servingruntime.yaml", "supportedModelFormats", "suportedModelFormats", "/spec"),
            ("kserve/clusterservingruntime.yaml", "autoSelect", "autoselect", "/spec/supportedModelFormats/0"),
            ("kserve/servingruntime.yaml", "path", "paht", "/spec/containers/0/readinessProbe/httpGet"),
            ("kserve/inferenceservice-rest.yaml", "storageUri", "storageURI", "/spec/predictor/model"),
            ("kserve/inferenceservice-grpc.yaml", "containerPort", "containerPot", "/spec/predictor/model/ports/0"),
            ("kserve/inferenceservice-raw.yaml", "minReplicas", "minReplica", "/spec/predictor"),
        ]
        # Broken copies written to a temporary directory, validated in one node run.
        tmp = tempfile.mkdtemp(prefix="protoserve-broken-")
        try:
            docs = []
            for i, (relpath, original, typo, where, *count) in enumerate(cases):
                copy = os.path.join(tmp, f"{i}-{os.path.basename(relpath)}")
                with open(copy, "w") as f:
                    f.write(misspell(os.path.join(DEPLOY, relpath), original, typo, *count))
                docs += documents(copy)
            results = validate(docs)
        finally:
            shutil.rmtree(tmp)
        for i, (relpath, original, typo, where, *count) in enumerate(cases):
            with self.subTest(file=relpath, field=original):
                errors = [e for r in results if r["file"].endswith(f"/{i}-{os.path.basename(relpath)}")
                          for e in r["errors"]]
                self.assertTrue(any(where in e and f'"{typo}"' in e for e in errors), errors)

    def test_a_wrong_type_fails(self):
        path = os.path.join(DEPLOY, "k8s", "deployment.yaml")
        with open(path) as f:
            text = f.read().replace("revisionHistoryLimit: 5", "revisionHistoryLimit: five")
        errors = [e for r in validate(documents(path, text)) for e in r["errors"]]
        self.assertTrue(any("revisionHistoryLimit" in e and "integer" in e for e in errors), errors)


if __name__ == "__main__":
    unittest.main()
