// StreamRecommendations transport: one bidi stream per slot (see grpc_transport.h).
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "cli/bench/grpc_transport.h"
#include "recommender.grpc.pb.h"

namespace protoserve::cli::bench {

namespace {

using Clock = std::chrono::steady_clock;

// "INVALID_ARGUMENT: features: ..." -> "INVALID_ARGUMENT".
std::string CodeOf(const std::string& error_message) {
  const size_t colon = error_message.find(':');
  return colon == std::string::npos ? "UNKNOWN" : error_message.substr(0, colon);
}

class StreamTransport final : public Transport {
 public:
  StreamTransport(GrpcOptions options, RecommendPool pool) : options_(std::move(options)), pool_(std::move(pool)) {
    if (pool_->empty()) throw std::runtime_error("no requests to send");
    for (const auto& request : *pool_) request_bytes_.push_back(request.ByteSizeLong());
  }

  void Open(int slots, CallSink* sink) override {
    sink_ = sink;
    for (const auto& channel : MakeChannels(options_, options_.connections)) {
      stubs_.push_back(Recommender::NewStub(channel));
    }
    streams_.resize(slots);
    next_.resize(slots);
    for (int i = 0; i < slots; ++i) {
      next_[i] = i * pool_->size() / slots;
      streams_[i] = NewStream(i);
    }
    watchdog_ = std::thread([this] { Watchdog(); });
  }

  void Start(int slot) override {
    // Only this slot's Start() replaces streams_[slot]; the lock is for the
    // watchdog. No lock is held while calling into gRPC: it may run
    // reactions inline, and those take the locks.
    if (streams_[slot]->done()) {
      // Reopen. The old reactor may still be inside OnDone (this Start can
      // run from its report), so it is freed only in Close().
      auto fresh = NewStream(slot);
      std::lock_guard lock(mu_);
      retired_.push_back(std::move(streams_[slot]));
      streams_[slot] = std::move(fresh);
    }
    const size_t index = next_[slot]++ % pool_->size();
    streams_[slot]->Send(&(*pool_)[index], request_bytes_[index]);
  }

  void Close() override {
    std::vector<Stream*> streams;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (auto& stream : streams_) streams.push_back(stream.get());
    }
    cv_.notify_all();
    watchdog_.join();
    for (Stream* stream : streams) stream->Finish();
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return live_ == 0; });
    streams_.clear();
    retired_.clear();
    stubs_.clear();
  }

 private:
  // One bidi stream. A hold keeps the reactor from finishing while the slot
  // may still start operations on it; the hold is released exactly once:
  // when a read fails (the stream broke; OnDone then reports the pending
  // call with the stream's status) or by Finish() at Close().
  class Stream final : public grpc::ClientBidiReactor<RecommendationRequest, RecommendationResponse> {
   public:
    Stream(StreamTransport* owner, int slot) : owner_(owner), slot_(slot) {
      for (const auto& [key, value] : owner->options_.metadata) context_.AddMetadata(key, value);
      owner->stubs_[slot % owner->stubs_.size()]->async()->StreamRecommendations(&context_, this);
      AddHold();
      StartCall();
    }

    bool done() const { return done_.load(); }

    void Send(const RecommendationRequest* request, uint64_t bytes) {
      request_bytes_ = bytes;  // read by the reactions that follow
      sent_at_ns_.store(Clock::now().time_since_epoch().count());
      // One write at a time: the previous write may complete after its response.
      bool write_now = false;
      {
        std::lock_guard lock(mu_);
        if (writing_) {
          queued_ = request;
        } else {
          writing_ = write_now = true;
        }
      }
      if (write_now) StartWrite(request);
      StartRead(&response_);
    }

    // Half-closes the stream once no write is in flight; the server then ends it.
    void Finish() {
      bool now = false;
      {
        std::lock_guard lock(mu_);
        if (hold_released_) return;
        finish_after_write_ = writing_;
        now = !writing_;
        if (now) hold_released_ = true;
      }
      if (now) {
        StartWritesDone();
        RemoveHold();
      }
    }

    // Cancels the stream when its message has waited longer than `timeout`.
    void CancelIfStale(Clock::time_point now, Clock::duration timeout) {
      const int64_t sent = sent_at_ns_.load();
      if (sent != 0 && now.time_since_epoch().count() - sent > timeout.count()) {
        timed_out_ = true;
        context_.TryCancel();
      }
    }

    void OnWriteDone(bool ok) override {
      const RecommendationRequest* next = nullptr;
      bool finish = false;
      {
        std::lock_guard lock(mu_);
        writing_ = false;
        if (ok && queued_ != nullptr) {
          writing_ = true;
          next = queued_;
        } else if (finish_after_write_ && !hold_released_) {
          finish = hold_released_ = true;
        }
        queued_ = nullptr;
      }
      if (next != nullptr) StartWrite(next);
      if (finish) {
        StartWritesDone();
        RemoveHold();
      }
    }

    void OnReadDone(bool ok) override {
      if (!ok) {  // the stream broke: let it finish; OnDone reports the call
        bool release = false;
        {
          std::lock_guard lock(mu_);
          release = !hold_released_;
          hold_released_ = true;
        }
        if (release) RemoveHold();
        return;
      }
      CallResult result;
      sent_at_ns_.store(0);
      result.request_bytes = request_bytes_;
      result.response_bytes = response_.ByteSizeLong();
      if (!response_.error_message().empty()) result.error = CodeOf(response_.error_message());
      owner_->sink_->OnCallDone(slot_, std::move(result));
    }

    void OnDone(const grpc::Status& status) override {
      const bool pending = sent_at_ns_.exchange(0) != 0;
      done_ = true;
      if (pending) {
        CallResult result;
        result.request_bytes = request_bytes_;
        result.error = timed_out_         ? "DEADLINE_EXCEEDED"
                       : status.ok()      ? "STREAM_CLOSED"
                                          : StatusCodeName(status.error_code());
        owner_->sink_->OnCallDone(slot_, std::move(result));
      }
      owner_->StreamEnded();  // last statement: the owner may free this object now
    }

   private:
    StreamTransport* const owner_;
    const int slot_;
    grpc::ClientContext context_;
    RecommendationResponse response_;
    std::atomic<bool> done_{false};
    std::atomic<bool> timed_out_{false};
    std::atomic<int64_t> sent_at_ns_{0};  // 0: no message awaiting its response
    uint64_t request_bytes_ = 0;          // set by Send() before the ops whose reactions read it
    std::mutex mu_;                       // orders writes, WritesDone and the hold
    bool writing_ = false;                           // guarded by mu_
    bool finish_after_write_ = false;                // guarded by mu_
    bool hold_released_ = false;                     // guarded by mu_
    const RecommendationRequest* queued_ = nullptr;  // guarded by mu_
  };

  std::unique_ptr<Stream> NewStream(int slot) {
    {
      std::lock_guard lock(mu_);
      ++live_;
    }
    return std::make_unique<Stream>(this, slot);
  }

  void StreamEnded() {
    std::lock_guard lock(mu_);
    --live_;
    cv_.notify_all();
  }

  void Watchdog() {
    if (options_.timeout_secs <= 0) return;
    const auto timeout =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout_secs));
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_; })) {
      // Streams live until Close(), so the pointers stay valid unlocked.
      std::vector<Stream*> streams;
      for (auto& stream : streams_) streams.push_back(stream.get());
      lock.unlock();
      const auto now = Clock::now();
      for (Stream* stream : streams) stream->CancelIfStale(now, timeout);
      lock.lock();
    }
  }

  const GrpcOptions options_;
  const RecommendPool pool_;
  std::vector<uint64_t> request_bytes_;
  CallSink* sink_ = nullptr;
  std::vector<std::unique_ptr<Recommender::Stub>> stubs_;
  std::vector<size_t> next_;  // per slot; touched only by that slot's Start()
  std::thread watchdog_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Stream>> streams_;  // guarded by mu_
  std::vector<std::unique_ptr<Stream>> retired_;  // guarded by mu_
  int live_ = 0;                                  // guarded by mu_: streams not yet done
  bool stopping_ = false;                         // guarded by mu_
};

}  // namespace

std::unique_ptr<Transport> MakeStreamTransport(const GrpcOptions& options, RecommendPool pool) {
  return std::make_unique<StreamTransport>(options, std::move(pool));
}

}  // namespace protoserve::cli::bench
