// libFuzzer target: the REST JSON front-end's decoders. The first byte picks
// the path, the rest is the HTTP body:
//   0, 1  KServe v2 infer body (DecodeRestInferRequest; 1: with the binary
//         tensor extension, the JSON size taken from the next two bytes),
//         then validation against fixed configs and the whole core path on
//         the fake repository, then EncodeRestInferResponse, whose output
//         must be valid JSON (the binary part aside) in valid UTF-8;
//   2     /v1/recommendations body (ParseRecommendationJson), then
//         the Recommender contract (typed::InferCompiled) and RecommendationToJson.
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/classification.h"
#include "core/input_validation.h"
#include "core/recommender.h"
#include "fuzz_support.h"
#include "http/json.h"
#include "http/kserve_json.h"
#include "http/recommend_rest.h"
#include "typed/typed_call.h"

using namespace protoserve;

namespace {

// Waits for a callback that may run inline or on an instance thread.
struct Completion {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  void Finish() {
    std::lock_guard lock(mu);
    done = true;
    cv.notify_one();
  }
  void Wait() {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return done; })) std::abort();  // lost request
  }
};

void CheckJson(std::string_view text) {
  rapidjson::Document document;
  const Status parsed = json::Parse(text, &document);
  if (!parsed.ok() || !json::IsValidUtf8(text)) {
    std::fprintf(stderr, "fuzz_rest_json: output is not valid JSON in UTF-8 (%s): %.*s\n", parsed.ToString().c_str(),
                 static_cast<int>(std::min<size_t>(text.size(), 2000)), text.data());
    std::abort();
  }
}

void Infer(std::string_view body_bytes, std::optional<size_t> json_size) {
  auto body = std::make_shared<const std::string>(body_bytes);
  auto decoded = DecodeRestInferRequest(body, json_size);
  if (!decoded.ok()) return;
  for (const ModelConfig& config : fuzz::FixedConfigs()) {
    (void)ValidateInputs(config, decoded->request.inputs);
  }
  // The model is chosen by the URL, not the body: try the recommender and the text model.
  for (const char* model : {"recommender", "text", "mixed"}) {
    auto version = fuzz::FakeRepository(typed::TypedContract::Loader())->Get(model);
    if (!version.ok()) std::abort();
    InferenceRequest core = decoded->request;
    Completion completion;
    StatusOr<RestInferResponse> encoded = Status(StatusCode::kUnknown, "");
    std::shared_ptr<ModelVersion> model_version = *version;
    Status queued = model_version->Infer(std::move(core), [&](Status status, InferenceResponse result) {
      if (status.ok()) {
        const bool batched = model_version->config().max_batch_size() > 0;
        for (NamedTensor& output : result.outputs) {
          if (const int64_t k = decoded->Classification(output.name); k > 0) {
            auto classified = Classify(output.tensor, k, model_version->labels(model_version->OutputIndex(output.name)),
                                       batched);
            if (classified.ok()) output.tensor = *classified;
          }
        }
        encoded = EncodeRestInferResponse(model_version->name(), model_version->version(), *decoded, result.outputs);
      }
      completion.Finish();
    });
    if (!queued.ok()) continue;
    completion.Wait();
    if (encoded.ok()) {
      const std::string& out = encoded->body;
      if (encoded->json_size && *encoded->json_size > out.size()) std::abort();
      CheckJson(std::string_view(out).substr(0, encoded->json_size.value_or(out.size())));
    }
  }
}

void Recommend(std::string_view body) {
  auto parsed = ParseRecommendationJson(body);
  if (!parsed.ok()) return;
  static const InferenceServer server(fuzz::FakeRepository(typed::TypedContract::Loader()), nullptr, {});
  static const std::string kMethod = "/Recommender/GetRecommendations";
  Completion completion;
  std::string answer;
  RecommendationResponse response;
  typed::InferCompiled(server, "recommender", kMethod, {}, *parsed, &response, [&](Status status, InferResult result) {
    result.scope.Release();
    if (status.ok()) answer = RecommendationToJson(response);
    completion.Finish();
  });
  completion.Wait();
  if (!answer.empty()) CheckJson(answer);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      Infer(rest, std::nullopt);
      break;
    case 1: {
      if (rest.size() < 2) return 0;
      const size_t json_size = static_cast<uint8_t>(rest[0]) | static_cast<size_t>(static_cast<uint8_t>(rest[1])) << 8;
      Infer(rest.substr(2), json_size);
      break;
    }
    default:
      Recommend(rest);
  }
  return 0;
}
