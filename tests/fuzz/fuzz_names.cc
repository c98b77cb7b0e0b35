// libFuzzer target: the small parsers that guard names, versions, routing
// parameters and credentials: IsValidModelName, ParseModelVersion,
// ParseTrafficSplit, DataTypeFromName, ParseTokenFile, ParseBearer,
// ConstantTimeEquals, ClassifyGrpcMethod, IsLoopbackPeer. Each line of the
// input is one candidate; properties (not just "no crash") are checked.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/auth_tokens.h"
#include "core/classification.h"
#include "core/model_config.h"
#include "core/traffic_split.h"
#include "grpc/auth.h"

using namespace protoserve;

namespace {

void CheckName(const std::string& name) {
  if (!IsValidModelName(name)) return;
  // A valid name is exactly one path component that stays inside its parent.
  if (name.empty() || name.size() > 128 || name[0] == '.' || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    std::abort();
  }
  const std::filesystem::path path = std::filesystem::path("/repo") / name;
  if (path.lexically_normal() != path || path.parent_path() != "/repo" || path.filename() != name) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  for (size_t start = 0; start <= text.size() && lines.size() < 8;) {
    const size_t end = std::min(text.find('\n', start), text.size());
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  lines.resize(4);

  for (const std::string& line : lines) {
    CheckName(line);
    auto version = ParseModelVersion(line);
    if (version.ok() && *version < 0) std::abort();
    if (version.ok() && *version == 0 && !line.empty()) std::abort();
    (void)DataTypeFromName(line);
    (void)ClassifyGrpcMethod(line);
    if (IsLoopbackPeer(line) && !(line.starts_with("ipv4:127.") || line.starts_with("ipv6:") ||
                                  line.starts_with("unix:"))) {
      std::abort();
    }
    auto bearer = ParseBearer(line);
    if (bearer && (bearer->empty() || bearer->find(' ') != std::string_view::npos)) std::abort();
  }
  if (ConstantTimeEquals(lines[0], lines[1]) != (!lines[0].empty() && lines[0] == lines[1])) std::abort();

  ModelConfig config;
  (*config.mutable_parameters())["protoserve.traffic_split"].set_string_value(lines[0]);
  (*config.mutable_parameters())["protoserve.traffic_split_sticky"].set_string_value(lines[1]);
  (*config.mutable_parameters())["protoserve.shadow"].set_string_value(lines[2]);
  auto split = ParseTrafficSplit(config);
  if (split.ok()) {
    uint64_t total = 0;
    for (const auto& w : split->weights) {
      if (w.version < 1) std::abort();
      total += w.weight;
    }
    if (split->enabled() && total == 0) std::abort();
    if (!(split->shadow_percent >= 0 && split->shadow_percent <= 100)) std::abort();  // NaN too
    (void)split->Pick(lines[3], [](int64_t v) { return v % 2 == 1; });
  }

  auto tokens = ParseTokenFile(text);
  if (tokens.ok()) {
    for (const TokenEntry& entry : *tokens) {
      if (entry.token.size() < 16 || entry.scopes == 0) std::abort();
    }
  }
  return 0;
}
