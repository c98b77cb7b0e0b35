// VersionRouter: which version of a model answers a request, and which one
// (if any) gets a mirrored copy. The version policy decided which versions
// are loaded; the router chooses among those that are READY:
//   - a request naming a version gets exactly that one (no split, no shadow);
//   - a request for the default version follows the traffic split (weights
//     over its versions, sticky by routing key: traffic_split.h) among the
//     ready weighted versions, else the latest ready version answers;
//   - the shadow version gets a mirrored copy of its share of default-version
//     requests, when it is ready and is not the version answering.
// The repository keeps one router per model (swapped whole when the config
// changes); it holds no lock and reads readiness through the callable the
// caller passes, so it can be tested without loading anything.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "core/traffic_split.h"

namespace protoserve {

struct RouteChoice {
  int64_t primary = 0;  // 0: a default-version request found no ready version
  int64_t shadow = 0;   // 0: not mirrored
  bool split = false;   // the traffic split picked `primary`
};

class VersionRouter {
 public:
  VersionRouter() = default;
  explicit VersionRouter(TrafficSplit split) : split_(std::move(split)) {}

  // `requested`: the version the request names, 0 for the default.
  // `ready(v)`: whether version v is READY. `latest_ready()`: the highest
  // READY version (0 when none), asked only when no split version answers.
  template <typename Ready, typename LatestReady>
  RouteChoice Choose(int64_t requested, std::string_view routing_key, Ready ready, LatestReady latest_ready) const {
    if (requested != 0) return {requested, 0};
    RouteChoice choice;
    if (split_.enabled()) choice.primary = split_.Pick(routing_key, ready);
    choice.split = choice.primary != 0;
    if (choice.primary == 0) choice.primary = latest_ready();
    if (choice.primary == 0) return choice;
    const int64_t shadow = split_.shadow_version;
    if (shadow != 0 && shadow != choice.primary && ready(shadow) && split_.MirrorThis(routing_key)) {
      choice.shadow = shadow;
    }
    return choice;
  }

  const TrafficSplit& split() const { return split_; }

 private:
  TrafficSplit split_;
};

}  // namespace protoserve
