#include "grpc/grpc_status.h"

#include <gtest/gtest.h>

namespace protoserve {
namespace {

TEST(SteadyDeadlineTest, NoClientDeadlineMeansTheServerDefaultOrNone) {
  grpc::ServerContext context;  // no deadline set
  EXPECT_EQ(SteadyDeadline(context, Clock::duration::zero()), Clock::time_point::max());
  const auto before = Clock::now();
  const auto deadline = SteadyDeadline(context, std::chrono::seconds(5));
  EXPECT_GE(deadline, before + std::chrono::seconds(5));
  EXPECT_LE(deadline, Clock::now() + std::chrono::seconds(5));

  const auto saved = DefaultRequestTimeoutTicks().load();
  DefaultRequestTimeoutTicks().store(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(7)).count());
  const auto before_default = Clock::now();
  const auto with_default = SteadyDeadline(context);
  EXPECT_GE(with_default, before_default + std::chrono::seconds(7));
  EXPECT_LE(with_default, Clock::now() + std::chrono::seconds(7));
  DefaultRequestTimeoutTicks().store(0);
  EXPECT_EQ(SteadyDeadline(context), Clock::time_point::max());
  DefaultRequestTimeoutTicks().store(saved);
}

TEST(SteadyDeadlineTest, StatusCodesMapOneToOne) {
  EXPECT_EQ(ToGrpcStatus(Status(StatusCode::kUnauthenticated, "x")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ToGrpcStatus(Status(StatusCode::kPermissionDenied, "x")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(ToGrpcStatus(Status::Ok()).ok());
}

}  // namespace
}  // namespace protoserve
