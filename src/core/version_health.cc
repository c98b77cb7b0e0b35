#include "core/version_health.h"

#include <cmath>

namespace protoserve {

namespace {
constexpr double kFirstBucketSeconds = 10e-6;
constexpr double kBucketGrowth = 1.1;
}  // namespace

struct VersionHealth::Cell {
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> errors{0};
  std::array<std::atomic<int64_t>, kLatencyBuckets> latency{};
};

class VersionHealth::Observer final : public RequestObserver {
 public:
  explicit Observer(std::shared_ptr<Cell> cell) : cell_(std::move(cell)) {}
  void OnCompleted(Api api, Clock::duration total, const BatchTiming&, int64_t) override {
    if (api == Api::kShadow) return;
    cell_->ok.fetch_add(1, std::memory_order_relaxed);
    cell_->latency[LatencyBucket(total)].fetch_add(1, std::memory_order_relaxed);
  }
  void OnFailed(Api api, StatusCode code, Clock::duration) override {
    if (api == Api::kShadow || !IsServerError(code)) return;
    cell_->errors.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  const std::shared_ptr<Cell> cell_;
};

int LatencyBucket(Clock::duration latency) {
  const double seconds = std::chrono::duration<double>(latency).count();
  if (!(seconds > kFirstBucketSeconds)) return 0;
  const int bucket = static_cast<int>(std::ceil(std::log(seconds / kFirstBucketSeconds) / std::log(kBucketGrowth)));
  return bucket < kLatencyBuckets ? bucket : kLatencyBuckets - 1;
}

double LatencyBucketUpperSeconds(int bucket) { return kFirstBucketSeconds * std::pow(kBucketGrowth, bucket); }

bool IsServerError(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kCancelled:
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return false;
    default:
      return true;
  }
}

double HealthCounts::LatencyQuantile(double q) const {
  if (ok <= 0) return 0;
  // The smallest bucket whose cumulative count reaches ceil(q * ok).
  const auto rank = static_cast<int64_t>(std::ceil(q * static_cast<double>(ok)));
  int64_t seen = 0;
  for (int b = 0; b < kLatencyBuckets; ++b) {
    seen += latency[b];
    if (seen >= rank && seen > 0) return LatencyBucketUpperSeconds(b);
  }
  return LatencyBucketUpperSeconds(kLatencyBuckets - 1);
}

HealthCounts HealthCounts::Minus(const HealthCounts& earlier) const {
  HealthCounts out;
  out.ok = ok - earlier.ok;
  out.errors = errors - earlier.errors;
  for (int b = 0; b < kLatencyBuckets; ++b) out.latency[b] = latency[b] - earlier.latency[b];
  return out;
}

std::shared_ptr<VersionHealth::Cell> VersionHealth::CellFor(const std::string& model, int64_t version) {
  MutexLock lock(mu_);
  auto& cell = cells_[{model, version}];
  if (!cell) cell = std::make_shared<Cell>();
  return cell;
}

RequestObserverFactory VersionHealth::ObserverFactory() {
  return [this](const std::string& model, int64_t version) -> std::shared_ptr<RequestObserver> {
    return std::make_shared<Observer>(CellFor(model, version));
  };
}

HealthCounts VersionHealth::Counts(const std::string& model, int64_t version) const {
  std::shared_ptr<Cell> cell;
  {
    MutexLock lock(mu_);
    auto it = cells_.find({model, version});
    if (it == cells_.end()) return {};
    cell = it->second;
  }
  HealthCounts out;
  out.ok = cell->ok.load(std::memory_order_relaxed);
  out.errors = cell->errors.load(std::memory_order_relaxed);
  for (int b = 0; b < kLatencyBuckets; ++b) out.latency[b] = cell->latency[b].load(std::memory_order_relaxed);
  return out;
}

}  // namespace protoserve
