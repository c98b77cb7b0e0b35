#include "core/shadow.h"

#include <algorithm>
#include <cstring>

namespace protoserve {

double LabelAgreement(const InferenceResponse& a, const InferenceResponse& b) {
  if (a.outputs.empty() || b.outputs.empty()) return 0;
  const Tensor& x = a.outputs[0].tensor;
  const Tensor& y = b.outputs[0].tensor;
  if (x.dtype() != DataType::kFp32 || y.dtype() != DataType::kFp32 || x.shape() != y.shape()) return 0;
  const int64_t rows = x.shape().size() > 1 ? x.shape()[0] : 1;
  const int64_t width = rows == 0 ? 0 : x.element_count() / rows;
  if (width == 0) return 1;
  int64_t same = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x.data_as<float>() + r * width;
    const float* q = y.data_as<float>() + r * width;
    if (width == 1) {
      same += (p[0] >= 0.5f) == (q[0] >= 0.5f);  // binary probability
    } else {
      same += std::max_element(p, p + width) - p == std::max_element(q, q + width) - q;
    }
  }
  return static_cast<double>(same) / static_cast<double>(rows);
}

std::function<void(const InferenceResponse&)> MirrorToShadow(const InferenceRequest& request,
                                                             const ModelVersion& primary,
                                                             const std::shared_ptr<ModelVersion>& shadow,
                                                             Metrics* metrics, bool copy_inputs) {
  InferenceRequest mirrored;
  if (copy_inputs) {
    for (const NamedTensor& input : request.inputs) {
      Tensor copy = Tensor::Allocate(input.tensor.dtype(), input.tensor.shape(), input.tensor.byte_size());
      std::memcpy(copy.mutable_data(), input.tensor.data(), input.tensor.byte_size());
      mirrored.inputs.push_back({input.name, std::move(copy)});
    }
  } else {
    mirrored.inputs = request.inputs;  // tensors share, and keep alive, their buffers
  }
  mirrored.requested_outputs = request.requested_outputs;
  mirrored.api = Api::kShadow;
  auto pair = std::make_shared<ShadowPair<InferenceResponse>>(metrics, primary, *shadow, LabelAgreement);
  Status queued = shadow->Infer(std::move(mirrored), [pair](Status status, InferenceResponse response) {
    if (status.ok()) pair->Offer(false, std::move(response));
  });
  if (!queued.ok()) return nullptr;
  return [pair](const InferenceResponse& response) { pair->Offer(true, response); };
}

}  // namespace protoserve
