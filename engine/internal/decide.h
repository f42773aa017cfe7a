// decide.h: command handling. Decide() is a pure function of the projected state, the
// command, the acting user, the time and the ids it draws: it returns the events to append
// (with the expected version of every stream they go to) or the error that rejects the
// command. It writes nothing itself.
#ifndef SPOTFLOW_ENGINE_INTERNAL_DECIDE_H_
#define SPOTFLOW_ENGINE_INTERNAL_DECIDE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/ids.h"
#include "engine/internal/state.h"
#include "proto/commands.pb.h"
#include "proto/domain.pb.h"
#include "store/event_store.h"

namespace spotflow::engine::internal {

struct StreamWrite {
  std::string stream_id;
  store::ExpectedVersion expected = store::ExpectedVersion::Any();
  std::vector<v1::DomainEvent> events;
};

struct Decision {
  // Empty when the command changes nothing (setting what is already set): success, no write.
  std::vector<StreamWrite> writes;
  // Streams the decision depended on without writing them, at the versions it saw: the
  // append commits only while they are unchanged (store::AppendRequest::reads). For rules
  // that span records other commands change in their own turns, and for what a right rests
  // on: the actor's record and roles, those of the users the command names, and short of
  // scope ALL the order, its account and a team owner's record (Decider::ReadGrounds).
  std::vector<store::StreamRead> reads;
  // The record the command targets: the caller's etag is checked against its version, and
  // the result reports its new version.
  std::string target_stream;
  uint64_t target_version = 0;
  v1::CommandResult result;  // id and sub_id; the engine adds versions and positions.
  std::string on_behalf_of;  // A client contact, when a user records the client's answer.
  // Commands that share a turn are appended one at a time, each decided on the state the one
  // before it left. A command takes its target stream's turn and these. Commands whose rules
  // look across users take kDirectoryTurn, so that two of them cannot both pass on the same
  // state; commands that open an order on a client also take the client stream's turn, which
  // deleting the client takes too, so that a client is never deleted with an order opening on
  // it; bulk commands take the turn of each order they move or read, so that a command in
  // flight on one is waited for rather than raced. Commands that name a client take
  // kClientNamesTurn, so that two clients of one name cannot both pass; commands that define
  // item types or workflows take kDefinitionsTurn, so that two new names differing only in
  // case cannot both pass; defining a role takes it too, so that a workflow step that names
  // the role and the role's grants are never changed past each other (KeepStepsTakeable).
  std::vector<std::string> turns;
};

inline constexpr char kDirectoryTurn[] = "(users and roles)";
inline constexpr char kClientNamesTurn[] = "(client names)";
inline constexpr char kDefinitionsTurn[] = "(item types and workflows)";

// Whether deciding `command` may walk every client and a whole book of orders (reassigning
// accounts) rather than the few records it names: such commands are not decided on a thread
// that must not wait (Engine::TryExecuteAsync).
bool DecideIsBulk(const v1::Command& command);

// `actor` must be an active user of `state`, or a system actor (user id "system") that holds
// every privilege, used only to load presets and bootstrap the first administrator.
absl::StatusOr<Decision> Decide(const State& state, const v1::UserView& actor,
                                const v1::Command& command, absl::Time now, IdGenerator* ids);

// The workflow actions `actor` may take on `order` now, in the workflow's order, by the
// rules Decide applies: a transition from its state, the privilege with a scope that reaches
// the order, one of the transition's roles when it names some, its conditions, and for a
// client answer by a contact's own login,
// a revision forwarded to them. `moving_only`, as a work queue does: leave out actions that
// keep the order in its state (a new script while one is in review), and those it does not
// wait for from `actor` (the upload of a spot production will record, the writing of an
// order another producer is assigned to), and ways out into a final state where the work ends
// undone (a decline), which no one's work waits on.
std::vector<std::string> ActionsOpenTo(const State& state, const v1::UserView& actor,
                                       const v1::OrderView& order, absl::Time now,
                                       bool moving_only);

// What `actor` may do now about the order's pending flight change: "decide" (or "reject",
// FlightDecisionOpen) and/or "withdraw", by the rules DecideFlightChange and
// WithdrawFlightChange apply.
std::vector<std::string> FlightActionsOpenTo(const State& state, const v1::UserView& actor,
                                             const v1::OrderView& order, absl::Time now);

// The decision open on the order's pending flight change at `now`: "decide", or "reject" when
// its dates have passed, so that it can only be rejected.
std::string FlightDecisionOpen(const v1::OrderView& order, absl::Time now);

// Whether a flight-date change on `order` waits for a decision `actor` may take now
// (FLIGHT_CHANGE_DECIDE with a scope that reaches the order, which is neither archived nor
// deleted): such an order is in the actor's work queue.
bool FlightChangeAwaits(const State& state, const v1::UserView& actor, const v1::OrderView& order,
                        absl::Time now);

// The existing record a command names (its stream and version), for checking an etag before
// deciding: the command's order_id, client_id or user_id, in that order. nullopt when it names
// none that exists, or one `viewer` may not see at `now`: told its version, they would learn
// that it exists and, behind an order's key, its id (the decision then says what they may know).
std::optional<std::pair<std::string, uint64_t>> TargetOf(const State& state,
                                                         const v1::Command& command,
                                                         const v1::UserView& viewer,
                                                         absl::Time now);

// Whether `viewer` reads the budgets of `user_id`: their own, or those of whom their
// BUDGET_MANAGE reaches (ReachesAsOwner: themselves at OWN, their team at TEAM, all at ALL).
// Never a client's login.
bool MayReadBudget(const State& state, const v1::UserView& viewer, absl::string_view user_id);

// The system actor's user id; no user may take it.
inline constexpr char kSystemUser[] = "system";

}  // namespace spotflow::engine::internal

#endif  // SPOTFLOW_ENGINE_INTERNAL_DECIDE_H_
