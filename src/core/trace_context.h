// W3C Trace Context (https://www.w3.org/TR/trace-context/): the ids of a
// trace and its spans, and the `traceparent` header that carries them.
//
//   traceparent: 00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>
//
// Parsing follows the recommendation's rules for a receiver: lowercase hex
// only, all-zero ids and version ff are invalid, and a version above 00 is
// read by its first four fields (more may follow after a '-'). An invalid
// header is not an error for the request: the server starts a new trace.
//
// Thread-safety: free functions; NewTraceId/NewSpanId use a per-thread
// generator.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace protoserve {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

inline constexpr uint8_t kTraceFlagSampled = 0x01;
// W3C caps tracestate at 32 list members; 512 characters is the length a
// vendor must propagate at least. Longer (or unprintable) values are dropped.
inline constexpr size_t kMaxTraceStateBytes = 512;

// The caller's span, as a traceparent (and tracestate) names it.
struct TraceParent {
  TraceId trace_id{};
  SpanId span_id{};
  uint8_t flags = 0;
  std::string tracestate;
  bool sampled() const { return (flags & kTraceFlagSampled) != 0; }
};

// nullopt when `header` is absent or malformed (start a new trace).
std::optional<TraceParent> ParseTraceparent(std::string_view header);
// `tracestate` as propagated: "" when too long or not printable ASCII.
std::string SanitizeTracestate(std::string_view tracestate);
// "00-<trace>-<span>-<flags>".
std::string FormatTraceparent(const TraceId& trace_id, const SpanId& span_id, uint8_t flags);

// Lowercase hex of the id.
std::string ToHex(const TraceId& id);
std::string ToHex(const SpanId& id);

// Random ids, never all zero (W3C: an all-zero id is invalid).
TraceId NewTraceId();
SpanId NewSpanId();

inline bool IsZero(const SpanId& id) { return id == SpanId{}; }

}  // namespace protoserve
