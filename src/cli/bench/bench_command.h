// `protoserve-cli bench`: a load generator for protoserve in the spirit of
// ghz and Triton's perf_analyzer (closed-loop concurrency sweeps, open-loop
// constant-rate runs), over gRPC or REST.
//
// AddBenchCommand registers the subcommand and its flags on `app`, writing
// them into `*options` (which must outlive parsing). RunBench runs every
// (rate x concurrency) combination, one run each, prints the results to
// stdout in the chosen format, a live progress line to stderr when stderr is
// a terminal, and writes the HTML report if asked. Returns the process exit
// code: 0 when every run completed (even with failed calls: they are
// reported), 1 when the target could not be used. Throws
// std::invalid_argument for bad flags.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/bench/bench_options.h"

namespace protoserve::cli::bench {

CLI::App* AddBenchCommand(CLI::App& app, BenchOptions* options);
int RunBench(const BenchOptions& options);

}  // namespace protoserve::cli::bench
