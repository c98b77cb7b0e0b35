#include "core/trace_sampler.h"

#include <charconv>
#include <cmath>
#include <string>

namespace protoserve {

StatusOr<SamplerConfig> ParseSamplerConfig(std::string_view name, std::string_view arg) {
  SamplerConfig config;
  if (name.empty() || name == "parentbased_always_on") {
    config.kind = SamplerKind::kParentBasedAlwaysOn;
  } else if (name == "always_on") {
    config.kind = SamplerKind::kAlwaysOn;
  } else if (name == "always_off") {
    config.kind = SamplerKind::kAlwaysOff;
  } else if (name == "traceidratio") {
    config.kind = SamplerKind::kTraceIdRatio;
  } else if (name == "parentbased_always_off") {
    config.kind = SamplerKind::kParentBasedAlwaysOff;
  } else if (name == "parentbased_traceidratio") {
    config.kind = SamplerKind::kParentBasedTraceIdRatio;
  } else {
    return InvalidArgument("unknown trace sampler '" + std::string(name) +
                           "' (always_on, always_off, traceidratio, parentbased_always_on, "
                           "parentbased_always_off, parentbased_traceidratio)");
  }
  const bool ratio_kind =
      config.kind == SamplerKind::kTraceIdRatio || config.kind == SamplerKind::kParentBasedTraceIdRatio;
  if (ratio_kind && !arg.empty()) {
    // std::from_chars for double: locale-independent.
    double ratio = 0;
    const auto [end, error] = std::from_chars(arg.data(), arg.data() + arg.size(), ratio);
    if (error != std::errc() || end != arg.data() + arg.size() || !(ratio >= 0.0 && ratio <= 1.0)) {
      return InvalidArgument("trace sampler ratio '" + std::string(arg) + "' is not a number in [0, 1]");
    }
    config.ratio = ratio;
  }
  return config;
}

const char* SamplerName(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::kAlwaysOn: return "always_on";
    case SamplerKind::kAlwaysOff: return "always_off";
    case SamplerKind::kTraceIdRatio: return "traceidratio";
    case SamplerKind::kParentBasedAlwaysOn: return "parentbased_always_on";
    case SamplerKind::kParentBasedAlwaysOff: return "parentbased_always_off";
    case SamplerKind::kParentBasedTraceIdRatio: return "parentbased_traceidratio";
  }
  return "?";
}

TraceSampler::TraceSampler(SamplerConfig config) : config_(config) {
  all_ = config_.ratio >= 1.0;
  // ratio * 2^64, computed in long double so small ratios keep their precision.
  if (!all_ && config_.ratio > 0) threshold_ = static_cast<uint64_t>(std::ldexp(static_cast<long double>(config_.ratio), 64));
}

bool TraceSampler::RootDecision(const TraceId& trace_id) const {
  switch (config_.kind) {
    case SamplerKind::kAlwaysOn:
    case SamplerKind::kParentBasedAlwaysOn:
      return true;
    case SamplerKind::kAlwaysOff:
    case SamplerKind::kParentBasedAlwaysOff:
      return false;
    case SamplerKind::kTraceIdRatio:
    case SamplerKind::kParentBasedTraceIdRatio:
      break;
  }
  if (all_) return true;
  uint64_t random = 0;
  for (size_t i = 8; i < 16; ++i) random = (random << 8) | trace_id[i];
  return random < threshold_;
}

bool TraceSampler::ShouldSample(const TraceParent* parent, const TraceId& trace_id) const {
  const bool parent_based = config_.kind == SamplerKind::kParentBasedAlwaysOn ||
                            config_.kind == SamplerKind::kParentBasedAlwaysOff ||
                            config_.kind == SamplerKind::kParentBasedTraceIdRatio;
  // The SDKs' ParentBased defaults for a remote parent: follow its flag.
  if (parent_based && parent != nullptr) return parent->sampled();
  return RootDecision(trace_id);
}

}  // namespace protoserve
