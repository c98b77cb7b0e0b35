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
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prediction_log_ab import prediction_log_ab, table as prediction_log_table  # noqa: E402
from suite_support import (PROFILE_GROUPS, Charts, Proc, Report, bench, by_concurrency,  # noqa: E402
                           command_text, costed_bench, costed_rounds, perf_profile,
                           errors_in, free_port, less, lower, ms, protoserve, snapshot_binaries, source_revision,
                           histogram_totals, write_repo_variant)
from tracing_bench import tracing_overhead  # noqa: E402
import typed_bench  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PY = "/usr/bin/python3"

LEVELS = (1, 2, 4, 8, 16, 32)
STAGE_LEVELS = (1, 8)  # concurrency of the stage table (each stage under each protocol's engine)
# The stage table's contenders by (protocol, stage): their names in the cost table (gRPC's floor is the cost
# table's own floor), in the order the table lists them; protoserve itself closes each protocol's rows.
STAGES = {("gRPC", "floor"): "floor (canned reply)",
          ("gRPC", "spin"): "gRPC floor + 25 us of computation per call (CPU time, in registers)",
          ("gRPC", "model"): "gRPC floor + the model (stage_server --stage model)",
          ("gRPC", "core"): "gRPC floor + the core (stage_server --stage core)",
          ("gRPC", "server"): "protoserve gRPC",
          ("gRPC CQ", "floor"): "gRPC floor on a 1-thread completion-queue engine (floor_server --engine cq --threads 1)",
          ("gRPC CQ", "model"): "gRPC CQ floor + the model (stage_server --engine cq --stage model)",
          ("gRPC CQ", "core"): "gRPC CQ floor + the core (stage_server --engine cq --stage core)",
          ("gRPC CQ", "core+health"): "gRPC CQ floor + the core + gRPC's callback health service "
                                      "(stage_server --engine cq --stage core --with-callback-health)",
          ("REST", "floor"): "REST floor (stage_server --protocol rest --stage floor)",
          ("REST", "model"): "REST floor + the model (stage_server --protocol rest --stage model)",
          ("REST", "core"): "REST floor + the core (stage_server --protocol rest --stage core)",
          ("REST", "server"): "protoserve REST"}
COST_LEVELS = (1, 8, 32)  # concurrency of the per-request cost table (server and client CPU, context switches)  # closed-loop concurrency sweep of the server comparison
PAYLOAD_SIZES = (32, 256, 2048, 16384, 131072)  # FP32 values; x8 steps up to the seed's 2 MB record
PAYLOAD_CONCURRENCY = 4
SERVERS = (("protoserve gRPC", "#1f77b4"), ("protoserve REST", "#2ca02c"), ("Python grpcio", "#ff7f0e"),
           ("Python FastAPI", "#d62728"))
ENCODINGS = (  # (name, mode, --input-tensor-format, colour)
    ("gRPC raw", "grpc-infer", "binary", "#1f77b4"),
    ("gRPC typed", "grpc-infer", "typed", "#9467bd"),
    ("REST JSON", "rest-infer", "json", "#d62728"),
    ("REST binary", "rest-infer", "binary", "#2ca02c"),
)


def payload_sweep(build, data, d, rep, charts, procs):
    """The payload-size sweep on the bench-only fixture model (bench/payload_fixture.py). Returns its runs."""
    work = tempfile.mkdtemp(prefix="protoserve-bench-payload-")
    try:
        made = subprocess.run([PY, os.path.join(ROOT, "bench", "payload_fixture.py"), "--repo",
                               os.path.join(work, "repo"), "--requests", os.path.join(work, "requests"), "--record",
                               os.path.join(data, "patient_record_samples.json"), "--sizes",
                               ",".join(map(str, PAYLOAD_SIZES))], capture_output=True, text=True, check=True,
                              timeout=300)
        fixture = json.loads(made.stdout.strip().splitlines()[-1])
        server = protoserve(build, os.path.join(work, "repo"))
        procs.append(server)
        runs = {}
        for n in PAYLOAD_SIZES:  # the four encodings of one size back to back, so they share the machine's mood
            for name, mode, fmt, _ in ENCODINGS:
                target = (["--target", f"127.0.0.1:{server.ports['grpc']}"] if mode.startswith("grpc") else
                          ["--http-target", f"127.0.0.1:{server.ports['http']}"])
                runs[name, n] = bench(build, *target, "--mode", mode, "--model", fixture["model"], "--request",
                                      fixture["requests"][str(n)], "--input-tensor-format", fmt, "-c",
                                      str(PAYLOAD_CONCURRENCY), duration=d)[0]
        server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    c = PAYLOAD_CONCURRENCY
    sweep_command = command_text("--mode grpc-infer|rest-infer --model bench_payload --request values_N.json "
                                 f"--input-tensor-format binary|typed|json -c {c}", duration=d)
    rep.add("## Payload size: protobuf vs JSON on the wire, gRPC vs REST (32 to 131 072 FP32 values)\n")
    rep.add("""A sweep over request size on `bench_payload`, a **benchmark fixture** built for this section only
(`bench/payload_fixture.py`, into a temporary repository; not a demo model): any number of FP32 values in
(`dims: [-1]`), their mean and maximum out, a few microseconds of work, so the figures are the request's trip.
The values are the first n of the patient_record sample, so the largest size is the seed's "2 MB patient
record". Each size is sent four ways, back to back: KServe v2 gRPC `ModelInfer` with `raw_input_contents`
(**gRPC raw**) or with typed `contents.fp32_contents` (**gRPC typed**), and KServe v2 REST with JSON `data`
(**REST JSON**, as a Python client sends a float32 array: `json.dumps(a.tolist())`, ~20 characters a value)
or with the binary tensor extension (**REST binary**: `Inference-Header-Content-Length`, the JSON header, then
the raw bytes).""")
    rep.table(["FP32 values", "gRPC raw", "gRPC typed", "REST JSON", "REST binary", "JSON / gRPC raw"],
              [[f"{n:,}", *(f"{runs[e[0], n]['request_bytes']:,.0f}" for e in ENCODINGS),
                f"{runs['REST JSON', n]['request_bytes'] / runs['gRPC raw', n]['request_bytes']:.1f}x"]
               for n in PAYLOAD_SIZES],
              f"Bytes per request: `request_bytes` of the runs below (the serialized `ModelInferRequest` on gRPC, "
              f"the HTTP body on REST; HTTP/2 and HTTP/1.1 framing and headers not counted). Command: `{sweep_command}`")
    rows = []
    for n in PAYLOAD_SIZES:
        ref = runs["REST JSON", n]
        for name, *_ in ENCODINGS:
            r = runs[name, n]
            rows.append([f"{n:,}", name, f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]), ms(r["latency_ms"]["p99"]),
                         f"{r['qps'] / ref['qps']:.2f}", f"{r['latency_ms']['p50'] / ref['latency_ms']['p50']:.2f}",
                         errors_in(r)])
    rep.add(f"Latency and throughput at concurrency {c}, side by side per size (ratios against REST JSON of the "
            "same size):\n")
    rep.table(["FP32 values", "encoding", "qps", "p50", "p99", "qps / REST JSON", "p50 / REST JSON", "errors"], rows,
              f"Command: `{sweep_command}`")
    rep.add(charts.draw("payload_bytes.svg", {
        "type": "line", "title": "Request bytes vs payload size", "x_label": "FP32 values per request",
        "y_label": "bytes per request", "log_x": True, "log_y": True, "width": 760, "height": 400,
        "series": [{"name": name, "color": color, "dash": {"gRPC typed": "2,3", "REST binary": "6,3"}.get(name, ""),
                    "points": [{"x": n, "y": runs[name, n]["request_bytes"]} for n in PAYLOAD_SIZES]}
                   for name, _, _, color in ENCODINGS]}))
    rep.add(charts.draw("payload_latency.svg", {
        "type": "line", "title": f"Latency vs payload size (concurrency {c}; p50 solid, p99 dashed)",
        "x_label": "FP32 values per request", "y_label": "latency (ms)", "log_x": True, "log_y": True,
        "width": 860, "height": 440,
        "series": [{"name": f"{name} {q}", "color": color, "dash": dash,
                    "points": [{"x": n, "y": runs[name, n]["latency_ms"][q]} for n in PAYLOAD_SIZES]}
                   for name, _, _, color in ENCODINGS for q, dash in (("p50", ""), ("p99", "6,3"))]}))
    small, large = PAYLOAD_SIZES[0], PAYLOAD_SIZES[-1]
    p50 = {k: r["latency_ms"]["p50"] for k, r in runs.items()}
    faster = [n for n in PAYLOAD_SIZES if p50["gRPC raw", n] < 0.9 * p50["REST JSON", n]]  # a lead beyond noise
    crossover = next((n for n in PAYLOAD_SIZES if all(m in faster for m in PAYLOAD_SIZES if m >= n)), None)
    binary = p50["REST binary", large] / p50["gRPC raw", large]
    verdict = ("what makes REST slow on large tensors is JSON text, not HTTP/1.1." if binary <= 1.2 else
               "JSON text is most of REST's cost on large tensors, the protocol the rest.")
    size = {k: r["request_bytes"] for k, r in runs.items()}
    rep.add(" ".join([
        f"JSON costs {size['REST JSON', large] / size['gRPC raw', large]:.1f}x the bytes of protobuf's raw contents at "
        f"{large:,} values ({size['REST JSON', large] / 1e6:.2f} MB vs {size['gRPC raw', large] / 1e6:.2f} MB) and "
        f"{size['REST JSON', small] / size['gRPC raw', small]:.1f}x at {small}.",
        f"gRPC raw p50 is {lower(1 - p50['gRPC raw', small] / p50['REST JSON', small])} than REST JSON at {small} "
        f"values and {lower(1 - p50['gRPC raw', large] / p50['REST JSON', large])} at {large:,};",
        f"gRPC raw is clearly faster (p50 at least 10% lower) from {crossover:,} values up." if crossover else
        "gRPC raw is not clearly faster (p50 at least 10% lower) at any size.",
        f"With the binary extension, REST's p50 at {large:,} values is {binary:.2f}x gRPC raw's: {verdict}",
        f"Typed contents cost gRPC {p50['gRPC typed', large] / p50['gRPC raw', large]:.2f}x raw's p50 at {large:,} "
        "values (one field per value to encode and decode instead of one block of bytes)."]))
    return runs, crossover


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    parser.add_argument("--quick", action="store_true", help="1 s runs (smoke test of the suite)")
    args = parser.parse_args()
    d = "1s" if args.quick else "5s"
    repo = os.path.join(args.build, "model_repository")
    data = os.path.join(args.build, "data")
    build = snapshot_binaries(args.build)  # every section below runs these copies
    img = os.path.join(os.path.dirname(args.out), "img")
    os.makedirs(img, exist_ok=True)
    started = time.time()
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    today = datetime.date.today().isoformat()
    rep = Report(f"on {today}, {os.cpu_count()} cores ({cpu})")
    charts = Charts(build, img)
    levels = ",".join(map(str, LEVELS))
    rep.add(f"""# Benchmarks

Generated by `make bench` (`bench/run_suite.py`) on {today}, from commit {source_revision(ROOT)}:
{os.cpu_count()} cores ({cpu}), {platform.platform()}. Client and servers share the same 2 cores over
loopback, so absolute figures are modest and noisy; **read the ratios**, which compare contenders measured
side by side in one run with the same client (`protoserve-cli bench`, closed loop unless stated, {d} per
point after 1 s warm-up). Latencies in ms. To reproduce: `make bench` (builds, trains the demo models if
needed, then runs this suite; its wall time is at the end), or `/usr/bin/python3 bench/run_suite.py`.
""")
    procs = []
    try:
        # ---------------------------------------------------------------- engine
        rep.add("## gRPC engine: callback API vs completion-queue API (canned reply, no model)\n")
        floors = {}
        for engine, threads in (("callback", "2"), ("cq", "2"), ("cq", "1")):
            p = Proc([os.path.join(build, "floor_server"), "--engine", engine, "--threads", threads],
                     {"grpc": r"listening on \S+:(\d+)"})
            procs.append(p)
            floors["callback" if engine == "callback" else f"cq, {threads} thread{'s' if threads != '1' else ''}"] = p
        rows = []
        for engine, p in floors.items():
            runs = bench(build, "--target", f"127.0.0.1:{p.ports['grpc']}", "--mode", "grpc-recommend",
                         "-c", "1,8,32", duration=d)
            for r in runs:
                rows.append([engine, r["concurrency"], f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]),
                             ms(r["latency_ms"]["p99"])])
        rep.table(["engine", "concurrency", "qps", "p50", "p99"], rows,
                  f"Command: `bench/floor_server --engine callback|cq --threads 2|1` and "
                  f"`{command_text('--mode grpc-recommend -c 1,8,32', duration=d)}`")
        rep.add("The callback API of gRPC 1.51 on Linux runs every callback on a completion queue of its own, "
                "polled by at least two \"nexting\" threads (`grpc::CompletionQueue` with "
                "`Clamp(cores / 2, 2, 16)` threads), and so does a CQ engine with two queues: two threads polling "
                "the same sockets hand each call between them. One CQ with one polling thread does not, and costs "
                "half to two thirds of the server CPU per request of either (the cost table below has the CPU "
                "figures, `gRPC floor on a 1-thread completion-queue engine`). protoserve serves every gRPC method "
                "on such an engine (`src/grpc/cq_engine.h`: one queue with one polling thread by default, "
                "`--grpc-threads N`), gRPC's health service included: one callback service beside it brings the "
                "nexting threads back (the `--with-callback-health` row of the stage table below).\n")

        # ------------------------------------------------ protoserve vs floor
        server = protoserve(build, repo)
        procs.append(server)
        target = f"127.0.0.1:{server.ports['grpc']}"
        samples = os.path.join(data, "recommender_samples.json")
        floor_target = f"127.0.0.1:{floors['callback'].ports['grpc']}"
        ps = bench(build, "--target", target, "--mode", "grpc-recommend", "--data", samples, "-c", levels, duration=d)
        fl = bench(build, "--target", floor_target, "--mode", "grpc-recommend", "--data", samples, "-c", "1,8,32",
                   duration=d)
        by_c = by_concurrency(ps)
        rep.add("## Recommender vs the floor (canned reply on gRPC's callback engine, the issue's reference)\n")
        rows = []
        for b in fl:
            a = by_c[b["concurrency"]]
            rows.append([a["concurrency"], f"{a['qps']:,.0f}", f"{b['qps']:,.0f}", f"{a['qps'] / b['qps']:.2f}",
                         ms(a["latency_ms"]["p50"]), ms(b["latency_ms"]["p50"]),
                         f"{a['latency_ms']['p50'] / b['latency_ms']['p50']:.2f}"])
        rep.table(["concurrency", "protoserve qps", "floor qps", "qps ratio", "protoserve p50", "floor p50",
                   "p50 ratio"], rows,
                  f"Command: `{command_text('--mode grpc-recommend --data build/data/recommender_samples.json -c 1,8,32', duration=d)}`"
                  " against `protoserve` and against `floor_server --engine callback`")
        rep.add("Targets (issue 22): qps ratio at concurrency 8 >= 0.60; p50 ratio at concurrency 1 <= 1.6; the CPU per request is in the next section.\n")

        # ------------------------------------- what each request costs
        costs = {}
        contenders = (("floor (canned reply)", floors["callback"], ["--target", floor_target, "--mode", "grpc-recommend"]),
                      ("protoserve gRPC", server, ["--target", target, "--mode", "grpc-recommend"]),
                      ("protoserve REST", server, ["--http-target", f"127.0.0.1:{server.ports['http']}", "--mode",
                                                   "rest-recommend"]))
        # The floor answering through each stage of the request path, under gRPC and under REST: what each
        # stage costs under each protocol's engine (at STAGE_LEVELS, in the same rounds as the three above).
        stage_server = [os.path.join(build, "stage_server"), "--model-repository", repo]
        stage_variants = (
            (("gRPC", "spin"), [os.path.join(build, "floor_server"), "--engine", "callback", "--spin-us", "25"]),
            (("gRPC", "model"), [*stage_server, "--stage", "model"]),
            (("gRPC", "core"), [*stage_server, "--stage", "core"]),
            (("gRPC CQ", "floor"), [os.path.join(build, "floor_server"), "--engine", "cq", "--threads", "1"]),
            (("gRPC CQ", "model"), [*stage_server, "--engine", "cq", "--stage", "model"]),
            (("gRPC CQ", "core"), [*stage_server, "--engine", "cq", "--stage", "core"]),
            (("gRPC CQ", "core+health"), [*stage_server, "--engine", "cq", "--stage", "core",
                                          "--with-callback-health"]),
            (("REST", "floor"), [*stage_server, "--protocol", "rest", "--stage", "floor"]),
            (("REST", "model"), [*stage_server, "--protocol", "rest", "--stage", "model"]),
            (("REST", "core"), [*stage_server, "--protocol", "rest", "--stage", "core"]))
        stage_contenders = []
        model_stages = {}  # protocol: the model stage, which times each forward pass (SIGUSR1 reads the totals)
        for (protocol, stage), command in stage_variants:
            p = Proc(command, {"port": r"listening on \S+:(\d+)"})
            procs.append(p)
            how = (["--target", f"127.0.0.1:{p.ports['port']}", "--mode", "grpc-recommend"] if protocol != "REST" else
                   ["--http-target", f"127.0.0.1:{p.ports['port']}", "--mode", "rest-recommend"])
            stage_contenders.append((STAGES[protocol, stage], p, how))
            if stage == "model":
                model_stages[protocol] = p
        rounds = 1 if args.quick else 5

        def executions(proc):
            m = proc.ask(signal.SIGUSR1, r"model executions (\d+) thread_cpu_ns (-?\d+)")
            return int(m.group(1)), int(m.group(2))
        model_exec_us = {}  # (protocol, concurrency): thread CPU per forward pass over that level's rounds
        for c in COST_LEVELS:  # the contenders of one level in turn, round after round (medians)
            staged = c in STAGE_LEVELS
            level_contenders = [*contenders, *(stage_contenders if staged else ())]
            before = {protocol: executions(proc) for protocol, proc in model_stages.items()} if staged else {}
            level = costed_rounds(build, [(name, proc.p.pid, [*how, "--data", samples])
                                          for name, proc, how in level_contenders],
                                  c, rounds, "1s" if args.quick else "3s")
            for protocol, (n0, ns0) in before.items():
                n1, ns1 = executions(model_stages[protocol])
                model_exec_us[protocol, c] = (ns1 - ns0) / max(1, n1 - n0) / 1000
            for name, run in level.items():
                costs[name, c] = run
        rep.add("## What one request costs: server CPU, client CPU, context switches\n")
        rep.add("""CPU per request is the fair measure of a server on a machine whose cores the load generator shares:
qps and latency move with whatever else runs, the CPU a request takes much less. **server CPU** is user + system
time of the server process over the measured window (`/proc/<pid>/stat`) divided by the requests answered;
**context switches** are summed over its threads (`/proc/<pid>/task/*/status`, voluntary and involuntary);
**client CPU** is the load generator's own CPU per request (its rusage). Same server, same model, same client,
the three contenders of one concurrency level in turn, five rounds of 3 s (each after a 1 s warm-up), each
figure the median of its rounds.""")
        rep.table(["contender", "concurrency", "qps", "p50", "server CPU us/req", "context switches/req",
                   "client CPU us/req"],
                  [[name, c, f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]), f"{r['server_cpu_us']:.1f}",
                    f"{r['server_cs']:.2f}", f"{r['client_cpu_us']:.1f}"]
                   for (name, c), r in costs.items() if name in {n for n, _, _ in contenders}],
                  f"Command: `{command_text('--mode grpc-recommend|rest-recommend --data build/data/recommender_samples.json -c N --warmup 0s', duration='3s')}`"
                  " x 5 rounds, each after a 1 s unmeasured run, against `floor_server --engine callback` and `protoserve`")

        # ------------------------------------- where each request's CPU goes
        alone = json.loads(subprocess.run([os.path.join(build, "model_alone"), "--model-dir",
                                           os.path.join(repo, "recommender"), "--batch", "1,8,32"],
                                          capture_output=True, text=True, check=True,
                                          timeout=600).stdout.splitlines()[-1])["runs"]  # after the backend's log
        profile_secs = 2 if args.quick else 4
        try:
            profiles = {name: perf_profile(build, proc.p.pid, [*how, "--data", samples, "-c", "8"], profile_secs)
                        for name, proc, how in contenders}
        except (OSError, subprocess.SubprocessError) as e:  # no perf, or perf_event_open refused (a container)
            profiles = None
            print(f"profile not taken: {e}", file=sys.stderr)
        rep.add("## Where the time goes: server CPU per request by layer (concurrency 8)\n")
        rep.add("`perf record -F 999 -p <server pid>` for "
                f"{profile_secs} s while `protoserve-cli bench ... -c 8` loads it, samples grouped by shared object, "
                "each group's sampled CPU divided by the requests answered in the window (perf's own sampling adds "
                "a few percent). The model alone is `build/model_alone`: the recommender's TorchScript file loaded "
                "by the server's own torch backend (same config parameters), executed on one thread, median process "
                "CPU per execution.\n")
        names = [name for name, _, _ in contenders]
        if profiles:
            rows = [[group] + [f"{profiles[n][0][group]:.1f}" for n in names]
                    for group in [g for g, _ in PROFILE_GROUPS] + ["other"]]
            rows.append(["**total (sampled)**"] + [f"**{sum(profiles[n][0].values()):.1f}**" for n in names])
            rep.table(["layer (us per request)"] + names, rows,
                      "Command: `perf record -F 999 -p PID -- sleep N` during `protoserve-cli bench --mode "
                      "grpc-recommend|rest-recommend --data build/data/recommender_samples.json -c 8`; "
                      "`perf report --sort dso`")
        else:
            rep.add("_Profile not taken this run: `perf record` is missing or not permitted here._\n")
        rep.table(["the recommender alone (no server)", "batch 1", "batch 8", "batch 32"],
                  [["CPU per execution, us"] + [f"{r['cpu_us']:.1f}" for r in alone],
                   ["CPU per row, us"] + [f"{r['cpu_us_per_row']:.1f}" for r in alone]],
                  "Command: `build/model_alone --model-dir build/model_repository/recommender --batch 1,8,32`")
        # The core request, hot and with cold caches (the sizes take turns in each round).
        evictions = (0, 512, 2048, 8192)
        core_out = subprocess.run([os.path.join(build, "core_alone"), "--model-repository", repo, "--model",
                                   "recommender", "--threads", "1", "--evict-kb", ",".join(map(str, evictions)),
                                   "--rounds", "5", "--requests", "1000" if args.quick else "4000"],
                                  capture_output=True, text=True, check=True, timeout=900).stdout
        cold = {r["evict_kb"]: r for r in
                json.loads(next(line for line in core_out.splitlines() if line.startswith("{")))["runs"]}
        core = cold[0]
        core_us, model_us = core["cpu_us_per_request"], core["model_cpu_us"]
        rep.table(["the recommender through the core, no wire (one request at a time)", "us per request"],
                  [["the whole core request (decode, route, batcher, model, top-k, encode, metrics, feedback "
                    "window)", f"{core_us:.1f}"],
                   ["of which the model (the same rows executed alone, in the same rounds)", f"{model_us:.1f}"],
                   ["the core's own code", f"{core_us - model_us:.1f}"]],
                  "Command: `build/core_alone --model-repository build/model_repository --model recommender "
                  "--threads 1 --evict-kb 0,512,2048,8192 --rounds 5 --requests 4000` (the seed's "
                  "RecommendationRequest through `typed::InferCompiled`, the function the gRPC, REST and gRPC-Web "
                  "front-ends call; the median of 5 rounds, each of 4,000 requests per size, sizes in turn)")

        rep.add("The same core request with cold caches: before each request the calling thread writes N KB of its "
                "own memory (one byte per 64-byte line; that CPU is not counted), as the other work a core does "
                "between two requests (gRPC, the kernel's sockets, the load generator sharing the core) pushes "
                "the request's code and the model's weights out of its 1 MB L2 cache.\n")
        rep.table(["memory written between two requests", "core request, us", "x hot", "of which the model, us",
                   "x hot", "the core's own code, us"],
                  [[f"{kb:,} KB" if kb else "none (hot caches)", f"{cold[kb]['cpu_us_per_request']:.1f}",
                    f"{cold[kb]['cpu_us_per_request'] / cold[0]['cpu_us_per_request']:.2f}",
                    f"{cold[kb]['model_cpu_us']:.1f}", f"{cold[kb]['model_cpu_us'] / cold[0]['model_cpu_us']:.2f}",
                    f"{cold[kb]['cpu_us_per_request'] - cold[kb]['model_cpu_us']:.1f}"] for kb in evictions],
                  "Command: the `core_alone` run above (`--evict-kb 0,512,2048,8192`: the sizes take turns in every "
                  "round; medians of 5 rounds)")

        rep.add("The floor answering through each stage of protoserve's request path, on the thread the protocol's "
                "engine runs its handler on, in the same rounds as the table above (`bench/stage_server`). gRPC: "
                "floor_server's engine and service; REST: protoserve's own HTTP engine and JSON twin "
                "(`POST /v1/recommendations`, 2 I/O threads, requests answered inline), whose floor parses the JSON "
                "request and writes the canned reply. Each stage: the model alone (the request's features and user "
                "hash as the model's two tensors, the server's torch backend, the first 10 scores in the reply), "
                "then the whole core request (`typed::InferCompiled`, as protoserve's Recommender service and REST "
                "route call it), then protoserve itself (its other services, the other port, tracing hooks). "
                "*floor + the model* is the least any server pays that executes this model once per request on "
                "that engine's threads: it bounds the engine targets below.\n")
        stage_rows = []
        for c in STAGE_LEVELS:
            for (protocol, stage), name in STAGES.items():
                base, r = costs[STAGES[protocol, "floor"], c], costs[name, c]
                label = name if name.startswith(("gRPC ", "REST ", "protoserve")) else f"gRPC {name}"
                stage_rows.append([label, c, f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]),
                                   f"{r['server_cpu_us']:.1f}", f"{r['server_cs']:.2f}", f"{r['client_cpu_us']:.1f}",
                                   f"{r['server_cpu_us'] - base['server_cpu_us']:+.1f}",
                                   f"{r['server_cpu_us'] / base['server_cpu_us']:.2f}x"])
        rep.table(["server", "concurrency", "qps", "p50", "server CPU us/req", "context switches/req",
                   "client CPU us/req", "over its floor, us", "/ its floor"], stage_rows,
                  "Command: `bench/floor_server --engine callback|cq [--threads 1] [--spin-us 25]`, `bench/stage_server "
                  "[--protocol rest | --engine cq [--with-callback-health]] --stage floor|model|core --model-repository "
                  "build/model_repository` and `protoserve`, each "
                  f"loaded by `{command_text('--mode grpc-recommend|rest-recommend -c 1|8 --warmup 0s', duration='3s')}`, "
                  f"in the {rounds} alternating rounds of the cost table (medians)")

        alone_us = alone[0]["cpu_us"]  # model_alone, batch 1
        rep.add("What a handler's own work costs on each engine, and what the engine then costs around it. The model "
                "stage times its forward pass on the thread that runs it (`stage_server --stage model` reads "
                "CLOCK_THREAD_CPUTIME_ID around each execution, less the clock's own cost; over the rounds above), "
                "against the same execution alone (`model_alone`, batch 1, the table above); the control is a "
                "handler that computes 25 us of CPU time in registers (`floor_server --spin-us 25`: a multiply-add "
                "chain calibrated against the thread's CPU clock at start, no memory traffic). *The engine's extra* "
                "is what the server costs over its floor beyond the handler's own work.\n")
        exec_rows = [["the recommender's forward pass alone (model_alone, one thread, nothing else running)", "-",
                      f"{alone_us:.1f}", "1.00x", "-", "-"]]
        for c in STAGE_LEVELS:
            handlers = [("gRPC", "spin", "25 us of computation on gRPC's thread", 25.0)]
            handlers += [(protocol, "model", f"the forward pass in the {protocol} model stage",
                          model_exec_us.get((protocol, c))) for protocol in ("gRPC", "gRPC CQ", "REST")]
            for protocol, stage, label, work in handlers:
                if work is None:
                    continue
                over = costs[STAGES[protocol, stage], c]["server_cpu_us"] - \
                    costs[STAGES[protocol, "floor"], c]["server_cpu_us"]
                exec_rows.append([label, c, f"{work:.1f}", "-" if stage == "spin" else f"{work / alone_us:.2f}x",
                                  f"{over:+.1f}", f"{over - work:+.1f}"])
        rep.table(["handler", "concurrency", "the handler's own CPU per call, us", "/ alone",
                   "server CPU over its floor, us", "the engine's extra, us"], exec_rows,
                  "Command: the stage rounds above (`floor_server --engine callback --spin-us 25`; `stage_server "
                  "[--protocol rest] --stage model`, its totals read by SIGUSR1 before and after each level's rounds) "
                  "and `build/model_alone --model-dir build/model_repository/recommender --batch 1`")
        rep.add("Inside a server the same forward pass costs more than alone (1.6-2.4x in the runs of 2026-12-06): "
                "between two executions the engine, the kernel's sockets and the load generator run on the same "
                "cores, and the model's weights and code come back from further out (the cold-cache table above). "
                "The engine's extra is the noisiest figure here: around the same 25 us spin it read +1 to +26 us "
                "at concurrency 1 and +6 to +8 us at concurrency 8 across the runs of that day.\n")

        # ---------------------------------- typed API vs KServe v2 vs REST
        typed_seconds = 2 if args.quick else 3
        typed_rows = typed_bench.measure(build, repo, data, seconds=typed_seconds, rounds=3)
        rep.add("## A typed API vs KServe v2 vs REST (fashion_mnist)\n")
        rep.add("The same model through its own .proto (`FashionMnist.Classify`, dynamic messages: "
                "docs/typed-apis.md), through KServe v2 ModelInfer, and through both REST twins; one Python client "
                "for all (pre-serialized requests), so read the server CPU per request. Target (issue 21): typed "
                "gRPC costs no more than KServe v2 gRPC.\n")
        rep.add(typed_bench.markdown(typed_rows, typed_seconds, rounds=3))

        # ------------------------------------------------- p99 at half load
        peak = max(r["qps"] for r in ps)
        half = bench(build, "--target", target, "--mode", "grpc-recommend", "--data", samples,
                     "--rate", str(int(peak / 2)), duration=d)[0]
        # The same offered rate against the canned-reply floor: what the
        # machine and the load generator alone do to the tail at this rate.
        half_floor = bench(build, "--target", floor_target, "--mode", "grpc-recommend", "--data", samples,
                           "--rate", str(int(peak / 2)), duration=d)[0]
        rep.add("## Tail latency at 50% of peak (open loop, latency from the intended send time)\n")
        rep.table(["server", "rate", "achieved qps", "p50", "p99", "p99 / p50", "client send lag p99"],
                  [[name, int(peak / 2), f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]), ms(r["latency_ms"]["p99"]),
                    f"{r['latency_ms']['p99'] / r['latency_ms']['p50']:.2f}", ms(r.get("send_lag_ms", {}).get("p99", 0))]
                   for name, r in (("protoserve", half), ("floor (canned reply)", half_floor))],
                  f"Command: `{command_text(f'--mode grpc-recommend --rate {int(peak / 2)}', duration=d)}` against "
                  "protoserve, then against `floor_server --engine callback` at the same rate")
        rep.add(f"Peak = best closed-loop qps of the recommender over gRPC ({peak:,.0f}). Target: p99 <= 3x p50. "
                "The floor row shows the tail the shared machine and the open-loop client add by themselves at "
                "that rate; client send lag is how late the generator sent its requests (counted in the latency).\n")

        # -------------------------------------------------- unary vs stream
        st = bench(build, "--target", target, "--mode", "grpc-stream", "--data", samples, "-c", "1,8,32", duration=d)
        rep.add("## Unary vs streaming (Recommender)\n")
        rep.table(["concurrency", "unary qps", "stream qps", "stream/unary qps", "unary p50", "stream p50"],
                  [[b["concurrency"], f"{by_c[b['concurrency']]['qps']:,.0f}", f"{b['qps']:,.0f}",
                    f"{b['qps'] / by_c[b['concurrency']]['qps']:.2f}", ms(by_c[b["concurrency"]]["latency_ms"]["p50"]),
                    ms(b["latency_ms"]["p50"])] for b in st],
                  f"Command: `{command_text('--mode grpc-recommend|grpc-stream -c 1,8,32', duration=d)}` (one stream per "
                  "worker, next message after the previous answer)")

        # ------------------------------------------ prediction log on vs off
        rep.add("## Prediction log on vs off (Recommender, SQLite, every answer logged)\n")
        text, ratio = prediction_log_table(prediction_log_ab(build, repo, samples, 4, d, 8))
        rep.add(text + "\n")
        rep.add(f"Command: `/usr/bin/python3 bench/prediction_log_ab.py --rounds 4 -d {d} -c 8` (two servers, one "
                f"with `--prediction-log`, alternating rounds). Median on/off qps ratio: **{ratio:.3f}** "
                "(target >= 0.95).\n")

        # --------------------------------------------- gRPC vs REST, small
        rest_target = f"127.0.0.1:{server.ports['http']}"
        rr = bench(build, "--http-target", rest_target, "--mode", "rest-recommend", "--data", samples,
                   "-c", levels, duration=d)
        by_c_rest = by_concurrency(rr)
        rep.add("## gRPC vs REST: the recommender (32 features, small payload)\n")
        rows = []
        for a, b in zip(ps, rr):
            rows.append([a["concurrency"], f"{a['qps']:,.0f}", f"{b['qps']:,.0f}", f"{a['qps'] / b['qps']:.2f}",
                         ms(a["latency_ms"]["p50"]), ms(b["latency_ms"]["p50"]), ms(a["latency_ms"]["p99"]),
                         ms(b["latency_ms"]["p99"])])
        rep.table(["concurrency", "gRPC qps", "REST qps", "gRPC/REST qps", "gRPC p50", "REST p50", "gRPC p99",
                   "REST p99"], rows,
                  f"Command: `{command_text(f'--mode grpc-recommend -c {levels}', duration=d)}` and "
                  f"`{command_text(f'--mode rest-recommend -c {levels}', duration=d)}`")
        rep.add("Same server, same model, same core path.\n")

        # --------------------------------------------------- Python baselines
        baseline_rest = Proc([PY, os.path.join(ROOT, "bench", "baselines", "rest_server.py"), "--repo", repo,
                              "--port", str(free_port())], {"http": r"HTTP listening on \S+:(\d+)"})
        procs.append(baseline_rest)
        py_grpc = Proc([PY, os.path.join(ROOT, "bench", "baselines", "grpc_server.py"), "--repo", repo, "--port", "0"],
                       {"grpc": r"gRPC listening on \S+:(\d+)"})
        procs.append(py_grpc)
        time.sleep(2)  # uvicorn binds just after its line
        pg = bench(build, "--target", f"127.0.0.1:{py_grpc.ports['grpc']}", "--mode", "grpc-recommend", "--data",
                   samples, "-c", levels, duration=d)
        pr = bench(build, "--http-target", f"127.0.0.1:{baseline_rest.ports['http']}", "--mode", "rest-recommend",
                   "--data", samples, "-c", levels, duration=d)
        for name, proc, how in (("Python grpcio", py_grpc, ["--target", f"127.0.0.1:{py_grpc.ports['grpc']}", "--mode",
                                                              "grpc-recommend"]),
                                 ("Python FastAPI", baseline_rest, ["--http-target",
                                                                    f"127.0.0.1:{baseline_rest.ports['http']}",
                                                                    "--mode", "rest-recommend"])):
            costs[name, 8] = costed_bench(build, proc.p.pid, *how, "--data", samples, "-c", "8", duration=d)
        # The throughput targets against the Python servers, at concurrency 32 in alternating rounds (one sweep
        # after the other moved the ratio by 30% between runs).
        vs_python = costed_rounds(build, [
            ("protoserve gRPC", server.p.pid, ["--target", target, "--mode", "grpc-recommend", "--data", samples]),
            ("Python grpcio", py_grpc.p.pid, ["--target", f"127.0.0.1:{py_grpc.ports['grpc']}", "--mode",
                                              "grpc-recommend", "--data", samples]),
            ("protoserve REST", server.p.pid, ["--http-target", f"127.0.0.1:{server.ports['http']}", "--mode",
                                               "rest-recommend", "--data", samples]),
            ("Python FastAPI", baseline_rest.p.pid, ["--http-target", f"127.0.0.1:{baseline_rest.ports['http']}",
                                                     "--mode", "rest-recommend", "--data", samples])],
            32, 1 if args.quick else 3, d)
        py_grpc.stop()
        baseline_rest.stop()
        servers = dict(zip((name for name, _ in SERVERS), (ps, rr, pg, pr)))
        rep.add("## protoserve vs Python servers of the same model\n")
        rows = []
        for name, runs in servers.items():
            for r in runs:
                if r["concurrency"] in (1, 8, 32):
                    rows.append([name, r["concurrency"], f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]),
                                 ms(r["latency_ms"]["p99"]), errors_in(r)])
        rep.table(["server", "concurrency", "qps", "p50", "p99", "errors"], rows,
                  f"Command: `{command_text(f'--mode grpc-recommend|rest-recommend --data build/data/recommender_samples.json -c {levels}', duration=d)}`"
                  " (the charts use every level; the table shows 1, 8, 32)")
        py = vs_python
        ratio = py["protoserve gRPC"]["qps"] / py["Python grpcio"]["qps"]
        rest_ratio = py["protoserve REST"]["qps"] / py["Python FastAPI"]["qps"]
        rep.table(["server (concurrency 32)", "qps", "p50", "server CPU us/req", "client CPU us/req"],
                  [[name, f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]), f"{r['server_cpu_us']:.1f}",
                    f"{r['client_cpu_us']:.1f}"] for name, r in py.items()],
                  f"Command: `{command_text('--mode grpc-recommend|rest-recommend --data build/data/recommender_samples.json -c 32 --warmup 0s', duration=d)}`"
                  f", the four servers in turn, {1 if args.quick else 3} rounds (medians)")
        rep.add(f"At concurrency 32, in alternating rounds, protoserve gRPC / Python grpcio: **{ratio:.1f}x** the "
                f"throughput (target >= 8x) for {py['Python grpcio']['server_cpu_us'] / py['protoserve gRPC']['server_cpu_us']:.1f}x "
                f"less server CPU per request; protoserve REST / FastAPI: **{rest_ratio:.1f}x**. The sweep above "
                f"runs one server after the other. Baselines: `bench/baselines/grpc_server.py` "
                f"(grpc.server + ThreadPoolExecutor(8) + torch), `bench/baselines/rest_server.py` (FastAPI + "
                f"uvicorn + torch), the same TorchScript model.\n")
        colored = [(name, color, servers[name]) for name, color in SERVERS]
        rep.add(charts.latency_vs_throughput(
            "latency_vs_throughput.svg",
            f"Recommender: latency vs throughput, concurrency {LEVELS[0]} to {LEVELS[-1]} (p50 solid, p99 dashed)",
            colored))
        rep.add(charts.histograms("latency_histogram_c32.svg", "Recommender latency distribution at concurrency 32",
                                  [(name, color, by_concurrency(runs)[32]) for name, color, runs in colored]))
        rep.add(charts.bars("servers_c32.svg", "Recommender qps at concurrency 32", "requests/s",
                            [name for name, _ in SERVERS], [py[name]["qps"] for name, _ in SERVERS]))

        # ------------------------------------------ gRPC vs REST, large payload
        record = json.load(open(os.path.join(data, "patient_record_samples.json")))[0]["record"]
        req_path = os.path.join(tempfile.mkdtemp(prefix="protoserve-bench-"), "record.json")
        with open(req_path, "w") as f:
            json.dump({"inputs": [{"name": "record", "datatype": "FP32", "shape": [1, len(record)], "data": record}]}, f)
        gi = bench(build, "--target", target, "--mode", "grpc-infer", "--model", "patient_record", "--request",
                   req_path, "-c", "1,4", duration=d)
        ri = bench(build, "--http-target", rest_target, "--mode", "rest-infer", "--model", "patient_record",
                   "--request", req_path, "-c", "1,4", duration=d)
        shutil.rmtree(os.path.dirname(req_path))
        rep.add("## gRPC vs REST: the seed's patient record (131 072 FP32 values per request)\n")
        rows = []
        for a, b in zip(gi, ri):
            rows.append([a["concurrency"], f"{a['qps']:,.1f}", f"{b['qps']:,.1f}", f"{a['qps'] / b['qps']:.2f}",
                         ms(a["latency_ms"]["p50"]), ms(b["latency_ms"]["p50"]),
                         f"{1 - a['latency_ms']['p50'] / b['latency_ms']['p50']:.0%}",
                         f"{a['request_bytes']:,.0f}", f"{b['request_bytes']:,.0f}"])
        rep.table(["concurrency", "gRPC qps", "REST qps", "gRPC/REST qps", "gRPC p50", "REST p50",
                   "p50 reduction", "gRPC request bytes", "REST request bytes"], rows,
                  f"Command: `{command_text('--mode grpc-infer|rest-infer --model patient_record --request record.json -c 1,4', duration=d)}`")
        rep.add("The demo model `patient_record`: KServe v2 ModelInfer with raw_input_contents vs "
                "`POST /v2/models/patient_record/infer` with JSON tensors.\n")

        # ------------------------------------------------------ payload sweep
        payload_runs, crossover = payload_sweep(build, data, d, rep, charts, procs)

        # ---------------------------------------------- batching on vs off
        no_batch = write_repo_variant(repo, "fashion_mnist",
                                      lambda t: re.sub(r"dynamic_batching\s*\{[^}]*\}", "", t, flags=re.S))
        off = protoserve(build, no_batch)
        procs.append(off)
        infer = ["--mode", "grpc-infer", "--model", "fashion_mnist"]
        batches_before = histogram_totals(server.ports["http"], "protoserve_batch_size", 'model="fashion_mnist"')
        batching = costed_rounds(build, [("on", server.p.pid, ["--target", target, *infer]),
                                         ("off", off.p.pid, ["--target", f"127.0.0.1:{off.ports['grpc']}", *infer])],
                                 64, 1 if args.quick else 3, d)
        batches_after = histogram_totals(server.ports["http"], "protoserve_batch_size", 'model="fashion_mnist"')
        off.stop()
        shutil.rmtree(no_batch)
        mean_batch = ((batches_after[0] - batches_before[0]) / max(1, batches_after[1] - batches_before[1]))
        mean_rows = max(1, round(mean_batch))  # the batch size model_alone measures for it
        a, b = batching["on"], batching["off"]
        on_runs, off_runs = [a], [b]
        fm_alone = {r["batch"]: r for r in json.loads(subprocess.run(
            [os.path.join(build, "model_alone"), "--model-dir", os.path.join(repo, "fashion_mnist"), "--batch",
             f"1,{mean_rows},64"], capture_output=True, text=True, check=True,
            timeout=600).stdout.splitlines()[-1])["runs"]}
        m1, m_mean, m64 = (fm_alone[1]["cpu_us_per_row"], fm_alone[mean_rows]["cpu_us_per_row"],
                           fm_alone[64]["cpu_us_per_row"])
        rep.add("## Dynamic batching on vs off (fashion_mnist CNN, concurrency 64)\n")
        rep.table(["dynamic batching", "qps", "p50", "p99", "server CPU us/req", "context switches/req",
                   "client CPU us/req", "mean rows per execution"],
                  [[name, f"{r['qps']:,.0f}", ms(r["latency_ms"]["p50"]), ms(r["latency_ms"]["p99"]),
                    f"{r['server_cpu_us']:.1f}", f"{r['server_cs']:.2f}", f"{r['client_cpu_us']:.1f}", rows]
                   for name, r, rows in (("on", a, f"{mean_batch:.1f}"), ("off", b, "1"))],
                  f"Command: `{command_text('--mode grpc-infer --model fashion_mnist -c 64', duration=d)}`, the two "
                  f"servers in turn, {1 if args.quick else 3} rounds (medians); rows per execution: "
                  "`protoserve_batch_size` on /metrics over the rounds")
        rep.table(["fashion_mnist alone (no server)", "batch 1", f"batch {mean_rows} (the mean formed)",
                   "batch 64"],
                  [["CPU per row, us", f"{m1:.1f}", f"{m_mean:.1f}", f"{m64:.1f}"],
                   ["batch 1 / this", "1.00", f"{m1 / m_mean:.2f}x", f"{m1 / m64:.2f}x"]],
                  f"Command: `build/model_alone --model-dir build/model_repository/fashion_mnist --batch "
                  f"1,{mean_rows},64`")
        outside_on, outside_off = a["server_cpu_us"] - m_mean, b["server_cpu_us"] - m1
        rep.add(f"Throughput ratio on/off: **{a['qps'] / b['qps']:.1f}x** (target >= 3x). Off = the same config "
                f"without `dynamic_batching` (each request executes alone). What batching can save is the model's "
                f"own: a row costs {m1:.0f} us alone and {m64:.0f} us in a batch of 64, so a server that cost nothing "
                f"outside the model would gain at most {m1 / m64:.1f}x. Every request also pays what batching cannot "
                f"share: gRPC, decoding a 3 KB tensor and the load generator, which shares the two cores "
                f"({outside_on:.0f} us of server CPU outside the model with batching on, {outside_off:.0f} us off, "
                f"and {a['client_cpu_us']:.0f} / {b['client_cpu_us']:.0f} us of client CPU per request). Were that "
                f"cost the same on and off, the ratio could not pass "
                f"{(outside_on + a['client_cpu_us'] + m1) / (outside_on + a['client_cpu_us'] + m_mean):.1f}x; "
                f"off pays more outside the model because its requests queue for the one instance.\n")
        rep.add(charts.bars("batching.svg", "fashion_mnist qps at concurrency 64", "requests/s",
                            ["dynamic batching on", "dynamic batching off"], [a["qps"], b["qps"]]))

        # ------------------------------------------ tracing off vs on (issue 20)
        tracing_overhead(build, repo, data, d, 2 if args.quick else 5, rep, procs)

        # ---------------------------------------------------- verdicts
        small_lat = 1 - by_c[1]["latency_ms"]["p50"] / by_c_rest[1]["latency_ms"]["p50"]
        small_tp = by_c[32]["qps"] / by_c_rest[32]["qps"]
        big_lat = 1 - gi[0]["latency_ms"]["p50"] / ri[0]["latency_ms"]["p50"]
        big_tp = gi[-1]["qps"] / ri[-1]["qps"]
        large = PAYLOAD_SIZES[-1]
        grpc_raw, rest_binary = payload_runs["gRPC raw", large], payload_runs["REST binary", large]
        binary_lat = 1 - grpc_raw["latency_ms"]["p50"] / rest_binary["latency_ms"]["p50"]
        binary_tp = grpc_raw["qps"] / rest_binary["qps"]
        first = {name: by_concurrency(runs)[1]["latency_ms"]["p50"] for name, runs in servers.items()}
        migrate_tp = py["protoserve gRPC"]["qps"] / py["Python FastAPI"]["qps"]
        ours = [ps, st, rr, gi, ri, on_runs, off_runs, [half], list(payload_runs.values())]
        errors = sum(errors_in(r) for runs in ours for r in runs)
        total = sum(r["requests"] for runs in ours for r in runs)
        rep.add("## gRPC at the floor: the engine's targets\n")
        floor_c = {c: costs["floor (canned reply)", c] for c in COST_LEVELS}
        grpc_c = {c: costs["protoserve gRPC", c] for c in COST_LEVELS}
        rest_c = {c: costs["protoserve REST", c] for c in COST_LEVELS}

        def check(value, target, higher_is_better=False):
            return "yes" if (value >= target if higher_is_better else value <= target) else "no"

        cpu8 = grpc_c[8]["server_cpu_us"] / floor_c[8]["server_cpu_us"]
        cpu1 = grpc_c[1]["server_cpu_us"] / floor_c[1]["server_cpu_us"]
        vs_rest = {c: grpc_c[c]["server_cpu_us"] / rest_c[c]["server_cpu_us"] for c in (1, 8)}
        qps8 = grpc_c[8]["qps"] / floor_c[8]["qps"]
        p50_1 = grpc_c[1]["latency_ms"]["p50"] / floor_c[1]["latency_ms"]["p50"]
        # The bound: the floor answering through the model alone, against its floor in the same rounds.
        stage_floor = {c: costs[STAGES["gRPC", "floor"], c] for c in STAGE_LEVELS}
        model_c = {c: costs[STAGES["gRPC", "model"], c] for c in STAGE_LEVELS}
        rest_model_c = {c: costs[STAGES["REST", "model"], c] for c in STAGE_LEVELS}
        # protoserve's engine: the model alone on one completion queue with one thread.
        model_c = {c: costs[STAGES["gRPC CQ", "model"], c] for c in STAGE_LEVELS}
        b_vs_rest = {c: model_c[c]["server_cpu_us"] / rest_model_c[c]["server_cpu_us"] for c in STAGE_LEVELS}
        b_cpu8 = model_c[8]["server_cpu_us"] / stage_floor[8]["server_cpu_us"]
        b_cpu1 = model_c[1]["server_cpu_us"] / stage_floor[1]["server_cpu_us"]
        b_qps8 = model_c[8]["qps"] / stage_floor[8]["qps"]
        b_p50_1 = model_c[1]["latency_ms"]["p50"] / stage_floor[1]["latency_ms"]["p50"]
        # On two cores the load generator shares, qps is bounded by server + client CPU per request.
        total8 = {name: r["server_cpu_us"] + r["client_cpu_us"] for name, r in (("floor", floor_c[8]), ("ps", grpc_c[8]))}
        qps_bound8 = total8["floor"] / total8["ps"]
        # protoserve against the floor of its own engine (one completion queue, one thread), same rounds.
        cq_floor = {c: costs[STAGES["gRPC CQ", "floor"], c] for c in STAGE_LEVELS}
        q_cpu = {c: grpc_c[c]["server_cpu_us"] / cq_floor[c]["server_cpu_us"] for c in STAGE_LEVELS}
        q_qps8 = grpc_c[8]["qps"] / cq_floor[8]["qps"]
        q_p50_1 = grpc_c[1]["latency_ms"]["p50"] / cq_floor[1]["latency_ms"]["p50"]
        rep.table(["figure (recommender, same server, same model)", "measured", "target", "held?",
                   "the bound: the model alone on protoserve's engine (stage_server --engine cq --stage model)",
                   "protoserve against the floor on its own engine (floor_server --engine cq --threads 1)"], [
            ["server CPU per request, gRPC / canned floor, concurrency 8",
             f"{cpu8:.2f}x ({grpc_c[8]['server_cpu_us']:.0f} vs {floor_c[8]['server_cpu_us']:.0f} us)", "<= 2.0x",
             check(cpu8, 2.0), f"{b_cpu8:.2f}x", f"{q_cpu[8]:.2f}x"],
            ["server CPU per request, gRPC / canned floor, concurrency 1",
             f"{cpu1:.2f}x ({grpc_c[1]['server_cpu_us']:.0f} vs {floor_c[1]['server_cpu_us']:.0f} us)", "<= 2.0x",
             check(cpu1, 2.0), f"{b_cpu1:.2f}x", f"{q_cpu[1]:.2f}x"],
            ["server CPU per request, gRPC / REST, same server, concurrency 1 and 8",
             f"{vs_rest[1]:.2f} / {vs_rest[8]:.2f}", "<= 1.0", check(max(vs_rest.values()), 1.0),
             f"{b_vs_rest[1]:.2f} / {b_vs_rest[8]:.2f} (each protocol's floor + the model)", "-"],
            ["qps / canned floor qps, concurrency 8, same client", f"{qps8:.2f}", ">= 0.60", check(qps8, 0.6, True),
             f"{b_qps8:.2f}", f"{q_qps8:.2f}"],
            ["p50 / canned floor p50, concurrency 1", f"{p50_1:.2f}", "<= 1.6", check(p50_1, 1.6), f"{b_p50_1:.2f}",
             f"{q_p50_1:.2f}"],
            ["qps / Python grpcio server of the same model, concurrency 32", f"{ratio:.1f}x", ">= 8x",
             check(ratio, 8, True), "-", "-"],
            ["dynamic batching on / off, fashion_mnist, concurrency 64", f"{a['qps'] / b['qps']:.1f}x", ">= 3x",
             check(a["qps"] / b["qps"], 3, True),
             f"{m1 / m64:.1f}x (the model alone: batch 1 / batch 64 per row, nothing else costing)", "-"],
        ] + [[f"gRPC vs REST end to end, concurrency {c}: qps, p50, client CPU per request",
              f"gRPC {grpc_c[c]['qps']:,.0f} qps, p50 {ms(grpc_c[c]['latency_ms']['p50'])}, client "
              f"{grpc_c[c]['client_cpu_us']:.0f} us; REST {rest_c[c]['qps']:,.0f} qps, p50 "
              f"{ms(rest_c[c]['latency_ms']['p50'])}, client {rest_c[c]['client_cpu_us']:.0f} us",
              "reported", "gRPC ahead" if grpc_c[c]["qps"] >= rest_c[c]["qps"] else "REST ahead", "-", "-"]
             for c in COST_LEVELS],
            "Figures: the cost table above (same run), the Python baselines and batching sections; the bound: "
            "`stage_server --engine cq --stage model` against the floor in the same rounds (\"Where the time goes\"); the last "
            "column: protoserve gRPC against `floor_server --engine cq --threads 1` in the same rounds")
        rep.add("*The bound* is what a server pays that does nothing but execute this TorchScript model once per "
                "request on protoserve's engine (one completion queue, one thread: no validation, no top-k, no "
                "labels, no metrics), measured against the same floor in the same rounds; for gRPC against REST, the "
                "same model under each protocol's engine (`stage_server [--protocol rest | --engine cq] --stage "
                "model`); for batching, what the model alone saves per row in a batch of 64. Where the bound itself "
                "misses a target, no change to the core can reach it with this model on this machine; what "
                "protoserve pays above the bound is the "
                "core's own share (\"Where the time goes\"). The measured column compares protoserve, which serves "
                "on one completion queue with one polling thread, with the canned reply on gRPC's callback engine "
                "(the issue's reference); the last column compares it with a canned reply on its own engine, which "
                "costs half to two thirds of the callback floor's CPU. On two cores that the load generator shares, "
                f"qps is bounded by the server's and the client's CPU per request together: at concurrency 8 the "
                f"floor's requests cost {floor_c[8]['server_cpu_us']:.0f} + {floor_c[8]['client_cpu_us']:.0f} us "
                f"(server + client) and protoserve's {grpc_c[8]['server_cpu_us']:.0f} + "
                f"{grpc_c[8]['client_cpu_us']:.0f} us, so the qps ratio cannot pass {qps_bound8:.2f} in this run "
                f"(measured {qps8:.2f}) unless the client's own cost per request falls too.\n")

        cost_rows = []
        for name in ("protoserve gRPC", "protoserve REST", "Python grpcio", "Python FastAPI"):
            r = costs[name, 8]
            cost_rows.append([name, f"{r['server_cpu_us']:.0f}", f"{r['server_cpu_us'] / 100:.2f}",
                              f"{r['client_cpu_us']:.0f}", f"{r['qps']:,.0f}"])
        rep.add("## The seed's cost claim: server CPU per prediction\n")
        rep.table(["server", "server CPU us/prediction", "cores per 10,000 predictions/s", "client CPU us/request",
                   "qps"], cost_rows,
                  f"Command: `{command_text('--mode grpc-recommend|rest-recommend -c 8 --warmup 0s', duration=d)}` "
                  "after a 1 s unmeasured run, one server after the other")
        fastapi_cpu = costs["Python FastAPI", 8]["server_cpu_us"]
        saving = 1 - grpc_c[8]["server_cpu_us"] / fastapi_cpu
        own_rest_saving = 1 - grpc_c[8]["server_cpu_us"] / rest_c[8]["server_cpu_us"]
        rep.add(f"Cores needed for the same predictions at concurrency 8: protoserve gRPC needs **{saving:.0%} less "
                f"server CPU** than the Python REST server a team migrates from (the seed claims 20-40% lower cloud "
                f"costs), and {less(own_rest_saving)} than "
                "protoserve's own REST path: the saving is the server's, not the protocol's.\n")

        rep.add("## The seed's claims, measured on this machine\n")
        rep.table(["claim", "measured", "held?"], [
            ["gRPC cuts latency 40-60% vs REST (small payload)", f"gRPC p50 {lower(small_lat)} than REST (c=1)",
             "yes" if small_lat >= 0.4 else "no"],
            ["5-10x throughput (small payload)", f"{small_tp:.2f}x (c=32)", "yes" if small_tp >= 5 else "no"],
            ["the same two claims against the REST server a team migrates from (Python FastAPI, small payload)",
             f"protoserve gRPC p50 {lower(1 - first['protoserve gRPC'] / first['Python FastAPI'])} (c=1), "
             f"{migrate_tp:.1f}x the qps (c=32); but Python grpcio is "
             f"{py['Python grpcio']['qps'] / py['Python FastAPI']['qps']:.2f}x FastAPI's qps and protoserve REST "
             f"{rest_ratio:.1f}x" + (": the gain is the server's, not the protocol's"
                                      if py["Python grpcio"]["qps"] / py["Python FastAPI"]["qps"] < 1.5
                                      and rest_ratio >= 0.67 * migrate_tp else ""),
             "yes" if migrate_tp >= 5 and 1 - first["protoserve gRPC"] / first["Python FastAPI"] >= 0.4 else "no"],
            ["gRPC cuts latency 40-60% vs REST (2 MB record; the seed: 400 ms to 100 ms)",
             f"gRPC p50 {lower(big_lat)} than REST JSON (c=1): {ri[0]['latency_ms']['p50']:.1f} ms to "
             f"{gi[0]['latency_ms']['p50']:.2f} ms", "yes (more)" if big_lat > 0.6 else "yes" if big_lat >= 0.4 else "no"],
            ["5-10x throughput (2 MB record)", f"{big_tp:.1f}x vs REST JSON (c=4)",
             "yes (more)" if big_tp > 10 else "yes" if big_tp >= 5 else "no"],
            ["the 2 MB record travels as a 200 KB protobuf (10x smaller)",
             f"JSON {ri[0]['request_bytes'] / 1e6:.2f} MB, protobuf {gi[0]['request_bytes'] / 1e6:.2f} MB: "
             f"{ri[0]['request_bytes'] / gi[0]['request_bytes']:.1f}x smaller (4 bytes per FP32 value is the floor "
             "without compression or a smaller dtype)",
             "yes" if ri[0]["request_bytes"] / gi[0]["request_bytes"] >= 10 else "no"],
            ["gRPC outperforms REST through Protobuf and HTTP/2 (2 MB; REST also sending raw bytes: the binary "
             "tensor extension)",
             f"gRPC p50 {lower(binary_lat)} than REST binary; gRPC qps {binary_tp:.2f}x REST binary's "
             f"(c={PAYLOAD_CONCURRENCY})", "yes" if binary_lat >= 0.4 else "no"],
            ["gRPC's advantage grows with payload size (payload sweep)",
             f"gRPC raw p50 at least 10% below REST JSON's from {crossover:,} FP32 values up" if crossover else
             "gRPC raw p50 never 10% below REST JSON's", "yes" if crossover else "no"],
            ["20-40% lower cloud costs (server CPU per prediction, concurrency 8)",
             f"protoserve gRPC {grpc_c[8]['server_cpu_us']:.0f} us against Python FastAPI's {fastapi_cpu:.0f} us: "
             f"{saving:.0%} less; against protoserve REST: {less(own_rest_saving)}",
             "yes (more)" if saving > 0.4 else "yes" if saving >= 0.2 else "no"],
            ["errors < 0.1%", f"{errors} errors in {total:,} requests to protoserve in this suite",
             "yes" if errors <= total / 1000 else "no"],
        ], "Commands: in the sections above")
        def stage_cpu(protocol, stage, c):
            return costs[STAGES[protocol, stage], c]["server_cpu_us"]

        def engine_pair(c, stage):
            g, r = stage_cpu("gRPC", stage, c), stage_cpu("REST", stage, c)
            return f"{g:.0f} vs {r:.0f} us ({g / r:.2f}x)"
        pairs = {c: [engine_pair(c, stage) for stage in ("floor", "model", "core", "server")] for c in STAGE_LEVELS}
        cheaper_floor = ("gRPC's" if stage_cpu("gRPC", "floor", 8) <= stage_cpu("REST", "floor", 8)
                         else "REST's (Beast + RapidJSON)")
        over_floor, over_core = ({protocol: stage_cpu(protocol, stage, 8) - stage_cpu(protocol, "floor", 8)
                                  for protocol in ("gRPC", "REST")} for stage in ("model", "core"))
        rep.add(f"""For small messages the protocol is not what costs. Server CPU per request, gRPC against REST, each
through the same stage (the stage table above): the floors (a canned reply; REST parses the JSON request and
writes the reply) {pairs[8][0]} at concurrency 8 and {pairs[1][0]} at concurrency 1; the model alone on the
engine's threads {pairs[8][1]} and {pairs[1][1]}; the whole core {pairs[8][2]} and {pairs[1][2]}; protoserve
{pairs[8][3]} and {pairs[1][3]}. For an empty answer {cheaper_floor} engine is the cheaper one at
concurrency 8; over its own floor the model then costs gRPC {over_floor["gRPC"]:+.0f} us and REST
{over_floor["REST"]:+.0f} us, and the whole core {over_core["gRPC"]:+.0f} and {over_core["REST"]:+.0f} us. Which
protoserve path is cheaper changes between rounds and runs on this machine (the rounds are in the cost table).
gRPC's advantage is real where the seed puts it: large tensors, where protobuf's raw bytes avoid producing and
parsing megabytes of JSON text. The payload sweep says how much of that is the encoding rather than the
protocol: REST carrying the same raw bytes (KServe's binary tensor extension) is compared with gRPC above.
Against the typical Python servers a team migrates from, protoserve is faster on every protocol.

Not measured by this suite: the seed's 30% less data transfer and business metrics (its cost claim is the
server-CPU row above); running gRPC beside REST and shifting 10% of traffic is docs/migration.md, Kubernetes and
Envoy are docs/deploy.md, Prometheus metrics (`GET /metrics`) are docs/rest.md and tests/e2e/test_http.py.

**How the engine targets were reached, and what limits them** (analyses of 2026-12-06, issue 22; the figures
they lean on are the tables above, re-taken by every run). Items 1-6 are the analysis made while protoserve
served on gRPC's callback engine; item 7 is the change that moved the targets; item 8 what is left.

1. *On the callback engine, executing this model once per request already misses the targets.* The floor whose handler does nothing
   but run the recommender's TorchScript file (`stage_server --stage model`: no validation, no top-k, no
   labels, no metrics) is the bound column of the targets table. In the seven suite runs of 2026-12-06 it cost
   2.0-3.1x the floor's CPU per request at concurrency 8 with 0.39-0.59 of its qps (targets 2.0x and 0.60), and
   1.9-3.1x the floor's CPU with 2.0-2.7x its p50 at concurrency 1 (targets 2.0x and 1.6; its CPU came under
   the target in one run, its p50 in none). The model costs 14-19 us alone with hot caches (`model_alone`,
   `core_alone`) but 35-61 us more than the floor under gRPC at concurrency 8 (item 3).
2. *Batching could beat that bound, but batches do not form at concurrency 8 without costing more.* protoserve
   executes on the gRPC thread that finds an instance free, and the thread that finishes a batch takes what
   queued meanwhile (mean 1.85 rows at concurrency 8, `protoserve_batch_size`). Holding requests for company
   moves them to an instance thread: measured 2026-12-06 with one instance and a 100, 300 or 1000 us hold
   (preferred batch 8), 124-130 us per request and 3.4-3.7 context switches against 113 us and 1.3 for the
   shipped configuration (3 alternating rounds). One instance instead of two, or dynamic batching off: no
   difference beyond noise (6 alternating rounds: 105.5 vs 109.5 us).
3. *Under gRPC every stage costs 2-3x what it costs alone, and the measured reason is the caches.* The whole
   core request costs 22-37 us alone with hot caches (`core_alone`), of which the model 14-24; after 8 MB of
   other memory traffic between two requests it costs 48-72 us, of which the model 34-56 (the cold-cache table
   above and standalone runs of 2026-12-06, the sizes and the two measurements in turn): what comes back cold is the model's, not
   the core's own code. Between two requests on a core, gRPC, the kernel's sockets and the load generator
   (which shares the two cores and spends 30-100 us of CPU per request itself) run through more than the
   core's 1 MB L2: the model's weights
   (the 1000x64 item matrix alone is 256 KB) and the request's code come back from L3 or memory every time.
   A handler's computation that lives in registers (the floor + 25 us) costs about what it computes at
   concurrency 8 (+20-30 us); the model and the core cost 2-3x theirs. protoserve's other services, HTTP port and hooks add at most 0-25 us on top of the core
   (`stage_server --stage core` against protoserve: the difference changes sign between runs). This machine has
   no hardware counters (`perf stat` shows no cache events), so the misses cannot be counted here; the
   eviction table is the measurement. One part of the core's own memory traffic is a product choice: the
   feedback join window (the last 65,536 predictions, each with its ten item ids). It was a hash map of
   nodes, each with a vector of strings (~750 B per prediction, ~45 MB recycled, 3-4 allocations and frees per
   request); since 2026-12-06 it is a ring of slots whose strings are packed into one reused buffer (~360 B,
   no allocation once full): the core's own code 8.9-11.8 -> 7.2-7.8 us per request in `core_alone` (3
   alternating runs). A 64-entry window still measured 0-6 us cheaper per request in the server than the
   default in alternating rounds, within this machine's noise.
4. *gRPC against REST is decided by noise, not by the protocol.* REST's floor (Beast parsing the JSON request
   and writing a canned JSON reply, `stage_server --protocol rest --stage floor`) costs more CPU per request
   than gRPC's at concurrency 8 (41-46 vs 30-33 us in this suite's runs of 2026-12-06; 47 vs 32 us by hand, 3
   alternating rounds), and REST's two I/O threads switch less (0.2-0.7 context switches per request against
   0.7-1.4 for gRPC's callback engine). What the model and the core add over each floor differs by run and
   concurrency, either way round (the stage table). The measured ratio landed on both sides of 1.0 in the runs
   of 2026-12-06 (0.80 to 1.26), and so did its bound, each protocol's floor + the model in the same rounds
   (0.78 to 1.10): since the bound itself passes 1.0 in some runs, this target cannot hold in every run here.
5. *Batching's 3x is out of reach for this CNN on two shared cores.* A fashion_mnist row costs 66-123 us alone
   and 16-24 us in a batch of 64 (`model_alone`), so batching can save at most ~3.7-5.3x of the model's own
   time, and every request also pays 60-90 us of server CPU outside the model and 40-65 us in the load
   generator that batching cannot share ("Dynamic batching on vs off"). With one instance the batch is what
   queued during the previous execution (9-12 rows at concurrency 64); holding requests for bigger batches
   would save ~11 us per row (31.7 -> 20.7 us) against ~180 us of CPU per request in all, a few per cent.
   The measured ratio is above what equal outside costs would allow because unbatched requests pay more
   outside the model (they queue for the one instance: 3.9-4.8 context switches per request).
6. *What was removed* (issue 22): glibc's malloc (jemalloc in every executable: -14% server CPU per request
   at concurrency 8, 6 alternating rounds; tcmalloc -11%, mimalloc -8%), OpenBLAS re-packing each weight matrix on
   every batch-1 call (frozen graph, then gemv for single rows: 30-48 -> 21-36 us per execution), batches formed
   on the executing thread (no wake-up per batch: -17% CPU at concurrency 8), and fashion_mnist's batching that
   cost more per row than single images (optimized graph, one intra-op thread: 20 us/row at batch 64 against
   125 us alone). Measured and not kept: every execution on the version's own instance thread (same CPU, 3.2
   context switches per request instead of 1.3), `GRPC_POLL_STRATEGY=poll` (+20%), bias additions fused into
   the matrix products (`addmv`/`addmm`: no change beyond noise in `model_alone`), PyTorch's Static Runtime
   (no faster than the frozen graph for this model), channel arguments (BDP probing off, optimization target).
   At concurrency 1 the floor itself pays ~6 context switches per request in gRPC's callback engine.
7. *The engine was the lever, and it meant moving every gRPC service.* gRPC 1.51's callback API runs
   callbacks on a completion queue of its own with at least two "nexting" threads, which poll the same sockets
   and hand each call between them (3 context switches per request per thread at concurrency 1). A floor on
   one completion queue with one polling thread (`floor_server --engine cq --threads 1`) cost 30-35 us per
   request against the callback floor's 55-79 at concurrency 1, and 19-26 against 29-37 at concurrency 8.
   One callback service beside such an engine brings the nexting threads back and the gain with them (gRPC's
   default health service: the `--with-callback-health` row of the stage table). So every method protoserve
   serves (Recommender unary and streaming, KServe v2 with ModelStreamInfer, the typed APIs, feedback, rollout,
   reflection, and grpc.health.v1, now its own) runs on `src/grpc/cq_engine.h`: one completion queue polled by
   one thread by default (`--grpc-threads N` for more), which runs quick handlers and quick models inline and
   sends each reply from the thread that completes it; model loads and rollout starts run on worker threads.
   One thread executing every request inline would use one core and never batch: the queue's thread therefore
   takes every call already there before executing (`InlineBatchScope`, `core/dynamic_batcher.h`): at
   concurrency 1 a call executes at once, under load the calls of one poll execute as one batch, and nobody is
   woken either way. By hand (`ab.py`-style alternating rounds, 3 x 3 s, medians) against the binary before
   the change: server CPU per request 95 vs 158 us at concurrency 1, 44 vs 100 at 8, 30 vs 70 at 32, qps
   8.0k vs 5.7k, 20.7k vs 10.2k, 31.2k vs 15.3k, and 1.0 / 0.03 / 0.01 context switches per request (3.2 /
   1.2 / 0.8 before); REST on the same server 194 / 95 / 80 us.
8. *What is left: three targets sit at their limit on this machine.* In the two suite runs of 2026-12-06
   after the change, each of these held in one run and missed in the other; each bound is measured. The
   qps ratio at concurrency 8 (0.55 and 0.61; by hand 0.66) is bounded by the CPU of the load generator
   that shares the two cores: it spends more per request against protoserve than against the floor (the
   cost table's client column: its calls wait longer, so each of its wake-ups carries fewer answers), and
   the text under the targets table computes that bound in every run (0.56 and 0.62). The p50 at
   concurrency 1 (1.59 and 1.65x the floor's; target 1.6): a server that does nothing but run the model on
   the same engine measured 1.69x in the second run (the bound column), so the model's forward pass itself
   (14-19 us alone, more with the caches the client and gRPC leave cold, item 3) is what the floor does not
   pay. Batching's 3x on fashion_mnist (2.5x and 3.1x): with the calls of one poll executing as one batch,
   "on" costs ~50 us of server CPU per request, ~17 of them the model's (34 rows per batch), and every
   request also pays ~30 us in the load generator, which no batching shares, so the ratio follows
   (server + client, off) / (server + client, on), and "off" moves with the noise. One polling thread
   serves one core's worth of calls: on a larger machine `--grpc-threads` adds queues, each with its own
   thread.
""")
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(build, ignore_errors=True)
    rep.add("\nMeasured by hand, not by this suite: the core request path before and after issue 16, in "
            "[benchmarks-core-path.md](benchmarks-core-path.md).\n")
    rep.add(f"\n_Suite wall time: {time.time() - started:.0f} s._\n")
    with open(args.out, "w") as f:
        f.write("".join(rep.parts))
    print(f"wrote {args.out} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
