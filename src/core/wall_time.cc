#include "core/wall_time.h"

#include <cstdio>
#include <ctime>

namespace protoserve {

std::string Rfc3339(WallTime time) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[40];
  const size_t n = std::strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(out + n, sizeof(out) - n, ".%06lldZ", static_cast<long long>(micros % 1000000));
  return out;
}

}  // namespace protoserve
