// TrafficSplit: protoserve's weighted routing between versions of a model,
// and shadow mirroring of a share of requests to a candidate version.
//
// Configured in config.pbtxt through `parameters` (which Triton-style tools
// pass through untouched), for example
//
//   version_policy { specific { versions: [1, 2] } }
//   parameters { key: "protoserve.traffic_split" value { string_value: "1:90,2:10" } }
//   parameters { key: "protoserve.traffic_split_sticky" value { string_value: "true" } }
//   parameters { key: "protoserve.shadow" value { string_value: "3:5" } }
//
// Weights are relative (need not sum to 100). Random mode draws per request;
// sticky mode maps a routing key (the recommender's user_id, or the KServe
// request parameter "routing_key") to a version by hash, so a user does not
// flip between versions while weights stay fixed. Shadow mirrors `percent`%
// of requests to version V; its answers are compared, never returned.
// Requests naming an explicit version bypass both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model_config.h"

namespace protoserve {

struct TrafficSplit {
  struct Weight {
    int64_t version = 0;
    uint32_t weight = 0;
  };
  std::vector<Weight> weights;  // empty: no split (latest ready version)
  bool sticky = false;
  int64_t shadow_version = 0;   // 0: no shadow
  double shadow_percent = 0;

  bool enabled() const { return !weights.empty(); }

  // Picks a version among those in `weights` for which `ready(version)` is
  // true, by weight. `key` (sticky mode) makes the choice deterministic.
  // Returns 0 when no weighted version is ready.
  template <typename Ready>
  int64_t Pick(std::string_view key, Ready ready) const;

  // Whether this request is mirrored to the shadow version.
  bool MirrorThis(std::string_view key) const;
};

// Parses the protoserve.* parameters of `config`.
StatusOr<TrafficSplit> ParseTrafficSplit(const ModelConfig& config);

// A uniform value in [0, 1): from the key's hash in sticky mode, random otherwise.
double RoutingDraw(std::string_view key, bool sticky, uint64_t salt);

template <typename Ready>
int64_t TrafficSplit::Pick(std::string_view key, Ready ready) const {
  uint64_t total = 0;
  for (const Weight& w : weights) {
    if (ready(w.version)) total += w.weight;
  }
  if (total == 0) return 0;
  const double draw = RoutingDraw(key, sticky, 0) * static_cast<double>(total);
  uint64_t acc = 0;
  int64_t last = 0;
  for (const Weight& w : weights) {
    if (!ready(w.version)) continue;
    acc += w.weight;
    last = w.version;
    if (draw < static_cast<double>(acc)) return w.version;
  }
  return last;
}

}  // namespace protoserve
