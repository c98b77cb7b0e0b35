#include "grpc/auth.h"

#include <grpc/grpc_security.h>

#include <fstream>
#include <sstream>

#include "inference.pb.h"
#include "rollout.pb.h"

namespace protoserve {

namespace {

constexpr std::string_view kLoadMethod = "/inference.GRPCInferenceService/RepositoryModelLoad";
constexpr std::string_view kUnloadMethod = "/inference.GRPCInferenceService/RepositoryModelUnload";
constexpr std::string_view kStartRolloutMethod = "/protoserve.rollout.v1.Rollout/StartRollout";
constexpr std::string_view kAbortRolloutMethod = "/protoserve.rollout.v1.Rollout/AbortRollout";

std::string_view SliceView(const grpc_slice& slice) {
  return {reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)), GRPC_SLICE_LENGTH(slice)};
}

StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(std::string(flag) + ": cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty()) return InvalidArgument(std::string(flag) + ": " + path + " is empty");
  return text.str();
}

struct PemFiles {
  std::string cert, key, client_ca;  // empty: not set
};

StatusOr<PemFiles> ReadPemFiles(const GrpcSecurityOptions& options) {
  PemFiles pem;
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return InvalidArgument("--tls-cert and --tls-key must be given together");
  }
  if (!options.tls_client_ca_file.empty() && options.tls_cert_file.empty()) {
    return InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)");
  }
  if (!options.tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(pem.cert, ReadPem(options.tls_cert_file, "--tls-cert"));
    ASSIGN_OR_RETURN(pem.key, ReadPem(options.tls_key_file, "--tls-key"));
  }
  if (!options.tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(pem.client_ca, ReadPem(options.tls_client_ca_file, "--tls-client-ca"));
  }
  return pem;
}

// What the C processor callback needs; freed by the credentials' destroy hook.
struct ProcessorState {
  std::shared_ptr<const TokenAuthorizer> authorizer;
  bool open_metadata = false;
};

void ProcessMetadata(void* state, grpc_auth_context*, const grpc_metadata* md, size_t count,
                     grpc_process_auth_metadata_done_cb done, void* user_data) {
  const auto* s = static_cast<const ProcessorState*>(state);
  std::string_view path;
  const grpc_metadata* authorization = nullptr;
  int authorization_count = 0;
  for (size_t i = 0; i < count; ++i) {
    const std::string_view key = SliceView(md[i].key);
    if (key == ":path") path = SliceView(md[i].value);
    if (key == "authorization") {
      authorization = &md[i];
      ++authorization_count;
    }
  }
  Status status = authorization_count > 1
                      ? Status(StatusCode::kUnauthenticated, "more than one authorization header")
                      : AuthorizeGrpcCall(*s->authorizer, s->open_metadata, path,
                                          authorization ? SliceView(authorization->value) : std::string_view());
  if (!status.ok()) {
    done(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(status.code()), status.message().c_str());
    return;
  }
  // Consumed: the token is removed from the call's metadata, so no handler
  // or log below this point ever sees it.
  done(user_data, authorization, authorization ? 1 : 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
}

void DestroyProcessorState(void* state) { delete static_cast<ProcessorState*>(state); }

// Listening credentials (TLS or plaintext) with the token processor attached,
// built through the C API: grpc::InsecureServerCredentials() asserts when
// given a processor, while the core's insecure credentials accept one.
class TokenCheckedServerCredentials final : public grpc::ServerCredentials {
 public:
  TokenCheckedServerCredentials(PemFiles pem, std::shared_ptr<const TokenAuthorizer> authorizer, bool open_metadata)
      : pem_(std::move(pem)), authorizer_(std::move(authorizer)), open_metadata_(open_metadata) {}

  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    // The token processor is this class's purpose; another one is not supported.
    std::abort();
  }

 private:
  int AddPortToServer(const std::string& address, grpc_server* server) override {
    grpc_server_credentials* creds = nullptr;
    if (pem_.cert.empty()) {
      creds = grpc_insecure_server_credentials_create();
    } else {
      grpc_ssl_pem_key_cert_pair pair{pem_.key.c_str(), pem_.cert.c_str()};
      creds = grpc_ssl_server_credentials_create_ex(
          pem_.client_ca.empty() ? nullptr : pem_.client_ca.c_str(), &pair, 1,
          pem_.client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
          nullptr);
    }
    if (creds == nullptr) return 0;
    grpc_auth_metadata_processor processor{&ProcessMetadata, &DestroyProcessorState,
                                           new ProcessorState{authorizer_, open_metadata_}};
    grpc_server_credentials_set_auth_metadata_processor(creds, processor);
    const int port = grpc_server_add_http2_port(server, address.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  const PemFiles pem_;
  const std::shared_ptr<const TokenAuthorizer> authorizer_;
  const bool open_metadata_;
};

// Refuses RepositoryModelLoad/Unload from non-loopback peers while no token
// has the `manage` scope (see the header for why it works this way).
class ManagementPeerGuard final : public grpc::experimental::Interceptor {
 public:
  ManagementPeerGuard(grpc::experimental::ServerRpcInfo* info, std::string_view method,
                      const std::shared_ptr<const TokenAuthorizer>& authorizer,
                      const std::function<bool(std::string_view)>& trusted_peer)
      : info_(info), method_(method), authorizer_(authorizer), trusted_peer_(trusted_peer) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_INITIAL_METADATA)) {
      const bool token_protected = authorizer_ && authorizer_->AnyTokenHas(AuthScope::kManage);
      denied_ = !token_protected && !trusted_peer_(info_->server_context()->peer());
    }
    if (denied_ && methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE)) {
      if (void* message = methods->GetRecvMessage()) {
        if (method_ == kLoadMethod) {
          static_cast<inference::RepositoryModelLoadRequest*>(message)->Clear();
        } else if (method_ == kUnloadMethod) {
          static_cast<inference::RepositoryModelUnloadRequest*>(message)->Clear();
        } else if (method_ == kStartRolloutMethod) {
          static_cast<protoserve::rollout::v1::StartRolloutRequest*>(message)->Clear();
        } else {
          static_cast<protoserve::rollout::v1::AbortRolloutRequest*>(message)->Clear();
        }
      }
    }
    if (denied_ && methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          "model management (load/unload, rollout start/abort) is accepted only from loopback clients unless an "
          "auth token with scope 'manage' is configured (--auth-tokens)"));
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* const info_;
  const std::string_view method_;  // one of the k*Method constants (static storage)
  const std::shared_ptr<const TokenAuthorizer> authorizer_;
  const std::function<bool(std::string_view)>& trusted_peer_;  // owned by the factory
  bool denied_ = false;
};

class ManagementPeerGuardFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  ManagementPeerGuardFactory(std::shared_ptr<const TokenAuthorizer> authorizer,
                             std::function<bool(std::string_view)> trusted_peer)
      : authorizer_(std::move(authorizer)), trusted_peer_(std::move(trusted_peer)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    const std::string_view method = info->method() ? info->method() : "";
    for (std::string_view managed : {kLoadMethod, kUnloadMethod, kStartRolloutMethod, kAbortRolloutMethod}) {
      if (method == managed) return new ManagementPeerGuard(info, managed, authorizer_, trusted_peer_);
    }
    return nullptr;  // no cost for other calls
  }

 private:
  const std::shared_ptr<const TokenAuthorizer> authorizer_;
  const std::function<bool(std::string_view)> trusted_peer_;
};

}  // namespace

StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeGrpcServerCredentials(const GrpcSecurityOptions& options) {
  ASSIGN_OR_RETURN(PemFiles pem, ReadPemFiles(options));
  if (options.authorizer) {
    return std::shared_ptr<grpc::ServerCredentials>(
        std::make_shared<TokenCheckedServerCredentials>(std::move(pem), options.authorizer, options.open_metadata));
  }
  if (pem.cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(pem.client_ca.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = pem.client_ca;
  ssl.pem_key_cert_pairs.push_back({pem.key, pem.cert});
  return grpc::SslServerCredentials(ssl);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeManagementPeerGuard(
    std::shared_ptr<const TokenAuthorizer> authorizer, std::function<bool(std::string_view peer)> trusted_peer) {
  return std::make_unique<ManagementPeerGuardFactory>(std::move(authorizer), std::move(trusted_peer));
}

}  // namespace protoserve
