#include "grpc/grpc_status.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

// The server's default deadline is the core's (InferenceServer::Prepare):
// the gRPC layer only reports that the client set none.
TEST(SteadyDeadlineTest, NoClientDeadlineIsMax) {
  grpc::ServerContext context;  // no deadline set
  EXPECT_EQ(SteadyDeadline(context), Clock::time_point::max());
}

TEST(SteadyDeadlineTest, StatusCodesMapOneToOne) {
  EXPECT_EQ(ToGrpcStatus(Status(StatusCode::kUnauthenticated, "x")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ToGrpcStatus(Status(StatusCode::kPermissionDenied, "x")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok());
}

}  // namespace
}  // namespace protoserve
