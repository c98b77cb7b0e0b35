#include "http/http_response.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

TEST(HttpResponseTest, StatusCodesMapToHttp) {
  const std::pair<StatusCode, unsigned> cases[] = {
      {StatusCode::kOk, 200},
      {StatusCode::kInvalidArgument, 400},
      {StatusCode::kFailedPrecondition, 400},
      {StatusCode::kOutOfRange, 400},
      {StatusCode::kUnauthenticated, 401},
      {StatusCode::kPermissionDenied, 403},
      {StatusCode::kNotFound, 404},
      {StatusCode::kResourceExhausted, 429},
      {StatusCode::kCancelled, 499},
      {StatusCode::kInternal, 500},
      {StatusCode::kUnknown, 500},
      {StatusCode::kDataLoss, 500},
      {StatusCode::kAborted, 500},
      {StatusCode::kAlreadyExists, 409},  // duplicate feedback (docs/rollout.md)
      {StatusCode::kUnimplemented, 501},
      {StatusCode::kUnavailable, 503},
      {StatusCode::kDeadlineExceeded, 504},
  };
  for (const auto& [code, http] : cases) EXPECT_EQ(HttpStatusFor(code), http) << StatusCodeName(code);
}

TEST(HttpResponseTest, ErrorBodyIsKServeJson) {
  HttpResponse r = ErrorResponse(NotFound("model 'x' \"quoted\""));
  EXPECT_EQ(r.result_int(), 404u);
  EXPECT_EQ(r[boost::beast::http::field::content_type], "application/json");
  EXPECT_EQ(r.body(), R"({"error":"model 'x' \"quoted\""})");
}

TEST(HttpResponseTest, ErrorBodyStaysValidJsonForBinaryInput) {
  HttpResponse r = ErrorResponse(400, "bad name '\xff\xfe'");
  EXPECT_EQ(r.body(), R"({"error":"bad name '??'"})");
}

TEST(HttpResponseTest, CancelledHasAReasonPhrase) {
  HttpResponse r = ErrorResponse(Cancelled("client went away"));
  EXPECT_EQ(r.result_int(), 499u);
  EXPECT_EQ(r.reason(), "Client Closed Request");
}

}  // namespace
}  // namespace protoserve
