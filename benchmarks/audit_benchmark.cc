// audit_benchmark: how fast an auditor proves and exports the log, beside the limit of
// reading it at all: a raw RocksDB iteration over the log's column family with SHA-256 of
// every record (the work a hash-chain check cannot avoid), in the same run.
//
// The log is production-order work made through the engine (creation, two script revisions
// with a change request, approval, a spot and its approval, delivery, archive), with
// incompressible text. Prints BENCH lines (benchmarks/bench_util.h):
//   audit_verify   engine::VerifyLog over the whole log, events/s
//   audit_export   engine::ExportEvents of the whole log as JSON Lines, 1 MB pages, events/s
//
//   audit_benchmark [--quick] [--only=NAME_PREFIX]
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmarks/bench_util.h"
#include "engine/audit.h"
#include "engine/engine.h"
#include "engine/presets.h"
#include "openssl/sha.h"
#include "rocksdb/db.h"
#include "store/event_store.h"
#include "store/internal/format.h"

namespace {

namespace engine = spotflow::engine;
namespace v1 = spotflow::v1;
using spotflow::bench::Check;
using spotflow::bench::Compare;
using spotflow::bench::Config;
using spotflow::bench::Die;
using spotflow::bench::Scratch;
using spotflow::bench::Seconds;

std::unique_ptr<spotflow::store::EventStore> OpenStore(const std::string& path) {
  spotflow::store::Options options;
  options.sync = false;
  auto store = spotflow::store::EventStore::Open(options, path);
  Check(store.status());
  return *std::move(store);
}

std::string Text(std::mt19937_64& random, size_t bytes) {
  static const char kLetters[] = "abcdefghijklmnopqrstuvwxyz ";
  std::string text(bytes, ' ');
  for (char& c : text) c = kLetters[random() % (sizeof(kLetters) - 1)];
  return text;
}

// Orders through the engine until the log holds at least `events` records.
void BuildLog(const std::string& path, uint64_t events) {
  auto store = OpenStore(path);
  engine::SystemClock clock;
  engine::RandomIdGenerator ids;
  auto opened = engine::Engine::Open({}, store.get(), &clock, &ids);
  Check(opened.status());
  std::unique_ptr<engine::Engine> engine = *std::move(opened);
  v1::CreateUser admin;
  admin.set_user_id("admin");
  admin.set_display_name("Admin");
  Check(engine->Bootstrap(admin).status());
  auto run = [&](const std::string& user, const v1::Command& command) {
    auto result = engine->Execute({user}, command);
    Check(result.status());
    return *result;
  };
  for (auto [id, role] :
       {std::pair{"ae", engine::kAccountExecutive}, std::pair{"producer", engine::kProducer}}) {
    v1::Command user;
    user.mutable_create_user()->set_user_id(id);
    user.mutable_create_user()->set_display_name(id);
    user.mutable_create_user()->add_roles(role);
    run("admin", user);
  }
  v1::Command client;
  client.mutable_create_client()->set_client_id("acme");
  client.mutable_create_client()->set_name("Acme Motors");
  run("ae", client);
  std::mt19937_64 random(42);
  while (store->Head().position < events) {
    v1::Command create;
    v1::CreateOrder* order = create.mutable_create_order();
    order->set_kind(v1::PRODUCTION);
    order->set_client_id("acme");
    order->set_title("Winter sales event :30");
    order->set_instructions(Text(random, 200));
    order->mutable_flight_start()->set_year(2099);
    order->mutable_flight_start()->set_month(12);
    order->mutable_flight_start()->set_day(1);
    *order->mutable_flight_end() = order->flight_start();
    order->mutable_flight_end()->set_day(31);
    const std::string id = run("ae", create).id();
    auto revision = [&](const char* artifact) {
      v1::Command c;
      c.mutable_submit_revision()->set_order_id(id);
      c.mutable_submit_revision()->set_artifact(artifact);
      if (std::string(artifact) == "script") {
        c.mutable_submit_revision()->set_text(Text(random, 300));
      } else {
        c.mutable_submit_revision()->mutable_media()->set_uri(
            absl::StrCat("s3://spots/", id, ".wav"));
      }
      run("producer", c);
    };
    auto approve = [&](const char* artifact, uint32_t n) {
      v1::Command c;
      c.mutable_approve_revision()->set_order_id(id);
      c.mutable_approve_revision()->set_artifact(artifact);
      c.mutable_approve_revision()->set_revision(n);
      run("ae", c);
    };
    revision("script");
    v1::Command changes;
    changes.mutable_request_changes()->set_order_id(id);
    changes.mutable_request_changes()->set_artifact("script");
    changes.mutable_request_changes()->set_revision(1);
    changes.mutable_request_changes()->set_comment(Text(random, 60));
    run("ae", changes);
    revision("script");
    approve("script", 2);
    revision("spot");
    approve("spot", 1);
    v1::Command deliver;
    deliver.mutable_perform_action()->set_order_id(id);
    deliver.mutable_perform_action()->set_action("deliver");
    run("producer", deliver);
    v1::Command archive;
    archive.mutable_archive_order()->set_order_id(id);
    run("ae", archive);
  }
}

// The limit: every record of the log read in order and hashed with the hash before it.
double RawIterateAndHash(const std::string& path, uint64_t total) {
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok()) Die("list");
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles, &db).ok()) Die("open");
  rocksdb::ColumnFamilyHandle* log = nullptr;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == spotflow::store::internal::kLogFamily) log = handles[i];
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t read = 0;
  rocksdb::ReadOptions read_options;
  read_options.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, log));
  unsigned char hash[SHA256_DIGEST_LENGTH] = {};
  std::string input;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice value = it->value();
    input.assign(reinterpret_cast<const char*>(hash), sizeof(hash));
    input.append(value.data(), value.size() - SHA256_DIGEST_LENGTH);
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), hash);
    ++read;
  }
  const double rate = read / Seconds(start);
  it.reset();
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  delete db;
  if (read != total) Die("the raw iteration read the wrong count");
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  const Config config = spotflow::bench::ParseFlags(argc, argv, "audit_benchmark");
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Scratch scratch;
  const std::string path = scratch.Sub("log");
  BuildLog(path, config.quick ? 50'000 : 500'000);
  uint64_t total = 0;
  {
    auto store = OpenStore(path);
    total = store->Head().position;
  }
  auto raw = [&] { return RawIterateAndHash(path, total); };
  Compare(
      config, "audit_verify", "events/s", "rocksdb_iterate_sha256",
      [&] {
        auto store = OpenStore(path);
        const auto start = std::chrono::steady_clock::now();
        auto verified = engine::VerifyLog(*store, 1, 0, nullptr);
        Check(verified.status());
        if (verified->records != total) Die("audit_verify verified the wrong count");
        return verified->records / Seconds(start);
      },
      raw);
  Compare(
      config, "audit_export", "events/s", "rocksdb_iterate_sha256",
      [&] {
        auto store = OpenStore(path);
        const auto start = std::chrono::steady_clock::now();
        engine::ExportFilter filter;
        uint64_t lines = 0;
        size_t bytes = 0;
        while (true) {
          auto page = engine::ExportEvents(*store, filter, size_t{1} << 20);
          Check(page.status());
          lines += page->lines.size();
          for (const std::string& line : page->lines) bytes += line.size() + 1;
          if (page->done) break;
          filter.from_position = page->next_position;
          filter.to_position = page->last_position;
        }
        if (lines != total) Die("audit_export exported the wrong count");
        return lines / Seconds(start);
      },
      raw);
  return 0;
}
