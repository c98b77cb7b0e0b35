// libFuzzer target: config.pbtxt text through ParseModelConfig (TextFormat +
// validation) and what the repository derives from a parsed config: version
// selection, instance count, integer parameters, traffic split.
#include <cstdlib>
#include <string_view>

#include "core/model_config.h"
#include "core/model_repository.h"
#include "core/traffic_split.h"

using namespace protoserve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = ParseModelConfig(text, "m");
  if (!config.ok()) return 0;
  // A config that parsed is valid, and stays valid when re-validated.
  if (!ValidateModelConfig(*config).ok() || config->name() != "m") std::abort();
  if (InstanceCount(*config) < 1) std::abort();
  for (const auto& input : config->input()) {
    if (FromConfigDataType(input.data_type()) == DataType::kInvalid) std::abort();
    for (int64_t dim : input.dims()) {
      if (dim == 0 || dim < -1) std::abort();
    }
  }
  const auto selected = SelectVersions(*config, {1, 2, 3, 7, 1000000});
  for (int64_t v : selected) {
    if (v != 1 && v != 2 && v != 3 && v != 7 && v != 1000000) std::abort();
  }
  (void)ConfigIntParameter(*config, "INTRA_OP_THREAD_COUNT", 1);
  (void)ConfigIntParameter(*config, "nthread", 1);
  auto split = ParseTrafficSplit(*config);
  if (split.ok() && split->enabled()) {
    const int64_t picked = split->Pick("user", [](int64_t) { return true; });
    bool known = false;
    for (const auto& w : split->weights) known = known || w.version == picked;
    if (!known) std::abort();
    (void)split->MirrorThis("user");
  }
  return 0;
}
