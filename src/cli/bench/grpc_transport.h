// gRPC transports for the load generator, on gRPC's callback API.
//
// No thread per worker: each call's completion runs on gRPC's own threads and
// immediately starts the slot's next call, so a 2-core machine can drive
// tens of thousands of calls per second with one client process.
//
//  * Unary (GetRecommendations, ModelInfer): each call gets a fresh
//    ClientContext with the deadline (--timeout) and metadata.
//  * Stream (StreamRecommendations): each slot keeps one bidi stream and sends
//    its next message when the runner starts the slot's next call (closed
//    loop: on the previous response; open loop: on schedule). A message
//    unanswered after --timeout cancels its stream (reported as
//    DEADLINE_EXCEEDED); a broken stream is reopened for the slot's next call.
//
// Slots share `connections` channels round-robin. Each channel gets its own
// subchannel pool and a distinct channel argument, so N channels really are N
// HTTP/2 connections. Request messages come from a shared, read-only pool;
// request bytes are their serialized sizes, response bytes those of the
// responses (without gRPC/HTTP/2 framing).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/bench/transport.h"
#include "inference.pb.h"
#include "recommender.pb.h"

namespace protoserve::cli::bench {

struct GrpcOptions {
  std::string target = "127.0.0.1:8001";
  int connections = 1;
  double timeout_secs = 10;  // per call (per message on streams); <= 0: none
  std::vector<std::pair<std::string, std::string>> metadata;
  // TLS when `tls` or any file is set: server verified against tls_ca_file
  // (else the system roots); client certificate from tls_cert_file/tls_key_file.
  bool tls = false;
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  std::string tls_server_name;  // overrides the name checked in the server cert
};

// `count` distinct channels, each connected. Throws TargetError when a channel
// is not connected within timeout_secs, std::runtime_error when a TLS file is
// unreadable.
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const GrpcOptions& options, int count);

// "OK", "INVALID_ARGUMENT", ... for a gRPC status code.
const char* StatusCodeName(grpc::StatusCode code);

using RecommendPool = std::shared_ptr<const std::vector<RecommendationRequest>>;
using InferPool = std::shared_ptr<const std::vector<inference::ModelInferRequest>>;

std::unique_ptr<Transport> MakeRecommendTransport(const GrpcOptions& options, RecommendPool pool);
std::unique_ptr<Transport> MakeStreamTransport(const GrpcOptions& options, RecommendPool pool);
std::unique_ptr<Transport> MakeInferTransport(const GrpcOptions& options, InferPool pool);

}  // namespace protoserve::cli::bench
