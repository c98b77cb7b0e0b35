"""deploy/k8s and deploy/envoy: every YAML parses and carries what the deployment needs."""
import os
import re
import subprocess
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(__file__))
from deploy_support import DEPLOY, SERVER  # noqa: E402

K8S = os.path.join(DEPLOY, "k8s")


def load_all():
    """{(kind, name): document} of every manifest in deploy/k8s."""
    docs = {}
    for name in sorted(os.listdir(K8S)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(K8S, name)) as f:
                for doc in yaml.safe_load_all(f):
                    if doc:
                        key = (doc["kind"], doc.get("metadata", {}).get("name", name))
                        doc["__file__"] = name
                        docs[key] = doc
    return docs


def flag_value(configmap, key):
    return int(configmap["data"][key])


class KubernetesManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs = load_all()
        cls.deployment = cls.docs[("Deployment", "protoserve")]
        cls.pod = cls.deployment["spec"]["template"]["spec"]
        cls.container = next(c for c in cls.pod["containers"] if c["name"] == "protoserve")
        cls.flags = cls.docs[("ConfigMap", "protoserve-flags")]

    def test_every_file_parses_with_api_version_and_kind(self):
        files = [n for n in os.listdir(K8S) if n.endswith(".yaml")]
        self.assertGreaterEqual(len(files), 9)
        for doc in self.docs.values():
            self.assertIn("apiVersion", doc, doc["__file__"])
            self.assertIn("kind", doc, doc["__file__"])

    def test_kustomization_lists_the_core_manifests_and_they_exist(self):
        kustomization = self.docs[("Kustomization", "kustomization.yaml")]
        resources = kustomization["resources"]
        for required in ("deployment.yaml", "configmap.yaml", "service.yaml", "service-headless.yaml", "pdb.yaml",
                         "hpa.yaml"):
            self.assertIn(required, resources)
        for resource in resources:
            self.assertTrue(os.path.exists(os.path.join(K8S, resource)), resource)
        # Optional extras stay out: the second HPA would fight the first; ServiceMonitor needs CRDs.
        self.assertNotIn("hpa-queue-depth.yaml", resources)
        self.assertNotIn("servicemonitor.yaml", resources)

    def test_probes_are_native_grpc_on_8001(self):
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.assertEqual(self.container[probe]["grpc"]["port"], 8001, probe)
        startup = self.container["startupProbe"]
        # Model loading gets minutes, not the readiness probe's seconds.
        self.assertGreaterEqual(startup["periodSeconds"] * startup["failureThreshold"], 120)

    def test_resources_requests_and_limits(self):
        resources = self.container["resources"]
        for kind in ("requests", "limits"):
            self.assertIn("cpu", resources[kind])
            self.assertIn("memory", resources[kind])

    def test_ports_and_openblas_env(self):
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.assertEqual(ports, {"grpc": 8001, "http": 8000})
        env = {e["name"]: e.get("value") for e in self.container["env"]}
        self.assertEqual(env["OPENBLAS_NUM_THREADS"], "1")

    def test_args_come_from_the_configmap(self):
        self.assertEqual(self.container["envFrom"][0]["configMapRef"]["name"], "protoserve-flags")
        used = set()
        for arg in self.container["args"]:
            used.update(re.findall(r"\$\((\w+)\)", arg))
        self.assertEqual(used, set(self.flags["data"]), "every ConfigMap flag is passed, and only those")
        self.assertIn("--shutdown-grace-secs=$(SHUTDOWN_GRACE_SECS)", self.container["args"])
        self.assertIn("--grpc-max-connection-age-secs=$(GRPC_MAX_CONNECTION_AGE_SECS)", self.container["args"])
        self.assertEqual(flag_value(self.flags, "GRPC_PORT"), 8001)
        self.assertEqual(flag_value(self.flags, "HTTP_PORT"), 8000)

    def test_every_flag_exists_in_the_server(self):
        help_text = subprocess.run([SERVER, "--help"], capture_output=True, text=True, check=True).stdout
        for arg in self.container["args"]:
            flag = arg.split("=", 1)[0]
            self.assertRegex(help_text, r"(^|\s|,)" + re.escape(flag) + r"\b", f"{flag} is not a protoserve flag")

    def test_termination_grace_covers_prestop_and_server_grace(self):
        command = self.container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(command[0], "sleep")
        pre_stop = int(command[1])
        self.assertGreaterEqual(pre_stop, 5, "long enough for endpoints and proxies to drop the pod")
        grace = flag_value(self.flags, "SHUTDOWN_GRACE_SECS")
        self.assertGreaterEqual(self.pod["terminationGracePeriodSeconds"], pre_stop + grace)

    def test_non_root_read_only(self):
        pod_security = self.pod["securityContext"]
        self.assertTrue(pod_security["runAsNonRoot"])
        self.assertNotEqual(pod_security["runAsUser"], 0)
        for container in self.pod["containers"] + self.pod.get("initContainers", []):
            security = container["securityContext"]
            self.assertTrue(security["readOnlyRootFilesystem"], container["name"])
            self.assertFalse(security["allowPrivilegeEscalation"], container["name"])
            self.assertTrue(security["runAsNonRoot"], container["name"])
            self.assertEqual(security["capabilities"]["drop"], ["ALL"], container["name"])
        mounts = {m["mountPath"]: m for m in self.container["volumeMounts"]}
        self.assertTrue(mounts["/models"]["readOnly"])
        self.assertIn("/tmp", mounts, "a writable /tmp under a read-only root")

    def test_prometheus_annotations(self):
        annotations = self.deployment["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")
        self.assertEqual(annotations["prometheus.io/port"], "8000")
        self.assertEqual(annotations["prometheus.io/path"], "/metrics")

    def test_rolling_update_keeps_capacity(self):
        self.assertEqual(self.deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)

    def test_services(self):
        selector = self.deployment["spec"]["selector"]["matchLabels"]
        cluster_ip = self.docs[("Service", "protoserve")]["spec"]
        headless = self.docs[("Service", "protoserve-headless")]["spec"]
        self.assertEqual(headless["clusterIP"], "None")
        self.assertNotIn("clusterIP", cluster_ip)
        self.assertEqual(cluster_ip.get("type", "ClusterIP"), "ClusterIP")
        for spec in (cluster_ip, headless):
            self.assertEqual(spec["selector"], selector)
            ports = {p["name"]: p for p in spec["ports"]}
            self.assertEqual(ports["grpc"]["port"], 8001)
            self.assertEqual(ports["grpc"]["appProtocol"], "grpc")
            self.assertEqual(ports["http"]["port"], 8000)

    def test_pdb(self):
        pdb = self.docs[("PodDisruptionBudget", "protoserve")]
        self.assertEqual(pdb["apiVersion"], "policy/v1")
        hpa = self.docs[("HorizontalPodAutoscaler", "protoserve")]
        self.assertGreaterEqual(pdb["spec"]["minAvailable"], 1)
        self.assertLess(pdb["spec"]["minAvailable"], hpa["spec"]["minReplicas"], "drains must be able to proceed")
        self.assertEqual(pdb["spec"]["selector"]["matchLabels"], self.deployment["spec"]["selector"]["matchLabels"])

    def test_hpa_cpu_and_queue_depth_variant(self):
        hpa = self.docs[("HorizontalPodAutoscaler", "protoserve")]
        self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], "protoserve")
        cpu = hpa["spec"]["metrics"][0]
        self.assertEqual((cpu["type"], cpu["resource"]["name"]), ("Resource", "cpu"))
        custom = self.docs[("HorizontalPodAutoscaler", "protoserve-queue-depth")]
        self.assertEqual(custom["apiVersion"], "autoscaling/v2")
        names = [m["pods"]["metric"]["name"] for m in custom["spec"]["metrics"] if m["type"] == "Pods"]
        self.assertEqual(names, ["protoserve_queue_depth"])

    def test_service_monitor_scrapes_metrics_once(self):
        monitor = self.docs[("ServiceMonitor", "protoserve")]
        self.assertEqual(monitor["apiVersion"], "monitoring.coreos.com/v1")
        endpoint = monitor["spec"]["endpoints"][0]
        self.assertEqual((endpoint["port"], endpoint["path"]), ("http", "/metrics"))
        # Matches the ClusterIP Service only, not the headless one (no double scrape).
        labels = monitor["spec"]["selector"]["matchLabels"]
        matched = [name for (kind, name), doc in self.docs.items()
                   if kind == "Service" and labels.items() <= doc["metadata"]["labels"].items()]
        self.assertEqual(matched, ["protoserve"])


class EnvoyConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DEPLOY, "envoy", "envoy.yaml")) as f:
            cls.config = yaml.safe_load(f)
        resources = cls.config["static_resources"]
        cls.clusters = {c["name"]: c for c in resources["clusters"]}
        cls.listeners = {listener["name"]: listener for listener in resources["listeners"]}

    def hcm(self, listener):
        return self.listeners[listener]["filter_chains"][0]["filters"][0]["typed_config"]

    def test_model_management_routes_are_answered_by_the_proxy(self):
        # Ahead of any forwarding route, in both listeners (docs/security.md).
        for listener, prefix in (("grpc", "/inference.GRPCInferenceService/RepositoryModel"),
                                 ("rest", "/v2/repository/models/")):
            routes = self.hcm(listener)["route_config"]["virtual_hosts"][0]["routes"]
            forwarding = [i for i, r in enumerate(routes) if "route" in r and r["match"].get("prefix") == "/"]
            blocking = [i for i, r in enumerate(routes)
                        if r["match"].get("prefix") == prefix and r.get("direct_response", {}).get("status") == 403]
            self.assertTrue(blocking and forwarding and blocking[0] < forwarding[0], (listener, routes))

    def test_v3_types(self):
        with open(os.path.join(DEPLOY, "envoy", "envoy.yaml")) as f:
            text = f.read()
        types = re.findall(r'"@type": type\.googleapis\.com/(\S+)', text)
        self.assertTrue(types)
        for t in types:
            self.assertRegex(t, r"^envoy\..*\.v3\.", t)

    def test_grpc_cluster_is_http2_least_request_with_grpc_health_checks(self):
        cluster = self.clusters["protoserve_grpc"]
        self.assertEqual(cluster["lb_policy"], "LEAST_REQUEST")
        options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        self.assertIn("http2_protocol_options", options["explicit_http_config"])
        checks = cluster["health_checks"]
        self.assertTrue(any("grpc_health_check" in c for c in checks))
        for c in checks:
            self.assertIn("interval", c)
            self.assertIn("unhealthy_threshold", c)
        self.assertIn("outlier_detection", cluster)
        budget = cluster["circuit_breakers"]["thresholds"][0]["retry_budget"]
        self.assertGreater(budget["budget_percent"]["value"], 0)
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        self.assertEqual(endpoint["socket_address"]["port_value"], 8001)
        self.assertIn("protoserve-headless", endpoint["socket_address"]["address"])

    def test_grpc_listener_filters_and_retries(self):
        hcm = self.hcm("grpc")
        filters = [f["name"] for f in hcm["http_filters"]]
        self.assertEqual(filters, ["envoy.filters.http.grpc_web", "envoy.filters.http.cors",
                                   "envoy.filters.http.router"])
        self.assertEqual(hcm["codec_type"], "AUTO")
        routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        unary = routes[-1]["route"]
        self.assertEqual(unary["cluster"], "protoserve_grpc")
        retry_on = unary["retry_policy"]["retry_on"].split(",")
        self.assertIn("unavailable", retry_on)
        self.assertIn("connect-failure", retry_on)
        self.assertNotIn("deadline-exceeded", retry_on)
        self.assertIn("timeout", unary)
        # Streaming RPCs are not cut by a route timeout.
        streaming = {r["match"].get("path"): r["route"] for r in routes if "path" in r["match"]}
        self.assertEqual(streaming["/Recommender/StreamRecommendations"]["timeout"], "0s")
        cors = hcm["route_config"]["virtual_hosts"][0]["typed_per_filter_config"]["envoy.filters.http.cors"]
        self.assertIn("grpc-status", cors["expose_headers"])

    def test_rest_listener_and_cluster(self):
        cluster = self.clusters["protoserve_rest"]
        self.assertEqual(cluster["health_checks"][0]["http_health_check"]["path"], "/v2/health/ready")
        hcm = self.hcm("rest")
        forwarding = [r for r in hcm["route_config"]["virtual_hosts"][0]["routes"] if "route" in r]
        self.assertEqual([r["route"]["cluster"] for r in forwarding], ["protoserve_rest"])


if __name__ == "__main__":
    unittest.main()
