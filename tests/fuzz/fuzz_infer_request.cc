// libFuzzer target: a KServe ModelInferRequest from untrusted bytes, through
// DecodeInferRequest, ValidateInputs against fixed configs, and the whole
// core path (route, validate, batcher, fake execution, EncodeInferResponse
// with classification) as InferenceService::StartInfer runs it.
#include <condition_variable>
#include <cstdlib>
#include <mutex>

#include "core/input_validation.h"
#include "fuzz_support.h"
#include "kserve/kserve_codec.h"

using namespace protoserve;

namespace {

// Invariant of a validated tensor: its bytes are exactly what its shape needs.
void CheckValidated(const ModelConfig& config, const ValidatedInputs& validated) {
  for (int i = 0; i < config.input_size(); ++i) {
    const Tensor& t = validated.tensors[i];
    auto elements = ElementCount(t.shape());
    if (!elements.ok()) std::abort();
    if (t.dtype() != DataType::kBytes && t.byte_size() != static_cast<size_t>(*elements) * DataTypeSize(t.dtype())) {
      std::abort();
    }
    if (t.dtype() == DataType::kBytes && !DecodeBytesElements(t.data(), t.byte_size(), *elements).ok()) std::abort();
    if (config.max_batch_size() > 0 && (t.shape().empty() || t.shape()[0] != validated.rows)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto decoded = DecodeInferRequest(message);
  if (!decoded.ok()) return 0;

  for (const ModelConfig& config : fuzz::FixedConfigs()) {
    (void)ValidateRequestedOutputs(config, decoded->request.requested_outputs);
    auto validated = ValidateInputs(config, decoded->request.inputs);
    if (validated.ok()) CheckValidated(config, *validated);
  }

  if (!IsValidModelName(decoded->model_name)) return 0;
  ModelRepository* repository = fuzz::FakeRepository();
  auto route = repository->Route(decoded->model_name, decoded->model_version, decoded->routing_key);
  if (!route.ok()) return 0;
  auto shared = std::make_shared<DecodedInferRequest>(std::move(decoded).value());
  InferenceRequest core = std::move(shared->request);
  std::shared_ptr<ModelVersion> version = route->primary;

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  inference::ModelInferResponse response;
  Status queued = version->Infer(std::move(core), [&](Status status, InferenceResponse result) {
    if (status.ok()) (void)EncodeInferResponse(*shared, *version, result, &response);
    std::lock_guard lock(mu);
    finished = true;
    cv.notify_one();
  });
  if (queued.ok()) {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished; })) std::abort();  // lost request
  }
  return 0;
}
