"""Shared e2e helpers: generate Python stubs, start the real server, call it.

Every e2e test starts `build/protoserve` on free ports (port 0) against the
demo model repository and talks to it over loopback with real clients.
"""
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("PROTOSERVE_BUILD", os.path.join(ROOT, "build"))
REPO = os.environ.get("PROTOSERVE_MODEL_REPOSITORY", os.path.join(BUILD, "model_repository"))
DATA = os.path.join(BUILD, "data")
SERVER = os.path.join(BUILD, "protoserve")
CLI = os.path.join(BUILD, "protoserve-cli")
PYTHON = "/usr/bin/python3"

_STUBS = None


# Debian's protoc 3.21 (the version of the python3-protobuf runtime) with gRPC's Python plugin, as the
# protoserve-client package compiles its stubs: python3-grpc-tools bundles protoc 3.5.1, which rejects
# proto3 `optional` (patient_outcome's contract). scripts/setup installs both; a missing one fails the test.
PROTOC = ["/usr/bin/protoc", "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]


def generate_stubs(proto_dir, protos, out_dir):
    subprocess.run([*PROTOC, "-I", proto_dir, "--python_out", out_dir, "--grpc_python_out", out_dir] + protos,
                   check=True)


def stubs():
    """Generates stubs for proto/*.proto once per process and makes them importable."""
    global _STUBS
    if _STUBS is None:
        _STUBS = tempfile.mkdtemp(prefix="protoserve-stubs-")
        proto_dir = os.path.join(ROOT, "proto")
        protos = sorted(p for p in os.listdir(proto_dir) if p.endswith(".proto"))
        generate_stubs(proto_dir, protos, _STUBS)
        sys.path.insert(0, _STUBS)
    return _STUBS


class Server:
    """A protoserve process on free ports; use as a context manager."""

    def __init__(self, *args, repo=REPO, env=None, ready_timeout=180):
        defaults = [f"--model-repository={repo}", "--grpc-port=0", "--http-port=0", "--address=127.0.0.1"]
        given = {a.split("=")[0] for a in args}
        self.args = [SERVER] + [d for d in defaults if d.split("=")[0] not in given] + list(args)
        self.env = env
        self.ready_timeout = ready_timeout
        self.grpc_port = None
        self.http_port = None
        self.lines = []
        self._ready = threading.Event()

    def __enter__(self):
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(self.ready_timeout) or self.grpc_port is None:
            self.stop()
            raise RuntimeError("server did not become ready:\n" + "\n".join(self.lines))
        return self

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if os.environ.get("PROTOSERVE_E2E_VERBOSE"):
                print("[server]", line, flush=True)
            m = re.search(r"gRPC listening on \S+:(\d+)", line)
            if m:
                self.grpc_port = int(m.group(1))
            m = re.search(r"HTTP listening on \S+:(\d+)", line)
            if m:
                self.http_port = int(m.group(1))
            if "protoserve ready" in line or "protoserve started" in line:
                self._ready.set()
        self._ready.set()

    @property
    def target(self):
        return f"127.0.0.1:{self.grpc_port}"

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self.proc.stdout.close()
        return self.proc.returncode

    def __exit__(self, *exc):
        code = self.stop()
        if exc[0] is None and code not in (0, -signal.SIGKILL):
            raise AssertionError(f"server exited with {code}:\n" + "\n".join(self.lines[-40:]))


def cli(*args, check=False, timeout=60):
    """Runs protoserve-cli; returns CompletedProcess (text)."""
    return subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=timeout, check=check)


def load_samples(name):
    """The samples `make models` wrote for model `name` (build/data/<name>_samples.json)."""
    import json
    with open(os.path.join(DATA, f"{name}_samples.json")) as f:
        return json.load(f)


def wait_until(predicate, timeout=30, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


# gRPC-Web framing (PROTOCOL-WEB.md): a flag byte, a 4-byte big-endian length, the payload.
def frame(message_bytes, flags=0):
    return struct.pack(">BI", flags, len(message_bytes)) + message_bytes


def unframe(body):
    """Returns (messages, trailers dict)."""
    messages, trailers, at = [], {}, 0
    while at < len(body):
        flags, n = struct.unpack(">BI", body[at:at + 5])
        payload = body[at + 5:at + 5 + n]
        assert len(payload) == n, "truncated frame"
        at += 5 + n
        if flags & 0x80:
            for line in payload.decode().split("\r\n"):
                if line:
                    k, v = line.split(":", 1)
                    trailers[k.strip().lower()] = v.strip()
        else:
            messages.append(payload)
    return messages, trailers
