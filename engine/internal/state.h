// state.h: the projections. State is a pure function of the records applied to it, in log
// order: current users, roles, item types, workflows (every version), clients and orders
// with their full revision history, plus the access rules that read them.
//
// Not thread-safe: the engine guards its State with a mutex.
#ifndef SPOTFLOW_ENGINE_INTERNAL_STATE_H_
#define SPOTFLOW_ENGINE_INTERNAL_STATE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/domain.pb.h"
#include "proto/event.pb.h"

namespace spotflow::engine::internal {

// The version of EngineState snapshots this code writes and reads. Raised whenever the
// projections change what they make of the log, so that a snapshot of the old ones is
// ignored and the state rebuilt: 2 keeps the actions taken on orders (OrderView.actions);
// 5 passes over order keys in use (a log with a duplicate key renumbers its second holder);
// 7 keeps each order's states entered, archiving and restoring (OrderView.status_history);
// 8 keeps the ids of a client's removed contacts (ClientView.removed_contact_ids);
// 9 keeps who shared an order with each participant (OrderView.participant_shares);
// 10 marks instructions changed after an order was made (OrderView.instructions_revised);
// 11 gives a flight only to orders that have one (no empty flight_start, flight_end).
inline constexpr uint32_t kStateFormatVersion = 11;

// Stream ids of the engine's records.
std::string UserStream(absl::string_view user_id);
std::string RoleStream(absl::string_view name);
std::string ItemTypeStream(absl::string_view name);
std::string WorkflowStream(absl::string_view name);
std::string ClientStream(absl::string_view client_id);
std::string OrderStream(absl::string_view order_id);
std::string BudgetStream(absl::string_view budget_id);

absl::Time ToTime(const google::protobuf::Timestamp& timestamp);
google::protobuf::Timestamp ToTimestamp(absl::Time time);

// Decodes an engine record's payload. DATA_LOSS when it does not parse or names no event.
absl::Status DecodeEvent(const v1::EventRecord& record, v1::DomainEvent* event);

// The client or order an event changes, or nullptr for other events.
const std::string* ClientIdOf(const v1::DomainEvent& event);
const std::string* OrderIdOf(const v1::DomainEvent& event);

// What a command result says about the record an event changed: its id, and the id of the
// part it added (revision number, flight-change request, comment, contact, version).
void Describe(const v1::DomainEvent& event, std::string* id, std::string* sub_id);

// The order as a client contact's login may see it: the revisions forwarded to that contact
// with the forwards and the client's answers, none of the house's internal reviews, comments,
// actions taken, states it went through, participants, who made it or each revision,
// flight-change requests, its workflow, what its type makes for its items, the ids of linked
// orders, or log positions; shown_to_contact names the contact. An order the login `login_id`
// submitted itself keeps its instructions, who made it and the action that finished it; of a
// type without revisions (`type`; seed 001's marketing request), also the states it went
// through, by their titles in `workflow` (the order's version) only.
v1::OrderView ForContact(v1::OrderView order, const std::string& contact_id,
                         const std::string& login_id, const v1::ItemTypeDefinition* type,
                         const v1::WorkflowDefinition* workflow);
// The client as its contact's own login may see it: the account, its owner and that contact's
// own entry; not the other contacts (as in the order), nor who shares it, owned it or opened it.
v1::ClientView ForContact(v1::ClientView client, const std::string& contact_id);

// Whether `order` names `user_id` as its owner, its producer or one it is shared with: the
// grounds of access the order holds itself (State::Owns).
bool NamesUser(const v1::OrderView& order, absl::string_view user_id);

// The order's last step into a state (status_history), not an archiving nor a restoring;
// nullptr when it has none.
const v1::StatusEntered* LastStep(const v1::OrderView& order);

// When the order finished: its last step, into the final state it is in (a restore into it
// is no step); none while it is in no final state. Budgets of orders done and order stats
// by when orders ended count by it.
std::optional<absl::Time> FinishedAt(const v1::OrderView& order);

// Whether `client` is of `kind` as people type it (an audience such as "agency"): whatever the
// case of its ASCII letters, spaces around it aside. An empty kind is every client.
inline bool IsOfKind(const v1::ClientView& client, absl::string_view kind) {
  kind = absl::StripAsciiWhitespace(kind);
  return kind.empty() || absl::EqualsIgnoreCase(client.kind(), kind);
}

// Folds one record into a single order or client view (as-of reads use these alone). The
// event is consumed: its large fields move into the view.
void ApplyToOrder(const v1::EventRecord& record, v1::DomainEvent* event, v1::OrderView* order);
void ApplyToClient(const v1::EventRecord& record, v1::DomainEvent* event, v1::ClientView* client);

class State {
 public:
  // Applies the next record of the log. Records before position() + 1 are ignored; a gap is
  // INTERNAL. Records the engine did not write (payload_type outside spotflow.v1) only move
  // the position. DATA_LOSS for an unreadable payload.
  absl::Status Apply(const v1::EventRecord& record);
  // Applies a decoded event, consuming it (its large fields move into the views).
  absl::Status Apply(const v1::EventRecord& record, v1::DomainEvent* event);

  uint64_t position() const { return position_; }
  const std::string& head_hash() const { return head_hash_; }

  const v1::UserView* FindUser(absl::string_view id) const;
  const v1::RoleView* FindRole(absl::string_view name) const;
  const v1::ItemTypeDefinition* FindItemType(absl::string_view name) const;
  // version 0: the latest. nullptr when unknown.
  const v1::WorkflowDefinition* FindWorkflow(absl::string_view name, uint32_t version) const;
  // Every state name of every workflow version, sorted: what an order's status can be.
  std::set<std::string> WorkflowStateNames() const;
  // Every state title of every workflow version, in lower case ("waiting for pre-approval").
  std::set<std::string> WorkflowStateTitles() const;
  // The names of every workflow published.
  std::set<std::string> WorkflowNames() const;
  std::set<std::string> ItemTypeNames() const;
  std::set<std::string> RoleNames() const;
  // Deleted clients and orders are found too; callers decide what deletion means.
  const v1::ClientView* FindClient(absl::string_view id) const;
  const v1::OrderView* FindOrder(absl::string_view id) const;
  // Removed budgets are found too.
  const v1::Budget* FindBudget(absl::string_view id) const;
  const absl::flat_hash_map<std::string, v1::Budget>& budgets() const { return budgets_; }
  // By the key people know it by ("PO-2026-00001"); nullptr when no order has it.
  const v1::OrderView* FindOrderByKey(absl::string_view key) const;
  // An order as callers name it: by id, else by key, as typed or in capitals ("po-2026-00001"
  // for PO-2026-00001). Commands and queries take either.
  const v1::OrderView* FindOrderByIdOrKey(absl::string_view name) const {
    const v1::OrderView* order = FindOrder(name);
    if (order == nullptr) order = FindOrderByKey(name);
    if (order == nullptr) order = FindOrderByKey(absl::AsciiStrToUpper(name));
    return order;
  }

  // Ids in creation order, keyed by the position that created them.
  const std::map<uint64_t, std::string>& orders_by_creation() const { return order_index_; }
  const std::map<uint64_t, std::string>& clients_by_creation() const { return client_index_; }
  // The creation positions (keys of orders_by_creation) of a client's orders and of the
  // orders a user owns now, deleted ones too: what a filter by client or owner walks
  // instead of every order. Empty for an id no order has.
  const absl::btree_set<uint64_t>& OrdersOfClient(absl::string_view client_id) const;
  const absl::btree_set<uint64_t>& OrdersOfOwner(absl::string_view owner_id) const;
  // The order created at `position`, one of those sets hold.
  const v1::OrderView& OrderCreatedAt(uint64_t position) const {
    return orders_.at(order_index_.at(position));
  }
  // The first order of `client_id` that `user` sees at `now`, not deleted: where one who does
  // not see the client meets it (a refusal then says so); nullptr when none.
  const v1::OrderView* AnOrderSeenBy(const v1::UserView& user, absl::string_view client_id,
                                     absl::Time now) const {
    for (uint64_t position : OrdersOfClient(client_id)) {
      const v1::OrderView& order = OrderCreatedAt(position);
      if (!order.deleted() && CanSee(user, order, now)) return &order;
    }
    return nullptr;
  }
  const absl::flat_hash_map<std::string, v1::UserView>& users() const { return users_; }
  const absl::flat_hash_map<std::string, v1::RoleView>& roles() const { return roles_; }

  // Whether the order's status is a terminal state of its workflow version.
  bool IsTerminal(const v1::OrderView& order) const;
  // The title its workflow version gives the order's status; empty when it gives none.
  std::string StatusTitle(const v1::OrderView& order) const;
  // The order's status as its workflow version defines it; nullptr when that is unknown.
  const v1::WorkflowState* StateOf(const v1::OrderView& order) const;
  // Whether `state` of `workflow` is where orders end undone (WorkflowState.abandoned), as the
  // latest version that defines it says: marking a state abandoned (or no longer) holds for
  // the orders under way on older versions too, in budgets, stats and steps alike.
  bool IsAbandonedState(absl::string_view workflow, absl::string_view state) const;
  // Whether the order ended undone: in a final state that IsAbandonedState.
  bool IsAbandoned(const v1::OrderView& order) const;

  // The widest scope of `privilege` among the user's roles; SCOPE_UNSPECIFIED when none.
  v1::Scope ScopeOf(const v1::UserView& user, v1::Privilege privilege) const;
  // Whether `scope` reaches the record for `user` at `now` (share access may expire).
  bool Reaches(const v1::UserView& user, v1::Scope scope, const v1::OrderView& order,
               absl::Time now) const;
  bool Reaches(const v1::UserView& user, v1::Scope scope, const v1::ClientView& client,
               absl::Time now) const;
  // A share lets a user work on a record, not give it away (seed 004: an associate "can only
  // change their assignment"): ACCOUNT_REASSIGN short of ALL reaches only what the user owns
  // (OWN) or those they manage own (TEAM), never what was shared with them or that they
  // produce.
  bool Allows(const v1::UserView& user, v1::Privilege privilege, const v1::OrderView& order,
              absl::Time now) const {
    const v1::Scope scope = ScopeOf(user, privilege);
    if (privilege == v1::ACCOUNT_REASSIGN) return ReachesAsOwner(user, scope, order.owner_id());
    return Reaches(user, scope, order, now);
  }
  bool Allows(const v1::UserView& user, v1::Privilege privilege, const v1::ClientView& client,
              absl::Time now) const {
    const v1::Scope scope = ScopeOf(user, privilege);
    if (privilege == v1::ACCOUNT_REASSIGN) return ReachesAsOwner(user, scope, client.owner_id());
    return Reaches(user, scope, client, now);
  }
  // Whether `scope` reaches what `owner_id` owns by ownership alone: theirs (OWN), their
  // reports' (TEAM), anyone's (ALL).
  bool ReachesAsOwner(const v1::UserView& user, v1::Scope scope, absl::string_view owner_id) const;
  // Whether the user may see the order / client at all.
  bool CanSee(const v1::UserView& user, const v1::OrderView& order, absl::Time now) const;
  // `even_deleted`: whether they could, were the client not deleted (its orders stay).
  bool CanSee(const v1::UserView& user, const v1::ClientView& client, absl::Time now,
              bool even_deleted = false) const;

  // Everything, sorted by id (workflows by name and version), for snapshots and digests.
  v1::EngineState ToProto() const;
  // Replaces this state with a snapshot's.
  void LoadProto(const v1::EngineState& state);

  // Whether `manager` is the manager of the user `owner_id` (a team scope's reach).
  bool Manages(const v1::UserView& manager, absl::string_view owner_id) const;

 private:
  bool Owns(const v1::UserView& user, const v1::OrderView& order, absl::Time now) const;
  bool Owns(const v1::UserView& user, const v1::ClientView& client, absl::Time now) const;
  void AssignKey(const v1::EventRecord& record, v1::OrderView* order);

  uint64_t position_ = 0;
  std::string head_hash_;
  absl::flat_hash_map<std::string, v1::UserView> users_;
  absl::flat_hash_map<std::string, v1::RoleView> roles_;
  absl::flat_hash_map<std::string, v1::ItemTypeDefinition> item_types_;
  absl::flat_hash_map<std::string, std::vector<v1::WorkflowDefinition>> workflows_;
  absl::flat_hash_map<std::string, v1::ClientView> clients_;
  absl::flat_hash_map<std::string, v1::OrderView> orders_;
  absl::flat_hash_map<std::string, v1::Budget> budgets_;
  std::map<uint64_t, std::string> order_index_;
  std::map<uint64_t, std::string> client_index_;
  // Derived from orders_, like the indexes above; neither snapshots nor digests hold them.
  absl::flat_hash_map<std::string, absl::btree_set<uint64_t>> orders_by_client_;
  absl::flat_hash_map<std::string, absl::btree_set<uint64_t>> orders_by_owner_;
  // The last sequence number handed out per key scope ("<type>/<year>" or "<type>").
  absl::flat_hash_map<std::string, uint64_t> key_sequences_;
  // Order ids by key. Rebuilt from the orders on LoadProto: not part of the snapshot.
  absl::flat_hash_map<std::string, std::string> order_keys_;
};

}  // namespace spotflow::engine::internal

#endif  // SPOTFLOW_ENGINE_INTERNAL_STATE_H_
