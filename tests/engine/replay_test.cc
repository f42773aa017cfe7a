// Replay: rebuilding the projections from the log reproduces the live ones exactly; snapshots
// resume where they were taken; and a committed log fixture must keep replaying to its
// committed state, so that a change which can no longer read old logs fails CI.
//
// After a deliberate, compatible change to the projections (never to make an incompatible
// change pass), rewrite only the expected state from the committed log, which stays as it is:
//   SPOTFLOW_REGENERATE_GOLDEN=state build/tests/engine/replay_test --gtest_filter='*Golden*'
// Any other value also writes a new log from today's presets and scenario: that log no
// longer proves that old logs replay, so do it only when the scenario itself must change.
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/testing/counting_store.h"
#include "tests/testing/engine_fixture.h"
#include "tests/testing/status_matchers.h"

namespace spotflow::engine {
namespace {

using ::spotflow::testing::MakeDate;
using ::spotflow::testing::StatusIs;
using ::testing::HasSubstr;

class ReplayTest : public ::spotflow::testing::EngineTest {
 protected:
  std::unique_ptr<Engine> OpenSecondEngine(const Options& options) {
    auto engine = Engine::Open(options, store_.get(), &clock_, &ids_);
    EXPECT_OK(engine.status());
    return engine.ok() ? *std::move(engine) : nullptr;
  }
};

TEST_F(ReplayTest, RebuildingFromTheLogReproducesTheLiveProjections) {
  RandomScenario(/*seed=*/7, /*steps=*/3000);
  EXPECT_GT(store_->Head().position, 600u);
  const std::string live = engine_->StateDigest();
  std::unique_ptr<Engine> rebuilt = OpenSecondEngine({});
  ASSERT_NE(rebuilt, nullptr);
  EXPECT_EQ(rebuilt->position(), engine_->position());
  EXPECT_EQ(rebuilt->StateDigest(), live);
  std::string difference;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(engine_->State(), rebuilt->State())) << difference;
}

TEST_F(ReplayTest, AsynchronousCommandsFromManyThreadsMatchARebuild) {
  // ExecuteAsync: each answer comes once its events are durable and projected. Hundreds of
  // commands to three orders are in flight at once: commands to one order take turns, so
  // none gives up racing the others for the order's next version.
  std::vector<std::string> orders;
  for (int i = 0; i < 3; ++i) orders.push_back(CreateOrder());
  absl::Mutex mu;
  int answered = 0, ok = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        v1::Command comment;
        comment.mutable_add_comment()->set_order_id(orders[(t + i) % orders.size()]);
        comment.mutable_add_comment()->set_text(absl::StrCat("note ", t, "-", i));
        engine_->ExecuteAsync({kAe}, comment, [&](absl::StatusOr<v1::CommandResult> result) {
          absl::MutexLock lock(&mu);
          ++answered;
          if (result.ok()) ++ok;
          EXPECT_OK(result.status());
        });
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n == 400; }, &answered));
    EXPECT_EQ(ok, 400);
  }
  int comments = 0;
  for (const std::string& order : orders) {
    comments += engine_->GetOrder({kAe}, order)->comments_size();
  }
  EXPECT_EQ(comments, 400);
  // A refusal is answered on the caller's thread, before anything is written.
  const uint64_t head = store_->Head().position;
  bool refused = false;
  engine_->ExecuteAsync({kProducer}, CreateOrderCommand(),
                        [&](absl::StatusOr<v1::CommandResult> result) {
                          refused = absl::IsPermissionDenied(result.status());
                        });
  EXPECT_TRUE(refused);
  EXPECT_EQ(store_->Head().position, head);
  std::unique_ptr<Engine> rebuilt = OpenSecondEngine({});
  ASSERT_NE(rebuilt, nullptr);
  EXPECT_EQ(rebuilt->StateDigest(), engine_->StateDigest());
}

TEST_F(ReplayTest, SnapshotResumesAndMatchesAFullRebuild) {
  Options options;
  options.snapshot_path = dir_.Sub("engine.snapshot");
  engine_options_ = options;
  OpenEngine();
  RandomScenario(/*seed=*/11, /*steps=*/300);
  // Budgets go into the snapshot too: one standing, one removed (its id stays taken).
  v1::Command budget;
  v1::Budget* target = budget.mutable_set_budget()->mutable_budget();
  target->set_user_id(kAe);
  target->set_title("Orders");
  *target->mutable_start() = MakeDate(2026, 11, 1);
  *target->mutable_end() = MakeDate(2026, 12, 31);
  target->set_target(50);
  Run(kManager, budget);
  target->set_title("Spots");
  v1::Command remove;
  remove.mutable_remove_budget()->set_budget_id(Run(kManager, budget).id());
  Run(kManager, remove);
  ASSERT_OK(engine_->WriteSnapshot());
  const uint64_t snapshot_position = engine_->position();
  RandomScenario(/*seed=*/12, /*steps=*/300);
  EXPECT_GT(engine_->position(), snapshot_position);
  // Counting what the resumed engine reads shows it started from the snapshot.
  ::spotflow::testing::CountingStore counting(store_.get());
  auto resumed = Engine::Open(options, &counting, &clock_, &ids_);
  ASSERT_OK(resumed.status());
  EXPECT_EQ(counting.scanned(), engine_->position() - snapshot_position);
  const Engine::Recovery recovery = (*resumed)->recovery();
  EXPECT_EQ(recovery.snapshot_position, snapshot_position);
  EXPECT_EQ(recovery.replayed, engine_->position() - snapshot_position);
  EXPECT_EQ(recovery.snapshot_ignored, "");
  std::unique_ptr<Engine> rebuilt = OpenSecondEngine({});
  ASSERT_NE(rebuilt, nullptr);
  EXPECT_EQ((*resumed)->StateDigest(), rebuilt->StateDigest());
  EXPECT_EQ((*resumed)->StateDigest(), engine_->StateDigest());
  ASSERT_OK_AND_ASSIGN(ListBudgetsResponse budgets, (*resumed)->ListBudgets({kManager}, {}));
  ASSERT_EQ(budgets.budgets.size(), 1u);
  EXPECT_EQ(budgets.budgets[0].budget().budget_id(), "ae-orders");
  EXPECT_EQ(budgets.budgets[0].budget().version(), 1u);
  target->set_budget_id("ae-spots");
  EXPECT_THAT((*resumed)->Execute({kManager}, budget),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("never used again")));
  // Orders are found by key after a snapshot as after a rebuild (the key index is rebuilt,
  // not stored): the earliest order still there, made before the snapshot.
  const v1::OrderView* earliest = nullptr;
  const v1::EngineState state = engine_->State();
  for (const v1::OrderView& order : state.orders()) {
    if (!order.deleted() &&
        (earliest == nullptr || order.created_position() < earliest->created_position())) {
      earliest = &order;
    }
  }
  ASSERT_NE(earliest, nullptr);
  ASSERT_LT(earliest->created_position(), snapshot_position);
  const std::string first = earliest->key();
  auto by_key = (*resumed)->GetOrder({kAdmin}, first);
  auto rebuilt_by_key = rebuilt->GetOrder({kAdmin}, first);
  ASSERT_OK(by_key.status());
  ASSERT_OK(rebuilt_by_key.status());
  EXPECT_EQ(by_key->order_id(), earliest->order_id());
  EXPECT_EQ(rebuilt_by_key->order_id(), earliest->order_id());
}

TEST_F(ReplayTest, SnapshotOfAnotherLogIsIgnored) {
  const std::string path = dir_.Sub("forged.snapshot");
  Options options;
  options.snapshot_path = path;
  // Opens a second engine over a snapshot file holding `bytes`: it must rebuild the live
  // projections from the whole log, and say why it ignored the file.
  const auto ignores = [&](const std::string& bytes, const std::string& why) {
    std::ofstream(path, std::ios::binary) << bytes;
    std::unique_ptr<Engine> engine = OpenSecondEngine(options);
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(engine->StateDigest(), engine_->StateDigest());
    EXPECT_THAT(engine->recovery().snapshot_ignored, HasSubstr(why));
    EXPECT_EQ(engine->recovery().snapshot_position, 0u);
    EXPECT_EQ(engine->recovery().replayed, engine_->position());
  };
  v1::EngineState forged = engine_->State();
  forged.set_head_hash(std::string(32, 'x'));
  forged.clear_orders();
  forged.clear_users();
  ignores(forged.SerializeAsString(), "differs from the log's");
  ignores("not a snapshot", "not a snapshot Spotflow wrote");
  forged = engine_->State();
  forged.set_format_version(forged.format_version() + 1);
  ignores(forged.SerializeAsString(), "has format");
  forged = engine_->State();
  forged.set_position(forged.position() + 5);
  ignores(forged.SerializeAsString(), "past the log's end");

  // No snapshot file at all: nothing ignored, the whole log read.
  std::remove(path.c_str());
  std::unique_ptr<Engine> engine = OpenSecondEngine(options);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->recovery().snapshot_ignored, "");
  EXPECT_EQ(engine->recovery().replayed, engine_->position());
}

// --- The golden fixture -------------------------------------------------------------------

const std::string kLogPath = std::string(SPOTFLOW_TESTDATA_DIR) + "/golden_log.binpb";
const std::string kStatePath = std::string(SPOTFLOW_TESTDATA_DIR) + "/golden_state.txtpb";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The fixture holds every record as written: a varint length, then the record's bytes.
std::vector<v1::EventRecord> ReadLog(const std::string& bytes) {
  std::vector<v1::EventRecord> records;
  google::protobuf::io::ArrayInputStream array(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::CodedInputStream input(&array);
  uint32_t size = 0;
  while (input.ReadVarint32(&size)) {
    std::string record;
    if (!input.ReadString(&record, static_cast<int>(size))) break;
    records.emplace_back().ParseFromString(record);
  }
  return records;
}

// A scenario that writes every kind of engine event.
class GoldenScenario : public ::spotflow::testing::EngineTest {
 public:
  void TestBody() override {}
  void Start() { SetUp(); }
  void Play() {
    const std::string order = CreateOrder(kAssistant);
    Run(kProducer, Script(order, "Draft one"));
    Run(kAe, RequestChanges(order, "script", 1, "Mention financing"));
    Run(kProducer, Script(order, "Draft two"));
    Run(kAe, Forward(order, "script", 2));
    Run(kClientUser, ClientAnswer(order, "script", 2, true));
    Run(kProducer, Spot(order, "s3://spots/acme.wav"));
    Run(kAe, Forward(order, "spot", 1));
    Run(kAssistant, ClientAnswer(order, "spot", 1, false, "carol", "Louder"));
    Run(kProducer, Spot(order, "s3://spots/acme-2.wav"));
    Run(kAe, Approve(order, "spot", 2));
    const std::string change =
        Run(kAe, FlightChange(order, MakeDate(2026, 12, 5), MakeDate(2027, 1, 5))).sub_id();
    Run(kManager, DecideFlight(order, change, true));
    v1::Command share;
    share.mutable_share_order()->set_order_id(order);
    share.mutable_share_order()->set_user_id(kAe2);
    Run(kAe, share);
    v1::Command unshare;
    unshare.mutable_unshare_order()->set_order_id(order);
    unshare.mutable_unshare_order()->set_user_id(kAe2);
    Run(kAe, unshare);
    v1::Command comment;
    comment.mutable_add_comment()->set_order_id(order);
    comment.mutable_add_comment()->set_text("Delivered to the station");
    Run(kAe, comment);
    Run(kProducer, Action(order, "deliver"));
    Run(kAe, OrderOnly(order, "archive"));
    // The committed log predates a reuse carrying its source's author and approver
    // (2026-12-07): its reused spot still reads as it did then, recorded and approved by the
    // reuser, as the committed state holds. So this test is also the proof that logs from
    // before read as they did.
    v1::Command reuse;
    reuse.mutable_reuse_order()->set_source_order_id(order);
    *reuse.mutable_reuse_order()->mutable_flight_start() = MakeDate(2027, 3, 1);
    *reuse.mutable_reuse_order()->mutable_flight_end() = MakeDate(2027, 3, 31);
    Run(kAe, reuse);
    Run(kAe, OrderOnly(order, "restore"));
    const std::string doomed = CreateOrder();
    v1::Command update;
    update.mutable_update_order()->set_order_id(doomed);
    update.mutable_update_order()->set_title("Spring event");
    (*update.mutable_update_order()->mutable_fields())["station"].set_string_value("KXYZ");
    Run(kAe, update);
    v1::Command assign;
    assign.mutable_assign_producer()->set_order_id(doomed);
    assign.mutable_assign_producer()->set_user_id(kProducer);
    Run(kAe, assign);
    Run(kManager, OrderOnly(doomed, "delete"));
    CreateOrder();
    v1::Command client;
    client.mutable_update_client()->set_client_id(client_);
    client.mutable_update_client()->set_organization("Acme Group");
    Run(kAe, client);
    v1::Command contact;
    contact.mutable_update_contact()->set_client_id(client_);
    contact.mutable_update_contact()->mutable_contact()->set_contact_id("carol");
    contact.mutable_update_contact()->mutable_contact()->set_name("Carol C. Client");
    Run(kAe, contact);
    v1::Command unshare_client;
    unshare_client.mutable_unshare_client()->set_client_id(client_);
    unshare_client.mutable_unshare_client()->set_user_id(kOrderEntry);
    Run(kAe, unshare_client);
    Run(kAe2, CreateClientCommand("globex", "Globex"));
    Run(kAe2, AddContactCommand("globex", "gus", "Gus"));
    v1::Command remove;
    remove.mutable_remove_contact()->set_client_id("globex");
    remove.mutable_remove_contact()->set_contact_id("gus");
    Run(kAe2, remove);
    v1::Command delete_client;
    delete_client.mutable_delete_client()->set_client_id("globex");
    Run(kAe2, delete_client);
    v1::Command reassign;
    reassign.mutable_reassign_accounts()->set_from_owner(kAe);
    reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
    Run(kManager, reassign);
    v1::Command roles;
    roles.mutable_set_user_roles()->set_user_id(kOrderEntry);
    roles.mutable_set_user_roles()->add_roles(kSalesAssistant);
    Run(kAdmin, roles);
    v1::Command rename;
    rename.mutable_update_user()->set_user_id(kAe2);
    rename.mutable_update_user()->set_display_name("Sam Second");
    Run(kAdmin, rename);
    v1::Command deactivate;
    deactivate.mutable_deactivate_user()->set_user_id(kAe);
    Run(kAdmin, deactivate);
    v1::Command reactivate;
    reactivate.mutable_reactivate_user()->set_user_id(kAe);
    Run(kAdmin, reactivate);
    v1::Command manager;
    manager.mutable_set_user_manager()->set_user_id(kAe2);
    manager.mutable_set_user_manager()->set_manager_id(kManager);
    Run(kAdmin, manager);
  }
  store::EventStore* store() { return store_.get(); }
};

TEST(GoldenReplayTest, CommittedLogReplaysToCommittedState) {
  const char* regenerate = std::getenv("SPOTFLOW_REGENERATE_GOLDEN");
  const bool state_only = regenerate != nullptr && std::string(regenerate) == "state";
  if (regenerate != nullptr && !state_only) {
    GoldenScenario scenario;
    scenario.Start();
    scenario.Play();
    std::string log;
    {
      google::protobuf::io::StringOutputStream output(&log);
      google::protobuf::io::CodedOutputStream coded(&output);
      auto records = scenario.store()->ReadAll(1, 1'000'000);
      ASSERT_OK(records.status());
      for (const v1::EventRecord& record : *records) {
        const std::string bytes = record.SerializeAsString();
        coded.WriteVarint32(static_cast<uint32_t>(bytes.size()));
        coded.WriteString(bytes);
      }
    }
    std::ofstream(kLogPath, std::ios::binary) << log;
    std::string text;
    testing::FakeClock clock;
    SequentialIdGenerator ids;
    auto engine = Engine::Open({}, scenario.store(), &clock, &ids);
    ASSERT_OK(engine.status());
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString((*engine)->State(), &text));
    std::ofstream(kStatePath) << text;
    engine->reset();
  }

  // Append the fixture's records, exactly as written, to a fresh store; open an engine on it.
  std::vector<v1::EventRecord> records = ReadLog(ReadFile(kLogPath));
  ASSERT_GT(records.size(), 50u) << "missing fixture " << kLogPath;
  testing::TempDir dir;
  store::Options store_options;
  store_options.sync = false;
  auto store = store::EventStore::Open(store_options, dir.Sub("db"));
  ASSERT_OK(store.status());
  // Records committed together under one idempotency key are appended together again.
  for (size_t i = 0; i < records.size();) {
    store::AppendRequest request;
    request.idempotency_key = records[i].idempotency_key();
    std::vector<std::string> hashes;
    size_t j = i;
    do {
      v1::EventRecord record = records[j];
      if (request.streams.empty() || request.streams.back().stream_id != record.stream_id()) {
        store::StreamAppend& stream = request.streams.emplace_back();
        stream.stream_id = record.stream_id();
        stream.expected = store::ExpectedVersion::Exactly(record.stream_version() - 1);
      }
      hashes.push_back(record.hash());
      // What the store assigns: position, stream, version, key, previous hash, hash.
      for (int field : {1, 2, 3, 9, 13, 14}) {
        record.GetReflection()->ClearField(&record,
                                           record.GetDescriptor()->FindFieldByNumber(field));
      }
      request.streams.back().events.push_back(std::move(record));
      ++j;
    } while (j < records.size() && !request.idempotency_key.empty() &&
             records[j].idempotency_key() == request.idempotency_key);
    ASSERT_OK_AND_ASSIGN(store::AppendResult result, (*store)->Append(std::move(request)));
    ASSERT_EQ(result.records.size(), hashes.size());
    for (size_t k = 0; k < hashes.size(); ++k) {
      ASSERT_EQ(result.records[k].hash(), hashes[k])
          << "the store no longer writes the same bytes for the record at position "
          << result.records[k].position();
    }
    i = j;
  }
  testing::FakeClock clock;
  SequentialIdGenerator ids;
  Options options;
  options.load_presets = false;
  auto engine = Engine::Open(options, store->get(), &clock, &ids);
  ASSERT_OK(engine.status());
  if (state_only) {
    std::string text;
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString((*engine)->State(), &text));
    std::ofstream(kStatePath) << text;
  }
  v1::EngineState expected;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(ReadFile(kStatePath), &expected))
      << "missing or unreadable " << kStatePath;
  std::string difference;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(expected, (*engine)->State()))
      << "the committed log no longer replays to the committed state:\n"
      << difference;
}

}  // namespace
}  // namespace spotflow::engine
