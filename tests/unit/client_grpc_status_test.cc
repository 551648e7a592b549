// grpc::Status -> absl::Status keeps the canonical code and the message.
#include "client/cpp/grpc_status.h"

#include "gtest/gtest.h"

namespace djinn::client {
namespace {

TEST(ToAbslStatus, OkIsOk) {
  EXPECT_TRUE(ToAbslStatus(::grpc::Status::OK).ok());
}

TEST(ToAbslStatus, EveryCanonicalCodeAndMessageCarryOver) {
  for (int code = 1; code <= 16; ++code) {
    const ::grpc::Status in(static_cast<::grpc::StatusCode>(code), "message " + std::to_string(code));
    const absl::Status out = ToAbslStatus(in);
    EXPECT_EQ(static_cast<int>(out.code()), code);
    EXPECT_EQ(out.message(), "message " + std::to_string(code));
  }
}

TEST(ToAbslStatus, NamesMatchWhatDjinnctlPrints) {
  EXPECT_EQ(absl::StatusCodeToString(
                ToAbslStatus(::grpc::Status(::grpc::StatusCode::NOT_FOUND, "x")).code()),
            "NOT_FOUND");
  EXPECT_EQ(absl::StatusCodeToString(
                ToAbslStatus(::grpc::Status(::grpc::StatusCode::PERMISSION_DENIED, "x")).code()),
            "PERMISSION_DENIED");
  EXPECT_EQ(absl::StatusCodeToString(
                ToAbslStatus(::grpc::Status(::grpc::StatusCode::UNAVAILABLE, "x")).code()),
            "UNAVAILABLE");
}

TEST(ToAbslStatus, CodeOutsideTheCanonicalSpaceIsUnknown) {
  const absl::Status out =
      ToAbslStatus(::grpc::Status(static_cast<::grpc::StatusCode>(99), "odd"));
  EXPECT_EQ(out.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(out.message(), "odd");
}

}  // namespace
}  // namespace djinn::client
