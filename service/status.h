// status.h: the one place absl::Status becomes grpc::Status (DESIGN.md §5). Thread-safe.
#ifndef SPOTFLOW_SERVICE_STATUS_H_
#define SPOTFLOW_SERVICE_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace spotflow::service {

// Same code, same message. Codes gRPC does not share with absl map to INTERNAL.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The reverse, for clients (the CLI) that report what the server said.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace spotflow::service

#endif  // SPOTFLOW_SERVICE_STATUS_H_
