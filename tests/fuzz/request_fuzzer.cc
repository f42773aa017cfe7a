// request_fuzzer: libFuzzer over the service's own request conversion (service/requests.h),
// the step before the engine that command_fuzzer skips. An input's first byte picks one of
// the change methods of proto/service.proto; the rest are that method's request bytes as
// they would arrive over the wire. They are parsed as the server parses them, converted into
// the engine command, and executed by each preset role as in command_fuzzer.
//
// Aborts (a finding) on a crash, a sanitizer report, bytes that fail with anything but
// INVALID_ARGUMENT, a converted command without its body, or a refusal that wrote.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "proto/service.pb.h"
#include "service/requests.h"
#include "tests/fuzz/fuzz_world.h"

namespace {

namespace pb = ::google::protobuf;

// Every change method of the services in proto/service.proto, in declaration order.
std::vector<const pb::MethodDescriptor*> ChangeMethods() {
  std::vector<const pb::MethodDescriptor*> methods;
  const pb::FileDescriptor* file = spotflow::v1::ListOrdersRequest::descriptor()->file();
  for (int s = 0; s < file->service_count(); ++s) {
    for (int m = 0; m < file->service(s)->method_count(); ++m) {
      const pb::MethodDescriptor* method = file->service(s)->method(m);
      if (spotflow::service::IsChange(*method)) methods.push_back(method);
    }
  }
  if (methods.empty()) std::abort();
  return methods;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* world = new spotflow::fuzz::World();
  static const auto* methods = new std::vector<const pb::MethodDescriptor*>(ChangeMethods());
  if (size == 0) return 0;
  const pb::MethodDescriptor& method = *(*methods)[data[0] % methods->size()];
  pb::io::ArrayInputStream bytes(data + 1, static_cast<int>(size - 1));
  absl::StatusOr<std::unique_ptr<pb::Message>> request =
      spotflow::service::ParseRequest(method, &bytes);
  if (!request.ok()) {
    if (!absl::IsInvalidArgument(request.status())) std::abort();
    return 0;
  }
  spotflow::v1::Command command;
  if (absl::Status converted = spotflow::service::ToCommand(**request, &command); !converted.ok()) {
    if (!absl::IsInvalidArgument(converted)) std::abort();
    return 0;
  }
  if (command.command_case() == spotflow::v1::Command::COMMAND_NOT_SET) std::abort();
  world->ExecuteAsEveryone(command);
  return 0;
}
