// status.h: the one place absl::Status becomes grpc::Status (DESIGN.md §5), and back.
// Thread-safe.
#ifndef SPOTFLOW_SERVICE_STATUS_H_
#define SPOTFLOW_SERVICE_STATUS_H_

#include <cstddef>
#include <optional>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"
#include "proto/error.pb.h"

namespace spotflow::service {

// The trailers of a refused call must fit the 8 KiB of metadata gRPC's clients accept by
// default, or the client hears RESOURCE_EXHAUSTED instead of the refusal: the message takes
// at most kMaxMessageBytes once percent-encoded (grpc-message), the details at most
// kMaxDetailsBytes before base64 (grpc-status-details-bin; 4 KiB after).
inline constexpr size_t kMaxMessageBytes = 2048;
inline constexpr size_t kMaxDetailsBytes = 3072;

// Same code, same message (a longer one cut to kMaxMessageBytes, saying so). Codes gRPC does
// not share with absl map to INTERNAL. A status that carries an ErrorInfo (engine/errors.h)
// sends it in the call's error details (`grpc-status-details-bin`: a google.rpc.Status,
// proto/error.proto), unless they would take more than kMaxDetailsBytes.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The reverse, for clients (the CLI) that report what the server said; the ErrorInfo too.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The ErrorInfo in a call's error details, if the server sent one.
std::optional<v1::ErrorInfo> ErrorInfoOf(const grpc::Status& status);

}  // namespace spotflow::service

#endif  // SPOTFLOW_SERVICE_STATUS_H_
