// definitions.h: validation of what administrators configure (roles, item types, workflows)
// and of the values commands carry (ids, dates, form fields), plus key formats and workflow
// lookups. Thread-safe: pure functions.
#ifndef SPOTFLOW_ENGINE_INTERNAL_DEFINITIONS_H_
#define SPOTFLOW_ENGINE_INTERNAL_DEFINITIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/map.h"
#include "google/protobuf/message.h"
#include "proto/domain.pb.h"

namespace spotflow::engine::internal {

inline constexpr size_t kMaxIdBytes = 128;
inline constexpr size_t kMaxNameBytes = 200;
inline constexpr size_t kMaxTextBytes = 64 * 1024;
// What one order's view may hold before commands that add text to it are refused: well
// inside gRPC's default 4 MiB per message, so that GetOrder always answers.
inline constexpr size_t kMaxOrderBytes = 1024 * 1024;
// The most items made for one order (CreateOrder.parent_order_id), so that the order and the
// links GetOrder gives with it fit one message.
inline constexpr int kMaxChildOrders = 1000;
// The longest period of a budget, in days: a year's, leap day included.
inline constexpr int kMaxBudgetDays = 366;
// The choices one form field offers (FieldDefinition.choices).
inline constexpr int kMaxFieldChoices = 100;
// A client's login's comment on a request it submitted, and all of them on one request: room
// of their own within kMaxOrderBytes, so that the house's work always has the rest.
inline constexpr size_t kMaxClientCommentBytes = 4 * 1024;
inline constexpr size_t kMaxClientCommentsBytes = 64 * 1024;

// OK, or INVALID_ARGUMENT naming `what`: ids are 1-128 characters of [A-Za-z0-9._-].
absl::Status ValidateId(absl::string_view what, absl::string_view id);
// The longest id Slug makes.
inline constexpr size_t kMaxSlugChars = 40;
// An id people can type, made from a name: its letters and digits, lowercased, with the
// Latin letters of Latin-1 and Latin Extended-A as ASCII ones, each run of spaces or
// punctuation one '-' ("Société Générale, S.A." -> "societe-generale-s-a"; "Škoda" ->
// "skoda"; "McDonald's" -> "mcdonalds"); other scripts are left out. At most kMaxSlugChars
// long; empty when the name has no such letter or digit.
std::string Slug(absl::string_view name);
// OK, or INVALID_ARGUMENT naming the first string field (at any depth) that is not valid
// UTF-8. Protobuf refuses to parse such strings, so one stored would make the log unreadable.
absl::Status ValidateUtf8(const google::protobuf::Message& message);

// OK, or INVALID_ARGUMENT: non-empty (when `required`) and at most `max_bytes`.
absl::Status ValidateText(absl::string_view what, absl::string_view text, size_t max_bytes,
                          bool required);
// OK, or INVALID_ARGUMENT: a real calendar date between years 1900 and 9999.
// Empty, or one '@' with something on each side and no spaces.
absl::Status ValidateEmail(absl::string_view what, absl::string_view email);
absl::Status ValidateDate(absl::string_view what, const v1::Date& date);
// OK, or INVALID_ARGUMENT when both are set and end is before start, or one is missing.
absl::Status ValidateFlight(const v1::Date& start, const v1::Date& end);
int CompareDates(const v1::Date& a, const v1::Date& b);
std::string FormatDate(const v1::Date& date);  // 2026-11-23

// The artifact that a revision action the decider builds names ("approve_script": "script");
// empty for the workflow's other actions, which PerformAction takes as they are.
std::string ArtifactOfAction(absl::string_view action);
// Actions named like the revision commands' are theirs: PerformAction refuses them, and a
// workflow may hold only those the revision commands build.
bool HasRevisionActionPrefix(absl::string_view action);

absl::Status ValidateRole(const v1::RoleDefinition& role);
// Structure only; whether the workflow exists is the caller's check.
absl::Status ValidateItemType(const v1::ItemTypeDefinition& type);
// Whether an order of item type `type` and kind `kind` can always finish `workflow`: every
// state it can reach from the kind's initial state, by the transitions the type can take,
// still leads on to a final state by such transitions. A transition needs what it works on:
// a revision action its artifact (submit_script: a script), SPOT_APPROVED a spot, and
// INTERNALLY_APPROVED its action's artifact (a spot for other actions). INVALID_ARGUMENT
// naming the state where such an order would stop for good, and what it lacks there.
absl::Status CheckKindFinishes(const v1::ItemTypeDefinition& type,
                               const v1::WorkflowDefinition& workflow, v1::OrderKind kind);
// The same for an order of `type` now in state `from` (`who` names it in the message).
absl::Status CheckFinishesFrom(const v1::ItemTypeDefinition& type,
                               const v1::WorkflowDefinition& workflow, const std::string& from,
                               absl::string_view who);
// INVALID_ARGUMENT when no kind of order CreateOrder makes (not REUSE, which starts from such
// an order) of item type `type` can finish `workflow`, with each kind's reason; CreateOrder
// refuses the kinds that cannot.
absl::Status CheckTypeFitsWorkflow(const v1::ItemTypeDefinition& type,
                                   const v1::WorkflowDefinition& workflow);
// States, initial states, transitions: unknown or duplicate names, unknown privileges or
// conditions, duplicate (from, action) pairs and unreachable states are INVALID_ARGUMENT.
absl::Status ValidateWorkflow(const v1::WorkflowDefinition& workflow);

// Whether a client's login with REQUEST_SUBMIT may request items of `type`: its items belong to
// a client, and the house does not keep the type to itself (Facets.house_only).
bool Requestable(const v1::ItemTypeDefinition& type);

// The form a client's login fills in for `type`: how the house works it (its workflow, its
// keys, what it makes for it) and its internal fields left out.
v1::ItemTypeDefinition FormOf(const v1::ItemTypeDefinition& type);

// The required fields of `type` that `order` lacks, in the type's order: one the house fills
// in after a client's request (internal), or one the type requires since the order was made.
std::vector<std::string> MissingRequiredFields(const v1::ItemTypeDefinition& type,
                                               const v1::OrderView& order);

// The fields transition `t` requires (Transition.required_fields) that `order` lacks, in
// `t`'s order.
std::vector<std::string> MissingStepFields(const v1::Transition& t, const v1::OrderView& order);

// The fields transition `t` requires that `type` has not (none when `type` is null), so that
// its orders cannot take `t`: a type may drop a field while a workflow's step requires it,
// when its orders have another way on.
std::vector<std::string> FieldsTypeLacks(const v1::ItemTypeDefinition* type,
                                         const v1::Transition& t);

// `fields` with each value of a field with choices that names a choice but for ASCII case
// ("Radio") spelt as the choice is ("radio"): what a decision records of a form.
google::protobuf::Map<std::string, v1::FieldValue> AsPicked(
    const v1::ItemTypeDefinition& type,
    const google::protobuf::Map<std::string, v1::FieldValue>& fields);

// Form fields against an item type's definitions: unknown fields and wrong types are
// INVALID_ARGUMENT; so are missing required fields when `require_all`.
absl::Status ValidateFields(const v1::ItemTypeDefinition& type,
                            const google::protobuf::Map<std::string, v1::FieldValue>& fields,
                            bool require_all);

// `field` is a whole-number (INTEGER) field of `type`, to sum over orders (a budget, order
// stats); INVALID_ARGUMENT naming the type's whole-number fields otherwise.
absl::Status CheckSummableField(const v1::ItemTypeDefinition& type, const std::string& field);

// Key formats: literal text with {yyyy}, {yy} and one {seq:N}.
absl::Status ValidateKeyFormat(absl::string_view format);
bool KeyFormatHasYear(absl::string_view format);
std::string RenderKey(absl::string_view format, int year, uint64_t seq);

// The transition out of `state` for `action`, or nullptr.
const v1::Transition* FindTransition(const v1::WorkflowDefinition& workflow,
                                     absl::string_view state, absl::string_view action);
const v1::WorkflowState* FindState(const v1::WorkflowDefinition& workflow, absl::string_view state);
// The initial state for `kind`, or empty.
std::string InitialState(const v1::WorkflowDefinition& workflow, v1::OrderKind kind);

}  // namespace spotflow::engine::internal

#endif  // SPOTFLOW_ENGINE_INTERNAL_DEFINITIONS_H_
