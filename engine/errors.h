// errors.h: the reasons a refusal gives to programs (proto/error.proto), beside the message a
// person reads. The engine attaches an ErrorInfo to the refusals a caller may want to act on
// without parsing text; the service sends it on in the call's error details.
//
//   absl::StatusOr<engine::Result> done = engine->Execute(actor, command);
//   std::optional<v1::ErrorInfo> info = engine::ErrorInfoOf(done.status());
//   if (info && info->reason() == engine::kEtagMismatch) { /* read again, then retry */ }
#ifndef SPOTFLOW_ENGINE_ERRORS_H_
#define SPOTFLOW_ENGINE_ERRORS_H_

#include <initializer_list>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/error.pb.h"

namespace spotflow::engine {

// ErrorInfo.domain of every reason below.
inline constexpr absl::string_view kErrorDomain = "spotflow";
// The payload URL under which an absl::Status carries its ErrorInfo, which is also the type URL
// of the google.protobuf.Any that holds it in a google.rpc.Status.
inline constexpr absl::string_view kErrorInfoTypeUrl = "type.googleapis.com/google.rpc.ErrorInfo";

// The reasons, with their codes and metadata as proto/error.proto lists them.
inline constexpr absl::string_view kEtagMismatch = "ETAG_MISMATCH";
inline constexpr absl::string_view kDefinitionChanged = "DEFINITION_CHANGED";
inline constexpr absl::string_view kActionNotOpen = "ACTION_NOT_OPEN";
inline constexpr absl::string_view kEndLoginRequired = "END_LOGIN_REQUIRED";
inline constexpr absl::string_view kInvalidField = "INVALID_FIELD";
inline constexpr absl::string_view kMissingFields = "MISSING_FIELDS";

// `status` carrying an ErrorInfo of `reason` and `metadata` (domain kErrorDomain). An OK status
// stays OK: it carries no payload.
absl::Status WithErrorInfo(
    absl::Status status, absl::string_view reason,
    std::initializer_list<std::pair<absl::string_view, absl::string_view>> metadata = {});

// `status` carrying the ErrorInfo `from` carries, if any: for a refusal that words another anew.
absl::Status WithErrorInfoOf(absl::Status status, const absl::Status& from);

// The ErrorInfo `status` carries, if any.
std::optional<v1::ErrorInfo> ErrorInfoOf(const absl::Status& status);

}  // namespace spotflow::engine

#endif  // SPOTFLOW_ENGINE_ERRORS_H_
