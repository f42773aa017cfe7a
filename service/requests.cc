#include "service/requests.h"

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/field_mask.pb.h"

namespace spotflow::service {

namespace pb = ::google::protobuf;

absl::StatusOr<std::unique_ptr<pb::Message>> ParseRequest(const pb::MethodDescriptor& method,
                                                          pb::io::ZeroCopyInputStream* bytes) {
  const pb::Message* prototype =
      pb::MessageFactory::generated_factory()->GetPrototype(method.input_type());
  if (prototype == nullptr) {
    return absl::InternalError(
        absl::StrCat(method.input_type()->full_name(), " has no generated message"));
  }
  std::unique_ptr<pb::Message> request(prototype->New());
  if (!request->ParseFromZeroCopyStream(bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("the request is not a valid ",
                                                   method.input_type()->full_name(),
                                                   ": its bytes do not parse"));
  }
  return request;
}

bool IsChange(const pb::MethodDescriptor& method) {
  return !method.client_streaming() && !method.server_streaming() &&
         method.output_type() == v1::CommandResult::descriptor();
}

absl::Status ToCommand(const pb::Message& request, v1::Command* command) {
  const pb::Descriptor* descriptor = request.GetDescriptor();
  const pb::Reflection* reflection = request.GetReflection();
  const pb::FieldDescriptor* body = descriptor->FindFieldByNumber(1);
  const pb::FieldDescriptor* etag = descriptor->FindFieldByNumber(2);
  const pb::FieldDescriptor* request_id = descriptor->FindFieldByNumber(3);
  const pb::FieldDescriptor* validate_only = descriptor->FindFieldByNumber(5);
  const pb::FieldDescriptor* target =
      body == nullptr ? nullptr : v1::Command::descriptor()->FindFieldByName(body->name());
  if (target == nullptr || target->message_type() != body->message_type() || etag == nullptr ||
      etag->cpp_type() != pb::FieldDescriptor::CPPTYPE_UINT64 || request_id == nullptr ||
      request_id->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING || validate_only == nullptr ||
      validate_only->cpp_type() != pb::FieldDescriptor::CPPTYPE_BOOL) {
    return absl::InternalError(absl::StrCat(descriptor->full_name(), " maps to no command"));
  }
  if (!reflection->HasField(request, body)) {
    return absl::InvalidArgumentError(
        absl::StrCat(descriptor->name(), ".", body->name(), " is required"));
  }
  pb::Message* command_body = command->GetReflection()->MutableMessage(command, target);
  command_body->CopyFrom(reflection->GetMessage(request, body));
  // Update methods (AIP-134): without a mask, or with an empty one, the body's set fields
  // change; with a mask, exactly its fields change ("*": every field), and a field it names
  // that the body leaves unset is cleared (the engine refuses to clear what is required).
  const pb::FieldDescriptor* mask = descriptor->FindFieldByNumber(4);
  const bool masked =
      mask != nullptr && mask->name() == "update_mask" && reflection->HasField(request, mask);
  const pb::Descriptor* body_type = command_body->GetDescriptor();
  const pb::Reflection* body_reflection = command_body->GetReflection();
  // A body with a mask of its own (UpdateContact) gets the request's mask handed on: its fields
  // have no presence, so only the engine, which knows their current values, can keep the ones
  // the mask leaves out.
  const pb::FieldDescriptor* body_mask = body_type->FindFieldByName("update_mask");
  if (masked && body_mask != nullptr && body_mask->message_type() == pb::FieldMask::descriptor()) {
    if (body_reflection->HasField(*command_body, body_mask)) {
      return absl::InvalidArgumentError(absl::StrCat("give the mask once: update_mask or ",
                                                     body->name(), ".update_mask, not both"));
    }
    body_reflection->MutableMessage(command_body, body_mask)
        ->CopyFrom(reflection->GetMessage(request, mask));
  } else if (masked) {
    const auto& paths =
        static_cast<const pb::FieldMask&>(reflection->GetMessage(request, mask)).paths();
    const bool all = paths.size() == 1 && paths[0] == "*";
    for (const std::string& path : paths) {
      if (all) break;
      if (path == "*") {
        return absl::InvalidArgumentError("update_mask \"*\" stands alone: it names every field");
      }
      const pb::FieldDescriptor* field = body_type->FindFieldByName(path);
      if (field == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("update_mask names \"", path, "\", which ",
                                                       body_type->name(), " does not have"));
      }
      if (field->index() == 0 && absl::EndsWith(field->name(), "_id")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "update_mask names \"", path, "\", which says what to update; it cannot change"));
      }
    }
    for (int i = 0; i < body_type->field_count(); ++i) {
      const pb::FieldDescriptor* field = body_type->field(i);
      if (i == 0 && absl::EndsWith(field->name(), "_id")) continue;  // What to update.
      const bool named = all || std::find(paths.begin(), paths.end(), field->name()) != paths.end();
      if (!named && !paths.empty()) {
        body_reflection->ClearField(command_body, field);
      } else if (named && field->has_presence() &&
                 !body_reflection->HasField(*command_body, field)) {
        // Named but unset: cleared, i.e. set to its empty value, which the engine then sees.
        switch (field->cpp_type()) {
          case pb::FieldDescriptor::CPPTYPE_STRING:
            body_reflection->SetString(command_body, field, "");
            break;
          case pb::FieldDescriptor::CPPTYPE_UINT32:
            body_reflection->SetUInt32(command_body, field, 0);
            break;
          case pb::FieldDescriptor::CPPTYPE_UINT64:
            body_reflection->SetUInt64(command_body, field, 0);
            break;
          case pb::FieldDescriptor::CPPTYPE_INT32:
            body_reflection->SetInt32(command_body, field, 0);
            break;
          case pb::FieldDescriptor::CPPTYPE_INT64:
            body_reflection->SetInt64(command_body, field, 0);
            break;
          case pb::FieldDescriptor::CPPTYPE_BOOL:
            body_reflection->SetBool(command_body, field, false);
            break;
          case pb::FieldDescriptor::CPPTYPE_MESSAGE:
            body_reflection->MutableMessage(command_body, field);
            break;
          default:
            return absl::InvalidArgumentError(absl::StrCat("update_mask names \"", field->name(),
                                                           "\", which cannot be cleared; "
                                                           "give its new value"));
        }
      }
    }
  }
  if (reflection->HasField(request, etag)) {
    command->set_etag(reflection->GetUInt64(request, etag));
  }
  command->set_request_id(reflection->GetString(request, request_id));
  command->set_validate_only(reflection->GetBool(request, validate_only));
  return absl::OkStatus();
}

}  // namespace spotflow::service
