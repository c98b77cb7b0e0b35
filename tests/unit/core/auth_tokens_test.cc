#include "core/auth_tokens.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace protoserve {
namespace {

constexpr char kInferToken[] = "infer-token-0123456789";
constexpr char kManageToken[] = "manage-token-0123456789";

class TokenFile {
 public:
  TokenFile() {
    char name[] = "/tmp/protoserve-tokens-XXXXXX";
    const int fd = mkstemp(name);
    close(fd);
    path_ = name;
  }
  ~TokenFile() { std::filesystem::remove(path_); }
  // Replaces the file atomically (write + rename, as a Kubernetes Secret
  // volume does), so readers see the old or the new content, never half.
  void Write(const std::string& text) {
    const std::filesystem::path temp = path_.string() + ".new";
    std::ofstream(temp, std::ios::trunc) << text;
    std::filesystem::rename(temp, path_);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::unique_ptr<TokenAuthorizer> Make(const TokenFile& file) {
  auto made = TokenAuthorizer::Create({file.path(), std::chrono::milliseconds(0)});
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return made.ok() ? std::move(made).value() : nullptr;
}

std::string Bearer(const std::string& token) { return "Bearer " + token; }

TEST(TokenFileTest, ParsesTokensScopesAndComments) {
  auto entries = ParseTokenFile("# operators\n\n  tok-aaaaaaaaaaaaaaaa  infer \r\ntok-bbbbbbbbbbbbbbbb\tinfer,manage\n");
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].token, "tok-aaaaaaaaaaaaaaaa");
  EXPECT_EQ((*entries)[0].scopes, static_cast<AuthScopes>(AuthScope::kInfer));
  EXPECT_EQ((*entries)[1].scopes, static_cast<AuthScopes>(AuthScope::kInfer) | static_cast<AuthScopes>(AuthScope::kManage));
  EXPECT_TRUE(ParseTokenFile("").ok());
}

TEST(TokenFileTest, RejectsMalformedLinesWithoutEchoingTheToken) {
  for (const char* bad : {"tok-aaaaaaaaaaaaaaaa", "tok-aaaaaaaaaaaaaaaa admin", "short infer",
                          "tok-aaaaaaaaaaaaaaaa infer,", "tok-aaaaaaaaaaaaaaaa infer manage",
                          "tok-aaaaaaaaaaaaaaaa infer\ntok-aaaaaaaaaaaaaaaa manage", "tok-aaaaaaaa\x01" "aaaaaaa infer"}) {
    auto parsed = ParseTokenFile(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().message().find("tok-aaaa"), std::string::npos) << parsed.status().message();
    EXPECT_NE(parsed.status().message().find("line "), std::string::npos) << parsed.status().message();
  }
}

TEST(TokenFileTest, ConstantTimeEqualsIsPlainEqualityInResult) {
  EXPECT_TRUE(ConstantTimeEquals("abcdefgh", "abcdefgh"));
  EXPECT_FALSE(ConstantTimeEquals("abcdefgh", "abcdefgi"));
  EXPECT_FALSE(ConstantTimeEquals("abcdefgh", "abcdefg"));
  EXPECT_FALSE(ConstantTimeEquals("abcdefgh", "abcdefghabcdefgh"));  // a repeated prefix is not equal
  EXPECT_FALSE(ConstantTimeEquals("abcdefgh", ""));
  EXPECT_FALSE(ConstantTimeEquals("", ""));
}

TEST(TokenFileTest, ParsesBearerHeaders) {
  EXPECT_EQ(ParseBearer("Bearer abc").value(), "abc");
  EXPECT_EQ(ParseBearer("  bearer   abc  ").value(), "abc");
  EXPECT_EQ(ParseBearer("BEARER\tabc").value(), "abc");
  for (const char* bad : {"", "Bearer", "Bearer ", "Basic abc", "Bearerabc", "Bearer a b", "Token abc"}) {
    EXPECT_FALSE(ParseBearer(bad).has_value()) << bad;
  }
}

TEST(TokenAuthorizerTest, UnauthenticatedForMissingOrUnknownAndDeniedForWrongScope) {
  TokenFile file;
  file.Write(std::string(kInferToken) + " infer\n" + kManageToken + " manage\n");
  auto auth = Make(file);
  ASSERT_TRUE(auth);
  EXPECT_TRUE(auth->Check(Bearer(kInferToken), AuthScope::kInfer).ok());
  EXPECT_TRUE(auth->Check(Bearer(kManageToken), AuthScope::kManage).ok());
  EXPECT_TRUE(auth->Check(Bearer(kManageToken), std::nullopt).ok());
  EXPECT_EQ(auth->Check("", AuthScope::kInfer).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->Check("Basic xyz", AuthScope::kInfer).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->Check(Bearer("infer-token-012345678"), AuthScope::kInfer).code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->Check(Bearer(std::string(kInferToken) + "x"), AuthScope::kInfer).code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->Check(Bearer(kInferToken), AuthScope::kManage).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(auth->Check(Bearer(kManageToken), AuthScope::kInfer).code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(auth->AnyTokenHas(AuthScope::kManage));
}

TEST(TokenAuthorizerTest, CreateFailsForMissingOrMalformedFile) {
  EXPECT_EQ(TokenAuthorizer::Create({"/nonexistent/protoserve-tokens"}).status().code(), StatusCode::kNotFound);
  TokenFile file;
  file.Write("tok infer\n");
  EXPECT_EQ(TokenAuthorizer::Create({file.path()}).status().code(), StatusCode::kInvalidArgument);
}

TEST(TokenAuthorizerTest, ReloadsWhenTheFileChangesAndKeepsTokensOnABrokenFile) {
  TokenFile file;
  file.Write(std::string(kInferToken) + " infer\n");
  auto auth = Make(file);
  ASSERT_TRUE(auth);
  EXPECT_FALSE(auth->AnyTokenHas(AuthScope::kManage));

  // Rotation: the old token goes, a new one with both scopes arrives.
  file.Write(std::string(kManageToken) + " infer,manage\n");
  EXPECT_EQ(auth->Check(Bearer(kInferToken), AuthScope::kInfer).code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(auth->Check(Bearer(kManageToken), AuthScope::kManage).ok());
  EXPECT_TRUE(auth->AnyTokenHas(AuthScope::kManage));

  // A half-written file: reported, previous tokens kept.
  file.Write("garbage-without-scope\n");
  EXPECT_EQ(auth->ReloadIfChanged().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(auth->Check(Bearer(kManageToken), AuthScope::kManage).ok());
  // Removed file: previous tokens kept as well.
  std::filesystem::remove(file.path());
  EXPECT_FALSE(auth->ReloadIfChanged().ok());
  EXPECT_TRUE(auth->Check(Bearer(kManageToken), AuthScope::kInfer).ok());
}

TEST(TokenAuthorizerTest, ChecksTheFileAtMostOncePerInterval) {
  TokenFile file;
  file.Write(std::string(kInferToken) + " infer\n");
  auto made = TokenAuthorizer::Create({file.path(), std::chrono::hours(1)});
  ASSERT_TRUE(made.ok());
  file.Write(std::string(kManageToken) + " infer\n");
  // Within the interval the old table answers...
  EXPECT_TRUE((*made)->Check(Bearer(kInferToken), AuthScope::kInfer).ok());
  // ...and an explicit reload picks the change up.
  EXPECT_TRUE((*made)->ReloadIfChanged().ok());
  EXPECT_TRUE((*made)->Check(Bearer(kManageToken), AuthScope::kInfer).ok());
}

TEST(TokenAuthorizerTest, ConcurrentChecksDuringReloads) {
  TokenFile file;
  file.Write(std::string(kInferToken) + " infer\n");
  auto auth = Make(file);
  ASSERT_TRUE(auth);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        if (!auth->Check(Bearer(kInferToken), AuthScope::kInfer).ok()) ++failures;
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    file.Write(std::string(kInferToken) + " infer\n" + kManageToken + (i % 2 ? " manage\n" : " infer\n"));
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace protoserve
