#include "http/grpc_timeout.h"

#include <cstdint>

namespace protoserve {

std::optional<std::chrono::nanoseconds> ParseGrpcTimeout(std::string_view text) {
  constexpr size_t kMaxDigits = 8;
  if (text.size() < 2 || text.size() > kMaxDigits + 1) return std::nullopt;
  int64_t value = 0;  // at most 99 999 999: no overflow
  for (const char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  int64_t unit_ns;
  switch (text.back()) {
    case 'H': unit_ns = int64_t{3600} * 1000 * 1000 * 1000; break;
    case 'M': unit_ns = int64_t{60} * 1000 * 1000 * 1000; break;
    case 'S': unit_ns = 1000 * 1000 * 1000; break;
    case 'm': unit_ns = 1000 * 1000; break;
    case 'u': unit_ns = 1000; break;
    case 'n': unit_ns = 1; break;
    default: return std::nullopt;
  }
  // Saturates instead of multiplying past kMaxGrpcTimeout.
  if (value > kMaxGrpcTimeout.count() / unit_ns) return kMaxGrpcTimeout;
  return std::chrono::nanoseconds(value * unit_ns);
}

}  // namespace protoserve
