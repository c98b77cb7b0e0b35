// protoserve-cli rollout start / abort, and the rollout part of
// `rollout status` (protoserve.rollout.v1.Rollout).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cli/cli_common.h"

namespace protoserve::cli {

struct RolloutArgs {
  std::string model = "recommender";
  int64_t candidate = 0;
  std::optional<int64_t> baseline;
  std::vector<int> steps;
  std::optional<int64_t> min_requests, min_feedback, min_step_secs;
  std::optional<double> max_error_rate_margin, max_p99_ratio, alpha;
  std::optional<std::string> metric;
  std::string reason;
};

struct RolloutCommands {
  CLI::App* start;
  CLI::App* abort;
};
// Adds `start` and `abort` under the `rollout` command.
RolloutCommands AddRolloutCommands(CLI::App* rollout, ConnectionOptions* connection, RolloutArgs* args);

int StartRollout(const ConnectionOptions& connection, const RolloutArgs& args);
int AbortRollout(const ConnectionOptions& connection, const RolloutArgs& args);
// Prints the model's rollout (state, live evidence, decision table) after
// the evaluation table of `rollout status`; `json`: returns it instead.
// Returns false on an RPC error other than "no rollout"/"not enabled".
bool PrintRolloutOf(const ConnectionOptions& connection, const std::string& model, nlohmann::json* json);

}  // namespace protoserve::cli
