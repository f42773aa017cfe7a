// engine_benchmark: the engine beside the store it runs on, in one run.
//   engine_replay: rebuilding every projection from a log of production-order work (orders,
//     script and spot revisions, reviews, client answers, flight changes, deliveries,
//     archives), events/s, beside the store's own read rate (ScanAll) over the same log.
//   engine_commands_sync_64: commands executed in process (decide, durable append, project)
//     from 64 threads, commands/s, beside durable single-event store appends from 64 threads.
//   engine_list_by_client: first pages of one client's orders (1 account in 50), pages/s,
//     beside first pages of every order: what a filter costs beyond the page it returns.
// Prints BENCH lines (benchmarks/bench_util.h); medians of alternating runs.
//
//   engine_benchmark [--quick] [--only=NAME_PREFIX]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "benchmarks/bench_util.h"
#include "engine/engine.h"
#include "engine/presets.h"
#include "store/event_store.h"

namespace {

namespace engine = spotflow::engine;
namespace store = spotflow::store;
namespace v1 = spotflow::v1;
using spotflow::bench::Check;
using spotflow::bench::Compare;
using spotflow::bench::Config;
using spotflow::bench::Die;
using spotflow::bench::Payloads;
using spotflow::bench::Scratch;
using spotflow::bench::Seconds;
using spotflow::bench::TextPayloads;

// A clock that moves a second per reading: events spread over days, as real work does.
class SteppingClock final : public engine::Clock {
 public:
  absl::Time Now() override {
    return absl::FromUnixSeconds(1'790'000'000 + ticks_.fetch_add(1, std::memory_order_relaxed));
  }

 private:
  std::atomic<int64_t> ticks_{0};
};

std::unique_ptr<store::EventStore> OpenStore(const std::string& path, bool sync) {
  store::Options options;
  options.sync = sync;
  auto opened = store::EventStore::Open(options, path);
  Check(opened.status());
  return *std::move(opened);
}

void Execute(engine::Engine* e, const std::string& user, const v1::Command& command) {
  Check(e->Execute({user}, command).status());
}

// The people and accounts every scenario uses: admin, a manager, and per worker an AE, a
// producer and a client with a contact.
void SetUpCast(engine::Engine* e, int workers) {
  v1::CreateUser admin;
  admin.set_user_id("admin");
  admin.set_display_name("Admin");
  Check(e->Bootstrap(admin).status());
  auto user = [&](const std::string& id, const char* role) {
    v1::Command command;
    command.mutable_create_user()->set_user_id(id);
    command.mutable_create_user()->set_display_name(id);
    command.mutable_create_user()->add_roles(role);
    Execute(e, "admin", command);
  };
  user("manager", engine::kSalesManager);
  for (int w = 0; w < workers; ++w) {
    user(absl::StrCat("ae", w), engine::kAccountExecutive);
    user(absl::StrCat("producer", w), engine::kProducer);
    v1::Command client;
    client.mutable_create_client()->set_client_id(absl::StrCat("client", w));
    client.mutable_create_client()->set_name(absl::StrCat("Client ", w));
    Execute(e, absl::StrCat("ae", w), client);
    v1::Command contact;
    contact.mutable_add_contact()->set_client_id(absl::StrCat("client", w));
    contact.mutable_add_contact()->mutable_contact()->set_contact_id("contact");
    contact.mutable_add_contact()->mutable_contact()->set_name("Contact");
    Execute(e, absl::StrCat("ae", w), contact);
  }
}

// One production order from creation to archive, by worker `w`'s AE and producer: 13
// commands, one event each. Script and media text come from `payloads` (incompressible).
void OrderLifecycle(engine::Engine* e, int w, TextPayloads& payloads) {
  const std::string ae = absl::StrCat("ae", w);
  const std::string producer = absl::StrCat("producer", w);
  v1::Command create;
  v1::CreateOrder* order = create.mutable_create_order();
  order->set_kind(v1::PRODUCTION);
  order->set_client_id(absl::StrCat("client", w));
  order->set_title("Winter sales event :30");
  order->set_instructions(payloads.Next());
  order->set_spot_length_seconds(30);
  order->mutable_flight_start()->set_year(2026);
  order->mutable_flight_start()->set_month(12);
  order->mutable_flight_start()->set_day(1);
  order->mutable_flight_end()->set_year(2026);
  order->mutable_flight_end()->set_month(12);
  order->mutable_flight_end()->set_day(31);
  auto created = e->Execute({ae}, create);
  Check(created.status());
  const std::string id = created->id();
  auto revision = [&](const char* artifact) {
    v1::Command command;
    command.mutable_submit_revision()->set_order_id(id);
    command.mutable_submit_revision()->set_artifact(artifact);
    if (std::string(artifact) == "script") {
      command.mutable_submit_revision()->set_text(payloads.Next());
    } else {
      command.mutable_submit_revision()->mutable_media()->set_uri(
          absl::StrCat("s3://spots/", id, "/", payloads.Next().size()));
      command.mutable_submit_revision()->mutable_media()->set_duration_ms(30000);
    }
    command.mutable_submit_revision()->set_change_note("revision");
    Execute(e, producer, command);
  };
  auto review = [&](const char* artifact, uint32_t number, const char* kind) {
    v1::Command command;
    const std::string k = kind;
    if (k == "approve") {
      command.mutable_approve_revision()->set_order_id(id);
      command.mutable_approve_revision()->set_artifact(artifact);
      command.mutable_approve_revision()->set_revision(number);
    } else if (k == "changes") {
      command.mutable_request_changes()->set_order_id(id);
      command.mutable_request_changes()->set_artifact(artifact);
      command.mutable_request_changes()->set_revision(number);
      command.mutable_request_changes()->set_comment("Lead with the offer");
    } else if (k == "forward") {
      command.mutable_forward_to_client()->set_order_id(id);
      command.mutable_forward_to_client()->set_artifact(artifact);
      command.mutable_forward_to_client()->set_revision(number);
      command.mutable_forward_to_client()->set_contact_id("contact");
    } else {
      command.mutable_record_client_answer()->set_order_id(id);
      command.mutable_record_client_answer()->set_artifact(artifact);
      command.mutable_record_client_answer()->set_revision(number);
      command.mutable_record_client_answer()->set_contact_id("contact");
      command.mutable_record_client_answer()->set_approved(true);
    }
    Execute(e, ae, command);
  };
  revision("script");
  review("script", 1, "changes");
  revision("script");
  review("script", 2, "forward");
  review("script", 2, "client");
  revision("spot");
  review("spot", 1, "approve");
  v1::Command flight;
  flight.mutable_request_flight_change()->set_order_id(id);
  *flight.mutable_request_flight_change()->mutable_new_start() = order->flight_start();
  *flight.mutable_request_flight_change()->mutable_new_end() = order->flight_end();
  flight.mutable_request_flight_change()->mutable_new_end()->set_day(20);
  auto requested = e->Execute({ae}, flight);
  Check(requested.status());
  v1::Command decide;
  decide.mutable_decide_flight_change()->set_order_id(id);
  decide.mutable_decide_flight_change()->set_request_id(requested->sub_id());
  decide.mutable_decide_flight_change()->set_approved(true);
  Execute(e, "manager", decide);
  v1::Command deliver;
  deliver.mutable_perform_action()->set_order_id(id);
  deliver.mutable_perform_action()->set_action("deliver");
  Execute(e, producer, deliver);
  v1::Command archive;
  archive.mutable_archive_order()->set_order_id(id);
  Execute(e, ae, archive);
}

void Replay(const Config& config) {
  if (!config.Wants("engine_replay")) return;
  const uint64_t target = config.quick ? 100'000 : 1'000'000;
  Scratch scratch;
  const std::string path = scratch.Sub("db");
  SteppingClock clock;
  engine::RandomIdGenerator ids;
  {
    std::unique_ptr<store::EventStore> s = OpenStore(path, /*sync=*/false);
    auto built = engine::Engine::Open({}, s.get(), &clock, &ids);
    Check(built.status());
    constexpr int kAccounts = 50;
    SetUpCast(built->get(), kAccounts);
    TextPayloads payloads(42);
    for (int i = 0; s->Head().position < target; ++i) {
      OrderLifecycle(built->get(), i % kAccounts, payloads);
    }
  }
  std::unique_ptr<store::EventStore> s = OpenStore(path, /*sync=*/false);
  const uint64_t total = s->Head().position;
  auto replay = [&] {
    const auto start = std::chrono::steady_clock::now();
    auto rebuilt = engine::Engine::Open({}, s.get(), &clock, &ids);
    Check(rebuilt.status());
    const double rate = total / Seconds(start);
    if ((*rebuilt)->position() != total) Die("engine_replay stopped short");
    return rate;
  };
  auto scan = [&] {
    const auto start = std::chrono::steady_clock::now();
    uint64_t read = 0;
    Check(s->ScanAll(1, 0, [&read](const v1::EventRecord&) {
      ++read;
      return absl::OkStatus();
    }));
    if (read != total) Die("the scan read the wrong count");
    return read / Seconds(start);
  };
  Compare(config, "engine_replay", "events/s", "store_scan_all", replay, scan);
}

void Commands(const Config& config) {
  constexpr int kThreads = 64;
  const std::string name = absl::StrCat("engine_commands_sync_", kThreads);
  if (!config.Wants(name)) return;
  const double seconds = config.quick ? 1.0 : 4.0;
  auto commands = [&] {
    Scratch scratch;
    std::unique_ptr<store::EventStore> s = OpenStore(scratch.Sub("db"), /*sync=*/true);
    SteppingClock clock;
    engine::RandomIdGenerator ids;
    auto opened = engine::Engine::Open({}, s.get(), &clock, &ids);
    Check(opened.status());
    engine::Engine* e = opened->get();
    SetUpCast(e, kThreads);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> done{0};
    const uint64_t before = s->Head().position;
    std::vector<std::thread> workers;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        TextPayloads payloads(1000 + t);
        while (!stop.load(std::memory_order_relaxed)) OrderLifecycle(e, t, payloads);
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
    for (auto& w : workers) w.join();
    const double elapsed = Seconds(start);
    done = s->Head().position - before;  // One event per command.
    return done.load() / elapsed;
  };
  auto raw = [&] {
    Scratch scratch;
    std::unique_ptr<store::EventStore> s = OpenStore(scratch.Sub("db"), /*sync=*/true);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> done{0};
    std::vector<std::thread> workers;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        Payloads payloads(2000 + t, 200);
        const std::string stream = absl::StrCat("order-", t);
        while (!stop.load(std::memory_order_relaxed)) {
          store::AppendRequest request;
          auto& append = request.streams.emplace_back();
          append.stream_id = stream;
          v1::EventRecord& event = append.events.emplace_back();
          event.set_event_id(absl::StrCat(t, "-", done.load(std::memory_order_relaxed)));
          event.set_payload_type("spotflow.v1.CommentAdded");
          event.set_payload(payloads.Next());
          event.mutable_actor()->set_user_id("ae");
          Check(s->Append(std::move(request)).status());
          done.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
    for (auto& w : workers) w.join();
    return done.load() / Seconds(start);
  };
  Compare(config, name, "commands/s", "store_append_sync_64_threads", commands, raw);
}

void Lists(const Config& config) {
  if (!config.Wants("engine_list_by_client")) return;
  Scratch scratch;
  std::unique_ptr<store::EventStore> s = OpenStore(scratch.Sub("db"), /*sync=*/false);
  SteppingClock clock;
  engine::RandomIdGenerator ids;
  auto opened = engine::Engine::Open({}, s.get(), &clock, &ids);
  Check(opened.status());
  engine::Engine* e = opened->get();
  constexpr int kAccounts = 50;
  SetUpCast(e, kAccounts);
  TextPayloads payloads(7);
  const int orders = config.quick ? 3'000 : 10'000;
  for (int i = 0; i < orders; ++i) OrderLifecycle(e, i % kAccounts, payloads);
  const double seconds = config.quick ? 0.3 : 1.0;
  auto pages = [&](const std::string& client_id) {
    engine::ListOrdersRequest request;
    request.client_id = client_id;
    request.archived = engine::ArchivedFilter::kInclude;  // Every order here ends archived.
    request.page_size = 50;
    const auto start = std::chrono::steady_clock::now();
    uint64_t done = 0;
    do {
      auto page = e->ListOrders({"manager"}, request);
      Check(page.status());
      if (page->orders.size() != 50) Die("a first page was short");
      ++done;
    } while (Seconds(start) < seconds);
    return done / Seconds(start);
  };
  Compare(
      config, "engine_list_by_client", "pages/s", "engine_list_all",
      [&] { return pages("client7"); }, [&] { return pages(""); });
}

}  // namespace

int main(int argc, char** argv) {
  const Config config = spotflow::bench::ParseFlags(argc, argv, "engine_benchmark");
  // Debian builds Abseil with Mutex deadlock detection on, which records every lock order in a
  // global graph: a debugging aid that costs several percent of a busy server's CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Replay(config);
  Commands(config);
  Lists(config);
  return 0;
}
