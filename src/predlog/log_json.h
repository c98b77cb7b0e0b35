// The JSON forms of prediction log entries, shared by the SQLite sink (the
// `output` / `truth` columns) and the CloudEvents sink (event bodies).
#pragma once

#include <string>

#include "core/prediction_log.h"

namespace protoserve {

// {"item_ids": [...]} | {"class": "...", "index": n, "score": x} | {"value": x} | {"digest": "..."}, plus "rows".
std::string OutputJson(const OutputSummary& output);
// {"user_id", "clicked_item_ids", "bought_item_ids"} | {"label"} | {"value"}, plus "matched".
std::string TruthJson(const FeedbackRecord& feedback);
// The CloudEvent body: the whole entry (id, model, version, time, api, routing key, output or truth, latency).
std::string EventJson(const LogEntry& entry);
int64_t UnixMillis(WallTime time);

}  // namespace protoserve
