#include "http/json.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace protoserve::json {

namespace {

// NaN/Infinity are written as RapidJSON's (and Python's) extension tokens.
bool WriteNonFinite(Writer& writer, double value) {
  if (std::isnan(value)) {
    writer.RawValue("NaN", 3, rapidjson::kNumberType);
  } else if (std::isinf(value)) {
    if (value > 0) {
      writer.RawValue("Infinity", 8, rapidjson::kNumberType);
    } else {
      writer.RawValue("-Infinity", 9, rapidjson::kNumberType);
    }
  } else {
    return false;
  }
  return true;
}

template <typename T>
void WriteShortest(Writer& writer, T value) {
  if (WriteNonFinite(writer, value)) return;
  // "-0" reads back as the integer 0 in most parsers (RapidJSON, Python):
  // written as a fraction, the sign survives.
  if (value == 0 && std::signbit(value)) {
    writer.RawValue("-0.0", 4, rapidjson::kNumberType);
    return;
  }
  char buffer[32];
  // std::to_chars without a format gives the shortest representation that
  // round-trips; it is always valid JSON number syntax (e.g. "1e-05", "-0").
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  writer.RawValue(buffer, static_cast<size_t>(result.ptr - buffer), rapidjson::kNumberType);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNumberByte(char c) { return IsDigit(c) || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E'; }

// RapidJSON 1.1.0 (Debian 12) misreads a zero whose exponent or fraction
// puts it off its fast path in full-precision mode: "0e39" parses as
// -1.5e228 or any other garbage, "-0e100" as a positive number (DiyFp of a
// zero significand: __builtin_clzll(0), Tencent/rapidjson#1249, fixed after
// 1.1.0), "0e400" fails as "too big". Found by fuzz_rest_json (UBSan).
// Every zero written with a fraction or exponent, outside strings, is
// rewritten "0.0" ("-0.0") padded with spaces: the same value, sign and
// type (a double), and error offsets stay those of the original text.
// Returns false (and leaves *out alone) when there is no such token.
bool RewriteZerosWithTail(std::string_view text, std::string* out) {
  // Cheap filter first: such a zero has an exponent ("0e", "0E") or, to
  // leave the fast path without one, more than 22 fraction digits.
  if (text.find("0e") == std::string_view::npos && text.find("0E") == std::string_view::npos &&
      text.find("00000000000000000000000") == std::string_view::npos) {
    return false;
  }
  bool changed = false, in_string = false;
  char before = ' ';  // the last byte outside strings: a value starts after ' ', '[', ',' or ':'
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
        before = c;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    const bool value_start = before == ' ' || before == '\t' || before == '\n' || before == '\r' || before == '[' ||
                             before == ',' || before == ':';
    if (!value_start || (c != '-' && !IsDigit(c))) {
      before = c;
      continue;
    }
    // A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ; only zeros are rewritten.
    size_t j = i + (c == '-' ? 1 : 0);
    const size_t zero = j;
    bool is_zero = j < text.size() && text[j] == '0', tail = false, well_formed = is_zero;
    if (is_zero) ++j;
    if (well_formed && j < text.size() && text[j] == '.') {
      const size_t digits = ++j;
      for (; j < text.size() && IsDigit(text[j]); ++j) is_zero = is_zero && text[j] == '0';
      well_formed = j > digits;
      tail = true;
    }
    if (well_formed && j < text.size() && (text[j] == 'e' || text[j] == 'E')) {
      ++j;
      if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
      const size_t digits = j;
      while (j < text.size() && IsDigit(text[j])) ++j;
      well_formed = j > digits;
      tail = true;
    }
    // Whatever follows: RapidJSON reads the number before it finds an error
    // after it (at the same offset once the tail is spaces). Three bytes,
    // "0e5" or "0.0", are always on its fast path.
    if (well_formed && is_zero && tail && j - zero > 3) {
      if (!changed) *out = std::string(text);
      changed = true;
      std::memcpy(out->data() + zero, "0.0", 3);
      std::memset(out->data() + zero + 3, ' ', j - zero - 3);
    }
    // Skip the rest of the token (whatever it is) so no digit inside it starts another.
    while (j < text.size() && IsNumberByte(text[j])) ++j;
    i = std::max(i, j - 1);
    before = text[i];
  }
  return changed;
}

}  // namespace

Status Parse(std::string_view text, rapidjson::Document* document) {
  // RapidJSON stops at a NUL byte as if the text ended there; JSON never
  // contains one (inside strings it is escaped), so it is an error here.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return InvalidArgument("malformed JSON at offset " + std::to_string(nul) + ": NUL byte");
  }
  std::string rewritten;
  if (RewriteZerosWithTail(text, &rewritten)) text = rewritten;
  document->Parse<kParseFlags>(text.data(), text.size());
  if (!document->HasParseError()) return Status::Ok();
  return InvalidArgument("malformed JSON at offset " + std::to_string(document->GetErrorOffset()) + ": " +
                         rapidjson::GetParseError_En(document->GetParseError()));
}

void WriteFloat(Writer& writer, float value) {
  // Checked over every float (JsonTest.DISABLED_EveryFp32RoundTrips): the
  // shortest representation reads back exactly both as a float and as a
  // double narrowed to float (what Python, JavaScript and RapidJSON clients
  // do), except for +-7.038531e-26, where narrowing rounds twice. That one
  // is written as its exact double value instead.
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) == 0x15ae43fdu) return WriteShortest(writer, static_cast<double>(value));
  WriteShortest(writer, value);
}
void WriteDouble(Writer& writer, double value) { WriteShortest(writer, value); }

float NarrowToFloat(double value) {
  if (std::isfinite(value) && std::abs(value) > FLT_MAX) {
    // Values below FLT_MAX + half an ulp round down to FLT_MAX; the halfway
    // point and beyond round to infinity.
    const float limit = std::abs(value) < 0x1.ffffffp127 ? FLT_MAX : HUGE_VALF;
    return value > 0 ? limit : -limit;
  }
  return static_cast<float>(value);
}

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  while (p < end) {
    const uint32_t lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    int continuation = 0;
    uint32_t code_point = 0, smallest = 0;
    if ((lead & 0xE0) == 0xC0) {
      continuation = 1, code_point = lead & 0x1F, smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      continuation = 2, code_point = lead & 0x0F, smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      continuation = 3, code_point = lead & 0x07, smallest = 0x10000;
    } else {
      return false;
    }
    if (end - p <= continuation) return false;
    for (int i = 1; i <= continuation; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (p[i] & 0x3F);
    }
    if (code_point < smallest || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    p += continuation + 1;
  }
  return true;
}

std::string ValidUtf8(std::string_view text) {
  std::string out(text);
  if (!IsValidUtf8(text)) {
    for (char& c : out) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    }
  }
  return out;
}

const char* TypeName(const rapidjson::Value& value) {
  switch (value.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType: return "boolean";
    case rapidjson::kObjectType: return "object";
    case rapidjson::kArrayType: return "array";
    case rapidjson::kStringType: return "string";
    case rapidjson::kNumberType: return "number";
  }
  return "value";
}

}  // namespace protoserve::json
