#include "core/auth_tokens.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace protoserve {

namespace {

constexpr size_t kMinTokenBytes = 16;
constexpr size_t kMaxTokenBytes = 4096;

Status Unauthenticated(std::string message) { return Status(StatusCode::kUnauthenticated, std::move(message)); }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

StatusOr<AuthScopes> ParseScopes(std::string_view list, int line) {
  AuthScopes scopes = 0;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    if (name == "infer") {
      scopes |= static_cast<AuthScopes>(AuthScope::kInfer);
    } else if (name == "manage") {
      scopes |= static_cast<AuthScopes>(AuthScope::kManage);
    } else {
      return InvalidArgument("auth tokens line " + std::to_string(line) + ": unknown scope '" +
                             std::string(name.substr(0, 32)) + "' (expected infer, manage)");
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
    if (list.empty()) return InvalidArgument("auth tokens line " + std::to_string(line) + ": empty scope");
  }
  return scopes;
}

StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read auth tokens file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  // A token file is a few KiB; refuse anything absurd rather than hold it.
  if (text.tellp() > (int64_t{1} << 20)) return InvalidArgument("auth tokens file " + path.string() + " is over 1 MiB");
  return text.str();
}

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* AuthScopeName(AuthScope scope) { return scope == AuthScope::kManage ? "manage" : "infer"; }

StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text) {
  std::vector<TokenEntry> entries;
  int line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = Trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "auth tokens line " + std::to_string(line_number) + ": ";
    size_t split = 0;
    while (split < line.size() && !IsSpace(line[split])) ++split;
    const std::string_view token = line.substr(0, split);
    const std::string_view scopes = Trim(line.substr(split));
    if (scopes.empty()) return InvalidArgument(where + "expected 'TOKEN SCOPE[,SCOPE]'");
    if (scopes.find_first_of(" \t") != std::string_view::npos) {
      return InvalidArgument(where + "expected 'TOKEN SCOPE[,SCOPE]' (no spaces inside the scope list)");
    }
    if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes) {
      return InvalidArgument(where + "a token must be " + std::to_string(kMinTokenBytes) + " to " +
                             std::to_string(kMaxTokenBytes) + " characters");
    }
    for (char c : token) {
      if (c < 0x21 || c > 0x7e) return InvalidArgument(where + "a token must be printable ASCII without spaces");
    }
    ASSIGN_OR_RETURN(AuthScopes parsed, ParseScopes(scopes, line_number));
    for (const TokenEntry& other : entries) {
      if (other.token == token) return InvalidArgument(where + "duplicate token");
    }
    entries.push_back({std::string(token), parsed});
  }
  return entries;
}

bool ConstantTimeEquals(std::string_view secret, std::string_view presented) {
  // Every byte of `secret` is compared against something, so the time
  // depends on secret.size() only; a length difference fails at the end.
  volatile unsigned char diff = static_cast<unsigned char>(secret.size() != presented.size());
  const size_t n = presented.size();
  for (size_t i = 0; i < secret.size(); ++i) {
    const unsigned char other = n == 0 ? 0 : static_cast<unsigned char>(presented[i % n]);
    diff = diff | (static_cast<unsigned char>(secret[i]) ^ other);
  }
  return diff == 0 && !secret.empty();
}

std::optional<std::string_view> ParseBearer(std::string_view authorization) {
  std::string_view value = Trim(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || !IsSpace(value[kScheme.size()])) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = value[i];
    if ((c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c) != kScheme[i]) return std::nullopt;
  }
  const std::string_view token = Trim(value.substr(kScheme.size()));
  if (token.empty() || token.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return token;
}

StatusOr<std::unique_ptr<TokenAuthorizer>> TokenAuthorizer::Create(Options options) {
  std::unique_ptr<TokenAuthorizer> self(new TokenAuthorizer(std::move(options)));
  struct stat info {};
  if (stat(self->options_.file.c_str(), &info) != 0) {
    return NotFound("cannot read auth tokens file " + self->options_.file.string());
  }
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(self->options_.file));
  ASSIGN_OR_RETURN(std::vector<TokenEntry> entries, ParseTokenFile(text));
  if (info.st_mode & (S_IRWXG | S_IRWXO)) {
    spdlog::warn("auth tokens file {} is accessible by group/others (chmod 600 it)", self->options_.file.string());
  }
  if (entries.empty()) spdlog::warn("auth tokens file {} has no tokens: every call but health is refused",
                                    self->options_.file.string());
  auto table = std::make_shared<Table>();
  for (const TokenEntry& e : entries) table->any_scopes |= e.scopes;
  table->entries = std::move(entries);
  {
    MutexLock lock(self->table_mu_);
    self->table_ = std::move(table);
  }
  MutexLock reload(self->reload_mu_);
  self->fingerprint_ = {int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec,
                        static_cast<uintmax_t>(info.st_size), static_cast<uintmax_t>(info.st_ino)};
  self->next_check_ns_.store(SteadyNanos() + std::chrono::nanoseconds(self->options_.recheck_interval).count());
  return self;
}

std::shared_ptr<const TokenAuthorizer::Table> TokenAuthorizer::Snapshot() const {
  MutexLock lock(table_mu_);
  return table_;
}

Status TokenAuthorizer::ReloadIfChanged() const {
  MutexLock reload(reload_mu_);
  struct stat info {};
  if (stat(options_.file.c_str(), &info) != 0) {
    return NotFound("cannot read auth tokens file " + options_.file.string() + " (keeping the previous tokens)");
  }
  const Fingerprint now{int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec,
                        static_cast<uintmax_t>(info.st_size), static_cast<uintmax_t>(info.st_ino)};
  if (now == fingerprint_) return Status::Ok();
  fingerprint_ = now;  // a broken file is reported once, not on every check
  auto text = ReadSmallFile(options_.file);
  if (!text.ok()) return text.status();
  auto entries = ParseTokenFile(*text);
  if (!entries.ok()) {
    return Status(entries.status().code(), entries.status().message() + " (keeping the previous tokens)");
  }
  auto table = std::make_shared<Table>();
  for (const TokenEntry& e : *entries) table->any_scopes |= e.scopes;
  table->entries = std::move(entries).value();
  spdlog::info("auth tokens reloaded from {}: {} token(s)", options_.file.string(), table->entries.size());
  MutexLock lock(table_mu_);
  table_ = std::move(table);
  return Status::Ok();
}

void TokenAuthorizer::MaybeReload() const {
  const int64_t now = SteadyNanos();
  int64_t due = next_check_ns_.load(std::memory_order_relaxed);
  if (now < due) return;
  const int64_t next = now + std::chrono::nanoseconds(options_.recheck_interval).count();
  // One caller per interval does the check; the others use the current table.
  if (!next_check_ns_.compare_exchange_strong(due, next, std::memory_order_relaxed)) return;
  if (Status s = ReloadIfChanged(); !s.ok()) spdlog::error("{}", s.message());
}

Status TokenAuthorizer::Check(std::string_view authorization, std::optional<AuthScope> required) const {
  MaybeReload();
  if (Trim(authorization).empty()) {
    return Unauthenticated("missing credentials: send the header 'authorization: Bearer <token>'");
  }
  const std::optional<std::string_view> token = ParseBearer(authorization);
  if (!token) return Unauthenticated("malformed authorization header: expected 'Bearer <token>'");
  const std::shared_ptr<const Table> table = Snapshot();
  // Compare against every token (no early exit), remembering the match.
  AuthScopes scopes = 0;
  bool found = false;
  for (const TokenEntry& entry : table->entries) {
    const bool match = ConstantTimeEquals(entry.token, *token);
    found = found | match;
    scopes = scopes | static_cast<AuthScopes>(match ? entry.scopes : 0);
  }
  if (!found) return Unauthenticated("invalid token");
  if (required && !(scopes & static_cast<AuthScopes>(*required))) {
    return Status(StatusCode::kPermissionDenied,
                  std::string("the token lacks the scope '") + AuthScopeName(*required) + "' this call needs");
  }
  return Status::Ok();
}

bool TokenAuthorizer::AnyTokenHas(AuthScope scope) const {
  MaybeReload();
  return (Snapshot()->any_scopes & static_cast<AuthScopes>(scope)) != 0;
}

size_t TokenAuthorizer::token_count() const { return Snapshot()->entries.size(); }

}  // namespace protoserve
