// Workflows and item types: every transition of the production-order preset, every illegal
// action in every state, definition validation, versions (an item keeps the version it
// started under) and configured item types with their forms and key formats.
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/presets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/engine_fixture.h"
#include "tests/testing/error_info_matchers.h"
#include "tests/testing/status_matchers.h"

namespace spotflow::engine {
namespace {

using ::spotflow::testing::DeclinableWorkflow;
using ::spotflow::testing::HasErrorInfo;
using ::spotflow::testing::MakeDate;
using ::spotflow::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

v1::Command Publish(v1::WorkflowDefinition workflow) {
  v1::Command command;
  *command.mutable_publish_workflow()->mutable_definition() = std::move(workflow);
  return command;
}

// The production order workflow with seed 001's pre-approval first: production orders start
// waiting for it, and its step (pre_approve, REVISION_APPROVE) is given to `role` alone.
v1::WorkflowDefinition WithPreApproval(const std::string& role) {
  v1::WorkflowDefinition workflow = ProductionOrderWorkflow();
  v1::WorkflowState* waiting = workflow.add_states();
  waiting->set_name("pre_approval");
  waiting->set_title("Waiting for pre-approval");
  for (v1::InitialState& initial : *workflow.mutable_initial_states()) {
    if (initial.kind() == v1::PRODUCTION) initial.set_state("pre_approval");
  }
  v1::Transition* step = workflow.add_transitions();
  step->set_from("pre_approval");
  step->set_action("pre_approve");
  step->set_to("awaiting_script");
  step->set_privilege(v1::REVISION_APPROVE);
  step->add_roles(role);
  return workflow;
}

// A request workflow's states (WorkflowTest::DefineRequestFlow): where a request starts, where
// its first step takes it, and the final state its second takes it to.
struct RequestStates {
  const char* start = "submitted";
  const char* middle = "in_progress";
  const char* end = "done";
};

class WorkflowTest : public ::spotflow::testing::EngineTest {
 protected:
  uint32_t Latest(const std::string& order, const std::string& artifact) {
    v1::OrderView view = Order(order);
    return static_cast<uint32_t>(artifact == "script" ? view.scripts_size() : view.spots_size());
  }

  // A step of the request workflow DefineRequestFlow publishes: its action, and the role it is
  // given to ("" for whoever holds ORDER_MANAGE).
  struct RequestStep {
    const char* action;
    const char* role;
  };
  // Publishes "request_flow" (submitted, `first` to in_progress, `second` to the final state
  // done, or the names `states` gives; each step by ORDER_MANAGE) and defines
  // "marketing_request" on it: a client's item without revisions or flights, as seed 001's
  // requests are.
  void DefineRequestFlow(RequestStep first, RequestStep second, RequestStates states = {}) {
    v1::WorkflowDefinition flow;
    flow.set_name("request_flow");
    for (const char* name : {states.start, states.middle, states.end}) {
      v1::WorkflowState* state = flow.add_states();
      state->set_name(name);
      state->set_terminal(name == states.end);
    }
    v1::InitialState* initial = flow.add_initial_states();
    initial->set_kind(v1::PRODUCTION);
    initial->set_state(states.start);
    for (auto [from, step, to] : {std::tuple{states.start, first, states.middle},
                                  std::tuple{states.middle, second, states.end}}) {
      v1::Transition* t = flow.add_transitions();
      t->set_from(from);
      t->set_action(step.action);
      t->set_to(to);
      t->set_privilege(v1::ORDER_MANAGE);
      if (*step.role != '\0') t->add_roles(step.role);
    }
    Run(kAdmin, Publish(flow));
    v1::Command define;
    v1::ItemTypeDefinition* type = define.mutable_define_item_type()->mutable_definition();
    type->set_name("marketing_request");
    type->set_key_format("MKT-{seq:3}");
    type->set_workflow("request_flow");
    type->mutable_facets()->set_client_link(true);
    Run(kAdmin, define);
  }
  // A new marketing request for the AE's client.
  v1::Command RequestCommand() {
    v1::Command create = CreateOrderCommand();
    create.mutable_create_order()->set_item_type("marketing_request");
    create.mutable_create_order()->clear_flight_start();
    create.mutable_create_order()->clear_flight_end();
    return create;
  }
  static v1::Command Assign(const std::string& order, const std::string& user) {
    v1::Command command;
    command.mutable_assign_producer()->set_order_id(order);
    command.mutable_assign_producer()->set_user_id(user);
    return command;
  }

  // The command for a built-in action on `order`, and who takes it.
  std::pair<std::string, v1::Command> ActionCommand(const std::string& order,
                                                    const std::string& action) {
    const std::string artifact = absl::StrContains(action, "script") ? "script" : "spot";
    const uint32_t latest = std::max<uint32_t>(Latest(order, artifact), 1);
    if (action == "submit_script") return {kProducer, Script(order, "draft")};
    if (action == "record_spot") return {kProducer, Spot(order, "s3://rec.wav")};
    if (action == "upload_spot") return {kAe, Spot(order, "s3://agency.wav", true)};
    if (absl::StartsWith(action, "approve_")) return {kAe, Approve(order, artifact, latest)};
    if (absl::StartsWith(action, "request_")) {
      return {kAe, RequestChanges(order, artifact, latest, "shorter please")};
    }
    if (absl::StartsWith(action, "forward_")) return {kAe, Forward(order, artifact, latest)};
    if (absl::StartsWith(action, "client_approve_")) {
      return {kClientUser, ClientAnswer(order, artifact, latest, true)};
    }
    if (absl::StartsWith(action, "client_request_")) {
      return {kClientUser, ClientAnswer(order, artifact, latest, false, "", "too loud")};
    }
    return {kProducer, Action(order, action)};
  }

  // A new order driven into `state` of the preset workflow.
  std::string OrderIn(const std::string& state) {
    static const std::vector<std::pair<std::string, std::vector<std::string>>> kPaths = {
        {"awaiting_script", {}},
        {"script_review", {"submit_script"}},
        {"script_client_review", {"submit_script", "forward_script"}},
        {"script_changes_requested", {"submit_script", "request_script_changes"}},
        {"awaiting_spot", {"submit_script", "approve_script"}},
        {"spot_review", {"submit_script", "approve_script", "record_spot"}},
        {"spot_client_review", {"submit_script", "approve_script", "record_spot", "forward_spot"}},
        {"spot_changes_requested",
         {"submit_script", "approve_script", "record_spot", "request_spot_changes"}},
        {"spot_approved", {"submit_script", "approve_script", "record_spot", "approve_spot"}},
        {"completed",
         {"submit_script", "approve_script", "record_spot", "approve_spot", "deliver"}},
    };
    const std::string order = CreateOrder();
    for (const auto& [name, path] : kPaths) {
      if (name != state) continue;
      for (const std::string& action : path) {
        auto [user, command] = ActionCommand(order, action);
        Run(user, command);
      }
    }
    EXPECT_EQ(Order(order).status(), state);
    return order;
  }
};

TEST_F(WorkflowTest, EveryPresetTransitionMovesTheOrder) {
  const v1::WorkflowDefinition workflow = ProductionOrderWorkflow();
  int checked = 0;
  for (const v1::Transition& t : workflow.transitions()) {
    SCOPED_TRACE(absl::StrCat(t.from(), " --", t.action(), "--> ", t.to()));
    const std::string order = OrderIn(t.from());
    auto [user, command] = ActionCommand(order, t.action());
    Run(user, command);
    EXPECT_EQ(Order(order).status(), t.to());
    ++checked;
  }
  EXPECT_EQ(checked, workflow.transitions_size());
}

TEST_F(WorkflowTest, EveryIllegalActionInEveryStateIsRefusedAndWritesNothing) {
  const v1::WorkflowDefinition workflow = ProductionOrderWorkflow();
  std::set<std::string> actions;
  for (const v1::Transition& t : workflow.transitions()) actions.insert(t.action());
  int refused = 0;
  for (const v1::WorkflowState& state : workflow.states()) {
    const std::string order = OrderIn(state.name());
    for (const std::string& action : actions) {
      bool legal = false;
      for (const v1::Transition& t : workflow.transitions()) {
        legal |= t.from() == state.name() && t.action() == action;
      }
      if (legal) continue;
      SCOPED_TRACE(absl::StrCat(action, " in ", state.name()));
      auto [user, command] = ActionCommand(order, action);
      absl::Status status = Reject(user, command);
      // Not allowed in this state; or the revision it names does not exist (yet) or was
      // already decided.
      EXPECT_TRUE(absl::IsFailedPrecondition(status) || absl::IsNotFound(status)) << status;
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);
}

TEST_F(WorkflowTest, RefusalNamesTheStateAndTheActionsOpenToTheCallerAndToOthers) {
  const std::string order = CreateOrder();
  EXPECT_THAT(Reject(kProducer, Action(order, "deliver")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("state \"awaiting_script\"; open to you now: submit_script")));
  EXPECT_THAT(Reject(kAe, Action(order, "deliver")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("state \"awaiting_script\"; no action is open to you now; open "
                                 "to others: submit_script")));
  // Under review, a producer is not told to approve what they wrote.
  Run(kProducer, Script(order, "Cold outside? Hot deals inside."));
  EXPECT_THAT(Reject(kProducer, Action(order, "deliver")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("in state \"script_review\"; open to you now: submit_script; "
                                 "open to others: approve_script, request_script_changes")));
  // With the client, the AE may record the client's answer on their behalf.
  Run(kAe, Forward(order, "script", 1));
  const absl::Status with_client = Reject(kAe, Action(order, "deliver"));
  EXPECT_THAT(with_client,
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("open to you now: forward_script, client_approve_script, "
                                 "client_request_script_changes")));
  EXPECT_THAT(with_client.message(), Not(HasSubstr("open to others")));
  // The same, for programs: the reason, with the actions as the workflow names them.
  EXPECT_THAT(with_client,
              HasErrorInfo("ACTION_NOT_OPEN",
                           UnorderedElementsAre(Pair("action", "deliver"),
                                                Pair("state", "script_client_review"),
                                                Pair("open_to_you",
                                                     "forward_script,client_approve_script,"
                                                     "client_request_script_changes"),
                                                Pair("open_to_others", ""))));
  EXPECT_THAT(Reject(kAe, Action(CreateOrder(), "deliver")),
              HasErrorInfo("ACTION_NOT_OPEN",
                           UnorderedElementsAre(
                               Pair("action", "deliver"), Pair("state", "awaiting_script"),
                               Pair("open_to_you", ""), Pair("open_to_others", "submit_script"))));
}

TEST_F(WorkflowTest, InvalidDefinitionsAreRefused) {
  v1::WorkflowDefinition unreachable = ProductionOrderWorkflow();
  unreachable.add_states()->set_name("limbo");
  EXPECT_THAT(
      Reject(kAdmin, Publish(unreachable)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"limbo\" cannot be reached")));
  v1::WorkflowDefinition unknown_privilege = ProductionOrderWorkflow();
  unknown_privilege.mutable_transitions(0)->set_privilege(static_cast<v1::Privilege>(999));
  EXPECT_THAT(Reject(kAdmin, Publish(unknown_privilege)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown privilege")));
  v1::WorkflowDefinition no_privilege = ProductionOrderWorkflow();
  no_privilege.mutable_transitions(0)->clear_privilege();
  EXPECT_THAT(Reject(kAdmin, Publish(no_privilege)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names no privilege")));
  // Who only reads (an auditor) or configures takes no action, nor does a client's login
  // beyond its answers.
  for (v1::Privilege privilege : {v1::ORDER_VIEW, v1::EVENTS_READ, v1::ADMIN_CONFIGURE}) {
    v1::WorkflowDefinition reader = ProductionOrderWorkflow();
    reader.mutable_transitions(0)->set_privilege(privilege);
    EXPECT_THAT(Reject(kAdmin, Publish(reader)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not act on orders")))
        << v1::Privilege_Name(privilege);
  }
  v1::WorkflowDefinition client_acts = ProductionOrderWorkflow();
  client_acts.mutable_transitions(0)->set_privilege(v1::CLIENT_ANSWER);
  EXPECT_THAT(Reject(kAdmin, Publish(client_acts)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("CLIENT_ANSWER, which is only for the client's answers")));
  v1::WorkflowDefinition duplicate = ProductionOrderWorkflow();
  *duplicate.add_transitions() = duplicate.transitions(0);
  EXPECT_THAT(Reject(kAdmin, Publish(duplicate)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("two transitions")));
  v1::WorkflowDefinition unknown_state = ProductionOrderWorkflow();
  unknown_state.mutable_transitions(0)->set_to("nowhere");
  EXPECT_THAT(Reject(kAdmin, Publish(unknown_state)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown state")));
  v1::WorkflowDefinition no_initial = ProductionOrderWorkflow();
  no_initial.clear_initial_states();
  EXPECT_THAT(Reject(kAdmin, Publish(no_initial)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no initial state")));
  v1::WorkflowDefinition duplicate_state = ProductionOrderWorkflow();
  *duplicate_state.add_states() = duplicate_state.states(0);
  EXPECT_THAT(Reject(kAdmin, Publish(duplicate_state)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  v1::WorkflowDefinition untakeable = ProductionOrderWorkflow();
  untakeable.mutable_transitions(0)->set_action("request_quote");  // No command could take it.
  EXPECT_THAT(
      Reject(kAdmin, Publish(untakeable)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::AllOf(HasSubstr("\"request_quote\" is named like a revision command's"),
                                HasSubstr("rename it"))));
  v1::WorkflowDefinition dead_end = ProductionOrderWorkflow();
  dead_end.add_states()->set_name("on_hold");
  v1::Transition* hold = dead_end.add_transitions();
  hold->set_from("awaiting_script");
  hold->set_action("hold");
  hold->set_to("on_hold");
  hold->set_privilege(v1::ORDER_MANAGE);
  EXPECT_THAT(Reject(kAdmin, Publish(dead_end)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no action leads from state \"on_hold\" to a final state")));
  v1::Transition* resume = dead_end.add_transitions();  // A way back out makes it fine.
  resume->set_from("on_hold");
  resume->set_action("resume");
  resume->set_to("awaiting_script");
  resume->set_privilege(v1::ORDER_MANAGE);
  Run(kAdmin, Publish(dead_end));
  v1::WorkflowDefinition endless = ProductionOrderWorkflow();
  for (v1::WorkflowState& state : *endless.mutable_states()) state.set_terminal(false);
  EXPECT_THAT(Reject(kAdmin, Publish(endless)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has no final state")));
  // An abandoned state (declined, cancelled) is where an order ends undone: a final one, and
  // not the only kind of final state, or no order could ever be done.
  v1::WorkflowDefinition midway = ProductionOrderWorkflow();
  midway.mutable_states(0)->set_abandoned(true);
  EXPECT_THAT(Reject(kAdmin, Publish(midway)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("state \"awaiting_script\" is abandoned but not terminal")));
  // Each kind of order starts where its work begins, and may be done from there.
  v1::WorkflowDefinition born_done = ProductionOrderWorkflow();
  born_done.mutable_initial_states(2)->set_state("completed");
  EXPECT_THAT(Reject(kAdmin, Publish(born_done)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("starts REUSE orders in final state \"completed\"")));
  v1::WorkflowDefinition lost_cause = ProductionOrderWorkflow();
  for (const char* name : {"shelved", "dropped"}) lost_cause.add_states()->set_name(name);
  lost_cause.mutable_states(lost_cause.states_size() - 1)->set_terminal(true);
  lost_cause.mutable_states(lost_cause.states_size() - 1)->set_abandoned(true);
  lost_cause.mutable_initial_states(1)->set_state("shelved");  // PROVIDED orders.
  v1::Transition* drop = lost_cause.add_transitions();
  drop->set_from("shelved");
  drop->set_action("drop");
  drop->set_to("dropped");
  drop->set_privilege(v1::ORDER_MANAGE);
  EXPECT_THAT(Reject(kAdmin, Publish(lost_cause)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("starts PROVIDED orders in \"shelved\", from which every way "
                                 "ends abandoned; add a way on to where the work is done "
                                 "(completed)")));
  v1::WorkflowDefinition hopeless = ProductionOrderWorkflow();
  for (v1::WorkflowState& state : *hopeless.mutable_states()) {
    if (state.terminal()) state.set_abandoned(true);
  }
  EXPECT_THAT(Reject(kAdmin, Publish(hopeless)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("final states (completed) are all abandoned")));
  EXPECT_THAT(Reject(kAe, Publish(ProductionOrderWorkflow())),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(WorkflowTest, ItemsKeepTheVersionTheyStartedUnder) {
  const std::string old_order = OrderIn("spot_approved");
  // Version 2 puts a legal review between the approved spot and delivery.
  v1::WorkflowDefinition v2 = ProductionOrderWorkflow();
  v1::WorkflowState* legal = v2.add_states();
  legal->set_name("legal_review");
  for (v1::Transition& t : *v2.mutable_transitions()) {
    if (t.action() == "deliver") t.set_from("legal_review");
  }
  v1::Transition* send = v2.add_transitions();
  send->set_from("spot_approved");
  send->set_action("send_to_legal");
  send->set_to("legal_review");
  send->set_privilege(v1::ORDER_MANAGE);
  v1::CommandResult published = Run(kAdmin, Publish(v2));
  EXPECT_EQ(published.sub_id(), "2");
  EXPECT_EQ(engine_->GetWorkflow({kAe}, kProductionOrder, 0)->version(), 2u);

  Run(kProducer, Action(old_order, "deliver"));  // Version 1 rules.
  EXPECT_EQ(Order(old_order).status(), "completed");
  EXPECT_EQ(Order(old_order).workflow_version(), 1u);

  const std::string new_order = OrderIn("spot_approved");
  EXPECT_EQ(Order(new_order).workflow_version(), 2u);
  EXPECT_THAT(Reject(kProducer, Action(new_order, "deliver")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("send_to_legal")));
  EXPECT_THAT(Reject(kProducer, Action(new_order, "send_to_legal")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  Run(kAe, Action(new_order, "send_to_legal"));
  Run(kProducer, Action(new_order, "deliver"));
  EXPECT_EQ(Order(new_order).status(), "completed");
  EXPECT_TRUE(Order(new_order).completed());
}

TEST_F(WorkflowTest, ADefinitionEditedFromAnOldVersionIsRefusedAndTheSameOneChangesNothing) {
  const v1::WorkflowDefinition first = *engine_->GetWorkflow({kAdmin}, kProductionOrder, 0);
  ASSERT_EQ(first.version(), 1u);
  EXPECT_THAT(engine_->GetWorkflow({kAdmin}, "production_ordr", 0),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("no workflow \"production_ordr\"; the workflows are "
                                 "production_order")));
  EXPECT_THAT(engine_->GetWorkflow({kAdmin}, kProductionOrder, 9),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no version 9; its latest is 1")));
  v1::WorkflowDefinition edited = first;
  edited.mutable_states(0)->set_title("Waiting for a script");
  EXPECT_EQ(Run(kAdmin, Publish(edited)).sub_id(), "2");
  // Another administrator's edit of version 1 would undo that one unseen.
  v1::WorkflowDefinition stale = first;
  stale.mutable_states(1)->set_title("Script under review");
  EXPECT_THAT(Reject(kAdmin, Publish(stale)),
              AllOf(StatusIs(absl::StatusCode::kAborted,
                             HasSubstr("is at version 2 but the definition given is of version 1")),
                    HasErrorInfo(
                        "DEFINITION_CHANGED",
                        UnorderedElementsAre(Pair("version", "1"), Pair("current_version", "2")))));
  // Given again as it is, nothing new is published.
  edited.set_version(2);
  const uint64_t head = store_->Head().position;
  EXPECT_EQ(Run(kAdmin, Publish(edited)).sub_id(), "2");
  EXPECT_EQ(store_->Head().position, head);
  EXPECT_EQ(engine_->GetWorkflow({kAdmin}, kProductionOrder, 0)->version(), 2u);
  // A copy under a new name keeps its source's version, and is new all the same.
  v1::WorkflowDefinition copy = edited;
  copy.set_name("spot_only");
  EXPECT_EQ(Run(kAdmin, Publish(copy)).sub_id(), "1");
  // Without a version, a definition replaces whatever is there.
  stale.clear_version();
  EXPECT_EQ(Run(kAdmin, Publish(stale)).sub_id(), "3");

  // Item types likewise.
  v1::ItemTypeDefinition type = *engine_->GetItemType({kAdmin}, kProductionOrder);
  v1::Command define;
  *define.mutable_define_item_type()->mutable_definition() = type;
  const uint64_t before = store_->Head().position;
  Run(kAdmin, define);
  EXPECT_EQ(store_->Head().position, before) << "the same type again writes nothing";
  type.set_title("Spot production");
  *define.mutable_define_item_type()->mutable_definition() = type;
  Run(kAdmin, define);
  EXPECT_EQ(engine_->GetItemType({kAdmin}, kProductionOrder)->version(), type.version() + 1);
  type.set_title("Spots");  // Still of the version before.
  *define.mutable_define_item_type()->mutable_definition() = type;
  EXPECT_THAT(Reject(kAdmin, define), StatusIs(absl::StatusCode::kAborted));
}

TEST_F(WorkflowTest, ANewKeyFormatNeverHandsOutAKeyInUse) {
  const std::string first = CreateOrder();
  const std::string second = CreateOrder();
  EXPECT_EQ(Order(second).key(), "PO-2026-00002");
  // The same keys with the year written out: a new sequence, which starts at 1.
  v1::ItemTypeDefinition type = *engine_->GetItemType({kAdmin}, kProductionOrder);
  type.set_key_format("PO-2026-{seq:5}");
  v1::Command define;
  *define.mutable_define_item_type()->mutable_definition() = type;
  Run(kAdmin, define);
  const std::string third = CreateOrder();
  EXPECT_EQ(Order(third).key(), "PO-2026-00003") << "00001 and 00002 are held";
  v1::Command named = CreateOrderCommand();  // An order whose id is the next key.
  named.mutable_create_order()->set_order_id("PO-2026-00004");
  Run(kAe, named);
  EXPECT_EQ(Order("PO-2026-00004").key(), "PO-2026-00004") << "its own id is no clash";
  EXPECT_EQ(Order(CreateOrder()).key(), "PO-2026-00005");
  EXPECT_EQ(Order("PO-2026-00001").order_id(), first) << "a key still names its one order";
  EXPECT_EQ(Order("PO-2026-00002").order_id(), second);
}

// A required text field given blank is missing, on creation and on update alike.
TEST_F(WorkflowTest, ARequiredFieldCannotBeLeftBlank) {
  v1::ItemTypeDefinition type = *engine_->GetItemType({kAdmin}, engine::kProductionOrder);
  v1::FieldDefinition* kind = type.add_fields();
  kind->set_name("request_type");
  kind->set_type(v1::STRING);
  kind->set_required(true);
  v1::Command define;
  *define.mutable_define_item_type()->mutable_definition() = type;
  Run(kAdmin, define);
  v1::Command create = CreateOrderCommand();
  // Every required field missing is named at once: a form is filled in once.
  v1::FieldDefinition* audience = type.add_fields();
  audience->set_name("audience");
  audience->set_type(v1::STRING);
  audience->set_required(true);
  *define.mutable_define_item_type()->mutable_definition() = type;
  define.mutable_define_item_type()->mutable_definition()->set_version(
      engine_->GetItemType({kAdmin}, engine::kProductionOrder)->version());
  Run(kAdmin, define);
  EXPECT_THAT(
      Reject(kAe, create),
      AllOf(StatusIs(absl::StatusCode::kInvalidArgument,
                     HasSubstr("fields \"request_type\", \"audience\" are required for a "
                               "production_order")),
            HasErrorInfo("MISSING_FIELDS", ElementsAre(Pair("fields", "request_type,audience")))));
  (*create.mutable_create_order()->mutable_fields())["audience"].set_string_value("drivers");
  for (const char* blank : {"", "   "}) {
    (*create.mutable_create_order()->mutable_fields())["request_type"].set_string_value(blank);
    EXPECT_THAT(Reject(kAe, create), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("field \"request_type\" is")));
  }
  (*create.mutable_create_order()->mutable_fields())["request_type"].set_string_value("landing");
  const std::string order = Run(kAe, create).id();
  v1::Command blank;
  blank.mutable_update_order()->set_order_id(order);
  (*blank.mutable_update_order()->mutable_fields())["request_type"].set_string_value("");
  EXPECT_THAT(Reject(kAe, blank), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("field \"request_type\" is required")));
  (*blank.mutable_update_order()->mutable_fields())["request_type"].set_string_value("banner");
  Run(kAe, blank);
  EXPECT_EQ(Order(order).fields().at("request_type").string_value(), "banner");
}

// An item type must give its workflow what the workflow works on, for some kind of order;
// an order of a kind that could not finish is not made; and a type defined again leaves no
// order under way where it cannot go on.
TEST_F(WorkflowTest, AnItemTypeLeavesNoOrderWhereItCannotGoOn) {
  v1::Command define;
  v1::ItemTypeDefinition* type = define.mutable_define_item_type()->mutable_definition();
  type->set_name("creative");
  type->set_key_format("CR-{seq:3}");
  type->set_workflow(kProductionOrder);
  type->mutable_facets()->set_schedule(true);
  type->mutable_facets()->set_client_link(true);
  // No artifacts: every kind meets a script or a spot first.
  EXPECT_THAT(Reject(kAdmin, define),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("would stop for good in state \"awaiting_script\"")));
  {
    // Nor is a way to be declined enough: its orders could be lost, never done.
    v1::WorkflowDefinition declinable = DeclinableWorkflow({"awaiting_script", "awaiting_spot"});
    declinable.set_name("declinable");
    Run(kAdmin, Publish(declinable));
    v1::Command lost_cause = define;
    lost_cause.mutable_define_item_type()->mutable_definition()->set_workflow("declinable");
    EXPECT_THAT(Reject(kAdmin, lost_cause),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("could only end abandoned from state \"awaiting_script\" of "
                                   "workflow \"declinable\" v1: its ways on (")));
  }
  type->mutable_facets()->add_artifacts("artwork");
  EXPECT_THAT(Reject(kAdmin, define), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("artifact \"artwork\" cannot be kept")));
  // Spots alone: PROVIDED orders finish; PRODUCTION ones, which meet a script first, are not
  // made.
  type->mutable_facets()->clear_artifacts();
  type->mutable_facets()->add_artifacts("spot");
  Run(kAdmin, define);
  v1::Command production = CreateOrderCommand(v1::PRODUCTION);
  production.mutable_create_order()->set_item_type("creative");
  EXPECT_THAT(Reject(kAe, production),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("a PRODUCTION order of item type \"creative\" would stop for "
                                 "good in state \"awaiting_script\"")));
  v1::Command provided = CreateOrderCommand(v1::PROVIDED);
  provided.mutable_create_order()->set_item_type("creative");
  Run(kAe, provided);
  // With scripts too, a production order starts; dropping scripts again while its script is
  // in review would strand it there.
  type->mutable_facets()->add_artifacts("script");
  type->set_version(1);
  Run(kAdmin, define);
  const std::string order = Run(kAe, production).id();
  Run(kProducer, Script(order, "One"));
  type->mutable_facets()->clear_artifacts();
  type->mutable_facets()->add_artifacts("spot");
  type->set_version(2);
  EXPECT_THAT(Reject(kAdmin, define),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("would stop for good in state \"script_review\"")));
  // Once it is past its script, the type may drop them.
  Run(kAe, Approve(order, "script", 1));
  Run(kAdmin, define);
  // Nor may a new version of the workflow leave a type that follows it with no kind that
  // finishes: here a provided spot would wait for a script first.
  auto workflow = engine_->GetWorkflow({kAdmin}, kProductionOrder, 0);
  ASSERT_OK(workflow.status());
  v1::Command publish;
  v1::WorkflowDefinition* next = publish.mutable_publish_workflow()->mutable_definition();
  *next = *workflow;
  for (v1::InitialState& initial : *next->mutable_initial_states()) {
    if (initial.kind() == v1::PROVIDED) initial.set_state("awaiting_script");
  }
  EXPECT_THAT(Reject(kAdmin, publish),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("order of item type \"creative\" would stop for good")));
  // Publishing it again unchanged is no new version, and checks nothing anew.
  *next = *workflow;
  EXPECT_EQ(Run(kAdmin, publish).sub_id(), absl::StrCat(workflow->version()));
  // A delivery that needs an approved spot after a script of its own needs both: a type with
  // spots alone cannot take it.
  for (v1::Transition& t : *next->mutable_transitions()) {
    if (t.action() == "deliver") t.set_action("submit_script");
  }
  EXPECT_THAT(Reject(kAdmin, publish),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("works on scripts and needs an approved spot")));
  // No step is a client's by its right to submit requests.
  *next = *workflow;
  next->mutable_transitions(0)->set_privilege(v1::REQUEST_SUBMIT);
  EXPECT_THAT(Reject(kAdmin, publish),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("requires REQUEST_SUBMIT")));
}

// Seed 001: the client "enters the required information" on a request form; an administrator
// bounds what a field takes, a range for a number and choices for text, and the form offers
// them.
TEST_F(WorkflowTest, FormFieldsTakeTheirRangesAndChoices) {
  v1::Command define;
  v1::ItemTypeDefinition* type = define.mutable_define_item_type()->mutable_definition();
  *type = *engine_->GetItemType({kAdmin}, kProductionOrder);
  type->set_version(0);
  v1::FieldDefinition* budget = type->add_fields();
  budget->set_name("budget");
  budget->set_type(v1::INTEGER);
  budget->set_required(true);
  budget->set_min(0);
  budget->set_max(1000000);
  v1::FieldDefinition* channel = type->add_fields();
  channel->set_name("channel");
  channel->set_type(v1::STRING);
  for (const char* choice : {"print", "radio", "web"}) channel->add_choices(choice);
  // Definitions that bound nothing, or nothing a value could meet, are refused.
  const auto with = [&](const std::function<void(v1::FieldDefinition * budget,
                                                 v1::FieldDefinition * channel)>& change) {
    v1::Command bad = define;
    v1::ItemTypeDefinition* t = bad.mutable_define_item_type()->mutable_definition();
    change(t->mutable_fields(t->fields_size() - 2), t->mutable_fields(t->fields_size() - 1));
    return Reject(kAdmin, bad);
  };
  EXPECT_THAT(with([](auto*, auto* c) { c->set_min(1); }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field \"channel\" is STRING; min and max bound an INTEGER "
                                 "field: leave them out")));
  EXPECT_THAT(with([](auto* b, auto*) {
                b->set_min(10);
                b->set_max(9);
              }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("min 10 above its max 9: no value would do")));
  EXPECT_THAT(with([](auto* b, auto*) { b->add_choices("1"); }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("choices are a STRING field's values")));
  EXPECT_THAT(with([](auto*, auto* c) { c->add_choices("Radio"); }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("choice \"Radio\" is listed twice (case aside)")));
  EXPECT_THAT(with([](auto*, auto* c) { c->add_choices(" "); }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field \"channel\"'s choice 4 is blank")));
  EXPECT_THAT(with([](auto*, auto* c) { c->add_choices(" tv "); }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("choice \" tv \" has spaces at its ends; write it as people "
                                 "pick it: \"tv\"")));
  EXPECT_THAT(with([](auto*, auto* c) { c->add_choices("tv\nradio"); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a choice is one line")));
  EXPECT_THAT(
      with([](auto*, auto* c) {
        for (int i = 0; i < 98; ++i) c->add_choices(absl::StrCat("outlet ", i));
      }),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has 101 choices; the limit is 100")));
  // An address to write back to: checked as one.
  v1::FieldDefinition* reply_to = type->add_fields();
  reply_to->set_name("reply_to");
  reply_to->set_type(v1::EMAIL);
  {
    v1::Command listed = define;
    listed.mutable_define_item_type()->mutable_definition()->mutable_fields(4)->add_choices(
        "a@b.c");
    EXPECT_THAT(Reject(kAdmin, listed),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("field \"reply_to\" is EMAIL; choices are a STRING field's")));
  }
  Run(kAdmin, define);

  // The client's form offers them.
  MakeClientRequester();
  ASSERT_OK_AND_ASSIGN(v1::ItemTypeDefinition form,
                       engine_->GetItemType({kClientUser}, kProductionOrder));
  ASSERT_EQ(form.fields_size(), 5);
  EXPECT_EQ(form.fields(2).min(), 0);
  EXPECT_TRUE(form.fields(2).has_min());
  EXPECT_THAT(form.fields(3).choices(), ElementsAre("print", "radio", "web"));

  v1::Command create = CreateOrderCommand();
  auto& fields = *create.mutable_create_order()->mutable_fields();
  fields["budget"].set_integer_value(-5);
  EXPECT_THAT(Reject(kAe, create),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field \"budget\" is -5; it takes from 0 to 1000000")));
  fields["budget"].set_integer_value(1000001);
  EXPECT_THAT(Reject(kAe, create), StatusIs(absl::StatusCode::kInvalidArgument));
  fields["budget"].set_integer_value(0);
  fields["channel"].set_string_value("tv");
  EXPECT_THAT(
      Reject(kAe, create),
      AllOf(StatusIs(absl::StatusCode::kInvalidArgument,
                     HasSubstr("field \"channel\" is one of: print, radio, web; not \"tv\"")),
            // A form marks the field: the reason names it.
            HasErrorInfo("INVALID_FIELD", ElementsAre(Pair("field", "channel")))));
  v1::Command requested = create;
  requested.mutable_create_order()->clear_client_id();
  EXPECT_THAT(Reject(kClientUser, requested), StatusIs(absl::StatusCode::kInvalidArgument))
      << "the client's request too";
  fields["channel"].set_string_value("Radio");  // Kept as the form spells it: radio.
  fields["reply_to"].set_string_value("carol at acme");
  EXPECT_THAT(Reject(kAe, create),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field \"reply_to\" \"carol at acme\" is not an address like "
                                 "name@example.com")));
  for (const char* forged : {"carol@acme.example\nBcc: all@acme.example", "carol@acme.example "}) {
    fields["reply_to"].set_string_value(forged);
    EXPECT_THAT(Reject(kAe, create), StatusIs(absl::StatusCode::kInvalidArgument)) << forged;
  }
  fields["reply_to"].set_string_value("carol@acme.example");
  const std::string order = Run(kAe, create).id();
  EXPECT_EQ(Order(order).fields().at("reply_to").string_value(), "carol@acme.example");
  fields.erase("reply_to");
  EXPECT_EQ(Order(order).fields().at("budget").integer_value(), 0);
  EXPECT_EQ(Order(order).fields().at("channel").string_value(), "radio");
  fields.erase("channel");  // Optional: left unpicked.
  fields["budget"].set_integer_value(5000);
  const std::string unpicked = Run(kAe, create).id();
  EXPECT_EQ(Order(unpicked).fields().count("channel"), 0u);

  // Changes are checked as creations are.
  v1::Command update;
  update.mutable_update_order()->set_order_id(order);
  (*update.mutable_update_order()->mutable_fields())["budget"].set_integer_value(-1);
  EXPECT_THAT(Reject(kAe, update), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("it takes from 0 to 1000000")));
  (*update.mutable_update_order()->mutable_fields())["budget"].set_integer_value(2500);
  (*update.mutable_update_order()->mutable_fields())["channel"].set_string_value("WEB");
  Run(kAe, update);
  EXPECT_EQ(Order(order).fields().at("channel").string_value(), "web");

  // A type bounded more tightly later keeps the values given before; a change to another
  // field passes, and a new value meets the new bounds.
  v1::Command tighter = define;
  v1::ItemTypeDefinition* tight = tighter.mutable_define_item_type()->mutable_definition();
  tight->mutable_fields(2)->clear_min();
  tight->mutable_fields(2)->set_max(1000);
  Run(kAdmin, tighter);
  EXPECT_EQ(Order(unpicked).fields().at("budget").integer_value(), 5000);
  // Those who may change it are told, in the words a command giving it would be refused in.
  absl::StatusOr<v1::OrderView> outside = engine_->GetOrder({kAe}, unpicked);
  ASSERT_OK(outside.status());
  ASSERT_EQ(outside->fields_out_of_bounds_size(), 1);
  EXPECT_EQ(outside->fields_out_of_bounds(0).field(), "budget");
  EXPECT_EQ(outside->fields_out_of_bounds(0).reason(),
            "field \"budget\" is 5000; it takes 1000 or less");
  EXPECT_THAT(engine_->GetOrder({kProducer}, unpicked)->fields_out_of_bounds(), IsEmpty())
      << "not theirs to change";
  v1::Command pick;
  pick.mutable_update_order()->set_order_id(unpicked);
  (*pick.mutable_update_order()->mutable_fields())["channel"].set_string_value("print");
  Run(kAe, pick);
  (*pick.mutable_update_order()->mutable_fields())["budget"].set_integer_value(1001);
  EXPECT_THAT(Reject(kAe, pick),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field \"budget\" is 1001; it takes 1000 or less")));
  (*pick.mutable_update_order()->mutable_fields())["budget"].set_integer_value(-1000);
  Run(kAe, pick);  // No least value now.
  EXPECT_THAT(engine_->GetOrder({kAe}, unpicked)->fields_out_of_bounds(), IsEmpty())
      << "changed to fit";
}

TEST_F(WorkflowTest, ConfiguredItemTypeHasItsFormAndKeys) {
  v1::Command define;
  v1::ItemTypeDefinition* type = define.mutable_define_item_type()->mutable_definition();
  type->set_name("media_request");
  type->set_title("Media request");
  type->set_key_format("MR-{seq:4}");
  type->set_workflow(kProductionOrder);
  type->mutable_facets()->add_artifacts("spot");
  type->mutable_facets()->set_schedule(true);
  type->mutable_facets()->set_client_link(true);
  v1::FieldDefinition* budget = type->add_fields();
  budget->set_name("budget");
  budget->set_type(v1::INTEGER);
  budget->set_required(true);
  EXPECT_THAT(Reject(kAe, define), StatusIs(absl::StatusCode::kPermissionDenied));
  v1::Command bad_key = define;
  bad_key.mutable_define_item_type()->mutable_definition()->set_key_format("MR-{n}");
  EXPECT_THAT(Reject(kAdmin, bad_key), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::Command no_seq = define;
  no_seq.mutable_define_item_type()->mutable_definition()->set_key_format("MR-{yyyy}");
  EXPECT_THAT(Reject(kAdmin, no_seq), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::Command bad_workflow = define;
  bad_workflow.mutable_define_item_type()->mutable_definition()->set_workflow("nope");
  EXPECT_THAT(Reject(kAdmin, bad_workflow),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("publish it first (PublishWorkflow; spotflow workflow publish "
                                 "FILE), or name one of: production_order")));
  Run(kAdmin, define);

  v1::Command create = CreateOrderCommand(v1::PROVIDED);
  create.mutable_create_order()->set_item_type("media_request");
  EXPECT_THAT(Reject(kAe, create),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"budget\" is required")));
  (*create.mutable_create_order()->mutable_fields())["budget"].set_integer_value(5000);
  v1::CommandResult created = Run(kAe, create);
  EXPECT_EQ(created.key(), "MR-0001");
  EXPECT_EQ(Run(kAe, create).key(), "MR-0002");
  // Shown in its type's words: its title, and what its items have (no script).
  const v1::OrderView media = Order(created.id());
  EXPECT_EQ(media.item_type_title(), "Media request");
  EXPECT_THAT(media.item_type_facets().artifacts(), ElementsAre("spot"));
  EXPECT_TRUE(media.item_type_facets().schedule());
  EXPECT_THAT(Order(CreateOrder()).item_type_facets().artifacts(), ElementsAre("script", "spot"));
  // Its artifacts are its own: a media request has no script.
  EXPECT_THAT(Reject(kProducer, Script(created.id(), "text")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("artifact")));
}

// An item without a schedule takes no flight dates: dropped, they would be lost unsaid.
TEST_F(WorkflowTest, FlightDatesForATypeWithoutAScheduleAreRefused) {
  DefineSpotsOnlyType("house_promo", "HP-{seq:3}", /*client_link=*/false);
  v1::Command create = CreateOrderCommand(v1::PROVIDED);
  create.mutable_create_order()->set_item_type("house_promo");
  create.mutable_create_order()->clear_client_id();
  ASSERT_TRUE(create.create_order().has_flight_start());
  EXPECT_THAT(Reject(kAe, create),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has no flight dates")));
  create.mutable_create_order()->clear_flight_start();
  create.mutable_create_order()->clear_flight_end();
  const std::string id = Run(kAe, create).id();
  EXPECT_FALSE(Order(id).has_flight_start()) << "no flight, not an empty one";
  EXPECT_FALSE(Order(id).has_flight_end());
  EXPECT_FALSE(Order(id).item_type_facets().schedule());
  // An all-zero date is none (a client that always sends the message).
  v1::Command zeroes = create;
  zeroes.mutable_create_order()->mutable_flight_start();
  zeroes.mutable_create_order()->mutable_flight_end();
  EXPECT_FALSE(Order(Run(kAe, zeroes).id()).has_flight_start());

  // Reusing one: no flight to book either.
  DefineSpotsOnlyType("radio_promo", "RP-{seq:3}", /*client_link=*/true);
  v1::Command promo = CreateOrderCommand(v1::PROVIDED);
  promo.mutable_create_order()->set_item_type("radio_promo");
  promo.mutable_create_order()->clear_flight_start();
  promo.mutable_create_order()->clear_flight_end();
  const std::string source = Run(kAe, promo).id();
  Run(kAe, Spot(source, "s3://agency/promo.mp3", /*provided=*/true));
  Run(kAe, Approve(source, "spot", 1));
  Run(kAe, OrderOnly(source, "archive"));
  v1::Command reuse;
  reuse.mutable_reuse_order()->set_source_order_id(source);
  *reuse.mutable_reuse_order()->mutable_flight_start() = MakeDate(2099, 1, 1);
  *reuse.mutable_reuse_order()->mutable_flight_end() = MakeDate(2099, 1, 31);
  EXPECT_THAT(Reject(kAe, reuse),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has no flight dates")));
  reuse.mutable_reuse_order()->clear_flight_start();
  reuse.mutable_reuse_order()->clear_flight_end();
  const std::string again = Run(kAe, reuse).id();
  EXPECT_EQ(Order(again).kind(), v1::REUSE);
  EXPECT_FALSE(Order(again).has_flight_start());
}

// Seed 002: a request is denied "and feedback sent to the requestor": the workflow may say an
// action is taken only with a comment.
TEST_F(WorkflowTest, AnActionMayNeedACommentSayingWhy) {
  v1::WorkflowDefinition workflow = ProductionOrderWorkflow();
  v1::WorkflowState* declined = workflow.add_states();
  declined->set_name("declined");
  declined->set_title("Declined");
  declined->set_terminal(true);
  v1::Transition* decline = workflow.add_transitions();
  decline->set_from("awaiting_script");
  decline->set_action("decline");
  decline->set_to("declined");
  decline->set_privilege(v1::REVISION_APPROVE);
  decline->add_conditions(v1::COMMENT_GIVEN);
  for (v1::Transition& t : *workflow.mutable_transitions()) {
    if (t.action() == "approve_script") t.add_conditions(v1::COMMENT_GIVEN);
  }
  Run(kAdmin, Publish(workflow));
  const std::string order = CreateOrder();
  ASSERT_OK_AND_ASSIGN(v1::OrderView shown, engine_->GetOrder({kAe}, order));
  EXPECT_THAT(shown.open_actions(), ::testing::Contains("decline"));
  EXPECT_THAT(shown.open_actions_needing_comment(), ::testing::ElementsAre("decline"));
  const v1::Command bare = Action(order, "decline");
  EXPECT_THAT(Reject(kAe, bare), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("is taken with a comment saying why")));
  v1::Command blank = bare;
  blank.mutable_perform_action()->set_comment("  ");
  EXPECT_THAT(Reject(kAe, blank), StatusIs(absl::StatusCode::kInvalidArgument));
  // Revision actions take theirs from their own command's comment.
  const std::string other = CreateOrder();
  Run(kProducer, Script(other, "Draft"));
  EXPECT_THAT(
      Reject(kAe, Approve(other, "script", 1)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"approve_script\" on order ")));
  EXPECT_THAT(Reject(kAe, Approve(other, "script", 1)).message(),
              HasSubstr("give one (comment; the CLI's --comment TEXT)"));
  v1::Command approve = Approve(other, "script", 1);
  approve.mutable_approve_revision()->set_comment("Lovely");
  Run(kAe, approve);
  v1::Command reasoned = bare;
  reasoned.mutable_perform_action()->set_comment("Out of budget this quarter");
  Run(kAe, reasoned);
  EXPECT_EQ(Order(order).status(), "declined");
}

// Seed 002's sales manager asks "why do the sales team lose certain deals": a step may
// require fields, so that no deal is lost without its reason.
TEST_F(WorkflowTest, AStepMayRequireFieldsSuchAsALostDealsReason) {
  v1::WorkflowDefinition workflow = DeclinableWorkflow();
  v1::Transition* decline =
      &*std::find_if(workflow.mutable_transitions()->begin(), workflow.mutable_transitions()->end(),
                     [](const v1::Transition& t) { return t.action() == "decline"; });
  decline->add_required_fields("lost_because");
  {
    // The decline (the last transition) given a second field: the same, a bad name, none.
    for (const auto& [second, says] : std::vector<std::pair<const char*, const char*>>{
             {"lost_because", "names required field \"lost_because\" twice"},
             {"why not", "required field \"why not\" may only hold letters"},
             {"", "names a required field without a name"}}) {
      v1::WorkflowDefinition bad = workflow;
      bad.mutable_transitions(bad.transitions_size() - 1)->add_required_fields(second);
      EXPECT_THAT(Reject(kAdmin, Publish(bad)),
                  StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(says)));
    }
    v1::WorkflowDefinition answer = workflow;
    for (v1::Transition& t : *answer.mutable_transitions()) {
      if (t.action() == "client_approve_script") t.add_required_fields("lost_because");
    }
    EXPECT_THAT(Reject(kAdmin, Publish(answer)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("is a client's answer, which sets no fields")));
  }
  // A field no type following the workflow has is most likely misspelt: refused, not a step
  // quietly taken from every order.
  EXPECT_THAT(Reject(kAdmin, Publish(workflow)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("item type \"production_order\" follows workflow "
                                 "\"production_order\", whose action \"decline\" from state "
                                 "\"awaiting_script\" requires field lost_because, which the type "
                                 "has not (its fields: contract_number, station); add it to the "
                                 "type first")));
  Run(kAdmin, Publish(DeclinableWorkflow()));
  const std::string older = CreateOrder();  // On the version without the requirement.
  v1::Command type;
  *type.mutable_define_item_type()->mutable_definition() =
      *engine_->GetItemType({kAdmin}, kProductionOrder);
  v1::FieldDefinition* why = type.mutable_define_item_type()->mutable_definition()->add_fields();
  why->set_name("lost_because");
  why->set_type(v1::STRING);
  for (const char* choice : {"price", "timing"}) why->add_choices(choice);
  Run(kAdmin, type);
  Run(kAdmin, Publish(workflow));
  const std::string later = CreateOrder();  // Its decline requires the field.
  {
    // Dropping the field from the type while the workflow requires it is refused the same way.
    v1::Command dropped;
    *dropped.mutable_define_item_type()->mutable_definition() =
        *engine_->GetItemType({kAdmin}, kProductionOrder);
    dropped.mutable_define_item_type()->mutable_definition()->mutable_fields()->RemoveLast();
    EXPECT_THAT(Reject(kAdmin, dropped),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("requires field lost_because, which the type has not")));
  }
  // Orders keep the version they started under: the older one is declined without a reason.
  Run(kAe, Action(older, "decline"));

  const std::string deal = CreateOrder();
  const std::string key = Order(deal).key();
  ASSERT_OK_AND_ASSIGN(v1::OrderView shown, engine_->GetOrder({kAe}, deal));
  EXPECT_THAT(shown.open_actions(), Contains("decline"));
  ASSERT_EQ(shown.open_actions_needing_fields_size(), 1);
  EXPECT_EQ(shown.open_actions_needing_fields(0).action(), "decline");
  EXPECT_THAT(shown.open_actions_needing_fields(0).fields(), ElementsAre("lost_because"));
  EXPECT_FALSE(shown.open_actions_needing_fields(0).filled_by_others());
  // Required even into an abandoned state, which asks for none of the work's own fields.
  const absl::Status bare = Reject(kAe, Action(deal, "decline"));
  EXPECT_THAT(bare, StatusIs(absl::StatusCode::kFailedPrecondition,
                             HasSubstr("action \"decline\" from state \"awaiting_script\" "
                                       "requires field lost_because, which order ")));
  EXPECT_THAT(bare.message(),
              HasSubstr(absl::StrCat("give it with the step (spotflow action ", key,
                                     " decline --field lost_because=VALUE) or fill it in first "
                                     "(spotflow order update ",
                                     key,
                                     " --field lost_because=VALUE); lost_because is one of: "
                                     "price, timing")));
  EXPECT_THAT(bare,
              HasErrorInfo("MISSING_FIELDS", UnorderedElementsAre(Pair("fields", "lost_because"),
                                                                  Pair("action", "decline"))));
  // Blank is no reason.
  v1::Command blank = Action(deal, "decline");
  (*blank.mutable_perform_action()->mutable_fields())["lost_because"].set_string_value("  ");
  EXPECT_THAT(Reject(kAe, blank), StatusIs(absl::StatusCode::kFailedPrecondition,
                                           HasSubstr("requires field lost_because")));
  v1::Command lose = Action(deal, "decline");
  (*lose.mutable_perform_action()->mutable_fields())["lost_because"].set_string_value("price");
  Run(kAe, lose);
  EXPECT_EQ(Order(deal).status(), "declined");
  EXPECT_EQ(Order(deal).fields().at("lost_because").string_value(), "price");
  // Given before the step, it is there when the step is taken.
  const std::string other = CreateOrder();
  v1::Command set;
  set.mutable_update_order()->set_order_id(other);
  (*set.mutable_update_order()->mutable_fields())["lost_because"].set_string_value("timing");
  Run(kAe, set);
  ASSERT_OK_AND_ASSIGN(shown, engine_->GetOrder({kAe}, other));
  EXPECT_THAT(shown.open_actions_needing_fields(), IsEmpty());
  Run(kAe, Action(other, "decline"));
  EXPECT_EQ(Order(other).status(), "declined");

  // A revision's command carries no fields: they are filled in first.
  v1::WorkflowDefinition approving = workflow;
  for (v1::Transition& t : *approving.mutable_transitions()) {
    if (t.action() == "approve_script") t.add_required_fields("lost_because");
  }
  Run(kAdmin, Publish(approving));
  const std::string scripted = CreateOrder();
  Run(kProducer, Script(scripted, "Draft"));
  const absl::Status approve = Reject(kAe, Approve(scripted, "script", 1));
  EXPECT_THAT(approve, StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("fill it in first (spotflow order update ")));
  EXPECT_THAT(approve.message(), Not(HasSubstr("with the step")));
  // Filling them in is managing the order: a producer, who does not, is told whom to ask.
  v1::WorkflowDefinition submitting = workflow;
  for (v1::Transition& t : *submitting.mutable_transitions()) {
    if (t.action() == "submit_script") t.add_required_fields("lost_because");
  }
  Run(kAdmin, Publish(submitting));
  const std::string unscripted = CreateOrder();
  ASSERT_OK_AND_ASSIGN(shown, engine_->GetOrder({kProducer}, unscripted));
  ASSERT_EQ(shown.open_actions_needing_fields_size(), 1);
  EXPECT_EQ(shown.open_actions_needing_fields(0).action(), "submit_script");
  EXPECT_TRUE(shown.open_actions_needing_fields(0).filled_by_others());
  EXPECT_THAT(Reject(kProducer, Script(unscripted, "Draft")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("you may not fill it in (ORDER_MANAGE): ask whoever manages the "
                                 "order (its owner, ae) to, first (spotflow order update ")));
  set.mutable_update_order()->set_order_id(unscripted);
  Run(kAe, set);
  Run(kProducer, Script(unscripted, "Draft"));

  const std::string waiting = CreateOrder();  // Either way on from its state needs the field.

  // A type may drop the field once no latest version requires it, unless an order under way
  // on a version that does would be stranded.
  Run(kAdmin, Publish(DeclinableWorkflow()));
  // (The scripts of these two need the field under their versions: out of the way.)
  for (const std::string& order : {scripted, unscripted}) Run(kAe, OrderOnly(order, "delete"));
  v1::Command dropped;
  *dropped.mutable_define_item_type()->mutable_definition() =
      *engine_->GetItemType({kAdmin}, kProductionOrder);
  dropped.mutable_define_item_type()->mutable_definition()->mutable_fields()->RemoveLast();
  EXPECT_THAT(Reject(kAdmin, dropped),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"decline\" from awaiting_script requires field lost_because) "
                                 "need what the type has not (artifacts: script, spot; fields: "
                                 "contract_number, station)")));
  Run(kAe, OrderOnly(waiting, "delete"));
  Run(kAdmin, dropped);
  // An order whose other way on is open then cannot take the step: it is not offered, nor
  // named open to others.
  ASSERT_OK_AND_ASSIGN(shown, engine_->GetOrder({kAe}, later));
  EXPECT_THAT(shown.open_actions(), Not(Contains("decline")));
  EXPECT_THAT(Reject(kAe, Action(later, "decline")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("requires field lost_because, which item type "
                                 "\"production_order\" no longer has")));
  EXPECT_THAT(Reject(kAe, Action(later, "deliver")).message(), Not(HasSubstr("decline")));
}

// "Producer" beside "producer" would be taken for one another wherever people type a name.
TEST_F(WorkflowTest, ANameDifferingOnlyInCaseFromOneInUseIsRefused) {
  v1::Command role;
  role.mutable_define_role()->mutable_definition()->set_name("Producer");
  v1::Grant* grant = role.mutable_define_role()->mutable_definition()->add_grants();
  grant->set_privilege(v1::ORDER_VIEW);
  grant->set_scope(v1::OWN);
  EXPECT_THAT(Reject(kAdmin, role),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("role \"producer\" already exists; \"Producer\" differs only in "
                                 "case: name that one to redefine it")));
  v1::WorkflowDefinition shouting = ProductionOrderWorkflow();
  shouting.set_name("Production_Order");
  EXPECT_THAT(Reject(kAdmin, Publish(shouting)),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("workflow \"production_order\" already exists")));
  v1::Command type;
  *type.mutable_define_item_type()->mutable_definition() =
      *engine_->GetItemType({kAdmin}, kProductionOrder);
  type.mutable_define_item_type()->mutable_definition()->set_name("PRODUCTION_ORDER");
  type.mutable_define_item_type()->mutable_definition()->set_version(0);
  EXPECT_THAT(Reject(kAdmin, type),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("item type \"production_order\" already exists")));
  // A name of its own, capitals and all, is the administrator's to choose.
  role.mutable_define_role()->mutable_definition()->set_name("Regional_Producer");
  Run(kAdmin, role);
}

// An administrator configuring a new kind of request (seed 001) sees what is defined.
TEST_F(WorkflowTest, ItemTypesAndWorkflowsAreListedByNameInTheirLatestVersions) {
  v1::WorkflowDefinition marketing = ProductionOrderWorkflow();
  marketing.set_name("marketing_request");
  Run(kAdmin, Publish(marketing));
  Run(kAdmin, Publish(ProductionOrderWorkflow()));  // Unchanged: still version 1.
  v1::WorkflowDefinition next = ProductionOrderWorkflow();
  next.mutable_states(0)->set_title("Waiting for the script");
  Run(kAdmin, Publish(next));  // Version 2.
  v1::Command define;
  v1::ItemTypeDefinition* type = define.mutable_define_item_type()->mutable_definition();
  *type = *engine_->GetItemType({kAdmin}, kProductionOrder);
  type->set_name("creative");
  type->set_key_format("CR-{seq:3}");
  type->set_workflow("marketing_request");
  type->set_version(0);
  Run(kAdmin, define);

  PageRequest one;
  one.page_size = 1;
  ASSERT_OK_AND_ASSIGN(ListWorkflowsResponse first, engine_->ListWorkflows({kAe}, one));
  ASSERT_EQ(first.workflows.size(), 1u);
  EXPECT_EQ(first.workflows[0].name(), "marketing_request");
  one.page_token = first.next_page_token;
  ASSERT_OK_AND_ASSIGN(ListWorkflowsResponse second, engine_->ListWorkflows({kAe}, one));
  ASSERT_EQ(second.workflows.size(), 1u);
  EXPECT_EQ(second.workflows[0].name(), kProductionOrder);
  EXPECT_EQ(second.workflows[0].version(), 2u) << "the latest";
  EXPECT_EQ(second.next_page_token, "");

  ASSERT_OK_AND_ASSIGN(ListItemTypesResponse types, engine_->ListItemTypes({kAe}, {}));
  ASSERT_EQ(types.item_types.size(), 2u);
  EXPECT_EQ(types.item_types[0].name(), "creative");
  EXPECT_EQ(types.item_types[0].workflow(), "marketing_request");
  EXPECT_EQ(types.item_types[1].name(), kProductionOrder);
  PageRequest bad;
  bad.page_token = "not a token";
  EXPECT_THAT(engine_->ListItemTypes({kAe}, bad), StatusIs(absl::StatusCode::kInvalidArgument));

  // The house's: a contact's login lists neither; one that submits requests lists the forms.
  EXPECT_THAT(engine_->ListItemTypes({kClientUser}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("the house's")));
  EXPECT_THAT(engine_->ListWorkflows({kClientUser}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied));
  MakeClientRequester();
  // The house's own work (no client) is not there for it to request.
  DefineSpotsOnlyType("house_promo", "HP-{seq:3}", /*client_link=*/false);
  PageRequest page;
  page.page_size = 1;
  ASSERT_OK_AND_ASSIGN(ListItemTypesResponse forms, engine_->ListItemTypes({kClientUser}, page));
  ASSERT_EQ(forms.item_types.size(), 1u);
  EXPECT_EQ(forms.item_types[0].name(), "creative");
  EXPECT_EQ(forms.item_types[0].workflow(), "");
  EXPECT_EQ(forms.item_types[0].key_format(), "");
  EXPECT_EQ(forms.item_types[0].fields_size(), type->fields_size());
  page.page_token = forms.next_page_token;
  ASSERT_OK_AND_ASSIGN(forms, engine_->ListItemTypes({kClientUser}, page));
  ASSERT_EQ(forms.item_types.size(), 1u);
  EXPECT_EQ(forms.item_types[0].name(), kProductionOrder) << "house_promo is not for it";
  EXPECT_EQ(forms.item_types[0].key_format(), "");
  EXPECT_EQ(forms.next_page_token, "");
  EXPECT_THAT(engine_->GetItemType({kClientUser}, "house_promo"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("`spotflow type list`")));
  v1::Command request = CreateOrderCommand(v1::PROVIDED);
  request.mutable_create_order()->clear_client_id();
  request.mutable_create_order()->set_item_type("house_promo");
  EXPECT_THAT(Reject(kClientUser, request),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not exist; `spotflow type list` lists those you may")));
  v1::Command unknown = CreateOrderCommand();
  unknown.mutable_create_order()->set_item_type("nope");
  EXPECT_THAT(Reject(kAe, unknown),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the item types are: creative, house_promo, production_order")));
  unknown.mutable_create_order()->set_item_type("house_prom");
  EXPECT_THAT(Reject(kAe, unknown),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("item type \"house_prom\" does not exist; did you mean "
                                 "\"house_promo\"?; the item types are: ")));
  // A page token is its list's own.
  PageRequest first_role;
  first_role.page_size = 1;
  ASSERT_OK_AND_ASSIGN(ListRolesResponse role_page, engine_->ListRoles({kAe}, first_role));
  PageRequest crossed;
  crossed.page_token = role_page.next_page_token;
  ASSERT_NE(crossed.page_token, "");
  EXPECT_THAT(engine_->ListItemTypes({kAe}, crossed), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(engine_->ListWorkflows({kClientUser}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

// Seed 001: the agent "may create media insertions ... and/or creative projects" for a
// request. The request's type lists the types made for its items; each is for the request's
// client, linked both ways.
TEST_F(WorkflowTest, ItemsAreMadeForARequestAndLinkedToIt) {
  const auto define = [&](const std::string& name, const std::string& key_format,
                          std::vector<std::string> child_types) {
    v1::Command command;
    v1::ItemTypeDefinition* type = command.mutable_define_item_type()->mutable_definition();
    *type = *engine_->GetItemType({kAdmin}, kProductionOrder);
    type->set_name(name);
    type->set_title(name == "creative" ? "Creative project" : "Marketing request");
    type->set_key_format(key_format);
    type->set_version(0);
    for (const std::string& child : child_types) type->mutable_facets()->add_child_types(child);
    return command;
  };
  EXPECT_THAT(Reject(kAdmin, define("marketing_request", "MKT-{seq:3}", {"creative"})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown child type \"creative\"; define that type first")));
  EXPECT_THAT(Reject(kAdmin, define("marketing_request", "MKT-{seq:3}", {"a", "a"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("listed twice")));
  Run(kAdmin, define("creative", "CR-{seq:3}", {}));
  Run(kAdmin, define("marketing_request", "MKT-{seq:3}", {"creative"}));
  v1::Command request = CreateOrderCommand();
  request.mutable_create_order()->set_item_type("marketing_request");
  const std::string parent = Run(kAe, request).id();
  const uint64_t parent_version = Order(parent).version();

  v1::Command child = CreateOrderCommand();
  child.mutable_create_order()->set_item_type("creative");
  child.mutable_create_order()->clear_client_id();               // The request's client.
  child.mutable_create_order()->set_parent_order_id("MKT-001");  // By key, as people say it.
  child.set_request_id("creative-for-mkt-1");
  {
    v1::Command unknown = child;
    unknown.mutable_create_order()->set_parent_order_id("MKT-999");
    EXPECT_THAT(Reject(kAe, unknown), StatusIs(absl::StatusCode::kNotFound));
    EXPECT_THAT(Reject(kAe2, child), StatusIs(absl::StatusCode::kNotFound))
        << "another AE's request is not there for them";
    EXPECT_THAT(Reject(kProducer, child), StatusIs(absl::StatusCode::kPermissionDenied));
    v1::Command not_listed = child;
    not_listed.mutable_create_order()->set_item_type(kProductionOrder);
    EXPECT_THAT(Reject(kAe, not_listed),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("those made for one are of type creative")));
    v1::Command elsewhere = child;
    elsewhere.mutable_create_order()->set_client_id("globex");
    EXPECT_THAT(Reject(kAe, elsewhere),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("an item made for it is for the same client")));
    MakeClientRequester();
    v1::Command from_client = child;
    from_client.clear_request_id();
    EXPECT_THAT(Reject(kClientUser, from_client),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leave parent_order_id")));
  }
  ASSERT_OK_AND_ASSIGN(v1::CommandResult preview, Preview(kAe, child));
  EXPECT_EQ(preview.streams_size(), 2) << "the item's and the request's";
  const v1::CommandResult made = Run(kAe, child);
  EXPECT_EQ(made.key(), "CR-001");
  const v1::CommandResult again = Run(kAe, child);
  EXPECT_TRUE(again.deduplicated());
  EXPECT_EQ(again.id(), made.id()) << "a repeat answers with the item it made";

  const v1::OrderView creative = Order(made.id());
  EXPECT_EQ(creative.client_id(), client_);
  EXPECT_EQ(creative.parent_order_id(), parent);
  const v1::OrderView mkt = Order(parent);
  EXPECT_THAT(mkt.child_order_ids(), ElementsAre(made.id()));
  EXPECT_EQ(mkt.version(), parent_version + 1) << "the link is on the request's stream too";
  // Shown with where each stands.
  ASSERT_OK_AND_ASSIGN(v1::OrderView shown, engine_->GetOrder({kAe}, parent));
  ASSERT_EQ(shown.children_size(), 1);
  EXPECT_EQ(shown.children(0).key(), "CR-001");
  EXPECT_EQ(shown.children(0).item_type_title(), "Creative project");
  EXPECT_EQ(shown.children(0).status_title(), "Awaiting script");
  EXPECT_FALSE(shown.has_parent());
  ASSERT_OK_AND_ASSIGN(v1::OrderView below, engine_->GetOrder({kAe}, made.id()));
  EXPECT_EQ(below.parent().key(), "MKT-001");
  EXPECT_EQ(below.parent().title(), mkt.title());
  // The client's login sees the links to what it may see, not the house's ids.
  ASSERT_OK_AND_ASSIGN(v1::OrderView theirs, engine_->GetOrder({kClientUser}, parent));
  EXPECT_THAT(theirs.child_order_ids(), IsEmpty());
  EXPECT_THAT(theirs.item_type_facets().child_types(), IsEmpty()) << "the house's setup";
  EXPECT_EQ(Order(parent).item_type_facets().child_types_size(), 1);
  EXPECT_EQ(theirs.children_size(), 1) << "the client's own order";
  // Nothing is made for an archived request, until it is restored; nor is a request set
  // aside while an item made for it is under way.
  EXPECT_THAT(Reject(kAe, OrderOnly(parent, "archive")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("still under way: CR-001 (Awaiting script); it is archived "
                                 "after them")));
  EXPECT_THAT(Reject(kAe, OrderOnly(parent, "delete")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is deleted after them")));
  Run(kAe, OrderOnly(made.id(), "archive"));
  Run(kAe, OrderOnly(parent, "archive"));
  v1::Command late = child;
  late.clear_request_id();
  EXPECT_THAT(Reject(kAe, late),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is archived")));
  EXPECT_THAT(Reject(kAe, OrderOnly(made.id(), "restore")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(", which is archived: restore that one first")))
      << "its work would go on under a request set aside";
  Run(kAe, OrderOnly(parent, "restore"));
  Run(kAe, OrderOnly(made.id(), "restore"));
  EXPECT_EQ(Run(kAe, late).key(), "CR-002");
  EXPECT_EQ(Order(parent).child_order_ids_size(), 2);

  // The house's own work made for a request (a type without client_link) stays the house's:
  // no client, so the client's logins do not see it; nor does a colleague the request is
  // shared with but who does not see that work, by its id, in a view or in the history.
  DefineSpotsOnlyType("house_promo", "HP-{seq:3}", /*client_link=*/false);
  Run(kAdmin, define("marketing_request", "MKT-{seq:3}", {"creative", "house_promo"}));
  v1::Command promo = CreateOrderCommand(v1::PROVIDED);
  promo.mutable_create_order()->set_item_type("house_promo");
  promo.mutable_create_order()->clear_client_id();
  promo.mutable_create_order()->clear_flight_start();
  promo.mutable_create_order()->clear_flight_end();
  promo.mutable_create_order()->set_parent_order_id(parent);
  const std::string house = Run(kAe, promo).id();
  EXPECT_EQ(Order(house).client_id(), "");
  EXPECT_EQ(Order(parent).child_order_ids_size(), 3);
  ASSERT_OK_AND_ASSIGN(v1::OrderView client_sees, engine_->GetOrder({kClientUser}, parent));
  EXPECT_EQ(client_sees.children_size(), 2) << "the two creative projects, the client's";
  v1::Command share;
  share.mutable_share_order()->set_order_id(parent);
  share.mutable_share_order()->set_user_id(kAe2);
  Run(kAe, share);
  ASSERT_OK_AND_ASSIGN(v1::OrderView colleague, engine_->GetOrder({kAe2}, parent));
  EXPECT_THAT(colleague.child_order_ids(), Not(Contains(house)));
  for (const v1::OrderLink& link : colleague.children()) EXPECT_NE(link.order_id(), house);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> history, engine_->OrderHistory({kAe2}, parent));
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> whole, engine_->OrderHistory({kAe}, parent));
  const auto mentions = [&](const std::vector<v1::Change>& changes) {
    bool found = false;
    for (const v1::Change& change : changes) {
      for (const v1::FieldChange& field : change.fields()) {
        found |= absl::StrContains(field.new_value(), house);
      }
    }
    return found;
  };
  EXPECT_TRUE(mentions(whole));
  EXPECT_FALSE(mentions(history));

  // Listed by the order they were made for (by its key), those the caller sees.
  ListOrdersRequest of_request;
  of_request.parent_order_id = "MKT-001";
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse made_for, engine_->ListOrders({kAe}, of_request));
  std::vector<std::string> keys;
  for (const v1::OrderView& o : made_for.orders) keys.push_back(o.key());
  EXPECT_THAT(keys, ElementsAre("CR-001", "CR-002", "HP-001"));
  v1::Command share_one;
  share_one.mutable_share_order()->set_order_id(made.id());
  share_one.mutable_share_order()->set_user_id(kAe2);
  Run(kAe, share_one);
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse seen_by_colleague,
                       engine_->ListOrders({kAe2}, of_request));
  ASSERT_EQ(seen_by_colleague.orders.size(), 1u) << "the one shared with them";
  EXPECT_EQ(seen_by_colleague.orders[0].key(), "CR-001");
  ASSERT_OK_AND_ASSIGN(colleague, engine_->GetOrder({kAe2}, parent));
  EXPECT_THAT(colleague.child_order_ids(), ElementsAre(made.id())) << "of the three, theirs";
  ASSERT_EQ(colleague.children_size(), 1);
  EXPECT_EQ(colleague.children(0).key(), "CR-001");
  of_request.parent_order_id = "MKT-404";
  EXPECT_THAT(engine_->ListOrders({kAe}, of_request),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("to list the items made for it")));

  // An item that ended undone (declined) is shown so among the request's items.
  Run(kAdmin, Publish(DeclinableWorkflow()));
  v1::Command another = child;
  another.clear_request_id();
  const std::string turned_down = Run(kAe, another).id();
  Run(kAe, Action(turned_down, "decline"));
  ASSERT_OK_AND_ASSIGN(shown, engine_->GetOrder({kAe}, parent));
  int abandoned = 0;
  for (const v1::OrderLink& link : shown.children()) {
    EXPECT_EQ(link.abandoned(), link.order_id() == turned_down) << link.key();
    abandoned += link.abandoned();
  }
  EXPECT_EQ(abandoned, 1);
}

// Seed 001: a request's work is the items made for it. The request finishes after them, and
// nothing more is made for one that is done.
TEST_F(WorkflowTest, ARequestFinishesAfterTheItemsMadeForIt) {
  v1::WorkflowDefinition workflow = ProductionOrderWorkflow();
  v1::WorkflowState* withdrawn = workflow.add_states();
  withdrawn->set_name("withdrawn");
  withdrawn->set_title("Withdrawn");
  withdrawn->set_terminal(true);
  v1::Transition* withdraw = workflow.add_transitions();
  withdraw->set_from("awaiting_script");
  withdraw->set_action("withdraw");
  withdraw->set_to("withdrawn");
  withdraw->set_privilege(v1::ORDER_MANAGE);
  Run(kAdmin, Publish(workflow));
  DefineSpotsOnlyType("house_promo", "HP-{seq:3}", /*client_link=*/false);
  for (const std::string name : {"creative", "marketing_request"}) {
    v1::Command command;
    v1::ItemTypeDefinition* type = command.mutable_define_item_type()->mutable_definition();
    *type = *engine_->GetItemType({kAdmin}, kProductionOrder);
    type->set_name(name);
    type->set_title(name == "creative" ? "Creative project" : "Marketing request");
    type->set_key_format(name == "creative" ? "CR-{seq:3}" : "MKT-{seq:3}");
    type->set_version(0);
    if (name == "marketing_request") {
      type->mutable_facets()->add_child_types("creative");
      type->mutable_facets()->add_child_types("house_promo");
    }
    Run(kAdmin, command);
  }
  v1::Command request = CreateOrderCommand();
  request.mutable_create_order()->set_item_type("marketing_request");
  const std::string parent = Run(kAe, request).id();
  v1::Command child = CreateOrderCommand();
  child.mutable_create_order()->set_item_type("creative");
  child.mutable_create_order()->set_parent_order_id(parent);
  const std::string first = Run(kAe, child).id();
  const std::string second = Run(kAe, child).id();
  const auto ready = [&](const std::string& order) {
    Run(kProducer, Script(order, "Draft"));
    Run(kAe, Approve(order, "script", 1));
    Run(kProducer, Spot(order, "s3://spot"));
    Run(kAe, Approve(order, "spot", 1));
  };
  ready(parent);
  EXPECT_THAT(Reject(kProducer, Action(parent, "deliver")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("has items made for it still under way: CR-001 "
                                 "(Awaiting script), CR-002 (Awaiting script); it finishes "
                                 "after them (\"deliver\" leads to final state \"completed\"): "
                                 "finish, archive or delete them first (spotflow order list "
                                 "--parent MKT-001)")));
  const v1::OrderView before = Order(parent);
  ready(first);
  Run(kProducer, Action(first, "deliver"));  // Finished.
  Run(kAe, OrderOnly(second, "archive"));    // Set aside.
  EXPECT_EQ(Order(parent).version(), before.version()) << "the items' streams, not the request's";
  // Each rests on what the decision read: restored, it is under way again.
  Run(kAe, OrderOnly(second, "restore"));
  EXPECT_THAT(Reject(kProducer, Action(parent, "deliver")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("under way: CR-002")));
  Run(kAe, OrderOnly(second, "archive"));
  Run(kProducer, Action(parent, "deliver"));
  EXPECT_TRUE(Order(parent).completed());

  // Nothing more is made for a request that is done.
  EXPECT_THAT(Reject(kAe, child),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is done (Completed); items are made for an order "
                                 "under way: make this one on its own")));
  EXPECT_EQ(Order(parent).child_order_ids_size(), 2);

  // One the caller does not see is counted, not named: the house's own work made for a
  // request, by the AE, and a colleague the request is shared with.
  const std::string other = Run(kAe, request).id();
  v1::Command promo = CreateOrderCommand(v1::PROVIDED);
  promo.mutable_create_order()->set_item_type("house_promo");
  promo.mutable_create_order()->clear_client_id();
  promo.mutable_create_order()->clear_flight_start();
  promo.mutable_create_order()->clear_flight_end();
  promo.mutable_create_order()->set_parent_order_id(other);
  Run(kAe, promo);
  v1::Command share;
  share.mutable_share_order()->set_order_id(other);
  share.mutable_share_order()->set_user_id(kAe2);
  Run(kAe, share);
  EXPECT_THAT(Reject(kAe2, Action(other, "withdraw")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("still under way: 1 you do not see (ask their owner, or a "
                                 "manager over all orders); it finishes after them "
                                 "(\"withdraw\" leads to final state \"withdrawn\")")));
  EXPECT_THAT(Reject(kAe, Action(other, "withdraw")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("still under way: HP-001 (Awaiting spot)")));
}

// Seed 001: "a pre-approver receives an email that a request is waiting for his
// pre-approval": a step the workflow gives to a role of its own, apart from the others who
// hold the same privilege, in the pre-approver's queue alone.
TEST_F(WorkflowTest, AStepMayBeTakenBySomeRolesOnly) {
  v1::Command role;
  v1::RoleDefinition* pre = role.mutable_define_role()->mutable_definition();
  pre->set_name("pre_approver");
  pre->set_title("Pre-approver");
  v1::Grant* view = pre->add_grants();
  view->set_privilege(v1::ORDER_VIEW);
  view->set_scope(v1::ALL);
  v1::WorkflowDefinition workflow = WithPreApproval("pre_approver");
  EXPECT_THAT(Reject(kAdmin, Publish(workflow)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("names unknown role \"pre_approver\"; define it first")));
  Run(kAdmin, role);
  EXPECT_THAT(Reject(kAdmin, Publish(workflow)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("none of which grants its privilege REVISION_APPROVE: no one "
                                 "could take it")));
  v1::Grant* approve = pre->add_grants();
  approve->set_privilege(v1::REVISION_APPROVE);
  approve->set_scope(v1::ALL);
  Run(kAdmin, role);
  v1::WorkflowDefinition twice = workflow;
  twice.mutable_transitions(twice.transitions_size() - 1)->add_roles("pre_approver");
  EXPECT_THAT(Reject(kAdmin, Publish(twice)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  Run(kAdmin, Publish(workflow));
  AddUser("pat", "pre_approver");
  const std::string order = CreateOrder();
  EXPECT_EQ(Order(order).status(), "pre_approval");

  // The AE approves the revisions of their orders, and the manager any: this step is
  // neither's.
  for (const char* user : {kAe, kManager}) {
    ASSERT_OK_AND_ASSIGN(v1::OrderView shown, engine_->GetOrder({user}, order));
    EXPECT_THAT(shown.open_actions(), IsEmpty()) << user;
    EXPECT_THAT(Reject(user, Action(order, "pre_approve")),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         HasSubstr("is taken by the role pre_approver, which user")));
  }
  // Whom to ask is one who holds the role: not the manager, whose privilege alone would not do.
  EXPECT_THAT(Reject(kAe, Action(order, "pre_approve")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("does not hold; ask one who may do it: pat")));
  EXPECT_THAT(Reject(kProducer, Action(order, "pre_approve")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("needs REVISION_APPROVE with a scope that reaches it, which "
                                 "none of their roles grants; ask one who may do it: pat")));
  // It waits for the pre-approver: in their queue alone, and named as whom it waits for.
  ListOrdersRequest queue;
  queue.actionable = true;
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse pats, engine_->ListOrders({"pat"}, queue));
  ASSERT_EQ(pats.orders.size(), 1u);
  EXPECT_EQ(pats.orders[0].order_id(), order);
  EXPECT_THAT(pats.orders[0].open_actions(), ElementsAre("pre_approve"));
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse managers, engine_->ListOrders({kManager}, queue));
  EXPECT_THAT(managers.orders, IsEmpty());
  // Staff filter by a state's title as order show prints it, in any case, as by its name.
  ListOrdersRequest by_title;
  by_title.statuses = {"waiting for PRE-APPROVAL"};
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse titled, engine_->ListOrders({kManager}, by_title));
  ASSERT_EQ(titled.orders.size(), 1u);
  EXPECT_EQ(titled.orders[0].order_id(), order);
  by_title.statuses = {"Waiting for approval"};
  EXPECT_THAT(engine_->ListOrders({kManager}, by_title),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no workflow has a state")));
  GetOrderOptions awaiting;
  awaiting.awaiting = true;
  ASSERT_OK_AND_ASSIGN(v1::OrderView waits, engine_->GetOrder({kManager}, order, awaiting));
  ASSERT_EQ(waits.awaiting_size(), 1);
  EXPECT_EQ(waits.awaiting(0).user_id(), "pat");
  Run("pat", Action(order, "pre_approve"));
  EXPECT_EQ(Order(order).status(), "awaiting_script");
  // Once past it, who may never take the step hears that, not that the order moved on.
  EXPECT_THAT(Reject(kManager, Action(order, "pre_approve")),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("role pre_approver")));
  // The role keeps the step's privilege while a workflow in use gives it the step.
  v1::Command narrowed = role;
  narrowed.mutable_define_role()->mutable_definition()->mutable_grants()->RemoveLast();
  EXPECT_THAT(Reject(kAdmin, narrowed),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("role \"pre_approver\" would no longer grant REVISION_APPROVE")));
  v1::Command retitled = role;  // A change that keeps the grant is the administrator's.
  retitled.mutable_define_role()->mutable_definition()->set_title("Request pre-approver");
  Run(kAdmin, retitled);
  // A client's answer is the client's, recorded on its behalf by the house: no roles.
  v1::WorkflowDefinition answered = ProductionOrderWorkflow();
  for (v1::Transition& t : *answered.mutable_transitions()) {
    if (t.privilege() == v1::CLIENT_ANSWER) t.add_roles("pre_approver");
  }
  EXPECT_THAT(Reject(kAdmin, Publish(answered)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is a client's answer, which names no roles")));
}

// Seed 001's pre-approval given to the sales managers: the request waits for the manager of
// the AE whose order it is, not for every sales manager in the house (each of whom may still
// take it); an order whose owner has no manager who may waits for them all.
TEST_F(WorkflowTest, AStepForManagersWaitsForTheOwnersManager) {
  v1::WorkflowDefinition workflow = WithPreApproval(engine::kSalesManager);
  Run(kAdmin, Publish(workflow));
  AddUser("max", engine::kSalesManager);       // Manages no one.
  AddUser("director", engine::kSalesManager);  // Manages the AE's manager.
  v1::Command above;
  above.mutable_set_user_manager()->set_user_id(kManager);
  above.mutable_set_user_manager()->set_manager_id("director");
  Run(kAdmin, above);
  const std::string ours = CreateOrder();  // The AE's, whose manager is kManager.
  Run(kAe2, CreateClientCommand("globex", "Globex"));
  v1::Command create = CreateOrderCommand(v1::PRODUCTION);
  create.mutable_create_order()->set_client_id("globex");
  const std::string managerless = Run(kAe2, create).id();  // The manager-less AE's.

  GetOrderOptions awaiting;
  awaiting.awaiting = true;
  const auto waits_for = [&](const std::string& order) {
    std::vector<std::string> users;
    auto shown = engine_->GetOrder({kAdmin}, order, awaiting);
    EXPECT_OK(shown.status());
    if (shown.ok()) {
      for (const v1::Awaiting& a : shown->awaiting()) users.push_back(a.user_id());
    }
    return users;
  };
  EXPECT_THAT(waits_for(ours), ElementsAre(kManager)) << "the nearest manager up";
  EXPECT_THAT(waits_for(managerless), ElementsAre("director", kManager, "max"));
  ListOrdersRequest queue;
  queue.actionable = true;
  const auto queue_of = [&](const std::string& user) {
    std::vector<std::string> ids;
    auto listed = engine_->ListOrders({user}, queue);
    EXPECT_OK(listed.status());
    if (listed.ok()) {
      for (const v1::OrderView& o : listed->orders) ids.push_back(o.order_id());
    }
    return ids;
  };
  EXPECT_THAT(queue_of("max"), ElementsAre(managerless));
  EXPECT_THAT(queue_of("director"), ElementsAre(managerless)) << "not the AE's: their manager's";
  EXPECT_THAT(queue_of(kManager), UnorderedElementsAre(ours, managerless));
  // Another sales manager may still take it: the queue says whose work it is, not who may.
  ASSERT_OK_AND_ASSIGN(v1::OrderView seen, engine_->GetOrder({"max"}, ours));
  EXPECT_THAT(seen.open_actions(), ElementsAre("pre_approve"));
  // A manager who has left: the order waits for the nearest active one above them, as a
  // client's login is told whom to reach; with none, for them all.
  v1::Command leave;
  leave.mutable_deactivate_user()->set_user_id(kManager);
  Run(kAdmin, leave);
  EXPECT_THAT(waits_for(ours), ElementsAre("director"));
  leave.mutable_deactivate_user()->set_user_id("director");
  Run(kAdmin, leave);
  EXPECT_THAT(waits_for(ours), ElementsAre("max"));
  Run("max", Action(ours, "pre_approve"));
  EXPECT_EQ(Order(ours, kAdmin).status(), "awaiting_script");
}

// Seed 003: the order manager "is automatically assigned to the order" and "automatically
// detaches if they have not taken any action on the order, for example, the manager just
// opened, looked at, then closed the order": a step that assigns its taker makes whoever first
// acts on an order its responsible, and looking assigns no one.
TEST_F(WorkflowTest, AStepMayAssignWhoeverTakesIt) {
  v1::WorkflowDefinition flow;
  flow.set_name("payment_follow_up");
  for (const char* name : {"awaiting_payment", "call_back", "paid"}) {
    v1::WorkflowState* state = flow.add_states();
    state->set_name(name);
    state->set_terminal(std::string(name) == "paid");
  }
  v1::InitialState* initial = flow.add_initial_states();
  initial->set_kind(v1::PRODUCTION);
  initial->set_state("awaiting_payment");
  for (auto [from, action, to] :
       {std::tuple{"awaiting_payment", "no_answer", "call_back"},
        std::tuple{"call_back", "no_answer", "call_back"},
        std::tuple{"awaiting_payment", "paid", "paid"}, std::tuple{"call_back", "paid", "paid"}}) {
    v1::Transition* t = flow.add_transitions();
    t->set_from(from);
    t->set_action(action);
    t->set_to(to);
    t->set_privilege(v1::ORDER_MANAGE);
    t->set_assigns_taker(true);
  }
  Run(kAdmin, Publish(flow));
  v1::Command define;
  v1::ItemTypeDefinition* type = define.mutable_define_item_type()->mutable_definition();
  type->set_name("store_order");
  type->set_key_format("SO-{seq:3}");
  type->set_workflow("payment_follow_up");
  type->mutable_facets()->set_client_link(true);
  Run(kAdmin, define);
  AddUser("mgr2", engine::kSalesManager);
  v1::Command create = CreateOrderCommand();
  create.mutable_create_order()->set_item_type("store_order");
  create.mutable_create_order()->clear_flight_start();
  create.mutable_create_order()->clear_flight_end();
  const std::string order = Run(kAe, create).id();

  // Looked at, or the step previewed: no one is assigned.
  const uint64_t head = store_->Head().position;
  ASSERT_OK(engine_->GetOrder({kManager}, order).status());
  v1::Command no_answer = Action(order, "no_answer");
  no_answer.mutable_perform_action()->set_comment("no one picked up");
  ASSERT_OK_AND_ASSIGN(v1::CommandResult previewed, Preview(kManager, no_answer));
  EXPECT_EQ(previewed.etag(), Order(order).version() + 2) << "the assignment and the step";
  EXPECT_EQ(store_->Head().position, head);
  EXPECT_EQ(Order(order).producer_id(), "");
  // The first to act is, in the same command, before the step.
  Run(kManager, no_answer);
  EXPECT_EQ(Order(order).producer_id(), kManager);
  EXPECT_EQ(store_->Head().position, head + 2);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> history, engine_->OrderHistory({kManager}, order));
  ASSERT_GE(history.size(), 2u);
  EXPECT_EQ(history[history.size() - 2].type(), "spotflow.v1.ProducerAssigned");
  EXPECT_EQ(history.back().type(), "spotflow.v1.OrderTransitioned");
  // The order to call back is theirs now (with the account's own people), in their queue, not
  // the other manager's.
  GetOrderOptions awaiting;
  awaiting.awaiting = true;
  ASSERT_OK_AND_ASSIGN(v1::OrderView waits, engine_->GetOrder({kAdmin}, order, awaiting));
  std::vector<std::string> waited;
  for (const v1::Awaiting& a : waits.awaiting()) waited.push_back(a.user_id());
  EXPECT_THAT(waited, Contains(kManager));
  EXPECT_THAT(waited, Not(Contains("mgr2")));
  // Another who steps in keeps them the responsible (a change of manager is AssignProducer's).
  Run("mgr2", Action(order, "no_answer"));
  EXPECT_EQ(Order(order).producer_id(), kManager);
  // Once they have left, the next to act takes their place.
  v1::Command leave;
  leave.mutable_deactivate_user()->set_user_id(kManager);
  Run(kAdmin, leave);
  Run("mgr2", Action(order, "no_answer"));
  EXPECT_EQ(Order(order, kAdmin).producer_id(), "mgr2");
  // A step that finishes the order assigns no one: it is done.
  const std::string other = Run(kAe, create).id();
  Run("mgr2", Action(other, "paid"));
  EXPECT_EQ(Order(other, kAdmin).producer_id(), "");

  // On a production order only a producer is its responsible: the AE approving a script in a
  // step that assigns its taker takes it unassigned, and the producer writing one is assigned.
  v1::WorkflowDefinition production = ProductionOrderWorkflow();
  for (v1::Transition& t : *production.mutable_transitions()) {
    if (t.action() == "submit_script" || t.action() == "approve_script") t.set_assigns_taker(true);
  }
  Run(kAdmin, Publish(production));
  const std::string spot = CreateOrder();
  Run(kProducer, Script(spot, "Draft one"));
  EXPECT_EQ(Order(spot, kAdmin).producer_id(), kProducer);
  v1::Command unassign = Assign(spot, "");
  Run(kAe, unassign);
  Run(kAe, Approve(spot, "script", 1));
  EXPECT_EQ(Order(spot, kAdmin).producer_id(), "") << "an AE is no producer";

  // A client's answer is the client's: it assigns no one, refused on publishing.
  for (v1::Transition& t : *production.mutable_transitions()) {
    if (absl::StartsWith(t.action(), "client_approve_")) t.set_assigns_taker(true);
  }
  EXPECT_THAT(Reject(kAdmin, Publish(production)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is a client's answer, which assigns no one")));
}

// Seed 001: the agent "validates the information, assigns a responsible": an item without
// revisions has a responsible where a production order has a producer, someone who may take a
// step of its workflow; the request then waits for them too, and they see it.
TEST_F(WorkflowTest, ARequestWithoutRevisionsHasAResponsible) {
  DefineRequestFlow({"start", ""}, {"complete", ""});
  const v1::Command create = RequestCommand();
  const std::string order = Run(kAe, create).id();
  const auto assign = [&](const std::string& user) { return Assign(order, user); };
  // A producer writes revisions, which a request has none of: no step of it is theirs.
  EXPECT_THAT(Reject(kAe, assign(kProducer)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("may take none of the steps still ahead of order MKT-001")));
  EXPECT_THAT(Reject(kAe, assign(kClientUser)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Reject(kAe2, assign(kAe2)), StatusIs(absl::StatusCode::kNotFound))
      << "another's request is not there to take";
  Run(kAe, assign(kAe2));
  EXPECT_EQ(Order(order).producer_id(), kAe2);
  ASSERT_OK_AND_ASSIGN(v1::OrderView theirs, engine_->GetOrder({kAe2}, order));
  EXPECT_THAT(theirs.open_actions(), ElementsAre("start"));
  Run(kAe2, Action(order, "start"));
  EXPECT_EQ(Order(order).status(), "in_progress");

  // Its requester follows a request of it by the states it went through (seed 001: the
  // client consults the status of its request), by their titles only: such a type has no
  // revisions whose internal reviews they would tell.
  MakeClientRequester();
  v1::Command request = create;
  request.mutable_create_order()->clear_client_id();
  const std::string requested = Run(kClientUser, request).id();
  Run(kAe, Action(requested, "start"));
  ASSERT_OK_AND_ASSIGN(v1::OrderView followed, engine_->GetOrder({kClientUser}, requested));
  std::vector<std::string> titles;
  for (const v1::StatusEntered& entered : followed.status_history()) {
    titles.push_back(entered.title());
    EXPECT_EQ(entered.status(), "") << "the house's names";
    EXPECT_EQ(entered.position(), 0u) << "the house's log";
  }
  EXPECT_THAT(titles, ElementsAre("submitted", "in_progress")) << "names, when untitled";
  ASSERT_OK_AND_ASSIGN(v1::OrderView houses, engine_->GetOrder({kClientUser}, order));
  EXPECT_THAT(houses.status_history(), IsEmpty()) << "not its request";
  EXPECT_EQ(Order(requested).status_history(0).title(), "") << "the house reads the names";
}

// A responsible is someone with a step left to take: not the pre-approver of a request already
// approved, and no one for a request that is done.
TEST_F(WorkflowTest, AResponsibleHasAStepLeftToTake) {
  // The manager pre-approves; an AE completes.
  DefineRequestFlow({"pre_approve", engine::kSalesManager},
                    {"complete", engine::kAccountExecutive});
  const std::string order = Run(kAe, RequestCommand()).id();
  const auto assign = [&](const std::string& user) { return Assign(order, user); };
  Run(kAe, assign(kManager));  // Its pre-approval is ahead.
  Run(kManager, Action(order, "pre_approve"));
  EXPECT_THAT(Reject(kAe, assign(kManager)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("user \"manager\" may take none of the steps still ahead of "
                                 "order MKT-001 (\"id-")));
  EXPECT_THAT(Reject(kAe, assign(kManager)).message(),
              HasSubstr("(in state \"in_progress\"), which need ORDER_MANAGE (role "
                        "account_executive): make someone who holds one its responsible"));
  Run(kAe, assign(kAe2));
  Run(kAe, Action(order, "complete"));
  EXPECT_THAT(
      Reject(kAe, assign(kAe)),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("is done (done): no one new is assigned to it (\"ae2\" stays the one "
                         "who worked on it)")));
}

// Seed 001's media insertions are the house's work for a client's request: the client sees
// them, but does not request them, nor read what the house keeps to itself (their cost).
TEST_F(WorkflowTest, TheHouseKeepsSomeTypesAndFieldsToItself) {
  MakeClientRequester();
  v1::Command define;
  v1::ItemTypeDefinition* type = define.mutable_define_item_type()->mutable_definition();
  *type = *engine_->GetItemType({kAdmin}, kProductionOrder);
  type->set_version(0);
  v1::FieldDefinition* cost = type->add_fields();
  cost->set_name("cost");
  cost->set_type(v1::INTEGER);
  cost->set_required(true);
  cost->set_internal(true);
  Run(kAdmin, define);  // The production order, with an internal cost the house fills in.
  v1::Command insertion_type = define;
  insertion_type.mutable_define_item_type()->mutable_definition()->set_name("media_insertion");
  insertion_type.mutable_define_item_type()->mutable_definition()->set_key_format("MI-{seq:3}");
  insertion_type.mutable_define_item_type()->mutable_definition()->mutable_facets()->set_house_only(
      true);
  Run(kAdmin, insertion_type);
  v1::Command nobodys = insertion_type;
  nobodys.mutable_define_item_type()->mutable_definition()->set_name("internal_note");
  nobodys.mutable_define_item_type()->mutable_definition()->mutable_facets()->set_client_link(
      false);
  EXPECT_THAT(Reject(kAdmin, nobodys),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leave house_only out")));

  // The client's form leaves the internal field out; it requests without it, and may not
  // give it.
  ASSERT_OK_AND_ASSIGN(v1::ItemTypeDefinition form,
                       engine_->GetItemType({kClientUser}, kProductionOrder));
  for (const v1::FieldDefinition& field : form.fields()) EXPECT_NE(field.name(), "cost");
  v1::Command request = CreateOrderCommand();
  request.mutable_create_order()->clear_client_id();
  v1::Command priced = request;
  (*priced.mutable_create_order()->mutable_fields())["cost"].set_integer_value(1);
  EXPECT_THAT(Reject(kClientUser, priced),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has no field \"cost\"")));
  const std::string requested = Run(kClientUser, request).id();
  // The house's own order needs it; the client does not read it.
  EXPECT_THAT(Reject(kAe, CreateOrderCommand()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"cost\" is required")));
  v1::Command house = CreateOrderCommand();
  (*house.mutable_create_order()->mutable_fields())["cost"].set_integer_value(900);
  const std::string order = Run(kAe, house).id();
  EXPECT_EQ(Order(order).fields().at("cost").integer_value(), 900);
  ASSERT_OK_AND_ASSIGN(v1::OrderView theirs, engine_->GetOrder({kClientUser}, order));
  EXPECT_EQ(theirs.fields().count("cost"), 0u);
  EXPECT_EQ(Order(requested).fields().count("cost"), 0u) << "the house fills it in later";
  ASSERT_OK_AND_ASSIGN(v1::OrderView to_fill, engine_->GetOrder({kAe}, requested));
  EXPECT_THAT(to_fill.missing_fields(), ElementsAre("cost")) << "the house is told";
  // It does not finish without it.
  Run(kProducer, Script(requested, "Draft"));
  Run(kAe, Approve(requested, "script", 1));
  Run(kProducer, Spot(requested, "s3://spot"));
  Run(kAe, Approve(requested, "spot", 1));
  EXPECT_THAT(Reject(kProducer, Action(requested, "deliver")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("lacks its required field cost, which it needs to finish"),
                             HasSubstr("; you may not fill it in (ORDER_MANAGE): ask whoever "
                                       "manages the order (its owner, ae) to, first"))));
  ASSERT_OK_AND_ASSIGN(v1::OrderView producers, engine_->GetOrder({kProducer}, requested));
  EXPECT_THAT(producers.missing_fields(), IsEmpty()) << "not theirs to fill in";
  // Declined, a request ends undone: the cost of work never done is not asked for.
  Run(kAdmin, Publish(DeclinableWorkflow()));
  const std::string turned_down = Run(kClientUser, request).id();
  Run(kAe, Action(turned_down, "decline"));
  EXPECT_EQ(Order(turned_down).status(), "declined");
  EXPECT_TRUE(Order(turned_down).completed());
  ASSERT_OK_AND_ASSIGN(v1::OrderView not_theirs, engine_->GetOrder({kClientUser}, requested));
  EXPECT_THAT(not_theirs.missing_fields(), IsEmpty());
  v1::Command fill;
  fill.mutable_update_order()->set_order_id(requested);
  (*fill.mutable_update_order()->mutable_fields())["cost"].set_integer_value(450);
  Run(kAe, fill);
  EXPECT_EQ(Order(requested).fields().at("cost").integer_value(), 450);
  Run(kProducer, Action(requested, "deliver"));
  EXPECT_TRUE(Order(requested).completed());
  EXPECT_THAT(engine_->GetOrder({kAe}, requested)->missing_fields(), IsEmpty());
  ListOrdersRequest all;
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse listed, engine_->ListOrders({kClientUser}, all));
  ASSERT_FALSE(listed.orders.empty());
  for (const v1::OrderView& o : listed.orders) EXPECT_EQ(o.fields().count("cost"), 0u);

  // A type the house makes alone: not among the client's forms, nor requested.
  EXPECT_THAT(engine_->GetItemType({kClientUser}, "media_insertion"),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(ListItemTypesResponse forms, engine_->ListItemTypes({kClientUser}, {}));
  for (const v1::ItemTypeDefinition& t : forms.item_types) EXPECT_NE(t.name(), "media_insertion");
  v1::Command insertion = request;
  insertion.mutable_create_order()->set_item_type("media_insertion");
  EXPECT_THAT(Reject(kClientUser, insertion),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not exist")));
  v1::Command made = house;
  made.mutable_create_order()->set_item_type("media_insertion");
  const std::string mine = Run(kAe, made).id();
  EXPECT_OK(engine_->GetOrder({kClientUser}, mine).status()) << "the client's, to see";
}

// Stats over orders of several workflows (no item type given) count each workflow's states
// apart, though two share a name: a request's "completed" is not a spot's.
TEST_F(WorkflowTest, OrderStatsCountEachWorkflowsStatesApart) {
  DefineRequestFlow({"review", ""}, {"finish", ""},
                    {"awaiting_script", "script_review", "completed"});
  const std::string done = Run(kAe, RequestCommand()).id();
  Run(kAe, Action(done, "review"));
  Run(kAe, Action(done, "finish"));
  Run(kAe, RequestCommand());
  OrderIn("completed");
  OrderIn("awaiting_script");

  ASSERT_OK_AND_ASSIGN(v1::OrderStats stats, engine_->GetOrderStats({kManager}, {}));
  EXPECT_EQ(stats.orders(), 4u);
  std::vector<std::tuple<std::string, std::string, uint32_t, uint32_t>> states;
  for (const v1::StateStats& s : stats.states()) {
    states.emplace_back(s.workflow(), s.status(), s.orders_now(), s.stays());
  }
  // By workflow, each in its order of states; a final state has no stays.
  EXPECT_THAT(states, ElementsAre(std::make_tuple(kProductionOrder, "awaiting_script", 1u, 2u),
                                  std::make_tuple(kProductionOrder, "script_review", 0u, 1u),
                                  std::make_tuple(kProductionOrder, "awaiting_spot", 0u, 1u),
                                  std::make_tuple(kProductionOrder, "spot_review", 0u, 1u),
                                  std::make_tuple(kProductionOrder, "spot_approved", 0u, 1u),
                                  std::make_tuple(kProductionOrder, "completed", 1u, 0u),
                                  std::make_tuple("request_flow", "awaiting_script", 1u, 2u),
                                  std::make_tuple("request_flow", "script_review", 0u, 1u),
                                  std::make_tuple("request_flow", "completed", 1u, 0u)));
  ASSERT_EQ(stats.owners_size(), 1);
  std::vector<std::tuple<std::string, std::string, uint32_t>> finished;
  for (const v1::FinishedStats& f : stats.owners(0).finished()) {
    finished.emplace_back(f.workflow(), f.status(), f.orders());
  }
  EXPECT_THAT(finished, ElementsAre(std::make_tuple(kProductionOrder, "completed", 1u),
                                    std::make_tuple("request_flow", "completed", 1u)))
      << "a row for each workflow's final state";
}

}  // namespace
}  // namespace spotflow::engine
