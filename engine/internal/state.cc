#include "engine/internal/state.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/internal/definitions.h"

namespace spotflow::engine::internal {
namespace {

constexpr absl::string_view kPayloadPrefix = "spotflow.v1.";

template <typename View>
void Touch(const v1::EventRecord& record, View* view) {
  view->set_version(record.stream_version());
}

void TouchOrder(const v1::EventRecord& record, v1::OrderView* order) {
  Touch(record, order);
  *order->mutable_updated_time() = record.recorded_time();
  order->set_updated_position(record.position());
}

v1::Revision* FindRevision(v1::OrderView* order, absl::string_view artifact, uint32_t number) {
  auto* revisions = artifact == "script" ? order->mutable_scripts() : order->mutable_spots();
  if (number == 0 || number > static_cast<uint32_t>(revisions->size())) return nullptr;
  return revisions->Mutable(static_cast<int>(number) - 1);
}

template <typename Repeated>
void EraseValue(Repeated* values, absl::string_view value) {
  values->erase(std::remove(values->begin(), values->end(), value), values->end());
}

template <typename Map, typename Out>
void SortedValues(const Map& map, Out* out) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) *out->Add() = map.at(key);
}

}  // namespace

const std::string* ClientIdOf(const v1::DomainEvent& event) {
  using E = v1::DomainEvent;
  switch (event.event_case()) {
    case E::kClientCreated:
      return &event.client_created().client_id();
    case E::kClientUpdated:
      return &event.client_updated().client_id();
    case E::kContactAdded:
      return &event.contact_added().client_id();
    case E::kContactUpdated:
      return &event.contact_updated().client_id();
    case E::kContactRemoved:
      return &event.contact_removed().client_id();
    case E::kClientShared:
      return &event.client_shared().client_id();
    case E::kClientUnshared:
      return &event.client_unshared().client_id();
    case E::kClientOwnerChanged:
      return &event.client_owner_changed().client_id();
    case E::kClientDeleted:
      return &event.client_deleted().client_id();
    default:
      return nullptr;
  }
}

const std::string* OrderIdOf(const v1::DomainEvent& event) {
  using E = v1::DomainEvent;
  switch (event.event_case()) {
    case E::kOrderCreated:
      return &event.order_created().order_id();
    case E::kOrderUpdated:
      return &event.order_updated().order_id();
    case E::kRevisionSubmitted:
      return &event.revision_submitted().order_id();
    case E::kRevisionReviewed:
      return &event.revision_reviewed().order_id();
    case E::kOrderTransitioned:
      return &event.order_transitioned().order_id();
    case E::kFlightChangeRequested:
      return &event.flight_change_requested().order_id();
    case E::kFlightChangeDecided:
      return &event.flight_change_decided().order_id();
    case E::kFlightChangeWithdrawn:
      return &event.flight_change_withdrawn().order_id();
    case E::kOrderShared:
      return &event.order_shared().order_id();
    case E::kOrderUnshared:
      return &event.order_unshared().order_id();
    case E::kProducerAssigned:
      return &event.producer_assigned().order_id();
    case E::kCommentAdded:
      return &event.comment_added().order_id();
    case E::kChildOrderAdded:
      return &event.child_order_added().order_id();
    case E::kOrderArchived:
      return &event.order_archived().order_id();
    case E::kOrderRestored:
      return &event.order_restored().order_id();
    case E::kOrderDeleted:
      return &event.order_deleted().order_id();
    case E::kOrderOwnerChanged:
      return &event.order_owner_changed().order_id();
    default:
      return nullptr;
  }
}

void Describe(const v1::DomainEvent& event, std::string* id, std::string* sub_id) {
  using E = v1::DomainEvent;
  sub_id->clear();
  if (const std::string* order = OrderIdOf(event)) {
    *id = *order;
  } else if (const std::string* client = ClientIdOf(event)) {
    *id = *client;
  }
  switch (event.event_case()) {
    case E::kRevisionSubmitted:
      *sub_id = absl::StrCat(event.revision_submitted().revision().number());
      break;
    case E::kRevisionReviewed:
      *sub_id = absl::StrCat(event.revision_reviewed().revision());
      break;
    case E::kFlightChangeRequested:
      *sub_id = event.flight_change_requested().request_id();
      break;
    case E::kFlightChangeDecided:
      *sub_id = event.flight_change_decided().request_id();
      break;
    case E::kFlightChangeWithdrawn:
      *sub_id = event.flight_change_withdrawn().request_id();
      break;
    case E::kCommentAdded:
      *sub_id = event.comment_added().comment_id();
      break;
    case E::kContactAdded:
      *sub_id = event.contact_added().contact().contact_id();
      break;
    case E::kContactUpdated:
      *sub_id = event.contact_updated().contact().contact_id();
      break;
    case E::kClientOwnerChanged:  // A reassignment answers with the new owner.
      *id = event.client_owner_changed().new_owner();
      break;
    case E::kUserCreated:
      *id = event.user_created().user_id();
      break;
    case E::kUserUpdated:
      *id = event.user_updated().user_id();
      break;
    case E::kUserRolesChanged:
      *id = event.user_roles_changed().user_id();
      break;
    case E::kUserManagerChanged:
      *id = event.user_manager_changed().user_id();
      break;
    case E::kUserDeactivated:
      *id = event.user_deactivated().user_id();
      break;
    case E::kUserReactivated:
      *id = event.user_reactivated().user_id();
      break;
    case E::kTokenIssued:
      *id = event.token_issued().user_id();
      break;
    case E::kTokenRevoked:
      *id = event.token_revoked().user_id();
      break;
    case E::kRoleDefined:
      *id = event.role_defined().definition().name();
      break;
    case E::kItemTypeDefined:
      *id = event.item_type_defined().definition().name();
      break;
    case E::kWorkflowPublished:
      *id = event.workflow_published().definition().name();
      *sub_id = absl::StrCat(event.workflow_published().definition().version());
      break;
    case E::kBudgetSet:
      *id = event.budget_set().budget().budget_id();
      break;
    case E::kBudgetRemoved:
      *id = event.budget_removed().budget_id();
      break;
    default:
      break;
  }
}

v1::OrderView ForContact(v1::OrderView order, const std::string& contact_id,
                         const std::string& login_id, const v1::ItemTypeDefinition* type,
                         const v1::WorkflowDefinition* workflow) {
  order.set_shown_to_contact(contact_id);
  // A request the login submitted itself (REQUEST_SUBMIT) keeps what it wrote and that it did.
  const bool its_own = !login_id.empty() && order.created_by() == login_id;
  if (!its_own) {
    order.clear_instructions();
    order.clear_instructions_revised();
  }
  order.clear_participants();
  order.clear_participant_shares();
  order.clear_producer_id();
  // The comments for the client; by whom when the client's own or the order's owner (the
  // house's other people are the house's).
  google::protobuf::RepeatedPtrField<v1::Comment> for_client;
  for (v1::Comment& comment : *order.mutable_comments()) {
    if (!comment.for_client()) continue;
    if (!comment.by_client() && comment.author() != order.owner_id()) {
      comment.clear_author();
    }
    *for_client.Add() = std::move(comment);
  }
  order.mutable_comments()->Swap(&for_client);
  order.clear_flight_changes();
  order.clear_owner_history();
  // The actions' comments are the house's, as comments are; but a request the login submitted
  // keeps the action that finished it (done, or declined) with what the house said to it
  // (seed 002: "deny the request and send feedback to the requestor"): the one that entered
  // the final state it is in, when an action did (not a revision's review), without who took
  // it or the state before (the house's internal reviews).
  std::optional<v1::ActionTaken> finished;
  if (its_own && order.completed()) {
    const v1::StatusEntered* step = LastStep(order);
    const uint64_t entered = step == nullptr ? 0 : step->position();
    for (const v1::ActionTaken& action : order.actions()) {
      if (action.position() != entered || action.to_status() != order.status()) continue;
      finished = action;
      finished->clear_by();
      finished->clear_from_status();
      finished->clear_position();
    }
  }
  order.clear_actions();
  if (finished.has_value()) *order.add_actions() = *std::move(finished);
  // The states it went through would tell of the house's internal reviews of revisions (a
  // draft turned down before the client saw one). A request the login submitted of a type
  // without revisions keeps them (seed 001: the client consults the status of its request),
  // by their titles (the state's name when it has none), without names or log positions.
  if (its_own && type != nullptr && type->facets().artifacts().empty()) {
    for (v1::StatusEntered& entered : *order.mutable_status_history()) {
      const v1::WorkflowState* state =
          workflow == nullptr ? nullptr : FindState(*workflow, entered.status());
      entered.set_title(state == nullptr || state->title().empty() ? entered.status()
                                                                   : state->title());
      entered.clear_status();
      entered.clear_position();
    }
  } else {
    order.clear_status_history();
  }
  // How the house works it, and how much its log holds, are the house's: the workflow (the
  // status's title says where the order stands), what its type makes for its items, and the
  // order's log positions (its revisions' and reviews' below).
  order.clear_workflow();
  order.clear_workflow_version();
  if (order.has_item_type_facets()) order.mutable_item_type_facets()->clear_child_types();
  order.clear_created_position();
  order.clear_updated_position();
  // Linked items are shown to it as links (GetOrder's parent and children), those it may see.
  order.clear_parent_order_id();
  order.clear_child_order_ids();
  if (!its_own) order.clear_created_by();  // The house's people are the house's (the owner aside).
  for (auto* revisions : {order.mutable_scripts(), order.mutable_spots()}) {
    google::protobuf::RepeatedPtrField<v1::Revision> shown;
    for (v1::Revision& revision : *revisions) {
      google::protobuf::RepeatedPtrField<v1::Review> reviews;
      for (v1::Review& review : *revision.mutable_reviews()) {
        const bool with_contact =
            review.contact_id() == contact_id &&
            (review.kind() == v1::FORWARDED_TO_CLIENT || review.kind() == v1::CLIENT_APPROVED ||
             review.kind() == v1::CLIENT_CHANGES_REQUESTED);
        if (!with_contact) continue;
        // Who in the house forwarded it, or recorded the answer for them, is the house's.
        if (review.kind() == v1::FORWARDED_TO_CLIENT || review.on_behalf()) review.clear_by();
        review.clear_position();
        *reviews.Add() = std::move(review);
      }
      if (reviews.empty()) continue;  // Never forwarded to this contact.
      revision.mutable_reviews()->Swap(&reviews);
      revision.clear_change_note();
      revision.clear_author();  // Production's people, whom producer_id would name.
      revision.clear_reused_by();
      revision.clear_position();
      *shown.Add() = std::move(revision);
    }
    revisions->Swap(&shown);
  }
  return order;
}

v1::ClientView ForContact(v1::ClientView client, const std::string& contact_id) {
  client.clear_shares();
  client.clear_owner_history();
  client.clear_created_by();
  client.clear_removed_contact_ids();
  google::protobuf::RepeatedPtrField<v1::Contact> own;
  for (v1::Contact& contact : *client.mutable_contacts()) {
    if (contact.contact_id() == contact_id) *own.Add() = std::move(contact);
  }
  client.mutable_contacts()->Swap(&own);
  return client;
}

std::string UserStream(absl::string_view id) { return absl::StrCat("user-", id); }
std::string RoleStream(absl::string_view name) { return absl::StrCat("role-", name); }
std::string ItemTypeStream(absl::string_view name) { return absl::StrCat("itemtype-", name); }
std::string WorkflowStream(absl::string_view name) { return absl::StrCat("workflow-", name); }
std::string ClientStream(absl::string_view id) { return absl::StrCat("client-", id); }
std::string OrderStream(absl::string_view id) { return absl::StrCat("order-", id); }
std::string BudgetStream(absl::string_view id) { return absl::StrCat("budget-", id); }

absl::Time ToTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  const int64_t seconds = absl::ToUnixSeconds(time);
  timestamp.set_seconds(seconds);
  timestamp.set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
  return timestamp;
}

absl::Status DecodeEvent(const v1::EventRecord& record, v1::DomainEvent* event) {
  if (!event->ParseFromString(record.payload()) ||
      event->event_case() == v1::DomainEvent::EVENT_NOT_SET) {
    return absl::DataLossError(absl::StrCat("the payload of the record at position ",
                                            record.position(), " (", record.payload_type(),
                                            ") is not a readable engine event"));
  }
  return absl::OkStatus();
}

namespace {

// ApplyToOrder without the states entered.
void ApplyToOrderFields(const v1::EventRecord& record, v1::DomainEvent* consumed,
                        v1::OrderView* order) {
  using E = v1::DomainEvent;
  const v1::DomainEvent& event = *consumed;
  switch (event.event_case()) {
    case E::kOrderCreated: {
      // Large fields move from the decoded event into the view: replay copies nothing twice.
      v1::OrderCreated& e = *consumed->mutable_order_created();
      order->set_order_id(std::move(*e.mutable_order_id()));
      order->set_item_type(std::move(*e.mutable_item_type()));
      order->set_workflow(std::move(*e.mutable_workflow()));
      order->set_workflow_version(e.workflow_version());
      order->set_kind(e.kind());
      order->set_client_id(std::move(*e.mutable_client_id()));
      order->set_owner_id(std::move(*e.mutable_owner_id()));
      order->set_title(std::move(*e.mutable_title()));
      order->set_instructions(std::move(*e.mutable_instructions()));
      order->set_spot_length_seconds(e.spot_length_seconds());
      // Only an order with a flight holds one: an item of a type without flights shows none.
      if (e.has_flight_start()) order->mutable_flight_start()->Swap(e.mutable_flight_start());
      if (e.has_flight_end()) order->mutable_flight_end()->Swap(e.mutable_flight_end());
      order->mutable_fields()->swap(*e.mutable_fields());
      order->set_status(std::move(*e.mutable_status()));
      order->set_reused_from_order(std::move(*e.mutable_reused_from_order()));
      order->set_parent_order_id(std::move(*e.mutable_parent_order_id()));
      order->set_created_by(record.actor().user_id());
      *order->mutable_created_time() = record.recorded_time();
      order->set_created_position(record.position());
      break;
    }
    case E::kOrderUpdated: {
      const v1::OrderUpdated& e = event.order_updated();
      order->set_title(e.title());
      if (e.instructions() != order->instructions()) order->set_instructions_revised(true);
      order->set_instructions(e.instructions());
      order->set_spot_length_seconds(e.spot_length_seconds());
      for (const std::string& name : e.cleared_fields()) order->mutable_fields()->erase(name);
      for (const auto& [name, value] : e.fields()) (*order->mutable_fields())[name] = value;
      break;
    }
    case E::kRevisionSubmitted: {
      const v1::RevisionSubmitted& e = event.revision_submitted();
      auto* revisions =
          e.revision().artifact() == "script" ? order->mutable_scripts() : order->mutable_spots();
      for (v1::Revision& older : *revisions) older.set_superseded(true);
      v1::Revision* revision = revisions->Add();
      *revision = e.revision();
      if (e.revision().reused_from_order().empty() || e.revision().author().empty()) {
        revision->set_author(record.actor().user_id());
      } else {
        revision->set_reused_by(record.actor().user_id());  // The author stays the source's.
      }
      *revision->mutable_time() = record.recorded_time();
      revision->set_position(record.position());
      order->set_status(e.to_status());
      break;
    }
    case E::kRevisionReviewed: {
      const v1::RevisionReviewed& e = event.revision_reviewed();
      v1::Revision* revision = FindRevision(order, e.artifact(), e.revision());
      if (revision != nullptr) {
        v1::Review* review = revision->add_reviews();
        review->set_kind(e.kind());
        review->set_by(record.actor().user_id());
        review->set_contact_id(e.contact_id());
        review->set_comment(e.comment());
        review->set_on_behalf(!record.actor().on_behalf_of().empty());
        *review->mutable_time() = record.recorded_time();
        review->set_position(record.position());
        if (e.kind() == v1::APPROVED || e.kind() == v1::CLIENT_APPROVED ||
            e.kind() == v1::CARRIED_OVER) {
          revision->set_approved(true);
        }
      }
      if (!e.to_status().empty()) order->set_status(e.to_status());
      break;
    }
    case E::kOrderTransitioned: {
      const v1::OrderTransitioned& e = event.order_transitioned();
      v1::ActionTaken* taken = order->add_actions();
      taken->set_action(e.action());
      taken->set_from_status(e.from_status());
      taken->set_to_status(e.to_status());
      taken->set_by(record.actor().user_id());
      *taken->mutable_time() = record.recorded_time();
      taken->set_comment(e.comment());
      taken->set_position(record.position());
      order->set_status(e.to_status());
      break;
    }
    case E::kFlightChangeRequested: {
      const v1::FlightChangeRequested& e = event.flight_change_requested();
      v1::FlightChange* change = order->add_flight_changes();
      change->set_request_id(e.request_id());
      *change->mutable_old_start() = order->flight_start();
      *change->mutable_old_end() = order->flight_end();
      *change->mutable_new_start() = e.new_start();
      *change->mutable_new_end() = e.new_end();
      change->set_reason(e.reason());
      change->set_requested_by(record.actor().user_id());
      *change->mutable_requested_time() = record.recorded_time();
      change->set_status(v1::PENDING);
      break;
    }
    case E::kFlightChangeDecided: {
      const v1::FlightChangeDecided& e = event.flight_change_decided();
      for (v1::FlightChange& change : *order->mutable_flight_changes()) {
        if (change.request_id() != e.request_id()) continue;
        change.set_status(e.approved() ? v1::GRANTED : v1::REJECTED);
        change.set_decided_by(record.actor().user_id());
        *change.mutable_decided_time() = record.recorded_time();
        change.set_decision_comment(e.comment());
        if (e.approved()) {
          *order->mutable_flight_start() = change.new_start();
          *order->mutable_flight_end() = change.new_end();
        }
      }
      break;
    }
    case E::kFlightChangeWithdrawn: {
      const v1::FlightChangeWithdrawn& e = event.flight_change_withdrawn();
      for (v1::FlightChange& change : *order->mutable_flight_changes()) {
        if (change.request_id() != e.request_id()) continue;
        change.set_status(v1::WITHDRAWN);
        change.set_decided_by(record.actor().user_id());
        *change.mutable_decided_time() = record.recorded_time();
        change.set_decision_comment(e.comment());
      }
      break;
    }
    case E::kOrderShared: {
      const std::string& user_id = event.order_shared().user_id();
      order->add_participants(user_id);
      v1::OrderShare* shared = order->add_participant_shares();
      shared->set_user_id(user_id);
      shared->set_granted_by(record.actor().user_id());
      shared->set_through_account_share(event.order_shared().through_account_share());
      break;
    }
    case E::kOrderUnshared: {
      const std::string& user_id = event.order_unshared().user_id();
      EraseValue(order->mutable_participants(), user_id);
      auto* shares = order->mutable_participant_shares();
      shares->erase(std::remove_if(shares->begin(), shares->end(),
                                   [&](const v1::OrderShare& s) { return s.user_id() == user_id; }),
                    shares->end());
      break;
    }
    case E::kProducerAssigned:
      order->set_producer_id(event.producer_assigned().new_producer_id());
      break;
    case E::kCommentAdded: {
      v1::Comment* comment = order->add_comments();
      comment->set_comment_id(event.comment_added().comment_id());
      comment->set_author(record.actor().user_id());
      comment->set_text(std::move(*consumed->mutable_comment_added()->mutable_text()));
      *comment->mutable_time() = record.recorded_time();
      comment->set_for_client(event.comment_added().for_client());
      comment->set_by_client(event.comment_added().by_client());
      break;
    }
    case E::kChildOrderAdded:
      order->add_child_order_ids(event.child_order_added().child_order_id());
      break;
    case E::kOrderArchived:
      order->set_archived(true);
      break;
    case E::kOrderRestored:
      order->set_archived(false);
      break;
    case E::kOrderDeleted:
      order->set_deleted(true);
      break;
    case E::kOrderOwnerChanged: {
      const v1::OrderOwnerChanged& e = event.order_owner_changed();
      v1::OwnerChange* change = order->add_owner_history();
      change->set_old_owner(e.old_owner());
      change->set_new_owner(e.new_owner());
      change->set_changed_by(record.actor().user_id());
      *change->mutable_time() = record.recorded_time();
      change->set_position(record.position());
      order->set_owner_id(e.new_owner());
      break;
    }
    default:
      return;
  }
  TouchOrder(record, order);
}

}  // namespace

const v1::StatusEntered* LastStep(const v1::OrderView& order) {
  const auto& history = order.status_history();
  for (int i = history.size() - 1; i >= 0; --i) {
    if (!history[i].archived() && (i == 0 || !history[i - 1].archived())) return &history[i];
  }
  return nullptr;
}

std::optional<absl::Time> FinishedAt(const v1::OrderView& order) {
  const v1::StatusEntered* step = order.completed() ? LastStep(order) : nullptr;
  if (step == nullptr) return std::nullopt;
  return ToTime(step->time());
}

void ApplyToOrder(const v1::EventRecord& record, v1::DomainEvent* consumed, v1::OrderView* order) {
  const std::string before = order->status();
  const bool was_archived = order->archived();
  ApplyToOrderFields(record, consumed, order);
  // Each state entered, and each archiving and restoring, with when: what the analytics
  // measure time in a state by.
  if (order->status() != before || order->archived() != was_archived) {
    v1::StatusEntered* entered = order->add_status_history();
    entered->set_status(order->status());
    *entered->mutable_time() = record.recorded_time();
    entered->set_position(record.position());
    entered->set_archived(order->archived());
  }
}

void ApplyToClient(const v1::EventRecord& record, v1::DomainEvent* consumed,
                   v1::ClientView* client) {
  const v1::DomainEvent& event = *consumed;
  using E = v1::DomainEvent;
  switch (event.event_case()) {
    case E::kClientCreated: {
      const v1::ClientCreated& e = event.client_created();
      client->set_client_id(e.client_id());
      client->set_name(e.name());
      client->set_kind(e.kind());
      client->set_organization(e.organization());
      client->set_owner_id(e.owner_id());
      client->set_created_by(record.actor().user_id());
      *client->mutable_created_time() = record.recorded_time();
      client->set_created_position(record.position());
      break;
    }
    case E::kClientUpdated: {
      const v1::ClientUpdated& e = event.client_updated();
      client->set_name(e.name());
      client->set_kind(e.kind());
      client->set_organization(e.organization());
      break;
    }
    case E::kContactAdded:
      *client->add_contacts() = event.contact_added().contact();
      break;
    case E::kContactUpdated:
      for (v1::Contact& contact : *client->mutable_contacts()) {
        if (contact.contact_id() == event.contact_updated().contact().contact_id()) {
          contact = event.contact_updated().contact();
        }
      }
      break;
    case E::kContactRemoved: {
      auto* contacts = client->mutable_contacts();
      const std::string& id = event.contact_removed().contact_id();
      contacts->erase(std::remove_if(contacts->begin(), contacts->end(),
                                     [&](const v1::Contact& c) { return c.contact_id() == id; }),
                      contacts->end());
      const auto& removed = client->removed_contact_ids();
      if (std::find(removed.begin(), removed.end(), id) == removed.end()) {
        client->add_removed_contact_ids(id);
      }
      break;
    }
    case E::kClientShared: {
      const v1::ClientShared& e = event.client_shared();
      auto* shares = client->mutable_shares();
      shares->erase(
          std::remove_if(shares->begin(), shares->end(),
                         [&](const v1::AccountShare& s) { return s.user_id() == e.user_id(); }),
          shares->end());
      v1::AccountShare* share = shares->Add();
      share->set_user_id(e.user_id());
      if (e.has_until()) *share->mutable_until() = e.until();
      share->set_granted_by(record.actor().user_id());
      break;
    }
    case E::kClientUnshared: {
      auto* shares = client->mutable_shares();
      const std::string& id = event.client_unshared().user_id();
      shares->erase(std::remove_if(shares->begin(), shares->end(),
                                   [&](const v1::AccountShare& s) { return s.user_id() == id; }),
                    shares->end());
      break;
    }
    case E::kClientOwnerChanged: {
      const v1::ClientOwnerChanged& e = event.client_owner_changed();
      v1::OwnerChange* change = client->add_owner_history();
      change->set_old_owner(e.old_owner());
      change->set_new_owner(e.new_owner());
      change->set_changed_by(record.actor().user_id());
      *change->mutable_time() = record.recorded_time();
      change->set_position(record.position());
      client->set_owner_id(e.new_owner());
      break;
    }
    case E::kClientDeleted:
      client->set_deleted(true);
      break;
    default:
      return;
  }
  Touch(record, client);
}

absl::Status State::Apply(const v1::EventRecord& record) {
  if (record.position() <= position_) return absl::OkStatus();
  v1::DomainEvent event;
  if (absl::StartsWith(record.payload_type(), kPayloadPrefix)) {
    if (absl::Status s = DecodeEvent(record, &event); !s.ok()) return s;
  }
  return Apply(record, &event);
}

absl::Status State::Apply(const v1::EventRecord& record, v1::DomainEvent* consumed) {
  const v1::DomainEvent& event = *consumed;
  if (record.position() <= position_) return absl::OkStatus();
  if (record.position() != position_ + 1) {
    return absl::InternalError(absl::StrCat("the projections are at position ", position_,
                                            " and were handed position ", record.position()));
  }
  position_ = record.position();
  head_hash_ = record.hash();
  using E = v1::DomainEvent;
  switch (event.event_case()) {
    case E::kRoleDefined: {
      v1::RoleView& role = roles_[event.role_defined().definition().name()];
      *role.mutable_definition() = event.role_defined().definition();
      Touch(record, &role);
      break;
    }
    case E::kUserCreated: {
      const v1::UserCreated& e = event.user_created();
      v1::UserView& user = users_[e.user_id()];
      user.set_user_id(e.user_id());
      user.set_display_name(e.display_name());
      user.set_email(e.email());
      *user.mutable_roles() = e.roles();
      user.set_manager_id(e.manager_id());
      user.set_client_id(e.client_id());
      user.set_contact_id(e.contact_id());
      user.set_active(true);
      Touch(record, &user);
      break;
    }
    case E::kUserUpdated: {
      v1::UserView& user = users_[event.user_updated().user_id()];
      user.set_display_name(event.user_updated().display_name());
      user.set_email(event.user_updated().email());
      Touch(record, &user);
      break;
    }
    case E::kUserRolesChanged: {
      v1::UserView& user = users_[event.user_roles_changed().user_id()];
      *user.mutable_roles() = event.user_roles_changed().new_roles();
      Touch(record, &user);
      break;
    }
    case E::kUserManagerChanged: {
      v1::UserView& user = users_[event.user_manager_changed().user_id()];
      user.set_manager_id(event.user_manager_changed().new_manager_id());
      Touch(record, &user);
      break;
    }
    case E::kUserDeactivated: {
      v1::UserView& user = users_[event.user_deactivated().user_id()];
      user.set_active(false);
      Touch(record, &user);
      break;
    }
    case E::kTokenIssued: {
      v1::UserView& user = users_[event.token_issued().user_id()];
      user.set_tokens_issued(user.tokens_issued() + 1);
      v1::IssuedToken* token = user.add_tokens();
      token->set_token_hash_prefix(event.token_issued().token_hash_prefix());
      *token->mutable_issued_time() = record.recorded_time();
      token->set_issued_by(record.actor().user_id());
      Touch(record, &user);
      break;
    }
    case E::kTokenRevoked: {
      v1::UserView& user = users_[event.token_revoked().user_id()];
      const std::string& prefix = event.token_revoked().token_hash_prefix();
      v1::IssuedToken* revoked = nullptr;
      for (v1::IssuedToken& token : *user.mutable_tokens()) {
        if (token.token_hash_prefix() == prefix && !token.has_revoked_time()) revoked = &token;
      }
      // A token written into the token file by hand was never issued through the log.
      if (revoked == nullptr) {
        revoked = user.add_tokens();
        revoked->set_token_hash_prefix(prefix);
      }
      *revoked->mutable_revoked_time() = record.recorded_time();
      revoked->set_revoked_by(record.actor().user_id());
      Touch(record, &user);
      break;
    }
    case E::kUserReactivated: {
      v1::UserView& user = users_[event.user_reactivated().user_id()];
      user.set_active(true);
      Touch(record, &user);
      break;
    }
    case E::kItemTypeDefined:
      item_types_[event.item_type_defined().definition().name()] =
          event.item_type_defined().definition();
      break;
    case E::kWorkflowPublished: {
      const v1::WorkflowDefinition& definition = event.workflow_published().definition();
      workflows_[definition.name()].push_back(definition);
      break;
    }
    case E::kBudgetSet: {
      v1::Budget& budget = budgets_[event.budget_set().budget().budget_id()];
      budget = std::move(*consumed->mutable_budget_set()->mutable_budget());
      budget.set_set_by(record.actor().user_id());
      Touch(record, &budget);
      break;
    }
    case E::kBudgetRemoved: {
      v1::Budget& budget = budgets_[event.budget_removed().budget_id()];
      budget.set_removed(true);
      budget.set_set_by(record.actor().user_id());
      Touch(record, &budget);
      break;
    }
    case E::kClientCreated: {
      v1::ClientView& client = clients_[event.client_created().client_id()];
      ApplyToClient(record, consumed, &client);
      client_index_[record.position()] = client.client_id();
      break;
    }
    case E::EVENT_NOT_SET:
      break;
    default:
      if (const std::string* id = ClientIdOf(event)) {
        auto it = clients_.find(*id);
        if (it != clients_.end()) ApplyToClient(record, consumed, &it->second);
      } else if (const std::string* id = OrderIdOf(event)) {
        const E::EventCase kind = event.event_case();
        v1::OrderView* order = nullptr;
        if (kind == E::kOrderCreated) {
          order = &orders_[*id];
          ApplyToOrder(record, consumed, order);  // Moves the id out of the event.
          order_index_[record.position()] = order->order_id();
          orders_by_client_[order->client_id()].insert(record.position());
          orders_by_owner_[order->owner_id()].insert(record.position());
          AssignKey(record, order);
        } else if (auto it = orders_.find(*id); it != orders_.end()) {
          order = &it->second;
          if (kind == E::kOrderOwnerChanged) {
            // The only event after creation that moves an order in the indexes above: its
            // client never changes. Tested here, not by copying every event's owner (replay).
            orders_by_owner_[order->owner_id()].erase(order->created_position());
          }
          ApplyToOrder(record, consumed, order);
          if (kind == E::kOrderOwnerChanged) {
            orders_by_owner_[order->owner_id()].insert(order->created_position());
          }
        }
        // Only these events move an order between states.
        if (order != nullptr && (kind == E::kOrderCreated || kind == E::kRevisionSubmitted ||
                                 kind == E::kRevisionReviewed || kind == E::kOrderTransitioned)) {
          order->set_completed(IsTerminal(*order));
        }
      }
      break;
  }
  return absl::OkStatus();
}

void State::AssignKey(const v1::EventRecord& record, v1::OrderView* order) {
  // The key is a pure function of the log order: the next number of its scope.
  const v1::ItemTypeDefinition* type = FindItemType(order->item_type());
  if (type == nullptr) return;
  const int year = static_cast<int>(
      absl::ToCivilYear(ToTime(record.recorded_time()), absl::UTCTimeZone()).year());
  std::string scope = order->item_type();
  if (KeyFormatHasYear(type->key_format())) absl::StrAppend(&scope, "/", year);
  // A key another order holds (as its key, or as its id) is passed over: after a change of
  // format the sequence of a new scope would otherwise hand out keys in use ("PO-2026-{seq}"
  // after "PO-{yyyy}-{seq}"), and a command naming one would act on the other order.
  std::string key;
  do {
    key = RenderKey(type->key_format(), year, ++key_sequences_[scope]);
  } while (order_keys_.contains(key) || (key != order->order_id() && FindOrder(key) != nullptr));
  order->set_key(key);
  order_keys_.try_emplace(order->key(), order->order_id());  // Old logs: the first keeps it.
}

namespace {

const absl::btree_set<uint64_t>& PositionsOf(
    const absl::flat_hash_map<std::string, absl::btree_set<uint64_t>>& index,
    absl::string_view id) {
  static const auto* const kNone = new absl::btree_set<uint64_t>();  // Never destroyed.
  auto it = index.find(id);
  return it == index.end() ? *kNone : it->second;
}

}  // namespace

const absl::btree_set<uint64_t>& State::OrdersOfClient(absl::string_view client_id) const {
  return PositionsOf(orders_by_client_, client_id);
}

const absl::btree_set<uint64_t>& State::OrdersOfOwner(absl::string_view owner_id) const {
  return PositionsOf(orders_by_owner_, owner_id);
}

const v1::WorkflowState* State::StateOf(const v1::OrderView& order) const {
  const v1::WorkflowDefinition* workflow = FindWorkflow(order.workflow(), order.workflow_version());
  return workflow == nullptr ? nullptr : FindState(*workflow, order.status());
}

bool State::IsTerminal(const v1::OrderView& order) const {
  const v1::WorkflowState* state = StateOf(order);
  return state != nullptr && state->terminal();
}

bool State::IsAbandonedState(absl::string_view workflow, absl::string_view state) const {
  auto it = workflows_.find(workflow);
  if (it == workflows_.end()) return false;
  for (auto version = it->second.rbegin(); version != it->second.rend(); ++version) {
    if (const v1::WorkflowState* s = FindState(*version, state)) {
      return s->terminal() && s->abandoned();
    }
  }
  return false;
}

bool State::IsAbandoned(const v1::OrderView& order) const {
  return order.completed() && IsAbandonedState(order.workflow(), order.status());
}

std::string State::StatusTitle(const v1::OrderView& order) const {
  const v1::WorkflowState* state = StateOf(order);
  return state == nullptr ? "" : state->title();
}

const v1::UserView* State::FindUser(absl::string_view id) const {
  auto it = users_.find(id);
  return it == users_.end() ? nullptr : &it->second;
}

const v1::RoleView* State::FindRole(absl::string_view name) const {
  auto it = roles_.find(name);
  return it == roles_.end() ? nullptr : &it->second;
}

const v1::ItemTypeDefinition* State::FindItemType(absl::string_view name) const {
  auto it = item_types_.find(name);
  return it == item_types_.end() ? nullptr : &it->second;
}

const v1::WorkflowDefinition* State::FindWorkflow(absl::string_view name, uint32_t version) const {
  auto it = workflows_.find(name);
  if (it == workflows_.end() || it->second.empty()) return nullptr;
  if (version == 0) return &it->second.back();
  if (version > it->second.size()) return nullptr;
  return &it->second[version - 1];
}

std::set<std::string> State::WorkflowStateNames() const {
  std::set<std::string> names;
  for (const auto& [name, versions] : workflows_) {
    for (const v1::WorkflowDefinition& workflow : versions) {
      for (const v1::WorkflowState& state : workflow.states()) names.insert(state.name());
    }
  }
  return names;
}

std::set<std::string> State::WorkflowStateTitles() const {
  std::set<std::string> titles;
  for (const auto& [name, versions] : workflows_) {
    for (const v1::WorkflowDefinition& workflow : versions) {
      for (const v1::WorkflowState& state : workflow.states()) {
        if (!state.title().empty()) titles.insert(absl::AsciiStrToLower(state.title()));
      }
    }
  }
  return titles;
}

std::set<std::string> State::WorkflowNames() const {
  std::set<std::string> names;
  for (const auto& [name, versions] : workflows_) names.insert(name);
  return names;
}

std::set<std::string> State::ItemTypeNames() const {
  std::set<std::string> names;
  for (const auto& [name, type] : item_types_) names.insert(name);
  return names;
}

std::set<std::string> State::RoleNames() const {
  std::set<std::string> names;
  for (const auto& [name, role] : roles_) names.insert(name);
  return names;
}

const v1::ClientView* State::FindClient(absl::string_view id) const {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : &it->second;
}

const v1::OrderView* State::FindOrder(absl::string_view id) const {
  auto it = orders_.find(id);
  return it == orders_.end() ? nullptr : &it->second;
}

const v1::Budget* State::FindBudget(absl::string_view id) const {
  auto it = budgets_.find(id);
  return it == budgets_.end() ? nullptr : &it->second;
}

const v1::OrderView* State::FindOrderByKey(absl::string_view key) const {
  auto it = order_keys_.find(key);
  return it == order_keys_.end() ? nullptr : FindOrder(it->second);
}

v1::Scope State::ScopeOf(const v1::UserView& user, v1::Privilege privilege) const {
  v1::Scope best = v1::SCOPE_UNSPECIFIED;
  if (!user.active()) return best;
  for (const std::string& role_name : user.roles()) {
    const v1::RoleView* role = FindRole(role_name);
    if (role == nullptr) continue;
    for (const v1::Grant& grant : role->definition().grants()) {
      if (grant.privilege() == privilege && grant.scope() > best) best = grant.scope();
    }
  }
  return best;
}

bool State::Manages(const v1::UserView& manager, absl::string_view owner_id) const {
  const v1::UserView* owner = FindUser(owner_id);
  return owner != nullptr && !owner->manager_id().empty() &&
         owner->manager_id() == manager.user_id();
}

bool State::Owns(const v1::UserView& user, const v1::ClientView& client, absl::Time now) const {
  if (client.owner_id() == user.user_id()) return true;
  if (!user.client_id().empty() && user.client_id() == client.client_id()) return true;
  for (const v1::AccountShare& share : client.shares()) {
    if (share.user_id() == user.user_id() && (!share.has_until() || ToTime(share.until()) > now)) {
      return true;
    }
  }
  return false;
}

bool NamesUser(const v1::OrderView& order, absl::string_view user_id) {
  return order.owner_id() == user_id || order.producer_id() == user_id ||
         std::find(order.participants().begin(), order.participants().end(), user_id) !=
             order.participants().end();
}

bool State::Owns(const v1::UserView& user, const v1::OrderView& order, absl::Time now) const {
  if (NamesUser(order, user.user_id())) return true;
  // Share access to an account reaches its orders.
  const v1::ClientView* client = FindClient(order.client_id());
  return client != nullptr && Owns(user, *client, now);
}

bool State::Reaches(const v1::UserView& user, v1::Scope scope, const v1::OrderView& order,
                    absl::Time now) const {
  switch (scope) {
    case v1::ALL:
      return true;
    case v1::TEAM:
      return Manages(user, order.owner_id()) || Owns(user, order, now);
    case v1::OWN:
      return Owns(user, order, now);
    default:
      return false;
  }
}

bool State::Reaches(const v1::UserView& user, v1::Scope scope, const v1::ClientView& client,
                    absl::Time now) const {
  switch (scope) {
    case v1::ALL:
      return true;
    case v1::TEAM:
      return Manages(user, client.owner_id()) || Owns(user, client, now);
    case v1::OWN:
      return Owns(user, client, now);
    default:
      return false;
  }
}

bool State::ReachesAsOwner(const v1::UserView& user, v1::Scope scope,
                           absl::string_view owner_id) const {
  switch (scope) {
    case v1::ALL:
      return true;
    case v1::TEAM:
      return owner_id == user.user_id() || Manages(user, owner_id);
    case v1::OWN:
      return owner_id == user.user_id();
    default:
      return false;
  }
}

bool State::CanSee(const v1::UserView& user, const v1::OrderView& order, absl::Time now) const {
  return !order.deleted() && Allows(user, v1::ORDER_VIEW, order, now);
}

bool State::CanSee(const v1::UserView& user, const v1::ClientView& client, absl::Time now,
                   bool even_deleted) const {
  if (client.deleted() && !even_deleted) return false;
  // Who manages an account sees it; so does whoever sees every order (production, audit).
  return Allows(user, v1::CLIENT_MANAGE, client, now) || ScopeOf(user, v1::ORDER_VIEW) == v1::ALL ||
         (!user.client_id().empty() && user.client_id() == client.client_id());
}

v1::EngineState State::ToProto() const {
  v1::EngineState state;
  state.set_format_version(kStateFormatVersion);
  state.set_position(position_);
  state.set_head_hash(head_hash_);
  SortedValues(roles_, state.mutable_roles());
  SortedValues(users_, state.mutable_users());
  SortedValues(item_types_, state.mutable_item_types());
  std::vector<std::string> names;
  for (const auto& [name, versions] : workflows_) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    for (const v1::WorkflowDefinition& w : workflows_.at(name)) *state.add_workflows() = w;
  }
  SortedValues(clients_, state.mutable_clients());
  SortedValues(orders_, state.mutable_orders());
  SortedValues(budgets_, state.mutable_budgets());
  std::vector<std::string> scopes;
  for (const auto& [scope, last] : key_sequences_) scopes.push_back(scope);
  std::sort(scopes.begin(), scopes.end());
  for (const std::string& scope : scopes) {
    v1::KeySequence* sequence = state.add_key_sequences();
    sequence->set_scope(scope);
    sequence->set_last(key_sequences_.at(scope));
  }
  return state;
}

void State::LoadProto(const v1::EngineState& state) {
  *this = State();
  position_ = state.position();
  head_hash_ = state.head_hash();
  for (const v1::RoleView& role : state.roles()) roles_[role.definition().name()] = role;
  for (const v1::UserView& user : state.users()) users_[user.user_id()] = user;
  for (const auto& type : state.item_types()) item_types_[type.name()] = type;
  for (const auto& workflow : state.workflows()) workflows_[workflow.name()].push_back(workflow);
  for (const v1::ClientView& client : state.clients()) {
    clients_[client.client_id()] = client;
    client_index_[client.created_position()] = client.client_id();
  }
  for (const v1::OrderView& order : state.orders()) {
    orders_[order.order_id()] = order;
    order_index_[order.created_position()] = order.order_id();
    orders_by_client_[order.client_id()].insert(order.created_position());
    orders_by_owner_[order.owner_id()].insert(order.created_position());
  }
  // Keys are unique unless two item types render the same ones; then the first order keeps
  // it, as when the log was applied.
  for (const auto& [position, id] : order_index_) {
    const v1::OrderView& order = orders_.at(id);
    if (!order.key().empty()) order_keys_.try_emplace(order.key(), id);
  }
  for (const v1::KeySequence& sequence : state.key_sequences()) {
    key_sequences_[sequence.scope()] = sequence.last();
  }
  for (const v1::Budget& budget : state.budgets()) budgets_[budget.budget_id()] = budget;
}

}  // namespace spotflow::engine::internal
