// status.h: the one place absl::Status becomes grpc::Status (DESIGN.md §5), and back.
// Thread-safe.
#ifndef SPOTFLOW_SERVICE_STATUS_H_
#define SPOTFLOW_SERVICE_STATUS_H_

#include <optional>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"
#include "proto/error.pb.h"

namespace spotflow::service {

// Same code, same message. Codes gRPC does not share with absl map to INTERNAL. A status that
// carries an ErrorInfo (engine/errors.h) sends it in the call's error details
// (`grpc-status-details-bin`: a google.rpc.Status, proto/error.proto).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The reverse, for clients (the CLI) that report what the server said; the ErrorInfo too.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The ErrorInfo in a call's error details, if the server sent one.
std::optional<v1::ErrorInfo> ErrorInfoOf(const grpc::Status& status);

}  // namespace spotflow::service

#endif  // SPOTFLOW_SERVICE_STATUS_H_
