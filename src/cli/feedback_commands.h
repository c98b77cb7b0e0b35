// protoserve-cli feedback / rollout status: send feedback on a logged
// prediction, print the per-version online metrics.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cli/cli_common.h"

namespace protoserve::cli {

struct FeedbackArgs {
  std::string request_id;
  std::string user_id;
  std::vector<std::string> clicked;
  std::vector<std::string> bought;
  std::string model;  // set with --label/--value: feedback for any model
  std::string label;
  double value = 0;
  int64_t time_unix_ms = 0;
};

struct RolloutStatusArgs {
  std::string model = "recommender";
  bool json = false;
};

// Adds `feedback` and `rollout status` to `app`; returns them (feedback, rollout, status).
struct FeedbackCommands {
  CLI::App* feedback;
  CLI::App* rollout;
  CLI::App* status;
};
FeedbackCommands AddFeedbackCommands(CLI::App& app, ConnectionOptions* connection, FeedbackArgs* feedback,
                                     RolloutStatusArgs* status);

// Recommender.SendFeedback (clicks/buys), or Feedback.SendFeedback (--label/--value).
int SendFeedback(const ConnectionOptions& connection, const FeedbackArgs& args, bool has_label, bool has_value);
// Feedback.GetEvaluation, as a table (or JSON).
int RolloutStatus(const ConnectionOptions& connection, const RolloutStatusArgs& args);

}  // namespace protoserve::cli
