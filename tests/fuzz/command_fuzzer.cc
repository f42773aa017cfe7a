// command_fuzzer: libFuzzer over command decoding and validation. Each input is taken as the
// bytes of a spotflow.v1.Command (as they would arrive over the wire), decoded, and executed
// by each of the preset roles against an engine whose state grows as the fuzzer goes. The
// engine must never crash, and a refused command must never write nor change the
// projections.
//
// Built with clang and -fsanitize=fuzzer,address by scripts/fuzz.sh (SPOTFLOW_FUZZ=ON).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/presets.h"
#include "google/protobuf/stubs/logging.h"
#include "store/event_store.h"

namespace {

namespace v1 = spotflow::v1;
namespace engine = spotflow::engine;

class FixedClock final : public engine::Clock {
 public:
  absl::Time Now() override { return absl::FromUnixSeconds(1'795'000'000); }
};

struct World {
  std::string dir;
  FixedClock clock;
  engine::SequentialIdGenerator ids;
  std::unique_ptr<spotflow::store::EventStore> store;
  std::unique_ptr<engine::Engine> engine;

  World() {
    // Most inputs are not valid protobuf; libprotobuf would log each, drowning the run's output.
    google::protobuf::SetLogHandler(nullptr);
    char pattern[] = "/tmp/spotflow-fuzz-XXXXXX";
    dir = mkdtemp(pattern);
    spotflow::store::Options options;
    options.sync = false;
    store = *spotflow::store::EventStore::Open(options, dir + "/log");
    engine = *engine::Engine::Open({}, store.get(), &clock, &ids);
    v1::CreateUser admin;
    admin.set_user_id("admin");
    admin.set_display_name("Admin");
    (void)engine->Bootstrap(admin);
    for (const char* role : {engine::kAccountExecutive, engine::kSalesAssistant,
                             engine::kSalesManager, engine::kProducer}) {
      v1::Command user;
      user.mutable_create_user()->set_user_id(role);
      user.mutable_create_user()->set_display_name(role);
      user.mutable_create_user()->add_roles(role);
      (void)engine->Execute({"admin"}, user);
    }
    v1::Command client;
    client.mutable_create_client()->set_client_id("acme");
    client.mutable_create_client()->set_name("Acme");
    (void)engine->Execute({engine::kAccountExecutive}, client);
  }
  ~World() {
    engine.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  v1::Command command;
  if (!command.ParseFromArray(data, static_cast<int>(size))) return 0;
  // The whole projected state is hashed on every 16th input only: it grows with the run.
  static uint64_t inputs = 0;
  const bool check_state = ++inputs % 16 == 0;
  for (const char* user : {"admin", engine::kAccountExecutive, engine::kSalesAssistant,
                           engine::kSalesManager, engine::kProducer, "nobody"}) {
    const uint64_t head = world->store->Head().position;
    const uint64_t projected = world->engine->position();
    const std::string digest = check_state ? world->engine->StateDigest() : std::string();
    absl::StatusOr<v1::CommandResult> result = world->engine->Execute({user}, command);
    if (result.ok()) continue;
    if (world->store->Head().position != head || world->engine->position() != projected) {
      std::abort();  // A refused command wrote to the log.
    }
    if (check_state && world->engine->StateDigest() != digest) {
      std::abort();  // A refused command changed the projections.
    }
  }
  return 0;
}
