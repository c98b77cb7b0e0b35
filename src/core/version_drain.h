// ServingVersion and Drainer: how a loaded version leaves without a poll.
//
// A ServingVersion owns one loaded ModelVersion and hands out the handles
// requests hold (std::shared_ptr<ModelVersion> with a releasing deleter).
// Retire() gives up the routing table's own handle; the drain completes when
// the last request's handle is released (a signal, not a use_count() poll),
// or after `timeout`, and then the version is shut down (its queue finished,
// its instance threads joined). Requests still holding a handle after that
// keep the object alive; nothing of it is freed under them.
//
// The Drainer runs drains on threads of their own, so a slow request on one
// model never holds the repository's locks that another model's load needs.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/model_version.h"
#include "core/thread_annotations.h"

namespace protoserve {

class ServingVersion {
 public:
  explicit ServingVersion(std::shared_ptr<ModelVersion> version);

  // The handle routing gives to requests. Null once retired.
  const std::shared_ptr<ModelVersion>& handle() const { return handle_; }
  ModelVersion& version() const { return *owner_; }
  // Drops the routing handle; the future is ready once no request holds one.
  std::shared_future<void> Retire();
  // Waits (bounded) for the last handle, then shuts the version down.
  void Drain(std::chrono::milliseconds timeout);

 private:
  std::shared_ptr<ModelVersion> owner_;
  std::shared_ptr<ModelVersion> handle_;
  std::shared_future<void> released_;
};

class Drainer {
 public:
  Drainer() = default;
  ~Drainer() { WaitAll(); }

  // Retires `version` and drains it on a thread of its own, waiting at most
  // `patience` for its requests; `on_drained` runs there afterwards. The
  // returned future is ready when both are done.
  std::shared_future<void> Drain(std::unique_ptr<ServingVersion> version, std::function<void()> on_drained,
                                 std::chrono::milliseconds patience);
  // Waits for every drain started so far.
  void WaitAll();

 private:
  Mutex mu_;
  struct PendingDrain {
    std::thread thread;
    std::shared_future<void> done;
  };
  std::vector<PendingDrain> threads_ GUARDED_BY(mu_);
};

}  // namespace protoserve
