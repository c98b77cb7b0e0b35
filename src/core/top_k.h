// Top-k selection over a score vector, shared by the Recommender front-end
// and the KServe classification extension.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace protoserve {

// Indices of the `k` highest scores, highest first; ties keep the lower
// index first so results are deterministic. Indices for which `excluded`
// is true are skipped. NaN scores rank last.
std::vector<int32_t> TopK(std::span<const float> scores, int32_t k, const std::vector<bool>* excluded = nullptr);

}  // namespace protoserve
