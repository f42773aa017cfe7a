#include "service/status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/errors.h"

namespace spotflow::service {
namespace {

// The bytes `c` takes in the grpc-message trailer, which percent-encodes every byte but
// printable ASCII (and '%' itself).
size_t EncodedSize(char c) { return c >= 0x20 && c <= 0x7e && c != '%' ? 1 : 3; }

size_t EncodedSize(absl::string_view message) {
  size_t size = 0;
  for (const char c : message) size += EncodedSize(c);
  return size;
}

// `message`, cut to at most kMaxMessageBytes once encoded, at a character's start.
std::string Bounded(absl::string_view message) {
  if (EncodedSize(message) <= kMaxMessageBytes) return std::string(message);
  constexpr size_t kRoom = kMaxMessageBytes - 64;  // For the note of what was cut.
  size_t kept = 0, size = 0;
  while (kept < message.size()) {
    const size_t next = EncodedSize(message[kept]);
    if (size + next > kRoom) break;
    size += next;
    ++kept;
  }
  // Not in the middle of a UTF-8 character: back to the byte that starts it.
  while (kept > 0 && (static_cast<unsigned char>(message[kept]) & 0xc0) == 0x80) --kept;
  return absl::StrCat(message.substr(0, kept), "... (", message.size() - kept,
                      " bytes of this message left out)");
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  int code = static_cast<int>(status.code());
  // absl and gRPC share the canonical codes 1-16.
  if (code < 1 || code > 16) code = grpc::StatusCode::INTERNAL;
  std::string message = Bounded(status.message());
  std::optional<v1::ErrorInfo> info = engine::ErrorInfoOf(status);
  if (!info.has_value()) return grpc::Status(static_cast<grpc::StatusCode>(code), message);
  v1::RpcStatus details;
  details.set_code(code);
  details.set_message(message);  // The same as the call's: clients check that they agree.
  google::protobuf::Any* any = details.add_details();
  any->set_type_url(std::string(engine::kErrorInfoTypeUrl));
  any->set_value(info->SerializeAsString());
  std::string serialized = details.SerializeAsString();
  // Too much to go with the message (the trailer is base64): the message alone, which says it
  // all to a person, rather than a trailer the client would refuse.
  if (serialized.size() > kMaxDetailsBytes) serialized.clear();
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::move(message),
                      std::move(serialized));
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
