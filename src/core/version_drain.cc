#include "core/version_drain.h"

#include <spdlog/spdlog.h>

namespace protoserve {

ServingVersion::ServingVersion(std::shared_ptr<ModelVersion> version) : owner_(std::move(version)) {
  auto released = std::make_shared<std::promise<void>>();
  released_ = released->get_future().share();
  // The deleter keeps the object alive (it holds the owner) until the last
  // handle goes, then signals. It runs on whichever thread drops that handle.
  handle_ = std::shared_ptr<ModelVersion>(owner_.get(), [owner = owner_, released](ModelVersion*) mutable {
    released->set_value();
    owner.reset();
  });
}

std::shared_future<void> ServingVersion::Retire() {
  handle_.reset();
  return released_;
}

void ServingVersion::Drain(std::chrono::milliseconds timeout) {
  std::shared_future<void> released = Retire();
  if (released.wait_for(timeout) != std::future_status::ready) {
    spdlog::warn("model '{}' version {}: requests still hold it after {} ms; shutting it down anyway",
                 owner_->name(), owner_->version(), timeout.count());
  }
  owner_->Shutdown();
  spdlog::info("model '{}' version {} unloaded", owner_->name(), owner_->version());
}

std::shared_future<void> Drainer::Drain(std::unique_ptr<ServingVersion> version, std::function<void()> on_drained,
                                       std::chrono::milliseconds patience) {
  auto done = std::make_shared<std::promise<void>>();
  std::shared_future<void> future = done->get_future().share();
  std::shared_ptr<ServingVersion> held(std::move(version));
  held->Retire();  // leaves routing now, not when the thread starts
  MutexLock lock(mu_);
  // Joins the drains that finished (their threads would keep their stacks).
  std::erase_if(threads_, [](PendingDrain& d) {
    if (d.done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return false;
    d.thread.join();
    return true;
  });
  threads_.push_back({{}, future});
  threads_.back().thread = std::thread([held = std::move(held), on_drained = std::move(on_drained), done, patience]() mutable {
    held->Drain(patience);
    held.reset();  // the owner's reference: the version may be freed here
    if (on_drained) on_drained();
    done->set_value();
  });
  return future;
}

void Drainer::WaitAll() {
  std::vector<PendingDrain> drains;
  {
    MutexLock lock(mu_);
    drains.swap(threads_);
  }
  for (auto& d : drains) d.thread.join();
}

}  // namespace protoserve
