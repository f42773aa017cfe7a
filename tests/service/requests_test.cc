// Tests of service/requests.h: parsing a method's request bytes and turning change requests
// into engine commands, without a server.
#include "service/requests.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "proto/service.pb.h"
#include "tests/testing/status_matchers.h"

namespace spotflow::service {
namespace {

namespace pb = ::google::protobuf;
using ::spotflow::testing::StatusIs;
using ::testing::HasSubstr;

const pb::FileDescriptor* ServiceFile() { return v1::ListOrdersRequest::descriptor()->file(); }

const pb::MethodDescriptor& Method(const std::string& service, const std::string& name) {
  const pb::MethodDescriptor* method =
      ServiceFile()->FindServiceByName(service)->FindMethodByName(name);
  EXPECT_NE(method, nullptr) << service << "." << name;
  return *method;
}

TEST(RequestsTest, EveryChangeMethodCarriesTheCommandOfItsName) {
  int changes = 0;
  std::set<std::string> commands;
  for (int s = 0; s < ServiceFile()->service_count(); ++s) {
    const pb::ServiceDescriptor* service = ServiceFile()->service(s);
    for (int m = 0; m < service->method_count(); ++m) {
      const pb::MethodDescriptor& method = *service->method(m);
      if (!IsChange(method)) {
        EXPECT_NE(method.output_type(), v1::CommandResult::descriptor()) << method.full_name();
        continue;
      }
      ++changes;
      // A request with an empty body: the conversion sets exactly the Command field of the
      // body's name.
      std::unique_ptr<pb::Message> request(
          pb::MessageFactory::generated_factory()->GetPrototype(method.input_type())->New());
      const pb::FieldDescriptor* body = method.input_type()->FindFieldByNumber(1);
      ASSERT_NE(body, nullptr) << method.full_name();
      request->GetReflection()->MutableMessage(request.get(), body);
      v1::Command command;
      ASSERT_OK(ToCommand(*request, &command)) << method.full_name();
      const pb::FieldDescriptor* set =
          v1::Command::descriptor()->FindFieldByNumber(static_cast<int>(command.command_case()));
      ASSERT_NE(set, nullptr) << method.full_name();
      EXPECT_EQ(set->name(), body->name()) << method.full_name();
      commands.insert(set->name());
    }
  }
  EXPECT_EQ(changes, 40);  // Every unary method answered with a CommandResult.
  EXPECT_EQ(commands.size(), 40u) << "two change methods carry the same command";
  // Every engine command is reachable over the wire: through its change method, or (the
  // records of a token issued or revoked) through Admin.IssueToken and Admin.RevokeToken,
  // which the server records itself.
  const pb::OneofDescriptor* oneof = v1::Command::descriptor()->FindOneofByName("command");
  ASSERT_NE(oneof, nullptr);
  for (int i = 0; i < oneof->field_count(); ++i) {
    const std::string name = oneof->field(i)->name();
    if (name == "record_token_issued" || name == "record_token_revoked") continue;
    EXPECT_EQ(commands.count(name), 1u) << "no change method carries " << name;
  }
}

TEST(RequestsTest, ParsesTheMethodsRequestAndNamesItsTypeWhenTheBytesDoNot) {
  const pb::MethodDescriptor& create = Method("Orders", "CreateOrder");
  v1::CreateOrderRequest sent;
  sent.mutable_create_order()->set_title("Winter sales event :30");
  sent.set_request_id("r1");
  const std::string bytes = sent.SerializeAsString();
  pb::io::ArrayInputStream good(bytes.data(), static_cast<int>(bytes.size()));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<pb::Message> parsed, ParseRequest(create, &good));
  EXPECT_EQ(parsed->GetDescriptor(), v1::CreateOrderRequest::descriptor());
  EXPECT_EQ(parsed->SerializeAsString(), bytes);

  const std::string garbage = "\xff\xff\xff\xff";
  pb::io::ArrayInputStream bad(garbage.data(), static_cast<int>(garbage.size()));
  EXPECT_THAT(ParseRequest(create, &bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a valid spotflow.v1.CreateOrderRequest")));
}

TEST(RequestsTest, CarriesTheEtagRequestIdAndValidateOnlyAndRequiresTheBody) {
  v1::ArchiveOrderRequest request;
  request.mutable_archive_order()->set_order_id("o1");
  request.set_etag(7);
  request.set_request_id("r1");
  request.set_validate_only(true);
  v1::Command command;
  ASSERT_OK(ToCommand(request, &command));
  EXPECT_EQ(command.archive_order().order_id(), "o1");
  EXPECT_TRUE(command.has_etag());
  EXPECT_EQ(command.etag(), 7u);
  EXPECT_EQ(command.request_id(), "r1");
  EXPECT_TRUE(command.validate_only());

  // No etag sent: none set (an etag of 0 would be a version to check).
  request.clear_etag();
  v1::Command without;
  ASSERT_OK(ToCommand(request, &without));
  EXPECT_FALSE(without.has_etag());

  v1::ArchiveOrderRequest empty;
  v1::Command nothing;
  EXPECT_THAT(ToCommand(empty, &nothing),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ArchiveOrderRequest.archive_order is required")));
}

TEST(RequestsTest, AnUpdateMaskKeepsOnlyItsFieldsAndTheId) {
  v1::UpdateClientRequest request;
  request.mutable_update_client()->set_client_id("acme");
  request.mutable_update_client()->set_name("Acme Motors");
  request.mutable_update_client()->set_kind("dealer");
  request.mutable_update_mask()->add_paths("name");
  v1::Command command;
  ASSERT_OK(ToCommand(request, &command));
  EXPECT_EQ(command.update_client().client_id(), "acme");
  EXPECT_EQ(command.update_client().name(), "Acme Motors");
  EXPECT_FALSE(command.update_client().has_kind());

  // Without a mask, every field sent is changed.
  request.clear_update_mask();
  v1::Command all;
  ASSERT_OK(ToCommand(request, &all));
  EXPECT_TRUE(all.update_client().has_kind());

  request.mutable_update_mask()->add_paths("colour");
  v1::Command refused;
  EXPECT_THAT(
      ToCommand(request, &refused),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("update_mask names \"colour\", which UpdateClient does not have")));
}

TEST(RequestsTest, AMaskFollowsAip134NamedButUnsetClearsEmptyIsNoMaskStarIsEveryField) {
  v1::UpdateOrderRequest request;
  request.mutable_update_order()->set_order_id("o-1");
  request.mutable_update_order()->set_title("New title");
  request.mutable_update_mask()->add_paths("instructions");  // Named, not in the body: cleared.
  v1::Command cleared;
  ASSERT_OK(ToCommand(request, &cleared));
  EXPECT_TRUE(cleared.update_order().has_instructions());
  EXPECT_EQ(cleared.update_order().instructions(), "");
  EXPECT_FALSE(cleared.update_order().has_title()) << "outside the mask";

  request.mutable_update_mask()->clear_paths();  // Sent but empty: as if no mask.
  v1::Command empty;
  ASSERT_OK(ToCommand(request, &empty));
  EXPECT_EQ(empty.update_order().title(), "New title");
  EXPECT_FALSE(empty.update_order().has_instructions());

  request.mutable_update_mask()->add_paths("*");  // Every field: the unset ones cleared.
  v1::Command every;
  ASSERT_OK(ToCommand(request, &every));
  EXPECT_EQ(every.update_order().title(), "New title");
  EXPECT_TRUE(every.update_order().has_instructions());
  EXPECT_TRUE(every.update_order().has_spot_length_seconds());
  EXPECT_EQ(every.update_order().order_id(), "o-1");

  request.mutable_update_mask()->add_paths("title");
  v1::Command mixed;
  EXPECT_THAT(ToCommand(request, &mixed),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"*\" stands alone")));
  request.mutable_update_mask()->clear_paths();
  request.mutable_update_mask()->add_paths("order_id");
  v1::Command id;
  EXPECT_THAT(ToCommand(request, &id),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("it cannot change")));
}

TEST(RequestsTest, AContactsMaskGoesToTheEngineWhichAloneKnowsTheFieldsItKeeps) {
  v1::UpdateContactRequest request;
  request.mutable_update_contact()->set_client_id("acme");
  request.mutable_update_contact()->mutable_contact()->set_contact_id("carol");
  request.mutable_update_contact()->mutable_contact()->set_email("carol@acme.test");
  request.mutable_update_mask()->add_paths("contact.email");
  v1::Command command;
  ASSERT_OK(ToCommand(request, &command));
  EXPECT_THAT(command.update_contact().update_mask().paths(),
              ::testing::ElementsAre("contact.email"));
  EXPECT_EQ(command.update_contact().contact().email(), "carol@acme.test");
  EXPECT_EQ(command.update_contact().contact().contact_id(), "carol");

  // Without a mask the body goes as it is: the contact is replaced.
  request.clear_update_mask();
  v1::Command whole;
  ASSERT_OK(ToCommand(request, &whole));
  EXPECT_FALSE(whole.update_contact().has_update_mask());

  // A mask in both places is ambiguous.
  request.mutable_update_mask()->add_paths("contact.email");
  request.mutable_update_contact()->mutable_update_mask()->add_paths("contact.name");
  v1::Command both;
  EXPECT_THAT(ToCommand(request, &both),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("give the mask once")));
}

TEST(RequestsTest, ARequestThatIsNoChangeMapsToNoCommand) {
  v1::GetOrderRequest request;
  v1::Command command;
  EXPECT_THAT(ToCommand(request, &command), StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(command.command_case(), v1::Command::COMMAND_NOT_SET);
}

}  // namespace
}  // namespace spotflow::service
