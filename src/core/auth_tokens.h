// TokenAuthorizer: bearer-token authentication and scope checks, shared by
// the gRPC and HTTP front-ends so both answer a credential the same way.
//
// Tokens come from a file (`--auth-tokens`), one per line:
//
//   # comment
//   3f9c0b7e5a1d4c8e9f2a6b0d  infer
//   8e1f4a2c9d7b3e6f0a5c1d9b  infer,manage
//
// A token is 16 to 4096 printable ASCII characters without spaces; scopes
// are `infer` (predictions, metadata, statistics) and `manage` (model
// load/unload). A malformed file is an error naming the line (never the
// token). The file is re-read when its mtime, size or inode changes, checked
// at most once per `recheck_interval` by the next Check(); a reload that
// fails to parse keeps the previous tokens (and logs why), so a half-written
// file neither locks everyone out nor opens the server. Deleting the file
// therefore does NOT revoke tokens: edit it instead. Replace the file
// atomically (write a new file, then rename it over the old one, as
// Kubernetes Secret volumes do); a reader racing an in-place rewrite may
// briefly see a truncated file.
//
// Tokens are compared in constant time (the time depends on the configured
// tokens' lengths only, never on how much of a presented token matches), and
// every configured token is compared on every check.
//
// Check() answers UNAUTHENTICATED for a missing, malformed or unknown token
// and PERMISSION_DENIED for a known token without the required scope.
//
// Thread-safety: all const methods may be called concurrently, also while a
// reload happens.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/thread_annotations.h"

namespace protoserve {

enum class AuthScope : uint8_t { kInfer = 1, kManage = 2 };
using AuthScopes = uint8_t;  // bit set of AuthScope values

const char* AuthScopeName(AuthScope scope);  // "infer", "manage"

struct TokenEntry {
  std::string token;
  AuthScopes scopes = 0;
};

// Parses the token file's text.
StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text);

// Compares a configured `secret` with a `presented` value. Runs in time
// proportional to secret.size(), whatever `presented` holds.
bool ConstantTimeEquals(std::string_view secret, std::string_view presented);

// The token of an `Authorization` value "Bearer <token>" (scheme
// case-insensitive, surrounding spaces ignored); nullopt when malformed.
std::optional<std::string_view> ParseBearer(std::string_view authorization);

class TokenAuthorizer {
 public:
  struct Options {
    std::filesystem::path file;
    // How often a Check() looks at the file's mtime; 0: on every check.
    std::chrono::milliseconds recheck_interval{1000};
  };

  // Reads and parses the file; fails when it is unreadable or malformed.
  static StatusOr<std::unique_ptr<TokenAuthorizer>> Create(Options options);

  // Authenticates `authorization` (the header value; empty when absent).
  // With `required` set, the token must also carry that scope; without, any
  // valid token passes.
  Status Check(std::string_view authorization, std::optional<AuthScope> required) const;

  // Whether some configured token has `scope` (e.g. whether management is
  // token-protected at all).
  bool AnyTokenHas(AuthScope scope) const;
  size_t token_count() const;

  // Re-reads the file now if it changed; returns the parse error of a
  // failed reload (tokens unchanged), OK otherwise. Check() calls it.
  Status ReloadIfChanged() const;

 private:
  struct Table {
    std::vector<TokenEntry> entries;
    AuthScopes any_scopes = 0;  // union of all entries' scopes
  };
  struct Fingerprint {
    int64_t mtime_ns = 0;
    uintmax_t size = 0;
    uintmax_t inode = 0;
    bool operator==(const Fingerprint&) const = default;
  };

  explicit TokenAuthorizer(Options options) : options_(std::move(options)) {}
  std::shared_ptr<const Table> Snapshot() const;
  void MaybeReload() const;

  const Options options_;

  mutable Mutex reload_mu_;  // serialises reloads
  mutable Fingerprint fingerprint_ GUARDED_BY(reload_mu_);

  mutable Mutex table_mu_;
  mutable std::shared_ptr<const Table> table_ GUARDED_BY(table_mu_);

  mutable std::atomic<int64_t> next_check_ns_{0};  // steady clock
};

}  // namespace protoserve
