// One test per cell of the privilege table of DESIGN.md §3, allowed and denied, across
// scopes. A cell marked "own" is tried on a record the user owns or was given access to
// (allowed) and on another AE's (denied); "all" is tried on another AE's record (allowed);
// "-" is tried on the user's own record (denied). Every denial is checked to write nothing.
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/engine_fixture.h"
#include "tests/testing/status_matchers.h"

namespace spotflow::engine {
namespace {

using ::spotflow::testing::MakeDate;
using ::spotflow::testing::StatusIs;
using ::testing::HasSubstr;

enum class Row {
  kManageOrder,
  kViewOrder,
  kApprove,
  kForward,
  kWriteRevision,
  kUploadSpot,
  kRequestFlightChange,
  kDecideFlightChange,
  kDeleteOrder,
  kManageClients,
  kDeleteClientRecords,
  kReassign,
  kReassignOrders,
  kConfigure,
  kReadEvents,
};

std::string RowName(Row row) {
  switch (row) {
    case Row::kManageOrder:
      return "ManageOrder";
    case Row::kViewOrder:
      return "ViewOrder";
    case Row::kApprove:
      return "Approve";
    case Row::kForward:
      return "Forward";
    case Row::kWriteRevision:
      return "WriteRevision";
    case Row::kUploadSpot:
      return "UploadSpot";
    case Row::kRequestFlightChange:
      return "RequestFlightChange";
    case Row::kDecideFlightChange:
      return "DecideFlightChange";
    case Row::kDeleteOrder:
      return "DeleteOrder";
    case Row::kManageClients:
      return "ManageClients";
    case Row::kDeleteClientRecords:
      return "DeleteClientRecords";
    case Row::kReassign:
      return "Reassign";
    case Row::kReassignOrders:
      return "ReassignOrders";
    case Row::kConfigure:
      return "Configure";
    case Row::kReadEvents:
      return "ReadEvents";
  }
  return "";
}

// The table: for each row, the cell of each role, in the order of kRoles.
const char* const kRoles[] = {"ae",       "assistant", "order_entry", "manager",
                              "producer", "admin",     "auditor"};
const std::map<Row, std::vector<const char*>>& Table() {
  static const auto* table = new std::map<Row, std::vector<const char*>>{
      //                           AE     asst   entry  mgr    prod   admin  auditor
      {Row::kManageOrder, {"own", "own", "own", "all", "-", "-", "-"}},
      {Row::kViewOrder, {"own", "own", "own", "all", "all", "all", "all"}},
      {Row::kApprove, {"own", "-", "-", "all", "-", "-", "-"}},
      {Row::kForward, {"own", "own", "own", "all", "own", "-", "-"}},
      {Row::kWriteRevision, {"-", "-", "-", "-", "all", "-", "-"}},
      {Row::kUploadSpot, {"own", "own", "own", "all", "all", "-", "-"}},
      {Row::kRequestFlightChange, {"own", "own", "own", "all", "-", "-", "-"}},
      {Row::kDecideFlightChange, {"-", "-", "-", "all", "all", "-", "-"}},
      {Row::kDeleteOrder, {"own", "-", "-", "all", "-", "-", "-"}},
      {Row::kManageClients, {"own", "own", "own", "all", "-", "-", "-"}},
      {Row::kDeleteClientRecords, {"own", "-", "-", "all", "-", "-", "-"}},
      {Row::kReassign, {"-", "-", "-", "all", "-", "-", "-"}},
      {Row::kReassignOrders, {"-", "-", "-", "all", "-", "-", "-"}},
      {Row::kConfigure, {"-", "-", "-", "-", "-", "all", "-"}},
      {Row::kReadEvents, {"-", "-", "-", "-", "-", "all", "all"}},
  };
  return *table;
}

struct Cell {
  Row row;
  std::string role;
  std::string cell;
  bool own_target;  // On the user's own record, or on another AE's.
  bool allowed;
};

void PrintTo(const Cell& cell, std::ostream* os) {
  *os << RowName(cell.row) << " by " << cell.role << " (" << cell.cell << ") on "
      << (cell.own_target ? "own" : "another's") << " record";
}

std::vector<Cell> Cells() {
  std::vector<Cell> cells;
  for (const auto& [row, roles] : Table()) {
    for (size_t i = 0; i < roles.size(); ++i) {
      const std::string cell = roles[i];
      if (cell == "own") {
        cells.push_back({row, kRoles[i], cell, true, true});
        cells.push_back({row, kRoles[i], cell, false, false});
      } else if (cell == "all") {
        cells.push_back({row, kRoles[i], cell, false, true});
      } else {
        cells.push_back({row, kRoles[i], cell, true, false});
      }
    }
  }
  return cells;
}

class PrivilegeTableTest : public ::spotflow::testing::EngineTest,
                           public ::testing::WithParamInterface<Cell> {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    // Another AE's account, with a contact and an order: nobody else's "own".
    Run(kAe2, CreateClientCommand("globex", "Globex"));
    Run(kAe2, AddContactCommand("globex", "gus", "Gus"));
  }

  // A fresh order on the target account, created by its AE.
  std::string TargetOrder(bool own, v1::OrderKind kind = v1::PRODUCTION) {
    v1::Command create = CreateOrderCommand(kind);
    create.mutable_create_order()->set_client_id(own ? client_ : "globex");
    std::string id = Run(own ? kAe : kAe2, create).id();
    target_order_ = id;
    // A producer's "own" orders are the ones assigned to them.
    if (own) {
      v1::Command assign;
      assign.mutable_assign_producer()->set_order_id(id);
      assign.mutable_assign_producer()->set_user_id(kProducer);
      Run(kAe, assign);
    }
    return id;
  }

  // Prepares the target and tries the row's action as `user`.
  absl::Status Attempt(Row row, const std::string& user, bool own) {
    const std::string target_client = own ? client_ : "globex";
    target_client_ = target_client;
    const std::string contact = own ? "carol" : "gus";
    switch (row) {
      case Row::kManageOrder: {
        v1::Command create = CreateOrderCommand();
        create.mutable_create_order()->set_client_id(target_client);
        return Execute(user, create);
      }
      case Row::kViewOrder:
        return engine_->GetOrder({user}, TargetOrder(own)).status();
      case Row::kApprove: {
        const std::string order = TargetOrder(own);
        Run(kProducer, Script(order, "draft"));
        return Execute(user, Approve(order, "script", 1));
      }
      case Row::kForward: {
        const std::string order = TargetOrder(own);
        Run(kProducer, Script(order, "draft"));
        return Execute(user, Forward(order, "script", 1, contact));
      }
      case Row::kWriteRevision:
        return Execute(user, Script(TargetOrder(own), "draft"));
      case Row::kUploadSpot:
        return Execute(user, Spot(TargetOrder(own, v1::PROVIDED), "s3://x", /*provided=*/true));
      case Row::kRequestFlightChange:
        return Execute(
            user, FlightChange(TargetOrder(own), MakeDate(2026, 12, 2), MakeDate(2026, 12, 30)));
      case Row::kDecideFlightChange: {
        const std::string order = TargetOrder(own);
        const std::string request =
            Run(kManager, FlightChange(order, MakeDate(2026, 12, 2), MakeDate(2026, 12, 30)))
                .sub_id();
        return Execute(user, DecideFlight(order, request, true));
      }
      case Row::kDeleteOrder:
        return Execute(user, OrderOnly(TargetOrder(own), "delete"));
      case Row::kManageClients: {
        v1::Command update;
        update.mutable_update_client()->set_client_id(target_client);
        update.mutable_update_client()->set_name("Renamed");
        return Execute(user, update);
      }
      case Row::kDeleteClientRecords: {
        v1::Command remove;
        remove.mutable_remove_contact()->set_client_id(target_client);
        remove.mutable_remove_contact()->set_contact_id(contact);
        remove.mutable_remove_contact()->set_end_login(true);  // Its login, if any, with it.
        return Execute(user, remove);
      }
      case Row::kReassign: {
        v1::Command reassign;
        reassign.mutable_reassign_accounts()->set_from_owner(own ? kAe : kAe2);
        reassign.mutable_reassign_accounts()->set_to_owner(own ? kAe2 : kAe);
        return Execute(user, reassign);
      }
      case Row::kReassignOrders: {
        v1::Command reassign;
        reassign.mutable_reassign_orders()->add_order_ids(TargetOrder(own));
        reassign.mutable_reassign_orders()->set_to_owner(kManager);
        return Execute(user, reassign);
      }
      case Row::kConfigure: {
        v1::Command role;
        role.mutable_define_role()->mutable_definition()->set_name("intern");
        v1::Grant* grant = role.mutable_define_role()->mutable_definition()->add_grants();
        grant->set_privilege(v1::ORDER_VIEW);
        grant->set_scope(v1::OWN);
        return Execute(user, role);
      }
      case Row::kReadEvents:
        return engine_->ReadEvents({user}, 1, 10).status();
    }
    return absl::InternalError("unknown row");
  }

  // The records the last attempt aimed at.
  std::string target_order_;
  std::string target_client_;

  // Executes, and when the command is refused, checks that it wrote nothing.
  absl::Status Execute(const std::string& user, const v1::Command& command) {
    const uint64_t head = store_->Head().position;
    absl::Status status = engine_->Execute({user}, command).status();
    if (!status.ok()) {
      EXPECT_EQ(store_->Head().position, head) << "a refused command wrote to the log";
    }
    return status;
  }
};

TEST_P(PrivilegeTableTest, Cell) {
  const Cell& cell = GetParam();
  absl::Status status = Attempt(cell.row, cell.role, cell.own_target);
  if (cell.allowed) {
    EXPECT_OK(status);
  } else {
    // Denied: PERMISSION_DENIED, or NOT_FOUND only when the caller indeed cannot see the
    // record (so an unrelated lookup failure cannot pass for a privilege check).
    if (absl::IsNotFound(status)) {
      const bool sees = !target_order_.empty()
                            ? engine_->GetOrder({cell.role}, target_order_).ok()
                            : engine_->GetClient({cell.role}, target_client_).ok();
      EXPECT_FALSE(sees) << "NOT_FOUND for a record the caller can see: " << status;
    } else {
      EXPECT_TRUE(absl::IsPermissionDenied(status)) << status;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(DesignTable, PrivilegeTableTest, ::testing::ValuesIn(Cells()),
                         [](const ::testing::TestParamInfo<Cell>& info) {
                           const Cell& c = info.param;
                           return absl::StrCat(RowName(c.row), "_", c.role, "_",
                                               c.cell == "-" ? "none" : c.cell, "_",
                                               c.own_target ? "OwnRecord" : "OthersRecord", "_",
                                               c.allowed ? "Allowed" : "Denied");
                         });

// TEAM scope (no preset uses it): a team lead sees and manages the orders of the AEs they
// manage, and nobody else's.
class TeamScopeTest : public ::spotflow::testing::EngineTest {};

TEST_F(TeamScopeTest, TeamScopeReachesTheManagersTeam) {
  v1::Command role;
  v1::RoleDefinition* lead = role.mutable_define_role()->mutable_definition();
  lead->set_name("team_lead");
  for (v1::Privilege p : {v1::ORDER_VIEW, v1::ORDER_MANAGE}) {
    v1::Grant* grant = lead->add_grants();
    grant->set_privilege(p);
    grant->set_scope(v1::TEAM);
  }
  Run(kAdmin, role);
  AddUser("lead", "team_lead");
  v1::Command manager;
  manager.mutable_set_user_manager()->set_user_id(kAe);
  manager.mutable_set_user_manager()->set_manager_id("lead");
  Run(kAdmin, manager);
  const std::string team_order = CreateOrder(kAe);
  Run(kAe2, CreateClientCommand("globex", "Globex"));
  v1::Command other = CreateOrderCommand();
  other.mutable_create_order()->set_client_id("globex");
  const std::string other_order = Run(kAe2, other).id();
  EXPECT_OK(engine_->GetOrder({"lead"}, team_order).status());
  EXPECT_EQ(engine_->GetOrder({"lead"}, other_order).status().code(), absl::StatusCode::kNotFound);
  Run("lead", OrderOnly(team_order, "archive"));
  EXPECT_EQ(Reject("lead", OrderOnly(other_order, "archive")).code(), absl::StatusCode::kNotFound);

  // Teams form a tree: no one manages their own manager, directly or through others.
  v1::Command circle;
  circle.mutable_set_user_manager()->set_user_id("lead");
  circle.mutable_set_user_manager()->set_manager_id(kAe);
  EXPECT_THAT(Reject(kAdmin, circle), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("\"ae\" is managed by \"lead\"")));
  v1::Command up;
  up.mutable_set_user_manager()->set_user_id("lead");
  up.mutable_set_user_manager()->set_manager_id(kManager);
  Run(kAdmin, up);
  circle.mutable_set_user_manager()->set_user_id(kManager);
  EXPECT_THAT(Reject(kAdmin, circle),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"ae\" is managed by \"manager\" (through \"lead\")")));
}

// Reassigning short of ALL follows ownership alone (seed 004: an associate "can only change
// their assignment"): a share of an account or an order lets one work on it, not take it.
class ReassignScopeTest : public ::spotflow::testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    DefineRole("associate", v1::OWN);
    DefineRole("team_lead", v1::TEAM);
    AddUser("bo", "associate");
    AddUser("cy", "associate");
    AddUser("lead", "team_lead");
    v1::Command team;
    team.mutable_set_user_manager()->set_user_id("bo");
    team.mutable_set_user_manager()->set_manager_id("lead");
    Run(kAdmin, team);
  }
  // An AE's grants (those that make an account owner) and ACCOUNT_REASSIGN, at `scope`.
  void DefineRole(const std::string& name, v1::Scope scope) {
    v1::Command role;
    v1::RoleDefinition* definition = role.mutable_define_role()->mutable_definition();
    definition->set_name(name);
    for (v1::Privilege p : {v1::ORDER_VIEW, v1::ORDER_MANAGE, v1::REVISION_APPROVE,
                            v1::CLIENT_MANAGE, v1::ACCOUNT_REASSIGN}) {
      v1::Grant* grant = definition->add_grants();
      grant->set_privilege(p);
      grant->set_scope(scope);
    }
    Run(kAdmin, role);
  }
  static v1::Command ReassignOrder(const std::string& order, const std::string& to) {
    v1::Command command;
    command.mutable_reassign_orders()->add_order_ids(order);
    command.mutable_reassign_orders()->set_to_owner(to);
    return command;
  }
  static v1::Command ReassignBook(const std::string& from, const std::string& to,
                                  const std::string& kind = "") {
    v1::Command command;
    command.mutable_reassign_accounts()->set_from_owner(from);
    command.mutable_reassign_accounts()->set_to_owner(to);
    command.mutable_reassign_accounts()->set_client_kind(kind);
    return command;
  }
};

TEST_F(ReassignScopeTest, ASharedAccountOrOrderCannotBeTakenOver) {
  const std::string order = CreateOrder(kAe);
  v1::Command share_order;
  share_order.mutable_share_order()->set_order_id(order);
  share_order.mutable_share_order()->set_user_id("bo");
  Run(kAe, share_order);
  v1::Command share_account;
  share_account.mutable_share_client()->set_client_id(client_);
  share_account.mutable_share_client()->set_user_id("bo");
  Run(kAe, share_account);
  // bo works on both (the shares reach them), but takes neither.
  ASSERT_OK(engine_->GetOrder({"bo"}, order).status());
  EXPECT_THAT(Reject("bo", ReassignOrder(order, "bo")),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("may not reassign order")));
  v1::Command account = ReassignBook(kAe, "bo");
  account.mutable_reassign_accounts()->add_client_ids(client_);
  EXPECT_THAT(Reject("bo", account), StatusIs(absl::StatusCode::kPermissionDenied,
                                              HasSubstr("reassign the accounts of user \"ae\"")));
  EXPECT_EQ(engine_->GetOrder({kAe}, order)->owner_id(), kAe);

  // What is theirs they give away (an order, then their whole book), within their team
  // (seed 004: "to another rep who is assigned to the same program"): to their lead, or to
  // another on the lead's team; not to cy while cy is on no team.
  Run("bo", CreateClientCommand("bo-co", "Bo Company"));
  v1::Command own = CreateOrderCommand();
  own.mutable_create_order()->set_client_id("bo-co");
  const std::string theirs = Run("bo", own).id();
  EXPECT_THAT(Reject("bo", ReassignOrder(theirs, "cy")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("\"bo\" may give their orders only within their team, to their "
                                 "manager (lead) or another on their team, and \"cy\" is not "
                                 "on it; ask your manager (lead) to move them")));
  EXPECT_THAT(Reject("bo", ReassignBook("bo", "cy")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("may give their accounts only within their team")));
  AddUser("di", "associate");
  v1::Command reports;
  reports.mutable_set_user_manager()->set_user_id("di");
  reports.mutable_set_user_manager()->set_manager_id("bo");
  Run(kAdmin, reports);
  EXPECT_THAT(Reject("bo", ReassignOrder(theirs, "di")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("and \"di\" is one they manage; ask your manager (lead)")));
  Run("bo", ReassignOrder(theirs, "lead"));
  EXPECT_EQ(engine_->GetOrder({"lead"}, theirs)->owner_id(), "lead");
  // cy, on no team, hands theirs to anyone; a lead (TEAM) too.
  Run("cy", CreateClientCommand("cy-co", "Cy Company"));
  Run("cy", ReassignBook("cy", kAe));
  EXPECT_EQ(engine_->GetClient({kAe}, "cy-co")->owner_id(), kAe);
  // The lead, on ae2's team, hands theirs to ae, who is not on it: TEAM is not held to the
  // rule.
  v1::Command lead_team;
  lead_team.mutable_set_user_manager()->set_user_id("lead");
  lead_team.mutable_set_user_manager()->set_manager_id(kAe2);
  Run(kAdmin, lead_team);
  ASSERT_NE(engine_->GetUser({kAdmin}, kAe)->manager_id(), kAe2);
  Run("lead", ReassignOrder(theirs, kAe));
  EXPECT_EQ(engine_->GetOrder({kAe}, theirs)->owner_id(), kAe);
  v1::Command join;
  join.mutable_set_user_manager()->set_user_id("cy");
  join.mutable_set_user_manager()->set_manager_id("lead");
  Run(kAdmin, join);
  Run("bo", ReassignBook("bo", "cy"));
  EXPECT_EQ(engine_->GetClient({"cy"}, "bo-co")->owner_id(), "cy");
}

TEST_F(ReassignScopeTest, ABookOfNoAccountsNamesTheOrdersThatMoveOnTheirOwn) {
  const std::string order = CreateOrder(kAe);
  Run(kManager, ReassignOrder(order, kAe2));  // ae2's now, on ae's account.
  EXPECT_THAT(Reject(kManager, ReassignBook(kAe2, kAe)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("\"ae2\" owns no clients to reassign; the 1 open order they own "
                                 "is on another's account: move it one by one (ReassignOrders; "
                                 "spotflow order reassign ORDERS USER)")));
  // A misspelt kind (free text) matches nothing: the kinds there are are named.
  v1::Command agency = CreateClientCommand("globex", "Globex");
  agency.mutable_create_client()->set_kind("Agency");
  Run(kAe, agency);
  EXPECT_THAT(Reject(kManager, ReassignBook(kAe, kAe2, "agnecy")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("owns no clients of kind \"agnecy\" to reassign (their clients' "
                                 "kinds: ")));
  CreateOrder(kAe);  // An open order on the AE's own account, which a kind filter left out.
  const absl::Status misspelt = Reject(kManager, ReassignBook(kAe, kAe2, "agnecy"));
  EXPECT_THAT(misspelt.message(), HasSubstr("kinds: agency, no kind set)"));
  EXPECT_THAT(misspelt.message(), ::testing::Not(HasSubstr("ReassignOrders")))
      << "not told as if it were on another's account";
  Run(kManager, ReassignBook(kAe, kAe2, "AGENCY"));  // As people type it.
  EXPECT_EQ(engine_->GetClient({kManager}, "globex")->owner_id(), kAe2);
}

// Seed 004's "Assign by Audience": with no giver, every account of a kind within the
// caller's reach moves, whoever holds it; accounts beyond reach are neither moved nor told.
TEST_F(ReassignScopeTest, AnAudienceTakesOnlyTheAccountsWithinReach) {
  for (const auto& [owner, id, kind] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {kAe, "globex", "agency"},
           {"bo", "bo-agency", "Agency"},
           {"bo", "bo-direct", "advertiser"},
           {"cy", "cy-agency", "agency"},
           {"lead", "lead-agency", "agency"},
           {"lead", "lead-direct", "advertiser"}}) {
    v1::Command create = CreateClientCommand(id, id);
    create.mutable_create_client()->set_kind(kind);
    Run(owner, create);
  }
  v1::Command audience;
  audience.mutable_reassign_accounts()->set_client_kind("agency");
  audience.mutable_reassign_accounts()->set_to_owner("bo");
  // The lead reaches their own and bo's: bo's agency is bo's already, so only theirs moves.
  const v1::CommandResult moved = Run("lead", audience);
  ASSERT_EQ(moved.moved_accounts_size(), 1);
  EXPECT_EQ(moved.moved_accounts(0).client_id(), "lead-agency");
  EXPECT_EQ(moved.moved_accounts(0).old_owner(), "lead");
  EXPECT_EQ(engine_->GetClient({kAdmin}, "globex")->owner_id(), kAe);
  EXPECT_EQ(engine_->GetClient({kAdmin}, "cy-agency")->owner_id(), "cy");
  // Again: every such account within reach is bo's, so it is so already and nothing is written.
  const uint64_t head = store_->Head().position;
  const v1::CommandResult again = Run("lead", audience);
  EXPECT_THAT(again.moved_accounts(), ::testing::IsEmpty());
  EXPECT_EQ(store_->Head().position, head);
  // A kind none within reach has: the kinds there are within it are named, and nothing beyond
  // it (bo's accounts are the taker's).
  audience.mutable_reassign_accounts()->set_client_kind("agnecy");
  const absl::Status none = Reject("lead", audience);
  EXPECT_THAT(none, StatusIs(absl::StatusCode::kFailedPrecondition,
                             HasSubstr("no client of kind \"agnecy\" within your reach is held "
                                       "by others than those named to take them (those "
                                       "clients' kinds: advertiser)")));
  audience.mutable_reassign_accounts()->set_client_kind("agency");
  // A sales manager's audience is the house's (ALL): every agency account but the taker's.
  audience.mutable_reassign_accounts()->set_to_owner("cy");
  const v1::CommandResult all = Run(kManager, audience);
  std::vector<std::string> gave;
  for (const v1::AccountMoved& m : all.moved_accounts()) {
    gave.push_back(absl::StrCat(m.old_owner(), ":", m.client_id()));
  }
  EXPECT_THAT(gave, ::testing::ElementsAre("ae:globex", "bo:bo-agency", "bo:lead-agency"));
  // An associate's audience is their own book: bo has no agency left, cy's stay.
  audience.mutable_reassign_accounts()->set_to_owner("lead");  // bo's manager.
  EXPECT_THAT(Reject("bo", audience), StatusIs(absl::StatusCode::kFailedPrecondition,
                                               HasSubstr("(those clients' kinds: advertiser)")));
  // Several givers, one beyond reach: the whole is refused, telling nothing of their book.
  v1::Command two;
  two.mutable_reassign_accounts()->add_from_owners("bo");
  two.mutable_reassign_accounts()->add_from_owners("cy");
  two.mutable_reassign_accounts()->set_to_owner("lead");
  const absl::Status beyond = Reject("lead", two);
  EXPECT_THAT(beyond, StatusIs(absl::StatusCode::kPermissionDenied,
                               HasSubstr("may not reassign the accounts of user \"cy\"")));
  EXPECT_THAT(beyond.message(), ::testing::Not(HasSubstr("cy-agency")));
  // An account named beyond reach, with no giver, is refused as any such account.
  v1::Command named;
  named.mutable_reassign_accounts()->add_client_ids("cy-agency");
  named.mutable_reassign_accounts()->set_to_owner("lead");
  EXPECT_THAT(Reject("lead", named), StatusIs(absl::StatusCode::kNotFound));
  // One in sight but beyond reach is refused before anything of its orders is said.
  v1::Command share;
  share.mutable_share_client()->set_client_id("cy-agency");
  share.mutable_share_client()->set_user_id("lead");
  Run("cy", share);
  named.mutable_reassign_accounts()->mutable_only_orders()->add_order_ids("nosuch-order");
  EXPECT_THAT(Reject("lead", named), StatusIs(absl::StatusCode::kPermissionDenied,
                                              HasSubstr("may not reassign client \"cy-agency\"")));
  EXPECT_EQ(engine_->GetClient({kAdmin}, "cy-agency")->owner_id(), "cy");
}

TEST_F(ReassignScopeTest, ABookBeyondReachIsRefusedWithoutTellingWhatItHolds) {
  Run(kAe, CreateClientCommand("globex", "Globex"));  // The AE's second account.
  // Neither the accounts' names nor whether the AE has accounts of a kind: the same answer.
  for (const char* kind : {"", "advertiser", "agency"}) {
    for (const char* caller : {"bo", "lead"}) {
      const absl::Status refused = Reject(caller, ReassignBook(kAe, caller, kind));
      EXPECT_THAT(refused, StatusIs(absl::StatusCode::kPermissionDenied,
                                    HasSubstr("may not reassign the accounts of user \"ae\"")))
          << caller << " " << kind;
      EXPECT_THAT(refused.message(), ::testing::Not(HasSubstr("globex")));
      EXPECT_THAT(refused.message(), ::testing::Not(HasSubstr("acme")));
    }
  }
  // A team lead moves their report's book, not beyond it.
  Run("bo", CreateClientCommand("bo-co", "Bo Company"));
  Run("lead", ReassignBook("bo", "cy"));
  EXPECT_EQ(engine_->GetClient({"cy"}, "bo-co")->owner_id(), "cy");
  EXPECT_THAT(Reject("lead", ReassignBook("cy", "lead")),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

}  // namespace
}  // namespace spotflow::engine
