#include "core/traffic_split.h"

#include <charconv>
#include <random>
#include <sstream>

namespace protoserve {

namespace {

// SplitMix64 finaliser: spreads FNV hashes of similar keys over the whole range.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t Fnv1a(std::string_view key) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

double RoutingDraw(std::string_view key, bool sticky, uint64_t salt) {
  uint64_t bits;
  if (sticky && !key.empty()) {
    bits = Mix(Fnv1a(key) ^ salt);
  } else {
    thread_local std::mt19937_64 rng(std::random_device{}());
    bits = rng();
  }
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

bool TrafficSplit::MirrorThis(std::string_view key) const {
  if (shadow_version == 0 || shadow_percent <= 0) return false;
  // A different salt from Pick(), so the mirrored share is independent of the split.
  return RoutingDraw(key, sticky, 0x5bd1e995) * 100.0 < shadow_percent;
}

StatusOr<TrafficSplit> ParseTrafficSplit(const ModelConfig& config) {
  TrafficSplit split;
  if (auto text = ConfigParameter(config, "protoserve.traffic_split")) {
    std::stringstream items(*text);
    for (std::string item; std::getline(items, item, ',');) {
      const size_t colon = item.find(':');
      TrafficSplit::Weight w;
      if (colon == std::string::npos || !ParseNumber(std::string_view(item).substr(0, colon), &w.version) ||
          !ParseNumber(std::string_view(item).substr(colon + 1), &w.weight) || w.version < 1) {
        return InvalidArgument("parameter protoserve.traffic_split: expected 'version:weight,...', got '" + *text + "'");
      }
      for (const auto& other : split.weights) {
        if (other.version == w.version) {
          return InvalidArgument("parameter protoserve.traffic_split: version " + std::to_string(w.version) + " twice");
        }
      }
      split.weights.push_back(w);
    }
    uint64_t total = 0;
    for (const auto& w : split.weights) total += w.weight;
    if (total == 0) return InvalidArgument("parameter protoserve.traffic_split: weights sum to 0");
  }
  if (auto sticky = ConfigParameter(config, "protoserve.traffic_split_sticky")) {
    if (*sticky != "true" && *sticky != "false") {
      return InvalidArgument("parameter protoserve.traffic_split_sticky must be 'true' or 'false'");
    }
    split.sticky = *sticky == "true";
  }
  if (auto shadow = ConfigParameter(config, "protoserve.shadow")) {
    const size_t colon = shadow->find(':');
    if (colon == std::string::npos || !ParseNumber(std::string_view(*shadow).substr(0, colon), &split.shadow_version) ||
        split.shadow_version < 1) {
      return InvalidArgument("parameter protoserve.shadow: expected 'version:percent', got '" + *shadow + "'");
    }
    // The whole rest is the number (std::stod took "12abc" as 12), and NaN,
    // which fails every comparison, is out of range too (found by fuzz_names).
    if (!ParseNumber(std::string_view(*shadow).substr(colon + 1), &split.shadow_percent) ||
        !(split.shadow_percent >= 0 && split.shadow_percent <= 100)) {
      return InvalidArgument("parameter protoserve.shadow: percent must be a number in [0, 100], got '" + *shadow +
                             "'");
    }
  }
  return split;
}

}  // namespace protoserve
