// OrderedStreamReactor: a bidi-streaming reactor that processes the messages
// of one stream concurrently and writes the responses in request order.
//
// Ordering guarantee (documented for clients): the i-th response of a stream
// answers the i-th request, always; requests are nevertheless in flight
// together (up to `max_in_flight`), so they are batched with other traffic
// like unary calls. An error in one message is reported in that message's
// response (the subclass encodes it); the stream stays open. When the client
// half-closes, the stream finishes with OK after the last response; when the
// client cancels, pending work completes and the stream ends CANCELLED.
//
// Subclasses implement Process(); it may complete on any thread.
// Thread-safety: internal state is guarded by mu_; gRPC guarantees at most one
// outstanding read and we keep at most one outstanding write.
#pragma once

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "core/thread_annotations.h"

namespace protoserve {

template <typename Request, typename Response>
class OrderedStreamReactor : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit OrderedStreamReactor(size_t max_in_flight = 64) : max_in_flight_(max_in_flight) {}

  // Call once from the RPC method after construction.
  void Begin() { StartNextRead(); }

 protected:
  // Handles one request; must call `done` exactly once with its response.
  virtual void Process(std::unique_ptr<Request> request, std::function<void(Response)> done) = 0;

 private:
  struct Slot {
    Response response;
    bool ready = false;
  };

  void StartNextRead() {
    reading_ = std::make_unique<Request>();
    this->StartRead(reading_.get());
  }

  void OnReadDone(bool ok) override {
    MutexLock lock(mu_);
    if (!ok) {
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    auto slot = std::make_shared<Slot>();
    slots_.push_back(slot);
    ++pending_;
    std::unique_ptr<Request> request = std::move(reading_);
    const bool read_more = slots_.size() < max_in_flight_;
    if (!read_more) read_paused_ = true;
    lock.Unlock();
    if (read_more) StartNextRead();
    Process(std::move(request), [this, slot](Response response) {
      MutexLock guard(mu_);
      slot->response = std::move(response);
      slot->ready = true;
      --pending_;
      WriteNextLocked();
      MaybeFinishLocked();
    });
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(mu_);
    writing_ = false;
    slots_.pop_front();
    if (!ok) write_failed_ = true;
    WriteNextLocked();
    if (read_paused_ && !reads_done_ && slots_.size() < max_in_flight_) {
      read_paused_ = false;
      lock.Unlock();
      StartNextRead();
      return;
    }
    MaybeFinishLocked();
  }

  void OnCancel() override {
    MutexLock lock(mu_);
    cancelled_ = true;
    MaybeFinishLocked();
  }

  void OnDone() override { delete this; }

  void WriteNextLocked() REQUIRES(mu_) {
    if (writing_ || write_failed_ || cancelled_ || slots_.empty() || !slots_.front()->ready) return;
    writing_ = true;
    this->StartWrite(&slots_.front()->response);
  }

  void MaybeFinishLocked() REQUIRES(mu_) {
    if (finished_ || pending_ > 0 || writing_) return;
    if (cancelled_ || write_failed_) {
      finished_ = true;
      this->Finish(grpc::Status::CANCELLED);
    } else if (reads_done_ && slots_.empty()) {
      finished_ = true;
      this->Finish(grpc::Status::OK);
    }
  }

  const size_t max_in_flight_;
  Mutex mu_;
  std::unique_ptr<Request> reading_;         // the buffer of the outstanding read
  std::deque<std::shared_ptr<Slot>> slots_ GUARDED_BY(mu_);  // responses in request order
  size_t pending_ GUARDED_BY(mu_) = 0;  // Process() calls not yet done
  bool writing_ GUARDED_BY(mu_) = false;
  bool reads_done_ GUARDED_BY(mu_) = false;
  bool read_paused_ GUARDED_BY(mu_) = false;  // too many in flight
  bool cancelled_ GUARDED_BY(mu_) = false;
  bool write_failed_ GUARDED_BY(mu_) = false;
  bool finished_ GUARDED_BY(mu_) = false;
};

}  // namespace protoserve
