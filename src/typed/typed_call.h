// The typed APIs' call path, shared by every front-end that serves them
// (gRPC generic service, REST twin, gRPC-Web): find the model whose contract
// answers a method, let the front-end parse its body into a message of the
// contract's request type, decode, run through the one core facade
// (InferenceServer::Infer: routing, traffic split, shadow, batching,
// metrics, tracing, prediction log) and encode the response message for
// the front-end to serialize.
//
// Messages live on a per-call protobuf Arena, freed with the call.
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <google/protobuf/arena.h>
#include <google/protobuf/message.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/inference_server.h"
#include "typed/typed_contract.h"

namespace protoserve::typed {

// Which model answers which method ("/package.Service/Method"), from the
// contracts of the repository's ready versions.
class TypedMethods {
 public:
  explicit TypedMethods(const ModelRepository* repository) : repository_(repository) {}

  // The model serving `method`, if any (a cached answer is checked against
  // the ready versions whenever it misses).
  std::optional<std::string> ModelFor(std::string_view method) const;
  // Drops a cached answer that turned out stale (the model no longer serves it).
  void Forget(std::string_view method) const;
  // The model whose contract is `service` ("package.Service"), if any.
  std::optional<std::string> ModelForService(std::string_view service) const;
  // The contracts of every model's highest ready version, by model name.
  std::map<std::string, std::shared_ptr<const TypedContract>> Contracts() const;

 private:
  const ModelRepository* const repository_;
  mutable std::shared_mutex mu_;
  mutable std::map<std::string, std::string, std::less<>> cache_;  // method -> model
};

// The gRPC paths ("/package.Service/Method") that the models under `root`
// declare in their config.pbtxt (typed.method), read from the files without
// loading anything; configs that do not parse are skipped (their load will
// say why). Lets a front-end register these methods before the models load.
std::vector<std::string> DeclaredMethodPaths(const std::filesystem::path& root);

// One typed call's state: the arena and the messages on it.
struct TypedCall {
  google::protobuf::Arena arena;
  std::shared_ptr<const TypedContract> request_contract;  // owns the request's descriptors
  std::shared_ptr<const TypedContract> response_contract; // owns the response's descriptors
  google::protobuf::Message* request = nullptr;
  google::protobuf::Message* response = nullptr;          // set once answered
};

// Fills `request` (a message of the contract's request type) from the body:
// INVALID_ARGUMENT naming the field when it cannot.
using ParseBody = std::function<Status(google::protobuf::Message* request)>;
// Called exactly once; on success `call->response` is set. `result.scope`
// must be released by the front-end once it has written the answer.
using TypedDone = std::function<void(Status, std::shared_ptr<TypedCall> call, InferResult result)>;

// Model `model`'s typed method `method`: the gRPC path ("/package.Service/Method")
// or the bare method name (REST). UNIMPLEMENTED when the answering version's
// contract has no such method; NOT_FOUND for an unknown model.
void InferTyped(const InferenceServer& server, const std::string& model, const std::string& method,
                RequestContext context, const ParseBody& parse, TypedDone done);

// A call to a contract compiled into the server (TypedContract::compiled(),
// docs/typed-apis.md): the generated service hands its generated messages,
// which outlive `done`, as does `method`: the contract's unary method path
// ("/Service/Method") or its typed.stream_method's, served with the same
// mapping, message by message. The answering model is the one the request names through the
// contract's typed.model_name / typed.model_version fields, else
// `default_model`: it must declare this compiled contract
// (FAILED_PRECONDITION otherwise). Checks run in the facade's order: the
// model (INVALID_ARGUMENT for a bad name, NOT_FOUND), then the body
// (Decode), then routing; on success `response` holds the answer (Encode,
// with its reply fields). `done` is called exactly once; `result.scope`
// must be released by the front-end once it has written the answer.
using CompiledDone = std::function<void(Status, InferResult result)>;
void InferCompiled(const InferenceServer& server, const std::string& default_model, const std::string& method,
                   RequestContext context, const google::protobuf::Message& request,
                   google::protobuf::Message* response, CompiledDone done);

// A streamed message that failed: writes "CODE: message" into the
// contract's typed.error_field of `response`; false when no contract of
// `method` declares one.
bool SetCompiledError(const InferenceServer& server, const std::string& default_model, const std::string& method,
                      const Status& status, google::protobuf::Message* response);

}  // namespace protoserve::typed
