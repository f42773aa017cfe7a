#include "service/status.h"

#include <string>

#include "engine/errors.h"

namespace spotflow::service {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  int code = static_cast<int>(status.code());
  // absl and gRPC share the canonical codes 1-16.
  if (code < 1 || code > 16) code = grpc::StatusCode::INTERNAL;
  std::string message(status.message());
  std::optional<v1::ErrorInfo> info = engine::ErrorInfoOf(status);
  if (!info.has_value()) return grpc::Status(static_cast<grpc::StatusCode>(code), message);
  v1::RpcStatus details;
  details.set_code(code);
  details.set_message(message);
  google::protobuf::Any* any = details.add_details();
  any->set_type_url(std::string(engine::kErrorInfoTypeUrl));
  any->set_value(info->SerializeAsString());
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::move(message),
                      details.SerializeAsString());
}

std::optional<v1::ErrorInfo> ErrorInfoOf(const grpc::Status& status) {
  if (status.ok() || status.error_details().empty()) return std::nullopt;
  v1::RpcStatus details;
  if (!details.ParseFromString(status.error_details())) return std::nullopt;
  for (const google::protobuf::Any& any : details.details()) {
    v1::ErrorInfo info;
    if (any.type_url() == engine::kErrorInfoTypeUrl && info.ParseFromString(any.value())) {
      return info;
    }
  }
  return std::nullopt;
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status converted(static_cast<absl::StatusCode>(status.error_code()),
                         status.error_message());
  if (std::optional<v1::ErrorInfo> info = ErrorInfoOf(status); info.has_value()) {
    converted.SetPayload(engine::kErrorInfoTypeUrl, absl::Cord(info->SerializeAsString()));
  }
  return converted;
}

}  // namespace spotflow::service
