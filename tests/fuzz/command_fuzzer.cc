// command_fuzzer: libFuzzer over command decoding and validation. Each input is taken as the
// bytes of a spotflow.v1.Command (as they would arrive over the wire), decoded, and executed
// by each of the preset roles against an engine whose state grows as the fuzzer goes. The
// engine must never crash, and a refused command must never write nor change the
// projections.
//
// Built with clang and -fsanitize=fuzzer,address by scripts/fuzz.sh (SPOTFLOW_FUZZ=ON).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* world = new spotflow::fuzz::World();
  spotflow::v1::Command command;
  if (!command.ParseFromArray(data, static_cast<int>(size))) return 0;
  world->ExecuteAsEveryone(command);
  return 0;
}
