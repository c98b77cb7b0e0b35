#include "core/trace_context.h"

#include <random>

namespace protoserve {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is invalid in traceparent
}

// Reads 2 * N lowercase hex digits into `out`.
template <size_t N>
bool ParseHex(std::string_view text, std::array<uint8_t, N>* out) {
  if (text.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    const int high = HexValue(text[2 * i]);
    const int low = HexValue(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    (*out)[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return true;
}

template <size_t N>
std::string Hex(const std::array<uint8_t, N>& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    text[2 * i] = kHex[bytes[i] >> 4];
    text[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return text;
}

// splitmix64 over a per-thread seed: fast, and unrelated across threads.
uint64_t NextRandom() {
  thread_local uint64_t state = [] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }();
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <size_t N>
void FillRandom(std::array<uint8_t, N>* out) {
  do {
    for (size_t i = 0; i < N; i += 8) {
      const uint64_t r = NextRandom();
      for (size_t j = 0; j < 8 && i + j < N; ++j) (*out)[i + j] = static_cast<uint8_t>(r >> (8 * j));
    }
  } while (*out == std::array<uint8_t, N>{});
}

}  // namespace

std::optional<TraceParent> ParseTraceparent(std::string_view header) {
  // version(2) - trace-id(32) - parent-id(16) - flags(2) = 55 characters.
  constexpr size_t kLength = 55;
  if (header.size() < kLength) return std::nullopt;
  std::array<uint8_t, 1> version{};
  if (!ParseHex(header.substr(0, 2), &version) || version[0] == 0xff) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append fields.
  if (version[0] == 0 ? header.size() != kLength : (header.size() > kLength && header[kLength] != '-')) {
    return std::nullopt;
  }
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  TraceParent parent;
  std::array<uint8_t, 1> flags{};
  if (!ParseHex(header.substr(3, 32), &parent.trace_id) || !ParseHex(header.substr(36, 16), &parent.span_id) ||
      !ParseHex(header.substr(53, 2), &flags)) {
    return std::nullopt;
  }
  if (parent.trace_id == TraceId{} || parent.span_id == SpanId{}) return std::nullopt;
  parent.flags = flags[0];
  return parent;
}

std::string SanitizeTracestate(std::string_view tracestate) {
  if (tracestate.size() > kMaxTraceStateBytes) return {};
  for (unsigned char c : tracestate) {
    if (c < 0x20 || c > 0x7e) return {};
  }
  return std::string(tracestate);
}

std::string FormatTraceparent(const TraceId& trace_id, const SpanId& span_id, uint8_t flags) {
  return "00-" + Hex(trace_id) + "-" + Hex(span_id) + "-" + Hex(std::array<uint8_t, 1>{flags});
}

std::string ToHex(const TraceId& id) { return Hex(id); }
std::string ToHex(const SpanId& id) { return Hex(id); }

TraceId NewTraceId() {
  TraceId id;
  FillRandom(&id);
  return id;
}

SpanId NewSpanId() {
  SpanId id;
  FillRandom(&id);
  return id;
}

}  // namespace protoserve
