"""e2e: TLS, mutual TLS, bearer tokens with scopes, and loopback-only management.

Certificates are made at test time with the openssl CLI (a throwaway CA, a
server certificate for 127.0.0.1/localhost, a client certificate, and a rogue
CA's client certificate); nothing is checked in.
"""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from harness import CLI, DATA, Server, cli, stubs, wait_until  # noqa: E402

stubs()
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402
import inference_pb2 as ipb  # noqa: E402
import inference_pb2_grpc  # noqa: E402
import recommender_pb2 as pb  # noqa: E402
import recommender_pb2_grpc  # noqa: E402

with open(os.path.join(DATA, "recommender_samples.json")) as f:
    SAMPLE = json.load(f)[0]

INFER_TOKEN = "infer-token-3f9c0b7e5a1d4c8e"
MANAGE_TOKEN = "manage-token-8e1f4a2c9d7b3e6f"
BOTH_TOKEN = "both-token-0a5c1d9b7e3f2a6b"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_pki(directory):
    """CA, server cert (127.0.0.1, localhost), client cert, rogue client cert (other CA)."""
    ext = os.path.join(directory, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for ca in ("ca", "rogue_ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=protoserve test {ca}",
                cwd=directory)
    for name, ca, extra in (("server", "ca", ["-extfile", ext]), ("client", "ca", []), ("rogue", "rogue_ca", [])):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=directory)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", *extra, cwd=directory)
    return {name: os.path.join(directory, name) for name in ("ca", "server", "client", "rogue")}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write_tokens(path, lines):
    """Replaces the token file atomically (as a Kubernetes Secret volume does)."""
    with open(path + ".new", "w") as f:
        f.write("".join(line + "\n" for line in lines))
    os.chmod(path + ".new", 0o600)
    os.replace(path + ".new", path)


def recommend(channel, metadata=None, timeout=30):
    stub = recommender_pb2_grpc.RecommenderStub(channel)
    return stub.GetRecommendations(pb.RecommendationRequest(user_id=SAMPLE["user_id"], features=SAMPLE["features"]),
                                   metadata=metadata, timeout=timeout)


def http_call(port, method, path, body=b"{}"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def bearer(token):
    return [("authorization", "Bearer " + token)]


class SecurityTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="protoserve-security-")
        cls.pki = make_pki(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assert_code(self, code, call, *args, **kw):
        with self.assertRaises(grpc.RpcError) as ctx:
            call(*args, **kw)
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        return ctx.exception

    def tls_channel(self, server, client=None, ca=None):
        creds = grpc.ssl_channel_credentials(
            root_certificates=read((ca or self.pki["ca"]) + ".pem"),
            private_key=read(client + ".key") if client else None,
            certificate_chain=read(client + ".pem") if client else None)
        return grpc.secure_channel(f"127.0.0.1:{server.grpc_port}", creds)


class TlsE2E(SecurityTestCase):
    def test_tls_serves_and_refuses_plaintext(self):
        pki = self.pki
        with Server(f"--tls-cert={pki['server']}.pem", f"--tls-key={pki['server']}.key") as server:
            with self.tls_channel(server) as channel:
                self.assertEqual(list(recommend(channel).item_ids), SAMPLE["top10"])
                health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
                self.assertEqual(health.status, health_pb2.HealthCheckResponse.SERVING)
            with grpc.insecure_channel(server.target) as plain:
                self.assert_code(grpc.StatusCode.UNAVAILABLE, recommend, plain, timeout=5)
            # A client trusting another CA does not accept the server.
            with self.tls_channel(server, ca=pki["rogue"].replace("rogue", "rogue_ca")) as wrong:
                self.assert_code(grpc.StatusCode.UNAVAILABLE, recommend, wrong, timeout=5)
            # The CLI over TLS, verifying the server by its IP SAN.
            r = cli("health", "--target", server.target, "--tls-ca", pki["ca"] + ".pem")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout)["status"], "SERVING")
            r = cli("health", "--target", server.target)  # plaintext against TLS: fails
            self.assertNotEqual(r.returncode, 0)

    def test_mutual_tls_requires_a_client_certificate_from_the_ca(self):
        pki = self.pki
        with Server(f"--tls-cert={pki['server']}.pem", f"--tls-key={pki['server']}.key",
                    f"--tls-client-ca={pki['ca']}.pem") as server:
            with self.tls_channel(server, client=pki["client"]) as channel:
                self.assertEqual(list(recommend(channel).item_ids), SAMPLE["top10"])
            with self.tls_channel(server) as no_cert:
                self.assert_code(grpc.StatusCode.UNAVAILABLE, recommend, no_cert, timeout=5)
            with self.tls_channel(server, client=pki["rogue"]) as rogue:
                self.assert_code(grpc.StatusCode.UNAVAILABLE, recommend, rogue, timeout=5)
            base = ["--target", server.target, "--tls-ca", pki["ca"] + ".pem"]
            r = cli("recommend", *base, "--tls-cert", pki["client"] + ".pem", "--tls-key", pki["client"] + ".key",
                    "--user-id", SAMPLE["user_id"], "--features", ",".join(map(str, SAMPLE["features"])))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual([i["item_id"] for i in json.loads(r.stdout)["items"]], SAMPLE["top10"])
            r = cli("health", *base)
            self.assertNotEqual(r.returncode, 0)

    def https(self, server, path, client=None, ca=None):
        context = ssl.create_default_context(cafile=(ca or self.pki["ca"]) + ".pem")
        if client:
            context.load_cert_chain(client + ".pem", client + ".key")
        connection = http.client.HTTPSConnection("127.0.0.1", server.http_port, timeout=30, context=context)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def test_https_and_mutual_tls_on_the_http_port(self):
        pki = self.pki
        with Server(f"--tls-cert={pki['server']}.pem", f"--tls-key={pki['server']}.key") as server:
            self.assertEqual(self.https(server, "/v2/health/live")[0], 200)
            status, body = self.https(server, "/v2/models/recommender")
            self.assertEqual((status, json.loads(body)["name"]), (200, "recommender"))
            with self.assertRaises(ssl.SSLError):  # a client trusting another CA refuses the server
                self.https(server, "/v2/health/live", ca=pki["rogue"].replace("rogue", "rogue_ca"))
            # Plaintext HTTP to the TLS port gets no HTTP answer.
            with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
                s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                try:
                    answer = s.recv(100)
                except ConnectionResetError:
                    answer = b""
                self.assertFalse(answer.startswith(b"HTTP/1.1 200"), answer)
        with Server(f"--tls-cert={pki['server']}.pem", f"--tls-key={pki['server']}.key",
                    f"--tls-client-ca={pki['ca']}.pem", "--http-header-timeout-secs=2") as server:
            self.assertEqual(self.https(server, "/v2/health/live", client=pki["client"])[0], 200)
            for client in (None, pki["rogue"]):
                with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError), msg=client):
                    self.https(server, "/v2/health/live", client=client)
            # A client that connects and never handshakes is dropped (header timeout).
            with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as idle:
                start = time.time()
                self.assertEqual(idle.recv(10), b"")  # closed by the server
                self.assertLess(time.time() - start, 8)
            self.assertEqual(self.https(server, "/v2/health/live", client=pki["client"])[0], 200)
        # --http-plaintext keeps the HTTP port plaintext (e.g. for local probes).
        with Server(f"--tls-cert={pki['server']}.pem", f"--tls-key={pki['server']}.key", "--http-plaintext") as server:
            connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
            connection.request("GET", "/v2/health/live")
            self.assertEqual(connection.getresponse().status, 200)
            connection.close()
            with self.tls_channel(server) as channel:
                self.assertEqual(list(recommend(channel).item_ids), SAMPLE["top10"])

    def test_bad_tls_configuration_fails_at_start(self):
        pki = self.pki
        for args in ([f"--tls-cert={pki['server']}.pem"],  # no key
                     [f"--tls-cert={pki['server']}.pem", f"--tls-key={pki['client']}.key"],  # mismatched key
                     [f"--tls-client-ca={pki['ca']}.pem"]):  # mTLS without TLS
            server = Server(*args, ready_timeout=60)
            with self.assertRaises(RuntimeError, msg=args):
                server.__enter__()
            self.assertNotEqual(server.proc.returncode, 0, args)


class AuthE2E(SecurityTestCase):
    """Tokens on a plaintext port, explicit model control (management enabled)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tokens = os.path.join(cls.tmp, "tokens")
        write_tokens(cls.tokens, ["# test tokens", f"{INFER_TOKEN} infer", f"{MANAGE_TOKEN} manage",
                                  f"{BOTH_TOKEN} infer,manage"])
        cls.server = Server(f"--auth-tokens={cls.tokens}", "--model-control-mode=explicit",
                            "--load-model=recommender").__enter__()
        cls.channel = grpc.insecure_channel(cls.server.target)
        cls.kserve = inference_pb2_grpc.GRPCInferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        super().tearDownClass()

    def test_predictions_need_an_infer_token(self):
        e = self.assert_code(grpc.StatusCode.UNAUTHENTICATED, recommend, self.channel)
        self.assertIn("Bearer", e.details())
        self.assert_code(grpc.StatusCode.UNAUTHENTICATED, recommend, self.channel, bearer("wrong-token-0000000000"))
        self.assert_code(grpc.StatusCode.UNAUTHENTICATED, recommend, self.channel,
                         [("authorization", "Basic " + INFER_TOKEN)])
        self.assert_code(grpc.StatusCode.PERMISSION_DENIED, recommend, self.channel, bearer(MANAGE_TOKEN))
        self.assertEqual(list(recommend(self.channel, bearer(INFER_TOKEN)).item_ids), SAMPLE["top10"])
        self.assertEqual(list(recommend(self.channel, bearer(BOTH_TOKEN)).item_ids), SAMPLE["top10"])

    def test_health_is_open_metadata_and_reflection_are_not(self):
        health = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        self.assertEqual(health.status, health_pb2.HealthCheckResponse.SERVING)
        self.assertTrue(self.kserve.ServerLive(ipb.ServerLiveRequest(), timeout=10).live)
        self.assertTrue(self.kserve.ServerReady(ipb.ServerReadyRequest(), timeout=10).ready)
        self.assert_code(grpc.StatusCode.UNAUTHENTICATED, self.kserve.ModelMetadata,
                         ipb.ModelMetadataRequest(name="recommender"), timeout=10)
        self.assertEqual(self.kserve.ModelMetadata(ipb.ModelMetadataRequest(name="recommender"), timeout=10,
                                                   metadata=bearer(INFER_TOKEN)).name, "recommender")
        # Reflection: refused before any byte of the request is parsed.
        reflect = self.channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                             request_serializer=None, response_deserializer=None)
        listing = b"\x3a\x01*"  # ServerReflectionRequest{list_services: "*"}
        self.assert_code(grpc.StatusCode.UNAUTHENTICATED, lambda: list(reflect(iter([listing]), timeout=10)))
        answers = list(reflect(iter([listing]), timeout=10, metadata=bearer(INFER_TOKEN)))
        self.assertIn(b"Recommender", answers[0])
        # Unknown methods are not a way around authentication either.
        unknown = self.channel.unary_unary("/no.Such/Method", request_serializer=None, response_deserializer=None)
        self.assert_code(grpc.StatusCode.UNAUTHENTICATED, unknown, b"", timeout=10)
        self.assert_code(grpc.StatusCode.UNIMPLEMENTED, unknown, b"", timeout=10, metadata=bearer(INFER_TOKEN))

    def test_management_needs_the_manage_scope(self):
        load = ipb.RepositoryModelLoadRequest(model_name="patient_outcome")
        self.assert_code(grpc.StatusCode.UNAUTHENTICATED, self.kserve.RepositoryModelLoad, load, timeout=60)
        self.assert_code(grpc.StatusCode.PERMISSION_DENIED, self.kserve.RepositoryModelLoad, load, timeout=60,
                         metadata=bearer(INFER_TOKEN))
        index = self.kserve.RepositoryIndex(ipb.RepositoryIndexRequest(), timeout=10, metadata=bearer(INFER_TOKEN))
        self.assertNotIn("patient_outcome", {m.name for m in index.models})
        self.kserve.RepositoryModelLoad(load, timeout=120, metadata=bearer(MANAGE_TOKEN))
        ready = self.kserve.ModelReady(ipb.ModelReadyRequest(name="patient_outcome"), timeout=10,
                                       metadata=bearer(INFER_TOKEN))
        self.assertTrue(ready.ready)
        unload = ipb.RepositoryModelUnloadRequest(model_name="patient_outcome")
        self.assert_code(grpc.StatusCode.PERMISSION_DENIED, self.kserve.RepositoryModelUnload, unload, timeout=60,
                         metadata=bearer(INFER_TOKEN))
        self.kserve.RepositoryModelUnload(unload, timeout=60, metadata=bearer(BOTH_TOKEN))

    def test_cli_sends_the_token_from_a_file_or_the_environment(self):
        token_file = os.path.join(self.tmp, "cli-token")
        with open(token_file, "w") as f:
            f.write(INFER_TOKEN + "\n")
        features = ",".join(map(str, SAMPLE["features"]))
        base = ["recommend", "--target", self.server.target, "--user-id", SAMPLE["user_id"], "--features", features]
        r = cli(*base)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stderr)["error"]["code"], "UNAUTHENTICATED")
        r = cli(*base, "--auth-token-file", token_file)
        self.assertEqual(r.returncode, 0, r.stderr)
        env = dict(os.environ, PROTOSERVE_AUTH_TOKEN=INFER_TOKEN)
        r = subprocess.run([CLI] + base, capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)


    def http(self, method, path, body=None, token=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=60)
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = "Bearer " + token
        if body is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), data

    def test_the_http_port_checks_the_same_tokens(self):
        body = json.dumps({"user_id": SAMPLE["user_id"], "features": SAMPLE["features"]})
        status, headers, _ = self.http("POST", "/v1/recommendations", body)
        self.assertEqual(status, 401)
        self.assertIn("Bearer", headers.get("WWW-Authenticate", ""))
        self.assertEqual(self.http("POST", "/v1/recommendations", body, token=MANAGE_TOKEN)[0], 403)
        status, _, data = self.http("POST", "/v1/recommendations", body, token=INFER_TOKEN)
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["item_ids"], SAMPLE["top10"])
        self.assertEqual(self.http("GET", "/v2/health/live")[0], 200)
        self.assertIn(self.http("GET", "/v2/health/ready")[0], (200, 503))  # open: never 401
        self.assertEqual(self.http("GET", "/v2/models/recommender")[0], 401)
        self.assertEqual(self.http("GET", "/metrics")[0], 401)
        self.assertEqual(self.http("GET", "/metrics", token=INFER_TOKEN)[0], 200)
        self.assertEqual(self.http("POST", "/v2/repository/models/patient_outcome/load", "{}", token=INFER_TOKEN)[0],
                         403)
        # gRPC-Web on the HTTP port: refused as gRPC would refuse it.
        frame = b"\x00" + len(b"").to_bytes(4, "big")
        status, headers, _ = self.http("POST", "/Recommender/GetRecommendations", frame,
                                       headers={"Content-Type": "application/grpc-web+proto"})
        self.assertEqual((status, headers.get("grpc-status")), (200, "16"))


class TokenReloadE2E(SecurityTestCase):
    def test_rotation_takes_effect_without_restart_and_a_broken_file_keeps_the_old_tokens(self):
        tokens = os.path.join(self.tmp, "rotating-tokens")
        old, new = "old-token-aaaaaaaaaaaaaaaa", "new-token-bbbbbbbbbbbbbbbb"
        write_tokens(tokens, [f"{old} infer"])
        with Server(f"--auth-tokens={tokens}") as server, grpc.insecure_channel(server.target) as channel:
            recommend(channel, bearer(old))
            write_tokens(tokens, [f"{new} infer"])

            def rotated():
                try:
                    recommend(channel, bearer(new))
                    return True
                except grpc.RpcError:
                    return False
            deadline = time.time() + 10
            while not rotated() and time.time() < deadline:
                time.sleep(0.2)
            self.assertTrue(rotated(), "the new token was not accepted within 10 s")
            self.assert_code(grpc.StatusCode.UNAUTHENTICATED, recommend, channel, bearer(old))
            write_tokens(tokens, ["this line has no valid token"])
            time.sleep(1.5)
            recommend(channel, bearer(new))  # previous tokens kept
            # The server logged it before answering; our reader thread may lag behind its output.
            self.assertTrue(wait_until(lambda: any("keeping the previous tokens" in line for line in server.lines), 10),
                            server.lines[-5:])

    def test_malformed_token_file_fails_at_start(self):
        tokens = os.path.join(self.tmp, "bad-tokens")
        write_tokens(tokens, ["short infer"])
        server = Server(f"--auth-tokens={tokens}", ready_timeout=60)
        with self.assertRaises(RuntimeError):
            server.__enter__()
        self.assertEqual(server.proc.returncode, 2)
        self.assertTrue(any("line 1" in line for line in server.lines), server.lines)


class TlsAndAuthE2E(SecurityTestCase):
    def test_tokens_over_mutual_tls(self):
        pki = self.pki
        tokens = os.path.join(self.tmp, "tls-tokens")
        write_tokens(tokens, [f"{INFER_TOKEN} infer"])
        with Server(f"--tls-cert={pki['server']}.pem", f"--tls-key={pki['server']}.key",
                    f"--tls-client-ca={pki['ca']}.pem", f"--auth-tokens={tokens}") as server:
            with self.tls_channel(server, client=pki["client"]) as channel:
                self.assert_code(grpc.StatusCode.UNAUTHENTICATED, recommend, channel)
                self.assertEqual(list(recommend(channel, bearer(INFER_TOKEN)).item_ids), SAMPLE["top10"])
                health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
                self.assertEqual(health.status, health_pb2.HealthCheckResponse.SERVING)


class LoopbackManagementE2E(SecurityTestCase):
    def test_explicit_mode_without_tokens_refuses_management_by_default(self):
        # Finding 3 of issue 19: behind a local proxy or sidecar every remote
        # client is "loopback", so loopback alone must not be enough.
        with Server("--model-control-mode=explicit", "--load-model=recommender") as server, \
                grpc.insecure_channel(server.target) as channel:
            kserve = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
            for call, request in ((kserve.RepositoryModelUnload, ipb.RepositoryModelUnloadRequest),
                                  (kserve.RepositoryModelLoad, ipb.RepositoryModelLoadRequest)):
                error = self.assert_code(grpc.StatusCode.PERMISSION_DENIED, call,
                                         request(model_name="recommender"), timeout=30)
                self.assertIn("--auth-tokens", error.details())
            status, _ = http_call(server.http_port, "POST", "/v2/repository/models/recommender/unload")
            self.assertEqual(status, 403)
            self.assertEqual(list(recommend(channel).item_ids), SAMPLE["top10"])  # still loaded

    def test_explicit_mode_with_the_opt_out_accepts_management_from_loopback(self):
        with Server("--model-control-mode=explicit", "--allow-unauthenticated-management") as server, \
                grpc.insecure_channel(server.target) as channel:
            self.assertTrue(any("--allow-unauthenticated-management: ANY client" in line for line in server.lines))
            kserve = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
            kserve.RepositoryModelLoad(ipb.RepositoryModelLoadRequest(model_name="recommender"), timeout=120)
            self.assertEqual(list(recommend(channel).item_ids), SAMPLE["top10"])
            # Path traversal and odd names never reach the filesystem.
            for name in ("../recommender", "/etc", "..", ".hidden", "a/b", "x" * 200, "rec\x00ommender"):
                self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, kserve.RepositoryModelLoad,
                                 ipb.RepositoryModelLoadRequest(model_name=name), timeout=30)


if __name__ == "__main__":
    unittest.main()
