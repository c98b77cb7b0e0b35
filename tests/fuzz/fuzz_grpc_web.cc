// libFuzzer target: the byte-level pieces of gRPC-Web on the HTTP port.
// Every input goes through all of them:
//  - ParseUnaryGrpcWebBody (binary framing): a parsed message is exactly
//    the body after its 5-byte prefix, and framing it again gives the body
//    back; and for the input as a message, parse(frame(x)) == x;
//  - Base64Decode of the input (grpc-web-text bodies), and the round trip
//    Base64Decode(Base64Encode(x)) == x, for the input and for what decoding
//    it gave;
//  - ParseGrpcTimeout (src/http/grpc_timeout.h) of the input and of its
//    short prefixes (a grpc-timeout header is short: the interesting inputs
//    are 2..9 bytes): the result is in [0, kMaxGrpcTimeout], equals the value
//    computed in 128-bit arithmetic, clamped, and adding it to now() does
//    not overflow. UBSan (the fuzz build) catches any signed overflow inside;
//  - PercentEncodeGrpcMessage and GrpcWebTrailers: printable ASCII only, and
//    the trailers frame parses back as one 0x80 frame.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "http/grpc_timeout.h"
#include "http/grpc_web.h"

using namespace protoserve;

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_grpc_web: %s\n", what);
  std::abort();
}

void CheckFraming(std::string_view input) {
  auto message = ParseUnaryGrpcWebBody(input);
  if (message.ok()) {
    if (*message != input.substr(5)) Fail("parsed message is not the body after its prefix");
    if (GrpcWebFrame(0, *message) != input) Fail("frame(parse(body)) != body");
  }
  auto again = ParseUnaryGrpcWebBody(GrpcWebFrame(0, input));
  if (!again.ok() || *again != input) Fail("parse(frame(x)) != x");
  if (ParseUnaryGrpcWebBody(GrpcWebFrame(0x80, input)).ok()) Fail("a trailers frame parsed as a request");
}

void CheckBase64(std::string_view input) {
  auto round_trip = Base64Decode(Base64Encode(input));
  if (!round_trip.ok() || *round_trip != input) Fail("Base64Decode(Base64Encode(x)) != x");
  auto decoded = Base64Decode(input);
  if (!decoded.ok()) return;
  if (decoded->size() > input.size()) Fail("base64 decoded to more bytes than its text");
  auto again = Base64Decode(Base64Encode(*decoded));
  if (!again.ok() || *again != *decoded) Fail("base64 round trip of decoded bytes");
}

// The grpc-timeout value in 128-bit arithmetic, where nothing can overflow.
std::optional<__int128> Reference(std::string_view text) {
  if (text.size() < 2 || text.size() > 9) return std::nullopt;
  __int128 value = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  switch (text.back()) {
    case 'H': value *= __int128{3600} * 1000000000; break;
    case 'M': value *= __int128{60} * 1000000000; break;
    case 'S': value *= 1000000000; break;
    case 'm': value *= 1000000; break;
    case 'u': value *= 1000; break;
    case 'n': break;
    default: return std::nullopt;
  }
  return std::min<__int128>(value, kMaxGrpcTimeout.count());
}

void CheckTimeout(std::string_view text) {
  const auto parsed = ParseGrpcTimeout(text);
  const auto expected = Reference(text);
  if (parsed.has_value() != expected.has_value()) Fail("ParseGrpcTimeout accepts what the grammar refuses, or not");
  if (!parsed) return;
  if (parsed->count() < 0 || *parsed > kMaxGrpcTimeout) Fail("grpc-timeout out of [0, kMaxGrpcTimeout]");
  if (parsed->count() != *expected) Fail("grpc-timeout value differs from the 128-bit reference");
  int64_t deadline;
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (__builtin_add_overflow(now, parsed->count(), &deadline)) Fail("now() + grpc-timeout overflows");
}

void CheckTrailers(std::string_view input) {
  const std::string encoded = PercentEncodeGrpcMessage(input);
  for (unsigned char c : encoded) {
    if (c < 0x20 || c > 0x7e) Fail("percent-encoded grpc-message is not printable ASCII");
  }
  const std::string frame = GrpcWebTrailers(Status(StatusCode::kInvalidArgument, std::string(input)));
  if (frame.size() < 5 || static_cast<uint8_t>(frame[0]) != 0x80) Fail("trailers frame flag");
  uint32_t size = 0;
  for (int i = 1; i <= 4; ++i) size = (size << 8) | static_cast<uint8_t>(frame[i]);
  if (size != frame.size() - 5) Fail("trailers frame length");
  if (frame.compare(5, std::string::npos, "grpc-status:3\r\ngrpc-message:" + encoded + "\r\n") != 0) {
    Fail("trailers frame content");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckFraming(input);
  CheckBase64(input);
  for (size_t n = 0; n <= std::min<size_t>(input.size(), 10); ++n) CheckTimeout(input.substr(0, n));
  CheckTimeout(input);
  CheckTrailers(input);
  return 0;
}
