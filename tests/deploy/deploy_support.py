"""Shared helpers of tests/deploy: paths, protoserve replicas, HAProxy, ldd -> package.

The deployment tests check the artifacts under deploy/ (manifests parsed, configs
checked by their own tools where Debian has them) and run the real binaries on
loopback: no container runtime, no cluster.
"""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
sys.path.insert(0, os.path.join(DEPLOY, "haproxy"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import BUILD, CLI, PYTHON, REPO, SERVER, Server, stubs  # noqa: E402,F401

DATA = os.environ.get("PROTOSERVE_DATA", os.path.join(BUILD, "data"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica(Server):
    """The e2e harness's server as one replica of several: single-threaded BLAS
    and OpenMP (replicas share the cores), and its exit code is the test's
    business (replicas are killed on purpose)."""

    def __init__(self, *args, repo=REPO, ready_timeout=180):
        super().__init__(*args, repo=repo, env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
                         ready_timeout=ready_timeout)

    def served_recommendations(self):
        """Recommender calls answered OK over gRPC, from /metrics."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            if (line.startswith("protoserve_requests_total{") and 'api="grpc"' in line and 'code="OK"' in line
                    and 'model="recommender"' in line):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def __exit__(self, *exc):
        self.stop()


class HAProxy:
    """haproxy -db with deploy/haproxy/haproxy.cfg rendered for the given replicas."""

    def __init__(self, grpc_servers, rest_servers, workdir):
        from render import render
        self.ports = {"grpc": free_port(), "rest": free_port(), "stats": free_port()}
        binds = {k: f"127.0.0.1:{p}" for k, p in self.ports.items()}
        binds["admin"] = os.path.join(workdir, "admin.sock")
        with open(os.path.join(DEPLOY, "haproxy", "haproxy.cfg")) as f:
            self.config = render(f.read(), binds=binds, servers={"grpc": grpc_servers, "rest": rest_servers})
        self.config_path = os.path.join(workdir, "haproxy.cfg")
        with open(self.config_path, "w") as f:
            f.write(self.config)
        self.log_path = os.path.join(workdir, "haproxy.log")

    def __enter__(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.config_path], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        return self

    def server_states(self, backend="protoserve_grpc"):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['stats']}/stats;csv", timeout=2) as r:
            rows = r.read().decode().splitlines()
        header = rows[0].lstrip("# ").split(",")
        states = {}
        for row in rows[1:]:
            fields = dict(zip(header, row.split(",")))
            if fields.get("pxname") == backend and fields["svname"] not in ("FRONTEND", "BACKEND"):
                states[fields["svname"]] = fields["status"].split()[0]
        return states

    def wait_states(self, expected, backend="protoserve_grpc", timeout=20):
        deadline = time.time() + timeout
        states = None
        while time.time() < deadline:
            try:
                states = self.server_states(backend)
                if states == expected:
                    return states
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"haproxy {backend} states {states}, expected {expected}:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ------------------------------------------------------------------ ldd -> Debian packages

def ldd_libraries(binary):
    """{soname: resolved path} of every shared library `ldd binary` lists."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m:
            libs[m.group(1)] = m.group(2)
            continue
        m = re.match(r"\s*(/\S+) \(0x", line)  # the dynamic loader
        if m:
            libs[os.path.basename(m.group(1))] = m.group(1)
    return libs


def _path_variants(path):
    """The names dpkg may know a library by (merged /usr, symlinks)."""
    variants = []
    for candidate in (path, os.path.realpath(path)):
        variants.append(candidate)
        if candidate.startswith("/lib"):
            variants.append("/usr" + candidate)
        elif candidate.startswith("/usr/lib"):
            variants.append(candidate[len("/usr"):])
    return variants


def owning_packages(paths):
    """{path: Debian package owning it, or None}, with one `dpkg -S` call."""
    variants = {path: _path_variants(path) for path in paths}
    everything = sorted({v for vs in variants.values() for v in vs})
    out = subprocess.run(["dpkg", "-S"] + everything, capture_output=True, text=True).stdout
    owner = {}
    for line in out.splitlines():
        package, _, owned = line.partition(": ")
        if owned:
            owner.setdefault(owned.strip(), package.split(":", 1)[0].split(",")[0].strip())
    return {path: next((owner[v] for v in vs if v in owner), None) for path, vs in variants.items()}


def owning_package(path):
    return owning_packages([path])[path]


def installed_dependencies():
    """{package: set of packages apt installs for it} over the installed packages:
    Depends and Pre-Depends, the first alternative of an `a | b` group (what apt picks
    when none is installed: so a package reached only as a later alternative, such as
    libopenblas0-pthread for libtorch's `libblas3 | libblas.so.3`, must be listed), a
    virtual package resolved to its installed providers."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Depends}\t${Pre-Depends}\t${Provides}\n"],
                         capture_output=True, text=True, check=True).stdout
    depends, providers = {}, {}
    for line in out.splitlines():
        name, deps, predeps, provides = (line.split("\t") + ["", "", ""])[:4]
        names = set()
        for group in (deps + "," + predeps).split(","):
            first = group.split("|")[0].strip()
            if first:
                names.add(re.split(r"[\s(:]", first, 1)[0])
        depends[name] = names
        for p in provides.split(","):
            p = p.strip()
            if p:
                providers.setdefault(re.split(r"[\s(]", p, 1)[0], set()).add(name)
    for name, names in depends.items():
        resolved = set()
        for n in names:
            resolved |= {n} if n in depends or n not in providers else providers[n]
        depends[name] = resolved
    return depends


def closure(packages, depends):
    seen, todo = set(), list(packages)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(depends.get(p, ()))
    return seen
