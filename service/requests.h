// requests.h: what the service does to a request's bytes before the engine sees them, with no
// gRPC involved: parse them as the method's request, and turn a change request into the engine
// command of the same name. The server (server.cc) and the request fuzzer
// (tests/fuzz/request_fuzzer.cc) share it. Thread-safe.
#ifndef SPOTFLOW_SERVICE_REQUESTS_H_
#define SPOTFLOW_SERVICE_REQUESTS_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "google/protobuf/message.h"
#include "proto/commands.pb.h"

namespace spotflow::service {

// `method`'s request, parsed from `bytes`; INVALID_ARGUMENT naming the request type when they
// do not parse (gRPC's own parsing would answer UNIMPLEMENTED with no message).
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> ParseRequest(
    const google::protobuf::MethodDescriptor& method,
    google::protobuf::io::ZeroCopyInputStream* bytes);

// Whether `method` is a change: a unary method answered with a CommandResult, whose request
// carries the command as `body` (field 1), then `etag` (2), `request_id` (3), for Update
// methods `update_mask` (4), and `validate_only` (5). Every change goes to the engine through
// ToCommand.
bool IsChange(const google::protobuf::MethodDescriptor& method);

// The engine command a change request carries: its body as the Command field of the same name,
// its etag, request id and validate_only. An update mask clears the body's fields outside it,
// except the identifying first field. INVALID_ARGUMENT when the body is missing or the mask
// names a field the body does not have; INTERNAL when the request's body names no command.
absl::Status ToCommand(const google::protobuf::Message& request, v1::Command* command);

}  // namespace spotflow::service

#endif  // SPOTFLOW_SERVICE_REQUESTS_H_
