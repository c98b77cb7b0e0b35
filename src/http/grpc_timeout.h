// The grpc-timeout header of gRPC (and gRPC-Web) requests:
//   TimeoutValue TimeoutUnit, 1 to 8 ASCII digits and one of
//   H (hours) M (minutes) S (seconds) m (milli-) u (micro-) n (nanoseconds)
// (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
//
// Nothing else is accepted: no sign, no spaces (HTTP strips the header's
// surrounding whitespace already), no 9th digit. gRPC core's own decoder
// (src/core/lib/transport/timeout_encoding.cc, ParseTimeout) is more
// lenient: it skips spaces and takes values up to 1 000 000 000, treating
// larger ones as an infinite deadline, and it counts in int64 milliseconds
// (sub-millisecond values rounded up), where 8 digits of hours cannot
// overflow. Counted in nanoseconds they can (99999999H is 3.6e20 ns, int64
// holds 9.2e18), so the result saturates at kMaxGrpcTimeout, ~146 years,
// i.e. "no deadline" in practice, and small enough that adding it to any
// clock's now() cannot overflow either.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace protoserve {

inline constexpr std::chrono::nanoseconds kMaxGrpcTimeout = std::chrono::nanoseconds::max() / 2;

// The timeout, at most kMaxGrpcTimeout; nullopt when `text` is malformed.
std::optional<std::chrono::nanoseconds> ParseGrpcTimeout(std::string_view text);

}  // namespace protoserve
