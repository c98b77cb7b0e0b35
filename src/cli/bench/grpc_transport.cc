#include "cli/bench/grpc_transport.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "cli/read_file.h"
#include "inference.grpc.pb.h"
#include "recommender.grpc.pb.h"

namespace protoserve::cli::bench {

namespace {

std::shared_ptr<grpc::ChannelCredentials> Credentials(const GrpcOptions& options) {
  if (!options.tls && options.tls_ca_file.empty() && options.tls_cert_file.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca_file.empty()) ssl.pem_root_certs = ReadFile(options.tls_ca_file);
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    throw std::runtime_error("--tls-cert and --tls-key go together");
  }
  if (!options.tls_cert_file.empty()) {
    ssl.pem_cert_chain = ReadFile(options.tls_cert_file);
    ssl.pem_private_key = ReadFile(options.tls_key_file);
  }
  return grpc::SslCredentials(ssl);
}

std::chrono::system_clock::time_point DeadlineAfter(double seconds) {
  return std::chrono::system_clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

// One transport for both unary RPCs; `Invoke` starts the async call on a stub.
template <typename Service, typename Request, typename Response, typename Invoke>
class UnaryTransport final : public Transport {
 public:
  UnaryTransport(GrpcOptions options, std::shared_ptr<const std::vector<Request>> pool)
      : options_(std::move(options)), pool_(std::move(pool)) {
    if (pool_->empty()) throw std::runtime_error("no requests to send");
    for (const Request& request : *pool_) request_bytes_.push_back(request.ByteSizeLong());
  }

  void Open(int slots, CallSink* sink) override {
    sink_ = sink;
    for (const auto& channel : MakeChannels(options_, options_.connections)) {
      stubs_.push_back(Service::NewStub(channel));
    }
    slots_ = std::vector<Slot>(slots);
    // Spread the slots over the pool so they do not send identical requests.
    for (int i = 0; i < slots; ++i) slots_[i].next = i * pool_->size() / slots;
  }

  void Start(int slot) override {
    Slot& s = slots_[slot];
    s.context = std::make_unique<grpc::ClientContext>();
    if (options_.timeout_secs > 0) s.context->set_deadline(DeadlineAfter(options_.timeout_secs));
    for (const auto& [key, value] : options_.metadata) s.context->AddMetadata(key, value);
    s.response.Clear();
    s.index = s.next++ % pool_->size();
    Invoke{}(stubs_[slot % stubs_.size()].get(), s.context.get(), &(*pool_)[s.index], &s.response,
             [this, slot](grpc::Status status) { Done(slot, status); });
  }

  void Close() override {
    slots_.clear();
    stubs_.clear();
  }

 private:
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    Response response;
    size_t next = 0;   // next pool index to send
    size_t index = 0;  // pool index in flight
  };

  void Done(int slot, const grpc::Status& status) {
    Slot& s = slots_[slot];
    CallResult result;
    result.request_bytes = request_bytes_[s.index];
    if (status.ok()) {
      result.response_bytes = s.response.ByteSizeLong();
    } else {
      result.error = StatusCodeName(status.error_code());
    }
    sink_->OnCallDone(slot, std::move(result));
  }

  const GrpcOptions options_;
  const std::shared_ptr<const std::vector<Request>> pool_;
  std::vector<uint64_t> request_bytes_;
  CallSink* sink_ = nullptr;
  std::vector<std::unique_ptr<typename Service::Stub>> stubs_;
  std::vector<Slot> slots_;
};

struct InvokeRecommend {
  void operator()(Recommender::Stub* stub, grpc::ClientContext* context, const RecommendationRequest* request,
                  RecommendationResponse* response, std::function<void(grpc::Status)> done) const {
    stub->async()->GetRecommendations(context, request, response, std::move(done));
  }
};

struct InvokeInfer {
  void operator()(inference::GRPCInferenceService::Stub* stub, grpc::ClientContext* context,
                  const inference::ModelInferRequest* request, inference::ModelInferResponse* response,
                  std::function<void(grpc::Status)> done) const {
    stub->async()->ModelInfer(context, request, response, std::move(done));
  }
};

}  // namespace

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const GrpcOptions& options, int count) {
  const auto credentials = Credentials(options);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < std::max(1, count); ++i) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    // Channels with equal arguments would share one subchannel (connection).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("protoserve.bench.channel_index", i);
    if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
    auto channel = grpc::CreateCustomChannel(options.target, credentials, args);
    const double wait_secs = options.timeout_secs > 0 ? options.timeout_secs : 10;
    if (!channel->WaitForConnected(DeadlineAfter(wait_secs))) {
      throw TargetError("cannot connect to " + options.target + " (gRPC)");
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

const char* StatusCodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",        "CANCELLED", "UNKNOWN",      "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
      "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "UNKNOWN";
}

std::unique_ptr<Transport> MakeRecommendTransport(const GrpcOptions& options, RecommendPool pool) {
  return std::make_unique<UnaryTransport<Recommender, RecommendationRequest, RecommendationResponse, InvokeRecommend>>(
      options, std::move(pool));
}

std::unique_ptr<Transport> MakeInferTransport(const GrpcOptions& options, InferPool pool) {
  return std::make_unique<UnaryTransport<inference::GRPCInferenceService, inference::ModelInferRequest,
                                         inference::ModelInferResponse, InvokeInfer>>(options, std::move(pool));
}

}  // namespace protoserve::cli::bench
