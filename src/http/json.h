// RapidJSON, configured once for every REST file (include only this header,
// never rapidjson directly, so the configuration cannot diverge):
//
// - RAPIDJSON_ASSERT throws instead of aborting, so a misuse on a path no
//   test covered becomes a 500 for one request, not a crashed server. The
//   code still checks every type before reading a value.
// - Parsing is iterative (no recursion: deeply nested input cannot exhaust
//   the stack), validates UTF-8 and accepts NaN/Infinity, which the writer
//   also emits (as Python's json does). Numbers are converted by
//   std::from_chars (correctly rounded), not by RapidJSON 1.1.0, whose
//   full-precision conversion misreads some inputs (see json.cc).
// - json::Writer appends straight into a std::string (no intermediate
//   copy). It does not check UTF-8 (RapidJSON's check reads past the end of
//   a truncated sequence): check client-controlled bytes with IsValidUtf8.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) \
  ((x) ? static_cast<void>(0) : throw std::logic_error("rapidjson assertion failed: " #x))
#endif
#ifndef RAPIDJSON_HAS_STDSTRING
#define RAPIDJSON_HAS_STDSTRING 1
#endif

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/writer.h>

#include "core/status.h"

namespace protoserve::json {

inline constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag |
                                        rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag |
                                        rapidjson::kParseNanAndInfFlag;

// Parses `text` into `document`; INVALID_ARGUMENT naming the parser's error
// and its byte offset on failure.
Status Parse(std::string_view text, rapidjson::Document* document);

// A rapidjson output stream appending to a std::string.
class StringSink {
 public:
  using Ch = char;
  explicit StringSink(std::string* out) : out_(out) {}
  void Put(char c) { out_->push_back(c); }
  void Flush() {}

 private:
  std::string* out_;
};

using Writer = rapidjson::Writer<StringSink>;

// A decimal that reads back as the same float, whether the reader parses
// it as float or as double then narrows (both exact, checked over every
// float); the shortest one but for one value. -0 as -0.0, NaN and the
// infinities as NaN, Infinity, -Infinity.
void WriteFloat(Writer& writer, float value);
// Shortest decimal that reads back as the same double.
void WriteDouble(Writer& writer, double value);

inline void WriteString(Writer& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}
inline void WriteKey(Writer& writer, std::string_view key) {
  writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

// `value` rounded to float as IEEE 754 does (beyond the float range:
// infinity), without the undefined behaviour of a plain cast there.
float NarrowToFloat(double value);

// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view text);
// `text` if it is valid UTF-8, else `text` with every non-ASCII byte
// replaced by '?': for messages that echo client input back in JSON.
std::string ValidUtf8(std::string_view text);

// "object", "array", "string", ... for error messages.
const char* TypeName(const rapidjson::Value& value);

// Member `key` of `object`, or null when absent or JSON null (both mean "unset").
const rapidjson::Value* Field(const rapidjson::Value& object, const char* key);
// INVALID_ARGUMENT "`field`: must be `expected`, got <type>".
Status TypeError(const std::string& field, const char* expected, const rapidjson::Value& got);
// Reads member `key` into `out` when it is set; INVALID_ARGUMENT when it is not a string.
Status ReadString(const rapidjson::Value& object, const char* key, std::string* out);

}  // namespace protoserve::json
