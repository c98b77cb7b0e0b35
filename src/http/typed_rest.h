// The REST twin of the typed APIs (docs/typed-apis.md):
//
//   POST /v1/models/{model}/{method}     e.g. /v1/models/fashion_mnist/Classify
//   body: the request message as proto3 JSON  ->  the response message as proto3 JSON
//
// The JSON is protobuf's own mapping (google::protobuf::util), read into a
// dynamic message of the answering version's contract: field names as in
// the .proto (lowerCamelCase accepted too), unknown fields refused, a value
// of the wrong type is 400 naming the field. Answers print every field
// (zeros and false included) under its .proto name. The call then takes the
// same path as the gRPC method (typed/typed_call.h, InferenceServer::Infer).
// Thread-safety: Call may be called concurrently.
#pragma once

#include <string>

#include "core/inference_server.h"
#include "http/http_handler.h"

namespace protoserve {

class TypedRest {
 public:
  // `server` must outlive this object.
  explicit TypedRest(const InferenceServer* server) : server_(server) {}

  void Call(const std::string& model, const std::string& method, const HttpRequest& request,
            Responder responder) const;

 private:
  const InferenceServer* const server_;
};

}  // namespace protoserve
