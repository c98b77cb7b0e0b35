#include "http/json.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

namespace protoserve::json {

namespace {

// RapidJSON's GenericInsituStringStream, bounded: RapidJSON's own relies on a
// NUL at the end, and its UTF-8 validation reads (and, in situ, writes back)
// up to three bytes past it inside a truncated sequence (found by
// fuzz_rest_json under ASan). Here reads stop at the end, and so do writes:
// in situ, decoded text is written over text already read, except for such
// a truncated sequence, which fails the parse anyway.
class BoundedInsituStream {
 public:
  using Ch = char;
  BoundedInsituStream(char* begin, size_t size) : src_(begin), dst_(nullptr), head_(begin), end_(begin + size) {}

  Ch Peek() const { return src_ == end_ ? '\0' : *src_; }
  Ch Take() { return src_ == end_ ? '\0' : *src_++; }
  size_t Tell() const { return static_cast<size_t>(src_ - head_); }

  Ch* PutBegin() { return dst_ = src_; }
  void Put(Ch c) {
    if (dst_ != end_) *dst_++ = c;
  }
  size_t PutEnd(Ch* begin) { return static_cast<size_t>(dst_ - begin); }
  void Flush() {}

 private:
  Ch* src_;
  Ch* dst_;
  Ch* head_;
  Ch* end_;
};

}  // namespace
}  // namespace protoserve::json

// As for RapidJSON's in-situ stream: the reader works on a local copy, and in
// situ numbers rely on it (the original still points at the number's start).
template <>
struct rapidjson::StreamTraits<protoserve::json::BoundedInsituStream> {
  enum { copyOptimization = 1 };
};

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

// Forwards the parser's events to the document, checking what RapidJSON 1.1.0
// (Debian 12) gets wrong. Numbers: RapidJSON only tokenizes them; they are
// converted here with std::from_chars (correctly rounded), because its own
// conversion misreads fuzzed input (fuzz_rest_json, UBSan and asserts):
// "0e39" became -1.5e228 (__builtin_clzll(0), Tencent/rapidjson#1249),
// "NaN.5" 0.5 and "NaNe1" an assertion (#2299), "2e308" NaN (#1253), some
// long significands an assertion (#1259); all fixed after 1.1.0.
class CheckingHandler {
 public:
  explicit CheckingHandler(rapidjson::Document& document) : document_(document) {}

  bool Null() { return document_.Null(); }
  bool Bool(bool b) { return document_.Bool(b); }
  bool Int(int i) { return document_.Int(i); }
  bool Uint(unsigned u) { return document_.Uint(u); }
  bool Int64(int64_t i) { return document_.Int64(i); }
  bool Uint64(uint64_t u) { return document_.Uint64(u); }
  bool Double(double d) { return document_.Double(d); }
  // The text is parsed in place in a scratch copy: the document copies strings.
  bool String(const char* s, rapidjson::SizeType n, bool) { return Utf8(s, n) && document_.String(s, n, true); }
  bool StartObject() { return document_.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool) { return Utf8(s, n) && document_.Key(s, n, true); }
  bool EndObject(rapidjson::SizeType members) { return document_.EndObject(members); }
  bool StartArray() { return document_.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) { return document_.EndArray(elements); }

  // The token as written (RapidJSON checked the JSON number grammar, but not
  // after NaN/Infinity). Integers keep RapidJSON's types (int, unsigned,
  // int64, uint64, else double).
  bool RawNumber(const char* text, rapidjson::SizeType length, bool) {
    const std::string_view token(text, length);
    const bool negative = !token.empty() && token[0] == '-';
    const std::string_view body = token.substr(negative ? 1 : 0);
    if (!body.empty() && (body[0] == 'N' || body[0] == 'I')) {
      if (body == "NaN") return document_.Double(std::numeric_limits<double>::quiet_NaN());
      if (body == "Inf" || body == "Infinity") {
        return document_.Double(negative ? -std::numeric_limits<double>::infinity()
                                         : std::numeric_limits<double>::infinity());
      }
      return Refuse("invalid number '" + std::string(token.substr(0, 40)) + "'");
    }
    const char* const end = token.data() + token.size();
    if (token.find_first_of(".eE") == std::string_view::npos) {
      if (negative) {
        int64_t value;
        const auto [ptr, ec] = std::from_chars(token.data(), end, value);
        if (ec == std::errc() && ptr == end) {
          return value >= INT32_MIN ? document_.Int(static_cast<int>(value)) : document_.Int64(value);
        }
      } else {
        uint64_t value;
        const auto [ptr, ec] = std::from_chars(token.data(), end, value);
        if (ec == std::errc() && ptr == end) {
          return value <= UINT32_MAX ? document_.Uint(static_cast<unsigned>(value)) : document_.Uint64(value);
        }
      }
      // Beyond 64 bits: a double, as RapidJSON does.
    }
    double value;
    const auto [ptr, ec] = std::from_chars(token.data(), end, value);
    if (ptr != end || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      return Refuse("invalid number '" + std::string(token.substr(0, 40)) + "'");
    }
    if (ec == std::errc::result_out_of_range) {  // beyond the double range, or below its smallest denormal
      if (DecimalMagnitude(body) > 0) return Refuse(rapidjson::GetParseError_En(rapidjson::kParseErrorNumberTooBig));
      value = negative ? -0.0 : 0.0;
    }
    return document_.Double(value);
  }

  const std::string& error() const { return error_; }

 private:
  // RapidJSON validates the bytes of the text, but turns a lone UTF-16
  // surrogate escape ("\udddd") into an encoded surrogate, which is not
  // UTF-8 and went back out in echoed fields (fuzz_rest_json). Surrogates
  // are encoded with a lead byte 0xED: only such strings are checked again.
  bool Utf8(const char* s, rapidjson::SizeType n) {
    if (std::memchr(s, 0xED, n) == nullptr || IsValidUtf8(std::string_view(s, n))) return true;
    return Refuse("invalid string: a \\u escape of a lone UTF-16 surrogate");
  }

  bool Refuse(std::string error) {
    error_ = std::move(error);
    return false;
  }

  // The power of ten of the first non-zero digit of a decimal (no sign),
  // saturated: only its sign matters, for values out of the double range.
  static int64_t DecimalMagnitude(std::string_view number) {
    const size_t exponent_at = number.find_first_of("eE");
    const std::string_view mantissa = number.substr(0, exponent_at);
    const size_t point = std::min(mantissa.find('.'), mantissa.size());
    const size_t first = mantissa.find_first_of("123456789");
    if (first == std::string_view::npos) return 0;
    int64_t magnitude = first < point ? static_cast<int64_t>(point - first) - 1 : -static_cast<int64_t>(first - point);
    if (exponent_at != std::string_view::npos) {
      std::string_view exponent = number.substr(exponent_at + 1);
      const bool minus = !exponent.empty() && exponent[0] == '-';
      if (!exponent.empty() && (exponent[0] == '-' || exponent[0] == '+')) exponent.remove_prefix(1);
      int64_t value = 0;
      for (char c : exponent) value = std::min<int64_t>(value * 10 + (c - '0'), int64_t{1} << 40);
      magnitude += minus ? -value : value;
    }
    return magnitude;
  }

  rapidjson::Document& document_;
  std::string error_;
};

}  // namespace

Status Parse(std::string_view text, rapidjson::Document* document) {
  // RapidJSON stops at a NUL byte as if the text ended there; JSON never
  // contains one (inside strings it is escaped), so it is an error here.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return InvalidArgument("malformed JSON at offset " + std::to_string(nul) + ": NUL byte");
  }
  // Document::Parse, with the handler above in front of the document. In
  // situ (numbers as pointers into the text, not copied one byte at a time)
  // over a scratch copy: faster than RapidJSON's own conversion even with
  // the copy (5.9 vs 6.6 ms for 131 072 floats, 1.4 MB).
  std::string scratch(text);
  CheckingHandler handler(*document);
  rapidjson::ParseResult result;
  auto generator = [&](rapidjson::Document&) {
    BoundedInsituStream input(scratch.data(), scratch.size());
    rapidjson::Reader reader;
    result = reader.Parse<kParseFlags>(input, handler);
    return !result.IsError();
  };
  document->Populate(generator);
  if (!result.IsError()) return Status::Ok();
  const std::string why = result.Code() == rapidjson::kParseErrorTermination && !handler.error().empty()
                              ? handler.error()
                              : rapidjson::GetParseError_En(result.Code());
  return InvalidArgument("malformed JSON at offset " + std::to_string(result.Offset()) + ": " + why);
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

const rapidjson::Value* Field(const rapidjson::Value& object, const char* key) {
  auto it = object.FindMember(key);
  return it == object.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
}

Status TypeError(const std::string& field, const char* expected, const rapidjson::Value& got) {
  return InvalidArgument(field + ": must be " + expected + ", got " + TypeName(got));
}

Status ReadString(const rapidjson::Value& object, const char* key, std::string* out) {
  const rapidjson::Value* value = Field(object, key);
  if (!value) return Status::Ok();
  if (!value->IsString()) return TypeError(key, "a string", *value);
  out->assign(value->GetString(), value->GetStringLength());
  return Status::Ok();
}

}  // namespace protoserve::json
