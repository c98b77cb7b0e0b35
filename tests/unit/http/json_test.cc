#include "http/json.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

namespace protoserve {
namespace {

std::string FloatText(float value) {
  std::string out;
  json::StringSink sink(&out);
  json::Writer writer(sink);
  json::WriteFloat(writer, value);
  return out;
}

uint32_t Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

// Reads `text` back the two ways clients do: as a float, and as a double
// narrowed to float (Python, JavaScript, RapidJSON).
void ExpectRoundTrip(float value) {
  const std::string text = FloatText(value);
  EXPECT_EQ(Bits(std::strtof(text.c_str(), nullptr)), Bits(value)) << text;
  EXPECT_EQ(Bits(static_cast<float>(std::strtod(text.c_str(), nullptr))), Bits(value)) << text;
  rapidjson::Document document;
  ASSERT_TRUE(json::Parse("[" + text + "]", &document).ok()) << text;
  EXPECT_EQ(Bits(json::NarrowToFloat(document[0].GetDouble())), Bits(value)) << text;
}

TEST(JsonTest, Fp32IsWrittenShortest) {
  EXPECT_EQ(FloatText(0.1f), "0.1");
  EXPECT_EQ(FloatText(1.0f), "1");
  EXPECT_EQ(FloatText(-2.5f), "-2.5");
  EXPECT_EQ(FloatText(1e-5f), "1e-05");
  EXPECT_EQ(FloatText(-0.0f), "-0.0");  // "-0" would read back as +0
}

TEST(JsonTest, Fp32RoundTripsExactly) {
  for (float v : {0.0f, -0.0f, 0.1f, 1.0f / 3, FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX, FLT_TRUE_MIN, FLT_EPSILON,
                  16777216.0f, 16777217.0f, 3.4028234e38f, 1.17549435e-38f, 7.0e-45f, 123456.789f}) {
    ExpectRoundTrip(v);
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 200000; ++i) {
    const uint32_t bits = rng();
    float v;
    std::memcpy(&v, &bits, 4);
    if (std::isfinite(v)) ExpectRoundTrip(v);
  }
}

TEST(JsonTest, Fp32DoubleRoundingCaseIsWrittenExactly) {
  // The one float (with its negative) whose shortest text, read as a double
  // then narrowed, gives a neighbouring float: 7.038531e-26.
  float tricky;
  const uint32_t bits = 0x15ae43fd;
  std::memcpy(&tricky, &bits, 4);
  ASSERT_NE(Bits(static_cast<float>(std::strtod("7.038531e-26", nullptr))), bits);
  ExpectRoundTrip(tricky);
  ExpectRoundTrip(-tricky);
}

// Every finite float, both read paths (tens of minutes; run with
// --gtest_also_run_disabled_tests after touching WriteFloat).
TEST(JsonTest, DISABLED_EveryFp32RoundTrips) {
  uint64_t failures = 0;
  for (uint64_t i = 0; i <= 0xffffffffu && failures < 10; ++i) {
    const uint32_t bits = static_cast<uint32_t>(i);
    float v;
    std::memcpy(&v, &bits, 4);
    if (!std::isfinite(v)) continue;
    const std::string text = FloatText(v);
    const bool ok = Bits(std::strtof(text.c_str(), nullptr)) == bits &&
                    Bits(static_cast<float>(std::strtod(text.c_str(), nullptr))) == bits;
    if (!ok) ADD_FAILURE() << std::hex << bits << " " << text << " (" << ++failures << ")";
  }
}

TEST(JsonTest, NonFiniteUseTheNanInfinityTokens) {
  EXPECT_EQ(FloatText(std::numeric_limits<float>::quiet_NaN()), "NaN");
  EXPECT_EQ(FloatText(std::numeric_limits<float>::infinity()), "Infinity");
  EXPECT_EQ(FloatText(-std::numeric_limits<float>::infinity()), "-Infinity");
  rapidjson::Document document;
  ASSERT_TRUE(json::Parse("[NaN, Infinity, -Infinity]", &document).ok());
  EXPECT_TRUE(std::isnan(document[0].GetDouble()));
  EXPECT_EQ(document[2].GetDouble(), -std::numeric_limits<double>::infinity());
}

TEST(JsonTest, Fp64RoundTripsExactly) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, 8);
    if (!std::isfinite(v)) continue;
    std::string text;
    json::StringSink sink(&text);
    json::Writer writer(sink);
    json::WriteDouble(writer, v);
    rapidjson::Document document;
    ASSERT_TRUE(json::Parse(text, &document).ok()) << text;
    EXPECT_EQ(document.GetDouble(), v) << text;
  }
}

TEST(JsonTest, NarrowToFloatRoundsAtTheEdgeOfTheRange) {
  EXPECT_EQ(json::NarrowToFloat(3.4028235e38), FLT_MAX);  // FLT_MAX's shortest text, just above it
  EXPECT_EQ(json::NarrowToFloat(-3.4028235e38), -FLT_MAX);
  EXPECT_TRUE(std::isinf(json::NarrowToFloat(0x1.ffffffp127)));
  EXPECT_TRUE(std::isinf(json::NarrowToFloat(1e300)));
  EXPECT_LT(json::NarrowToFloat(-1e300), 0);
  EXPECT_EQ(json::NarrowToFloat(0.5), 0.5f);
}

TEST(JsonTest, ParseErrorsNameTheOffset) {
  rapidjson::Document document;
  Status s = json::Parse(R"({"a": 1,})", &document);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("malformed JSON at offset 8"), std::string::npos) << s.message();
  EXPECT_FALSE(json::Parse("", &document).ok());
  EXPECT_FALSE(json::Parse("{} {}", &document).ok());
  EXPECT_FALSE(json::Parse("\"\xff\"", &document).ok());  // not UTF-8
  EXPECT_EQ(json::Parse(std::string("{}\0{", 4), &document).message(), "malformed JSON at offset 2: NUL byte");
}

// RapidJSON 1.1.0 read these as garbage (0e39 -> -1.5e228, -0e100 -> a
// positive number): found by fuzz_rest_json.
TEST(JsonTest, ZerosWithAnExponentOrLongFractionParseAsZero) {
  rapidjson::Document document;
  const std::string zeros = "0." + std::string(30, '0');
  const std::string text = "[0e39, -0e100, " + zeros + ", -" + zeros + "e-5, 0.0e300, -0.0E-400, 0E-999999, " +
                           "0e30, 0e5, 0.0, -0.0, 0, 10e50, 1e39, 0.5e39, \"0e39\", {\"k0e39\": 0e39}]";
  ASSERT_TRUE(json::Parse(text, &document).ok()) << text;
  const auto& a = document.GetArray();
  ASSERT_EQ(a.Size(), 17u);
  for (rapidjson::SizeType i = 0; i < 12; ++i) {
    ASSERT_TRUE(a[i].IsNumber()) << i;
    EXPECT_EQ(a[i].GetDouble(), 0.0) << i;
    const bool negative = i == 1 || i == 3 || i == 5 || i == 10;
    EXPECT_EQ(std::signbit(a[i].GetDouble()), negative) << i;
    EXPECT_EQ(a[i].IsDouble(), i != 11) << i;  // written with a fraction or exponent: still a double
  }
  EXPECT_EQ(a[12].GetDouble(), 1e51);
  EXPECT_EQ(a[13].GetDouble(), 1e39);
  EXPECT_EQ(a[14].GetDouble(), 0.5e39);
  EXPECT_STREQ(a[15].GetString(), "0e39");  // strings are never touched
  EXPECT_EQ(a[16]["k0e39"].GetDouble(), 0.0);
  // Exponents over 308 are refused by RapidJSON's tokenizer, even for a zero.
  EXPECT_FALSE(json::Parse("[0e400]", &document).ok());
  // Malformed numbers stay malformed, and errors keep their offsets.
  for (const char* bad : {"[0.e39]", "[0e]", "[0e39x]", "[-0.e5]", "[00e39]", "[0.0e39.5]"}) {
    EXPECT_FALSE(json::Parse(bad, &document).ok()) << bad;
  }
  const Status status = json::Parse("[0e39, 0e39 x]", &document);
  EXPECT_NE(status.message().find("offset 12"), std::string::npos) << status.message();
}

// More of RapidJSON 1.1.0's number bugs, all found or confirmed by
// fuzz_rest_json: NaN/Infinity with a fraction or exponent read as numbers
// (NaN.5 -> 0.5) or asserted (NaNe1), 2e308 read as NaN, a long significand
// asserted. Numbers are now converted by std::from_chars.
TEST(JsonTest, NumbersRapidJson110Misread) {
  rapidjson::Document document;
  for (const char* bad : {"[NaN.5]", "[NaNe1]", "[Infinity.5]", "[-Infe2]", "[-NaN.0e1]", "[Inf.0]"}) {
    const Status status = json::Parse(bad, &document);
    EXPECT_FALSE(status.ok()) << bad;
    EXPECT_NE(status.message().find("offset 1: invalid number"), std::string::npos) << status.message();
  }
  for (const char* big : {"[2e308]", "[1.8e308]", "[-1e400]", "[1e99999999999999999999]"}) {
    const Status status = json::Parse(big, &document);
    EXPECT_NE(status.message().find("offset 1: Number too big"), std::string::npos) << big << status.message();
  }
  const std::string long_significand =
      "8847432036854773723683723677529854735473725368547554755293372036854685477529752529337203685468547770151233"
      "7200972013723685473123372036872036854236851233720368720368547372473723683723677529752585477529752547297525"
      "47372368737201701512354737837236737247372368772473723683723456789012E66";
  ASSERT_FALSE(json::Parse("[" + long_significand + "]", &document).ok());  // 8.8e329: too big, no assertion
  ASSERT_TRUE(json::Parse("[" + long_significand.substr(0, 200) + "e-100, 1e-400, -1e-400, 4.9e-324, "
                          "1.7976931348623157e308, NaN, -Infinity, -Inf, -NaN]", &document).ok());
  const auto& a = document.GetArray();
  EXPECT_EQ(a[0].GetDouble(), std::strtod((long_significand.substr(0, 200) + "e-100").c_str(), nullptr));
  EXPECT_EQ(a[1].GetDouble(), 0.0);
  EXPECT_FALSE(std::signbit(a[1].GetDouble()));
  EXPECT_TRUE(std::signbit(a[2].GetDouble()));
  EXPECT_EQ(a[3].GetDouble(), 4.9406564584124654e-324);
  EXPECT_EQ(a[4].GetDouble(), DBL_MAX);
  EXPECT_TRUE(std::isnan(a[5].GetDouble()));
  EXPECT_EQ(a[6].GetDouble(), -HUGE_VAL);
  EXPECT_EQ(a[7].GetDouble(), -HUGE_VAL);
  EXPECT_TRUE(std::isnan(a[8].GetDouble()));
}

// Parsed in place in a scratch copy: strings and keys must be the document's own.
TEST(JsonTest, StringsOutliveTheParse) {
  rapidjson::Document document;
  {
    std::string text = R"({"k\u00e9y": "v\"al\n", "n": [1.5, "x", -2, 0.1]})";
    ASSERT_TRUE(json::Parse(text, &document).ok());
    text.assign(text.size(), '#');
  }
  ASSERT_TRUE(document.HasMember("k\xc3\xa9y"));
  EXPECT_STREQ(document["k\xc3\xa9y"].GetString(), "v\"al\n");
  EXPECT_EQ(document["n"][0].GetDouble(), 1.5);
  EXPECT_STREQ(document["n"][1].GetString(), "x");
  EXPECT_EQ(document["n"][2].GetInt(), -2);
  EXPECT_EQ(document["n"][3].GetDouble(), 0.1);
}

// A UTF-8 sequence cut by the end of the body: RapidJSON's in-situ stream
// read and wrote past the end (ASan, fuzz_rest_json); now an error.
TEST(JsonTest, TruncatedUtf8AtTheEndIsAnError) {
  rapidjson::Document document;
  for (const std::string& text : {std::string("{\"user_id\": \"u%nu\xec"), std::string("[\"\xf0\x9f"),
                                  std::string("\"\xe2"), std::string("[\"a\", \"\xf4\x8f\xbf")}) {
    EXPECT_FALSE(json::Parse(text, &document).ok()) << text;
  }
}

// RapidJSON 1.1.0 turned a lone surrogate escape into invalid UTF-8, echoed
// back in responses (fuzz_rest_json); pairs stay fine.
TEST(JsonTest, LoneSurrogateEscapesAreErrors) {
  rapidjson::Document document;
  for (const char* bad : {R"(["\udddd"])", R"({"\udc00": 1})", R"(["a\udfffb"])"}) {
    const Status status = json::Parse(bad, &document);
    EXPECT_FALSE(status.ok()) << bad;
    EXPECT_NE(status.message().find("lone UTF-16 surrogate"), std::string::npos) << status.message();
  }
  ASSERT_TRUE(json::Parse(R"(["\ud83d\ude00", "\u00e9\ud7ff\ue000"])", &document).ok());
  EXPECT_STREQ(document[0].GetString(), "\xf0\x9f\x98\x80");
  EXPECT_STREQ(document[1].GetString(), "\xc3\xa9\xed\x9f\xbf\xee\x80\x80");
}

// Integers keep RapidJSON's types: int, unsigned, int64, uint64, then double.
TEST(JsonTest, IntegerTypes) {
  rapidjson::Document document;
  ASSERT_TRUE(json::Parse("[-0, 7, -2147483648, -2147483649, 4294967295, 4294967296, -9223372036854775808, "
                          "18446744073709551615, 18446744073709551616, -9223372036854775809]",
                          &document)
                  .ok());
  const auto& a = document.GetArray();
  EXPECT_TRUE(a[0].IsInt() && a[0].GetInt() == 0);
  EXPECT_TRUE(a[1].IsInt() && a[1].IsUint() && a[1].GetUint() == 7u);
  EXPECT_TRUE(a[2].IsInt() && a[2].GetInt() == INT32_MIN);
  EXPECT_TRUE(!a[3].IsInt() && a[3].IsInt64() && a[3].GetInt64() == int64_t{INT32_MIN} - 1);
  EXPECT_TRUE(!a[4].IsInt() && a[4].IsUint() && a[4].GetUint() == UINT32_MAX);
  EXPECT_TRUE(!a[5].IsUint() && a[5].IsUint64() && a[5].IsInt64() && a[5].GetUint64() == uint64_t{UINT32_MAX} + 1);
  EXPECT_TRUE(a[6].IsInt64() && a[6].GetInt64() == INT64_MIN);
  EXPECT_TRUE(a[7].IsUint64() && !a[7].IsInt64() && a[7].GetUint64() == UINT64_MAX);
  EXPECT_TRUE(a[8].IsDouble() && a[8].GetDouble() == 18446744073709551616.0);
  EXPECT_TRUE(a[9].IsDouble() && a[9].GetDouble() == -9223372036854775809.0);
}

TEST(JsonTest, DeepNestingDoesNotRecurse) {
  // The iterative parser handles it without exhausting the stack.
  const std::string deep = std::string(1 << 20, '[') + std::string(1 << 20, ']');
  rapidjson::Document document;
  EXPECT_TRUE(json::Parse(deep, &document).ok());
}

TEST(JsonTest, Utf8Validation) {
  EXPECT_TRUE(json::IsValidUtf8("plain"));
  EXPECT_TRUE(json::IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(json::IsValidUtf8("\xc3"));          // truncated
  EXPECT_FALSE(json::IsValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(json::IsValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(json::IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(json::IsValidUtf8("\x80"));
  EXPECT_EQ(json::ValidUtf8("a\xffz\xc3\xa9"), "a?z??");
  EXPECT_EQ(json::ValidUtf8("caf\xc3\xa9"), "caf\xc3\xa9");
}

}  // namespace
}  // namespace protoserve
