// The production-order system of seed 000 through the C++ library: an order from creation to
// archive, reuse, flight changes, sharing, reassignment, lists, as-of reads, idempotency and
// etags. Every rejected command is checked to have written nothing (EngineTest::Reject).
#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/presets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/engine_fixture.h"
#include "tests/testing/error_info_matchers.h"
#include "tests/testing/gated_store.h"
#include "tests/testing/status_matchers.h"

namespace spotflow::engine {
namespace {

using ::spotflow::testing::DeclinableWorkflow;
using ::spotflow::testing::GatedStore;
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
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

class OrderFlowTest : public ::spotflow::testing::EngineTest {
 protected:
  // Runs `body(gate)` with the engine open over a GatedStore on the store, deciding each
  // command at most `max_attempts` times; then, however `body` ends, lets what the gate holds
  // through, closes that engine (which waits for every answer, so the callbacks `body` gave
  // are done with what they write) and opens the engine on the store again.
  template <typename Body>
  void OverGate(int max_attempts, Body body) {
    engine_.reset();
    GatedStore gate(store_.get());
    absl::Cleanup reopen = [&] {
      gate.Open();
      engine_.reset();
      engine_options_.max_attempts = Options().max_attempts;
      OpenEngine();
    };
    engine_options_.max_attempts = max_attempts;
    absl::StatusOr<std::unique_ptr<Engine>> opened =
        Engine::Open(engine_options_, &gate, &clock_, &ids_);
    ASSERT_OK(opened.status());
    engine_ = *std::move(opened);
    body(gate);
  }

  // Runs `command` as `user` while a comment on `order` is in flight (its append held at a
  // gate), with one attempt per command, and returns its result. Expects it to wait in line
  // for the order's turn rather than reach the store meanwhile, and the comment to land
  // before it.
  absl::StatusOr<v1::CommandResult> RunBehindACommentInFlight(const std::string& order,
                                                              const std::string& user,
                                                              const v1::Command& command) {
    absl::Notification commented, answered;
    absl::StatusOr<v1::CommandResult> comment_result, result = absl::UnknownError("not run");
    OverGate(/*max_attempts=*/1, [&](GatedStore& gate) {
      gate.Close(absl::StrCat("order-", order));
      v1::Command comment;
      comment.mutable_add_comment()->set_order_id(order);
      comment.mutable_add_comment()->set_text("Talent booked for Tuesday");
      engine_->ExecuteAsync({kAe}, comment, [&](absl::StatusOr<v1::CommandResult> r) {
        comment_result = std::move(r);
        commented.Notify();
      });
      EXPECT_EQ(gate.appends(), 1u) << "the comment's append is in flight";
      engine_->ExecuteAsync({user}, command, [&](absl::StatusOr<v1::CommandResult> r) {
        result = std::move(r);
        answered.Notify();
      });
      // Deciding and taking turns run on this thread: had the command not waited in line for
      // the order's turn, its append would have reached the gate by now.
      EXPECT_EQ(gate.appends(), 1u) << "it raced the comment";
      gate.Open();
      commented.WaitForNotification();
      answered.WaitForNotification();
    });
    EXPECT_OK(comment_result.status());
    if (comment_result.ok() && result.ok()) {
      EXPECT_GT(result->first_position(), comment_result->last_position()) << "after the comment";
    }
    return result;
  }

  // Runs `command` as `user` on `order`, its append held at a gate on the order's stream
  // until `meanwhile` has run as `by` and committed, and returns its result: what it was
  // decided on may have changed by the time its append reaches the store. A refused command
  // is expected to have written nothing. `meanwhile` must not take the order's turn (write
  // it, or read it in its turn as a bulk command does): it would wait behind the held append,
  // which fails the run after 30 s.
  absl::StatusOr<v1::CommandResult> RunAcross(const std::string& order, const std::string& user,
                                              const v1::Command& command, const std::string& by,
                                              const v1::Command& meanwhile,
                                              int max_attempts = Options().max_attempts) {
    absl::Notification answered, done_meanwhile;
    absl::StatusOr<v1::CommandResult> result = absl::UnknownError("not run");
    absl::StatusOr<v1::CommandResult> meanwhile_result = absl::UnknownError("not run");
    uint64_t head = 0;
    OverGate(max_attempts, [&](GatedStore& gate) {
      gate.Close(absl::StrCat("order-", order));
      engine_->ExecuteAsync({user}, command, [&](absl::StatusOr<v1::CommandResult> r) {
        result = std::move(r);
        answered.Notify();
      });
      ASSERT_EQ(gate.appends(), 1u) << "decided, and its append is in flight";
      engine_->ExecuteAsync({by}, meanwhile, [&](absl::StatusOr<v1::CommandResult> r) {
        meanwhile_result = std::move(r);
        done_meanwhile.Notify();
      });
      ASSERT_TRUE(done_meanwhile.WaitForNotificationWithTimeout(absl::Seconds(30)))
          << "the change meant to commit meanwhile waits for the held append";
      ASSERT_OK(meanwhile_result.status());
      head = store_->Head().position;
      gate.Open();
      answered.WaitForNotification();
    });
    if (!result.ok()) {
      EXPECT_EQ(store_->Head().position, head) << "a refused command wrote to the log";
    }
    return result;
  }

  // SetBudget: the AE's target of `target` orders made from `start` to `end`.
  v1::Command BudgetOfAe(const std::string& title, const v1::Date& start, const v1::Date& end,
                         int64_t target) {
    v1::Command set;
    v1::Budget* budget = set.mutable_set_budget()->mutable_budget();
    budget->set_user_id(kAe);
    budget->set_title(title);
    *budget->mutable_start() = start;
    *budget->mutable_end() = end;
    budget->set_target(target);
    return set;
  }
  // The one budget the manager reads, with its progress now.
  v1::BudgetProgress OnlyBudget() {
    absl::StatusOr<ListBudgetsResponse> got = engine_->ListBudgets({kManager}, {});
    EXPECT_OK(got.status());
    EXPECT_TRUE(got.ok() && got->budgets.size() == 1);
    return got.ok() && got->budgets.size() == 1 ? got->budgets[0] : v1::BudgetProgress();
  }

  // The production order type defined again with a whole-number field, "value" (a deal's
  // worth), for budgets and stats to sum.
  v1::Command ValuedType() {
    v1::Command type;
    v1::ItemTypeDefinition* definition = type.mutable_define_item_type()->mutable_definition();
    *definition = *engine_->GetItemType({kAdmin}, kProductionOrder);
    definition->clear_version();
    v1::FieldDefinition* value = definition->add_fields();
    value->set_name("value");
    value->set_type(v1::INTEGER);
    return type;
  }

  // Whether `order` is in `user`'s work queue (ListOrders with actionable).
  bool Queued(const std::string& user, const std::string& order) {
    ListOrdersRequest queue;
    queue.actionable = true;
    absl::StatusOr<ListOrdersResponse> list = engine_->ListOrders({user}, queue);
    EXPECT_OK(list.status());
    bool found = false;
    if (list.ok()) {
      for (const v1::OrderView& o : list->orders) found |= o.order_id() == order;
    }
    return found;
  }

  // Each of `commands`, as `user`, first on a thread that may not wait (TryExecuteAsync), then,
  // when that leaves it, through ExecuteAsync, as the service does; waits for every answer and
  // expects each to succeed, once. Returns how many were left to ExecuteAsync.
  int TryEachThenExecute(const std::string& user, const std::vector<v1::Command>& commands) {
    std::atomic<int> answers{0};
    int left = 0;
    std::vector<std::unique_ptr<absl::Notification>> done;
    for (const v1::Command& command : commands) {
      done.push_back(std::make_unique<absl::Notification>());
      absl::Notification* notified = done.back().get();
      auto callback = [&answers, notified](absl::StatusOr<v1::CommandResult> r) {
        EXPECT_TRUE(r.ok()) << r.status();
        ++answers;
        notified->Notify();
      };
      if (!engine_->TryExecuteAsync({user}, command, callback)) {
        ++left;
        engine_->ExecuteAsync({user}, command, callback);
      }
    }
    for (auto& notification : done) notification->WaitForNotification();
    EXPECT_EQ(answers.load(), static_cast<int>(commands.size())) << "each answered once";
    return left;
  }

  // `first` and `second` executed at once, each on its own thread, by `user`: their results.
  std::pair<absl::StatusOr<v1::CommandResult>, absl::StatusOr<v1::CommandResult>> Together(
      const std::string& user, const v1::Command& first, const v1::Command& second) {
    absl::StatusOr<v1::CommandResult> a, b;
    std::thread one([&] { a = engine_->Execute({user}, first); });
    std::thread two([&] { b = engine_->Execute({user}, second); });
    one.join();
    two.join();
    return {std::move(a), std::move(b)};
  }
};

TEST_F(OrderFlowTest, NewOrderIsVisibleAtOnceWithItsKeyAndInitialState) {
  v1::CommandResult result = Run(kAssistant, CreateOrderCommand());
  EXPECT_EQ(result.key(), "PO-2026-00001");
  EXPECT_EQ(result.etag(), 1u);
  v1::OrderView order = Order(result.id(), kAssistant);
  EXPECT_EQ(order.status(), "awaiting_script");
  EXPECT_EQ(order.owner_id(), kAe) << "the order belongs to the account's AE";
  EXPECT_EQ(order.created_by(), kAssistant);
  EXPECT_EQ(order.workflow_version(), 1u);
  EXPECT_EQ(Run(kAe, CreateOrderCommand(v1::PROVIDED)).key(), "PO-2026-00002");
  EXPECT_EQ(Order(Run(kAe, CreateOrderCommand(v1::PROVIDED)).id()).status(), "awaiting_spot");
}

TEST_F(OrderFlowTest, WaitForPositionReturnsOnceTheProjectionsPassIt) {
  const uint64_t head = engine_->position();
  EXPECT_TRUE(engine_->WaitForPosition(head - 1, absl::ZeroDuration()));
  EXPECT_FALSE(engine_->WaitForPosition(head, absl::Milliseconds(20)));
  std::atomic<bool> passed{false};
  std::thread watcher([&] { passed = engine_->WaitForPosition(head, absl::Seconds(30)); });
  Run(kAe, CreateOrderCommand());
  watcher.join();
  EXPECT_TRUE(passed);
  EXPECT_GT(engine_->position(), head);
}

TEST_F(OrderFlowTest, ChangedSinceNamesTheOrdersAndWhetherAnythingElseChanged) {
  const std::string first = CreateOrder();
  const std::string second = CreateOrder();
  const uint64_t start = engine_->position();
  EXPECT_THAT(engine_->ChangedSince(start).order_ids, SizeIs(0));
  auto comment = [&](const std::string& order) {
    v1::Command command;
    command.mutable_add_comment()->set_order_id(order);
    command.mutable_add_comment()->set_text("note");
    Run(kAe, command);
  };
  comment(first);
  comment(second);
  comment(first);
  Engine::Changes changes = engine_->ChangedSince(start);
  EXPECT_EQ(changes.position, engine_->position());
  EXPECT_THAT(changes.order_ids, ::testing::UnorderedElementsAre(first, second));
  EXPECT_FALSE(changes.beyond_orders);
  changes = engine_->ChangedSince(start + 2);
  EXPECT_THAT(changes.order_ids, ElementsAre(first));

  v1::Command update;
  update.mutable_update_client()->set_client_id(client_);
  update.mutable_update_client()->set_name("Acme Motors of Springfield");
  Run(kAe, update);
  EXPECT_TRUE(engine_->ChangedSince(start).beyond_orders) << "a client changed";

  // Further back than the engine remembers: anything may have changed.
  for (int i = 0; i < 4100; ++i) comment(second);
  changes = engine_->ChangedSince(start);
  EXPECT_TRUE(changes.beyond_orders);
  changes = engine_->ChangedSince(engine_->position() - 1);
  EXPECT_THAT(changes.order_ids, ElementsAre(second));
  EXPECT_FALSE(changes.beyond_orders);
}

TEST_F(OrderFlowTest, TryExecuteAsyncDecidesAtOnceOrDoesNothing) {
  const std::string order = CreateOrder();
  auto comment = [&](const std::string& text) {
    v1::Command command;
    command.mutable_add_comment()->set_order_id(order);
    command.mutable_add_comment()->set_text(text);
    return command;
  };
  // Commands that would first read the log or walk every client are left to the caller.
  const uint64_t head = store_->Head().position;
  bool answered = false;
  auto mark = [&](absl::StatusOr<v1::CommandResult>) { answered = true; };
  v1::Command with_id = comment("with an id");
  with_id.set_request_id("r-1");
  EXPECT_FALSE(engine_->TryExecuteAsync({kAe}, with_id, mark));
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
  EXPECT_FALSE(engine_->TryExecuteAsync({kManager}, reassign, mark));
  EXPECT_FALSE(answered);
  EXPECT_EQ(store_->Head().position, head) << "a command left to the caller wrote";

  // Otherwise it is ExecuteAsync: refusals and successes are answered.
  absl::Notification refused;
  v1::Command unknown = comment("on nothing");
  unknown.mutable_add_comment()->set_order_id("no-such-order");
  ASSERT_TRUE(engine_->TryExecuteAsync({kAe}, unknown, [&](absl::StatusOr<v1::CommandResult> r) {
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kNotFound));
    refused.Notify();
  }));
  refused.WaitForNotification();
  EXPECT_EQ(store_->Head().position, head) << "a refused command wrote";

  // Under contention (another thread projecting), each command is decided at once or left
  // untouched, never both: every one lands exactly once.
  constexpr int kCommands = 300;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) Run(kAe, comment("from the other thread"));
  });
  std::vector<v1::Command> tries_made;
  for (int i = 0; i < kCommands; ++i) tries_made.push_back(comment(absl::StrCat("try ", i)));
  const int left = TryEachThenExecute(kAe, tries_made);
  stop = true;
  writer.join();
  const v1::OrderView view = Order(order);
  int tries = 0;
  for (const auto& c : view.comments()) tries += absl::StartsWith(c.text(), "try ");
  EXPECT_EQ(tries, kCommands) << "each landed once (" << left << " were left to ExecuteAsync)";
}

TEST_F(OrderFlowTest, TryExecuteAsyncGivesBackTurnsItWouldHaveToDecideAgainFor) {
  // Creates take their client's turn, which another thread keeps passing through (renaming
  // the client). When that happens between a create's decision and its taking the turn, the
  // create must decide again, which a thread that may not wait leaves to the caller, giving
  // the turn back; the window is narrow, so this is a check that, however the two interleave,
  // each create lands exactly once and no turn stays taken (deleting the client is answered).
  std::atomic<bool> stop{false};
  std::thread renamer([&] {
    for (int i = 0; !stop; ++i) {
      v1::Command rename;
      rename.mutable_update_client()->set_client_id(client_);
      rename.mutable_update_client()->set_name(absl::StrCat("Acme ", i));
      Run(kAe, rename);
    }
  });
  constexpr int kCreates = 200;
  std::vector<v1::Command> creates;
  for (int i = 0; i < kCreates; ++i) {
    v1::Command create = CreateOrderCommand();
    create.mutable_create_order()->set_title(absl::StrCat("try ", i));
    creates.push_back(std::move(create));
  }
  const int left = TryEachThenExecute(kAe, creates);
  stop = true;
  renamer.join();
  ListOrdersRequest all;
  all.client_id = client_;
  all.page_size = 1000;
  absl::StatusOr<ListOrdersResponse> listed = engine_->ListOrders({kAe}, all);
  ASSERT_OK(listed.status());
  int tries = 0;
  for (const v1::OrderView& o : listed->orders) tries += absl::StartsWith(o.title(), "try ");
  EXPECT_EQ(tries, kCreates) << "each landed once (" << left << " were left to ExecuteAsync)";
  v1::Command remove;
  remove.mutable_delete_client()->set_client_id(client_);
  EXPECT_THAT(Reject(kAe, remove),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("open order(s)")));
}

// GetOrder tells the house whom the order waits for: everyone whose work queue it stands in,
// with what it waits for them to do.
TEST_F(OrderFlowTest, AnOrderSaysWhomItWaitsFor) {
  const std::string order = CreateOrder();
  const auto awaiting = [&](const std::string& caller) {
    std::vector<std::string> out;
    GetOrderOptions options;
    options.awaiting = true;
    absl::StatusOr<v1::OrderView> view = engine_->GetOrder({caller}, order, options);
    EXPECT_OK(view.status());
    if (!view.ok()) return out;
    for (const v1::Awaiting& a : view->awaiting()) {
      std::vector<std::string> what(a.actions().begin(), a.actions().end());
      if (a.flight_change()) what.push_back(absl::StrCat("flight ", a.flight_decision()));
      out.push_back(absl::StrCat(a.user_id(), ": ", absl::StrJoin(what, ",")));
    }
    return out;
  };
  const auto consistent_with_queues = [&] {
    std::vector<std::string> listed;
    for (const std::string& a : awaiting(kManager)) listed.push_back(a.substr(0, a.find(':')));
    for (const char* user :
         {kAe, kAe2, kAssistant, kOrderEntry, kManager, kProducer, kAuditor, kClientUser, kAdmin}) {
      const bool in_list = std::find(listed.begin(), listed.end(), user) != listed.end();
      EXPECT_EQ(in_list, Queued(user, order)) << user << " at " << Order(order).status();
    }
  };
  EXPECT_THAT(awaiting(kManager), ElementsAre("producer: submit_script"));
  EXPECT_THAT(Order(order).awaiting(), IsEmpty()) << "only when asked";
  // A list fills it too, when asked: a board of who has the ball.
  ListOrdersRequest board;
  board.awaiting = true;
  absl::StatusOr<ListOrdersResponse> listed = engine_->ListOrders({kManager}, board);
  ASSERT_OK(listed.status());
  ASSERT_THAT(listed->orders, SizeIs(1));
  ASSERT_THAT(listed->orders[0].awaiting(), SizeIs(1));
  EXPECT_EQ(listed->orders[0].awaiting(0).user_id(), kProducer);
  board.awaiting = false;
  listed = engine_->ListOrders({kManager}, board);
  ASSERT_OK(listed.status());
  ASSERT_THAT(listed->orders, SizeIs(1));
  EXPECT_THAT(listed->orders[0].awaiting(), IsEmpty());
  // Not to a contact's login: the house's people are the house's. Asked for a board, it is
  // refused rather than shown every order waiting for no one; a plain list still works.
  board.awaiting = true;
  EXPECT_THAT(engine_->ListOrders({kClientUser}, board),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("staff")));
  board.awaiting = false;
  listed = engine_->ListOrders({kClientUser}, board);
  ASSERT_OK(listed.status());
  ASSERT_THAT(listed->orders, SizeIs(1));
  EXPECT_THAT(listed->orders[0].awaiting(), IsEmpty());
  board.awaiting = true;
  // Such pages are short: at most 100 orders, the token going on from there.
  for (int i = 0; i < 100; ++i) CreateOrder();
  board.page_size = 500;
  listed = engine_->ListOrders({kManager}, board);
  ASSERT_OK(listed.status());
  EXPECT_THAT(listed->orders, SizeIs(100));
  board.page_token = listed->next_page_token;
  listed = engine_->ListOrders({kManager}, board);
  ASSERT_OK(listed.status());
  ASSERT_THAT(listed->orders, SizeIs(1));
  EXPECT_THAT(listed->orders[0].awaiting(), SizeIs(1)) << "the 101st, filled too";
  EXPECT_EQ(listed->next_page_token, "");
  board.page_token.clear();
  board.page_size = 10;
  listed = engine_->ListOrders({kManager}, board);
  ASSERT_OK(listed.status());
  EXPECT_THAT(listed->orders, SizeIs(10)) << "a smaller page is left as asked";
  consistent_with_queues();
  Run(kProducer, Script(order, "Draft one"));
  // The owner approves; those the account is shared with may also ask for changes or forward.
  EXPECT_THAT(awaiting(kAe), ElementsAre("ae: approve_script,request_script_changes,forward_script",
                                         "assistant: request_script_changes,forward_script",
                                         "order_entry: request_script_changes,forward_script"));
  consistent_with_queues();
  Run(kAe, Forward(order, "script", 1));
  // With the client: the contact's own login, and no one in the house.
  EXPECT_THAT(awaiting(kAe),
              ElementsAre("client_login: client_approve_script,client_request_script_changes"));
  {
    GetOrderOptions options;
    options.awaiting = true;
    ASSERT_OK_AND_ASSIGN(const v1::OrderView view, engine_->GetOrder({kAe}, order, options));
    ASSERT_THAT(view.awaiting(), SizeIs(1));
    EXPECT_EQ(view.awaiting(0).contact_id(), "carol") << "the contact the login answers as";
  }
  consistent_with_queues();
  // Not told to a contact's login: the house's people are the house's.
  EXPECT_THAT(awaiting(kClientUser), IsEmpty());
  Run(kClientUser, ClientAnswer(order, "script", 1, /*approved=*/true));
  Run(kAe, FlightChange(order, MonthsAhead(2, 1), MonthsAhead(2, 20)));
  // The owner's manager decides a flight change. Production may too, but with no producer
  // assigned it waits for the manager, not for every producer in the house (an assigned one
  // is asked: AFlightChangeWaitsInTheQueueOfThoseWhoMayDecideIt).
  EXPECT_THAT(awaiting(kProducer), ElementsAre("manager: flight decide", "producer: record_spot"));
  consistent_with_queues();
}

// Seed 002: the sales team manager sets the budgets "the sales team will be measured against"
// and follows how far each member has come.
TEST_F(OrderFlowTest, BudgetsMeasureAMembersOrdersOverAPeriod) {
  const v1::Command set =
      BudgetOfAe("November orders", MakeDate(2026, 11, 1), MakeDate(2026, 11, 30), 4);
  const auto with = [&](const std::function<void(v1::Budget*)>& change) {
    v1::Command changed = set;
    change(changed.mutable_set_budget()->mutable_budget());
    return changed;
  };
  EXPECT_THAT(Reject(kAe, set),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("that needs BUDGET_MANAGE")));
  // Whom to ask: the member's manager, whose team they are on, not the caller's.
  AddUser("lead2", engine::kSalesManager);
  AddUser("ae4", engine::kAccountExecutive, "lead2");
  EXPECT_THAT(Reject(kProducer, with([](v1::Budget* b) { b->set_user_id("ae4"); })),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("may not set a budget for user \"ae4\": that needs "
                                 "BUDGET_MANAGE with a scope that reaches it, which none of their "
                                 "roles grants; ask lead2 (ae4's manager) to do it")));
  EXPECT_THAT(Reject(kAe, set),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("may not set a budget for user \"ae\": that needs BUDGET_MANAGE "
                                 "with a scope that reaches it, which none of their roles grants; "
                                 "ask your manager (manager) to do it")));
  // A member on no team whose manager may: whom to ask is none of the caller's people.
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_user_id(kAe2); })),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("; ask an administrator to make \"ae2\" a member of a team whose "
                                 "manager may (spotflow user manager ae2 MANAGER)")));
  EXPECT_THAT(Reject(kAdmin, with([](v1::Budget* b) { b->set_user_id(kAe2); })),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("; make \"ae2\" a member of a team whose manager may (spotflow "
                                 "user manager ae2 MANAGER), or give a role BUDGET_MANAGE at "
                                 "scope TEAM or ALL (spotflow role define)")));
  // Their own manager, whose role does not reach the team: the role is what lacks.
  AddUser("lead3", engine::kAccountExecutive);
  AddUser("ae5", engine::kAccountExecutive, "lead3");
  EXPECT_THAT(Reject("lead3", with([](v1::Budget* b) { b->set_user_id("ae5"); })),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("; ask an administrator to give one of your roles BUDGET_MANAGE "
                                 "at scope TEAM")));
  EXPECT_THAT(Reject(kProducer, with([](v1::Budget* b) { b->set_user_id("nobody"); })),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("may not set budgets: that needs BUDGET_MANAGE")))
      << "refused before anyone is looked for";
  // A client's login is not told whether the member is someone in the house.
  for (const char* member : {"ae4", "nobody"}) {
    const absl::Status refused =
        Reject(kClientUser, with([&](v1::Budget* b) { b->set_user_id(member); }));
    EXPECT_THAT(refused,
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("may not set budgets")));
    EXPECT_THAT(refused.message(), Not(HasSubstr(member)));
  }
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_user_id("ae4"); })),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("; ask lead2 (ae4's manager) to do it")));
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_user_id(kAe2); })),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("set a budget for user \"ae2\" (user \"ae2\" is not in their "
                                 "team)")));
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_user_id(kClientUser); })),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a client contact")));
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_user_id("nobody"); })),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(
      Reject(kManager, with([](v1::Budget* b) { *b->mutable_end() = MakeDate(2026, 10, 31); })),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("end comes before its start")));
  EXPECT_THAT(
      Reject(kManager, with([](v1::Budget* b) { *b->mutable_end() = MakeDate(2027, 11, 2); })),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("period is 367 days long; the longest is 366")));
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_target(0); })),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target is above 0")));
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_title(" "); })),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("title is blank")));
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_field("value"); })),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("give item_type with field")));
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_item_type("nope"); })),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("item type \"nope\" does not exist; the item types are: "
                                 "production_order")))
      << "nothing near: no guess";
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_item_type("production_ordr"); })),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("did you mean \"production_order\"?")));
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) {
                       b->set_item_type(kProductionOrder);
                       b->set_field("station");
                     })),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no whole-number field \"station\" to sum; it has none")));
  EXPECT_THAT(Reject(kManager, with([](v1::Budget* b) { b->set_set_by(kManager); })),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the engine's to keep")));
  const v1::CommandResult made = Run(kManager, set);
  EXPECT_EQ(made.id(), "ae-november-orders") << "an id people can type";
  EXPECT_EQ(made.etag(), 1u);
  {
    const uint64_t head = store_->Head().position;
    EXPECT_EQ(Run(kManager, with([&](v1::Budget* b) { b->set_budget_id(made.id()); })).etag(), 1u);
    EXPECT_EQ(store_->Head().position, head) << "set as it is: nothing written";
  }

  // What counts: the AE's orders made in November, not deleted.
  CreateOrder();
  const std::string second = CreateOrder();
  Run(kAe, OrderOnly(CreateOrder(), "delete"));
  Run(kAe, OrderOnly(second, "archive"));  // Still a sale made.
  Run(kAe2, CreateClientCommand("globex", "Globex"));
  v1::Command theirs = CreateOrderCommand();
  theirs.mutable_create_order()->set_client_id("globex");
  Run(kAe2, theirs);  // Another's.
  const auto list = [&](const std::string& caller, const std::string& user = "") {
    ListBudgetsRequest request;
    request.user_id = user;
    absl::StatusOr<ListBudgetsResponse> got = engine_->ListBudgets({caller}, request);
    EXPECT_OK(got.status());
    return got.ok() ? got->budgets : std::vector<v1::BudgetProgress>();
  };
  const auto of_user = [](const std::string& user) {
    ListBudgetsRequest request;
    request.user_id = user;
    return request;
  };
  std::vector<v1::BudgetProgress> budgets = list(kManager);
  ASSERT_THAT(budgets, SizeIs(1));
  EXPECT_EQ(budgets[0].budget().set_by(), kManager);
  EXPECT_EQ(budgets[0].actual(), 2);
  EXPECT_EQ(budgets[0].orders(), 2u);
  EXPECT_EQ(budgets[0].percent(), 50);
  // 22 days and 9 hours of the 30 (the clock stands at 2026-11-23 09:00 UTC).
  EXPECT_NEAR(budgets[0].period_elapsed_percent(), 100 * (22 + 9 / 24.0) / 30, 1e-9);
  EXPECT_THAT(list(kAe), SizeIs(1)) << "the member reads their own";
  EXPECT_THAT(list(kAe2), IsEmpty());
  EXPECT_THAT(engine_->ListBudgets({kAe2}, of_user(kAe)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(engine_->ListBudgets({kClientUser}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("budgets are the house's")));
  EXPECT_THAT(engine_->ListBudgets({kManager}, of_user("nobody")),
              StatusIs(absl::StatusCode::kNotFound));
  clock_.Advance(absl::Hours(24 * 8));  // December.
  CreateOrder();
  budgets = list(kManager, kAe);
  ASSERT_THAT(budgets, SizeIs(1));
  EXPECT_EQ(budgets[0].actual(), 2) << "made after the period";
  EXPECT_EQ(budgets[0].period_elapsed_percent(), 100);

  // A budget in money: a whole-number field of one item type, summed.
  const v1::Command type = ValuedType();
  Run(kAdmin, type);
  v1::Command december = set;
  december.mutable_set_budget()->mutable_budget()->set_title("December sales");
  *december.mutable_set_budget()->mutable_budget()->mutable_start() = MakeDate(2026, 12, 1);
  *december.mutable_set_budget()->mutable_budget()->mutable_end() = MakeDate(2026, 12, 31);
  december.mutable_set_budget()->mutable_budget()->set_item_type(kProductionOrder);
  december.mutable_set_budget()->mutable_budget()->set_field("value");
  december.mutable_set_budget()->mutable_budget()->set_target(10000);
  const std::string sales = Run(kManager, december).id();
  for (int64_t amount : {1000, 2500}) {
    v1::Command order = CreateOrderCommand();
    (*order.mutable_create_order()->mutable_fields())["value"].set_integer_value(amount);
    Run(kAe, order);
  }
  // The type keeps the field while a budget sums it.
  {
    v1::Command dropped = type;
    dropped.mutable_define_item_type()->mutable_definition()->mutable_fields()->RemoveLast();
    EXPECT_THAT(Reject(kAdmin, dropped),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("would no longer have the whole-number field a budget sums: "
                                   "ae-december-sales (value, of ae, set by manager); keep the "
                                   "field, or have those budgets removed or changed first")));
    v1::Command retyped = type;
    retyped.mutable_define_item_type()->mutable_definition()->mutable_fields()->rbegin()->set_type(
        v1::STRING);
    EXPECT_THAT(Reject(kAdmin, retyped), StatusIs(absl::StatusCode::kFailedPrecondition));
  }
  // The same target again is a repeat, not a second budget, as is one changed onto it.
  EXPECT_THAT(Reject(kManager, december),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("already has budget \"ae-december-sales\" titled \"December "
                                 "sales\" over days of this period: change that one")));
  {
    v1::Command onto = with([&](v1::Budget* b) {
      b->set_budget_id(made.id());
      b->set_title("december SALES");
      *b->mutable_end() = MakeDate(2026, 12, 1);
    });
    EXPECT_THAT(Reject(kManager, onto), StatusIs(absl::StatusCode::kAlreadyExists));
  }
  budgets = list(kAe);
  ASSERT_THAT(budgets, SizeIs(2));
  EXPECT_EQ(budgets[0].budget().budget_id(), made.id()) << "by period start";
  EXPECT_EQ(budgets[1].budget().budget_id(), sales);
  EXPECT_EQ(budgets[1].actual(), 3500);
  EXPECT_EQ(budgets[1].orders(), 3u) << "the one without a value counts as an order";
  EXPECT_EQ(budgets[1].percent(), 35);
  {
    ListBudgetsRequest page;
    page.page_size = 1;
    ASSERT_OK_AND_ASSIGN(ListBudgetsResponse first, engine_->ListBudgets({kAe}, page));
    ASSERT_THAT(first.budgets, SizeIs(1));
    EXPECT_EQ(first.budgets[0].budget().budget_id(), made.id());
    page.page_token = first.next_page_token;
    ASSERT_OK_AND_ASSIGN(ListBudgetsResponse second, engine_->ListBudgets({kAe}, page));
    ASSERT_THAT(second.budgets, SizeIs(1));
    EXPECT_EQ(second.budgets[0].budget().budget_id(), sales);
    EXPECT_EQ(second.next_page_token, "");
    page.user_id = kAe;  // A token is its own list's.
    EXPECT_THAT(engine_->ListBudgets({kAe}, page), StatusIs(absl::StatusCode::kInvalidArgument));
  }

  // Changed with its etag; removed by whoever may set it, not by the member.
  v1::Command lower = december;
  lower.mutable_set_budget()->mutable_budget()->set_budget_id(sales);
  lower.mutable_set_budget()->mutable_budget()->set_target(5000);
  lower.set_etag(7);
  EXPECT_THAT(Reject(kManager, lower), StatusIs(absl::StatusCode::kAborted));
  lower.set_etag(1);
  EXPECT_EQ(Run(kManager, lower).etag(), 2u);
  EXPECT_EQ(list(kAe)[1].percent(), 70);
  v1::Command remove;
  remove.mutable_remove_budget()->set_budget_id(sales);
  EXPECT_THAT(Reject(kAe, remove), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Reject(kAe2, remove), StatusIs(absl::StatusCode::kPermissionDenied))
      << "holds no BUDGET_MANAGE at all";
  v1::Command elsewhere = lower;
  elsewhere.clear_etag();
  elsewhere.mutable_set_budget()->mutable_budget()->set_user_id(kAe2);
  EXPECT_THAT(Reject(kManager, elsewhere), StatusIs(absl::StatusCode::kPermissionDenied))
      << "moved to someone they do not manage";
  Run(kManager, remove);
  EXPECT_THAT(list(kAe), SizeIs(1));
  EXPECT_THAT(Reject(kManager, remove), StatusIs(absl::StatusCode::kNotFound));
  lower.clear_etag();
  EXPECT_THAT(Reject(kManager, lower),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("already exists (deleted; an id is never used again")));

  // A target set for a manager by their own manager is not theirs to change; a goal they set
  // themselves is.
  AddUser("director", engine::kSalesManager);
  v1::Command reports;
  reports.mutable_set_user_manager()->set_user_id(kManager);
  reports.mutable_set_user_manager()->set_manager_id("director");
  Run(kAdmin, reports);
  v1::Command for_manager = with([](v1::Budget* b) {
    b->set_user_id(kManager);
    b->set_title("Team orders");
  });
  const std::string theirs_to_meet = Run("director", for_manager).id();
  v1::Command own = for_manager;
  own.mutable_set_budget()->mutable_budget()->set_budget_id(theirs_to_meet);
  own.mutable_set_budget()->mutable_budget()->set_target(1);
  EXPECT_THAT(Reject(kManager, own), StatusIs(absl::StatusCode::kPermissionDenied,
                                              HasSubstr("it was set for them by \"director\"")));
  v1::Command drop;
  drop.mutable_remove_budget()->set_budget_id(theirs_to_meet);
  EXPECT_THAT(Reject(kManager, drop), StatusIs(absl::StatusCode::kPermissionDenied));
  v1::Command goal = with([](v1::Budget* b) {
    b->set_user_id(kManager);
    b->set_title("My own goal");
  });
  const std::string mine = Run(kManager, goal).id();
  goal.mutable_set_budget()->mutable_budget()->set_budget_id(mine);
  goal.mutable_set_budget()->mutable_budget()->set_target(8);
  Run(kManager, goal);
  // The director's own budget is not the manager's to read, nor its id theirs to take.
  v1::Command directors = with([](v1::Budget* b) {
    b->set_user_id("director");
    b->set_title("Region orders");
  });
  const std::string region = Run("director", directors).id();
  v1::Command taken = with([](v1::Budget* b) { b->set_budget_id("director-region-orders"); });
  EXPECT_EQ(region, "director-region-orders");
  EXPECT_THAT(Reject(kManager, taken),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("budget \"director-region-orders\" already exists")));
  EXPECT_THAT(list("director", kManager), SizeIs(2)) << "their team's: the target and the goal";

  // A budget whose period is over does not hold its type to the field it summed: its sums are
  // of the values the orders kept.
  v1::Command october = december;
  october.mutable_set_budget()->mutable_budget()->set_title("October sales");
  *october.mutable_set_budget()->mutable_budget()->mutable_start() = MakeDate(2026, 10, 1);
  *october.mutable_set_budget()->mutable_budget()->mutable_end() = MakeDate(2026, 10, 31);
  Run(kManager, october);
  v1::Command without_value = type;
  without_value.mutable_define_item_type()->mutable_definition()->mutable_fields()->RemoveLast();
  Run(kAdmin, without_value);

  // Rebuilt from the log alike, and kept across a reopening.
  ASSERT_OK_AND_ASSIGN(Engine::ReplayCheck check, engine_->CheckReplay({kAuditor}, nullptr));
  EXPECT_EQ(check.live_digest, check.rebuilt_digest);
  const std::string before = list(kManager)[0].DebugString();
  OpenEngine();
  EXPECT_EQ(list(kManager)[0].DebugString(), before);
}

// Analytics: orders in each state now, how long they stay in each, each owner's book.
TEST_F(OrderFlowTest, OrderStatsTellTimeInEachStateAndEachOwnersBook) {
  const auto stats = [&](const std::string& caller, OrderStatsFilter filter = {}) {
    absl::StatusOr<v1::OrderStats> got = engine_->GetOrderStats({caller}, filter);
    EXPECT_OK(got.status());
    return got.ok() ? *got : v1::OrderStats();
  };
  const auto state = [](const v1::OrderStats& stats, const std::string& name) {
    for (const v1::StateStats& s : stats.states()) {
      if (s.status() == name) return s;
    }
    return v1::StateStats();
  };
  const std::string a = CreateOrder();  // 0h: awaiting_script.
  clock_.Advance(absl::Hours(2));
  Run(kProducer, Script(a, "Draft"));  // 2h: script_review.
  clock_.Advance(absl::Hours(1));
  Run(kAe, Approve(a, "script", 1));    // 3h: awaiting_spot.
  const std::string b = CreateOrder();  // 3h: awaiting_script.
  clock_.Advance(absl::Hours(4));       // Now 7h.
  v1::OrderStats now = stats(kManager);
  EXPECT_EQ(now.orders(), 2u);
  const v1::StateStats waiting = state(now, "awaiting_script");
  EXPECT_EQ(waiting.orders_now(), 1u);
  EXPECT_EQ(waiting.stays(), 2u) << "a's, over, and b's, going on";
  EXPECT_DOUBLE_EQ(waiting.average_seconds(), 3 * 3600.0);  // (2h + 4h) / 2.
  EXPECT_DOUBLE_EQ(waiting.median_seconds(), 3 * 3600.0);
  EXPECT_DOUBLE_EQ(state(now, "script_review").average_seconds(), 3600.0);
  EXPECT_EQ(state(now, "script_review").orders_now(), 0u);
  EXPECT_DOUBLE_EQ(state(now, "awaiting_spot").average_seconds(), 4 * 3600.0);
  ASSERT_EQ(now.states_size(), 3);
  EXPECT_EQ(now.states(0).status(), "awaiting_script") << "in the workflow's order";
  ASSERT_EQ(now.owners_size(), 1);
  EXPECT_EQ(now.owners(0).user_id(), kAe);
  EXPECT_EQ(now.owners(0).open_orders(), 2u);
  EXPECT_EQ(now.owners(0).completed_orders(), 0u);
  // Only what the caller sees; and the filters.
  EXPECT_EQ(stats(kAe2).orders(), 0u);
  EXPECT_THAT(engine_->GetOrderStats({kClientUser}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("the house's")));
  OrderStatsFilter of_ae2;
  of_ae2.owner_id = kAe2;
  EXPECT_EQ(stats(kManager, of_ae2).orders(), 0u);
  OrderStatsFilter late;
  late.created_since = clock_.Now() - absl::Hours(5);
  EXPECT_EQ(stats(kManager, late).orders(), 1u) << "b only";
  // Those assigned to one producer (seed 002's support team on its own work).
  v1::Command assign;
  assign.mutable_assign_producer()->set_order_id(b);
  assign.mutable_assign_producer()->set_user_id(kProducer);
  Run(kAe, assign);
  OrderStatsFilter assigned;
  assigned.assignee_id = kProducer;
  EXPECT_EQ(stats(kManager, assigned).orders(), 1u) << "b only";
  assigned.assignee_id = "nobody";
  EXPECT_THAT(engine_->GetOrderStats({kManager}, assigned),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("\"nobody\" not found")));
  assigned.assignee_id = kClientUser;
  EXPECT_THAT(engine_->GetOrderStats({kManager}, assigned),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("speaks for a client")));
  // Each assignee's book (the support board comparing its people), those no one is assigned to
  // last, in place of each owner's.
  OrderStatsFilter per_assignee;
  per_assignee.by_assignee = true;
  const v1::OrderStats by_assignee = stats(kManager, per_assignee);
  EXPECT_EQ(by_assignee.owners_size(), 0);
  ASSERT_EQ(by_assignee.assignees_size(), 2);
  EXPECT_EQ(by_assignee.assignees(0).user_id(), kProducer);
  EXPECT_FALSE(by_assignee.assignees(0).unassigned());
  EXPECT_EQ(by_assignee.assignees(0).open_orders(), 1u) << "b";
  EXPECT_EQ(by_assignee.assignees(1).user_id(), "");
  EXPECT_TRUE(by_assignee.assignees(1).unassigned());
  EXPECT_EQ(by_assignee.assignees(1).open_orders(), 1u) << "a";
  EXPECT_EQ(by_assignee.team().open_orders(), 2u);

  // c goes all the way in 2h; b is archived at 9h, and its clock stops.
  const std::string c = CreateOrder();  // 7h.
  clock_.Advance(absl::Hours(1));
  Run(kProducer, Script(c, "Draft"));
  Run(kAe, Approve(c, "script", 1));
  Run(kProducer, Spot(c, "s3://spot/c"));
  Run(kAe, Approve(c, "spot", 1));
  clock_.Advance(absl::Hours(1));
  Run(kProducer, Action(c, "deliver"));  // 9h: completed.
  Run(kAe, OrderOnly(b, "archive"));
  clock_.Advance(absl::Hours(10));
  now = stats(kManager);
  EXPECT_EQ(now.orders(), 3u);
  EXPECT_EQ(state(now, "awaiting_script").orders_now(), 0u) << "b is archived";
  EXPECT_EQ(state(now, "awaiting_script").stays(), 3u) << "a's 2h, c's 1h, b's 6h until archived";
  EXPECT_DOUBLE_EQ(state(now, "awaiting_script").average_seconds(), 3 * 3600.0);
  const v1::StateStats done = state(now, Order(c).status());
  EXPECT_EQ(done.orders_now(), 1u);
  EXPECT_EQ(done.stays(), 0u) << "a final state's clock has stopped";
  EXPECT_EQ(now.owners(0).open_orders(), 1u) << "a";
  EXPECT_EQ(now.owners(0).archived_unfinished_orders(), 1u) << "b, set aside";
  EXPECT_EQ(now.owners(0).completed_orders(), 1u);
  EXPECT_DOUBLE_EQ(now.owners(0).average_cycle_seconds(), 2 * 3600.0);

  // b was archived at 9h, after 6h waiting for its script; restored at 19h, it waits again
  // from then: the archived 10h count for no state.
  Run(kAe, OrderOnly(b, "restore"));
  clock_.Advance(absl::Hours(1));  // 20h.
  now = stats(kManager);
  const v1::StateStats again = state(now, "awaiting_script");
  EXPECT_EQ(again.orders_now(), 1u);
  EXPECT_EQ(again.stays(), 4u) << "a's 2h, b's 6h before and 1h after, c's 1h";
  EXPECT_DOUBLE_EQ(again.average_seconds(), (2 + 6 + 1 + 1) * 3600.0 / 4);
  EXPECT_DOUBLE_EQ(again.median_seconds(), 1.5 * 3600);
  EXPECT_EQ(now.owners(0).open_orders(), 2u) << "a and b";
  EXPECT_EQ(now.owners(0).archived_unfinished_orders(), 0u);
  // c archived once completed: still completed, at the same time.
  Run(kAe, OrderOnly(c, "archive"));
  Run(kAe, OrderOnly(c, "restore"));
  EXPECT_DOUBLE_EQ(stats(kManager).owners(0).average_cycle_seconds(), 2 * 3600.0);

  // A range that holds nothing is a mistake; so is a filter on no one.
  OrderStatsFilter backwards;
  backwards.created_since = clock_.Now();
  backwards.created_before = clock_.Now() - absl::Hours(1);
  EXPECT_THAT(engine_->GetOrderStats({kManager}, backwards),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not after")));
  OrderStatsFilter nobody;
  nobody.owner_id = "nobody";
  EXPECT_THAT(engine_->GetOrderStats({kManager}, nobody), StatusIs(absl::StatusCode::kNotFound));
}

// DeclinableWorkflow (engine_fixture.h), to publish.
v1::Command PublishDeclinable() {
  v1::Command publish;
  *publish.mutable_publish_workflow()->mutable_definition() = DeclinableWorkflow();
  return publish;
}

// The declinable workflow with a way back: "reopen" from declined, clearing and requiring
// the fields named.
v1::Command PublishWithReopen(const std::vector<std::string>& clears,
                              const std::vector<std::string>& requires_fields = {}) {
  v1::Command publish = PublishDeclinable();
  v1::Transition* reopen =
      publish.mutable_publish_workflow()->mutable_definition()->add_transitions();
  reopen->set_from("declined");
  reopen->set_action("reopen");
  reopen->set_to("awaiting_script");
  reopen->set_privilege(v1::REVISION_APPROVE);
  for (const std::string& field : clears) reopen->add_clears_fields(field);
  for (const std::string& field : requires_fields) reopen->add_required_fields(field);
  return publish;
}

TEST_F(OrderFlowTest, OrderStatsTellApartTheFinalStatesOrdersEndIn) {
  Run(kAdmin, PublishDeclinable());
  const absl::Time start = clock_.Now();

  const std::string a = CreateOrder();
  clock_.Advance(absl::Hours(1));
  Run(kAe, Action(a, "decline"));  // Declined after 1h.
  const std::string b = CreateOrder();
  clock_.Advance(absl::Hours(1));
  Run(kProducer, Script(b, "Draft"));
  Run(kAe, Approve(b, "script", 1));
  Run(kProducer, Spot(b, "s3://spot/b"));
  Run(kAe, Approve(b, "spot", 1));
  clock_.Advance(absl::Hours(2));
  Run(kProducer, Action(b, "deliver"));  // Completed after 3h.
  const std::string c = CreateOrder();
  clock_.Advance(absl::Hours(7));
  Run(kAe, Action(c, "decline"));     // Declined after 7h.
  Run(kAe, OrderOnly(c, "archive"));  // Still counted by where it ended.

  absl::StatusOr<v1::OrderStats> stats = engine_->GetOrderStats({kManager}, {});
  ASSERT_OK(stats.status());
  ASSERT_EQ(stats->owners_size(), 1);
  const v1::OwnerStats& owner = stats->owners(0);
  EXPECT_EQ(owner.open_orders(), 0u);
  EXPECT_EQ(owner.completed_orders(), 3u) << "every order in a final state, whichever";
  EXPECT_DOUBLE_EQ(owner.average_cycle_seconds(), (1 + 3 + 7) * 3600.0 / 3);
  ASSERT_EQ(owner.finished_size(), 2);
  EXPECT_EQ(owner.finished(0).status(), "completed") << "in the workflow's order";
  EXPECT_FALSE(owner.finished(0).abandoned()) << "the work was done: a deal won";
  EXPECT_EQ(owner.finished(0).orders(), 1u);
  EXPECT_DOUBLE_EQ(owner.finished(0).average_cycle_seconds(), 3 * 3600.0);
  EXPECT_EQ(owner.finished(1).status(), "declined");
  EXPECT_TRUE(owner.finished(1).abandoned()) << "ended undone: a deal lost";
  EXPECT_EQ(owner.finished(1).orders(), 2u);
  EXPECT_DOUBLE_EQ(owner.finished(1).average_cycle_seconds(), 4 * 3600.0);  // (1h + 7h) / 2.
  // Restored later, c finished when it was declined, not when it came back.
  clock_.Advance(absl::Hours(10));
  Run(kAe, OrderOnly(c, "restore"));
  stats = engine_->GetOrderStats({kManager}, {});
  ASSERT_OK(stats.status());
  ASSERT_EQ(stats->owners(0).finished_size(), 2);
  EXPECT_EQ(stats->owners(0).finished(1).orders(), 2u);
  EXPECT_DOUBLE_EQ(stats->owners(0).finished(1).average_cycle_seconds(), 4 * 3600.0);
  // By item type: requests apart from production orders.
  v1::ItemTypeDefinition creative = *engine_->GetItemType({kAdmin}, kProductionOrder);
  creative.set_name("creative");
  creative.set_key_format("CR-{seq:3}");
  creative.set_version(0);
  v1::Command define;
  *define.mutable_define_item_type()->mutable_definition() = creative;
  Run(kAdmin, define);
  v1::Command request = CreateOrderCommand();
  request.mutable_create_order()->set_item_type("creative");
  Run(kAe, request);
  OrderStatsFilter of_type;
  of_type.item_type = "creative";
  stats = engine_->GetOrderStats({kManager}, of_type);
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->orders(), 1u);
  ASSERT_EQ(stats->owners_size(), 1);
  EXPECT_EQ(stats->owners(0).open_orders(), 1u);
  EXPECT_EQ(stats->owners(0).finished_size(), 0);
  of_type.item_type = kProductionOrder;
  stats = engine_->GetOrderStats({kManager}, of_type);
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->orders(), 3u);
  of_type.item_type = "creatve";
  EXPECT_THAT(engine_->GetOrderStats({kManager}, of_type),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("creative, production_order")));

  // The latest version's word holds for every order: one that no longer marks "declined"
  // abandoned takes the earlier declines with it, rather than splitting them.
  v1::Command unmarked = PublishDeclinable();
  v1::WorkflowDefinition* v3 = unmarked.mutable_publish_workflow()->mutable_definition();
  v3->mutable_states(v3->states_size() - 1)->set_abandoned(false);
  Run(kAdmin, unmarked);
  Run(kAe, Action(CreateOrder(), "decline"));
  stats = engine_->GetOrderStats({kManager}, {});
  ASSERT_OK(stats.status());
  ASSERT_EQ(stats->owners(0).finished_size(), 2);
  EXPECT_EQ(stats->owners(0).finished(1).status(), "declined");
  EXPECT_FALSE(stats->owners(0).finished(1).abandoned());
  EXPECT_EQ(stats->owners(0).finished(1).orders(), 3u);

  // By when they ended (deals won and lost this quarter), whenever they were made; the open
  // creative order is not among them. c ended when it was declined, not when restored.
  OrderStatsFilter early;
  early.finished_since = start;
  early.finished_before = start + absl::Hours(3);
  stats = engine_->GetOrderStats({kManager}, early);
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->orders(), 1u) << "a, declined after 1h; b was delivered at 3h, the end";
  ASSERT_EQ(stats->owners_size(), 1);
  EXPECT_EQ(stats->owners(0).open_orders(), 0u);
  EXPECT_EQ(stats->owners(0).completed_orders(), 1u);
  OrderStatsFilter later;
  later.finished_since = start + absl::Hours(3);
  stats = engine_->GetOrderStats({kManager}, later);
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->orders(), 3u) << "b, c and the last decline; not the open creative order";
  EXPECT_EQ(stats->owners(0).open_orders(), 0u);
  ASSERT_EQ(stats->owners(0).finished_size(), 2);
  EXPECT_EQ(stats->owners(0).finished(0).orders(), 1u);
  EXPECT_EQ(stats->owners(0).finished(1).orders(), 2u);
  OrderStatsFilter before_any;
  before_any.finished_before = start + absl::Hours(1);
  stats = engine_->GetOrderStats({kManager}, before_any);
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->orders(), 0u) << "a ended at 1h: the bound is not in the range";
  std::swap(early.finished_since, early.finished_before);
  EXPECT_THAT(
      engine_->GetOrderStats({kManager}, early),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not after finished_since")));
}

TEST_F(OrderFlowTest, BudgetsLeaveOutOrdersThatEndedUndone) {
  Run(kAdmin, PublishDeclinable());
  const v1::Command set =
      BudgetOfAe("November orders", MakeDate(2026, 11, 1), MakeDate(2026, 11, 30), 4);
  Run(kManager, set);
  const auto progress = [&] { return OnlyBudget(); };

  const std::string declined = CreateOrder();
  const std::string delivered = CreateOrder();
  const std::string open = CreateOrder();
  Run(kAe, Action(declined, "decline"));
  Run(kProducer, Script(delivered, "Draft"));
  Run(kAe, Approve(delivered, "script", 1));
  Run(kProducer, Spot(delivered, "s3://spot/d"));
  Run(kAe, Approve(delivered, "spot", 1));
  Run(kProducer, Action(delivered, "deliver"));
  EXPECT_TRUE(engine_->GetOrder({kAe}, declined)->abandoned()) << "ended undone";
  EXPECT_THAT(engine_->GetOrder({kAe}, declined)->missing_fields(), IsEmpty());
  EXPECT_FALSE(engine_->GetOrder({kAe}, delivered)->abandoned());
  EXPECT_FALSE(engine_->GetOrder({kAe}, open)->abandoned());
  v1::BudgetProgress now = progress();
  EXPECT_EQ(now.orders(), 2u) << "the delivered order and the open one";
  EXPECT_EQ(now.actual(), 2);
  EXPECT_EQ(now.completed_orders(), 1u) << "the delivered one; the declined one is not counted";
  EXPECT_EQ(now.abandoned_orders(), 1u);
  EXPECT_EQ(now.percent(), 50);

  // An open order counts until it ends undone.
  Run(kAe, Action(open, "decline"));
  now = progress();
  EXPECT_EQ(now.orders(), 1u);
  EXPECT_EQ(now.actual(), 1);
  EXPECT_EQ(now.abandoned_orders(), 2u);
  // Archived, a declined order is still left out: it ended where it ended.
  Run(kAe, OrderOnly(declined, "archive"));
  EXPECT_EQ(progress().abandoned_orders(), 2u);
  EXPECT_EQ(progress().actual(), 1);

  // Marked abandoned in a later version: orders under way on the earlier one go by it too.
  v1::Command unmarked = PublishDeclinable();
  v1::WorkflowDefinition* plain = unmarked.mutable_publish_workflow()->mutable_definition();
  plain->mutable_states(plain->states_size() - 1)->set_abandoned(false);
  Run(kAdmin, unmarked);
  const std::string older = CreateOrder();  // On the version without the mark.
  EXPECT_EQ(progress().abandoned_orders(), 0u) << "declines count as sales under that version";
  Run(kAdmin, PublishDeclinable());
  Run(kAe, Action(older, "decline"));
  EXPECT_TRUE(engine_->GetOrder({kAe}, older)->abandoned());
  EXPECT_EQ(progress().abandoned_orders(), 3u);
  EXPECT_EQ(progress().actual(), 1);
}

// A budget of orders done (seed 002's deals won) counts each when it reaches a final state
// that is not abandoned, whenever it was made.
TEST_F(OrderFlowTest, BudgetsOfOrdersDoneCountThemWhenTheyFinish) {
  Run(kAdmin, PublishDeclinable());
  // From tomorrow: the clock stands on the 23rd.
  v1::Command set =
      BudgetOfAe("Delivered this week", MakeDate(2026, 11, 24), MakeDate(2026, 11, 30), 2);
  set.mutable_set_budget()->mutable_budget()->set_basis(v1::ORDERS_DONE);
  v1::Command odd = set;
  odd.mutable_set_budget()->mutable_budget()->set_basis(static_cast<v1::BudgetBasis>(7));
  EXPECT_THAT(Reject(kManager, odd),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("basis 7 is none of ORDERS_MADE (orders made in the period) and "
                                 "ORDERS_DONE")));
  Run(kManager, set);
  const auto progress = [&] { return OnlyBudget(); };
  const auto deliver = [&](const std::string& order) {
    ApproveScriptAndSpot(order, "s3://spot/" + order);
    Run(kProducer, Action(order, "deliver"));
  };

  const std::string made_before = CreateOrder();
  const std::string lost = CreateOrder();
  const std::string open = CreateOrder();
  deliver(CreateOrder());           // Done before the period.
  clock_.Advance(absl::Hours(24));  // The 24th.
  EXPECT_EQ(progress().orders(), 0u);
  deliver(made_before);
  Run(kAe, Action(lost, "decline"));
  v1::BudgetProgress now = progress();
  EXPECT_EQ(now.orders(), 1u) << "made before the period, done in it";
  EXPECT_EQ(now.actual(), 1);
  EXPECT_EQ(now.completed_orders(), 1u);
  EXPECT_EQ(now.abandoned_orders(), 1u) << "lost in the period";
  EXPECT_EQ(now.percent(), 50);
  // Archived and restored, it was done when it was delivered, not when it came back.
  Run(kAe, OrderOnly(made_before, "archive"));
  clock_.Advance(absl::Hours(24 * 7));  // December.
  Run(kAe, OrderOnly(made_before, "restore"));
  deliver(open);  // Done after the period.
  now = progress();
  EXPECT_EQ(now.orders(), 1u);
  EXPECT_EQ(now.actual(), 1);
  EXPECT_EQ(now.period_elapsed_percent(), 100);
}

// Seed 002's sales manager: "what is average amount of deals won, what is average amount of
// deals lost": a whole-number field summed and averaged over each final state's orders, and
// over the open ones (the pipeline).
TEST_F(OrderFlowTest, OrderStatsSumAFieldOverDealsWonAndLost) {
  Run(kAdmin, PublishDeclinable());
  const v1::Command type = ValuedType();
  Run(kAdmin, type);
  const auto worth = [&](std::optional<int64_t> amount) {
    v1::Command order = CreateOrderCommand();
    if (amount.has_value()) {
      (*order.mutable_create_order()->mutable_fields())["value"].set_integer_value(*amount);
    }
    return Run(kAe, order).id();
  };
  for (int64_t amount : {1000, 3000}) {
    const std::string won = worth(amount);
    Run(kProducer, Script(won, "Draft"));
    Run(kAe, Approve(won, "script", 1));
    Run(kProducer, Spot(won, "s3://spot/" + won));
    Run(kAe, Approve(won, "spot", 1));
    Run(kProducer, Action(won, "deliver"));
  }
  Run(kAe, Action(worth(500), "decline"));
  Run(kAe, Action(worth(std::nullopt), "decline"));  // Lost before anyone put a value on it.
  worth(2000);
  worth(std::nullopt);
  Run(kAe2, CreateClientCommand("globex", "Globex"));  // Another member's book.
  v1::Command theirs = CreateOrderCommand();
  theirs.mutable_create_order()->set_client_id("globex");
  (*theirs.mutable_create_order()->mutable_fields())["value"].set_integer_value(700);
  Run(kAe2, theirs);

  OrderStatsFilter filter;
  filter.item_type = kProductionOrder;
  filter.field = "value";
  ASSERT_OK_AND_ASSIGN(v1::OrderStats stats, engine_->GetOrderStats({kManager}, filter));
  EXPECT_EQ(stats.field(), "value");
  ASSERT_EQ(stats.owners_size(), 2);
  EXPECT_EQ(stats.owners(1).user_id(), kAe2);
  EXPECT_EQ(stats.owners(1).open_field_sum(), 700);
  // The team's book: every owner's orders together.
  EXPECT_EQ(stats.team().user_id(), "");
  EXPECT_EQ(stats.team().open_orders(), 3u);
  EXPECT_EQ(stats.team().open_field_sum(), 2700);
  EXPECT_EQ(stats.team().open_field_orders(), 2u);
  ASSERT_EQ(stats.team().finished_size(), 2);
  EXPECT_DOUBLE_EQ(stats.team().finished(0).field_average(), 2000);
  const v1::OwnerStats& owner = stats.owners(0);
  EXPECT_EQ(owner.open_orders(), 2u);
  EXPECT_EQ(owner.open_field_sum(), 2000) << "the pipeline";
  EXPECT_EQ(owner.open_field_orders(), 1u);
  ASSERT_EQ(owner.finished_size(), 2);
  EXPECT_EQ(owner.finished(0).status(), "completed");
  EXPECT_EQ(owner.finished(0).field_sum(), 4000);
  EXPECT_EQ(owner.finished(0).field_orders(), 2u);
  EXPECT_DOUBLE_EQ(owner.finished(0).field_average(), 2000) << "deals won";
  EXPECT_TRUE(owner.finished(1).abandoned());
  EXPECT_EQ(owner.finished(1).orders(), 2u);
  EXPECT_EQ(owner.finished(1).field_orders(), 1u) << "one had no value";
  EXPECT_DOUBLE_EQ(owner.finished(1).field_average(), 500) << "deals lost, over those valued";

  // A field is of one type, and a whole number.
  OrderStatsFilter untyped;
  untyped.field = "value";
  EXPECT_THAT(engine_->GetOrderStats({kManager}, untyped),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("give item_type with field, or leave field out")));
  filter.field = "station";
  EXPECT_THAT(engine_->GetOrderStats({kManager}, filter),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no whole-number field \"station\" to sum; its whole-number "
                                 "fields are: value")));
  filter.field.clear();
  ASSERT_OK_AND_ASSIGN(stats, engine_->GetOrderStats({kManager}, filter));
  EXPECT_EQ(stats.owners(0).finished(0).field_orders(), 0u) << "no field asked for, no amounts";

  // "Why do the sales team lose certain deals": the finished ones counted by a reason.
  v1::Command reasons = type;
  v1::FieldDefinition* why = reasons.mutable_define_item_type()->mutable_definition()->add_fields();
  why->set_name("lost_because");
  why->set_type(v1::STRING);
  for (const char* choice : {"price", "timing"}) why->add_choices(choice);
  Run(kAdmin, reasons);
  for (const auto& [reason, amount] : std::vector<std::pair<const char*, int64_t>>{
           {"timing", 100}, {"price", 300}, {"price", 900}}) {
    v1::Command order = CreateOrderCommand();
    (*order.mutable_create_order()->mutable_fields())["lost_because"].set_string_value(reason);
    (*order.mutable_create_order()->mutable_fields())["value"].set_integer_value(amount);
    Run(kAe, Action(Run(kAe, order).id(), "decline"));
  }
  filter.group_by = "lost_because";
  ASSERT_OK_AND_ASSIGN(stats, engine_->GetOrderStats({kManager}, filter));
  EXPECT_EQ(stats.group_by(), "lost_because");
  const v1::FinishedStats& lost = stats.owners(0).finished(1);
  ASSERT_TRUE(lost.abandoned());
  ASSERT_EQ(lost.by_value_size(), 3);
  EXPECT_EQ(lost.by_value(0).value(), "") << "the two declined before the field: most first";
  EXPECT_EQ(lost.by_value(0).orders(), 2u);
  EXPECT_EQ(lost.by_value(1).value(), "price");
  EXPECT_EQ(lost.by_value(1).orders(), 2u);
  EXPECT_EQ(lost.by_value(2).value(), "timing");
  EXPECT_EQ(lost.by_value(2).orders(), 1u);
  EXPECT_EQ(lost.by_value(1).field_orders(), 0u) << "no field asked for, no amounts";
  // With a field too, the value of the deals lost to each reason.
  filter.field = "value";
  ASSERT_OK_AND_ASSIGN(stats, engine_->GetOrderStats({kManager}, filter));
  const v1::FinishedStats& valued = stats.owners(0).finished(1);
  ASSERT_EQ(valued.by_value_size(), 3);
  EXPECT_EQ(valued.by_value(0).field_sum(), 500) << "one of the two had a value";
  EXPECT_EQ(valued.by_value(0).field_orders(), 1u);
  EXPECT_EQ(valued.by_value(1).value(), "price");
  EXPECT_EQ(valued.by_value(1).field_sum(), 1200);
  EXPECT_EQ(valued.by_value(1).field_orders(), 2u);
  EXPECT_DOUBLE_EQ(valued.by_value(1).field_average(), 600);
  EXPECT_EQ(valued.by_value(2).field_sum(), 100);
  EXPECT_EQ(valued.field_sum(), 1800) << "the state's sum is its values' together";
  filter.field.clear();
  // A choice respelt since counts the values given before under it, not in a row apart.
  v1::Command respelt = reasons;
  v1::ItemTypeDefinition* now = respelt.mutable_define_item_type()->mutable_definition();
  now->mutable_fields(now->fields_size() - 1)->set_choices(0, "Price");
  Run(kAdmin, respelt);
  ASSERT_OK_AND_ASSIGN(stats, engine_->GetOrderStats({kManager}, filter));
  ASSERT_EQ(stats.owners(0).finished(1).by_value_size(), 3);
  EXPECT_EQ(stats.owners(0).finished(1).by_value(1).value(), "Price");
  EXPECT_EQ(stats.owners(0).finished(1).by_value(1).orders(), 2u);
  filter.group_by = "value";
  EXPECT_THAT(engine_->GetOrderStats({kManager}, filter),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no text field \"value\" to group by; its text fields are: "
                                 "contract_number, station, lost_because")));
  OrderStatsFilter ungrouped;
  ungrouped.group_by = "lost_because";
  EXPECT_THAT(
      engine_->GetOrderStats({kManager}, ungrouped),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("give item_type with group_by")));
}

// A way out into a final state where the work ends undone (a decline) is open, but no one's
// work waits on it: the order is in its producer's queue, not in its AE's for the chance to
// lose it.
TEST_F(OrderFlowTest, AWayOutIsInNoOnesQueue) {
  Run(kAdmin, PublishDeclinable());
  const std::string order = CreateOrder();
  EXPECT_TRUE(Queued(kProducer, order));
  EXPECT_FALSE(Queued(kAe, order)) << "only the decline is open to the AE";
  ASSERT_OK_AND_ASSIGN(v1::OrderView shown, engine_->GetOrder({kAe}, order));
  EXPECT_THAT(shown.open_actions(), ::testing::Contains("decline")) << "open all the same";
  Run(kAe, Action(order, "decline"));
}

// A step may clear fields (Transition.clears_fields): a deal reopened loses its loss reason,
// so a deal won after it is not counted as lost to price; the history keeps the reason.
TEST_F(OrderFlowTest, AReopenedDealLosesItsLossReason) {
  Run(kAdmin, PublishDeclinable());
  v1::Command type = ValuedType();
  v1::FieldDefinition* why = type.mutable_define_item_type()->mutable_definition()->add_fields();
  why->set_name("lost_because");
  why->set_type(v1::STRING);
  Run(kAdmin, type);
  // A misspelt field, one named twice, one both required and cleared: refused, nothing written.
  EXPECT_THAT(Reject(kAdmin, PublishWithReopen({"lost_becuase"})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("whose action \"reopen\" from state \"declined\" clears field "
                                 "lost_becuase, which the type has not (its fields: ")));
  EXPECT_THAT(Reject(kAdmin, PublishWithReopen({"lost_because", "lost_because"})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("names cleared field \"lost_because\" twice")));
  EXPECT_THAT(Reject(kAdmin, PublishWithReopen({"lost_because"}, {"lost_because"})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("requires field \"lost_because\" and clears it")));
  EXPECT_THAT(Reject(kAdmin, PublishWithReopen({"lost because"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cleared field")));
  EXPECT_THAT(Reject(kAdmin, PublishWithReopen({""})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("names a field to clear without a name")));
  // A client's answer sets no fields, nor clears them.
  v1::Command answer_clears = PublishWithReopen({"lost_because"});
  for (v1::Transition& t :
       *answer_clears.mutable_publish_workflow()->mutable_definition()->mutable_transitions()) {
    if (t.action() == "client_approve_script") t.add_clears_fields("lost_because");
  }
  EXPECT_THAT(Reject(kAdmin, answer_clears),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is a client's answer, which sets no fields: require or clear")));
  // Published with the reopen, and a script submitted into awaiting_script clearing it too
  // (for the repeat below: a revision's command whose step clears a field).
  v1::Command published = PublishWithReopen({"lost_because"});
  for (v1::Transition& t :
       *published.mutable_publish_workflow()->mutable_definition()->mutable_transitions()) {
    if (t.action() == "submit_script" && t.from() == "awaiting_script") {
      t.add_clears_fields("lost_because");
    }
  }
  Run(kAdmin, published);

  v1::Command create = CreateOrderCommand();
  (*create.mutable_create_order()->mutable_fields())["value"].set_integer_value(5000);
  (*create.mutable_create_order()->mutable_fields())["station"].set_string_value("WXYZ");
  const std::string deal = Run(kAe, create).id();
  v1::Command lose = Action(deal, "decline");
  (*lose.mutable_perform_action()->mutable_fields())["lost_because"].set_string_value("price");
  Run(kAe, lose);
  const absl::Time lost_at = clock_.Now();
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(Order(deal).fields().at("lost_because").string_value(), "price");
  // The step takes no value for a field it clears.
  v1::Command reopen_with = Action(deal, "reopen");
  (*reopen_with.mutable_perform_action()->mutable_fields())["lost_because"].set_string_value(
      "timing");
  EXPECT_THAT(Reject(kAe, reopen_with),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("action \"reopen\" clears field lost_because, so it takes no "
                                 "value for it; set it after the step (spotflow order update ")));
  // Reopened with a new value set by the step: the clear and the value in one event. (Given
  // blank, the field it clears is no conflict: cleared once.)
  const uint64_t head = store_->Head().position;
  v1::Command reopen = Action(deal, "reopen");
  (*reopen.mutable_perform_action()->mutable_fields())["value"].set_integer_value(6000);
  (*reopen.mutable_perform_action()->mutable_fields())["lost_because"].set_string_value("");
  Run(kAe, reopen);
  EXPECT_EQ(store_->Head().position, head + 2) << "the fields cleared and set, then the step";
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> steps, engine_->OrderHistory({kAuditor}, deal));
  ASSERT_GE(steps.size(), 2u);
  EXPECT_EQ(steps[steps.size() - 2].type(), "spotflow.v1.OrderUpdated");
  EXPECT_EQ(std::count_if(
                steps[steps.size() - 2].fields().begin(), steps[steps.size() - 2].fields().end(),
                [](const v1::FieldChange& f) { return f.path() == "fields[lost_because]"; }),
            1);
  const v1::OrderView reopened = Order(deal);
  EXPECT_EQ(reopened.status(), "awaiting_script");
  EXPECT_FALSE(reopened.fields().contains("lost_because"));
  EXPECT_EQ(reopened.fields().at("value").integer_value(), 6000);
  EXPECT_EQ(reopened.fields().at("station").string_value(), "WXYZ") << "the others stay";
  // As it was when lost, the reason is there.
  ASSERT_OK_AND_ASSIGN(v1::OrderView then,
                       engine_->GetOrderAsOf({kAe}, deal, AsOf{std::nullopt, lost_at}));
  EXPECT_EQ(then.fields().at("lost_because").string_value(), "price");
  // Lost again without a reason and reopened: nothing to clear, the step alone is written.
  Run(kAe, Action(deal, "decline"));
  const uint64_t again = store_->Head().position;
  Run(kAe, Action(deal, "reopen"));
  EXPECT_EQ(store_->Head().position, again + 1);
  // A revision's command whose step clears a field, repeated: the same answer, its number too.
  v1::Command noted;
  noted.mutable_update_order()->set_order_id(deal);
  (*noted.mutable_update_order()->mutable_fields())["lost_because"].set_string_value("timing");
  Run(kAe, noted);
  v1::Command script = Script(deal, "Draft");
  script.set_request_id("script-after-reopen");
  const v1::CommandResult first = Run(kProducer, script);
  EXPECT_EQ(first.sub_id(), "1");
  EXPECT_FALSE(Order(deal).fields().contains("lost_because"));
  const v1::CommandResult repeat = Run(kProducer, script);
  EXPECT_TRUE(repeat.deduplicated());
  EXPECT_EQ(repeat.id(), first.id());
  EXPECT_EQ(repeat.sub_id(), "1") << "the revision's number, not the cleared fields' event";
  EXPECT_EQ(repeat.etag(), first.etag());
}

// A step into a final state may not clear a field the order needs to finish there: refused on
// publishing, and to an order on an older version whose type came to require it since.
TEST_F(OrderFlowTest, AStepMayNotFinishAnOrderByClearingAFieldItNeeds) {
  v1::Command optional = ValuedType();
  v1::Command required = ValuedType();
  required.mutable_define_item_type()
      ->mutable_definition()
      ->mutable_fields()
      ->rbegin()
      ->set_required(true);
  v1::Command clearing;
  v1::WorkflowDefinition* workflow = clearing.mutable_publish_workflow()->mutable_definition();
  *workflow = engine::ProductionOrderWorkflow();
  for (v1::Transition& t : *workflow->mutable_transitions()) {
    if (t.action() == "deliver") t.add_clears_fields("value");
  }
  Run(kAdmin, required);
  EXPECT_THAT(Reject(kAdmin, clearing),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("clears field value and leads to final state \"completed\", but "
                                 "the type requires it of a finished order")));
  // Optional when the clearing version was published and the order made on it; required since.
  Run(kAdmin, optional);
  Run(kAdmin, clearing);
  v1::Command create = CreateOrderCommand();
  (*create.mutable_create_order()->mutable_fields())["value"].set_integer_value(100);
  const std::string order = Run(kAe, create).id();
  v1::Command plain;
  *plain.mutable_publish_workflow()->mutable_definition() = engine::ProductionOrderWorkflow();
  Run(kAdmin, plain);
  Run(kAdmin, required);
  ApproveScriptAndSpot(order);
  EXPECT_THAT(Reject(kProducer, Action(order, "deliver")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("action \"deliver\" clears field value and leads to final state "
                                 "\"completed\", where order ")));
  EXPECT_EQ(Order(order).fields().at("value").integer_value(), 100);
}

// A step may set form fields as it is taken (a deal's loss reason given as it is lost), in
// one append; its final state's required fields count them.
TEST_F(OrderFlowTest, AStepSetsFieldsWithIt) {
  Run(kAdmin, PublishDeclinable());
  v1::Command type = ValuedType();
  v1::FieldDefinition* why = type.mutable_define_item_type()->mutable_definition()->add_fields();
  why->set_name("lost_because");
  why->set_type(v1::STRING);
  for (const char* choice : {"price", "timing"}) why->add_choices(choice);
  Run(kAdmin, type);
  const std::string deal = CreateOrder();
  v1::Command lose = Action(deal, "decline");
  (*lose.mutable_perform_action()->mutable_fields())["lost_because"].set_string_value("budget");
  EXPECT_THAT(Reject(kAe, lose), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("is one of: price, timing; not \"budget\"")));
  (*lose.mutable_perform_action()->mutable_fields())["lost_because"].set_string_value("Price");
  // Who may never take the step hears that, not that they may not set the fields.
  EXPECT_THAT(Reject(kAuditor, lose), StatusIs(absl::StatusCode::kPermissionDenied,
                                               HasSubstr("take action \"decline\" on")));
  const uint64_t head = store_->Head().position;
  const v1::CommandResult lost = Run(kAe, lose);
  EXPECT_EQ(store_->Head().position, head + 2) << "the fields, then the step, in one append";
  const v1::OrderView after = Order(deal);
  EXPECT_EQ(after.status(), "declined");
  EXPECT_EQ(after.fields().at("lost_because").string_value(), "price") << "as the choice is spelt";
  EXPECT_EQ(lost.etag(), after.version());
  {
    // A value given as it stands is no edit: the step alone is written.
    const std::string again = CreateOrder();
    v1::Command set;
    set.mutable_update_order()->set_order_id(again);
    (*set.mutable_update_order()->mutable_fields())["lost_because"].set_string_value("timing");
    Run(kAe, set);
    v1::Command same = Action(again, "decline");
    (*same.mutable_perform_action()->mutable_fields())["lost_because"].set_string_value("timing");
    const uint64_t before = store_->Head().position;
    Run(kAe, same);
    EXPECT_EQ(store_->Head().position, before + 1);
  }

  // The step's checks see them: a final state's required field given with the step itself.
  v1::Command required = type;
  v1::ItemTypeDefinition* definition = required.mutable_define_item_type()->mutable_definition();
  for (v1::FieldDefinition& field : *definition->mutable_fields()) {
    if (field.name() == "value") field.set_required(true);
  }
  const std::string won = CreateOrder();
  Run(kAdmin, required);  // Required since the order was made: it has none yet.
  Run(kProducer, Script(won, "Draft"));
  Run(kAe, Approve(won, "script", 1));
  Run(kProducer, Spot(won, "s3://spot/won"));
  Run(kAe, Approve(won, "spot", 1));
  const absl::Status unfinished = Reject(kProducer, Action(won, "deliver"));
  EXPECT_THAT(unfinished, StatusIs(absl::StatusCode::kFailedPrecondition,
                                   HasSubstr("lacks its required field value")));
  EXPECT_THAT(unfinished,
              HasErrorInfo("MISSING_FIELDS", UnorderedElementsAre(Pair("fields", "value"),
                                                                  Pair("action", "deliver"))));
  v1::Command deliver = Action(won, "deliver");
  (*deliver.mutable_perform_action()->mutable_fields())["value"].set_integer_value(1200);
  EXPECT_THAT(Reject(kProducer, deliver),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("set the fields of")))
      << "setting fields is editing the order: ORDER_MANAGE";
  Run(kAe, deliver);  // The AE uploads spots too (SPOT_UPLOAD), and manages the order.
  EXPECT_TRUE(Order(won).completed());
  EXPECT_EQ(Order(won).fields().at("value").integer_value(), 1200);
}

// A text given blank is no value: not stored on creation, and cleared by an update or a step
// ("--field station="), as people mean it.
TEST_F(OrderFlowTest, ATextGivenBlankIsNoValueAndClearsTheField) {
  Run(kAdmin, PublishWithReopen({}, {"station"}));  // Reopened only with a station.
  v1::Command create = CreateOrderCommand();
  (*create.mutable_create_order()->mutable_fields())["station"].set_string_value("KABC");
  (*create.mutable_create_order()->mutable_fields())["contract_number"].set_string_value(" ");
  const std::string order = Run(kAe, create).id();
  EXPECT_FALSE(Order(order).fields().contains("contract_number"));
  const auto update = [&](const char* field, const char* value) {
    v1::Command command;
    command.mutable_update_order()->set_order_id(order);
    (*command.mutable_update_order()->mutable_fields())[field].set_string_value(value);
    return command;
  };
  uint64_t head = store_->Head().position;
  Run(kAe, update("station", ""));
  EXPECT_EQ(store_->Head().position, head + 1);
  EXPECT_FALSE(Order(order).fields().contains("station"));
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> history, engine_->OrderHistory({kAuditor}, order));
  ASSERT_THAT(history.back().fields(), SizeIs(1));
  EXPECT_EQ(history.back().fields(0).path(), "fields[station]");
  EXPECT_EQ(history.back().fields(0).old_value(), "\"KABC\"");
  EXPECT_EQ(history.back().fields(0).new_value(), "");
  // Blank again: already so, nothing written.
  head = store_->Head().position;
  Run(kAe, update("station", " "));
  EXPECT_EQ(store_->Head().position, head);
  // Given blank with a step: cleared in the step's one update.
  Run(kAe, update("station", "WXYZ"));
  v1::Command decline = Action(order, "decline");
  (*decline.mutable_perform_action()->mutable_fields())["station"].set_string_value("");
  head = store_->Head().position;
  Run(kAe, decline);
  EXPECT_EQ(store_->Head().position, head + 2) << "the update, then the step";
  EXPECT_FALSE(Order(order).fields().contains("station"));
  EXPECT_EQ(Order(order).status(), "declined");
  // A step that requires the field is not given it by a blank.
  Run(kAe, update("station", "KABC"));
  v1::Command blank_reopen = Action(order, "reopen");
  (*blank_reopen.mutable_perform_action()->mutable_fields())["station"].set_string_value(" ");
  EXPECT_THAT(Reject(kAe, blank_reopen),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("requires field station")));
}

TEST_F(OrderFlowTest, WholeLifecycleFromCreationToArchiveKeepsEveryRevision) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "Draft one"));
  Run(kAe, RequestChanges(order, "script", 1, "Say 0% financing earlier"));
  EXPECT_EQ(Order(order).status(), "script_changes_requested");
  Run(kProducer, Script(order, "Draft two"));
  Run(kAe, Forward(order, "script", 2));
  EXPECT_EQ(Order(order).status(), "script_client_review");
  Run(kClientUser, ClientAnswer(order, "script", 2, /*approved=*/true));
  EXPECT_EQ(Order(order).status(), "awaiting_spot");
  Run(kProducer, Spot(order, "s3://spots/acme-1.wav"));
  Run(kAe, Approve(order, "spot", 1));
  EXPECT_EQ(Order(order).status(), "spot_approved");
  v1::CommandResult change =
      Run(kAe, FlightChange(order, MakeDate(2026, 12, 5), MakeDate(2027, 1, 5)));
  Run(kManager, DecideFlight(order, change.sub_id(), true));
  Run(kProducer, Action(order, "deliver"));
  Run(kAe, OrderOnly(order, "archive"));

  v1::OrderView view = Order(order, kAe);
  EXPECT_EQ(view.status(), "completed");
  EXPECT_TRUE(view.completed());
  EXPECT_TRUE(view.archived());
  EXPECT_THAT(view.flight_start().day(), 5);
  ASSERT_THAT(view.scripts(), SizeIs(2));
  EXPECT_TRUE(view.scripts(0).superseded());
  ASSERT_THAT(view.scripts(0).reviews(), SizeIs(1));
  EXPECT_EQ(view.scripts(0).reviews(0).kind(), v1::CHANGES_REQUESTED);
  EXPECT_EQ(view.scripts(0).reviews(0).comment(), "Say 0% financing earlier");
  EXPECT_EQ(view.scripts(0).author(), kProducer);
  ASSERT_THAT(view.scripts(1).reviews(), SizeIs(2));
  EXPECT_EQ(view.scripts(1).reviews(0).kind(), v1::FORWARDED_TO_CLIENT);
  EXPECT_EQ(view.scripts(1).reviews(1).kind(), v1::CLIENT_APPROVED);
  EXPECT_EQ(view.scripts(1).reviews(1).by(), kClientUser);
  EXPECT_TRUE(view.scripts(1).approved());
  ASSERT_THAT(view.spots(), SizeIs(1));
  EXPECT_EQ(view.spots(0).media().uri(), "s3://spots/acme-1.wav");
  ASSERT_THAT(view.flight_changes(), SizeIs(1));
  EXPECT_EQ(view.flight_changes(0).status(), v1::GRANTED);
  EXPECT_EQ(view.flight_changes(0).decided_by(), kManager);
}

TEST_F(OrderFlowTest, ClientAnswerRecordedOnBehalfOfTheContact) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "Draft"));
  Run(kAssistant, Forward(order, "script", 1));
  EXPECT_THAT(Reject(kAssistant, ClientAnswer(order, "script", 1, false, "carol")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("comment")));
  Run(kAssistant, ClientAnswer(order, "script", 1, false, "carol", "Too long"));
  v1::OrderView view = Order(order);
  EXPECT_EQ(view.status(), "script_changes_requested");
  EXPECT_EQ(view.scripts(0).reviews(1).kind(), v1::CLIENT_CHANGES_REQUESTED);
  EXPECT_EQ(view.scripts(0).reviews(1).contact_id(), "carol");
  EXPECT_EQ(view.scripts(0).reviews(1).by(), kAssistant);
  EXPECT_TRUE(view.scripts(0).reviews(1).on_behalf());
  // With the contact's own login, the answer is theirs.
  Run(kProducer, Script(order, "Shorter"));
  Run(kAe, Forward(order, "script", 2));
  Run(kClientUser, ClientAnswer(order, "script", 2, true));
  EXPECT_FALSE(Order(order).scripts(1).reviews(1).on_behalf());
  // The envelope says on whose behalf it was recorded.
  auto records = store_->ReadStream("order-" + order, 4, store::Direction::kForward, 1);
  ASSERT_OK(records.status());
  ASSERT_THAT(*records, SizeIs(1));
  EXPECT_EQ((*records)[0].actor().on_behalf_of(), "carol");
}

TEST_F(OrderFlowTest, AnAnswerRecordedWithoutAContactIsFromWhomTheRevisionWentTo) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "Draft"));
  EXPECT_THAT(Reject(kAe, ClientAnswer(order, "script", 1, true, "")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was not forwarded to the client")));
  Run(kAe, Forward(order, "script", 1));
  Run(kAe, ClientAnswer(order, "script", 1, true, ""));
  EXPECT_EQ(Order(order).scripts(0).reviews(1).contact_id(), "carol");
}

TEST_F(OrderFlowTest, ApprovingASupersededRevisionIsFailedPrecondition) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "One"));
  Run(kProducer, Script(order, "Two"));
  EXPECT_THAT(Reject(kAe, Approve(order, "script", 1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("superseded")));
  EXPECT_THAT(Reject(kAe, Approve(order, "script", 3)), StatusIs(absl::StatusCode::kNotFound));
  Run(kAe, Approve(order, "script", 2));
  EXPECT_THAT(Reject(kAe, Approve(order, "script", 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(OrderFlowTest, WhoMayNeverTakeAnActionHearsThatBeforeWhyNotNow) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "One"));
  Run(kAe, Approve(order, "script", 1));
  // An assistant may not approve: that, not "already approved", nor the order's state.
  EXPECT_THAT(Reject(kAssistant, Approve(order, "script", 1)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("approve_script")));
  EXPECT_THAT(Reject(kAssistant, Approve(order, "script", 7)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Reject(kProducer, RequestChanges(order, "script", 1, "Shorter")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Someone who may take it hears why not now.
  EXPECT_THAT(Reject(kAe, Approve(order, "script", 1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already approved")));
}

TEST_F(OrderFlowTest, ClientAnswersOnlyWhatWasForwardedToThem) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "One"));
  // What was not forwarded to them does not exist for them (as in the order they see).
  EXPECT_THAT(Reject(kClientUser, ClientAnswer(order, "script", 1, true)),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("has no script revision 1 forwarded to you")));
  Run(kAe, Forward(order, "script", 1));
  // Another contact's login may not answer for Carol.
  EXPECT_THAT(Reject(kClientUser, ClientAnswer(order, "script", 1, true, "someone_else")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // A user recording an answer for a contact the client has never had: a typo.
  EXPECT_THAT(Reject(kAe, ClientAnswer(order, "script", 1, true, "daev")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("has no contact \"daev\"")));
  v1::Command changes = ClientAnswer(order, "script", 1, false);
  changes.mutable_record_client_answer()->set_comment("Shorter");
  Run(kClientUser, changes);
  // Answering again: the client hears that nothing waits for them, not the house's actions.
  absl::Status again = Reject(kClientUser, changes);
  EXPECT_THAT(again, StatusIs(absl::StatusCode::kFailedPrecondition,
                              HasSubstr("nothing waits for your answer on it now")));
  EXPECT_THAT(again.message(), Not(HasSubstr("open to")));
  // Nor in what programs read: the action and the state it is in, which the message names.
  EXPECT_THAT(again,
              HasErrorInfo("ACTION_NOT_OPEN",
                           UnorderedElementsAre(Pair("action", "client_request_script_changes"),
                                                Pair("state", Order(order).status()))));
  // Nor do they learn that a revision never sent to them was approved in the house.
  const std::string other = CreateOrder();
  Run(kProducer, Script(other, "One"));
  Run(kAe, Approve(other, "script", 1));
  EXPECT_THAT(Reject(kClientUser, ClientAnswer(other, "script", 1, true)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("forwarded to you")));
}

TEST_F(OrderFlowTest, FlightChangesAreValidatedAndOnlyOnActiveOrders) {
  const std::string order = CreateOrder();
  EXPECT_THAT(Reject(kAe, FlightChange(order, MakeDate(2026, 12, 9), MakeDate(2026, 12, 1))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("before")));
  EXPECT_THAT(Reject(kAe, FlightChange(order, MakeDate(2026, 2, 30), MakeDate(2026, 3, 1))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("flight_start 2026-02-30 is not a valid date")));
  EXPECT_THAT(Reject(kAe, FlightChange(order, MakeDate(1, 1, 1), MakeDate(9999, 12, 31))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("0001-01-01 is out of range: the year is 1900 to 9999")));
  v1::CommandResult change =
      Run(kAe, FlightChange(order, MakeDate(2026, 12, 2), MakeDate(2026, 12, 20)));
  EXPECT_THAT(Reject(kAe, FlightChange(order, MakeDate(2026, 12, 3), MakeDate(2026, 12, 20))),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("waiting")));
  EXPECT_THAT(Reject(kAe, DecideFlight(order, change.sub_id(), true)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  Run(kProducer, DecideFlight(order, change.sub_id(), false));
  EXPECT_THAT(Reject(kManager, DecideFlight(order, change.sub_id(), true)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already")));
  EXPECT_EQ(Order(order).flight_start().day(), 1) << "a rejected change leaves the dates";
  Run(kAe, OrderOnly(order, "archive"));
  EXPECT_THAT(Reject(kAe, FlightChange(order, MakeDate(2026, 12, 2), MakeDate(2026, 12, 20))),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("archived")));
  Run(kManager, OrderOnly(order, "delete"));
  EXPECT_THAT(Reject(kAe, FlightChange(order, MakeDate(2026, 12, 2), MakeDate(2026, 12, 20))),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(OrderFlowTest, AFlightChangeWhoseDatesPassedWhileItWaitedCannotBeGranted) {
  const std::string order = CreateOrder();
  const v1::Date start = Order(order).flight_start();
  const v1::CommandResult change =
      Run(kAe, FlightChange(order, start, MakeDate(start.year(), start.month(), 5)));
  EXPECT_THAT(Order(order, kManager).open_flight_actions(), ElementsAre("decide", "withdraw"));
  clock_.Advance(absl::Hours(24 * 400));  // Long after the asked-for flight.
  EXPECT_THAT(Order(order, kManager).open_flight_actions(), ElementsAre("reject", "withdraw"))
      << "the order says it can only be rejected";
  EXPECT_THAT(Order(order, kAe).open_flight_actions(), ElementsAre("withdraw"));
  // The manager's queue says the same.
  ListOrdersRequest queue;
  queue.actionable = true;
  absl::StatusOr<ListOrdersResponse> queued = engine_->ListOrders({kManager}, queue);
  ASSERT_OK(queued.status());
  ASSERT_THAT(queued->orders, SizeIs(1));
  EXPECT_THAT(queued->orders[0].open_flight_actions(), ElementsAre("reject"));
  // And whom it waits for, to reject it.
  GetOrderOptions with_awaiting;
  with_awaiting.awaiting = true;
  ASSERT_OK_AND_ASSIGN(const v1::OrderView board, engine_->GetOrder({kAe}, order, with_awaiting));
  std::vector<std::string> deciders;
  for (const v1::Awaiting& a : board.awaiting()) {
    if (!a.flight_change()) continue;  // The producer, for the spot.
    deciders.push_back(a.user_id());
    EXPECT_EQ(a.flight_decision(), "reject") << a.user_id();
  }
  EXPECT_THAT(deciders, ElementsAre(kManager));
  EXPECT_THAT(Reject(kManager, DecideFlight(order, change.sub_id(), true)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("which is over"), HasSubstr("reject it"))));
  Run(kManager, DecideFlight(order, change.sub_id(), false));
  EXPECT_EQ(Order(order).flight_changes(0).status(), v1::REJECTED);
}

TEST_F(OrderFlowTest, AFlightChangeCanBeWithdrawnUntilItIsDecided) {
  const std::string order = CreateOrder();
  const std::string first =
      Run(kAe, FlightChange(order, MakeDate(2026, 12, 2), MakeDate(2026, 12, 20))).sub_id();
  auto withdraw = [&](const std::string& request) {
    v1::Command command;
    command.mutable_withdraw_flight_change()->set_order_id(order);
    command.mutable_withdraw_flight_change()->set_request_id(request);
    command.mutable_withdraw_flight_change()->set_comment("the client kept the dates");
    return command;
  };
  // An archived order takes no decision, so it is not archived while one is awaited.
  EXPECT_THAT(Reject(kAe, OrderOnly(order, "archive")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("decide or withdraw it before archiving")));
  // Who may not ask for one may not take one back; an unknown request is NOT_FOUND.
  EXPECT_THAT(Reject(kProducer, withdraw(first)), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Reject(kAe, withdraw("no-such-request")), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Run(kAe, withdraw(first)).sub_id(), first);
  const v1::FlightChange withdrawn = Order(order).flight_changes(0);
  EXPECT_EQ(withdrawn.status(), v1::WITHDRAWN);
  EXPECT_EQ(withdrawn.decided_by(), kAe);
  EXPECT_EQ(withdrawn.decision_comment(), "the client kept the dates");
  EXPECT_EQ(Order(order).flight_start().day(), 1) << "a withdrawn change leaves the dates";
  // Nothing is left to decide or withdraw, and a new request may be made.
  EXPECT_THAT(Reject(kManager, DecideFlight(order, first, true)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already withdrawn")));
  EXPECT_THAT(Reject(kAe, withdraw(first)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already withdrawn")));
  const std::string second =
      Run(kAe, FlightChange(order, MakeDate(2026, 12, 3), MakeDate(2026, 12, 20))).sub_id();
  Run(kManager, DecideFlight(order, second, true));
  EXPECT_THAT(Reject(kAe, withdraw(second)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("already approved")));
  Run(kAe, OrderOnly(order, "archive"));  // Nothing is awaited any more.
}

TEST_F(OrderFlowTest, AFlightChangeWaitsInTheQueueOfThoseWhoMayDecideIt) {
  const std::string order = CreateOrder();
  auto queued = [&](const std::string& user) { return Queued(user, order); };
  ASSERT_FALSE(queued(kManager)) << "the order waits for a script, which is not the manager's";
  const std::string request =
      Run(kAe, FlightChange(order, MakeDate(2026, 12, 2), MakeDate(2026, 12, 20))).sub_id();
  EXPECT_TRUE(queued(kManager));
  EXPECT_FALSE(queued(kAe)) << "the AE asked; they may not decide";
  // What order show offers each about it.
  EXPECT_THAT(Order(order, kAe).open_flight_actions(), ElementsAre("withdraw"));
  EXPECT_THAT(Order(order, kManager).open_flight_actions(), ElementsAre("decide", "withdraw"));
  EXPECT_THAT(Order(order, kProducer).open_flight_actions(), ElementsAre("decide"));
  Run(kManager, DecideFlight(order, request, true));
  EXPECT_FALSE(queued(kManager)) << "decided: nothing waits for the manager";
  EXPECT_THAT(Order(order, kManager).open_flight_actions(), IsEmpty());
  // Once a producer is assigned, the order's next request waits for them: they may decide it.
  v1::Command assign;
  assign.mutable_assign_producer()->set_order_id(order);
  assign.mutable_assign_producer()->set_user_id(kProducer);
  Run(kAe, assign);
  const std::string second =
      Run(kAe, FlightChange(order, MakeDate(2026, 12, 3), MakeDate(2026, 12, 21))).sub_id();
  EXPECT_TRUE(queued(kProducer));
  EXPECT_TRUE(queued(kManager)) << "the AE's manager still sees the team's flight changes";
  AddUser("mgr2", engine::kSalesManager);
  EXPECT_FALSE(queued("mgr2")) << "another manager, who may decide it too, does not";
  Run(kManager, DecideFlight(order, second, false));
  EXPECT_EQ(request, "1") << "requests are numbered within their order, for people to type";
  EXPECT_EQ(second, "2");
}

TEST_F(OrderFlowTest, ActionsTakenAreKeptWithTheirCommentsForTheHouse) {
  const std::string order = CreateOrder();
  ApproveScriptAndSpot(order);
  v1::Command deliver = Action(order, "deliver");
  deliver.mutable_perform_action()->set_comment("sent to WXYZ traffic");
  Run(kProducer, deliver);
  const v1::OrderView view = Order(order);
  ASSERT_THAT(view.actions(), SizeIs(1));
  EXPECT_EQ(view.actions(0).action(), "deliver");
  EXPECT_EQ(view.actions(0).from_status(), "spot_approved");
  EXPECT_EQ(view.actions(0).to_status(), "completed");
  EXPECT_EQ(view.actions(0).by(), kProducer);
  EXPECT_EQ(view.actions(0).comment(), "sent to WXYZ traffic");
  ASSERT_OK_AND_ASSIGN(v1::OrderView seen_by_client, engine_->GetOrder({kClientUser}, order));
  EXPECT_THAT(seen_by_client.actions(), IsEmpty()) << "the house's own notes, as comments are";
  // Whom the view is trimmed for, so a client's screen can say "you"; the house's says no one.
  EXPECT_EQ(seen_by_client.shown_to_contact(), "carol");
  EXPECT_EQ(view.shown_to_contact(), "");
  // How the house works it and how much its log holds are the house's; its status's title
  // says where it stands.
  EXPECT_EQ(seen_by_client.workflow(), "");
  EXPECT_EQ(seen_by_client.workflow_version(), 0u);
  EXPECT_EQ(seen_by_client.created_position(), 0u);
  EXPECT_EQ(seen_by_client.updated_position(), 0u);
  EXPECT_EQ(seen_by_client.status_title(), "Completed");
  EXPECT_EQ(view.workflow(), kProductionOrder);
  EXPECT_GT(view.updated_position(), view.created_position());
  // The order's history says it too, with times as people write them.
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> changes, engine_->OrderHistory({kAe}, order));
  std::string last;
  for (const v1::FieldChange& field : changes.back().fields()) {
    absl::StrAppend(&last, field.path(), "=", field.new_value(), "\n");
  }
  EXPECT_THAT(last, AllOf(HasSubstr("sent to WXYZ traffic"), HasSubstr("2026-11-23T09:00:00Z"),
                          Not(HasSubstr("seconds:"))));
}

TEST_F(OrderFlowTest, AFlightThatIsOverIsRefused) {
  // The fake clock says 2026-11-23 09:00 UTC.
  v1::Command create = CreateOrderCommand();
  *create.mutable_create_order()->mutable_flight_start() = MakeDate(2025, 12, 1);
  *create.mutable_create_order()->mutable_flight_end() = MakeDate(2025, 12, 31);
  EXPECT_THAT(Reject(kAe, create),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("flight_end 2025-12-31 has passed"),
                             HasSubstr("today is 2026-11-23 UTC"), HasSubstr("check the year"))));
  *create.mutable_create_order()->mutable_flight_start() = MakeDate(2026, 11, 1);
  *create.mutable_create_order()->mutable_flight_end() = MakeDate(2026, 11, 21);
  EXPECT_THAT(Reject(kAe, create), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("flight_end 2026-11-21 has passed")));
  // A flight that ended yesterday in UTC is still today for a caller behind UTC; one that
  // started in the past and runs on is an order for a flight already airing.
  *create.mutable_create_order()->mutable_flight_end() = MakeDate(2026, 11, 22);
  const std::string order = Run(kAe, create).id();

  EXPECT_THAT(
      Reject(kAe, FlightChange(order, MakeDate(2026, 11, 1), MakeDate(2026, 11, 21))),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("new_end 2026-11-21 has passed")));
  // The clock moves on: what was taken yesterday is refused now.
  clock_.Advance(absl::Hours(24));
  EXPECT_THAT(
      Reject(kAe, FlightChange(order, MakeDate(2026, 11, 1), MakeDate(2026, 11, 22))),
      StatusIs(absl::StatusCode::kInvalidArgument, AllOf(HasSubstr("new_end 2026-11-22 has passed"),
                                                         HasSubstr("today is 2026-11-24 UTC"))));
  Run(kAe, FlightChange(order, MakeDate(2026, 11, 1), MakeDate(2026, 12, 15)));

  // A reused order books a new flight, which may not be over either.
  const std::string provided = CreateOrder(kAe, v1::PROVIDED);
  Run(kAe, Spot(provided, "s3://agency/spot.mp4", /*provided=*/true));
  Run(kAe, Approve(provided, "spot", 1));
  Run(kAe, OrderOnly(provided, "archive"));
  v1::Command reuse;
  reuse.mutable_reuse_order()->set_source_order_id(provided);
  *reuse.mutable_reuse_order()->mutable_flight_start() = MakeDate(2026, 1, 1);
  *reuse.mutable_reuse_order()->mutable_flight_end() = MakeDate(2026, 1, 31);
  EXPECT_THAT(Reject(kAe, reuse), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("flight_end 2026-01-31 has passed")));
  *reuse.mutable_reuse_order()->mutable_flight_end() = MakeDate(2027, 1, 31);
  Run(kAe, reuse);
}

TEST_F(OrderFlowTest, ArchiveRestoreAndReuseTheApprovedSpot) {
  const std::string order = CreateOrder(kAe, v1::PROVIDED);
  Run(kAe, Spot(order, "s3://agency/spot.mp4", /*provided=*/true));
  Run(kAe, Approve(order, "spot", 1));
  v1::Command reuse;
  reuse.mutable_reuse_order()->set_source_order_id(order);
  *reuse.mutable_reuse_order()->mutable_flight_start() = MakeDate(2027, 3, 1);
  *reuse.mutable_reuse_order()->mutable_flight_end() = MakeDate(2027, 3, 31);
  EXPECT_THAT(Reject(kAe, reuse),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not archived")));
  Run(kAe, OrderOnly(order, "archive"));
  EXPECT_THAT(Reject(kAe, Script(order, "late")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("archived")));
  v1::CommandResult reused = Run(kManager, reuse);
  v1::OrderView copy = Order(reused.id());
  EXPECT_EQ(copy.kind(), v1::REUSE);
  EXPECT_EQ(copy.status(), "spot_approved");
  EXPECT_EQ(copy.reused_from_order(), order);
  ASSERT_THAT(copy.spots(), SizeIs(1));
  EXPECT_TRUE(copy.spots(0).approved());
  EXPECT_EQ(copy.spots(0).media().uri(), "s3://agency/spot.mp4");
  // The spot is still who recorded it, its approval still whose it was; the reuser apart.
  EXPECT_EQ(copy.spots(0).author(), kAe);
  EXPECT_EQ(copy.spots(0).reused_by(), kManager);
  ASSERT_THAT(copy.spots(0).reviews(), SizeIs(1));
  EXPECT_EQ(copy.spots(0).reviews(0).kind(), v1::CARRIED_OVER);
  EXPECT_EQ(copy.spots(0).reviews(0).by(), kManager) << "who carried it over";
  const std::string approval = copy.spots(0).reviews(0).comment();
  EXPECT_THAT(approval,
              ::testing::StartsWith(absl::StrCat(
                  "approved by ", kAe, " as spot revision 1 of order ", Order(order).key())));
  // Reused again, the approval it stands on is still the first order's.
  Run(kManager, OrderOnly(copy.order_id(), "archive"));
  v1::Command again = reuse;
  again.mutable_reuse_order()->set_source_order_id(copy.order_id());
  const v1::OrderView second = Order(Run(kManager, again).id());
  EXPECT_EQ(second.spots(0).author(), kAe);
  EXPECT_EQ(second.spots(0).reviews(0).comment(), approval);
  Run(kAe, OrderOnly(order, "restore"));
  EXPECT_FALSE(Order(order).archived());
  EXPECT_THAT(Reject(kAe, OrderOnly(order, "restore")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// A reused spot is still who recorded it, and its approval whose it was: a producer's spot an
// AE approved, reused by a manager, names the producer and the AE, and the manager apart.
TEST_F(OrderFlowTest, AReusedSpotNamesWhoRecordedAndWhoApprovedIt) {
  const std::string order = CreateOrder();
  ApproveScriptAndSpot(order, "s3://spot/a");
  Run(kAe, OrderOnly(order, "archive"));
  v1::Command reuse;
  reuse.mutable_reuse_order()->set_source_order_id(order);
  *reuse.mutable_reuse_order()->mutable_flight_start() = MakeDate(2027, 3, 1);
  *reuse.mutable_reuse_order()->mutable_flight_end() = MakeDate(2027, 3, 31);
  const v1::OrderView copy = Order(Run(kManager, reuse).id());
  ASSERT_THAT(copy.spots(), SizeIs(1));
  EXPECT_EQ(copy.spots(0).author(), kProducer);
  EXPECT_EQ(copy.spots(0).reused_by(), kManager);
  EXPECT_THAT(copy.spots(0).reviews(0).comment(),
              ::testing::StartsWith(absl::StrCat("approved by ", kAe, " as spot revision 1")));
  ASSERT_OK_AND_ASSIGN(Engine::ReplayCheck check, engine_->CheckReplay({kAuditor}, nullptr));
  EXPECT_EQ(check.live_digest, check.rebuilt_digest);
}

TEST_F(OrderFlowTest, AReuseGivesTheFieldsItsTypeHasComeToRequire) {
  const std::string order = CreateOrder(kAe, v1::PROVIDED);
  v1::Command station;
  station.mutable_update_order()->set_order_id(order);
  (*station.mutable_update_order()->mutable_fields())["station"].set_string_value("WXYZ");
  Run(kAe, station);
  Run(kAe, Spot(order, "s3://agency/spot.mp4", /*provided=*/true));
  Run(kAe, Approve(order, "spot", 1));
  Run(kAe, OrderOnly(order, "archive"));
  // Since then the type dropped the station and came to require a count of spots.
  v1::ItemTypeDefinition type = *engine_->GetItemType({kAdmin}, engine::kProductionOrder);
  for (int i = 0; i < type.fields_size(); ++i) {
    if (type.fields(i).name() == "station") type.mutable_fields()->DeleteSubrange(i, 1);
  }
  v1::FieldDefinition* spots = type.add_fields();
  spots->set_name("spots_count");
  spots->set_type(v1::INTEGER);
  spots->set_required(true);
  v1::Command define;
  *define.mutable_define_item_type()->mutable_definition() = type;
  Run(kAdmin, define);
  v1::Command reuse;
  reuse.mutable_reuse_order()->set_source_order_id(order);
  *reuse.mutable_reuse_order()->mutable_flight_start() = MakeDate(2027, 3, 1);
  *reuse.mutable_reuse_order()->mutable_flight_end() = MakeDate(2027, 3, 31);
  const absl::Status incomplete = Reject(kAe, reuse);
  EXPECT_THAT(incomplete, StatusIs(absl::StatusCode::kFailedPrecondition,
                                   AllOf(HasSubstr("\"spots_count\" is required"),
                                         HasSubstr("order reuse ... --field NAME=VALUE"))));
  // Worded for the reuse, the refusal keeps the reason of the fields it lacks.
  EXPECT_THAT(incomplete,
              HasErrorInfo("MISSING_FIELDS", ElementsAre(Pair("fields", "spots_count"))));
  v1::FieldValue typo;
  typo.set_integer_value(4);
  (*reuse.mutable_reuse_order()->mutable_fields())["spot_count"] = typo;
  EXPECT_THAT(
      Reject(kAe, reuse),
      AllOf(StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no field \"spot_count\"")),
            HasErrorInfo("INVALID_FIELD", ElementsAre(Pair("field", "spot_count")))));
  reuse.mutable_reuse_order()->mutable_fields()->clear();
  (*reuse.mutable_reuse_order()->mutable_fields())["spots_count"] = typo;
  const v1::OrderView copy = Order(Run(kAe, reuse).id());
  EXPECT_EQ(copy.fields().at("spots_count").integer_value(), 4);
  EXPECT_EQ(copy.fields().count("station"), 0u) << "a field its type no longer has stays behind";
  EXPECT_TRUE(Order(order).archived()) << "the archive stays as it was";
  EXPECT_EQ(Order(order).fields().count("spots_count"), 0u);
}

TEST_F(OrderFlowTest, DeletedOrdersDisappearFromQueriesAndStayInTheLog) {
  const std::string order = CreateOrder();
  const uint64_t before = store_->Head().position;
  Run(kAe, OrderOnly(order, "delete"));
  EXPECT_EQ(store_->Head().position, before + 1);
  EXPECT_THAT(engine_->GetOrder({kManager}, order), StatusIs(absl::StatusCode::kNotFound));
  auto list = engine_->ListOrders({kManager}, {});
  ASSERT_OK(list.status());
  EXPECT_THAT(list->orders, SizeIs(0));
  auto records = store_->ReadStream("order-" + order, 1, store::Direction::kForward, 10);
  ASSERT_OK(records.status());
  EXPECT_THAT(*records, SizeIs(2));
  EXPECT_THAT(Reject(kAe, OrderOnly(order, "delete")), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(OrderFlowTest, SharingAnOrderLetsAColleagueSeeAndWorkIt) {
  const std::string order = CreateOrder();
  EXPECT_THAT(engine_->GetOrder({kAe2}, order), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Reject(kAe2, Approve(order, "script", 1)), StatusIs(absl::StatusCode::kNotFound));
  v1::Command share;
  share.mutable_share_order()->set_order_id(order);
  share.mutable_share_order()->set_user_id(kAe2);
  Run(kAe, share);
  EXPECT_THAT(Order(order, kAe2).participants(), ElementsAre(kAe2));
  v1::Command with_owner = share;
  with_owner.mutable_share_order()->set_user_id(kAe);
  EXPECT_THAT(Reject(kAe, with_owner),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"ae\" owns order")));
  v1::Command comment;
  comment.mutable_add_comment()->set_order_id(order);
  comment.mutable_add_comment()->set_text("I'll cover while Sam is out");
  Run(kAe2, comment);
  EXPECT_EQ(Order(order).comments(0).author(), kAe2);
  // Working the order, the colleague may forward its script; the order names the contacts to
  // choose from, though the client's record is not theirs to see.
  Run(kProducer, Script(order, "One"));
  v1::Command dan = AddContactCommand(client_, "dan", "Dan Client");
  dan.mutable_add_contact()->mutable_contact()->set_email("dan@acme.test");
  dan.mutable_add_contact()->mutable_contact()->set_title("Buyer");
  Run(kAe, dan);
  EXPECT_THAT(engine_->GetClient({kAe2}, client_), StatusIs(absl::StatusCode::kNotFound));
  const v1::OrderView seen = Order(order, kAe2);
  ASSERT_THAT(seen.forward_contacts(), SizeIs(2));
  EXPECT_EQ(seen.forward_contacts(0).contact_id(), "carol");
  EXPECT_EQ(seen.forward_contacts(1).title(), "Buyer");
  EXPECT_EQ(seen.forward_contacts(1).email(), "") << "only what choosing needs";
  EXPECT_THAT(Order(order, kProducer).forward_contacts(), IsEmpty()) << "who may not forward";
  // Those it was shared with do not pass it on, nor take it from others; they may leave it.
  v1::Command on = share;
  on.mutable_share_order()->set_user_id(kAssistant);
  EXPECT_THAT(Reject(kAe2, on),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("ask its owner \"ae\"")));
  Run(kAe, on);
  v1::Command take;
  take.mutable_unshare_order()->set_order_id(order);
  take.mutable_unshare_order()->set_user_id(kAssistant);
  EXPECT_THAT(Reject(kAe2, take), StatusIs(absl::StatusCode::kPermissionDenied));
  v1::Command leave = take;
  leave.mutable_unshare_order()->set_user_id(kAe2);
  Run(kAe2, leave);
  EXPECT_THAT(Order(order).participants(), ElementsAre(kAssistant));
  EXPECT_THAT(engine_->GetOrder({kAe2}, order), StatusIs(absl::StatusCode::kNotFound));
  Run(kManager, take);  // A manager may.
  EXPECT_THAT(Order(order).participants(), IsEmpty());
  // So may whom the account is shared with for good (the AE's assistant): the order is the
  // account's. Passing the account itself on stays the owner's (ShareClient).
  v1::Command by_account = share;
  by_account.mutable_share_order()->set_user_id(kOrderEntry);
  Run(kAssistant, by_account);
  EXPECT_THAT(Order(order).participants(), ElementsAre(kOrderEntry));
  // Not whom it is shared with until a date, who works on its orders: an order share passed on
  // would outlast theirs.
  v1::Command cover;
  cover.mutable_share_client()->set_client_id(client_);
  cover.mutable_share_client()->set_user_id(kAe2);
  cover.mutable_share_client()->mutable_until()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(24)));
  Run(kAe, cover);
  EXPECT_OK(engine_->GetOrder({kAe2}, order).status());
  v1::Command passed = share;
  passed.mutable_share_order()->set_user_id(kProducer);
  EXPECT_THAT(Reject(kAe2, passed),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("holds client \"acme\" until 2026-11-24 09:00 UTC"),
                             HasSubstr("an order share would outlast theirs"))));
  passed.mutable_share_order()->set_user_id(kAe2);  // Nor to themselves.
  EXPECT_THAT(Reject(kAe2, passed), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Order(order).participants(), ElementsAre(kOrderEntry));
}

TEST_F(OrderFlowTest, OrderSharesPassedOnThroughAnAccountShareEndWithIt) {
  const std::string order = CreateOrder();
  const std::string other = CreateOrder();
  const auto share = [](const std::string& order, const std::string& user) {
    v1::Command command;
    command.mutable_share_order()->set_order_id(order);
    command.mutable_share_order()->set_user_id(user);
    return command;
  };
  AddUser("ae3", engine::kAccountExecutive);
  Run(kAssistant, share(order, kAe2));        // The AE's assistant passes it on...
  Run(kAssistant, share(other, kAssistant));  // ...and takes one on themselves.
  Run(kAe, share(other, "ae3"));              // The owner's own share stays.
  EXPECT_THAT(Order(order).participant_shares(), SizeIs(1));
  EXPECT_EQ(Order(order).participant_shares(0).granted_by(), kAssistant);
  v1::Command unshare;
  unshare.mutable_unshare_client()->set_client_id(client_);
  unshare.mutable_unshare_client()->set_user_id(kAssistant);
  Run(kAe, unshare);
  EXPECT_THAT(Order(order).participants(), IsEmpty());
  EXPECT_THAT(Order(order).participant_shares(), IsEmpty());
  EXPECT_THAT(Order(other).participants(), ElementsAre("ae3"));
  EXPECT_THAT(engine_->GetOrder({kAe2}, order), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(engine_->GetOrder({kAssistant}, other), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(Order(other).participant_shares(), SizeIs(1));
  EXPECT_EQ(Order(other).participant_shares(0).granted_by(), kAe);
  // The order's history tells of the share's end as of who shares it, not of bookkeeping.
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> changes, engine_->OrderHistory({kAuditor}, order));
  int participant_changes = 0;
  for (const v1::Change& change : changes) {
    for (const v1::FieldChange& field : change.fields()) {
      EXPECT_THAT(field.path(), Not(HasSubstr("participant_shares")));
      participant_changes += absl::StartsWith(field.path(), "participants");
    }
  }
  EXPECT_EQ(participant_changes, 2) << "shared, then unshared";

  // An order of their own they share as its owner, not through the account: that stays.
  const std::string theirs = CreateOrder();
  v1::Command hand;
  hand.mutable_reassign_orders()->add_order_ids(theirs);
  hand.mutable_reassign_orders()->set_to_owner(kAssistant);
  Run(kManager, hand);
  v1::Command again;
  again.mutable_share_client()->set_client_id(client_);
  again.mutable_share_client()->set_user_id(kAssistant);
  Run(kAe, again);  // For good again.
  Run(kAssistant, share(theirs, kAe2));
  Run(kAssistant, share(order, kAe2));
  EXPECT_FALSE(Order(theirs).participant_shares(0).through_account_share());
  EXPECT_TRUE(Order(order).participant_shares(0).through_account_share());
  // Shared with them until a date in place of for good: what they passed on through the
  // account ends now, not at a date no event would mark.
  *again.mutable_share_client()->mutable_until() = google::protobuf::Timestamp();
  again.mutable_share_client()->mutable_until()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(24)));
  Run(kAe, again);
  EXPECT_THAT(Order(order).participants(), IsEmpty());
  EXPECT_THAT(Order(theirs).participants(), ElementsAre(kAe2));
  Run(kAe, unshare);
  EXPECT_THAT(Order(theirs).participants(), ElementsAre(kAe2));
  // Passed on through the account, then shared by the owner too: it stays with the owner's.
  again.mutable_share_client()->clear_until();
  Run(kAe, again);
  Run(kAssistant, share(order, kAe2));
  Run(kAe, share(order, kAe2));
  ASSERT_THAT(Order(order).participant_shares(), SizeIs(1));
  EXPECT_EQ(Order(order).participant_shares(0).granted_by(), kAe);
  EXPECT_FALSE(Order(order).participant_shares(0).through_account_share());
  Run(kAe, unshare);
  EXPECT_THAT(Order(order).participants(), ElementsAre(kAe2));
  // The history tells it as the share through the account ending and the owner's beginning.
  ASSERT_OK_AND_ASSIGN(changes, engine_->OrderHistory({kAuditor}, order));
  ASSERT_GE(changes.size(), 2u);
  EXPECT_EQ(changes[changes.size() - 2].type(), "spotflow.v1.OrderUnshared");
  EXPECT_EQ(changes.back().type(), "spotflow.v1.OrderShared");
  EXPECT_EQ(changes.back().actor().user_id(), kAe);
  EXPECT_THAT(changes.back().fields(), Not(IsEmpty()));
}

TEST_F(OrderFlowTest, AShareThatCameWithAnAccountDoesNotPassItsOrdersOn) {
  const std::string order = CreateOrder();
  v1::Command move;
  move.mutable_reassign_accounts()->set_from_owner(kAe);
  move.mutable_reassign_accounts()->set_to_owner(kAe2);
  Run(kManager, move);
  // The assistant's share came from the old owner: they still work on the account's orders.
  EXPECT_OK(engine_->GetOrder({kAssistant}, order).status());
  AddUser("ae3", engine::kAccountExecutive);
  v1::Command share;
  share.mutable_share_order()->set_order_id(order);
  share.mutable_share_order()->set_user_id("ae3");
  EXPECT_THAT(Reject(kAssistant, share),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("through a share from \"ae\", not from its owner \"ae2\"")));
  EXPECT_THAT(engine_->GetOrder({"ae3"}, order), StatusIs(absl::StatusCode::kNotFound));
  v1::Command unshare;
  unshare.mutable_unshare_order()->set_order_id(order);
  unshare.mutable_unshare_order()->set_user_id("ae3");
  EXPECT_THAT(Reject(kAssistant, unshare),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("that is the owner's")));
}

TEST_F(OrderFlowTest, AccountShareExpiresAtItsDate) {
  v1::Command share;
  share.mutable_share_client()->set_client_id(client_);
  share.mutable_share_client()->set_user_id(kAe2);
  *share.mutable_share_client()->mutable_until() = google::protobuf::Timestamp();  // set below
  share.mutable_share_client()->mutable_until()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 7)));
  Run(kAe, share);
  const uint64_t shared_at = store_->Head().position;
  const std::string order = CreateOrder();
  EXPECT_OK(engine_->GetOrder({kAe2}, order).status());
  const auto shared_with_ae2 = [](const v1::ClientView& client) {
    return std::count_if(client.shares().begin(), client.shares().end(),
                         [](const v1::AccountShare& s) { return s.user_id() == kAe2; });
  };
  EXPECT_EQ(shared_with_ae2(*engine_->GetClient({kAe}, client_)), 1);
  clock_.Advance(absl::Hours(24 * 8));
  EXPECT_THAT(engine_->GetOrder({kAe2}, order), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Reject(kAe2, CreateOrderCommand()), StatusIs(absl::StatusCode::kNotFound));
  // The client no longer shows the share it no longer grants; its history keeps it.
  EXPECT_EQ(shared_with_ae2(*engine_->GetClient({kAe}, client_)), 0);
  absl::StatusOr<ListClientsResponse> listed = engine_->ListClients({kAe}, {});
  ASSERT_OK(listed.status());
  ASSERT_THAT(listed->clients, SizeIs(1));
  EXPECT_EQ(shared_with_ae2(listed->clients[0]), 0);
  EXPECT_EQ(shared_with_ae2(engine_->State().clients(0)), 1) << "the state is the log's";
  // Read as of a moment, the client shows the shares that granted something then: by time,
  // or by position (when the log recorded it).
  const auto shared_as_of = [&](const AsOf& as_of) {
    absl::StatusOr<v1::ClientView> then = engine_->GetClientAsOf({kAe}, client_, as_of);
    EXPECT_OK(then.status());
    return then.ok() ? shared_with_ae2(*then) : -1;
  };
  AsOf during;
  during.time = clock_.Now() - absl::Hours(24 * 4);
  EXPECT_EQ(shared_as_of(during), 1);
  AsOf after;
  after.time = clock_.Now();
  EXPECT_EQ(shared_as_of(after), 0);
  AsOf at_share;
  at_share.position = shared_at;
  EXPECT_EQ(shared_as_of(at_share), 1);
  CreateOrder();  // Something the log records after the share ended.
  AsOf at_later;
  at_later.position = store_->Head().position;
  EXPECT_EQ(shared_as_of(at_later), 0);
}

TEST_F(OrderFlowTest, AccountsBelongToStaffWhoManageClientsAndApproveTheirWork) {
  // An owner who cannot manage clients would hold an account they may not edit; one who cannot
  // approve would leave every revision on it waiting for a manager (seed 000: accounts move
  // from one AE to another AE).
  const auto cannot = [](const std::string& user, const std::string& lacks) {
    return StatusIs(absl::StatusCode::kInvalidArgument,
                    AllOf(HasSubstr("\"" + user + "\" cannot own accounts"),
                          HasSubstr("no role of theirs grants " + lacks),
                          HasSubstr("such as an account executive")));
  };
  v1::Command create = CreateClientCommand("globex", "Globex");
  create.mutable_create_client()->set_owner_id(kProducer);
  EXPECT_THAT(Reject(kManager, create), cannot(kProducer, "CLIENT_MANAGE"));
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kProducer);
  EXPECT_THAT(Reject(kManager, reassign), cannot(kProducer, "CLIENT_MANAGE"));
  create.mutable_create_client()->set_owner_id(kAuditor);
  EXPECT_THAT(Reject(kManager, create), cannot(kAuditor, "CLIENT_MANAGE"));
  for (const char* assistant : {kAssistant, kOrderEntry}) {
    create.mutable_create_client()->set_owner_id(assistant);
    EXPECT_THAT(Reject(kManager, create), cannot(assistant, "REVISION_APPROVE"));
    reassign.mutable_reassign_accounts()->set_to_owner(assistant);
    EXPECT_THAT(Reject(kManager, reassign), cannot(assistant, "REVISION_APPROVE"));
  }
  reassign.mutable_reassign_accounts()->clear_to_owner();
  reassign.mutable_reassign_accounts()->add_spread_to(kAe2);
  reassign.mutable_reassign_accounts()->add_spread_to(kOrderEntry);
  EXPECT_THAT(Reject(kManager, reassign), cannot(kOrderEntry, "REVISION_APPROVE"));
  create.mutable_create_client()->set_owner_id(kAe2);
  Run(kManager, create);
  EXPECT_EQ(engine_->GetClient({kManager}, "globex")->owner_id(), kAe2);
}

// Two clients of one name would split one company's orders and contacts: a second is refused,
// with the first's id when the caller sees it; a rename onto another's name too.
TEST_F(OrderFlowTest, AClientNameIsTakenOnce) {
  for (const char* same : {"ACME  motors", "Acme Motors.", " acme-motors "}) {
    EXPECT_THAT(Reject(kAe, CreateClientCommand("", same)),
                StatusIs(absl::StatusCode::kAlreadyExists,
                         HasSubstr("client \"acme\" is already named \"Acme Motors\"; a second "
                                   "client of that name needs one that tells them apart")))
        << same;
  }
  // Another AE learns that it is someone's account, not whose or its id.
  const absl::Status hidden = Reject(kAe2, CreateClientCommand("", "Acme Motors"));
  EXPECT_THAT(hidden, StatusIs(absl::StatusCode::kAlreadyExists,
                               HasSubstr("in an account you do not see: ask a sales manager")));
  EXPECT_THAT(hidden.message(), Not(HasSubstr("\"acme\"")));
  Run(kAe, CreateClientCommand("", "Acme Motors (Denver)"));
  const std::string globex = Run(kAe, CreateClientCommand("", "Globex")).id();
  v1::Command rename;
  rename.mutable_update_client()->set_client_id(globex);
  rename.mutable_update_client()->set_name("acme motors");
  EXPECT_THAT(Reject(kAe, rename), StatusIs(absl::StatusCode::kAlreadyExists));
  // Its own name, in other letters, is no clash; a deleted client's name is free again.
  rename.mutable_update_client()->set_name("GLOBEX");
  Run(kAe, rename);
  v1::Command remove;
  remove.mutable_delete_client()->set_client_id(globex);
  Run(kAe, remove);
  EXPECT_EQ(Run(kAe, CreateClientCommand("", "Globex")).id(), "globex-2");
}

// A role misspelt names the roles there are.
TEST_F(OrderFlowTest, AnUnknownRoleNamesTheRolesThereAre) {
  v1::Command user;
  user.mutable_create_user()->set_user_id("joe");
  user.mutable_create_user()->set_display_name("Joe");
  user.mutable_create_user()->add_roles("acount_executive");
  EXPECT_THAT(Reject(kAdmin, user),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("role \"acount_executive\" does not exist; did you mean "
                                 "\"account_executive\"?; the roles are: "
                                 "account_executive, admin, auditor, client_contact, ")));
}

// A refusal reads as a sentence about the record: "may not delete order PO-...", "may not
// comment on order ...", "may not delete client ...".
TEST_F(OrderFlowTest, ARefusalNamesWhatMayNotBeDoneToWhichRecord) {
  const std::string order = CreateOrder();
  const std::string name = absl::StrCat(Order(order).key(), " (\"", order, "\")");
  const auto denied = [](const std::string& text) {
    return StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr(text));
  };
  EXPECT_THAT(Reject(kAssistant, OrderOnly(order, "delete")),
              denied("may not delete order " + name + ": that needs ORDER_DELETE"));
  EXPECT_THAT(Reject(kAuditor, OrderOnly(order, "archive")),
              denied("may not archive order " + name + ": that needs ORDER_MANAGE"));
  v1::Command comment;
  comment.mutable_add_comment()->set_order_id(order);
  comment.mutable_add_comment()->set_text("Looks good");
  EXPECT_THAT(Reject(kAuditor, comment), denied("may not comment on order " + name));
  EXPECT_THAT(Reject(kAuditor, FlightChange(order, MonthsAhead(2, 1), MonthsAhead(2, 20))),
              denied("may not request a flight-date change on order " + name));
  EXPECT_THAT(Reject(kAuditor, Action(order, "deliver")),
              denied("may not take action \"deliver\" on order " + name));
  v1::Command remove;
  remove.mutable_delete_client()->set_client_id(client_);
  EXPECT_THAT(Reject(kAssistant, remove),
              denied("may not delete client \"acme\": that needs CLIENT_DELETE"));
}

// A client an assistant creates without naming its owner goes to the book of the AE they
// assist (who shared accounts with them), not to the assistant, who could not approve its work.
TEST_F(OrderFlowTest, AClientAnAssistantCreatesGoesToTheBookOfTheAeTheyAssist) {
  const v1::CommandResult made = Run(kAssistant, CreateClientCommand("", "Initech"));
  ASSERT_OK_AND_ASSIGN(const v1::ClientView initech, engine_->GetClient({kAe}, made.id()));
  EXPECT_EQ(initech.owner_id(), kAe);
  EXPECT_EQ(initech.created_by(), kAssistant);
  ASSERT_THAT(initech.shares(), SizeIs(1));
  EXPECT_EQ(initech.shares(0).user_id(), kAssistant);
  // An AE's own clients stay theirs.
  EXPECT_EQ(
      engine_->GetClient({kAe2}, Run(kAe2, CreateClientCommand("", "Globex")).id())->owner_id(),
      kAe2);
  // One who assists several AEs names the owner; one who assists none is told what to give.
  v1::Command share;
  share.mutable_share_client()->set_client_id("globex");
  share.mutable_share_client()->set_user_id(kAssistant);
  Run(kAe2, share);
  EXPECT_THAT(Reject(kAssistant, CreateClientCommand("", "Hooli")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("give the client's owner (owner_id; spotflow client create "
                                 "--owner USER): you work the accounts of several owners (ae, "
                                 "ae2)")));
  v1::Command user;
  user.mutable_create_user()->set_user_id("otto");
  user.mutable_create_user()->set_display_name("Otto");
  user.mutable_create_user()->add_roles(engine::kOrderEntry);
  Run(kAdmin, user);
  EXPECT_THAT(Reject("otto", CreateClientCommand("", "Hooli")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("\"otto\" cannot own accounts"),
                             HasSubstr("make the owner someone who can"),
                             HasSubstr("(owner_id; spotflow client create --owner USER)"),
                             HasSubstr("share one of their accounts with you first (spotflow "
                                       "client share CLIENT otto)"))));
  // Only an owner who may still own accounts counts: ae2 left, so the assistant's book is
  // ae's again; a share that has ended, or one a manager gave, counts for nothing.
  v1::Command leaves;
  leaves.mutable_deactivate_user()->set_user_id(kAe2);
  Run(kAdmin, leaves);
  EXPECT_EQ(
      engine_->GetClient({kAe}, Run(kAssistant, CreateClientCommand("", "Hooli")).id())->owner_id(),
      kAe);
  v1::Command until;
  until.mutable_share_client()->set_client_id(client_);
  until.mutable_share_client()->set_user_id("otto");
  until.mutable_share_client()->mutable_until()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(1)));
  Run(kAe, until);
  v1::Command by_manager;  // Of one of ae's accounts: a share ae did not give.
  by_manager.mutable_share_client()->set_client_id(made.id());
  by_manager.mutable_share_client()->set_user_id("otto");
  Run(kManager, by_manager);
  EXPECT_EQ(engine_->GetClient({kAe}, Run("otto", CreateClientCommand("", "Pied Piper")).id())
                ->owner_id(),
            kAe)
      << "the AE's own share, not the manager's";
  clock_.Advance(absl::Hours(2));
  EXPECT_THAT(Reject("otto", CreateClientCommand("", "Vandelay")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot own accounts")))
      << "the AE's share has ended";
}

// A client or contact created without an id gets one people can type, made from its name.
TEST_F(OrderFlowTest, ClientsAndContactsWithoutAnIdGetOneMadeFromTheirName) {
  const auto create = [&](const std::string& name) {
    v1::Command command = CreateClientCommand("", name);
    return Run(kAe, command).id();
  };
  EXPECT_EQ(create("Acme Motors, Inc."), "acme-motors-inc");
  EXPECT_EQ(create("\u00c1CME motors inc"), "acme-motors-inc-2") << "taken: the next one";
  EXPECT_EQ(create("Acme M\u00f3tors Inc"), "acme-motors-inc-3");
  v1::Command remove;
  remove.mutable_delete_client()->set_client_id("acme-motors-inc-3");
  Run(kAe, remove);
  EXPECT_EQ(create("Acme M\u00f3tors Inc"), "acme-motors-inc-4")
      << "a deleted client's id stays its own: its history names it";
  const std::string long_name(60, 'x');
  EXPECT_EQ(create(long_name + " Media"), std::string(40, 'x'));
  EXPECT_EQ(create("  Radio 1 -- FM  "), "radio-1-fm");
  EXPECT_EQ(create("Ärzte & Co"), "arzte-co") << "Latin-1's letters as ASCII ones";
  EXPECT_EQ(create("Société Générale"), "societe-generale");
  EXPECT_EQ(create("Müller × Søn"), "muller-son");
  EXPECT_EQ(create("McDonald's"), "mcdonalds") << "an apostrophe leaves the word whole";
  EXPECT_EQ(create("Café 東京 Bar"), "cafe-bar") << "other scripts are left out";
  EXPECT_EQ(create("Škoda Łódź"), "skoda-lodz") << "Latin Extended-A too";
  EXPECT_EQ(create("Acme\u00a0Media «Plus»"), "acme-media-plus") << "a no-break space separates";
  EXPECT_EQ(create("Κάτι Motors"), "motors");
  const std::string generated = create("東京");
  EXPECT_THAT(generated, Not(IsEmpty())) << "no ASCII letter or digit: a generated id";
  EXPECT_OK(engine_->GetClient({kAe}, generated).status());
  // A given id is taken as given, and a taken one is still refused.
  EXPECT_EQ(Run(kAe, CreateClientCommand("ours", "Ours Inc")).id(), "ours");
  EXPECT_THAT(Reject(kAe, CreateClientCommand("acme-motors-inc", "Other")),
              StatusIs(absl::StatusCode::kAlreadyExists));

  const auto contact = [&](const std::string& name, const std::string& email = "") {
    v1::Command command;
    command.mutable_add_contact()->set_client_id("ours");
    command.mutable_add_contact()->mutable_contact()->set_name(name);
    command.mutable_add_contact()->mutable_contact()->set_email(email);
    return command;
  };
  const auto add = [&](const std::string& name, const std::string& email = "") {
    return Run(kAe, contact(name, email)).sub_id();
  };
  EXPECT_EQ(add("Carol Jones"), "carol-jones");
  // The same person again (the same name, email and phone): refused, writing nothing.
  EXPECT_THAT(Reject(kAe, contact("carol  JONES")),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("client \"ours\" already has Carol Jones as contact "
                                 "\"carol-jones\"; change it with UpdateContact (spotflow "
                                 "contact update ours carol-jones)")));
  EXPECT_EQ(add("Carol Jones", "cj@ours.test"), "carol-jones-2") << "a namesake";
  EXPECT_THAT(Reject(kAe, contact("Carol Jones", "CJ@ours.test")),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("Carol Jones <cj@ours.test> as contact \"carol-jones-2\"")));
  // The same email is the same person, though given with a phone this time.
  v1::Command with_phone = contact("Carol Jones", "cj@ours.test");
  with_phone.mutable_add_contact()->mutable_contact()->set_phone("+1 555 0199");
  EXPECT_THAT(Reject(kAe, with_phone), StatusIs(absl::StatusCode::kAlreadyExists,
                                                HasSubstr("as contact \"carol-jones-2\"")));
  v1::Command elsewhere;
  elsewhere.mutable_add_contact()->set_client_id("acme-motors-inc");
  elsewhere.mutable_add_contact()->mutable_contact()->set_name("Carol Jones");
  EXPECT_EQ(Run(kAe, elsewhere).sub_id(), "carol-jones") << "a contact's id is its client's";
  const v1::ClientView ours = *engine_->GetClient({kAe}, "ours");
  ASSERT_THAT(ours.contacts(), SizeIs(2));
  EXPECT_EQ(ours.contacts(1).contact_id(), "carol-jones-2");
  // A removed contact's id is not made again for someone else: the history names them. Given
  // again by hand, it is the same contact back.
  v1::Command leaves;
  leaves.mutable_remove_contact()->set_client_id("ours");
  leaves.mutable_remove_contact()->set_contact_id("carol-jones");
  Run(kAe, leaves);
  EXPECT_EQ(add("Carol Jones"), "carol-jones-3");
  EXPECT_THAT(engine_->GetClient({kAe}, "ours")->removed_contact_ids(), IsEmpty())
      << "the engine's bookkeeping, not shown";
  v1::Command back;
  back.mutable_add_contact()->set_client_id("ours");
  back.mutable_add_contact()->mutable_contact()->set_contact_id("carol-jones");
  back.mutable_add_contact()->mutable_contact()->set_name("Carol Jones");
  EXPECT_EQ(Run(kAe, back).sub_id(), "carol-jones")
      << "brought back under their id, though a namesake without email is on record";
  // An update may not make two contacts one person either.
  const auto update = [](const std::string& id, const std::string& field,
                         const std::string& value) {
    v1::Command command;
    command.mutable_update_contact()->set_client_id("ours");
    v1::Contact* contact = command.mutable_update_contact()->mutable_contact();
    contact->set_contact_id(id);
    contact->set_name("Carol Jones");
    if (field == "email") contact->set_email(value);
    if (field == "phone") contact->set_phone(value);
    command.mutable_update_contact()->mutable_update_mask()->add_paths("contact." + field);
    return command;
  };
  EXPECT_THAT(
      Reject(kAe, update("carol-jones-2", "email", "")),
      StatusIs(absl::StatusCode::kAlreadyExists,
               HasSubstr("client \"ours\" already has Carol Jones as contact "
                         "\"carol-jones-3\": contact \"carol-jones-2\" would be the same "
                         "person; give them an email and a phone of their own, or remove one "
                         "of the two (spotflow contact remove ours carol-jones-2)")));
  // The pair brought back above may still be updated as it is, and told apart.
  Run(kAe, update("carol-jones", "email", ""));
  v1::Command title = update("carol-jones", "email", "");
  title.mutable_update_contact()->mutable_contact()->set_title("Buyer");
  title.mutable_update_contact()->mutable_update_mask()->set_paths(0, "contact.title");
  Run(kAe, title);
  std::string titled;
  const v1::ClientView after = *engine_->GetClient({kAe}, "ours");
  for (const v1::Contact& c : after.contacts()) {
    if (c.title() == "Buyer") titled = c.contact_id();
  }
  EXPECT_EQ(titled, "carol-jones") << "a title changed on one of a pair already there";
  Run(kAe, update("carol-jones", "phone", "+1 555 0100"));
  Run(kAe, update("carol-jones-2", "email", "carol@ours.test"));
}

// A repeat of a creation without an id (same request id) answers with the id it made, and
// after so many namesakes the id is generated.
TEST_F(OrderFlowTest, AnIdMadeFromANameIsTheFirstOnARepeatAndGeneratedPastTheLimit) {
  v1::Command create = CreateClientCommand("", "Initech");
  create.set_request_id("new-client-1");
  EXPECT_EQ(Run(kAe, create).id(), "initech");
  const uint64_t head = store_->Head().position;
  const v1::CommandResult again = Run(kAe, create);
  EXPECT_TRUE(again.deduplicated());
  EXPECT_EQ(again.id(), "initech");
  EXPECT_EQ(store_->Head().position, head);
  // Names that differ (a client's name is its own) but make the same id: a word in another
  // script (U+4E00 on), which an id leaves out.
  const auto initech = [](int n) {
    const int code = 0x4E00 + n;
    return absl::StrCat("Initech ", std::string{static_cast<char>(0xE0 | (code >> 12)),
                                                static_cast<char>(0x80 | ((code >> 6) & 0x3F)),
                                                static_cast<char>(0x80 | (code & 0x3F))});
  };
  for (int n = 2; n <= 100; ++n) {
    EXPECT_EQ(Run(kAe, CreateClientCommand("", initech(n))).id(), absl::StrCat("initech-", n));
  }
  const std::string past = Run(kAe, CreateClientCommand("", initech(101))).id();
  EXPECT_FALSE(absl::StartsWith(past, "initech")) << past;
  EXPECT_OK(engine_->GetClient({kAe}, past).status());
}

// An assistant whom an AE shared accounts with opens a new one in that AE's book, and keeps
// working it as the others: it is shared with them for as long as those shares last.
TEST_F(OrderFlowTest, AnAssistantOpensAnAccountInTheBookOfTheAeTheyAssist) {
  v1::Command create = CreateClientCommand("initech", "Initech");
  create.mutable_create_client()->set_owner_id(kAe);
  const v1::CommandResult created = Run(kAssistant, create);
  ASSERT_OK_AND_ASSIGN(const v1::ClientView client, engine_->GetClient({kAe}, "initech"));
  EXPECT_EQ(client.owner_id(), kAe);
  EXPECT_EQ(client.created_by(), kAssistant);
  ASSERT_THAT(client.shares(), SizeIs(1));
  EXPECT_EQ(client.shares(0).user_id(), kAssistant);
  EXPECT_FALSE(client.shares(0).has_until()) << "as long as the AE's share with them";
  EXPECT_EQ(created.etag(), client.version());
  EXPECT_OK(engine_->GetClient({kAssistant}, "initech").status());
  // An order the assistant enters on it is the AE's, who approves its scripts.
  v1::Command enter = CreateOrderCommand();
  enter.mutable_create_order()->set_client_id("initech");
  const std::string order = Run(kAssistant, enter).id();
  EXPECT_EQ(Order(order).owner_id(), kAe);

  // Not in the book of an AE who shared nothing with them; not for whom a share has ended.
  v1::Command elsewhere = CreateClientCommand("globex", "Globex");
  elsewhere.mutable_create_client()->set_owner_id(kAe2);
  EXPECT_THAT(Reject(kAssistant, elsewhere),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("shared with you")));
  v1::Command until;
  until.mutable_share_client()->set_client_id(client_);
  until.mutable_share_client()->set_user_id(kOrderEntry);
  until.mutable_share_client()->mutable_until()->set_seconds(
      absl::ToUnixSeconds(clock_.Now() + absl::Hours(2)));
  Run(kAe, until);
  v1::Command entered = CreateClientCommand("hooli", "Hooli");
  entered.mutable_create_client()->set_owner_id(kAe);
  Run(kOrderEntry, entered);
  ASSERT_OK_AND_ASSIGN(const v1::ClientView hooli, engine_->GetClient({kAe}, "hooli"));
  ASSERT_THAT(hooli.shares(), SizeIs(1));
  EXPECT_EQ(hooli.shares(0).until().seconds(), until.share_client().until().seconds())
      << "as long as the share it comes from";
  clock_.Advance(absl::Hours(3));
  v1::Command later = CreateClientCommand("pied-piper", "Pied Piper");
  later.mutable_create_client()->set_owner_id(kAe);
  EXPECT_THAT(Reject(kOrderEntry, later), StatusIs(absl::StatusCode::kPermissionDenied))
      << "the share it came from has ended";
  EXPECT_THAT(Reject(kProducer, later), StatusIs(absl::StatusCode::kPermissionDenied));
  // A preview names what it would make and makes nothing; a repeat answers as the first.
  v1::Command previewed = later;
  previewed.set_validate_only(true);
  const v1::CommandResult preview = Run(kAssistant, previewed);
  EXPECT_TRUE(preview.validate_only());
  EXPECT_THAT(engine_->GetClient({kAe}, "pied-piper"), StatusIs(absl::StatusCode::kNotFound));
  later.set_request_id("pied-piper-1");
  const v1::CommandResult first = Run(kAssistant, later);
  const v1::CommandResult again = Run(kAssistant, later);
  EXPECT_TRUE(again.deduplicated());
  EXPECT_EQ(again.id(), "pied-piper");
  EXPECT_EQ(again.etag(), first.etag());
  EXPECT_THAT(Reject(kAssistant, CreateClientCommand("pied-piper", "Again")),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

// Only share access the owner gave counts as working their book: not a manager's, not one that
// came with an account from its previous owner, not one that came with an account the assistant
// opened; and not once the owner took it back or may no longer own accounts.
TEST_F(OrderFlowTest, OnlyTheOwnersOwnSharesLetAnAssistantOpenAccountsInTheirBook) {
  const auto in_book_of = [](const std::string& owner, const std::string& id) {
    v1::Command create = CreateClientCommand(id, id);
    create.mutable_create_client()->set_owner_id(owner);
    return create;
  };
  // ae2's account, shared with the assistant by the manager, not by ae2.
  v1::Command theirs = CreateClientCommand("globex", "Globex");
  theirs.mutable_create_client()->set_owner_id(kAe2);
  Run(kManager, theirs);
  v1::Command by_manager;
  by_manager.mutable_share_client()->set_client_id("globex");
  by_manager.mutable_share_client()->set_user_id(kAssistant);
  Run(kManager, by_manager);
  EXPECT_THAT(Reject(kAssistant, in_book_of(kAe2, "one")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // ae's account (shared with the assistant by ae) moves to ae2 with its share.
  Run(kAssistant, in_book_of(kAe, "opened"));
  v1::Command move;
  move.mutable_reassign_accounts()->set_from_owner(kAe);
  move.mutable_reassign_accounts()->set_to_owner(kAe2);
  move.mutable_reassign_accounts()->add_client_ids(client_);
  Run(kManager, move);
  EXPECT_THAT(Reject(kAssistant, in_book_of(kAe2, "two")),
              StatusIs(absl::StatusCode::kPermissionDenied))
      << "ae2 shared nothing with them";
  // Back with ae, who then takes the share back: the account the assistant opened, still
  // shared with them, does not stand in for it.
  move.mutable_reassign_accounts()->set_from_owner(kAe2);
  move.mutable_reassign_accounts()->set_to_owner(kAe);
  Run(kManager, move);
  Run(kAssistant, in_book_of(kAe, "three"));
  v1::Command unshare;
  unshare.mutable_unshare_client()->set_client_id(client_);
  unshare.mutable_unshare_client()->set_user_id(kAssistant);
  Run(kAe, unshare);
  EXPECT_THAT(Reject(kAssistant, in_book_of(kAe, "four")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // Shared again, to one whose owner may no longer own accounts.
  v1::Command share;
  share.mutable_share_client()->set_client_id(client_);
  share.mutable_share_client()->set_user_id(kAssistant);
  Run(kAe, share);
  v1::Command deactivate;
  deactivate.mutable_deactivate_user()->set_user_id(kAe);
  Run(kAdmin, deactivate);
  EXPECT_THAT(Reject(kAssistant, in_book_of(kAe, "five")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(OrderFlowTest, TokensIssuedAndRevokedAreKeptOnTheUser) {
  v1::Command issued;
  issued.mutable_record_token_issued()->set_user_id(kAe);
  issued.mutable_record_token_issued()->set_token_hash_prefix("0123456789ab");
  v1::Command revoked;
  revoked.mutable_record_token_revoked()->set_user_id(kAe);
  revoked.mutable_record_token_revoked()->set_token_hash_prefix("0123456789ab");
  EXPECT_THAT(Reject(kManager, revoked), StatusIs(absl::StatusCode::kPermissionDenied));
  revoked.mutable_record_token_revoked()->set_token_hash_prefix("0123456789AB");
  EXPECT_THAT(Reject(kAdmin, revoked),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("12 lowercase hex digits")));
  revoked.mutable_record_token_revoked()->set_token_hash_prefix("0123456789ab");
  revoked.mutable_record_token_revoked()->set_user_id("nobody");
  EXPECT_THAT(Reject(kAdmin, revoked), StatusIs(absl::StatusCode::kNotFound));
  revoked.mutable_record_token_revoked()->set_user_id(kAe);

  Run(kAdmin, issued);
  clock_.Advance(absl::Hours(1));
  Run(kAdmin, revoked);
  absl::StatusOr<v1::UserView> user = engine_->GetUser({kAdmin}, kAe);
  ASSERT_OK(user.status());
  ASSERT_THAT(user->tokens(), SizeIs(1));
  const v1::IssuedToken& token = user->tokens(0);
  EXPECT_EQ(token.token_hash_prefix(), "0123456789ab");
  EXPECT_EQ(token.issued_by(), kAdmin);
  EXPECT_EQ(token.revoked_by(), kAdmin);
  EXPECT_EQ(token.revoked_time().seconds() - token.issued_time().seconds(), 3600);
  EXPECT_EQ(user->tokens_issued(), 1u);
}

TEST_F(OrderFlowTest, AnOrderMovesToSomeoneItWasSharedWithAsItsOwnerNotAParticipant) {
  const std::string order = CreateOrder();
  v1::Command share;
  share.mutable_share_order()->set_order_id(order);
  share.mutable_share_order()->set_user_id(kAe2);
  Run(kAe, share);
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
  Run(kManager, reassign);
  EXPECT_EQ(Order(order).owner_id(), kAe2);
  EXPECT_THAT(Order(order).participants(), IsEmpty()) << "not shared with its own owner";
}

TEST_F(OrderFlowTest, ReassignmentMovesOpenOrdersAndKeepsClosedOnesAndHistory) {
  const std::string open_order = CreateOrder();
  const std::string archived = CreateOrder();
  Run(kAe, OrderOnly(archived, "archive"));
  const uint64_t before = store_->Head().position;
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
  EXPECT_THAT(Reject(kAe, reassign), StatusIs(absl::StatusCode::kPermissionDenied));
  clock_.Advance(absl::Hours(24 * 31));
  Run(kManager, reassign);
  EXPECT_EQ(store_->Head().position, before + 2) << "one client and one open order moved";
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe2);
  EXPECT_EQ(Order(open_order).owner_id(), kAe2);
  EXPECT_EQ(Order(archived).owner_id(), kAe) << "archived orders keep their credit";
  v1::ClientView client = *engine_->GetClient({kManager}, client_);
  ASSERT_THAT(client.owner_history(), SizeIs(1));
  EXPECT_EQ(client.owner_history(0).old_owner(), kAe);
  EXPECT_EQ(client.owner_history(0).changed_by(), kManager);
  // Read as of last month, the account still shows the old owner.
  AsOf last_month;
  last_month.time = clock_.Now() - absl::Hours(24 * 30);
  auto then = engine_->GetClientAsOf({kManager}, client_, last_month);
  ASSERT_OK(then.status());
  EXPECT_EQ(then->owner_id(), kAe);
  // The old AE no longer sees the moved order; the new one does.
  EXPECT_THAT(engine_->GetOrder({kAe}, open_order), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(engine_->GetOrder({kAe2}, open_order).status());
}

// The way back of an account move (only_orders) takes the orders that came with it, not those
// the taker had on it before; a repeat is already so; an etag guards one account.
TEST_F(OrderFlowTest, TheWayBackOfAnAccountMoveTakesOnlyTheOrdersThatCame) {
  const std::string came = CreateOrder();
  const std::string theirs = CreateOrder();
  v1::Command give;
  give.mutable_reassign_orders()->add_order_ids(theirs);
  give.mutable_reassign_orders()->set_to_owner(kAe2);
  Run(kManager, give);
  const auto move = [&](const std::string& from, const std::string& to,
                        std::optional<std::vector<std::string>> only = std::nullopt) {
    v1::Command command;
    command.mutable_reassign_accounts()->set_from_owner(from);
    command.mutable_reassign_accounts()->set_to_owner(to);
    command.mutable_reassign_accounts()->add_client_ids(client_);
    if (only.has_value()) {
      v1::OrderIds* ids = command.mutable_reassign_accounts()->mutable_only_orders();
      for (const std::string& id : *only) ids->add_order_ids(id);
    }
    return command;
  };
  const v1::CommandResult there = Run(kManager, move(kAe, kAe2));
  ASSERT_EQ(there.moved_accounts_size(), 1);
  EXPECT_THAT(there.moved_accounts(0).order_ids(), ElementsAre(came));
  // By key too, in the letters people type.
  const std::string key = absl::AsciiStrToLower(Order(came).key());
  Run(kManager, move(kAe2, kAe, std::vector<std::string>{key}));
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe);
  EXPECT_EQ(Order(came).owner_id(), kAe);
  EXPECT_EQ(Order(theirs).owner_id(), kAe2) << "the taker's own order stays theirs";
  // Again: already so, nothing written.
  const uint64_t head = store_->Head().position;
  const v1::CommandResult again = Run(kManager, move(kAe2, kAe, std::vector<std::string>{came}));
  EXPECT_EQ(again.last_position(), 0u);
  EXPECT_EQ(store_->Head().position, head);
  // None named: the account alone.
  Run(kManager, move(kAe, kAe2, std::vector<std::string>{}));
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe2);
  EXPECT_EQ(Order(came).owner_id(), kAe);
  // Each order names the account's owner now (seed 003's personal manager), beside its own.
  ASSERT_OK_AND_ASSIGN(v1::OrderView seen, engine_->GetOrder({kManager}, came));
  EXPECT_EQ(seen.account_owner_id(), kAe2);
  EXPECT_EQ(seen.owner_id(), kAe);
  Run(kManager, move(kAe2, kAe, std::vector<std::string>{}));
  // Only the giver's open orders on the accounts moved go with them.
  Run(kAe, CreateClientCommand("globex", "Globex"));
  v1::Command elsewhere = CreateOrderCommand();
  elsewhere.mutable_create_order()->set_client_id("globex");
  const std::string other = Run(kAe, elsewhere).id();
  EXPECT_THAT(Reject(kManager, move(kAe, kAe2, std::vector<std::string>{other})),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not an open order of \"ae\" on the accounts moved")));
  EXPECT_THAT(Reject(kManager, move(kAe, kAe2, std::vector<std::string>{came, came})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("named twice")));
  EXPECT_THAT(Reject(kManager, move(kAe, kAe2, std::vector<std::string>{"nosuch"})),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Reject(kManager, move(kAe, kAe2, std::vector<std::string>{""})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only_orders")));
  // An etag guards one account, not a whole book.
  const uint64_t version = engine_->GetClient({kManager}, client_)->version();
  v1::Command book;
  book.mutable_reassign_accounts()->set_from_owner(kAe);
  book.mutable_reassign_accounts()->set_to_owner(kAe2);
  book.set_etag(version);
  EXPECT_THAT(Reject(kManager, book), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("an etag guards one account")));
  v1::Command stale = move(kAe, kAe2);
  stale.set_etag(version - 1);
  EXPECT_THAT(Reject(kManager, stale),
              StatusIs(absl::StatusCode::kAborted,
                       HasSubstr(absl::StrCat("client \"", client_, "\" is at version"))));
  v1::Command current = move(kAe, kAe2);
  current.set_etag(version);
  EXPECT_EQ(Run(kManager, current).etag(), version + 1);
  // Read before it moved on: ABORTED (read again), not that it is someone else's now.
  EXPECT_THAT(Reject(kManager, current),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("it changed since you read it")));
  // An order of the giver's on an account already with the taker does not move with it: it is
  // moved on its own.
  give.mutable_reassign_orders()->set_to_owner(kAe);
  Run(kManager, give);
  EXPECT_THAT(Reject(kManager, move(kAe, kAe2, std::vector<std::string>{theirs})),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(absl::StrCat("account \"", client_,
                                              "\" is already \"ae2\"'s, "
                                              "so order"))));
  // An id in the letters of another order's key would take it over: refused.
  v1::Command taken = CreateOrderCommand();
  taken.mutable_create_order()->set_order_id(key);
  EXPECT_THAT(Reject(kAe2, taken), StatusIs(absl::StatusCode::kAlreadyExists,
                                            HasSubstr("is an order's key; choose another id")));
}

// Each order names its account's owner to those who see the account, as it stands now; and to
// the client's login, whom in the house to reach (seed 003's personal manager).
TEST_F(OrderFlowTest, AnOrderNamesItsAccountsOwnerToThoseWhoSeeTheAccount) {
  v1::Command address;
  address.mutable_update_user()->set_user_id(kAe);
  address.mutable_update_user()->set_email("ae@example.com");
  Run(kAdmin, address);
  const std::string order = CreateOrder();
  ASSERT_OK_AND_ASSIGN(v1::OrderView seen, engine_->GetOrder({kManager}, order));
  EXPECT_EQ(seen.account_owner_id(), kAe);
  EXPECT_THAT(seen.house_contacts(), IsEmpty()) << "to the client's login only";
  const auto reach = [&](const std::string& user) {
    std::vector<std::string> out;
    absl::StatusOr<v1::OrderView> shown = engine_->GetOrder({user}, order);
    EXPECT_OK(shown.status());
    if (!shown.ok()) return out;
    for (const v1::HouseContact& c : shown->house_contacts()) {
      out.push_back(absl::StrCat(c.user_id(), " ", c.name(), " <", c.email(), ">",
                                 c.manages_order() ? " order" : "",
                                 c.manages_account() ? " account" : ""));
    }
    return out;
  };
  EXPECT_THAT(reach(kClientUser), ElementsAre("ae ae <ae@example.com> order account"));
  const v1::Command contact = AddContactCommand(client_, "gus", "Gus");
  EXPECT_THAT(Reject(kAe2, contact), StatusIs(absl::StatusCode::kNotFound));
  v1::Command share;
  share.mutable_share_order()->set_order_id(order);
  share.mutable_share_order()->set_user_id(kAe2);
  Run(kAe, share);
  ASSERT_OK_AND_ASSIGN(v1::OrderView shared, engine_->GetOrder({kAe2}, order));
  EXPECT_EQ(shared.account_owner_id(), "") << "the order alone was shared with them";
  // Who works an order of the client is told the account is its owner's to change.
  EXPECT_THAT(
      Reject(kAe2, contact),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("is not in your book: you work its order ")));
  // As of a moment: the account's owner then.
  AsOf before;
  before.position = store_->Head().position;
  v1::Command move;
  move.mutable_reassign_accounts()->set_from_owner(kAe);
  move.mutable_reassign_accounts()->set_to_owner(kAe2);
  move.mutable_reassign_accounts()->add_client_ids(client_);
  move.mutable_reassign_accounts()->mutable_only_orders();
  Run(kManager, move);
  ASSERT_OK_AND_ASSIGN(v1::OrderView then, engine_->GetOrderAsOf({kManager}, order, before));
  EXPECT_EQ(then.account_owner_id(), kAe);
  ASSERT_OK_AND_ASSIGN(v1::OrderView now, engine_->GetOrder({kManager}, order));
  EXPECT_EQ(now.account_owner_id(), kAe2);
  EXPECT_EQ(now.owner_id(), kAe);
  EXPECT_THAT(reach(kClientUser),
              ElementsAre("ae ae <ae@example.com> order", "ae2 ae2 <> account"));
  // One who left is no one to reach: the nearest active manager above them stands in.
  v1::Command named;
  named.mutable_update_user()->set_user_id(kAe);
  named.mutable_update_user()->set_display_name("Ann Exec");
  Run(kAdmin, named);
  v1::Command gone;
  gone.mutable_deactivate_user()->set_user_id(kAe);
  Run(kAdmin, gone);
  ASSERT_OK_AND_ASSIGN(v1::OrderView told, engine_->GetOrder({kClientUser}, order));
  ASSERT_EQ(told.house_contacts_size(), 2);
  EXPECT_EQ(told.house_contacts(0).user_id(), kManager);
  EXPECT_TRUE(told.house_contacts(0).manages_order());
  EXPECT_EQ(told.house_contacts(0).stands_in_for(), "Ann Exec") << "by name";
  EXPECT_EQ(told.house_contacts(1).user_id(), kAe2);
  EXPECT_EQ(told.house_contacts(1).stands_in_for(), "");
  // With no manager above them, no one stands in.
  v1::Command alone;
  alone.mutable_set_user_manager()->set_user_id(kAe);
  Run(kAdmin, alone);
  EXPECT_THAT(reach(kClientUser), ElementsAre("ae2 ae2 <> account"));
}

// A refusal says what to do next: whom to ask, how ids are spelt, how to bring someone back.
TEST_F(OrderFlowTest, RefusalsSayWhatToDoNext) {
  const std::string order = CreateOrder();
  v1::Command reassign;
  reassign.mutable_reassign_orders()->add_order_ids(order);
  reassign.mutable_reassign_orders()->set_to_owner("AE2");
  EXPECT_THAT(Reject(kManager, reassign),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("ids are case-sensitive: did you mean \"ae2\"?")));
  reassign.mutable_reassign_orders()->set_to_owner("nobody");
  EXPECT_THAT(Reject(kManager, reassign),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("; spotflow user list lists them")));
  // An AE may not reassign: none of their roles grants it, and their manager may.
  reassign.mutable_reassign_orders()->set_to_owner(kAe2);
  EXPECT_THAT(Reject(kAe, reassign),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("which none of their roles grants; ask your manager (manager) to "
                                 "do it")));
  // When their manager may not do it either, those who may are named: not someone who would be
  // refused as well.
  EXPECT_THAT(Reject(kAe, Script(order, "Draft")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("needs REVISION_WRITE with a scope that reaches it, which none "
                                 "of their roles grants; ask one who may do it: producer")));
  // Those whose privilege reaches the record, its own people first: an assistant refused an
  // approval is sent to the AE whose order it is, not only to managers over every order.
  Run(kProducer, Script(order, "Draft"));
  EXPECT_THAT(Reject(kAssistant, Approve(order, "script", 1)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("; ask one who may do it: ae (its owner) or manager (ae's "
                                 "manager)")));
  // Named only among those the refused may know of: handed to ae2 and shared on with an
  // assistant, the order reaches them without its account, whose owner is not named.
  v1::Command hand;
  hand.mutable_reassign_orders()->add_order_ids(order);
  hand.mutable_reassign_orders()->set_to_owner(kAe2);
  Run(kManager, hand);
  AddUser("asst2", engine::kSalesAssistant);
  v1::Command share;
  share.mutable_share_order()->set_order_id(order);
  share.mutable_share_order()->set_user_id("asst2");
  Run(kAe2, share);
  EXPECT_THAT(Reject("asst2", Approve(order, "script", 1)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("; ask one who may do it: ae2 (its owner) or manager"),
                             Not(HasSubstr("account's owner")), Not(HasSubstr(" ae,")),
                             Not(HasSubstr(" ae ")))));
  v1::Command role;
  *role.mutable_define_role()->mutable_definition() = RoleDefinition(engine::kProducer);
  EXPECT_THAT(Reject(kManager, role), StatusIs(absl::StatusCode::kPermissionDenied,
                                               HasSubstr("; ask one who may do it: admin")));
  v1::Command deactivate;
  deactivate.mutable_deactivate_user()->set_user_id(kAe2);
  Run(kAdmin, deactivate);
  EXPECT_THAT(Reject(kManager, reassign),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is deactivated; choose someone else, or have an administrator "
                                 "reactivate them (spotflow user reactivate ae2)")));
}

// A preview (validate_only) says what a change would write, writes nothing, and is refused as
// the change would be.
TEST_F(OrderFlowTest, APreviewOfAReassignmentNamesWhatWouldMoveAndMovesNothing) {
  const std::string open_order = CreateOrder();
  const std::string archived = CreateOrder();
  Run(kAe, OrderOnly(archived, "archive"));
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
  EXPECT_THAT(Preview(kAe, reassign), StatusIs(absl::StatusCode::kPermissionDenied));
  absl::StatusOr<v1::CommandResult> preview = Preview(kManager, reassign);
  ASSERT_OK(preview.status());
  EXPECT_TRUE(preview->validate_only());
  EXPECT_EQ(preview->first_position(), 0u);
  const auto streams = [](const v1::CommandResult& result) {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const v1::StreamEtag& s : result.streams()) out.emplace_back(s.stream_id(), s.etag());
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_THAT(streams(*preview), ElementsAre(Pair("client-" + client_, ::testing::Gt(0u)),
                                             Pair("order-" + open_order, ::testing::Gt(0u))))
      << "the account and its open order; the archived order stays";
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe);
  // The change itself writes what its preview said, to the versions it said.
  const v1::CommandResult done = Run(kManager, reassign);
  EXPECT_FALSE(done.validate_only());
  EXPECT_EQ(streams(done), streams(*preview));
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe2);
}

TEST_F(OrderFlowTest, APreviewAnswersAsTheChangeWould) {
  const std::string order = CreateOrder();
  // A refusal is the change's own.
  for (const v1::Command& refused : {Approve(order, "script", 1), OrderOnly(order, "delete")}) {
    const absl::Status previewed = Preview(kAssistant, refused).status();
    EXPECT_FALSE(previewed.ok());
    EXPECT_EQ(previewed, Reject(kAssistant, refused));
  }
  v1::Command stale = OrderOnly(order, "archive");
  stale.set_etag(Order(order).version() + 1);
  EXPECT_THAT(Preview(kAe, stale), StatusIs(absl::StatusCode::kAborted));
  // A change to what is already so previews as nothing to write.
  v1::Command rename;
  rename.mutable_update_order()->set_order_id(order);
  rename.mutable_update_order()->set_title(Order(order).title());
  absl::StatusOr<v1::CommandResult> same = Preview(kAe, rename);
  ASSERT_OK(same.status());
  EXPECT_TRUE(same->validate_only());
  EXPECT_THAT(same->streams(), IsEmpty());
  // A preview of a request already done answers with its first result, as a repeat would.
  rename.mutable_update_order()->set_title("A new title");
  rename.set_request_id("rename-1");
  const v1::CommandResult first = Run(kAe, rename);
  absl::StatusOr<v1::CommandResult> again = Preview(kAe, rename);
  ASSERT_OK(again.status());
  EXPECT_TRUE(again->deduplicated());
  EXPECT_EQ(again->last_position(), first.last_position());
  // A preview of a request id used for another command is refused as the command would be.
  v1::Command other = OrderOnly(order, "archive");
  other.set_request_id("rename-1");
  EXPECT_THAT(Preview(kAe, other), StatusIs(absl::StatusCode::kAlreadyExists));
  // A preview of a new request leaves its request id unused.
  rename.mutable_update_order()->set_title("Another title");
  rename.set_request_id("rename-2");
  ASSERT_OK(Preview(kAe, rename).status());
  EXPECT_FALSE(Run(kAe, rename).deduplicated());
  EXPECT_EQ(Order(order).title(), "Another title");
}

// Spread over several users, each account goes, with its open orders, to whoever has the
// fewest open orders so far, the largest account first.
TEST_F(OrderFlowTest, AccountsSpreadOverSeveralUsersEvenOutTheirOpenOrders) {
  const auto order_on = [&](const std::string& user, const std::string& client) {
    v1::Command create = CreateOrderCommand();
    create.mutable_create_order()->set_client_id(client);
    return Run(user, create).id();
  };
  // acme (the fixture's) has 3 open orders and one archived; globex 1; initech none.
  std::vector<std::string> acme_orders = {CreateOrder(), CreateOrder(), CreateOrder()};
  Run(kAe, OrderOnly(CreateOrder(), "archive"));
  const std::string globex = Run(kAe, CreateClientCommand("globex", "Globex")).id();
  const std::string globex_order = order_on(kAe, globex);
  const std::string initech = Run(kAe, CreateClientCommand("initech", "Initech")).id();
  // ae2 has one open order of their own already; the manager none.
  const std::string hooli = Run(kAe2, CreateClientCommand("hooli", "Hooli")).id();
  order_on(kAe2, hooli);

  v1::Command spread;
  spread.mutable_reassign_accounts()->set_from_owner(kAe);
  spread.mutable_reassign_accounts()->add_spread_to(kAe2);
  spread.mutable_reassign_accounts()->add_spread_to(kManager);
  const auto moves = [](const v1::CommandResult& result) {
    std::vector<std::string> out;
    for (const v1::AccountMoved& m : result.moved_accounts()) {
      out.push_back(
          absl::StrCat(m.client_id(), "->", m.new_owner(), " (", m.order_ids_size(), ")"));
    }
    return out;
  };
  absl::StatusOr<v1::CommandResult> preview = Preview(kManager, spread);
  ASSERT_OK(preview.status());
  spread.set_request_id("spread-all");
  const v1::CommandResult done = Run(kManager, spread);
  // acme (3) to the manager (0); globex (1) to ae2 (1 then 2); initech (0) to ae2 (2 < 3).
  EXPECT_THAT(moves(done), ElementsAre("acme->manager (3)", "globex->ae2 (1)", "initech->ae2 (0)"));
  EXPECT_EQ(moves(*preview), moves(done)) << "the preview said so";
  EXPECT_EQ(done.sub_id(), "3 clients, 4 orders");
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kManager);
  EXPECT_EQ(engine_->GetClient({kManager}, globex)->owner_id(), kAe2);
  EXPECT_EQ(engine_->GetClient({kManager}, initech)->owner_id(), kAe2);
  for (const std::string& order : acme_orders) EXPECT_EQ(Order(order).owner_id(), kManager);
  EXPECT_EQ(Order(globex_order).owner_id(), kAe2);
  EXPECT_THAT(done.moved_accounts(0).order_ids(),
              ElementsAre(acme_orders[0], acme_orders[1], acme_orders[2]));
  // And each order with its key, from whom and to whom, as the preview said.
  ASSERT_EQ(done.moved_orders_size(), 4);
  ASSERT_EQ(preview->moved_orders_size(), 4);
  for (int i = 0; i < 4; ++i) {
    const v1::OrderMoved& moved = done.moved_orders(i);
    EXPECT_EQ(moved.old_owner(), kAe);
    EXPECT_EQ(moved.new_owner(), Order(moved.order_id()).owner_id());
    EXPECT_EQ(moved.key(), Order(moved.order_id()).key());
    EXPECT_EQ(preview->moved_orders(i).ShortDebugString(), moved.ShortDebugString());
  }
  // A repeat answers with the same moves, orders and all, rebuilt from what it wrote.
  const v1::CommandResult spread_again = Run(kManager, spread);
  ASSERT_TRUE(spread_again.deduplicated());
  EXPECT_EQ(moves(spread_again), moves(done));
  ASSERT_EQ(spread_again.moved_orders_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(spread_again.moved_orders(i).ShortDebugString(),
              done.moved_orders(i).ShortDebugString());
  }
  // Accounts with no open order are shared out too: between takers even on open orders (ae
  // and a new AE have none), to whoever was given fewer accounts here.
  AddUser("ae3", engine::kAccountExecutive);
  const std::string quiet1 = Run(kManager, CreateClientCommand("quiet1", "Quiet One")).id();
  const std::string quiet2 = Run(kManager, CreateClientCommand("quiet2", "Quiet Two")).id();
  v1::Command quiet;
  quiet.mutable_reassign_accounts()->set_from_owner(kManager);
  quiet.mutable_reassign_accounts()->add_client_ids(quiet1);
  quiet.mutable_reassign_accounts()->add_client_ids(quiet2);
  quiet.mutable_reassign_accounts()->add_spread_to(kAe);
  quiet.mutable_reassign_accounts()->add_spread_to("ae3");
  quiet.set_request_id("spread-quiet");
  const v1::CommandResult shared = Run(kManager, quiet);
  EXPECT_THAT(moves(shared), ElementsAre("quiet1->ae (0)", "quiet2->ae3 (0)"));
  // A repeat answers as the first did, moves included.
  const v1::CommandResult repeat = Run(kManager, quiet);
  EXPECT_TRUE(repeat.deduplicated());
  EXPECT_EQ(moves(repeat), moves(shared));
  EXPECT_EQ(repeat.id(), "");
  EXPECT_EQ(repeat.sub_id(), shared.sub_id());
  EXPECT_EQ(repeat.etag(), shared.etag());
  const v1::CommandResult single_repeat = [&] {
    v1::Command one = quiet;
    one.mutable_reassign_accounts()->clear_spread_to();
    one.mutable_reassign_accounts()->clear_client_ids();
    one.mutable_reassign_accounts()->set_from_owner(kAe2);
    one.mutable_reassign_accounts()->set_to_owner(kAe);
    one.set_request_id("all-of-ae2");
    Run(kManager, one);
    return Run(kManager, one);
  }();
  EXPECT_TRUE(single_repeat.deduplicated());
  EXPECT_EQ(single_repeat.id(), kAe);
  EXPECT_EQ(single_repeat.sub_id(), "3 clients, 2 orders");  // globex, initech, hooli.
}

// An audience: the accounts of a kind, whatever its case.
TEST_F(OrderFlowTest, AccountsOfAKindMoveAndTheOthersStay) {
  for (const auto& [id, kind] : std::vector<std::pair<std::string, std::string>>{
           {"globex", "agency"}, {"initech", "Agency"}, {"hooli", "advertiser"}}) {
    v1::Command create = CreateClientCommand(id, id);
    create.mutable_create_client()->set_kind(kind);
    Run(kAe, create);
  }
  // Listed by kind as they are moved by it: an audience.
  ListClientsRequest audience;
  audience.kind = "AGENCY ";
  ASSERT_OK_AND_ASSIGN(ListClientsResponse listed, engine_->ListClients({kManager}, audience));
  std::vector<std::string> agencies;
  for (const v1::ClientView& c : listed.clients) agencies.push_back(c.client_id());
  EXPECT_THAT(agencies, ElementsAre("globex", "initech"));
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
  reassign.mutable_reassign_accounts()->set_client_kind(" AGENCY ");  // As people type it.
  const v1::CommandResult result = Run(kManager, reassign);
  std::vector<std::string> moved;
  for (const v1::AccountMoved& m : result.moved_accounts()) moved.push_back(m.client_id());
  EXPECT_THAT(moved, ElementsAre("globex", "initech"));
  EXPECT_EQ(engine_->GetClient({kManager}, "hooli")->owner_id(), kAe);
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe);
  // A preview with the accounts spread: only that kind, and nothing written.
  v1::Command spread = reassign;
  spread.mutable_reassign_accounts()->clear_to_owner();
  spread.mutable_reassign_accounts()->add_spread_to(kAe);
  spread.mutable_reassign_accounts()->add_spread_to(kManager);
  spread.mutable_reassign_accounts()->set_from_owner(kAe2);
  absl::StatusOr<v1::CommandResult> preview = Preview(kManager, spread);
  ASSERT_OK(preview.status());
  EXPECT_EQ(preview->moved_accounts_size(), 2);
  // None left of that kind; and a kind with a list of clients is one too many.
  EXPECT_THAT(Reject(kManager, reassign),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("of kind \"AGENCY\"")));
  reassign.mutable_reassign_accounts()->add_client_ids("hooli");
  EXPECT_THAT(Reject(kManager, reassign),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not both")));
  reassign.mutable_reassign_accounts()->clear_client_ids();
  reassign.mutable_reassign_accounts()->set_client_kind("agency\x01");
  EXPECT_THAT(Reject(kManager, reassign), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Seed 004's "Reassign More Relationships": several give their books in one command, each
// account with its givers' open orders; and accounts named with no giver move from whoever
// holds them. Each move names who gave it, for the way back.
TEST_F(OrderFlowTest, SeveralGiveTheirAccountsAtOnceWithAllTheirOpenOrdersOnThem) {
  AddUser("ae3", engine::kAccountExecutive);
  const std::string acme_order = CreateOrder();  // ae's, on acme (ae's).
  const std::string hooli = Run(kAe2, CreateClientCommand("hooli", "Hooli")).id();
  v1::Command on_hooli = CreateOrderCommand();
  on_hooli.mutable_create_order()->set_client_id(hooli);
  const std::string hooli_order = Run(kAe2, on_hooli).id();
  // ae2's order on ae's account goes with it, as ae2 gives too; the manager's stays theirs.
  v1::Command handed;
  handed.mutable_reassign_orders()->add_order_ids(CreateOrder());
  handed.mutable_reassign_orders()->set_to_owner(kAe2);
  Run(kManager, handed);
  const std::string ae2_on_acme = handed.reassign_orders().order_ids(0);
  handed.mutable_reassign_orders()->set_order_ids(0, CreateOrder());
  handed.mutable_reassign_orders()->set_to_owner(kManager);
  Run(kManager, handed);
  const std::string managers_on_acme = handed.reassign_orders().order_ids(0);
  // ae2's order on ae's account, archived: it keeps its owner, and its credit.
  handed.mutable_reassign_orders()->set_order_ids(0, CreateOrder());
  handed.mutable_reassign_orders()->set_to_owner(kAe2);
  Run(kManager, handed);
  const std::string ae2_done = handed.reassign_orders().order_ids(0);
  Run(kAe2, OrderOnly(ae2_done, "archive"));

  v1::Command both;
  both.mutable_reassign_accounts()->add_from_owners(kAe);
  both.mutable_reassign_accounts()->add_from_owners(kAe2);
  both.mutable_reassign_accounts()->set_to_owner("ae3");
  both.set_request_id("both-books");
  // A giver's order on another giver's account may be named to go with it, alone.
  v1::Command some = both;
  some.mutable_reassign_accounts()->mutable_only_orders()->add_order_ids(ae2_on_acme);
  ASSERT_OK_AND_ASSIGN(const v1::CommandResult only, Preview(kManager, some));
  ASSERT_EQ(only.moved_orders_size(), 1);
  EXPECT_EQ(only.moved_orders(0).order_id(), ae2_on_acme);
  EXPECT_EQ(only.moved_orders(0).old_owner(), kAe2);
  // Not so one of someone who does not give.
  some.mutable_reassign_accounts()->mutable_only_orders()->add_order_ids(managers_on_acme);
  EXPECT_THAT(Reject(kManager, some),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not an open order of \"ae\", \"ae2\" on the accounts moved")));
  const v1::CommandResult done = Run(kManager, both);
  const auto moves = [](const v1::CommandResult& result) {
    std::vector<std::string> out;
    for (const v1::AccountMoved& m : result.moved_accounts()) {
      out.push_back(absl::StrCat(m.old_owner(), ":", m.client_id(), "->", m.new_owner(), " (",
                                 absl::StrJoin(m.order_ids(), ","), ")"));
    }
    return out;
  };
  EXPECT_THAT(moves(done), ElementsAre(absl::StrCat("ae:", client_, "->ae3 (", acme_order, ",",
                                                    ae2_on_acme, ")"),
                                       absl::StrCat("ae2:hooli->ae3 (", hooli_order, ")")));
  std::vector<std::string> order_moves;
  for (const v1::OrderMoved& m : done.moved_orders()) {
    order_moves.push_back(absl::StrCat(m.order_id(), ":", m.old_owner(), "->", m.new_owner()));
  }
  EXPECT_THAT(order_moves, ElementsAre(absl::StrCat(acme_order, ":ae->ae3"),
                                       absl::StrCat(hooli_order, ":ae2->ae3"),
                                       absl::StrCat(ae2_on_acme, ":ae2->ae3")))
      << "each order names who gave it";
  EXPECT_EQ(done.id(), "ae3");
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), "ae3");
  EXPECT_EQ(engine_->GetClient({kManager}, hooli)->owner_id(), "ae3");
  EXPECT_EQ(Order(acme_order).owner_id(), "ae3");
  EXPECT_EQ(Order(hooli_order).owner_id(), "ae3");
  EXPECT_EQ(Order(ae2_on_acme).owner_id(), "ae3") << "a giver's order on another's account";
  EXPECT_EQ(Order(managers_on_acme).owner_id(), kManager) << "not a giver's";
  EXPECT_EQ(Order(ae2_done).owner_id(), kAe2) << "an archived order keeps its owner";
  // A repeat answers as the first did, givers included.
  const v1::CommandResult repeat = Run(kManager, both);
  EXPECT_TRUE(repeat.deduplicated());
  EXPECT_EQ(moves(repeat), moves(done));
  ASSERT_EQ(repeat.moved_orders_size(), done.moved_orders_size());
  for (int i = 0; i < done.moved_orders_size(); ++i) {
    EXPECT_EQ(repeat.moved_orders(i).ShortDebugString(), done.moved_orders(i).ShortDebugString());
  }

  // With no giver, the accounts named move from whoever holds them: acme back to ae, hooli
  // (ae3's now) and a new one of ae2's, each with its owner's orders.
  const std::string initech = Run(kAe2, CreateClientCommand("initech", "Initech")).id();
  v1::Command named;
  named.mutable_reassign_accounts()->add_client_ids(hooli);
  named.mutable_reassign_accounts()->add_client_ids(initech);
  named.mutable_reassign_accounts()->set_to_owner(kAe);
  const v1::CommandResult back = Run(kManager, named);
  EXPECT_THAT(moves(back),
              ElementsAre(absl::StrCat("ae3:hooli->ae (", hooli_order, ")"), "ae2:initech->ae ()"));
  EXPECT_EQ(Order(hooli_order).owner_id(), kAe);
  // Orders named to go with them are each an open order of its own account's owner: the
  // manager's order on acme is not acme's owner's, and one on no account moved is named so.
  v1::Command with_orders;
  with_orders.mutable_reassign_accounts()->add_client_ids(client_);
  with_orders.mutable_reassign_accounts()->set_to_owner(kAe);
  with_orders.mutable_reassign_accounts()->mutable_only_orders()->add_order_ids(managers_on_acme);
  EXPECT_THAT(Reject(kManager, with_orders),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not an open order of \"ae3\" on the accounts moved")));
  with_orders.mutable_reassign_accounts()->mutable_only_orders()->set_order_ids(0, hooli_order);
  EXPECT_THAT(Reject(kManager, with_orders),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not an open order of their owners on the accounts moved")));
  // Several givers spread over several takers: each account to the least loaded, with every
  // giver's orders on it (ae's order on acme, ae3's account, goes to acme's taker).
  handed.mutable_reassign_orders()->set_order_ids(0, managers_on_acme);
  handed.mutable_reassign_orders()->set_to_owner(kAe);
  Run(kManager, handed);
  const std::string aes_on_acme = managers_on_acme;
  v1::Command spread;
  spread.mutable_reassign_accounts()->add_from_owners(kAe);
  spread.mutable_reassign_accounts()->add_from_owners("ae3");
  spread.mutable_reassign_accounts()->add_spread_to(kAe2);
  spread.mutable_reassign_accounts()->add_spread_to(kManager);
  const v1::CommandResult spread_out = Run(kManager, spread);
  EXPECT_EQ(spread_out.moved_accounts_size(), 3) << spread_out.ShortDebugString();
  for (const v1::AccountMoved& m : spread_out.moved_accounts()) {
    EXPECT_THAT(m.old_owner(), ::testing::AnyOf(kAe, "ae3"));
    EXPECT_EQ(engine_->GetClient({kManager}, m.client_id())->owner_id(), m.new_owner());
  }
  const std::string acme_taker = engine_->GetClient({kManager}, client_)->owner_id();
  EXPECT_EQ(Order(aes_on_acme).owner_id(), acme_taker);
  EXPECT_EQ(Order(acme_order).owner_id(), acme_taker);
  EXPECT_TRUE(std::any_of(spread_out.moved_orders().begin(), spread_out.moved_orders().end(),
                          [&](const v1::OrderMoved& m) {
                            return m.order_id() == aes_on_acme && m.old_owner() == kAe &&
                                   m.new_owner() == acme_taker;
                          }))
      << spread_out.ShortDebugString();
  // A spread's repeat names no one taker, as its first answer did.
  spread.set_request_id("spread-out");
  v1::Command spread_again = spread;
  spread_again.mutable_reassign_accounts()->clear_from_owners();
  spread_again.mutable_reassign_accounts()->add_client_ids(client_);
  spread_again.mutable_reassign_accounts()->clear_spread_to();
  spread_again.mutable_reassign_accounts()->add_spread_to(kAe);
  spread_again.mutable_reassign_accounts()->add_spread_to("ae3");
  const v1::CommandResult one = Run(kManager, spread_again);
  ASSERT_EQ(one.moved_accounts_size(), 1);
  EXPECT_EQ(one.id(), "");
  const v1::CommandResult one_again = Run(kManager, spread_again);
  EXPECT_TRUE(one_again.deduplicated());
  EXPECT_EQ(one_again.id(), "") << "not the one who took it";
}

TEST_F(OrderFlowTest, SeveralGiversAreRefusedWithoutWritingWhenNamedWrong) {
  CreateOrder();
  const auto from = [](std::vector<std::string> givers, const std::string& to,
                       const std::string& from_owner = "") {
    v1::Command command;
    command.mutable_reassign_accounts()->set_from_owner(from_owner);
    for (const std::string& user : givers) {
      command.mutable_reassign_accounts()->add_from_owners(user);
    }
    command.mutable_reassign_accounts()->set_to_owner(to);
    return command;
  };
  EXPECT_THAT(Reject(kManager, from({kAe, kAe2}, kManager, kAe)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not both")));
  EXPECT_THAT(Reject(kManager, from({kAe}, kManager)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("give them as from_owner")));
  EXPECT_THAT(Reject(kManager, from({kAe, kAe}, kManager)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"ae\" is named twice among those giving accounts")));
  EXPECT_THAT(Reject(kManager, from({kAe, kAe2}, kAe2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"ae2\" gives the accounts (from_owners) and is named to take "
                                 "them (to_owner)")));
  EXPECT_THAT(Reject(kManager, from({kAe, "nobody"}, kManager)),
              StatusIs(absl::StatusCode::kNotFound));
  // Neither a giver nor the accounts: not "everything".
  EXPECT_THAT(Reject(kManager, from({}, kManager)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("name who gives the accounts (from_owner), or the accounts")));
  // An account named that none of them holds.
  v1::Command other = from({kAe2, kManager}, "ae3");
  AddUser("ae3", engine::kAccountExecutive);
  other.mutable_reassign_accounts()->add_client_ids(client_);
  EXPECT_THAT(Reject(kManager, other),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is owned by \"ae\", not by any of \"ae2\", \"manager\"")));
  // A finished or archived order named to go with its account stays with its owner.
  const std::string archived = CreateOrder();
  Run(kAe, OrderOnly(archived, "archive"));
  v1::Command with_archived = from({}, kAe2);
  with_archived.mutable_reassign_accounts()->add_client_ids(client_);
  with_archived.mutable_reassign_accounts()->mutable_only_orders()->add_order_ids(archived);
  EXPECT_THAT(Reject(kManager, with_archived),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is archived, so it stays with \"ae\" (only open orders move")));
  // Givers with no accounts at all.
  EXPECT_THAT(Reject(kManager, from({kAe2, kManager}, "ae3")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("users \"ae2\", \"manager\" own no clients to reassign")));
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe);
}

TEST_F(OrderFlowTest, ASpreadIsRefusedWithoutWritingWhenItsTakersAreWrong) {
  CreateOrder();
  const auto spread = [](std::vector<std::string> to, const std::string& to_owner = "") {
    v1::Command command;
    command.mutable_reassign_accounts()->set_from_owner(kAe);
    command.mutable_reassign_accounts()->set_to_owner(to_owner);
    for (const std::string& user : to) command.mutable_reassign_accounts()->add_spread_to(user);
    return command;
  };
  EXPECT_THAT(Reject(kManager, spread({kAe2, kManager}, kAe2)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not both")));
  EXPECT_THAT(Reject(kManager, spread({kAe2})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("give them as to_owner")));
  EXPECT_THAT(Reject(kManager, spread({kAe2, kAe2})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  EXPECT_THAT(
      Reject(kManager, spread({kAe2, kAe})),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          HasSubstr(
              "\"ae\" gives the accounts (from_owner) and is named to take them (spread_to)")));
  EXPECT_THAT(Reject(kManager, spread({kAe2, kProducer})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Reject(kManager, spread({kAe2, "nobody"})), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Reject(kManager, spread({}, kAe)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is named to take them (to_owner); name someone else")));
  EXPECT_THAT(Reject(kAe2, spread({kAe2, kManager})),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe);
}

// Chosen orders move to another owner; their account stays with its owner.
TEST_F(OrderFlowTest, ChosenOrdersMoveToAnotherOwnerAndTheirAccountStays) {
  const std::string first = CreateOrder();
  const std::string second = CreateOrder();
  const std::string stays = CreateOrder();
  const std::string done = CreateOrder();
  Run(kAe, OrderOnly(done, "archive"));
  // ae2 shared the second order: as its owner, no longer a participant.
  v1::Command share;
  share.mutable_share_order()->set_order_id(second);
  share.mutable_share_order()->set_user_id(kAe2);
  Run(kAe, share);
  v1::Command reassign;
  reassign.mutable_reassign_orders()->add_order_ids(first);
  reassign.mutable_reassign_orders()->add_order_ids(Order(second).key());  // By key too.
  reassign.mutable_reassign_orders()->set_to_owner(kAe2);
  EXPECT_THAT(Reject(kAe, reassign), StatusIs(absl::StatusCode::kPermissionDenied));
  const v1::CommandResult result = Run(kManager, reassign);
  EXPECT_EQ(result.id(), kAe2);
  EXPECT_EQ(result.sub_id(), "2 orders");
  EXPECT_EQ(Order(first).owner_id(), kAe2);
  EXPECT_EQ(Order(second).owner_id(), kAe2);
  EXPECT_THAT(Order(second).participants(), IsEmpty());
  EXPECT_EQ(Order(stays).owner_id(), kAe);
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe) << "the account stays";
  EXPECT_OK(engine_->GetOrder({kAe2}, first).status()) << "the new owner sees it";
  ASSERT_THAT(Order(first).owner_history(), SizeIs(1));
  EXPECT_EQ(Order(first).owner_history(0).old_owner(), kAe);
  EXPECT_EQ(Order(first).owner_history(0).changed_by(), kManager);
  // Again: already theirs, nothing to write.
  const uint64_t head = store_->Head().position;
  EXPECT_EQ(Run(kManager, reassign).last_position(), 0u);
  EXPECT_EQ(store_->Head().position, head);
  // One order, guarded by its etag.
  v1::Command one;
  one.mutable_reassign_orders()->add_order_ids(stays);
  one.mutable_reassign_orders()->set_to_owner(kManager);
  one.set_etag(Order(stays).version() + 1);
  EXPECT_THAT(Reject(kManager, one), StatusIs(absl::StatusCode::kAborted));
  one.set_etag(Order(stays).version());
  const v1::CommandResult one_moved = Run(kManager, one);
  EXPECT_EQ(one_moved.etag(), Order(stays).version());
  EXPECT_EQ(one_moved.id(), stays) << "one order: the answer names it";
  EXPECT_EQ(one_moved.key(), Order(stays).key());
  EXPECT_EQ(Order(stays).owner_id(), kManager);
  EXPECT_EQ(Order(done).owner_id(), kAe) << "not named, not moved";
}

// A repeat of a reassignment of chosen orders answers as the first did, from what it wrote,
// also when its first event is an unshare (the new owner was a participant).
TEST_F(OrderFlowTest, ARepeatedReassignmentOfOrdersAnswersAsTheFirst) {
  const std::string first = CreateOrder();
  const std::string second = CreateOrder();
  const std::string third = CreateOrder();
  v1::Command share;
  share.mutable_share_order()->set_order_id(first);
  share.mutable_share_order()->set_user_id(kAe2);
  Run(kAe, share);
  v1::Command several;
  several.set_request_id("move-several");
  several.mutable_reassign_orders()->add_order_ids(first);
  several.mutable_reassign_orders()->add_order_ids(second);
  several.mutable_reassign_orders()->set_to_owner(kAe2);
  const v1::CommandResult moved = Run(kManager, several);
  ASSERT_FALSE(moved.deduplicated());
  const uint64_t head = store_->Head().position;
  const v1::CommandResult again = Run(kManager, several);
  EXPECT_TRUE(again.deduplicated());
  EXPECT_EQ(store_->Head().position, head) << "a repeat writes nothing";
  EXPECT_EQ(again.id(), kAe2);
  EXPECT_EQ(again.sub_id(), "2 orders");
  EXPECT_EQ(again.key(), moved.key()) << "several orders: no one order's key";
  EXPECT_EQ(again.etag(), moved.etag());
  EXPECT_EQ(again.first_position(), moved.first_position());
  EXPECT_EQ(again.last_position(), moved.last_position());
  // Each order moved, with its key and from whom, as the first answer said.
  ASSERT_EQ(moved.moved_orders_size(), 2);
  EXPECT_EQ(moved.moved_orders(0).order_id(), first);
  EXPECT_EQ(moved.moved_orders(0).key(), engine_->GetOrder({kAe2}, first)->key());
  EXPECT_EQ(moved.moved_orders(0).old_owner(), kAe);
  EXPECT_EQ(moved.moved_orders(1).order_id(), second);
  EXPECT_EQ(moved.moved_orders(1).new_owner(), kAe2);
  ASSERT_EQ(again.moved_orders_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(again.moved_orders(i).ShortDebugString(), moved.moved_orders(i).ShortDebugString());
  }

  v1::Command one;
  one.set_request_id("move-one");
  one.mutable_reassign_orders()->add_order_ids(third);
  one.mutable_reassign_orders()->set_to_owner(kManager);
  const v1::CommandResult one_moved = Run(kManager, one);
  const v1::CommandResult one_again = Run(kManager, one);
  EXPECT_TRUE(one_again.deduplicated());
  EXPECT_EQ(one_again.id(), third);
  EXPECT_EQ(one_again.sub_id(), "1 order");
  EXPECT_EQ(one_again.key(), one_moved.key());
  EXPECT_EQ(one_again.etag(), one_moved.etag());
}

// Whoever was handed an open order of an account they do not see is given its client's
// contacts on the order, to call about it (seed 003's order manager), also once the account
// changes hands between others: not the client, not once the order is done, not to others who
// see the order, and not for an order they made or restored themselves (a sharee's own order,
// an old owner's), which would outlast their access.
TEST_F(OrderFlowTest, WhoWasHandedAnOrderIsGivenItsClientsContactsWhileItIsOpen) {
  AddUser("ae3", engine::kAccountExecutive);
  v1::Command reach;
  reach.mutable_update_contact()->set_client_id(client_);
  reach.mutable_update_contact()->mutable_contact()->set_contact_id("carol");
  reach.mutable_update_contact()->mutable_contact()->set_phone("+1 555 0100");
  reach.mutable_update_contact()->mutable_update_mask()->add_paths("contact.phone");
  Run(kAe, reach);
  const auto hand = [&](const std::string& order, const std::string& to) {
    v1::Command move;
    move.mutable_reassign_orders()->add_order_ids(order);
    move.mutable_reassign_orders()->set_to_owner(to);
    Run(kManager, move);
  };
  const std::string order = CreateOrder();
  EXPECT_THAT(Order(order, kAe).client_contacts(), IsEmpty()) << "the account is theirs to see";
  hand(order, kAe2);
  const v1::OrderView theirs = Order(order, kAe2);
  ASSERT_THAT(theirs.client_contacts(), SizeIs(1));
  EXPECT_EQ(theirs.client_contacts(0).contact_id(), "carol");
  EXPECT_EQ(theirs.client_contacts(0).phone(), "+1 555 0100");
  EXPECT_THAT(engine_->GetClient({kAe2}, client_),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(absl::StrCat("is not in your book: you work its order ",
                                              theirs.key(), " (spotflow order show"))))
      << "the contacts, not the client";
  // Whose account it is, and their orders on it by it (the personal manager's).
  EXPECT_EQ(theirs.account_owner_id(), kAe);
  ListOrdersRequest on_account;
  on_account.account_owner_id = kAe;
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse listed, engine_->ListOrders({kAe2}, on_account));
  ASSERT_THAT(listed.orders, SizeIs(1));
  EXPECT_EQ(listed.orders[0].order_id(), order);
  EXPECT_EQ(listed.orders[0].account_owner_id(), kAe);
  v1::Command share;
  share.mutable_share_order()->set_order_id(order);
  share.mutable_share_order()->set_user_id("ae3");
  Run(kAe2, share);
  EXPECT_THAT(Order(order, "ae3").client_contacts(), IsEmpty()) << "only to its owner";
  Run(kAe2, OrderOnly(order, "archive"));
  EXPECT_THAT(Order(order, kAe2).client_contacts(), IsEmpty()) << "not once it is archived";
  // Handed it after the account last changed hands, they may open it again themselves.
  Run(kAe2, OrderOnly(order, "restore"));
  EXPECT_THAT(Order(order, kAe2).client_contacts(), SizeIs(1));

  // A sharee's own order would outlast the share: a sharee makes none (an order on an account
  // is its owner's unless a manager says otherwise).
  v1::Command own = CreateOrderCommand();
  own.mutable_create_order()->set_owner_id(kOrderEntry);
  EXPECT_THAT(Reject(kOrderEntry, own),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("belongs to its owner \"ae\"; leave owner_id (--owner) out")));
  own.mutable_create_order()->set_owner_id(kAe2);  // Nor hands one to another AE.
  EXPECT_THAT(Reject(kAssistant, own), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(Run(kManager, own).id().empty(), false) << "a manager may";

  // An order handed to the AE before the account moved away from them, restored after: not
  // by them, who would act on another's account again; a manager may, and may reassign it.
  const std::string kept = CreateOrder();
  hand(kept, kAe2);
  hand(kept, kAe);
  Run(kAe, OrderOnly(kept, "archive"));
  v1::Command away;
  away.mutable_reassign_accounts()->set_from_owner(kAe);
  away.mutable_reassign_accounts()->set_to_owner("ae3");
  away.mutable_reassign_accounts()->add_client_ids(client_);
  Run(kManager, away);
  EXPECT_THAT(Order(order, kAe2).client_contacts(), SizeIs(1))
      << "the account moved between others: whom an order was handed to still calls about it";
  Run(kAe2, OrderOnly(order, "archive"));
  Run(kAe2, OrderOnly(order, "restore"));  // Still standing on the account, as they did.
  EXPECT_THAT(Reject(kAe, OrderOnly(kept, "restore")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("no longer holds its client"), HasSubstr("now \"ae3\"'s"))));
  Run(kManager, OrderOnly(kept, "restore"));
  ASSERT_EQ(Order(kept, kAe).owner_id(), kAe);
  EXPECT_THAT(engine_->GetClient({kAe}, client_), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Order(kept, kAe).client_contacts(), IsEmpty());
  // Handed on after the account moved, its new owner stands on the account through it.
  hand(kept, kAe2);
  Run(kAe2, OrderOnly(kept, "archive"));
  Run(kAe2, OrderOnly(kept, "restore"));
  // As does whom a manager made the owner of a new order on it, never handed over since.
  own.mutable_create_order()->clear_order_id();
  own.mutable_create_order()->set_owner_id(kAe2);
  const std::string made = Run(kManager, own).id();
  Run(kAe2, OrderOnly(made, "archive"));
  Run(kAe2, OrderOnly(made, "restore"));
}

TEST_F(OrderFlowTest, AnOldOwnerDoesNotDeleteOrdersOfAnAccountThatMoved) {
  const std::string order = CreateOrder();
  Run(kAe, OrderOnly(order, "archive"));
  v1::Command move;
  move.mutable_reassign_accounts()->set_from_owner(kAe);
  move.mutable_reassign_accounts()->set_to_owner(kAe2);
  Run(kManager, move);
  ASSERT_EQ(Order(order, kAe).owner_id(), kAe) << "an archived order keeps its owner";
  EXPECT_THAT(Reject(kAe, OrderOnly(order, "delete")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("no longer holds (now \"ae2\"'s)"),
                             HasSubstr("a manager over all orders"))));
  EXPECT_THAT(Reject(kAe, OrderOnly(order, "restore")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  Run(kAe2, OrderOnly(order, "delete"));  // Who holds the account now may.
  EXPECT_THAT(engine_->GetOrder({kAe}, order), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(OrderFlowTest, AnOrderOfADeactivatedOwnerIsRestoredByAManager) {
  const std::string order = CreateOrder();
  Run(kAe, OrderOnly(order, "archive"));
  v1::Command leave;
  leave.mutable_deactivate_user()->set_user_id(kAe);
  Run(kAdmin, leave);
  EXPECT_THAT(Reject(kAssistant, OrderOnly(order, "restore")),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("owner \"ae\" is deactivated"), HasSubstr("a manager"))));
  Run(kManager, OrderOnly(order, "restore"));
  EXPECT_FALSE(Order(order).archived());
  // Nor is a new order entered on their account: it would be theirs.
  EXPECT_THAT(Reject(kAssistant, CreateOrderCommand()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("owner \"ae\" is deactivated"),
                             HasSubstr("reassigns the account first"))));
}

TEST_F(OrderFlowTest, ReassigningOrdersIsRefusedWithoutWritingWhenItCannotBeDone) {
  const std::string order = CreateOrder();
  const std::string archived = CreateOrder();
  Run(kAe, OrderOnly(archived, "archive"));
  const auto reassign = [](std::vector<std::string> orders, const std::string& to) {
    v1::Command command;
    for (const std::string& id : orders) command.mutable_reassign_orders()->add_order_ids(id);
    command.mutable_reassign_orders()->set_to_owner(to);
    return command;
  };
  EXPECT_THAT(
      Reject(kManager, reassign({}, kAe2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no order named (order_ids)")));
  EXPECT_THAT(Reject(kManager, reassign({order, order}, kAe2)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
  EXPECT_THAT(Reject(kManager, reassign({order, "no-such-order"}, kAe2)),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Reject(kManager, reassign({order, archived}, kAe2)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("archived")));
  EXPECT_THAT(Reject(kManager, reassign({order}, kProducer)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot own orders")));
  EXPECT_THAT(Reject(kManager, reassign({order}, "nobody")), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Reject(kAssistant, reassign({order}, kAe2)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // A completed order keeps its owner's credit.
  const std::string completed = CreateOrder();
  Run(kProducer, Script(completed, "Draft"));
  Run(kAe, Approve(completed, "script", 1));
  Run(kProducer, Spot(completed, "s3://spot/1"));
  Run(kAe, Approve(completed, "spot", 1));
  Run(kProducer, Action(completed, "deliver"));
  ASSERT_TRUE(Order(completed).completed());
  EXPECT_THAT(
      Reject(kManager, reassign({order, completed}, kAe2)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("keeps its owner's credit")));
  v1::Command guarded = reassign({order, archived}, kAe2);
  guarded.set_etag(1);
  EXPECT_THAT(Reject(kManager, guarded),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("guards one order")));
  EXPECT_THAT(Reject(kAssistant, guarded), StatusIs(absl::StatusCode::kPermissionDenied))
      << "who may not reassign hears that first";
  EXPECT_THAT(Reject(kManager, reassign({order}, kClientUser)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  v1::Command deactivate;
  deactivate.mutable_deactivate_user()->set_user_id(kOrderEntry);
  Run(kAdmin, deactivate);
  EXPECT_THAT(Reject(kManager, reassign({order}, kOrderEntry)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  std::vector<std::string> many(1001, order);
  EXPECT_THAT(Reject(kManager, reassign(many, kAe2)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the limit is 1000")));
  EXPECT_EQ(Order(order).owner_id(), kAe);
}

TEST_F(OrderFlowTest, ReassignmentNamingAMissingClientMovesNothing) {
  CreateOrder();
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
  reassign.mutable_reassign_accounts()->add_client_ids(client_);
  reassign.mutable_reassign_accounts()->add_client_ids("no_such_client");
  EXPECT_THAT(Reject(kManager, reassign), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(engine_->GetClient({kManager}, client_)->owner_id(), kAe);
}

TEST_F(OrderFlowTest, UpdateContactChangesOnlyWhatItsMaskNames) {
  auto contact = [&]() {
    absl::StatusOr<v1::ClientView> client = engine_->GetClient({kAe}, client_);
    EXPECT_OK(client.status());
    return client.ok() ? client->contacts(0) : v1::Contact();
  };
  auto update = [&](std::vector<std::string> paths, const v1::Contact& fields) {
    v1::Command command;
    command.mutable_update_contact()->set_client_id(client_);
    *command.mutable_update_contact()->mutable_contact() = fields;
    command.mutable_update_contact()->mutable_contact()->set_contact_id("carol");
    for (std::string& path : paths) {
      command.mutable_update_contact()->mutable_update_mask()->add_paths(std::move(path));
    }
    return command;
  };
  v1::Contact full;
  full.set_name("Carol Client");
  full.set_email("carol@acme.test");
  full.set_phone("555-0100");
  full.set_title("Marketing director");
  Run(kAe, update({}, full));  // No mask: the contact is replaced.
  EXPECT_EQ(contact().title(), "Marketing director");

  v1::Contact email;
  email.set_email("carol@acme-motors.test");
  Run(kAe, update({"contact.email"}, email));
  v1::Contact now = contact();
  EXPECT_EQ(now.email(), "carol@acme-motors.test");
  EXPECT_EQ(now.name(), "Carol Client") << "a field the mask leaves out stays";
  EXPECT_EQ(now.phone(), "555-0100");
  EXPECT_EQ(now.title(), "Marketing director");

  // A named field the body leaves empty is cleared; naming one twice is naming it once.
  Run(kAe, update({"contact.phone", "contact.phone"}, v1::Contact()));
  EXPECT_EQ(contact().phone(), "");
  EXPECT_EQ(contact().title(), "Marketing director");
  // The same values again: nothing to write.
  const uint64_t head = store_->Head().position;
  Run(kAe, update({"contact.email"}, email));
  EXPECT_EQ(store_->Head().position, head);

  // Masks that name what cannot change, or nothing a contact has, or clear a required field:
  // INVALID_ARGUMENT, and nothing written (Reject checks).
  v1::Contact renamed;
  renamed.set_name("Carol C.");
  for (const auto& [paths, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"contact.contact_id"}, "says what to update; it cannot change"},
           {{"client_id"}, "says what to update; it cannot change"},
           {{"contact.colour"}, "a contact's fields are contact.name, contact.email"},
           {{"name"}, "a contact's fields are contact.name"},
           {{"*", "contact.name"}, "stands alone"},
           {{"contact", "contact.name"}, "stands alone"}}) {
    EXPECT_THAT(Reject(kAe, update(paths, renamed)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << paths[0];
  }
  EXPECT_THAT(Reject(kAe, update({"contact.name"}, v1::Contact())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("contact name")));
  // "contact" names every field: those the body leaves empty are cleared.
  Run(kAe, update({"contact"}, renamed));
  now = contact();
  EXPECT_EQ(now.name(), "Carol C.");
  EXPECT_EQ(now.email(), "");
  EXPECT_EQ(now.title(), "");
}

TEST_F(OrderFlowTest, OrderReadAsOfAnEarlierPosition) {
  const std::string order = CreateOrder();
  v1::CommandResult first = Run(kProducer, Script(order, "One"));
  Run(kAe, Approve(order, "script", 1));
  AsOf as_of;
  as_of.position = first.last_position();
  auto then = engine_->GetOrderAsOf({kAe}, order, as_of);
  ASSERT_OK(then.status());
  EXPECT_EQ(then->status(), "script_review");
  EXPECT_FALSE(then->scripts(0).approved());
  EXPECT_EQ(then->key(), "PO-2026-00001");
  as_of.position = 1;
  EXPECT_THAT(engine_->GetOrderAsOf({kAe}, order, as_of), StatusIs(absl::StatusCode::kNotFound));
  // Moments the log has not reached are refused, not read as today.
  as_of.position = store_->Head().position + 1;
  EXPECT_THAT(engine_->GetOrderAsOf({kAe}, order, as_of),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("past the end of the log")));
  AsOf later;
  later.time = clock_.Now() + absl::Minutes(1);  // A caller's clock a little ahead: now.
  ASSERT_OK_AND_ASSIGN(v1::OrderView now, engine_->GetOrderAsOf({kAe}, order, later));
  EXPECT_TRUE(now.scripts(0).approved());
}

TEST_F(OrderFlowTest, ListsFilterPageAndShowOnlyWhatTheCallerMaySee) {
  Run(kAe2, CreateClientCommand("globex", "Globex"));
  v1::Command other = CreateOrderCommand();
  other.mutable_create_order()->set_client_id("globex");
  const std::string theirs = Run(kAe2, other).id();
  std::vector<std::string> mine;
  for (int i = 0; i < 5; ++i) mine.push_back(CreateOrder());
  Run(kProducer, Script(mine[0], "draft"));

  auto count = [&](const std::string& user, ListOrdersRequest request) {
    auto response = engine_->ListOrders({user}, request);
    EXPECT_OK(response.status());
    return response.ok() ? response->orders.size() : 0;
  };
  EXPECT_EQ(count(kAe, {}), 5u);
  EXPECT_EQ(count(kAe2, {}), 1u);
  EXPECT_EQ(count(kManager, {}), 6u);
  // Who is assigned (seed 002's support board): the orders a producer is assigned to.
  {
    v1::Command assign;
    assign.mutable_assign_producer()->set_order_id(mine[1]);
    assign.mutable_assign_producer()->set_user_id(kProducer);
    Run(kAe, assign);
    ListOrdersRequest assigned;
    assigned.assignee_id = kProducer;
    ASSERT_OK_AND_ASSIGN(ListOrdersResponse theirs_to_do, engine_->ListOrders({kAe}, assigned));
    ASSERT_THAT(theirs_to_do.orders, SizeIs(1));
    EXPECT_EQ(theirs_to_do.orders[0].order_id(), mine[1]);
    EXPECT_EQ(count(kAe2, assigned), 0u) << "only what the caller sees";
    EXPECT_THAT(engine_->ListOrders({kClientUser}, assigned),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("the house's")));
    assigned.assignee_id = "nobody";
    EXPECT_THAT(engine_->ListOrders({kAe}, assigned), StatusIs(absl::StatusCode::kNotFound));
    // A page token is its filter's own.
    ListOrdersRequest paged;
    paged.page_size = 1;
    ASSERT_OK_AND_ASSIGN(ListOrdersResponse first, engine_->ListOrders({kAe}, paged));
    assigned.assignee_id = kProducer;
    assigned.page_token = first.next_page_token;
    EXPECT_THAT(engine_->ListOrders({kAe}, assigned), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(count(kProducer, {}), 6u);
  EXPECT_EQ(count(kClientUser, {}), 5u) << "a contact sees its company's orders";
  ListOrdersRequest by_status;
  by_status.statuses = {"script_review"};
  EXPECT_EQ(count(kManager, by_status), 1u);
  by_status.statuses = {"script_review", "awaiting_script"};
  EXPECT_EQ(count(kManager, by_status), 6u) << "any of the states";
  by_status.statuses = {"script_review", "scrpt_review"};
  auto typo = engine_->ListOrders({kManager}, by_status);
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(typo.status().message(), AllOf(HasSubstr("no workflow has a state \"scrpt_review\""),
                                             HasSubstr("script_review")));
  by_status.statuses = {"awaiting_spt", "script_review", "scrpt_review"};
  EXPECT_THAT(engine_->ListOrders({kManager}, by_status),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no workflow has a state \"awaiting_spt\" or \"scrpt_review\"")));
  ListOrdersRequest queue;
  queue.actionable = true;
  EXPECT_EQ(count(kProducer, queue), 5u)
      << "every order waits for production's script but the one in review, which waits for the "
         "AE (production could send a new script, which would leave it in review)";
  EXPECT_EQ(count(kAe, queue), 1u) << "the AE has one script to review";
  ListOrdersRequest by_client;
  by_client.client_id = "globex";
  EXPECT_EQ(count(kManager, by_client), 1u);
  ListOrdersRequest flight;
  flight.flight_from = MakeDate(2027, 1, 1);
  EXPECT_EQ(count(kManager, flight), 0u);

  ListOrdersRequest page;
  page.page_size = 2;
  std::vector<std::string> seen;
  for (int pages = 0; pages < 10; ++pages) {
    auto response = engine_->ListOrders({kAe}, page);
    ASSERT_OK(response.status());
    for (const auto& o : response->orders) seen.push_back(o.order_id());
    if (response->next_page_token.empty()) break;
    page.page_token = response->next_page_token;
  }
  EXPECT_EQ(seen, mine);
  page.page_token = "";
  auto first = engine_->ListOrders({kAe}, page);
  ASSERT_OK(first.status());
  const std::string token = first->next_page_token;
  ASSERT_FALSE(token.empty());
  page.page_token = "not-a-token";
  EXPECT_THAT(engine_->ListOrders({kAe}, page),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not one ListOrders gave; start again without it")));
  page.page_token = "ListOrders.99999999.00000000";  // Past anything this log has.
  EXPECT_THAT(engine_->ListOrders({kAe}, page), StatusIs(absl::StatusCode::kInvalidArgument));
  page.page_token = token.substr(0, token.find('.') + 1) + token.substr(token.rfind('.'));
  EXPECT_THAT(engine_->ListOrders({kAe}, page),  // "ListOrders..<filters>": no position.
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not one ListOrders")));
  ListClientsRequest clients;  // Another list's token.
  clients.page_token = token;
  EXPECT_THAT(engine_->ListClients({kAe}, clients),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not one ListClients gave")));
  page.page_token = token;  // The same list with other filters (AIP-158).
  page.statuses = {"script_review"};
  EXPECT_THAT(engine_->ListOrders({kAe}, page),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("other filters")));
  EXPECT_THAT(engine_->GetOrder({kAe}, theirs), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(OrderFlowTest, FiltersByClientAndOwnerListWhatAFullScanWould) {
  // Filters by client and owner walk an index of each one's orders rather than every order.
  // The index follows reassignment and is rebuilt from a snapshot: each filter, page by page,
  // lists exactly the orders a full listing holds that pass it, in the same order.
  Run(kAe2, CreateClientCommand("globex", "Globex"));
  Run(kAe2, CreateClientCommand("initech", "Initech"));  // With no orders.
  std::vector<std::string> acme;
  for (int i = 0; i < 12; ++i) {
    if (i % 3 == 2) {
      v1::Command other = CreateOrderCommand();
      other.mutable_create_order()->set_client_id("globex");
      Run(kAe2, other);
    } else {
      acme.push_back(CreateOrder());
    }
  }
  Run(kAe, OrderOnly(acme[1], "archive"));  // Not open: it keeps its owner below.
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
  Run(kManager, reassign);
  ASSERT_EQ(engine_->GetOrder({kManager}, acme[0])->owner_id(), kAe2);
  ASSERT_EQ(engine_->GetOrder({kManager}, acme[1])->owner_id(), kAe);

  const auto listed = [](Engine* engine, ListOrdersRequest request) {
    request.archived = ArchivedFilter::kInclude;
    request.page_size = 2;
    std::vector<v1::OrderView> orders;
    for (int pages = 0; pages < 20; ++pages) {
      auto response = engine->ListOrders({kManager}, request);
      EXPECT_OK(response.status());
      if (!response.ok()) break;
      orders.insert(orders.end(), response->orders.begin(), response->orders.end());
      if (response->next_page_token.empty()) break;
      request.page_token = response->next_page_token;
    }
    return orders;
  };
  const std::vector<v1::OrderView> all = listed(engine_.get(), {});
  ASSERT_EQ(all.size(), 12u);
  // A client or owner that never existed is a typo, not a filter that matches nothing.
  ListOrdersRequest typo;
  typo.client_id = "initek";
  EXPECT_THAT(engine_->ListOrders({kManager}, typo),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no client \"initek\"")));
  typo.client_id.clear();
  typo.owner_id = "nobody";
  EXPECT_THAT(engine_->ListOrders({kManager}, typo),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no user \"nobody\"")));
  // A client the caller may not see reads the same as one that is not there: a client
  // contact learns nothing of other advertisers, nor of the house's users.
  ListOrdersRequest probe;
  probe.client_id = "globex";
  EXPECT_THAT(engine_->ListOrders({kClientUser}, probe), StatusIs(absl::StatusCode::kNotFound));
  probe.client_id.clear();
  probe.owner_id = kAe;
  EXPECT_THAT(engine_->ListOrders({kClientUser}, probe), StatusIs(absl::StatusCode::kNotFound));
  // Nor that one was deleted; its own people still filter by it.
  v1::Command gone;
  gone.mutable_delete_client()->set_client_id("initech");
  Run(kAe2, gone);
  probe.owner_id.clear();
  probe.client_id = "initech";
  EXPECT_THAT(engine_->ListOrders({kClientUser}, probe), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(engine_->ListOrders({kAe2}, probe).status());
  // One who sees an order shared with them lists it by its client, which they do not see.
  AddUser("ava", engine::kAccountExecutive);
  v1::Command share;
  share.mutable_share_order()->set_order_id(acme[0]);
  share.mutable_share_order()->set_user_id("ava");
  Run(kManager, share);
  ASSERT_THAT(engine_->GetClient({"ava"}, "acme"), StatusIs(absl::StatusCode::kNotFound));
  ListOrdersRequest shared;
  shared.client_id = "acme";
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse visible, engine_->ListOrders({"ava"}, shared));
  EXPECT_THAT(visible.orders, SizeIs(1));
  const auto check = [&](Engine* engine) {
    for (const std::string client : {"", "acme", "globex", "initech"}) {
      for (const std::string owner : {"", "ae", "ae2", "manager"}) {
        std::vector<std::string> expected;
        for (const v1::OrderView& order : all) {
          if ((client.empty() || order.client_id() == client) &&
              (owner.empty() || order.owner_id() == owner)) {
            expected.push_back(order.order_id());
          }
        }
        ListOrdersRequest request;
        request.client_id = client;
        request.owner_id = owner;
        std::vector<std::string> got;
        for (const v1::OrderView& order : listed(engine, request)) got.push_back(order.order_id());
        EXPECT_EQ(got, expected) << "client \"" << client << "\", owner \"" << owner << "\"";
      }
    }
  };
  check(engine_.get());
  ListOrdersRequest mine;
  mine.owner_id = kAe;
  EXPECT_EQ(listed(engine_.get(), mine).size(), 1u) << "only the archived order stayed";

  engine_options_.snapshot_path = dir_.Sub("engine.snapshot");
  OpenEngine();
  ASSERT_OK(engine_->WriteSnapshot());
  auto resumed = Engine::Open(engine_options_, store_.get(), &clock_, &ids_);
  ASSERT_OK(resumed.status());
  check(resumed->get());
}

TEST_F(OrderFlowTest, GetOrderTellsTheCallerWhichActionsAreOpenToThem) {
  auto open = [&](const std::string& user, const std::string& order) {
    absl::StatusOr<v1::OrderView> view = engine_->GetOrder({user}, order);
    EXPECT_OK(view.status());
    std::vector<std::string> actions;
    if (view.ok()) actions.assign(view->open_actions().begin(), view->open_actions().end());
    return actions;
  };
  using ::testing::IsEmpty;
  const std::string order = CreateOrder();
  EXPECT_THAT(open(kProducer, order), ElementsAre("submit_script"));
  EXPECT_THAT(open(kAe, order), IsEmpty()) << "an AE does not write scripts";
  EXPECT_THAT(open(kClientUser, order), IsEmpty());
  EXPECT_THAT(open(kAuditor, order), IsEmpty());

  Run(kProducer, Script(order, "draft"));
  EXPECT_THAT(open(kAe, order),
              ElementsAre("approve_script", "request_script_changes", "forward_script"));
  EXPECT_THAT(open(kAssistant, order), ElementsAre("request_script_changes", "forward_script"))
      << "an assistant may not approve";
  EXPECT_THAT(open(kProducer, order), ElementsAre("submit_script")) << "a new draft";

  Run(kAe, Forward(order, "script", 1));
  EXPECT_THAT(open(kClientUser, order),
              ElementsAre("client_approve_script", "client_request_script_changes"));
  EXPECT_THAT(open(kAe, order), ElementsAre("forward_script", "client_approve_script",
                                            "client_request_script_changes"))
      << "forwarded again to another contact, or answers recorded on the contact's behalf";
  EXPECT_THAT(open(kAssistant, order),
              ElementsAre("forward_script", "client_request_script_changes"))
      << "an assistant may not relay an approval";
  EXPECT_FALSE(engine_->Execute({kAssistant}, ClientAnswer(order, "script", 1, true)).ok())
      << "as the list says";
  // The work queue holds the contact's own answers only: the others wait for the client.
  auto queued = [&](const std::string& user) { return Queued(user, order); };
  EXPECT_TRUE(queued(kClientUser));
  EXPECT_FALSE(queued(kAe));

  Run(kClientUser, ClientAnswer(order, "script", 1, true));
  EXPECT_THAT(open(kProducer, order), ElementsAre("record_spot", "upload_spot"));
  EXPECT_THAT(open(kAe, order), ElementsAre("upload_spot"));
  EXPECT_THAT(open(kClientUser, order), IsEmpty());
  // Production records this order's spot: it waits for the producer, not for the AE, who may
  // upload one should the client provide it after all.
  EXPECT_TRUE(queued(kProducer));
  EXPECT_FALSE(queued(kAe));
  // Nobody to forward to: a client without contacts.
  Run(kAe, CreateClientCommand("bare", "Bare Co"));
  v1::Command bare = CreateOrderCommand();
  bare.mutable_create_order()->set_client_id("bare");
  const std::string lonely = Run(kAe, bare).id();
  Run(kProducer, Script(lonely, "draft"));
  EXPECT_THAT(open(kAe, lonely), ElementsAre("approve_script", "request_script_changes"));

  const v1::EngineState state = engine_->State();
  ASSERT_FALSE(state.orders().empty());
  for (const v1::OrderView& stored : state.orders()) {
    EXPECT_THAT(stored.open_actions(), IsEmpty()) << "never part of the state";
  }
}

TEST_F(OrderFlowTest, AWorkQueueHoldsWhatTheOrderWaitsForFromTheUser) {
  // A provided spot waits for the AE's upload, not for production.
  const std::string provided = CreateOrder(kAe, v1::PROVIDED);
  EXPECT_TRUE(Queued(kAe, provided));
  EXPECT_FALSE(Queued(kProducer, provided));
  EXPECT_THAT(Reject(kAe, Spot(provided, "s3://agency/p.wav")),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("--provided")))
      << "the AE left out that the spot is provided";
  EXPECT_OK(engine_->Execute({kProducer}, Spot(provided, "s3://spots/p.wav", true)).status())
      << "production may still upload it";
  // A production order waits for any producer until one is assigned, then for that one.
  AddUser("pat", engine::kProducer);
  const std::string order = CreateOrder();
  EXPECT_TRUE(Queued(kProducer, order));
  EXPECT_TRUE(Queued("pat", order));
  v1::Command assign;
  assign.mutable_assign_producer()->set_order_id(order);
  assign.mutable_assign_producer()->set_user_id("pat");
  Run(kAe, assign);
  EXPECT_FALSE(Queued(kProducer, order));
  EXPECT_TRUE(Queued("pat", order));
  EXPECT_OK(engine_->Execute({kProducer}, Script(order, "draft")).status())
      << "another producer may still step in";
  EXPECT_TRUE(Queued(kAe, order)) << "the script waits for the AE's review";
  // The producer hands the order back; another may not take it off them, its AE may.
  v1::Command unassign;
  unassign.mutable_assign_producer()->set_order_id(order);
  EXPECT_THAT(Reject(kProducer, unassign), StatusIs(absl::StatusCode::kPermissionDenied));
  Run("pat", unassign);
  EXPECT_EQ(Order(order).producer_id(), "");
  Run(kAe, assign);
  Run(kAe, unassign);
  EXPECT_EQ(Order(order).producer_id(), "");
  // Nobody assigned: nothing to change, and the answer still names the order's key.
  EXPECT_EQ(Run(kAe, unassign).key(), Order(order).key());
  EXPECT_FALSE(Queued(kManager, order)) << "who may approve any script, but this one is the AE's";
  v1::Command deactivate;
  deactivate.mutable_deactivate_user()->set_user_id(kAe);
  Run(kAdmin, deactivate);
  EXPECT_TRUE(Queued(kManager, order))
      << "with its AE gone, the script waits for whoever may approve it";
}

TEST_F(OrderFlowTest, ASpotMustFitTheOrdersLength) {
  const std::string order = CreateOrder();  // For a 30 s spot.
  Run(kProducer, Script(order, "draft"));
  Run(kAe, Approve(order, "script", 1));
  auto spot = [&](uint64_t duration_ms) {
    v1::Command c = Spot(order, absl::StrCat("s3://spots/", duration_ms, ".wav"));
    c.mutable_submit_revision()->mutable_media()->set_duration_ms(duration_ms);
    return c;
  };
  EXPECT_THAT(Reject(kProducer, spot(30'500)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("the spot runs 30.5 s, longer than the 30 s order"),
                             HasSubstr("order update ORDER --length"))));
  Run(kProducer, spot(29'500));  // Shorter fits; so does an exact 30 s, and no duration.
  Run(kAe, RequestChanges(order, "spot", 1, "louder"));
  Run(kProducer, Spot(order, "s3://spots/unmeasured.wav"));
  Run(kAe, RequestChanges(order, "spot", 2, "measure it"));
  Run(kProducer, spot(30'000));
  // Shortening the order below its latest spot is refused too; lengthening is not.
  v1::Command update;
  update.mutable_update_order()->set_order_id(order);
  update.mutable_update_order()->set_spot_length_seconds(15);
  EXPECT_THAT(Reject(kAe, update),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("latest spot (revision 3) runs 30 s, longer than 15 s")));
  update.mutable_update_order()->set_spot_length_seconds(60);
  Run(kAe, update);
  Run(kAe, RequestChanges(order, "spot", 3, "the full minute"));
  Run(kProducer, spot(60'000));
  EXPECT_EQ(Order(order).spots_size(), 4);
}

TEST_F(OrderFlowTest, AWorkQueueSaysWhatEachOrderWaitsForTheUserToDo) {
  // `user`'s queue entry for `order`, or a default OrderView when it is not there.
  auto entry = [&](const std::string& user, const std::string& order, bool actionable = true) {
    ListOrdersRequest request;
    request.actionable = actionable;
    absl::StatusOr<ListOrdersResponse> list = engine_->ListOrders({user}, request);
    EXPECT_OK(list.status());
    v1::OrderView found;
    if (list.ok()) {
      for (const v1::OrderView& o : list->orders) {
        if (o.order_id() == order) found = o;
      }
    }
    return found;
  };
  const std::string order = CreateOrder();
  EXPECT_THAT(entry(kProducer, order).open_actions(), ElementsAre("submit_script"));
  EXPECT_THAT(entry(kProducer, order).open_flight_actions(), IsEmpty());
  Run(kProducer, Script(order, "draft"));
  const v1::OrderView review = entry(kAe, order);
  EXPECT_THAT(review.open_actions(), Contains("approve_script"));
  EXPECT_THAT(review.open_actions(), Contains("request_script_changes"));
  const v1::OrderView relay = entry(kAssistant, order);
  EXPECT_THAT(relay.open_actions(), Contains("request_script_changes"));
  EXPECT_THAT(relay.open_actions(), Not(Contains("approve_script"))) << "an assistant may not";
  EXPECT_EQ(entry(kProducer, order).order_id(), "")
      << "a second script would leave the order in review: it does not wait for production";
  // A flight change names the decision it waits for, and not the withdrawal the manager could
  // also make (the AE's to make).
  Run(kAe, FlightChange(order, MakeDate(2026, 12, 2), MakeDate(2026, 12, 20)));
  const v1::OrderView decide = entry(kManager, order);
  EXPECT_THAT(decide.open_flight_actions(), ElementsAre("decide"));
  EXPECT_THAT(decide.open_actions(), IsEmpty()) << "the script is the AE's to review";
  EXPECT_THAT(entry(kAe, order).open_flight_actions(), IsEmpty()) << "the AE asked";
  // Outside a queue a list says nothing per caller, as before.
  const v1::OrderView listed = entry(kAe, order, /*actionable=*/false);
  ASSERT_EQ(listed.order_id(), order);
  EXPECT_THAT(listed.open_actions(), IsEmpty());
  EXPECT_THAT(listed.open_flight_actions(), IsEmpty());
}

TEST_F(OrderFlowTest, UsersAndRolesAreListedInKeyOrderAPageAtATime) {
  // Ids that sort between the fixture's, one with a '.' (the token's separator).
  AddUser("b.ob", engine::kAccountExecutive);
  AddUser("zed", engine::kProducer);
  std::vector<std::string> all;
  {
    absl::StatusOr<ListUsersResponse> whole = engine_->ListUsers({kAdmin}, {});
    ASSERT_OK(whole.status());
    EXPECT_EQ(whole->next_page_token, "");
    for (const v1::UserView& user : whole->users) all.push_back(user.user_id());
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
    ASSERT_GE(all.size(), 5u);
  }
  std::vector<std::string> paged;
  ListUsersRequest request;
  request.page_size = 2;
  int pages = 0;
  do {
    absl::StatusOr<ListUsersResponse> page = engine_->ListUsers({kAe}, request);
    ASSERT_OK(page.status());
    ASSERT_LE(page->users.size(), 2u);
    for (const v1::UserView& user : page->users) paged.push_back(user.user_id());
    request.page_token = page->next_page_token;
    ++pages;
  } while (!request.page_token.empty() && pages < 100);
  EXPECT_EQ(paged, all) << "every user once, in order, over the pages";
  EXPECT_EQ(pages, static_cast<int>((all.size() + 1) / 2));

  // A token goes on from where it was, even if users were added before it since.
  request.page_token = "";
  absl::StatusOr<ListUsersResponse> first = engine_->ListUsers({kAdmin}, request);
  ASSERT_OK(first.status());
  AddUser("aaron", engine::kProducer);
  request.page_token = first->next_page_token;
  absl::StatusOr<ListUsersResponse> second = engine_->ListUsers({kAdmin}, request);
  ASSERT_OK(second.status());
  EXPECT_EQ(second->users.front().user_id(), all[2]);

  // Tokens of another list, or not a token at all; users take no filters, so a token with
  // some is not one ListUsers gave either.
  for (const std::string& bad :
       {std::string("ListRoles.61.00000000"), std::string("ListUsers.zz.00000000"),
        std::string("ListUsers.616.00000000"), std::string("nonsense"),
        std::string("ListUsers..00000000"), std::string("ListUsers.61.00000001")}) {
    request.page_token = bad;
    EXPECT_THAT(
        engine_->ListUsers({kAdmin}, request),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not one ListUsers gave")))
        << bad;
  }
  // Who may not list at all is told so, whatever the token.
  EXPECT_THAT(engine_->ListUsers({kClientUser}, request),
              StatusIs(absl::StatusCode::kPermissionDenied));

  ListRolesRequest roles;
  roles.page_size = 3;
  std::vector<std::string> names;
  do {
    absl::StatusOr<ListRolesResponse> page = engine_->ListRoles({kProducer}, roles);
    ASSERT_OK(page.status());
    for (const v1::RoleView& role : page->roles) names.push_back(role.definition().name());
    roles.page_token = page->next_page_token;
  } while (!roles.page_token.empty() && names.size() < 1000);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_THAT(names, ::testing::Contains(engine::kProducer));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
}

TEST_F(OrderFlowTest, RepeatedRequestIdReturnsTheFirstResultAndWritesNothing) {
  v1::Command create = CreateOrderCommand();
  create.set_request_id("req-1");
  v1::CommandResult first = Run(kAe, create);
  const uint64_t head = store_->Head().position;
  v1::CommandResult again = Run(kAe, create);
  EXPECT_TRUE(again.deduplicated());
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(again.key(), first.key());
  EXPECT_EQ(store_->Head().position, head);
  OpenEngine();  // Also after a restart.
  EXPECT_EQ(Run(kAe, create).id(), first.id());
  EXPECT_EQ(store_->Head().position, head);
}

TEST_F(OrderFlowTest, RequestIdReusedForADifferentCommandIsAlreadyExists) {
  v1::Command first = CreateOrderCommand();
  first.set_request_id("req-1");
  Run(kAe, first);
  v1::Command other = CreateOrderCommand();
  other.mutable_create_order()->set_title("Another order");
  other.set_request_id("req-1");
  EXPECT_THAT(Reject(kAe, other),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("different command")));
}

TEST_F(OrderFlowTest, RequestIdsAreEachUsersOwn) {
  v1::Command create = CreateOrderCommand();
  create.set_request_id("from-crm-1");
  const std::string mine = Run(kAe, create).id();
  const std::string theirs = Run(kAssistant, create).id();
  EXPECT_NE(mine, theirs) << "another user's request id must not answer this one";
  EXPECT_THAT(Reject("nobody", create), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(OrderFlowTest, RepeatedRequestGetsTheSameIdsBack) {
  const std::string order = CreateOrder();
  v1::Command change = FlightChange(order, MakeDate(2026, 12, 2), MakeDate(2026, 12, 20));
  change.set_request_id("flight-1");
  v1::CommandResult first = Run(kAe, change);
  v1::CommandResult again = Run(kAe, change);
  EXPECT_TRUE(again.deduplicated());
  EXPECT_EQ(again.id(), order);
  EXPECT_EQ(again.sub_id(), first.sub_id());
  EXPECT_EQ(again.etag(), first.etag());
}

TEST_F(OrderFlowTest, ConcurrentRetriesOfOneRequestWriteOnce) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "draft"));
  const uint64_t head = store_->Head().position;
  v1::Command approve = Approve(order, "script", 1);
  approve.set_request_id("approve-once");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto result = engine_->Execute({kAe}, approve);
      EXPECT_OK(result.status());
      if (result.ok()) ++ok;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(store_->Head().position, head + 1);
}

TEST_F(OrderFlowTest, AssistantRelaysRequestedChangesButNotAnApproval) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "draft"));
  Run(kAssistant, Forward(order, "script", 1));
  EXPECT_THAT(Reject(kAssistant, ClientAnswer(order, "script", 1, true, "carol")),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("REVISION_APPROVE")));
  EXPECT_THAT(Reject(kProducer, ClientAnswer(order, "script", 1, true, "carol")),
              StatusIs(absl::StatusCode::kPermissionDenied));
  Run(kAe, ClientAnswer(order, "script", 1, true, "carol", "by phone"));
}

TEST_F(OrderFlowTest, ClientContactSeesOnlyWhatWasForwardedToThem) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "internal draft"));
  Run(kAe, RequestChanges(order, "script", 1, "internal: too long"));
  Run(kProducer, Script(order, "client draft"));
  Run(kAe, Forward(order, "script", 2));
  v1::Command comment;
  comment.mutable_add_comment()->set_order_id(order);
  comment.mutable_add_comment()->set_text("internal: margin is thin");
  Run(kAe, comment);
  v1::OrderView seen = Order(order, kClientUser);
  ASSERT_THAT(seen.scripts(), SizeIs(1));
  EXPECT_EQ(seen.scripts(0).text(), "client draft");
  ASSERT_THAT(seen.scripts(0).reviews(), SizeIs(1));
  EXPECT_EQ(seen.scripts(0).reviews(0).kind(), v1::FORWARDED_TO_CLIENT);
  EXPECT_THAT(seen.comments(), SizeIs(0));
  // The states the order went through would tell of internal reviews.
  EXPECT_THAT(seen.status_history(), IsEmpty());
  EXPECT_THAT(Order(order, kAe).status_history(), Not(IsEmpty()));
  EXPECT_THAT(Order(order, kAe).scripts(), SizeIs(2));
  // Nor who in the house opened the order or wrote the revision (the producer).
  EXPECT_EQ(seen.created_by(), "");
  EXPECT_EQ(seen.scripts(0).author(), "");
  EXPECT_EQ(seen.scripts(0).reviews(0).by(), "") << "who forwarded it is the house's too";
  EXPECT_EQ(seen.scripts(0).position(), 0u) << "the house's log";
  EXPECT_EQ(seen.scripts(0).reviews(0).position(), 0u);
  EXPECT_GT(Order(order, kAe).scripts(1).position(), 0u);
  EXPECT_EQ(Order(order, kAe).scripts(1).reviews(0).by(), kAe);
  EXPECT_EQ(Order(order, kAe).scripts(1).author(), kProducer);
  // Their client: the account and their own entry, not the other contacts, who shares it, who
  // owned it or who opened it; the same in a list and as it was.
  Run(kAe, AddContactCommand(client_, "dave", "Dave Client"));
  ASSERT_OK_AND_ASSIGN(v1::ClientView house, engine_->GetClient({kAe}, client_));
  ASSERT_THAT(house.contacts(), SizeIs(2));
  ASSERT_THAT(house.shares(), Not(IsEmpty()));
  ASSERT_OK_AND_ASSIGN(v1::ClientView theirs, engine_->GetClient({kClientUser}, client_));
  EXPECT_EQ(theirs.name(), house.name());
  EXPECT_EQ(theirs.owner_id(), kAe);
  ASSERT_THAT(theirs.contacts(), SizeIs(1));
  EXPECT_EQ(theirs.contacts(0).contact_id(), "carol");
  EXPECT_THAT(theirs.shares(), IsEmpty());
  EXPECT_EQ(theirs.created_by(), "");
  ASSERT_OK_AND_ASSIGN(engine::ListClientsResponse listed, engine_->ListClients({kClientUser}, {}));
  ASSERT_THAT(listed.clients, SizeIs(1));
  EXPECT_THAT(listed.clients[0].contacts(), SizeIs(1));
  EXPECT_THAT(listed.clients[0].shares(), IsEmpty());
  engine::AsOf then;
  then.position = store_->Head().position;
  ASSERT_OK_AND_ASSIGN(v1::ClientView was, engine_->GetClientAsOf({kClientUser}, client_, then));
  EXPECT_THAT(was.contacts(), SizeIs(1));
  EXPECT_THAT(was.shares(), IsEmpty());
  EXPECT_THAT(engine_->ListUsers({kClientUser}, {}), StatusIs(absl::StatusCode::kPermissionDenied));
  // Nor the house's configuration: its roles, item types (whose names every order carries) and
  // workflows (whose names it does not), nor, asked for a state no workflow has, the list of
  // them all.
  EXPECT_EQ(seen.workflow(), "");
  EXPECT_THAT(engine_->ListRoles({kClientUser}, {}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("the house's")));
  EXPECT_THAT(engine_->GetItemType({kClientUser}, seen.item_type()),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(engine_->GetWorkflow({kClientUser}, kProductionOrder, 0),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_OK(engine_->GetWorkflow({kAe}, kProductionOrder, 0).status());
  ListOrdersRequest typo;
  typo.statuses = {"script_reveiw"};
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse none, engine_->ListOrders({kClientUser}, typo));
  EXPECT_THAT(none.orders, IsEmpty());  // As a state no order of theirs is in would.
  // The status as it is shown to them, by its title, in any case.
  ListOrdersRequest by_title;
  by_title.statuses = {"SCRIPT WITH THE CLIENT"};
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse titled, engine_->ListOrders({kClientUser}, by_title));
  ASSERT_EQ(titled.orders.size(), 1u);
  EXPECT_EQ(titled.orders[0].status(), "script_client_review");
  // The house too: by the title order show prints it by, as by the name.
  ASSERT_OK_AND_ASSIGN(ListOrdersResponse staff, engine_->ListOrders({kAe}, by_title));
  ASSERT_EQ(staff.orders.size(), 1u);
  EXPECT_EQ(staff.orders[0].status(), "script_client_review");
  EXPECT_THAT(engine_->ListOrders({kAe}, typo).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("awaiting_script")));
  EXPECT_THAT(engine_->GetUser({kClientUser}, kAe), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_OK(engine_->GetUser({kClientUser}, kClientUser).status());
  // No id: whom the caller's token speaks for, contact or staff.
  ASSERT_OK_AND_ASSIGN(v1::UserView me, engine_->GetUser({kClientUser}, ""));
  EXPECT_EQ(me.user_id(), kClientUser);
  EXPECT_EQ(me.client_id(), client_);
  ASSERT_OK_AND_ASSIGN(v1::UserView ae, engine_->GetUser({kAe}, ""));
  EXPECT_EQ(ae.user_id(), kAe);
  EXPECT_THAT(engine_->GetUser({"nobody"}, ""), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(OrderFlowTest, StaffRolesGoOnlyToStaff) {
  const std::string order = CreateOrder();
  v1::Command share;
  share.mutable_share_order()->set_order_id(order);
  share.mutable_share_order()->set_user_id(kClientUser);
  EXPECT_THAT(Reject(kAe, share),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("client contact")));
  v1::Command assign;
  assign.mutable_assign_producer()->set_order_id(order);
  assign.mutable_assign_producer()->set_user_id(kAe2);
  EXPECT_THAT(Reject(kAe, assign),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a producer")));
  v1::Command owner = CreateOrderCommand();
  owner.mutable_create_order()->set_owner_id(kClientUser);
  EXPECT_THAT(Reject(kManager, owner), StatusIs(absl::StatusCode::kInvalidArgument));
  // A producer takes an order nobody has; taking one from another producer is not theirs to do.
  AddUser("producer2", kProducer);
  v1::Command take;
  take.mutable_assign_producer()->set_order_id(order);
  take.mutable_assign_producer()->set_user_id(kProducer);
  Run(kProducer, take);
  take.mutable_assign_producer()->set_user_id("producer2");
  EXPECT_THAT(Reject("producer2", take), StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(OrderFlowTest, UsersAreNamedByTheirAdministratorAndNotTwiceInAnyCase) {
  v1::Command create;
  create.mutable_create_user()->set_display_name("Bob");
  create.mutable_create_user()->add_roles(engine::kProducer);
  EXPECT_THAT(Reject(kAdmin, create),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user_id is required")));
  create.mutable_create_user()->set_user_id("bob");
  Run(kAdmin, create);
  create.mutable_create_user()->set_user_id("Bob");
  EXPECT_THAT(Reject(kAdmin, create),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("user \"bob\" already exists; \"Bob\" differs only in case")));
  // Nor is a client contact anyone's manager.
  create.mutable_create_user()->set_user_id("robert");
  create.mutable_create_user()->set_manager_id(kClientUser);
  EXPECT_THAT(Reject(kAdmin, create),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a client contact")));
  v1::Command manager;
  manager.mutable_set_user_manager()->set_user_id(kAe);
  manager.mutable_set_user_manager()->set_manager_id(kClientUser);
  EXPECT_THAT(Reject(kAdmin, manager),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a client contact")));
}

TEST_F(OrderFlowTest, AClientContactsLoginHoldsOnlyClientRolesAndEndsWithItsContact) {
  // A login tied to a contact cannot be given staff rights: with them it would manage its
  // company's orders and client record as if it owned them.
  v1::Command staff_login;
  v1::CreateUser* user = staff_login.mutable_create_user();
  user->set_user_id("dan");
  user->set_display_name("Dan");
  user->add_roles(engine::kAccountExecutive);
  user->set_client_id(client_);
  user->set_contact_id("carol");
  EXPECT_THAT(Reject(kAdmin, staff_login),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("grants ORDER_MANAGE"), HasSubstr("client_contact"))));
  v1::Command promote;
  promote.mutable_set_user_roles()->set_user_id(kClientUser);
  promote.mutable_set_user_roles()->add_roles(engine::kClientContact);
  promote.mutable_set_user_roles()->add_roles(engine::kProducer);
  EXPECT_THAT(Reject(kAdmin, promote),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("grants ORDER_VIEW (ALL)")));
  // Answering as the client is the client's: a staff login cannot hold it.
  v1::Command answerer;
  answerer.mutable_create_user()->set_user_id("bill");
  answerer.mutable_create_user()->set_display_name("Bill");
  answerer.mutable_create_user()->add_roles(engine::kClientContact);
  EXPECT_THAT(Reject(kAdmin, answerer),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CLIENT_ANSWER")));
  promote.mutable_set_user_roles()->set_user_id(kAe);
  promote.mutable_set_user_roles()->clear_roles();
  promote.mutable_set_user_roles()->add_roles(engine::kAccountExecutive);
  promote.mutable_set_user_roles()->add_roles(engine::kClientContact);
  EXPECT_THAT(Reject(kAdmin, promote),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CLIENT_ANSWER")));
  // Nor can the client contact role be redefined to grant more than a client may have.
  v1::Command widen;
  *widen.mutable_define_role()->mutable_definition() = RoleDefinition(engine::kClientContact);
  v1::Grant* more = widen.mutable_define_role()->mutable_definition()->add_grants();
  more->set_privilege(v1::ORDER_MANAGE);
  more->set_scope(v1::OWN);
  EXPECT_THAT(Reject(kAdmin, widen), StatusIs(absl::StatusCode::kFailedPrecondition,
                                              HasSubstr("is a client contact's login")));

  // Removing the contact ends its login in the same change; it comes back only with it.
  const std::string order = CreateOrder();
  ASSERT_OK(engine_->GetOrder({kClientUser}, order).status());
  v1::Command remove;
  remove.mutable_remove_contact()->set_client_id(client_);
  remove.mutable_remove_contact()->set_contact_id("carol");
  // Not unless the caller says the login ends too: refused, writing nothing.
  EXPECT_THAT(Reject(kAe, remove),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(absl::StrCat("has the login ", kClientUser,
                                                    ", which ends with the contact")),
                             HasSubstr("(end_login; spotflow contact remove"))));
  EXPECT_THAT(Reject(kAe, remove),
              HasErrorInfo("END_LOGIN_REQUIRED", ElementsAre(Pair("logins", kClientUser))));
  remove.mutable_remove_contact()->set_end_login(true);
  v1::CommandResult removed = Run(kAe, remove);
  EXPECT_THAT(removed.streams(), SizeIs(2)) << "the client and the login";
  EXPECT_THAT(engine_->GetOrder({kClientUser}, order),
              StatusIs(absl::StatusCode::kPermissionDenied));
  v1::Command reactivate;
  reactivate.mutable_reactivate_user()->set_user_id(kClientUser);
  EXPECT_THAT(Reject(kAdmin, reactivate),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no longer on record")));
  Run(kAe, AddContactCommand(client_, "carol", "Carol Client"));
  Run(kAdmin, reactivate);
  EXPECT_OK(engine_->GetOrder({kClientUser}, order).status());
}

TEST_F(OrderFlowTest, AnswersComeFromContactsOnRecordAndLoginsEndWithTheirClient) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "Draft"));
  Run(kAe, Forward(order, "script", 1));
  v1::Command remove;
  remove.mutable_remove_contact()->set_client_id(client_);
  remove.mutable_remove_contact()->set_contact_id("carol");
  remove.mutable_remove_contact()->set_end_login(true);
  // The script waits for carol's answer: removing her would leave it waiting for no one.
  EXPECT_THAT(Reject(kAe, remove),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("\"carol\" has not answered on script revision 1"),
                             HasSubstr("forward it to another contact"))));
  // Archived, it still waits: it may be restored.
  Run(kAe, OrderOnly(order, "archive"));
  EXPECT_THAT(Reject(kAe, remove),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has not answered")));
  Run(kAe, OrderOnly(order, "restore"));
  // Sent on to another contact, it waits for them; then carol may go.
  Run(kAe, AddContactCommand(client_, "dan", "Dan Client"));
  v1::Command to_dan = Forward(order, "script", 1);
  to_dan.mutable_forward_to_client()->set_contact_id("dan");
  Run(kAe, to_dan);
  EXPECT_EQ(engine_->GetOrder({kAe}, order)->status(), "script_client_review");
  Run(kAe, remove);
  EXPECT_THAT(Reject(kAe, ClientAnswer(order, "script", 1, true, "carol", "")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no longer on record")));
  Run(kAe, ClientAnswer(order, "script", 1, true, "dan", "fine"));
  EXPECT_EQ(engine_->GetOrder({kAe}, order)->status(), "awaiting_spot");

  // Deleting a client ends its contacts' logins too.
  Run(kAe2, CreateClientCommand("globex", "Globex"));
  Run(kAe2, AddContactCommand("globex", "gus", "Gus"));
  v1::Command login;
  login.mutable_create_user()->set_user_id("gus_login");
  login.mutable_create_user()->set_display_name("Gus");
  login.mutable_create_user()->add_roles(engine::kClientContact);
  login.mutable_create_user()->set_client_id("globex");
  login.mutable_create_user()->set_contact_id("gus");
  Run(kAdmin, login);
  v1::Command remove_client;
  remove_client.mutable_delete_client()->set_client_id("globex");
  Run(kManager, remove_client);
  ASSERT_OK_AND_ASSIGN(v1::UserView gone, engine_->GetUser({kAdmin}, "gus_login"));
  EXPECT_FALSE(gone.active());
}

TEST_F(OrderFlowTest, OrdersAreNamedByIdOrKeyAndAnIdCannotBeAnotherOrdersKey) {
  const v1::CommandResult first = Run(kAe, CreateOrderCommand());
  // A command names the order by its key as well as by its id, its etag checked the same.
  v1::Command comment;
  comment.mutable_add_comment()->set_order_id(first.key());
  comment.mutable_add_comment()->set_text("By its PO number");
  comment.set_etag(first.etag() + 1);
  EXPECT_THAT(Reject(kAe, comment), StatusIs(absl::StatusCode::kAborted));
  comment.set_etag(first.etag());
  EXPECT_EQ(Run(kAe, comment).id(), first.id());
  EXPECT_EQ(Order(first.id()).comments(0).text(), "By its PO number");

  v1::Command clash = CreateOrderCommand();
  clash.mutable_create_order()->set_order_id(first.key());
  EXPECT_THAT(Reject(kAe, clash), StatusIs(absl::StatusCode::kAlreadyExists,
                                           HasSubstr("is an order's key; choose another id")));
  ASSERT_OK_AND_ASSIGN(std::vector<v1::Change> history,
                       engine_->OrderHistory({kAuditor}, first.key()));
  EXPECT_EQ(history.front().type(), "spotflow.v1.OrderCreated") << "history by key";
}

TEST_F(OrderFlowTest, TheHouseAlwaysKeepsAnAdministrator) {
  v1::Command drop;
  drop.mutable_set_user_roles()->set_user_id(kAdmin);
  drop.mutable_set_user_roles()->add_roles(engine::kAuditor);
  EXPECT_THAT(Reject(kAdmin, drop), StatusIs(absl::StatusCode::kFailedPrecondition,
                                             HasSubstr("would leave no active administrator")));
  v1::Command strip;
  *strip.mutable_define_role()->mutable_definition() = RoleDefinition(engine::kAdmin);
  strip.mutable_define_role()->mutable_definition()->clear_grants();
  v1::Grant* view = strip.mutable_define_role()->mutable_definition()->add_grants();
  view->set_privilege(v1::ORDER_VIEW);
  view->set_scope(v1::ALL);
  EXPECT_THAT(Reject(kAdmin, strip), StatusIs(absl::StatusCode::kFailedPrecondition,
                                              HasSubstr("would leave no active administrator")));
  // With a second administrator, the first may step down.
  AddUser("ada2", engine::kAdmin);
  Run(kAdmin, drop);
  EXPECT_THAT(Reject(kAdmin, drop), StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST_F(OrderFlowTest, AdministratorsSteppingDownAtOnceLeaveOneOfThem) {
  // Commands whose rules look across users take turns: decided at the same moment, each
  // would see the others still administering and all would step down.
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> admins = {kAdmin};
    for (int i = 0; i < 3; ++i) {
      admins.push_back(absl::StrCat("ada", round, "_", i));
      AddUser(admins.back(), engine::kAdmin);
    }
    absl::Mutex mu;
    int stepped_down = 0, refused = 0;
    absl::BlockingCounter answered(static_cast<int>(admins.size()));
    for (const std::string& admin : admins) {
      v1::Command drop;
      drop.mutable_set_user_roles()->set_user_id(admin);
      drop.mutable_set_user_roles()->add_roles(engine::kAuditor);
      engine_->ExecuteAsync({admin}, drop, [&](absl::StatusOr<v1::CommandResult> result) {
        {
          absl::MutexLock lock(&mu);
          if (result.ok()) {
            ++stepped_down;
          } else {
            EXPECT_THAT(result.status(), StatusIs(absl::StatusCode::kFailedPrecondition))
                << "or PERMISSION_DENIED once it no longer administers";
            ++refused;
          }
        }
        answered.DecrementCount();
      });
    }
    answered.Wait();
    EXPECT_EQ(stepped_down, static_cast<int>(admins.size()) - 1) << "round " << round;
    EXPECT_EQ(refused, 1);
    // The one left hands the role back to the original administrator for the next round.
    std::string left;
    for (const std::string& admin : admins) {
      absl::StatusOr<v1::UserView> user = engine_->GetUser({admin}, admin);
      if (user.ok() && std::find(user->roles().begin(), user->roles().end(), engine::kAdmin) !=
                           user->roles().end()) {
        left = admin;
      }
    }
    ASSERT_FALSE(left.empty()) << "no administrator left in round " << round;
    if (left != kAdmin) {
      v1::Command back;
      back.mutable_set_user_roles()->set_user_id(kAdmin);
      back.mutable_set_user_roles()->add_roles(engine::kAdmin);
      Run(left, back);
      v1::Command down;
      down.mutable_set_user_roles()->set_user_id(left);
      down.mutable_set_user_roles()->add_roles(engine::kAuditor);
      Run(left, down);
    }
  }
}

TEST_F(OrderFlowTest, AccountsGoOnlyToStaffWhoCanManageClients) {
  CreateOrder();
  for (const char* to : {kClientUser, kAuditor, kProducer}) {
    v1::Command reassign;
    reassign.mutable_reassign_accounts()->set_from_owner(kAe);
    reassign.mutable_reassign_accounts()->set_to_owner(to);
    EXPECT_THAT(Reject(kManager, reassign), StatusIs(absl::StatusCode::kInvalidArgument)) << to;
  }
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
  Run(kManager, reassign);
}

TEST_F(OrderFlowTest, StaleEtagIsAbortedAndWritesNothing) {
  const std::string order = CreateOrder();
  v1::Command update;
  update.mutable_update_order()->set_order_id(order);
  update.mutable_update_order()->set_title("New title");
  update.set_etag(1);
  EXPECT_EQ(Run(kAe, update).etag(), 2u);
  update.mutable_update_order()->set_title("Newer title");
  EXPECT_THAT(Reject(kAe, update), StatusIs(absl::StatusCode::kAborted, HasSubstr("version 2")));
  update.set_etag(2);
  EXPECT_EQ(Run(kAe, update).etag(), 3u);
  // Stale comes first: the caller must read again before anything else is worth saying.
  Run(kProducer, Script(order, "draft"));
  Run(kAe, Approve(order, "script", 1));
  v1::Command approve = Approve(order, "script", 1);
  approve.set_etag(4);
  // The order is named by its key, as people quote it.
  const std::string key = Order(order).key();
  EXPECT_THAT(Reject(kAe, approve),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("etag 4 does not match: order " + key +
                                                             " is at version 5 "
                                                             "(it changed since you read it)")));
  approve.set_etag(99);  // Not from the past: no "it changed" story, just what it is.
  EXPECT_THAT(Reject(kAe, approve), StatusIs(absl::StatusCode::kAborted,
                                             HasSubstr("etag 99 does not match: order " + key +
                                                       " is at version 5; read it again")));
  // For programs: the etag given and the current one.
  EXPECT_THAT(Reject(kAe, approve),
              HasErrorInfo("ETAG_MISMATCH",
                           UnorderedElementsAre(Pair("etag", "99"), Pair("current_etag", "5"))));
  // A create names no version to be at: the current one is 0, nothing yet.
  v1::Command create = CreateOrderCommand();
  create.set_etag(3);
  EXPECT_THAT(
      Reject(kAe, create),
      AllOf(StatusIs(absl::StatusCode::kAborted, HasSubstr("a create takes no etag")),
            HasErrorInfo("ETAG_MISMATCH",
                         UnorderedElementsAre(Pair("etag", "3"), Pair("current_etag", "0")))));
}

// Seed 003: the personal manager of a client follows its orders, whichever order manager
// works them; whose account an order is on is told only to one who sees the account, or was
// handed the order.
TEST_F(OrderFlowTest, OrdersAreListedByTheirAccountsOwner) {
  const std::string kept = CreateOrder();
  const std::string handed = CreateOrder();
  v1::Command hand;
  hand.mutable_reassign_orders()->add_order_ids(handed);
  hand.mutable_reassign_orders()->set_to_owner(kAe2);
  Run(kManager, hand);
  Run(kAe2, CreateClientCommand("hooli", "Hooli"));
  v1::Command other = CreateOrderCommand();
  other.mutable_create_order()->set_client_id("hooli");
  const std::string theirs = Run(kAe2, other).id();
  const auto ids = [&](const std::string& user, ListOrdersRequest request) {
    std::vector<std::string> out;
    do {
      auto page = engine_->ListOrders({user}, request);
      EXPECT_OK(page.status());
      if (!page.ok()) break;
      for (const v1::OrderView& o : page->orders) out.push_back(o.order_id());
      request.page_token = page->next_page_token;
    } while (!request.page_token.empty());
    return out;
  };
  ListOrdersRequest on_aes;
  on_aes.account_owner_id = kAe;
  on_aes.page_size = 1;  // Page by page, the filter kept.
  EXPECT_THAT(ids(kManager, on_aes), ElementsAre(kept, handed));
  ListOrdersRequest owned_by_ae;
  owned_by_ae.owner_id = kAe;
  EXPECT_THAT(ids(kManager, owned_by_ae), ElementsAre(kept));
  // ae2 works the handed order, though acme is not theirs to see: told whose it is, as they
  // are told its contacts (seed 003's order manager, beside the personal manager).
  ASSERT_OK(engine_->GetOrder({kAe2}, handed).status());
  EXPECT_THAT(ids(kAe2, on_aes), ElementsAre(handed));
  ListOrdersRequest on_ae2s;
  on_ae2s.account_owner_id = kAe2;
  EXPECT_THAT(ids(kAe2, on_ae2s), ElementsAre(theirs));
  on_ae2s.owner_id = kAe;  // Both filters: neither of ae2's accounts' orders is ae's.
  EXPECT_THAT(ids(kManager, on_ae2s), ElementsAre());
  // A user who is not there is a typo: NOT_FOUND, as for the other filters. A client's login
  // names its own account's owner, and knows of no one else.
  ListOrdersRequest typo;
  typo.account_owner_id = "nobody";
  EXPECT_THAT(engine_->ListOrders({kManager}, typo),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("to filter by accounts' owner")));
  EXPECT_THAT(ids(kClientUser, on_aes), ElementsAre(kept, handed));
  on_ae2s.owner_id.clear();
  EXPECT_THAT(engine_->ListOrders({kClientUser}, on_ae2s), StatusIs(absl::StatusCode::kNotFound));
}

// Seed 001: a client submits requests through its own login, when its role lets it; each is
// an order like another, its account owner's, of its own company only.
TEST_F(OrderFlowTest, AClientRequesterSubmitsRequestsForItsOwnCompany) {
  v1::Command request = CreateOrderCommand();
  request.mutable_create_order()->clear_client_id();  // Its own company's, unsaid.
  const absl::Status not_yet = Reject(kClientUser, request);
  EXPECT_THAT(not_yet,
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("speaks for client \"" + client_ +
                                 "\" and may not submit requests; ask your account's owner to "
                                 "have this login given the client_requester role")));
  EXPECT_THAT(not_yet.message(), ::testing::Not(HasSubstr("REQUEST_SUBMIT")))
      << "the house's privileges are not the client's to know";
  EXPECT_THAT(engine_->GetItemType({kClientUser}, engine::kProductionOrder),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("the house's")));
  MakeClientRequester();
  // It reads the form it fills in; how the house works the request stays the house's.
  absl::StatusOr<v1::ItemTypeDefinition> form =
      engine_->GetItemType({kClientUser}, engine::kProductionOrder);
  ASSERT_OK(form.status());
  const v1::ItemTypeDefinition whole = *engine_->GetItemType({kAdmin}, engine::kProductionOrder);
  EXPECT_EQ(form->fields_size(), whole.fields_size());
  EXPECT_GT(form->fields_size(), 0);
  EXPECT_TRUE(form->facets().schedule());
  EXPECT_EQ(form->title(), whole.title());
  EXPECT_EQ(form->workflow(), "");
  EXPECT_EQ(form->key_format(), "");
  EXPECT_THAT(engine_->GetItemType({kClientUser}, "nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("`spotflow type list`")));
  EXPECT_THAT(engine_->GetWorkflow({kClientUser}, engine::kProductionOrder, 0),
              StatusIs(absl::StatusCode::kPermissionDenied));
  const std::string id = Run(kClientUser, request).id();
  const v1::OrderView made = Order(id);
  EXPECT_EQ(made.client_id(), client_);
  EXPECT_EQ(made.owner_id(), kAe) << "the account owner's, like any order";
  EXPECT_EQ(made.created_by(), kClientUser);
  EXPECT_EQ(made.status(), "awaiting_script");
  auto theirs = engine_->GetOrder({kClientUser}, id);
  ASSERT_OK(theirs.status());
  EXPECT_EQ(theirs->shown_to_contact(), "carol");
  // What it wrote on its own request it reads back; not the house's on the house's orders.
  EXPECT_EQ(theirs->instructions(), made.instructions());
  EXPECT_FALSE(made.instructions().empty());
  EXPECT_EQ(theirs->created_by(), kClientUser);
  auto houses = engine_->GetOrder({kClientUser}, CreateOrder());
  ASSERT_OK(houses.status());
  EXPECT_EQ(houses->instructions(), "");
  EXPECT_EQ(houses->created_by(), "");
  // Another company's account is not there for it; nor does it choose the owner; nor may it
  // change the order once made (that is the house's).
  Run(kAe2, CreateClientCommand("globex", "Globex"));
  v1::Command elsewhere = CreateOrderCommand();
  elsewhere.mutable_create_order()->set_client_id("globex");
  EXPECT_THAT(Reject(kClientUser, elsewhere), StatusIs(absl::StatusCode::kNotFound));
  v1::Command owned = CreateOrderCommand();
  owned.mutable_create_order()->set_owner_id(kAe2);
  EXPECT_THAT(Reject(kClientUser, owned),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leave owner_id out")));
  v1::Command named = CreateOrderCommand();
  named.mutable_create_order()->set_order_id(id);  // An id: would tell what exists.
  EXPECT_THAT(Reject(kClientUser, named),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leave order_id out")));
  // What the house's setup refuses is told as the house's to mend, not how it is set up.
  v1::Command away;
  away.mutable_deactivate_user()->set_user_id(kAe);
  Run(kAdmin, away);
  const absl::Status unowned = Reject(kClientUser, request);
  EXPECT_THAT(unowned, StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("ask your account's owner")));
  EXPECT_THAT(unowned.message(), ::testing::Not(HasSubstr("ReassignAccounts")));
  v1::Command back;
  back.mutable_reactivate_user()->set_user_id(kAe);
  Run(kAdmin, back);
  v1::Command rename;
  rename.mutable_update_order()->set_order_id(id);
  rename.mutable_update_order()->set_title("Mine now");
  EXPECT_THAT(Reject(kClientUser, rename),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("that is the house's to do: ask your account's owner")));
  // The house may edit what it wrote; it then reads as changed, not as the client's words.
  EXPECT_FALSE(engine_->GetOrder({kClientUser}, id)->instructions_revised());
  v1::Command retitle;
  retitle.mutable_update_order()->set_order_id(id);
  retitle.mutable_update_order()->set_title("Spring promo (radio)");
  Run(kAe, retitle);
  EXPECT_FALSE(engine_->GetOrder({kClientUser}, id)->instructions_revised()) << "title only";
  v1::Command edit;
  edit.mutable_update_order()->set_order_id(id);
  edit.mutable_update_order()->set_instructions("Two spots, not one");
  Run(kAe, edit);
  ASSERT_OK_AND_ASSIGN(v1::OrderView edited, engine_->GetOrder({kClientUser}, id));
  EXPECT_EQ(edited.instructions(), "Two spots, not one");
  EXPECT_TRUE(edited.instructions_revised());
  // Asking as the client is a client's login's alone.
  v1::Command staff;
  staff.mutable_set_user_roles()->set_user_id(kAe);
  staff.mutable_set_user_roles()->add_roles(engine::kClientRequester);
  EXPECT_THAT(Reject(kAdmin, staff),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is staff")));
}

// Seed 002: the house denies a request, or does it, "and sends feedback to the requestor".
TEST_F(OrderFlowTest, AClientRequesterReadsWhatTheHouseSaidWhenItFinishedItsRequest) {
  MakeClientRequester();
  v1::Command request = CreateOrderCommand();
  request.mutable_create_order()->clear_client_id();
  const std::string mine = Run(kClientUser, request).id();
  const std::string houses = CreateOrder();
  for (const std::string& order : {mine, houses}) {
    ApproveScriptAndSpot(order, "s3://spot");
    v1::Command comment;
    comment.mutable_add_comment()->set_order_id(order);
    comment.mutable_add_comment()->set_text("Talent booked");
    Run(kAe, comment);
  }
  ASSERT_OK_AND_ASSIGN(v1::OrderView underway, engine_->GetOrder({kClientUser}, mine));
  EXPECT_THAT(underway.actions(), IsEmpty()) << "the house's work on it is the house's";
  for (const std::string& order : {mine, houses}) {
    v1::Command deliver = Action(order, "deliver");
    deliver.mutable_perform_action()->set_comment("Airs from Monday on all stations");
    Run(kProducer, deliver);
  }
  ASSERT_OK_AND_ASSIGN(v1::OrderView done, engine_->GetOrder({kClientUser}, mine));
  ASSERT_EQ(done.actions_size(), 1);
  EXPECT_EQ(done.actions(0).action(), "deliver");
  EXPECT_EQ(done.actions(0).to_status(), "completed");
  EXPECT_EQ(done.actions(0).comment(), "Airs from Monday on all stations");
  EXPECT_EQ(done.actions(0).by(), "") << "who in the house took it is the house's";
  EXPECT_EQ(done.actions(0).from_status(), "") << "the house's internal state";
  EXPECT_EQ(done.actions(0).position(), 0u) << "the house's log";
  EXPECT_THAT(done.comments(), IsEmpty());
  ASSERT_OK_AND_ASSIGN(v1::OrderView theirs, engine_->GetOrder({kClientUser}, houses));
  EXPECT_THAT(theirs.actions(), IsEmpty()) << "not its request";
  // The states a production order went through would tell of the house's reviews of its
  // revisions: not shown, its own request's either.
  EXPECT_THAT(done.status_history(), IsEmpty());
  EXPECT_THAT(theirs.status_history(), IsEmpty());
  // Archived and restored, it still reads what finished it.
  Run(kAe, OrderOnly(mine, "archive"));
  Run(kAe, OrderOnly(mine, "restore"));
  ASSERT_OK_AND_ASSIGN(done, engine_->GetOrder({kClientUser}, mine));
  ASSERT_EQ(done.actions_size(), 1);
  EXPECT_EQ(done.actions(0).comment(), "Airs from Monday on all stations");

  // A workflow that reopens a finished order, and finishes it when the client approves a
  // spot: what finished it last is the client's answer, and the earlier word is not shown as
  // if it were.
  v1::Command publish;
  v1::WorkflowDefinition* workflow = publish.mutable_publish_workflow()->mutable_definition();
  *workflow = ProductionOrderWorkflow();
  for (v1::Transition& t : *workflow->mutable_transitions()) {
    if (t.from() == "spot_client_review" && t.action() == "client_approve_spot") {
      t.set_to("completed");
    }
  }
  v1::Transition* reopen = workflow->add_transitions();
  reopen->set_from("completed");
  reopen->set_action("reopen");
  reopen->set_to("awaiting_spot");
  reopen->set_privilege(v1::REVISION_APPROVE);
  Run(kAdmin, publish);
  const std::string again = Run(kClientUser, request).id();
  Run(kProducer, Script(again, "Draft"));
  Run(kAe, Approve(again, "script", 1));
  Run(kProducer, Spot(again, "s3://spot/1"));
  Run(kAe, Approve(again, "spot", 1));
  v1::Command deliver = Action(again, "deliver");
  deliver.mutable_perform_action()->set_comment("First cut delivered");
  Run(kProducer, deliver);
  // Reopening is open to the AE, but a finished order waits for no one: not in a queue.
  ASSERT_OK_AND_ASSIGN(v1::OrderView finished, engine_->GetOrder({kAe}, again));
  EXPECT_THAT(finished.open_actions(), ElementsAre("reopen"));
  EXPECT_FALSE(Queued(kAe, again));
  Run(kAe, Action(again, "reopen"));
  EXPECT_TRUE(Queued(kProducer, again)) << "open again: a spot to record";
  Run(kProducer, Spot(again, "s3://spot/2"));
  Run(kAe, Forward(again, "spot", 2));
  Run(kClientUser, ClientAnswer(again, "spot", 2, true));
  ASSERT_EQ(Order(again).status(), "completed");
  ASSERT_OK_AND_ASSIGN(v1::OrderView reapproved, engine_->GetOrder({kClientUser}, again));
  EXPECT_THAT(reapproved.actions(), IsEmpty()) << "no action finished it this time";
}

// Seed 001: "comment on a request"; the house tells the client how its request goes, and the
// client answers, while the house's own notes stay the house's.
TEST_F(OrderFlowTest, CommentsForTheClientAreReadByItsLoginsAndTheRestStayTheHouses) {
  MakeClientRequester();
  v1::Command request = CreateOrderCommand();
  request.mutable_create_order()->clear_client_id();
  const std::string mine = Run(kClientUser, request).id();
  const auto comment = [&](const std::string& order, const std::string& text, bool for_client) {
    v1::Command c;
    c.mutable_add_comment()->set_order_id(order);
    c.mutable_add_comment()->set_text(text);
    c.mutable_add_comment()->set_for_client(for_client);
    return c;
  };
  Run(kAe, comment(mine, "internal: margin is thin", false));
  Run(kAe, comment(mine, "Assigned to our design team, ETA Friday", true));
  Run(kManager, comment(mine, "Approved budget", true));
  Run(kClientUser, comment(mine, "Thanks! Logo attached by mail", false));
  ASSERT_OK_AND_ASSIGN(v1::OrderView seen, engine_->GetOrder({kClientUser}, mine));
  ASSERT_EQ(seen.comments_size(), 3);
  EXPECT_EQ(seen.comments(0).text(), "Assigned to our design team, ETA Friday");
  EXPECT_EQ(seen.comments(0).author(), kAe) << "the order's owner, whom it knows";
  EXPECT_EQ(seen.comments(1).author(), "") << "the house's other people are the house's";
  EXPECT_EQ(seen.comments(2).author(), kClientUser);
  EXPECT_TRUE(seen.comments(2).for_client()) << "a client's comment is always for the client";
  EXPECT_TRUE(seen.comments(2).by_client());
  EXPECT_EQ(Order(mine).comments_size(), 4) << "the house reads all";
  // Its comments have a room of their own: never the order the house works in.
  EXPECT_THAT(Reject(kClientUser, comment(mine, std::string(5000, 'x'), false)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 4096")));
  for (int i = 0; i < 16; ++i) Run(kClientUser, comment(mine, std::string(4000, 'y'), false));
  const absl::Status full = Reject(kClientUser, comment(mine, std::string(4000, 'z'), false));
  EXPECT_THAT(full, StatusIs(absl::StatusCode::kFailedPrecondition,
                             HasSubstr("the most a client's comments on one request may")));
  Run(kAe, comment(mine, "The house still may", true));
  // Not on the house's orders, nor for a client an order has none of.
  const std::string houses = CreateOrder();
  EXPECT_THAT(Reject(kClientUser, comment(houses, "Me too", true)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("comments only on the requests it submitted")));
  Run(kAe, OrderOnly(mine, "archive"));
  EXPECT_THAT(Reject(kClientUser, comment(mine, "Still there?", false)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is archived; ask your account's owner to reopen it")));
  DefineSpotsOnlyType("house_promo", "HP-{seq:3}", /*client_link=*/false);
  v1::Command promo = CreateOrderCommand(v1::PROVIDED);
  promo.mutable_create_order()->set_item_type("house_promo");
  promo.mutable_create_order()->clear_client_id();
  promo.mutable_create_order()->clear_flight_start();
  promo.mutable_create_order()->clear_flight_end();
  const std::string own = Run(kAe, promo).id();
  EXPECT_THAT(Reject(kAe, comment(own, "Hello client", true)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("belongs to no client")));
  Run(kAe, comment(own, "Note to self", false));
}

// Seed 002's marketing manager looks at the requests apart from production orders.
TEST_F(OrderFlowTest, OrdersAreListedByItemType) {
  v1::ItemTypeDefinition type = *engine_->GetItemType({kAdmin}, engine::kProductionOrder);
  type.set_name("creative");
  type.set_key_format("CR-{seq:3}");
  type.set_version(0);
  v1::Command define;
  *define.mutable_define_item_type()->mutable_definition() = type;
  Run(kAdmin, define);
  const std::string production = CreateOrder();
  v1::Command creative = CreateOrderCommand();
  creative.mutable_create_order()->set_item_type("creative");
  const std::string request = Run(kAe, creative).id();
  ListOrdersRequest of_type;
  of_type.item_type = "creative";
  auto listed = engine_->ListOrders({kAe}, of_type);
  ASSERT_OK(listed.status());
  ASSERT_EQ(listed->orders.size(), 1u);
  EXPECT_EQ(listed->orders[0].order_id(), request);
  of_type.item_type = engine::kProductionOrder;
  listed = engine_->ListOrders({kAe}, of_type);
  ASSERT_OK(listed.status());
  ASSERT_EQ(listed->orders.size(), 1u);
  EXPECT_EQ(listed->orders[0].order_id(), production);
  // A type no one defined is a typo to the house; to a client's login it matches nothing.
  of_type.item_type = "creatve";
  EXPECT_THAT(engine_->ListOrders({kAe}, of_type),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("there is no item type \"creatve\" to filter by; did you mean "
                                 "\"creative\"?; the item types are: creative, production_order")));
  listed = engine_->ListOrders({kClientUser}, of_type);
  ASSERT_OK(listed.status());
  EXPECT_TRUE(listed->orders.empty());
}

// A client contact may not read workflows, yet consults the status of its requests (seed
// 001): every view of an order carries its status's title from the order's workflow version.
TEST_F(OrderFlowTest, AnOrderIsShownWithItsStatusTitle) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "One"));
  const uint64_t reviewed = store_->Head().position;
  Run(kAe, Forward(order, "script", 1));
  for (const char* user : {kAe, kClientUser}) {
    auto shown = engine_->GetOrder({user}, order);
    ASSERT_OK(shown.status());
    EXPECT_EQ(shown->status(), "script_client_review");
    EXPECT_EQ(shown->status_title(), "Script with the client") << user;
    ListOrdersRequest mine;
    mine.client_id = client_;
    auto listed = engine_->ListOrders({user}, mine);
    ASSERT_OK(listed.status());
    ASSERT_EQ(listed->orders.size(), 1u);
    EXPECT_EQ(listed->orders[0].status_title(), "Script with the client") << user;
  }
  AsOf then;
  then.position = reviewed;
  auto before = engine_->GetOrderAsOf({kAe}, order, then);
  ASSERT_OK(before.status());
  EXPECT_EQ(before->status_title(), "Script in review");
  // A view, not the state: snapshots and digests do not hold it.
  const v1::EngineState state = engine_->State();
  ASSERT_GT(state.orders_size(), 0);
  for (const v1::OrderView& o : state.orders()) EXPECT_EQ(o.status_title(), "");
}

TEST_F(OrderFlowTest, AContactAnsweringARevisedScriptIsNotToldOfRevisionsNotSentToThem) {
  Run(kAe, AddContactCommand(client_, "dave", "Dave Client"));
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "One"));
  Run(kAe, Forward(order, "script", 1));
  Run(kClientUser, ClientAnswer(order, "script", 1, false, "", "Shorter"));
  Run(kProducer, Script(order, "Two"));
  Run(kProducer, Script(order, "Three"));
  Run(kAe, Forward(order, "script", 3, "dave"));
  absl::Status refused = Reject(kClientUser, ClientAnswer(order, "script", 1, true));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("no longer waits for your answer")));
  EXPECT_THAT(refused.message(), AllOf(Not(HasSubstr("superseded")), Not(HasSubstr("revision 3")),
                                       Not(HasSubstr("revision 2"))));
  // The house hears which revision to review instead.
  EXPECT_THAT(
      Reject(kAe, ClientAnswer(order, "script", 1, true, "carol")),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("superseded by revision 3")));
}

TEST_F(OrderFlowTest, APageOfOrdersStaysUnderTwoMegabytes) {
  // Three orders of about 900 kB each (comments up to the 1 MiB an order may hold).
  std::vector<std::string> orders;
  for (int i = 0; i < 3; ++i) {
    orders.push_back(CreateOrder());
    v1::Command comment;
    comment.mutable_add_comment()->set_order_id(orders.back());
    comment.mutable_add_comment()->set_text(std::string(60 * 1024, 'x'));
    for (int c = 0; c < 15; ++c) Run(kAe, comment);
  }
  for (const bool awaiting : {false, true}) {  // A board's pages too, with whom each waits for.
    ListOrdersRequest request;
    request.page_size = awaiting ? 100 : 1000;
    request.awaiting = awaiting;
    std::vector<std::string> listed;
    int pages = 0;
    do {
      ASSERT_OK_AND_ASSIGN(ListOrdersResponse page, engine_->ListOrders({kManager}, request));
      size_t bytes = 0;
      for (const v1::OrderView& order : page.orders) {
        bytes += order.ByteSizeLong();
        listed.push_back(order.order_id());
        if (awaiting) {
          EXPECT_THAT(order.awaiting(), Not(IsEmpty()));
        }
      }
      EXPECT_LE(bytes, 2u * 1024 * 1024);
      EXPECT_THAT(page.orders, Not(IsEmpty()));
      request.page_token = page.next_page_token;
      ++pages;
    } while (!request.page_token.empty() && pages < 10);
    EXPECT_EQ(listed, orders) << "every order once, in order, over the pages";
    EXPECT_GE(pages, 2);
  }
}

TEST_F(OrderFlowTest, AStaleEtagOnWhatTheCallerMayNotSeeTellsNothingOfIt) {
  const std::string order = CreateOrder();
  const std::string key = Order(order).key();
  // Told a version, the caller would learn that the record exists and, behind an order's key,
  // its id. Of what they may not see, they hear what they would of a record that does not
  // exist: the same code, and neither version nor id.
  // `seen` names the record by `id`; `missing` is the same command naming `missing_id` instead.
  const auto same_as_missing = [&](const std::string& user, const v1::Command& seen,
                                   const std::string& id, const v1::Command& missing,
                                   const std::string& missing_id) {
    const absl::Status refused = Reject(user, seen);
    const absl::Status absent = Reject(user, missing);
    EXPECT_EQ(refused.code(), absent.code()) << refused;
    EXPECT_EQ(absl::StrReplaceAll(refused.message(), {{id, missing_id}}), absent.message());
    EXPECT_THAT(refused.message(), Not(HasSubstr("version")));
  };
  v1::Command comment;
  comment.mutable_add_comment()->set_order_id(key);
  comment.mutable_add_comment()->set_text("Mine?");
  comment.set_etag(99);
  v1::Command no_order = comment;
  no_order.mutable_add_comment()->set_order_id("PO-2099-99999");
  same_as_missing(kAe2, comment, key, no_order, "PO-2099-99999");
  v1::Command client;
  client.mutable_update_client()->set_client_id(client_);
  client.mutable_update_client()->set_name("Mine now");
  client.set_etag(99);
  v1::Command no_client = client;
  no_client.mutable_update_client()->set_client_id("nosuch");
  same_as_missing(kAe2, client, client_, no_client, "nosuch");
  v1::Command user;
  user.mutable_update_user()->set_user_id(kManager);
  user.mutable_update_user()->set_display_name("Boss");
  user.set_etag(99);
  v1::Command no_user = user;
  no_user.mutable_update_user()->set_user_id("nobody");
  same_as_missing(kClientUser, user, kManager, no_user, "nobody");
  // Nor, without an etag, whether a user exists at all.
  user.clear_etag();
  no_user.clear_etag();
  same_as_missing(kClientUser, user, kManager, no_user, "nobody");
  EXPECT_THAT(Reject(kClientUser, user), StatusIs(absl::StatusCode::kPermissionDenied));
  // A create with an etag other than 0, under the id of a record the caller may not see: as
  // under an id not taken (with a bad field too, which the etag's answer comes before).
  v1::Command create = CreateOrderCommand();
  create.mutable_create_order()->set_order_id(order);
  create.mutable_create_order()->set_title("");
  create.set_etag(5);
  v1::Command create_new = create;
  create_new.mutable_create_order()->set_order_id("not-taken");
  same_as_missing(kAe2, create, order, create_new, "not-taken");
  v1::Command made;
  made.mutable_create_client()->set_client_id(client_);
  made.set_etag(7);
  v1::Command made_new = made;
  made_new.mutable_create_client()->set_client_id("not-taken");
  same_as_missing(kAe2, made, client_, made_new, "not-taken");
  // An order's key as an id: taken, but not which order's.
  v1::Command keyed = CreateOrderCommand();
  keyed.mutable_create_order()->set_order_id(key);
  EXPECT_THAT(Reject(kAe2, keyed),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       AllOf(HasSubstr("is an order's key"), Not(HasSubstr(order)))));
  // Who may see the record hears "read again" first (StaleEtagIsAbortedAndWritesNothing), a
  // contact's login of its client's order too, though it may not comment.
  EXPECT_THAT(Reject(kAe, comment), StatusIs(absl::StatusCode::kAborted, HasSubstr("version 1")));
  EXPECT_THAT(Reject(kClientUser, comment), StatusIs(absl::StatusCode::kAborted));
  // A create of what exists is ALREADY_EXISTS, with etag 0 or without, to whoever may see it.
  create.mutable_create_order()->set_title("Again");
  create.set_etag(0);
  EXPECT_THAT(Reject(kAe, create), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(OrderFlowTest, BadInputIsInvalidArgumentAndWritesNothing) {
  v1::Command empty;
  EXPECT_THAT(Reject(kAe, empty), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::Command no_title = CreateOrderCommand();
  no_title.mutable_create_order()->clear_title();
  EXPECT_THAT(Reject(kAe, no_title),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("title")));
  v1::Command bad_kind = CreateOrderCommand();
  bad_kind.mutable_create_order()->set_kind(static_cast<v1::OrderKind>(77));
  EXPECT_THAT(Reject(kAe, bad_kind), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::Command bad_id = CreateOrderCommand();
  bad_id.mutable_create_order()->set_order_id("has space");
  EXPECT_THAT(Reject(kAe, bad_id), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::Command unknown_field = CreateOrderCommand();
  (*unknown_field.mutable_create_order()->mutable_fields())["colour"].set_string_value("red");
  EXPECT_THAT(Reject(kAe, unknown_field),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("colour")));
  v1::Command wrong_type = CreateOrderCommand();
  (*wrong_type.mutable_create_order()->mutable_fields())["station"].set_integer_value(5);
  EXPECT_THAT(Reject(kAe, wrong_type), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::Command no_client = CreateOrderCommand();
  no_client.mutable_create_order()->set_client_id("nobody");
  EXPECT_THAT(Reject(kAe, no_client), StatusIs(absl::StatusCode::kNotFound));
  v1::Command not_utf8 = CreateOrderCommand();
  not_utf8.mutable_create_order()->set_instructions("caf\xc3");
  EXPECT_THAT(Reject(kAe, not_utf8),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("instructions")));
  v1::Command nested = CreateOrderCommand();
  (*nested.mutable_create_order()->mutable_fields())["station"].set_string_value("\xff");
  EXPECT_THAT(Reject(kAe, nested), StatusIs(absl::StatusCode::kInvalidArgument));
  v1::Command dup = CreateOrderCommand();
  dup.mutable_create_order()->set_order_id("o-1");
  Run(kAe, dup);
  EXPECT_THAT(Reject(kAe, dup),
              StatusIs(absl::StatusCode::kAlreadyExists, Not(HasSubstr("deleted"))));
  v1::Command gone = CreateOrderCommand();
  gone.mutable_create_order()->set_order_id("o-gone");
  Run(kAe, gone);
  Run(kAe, OrderOnly("o-gone", "delete"));
  EXPECT_THAT(Reject(kAe, gone),  // Queries no longer show it; its id is still its own.
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("(deleted; an id is never used again: choose another)")));
  EXPECT_THAT(Reject("nobody", CreateOrderCommand()), StatusIs(absl::StatusCode::kUnauthenticated));
  v1::Command no_flight = CreateOrderCommand();
  no_flight.mutable_create_order()->clear_flight_start();
  EXPECT_THAT(Reject(kAe, no_flight),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("flight_start is required")));
  v1::Command blank = CreateOrderCommand();
  blank.mutable_create_order()->set_title("   ");
  EXPECT_THAT(Reject(kAe, blank),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("title is blank")));
  v1::Command nul = CreateOrderCommand();
  nul.mutable_create_order()->set_title(std::string("Sale\0:30", 8));
  EXPECT_THAT(Reject(kAe, nul), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("title holds a control character (0x00")));
  v1::Command bad_email;
  bad_email.mutable_create_user()->set_user_id("eve");
  bad_email.mutable_create_user()->set_display_name("Eve");
  bad_email.mutable_create_user()->set_email("no-at-sign");
  bad_email.mutable_create_user()->add_roles(engine::kProducer);
  EXPECT_THAT(Reject(kAdmin, bad_email),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"no-at-sign\" is not an address like name@example.com")));
  v1::Command create_with_etag = CreateOrderCommand();
  create_with_etag.set_etag(5);  // What it makes has no version yet: only 0 fits.
  EXPECT_THAT(Reject(kAe, create_with_etag),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("a create takes no etag, or 0")));
  create_with_etag.set_etag(0);
  EXPECT_EQ(Run(kAe, create_with_etag).etag(), 1u);
  v1::Command fly;
  fly.mutable_perform_action()->set_order_id("o-1");
  fly.mutable_perform_action()->set_action("fly");
  EXPECT_THAT(Reject(kProducer, fly),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("has no action \"fly\""), HasSubstr("deliver"))));
  fly.mutable_perform_action()->set_action("approve_scrpt");  // A typo, not a revision action.
  EXPECT_THAT(Reject(kProducer, fly), StatusIs(absl::StatusCode::kInvalidArgument,
                                               AllOf(HasSubstr("has no action \"approve_scrpt\"; "
                                                               "did you mean \"approve_script\"?"),
                                                     HasSubstr("approve_script"))));
  fly.mutable_perform_action()->set_action("approve_script");
  EXPECT_THAT(
      Reject(kProducer, fly),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(
                   "acts on a revision; use its own command (ApproveRevision; spotflow approve)")));
  v1::Command early;  // A real action, in the wrong state: the order's state is the problem.
  early.mutable_perform_action()->set_order_id("o-1");
  early.mutable_perform_action()->set_action("deliver");
  EXPECT_THAT(Reject(kProducer, early), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(engine_->GetOrder({kAe}, "").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("order_id is required")));
  ListOrdersRequest backwards;
  backwards.flight_from = MakeDate(2026, 12, 31);
  backwards.flight_to = MakeDate(2026, 12, 1);
  EXPECT_THAT(engine_->ListOrders({kAe}, backwards).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is before flight_from")));
  v1::Command seconds = Spot("o-1", "s3://spots/seconds.wav");
  seconds.mutable_submit_revision()->mutable_media()->set_duration_ms(30);  // Meant 30 s.
  EXPECT_THAT(Reject(kProducer, seconds),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is under a second; it is in milliseconds")));
  v1::Command endless = Spot("o-1", "s3://spots/endless.wav");
  endless.mutable_submit_revision()->mutable_media()->set_duration_ms(999999999);
  EXPECT_THAT(Reject(kProducer, endless),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("media duration_ms 999999999 is over the limit of 3600000")));
  // A spot is somewhere a player can fetch it from: a URI with its scheme.
  for (const char* uri :
       {"winter.wav", "C:", "s3:", ":x", "1s3://x", "s3://spots/a b.wav", "s3://spots/a\tb.wav"}) {
    EXPECT_THAT(Reject(kProducer, Spot("o-1", uri)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a URI")))
        << uri;
  }
  for (const char* uri : {"s3://spots/winter.wav", "https://files.example.com/a%20b.wav",
                          "file:///srv/spots/x.wav", "urn:isci:ABCD1234H", "svn+ssh://h/x"}) {
    EXPECT_THAT(engine_->Execute({kProducer}, Spot("o-1", uri)).status(),
                Not(StatusIs(absl::StatusCode::kInvalidArgument)))
        << uri;
  }
}

TEST_F(OrderFlowTest, AFullOrderTakesNoMoreTextButCanStillBeArchived) {
  const std::string order = CreateOrder();
  v1::Command comment;
  comment.mutable_add_comment()->set_order_id(order);
  comment.mutable_add_comment()->set_text(std::string(60 * 1024, 'c'));
  int added = 0;
  while (Order(order).ByteSizeLong() < 1024 * 1024) {
    Run(kAe, comment);
    ASSERT_LT(++added, 40) << "the cap never came";
  }
  EXPECT_THAT(Reject(kAe, comment), StatusIs(absl::StatusCode::kFailedPrecondition,
                                             AllOf(HasSubstr("the most one order may (1048576)"),
                                                   HasSubstr("ReuseOrder"))));
  EXPECT_THAT(Reject(kProducer, Script(order, "one more draft")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("the most one order")));
  v1::Command step_with_field = Action(order, "deliver");
  (*step_with_field.mutable_perform_action()->mutable_fields())["station"].set_string_value(
      std::string(60 * 1024, 's'));
  EXPECT_THAT(Reject(kAe, step_with_field),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("the most one order")))
      << "fields set with a step add to the order as an update does";
  v1::Command archive;
  archive.mutable_archive_order()->set_order_id(order);
  Run(kAe, archive);
  EXPECT_TRUE(Order(order).archived()) << "a full order can still be closed";
}

TEST_F(OrderFlowTest, DeactivatedUsersCannotActAndWhatTheyOwnStays) {
  const std::string order = CreateOrder();
  v1::Command deactivate;
  deactivate.mutable_deactivate_user()->set_user_id(kAe);
  Run(kAdmin, deactivate);
  EXPECT_THAT(Reject(kAe, CreateOrderCommand()), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(Order(order).owner_id(), kAe);
  v1::Command self;
  self.mutable_deactivate_user()->set_user_id(kAdmin);
  EXPECT_THAT(Reject(kAdmin, self), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(OrderFlowTest, RoleChangesTakeEffectAtOnce) {
  const std::string order = CreateOrder();
  Run(kProducer, Script(order, "draft"));
  EXPECT_THAT(Reject(kAssistant, Approve(order, "script", 1)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("REVISION_APPROVE")));
  v1::Command role;
  *role.mutable_define_role()->mutable_definition() = PresetRoles()[1];  // sales_assistant
  ASSERT_EQ(role.define_role().definition().name(), kSalesAssistant);
  v1::Grant* grant = role.mutable_define_role()->mutable_definition()->add_grants();
  grant->set_privilege(v1::REVISION_APPROVE);
  grant->set_scope(v1::OWN);
  EXPECT_THAT(Reject(kAe, role), StatusIs(absl::StatusCode::kPermissionDenied));
  v1::Command nothing = role;
  nothing.mutable_define_role()->mutable_definition()->clear_grants();
  EXPECT_THAT(Reject(kAdmin, nothing),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("role \"sales_assistant\" grants nothing")));
  Run(kAdmin, role);
  Run(kAssistant, Approve(order, "script", 1));
}

TEST_F(OrderFlowTest, AContactForwardedToIsNeverRemovedHoweverTheTwoInterleave) {
  // Forwarding decides in the order's turn and removing a contact in the directory's; each
  // reads what the other writes, so one of the two must give way.
  for (int round = 0; round < 30; ++round) {
    const std::string contact = absl::StrCat("contact", round);
    v1::Command add;
    add.mutable_add_contact()->set_client_id(client_);
    add.mutable_add_contact()->mutable_contact()->set_contact_id(contact);
    add.mutable_add_contact()->mutable_contact()->set_name(absl::StrCat("Temp ", round));
    Run(kAe, add);
    const std::string order = CreateOrder();
    Run(kProducer, Script(order, "One"));
    v1::Command remove;
    remove.mutable_remove_contact()->set_client_id(client_);
    remove.mutable_remove_contact()->set_contact_id(contact);
    const auto [forwarded, removed] = Together(kAe, Forward(order, "script", 1, contact), remove);
    EXPECT_NE(forwarded.ok(), removed.ok())
        << "round " << round << ": forwarded " << forwarded.status() << ", removed "
        << removed.status();
  }
}

TEST_F(OrderFlowTest, AClientIsNeverDeletedWithAnOrderOpeningOnIt) {
  // Deleting a client decides in the directory's turn and in the client's; creating,
  // reusing and restoring an order decide in the order's and in its client's. Without the
  // client's turn the two could both pass on the same state: an open order on a deleted client.
  for (int round = 0; round < 30; ++round) {
    const std::string client = absl::StrCat("brief", round);
    v1::Command add;
    add.mutable_create_client()->set_client_id(client);
    add.mutable_create_client()->set_name(absl::StrCat("Brief ", round));
    Run(kAe, add);
    v1::Command create = CreateOrderCommand();
    create.mutable_create_order()->set_client_id(client);
    v1::Command remove;
    remove.mutable_delete_client()->set_client_id(client);
    const auto [created, deleted] = Together(kAe, create, remove);
    EXPECT_NE(created.ok(), deleted.ok()) << "round " << round << ": created " << created.status()
                                          << ", deleted " << deleted.status();
  }
}

TEST_F(OrderFlowTest, AnOrderOpeningWhileItsAccountMovesGoesToTheNewOwner) {
  for (int round = 0; round < 20; ++round) {
    const std::string client = absl::StrCat("moving", round);
    v1::Command add;
    add.mutable_create_client()->set_client_id(client);
    add.mutable_create_client()->set_name(absl::StrCat("Moving ", round));
    Run(kAe, add);
    v1::Command create = CreateOrderCommand();
    create.mutable_create_order()->set_client_id(client);
    v1::Command reassign;
    reassign.mutable_reassign_accounts()->set_from_owner(kAe);
    reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
    reassign.mutable_reassign_accounts()->add_client_ids(client);
    const auto [created, reassigned] = Together(kManager, create, reassign);
    ASSERT_OK(created.status());
    ASSERT_OK(reassigned.status());
    EXPECT_EQ(Order(created->id()).owner_id(), kAe2) << "round " << round;
  }
}

TEST_F(OrderFlowTest, ADeletedClientsOrdersStayArchived) {
  const std::string order = CreateOrder(kAe, v1::PROVIDED);
  Run(kAe, Spot(order, "s3://agency/spot.mp4", /*provided=*/true));
  Run(kAe, Approve(order, "spot", 1));
  v1::Command archive;
  archive.mutable_archive_order()->set_order_id(order);
  Run(kAe, archive);
  v1::Command remove;
  remove.mutable_delete_client()->set_client_id(client_);
  Run(kAe, remove);
  v1::Command restore;
  restore.mutable_restore_order()->set_order_id(order);
  EXPECT_THAT(Reject(kAe, restore),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was deleted; its orders stay archived, to be read (an order for "
                                 "another client starts with spotflow order create)")));
  // Nor does its approved spot air again: a reuse is for the same client.
  v1::Command reuse;
  reuse.mutable_reuse_order()->set_source_order_id(order);
  *reuse.mutable_reuse_order()->mutable_flight_start() = MakeDate(2027, 3, 1);
  *reuse.mutable_reuse_order()->mutable_flight_end() = MakeDate(2027, 3, 31);
  EXPECT_THAT(Reject(kManager, reuse),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was deleted; a reused spot airs again for its own client, so "
                                 "this one stays in the archive")));
  EXPECT_TRUE(Order(order).archived());
}

TEST_F(OrderFlowTest, ConcurrentCommandsOnOneOrderAllLandWithoutLostUpdates) {
  const std::string order = CreateOrder();
  constexpr int kThreads = 8;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        v1::Command comment;
        comment.mutable_add_comment()->set_order_id(order);
        comment.mutable_add_comment()->set_text(absl::StrCat("t", t, " c", i));
        EXPECT_OK(engine_->Execute({kAe}, comment).status());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(Order(order).comments(), SizeIs(kThreads * kEach));
  EXPECT_EQ(Order(order).version(), 1u + kThreads * kEach);
}

// A bulk reassignment takes the turn of each order it moves, as ReassignOrders does: a
// command on one of them in flight is waited for, not raced. Raced, one of the two appends
// lost its version and had to decide again; on a busy book, a reassignment did until it gave
// up (here, with one attempt, at once).
TEST_F(OrderFlowTest, ReassigningAccountsWaitsForACommandInFlightOnAnOrderItMoves) {
  const std::string order = CreateOrder();
  v1::Command reassign;
  reassign.mutable_reassign_accounts()->set_from_owner(kAe);
  reassign.mutable_reassign_accounts()->set_to_owner(kAe2);
  const absl::StatusOr<v1::CommandResult> moved =
      RunBehindACommentInFlight(order, kManager, reassign);
  ASSERT_OK(moved.status());
  ASSERT_EQ(moved->moved_accounts_size(), 1);
  EXPECT_THAT(moved->moved_accounts(0).order_ids(), ElementsAre(order));
  const v1::OrderView view = Order(order);
  EXPECT_EQ(view.owner_id(), kAe2);
  EXPECT_THAT(view.comments(), SizeIs(1));
}

// Removing a contact reads every open order of the client (one may wait for the contact's
// answer), in each order's turn: a command in flight on one is waited for, not raced.
TEST_F(OrderFlowTest, RemovingAContactWaitsForACommandInFlightOnAnOrderItReads) {
  const std::string order = CreateOrder();
  Run(kAe, AddContactCommand(client_, "dave", "Dave Client"));
  v1::Command remove;
  remove.mutable_remove_contact()->set_client_id(client_);
  remove.mutable_remove_contact()->set_contact_id("dave");
  ASSERT_OK(RunBehindACommentInFlight(order, kAe, remove).status());
  EXPECT_THAT(Order(order).comments(), SizeIs(1));
}

// What a command's right rests on is read at the version it was decided on: a change to it
// that commits between the decision and the append stops the command, which is decided again
// on the state after it. Otherwise the log would hold, after a user lost a right, a change
// they made with it. Here the right of the assistant to comment on the AE's order, through
// its share of the account.
class RightEndedTest : public OrderFlowTest {
 protected:
  void SetUp() override {
    OrderFlowTest::SetUp();
    order_ = CreateOrder();
    comment_.mutable_add_comment()->set_order_id(order_);
    comment_.mutable_add_comment()->set_text("Called the client about the tag line");
  }
  // The assistant's comment, its append held while `by` runs `meanwhile`.
  absl::StatusOr<v1::CommandResult> CommentAcross(const std::string& by,
                                                  const v1::Command& meanwhile,
                                                  int max_attempts = Options().max_attempts) {
    return RunAcross(order_, kAssistant, comment_, by, meanwhile, max_attempts);
  }
  std::string order_;
  v1::Command comment_;
};

TEST_F(RightEndedTest, AnUnshareOfTheAccountMeanwhileRefusesTheComment) {
  v1::Command unshare;
  unshare.mutable_unshare_client()->set_client_id(client_);
  unshare.mutable_unshare_client()->set_user_id(kAssistant);
  EXPECT_THAT(CommentAcross(kAe, unshare), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Order(order_).comments(), IsEmpty());
}

TEST_F(RightEndedTest, ARoleChangeMeanwhileRefusesTheComment) {
  v1::Command demote;  // Auditors see every order, and comment on none.
  demote.mutable_set_user_roles()->set_user_id(kAssistant);
  demote.mutable_set_user_roles()->add_roles(engine::kAuditor);
  EXPECT_THAT(CommentAcross(kAdmin, demote), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Order(order_).comments(), IsEmpty());
}

TEST_F(RightEndedTest, ADeactivationMeanwhileRefusesTheComment) {
  v1::Command deactivate;
  deactivate.mutable_deactivate_user()->set_user_id(kAssistant);
  EXPECT_THAT(CommentAcross(kAdmin, deactivate),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("deactivated")));
  EXPECT_THAT(Order(order_).comments(), IsEmpty());
}

TEST_F(RightEndedTest, ARoleRedefinedMeanwhileRefusesTheComment) {
  const v1::RoleDefinition assistant = RoleDefinition(engine::kSalesAssistant);
  v1::Command narrow;
  *narrow.mutable_define_role()->mutable_definition() = assistant;
  narrow.mutable_define_role()->mutable_definition()->clear_grants();
  for (const v1::Grant& grant : assistant.grants()) {
    if (grant.privilege() != v1::ORDER_MANAGE) {
      *narrow.mutable_define_role()->mutable_definition()->add_grants() = grant;
    }
  }
  EXPECT_THAT(CommentAcross(kAdmin, narrow), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Order(order_).comments(), IsEmpty());
}

TEST_F(RightEndedTest, ATeamLeadsCommentIsRefusedWhenTheOwnerMovedTeamMeanwhile) {
  v1::Command team_lead;
  v1::RoleDefinition* lead = team_lead.mutable_define_role()->mutable_definition();
  lead->set_name("team_lead");
  lead->set_title("Team lead");
  for (v1::Privilege privilege : {v1::ORDER_VIEW, v1::ORDER_MANAGE}) {
    v1::Grant* grant = lead->add_grants();
    grant->set_privilege(privilege);
    grant->set_scope(v1::TEAM);
  }
  Run(kAdmin, team_lead);
  AddUser("lee", "team_lead");
  v1::Command reports;
  reports.mutable_set_user_manager()->set_user_id(kAe);
  reports.mutable_set_user_manager()->set_manager_id("lee");
  Run(kAdmin, reports);
  v1::Command moves;
  moves.mutable_set_user_manager()->set_user_id(kAe);
  moves.mutable_set_user_manager()->set_manager_id(kManager);
  EXPECT_THAT(RunAcross(order_, "lee", comment_, kAdmin, moves),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Order(order_).comments(), IsEmpty());
}

// A user the command names (here, whom the order is shared with) deactivated meanwhile.
TEST_F(RightEndedTest, AShareWithAUserDeactivatedMeanwhileIsRefused) {
  v1::Command share;
  share.mutable_share_order()->set_order_id(order_);
  share.mutable_share_order()->set_user_id(kOrderEntry);
  v1::Command leaves;
  leaves.mutable_deactivate_user()->set_user_id(kOrderEntry);
  EXPECT_THAT(RunAcross(order_, kAe, share, kAdmin, leaves),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("deactivated")));
  EXPECT_THAT(Order(order_).participants(), IsEmpty());
}

// Passing an order share on (here, unsharing another) through the account's share for good,
// as the AE's assistant does, when that share ends meanwhile: the assistant, still on the
// order itself, may then only leave it.
TEST_F(RightEndedTest, UnsharingOthersIsRefusedWhenTheAccountShareEndedMeanwhile) {
  for (const char* user : {kAssistant, kOrderEntry}) {
    v1::Command share;
    share.mutable_share_order()->set_order_id(order_);
    share.mutable_share_order()->set_user_id(user);
    Run(kAe, share);
  }
  v1::Command unshare_order;
  unshare_order.mutable_unshare_order()->set_order_id(order_);
  unshare_order.mutable_unshare_order()->set_user_id(kOrderEntry);
  v1::Command unshare_account;
  unshare_account.mutable_unshare_client()->set_client_id(client_);
  unshare_account.mutable_unshare_client()->set_user_id(kAssistant);
  EXPECT_THAT(RunAcross(order_, kAssistant, unshare_order, kAe, unshare_account),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("may leave it")));
  EXPECT_THAT(Order(order_).participants(), Contains(kOrderEntry));
}

// The order's owner shares it on the grounds of owning it, which the order itself holds: a
// change to the account meanwhile does not make them decide again (one attempt is enough).
TEST_F(RightEndedTest, AnOwnersShareDoesNotRestOnTheAccount) {
  v1::Command share;
  share.mutable_share_order()->set_order_id(order_);
  share.mutable_share_order()->set_user_id(kOrderEntry);
  v1::Command rename;
  rename.mutable_update_client()->set_client_id(client_);
  rename.mutable_update_client()->set_name("Acme Motors Group");
  ASSERT_OK(RunAcross(order_, kAe, share, kAe, rename, /*max_attempts=*/1).status());
  EXPECT_THAT(Order(order_).participants(), Contains(kOrderEntry));
}

// A change that leaves the right in place costs the command one more decision (with one
// attempt, none is left), not its landing.
TEST_F(RightEndedTest, AChangeThatLeavesTheRightCostsOneMoreDecision) {
  v1::Command rename;
  rename.mutable_update_user()->set_user_id(kAssistant);
  rename.mutable_update_user()->set_display_name("Ann Assistant");
  EXPECT_THAT(CommentAcross(kAdmin, rename, /*max_attempts=*/1),
              StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(Order(order_).comments(), IsEmpty());
  rename.mutable_update_user()->set_display_name("Ann A. Assistant");
  ASSERT_OK(CommentAcross(kAdmin, rename).status());
  EXPECT_THAT(Order(order_).comments(), SizeIs(1));
}

// A command takes its target's turn besides those it names: a deactivation (in the users and
// roles' turn) waits for a token being recorded on that user's record, instead of racing it
// for the record's next version (with one attempt each, the one that lost would fail).
TEST_F(OrderFlowTest, ADeactivationWaitsForATokenInFlightOnTheSameUser) {
  absl::Notification issued, deactivated;
  absl::StatusOr<v1::CommandResult> issue_result, deactivate_result;
  OverGate(/*max_attempts=*/1, [&](GatedStore& gate) {
    gate.Close(absl::StrCat("user-", kAssistant));
    v1::Command issue;
    issue.mutable_record_token_issued()->set_user_id(kAssistant);
    issue.mutable_record_token_issued()->set_token_hash_prefix("0123456789ab");
    engine_->ExecuteAsync({kAdmin}, issue, [&](absl::StatusOr<v1::CommandResult> r) {
      issue_result = std::move(r);
      issued.Notify();
    });
    ASSERT_EQ(gate.appends(), 1u) << "the token's append is in flight";
    v1::Command deactivate;
    deactivate.mutable_deactivate_user()->set_user_id(kAssistant);
    engine_->ExecuteAsync({kAdmin}, deactivate, [&](absl::StatusOr<v1::CommandResult> r) {
      deactivate_result = std::move(r);
      deactivated.Notify();
    });
    EXPECT_EQ(gate.appends(), 1u) << "the deactivation raced the token";
    gate.Open();
    issued.WaitForNotification();
    deactivated.WaitForNotification();
  });
  ASSERT_OK(issue_result.status());
  ASSERT_OK(deactivate_result.status());
  EXPECT_GT(deactivate_result->first_position(), issue_result->last_position());
}

// Two clients of one name created at once: the second waits in the turn of client names for
// the first, then is decided on the state it left, and refused.
TEST_F(OrderFlowTest, TwoClientsOfOneNameAtOnceCannotBothPass) {
  absl::Notification first_done, second_done;
  absl::StatusOr<v1::CommandResult> first, second;
  OverGate(/*max_attempts=*/1, [&](GatedStore& gate) {
    gate.Close("client-initech");
    engine_->ExecuteAsync({kAe}, CreateClientCommand("initech", "Initech"),
                          [&](absl::StatusOr<v1::CommandResult> r) {
                            first = std::move(r);
                            first_done.Notify();
                          });
    // A client's creation is decided on a worker: wait until its append is held.
    for (int i = 0; i < 2000 && gate.appends() == 0; ++i) absl::SleepFor(absl::Milliseconds(1));
    ASSERT_EQ(gate.appends(), 1u);
    engine_->ExecuteAsync({kAe2}, CreateClientCommand("initech-2", "INITECH"),
                          [&](absl::StatusOr<v1::CommandResult> r) {
                            second = std::move(r);
                            second_done.Notify();
                          });
    // Without the turn it would pass the gate (another stream) and be answered meanwhile.
    EXPECT_FALSE(second_done.WaitForNotificationWithTimeout(absl::Milliseconds(300)))
        << "the second creation did not wait for the first";
    EXPECT_EQ(gate.appends(), 1u);
    gate.Open();
    first_done.WaitForNotification();
    second_done.WaitForNotification();
  });
  ASSERT_OK(first.status());
  EXPECT_THAT(second.status(), StatusIs(absl::StatusCode::kAlreadyExists,
                                        HasSubstr("in an account you do not see")));
  EXPECT_THAT(engine_->GetClient({kManager}, "initech-2").status(),
              StatusIs(absl::StatusCode::kNotFound))
      << "the refused creation wrote nothing";
}

// Restoring an order short of scope ALL rests on its owner being active and still on the
// account: the owner's deactivation meanwhile stops it.
TEST_F(OrderFlowTest, ARestoreDecidedBeforeTheOwnerLeftIsDecidedAgainAndRefused) {
  const std::string order = CreateOrder();
  v1::Command archive;
  archive.mutable_archive_order()->set_order_id(order);
  Run(kAe, archive);
  v1::Command restore;
  restore.mutable_restore_order()->set_order_id(order);
  v1::Command leaves;
  leaves.mutable_deactivate_user()->set_user_id(kAe);
  EXPECT_THAT(RunAcross(order, kAssistant, restore, kAdmin, leaves),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("deactivated")));
  EXPECT_TRUE(Order(order).archived());
}

// Deleting an order short of scope ALL rests on standing on its account: the account moving
// to another AE meanwhile stops it (its archived orders stay with the old owner, who no
// longer deletes them).
TEST_F(OrderFlowTest, ADeleteDecidedBeforeTheAccountMovedIsDecidedAgainAndRefused) {
  const std::string order = CreateOrder();
  v1::Command archive;
  archive.mutable_archive_order()->set_order_id(order);
  Run(kAe, archive);
  v1::Command remove;
  remove.mutable_delete_order()->set_order_id(order);
  v1::Command moves;
  moves.mutable_reassign_accounts()->set_from_owner(kAe);
  moves.mutable_reassign_accounts()->set_to_owner(kAe2);
  EXPECT_THAT(RunAcross(order, kAe, remove, kManager, moves),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_FALSE(Order(order).deleted());
}

// The house sees which of a client's contacts sign in (removing one ends the login too); the
// client's own login is not shown the logins.
TEST_F(OrderFlowTest, AClientShowsWhichContactsHaveALogin) {
  ASSERT_OK_AND_ASSIGN(v1::ClientView seen, engine_->GetClient({kAe}, client_));
  ASSERT_EQ(seen.contact_logins_size(), 1);
  EXPECT_EQ(seen.contact_logins(0).contact_id(), "carol");
  EXPECT_EQ(seen.contact_logins(0).user_id(), kClientUser);
  ASSERT_OK_AND_ASSIGN(v1::ClientView own, engine_->GetClient({kClientUser}, client_));
  EXPECT_THAT(own.contact_logins(), IsEmpty());
  v1::Command leave;
  leave.mutable_deactivate_user()->set_user_id(kClientUser);
  Run(kAdmin, leave);
  ASSERT_OK_AND_ASSIGN(seen, engine_->GetClient({kAe}, client_));
  EXPECT_THAT(seen.contact_logins(), IsEmpty()) << "a login that was deactivated is none";
}

}  // namespace
}  // namespace spotflow::engine
