// status_matchers.h: GoogleTest matchers for absl::Status and absl::StatusOr, which Debian
// 12's Abseil does not ship.
//
//   EXPECT_OK(store->SaveCheckpoint("projector", 7));
//   ASSERT_OK_AND_ASSIGN(AppendResult result, store->Append(std::move(request)));
//   EXPECT_THAT(store->Append(bad), StatusIs(absl::StatusCode::kAborted, HasSubstr("stream")));
#ifndef SPOTFLOW_TESTS_TESTING_STATUS_MATCHERS_H_
#define SPOTFLOW_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace spotflow::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches a Status or StatusOr whose code is `code` and whose message matches `message`.
MATCHER_P2(StatusIs, code, message_matcher,
           ::testing::PrintToString(code) + " with message " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  const absl::Status& status = ::spotflow::testing::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

// StatusIs(code): any message.
MATCHER_P(StatusIs, code, ::testing::PrintToString(code)) {
  const absl::Status& status = ::spotflow::testing::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = ::spotflow::testing::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.ok();
}

}  // namespace spotflow::testing

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::spotflow::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::spotflow::testing::IsOk())

#define SPOTFLOW_MATCHERS_CONCAT_INNER(a, b) a##b
#define SPOTFLOW_MATCHERS_CONCAT(a, b) SPOTFLOW_MATCHERS_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  SPOTFLOW_ASSERT_OK_AND_ASSIGN_IMPL(SPOTFLOW_MATCHERS_CONCAT(statusor_, __LINE__), lhs, rexpr)
#define SPOTFLOW_ASSERT_OK_AND_ASSIGN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                       \
  ASSERT_TRUE(statusor.ok()) << statusor.status();               \
  lhs = *std::move(statusor)

#endif  // SPOTFLOW_TESTS_TESTING_STATUS_MATCHERS_H_
