"""e2e: /metrics as Prometheus and Grafana see it (issue 20, items 5 and 6).

One server over a copy of the demo repository in which the recommender serves
versions 1 and 2 with version 1 as a 100% shadow, scraped idle and again after
traffic through gRPC and REST (answered, invalid and mirrored requests):

- Prometheus' own linter, `promtool check metrics` (Debian's `prometheus`
  package, installed by scripts/setup), finds nothing in either scrape. A
  missing promtool fails the test: it is part of `make test`.
- Idle, a version exposes only the series dashboards and alerts need at zero
  (docs/metrics.md): requests_total for OK and the server-side error codes on
  grpc and http, its queue depth and its states; no histogram, no client
  error code and no shadow series until one is observed.
- deploy/grafana/protoserve.json and the promql blocks of docs/metrics.md:
  every PromQL expression parses (`promtool check rules` on a rules file made
  of them) and every metric it selects is exported, with the labels its
  matchers and groupings name and the values its equality matchers name.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import REPO, ROOT, Server, stubs, wait_until  # noqa: E402
from rest_client import Rest, metric_samples  # noqa: E402

stubs()
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402

PROMTOOL = shutil.which("promtool")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "protoserve.json")
METRICS_DOC = os.path.join(ROOT, "docs", "metrics.md")
# Labels Prometheus adds when it scrapes (they are not in /metrics).
TARGET_LABELS = {"instance", "job"}
PRECREATED_CODES = {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE"}
HISTOGRAMS = ("protoserve_request_duration_seconds", "protoserve_queue_duration_seconds",
              "protoserve_compute_duration_seconds", "protoserve_batch_size", "protoserve_shadow_agreement")


def promtool(*args, stdin=None):
    if PROMTOOL is None:
        raise AssertionError("promtool not found: scripts/setup installs it (Debian's prometheus package)")
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=120)


def exported(text):
    """{sample name: set of its label names} of an exposition (_bucket/_sum/_count as exposed)."""
    names = {}
    for sample in metric_samples(text):
        names.setdefault(sample.name, set()).update(sample.labels)
    return names


# ---- PromQL, read just enough to find the selectors of an expression -------------------------
TOKEN = re.compile(r'''(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
                      |(?P<range>\[[^\]]*\])
                      |(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
                      |(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
                      |(?P<space>\s+)
                      |(?P<punct>=~|!~|!=|==|>=|<=|.)''', re.X)
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
GROUPINGS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*,?')


def selectors(expr):
    """([(metric, [(label, op, value)])], grouping label names) of a PromQL expression."""
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(expr) if m.lastgroup != "space"]
    found, grouping, i = [], set(), 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in GROUPINGS and following == "(":
            i += 2
            while i < len(tokens) and tokens[i][1] != ")":
                if tokens[i][0] == "ident":
                    grouping.add(tokens[i][1])
                i += 1
        elif kind == "ident" and following != "(" and following not in GROUPINGS and text not in KEYWORDS:
            matchers = []
            if following == "{":
                j = i + 2
                body = ""
                while tokens[j][1] != "}":
                    body += tokens[j][1]
                    j += 1
                matchers = [m.groups() for m in MATCHER.finditer(body)]
                understood = "".join(m.group() for m in MATCHER.finditer(body))
                assert understood.replace(" ", "") == body.replace(" ", ""), f"matchers not understood: {{{body}}}"
                i = j
            found.append((text, matchers))
        i += 1
    return found, grouping


def grafana_to_promql(expr):
    """A dashboard expression with Grafana's variables replaced: ranges by 1m, others by a regex."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "1m", expr)
    return re.sub(r"\$\{?\w+(?::\w+)?\}?", ".*", expr)


def dashboard_queries(dashboard):
    """[(where, PromQL)] of every panel target; [(where, metric selector, label)] of label_values()."""
    queries, label_values = [], []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            queries.append((f"panel {panel['title']!r} {target['refId']}", grafana_to_promql(target["expr"])))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"]["query"])
        assert m, f"variable {variable['name']}: only label_values(selector, label) is checked"
        label_values.append((f"variable {variable['name']!r}", grafana_to_promql(m.group(1)), m.group(2)))
    return queries, label_values


def checked_queries():
    """[(where, PromQL)] of the dashboard's panels and of docs/metrics.md's promql blocks; label_values()."""
    with open(DASHBOARD) as f:
        queries, label_values = dashboard_queries(json.load(f))
    with open(METRICS_DOC) as f:
        blocks = re.findall(r"```promql\n(.*?)```", f.read(), re.S)
    for i, block in enumerate(blocks):
        expr = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
        queries.append((f"docs/metrics.md block {i + 1}", expr.strip()))
    return queries, label_values


class MetricsE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="protoserve-metrics-")
        for model in sorted(os.listdir(REPO)):
            if os.path.isdir(os.path.join(REPO, model)):
                shutil.copytree(os.path.join(REPO, model), os.path.join(cls.root, model))
        recommender = os.path.join(cls.root, "recommender")
        shutil.copytree(os.path.join(recommender, "1"), os.path.join(recommender, "2"))
        with open(os.path.join(recommender, "config.pbtxt"), "a") as f:
            f.write('\nversion_policy { all {} }\n'
                    'parameters { key: "protoserve.shadow" value { string_value: "1:100" } }\n')
        cls.server = None
        try:
            cls.server = Server(repo=cls.root).__enter__()
            cls.idle = cls.scrape()
            cls.send_traffic()
            # Shadow copies are answered after the client's answer: wait until both valid requests were compared.
            assert wait_until(lambda: re.search(r"^protoserve_shadow_agreement_count\{.*\} 2$", cls.scrape(), re.M),
                              60), "the shadow did not answer both mirrored requests"
            cls.busy = cls.scrape()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.server is not None:
            cls.server.__exit__(None, None, None)
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def scrape(cls):
        with urllib.request.urlopen(f"http://127.0.0.1:{cls.server.http_port}/metrics", timeout=30) as r:
            return r.read().decode()

    @classmethod
    def send_traffic(cls):
        """Per model: a valid request over gRPC and REST, and one of the wrong shape over each."""
        rest = Rest(cls.server.http_port)
        channel = grpc.insecure_channel(cls.server.target)
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
        try:
            status, index = rest.json("POST", "/v2/repository/index")
            assert status == 200, index
            for model in sorted({m["name"] for m in index}):
                status, meta = rest.json("GET", f"/v2/models/{model}")
                assert status == 200, meta
                for extra in (0, 1):  # 1: a row one element too long, refused by the version
                    body, request = {"inputs": []}, ipb.ModelInferRequest(model_name=model)
                    for spec in meta["inputs"]:
                        shape = [1 if d < 0 else d for d in spec["shape"]]
                        if extra:
                            shape = [1, math.prod(shape) + 1]
                        count = math.prod(shape)
                        body["inputs"].append({"name": spec["name"], "datatype": spec["datatype"],
                                               "shape": shape, "data": [0] * count})
                        tensor = request.inputs.add(name=spec["name"], datatype=spec["datatype"], shape=shape)
                        contents = tensor.contents.fp32_contents if spec["datatype"] == "FP32" \
                            else tensor.contents.int64_contents
                        contents.extend([0] * count)
                    status, answer = rest.json("POST", f"/v2/models/{model}/infer", body)
                    assert status == (400 if extra else 200), (model, status, answer)
                    try:
                        stub.ModelInfer(request, timeout=60)
                        assert not extra, model
                    except grpc.RpcError as e:
                        assert extra and e.code() == grpc.StatusCode.INVALID_ARGUMENT, (model, e)
        finally:
            channel.close()
            rest.close()

    def test_promtool_finds_nothing_to_report(self):
        for name, text in (("idle", self.idle), ("after traffic", self.busy)):
            result = promtool("check", "metrics", stdin=text)
            self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""), name)

    def test_idle_versions_expose_only_what_dashboards_and_alerts_need(self):
        samples = metric_samples(self.idle)
        versions = {(s.labels["model"], s.labels["version"]) for s in samples if s.name == "protoserve_model_state"}
        self.assertEqual(len(versions), 5, versions)  # 4 models, the recommender twice
        requests = [s for s in samples if s.name == "protoserve_requests_total"]
        for model, version in versions:
            mine = {(s.labels["api"], s.labels["code"]) for s in requests
                    if (s.labels["model"], s.labels["version"]) == (model, version)}
            self.assertEqual(mine, {(api, code) for api in ("grpc", "http") for code in PRECREATED_CODES})
            states = {s.labels["state"]: s.value for s in samples if s.name == "protoserve_model_state"
                      and (s.labels["model"], s.labels["version"]) == (model, version)}
            self.assertEqual(states, {"LOADING": 0, "READY": 1, "UNLOADING": 0, "UNAVAILABLE": 0, "FAILED": 0})
        self.assertEqual({s.value for s in requests}, {0})
        self.assertEqual([s.name for s in samples if s.name.startswith(HISTOGRAMS)], [])
        series = len([line for line in self.idle.splitlines() if line and not line.startswith("#")])
        print(f"\nidle: {series} series for {len(versions)} versions", file=sys.stderr)

    def test_observed_series_appear_with_their_counts(self):
        samples = metric_samples(self.busy)

        def value(name, **labels):
            found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
            self.assertEqual(len(found), 1, (name, labels))
            return found[0]

        for api in ("grpc", "http"):
            self.assertEqual(value("protoserve_requests_total", api=api, code="OK", model="patient_outcome"), 1)
            self.assertEqual(value("protoserve_requests_total", api=api, code="INVALID_ARGUMENT",
                                   model="patient_outcome"), 1)
            self.assertEqual(value("protoserve_request_duration_seconds_count", api=api, model="patient_outcome"), 2)
            # Version 2 answers the recommender; version 1 sees mirrored copies of the valid requests only.
            self.assertEqual(value("protoserve_requests_total", api=api, code="OK", model="recommender",
                                   version="2"), 1)
        self.assertEqual(value("protoserve_requests_total", api="shadow", code="OK", model="recommender",
                               version="1"), 2)
        self.assertEqual(value("protoserve_batch_size_sum", model="patient_outcome"), 2)
        self.assertEqual(value("protoserve_shadow_agreement_count", model="recommender", version="2",
                               shadow_version="1"), 2)
        series = len([line for line in self.busy.splitlines() if line and not line.startswith("#")])
        print(f"\nafter traffic: {series} series", file=sys.stderr)

    def test_dashboard_and_documented_queries_select_only_exported_metrics_and_labels(self):
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        names = exported(self.busy)
        values = {(k, v) for s in metric_samples(self.busy) for k, v in s.labels.items()}
        queries, label_values = checked_queries()
        self.assertGreaterEqual(len(queries), 25)
        selected = set()
        for where, expr in queries + [(w, sel) for w, sel, _ in label_values]:
            found, grouping = selectors(expr)
            self.assertTrue(found, f"{where}: no metric in {expr}")
            labels = set(TARGET_LABELS)
            for metric, matchers in found:
                self.assertTrue(metric in names, f"{where}: {metric} is not exported")
                labels |= names[metric]
                for label, op, quoted in matchers:
                    self.assertTrue(label in names[metric] | TARGET_LABELS, f"{where}: {metric} has no label {label}")
                    if op in ("=", "!=") and label not in TARGET_LABELS:
                        self.assertTrue((label, json.loads(quoted)) in values,
                                        f"{where}: no series has {label}={quoted}")
                selected.add(metric)
            self.assertLessEqual(grouping, labels, f"{where}: grouped by labels its metrics lack")
        for where, selector, label in label_values:
            self.assertIn(label, names[selectors(selector)[0][0][0]] | TARGET_LABELS, where)
        # The panels the issue asks for, by what they read.
        for metric in ("protoserve_requests_total", "protoserve_request_duration_seconds_bucket",
                       "protoserve_queue_depth", "protoserve_batch_size_bucket", "protoserve_model_state",
                       "protoserve_queue_duration_seconds_bucket", "protoserve_compute_duration_seconds_bucket",
                       "protoserve_inflight_requests"):
            self.assertIn(metric, selected)

    def test_dashboard_and_documented_queries_are_valid_promql(self):
        queries, _ = checked_queries()
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            json.dump(rules, f)  # JSON is YAML
            f.flush()
            result = promtool("check", "rules", f.name)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn(f"SUCCESS: {len(queries)} rules found", result.stdout)


class DashboardFilesTest(unittest.TestCase):
    def test_panels_read_the_chosen_data_source_and_provisioning_parses(self):
        import yaml
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        self.assertEqual(dashboard["uid"], "protoserve")
        ids = [p["id"] for p in dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")
        for panel in dashboard["panels"]:
            self.assertEqual(set(panel["gridPos"]), {"h", "w", "x", "y"}, panel["title"])
            if panel["type"] == "row":
                continue
            self.assertEqual(panel["datasource"]["uid"], "${datasource}", panel["title"])
            refs = [t["refId"] for t in panel["targets"]]
            self.assertEqual(len(refs), len(set(refs)), panel["title"])
        provisioning = os.path.join(os.path.dirname(DASHBOARD), "provisioning")
        with open(os.path.join(provisioning, "dashboards", "protoserve.yaml")) as f:
            (provider,) = yaml.safe_load(f)["providers"]
        self.assertEqual(provider["type"], "file")
        with open(os.path.join(provisioning, "datasources", "prometheus.yaml")) as f:
            (source,) = yaml.safe_load(f)["datasources"]
        self.assertEqual(source["type"], "prometheus")


class PromqlReaderTest(unittest.TestCase):
    def test_the_expression_reader_finds_selectors_matchers_and_groupings(self):
        found, grouping = selectors('histogram_quantile(0.9, sum by (le, model) (rate(a_bucket{x="1", y=~"a|b"}'
                                    '[5m]))) / ignoring(z) sum without (q) (b) > bool 1e3 and on() c:d{e!~""}')
        self.assertEqual(found, [("a_bucket", [("x", "=", '"1"'), ("y", "=~", '"a|b"')]), ("b", []),
                                 ("c:d", [("e", "!~", '""')])])
        self.assertEqual(grouping, {"le", "model", "z", "q"})
        self.assertEqual(grafana_to_promql('rate(m{a=~"$model", b="${x:regex}"}[$__rate_interval])'),
                         'rate(m{a=~".*", b=".*"}[1m])')


if __name__ == "__main__":
    unittest.main()
