"""Pieces of the benchmark suite (bench/run_suite.py): server processes, `protoserve-cli bench` runs, the
markdown report and its charts (drawn by `protoserve-cli bench chart`, the bench tool's own SVG code)."""
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request


BINARIES = ("protoserve", "protoserve-cli", "floor_server", "stage_server", "model_alone", "core_alone")


def snapshot_binaries(build):
    """Copies the binaries to a temporary directory (returned), so that the whole suite measures one build even
    if build/ is rebuilt meanwhile, as happens in a shared tree; each copy must start (`--help`)."""
    snap = tempfile.mkdtemp(prefix="protoserve-bench-bin-")
    for name in BINARIES:
        path = shutil.copy2(os.path.join(build, name), snap)
        if subprocess.run([path, "--help"], capture_output=True, timeout=60).returncode != 0:
            raise RuntimeError(f"{os.path.join(build, name)} does not run (being rebuilt?); build, then retry")
    return snap


def source_revision(root):
    """The commit measured, e.g. "7f7e883", with " + uncommitted changes" when the tree differs from it."""
    head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + (" + uncommitted changes" if dirty else "")


class Proc:
    """A server process; waits for its 'listening on HOST:PORT' lines."""

    def __init__(self, args, patterns, env=None, timeout=180):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=dict(os.environ, **(env or {})))
        self.ports = {}
        deadline = time.time() + timeout
        while len(self.ports) < len(patterns) and time.time() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            for key, pattern in patterns.items():
                m = re.search(pattern, line)
                if m:
                    self.ports[key] = int(m.group(1)) if m.group(1).isdigit() else m.group(1)
        if len(self.ports) < len(patterns):
            self.stop()
            raise RuntimeError(f"{args[0]} did not start")
        # Keep draining output so the child never blocks on a full pipe; the last lines stay readable.
        self.lines = collections.deque(maxlen=200)
        self.line_cv = threading.Condition()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.p.stdout:
            with self.line_cv:
                self.lines.append(line)
                self.line_cv.notify_all()

    def ask(self, sig, pattern, timeout=10):
        """Sends `sig` and returns the first match of `pattern` among the lines the process writes after it."""
        with self.line_cv:
            self.lines.clear()
        self.p.send_signal(sig)
        deadline = time.time() + timeout
        with self.line_cv:
            while True:
                for line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
                left = deadline - time.time()
                if left <= 0 or self.p.poll() is not None:
                    raise RuntimeError(f"{self.p.args[0]}: no line matching {pattern!r} after signal {sig}")
                self.line_cv.wait(left)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()


def protoserve(build, repo, *extra, env=None):
    return Proc([os.path.join(build, "protoserve"), f"--model-repository={repo}", "--grpc-port=0", "--http-port=0",
                 "--address=127.0.0.1", *extra],
                {"grpc": r"gRPC listening on \S+:(\d+)", "http": r"HTTP listening on \S+:(\d+)",
                 "ready": r"protoserve (ready)"}, env=env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench(build, *args, duration, warmup="1s"):
    cmd = [os.path.join(build, "protoserve-cli"), "bench", "--format", "json", "--no-progress", "-d", duration,
           "--warmup", warmup, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{out.stderr}")
    return json.loads(out.stdout)["runs"]


TICKS = os.sysconf("SC_CLK_TCK")


def process_usage(pid):
    """(CPU seconds, user + system; context switches, voluntary + involuntary, summed over its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of proc(5))
    switches = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return cpu, switches


def costed_bench(build, server_pid, *args, duration):
    """One `bench` run per concurrency level (args must hold a single -c value), with what each request cost:
    the server's CPU (from /proc/<pid>/stat) and context switches (its threads' /proc status) over the measured
    window, and the load generator's own CPU (its rusage), each divided by the requests answered. A separate
    1 s run warms up first, so the window holds only measured requests."""
    bench(build, *args, duration="1s", warmup="0s")
    client_before = os.times()
    cpu_before, cs_before = process_usage(server_pid)
    run = bench(build, *args, duration=duration, warmup="0s")[0]
    cpu_after, cs_after = process_usage(server_pid)
    client_after = os.times()
    n = max(1, run["requests"])
    client_cpu = (client_after.children_user - client_before.children_user +
                  client_after.children_system - client_before.children_system)
    run["server_cpu_us"] = 1e6 * (cpu_after - cpu_before) / n
    run["client_cpu_us"] = 1e6 * client_cpu / n
    run["server_cs"] = (cs_after - cs_before) / n
    return run


def costed_rounds(build, contenders, concurrency, rounds, duration):
    """`costed_bench` of each contender (name, pid, bench args) in turn, `rounds` times over, so they share the
    machine's mood; returns {name: run} where each figure is the median of that contender's rounds (a shared
    2-core machine moves single runs by +-30%)."""
    runs = {name: [] for name, _, _ in contenders}
    for _ in range(rounds):
        for name, pid, args in contenders:
            runs[name].append(costed_bench(build, pid, *args, "-c", str(concurrency), duration=duration))

    def median(values):
        values = sorted(values)
        return values[len(values) // 2]
    out = {}
    for name, rs in runs.items():
        run = dict(rs[0])
        for key in ("qps", "server_cpu_us", "client_cpu_us", "server_cs"):
            run[key] = median([r[key] for r in rs])
        run["latency_ms"] = {q: median([r["latency_ms"][q] for r in rs]) for q in rs[0]["latency_ms"]}
        run["requests"] = sum(r["requests"] for r in rs)
        run["errors"] = {}
        for r in rs:
            for kind, n in r.get("errors", {}).items():
                run["errors"][kind] = run["errors"].get(kind, 0) + n
        run["rounds"] = [r["server_cpu_us"] for r in rs]
        out[name] = run
    return out


# Where a server's CPU goes, by shared object (perf's "dso"), grouped into the layers the report names.
PROFILE_GROUPS = (
    ("kernel (sockets, epoll, futex, scheduler)", lambda d: d.startswith("[kernel")),
    ("gRPC + protobuf + abseil", lambda d: d.startswith(("libgrpc", "libgpr", "libabsl", "libprotobuf", "libaddress_sorting",
                                                          "libupb", "libre2", "libcares", "libssl", "libcrypto"))),
    ("torch (libtorch, c10, sleef, gomp)", lambda d: d.startswith(("libtorch", "libc10", "libsleef", "libgomp"))),
    ("BLAS (OpenBLAS)", lambda d: d.startswith(("libopenblas", "libblas"))),
    ("libc + libstdc++ (malloc/free, memcpy, locks)", lambda d: d.startswith(("libc.", "libc-", "libstdc++", "libm.",
                                                                             "ld-linux", "[vdso]", "libpthread"))),
    ("the server's own code (protoserve: core, front-ends, Beast, RapidJSON; floor_server)",
     lambda d: d in ("protoserve", "floor_server") or d.startswith("protoserve")),
)


def perf_profile(build, pid, args, seconds, frequency=999):
    """Samples the server `pid` with `perf record` while one `protoserve-cli bench` run of `args` loads it;
    returns ({group: server CPU us per request}, requests/s). Needs `perf` (scripts/setup installs linux-perf)."""
    data = tempfile.mktemp(prefix="protoserve-perf-", suffix=".data")
    load = subprocess.Popen([os.path.join(build, "protoserve-cli"), "bench", "--format", "json", "--no-progress",
                             "-d", f"{seconds + 2}s", "--warmup", "1s", *args], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # past the warm-up
        subprocess.run(["perf", "record", "-q", "-F", str(frequency), "-p", str(pid), "-o", data, "--", "sleep",
                        str(seconds)], check=True, capture_output=True, timeout=seconds + 60)
        out, _ = load.communicate(timeout=120)
        qps = json.loads(out)["runs"][0]["qps"]
        report = subprocess.run(["perf", "report", "-i", data, "--sort", "dso", "-F", "sample,dso", "--stdio", "-g",
                                 "none"], capture_output=True, text=True, check=True, timeout=300).stdout
    finally:
        if load.poll() is None:
            load.kill()
        if os.path.exists(data):
            os.remove(data)
    groups = {name: 0.0 for name, _ in PROFILE_GROUPS}
    groups["other"] = 0.0
    for line in report.splitlines():
        fields = line.split(None, 1)
        if len(fields) != 2 or line.startswith("#") or not fields[0].isdigit():
            continue
        us = int(fields[0]) / frequency / (qps * seconds) * 1e6  # sampled CPU seconds per request
        dso = fields[1].strip()
        name = next((n for n, match in PROFILE_GROUPS if match(dso)), "other")
        groups[name] += us
    return groups, qps


def command_text(*args, duration):
    return "protoserve-cli bench " + " ".join(args) + f" -d {duration}"


def lower(reduction):
    return f"{reduction:.0%} lower" if reduction >= 0 else f"{-reduction:.0%} higher"


def less(reduction):
    """A cost's reduction as "N% less" or "N% more"."""
    return f"{reduction:.0%} less" if reduction >= 0 else f"{-reduction:.0%} more"


def ms(x):
    return f"{x:.3f}"


def by_concurrency(runs):
    return {r["concurrency"]: r for r in runs}


def errors_in(run):
    return sum(run.get("errors", {}).values())


class Report:
    """The markdown being written; every table is captioned with its command, the machine and the date."""

    def __init__(self, stamp):
        self.parts = []
        self.stamp = stamp

    def add(self, text):
        self.parts.append(text.rstrip() + "\n\n")

    def table(self, header, rows, source):
        """`source`: how the figures were obtained, e.g. "Command: `protoserve-cli bench ...`"."""
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        self.add("\n".join(lines))
        self.add(f"<sub>{source}. Measured {self.stamp}.</sub>")


class Charts:
    """SVG charts drawn by `protoserve-cli bench chart` (the bench tool's own chart code) into docs/img/."""

    def __init__(self, build, img_dir):
        self.cli = os.path.join(build, "protoserve-cli")
        self.img_dir = img_dir

    def draw(self, name, spec):
        """Writes img/<name> and returns the markdown that embeds it."""
        path = os.path.join(self.img_dir, name)
        subprocess.run([self.cli, "bench", "chart", "-", "-o", path], input=json.dumps(spec), text=True,
                       check=True, timeout=60)
        return f"![{spec['title']}](img/{name})"

    def latency_vs_throughput(self, name, title, runs_by_name):
        """p50 (solid) and p99 (dashed) vs qps across a concurrency sweep, one colour per contender."""
        series = []
        for label, color, runs in runs_by_name:
            for q, dash in (("p50", ""), ("p99", "6,3")):
                points = [{"x": r["qps"], "y": r["latency_ms"][q],
                           "label": f"c={r['concurrency']}" if q == "p50" and r in (runs[0], runs[-1]) else ""}
                          for r in runs]
                series.append({"name": f"{label} {q}", "color": color, "dash": dash, "points": points})
        return self.draw(name, {"type": "line", "title": title, "x_label": "throughput (requests/s)",
                                "y_label": "latency (ms)", "log_x": True, "log_y": True, "width": 860,
                                "height": 440, "series": series})

    def histograms(self, name, title, runs_by_name):
        """Latency distributions on one log axis: the share of requests in each of the runs' common bins."""
        series = []
        for label, color, run in runs_by_name:
            total = sum(b["count"] for b in run["histogram"]) or 1
            series.append({"name": label, "color": color, "points": [
                {"x": (b["lower_ms"] * b["upper_ms"]) ** 0.5, "y": 100 * b["count"] / total}
                for b in run["histogram"]]})
        return self.draw(name, {"type": "line", "title": title, "x_label": "latency (ms), bins of 10 per decade",
                                "y_label": "% of requests", "log_x": True, "width": 800, "height": 400,
                                "series": series})

    def bars(self, name, title, y_label, labels, values):
        return self.draw(name, {"type": "bar", "title": title, "y_label": y_label, "width": 640, "height": 320,
                                "bars": [{"label": l, "value": v} for l, v in zip(labels, values)]})


def write_repo_variant(src_repo, model, config_edit):
    """A temporary repository holding a copy of `model` with an edited config."""
    root = tempfile.mkdtemp(prefix="protoserve-bench-")
    shutil.copytree(os.path.join(src_repo, model), os.path.join(root, model))
    path = os.path.join(root, model, "config.pbtxt")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(config_edit(text))
    return root


def histogram_totals(http_port, metric, label):
    """(sum, count) of a Prometheus histogram on protoserve's /metrics, over the series whose labels hold `label`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    totals = [0.0, 0.0]
    for line in text.splitlines():
        for i, suffix in enumerate(("_sum{", "_count{")):
            if line.startswith(metric + suffix) and label in line:
                totals[i] += float(line.rsplit(" ", 1)[1])
    return tuple(totals)
