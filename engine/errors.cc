#include "engine/errors.h"

#include <string>

#include "absl/strings/cord.h"

namespace spotflow::engine {

absl::Status WithErrorInfo(
    absl::Status status, absl::string_view reason,
    std::initializer_list<std::pair<absl::string_view, absl::string_view>> metadata) {
  if (status.ok()) return status;
  v1::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(kErrorDomain));
  for (const auto& [key, value] : metadata) {
    (*info.mutable_metadata())[std::string(key)] = std::string(value);
  }
  status.SetPayload(kErrorInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

absl::Status WithErrorInfoOf(absl::Status status, const absl::Status& from) {
  const auto payload = from.GetPayload(kErrorInfoTypeUrl);
  if (!status.ok() && payload.has_value()) status.SetPayload(kErrorInfoTypeUrl, *payload);
  return status;
}

std::optional<v1::ErrorInfo> ErrorInfoOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kErrorInfoTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  v1::ErrorInfo info;
  if (!info.ParseFromString(std::string(*payload))) return std::nullopt;
  return info;
}

}  // namespace spotflow::engine
