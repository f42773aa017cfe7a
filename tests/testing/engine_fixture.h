// engine_fixture.h: an engine over a fresh store in a temporary directory, with a fake clock,
// sequential ids, and the cast of seed 000: an administrator, a user for each preset role, a
// client with a contact, and helpers that build the commands of the production-order flow.
#ifndef SPOTFLOW_TESTS_TESTING_ENGINE_FIXTURE_H_
#define SPOTFLOW_TESTS_TESTING_ENGINE_FIXTURE_H_

#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/presets.h"
#include "gtest/gtest.h"
#include "store/event_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace spotflow::testing {

inline v1::Date MakeDate(int year, int month, int day) {
  v1::Date date;
  date.set_year(year);
  date.set_month(month);
  date.set_day(day);
  return date;
}

// The production workflow with one more way to end: "decline" from each of `from` into
// "declined", a final state where the work ends undone (seed 002's requests denied with
// feedback, deals lost).
inline v1::WorkflowDefinition DeclinableWorkflow(std::initializer_list<const char*> from = {
                                                     "awaiting_script"}) {
  v1::WorkflowDefinition workflow = engine::ProductionOrderWorkflow();
  v1::WorkflowState* declined = workflow.add_states();
  declined->set_name("declined");
  declined->set_title("Declined");
  declined->set_terminal(true);
  declined->set_abandoned(true);
  for (const char* state : from) {
    v1::Transition* decline = workflow.add_transitions();
    decline->set_from(state);
    decline->set_action("decline");
    decline->set_to("declined");
    decline->set_privilege(v1::REVISION_APPROVE);
  }
  return workflow;
}

class EngineTest : public ::testing::Test {
 protected:
  // Users of the cast. "ae2" is another AE whose accounts the first cannot see; "team_lead"
  // holds a custom role with TEAM scope and manages ae2.
  static constexpr char kAdmin[] = "admin";
  static constexpr char kAe[] = "ae";
  static constexpr char kAe2[] = "ae2";
  static constexpr char kAssistant[] = "assistant";
  static constexpr char kOrderEntry[] = "order_entry";
  static constexpr char kManager[] = "manager";
  static constexpr char kProducer[] = "producer";
  static constexpr char kAuditor[] = "auditor";
  static constexpr char kClientUser[] = "client_login";

  void SetUp() override {
    OpenEngine();
    v1::CreateUser admin;
    admin.set_user_id(kAdmin);
    admin.set_display_name("Ada Admin");
    ASSERT_OK(engine_->Bootstrap(admin).status());
    AddUser(kManager, engine::kSalesManager);
    AddUser(kAe, engine::kAccountExecutive, kManager);
    AddUser(kAe2, engine::kAccountExecutive);
    AddUser(kAssistant, engine::kSalesAssistant);
    AddUser(kOrderEntry, engine::kOrderEntry);
    AddUser(kProducer, engine::kProducer);
    AddUser(kAuditor, engine::kAuditor);
    // The AE's client, its contact, and share access for the assistant and order entry.
    client_ = Run(kAe, CreateClientCommand("acme", "Acme Motors")).id();
    Run(kAe, AddContactCommand(client_, "carol", "Carol Client"));
    for (const char* user : {kAssistant, kOrderEntry}) {
      v1::Command share;
      share.mutable_share_client()->set_client_id(client_);
      share.mutable_share_client()->set_user_id(user);
      Run(kAe, share);
    }
    v1::Command login;
    login.mutable_create_user()->set_user_id(kClientUser);
    login.mutable_create_user()->set_display_name("Carol's login");
    login.mutable_create_user()->add_roles(engine::kClientContact);
    login.mutable_create_user()->set_client_id(client_);
    login.mutable_create_user()->set_contact_id("carol");
    Run(kAdmin, login);
  }

  void OpenEngine() {
    engine_.reset();
    if (store_ == nullptr) {
      store::Options options;
      options.sync = false;  // Durability is the store's own test; keep these fast.
      auto store = store::EventStore::Open(options, dir_.Sub("db"));
      ASSERT_OK(store.status());
      store_ = *std::move(store);
    }
    auto engine = engine::Engine::Open(engine_options_, store_.get(), &clock_, &ids_);
    ASSERT_OK(engine.status());
    engine_ = *std::move(engine);
  }

  void AddUser(const std::string& id, const std::string& role, const std::string& manager = "") {
    v1::Command command;
    v1::CreateUser* user = command.mutable_create_user();
    user->set_user_id(id);
    user->set_display_name(id);
    user->add_roles(role);
    user->set_manager_id(manager);
    Run(kAdmin, command);
  }

  // Runs a command that must succeed.
  v1::CommandResult Run(const std::string& user, const v1::Command& command) {
    auto result = engine_->Execute({user}, command);
    EXPECT_OK(result.status()) << command.ShortDebugString();
    return result.ok() ? *result : v1::CommandResult();
  }

  // Runs a command that must fail, and checks it wrote nothing.
  absl::Status Reject(const std::string& user, const v1::Command& command) {
    const uint64_t head = store_->Head().position;
    const std::string digest = engine_->StateDigest();
    auto result = engine_->Execute({user}, command);
    EXPECT_FALSE(result.ok()) << "accepted: " << command.ShortDebugString();
    EXPECT_EQ(store_->Head().position, head) << "a rejected command wrote to the log";
    EXPECT_EQ(engine_->StateDigest(), digest) << "a rejected command changed the projections";
    return result.status();
  }

  // Runs `command` as a preview (validate_only), and checks it wrote nothing, whatever the
  // answer.
  absl::StatusOr<v1::CommandResult> Preview(const std::string& user, v1::Command command) {
    command.set_validate_only(true);
    const uint64_t head = store_->Head().position;
    const std::string digest = engine_->StateDigest();
    auto result = engine_->Execute({user}, command);
    EXPECT_EQ(store_->Head().position, head) << "a preview wrote to the log";
    EXPECT_EQ(engine_->StateDigest(), digest) << "a preview changed the projections";
    return result;
  }

  // A scenario of `steps` commands chosen at random (seeded) among the seed-000 actions by
  // the whole cast. Many are refused; that is part of the point.
  void RandomScenario(uint32_t seed, int steps) {
    std::mt19937 random(seed);
    std::vector<std::string> orders;
    const std::vector<std::string> users = {kAe, kAssistant, kManager, kProducer, kClientUser};
    for (int i = 0; i < steps; ++i) {
      clock_.Advance(absl::Minutes(1 + random() % 120));
      const std::string user = users[random() % users.size()];
      if (orders.empty() || random() % 8 == 0) {
        auto created = engine_->Execute(
            {kAe}, CreateOrderCommand(random() % 2 ? v1::PRODUCTION : v1::PROVIDED));
        if (created.ok()) orders.push_back(created->id());
        continue;
      }
      const std::string order = orders[random() % orders.size()];
      const uint32_t revision = 1 + random() % 3;
      const std::string artifact = random() % 2 ? "script" : "spot";
      v1::Command command;
      switch (random() % 12) {
        case 0:
          command = Script(order, absl::StrCat("draft ", i));
          break;
        case 1:
          command = Spot(order, absl::StrCat("s3://spot/", i), random() % 2);
          break;
        case 2:
          command = Approve(order, artifact, revision);
          break;
        case 3:
          command = RequestChanges(order, artifact, revision, "again");
          break;
        case 4:
          command = Forward(order, artifact, revision);
          break;
        case 5:
          command = ClientAnswer(order, artifact, revision, random() % 2, "carol", "ok");
          break;
        case 6:
          command = FlightChange(order, MonthsAhead(2, 1 + random() % 10),
                                 MonthsAhead(3, 1 + random() % 10));
          break;
        case 7: {
          auto view = engine_->GetOrder({kManager}, order);
          if (!view.ok() || view->flight_changes().empty()) continue;
          command =
              DecideFlight(order, view->flight_changes().rbegin()->request_id(), random() % 2);
          break;
        }
        case 8:
          command = Action(order, "deliver");
          break;
        case 9:
          command = OrderOnly(order, random() % 3 ? "archive" : "restore");
          break;
        case 10:
          command.mutable_add_comment()->set_order_id(order);
          command.mutable_add_comment()->set_text(absl::StrCat("note ", i));
          break;
        default:
          command = OrderOnly(order, random() % 4 ? "restore" : "delete");
          break;
      }
      engine_->Execute({user}, command).IgnoreError();
    }
  }

  static v1::Command CreateClientCommand(const std::string& id, const std::string& name) {
    v1::Command command;
    command.mutable_create_client()->set_client_id(id);
    command.mutable_create_client()->set_name(name);
    return command;
  }

  // A role's definition as the engine holds it (empty when there is no such role).
  v1::RoleDefinition RoleDefinition(const std::string& name) const {
    const v1::EngineState state = engine_->State();  // By value: keep it while looping.
    for (const v1::RoleView& role : state.roles()) {
      if (role.definition().name() == name) return role.definition();
    }
    ADD_FAILURE() << "no role " << name;
    return v1::RoleDefinition();
  }

  static v1::Command AddContactCommand(const std::string& client, const std::string& id,
                                       const std::string& name) {
    v1::Command command;
    command.mutable_add_contact()->set_client_id(client);
    command.mutable_add_contact()->mutable_contact()->set_contact_id(id);
    command.mutable_add_contact()->mutable_contact()->set_name(name);
    return command;
  }

  // Day `day` of the month `months` after the fake clock's month (UTC), or its last day
  // when `day` is 0: flight dates that stay ahead of the clock however far a test moves it
  // (the engine refuses flights that are over).
  v1::Date MonthsAhead(int months, int day) {
    const absl::CivilMonth month =
        absl::CivilMonth(absl::ToCivilDay(clock_.Now(), absl::UTCTimeZone())) + months;
    const absl::CivilDay date =
        day == 0 ? absl::CivilDay(month + 1) - 1 : absl::CivilDay(month) + (day - 1);
    return MakeDate(static_cast<int>(date.year()), date.month(), date.day());
  }

  // An order flying the whole month after the clock's: December 2026 unless a test has moved
  // the clock past November.
  v1::Command CreateOrderCommand(v1::OrderKind kind = v1::PRODUCTION) {
    v1::Command command;
    v1::CreateOrder* order = command.mutable_create_order();
    order->set_kind(kind);
    order->set_client_id(client_);
    order->set_title("Winter sales event :30");
    order->set_instructions("Upbeat, mention the 0% financing");
    order->set_spot_length_seconds(30);
    *order->mutable_flight_start() = MonthsAhead(1, 1);
    *order->mutable_flight_end() = MonthsAhead(1, 0);
    return command;
  }

  std::string CreateOrder(const std::string& user = kAe, v1::OrderKind kind = v1::PRODUCTION) {
    return Run(user, CreateOrderCommand(kind)).id();
  }
  // A production order's way to an approved spot: the producer's script and spot (at `uri`),
  // each approved by the AE.
  void ApproveScriptAndSpot(const std::string& order, const std::string& uri = "s3://spot/1") {
    Run(kProducer, Script(order, "Draft"));
    Run(kAe, Approve(order, "script", 1));
    Run(kProducer, Spot(order, uri));
    Run(kAe, Approve(order, "spot", 1));
  }

  static v1::Command Script(const std::string& order, const std::string& text) {
    v1::Command command;
    command.mutable_submit_revision()->set_order_id(order);
    command.mutable_submit_revision()->set_artifact("script");
    command.mutable_submit_revision()->set_text(text);
    command.mutable_submit_revision()->set_change_note("first draft");
    return command;
  }

  static v1::Command Spot(const std::string& order, const std::string& uri, bool provided = false) {
    v1::Command command;
    v1::SubmitRevision* spot = command.mutable_submit_revision();
    spot->set_order_id(order);
    spot->set_artifact("spot");
    spot->mutable_media()->set_uri(uri);
    spot->mutable_media()->set_checksum("sha256:ab12");
    spot->mutable_media()->set_duration_ms(30000);
    spot->set_provided_by_client(provided);
    return command;
  }

  static v1::Command Approve(const std::string& order, const std::string& artifact,
                             uint32_t revision) {
    v1::Command command;
    command.mutable_approve_revision()->set_order_id(order);
    command.mutable_approve_revision()->set_artifact(artifact);
    command.mutable_approve_revision()->set_revision(revision);
    return command;
  }

  static v1::Command RequestChanges(const std::string& order, const std::string& artifact,
                                    uint32_t revision, const std::string& comment) {
    v1::Command command;
    command.mutable_request_changes()->set_order_id(order);
    command.mutable_request_changes()->set_artifact(artifact);
    command.mutable_request_changes()->set_revision(revision);
    command.mutable_request_changes()->set_comment(comment);
    return command;
  }

  static v1::Command Forward(const std::string& order, const std::string& artifact,
                             uint32_t revision, const std::string& contact = "carol") {
    v1::Command command;
    command.mutable_forward_to_client()->set_order_id(order);
    command.mutable_forward_to_client()->set_artifact(artifact);
    command.mutable_forward_to_client()->set_revision(revision);
    command.mutable_forward_to_client()->set_contact_id(contact);
    return command;
  }

  static v1::Command ClientAnswer(const std::string& order, const std::string& artifact,
                                  uint32_t revision, bool approved, const std::string& contact = "",
                                  const std::string& comment = "") {
    v1::Command command;
    v1::RecordClientAnswer* answer = command.mutable_record_client_answer();
    answer->set_order_id(order);
    answer->set_artifact(artifact);
    answer->set_revision(revision);
    answer->set_approved(approved);
    answer->set_contact_id(contact);
    answer->set_comment(comment);
    return command;
  }

  // Gives the client contact's login the role that submits its company's requests.
  void MakeClientRequester() {
    v1::Command roles;
    roles.mutable_set_user_roles()->set_user_id(kClientUser);
    roles.mutable_set_user_roles()->add_roles(engine::kClientRequester);
    Run(kAdmin, roles);
  }

  // Defines an item type of spots only on the production-order workflow (its orders are
  // PROVIDED ones), without flights, belonging to a client or not.
  void DefineSpotsOnlyType(const std::string& name, const std::string& key_format,
                           bool client_link) {
    v1::Command define;
    v1::ItemTypeDefinition* type = define.mutable_define_item_type()->mutable_definition();
    type->set_name(name);
    type->set_key_format(key_format);
    type->set_workflow(engine::kProductionOrder);
    type->mutable_facets()->add_artifacts("spot");
    type->mutable_facets()->set_client_link(client_link);
    Run(kAdmin, define);
  }

  static v1::Command Action(const std::string& order, const std::string& action) {
    v1::Command command;
    command.mutable_perform_action()->set_order_id(order);
    command.mutable_perform_action()->set_action(action);
    return command;
  }

  static v1::Command OrderOnly(const std::string& order, const std::string& which) {
    v1::Command command;
    if (which == "archive") command.mutable_archive_order()->set_order_id(order);
    if (which == "restore") command.mutable_restore_order()->set_order_id(order);
    if (which == "delete") command.mutable_delete_order()->set_order_id(order);
    return command;
  }

  static v1::Command FlightChange(const std::string& order, v1::Date start, v1::Date end) {
    v1::Command command;
    *command.mutable_request_flight_change()->mutable_new_start() = start;
    *command.mutable_request_flight_change()->mutable_new_end() = end;
    command.mutable_request_flight_change()->set_order_id(order);
    command.mutable_request_flight_change()->set_reason("client moved the launch");
    return command;
  }

  static v1::Command DecideFlight(const std::string& order, const std::string& request,
                                  bool approved) {
    v1::Command command;
    command.mutable_decide_flight_change()->set_order_id(order);
    command.mutable_decide_flight_change()->set_request_id(request);
    command.mutable_decide_flight_change()->set_approved(approved);
    return command;
  }

  v1::OrderView Order(const std::string& id, const std::string& user = kManager) {
    auto order = engine_->GetOrder({user}, id);
    EXPECT_OK(order.status());
    return order.ok() ? *order : v1::OrderView();
  }

  TempDir dir_;
  FakeClock clock_;
  engine::SequentialIdGenerator ids_;
  engine::Options engine_options_;
  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<engine::Engine> engine_;
  std::string client_;
};

}  // namespace spotflow::testing

#endif  // SPOTFLOW_TESTS_TESTING_ENGINE_FIXTURE_H_
