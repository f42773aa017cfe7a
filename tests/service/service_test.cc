// The gRPC service in process: a server on port 0, C++ stubs, bearer tokens. Covers each
// service, authentication, bad input over the wire (each with its DESIGN.md §5 code, writing
// nothing, the server staying up), health checking, and a restart over the same data.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "engine/audit.h"
#include "engine/engine.h"
#include "engine/errors.h"
#include "engine/presets.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/service.grpc.pb.h"
#include "service/auth.h"
#include "service/internal/executor.h"
#include "service/server.h"
#include "service/status.h"
#include "store/event_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace spotflow::service {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::spotflow::v1;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartAll();
    v1::CreateUser admin;
    admin.set_user_id("admin");
    admin.set_display_name("Admin");
    ASSERT_OK(engine_->Bootstrap(admin).status());
    for (auto [id, role] :
         {std::pair{"sam", engine::kAccountExecutive}, std::pair{"ann", engine::kSalesAssistant},
          std::pair{"pete", engine::kProducer}, std::pair{"audrey", engine::kAuditor}}) {
      v1::CreateUserRequest request;
      request.mutable_create_user()->set_user_id(id);
      request.mutable_create_user()->set_display_name(id);
      request.mutable_create_user()->add_roles(role);
      v1::CommandResult result;
      ASSERT_TRUE(Ok(admin_->CreateUser(Context("admin").get(), request, &result)));
    }
  }

  void StartAll() {
    store::Options store_options;
    store_options.sync = false;
    auto store = store::EventStore::Open(store_options, dir_.Sub("log"));
    ASSERT_OK(store.status());
    store_ = *std::move(store);
    auto engine = engine::Engine::Open({}, store_.get(), &clock_, &ids_);
    ASSERT_OK(engine.status());
    engine_ = *std::move(engine);
    auto tokens = TokenStore::Load(dir_.Sub("tokens"));
    ASSERT_OK(tokens.status());
    tokens_ = *std::move(tokens);
    for (const char* user : {"admin", "sam", "ann", "pete", "audrey"}) {
      if (token_.contains(user)) continue;
      auto token = tokens_->Issue(dir_.Sub("tokens"), user);
      ASSERT_OK(token.status());
      token_[user] = *token;
    }
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.max_message_bytes = 16 * 1024;
    options.max_streams = max_streams_;
    options.max_audit_runs = max_audit_runs_;
    options.max_streams_per_user = max_streams_per_user_;
    options.tokens_file = dir_.Sub("tokens");
    auto server = Server::Start(options, engine_.get(), tokens_.get());
    ASSERT_OK(server.status());
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    orders_ = v1::Orders::NewStub(channel_);
    clients_ = v1::Clients::NewStub(channel_);
    admin_ = v1::Admin::NewStub(channel_);
    events_ = v1::Events::NewStub(channel_);
    audit_ = v1::Audit::NewStub(channel_);
  }

  void StopAll() {
    server_->Shutdown(absl::Seconds(1));
    server_.reset();
    engine_.reset();
    store_.reset();
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& user) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!user.empty()) {
      context->AddMetadata("authorization",
                           "Bearer " + (token_.contains(user) ? token_[user] : user));
    }
    return context;
  }

  static bool Ok(const grpc::Status& status) {
    EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    return status.ok();
  }

  // A sales manager, "mia", with a token.
  void AddSalesManager() {
    v1::CreateUserRequest manager;
    manager.mutable_create_user()->set_user_id("mia");
    manager.mutable_create_user()->set_display_name("mia");
    manager.mutable_create_user()->add_roles(engine::kSalesManager);
    v1::CommandResult made;
    ASSERT_TRUE(Ok(admin_->CreateUser(Context("admin").get(), manager, &made)));
    auto token = tokens_->Issue(dir_.Sub("tokens"), "mia");
    ASSERT_OK(token.status());
    token_["mia"] = *token;
  }

  std::string CreateClient(const std::string& id) {
    v1::CreateClientRequest request;
    request.mutable_create_client()->set_client_id(id);
    request.mutable_create_client()->set_name("Acme Motors");
    v1::CommandResult result;
    Ok(clients_->CreateClient(Context("sam").get(), request, &result));
    return result.id();
  }

  v1::CreateOrderRequest OrderRequest(const std::string& client) {
    v1::CreateOrderRequest request;
    v1::CreateOrder* order = request.mutable_create_order();
    order->set_kind(v1::PRODUCTION);
    order->set_client_id(client);
    order->set_title("Winter sales event :30");
    order->mutable_flight_start()->set_year(2026);
    order->mutable_flight_start()->set_month(12);
    order->mutable_flight_start()->set_day(1);
    *order->mutable_flight_end() = order->flight_start();
    order->mutable_flight_end()->set_day(31);
    return request;
  }

  // Expects `call` to fail with `code`, write nothing, and leave the server answering.
  template <typename Call>
  void ExpectRefused(grpc::StatusCode code, Call call) {
    const uint64_t head = store_->Head().position;
    grpc::Status status = call();
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_FALSE(status.error_message().empty());
    EXPECT_EQ(store_->Head().position, head) << "a refused call wrote to the log";
    v1::PingResponse pong;
    EXPECT_TRUE(Ok(events_->Ping(Context("sam").get(), v1::PingRequest(), &pong)));
  }

  size_t max_streams_ = 256;  // For the server StartAll starts.
  size_t max_audit_runs_ = 4;
  size_t max_streams_per_user_ = 64;
  testing::TempDir dir_;
  testing::FakeClock clock_;
  engine::SequentialIdGenerator ids_;
  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<TokenStore> tokens_;
  absl::flat_hash_map<std::string, std::string> token_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Orders::Stub> orders_;
  std::unique_ptr<v1::Clients::Stub> clients_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::unique_ptr<v1::Events::Stub> events_;
  std::unique_ptr<v1::Audit::Stub> audit_;
};

TEST_F(ServiceTest, OrdersFlowOverTheWire) {
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  EXPECT_EQ(created.key(), "PO-2026-00001");
  v1::SubmitRevisionRequest script;
  script.mutable_submit_revision()->set_order_id(created.id());
  script.mutable_submit_revision()->set_artifact("script");
  script.mutable_submit_revision()->set_text("Cold outside, hot deals inside");
  v1::CommandResult submitted;
  ASSERT_TRUE(Ok(orders_->SubmitRevision(Context("pete").get(), script, &submitted)));
  v1::ApproveRevisionRequest approve;
  approve.mutable_approve_revision()->set_order_id(created.id());
  approve.mutable_approve_revision()->set_artifact("script");
  approve.mutable_approve_revision()->set_revision(1);
  approve.set_etag(submitted.etag());
  approve.set_request_id("approve-1");
  v1::CommandResult approved;
  ASSERT_TRUE(Ok(orders_->ApproveRevision(Context("sam").get(), approve, &approved)));
  EXPECT_EQ(approved.key(), created.key()) << "every command on an order names its key";
  EXPECT_FALSE(approved.key().empty());
  v1::CommandResult again;
  ASSERT_TRUE(Ok(orders_->ApproveRevision(Context("sam").get(), approve, &again)));
  EXPECT_TRUE(again.deduplicated());

  v1::GetOrderRequest get;
  get.set_order_id(created.id());
  v1::OrderView order;
  ASSERT_TRUE(Ok(orders_->GetOrder(Context("sam").get(), get, &order)));
  EXPECT_EQ(order.status(), "awaiting_spot");
  EXPECT_EQ(order.version(), approved.etag());
  EXPECT_THAT(order.awaiting(), ::testing::IsEmpty()) << "only when asked";
  get.set_with_awaiting(true);
  ASSERT_TRUE(Ok(orders_->GetOrder(Context("sam").get(), get, &order)));
  ASSERT_EQ(order.awaiting_size(), 1);
  EXPECT_EQ(order.awaiting(0).user_id(), "pete");
  EXPECT_THAT(order.awaiting(0).actions(), ::testing::ElementsAre("record_spot"));
  get.mutable_as_of()->set_position(submitted.last_position());
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT,
                [&] { return orders_->GetOrder(Context("sam").get(), get, &order); });
  get.set_with_awaiting(false);
  ASSERT_TRUE(Ok(orders_->GetOrder(Context("sam").get(), get, &order)));
  EXPECT_EQ(order.status(), "script_review");

  v1::ListOrdersRequest list;
  list.set_page_size(10);
  v1::ListOrdersResponse orders;
  ASSERT_TRUE(Ok(orders_->ListOrders(Context("pete").get(), list, &orders)));
  EXPECT_EQ(orders.orders_size(), 1);
  list.set_with_awaiting(true);
  ASSERT_TRUE(Ok(orders_->ListOrders(Context("pete").get(), list, &orders)));
  ASSERT_EQ(orders.orders_size(), 1);
  ASSERT_EQ(orders.orders(0).awaiting_size(), 1);
  EXPECT_EQ(orders.orders(0).awaiting(0).user_id(), "pete");
  list.set_with_awaiting(false);
  list.set_archived(v1::ONLY_ARCHIVED);
  ASSERT_TRUE(Ok(orders_->ListOrders(Context("pete").get(), list, &orders)));
  EXPECT_EQ(orders.orders_size(), 0);

  v1::GetOrderStatsRequest stats_request;
  stats_request.set_owner_id("sam");
  v1::OrderStats stats;
  ASSERT_TRUE(Ok(orders_->GetOrderStats(Context("sam").get(), stats_request, &stats)));
  EXPECT_EQ(stats.orders(), 1u);
  ASSERT_EQ(stats.owners_size(), 1);
  EXPECT_EQ(stats.owners(0).open_orders(), 1u);
  stats_request.set_owner_id("nobody");
  ExpectRefused(grpc::StatusCode::NOT_FOUND, [&] {
    return orders_->GetOrderStats(Context("sam").get(), stats_request, &stats);
  });
}

// Seed 002's budgets over the wire: set by the member's manager, read with progress by the
// member, removed by the manager; refused to others, writing nothing.
TEST_F(ServiceTest, BudgetsAreSetReadAndRemoved) {
  AddSalesManager();
  v1::SetUserManagerRequest team;
  team.mutable_set_user_manager()->set_user_id("sam");
  team.mutable_set_user_manager()->set_manager_id("mia");
  v1::CommandResult made;
  ASSERT_TRUE(Ok(admin_->SetUserManager(Context("admin").get(), team, &made)));
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));

  v1::SetBudgetRequest set;
  v1::Budget* budget = set.mutable_set_budget()->mutable_budget();
  budget->set_user_id("sam");
  budget->set_title("November orders");
  budget->mutable_start()->set_year(2026);
  budget->mutable_start()->set_month(11);
  budget->mutable_start()->set_day(1);
  *budget->mutable_end() = budget->start();
  budget->mutable_end()->set_day(30);
  budget->set_target(4);
  v1::CommandResult result;
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED,
                [&] { return orders_->SetBudget(Context("sam").get(), set, &result); });
  v1::SetBudgetRequest empty_period = set;
  empty_period.mutable_set_budget()->mutable_budget()->clear_end();
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT,
                [&] { return orders_->SetBudget(Context("mia").get(), empty_period, &result); });
  ASSERT_TRUE(Ok(orders_->SetBudget(Context("mia").get(), set, &result)));
  EXPECT_EQ(result.id(), "sam-november-orders");

  v1::ListBudgetsRequest list;
  v1::ListBudgetsResponse budgets;
  ASSERT_TRUE(Ok(orders_->ListBudgets(Context("sam").get(), list, &budgets)));
  ASSERT_EQ(budgets.budgets_size(), 1);
  EXPECT_EQ(budgets.budgets(0).budget().set_by(), "mia");
  EXPECT_EQ(budgets.budgets(0).actual(), 1);
  EXPECT_EQ(budgets.budgets(0).percent(), 25);
  list.set_user_id("sam");
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED,
                [&] { return orders_->ListBudgets(Context("ann").get(), list, &budgets); });

  v1::RemoveBudgetRequest remove;
  remove.mutable_remove_budget()->set_budget_id(result.id());
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED,
                [&] { return orders_->RemoveBudget(Context("sam").get(), remove, &result); });
  remove.set_etag(1);
  ASSERT_TRUE(Ok(orders_->RemoveBudget(Context("mia").get(), remove, &result)));
  ExpectRefused(grpc::StatusCode::NOT_FOUND,
                [&] { return orders_->RemoveBudget(Context("mia").get(), remove, &result); });
  list.clear_user_id();
  ASSERT_TRUE(Ok(orders_->ListBudgets(Context("mia").get(), list, &budgets)));
  EXPECT_EQ(budgets.budgets_size(), 0);
}

// A refusal's message can outgrow the 8 KiB of trailers a gRPC client accepts (a field's
// hundred choices, listed): it arrives cut, with its code and its reason, not as the client's
// own RESOURCE_EXHAUSTED.
TEST_F(ServiceTest, ALongRefusalArrivesCutWithItsCodeAndReason) {
  ASSERT_OK_AND_ASSIGN(v1::ItemTypeDefinition type,
                       engine_->GetItemType({"admin"}, engine::kProductionOrder));
  v1::FieldDefinition* segment = type.add_fields();
  segment->set_name("segment");
  segment->set_type(v1::STRING);
  for (int i = 0; i < 100; ++i) {
    // Not ASCII: each such byte takes three in the trailer (percent-encoded).
    segment->add_choices(absl::StrCat("segment é ", i, " ", std::string(80, 'x')));
  }
  v1::Command define;
  *define.mutable_define_item_type()->mutable_definition() = type;
  ASSERT_OK(engine_->Execute({"admin"}, define).status());
  v1::CreateOrderRequest request = OrderRequest(CreateClient("acme"));
  (*request.mutable_create_order()->mutable_fields())["segment"].set_string_value("none");
  v1::CommandResult result;
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT, [&] {
    grpc::Status status = orders_->CreateOrder(Context("sam").get(), request, &result);
    EXPECT_THAT(status.error_message(), HasSubstr("field \"segment\" is one of: segment"));
    EXPECT_THAT(status.error_message(), HasSubstr("bytes of this message left out)"));
    EXPECT_LE(status.error_message().size(), kMaxMessageBytes);
    std::optional<v1::ErrorInfo> info = ErrorInfoOf(status);
    EXPECT_TRUE(info.has_value()) << "no ErrorInfo in the error details";
    if (info.has_value()) {
      EXPECT_EQ(info->reason(), "INVALID_FIELD");
      EXPECT_EQ(info->metadata().at("field"), "segment");
    }
    return status;
  });
}

TEST(StatusTest, AMessageIsCutAtACharacterAndDetailsTooBigAreLeftOut) {
  // Cut where an "é" (two bytes) would be split: the whole character goes.
  std::string accented;
  for (int i = 0; i < 5000; ++i) accented += "\xc3\xa9";
  grpc::Status cut = ToGrpcStatus(absl::InvalidArgumentError(accented));
  EXPECT_EQ(cut.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const std::string& said = cut.error_message();
  const size_t note = said.find("... (");
  ASSERT_NE(note, std::string::npos) << said;
  EXPECT_EQ(note % 2, 0u) << "an \"é\" split in two";
  EXPECT_EQ(said.substr(note),
            absl::StrCat("... (", accented.size() - note, " bytes of this message left out)"));
  // Details longer than the trailer allows are left out; the message says it all.
  absl::Status huge = engine::WithErrorInfo(absl::AbortedError("stale"), engine::kEtagMismatch,
                                            {{"etag", std::string(4000, '1')}});
  grpc::Status sent = ToGrpcStatus(huge);
  EXPECT_EQ(sent.error_message(), "stale");
  EXPECT_TRUE(sent.error_details().empty());
  EXPECT_FALSE(ErrorInfoOf(sent).has_value());
  // A short message goes as it is.
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("order \"x\" not found")).error_message(),
            "order \"x\" not found");
}

TEST_F(ServiceTest, UpdateChangesOnlyTheFieldsInTheMask) {
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  v1::UpdateOrderRequest update;
  update.mutable_update_order()->set_order_id(created.id());
  update.mutable_update_order()->set_title("Renamed");
  update.mutable_update_order()->set_instructions("ignored: not in the mask");
  update.mutable_update_mask()->add_paths("title");
  v1::CommandResult updated;
  ASSERT_TRUE(Ok(orders_->UpdateOrder(Context("sam").get(), update, &updated)));
  v1::GetOrderRequest get;
  get.set_order_id(created.id());
  v1::OrderView order;
  ASSERT_TRUE(Ok(orders_->GetOrder(Context("sam").get(), get, &order)));
  EXPECT_EQ(order.title(), "Renamed");
  EXPECT_EQ(order.instructions(), "");
  update.mutable_update_mask()->add_paths("colour");
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT,
                [&] { return orders_->UpdateOrder(Context("sam").get(), update, &updated); });
}

TEST_F(ServiceTest, ValidateOnlyAnswersWhatAChangeWouldWriteAndWritesNothing) {
  const std::string client = CreateClient("acme");
  v1::CreateOrderRequest create = OrderRequest(client);
  create.set_validate_only(true);
  const uint64_t head = store_->Head().position;
  v1::CommandResult previewed;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), create, &previewed)));
  EXPECT_TRUE(previewed.validate_only());
  EXPECT_EQ(previewed.last_position(), 0u);
  ASSERT_EQ(previewed.streams_size(), 1);
  EXPECT_EQ(previewed.streams(0).stream_id(), "order-" + previewed.id());
  EXPECT_EQ(previewed.streams(0).etag(), 1u) << "a new order's first version";
  EXPECT_EQ(store_->Head().position, head) << "a preview wrote to the log";
  // Refused as the change would be, and still nothing written.
  create.mutable_create_order()->set_client_id("no_such_client");
  ExpectRefused(grpc::StatusCode::NOT_FOUND,
                [&] { return orders_->CreateOrder(Context("sam").get(), create, &previewed); });
  v1::ListOrdersRequest list;
  v1::ListOrdersResponse orders;
  ASSERT_TRUE(Ok(orders_->ListOrders(Context("sam").get(), list, &orders)));
  EXPECT_EQ(orders.orders_size(), 0);
}

TEST_F(ServiceTest, AdministratorsIssueTokensThatWorkAtOnce) {
  v1::IssueTokenRequest request;
  request.set_user_id("ann");
  v1::IssueTokenResponse issued;
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED,
                [&] { return admin_->IssueToken(Context("sam").get(), request, &issued); });
  const uint64_t head = store_->Head().position;
  ASSERT_TRUE(Ok(admin_->IssueToken(Context("admin").get(), request, &issued)));
  EXPECT_EQ(issued.token().size(), 64u);
  EXPECT_EQ(issued.token_hash_prefix(), TokenStore::HashPrefix(issued.token()));
  // The log records the issue (who, for whom, a hash prefix), never the token itself.
  auto records = store_->ReadAll(head + 1, 10);
  ASSERT_OK(records.status());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].payload_type(), "spotflow.v1.TokenIssued");
  EXPECT_EQ((*records)[0].actor().user_id(), "admin");
  EXPECT_EQ((*records)[0].payload().find(issued.token()), std::string::npos);
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + issued.token());
  v1::PingResponse pong;
  EXPECT_TRUE(Ok(events_->Ping(&context, v1::PingRequest(), &pong)));
  request.set_user_id("nobody");
  v1::IssueTokenResponse none;
  EXPECT_EQ(admin_->IssueToken(Context("admin").get(), request, &none).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, AdministratorsRevokeATokenWhichStopsWorkingAtOnce) {
  v1::IssueTokenRequest issue;
  issue.set_user_id("sam");
  v1::IssueTokenResponse issued;
  ASSERT_TRUE(Ok(admin_->IssueToken(Context("admin").get(), issue, &issued)));
  const std::string prefix = TokenStore::HashPrefix(issued.token());
  v1::RevokeTokenRequest revoke;
  revoke.set_user_id("sam");
  revoke.set_token_hash_prefix(prefix);
  v1::RevokeTokenResponse revoked;

  // Refusals, each writing nothing; the token still works after them.
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED,
                [&] { return admin_->RevokeToken(Context("sam").get(), revoke, &revoked); });
  revoke.set_user_id("nobody");
  ExpectRefused(grpc::StatusCode::NOT_FOUND,
                [&] { return admin_->RevokeToken(Context("admin").get(), revoke, &revoked); });
  revoke.set_user_id("");  // Whose is not left to the caller's own record.
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT,
                [&] { return admin_->RevokeToken(Context("admin").get(), revoke, &revoked); });
  revoke.set_user_id("ann");  // Not Ann's token.
  ExpectRefused(grpc::StatusCode::NOT_FOUND,
                [&] { return admin_->RevokeToken(Context("admin").get(), revoke, &revoked); });
  revoke.set_user_id("sam");
  revoke.set_token_hash_prefix("12ab");
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT,
                [&] { return admin_->RevokeToken(Context("admin").get(), revoke, &revoked); });
  v1::RevokeTokenRequest own;
  own.set_user_id("admin");
  own.set_token_hash_prefix(TokenStore::HashPrefix(token_["admin"]));
  grpc::Status status;
  ExpectRefused(grpc::StatusCode::FAILED_PRECONDITION, [&] {
    status = admin_->RevokeToken(Context("admin").get(), own, &revoked);
    return status;
  });
  EXPECT_THAT(status.error_message(), HasSubstr("issue yourself another token"));
  own.set_token_hash_prefix(TokenStore::HashPrefix(token_["admin"]).substr(0, 4));
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT, [&] {
    status = admin_->RevokeToken(Context("admin").get(), own, &revoked);
    return status;
  });
  EXPECT_THAT(status.error_message(), HasSubstr("is too short: give at least 12 hex digits"));
  grpc::ClientContext before;
  before.AddMetadata("authorization", "Bearer " + issued.token());
  v1::PingResponse pong;
  EXPECT_TRUE(Ok(events_->Ping(&before, v1::PingRequest(), &pong)));

  revoke.set_token_hash_prefix(prefix);
  const uint64_t head = store_->Head().position;
  ASSERT_TRUE(Ok(admin_->RevokeToken(Context("admin").get(), revoke, &revoked)));
  EXPECT_EQ(revoked.token_hash_prefix(), prefix);
  grpc::ClientContext after;
  after.AddMetadata("authorization", "Bearer " + issued.token());
  EXPECT_EQ(events_->Ping(&after, v1::PingRequest(), &pong).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Ok(events_->Ping(Context("sam").get(), v1::PingRequest(), &pong)))
      << "Sam's other token still works";
  // The log records who revoked which token; the user's view shows it.
  auto records = store_->ReadAll(head + 1, 10);
  ASSERT_OK(records.status());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].payload_type(), "spotflow.v1.TokenRevoked");
  EXPECT_EQ((*records)[0].actor().user_id(), "admin");
  v1::GetUserRequest get;
  get.set_user_id("sam");
  v1::UserView sam;
  ASSERT_TRUE(Ok(admin_->GetUser(Context("admin").get(), get, &sam)));
  ASSERT_EQ(sam.tokens_size(), 1) << "Sam's first token came from the file, not the log";
  EXPECT_EQ(sam.tokens(0).token_hash_prefix(), prefix);
  EXPECT_EQ(sam.tokens(0).issued_by(), "admin");
  EXPECT_TRUE(sam.tokens(0).has_issued_time());
  EXPECT_EQ(sam.tokens(0).revoked_by(), "admin");
  EXPECT_TRUE(sam.tokens(0).has_revoked_time());
  // Revoked once: a second time says so, and writes nothing.
  ExpectRefused(grpc::StatusCode::FAILED_PRECONDITION, [&] {
    status = admin_->RevokeToken(Context("admin").get(), revoke, &revoked);
    return status;
  });
  EXPECT_THAT(status.error_message(), HasSubstr("was revoked already, by admin at 20"));

  // A token the file holds but the log never saw issued (written by hand) is revoked too.
  revoke.set_token_hash_prefix(TokenStore::HashPrefix(token_["ann"]));
  revoke.set_user_id("ann");
  ASSERT_TRUE(Ok(admin_->RevokeToken(Context("admin").get(), revoke, &revoked)));
  get.set_user_id("ann");
  v1::UserView ann;
  ASSERT_TRUE(Ok(admin_->GetUser(Context("admin").get(), get, &ann)));
  ASSERT_EQ(ann.tokens_size(), 1);
  EXPECT_FALSE(ann.tokens(0).has_issued_time());
  EXPECT_EQ(ann.tokens(0).revoked_by(), "admin");
  // A deactivated user's token is revoked too (a leaver's), and recorded.
  issue.set_user_id("pete");
  ASSERT_TRUE(Ok(admin_->IssueToken(Context("admin").get(), issue, &issued)));
  v1::DeactivateUserRequest deactivate;
  deactivate.mutable_deactivate_user()->set_user_id("pete");
  v1::CommandResult done;
  ASSERT_TRUE(Ok(admin_->DeactivateUser(Context("admin").get(), deactivate, &done)));
  revoke.set_user_id("pete");
  revoke.set_token_hash_prefix(TokenStore::HashPrefix(issued.token()));
  ASSERT_TRUE(Ok(admin_->RevokeToken(Context("admin").get(), revoke, &revoked)));
  get.set_user_id("pete");
  v1::UserView pete;
  ASSERT_TRUE(Ok(admin_->GetUser(Context("admin").get(), get, &pete)));
  ASSERT_EQ(pete.tokens_size(), 1);
  EXPECT_EQ(pete.tokens(0).revoked_by(), "admin");
  // A token out of the file whose revocation the log lacks (an operator removed its line):
  // revoking it records what happened.
  issue.set_user_id("sam");
  ASSERT_TRUE(Ok(admin_->IssueToken(Context("admin").get(), issue, &issued)));
  {
    const std::string hash = TokenStore::HashToken(issued.token());
    std::ifstream in(dir_.Sub("tokens"));
    std::string text, line;
    while (std::getline(in, line)) {
      if (line.rfind(hash, 0) != 0) text += line + "\n";
    }
    std::ofstream(dir_.Sub("tokens"), std::ios::trunc) << text;
  }
  revoke.set_user_id("sam");
  revoke.set_token_hash_prefix(TokenStore::HashPrefix(issued.token()));
  ASSERT_TRUE(Ok(admin_->RevokeToken(Context("admin").get(), revoke, &revoked)));
  get.set_user_id("sam");
  ASSERT_TRUE(Ok(admin_->GetUser(Context("admin").get(), get, &sam)));
  ASSERT_EQ(sam.tokens_size(), 2);
  EXPECT_TRUE(sam.tokens(1).has_revoked_time());
  // Who holds which tokens is for administrators and the user alone.
  ASSERT_TRUE(Ok(admin_->GetUser(Context("sam").get(), get, &sam)));
  EXPECT_EQ(sam.tokens_size(), 2);
  ASSERT_TRUE(Ok(admin_->GetUser(Context("audrey").get(), get, &sam)));
  EXPECT_EQ(sam.tokens_size(), 0);
  v1::ListUsersResponse users;
  ASSERT_TRUE(Ok(admin_->ListUsers(Context("audrey").get(), v1::ListUsersRequest(), &users)));
  for (const v1::UserView& user : users.users()) {
    if (user.user_id() != "audrey") {
      EXPECT_EQ(user.tokens_size(), 0) << user.user_id();
    }
  }
  // And after a restart, the revoked tokens stay revoked.
  StopAll();
  StartAll();
  grpc::ClientContext restarted;
  restarted.AddMetadata("authorization", "Bearer " + issued.token());
  EXPECT_EQ(events_->Ping(&restarted, v1::PingRequest(), &pong).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ServiceTest, ClientsAndContacts) {
  const std::string client = CreateClient("acme");
  v1::AddContactRequest contact;
  contact.mutable_add_contact()->set_client_id(client);
  contact.mutable_add_contact()->mutable_contact()->set_name("Carol");
  v1::CommandResult added;
  ASSERT_TRUE(Ok(clients_->AddContact(Context("sam").get(), contact, &added)));
  EXPECT_FALSE(added.sub_id().empty());
  v1::GetClientRequest get;
  get.set_client_id(client);
  v1::ClientView view;
  ASSERT_TRUE(Ok(clients_->GetClient(Context("sam").get(), get, &view)));
  ASSERT_EQ(view.contacts_size(), 1);
  EXPECT_EQ(view.contacts(0).name(), "Carol");
  v1::ListClientsResponse list;
  ASSERT_TRUE(Ok(clients_->ListClients(Context("sam").get(), v1::ListClientsRequest(), &list)));
  EXPECT_EQ(list.clients_size(), 1);
  ExpectRefused(grpc::StatusCode::NOT_FOUND, [&] {
    return clients_->GetClient(Context("ann").get(), get, &view);  // not shared with Ann
  });
}

TEST_F(ServiceTest, AdminUsersRolesTypesAndWorkflows) {
  v1::ListRolesResponse roles;
  ASSERT_TRUE(Ok(admin_->ListRoles(Context("admin").get(), v1::ListRolesRequest(), &roles)));
  EXPECT_GE(roles.roles_size(), 8);
  v1::GetWorkflowRequest workflow;
  workflow.set_name(engine::kProductionOrder);
  v1::WorkflowDefinition definition;
  ASSERT_TRUE(Ok(admin_->GetWorkflow(Context("sam").get(), workflow, &definition)));
  EXPECT_EQ(definition.version(), 1u);
  v1::GetItemTypeRequest type;
  type.set_name(engine::kProductionOrder);
  v1::ItemTypeDefinition item_type;
  ASSERT_TRUE(Ok(admin_->GetItemType(Context("sam").get(), type, &item_type)));
  EXPECT_EQ(item_type.key_format(), "PO-{yyyy}-{seq:5}");
  v1::ListItemTypesResponse types;
  ASSERT_TRUE(Ok(admin_->ListItemTypes(Context("sam").get(), v1::ListItemTypesRequest(), &types)));
  ASSERT_EQ(types.item_types_size(), 1);
  EXPECT_EQ(types.item_types(0).key_format(), "PO-{yyyy}-{seq:5}");
  v1::ListWorkflowsResponse workflows;
  ASSERT_TRUE(
      Ok(admin_->ListWorkflows(Context("sam").get(), v1::ListWorkflowsRequest(), &workflows)));
  ASSERT_EQ(workflows.workflows_size(), 1);
  EXPECT_EQ(workflows.workflows(0).name(), engine::kProductionOrder);
  EXPECT_EQ(workflows.next_page_token(), "");
  v1::ListWorkflowsRequest not_a_token;
  not_a_token.set_page_token("garbage");
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT, [&] {
    return admin_->ListWorkflows(Context("sam").get(), not_a_token, &workflows);
  });
  v1::ListUsersResponse users;
  ASSERT_TRUE(Ok(admin_->ListUsers(Context("sam").get(), v1::ListUsersRequest(), &users)));
  EXPECT_EQ(users.users_size(), 5);  // admin, sam, ann, pete, audrey
  EXPECT_EQ(users.next_page_token(), "");
  // A page at a time: the next page's token, which the server takes back.
  v1::ListUsersRequest paged;
  paged.set_page_size(3);
  v1::ListUsersResponse first, second;
  ASSERT_TRUE(Ok(admin_->ListUsers(Context("sam").get(), paged, &first)));
  ASSERT_EQ(first.users_size(), 3);
  ASSERT_NE(first.next_page_token(), "");
  paged.set_page_token(first.next_page_token());
  ASSERT_TRUE(Ok(admin_->ListUsers(Context("sam").get(), paged, &second)));
  ASSERT_EQ(second.users_size(), 2);
  EXPECT_EQ(second.next_page_token(), "");
  EXPECT_EQ(second.users(0).user_id(), users.users(3).user_id());
  paged.set_page_token("ListClients.1.00000000");
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT, [&] {
    v1::ListUsersResponse refused;
    return admin_->ListUsers(Context("sam").get(), paged, &refused);
  });
  v1::DeactivateUserRequest deactivate;
  deactivate.mutable_deactivate_user()->set_user_id("ann");
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED, [&] {
    v1::CommandResult result;
    return admin_->DeactivateUser(Context("sam").get(), deactivate, &result);
  });
  v1::CommandResult result;
  ASSERT_TRUE(Ok(admin_->DeactivateUser(Context("admin").get(), deactivate, &result)));
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED, [&] {
    v1::ListUsersResponse again;
    return admin_->ListUsers(Context("ann").get(), v1::ListUsersRequest(), &again);
  });
}

TEST_F(ServiceTest, EventsForAdministratorsOnly) {
  v1::ListEventsRequest list;
  list.set_page_size(5);
  v1::ListEventsResponse events;
  ASSERT_TRUE(Ok(events_->ListEvents(Context("admin").get(), list, &events)));
  EXPECT_EQ(events.events_size(), 5);
  EXPECT_EQ(events.next_position(), 6u);
  // The store's head: a page that ends before it has more to come.
  EXPECT_EQ(events.head_position(), store_->Head().position);
  EXPECT_GT(events.head_position(), 5u);
  v1::VerifyLogResponse verified;
  ASSERT_TRUE(Ok(events_->VerifyLog(Context("admin").get(), v1::VerifyLogRequest(), &verified)));
  EXPECT_EQ(verified.last_position(), store_->Head().position);
  EXPECT_EQ(verified.last_hash(), store_->Head().hash);
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED,
                [&] { return events_->ListEvents(Context("sam").get(), list, &events); });
}

TEST_F(ServiceTest, BadCallsGetTheirCodeWriteNothingAndTheServerStaysUp) {
  const std::string client = CreateClient("acme");
  v1::CommandResult result;
  ExpectRefused(grpc::StatusCode::UNAUTHENTICATED, [&] {
    return orders_->CreateOrder(Context("").get(), OrderRequest(client), &result);
  });
  ExpectRefused(grpc::StatusCode::UNAUTHENTICATED, [&] {
    return orders_->CreateOrder(Context("not-a-token").get(), OrderRequest(client), &result);
  });
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT, [&] {
    return orders_->CreateOrder(Context("sam").get(), v1::CreateOrderRequest(), &result);
  });
  v1::CreateOrderRequest bad_kind = OrderRequest(client);
  bad_kind.mutable_create_order()->set_kind(static_cast<v1::OrderKind>(77));
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT,
                [&] { return orders_->CreateOrder(Context("sam").get(), bad_kind, &result); });
  v1::CreateOrderRequest bad_dates = OrderRequest(client);
  bad_dates.mutable_create_order()->mutable_flight_end()->set_year(2025);
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT,
                [&] { return orders_->CreateOrder(Context("sam").get(), bad_dates, &result); });
  v1::CreateOrderRequest oversized = OrderRequest(client);
  // 20 KiB of instructions: within the engine's field limit, over this server's 16 KiB.
  oversized.mutable_create_order()->set_instructions(std::string(20 * 1024, 'x'));
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT, [&] {
    grpc::Status status = orders_->CreateOrder(Context("sam").get(), oversized, &result);
    EXPECT_THAT(status.error_message(), HasSubstr("the limit is 16384"));
    return status;
  });
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED, [&] {
    return orders_->CreateOrder(Context("pete").get(), OrderRequest(client), &result);
  });
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  v1::UpdateOrderRequest update;
  update.mutable_update_order()->set_order_id(created.id());
  update.mutable_update_order()->set_title("New title");
  update.set_etag(created.etag() + 5);
  ExpectRefused(grpc::StatusCode::ABORTED, [&] {
    grpc::Status status = orders_->UpdateOrder(Context("sam").get(), update, &result);
    // The reason travels in the call's error details, for programs (proto/error.proto).
    std::optional<v1::ErrorInfo> info = ErrorInfoOf(status);
    EXPECT_TRUE(info.has_value()) << "no ErrorInfo in the error details";
    if (info.has_value()) {
      EXPECT_EQ(info->reason(), "ETAG_MISMATCH");
      EXPECT_EQ(info->domain(), "spotflow");
      EXPECT_EQ(info->metadata().at("current_etag"), absl::StrCat(created.etag()));
      EXPECT_EQ(info->metadata().at("etag"), absl::StrCat(created.etag() + 5));
    }
    // Read back as an absl::Status, the reason is there too.
    EXPECT_EQ(engine::ErrorInfoOf(FromGrpcStatus(status))->reason(), "ETAG_MISMATCH");
    return status;
  });
  // Bytes that are no CreateOrderRequest at all: parsed by the service itself (every unary
  // method is registered raw), so the caller hears INVALID_ARGUMENT naming the type.
  grpc::GenericStub generic(channel_);
  const uint64_t head = store_->Head().position;
  grpc::Slice garbage("\xff\xff\xff\xff\x0f", 5);
  grpc::ByteBuffer request(&garbage, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  auto context = Context("sam");
  generic.UnaryCall(context.get(), "/spotflow.v1.Orders/CreateOrder", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("spotflow.v1.CreateOrderRequest"));
  EXPECT_EQ(store_->Head().position, head);
  v1::PingResponse pong;
  EXPECT_TRUE(Ok(events_->Ping(Context("sam").get(), v1::PingRequest(), &pong)));
}

TEST_F(ServiceTest, SubscribeEventsDeliversBacklogThenLiveInBatches) {
  auto context = Context("admin");
  v1::SubscribeEventsRequest request;
  request.set_from_position(1);
  auto reader = events_->SubscribeEvents(context.get(), request);
  const uint64_t head = store_->Head().position;
  uint64_t next = 1;
  v1::EventBatch batch;
  while (next <= head && reader->Read(&batch)) {
    for (const auto& event : batch.events()) EXPECT_EQ(event.position(), next++);
    // Each batch says where the log ends: past it, more comes at once.
    EXPECT_EQ(batch.head_position(), head);
  }
  EXPECT_EQ(next, head + 1) << "the backlog, in order, without a gap";
  const std::string client = CreateClient("acme");  // A live append.
  ASSERT_TRUE(reader->Read(&batch));
  ASSERT_GE(batch.events_size(), 1);
  EXPECT_EQ(batch.events(0).position(), head + 1);
  EXPECT_EQ(batch.events(0).stream_id(), "client-acme");
  context->TryCancel();
  while (reader->Read(&batch)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  auto denied = Context("sam");
  auto refused = events_->SubscribeEvents(denied.get(), request);
  EXPECT_FALSE(refused->Read(&batch));
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ServiceTest, WatchOrderSendsEachChangeToThoseWhoMaySeeIt) {
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  auto context = Context("sam");
  v1::WatchOrderRequest request;
  // By its key, as people name it (the engine names changes by id; the e2e test watches by id).
  ASSERT_FALSE(created.key().empty());
  request.set_order_id(created.key());
  auto reader = orders_->WatchOrder(context.get(), request);
  v1::OrderView view;
  ASSERT_TRUE(reader->Read(&view));
  EXPECT_EQ(view.version(), created.etag());
  v1::SubmitRevisionRequest script;
  script.mutable_submit_revision()->set_order_id(created.id());
  script.mutable_submit_revision()->set_artifact("script");
  script.mutable_submit_revision()->set_text("draft");
  v1::CommandResult submitted;
  ASSERT_TRUE(Ok(orders_->SubmitRevision(Context("pete").get(), script, &submitted)));
  ASSERT_TRUE(reader->Read(&view));
  EXPECT_EQ(view.version(), submitted.etag());
  EXPECT_EQ(view.status(), "script_review");
  context->TryCancel();
  while (reader->Read(&view)) {
  }
  reader->Finish().IgnoreError();

  auto outsider = Context("ann");  // No share on this account.
  auto refused = orders_->WatchOrder(outsider.get(), request);
  EXPECT_FALSE(refused->Read(&view));
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

// Whom a handed order's owner calls is for GetOrder: WatchOrder's feed, sent again only when
// the order changes, leaves the client's contacts out, as it does what is open to the caller.
TEST_F(ServiceTest, WatchOrderLeavesOutTheContactsGetOrderGivesAHandedOrdersOwner) {
  AddSalesManager();
  const std::string client = CreateClient("acme");
  v1::AddContactRequest contact;
  contact.mutable_add_contact()->set_client_id(client);
  contact.mutable_add_contact()->mutable_contact()->set_name("Carol Client");
  contact.mutable_add_contact()->mutable_contact()->set_phone("+1 555 0100");
  v1::CommandResult added;
  ASSERT_TRUE(Ok(clients_->AddContact(Context("sam").get(), contact, &added)));
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  v1::ReassignOrdersRequest hand;
  hand.mutable_reassign_orders()->add_order_ids(created.id());
  hand.mutable_reassign_orders()->set_to_owner("ann");  // No share on this account.
  v1::CommandResult handed;
  ASSERT_TRUE(Ok(orders_->ReassignOrders(Context("mia").get(), hand, &handed)));
  v1::GetOrderRequest get;
  get.set_order_id(created.id());
  v1::OrderView shown;
  ASSERT_TRUE(Ok(orders_->GetOrder(Context("ann").get(), get, &shown)));
  ASSERT_EQ(shown.client_contacts_size(), 1);
  EXPECT_EQ(shown.client_contacts(0).phone(), "+1 555 0100");
  auto context = Context("ann");
  v1::WatchOrderRequest watch;
  watch.set_order_id(created.id());
  auto reader = orders_->WatchOrder(context.get(), watch);
  v1::OrderView fed;
  ASSERT_TRUE(reader->Read(&fed));
  EXPECT_EQ(fed.version(), shown.version());
  EXPECT_EQ(fed.client_contacts_size(), 0);
  context->TryCancel();
  while (reader->Read(&fed)) {
  }
  reader->Finish().IgnoreError();
}

// A client contact's login watching its order is sent what it is shown, and again only when
// that changes: the house's comments and shares change the order's version, and a push for
// them would tell the client when the house works on the order.
TEST_F(ServiceTest, WatchOrderSendsAContactsLoginOnlyChangesToWhatItIsShown) {
  const std::string client = CreateClient("acme");
  v1::AddContactRequest contact;
  contact.mutable_add_contact()->set_client_id(client);
  contact.mutable_add_contact()->mutable_contact()->set_contact_id("carol");
  contact.mutable_add_contact()->mutable_contact()->set_name("Carol Client");
  v1::CommandResult done;
  ASSERT_TRUE(Ok(clients_->AddContact(Context("sam").get(), contact, &done)));
  v1::CreateUserRequest login;
  login.mutable_create_user()->set_user_id("cara");
  login.mutable_create_user()->set_display_name("Carol Client");
  login.mutable_create_user()->add_roles(engine::kClientContact);
  login.mutable_create_user()->set_client_id(client);
  login.mutable_create_user()->set_contact_id("carol");
  ASSERT_TRUE(Ok(admin_->CreateUser(Context("admin").get(), login, &done)));
  auto token = tokens_->Issue(dir_.Sub("tokens"), "cara");
  ASSERT_OK(token.status());
  token_["cara"] = *token;
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  auto house_work = [&] {
    v1::AddCommentRequest comment;
    comment.mutable_add_comment()->set_order_id(created.id());
    comment.mutable_add_comment()->set_text("Talent booked for Tuesday");
    v1::CommandResult result;
    ASSERT_TRUE(Ok(orders_->AddComment(Context("sam").get(), comment, &result)));
    v1::ShareOrderRequest share;
    share.mutable_share_order()->set_order_id(created.id());
    share.mutable_share_order()->set_user_id("ann");
    ASSERT_TRUE(Ok(orders_->ShareOrder(Context("sam").get(), share, &result)));
  };
  v1::WatchOrderRequest watch;
  watch.set_order_id(created.id());
  {
    // The deadline ends the feed that the house's work must not wake.
    auto context = Context("cara");
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    auto reader = orders_->WatchOrder(context.get(), watch);
    v1::OrderView fed;
    ASSERT_TRUE(reader->Read(&fed));
    EXPECT_EQ(fed.shown_to_contact(), "carol");
    EXPECT_EQ(fed.version(), created.etag());
    house_work();
    EXPECT_FALSE(reader->Read(&fed)) << "sent again at version " << fed.version();
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  // What it is shown changing (the order's state, a script forwarded to it) is sent, at the
  // order's version then.
  auto context = Context("cara");
  // A change that is not sent fails the test instead of hanging it.
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = orders_->WatchOrder(context.get(), watch);
  v1::OrderView fed;
  ASSERT_TRUE(reader->Read(&fed));
  v1::SubmitRevisionRequest script;
  script.mutable_submit_revision()->set_order_id(created.id());
  script.mutable_submit_revision()->set_artifact("script");
  script.mutable_submit_revision()->set_text("Cold outside? Hot deals inside.");
  v1::CommandResult submitted;
  ASSERT_TRUE(Ok(orders_->SubmitRevision(Context("pete").get(), script, &submitted)));
  ASSERT_TRUE(reader->Read(&fed));
  EXPECT_EQ(fed.version(), submitted.etag());
  EXPECT_EQ(fed.status(), "script_review");
  EXPECT_EQ(fed.scripts_size(), 0) << "not forwarded to Carol";
  house_work();
  v1::ForwardToClientRequest forward;
  forward.mutable_forward_to_client()->set_order_id(created.id());
  forward.mutable_forward_to_client()->set_artifact("script");
  forward.mutable_forward_to_client()->set_revision(1);
  forward.mutable_forward_to_client()->set_contact_id("carol");
  v1::CommandResult forwarded;
  ASSERT_TRUE(Ok(orders_->ForwardToClient(Context("sam").get(), forward, &forwarded)));
  ASSERT_TRUE(reader->Read(&fed));
  EXPECT_EQ(fed.version(), forwarded.etag());
  ASSERT_EQ(fed.scripts_size(), 1);
  EXPECT_EQ(fed.comments_size(), 0);
  EXPECT_EQ(fed.participants_size(), 0);
  context->TryCancel();
  while (reader->Read(&fed)) {
  }
  reader->Finish().IgnoreError();
}

// The threads of this process, from /proc/self/status.
int Threads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "Threads:")) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST_F(ServiceTest, LiveFeedsHoldNoThreadEachAndReachTheLatestChange) {
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  // A second order, changed too: its changes must not keep the first one's watchers from
  // theirs.
  v1::CommandResult other;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &other)));
  // Every read has a deadline: a feed that is never woken fails the test instead of hanging it.
  auto live = [&](const std::string& user) {
    std::unique_ptr<grpc::ClientContext> context = Context(user);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return context;
  };
  // Warm up: one watcher, so that gRPC's own threads for streams exist before counting.
  {
    auto context = live("sam");
    v1::WatchOrderRequest request;
    request.set_order_id(created.id());
    auto reader = orders_->WatchOrder(context.get(), request);
    v1::OrderView view;
    ASSERT_TRUE(reader->Read(&view));
    context->TryCancel();
    while (reader->Read(&view)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  const int threads_before = Threads();
  ASSERT_GT(threads_before, 0);

  constexpr int kWatchers = 60;
  constexpr int kSubscribers = 20;
  struct Watcher {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::OrderView>> reader;
  };
  struct Subscriber {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::EventBatch>> reader;
  };
  std::vector<Watcher> watchers(kWatchers);
  for (Watcher& w : watchers) {
    w.context = live("sam");
    v1::WatchOrderRequest request;
    request.set_order_id(created.id());
    w.reader = orders_->WatchOrder(w.context.get(), request);
    v1::OrderView view;
    ASSERT_TRUE(w.reader->Read(&view));
    EXPECT_EQ(view.version(), created.etag());
  }
  const uint64_t head = store_->Head().position;
  std::vector<Subscriber> subscribers(kSubscribers);
  for (Subscriber& s : subscribers) {
    s.context = live("admin");
    v1::SubscribeEventsRequest request;
    request.set_from_position(head + 1);  // Nothing yet: each parks at once.
    s.reader = events_->SubscribeEvents(s.context.get(), request);
  }
  // Each open stream holding a thread would add 80; allow for gRPC's own.
  EXPECT_LT(Threads() - threads_before, 16) << "open feeds hold threads";

  // Changes to both orders, one after another, while the feeds park and wake.
  constexpr int kChanges = 20;
  uint64_t last_etag = 0;
  for (int i = 0; i < kChanges; ++i) {
    for (const std::string& id : {created.id(), other.id()}) {
      v1::AddCommentRequest comment;
      comment.mutable_add_comment()->set_order_id(id);
      comment.mutable_add_comment()->set_text(absl::StrCat("note ", i));
      v1::CommandResult commented;
      ASSERT_TRUE(Ok(orders_->AddComment(Context("sam").get(), comment, &commented)));
      if (id == created.id()) last_etag = commented.etag();
    }
  }
  const uint64_t last = store_->Head().position;
  for (Watcher& w : watchers) {
    v1::OrderView view;
    while (view.version() < last_etag) ASSERT_TRUE(w.reader->Read(&view));
    EXPECT_EQ(view.version(), last_etag);
  }
  for (Subscriber& s : subscribers) {
    uint64_t next = head + 1;
    v1::EventBatch batch;
    while (next <= last && s.reader->Read(&batch)) {
      for (const auto& event : batch.events()) EXPECT_EQ(event.position(), next++);
    }
    EXPECT_EQ(next, last + 1) << "every record, in order, without a gap";
  }

  // A change beyond orders that hides the order ends its watcher: ann sees it through the
  // client's share, until it is withdrawn.
  v1::ShareClientRequest share;
  share.mutable_share_client()->set_client_id(client);
  share.mutable_share_client()->set_user_id("ann");
  v1::CommandResult shared;
  ASSERT_TRUE(Ok(clients_->ShareClient(Context("sam").get(), share, &shared)));
  auto ann_context = live("ann");
  v1::WatchOrderRequest watch;
  watch.set_order_id(created.id());
  auto ann = orders_->WatchOrder(ann_context.get(), watch);
  v1::OrderView seen;
  ASSERT_TRUE(ann->Read(&seen));
  v1::UnshareClientRequest unshare;
  unshare.mutable_unshare_client()->set_client_id(client);
  unshare.mutable_unshare_client()->set_user_id("ann");
  v1::CommandResult unshared;
  ASSERT_TRUE(Ok(clients_->UnshareClient(Context("sam").get(), unshare, &unshared)));
  while (ann->Read(&seen)) {
  }
  EXPECT_EQ(ann->Finish().error_code(), grpc::StatusCode::NOT_FOUND);

  // Cancelled parked feeds end; the rest end as soon as the server shuts down, well before
  // a long grace runs out, with UNAVAILABLE (reconnect).
  for (int i = 0; i < kWatchers / 2; ++i) {
    watchers[i].context->TryCancel();
    v1::OrderView view;
    while (watchers[i].reader->Read(&view)) {
    }
    EXPECT_EQ(watchers[i].reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  const absl::Time stopping = absl::Now();
  server_->Shutdown(absl::Seconds(30));
  EXPECT_LT(absl::Now() - stopping, absl::Seconds(10)) << "live feeds held the drain";
  for (int i = kWatchers / 2; i < kWatchers; ++i) {
    v1::OrderView view;
    while (watchers[i].reader->Read(&view)) {
    }
    EXPECT_EQ(watchers[i].reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  for (Subscriber& s : subscribers) {
    v1::EventBatch batch;
    while (s.reader->Read(&batch)) {
    }
    EXPECT_EQ(s.reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
}

TEST_F(ServiceTest, AnEndedLiveFeedGivesBackItsPlaceAmongTheOpenStreams) {
  StopAll();
  max_streams_ = 3;
  StartAll();
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  v1::WatchOrderRequest request;
  request.set_order_id(created.id());
  struct Watcher {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::OrderView>> reader;
  };
  auto open = [&] {
    Watcher w{Context("sam"), nullptr};
    w.context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    w.reader = orders_->WatchOrder(w.context.get(), request);
    return w;
  };
  auto close = [](Watcher& w) {
    w.context->TryCancel();
    v1::OrderView view;
    while (w.reader->Read(&view)) {
    }
    w.reader->Finish().IgnoreError();
  };
  // Rounds of three parked watchers, cancelled: each round fits only once the server has let
  // go of the last round's streams (on their OnDone), which it does on its own threads, so a
  // round retries for up to 5 s.
  for (int round = 0; round < 4; ++round) {
    std::vector<Watcher> watchers;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (watchers.size() < 3 && absl::Now() < deadline) {
      Watcher w = open();
      v1::OrderView view;
      if (w.reader->Read(&view)) {
        watchers.push_back(std::move(w));
        continue;
      }
      ASSERT_EQ(w.reader->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_EQ(watchers.size(), 3u) << "cancelled feeds kept their places, round " << round;
    Watcher fourth = open();
    v1::OrderView view;
    EXPECT_FALSE(fourth.reader->Read(&view));
    EXPECT_EQ(fourth.reader->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    for (Watcher& w : watchers) close(w);
  }
}

TEST_F(ServiceTest, OneUserCannotHoldEveryStreamAndGetsItsPlacesBack) {
  StopAll();
  max_streams_per_user_ = 2;
  StartAll();
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  v1::WatchOrderRequest request;
  request.set_order_id(created.id());
  struct Watcher {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<v1::OrderView>> reader;
  };
  auto open = [&](const std::string& user) {
    Watcher w{Context(user), nullptr};
    w.reader = orders_->WatchOrder(w.context.get(), request);
    return w;
  };
  v1::OrderView view;
  std::vector<Watcher> sams;
  for (int i = 0; i < 2; ++i) {
    sams.push_back(open("sam"));
    ASSERT_TRUE(sams.back().reader->Read(&view));
  }
  Watcher third = open("sam");
  EXPECT_FALSE(third.reader->Read(&view));
  grpc::Status refused = third.reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("the most one user may"));
  {
    // Another user still gets a place (ann may not see sam's order: NOT_FOUND, not a limit).
    Watcher anns = open("ann");
    if (!anns.reader->Read(&view)) {
      EXPECT_EQ(anns.reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
    } else {
      anns.context->TryCancel();
      while (anns.reader->Read(&view)) {
      }
      anns.reader->Finish().IgnoreError();
    }
  }
  // Sam ends one feed; a new one opens once the server has let it go.
  sams[0].context->TryCancel();
  while (sams[0].reader->Read(&view)) {
  }
  sams[0].reader->Finish().IgnoreError();
  bool reopened = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!reopened && absl::Now() < deadline) {
    Watcher again = open("sam");
    reopened = again.reader->Read(&view);
    again.context->TryCancel();
    while (again.reader->Read(&view)) {
    }
    again.reader->Finish().IgnoreError();
    if (!reopened) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(reopened);
  sams[1].context->TryCancel();
  while (sams[1].reader->Read(&view)) {
  }
  sams[1].reader->Finish().IgnoreError();
}

TEST_F(ServiceTest, ConcurrentCommandsWithAndWithoutRequestIdsAllLandOnce) {
  const std::string client = CreateClient("acme");
  std::vector<std::string> orders;
  for (int i = 0; i < 2; ++i) {
    v1::CommandResult created;
    ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
    orders.push_back(created.id());
  }
  // 8 callers, 30 comments each on both orders at once. Without a request id a command
  // decides in the reaction when the engine can at once; with one it goes to the executor.
  constexpr int kCallers = 8;
  constexpr int kEach = 30;
  std::atomic<int> failures{0};
  std::atomic<int> deduplicated{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int i = 0; i < kEach; ++i) {
        v1::AddCommentRequest comment;
        comment.mutable_add_comment()->set_order_id(orders[(c + i) % 2]);
        comment.mutable_add_comment()->set_text(absl::StrCat("caller ", c, " note ", i));
        if (i % 2 == 1) comment.set_request_id(absl::StrCat("c", c, "-", i));
        // Every third with a request id is sent twice at the same moment, so that the two
        // race through the engine and the store.
        const int sends = i % 6 == 3 ? 2 : 1;
        std::vector<std::thread> senders;
        for (int send = 0; send < sends; ++send) {
          senders.emplace_back([&, comment] {
            v1::CommandResult result;
            grpc::Status status = orders_->AddComment(Context("sam").get(), comment, &result);
            if (!status.ok()) ++failures;
            if (result.deduplicated()) ++deduplicated;
          });
        }
        for (std::thread& sender : senders) sender.join();
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(deduplicated.load(), kCallers * (kEach / 6));  // Every repeat, and only those.
  size_t comments = 0;
  for (const std::string& id : orders) {
    v1::GetOrderRequest get;
    get.set_order_id(id);
    v1::OrderView order;
    ASSERT_TRUE(Ok(orders_->GetOrder(Context("sam").get(), get, &order)));
    comments += order.comments_size();
  }
  EXPECT_EQ(comments, size_t{kCallers * kEach}) << "each command landed exactly once";
  // The live state is what the log says (a difference is DATA_LOSS naming the field).
  EXPECT_OK(engine_->CheckReplay({"admin"}, engine::Progress()).status());
}

TEST_F(ServiceTest, HealthServiceAnswersServing) {
  grpc::GenericStub generic(channel_);
  grpc::ByteBuffer request;  // An empty HealthCheckRequest: the server as a whole.
  grpc::Slice empty("", 0);
  request = grpc::ByteBuffer(&empty, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  grpc::ClientContext context;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  ASSERT_TRUE(Ok(status));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) bytes.append(slice.begin(), slice.end());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2)) << "status: SERVING";
}

TEST_F(ServiceTest, ACallThatSendsNoMessageIsInvalidArgumentAndWritesNothing) {
  // A client that half-closes without a request: a raw handler gets an empty buffer, which
  // must not run as a default request (a SubscribeEvents from 0, an order with no fields).
  const uint64_t before = engine_->position();
  grpc::GenericStub generic(channel_);
  for (const char* method : {"/spotflow.v1.Orders/CreateOrder",
                             "/spotflow.v1.Events/SubscribeEvents", "/spotflow.v1.Audit/Export"}) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token_["admin"]);
    grpc::CompletionQueue cq;
    auto await = [&cq](intptr_t expected) {  // One operation at a time, as gRPC requires.
      void* tag = nullptr;
      bool ok = false;
      while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(expected)) {
      }
    };
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        generic.PrepareCall(&context, method, &cq);
    call->StartCall(reinterpret_cast<void*>(1));
    await(1);
    call->WritesDone(reinterpret_cast<void*>(2));
    await(2);
    grpc::ByteBuffer reply;
    call->Read(&reply, reinterpret_cast<void*>(3));
    await(3);
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(4));
    await(4);
    cq.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
    }
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_THAT(status.error_message(), HasSubstr("carries no spotflow.v1.")) << method;
  }
  EXPECT_EQ(engine_->position(), before);
}

TEST_F(ServiceTest, ASecondServerCannotTakeAPortInUse) {
  // Without this, gRPC's SO_REUSEPORT would let both listen and split the callers.
  ServerOptions options;
  options.listen = absl::StrCat("127.0.0.1:", server_->port());
  auto second = Server::Start(options, engine_.get(), tokens_.get());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("cannot listen on 127.0.0.1:"));
  v1::ListClientsResponse clients;  // The first one still serves.
  EXPECT_TRUE(Ok(clients_->ListClients(Context("sam").get(), v1::ListClientsRequest(), &clients)));
}

TEST_F(ServiceTest, AListenAddressWithoutAPortOrPastTheLastPortIsRefused) {
  // gRPC would serve "127.0.0.1" on port 443 and "127.0.0.1:99999" on port 34463.
  for (const char* listen : {"127.0.0.1", "127.0.0.1:99999", "127.0.0.1:abc", ":50051", "::1"}) {
    ServerOptions options;
    options.listen = listen;
    auto refused = Server::Start(options, engine_.get(), tokens_.get());
    ASSERT_FALSE(refused.ok()) << listen;
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_THAT(refused.status().message(), HasSubstr("give HOST:PORT with a port from 0"));
  }
  ServerOptions v6;
  v6.listen = "[::1]:0";
  auto started = Server::Start(v6, engine_.get(), tokens_.get());
  // A host without IPv6 cannot listen there; the address itself is taken.
  if (!started.ok()) {
    EXPECT_EQ(started.status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST_F(ServiceTest, RestartKeepsEveryState) {
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  StopAll();
  StartAll();
  v1::GetOrderRequest get;
  get.set_order_id(created.id());
  v1::OrderView order;
  ASSERT_TRUE(Ok(orders_->GetOrder(Context("sam").get(), get, &order)));
  EXPECT_EQ(order.key(), created.key());
  EXPECT_EQ(order.version(), created.etag());
}

TEST(ExecutorTest, RefusesPastItsBound) {
  internal::Executor executor(1, 2);
  absl::Notification release;
  absl::Notification started;
  ASSERT_TRUE(executor.TrySchedule([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();
  EXPECT_TRUE(executor.TrySchedule([] {}));
  EXPECT_FALSE(executor.TrySchedule([] {})) << "a third call past the bound of two";
  release.Notify();
}

TEST(TokenStoreTest, KeepsOnlyHashesAndAuthenticatesBearers) {
  testing::TempDir dir;
  auto tokens = TokenStore::Load(dir.Sub("tokens"));
  ASSERT_OK(tokens.status());
  auto token = (*tokens)->Issue(dir.Sub("tokens"), "sam");
  ASSERT_OK(token.status());
  std::ifstream in(dir.Sub("tokens"));
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(file, ::testing::Not(HasSubstr(*token)));
  EXPECT_THAT(file, HasSubstr(TokenStore::HashToken(*token)));
  EXPECT_EQ(std::filesystem::status(dir.Sub("tokens")).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)
      << "the token file is its owner's only";
  auto reloaded = TokenStore::Load(dir.Sub("tokens"));
  ASSERT_OK(reloaded.status());
  EXPECT_EQ(*(*reloaded)->Authenticate("Bearer " + *token), "sam");
  EXPECT_THAT((*reloaded)->Authenticate("Bearer nope"),
              testing::StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT((*reloaded)->Authenticate(*token),
              testing::StatusIs(absl::StatusCode::kUnauthenticated));
  std::filesystem::permissions(dir.Sub("tokens"), std::filesystem::perms::group_write,
                               std::filesystem::perm_options::add);
  EXPECT_THAT(TokenStore::Load(dir.Sub("tokens")),
              testing::StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("chmod 600")));
  std::ofstream(dir.Sub("bad")) << "not a hash line\n";
  std::filesystem::permissions(
      dir.Sub("bad"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_THAT(TokenStore::Load(dir.Sub("bad")),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(":1:")));
  // The scheme in any case, and more than one space after it.
  EXPECT_EQ(*(*reloaded)->Authenticate("BEARER " + *token), "sam");
  EXPECT_EQ(*(*reloaded)->Authenticate("bearer   " + *token), "sam");
  EXPECT_THAT((*reloaded)->Authenticate("Basic " + *token),
              testing::StatusIs(absl::StatusCode::kUnauthenticated));
  // One hash given to two users is refused, naming both lines; a directory is no token file.
  const std::string hash = TokenStore::HashToken(*token);
  std::ofstream(dir.Sub("twice")) << hash << " sam\n# the same hash again\n" << hash << " mia\n";
  std::filesystem::permissions(
      dir.Sub("twice"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_THAT(
      TokenStore::Load(dir.Sub("twice")),
      testing::StatusIs(absl::StatusCode::kInvalidArgument,
                        HasSubstr(":3: this hash is already given to another user at line 1")));
  std::filesystem::create_directory(dir.Sub("a-directory"));
  EXPECT_THAT(
      TokenStore::Load(dir.Sub("a-directory")),
      testing::StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not a regular file")));
}

TEST(TokenStoreTest, ReloadTakesTheFileAsItIsNowAndKeepsTheOldOnAnError) {
  testing::TempDir dir;
  const std::string path = dir.Sub("tokens");
  ASSERT_OK_AND_ASSIGN(auto a, TokenStore::Load(path));
  ASSERT_OK_AND_ASSIGN(auto b, TokenStore::Load(path));  // A second server on the same file.
  ASSERT_OK_AND_ASSIGN(const std::string token, a->Issue(path, "sam"));
  EXPECT_THAT(b->Authenticate("Bearer " + token),
              testing::StatusIs(absl::StatusCode::kUnauthenticated));
  ASSERT_OK(b->Reload(path));
  EXPECT_EQ(*b->Authenticate("Bearer " + token), "sam") << "issued by the other server";
  std::ofstream(path, std::ios::trunc) << "# sam's token revoked\n";
  ASSERT_OK(b->Reload(path));
  EXPECT_THAT(b->Authenticate("Bearer " + token),
              testing::StatusIs(absl::StatusCode::kUnauthenticated))
      << "a line removed is a token revoked";
  ASSERT_OK_AND_ASSIGN(const std::string again, b->Issue(path, "mia"));
  std::ofstream(path, std::ios::app) << "garbage\n";
  EXPECT_THAT(b->Reload(path), testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(*b->Authenticate("Bearer " + again), "mia") << "a bad file changes nothing";
  // Nor is it added to or rewritten, which would carry the bad line on to the next start.
  const auto file = [&] {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string bad = file();
  EXPECT_THAT(b->Issue(path, "ann"),
              testing::StatusIs(absl::StatusCode::kFailedPrecondition,
                                AllOf(HasSubstr("does not load as it is now"),
                                      HasSubstr("send spotflowd SIGHUP; no token was issued"))));
  EXPECT_THAT(
      b->Revoke(path, "mia", TokenStore::HashPrefix(again)),
      testing::StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no token was revoked")));
  EXPECT_EQ(file(), bad);
  EXPECT_EQ(*b->Authenticate("Bearer " + again), "mia");
}

TEST(TokenStoreTest, RevokeTakesOneTokenOutOfTheFileAndKeepsTheRest) {
  testing::TempDir dir;
  const std::string path = dir.Sub("tokens");
  ASSERT_OK_AND_ASSIGN(auto tokens, TokenStore::Load(path));
  ASSERT_OK_AND_ASSIGN(const std::string first, tokens->Issue(path, "sam"));
  ASSERT_OK_AND_ASSIGN(const std::string second, tokens->Issue(path, "sam"));
  ASSERT_OK_AND_ASSIGN(const std::string mias, tokens->Issue(path, "mia"));
  std::ofstream(path, std::ios::app) << "# kept as written\n";
  const std::string hash = TokenStore::HashToken(first);

  // Refusals change nothing.
  const auto file = [&] {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string before = file();
  EXPECT_THAT(tokens->Revoke(path, "sam", hash.substr(0, 11)),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too short")));
  EXPECT_THAT(tokens->Revoke(path, "sam", "zzzzzzzzzzzz"),
              testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(tokens->Revoke(path, "mia", hash.substr(0, 12)),
              testing::StatusIs(absl::StatusCode::kNotFound, HasSubstr("user show mia")))
      << "another user's token";
  EXPECT_EQ(file(), before);
  // Two tokens of one user whose hashes share a start: a line written by hand.
  std::string twin = hash.substr(0, 12) + std::string(52, '0');
  if (twin == hash) twin.back() = '1';
  std::ofstream(path, std::ios::app) << twin << " sam\n";
  ASSERT_OK(tokens->Reload(path));
  EXPECT_THAT(tokens->Revoke(path, "sam", hash.substr(0, 12)),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more digits")));
  EXPECT_EQ(*tokens->Authenticate("Bearer " + first), "sam");

  // A longer prefix, in capitals, names one.
  ASSERT_OK_AND_ASSIGN(const std::string revoked,
                       tokens->Revoke(path, "sam", absl::AsciiStrToUpper(hash.substr(0, 20))));
  EXPECT_EQ(revoked, hash);
  EXPECT_THAT(tokens->Authenticate("Bearer " + first),
              testing::StatusIs(absl::StatusCode::kUnauthenticated))
      << "revoked at once";
  EXPECT_EQ(*tokens->Authenticate("Bearer " + second), "sam");
  EXPECT_EQ(*tokens->Authenticate("Bearer " + mias), "mia");
  EXPECT_THAT(file(), ::testing::Not(HasSubstr(hash)));
  EXPECT_THAT(file(), HasSubstr("# kept as written"));
  EXPECT_THAT(file(), HasSubstr(TokenStore::HashToken(second)));
  EXPECT_NE(before, file());
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  for (const auto& entry : std::filesystem::directory_iterator(dir.Sub(""))) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr(".new")))
        << "no replacement file left behind";
  }
  // A server loading the file now agrees.
  ASSERT_OK_AND_ASSIGN(auto reloaded, TokenStore::Load(path));
  EXPECT_THAT(reloaded->Authenticate("Bearer " + first),
              testing::StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(*reloaded->Authenticate("Bearer " + second), "sam");
  EXPECT_THAT(tokens->Revoke(path, "sam", hash.substr(0, 20)),
              testing::StatusIs(absl::StatusCode::kNotFound))
      << "revoked once";
}

namespace {

// Reads a whole server stream; returns its messages and its status.
template <typename Response, typename Reader>
std::pair<std::vector<Response>, grpc::Status> ReadAll(Reader reader) {
  std::vector<Response> messages;
  Response message;
  while (reader->Read(&message)) messages.push_back(message);
  grpc::Status status = reader->Finish();
  return {messages, status};
}

}  // namespace

TEST_F(ServiceTest, AuditRunsAreBoundedAndAFinishedOneGivesBackItsPlace) {
  StopAll();
  max_audit_runs_ = 1;
  StartAll();
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  // About 3 MB of log: an export its client does not read stalls on flow control, so its run
  // stays open.
  // (Spread over orders: one order takes at most 1 MiB.)
  for (int o = 0; o < 6; ++o) {
    v1::CommandResult order;
    ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &order)));
    v1::Command comment;
    comment.mutable_add_comment()->set_order_id(order.id());
    comment.mutable_add_comment()->set_text(std::string(2000, 'c'));
    for (int i = 0; i < 250; ++i) ASSERT_OK(engine_->Execute({"sam"}, comment).status());
  }

  auto stalled_context = Context("audrey");
  auto stalled = audit_->Export(stalled_context.get(), v1::AuditExportRequest());
  v1::AuditExportResponse first;
  ASSERT_TRUE(stalled->Read(&first)) << "the export started";
  auto [refused, refused_status] = ReadAll<v1::AuditVerifyResponse>(
      audit_->Verify(Context("audrey").get(), v1::AuditVerifyRequest()));
  EXPECT_EQ(refused_status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused_status.error_message(), HasSubstr("1 audit runs at once"));
  // A live feed is not an audit run: it still opens.
  auto watch_context = Context("sam");
  v1::WatchOrderRequest watch;
  watch.set_order_id(created.id());
  auto watcher = orders_->WatchOrder(watch_context.get(), watch);
  v1::OrderView view;
  EXPECT_TRUE(watcher->Read(&view));
  watch_context->TryCancel();
  while (watcher->Read(&view)) {
  }
  watcher->Finish().IgnoreError();

  stalled_context->TryCancel();
  while (stalled->Read(&first)) {
  }
  stalled->Finish().IgnoreError();
  // The place comes back once the server has let the run go, on its own threads.
  grpc::Status status;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    status = ReadAll<v1::AuditVerifyResponse>(
                 audit_->Verify(Context("audrey").get(), v1::AuditVerifyRequest()))
                 .second;
    if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < deadline);
  EXPECT_TRUE(Ok(status));
}

TEST_F(ServiceTest, AuditOverTheWire) {
  const std::string client = CreateClient("acme");
  v1::CommandResult created;
  ASSERT_TRUE(Ok(orders_->CreateOrder(Context("sam").get(), OrderRequest(client), &created)));
  const uint64_t created_at = created.last_position();
  v1::SubmitRevisionRequest script;
  script.mutable_submit_revision()->set_order_id(created.id());
  script.mutable_submit_revision()->set_artifact("script");
  script.mutable_submit_revision()->set_text("Cold outside? Hot deals inside.");
  v1::CommandResult submitted;
  ASSERT_TRUE(Ok(orders_->SubmitRevision(Context("pete").get(), script, &submitted)));
  const uint64_t head = store_->Head().position;

  // Verify: the last message carries the result and the digest to keep.
  auto [verified, verify_status] = ReadAll<v1::AuditVerifyResponse>(
      audit_->Verify(Context("audrey").get(), v1::AuditVerifyRequest()));
  ASSERT_TRUE(Ok(verify_status));
  ASSERT_FALSE(verified.empty());
  const v1::AuditVerifyResponse& result = verified.back();
  EXPECT_TRUE(result.done());
  EXPECT_EQ(result.records(), head);
  EXPECT_EQ(result.digest().position(), head);
  v1::AuditVerifyRequest with_digest;
  *with_digest.mutable_digest() = result.digest();
  EXPECT_TRUE(
      Ok(ReadAll<v1::AuditVerifyResponse>(audit_->Verify(Context("audrey").get(), with_digest))
             .second));
  with_digest.mutable_digest()->set_hash(std::string(64, '0'));
  EXPECT_EQ(ReadAll<v1::AuditVerifyResponse>(audit_->Verify(Context("audrey").get(), with_digest))
                .second.error_code(),
            grpc::StatusCode::DATA_LOSS);

  // Export: every record, and the lines re-hash to the digest without the server.
  auto [exported, export_status] = ReadAll<v1::AuditExportResponse>(
      audit_->Export(Context("audrey").get(), v1::AuditExportRequest()));
  ASSERT_TRUE(Ok(export_status));
  std::string text;
  uint64_t lines = 0;
  for (const v1::AuditExportResponse& chunk : exported) {
    for (const std::string& line : chunk.lines()) absl::StrAppend(&text, line, "\n");
    lines += chunk.lines_size();
  }
  EXPECT_EQ(lines, head);
  EXPECT_TRUE(exported.back().done());
  std::istringstream in(text);
  auto check = engine::CheckExport(in, result.digest());
  ASSERT_OK(check.status());
  EXPECT_TRUE(check->digest_matched);

  // Replay as of the creation, the history, the determinism check.
  v1::AuditReplayRequest replay;
  replay.set_order_id(created.id());
  replay.mutable_as_of()->set_position(created_at);
  v1::AuditReplayResponse then;
  ASSERT_TRUE(Ok(audit_->Replay(Context("audrey").get(), replay, &then)));
  EXPECT_TRUE(then.order().scripts().empty());
  v1::AuditHistoryRequest history;
  history.set_order_id(created.id());
  v1::AuditHistoryResponse changes;
  ASSERT_TRUE(Ok(audit_->History(Context("audrey").get(), history, &changes)));
  ASSERT_EQ(changes.changes_size(), 2);
  EXPECT_EQ(changes.changes(1).actor().user_id(), "pete");
  auto [rebuilt, rebuild_status] = ReadAll<v1::CheckDeterminismResponse>(
      audit_->CheckDeterminism(Context("audrey").get(), v1::CheckDeterminismRequest()));
  ASSERT_TRUE(Ok(rebuild_status));
  EXPECT_EQ(rebuilt.back().live_digest(), rebuilt.back().rebuilt_digest());
  EXPECT_EQ(rebuilt.back().position(), head);

  // Refusals, each writing nothing: an AE may not audit; bad requests say what is missing.
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED, [&] {
    return ReadAll<v1::AuditVerifyResponse>(
               audit_->Verify(Context("sam").get(), v1::AuditVerifyRequest()))
        .second;
  });
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED, [&] {
    return ReadAll<v1::AuditExportResponse>(
               audit_->Export(Context("sam").get(), v1::AuditExportRequest()))
        .second;
  });
  // Staff read the history of an order they can see (order history); a client's history,
  // like the rest, is the auditors'.
  v1::AuditHistoryResponse own;
  EXPECT_TRUE(Ok(audit_->History(Context("sam").get(), history, &own)));
  EXPECT_EQ(own.changes_size(), 2);
  v1::AuditHistoryRequest client_history;
  client_history.set_client_id(client);
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED,
                [&] { return audit_->History(Context("sam").get(), client_history, &changes); });
  ExpectRefused(grpc::StatusCode::PERMISSION_DENIED,
                [&] { return audit_->Replay(Context("sam").get(), replay, &then); });
  ExpectRefused(grpc::StatusCode::UNAUTHENTICATED, [&] {
    return ReadAll<v1::CheckDeterminismResponse>(
               audit_->CheckDeterminism(Context("").get(), v1::CheckDeterminismRequest()))
        .second;
  });
  v1::AuditReplayRequest no_moment;
  no_moment.set_order_id(created.id());
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT,
                [&] { return audit_->Replay(Context("audrey").get(), no_moment, &then); });
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT, [&] {
    return audit_->History(Context("audrey").get(), v1::AuditHistoryRequest(), &changes);
  });
  v1::AuditHistoryRequest unnamed;
  unnamed.set_order_id("");
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT,
                [&] { return audit_->History(Context("audrey").get(), unnamed, &changes); });
  v1::AuditExportRequest beyond;
  beyond.set_to_position(head + 100);
  ExpectRefused(grpc::StatusCode::INVALID_ARGUMENT, [&] {
    return ReadAll<v1::AuditExportResponse>(audit_->Export(Context("audrey").get(), beyond)).second;
  });
}

}  // namespace
}  // namespace spotflow::service
