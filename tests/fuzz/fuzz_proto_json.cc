// libFuzzer target: protobuf messages as JSON (src/http/proto_json.h), the
// REST twins of ModelConfig, ModelStatistics and ModelMetadata. The input
// is parsed (ParseFromArray) as each of ModelConfigResponse,
// ModelStatisticsResponse and ModelMetadataResponse; every one that parses
// is written with ProtoToJson, and the output must be
//  - strict JSON (RapidJSON, no NaN/Infinity extension: these messages have
//    no floating-point field) whose top level is an object, in valid UTF-8;
//  - faithful where it is easy to check: the counts and 64-bit integers of
//    statistics and shapes read back equal (no quoting, no precision loss).
// json.h first: it sets RAPIDJSON_ASSERT for every RapidJSON header.
#include "http/json.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "http/proto_json.h"
#include "inference.pb.h"

using namespace protoserve;

namespace {

void Fail(const char* what, const std::string& json) {
  std::fprintf(stderr, "fuzz_proto_json: %s: %.*s\n", what, static_cast<int>(std::min<size_t>(json.size(), 2000)),
               json.data());
  std::abort();
}

rapidjson::Document ParseBack(const std::string& json) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (document.HasParseError()) Fail(rapidjson::GetParseError_En(document.GetParseError()), json);
  if (!document.IsObject()) Fail("the top level is not an object", json);
  if (!json::IsValidUtf8(json)) Fail("not valid UTF-8", json);
  return document;
}

void Check(const inference::ModelConfigResponse& message) {
  const std::string json = ProtoToJson(message);
  const rapidjson::Document document = ParseBack(json);
  if (document.HasMember("config") != message.has_config()) Fail("config present iff set", json);
}

void Check(const inference::ModelStatisticsResponse& message) {
  const std::string json = ProtoToJson(message);
  const rapidjson::Document document = ParseBack(json);
  const auto& stats = document["model_stats"];
  if (!stats.IsArray() || stats.Size() != static_cast<unsigned>(message.model_stats_size())) {
    Fail("model_stats count", json);
  }
  for (int i = 0; i < message.model_stats_size(); ++i) {
    const auto& expected = message.model_stats(i);
    const auto& got = stats[i];
    if (!got["inference_count"].IsUint64() || got["inference_count"].GetUint64() != expected.inference_count() ||
        !got["last_inference"].IsUint64() || got["last_inference"].GetUint64() != expected.last_inference()) {
      Fail("uint64 statistics do not read back", json);
    }
    if (!got["response_stats"].IsObject() ||
        got["response_stats"].MemberCount() != static_cast<unsigned>(expected.response_stats_size())) {
      Fail("response_stats map size", json);
    }
  }
}

void Check(const inference::ModelMetadataResponse& message) {
  const std::string json = ProtoToJson(message);
  const rapidjson::Document document = ParseBack(json);
  const auto& inputs = document["inputs"];
  if (!inputs.IsArray() || inputs.Size() != static_cast<unsigned>(message.inputs_size())) Fail("inputs count", json);
  for (int i = 0; i < message.inputs_size(); ++i) {
    const auto& shape = inputs[i]["shape"];
    if (!shape.IsArray() || shape.Size() != static_cast<unsigned>(message.inputs(i).shape_size())) {
      Fail("shape rank", json);
    }
    for (int d = 0; d < message.inputs(i).shape_size(); ++d) {
      if (!shape[d].IsInt64() || shape[d].GetInt64() != message.inputs(i).shape(d)) Fail("int64 dims", json);
    }
  }
}

template <typename Message>
void Try(const uint8_t* data, size_t size) {
  Message message;
  if (message.ParseFromArray(data, static_cast<int>(size))) Check(message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Try<inference::ModelConfigResponse>(data, size);
  Try<inference::ModelStatisticsResponse>(data, size);
  Try<inference::ModelMetadataResponse>(data, size);
  return 0;
}
