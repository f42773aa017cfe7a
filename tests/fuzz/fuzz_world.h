// fuzz_world.h: what the fuzz targets share: an engine over a scratch log whose state grows as
// the fuzzer goes, with a user for each preset role, and the check every fuzzed command gets.
#ifndef SPOTFLOW_TESTS_FUZZ_FUZZ_WORLD_H_
#define SPOTFLOW_TESTS_FUZZ_FUZZ_WORLD_H_

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/presets.h"
#include "google/protobuf/stubs/logging.h"
#include "store/event_store.h"

namespace spotflow::fuzz {

namespace v1 = ::spotflow::v1;
namespace engine = ::spotflow::engine;

class FixedClock final : public engine::Clock {
 public:
  absl::Time Now() override { return absl::FromUnixSeconds(1'795'000'000); }
};

class World {
 public:
  World() {
    // Most inputs are not valid protobuf; libprotobuf would log each, drowning the run's output.
    google::protobuf::SetLogHandler(nullptr);
    char pattern[] = "/tmp/spotflow-fuzz-XXXXXX";
    dir_ = mkdtemp(pattern);
    store::Options options;
    options.sync = false;
    store_ = *store::EventStore::Open(options, dir_ + "/log");
    engine_ = *engine::Engine::Open({}, store_.get(), &clock_, &ids_);
    v1::CreateUser admin;
    admin.set_user_id("admin");
    admin.set_display_name("Admin");
    (void)engine_->Bootstrap(admin);
    for (const char* role : {engine::kAccountExecutive, engine::kSalesAssistant,
                             engine::kSalesManager, engine::kProducer}) {
      v1::Command user;
      user.mutable_create_user()->set_user_id(role);
      user.mutable_create_user()->set_display_name(role);
      user.mutable_create_user()->add_roles(role);
      (void)engine_->Execute({"admin"}, user);
    }
    v1::Command client;
    client.mutable_create_client()->set_client_id("acme");
    client.mutable_create_client()->set_name("Acme");
    (void)engine_->Execute({engine::kAccountExecutive}, client);
  }
  ~World() {
    engine_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Executes `command` as each preset role, an administrator and an unknown user. Aborts, so
  // the fuzzer reports the input, if a refusal or a preview (validate_only) wrote to the log or
  // changed the projections.
  void ExecuteAsEveryone(const v1::Command& command) {
    // The whole projected state is hashed on every 16th input only: it grows with the run.
    const bool check_state = ++inputs_ % 16 == 0;
    for (const char* user : {"admin", engine::kAccountExecutive, engine::kSalesAssistant,
                             engine::kSalesManager, engine::kProducer, "nobody"}) {
      const uint64_t head = store_->Head().position;
      const uint64_t projected = engine_->position();
      const std::string digest = check_state ? engine_->StateDigest() : std::string();
      absl::StatusOr<v1::CommandResult> result = engine_->Execute({user}, command);
      if (result.ok() && !command.validate_only()) continue;
      if (store_->Head().position != head || engine_->position() != projected) {
        std::abort();  // A refused command, or a preview, wrote to the log.
      }
      if (check_state && engine_->StateDigest() != digest) {
        std::abort();  // A refused command, or a preview, changed the projections.
      }
    }
  }

 private:
  std::string dir_;
  FixedClock clock_;
  engine::SequentialIdGenerator ids_;
  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<engine::Engine> engine_;
  uint64_t inputs_ = 0;
};

}  // namespace spotflow::fuzz

#endif  // SPOTFLOW_TESTS_FUZZ_FUZZ_WORLD_H_
