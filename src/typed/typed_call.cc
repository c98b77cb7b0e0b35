#include "typed/typed_call.h"

#include <algorithm>

#include "core/model_config.h"

namespace protoserve::typed {

std::map<std::string, std::shared_ptr<const TypedContract>> TypedMethods::Contracts() const {
  std::map<std::string, std::shared_ptr<const TypedContract>> contracts;
  std::map<std::string, int64_t> highest;
  for (const auto& version : repository_->ReadyVersions()) {
    auto contract = ContractOf(*version);
    if (!contract) continue;
    int64_t& best = highest[version->name()];
    if (version->version() < best) continue;
    best = version->version();
    contracts[version->name()] = std::move(contract);
  }
  return contracts;
}

std::optional<std::string> TypedMethods::ModelFor(std::string_view method) const {
  {
    std::shared_lock lock(mu_);
    auto it = cache_.find(method);
    if (it != cache_.end()) return it->second;
  }
  for (const auto& [model, contract] : Contracts()) {
    if (contract->method_path() == method) {
      std::unique_lock lock(mu_);
      cache_[std::string(method)] = model;
      return model;
    }
  }
  return std::nullopt;
}

void TypedMethods::Forget(std::string_view method) const {
  std::unique_lock lock(mu_);
  auto it = cache_.find(method);
  if (it != cache_.end()) cache_.erase(it);
}

std::optional<std::string> TypedMethods::ModelForService(std::string_view service) const {
  for (const auto& [model, contract] : Contracts()) {
    if (contract->method()->service()->full_name() == service) return model;
  }
  return std::nullopt;
}

std::vector<std::string> DeclaredMethodPaths(const std::filesystem::path& root) {
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (!IsValidModelName(name) || !std::filesystem::is_regular_file(entry.path() / "config.pbtxt", ec)) continue;
    auto config = LoadModelConfigFile((entry.path() / "config.pbtxt").string(), name);
    if (!config.ok()) continue;
    auto method = ConfigParameter(*config, kMethodParameter);
    if (!method || method->empty()) continue;
    std::string path = "/" + *method;
    if (std::find(paths.begin(), paths.end(), path) == paths.end()) paths.push_back(std::move(path));
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

void InferTyped(const InferenceServer& server, const std::string& model, const std::string& method,
                RequestContext context, const ParseBody& parse, TypedDone done) {
  auto call = std::make_shared<TypedCall>();
  auto decode = [call, &method, &parse](const ModelVersion& version) -> StatusOr<DecodedRequest> {
    call->request_contract = ContractOf(version);
    const TypedContract* contract = call->request_contract.get();
    if (!contract || (contract->method_path() != method && contract->method()->name() != method)) {
      return Status(StatusCode::kUnimplemented,
                    "model '" + version.name() + "' version " + std::to_string(version.version()) +
                        " has no typed method " + method +
                        (contract ? " (it serves " + contract->method_path() + ")" : " (it declares no typed API)"));
    }
    call->request = contract->NewRequest(&call->arena);
    RETURN_IF_ERROR(parse(call->request));
    DecodedRequest decoded;
    RETURN_IF_ERROR(contract->Decode(*call->request, &decoded));
    return decoded;
  };
  server.Infer(std::move(context), model, "", decode,
               [call, done = std::move(done)](Status status, InferResult result) {
                 if (status.ok()) {
                   call->response_contract = ContractOf(*result.model);
                   if (!call->response_contract) {
                     status = Unavailable("model '" + result.model->name() + "' no longer has a typed API");
                   } else {
                     call->response = call->response_contract->NewResponse(&call->arena);
                     status = call->response_contract->Encode(*call->request, result, call->response);
                   }
                 }
                 done(std::move(status), call, std::move(result));
               });
}

namespace {

// The contract of `version` when it is `method`'s compiled contract (whose
// messages are then the generated ones); else FAILED_PRECONDITION naming what it serves.
StatusOr<std::shared_ptr<const TypedContract>> CompiledContractOf(const ModelVersion& version,
                                                                  const std::string& method) {
  std::shared_ptr<const TypedContract> contract = ContractOf(version);
  if (contract && contract->Serves(method) && contract->compiled()) return contract;
  std::string why = " (its .proto differs from the compiled one)";
  if (!contract) {
    why = " (it declares no typed API)";
  } else if (!contract->Serves(method)) {
    why = " (it serves " + contract->method_path() + ")";
  }
  return FailedPrecondition("model '" + version.name() + "' does not serve " + method + why);
}

// The contract whose selector fields say which model answers: the default
// model's, else that of any ready version serving `method`.
std::shared_ptr<const TypedContract> SelectorContract(const ModelRepository& repository,
                                                      const std::string& default_model, const std::string& method) {
  if (auto version = repository.Get(default_model, 0); version.ok()) {
    auto contract = ContractOf(**version);
    if (contract && contract->Serves(method) && contract->compiled()) return contract;
  }
  for (const auto& version : repository.ReadyVersions()) {
    auto contract = ContractOf(*version);
    if (contract && contract->Serves(method) && contract->compiled()) return contract;
  }
  return nullptr;
}

}  // namespace

bool SetCompiledError(const InferenceServer& server, const std::string& default_model, const std::string& method,
                      const Status& status, google::protobuf::Message* response) {
  auto contract = SelectorContract(server.repository(), default_model, method);
  return contract && contract->SetError(status, response);
}

void InferCompiled(const InferenceServer& server, const std::string& default_model, const std::string& method,
                   RequestContext context, const google::protobuf::Message& request,
                   google::protobuf::Message* response, CompiledDone done) {
  ModelChoice choice;
  std::string name_field;
  if (auto selector = SelectorContract(server.repository(), default_model, method)) {
    choice = selector->Choice(request);
    name_field = selector->model_name_field();
  }
  if (choice.name.empty()) {
    choice.name = default_model;
  } else if (!IsValidModelName(choice.name)) {
    InferResult refused;
    refused.id = context.id;
    return done(InvalidArgument((name_field.empty() ? "model name" : name_field) + ": '" + choice.name +
                                "' is not a valid model name"),
                std::move(refused));
  }
  auto decode = [&](const ModelVersion& version) -> StatusOr<DecodedRequest> {
    ASSIGN_OR_RETURN(auto contract, CompiledContractOf(version, method));
    DecodedRequest decoded;
    RETURN_IF_ERROR(contract->Decode(request, &decoded));
    return decoded;
  };
  const std::string version = choice.version == 0 ? std::string() : std::to_string(choice.version);
  server.Infer(std::move(context), choice.name, version, decode,
               [&request, response, &method, done = std::move(done)](Status status, InferResult result) {
                 if (status.ok()) {
                   auto contract = CompiledContractOf(*result.model, method);
                   status = contract.ok() ? (*contract)->Encode(request, result, response) : contract.status();
                 }
                 done(std::move(status), std::move(result));
               });
}

}  // namespace protoserve::typed
