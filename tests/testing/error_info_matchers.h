// error_info_matchers.h: a GoogleTest matcher for the ErrorInfo a refusal carries
// (engine/errors.h).
//
//   EXPECT_THAT(Reject(kAe, update),
//               HasErrorInfo("ETAG_MISMATCH", UnorderedElementsAre(Pair("etag", "4"), ...)));
#ifndef SPOTFLOW_TESTS_TESTING_ERROR_INFO_MATCHERS_H_
#define SPOTFLOW_TESTS_TESTING_ERROR_INFO_MATCHERS_H_

#include <map>
#include <optional>
#include <string>

#include "engine/errors.h"
#include "gmock/gmock.h"
#include "tests/testing/status_matchers.h"

namespace spotflow::testing {

// An ErrorInfo's metadata, as the matcher below gives it to its metadata matcher.
using ErrorMetadata = std::map<std::string, std::string>;

// A Status or StatusOr carrying an ErrorInfo of `reason`, in Spotflow's domain, whose metadata
// (an ErrorMetadata) matches `metadata_matcher`.
MATCHER_P2(HasErrorInfo, reason, metadata_matcher,
           std::string("carries ErrorInfo ") + reason + " with metadata " +
               ::testing::DescribeMatcher<ErrorMetadata>(metadata_matcher)) {
  const std::optional<v1::ErrorInfo> info =
      ::spotflow::engine::ErrorInfoOf(::spotflow::testing::GetStatus(arg));
  if (!info.has_value()) {
    *result_listener << "carries no ErrorInfo";
    return false;
  }
  const ErrorMetadata metadata(info->metadata().begin(), info->metadata().end());
  *result_listener << "carries ErrorInfo " << info->reason() << " (domain " << info->domain()
                   << ")";
  return info->reason() == reason && info->domain() == ::spotflow::engine::kErrorDomain &&
         ::testing::ExplainMatchResult(metadata_matcher, metadata, result_listener);
}

}  // namespace spotflow::testing

#endif  // SPOTFLOW_TESTS_TESTING_ERROR_INFO_MATCHERS_H_
