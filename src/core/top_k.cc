#include "core/top_k.h"

#include <algorithm>
#include <cmath>

namespace protoserve {

namespace {

// Up to this k, one pass keeps the winners in a small sorted buffer: each
// score costs one comparison with the current k-th best, and insertions are
// rare (about k * ln(n / k) for scores in random order). Above it, select
// with nth_element then sort the winners.
constexpr int32_t kScanMaxK = 64;
// Scores tested at once against the k-th best before any is looked at alone.
constexpr int32_t kBlock = 16;

}  // namespace

std::vector<int32_t> TopK(std::span<const float> scores, int32_t k, const std::vector<bool>* excluded) {
  const int32_t count = static_cast<int32_t>(scores.size());
  const auto skipped = [&](int32_t i) {
    return excluded != nullptr && i < static_cast<int32_t>(excluded->size()) && (*excluded)[i];
  };
  // The ranking: non-NaN before NaN, higher score first, lower index first on ties.
  const auto better = [&](int32_t a, int32_t b) {
    const float x = scores[a], y = scores[b];
    const bool xn = std::isnan(x), yn = std::isnan(y);
    if (xn != yn) return yn;
    if (!xn && x != y) return x > y;
    return a < b;
  };
  k = std::clamp(k, 0, count);
  std::vector<int32_t> best;
  if (k == 0) return best;

  if (k <= kScanMaxK) {
    best.reserve(k + 1);
    // The k-th best score once `best` is full. Indices arrive in increasing
    // order, so a score equal to it loses the tie; a NaN never beats it, and
    // when it is NaN itself every number does (the slow path decides).
    float threshold = 0;
    bool full = false, threshold_nan = false;
    for (int32_t start = 0; start < count; start += kBlock) {
      const int32_t end = std::min(start + kBlock, count);
      if (full && !threshold_nan && end - start == kBlock) {
        // Once full, most blocks hold no score above the threshold: one
        // branch-free test of the whole block skips it. (GCC unrolls it into
        // scalar compares; SSE vector compares measured no faster: the time
        // goes to the ~k ln(n/k) insertions, about 1.1 us for k=10 of 1000.)
        const float* block = scores.data() + start;
        int32_t above = 0;
        for (int32_t i = 0; i < kBlock; ++i) above += block[i] > threshold ? 1 : 0;
        if (above == 0) continue;
      }
      for (int32_t i = start; i < end; ++i) {
        if (full && !threshold_nan && !(scores[i] > threshold)) continue;
        if (skipped(i) || (full && !better(i, best.back()))) continue;
        best.insert(std::upper_bound(best.begin(), best.end(), i, better), i);
        if (static_cast<int32_t>(best.size()) > k) best.pop_back();
        full = static_cast<int32_t>(best.size()) == k;
        threshold = scores[best.back()];
        threshold_nan = std::isnan(threshold);
      }
    }
    return best;
  }

  best.reserve(count);
  for (int32_t i = 0; i < count; ++i) {
    if (!skipped(i)) best.push_back(i);
  }
  const size_t n = std::min<size_t>(k, best.size());
  if (n < best.size()) std::nth_element(best.begin(), best.begin() + n, best.end(), better);
  std::sort(best.begin(), best.begin() + n, better);
  best.resize(n);
  return best;
}

}  // namespace protoserve
