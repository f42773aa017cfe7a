#include "engine/internal/decide.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "base/nearest.h"
#include "base/status_macros.h"
#include "engine/errors.h"
#include "engine/internal/definitions.h"
#include "engine/presets.h"
#include "google/protobuf/util/field_mask_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace spotflow::engine::internal {
namespace {

// Whether a flight ending on `end` (a valid date) is over at `now`: it ended before yesterday,
// in UTC. The engine knows no time zone, and yesterday in UTC is still today for a caller up
// to 12 hours behind it, so that day is let through.
bool FlightIsOver(const v1::Date& end, absl::Time now) {
  return absl::CivilDay(end.year(), end.month(), end.day()) <
         absl::ToCivilDay(now, absl::UTCTimeZone()) - 1;
}

// The client's contact `contact_id`; nullptr when it has none, or there is no client.
const v1::Contact* FindContact(const v1::ClientView* client, absl::string_view contact_id) {
  if (client == nullptr) return nullptr;
  for (const v1::Contact& contact : client->contacts()) {
    if (contact.contact_id() == contact_id) return &contact;
  }
  return nullptr;
}

using store::ExpectedVersion;

constexpr uint32_t kMaxSpotSeconds = 3600;
// How many of "name", "name-2", ... an id made from a name tries before it is generated.
constexpr int kMaxSlugTries = 100;
// The most orders one ReassignOrders moves: a selection people make, decided at once (a
// whole book moves with its accounts, ReassignAccounts).
constexpr int kMaxOrdersReassigned = 1000;

// ALREADY_EXISTS when `name`, new, differs only in case from a name in `names` (a map's keys
// or a set's elements): "Producer" beside "producer" would be taken for one another wherever
// people type it. `what` names the record ("role"), `advice` what to do instead.
const std::string& NameOf(const std::string& name) { return name; }
template <typename Record>
const std::string& NameOf(const std::pair<const std::string, Record>& entry) {
  return entry.first;
}
template <typename Names>
absl::Status NotAnotherCaseOf(absl::string_view what, absl::string_view name, const Names& names,
                              absl::string_view advice) {
  for (const auto& entry : names) {
    const std::string& other = NameOf(entry);
    if (other != name && absl::EqualsIgnoreCase(other, name)) {
      return absl::AlreadyExistsError(absl::StrCat(what, " \"", other, "\" already exists; \"",
                                                   name, "\" differs only in case: ", advice));
    }
  }
  return absl::OkStatus();
}

// What a command says with the workflow action it takes (a decline's reason, a revision's
// note), in which of its fields, and the CLI's flag for it (COMMENT_GIVEN).
struct Remark {
  absl::string_view text;
  absl::string_view field;
  absl::string_view flag;
};

// The expected version of a record that exists (its version) or is being created.
ExpectedVersion Expect(uint64_t version) {
  return version == 0 ? ExpectedVersion::NoStream() : ExpectedVersion::Exactly(version);
}

// What the log keeps of a token: the first 12 hex digits of its SHA-256.
absl::Status ValidateTokenHashPrefix(absl::string_view prefix) {
  if (prefix.size() != 12 || prefix.find_first_not_of("0123456789abcdef") != prefix.npos) {
    return absl::InvalidArgumentError("token_hash_prefix is 12 lowercase hex digits");
  }
  return absl::OkStatus();
}

// Whether `user` holds one of `roles` (Transition.roles), or `roles` is empty.
bool HoldsOneOf(const v1::UserView& user,
                const google::protobuf::RepeatedPtrField<std::string>& roles) {
  return roles.empty() ||
         std::any_of(user.roles().begin(), user.roles().end(), [&](const std::string& role) {
           return std::find(roles.begin(), roles.end(), role) != roles.end();
         });
}

// Whether the order waits for others than `user`, who may act with `privilege` (holding one of
// `roles`, when a step names some) on it: it
// waits for its own people (its owner, its producer, those it or its account is shared with)
// when one of them may; when none may, for the nearest active manager above the owner who may
// (past one who has left, as a client's login is told whom to reach); only when there is none,
// for whoever can (any producer for a script nobody is assigned to write). So an order
// assigned to a producer waits for them, and an AE's script in review for that AE, not for
// every producer or for the sales manager, who may take either; and a step given to the sales
// managers (seed 001's pre-approval) waits for the manager of the AE whose order it is, not
// for every sales manager in the house.
bool WaitsForOthers(const State& state, const v1::UserView& user, const v1::OrderView& order,
                    v1::Privilege privilege, absl::Time now,
                    const google::protobuf::RepeatedPtrField<std::string>& roles = {}) {
  if (state.Reaches(user, v1::OWN, order, now)) return false;
  std::vector<absl::string_view> own = {order.owner_id(), order.producer_id()};
  own.insert(own.end(), order.participants().begin(), order.participants().end());
  if (const v1::ClientView* client = state.FindClient(order.client_id()); client != nullptr) {
    own.push_back(client->owner_id());
    for (const v1::AccountShare& share : client->shares()) own.push_back(share.user_id());
  }
  for (absl::string_view id : own) {
    const v1::UserView* other = id.empty() ? nullptr : state.FindUser(id);
    if (other != nullptr && other->active() && state.Reaches(*other, v1::OWN, order, now) &&
        state.Allows(*other, privilege, order, now) && HoldsOneOf(*other, roles)) {
      return true;
    }
  }
  // Up the owner's managers. (Bounded: a chain of managers is short, and may loop.)
  const v1::UserView* above = state.FindUser(order.owner_id());
  for (int up = 0; up < 16 && above != nullptr && !above->manager_id().empty(); ++up) {
    above = state.FindUser(above->manager_id());
    if (above != nullptr && above->active() && state.Allows(*above, privilege, order, now) &&
        HoldsOneOf(*above, roles)) {
      return above->user_id() != user.user_id();
    }
  }
  return false;
}

// Where a recorded spot is: a URI with its scheme (RFC 3986), s3://spots/winter.wav, so that
// whoever plays or delivers it knows how to fetch it; no spaces or control characters.
absl::Status ValidateMediaUri(absl::string_view uri) {
  const size_t colon = uri.find(':');
  const absl::string_view scheme = uri.substr(0, colon == uri.npos ? 0 : colon);
  const bool scheme_ok = !scheme.empty() &&
                         absl::ascii_isalpha(static_cast<unsigned char>(scheme[0])) &&
                         std::all_of(scheme.begin(), scheme.end(), [](char c) {
                           return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' ||
                                  c == '-' || c == '.';
                         });
  const bool rest_ok = colon != uri.npos && colon + 1 < uri.size() &&
                       std::none_of(uri.begin(), uri.end(), [](char c) {
                         return static_cast<unsigned char>(c) <= ' ' || c == '\x7f';
                       });
  if (scheme_ok && rest_ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("media uri \"", absl::CHexEscape(uri.substr(0, 200)),
                   "\" is not a URI: give where the spot is with its scheme and no spaces, e.g. "
                   "s3://spots/winter-sale.wav or https://files.example.com/winter%20sale.wav"));
}

// A definition read, edited and given back names the version it was read at (0: it makes no
// claim). A newer version since means someone else's edit would be lost without their knowing:
// ABORTED, as for a stale etag.
absl::Status RequireReadAtLatest(absl::string_view what, absl::string_view name, uint32_t given,
                                 uint64_t latest) {
  // A new record (one copied under a new name keeps its source's version) makes no claim.
  if (given == 0 || given == latest || latest == 0) return absl::OkStatus();
  return WithErrorInfo(
      absl::AbortedError(absl::StrCat(
          what, " \"", name, "\" is at version ", latest,
          " but the definition given is of version ", given,
          "; show it again, make the change there and give that (or clear its version to "
          "replace whatever is there)")),
      kDefinitionChanged,
      {{"version", absl::StrCat(given)}, {"current_version", absl::StrCat(latest)}});
}

// Whether two definitions say the same, whatever versions they carry.
template <typename Definition>
bool SameDefinition(const Definition& stored, const Definition& given) {
  Definition a = stored, b = given;
  a.clear_version();
  b.clear_version();
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

bool IsOpen(const v1::OrderView& order) {
  return !order.completed() && !order.archived() && !order.deleted();
}

// The order's flight-date change that waits for a decision (at most one), or nullptr.
const v1::FlightChange* PendingFlightChange(const v1::OrderView& order) {
  for (const v1::FlightChange& change : order.flight_changes()) {
    if (change.status() == v1::PENDING) return &change;
  }
  return nullptr;
}

// Special case: the workflow guards client answers with CLIENT_ANSWER, which contacts hold. A
// user recording the answer for a contact needs what the answer amounts to in the house:
// REVISION_APPROVE to record an approval (an assistant may not approve, nor relay one), and
// REVISION_REVIEW to record requested changes.
v1::Privilege OnBehalfPrivilege(bool approved) {
  return approved ? v1::REVISION_APPROVE : v1::REVISION_REVIEW;
}

class Decider {
 public:
  Decider(const State& state, const v1::UserView& actor, absl::Time now, IdGenerator* ids)
      : state_(state), actor_(actor), now_(now), ids_(ids) {}

  absl::StatusOr<Decision> Run(const v1::Command& command);
  std::vector<std::string> OpenActions(const v1::OrderView& order, bool moving_only) const;
  // Whether the order, at transition `t`, waits for someone other than the actor even though
  // they may take it; a work queue (OpenActions' moving_only) leaves it out.
  bool WaitsForSomeoneElse(const v1::OrderView& order, const v1::Transition& t) const;

 private:
  // --- Building the decision.
  v1::DomainEvent& Emit(const std::string& stream, uint64_t version) {
    for (StreamWrite& write : decision_.writes) {
      if (write.stream_id == stream) return write.events.emplace_back();
    }
    StreamWrite& write = decision_.writes.emplace_back();
    write.stream_id = stream;
    write.expected = Expect(version);
    return write.events.emplace_back();
  }
  // The decision depends on `stream` at `version` without writing it (Decision::reads).
  void Read(const std::string& stream, uint64_t version) {
    // Once: every version comes from the one state the decision reads.
    if (!read_streams_.insert(stream).second) return;
    decision_.reads.push_back({stream, version});
  }
  // The shares in force now that accounts' owners gave the actor, each with its account. Only
  // shares the owner granted count: not a manager's, not one that came with an account from
  // its previous owner, and not one that came with an account the actor opened in the book
  // (CreateClient), which the actor granted.
  std::vector<std::pair<const v1::ClientView*, const v1::AccountShare*>> SharesOfBooks() const {
    std::vector<std::pair<const v1::ClientView*, const v1::AccountShare*>> shares;
    for (const auto& [position, id] : state_.clients_by_creation()) {
      const v1::ClientView* client = state_.FindClient(id);
      if (client == nullptr || client->deleted()) continue;
      for (const v1::AccountShare& share : client->shares()) {
        if (share.user_id() != actor_.user_id() || share.granted_by() != client->owner_id()) {
          continue;
        }
        if (share.has_until() && ToTime(share.until()) <= now_) continue;
        shares.emplace_back(client, &share);
      }
    }
    return shares;
  }
  // The share access `owner` gave the actor on one of their accounts (SharesOfBooks): the one
  // that lasts longest (no end before an end). nullopt when there is none. The decision
  // depends on the account it comes from.
  std::optional<v1::AccountShare> ShareOfBook(const std::string& owner) {
    std::optional<v1::AccountShare> best;
    const v1::ClientView* from = nullptr;
    for (const auto& [client, share] : SharesOfBooks()) {
      if (client->owner_id() != owner) continue;
      const bool longer = !best.has_value() ||
                          (best->has_until() &&
                           (!share->has_until() || ToTime(share->until()) > ToTime(best->until())));
      if (longer) {
        best = *share;
        from = client;
      }
    }
    if (from != nullptr) Read(ClientStream(from->client_id()), from->version());
    return best;
  }
  void Target(const std::string& stream, uint64_t version, const std::string& id) {
    decision_.target_stream = stream;
    decision_.target_version = version;
    decision_.result.set_id(id);
  }
  // The command decides in `stream`'s turn as well as its target's (Decision::turns).
  void AlsoInTurnOf(const std::string& stream) { decision_.turns.push_back(stream); }
  // A command that opens an order on client `client_id` (none: no client) decides in the
  // client's turn as well as the order's, as DeleteClient does.
  void TakeClientTurn(const std::string& client_id) {
    if (!client_id.empty()) AlsoInTurnOf(ClientStream(client_id));
  }
  // Whether `user` stands on `order`'s account `client`: holds it (owns it, or it is shared
  // with them), or owns the order and the account has not moved away from them since they got
  // it (handed over, or made by a manager for them: seed 003's order manager, who works on
  // when the personal manager changes). An old owner whose account moved since does not:
  // ReassignAccounts moves open orders only. As GetOrder gives the order's contacts.
  // The decision rests on the account (its owner and shares, its moves).
  bool StandsOnAccount(const v1::UserView& user, const v1::OrderView& order,
                       const v1::ClientView& client) {
    Read(ClientStream(client.client_id()), client.version());
    return StandsOn(user, order, client);
  }
  // StandsOnAccount without reading the account (for naming whom to ask).
  bool StandsOn(const v1::UserView& user, const v1::OrderView& order,
                const v1::ClientView& client) const {
    if (state_.Reaches(user, v1::OWN, client, now_)) return true;
    if (order.owner_id() != user.user_id()) return false;
    const uint64_t had_since = order.owner_history().empty()
                                   ? order.created_position()
                                   : order.owner_history().rbegin()->position();
    return std::none_of(client.owner_history().begin(), client.owner_history().end(),
                        [&](const v1::OwnerChange& move) {
                          return move.position() > had_since && move.old_owner() == user.user_id();
                        });
  }
  // Ends the order shares `user_id` passed on through their share of `client` (ShareOrder),
  // their own share of an order so taken too, as that account share ends or gets an end date.
  // In the client's turn, which such a ShareOrder takes, and each changed order's.
  void EndSharesPassedOn(const v1::ClientView& client, const std::string& user_id) {
    for (uint64_t position : state_.OrdersOfClient(client.client_id())) {
      const v1::OrderView& order = state_.OrderCreatedAt(position);
      if (order.deleted()) continue;
      for (const v1::OrderShare& passed : order.participant_shares()) {
        if (!passed.through_account_share() || passed.granted_by() != user_id) continue;
        const std::string stream = OrderStream(order.order_id());
        v1::OrderUnshared* ended = Emit(stream, order.version()).mutable_order_unshared();
        ended->set_order_id(order.order_id());
        ended->set_user_id(passed.user_id());
        AlsoInTurnOf(ClientStream(client.client_id()));
        AlsoInTurnOf(stream);
      }
    }
  }
  // Emits `order`'s move to owner `to`. An order is not shared with its owner: the new
  // owner's share ends as they take it.
  void MoveOrder(const v1::OrderView& order, const std::string& to) {
    const std::string stream = OrderStream(order.order_id());
    if (std::find(order.participants().begin(), order.participants().end(), to) !=
        order.participants().end()) {
      v1::OrderUnshared* unshared = Emit(stream, order.version()).mutable_order_unshared();
      unshared->set_order_id(order.order_id());
      unshared->set_user_id(to);
    }
    v1::OrderOwnerChanged* e = Emit(stream, order.version()).mutable_order_owner_changed();
    e->set_order_id(order.order_id());
    e->set_old_owner(order.owner_id());
    e->set_new_owner(to);
    v1::OrderMoved* moved = decision_.result.add_moved_orders();
    moved->set_order_id(order.order_id());
    moved->set_key(order.key());
    moved->set_old_owner(order.owner_id());
    moved->set_new_owner(to);
  }
  std::string NewId() { return ids_->NewId(); }
  absl::StatusOr<std::string> IdOrNew(absl::string_view what, const std::string& given) {
    if (given.empty()) return NewId();
    RETURN_IF_ERROR(ValidateId(what, given));
    return given;
  }
  // `given`, checked; or, when it is empty, an id people can type (they give it to other
  // commands: `--client acme-motors`), made from `name` (Slug): "acme-motors", or
  // "acme-motors-2" and on when `taken` says that one is; after kMaxSlugTries taken, or when
  // the name makes none, a generated id that is not taken either.
  absl::StatusOr<std::string> IdOrFromName(absl::string_view what, const std::string& given,
                                           absl::string_view name,
                                           absl::FunctionRef<bool(const std::string&)> taken) {
    if (!given.empty()) return IdOrNew(what, given);
    if (const std::string slug = Slug(name); !slug.empty()) {
      for (int n = 1; n <= kMaxSlugTries; ++n) {
        std::string id = n == 1 ? slug : absl::StrCat(slug, "-", n);
        if (!taken(id)) return id;
      }
    }
    // Generated ids do not repeat in production; a test's sequential ids may meet a name's.
    std::string id = NewId();
    for (int n = 1; taken(id) && n < kMaxSlugTries; ++n) id = NewId();
    return id;
  }

  absl::CivilDay Today() const { return absl::ToCivilDay(now_, absl::UTCTimeZone()); }
  bool IsOver(const v1::Date& end) const { return FlightIsOver(end, now_); }
  // A new item's flight: valid and not over when its type has a schedule; none when it has
  // not (dropped, the dates would be lost unsaid). An all-zero date is none.
  absl::Status FlightFitsType(const v1::ItemTypeDefinition& type, const v1::Date& start,
                              const v1::Date& end) const {
    if (type.facets().schedule()) {
      RETURN_IF_ERROR(ValidateFlight(start, end));
      return FlightNotOver("flight_end", end);
    }
    const auto given = [](const v1::Date& d) {
      return d.year() != 0 || d.month() != 0 || d.day() != 0;
    };
    if (given(start) || given(end)) {
      return absl::InvalidArgumentError(
          absl::StrCat("item type \"", type.name(),
                       "\" has no flight dates; leave flight_start and flight_end out"));
    }
    return absl::OkStatus();
  }
  // Refuses a flight that is already over: `end` is the field named `field`.
  absl::Status FlightNotOver(absl::string_view field, const v1::Date& end) const {
    if (!IsOver(end)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", FormatDate(end), " has passed (today is ", absl::FormatCivilTime(Today()),
        " UTC): a flight may not be over already; check the year"));
  }

  // --- Privileges.
  bool IsSystem() const { return actor_.user_id() == kSystemUser; }
  v1::Scope ScopeOf(v1::Privilege privilege) const {
    return IsSystem() ? v1::ALL : state_.ScopeOf(actor_, privilege);
  }
  // Seed 004: an associate, who may move only their own accounts and orders (ACCOUNT_REASSIGN
  // with scope OWN), hands them "to another rep who is assigned to the same program": on a
  // team, to their manager or to another on it. One on no team (no manager set, as in a house
  // that keeps no teams) may hand them to anyone. Managers (TEAM, ALL) are not held to it.
  absl::Status RequireTeammate(const v1::UserView& to, absl::string_view what) const {
    if (ScopeOf(v1::ACCOUNT_REASSIGN) != v1::OWN || actor_.manager_id().empty() ||
        to.user_id() == actor_.manager_id() || to.manager_id() == actor_.manager_id()) {
      return absl::OkStatus();
    }
    return absl::PermissionDeniedError(absl::StrCat(
        "user \"", actor_.user_id(), "\" may give ", what,
        " only within their team, to their manager (", actor_.manager_id(),
        ") or another on their team, and \"", to.user_id(), "\" is ",
        to.manager_id().empty()               ? std::string("not on it")
        : to.manager_id() == actor_.user_id() ? std::string("one they manage")
                                              : absl::StrCat("on ", to.manager_id(), "'s team"),
        "; ask your manager (", actor_.manager_id(), ") to move them"));
  }
  // `roles`: a workflow step given to some roles alone, which whoever is named must hold.
  // `order` or `client`: the record refused, whom to ask is among those whose privilege
  // reaches it.
  absl::Status Denied(v1::Privilege privilege, absl::string_view what,
                      const google::protobuf::RepeatedPtrField<std::string>& roles = {},
                      const v1::OrderView* order = nullptr, const v1::ClientView* client = nullptr,
                      const std::string& whom = "") const {
    if (!actor_.client_id().empty()) {
      // A client's login is told whom to ask, not how the house's privileges work: submitting
      // requests is a role its account's owner can have it given; the rest is the house's.
      return absl::PermissionDeniedError(absl::StrCat(
          "user \"", actor_.user_id(), "\" speaks for client \"", actor_.client_id(),
          "\" and may not ", what,
          privilege == v1::REQUEST_SUBMIT
              ? "; ask your account's owner to have this login given the client_requester role"
          : privilege == v1::CLIENT_ANSWER
              ? "; ask your account's owner to have this login given the client_contact role"
              : "; that is the house's to do: ask your account's owner"));
    }
    const v1::Scope scope = ScopeOf(privilege);
    return absl::PermissionDeniedError(absl::StrCat(
        "user \"", actor_.user_id(), "\" (roles: ",
        actor_.roles().empty() ? "none" : absl::StrJoin(actor_.roles(), ", "), ") may not ", what,
        ": that needs ", v1::Privilege_Name(privilege), " with a scope that reaches it",
        scope == v1::SCOPE_UNSPECIFIED
            ? ", which none of their roles grants"
            : absl::StrCat(", and theirs (", absl::AsciiStrToLower(v1::Scope_Name(scope)),
                           ") does not"),
        "; ", whom.empty() ? WhomToAsk(privilege, roles, order, client) : whom));
  }
  // Whom a refused user should ask, among the others whose privilege reaches the record (the
  // order or client refused; without one, those who may do it anywhere): the record's own
  // people first, each said who they are to it ("sam (its owner)": an assistant's AE), then
  // their manager, then the rest by name. Only their manager: "ask your manager (mia) to do
  // it". None: their manager, to have it done; else an administrator.
  std::string WhomToAsk(v1::Privilege privilege,
                        const google::protobuf::RepeatedPtrField<std::string>& roles = {},
                        const v1::OrderView* order = nullptr,
                        const v1::ClientView* client = nullptr) const {
    // An order not made yet (CreateOrder, ReuseOrder) is reached as its account is.
    const bool order_made = order != nullptr && !order->order_id().empty();
    if (order != nullptr && client == nullptr) client = state_.FindClient(order->client_id());
    const bool client_made = client != nullptr && client->version() != 0;
    const auto reaches = [&](const v1::UserView& user) {
      if (state_.ScopeOf(user, privilege) == v1::ALL) return true;
      if (order_made) {
        // Deleting also takes standing on the account (DeleteOrder): not an old owner's.
        return state_.Allows(user, privilege, *order, now_) &&
               (privilege != v1::ORDER_DELETE || client == nullptr ||
                StandsOn(user, *order, *client));
      }
      return client_made && state_.Allows(user, privilege, *client, now_);
    };
    // Named only among those the actor may know of: who may do it anywhere, their manager, the
    // order's own people (GetOrder names them), and, on an account the actor sees, its owner
    // and those it is shared with. Not the owner of an account the order alone reaches them
    // through (GetOrder keeps account_owner_id from them).
    const bool sees_client = client_made && state_.CanSee(actor_, *client, now_);
    const auto known = [&](const v1::UserView& user) {
      return state_.ScopeOf(user, privilege) == v1::ALL || user.user_id() == actor_.manager_id() ||
             sees_client || (order_made && NamesUser(*order, user.user_id()));
    };
    std::vector<std::string> may;
    for (const auto& [id, user] : state_.users()) {
      if (id == actor_.user_id() || !user.active() || !user.client_id().empty()) continue;
      if (!HoldsOneOf(user, roles)) continue;
      if (reaches(user) && known(user)) may.push_back(id);
    }
    std::sort(may.begin(), may.end());  // The same refusal reads the same every time.
    std::vector<std::string> named;
    std::set<std::string> said;
    const auto name = [&](const std::string& id, absl::string_view who) {
      if (id.empty() || said.count(id) != 0 || !std::binary_search(may.begin(), may.end(), id)) {
        return;
      }
      said.insert(id);
      named.push_back(who.empty() ? id : absl::StrCat(id, " (", who, ")"));
    };
    if (order_made) name(order->owner_id(), "its owner");
    if (client_made) {
      name(client->owner_id(), order == nullptr ? "its owner"
                               : order_made     ? "its account's owner"
                                                : "the account's owner");
    }
    // Then the manager of whose record it is: the team it is on, before other teams' managers.
    const std::string& holder = order_made    ? order->owner_id()
                                : client_made ? client->owner_id()
                                              : "";
    if (const v1::UserView* held_by = holder.empty() ? nullptr : state_.FindUser(holder);
        held_by != nullptr && held_by->user_id() != actor_.user_id() &&
        held_by->manager_id() != actor_.manager_id()) {
      name(held_by->manager_id(), absl::StrCat(holder, "'s manager"));
    }
    const std::string& manager = actor_.manager_id();
    if (named.empty() && !manager.empty() && std::binary_search(may.begin(), may.end(), manager)) {
      return absl::StrCat("ask your manager (", manager, ") to do it");
    }
    name(manager, "your manager");
    for (const std::string& id : may) name(id, "");
    if (!named.empty()) {
      // Up to four; of more, three and how many others.
      if (named.size() > 4) {
        const size_t others = named.size() - 3;
        named.resize(3);
        named.push_back(absl::StrCat(others, " others"));
      }
      std::string list;
      for (size_t i = 0; i < named.size(); ++i) {
        absl::StrAppend(&list, i == 0 ? "" : i + 1 == named.size() ? " or " : ", ", named[i]);
      }
      return absl::StrCat("ask one who may do it: ", list);
    }
    if (!manager.empty()) return absl::StrCat("ask your manager (", manager, ") to have it done");
    return "ask an administrator to give a role the privilege";
  }
  absl::Status Require(v1::Privilege privilege, absl::string_view what) const {
    if (ScopeOf(privilege) == v1::SCOPE_UNSPECIFIED) return Denied(privilege, what);
    return absl::OkStatus();
  }
  // `roles`: those of a workflow step given to some roles alone (see Denied).
  absl::Status Require(v1::Privilege privilege, const v1::OrderView& order, absl::string_view what,
                       const google::protobuf::RepeatedPtrField<std::string>& roles = {}) {
    if (IsSystem()) return absl::OkStatus();
    if (!state_.Allows(actor_, privilege, order, now_)) {
      // `what` is a verb the order is the object of ("archive", "comment on"); an order not
      // created yet (CreateOrder, ReuseOrder) is named by its client.
      return Denied(privilege,
                    order.order_id().empty()
                        ? absl::StrCat(what, " for client \"", order.client_id(), "\"")
                        : absl::StrCat(what, " order ", Name(order)),
                    roles, &order);
    }
    ReadGrounds(privilege, order);
    return absl::OkStatus();
  }
  absl::Status Require(v1::Privilege privilege, const v1::ClientView& client,
                       absl::string_view what) {
    if (IsSystem()) return absl::OkStatus();
    if (!state_.Allows(actor_, privilege, client, now_)) {
      // As for orders, `what` is a verb the client is the object of ("update", "add contacts
      // to"); a client not created yet (CreateClient) is named after it.
      return Denied(privilege,
                    client.version() == 0
                        ? absl::StrCat(what, " (client \"", client.client_id(), "\")")
                        : absl::StrCat(what, " client \"", client.client_id(), "\""),
                    {}, nullptr, &client);
    }
    ReadGrounds(privilege, client, client.owner_id());
    return absl::OkStatus();
  }
  // What the actor's `privilege` on `order`, short of scope ALL, rests on beyond their own
  // record and roles (which Run reads): the order (its owner, producer, participants) and,
  // when none of those is the actor, its account (its owner, a share) and, through a team,
  // the owner's record. A change to one that commits first stops the command.
  void ReadGrounds(v1::Privilege privilege, const v1::OrderView& order) {
    if (IsSystem() || ScopeOf(privilege) == v1::ALL) return;
    // (An order not created yet, which CreateOrder and ReuseOrder check, has no stream.)
    if (!order.order_id().empty()) Read(OrderStream(order.order_id()), order.version());
    if (NamesUser(order, actor_.user_id())) return;
    if (const v1::ClientView* client = state_.FindClient(order.client_id())) {
      ReadGrounds(privilege, *client, order.owner_id());
    }
  }
  // The same for `client`, or an order of it owned by `owner_id`: the account, and the
  // owner's record when the actor manages them (TEAM). A contact's login rests on its own
  // record, which removing its contact deactivates.
  void ReadGrounds(v1::Privilege privilege, const v1::ClientView& client,
                   const std::string& owner_id) {
    if (IsSystem() || ScopeOf(privilege) == v1::ALL) return;
    Read(ClientStream(client.client_id()), client.version());
    if (ScopeOf(privilege) != v1::TEAM || !state_.Manages(actor_, owner_id)) return;
    if (const v1::UserView* owner = state_.FindUser(owner_id)) {
      Read(UserStream(owner_id), owner->version());
    }
  }

  // --- Loading records. A record the caller may not see is NOT_FOUND, as if absent.
  static std::string Name(const v1::OrderView& order) {
    return order.key().empty() ? absl::StrCat("\"", order.order_id(), "\"")
                               : absl::StrCat(order.key(), " (\"", order.order_id(), "\")");
  }
  // `what` names the field that gave the id, in a refusal of it.
  absl::StatusOr<const v1::OrderView*> LoadOrder(const std::string& id,
                                                 absl::string_view what = "order_id") {
    RETURN_IF_ERROR(ValidateId(what, id));
    const v1::OrderView* order = state_.FindOrderByIdOrKey(id);
    if (order == nullptr || order->deleted() ||
        (!IsSystem() && !state_.CanSee(actor_, *order, now_))) {
      return absl::NotFoundError(absl::StrCat("order \"", id, "\" not found"));
    }
    ReadGrounds(v1::ORDER_VIEW, *order);  // Seeing it, as a command's right, may end meanwhile.
    return order;
  }
  // Form fields given to set on an order of `type` (UpdateOrder, a step's fields): as its
  // choices spell them, checked against the type as it stands, which the decision then reads
  // (a definition that changes the bounds first stops the command).
  // A text given blank is no value: it is left out of the fields returned and named in
  // `blank`, for the command to clear ("--field contract_number=").
  absl::StatusOr<google::protobuf::Map<std::string, v1::FieldValue>> PickFields(
      const v1::ItemTypeDefinition& type,
      const google::protobuf::Map<std::string, v1::FieldValue>& given,
      std::vector<std::string>* blank) {
    google::protobuf::Map<std::string, v1::FieldValue> fields = AsPicked(type, given);
    RETURN_IF_ERROR(ValidateFields(type, fields, /*require_all=*/false));
    if (!given.empty()) Read(ItemTypeStream(type.name()), type.version());
    *blank = TakeBlanks(&fields);
    return fields;
  }
  // Removes the texts given blank from `fields` (a required one was refused as missing by
  // ValidateFields), and names them, sorted.
  static std::vector<std::string> TakeBlanks(
      google::protobuf::Map<std::string, v1::FieldValue>* fields) {
    std::vector<std::string> blank;
    for (const auto& [name, value] : *fields) {
      if (value.has_string_value() && absl::StripAsciiWhitespace(value.string_value()).empty()) {
        blank.push_back(name);
      }
    }
    std::sort(blank.begin(), blank.end());
    for (const std::string& name : blank) fields->erase(name);
    return blank;
  }
  // Of the fields named, those `order` holds: what giving them blank clears.
  static std::vector<std::string> Held(const v1::OrderView& order,
                                       const std::vector<std::string>& names) {
    std::vector<std::string> held;
    for (const std::string& name : names) {
      if (order.fields().contains(name)) held.push_back(name);
    }
    return held;
  }
  // Of `fields`, those whose value the order does not hold already.
  static google::protobuf::Map<std::string, v1::FieldValue> Changed(
      const v1::OrderView& order,
      const google::protobuf::Map<std::string, v1::FieldValue>& fields) {
    google::protobuf::Map<std::string, v1::FieldValue> changed;
    for (const auto& [name, value] : fields) {
      auto it = order.fields().find(name);
      if (it == order.fields().end() ||
          it->second.SerializeAsString() != value.SerializeAsString()) {
        changed[name] = value;
      }
    }
    return changed;
  }
  // An order that may still change: not archived.
  absl::StatusOr<const v1::OrderView*> LoadActiveOrder(const std::string& id) {
    ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrder(id));
    if (order->archived()) {
      return absl::FailedPreconditionError(
          absl::StrCat("order ", Name(*order), " is archived; ",
                       actor_.client_id().empty() ? "restore it before changing it"
                                                  : "ask your account's owner to reopen it"));
    }
    return order;
  }
  // An order a command adds text to (a revision, a comment, a message): also refused once the
  // order holds kMaxOrderBytes, so that one order cannot grow past what a client can read
  // back in one message. Approving, deciding, acting on and archiving it stay possible.
  absl::StatusOr<const v1::OrderView*> LoadOrderWithRoom(const std::string& id) {
    ASSIGN_OR_RETURN(const v1::OrderView* order, LoadActiveOrder(id));
    if (order->ByteSizeLong() >= kMaxOrderBytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "order ", Name(*order), " holds ", order->ByteSizeLong(),
          " bytes of revisions and comments, the most one order may (", kMaxOrderBytes,
          "); it can still be approved, acted on and archived: continue the work in a new "
          "order (ReuseOrder once it is archived)"));
    }
    return order;
  }
  absl::StatusOr<const v1::ClientView*> LoadClient(const std::string& id) {
    RETURN_IF_ERROR(ValidateId("client_id", id));
    const v1::ClientView* client = state_.FindClient(id);
    if (client == nullptr || client->deleted() ||
        (!IsSystem() && !state_.CanSee(actor_, *client, now_))) {
      // One who works an order of it (shared, or its manager) knows the client exists: still
      // NOT_FOUND, as a client beyond sight is (DESIGN section 5), but told why.
      if (const v1::OrderView* order =
              client == nullptr || client->deleted()
                  ? nullptr
                  : state_.AnOrderSeenBy(actor_, client->client_id(), now_)) {
        return absl::NotFoundError(absl::StrCat(
            "client \"", id, "\" is not in your book: you work its order ", Name(*order),
            ", but the account itself (its details and contacts) is its owner's to change; "
            "ask them, or a manager"));
      }
      return absl::NotFoundError(absl::StrCat("client \"", id, "\" not found"));
    }
    // Seeing it, as a command's right, may end meanwhile (State::CanSee).
    if (ScopeOf(v1::ORDER_VIEW) != v1::ALL) {
      ReadGrounds(v1::CLIENT_MANAGE, *client, client->owner_id());
    }
    return client;
  }
  absl::StatusOr<const v1::UserView*> LoadUser(absl::string_view what, const std::string& id,
                                               bool must_be_active = true) {
    RETURN_IF_ERROR(ValidateId(what, id));
    const v1::UserView* user = state_.FindUser(id);
    if (user == nullptr) {
      // To the house's staff, who may list users: one spelt in other letters is named.
      if (!actor_.client_id().empty()) {
        return absl::NotFoundError(absl::StrCat("user \"", id, "\" not found"));
      }
      const v1::UserView* other = nullptr;
      for (const auto& [user_id, candidate] : state_.users()) {
        if (absl::EqualsIgnoreCase(user_id, id)) other = &candidate;
      }
      return absl::NotFoundError(absl::StrCat(
          "user \"", id, "\" not found",
          other != nullptr
              ? absl::StrCat("; ids are case-sensitive: did you mean \"", other->user_id(), "\"?")
              : "; spotflow user list lists them"));
    }
    if (must_be_active && !user->active()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "user \"", id, "\" is deactivated; choose someone else, or have an administrator ",
          "reactivate them (spotflow user reactivate ", id, ")"));
    }
    ReadUser(*user);
    return user;
  }
  // A decision that names `user` (an owner, a producer, someone shared with) rests on their
  // record and roles: being active, a client contact's or not, what they may hold. A change
  // to them that commits first stops the command. Run reads the actor's.
  void ReadUser(const v1::UserView& user) {
    Read(UserStream(user.user_id()), user.version());
    for (const std::string& name : user.roles()) {
      if (const v1::RoleView* role = state_.FindRole(name)) Read(RoleStream(name), role->version());
    }
  }
  // Client contacts' logins speak for their company; they cannot be given staff roles on
  // records (owner, participant, producer, account access).
  static absl::Status RequireStaff(const v1::UserView& user, absl::string_view what) {
    if (!user.client_id().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("user \"", user.user_id(),
                                                     "\" is a client contact; you cannot ", what,
                                                     " a client contact"));
    }
    return absl::OkStatus();
  }
  // Whether the order's workflow waits in its state for the client's answer on `artifact`
  // (a custom action may have moved it on without one).
  bool AwaitsClientAnswer(const v1::OrderView& order, const std::string& artifact) const {
    absl::StatusOr<const v1::WorkflowDefinition*> workflow = WorkflowOf(order);
    if (!workflow.ok()) return false;
    const std::string approve = absl::StrCat("client_approve_", artifact);
    for (const v1::Transition& t : (*workflow)->transitions()) {
      if (t.from() == order.status() && t.action() == approve) return true;
    }
    return false;
  }
  // Where the order stands, as people read it: its state's title, else its name.
  std::string StateWords(const v1::OrderView& order) const {
    std::string title = state_.StatusTitle(order);
    return title.empty() ? order.status() : title;
  }
  // What to add to "already exists" when the record with that id was deleted: queries no
  // longer show it, but its id stays its own in the log.
  static std::string Taken(bool deleted) {
    return deleted ? " (deleted; an id is never used again: choose another)" : "";
  }
  // Who may own accounts: one who manages clients (else they would hold an account they may
  // not edit) and approves their orders' scripts and spots. Seed 000 moves accounts "from one AE to
  // another AE"; an assistant, who may not approve, works an AE's accounts through a share instead.
  // An owner who could not approve would leave every revision on the account waiting for a manager.
  absl::Status RequireAccountOwner(const v1::UserView& user, absl::string_view what) const {
    const bool manages = Grants(user.roles(), v1::CLIENT_MANAGE);
    const bool approves = Grants(user.roles(), v1::REVISION_APPROVE);
    if (manages && approves) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "user \"", user.user_id(), "\" cannot own accounts: an account's owner manages the ",
        "client and approves its orders' scripts and spots, and no role of theirs grants ",
        manages ? "REVISION_APPROVE" : "CLIENT_MANAGE", "; ", what,
        " someone who can, such as an account executive"));
  }
  // Client names compare by their words, without ASCII case, spaces or punctuation: "ACME
  // motors, Inc." is "Acme Motors Inc". Other characters (accented letters, other scripts)
  // compare as written.
  static std::string NameKey(absl::string_view name) {
    std::string key;
    bool gap = false;
    for (const char c : name) {
      if (absl::ascii_isalnum(c) || (static_cast<unsigned char>(c) & 0x80) != 0) {
        if (gap && !key.empty()) key.push_back(' ');
        key.push_back(absl::ascii_tolower(c));
        gap = false;
      } else if (c != '\'') {  // An apostrophe leaves the word whole (McDonald's).
        gap = true;
      }
    }
    return key;
  }

  // The contact of `client`, other than `except_id`, who is the same person as `contact`: the
  // same name (as client names compare) and the same email or the same phone (one given with
  // a detail left out is still them), or neither with any. Two such would leave two to forward
  // to, one of them never answering; a namesake with an email and phone of their own is
  // another person, and so is one with details beside one without any.
  static const v1::Contact* SamePersonAs(const v1::ClientView& client, const v1::Contact& contact,
                                         absl::string_view except_id) {
    const auto bare = [](const v1::Contact& c) { return c.email().empty() && c.phone().empty(); };
    for (const v1::Contact& known : client.contacts()) {
      if (known.contact_id() == except_id || NameKey(known.name()) != NameKey(contact.name())) {
        continue;
      }
      const bool same_email =
          !known.email().empty() && absl::EqualsIgnoreCase(known.email(), contact.email());
      const bool same_phone = !known.phone().empty() && known.phone() == contact.phone();
      if (same_email || same_phone || (bare(known) && bare(contact))) return &known;
    }
    return nullptr;
  }

  // ALREADY_EXISTS when a client other than `except` is named `name` already: a second account
  // for one company splits its orders and contacts (seed 000's Client Management). One the
  // actor does not see is not named, but they learn that it exists: an AE must not open an
  // account that is another's.
  absl::Status ClientNameFree(const std::string& name, const std::string& except) {
    AlsoInTurnOf(kClientNamesTurn);
    const std::string key = NameKey(name);
    for (const auto& [position, id] : state_.clients_by_creation()) {
      const v1::ClientView* other = state_.FindClient(id);
      if (other == nullptr || other->deleted() || id == except || NameKey(other->name()) != key) {
        continue;
      }
      if (IsSystem() || state_.CanSee(actor_, *other, now_)) {
        return absl::AlreadyExistsError(absl::StrCat(
            "client \"", id, "\" is already named \"", other->name(),
            "\"; a second client of that name needs one that tells them apart, such as its city"));
      }
      return absl::AlreadyExistsError(absl::StrCat(
          "a client named \"", other->name(),
          "\" exists already, in an account you do not see: ask a sales manager whose it is, or "
          "give a name that tells them apart, such as its city"));
    }
    return absl::OkStatus();
  }
  // Whose book a new client goes to when CreateClient names no owner: the actor's, when they
  // may own accounts; else that of the one owner who shared accounts with them (a sales
  // assistant's AE) and may still own them (active, an AE). Several such owners, or none: the
  // command must name one. That there is one is not read: a second AE sharing an account
  // meanwhile leaves the client in the first one's book, through the share ShareOfBook reads.
  absl::StatusOr<std::string> DefaultAccountOwner() const {
    if (RequireAccountOwner(actor_, "").ok()) return actor_.user_id();
    absl::btree_set<std::string> assisted;
    for (const auto& [client, share] : SharesOfBooks()) {
      const v1::UserView* owner = state_.FindUser(client->owner_id());
      if (owner != nullptr && owner->active() && RequireAccountOwner(*owner, "").ok()) {
        assisted.insert(owner->user_id());
      }
    }
    if (assisted.size() == 1) return *assisted.begin();
    if (assisted.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(RequireAccountOwner(actor_, "make the owner").message(),
                       " who works with you (owner_id; spotflow client create --owner USER); "
                       "to make clients in their book, have them share one of their accounts "
                       "with you first (spotflow client share CLIENT ",
                       actor_.user_id(), ")"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("give the client's owner (owner_id; spotflow client create --owner USER): "
                     "you work the accounts of several ",
                     "owners (", absl::StrJoin(assisted, ", "), ")"));
  }
  absl::Status RequireAdmin(absl::string_view what) const {
    return Require(v1::ADMIN_CONFIGURE, what);
  }
  // The role `name`'s definition: `redefined` if it is that role's new one; nullptr when there
  // is no such role.
  const v1::RoleDefinition* DefinitionOf(const std::string& name,
                                         const v1::RoleDefinition* redefined) const {
    if (redefined != nullptr && redefined->name() == name) return redefined;
    const v1::RoleView* role = state_.FindRole(name);
    return role == nullptr ? nullptr : &role->definition();
  }
  // Orders are found by id or key: an id that is already an order's key would make the key
  // find the wrong order.
  absl::Status NotAnotherOrdersKey(const std::string& id) const {
    // Not which order's: the caller may not see it, and its id is not theirs to learn. In
    // other letters too: a key is found as typed in lower case (FindOrderByIdOrKey), which an
    // id of the same letters would take over.
    if (state_.FindOrderByKey(id) != nullptr ||
        state_.FindOrderByKey(absl::AsciiStrToUpper(id)) != nullptr) {
      return absl::AlreadyExistsError(
          absl::StrCat("\"", id, "\" is an order's key; choose another id"));
    }
    return absl::OkStatus();
  }
  // The active logins of `client_id`'s contact `contact_id` (of all its contacts when empty), in
  // user-id order.
  std::vector<const v1::UserView*> ActiveLogins(const std::string& client_id,
                                                const std::string& contact_id) const {
    std::vector<const v1::UserView*> logins;
    for (const auto& [id, user] : state_.users()) {
      if (user.active() && user.client_id() == client_id &&
          (contact_id.empty() || user.contact_id() == contact_id)) {
        logins.push_back(&user);
      }
    }
    std::sort(logins.begin(), logins.end(), [](const v1::UserView* a, const v1::UserView* b) {
      return a->user_id() < b->user_id();
    });
    return logins;
  }
  // Deactivates, in this decision, the active logins of `client_id`'s contact `contact_id` (of
  // all its contacts when empty), in user-id order.
  void DeactivateLogins(const std::string& client_id, const std::string& contact_id) {
    for (const v1::UserView* login : ActiveLogins(client_id, contact_id)) {
      AlsoInTurnOf(UserStream(login->user_id()));  // A token issued meanwhile is waited for.
      Emit(UserStream(login->user_id()), login->version())
          .mutable_user_deactivated()
          ->set_user_id(login->user_id());
    }
  }
  // Whether `roles` grant `privilege` at some scope, reading the role `redefined` names (if
  // given) as that new definition.
  bool Grants(const google::protobuf::RepeatedPtrField<std::string>& roles, v1::Privilege privilege,
              const v1::RoleDefinition* redefined = nullptr) const {
    for (const std::string& name : roles) {
      const v1::RoleDefinition* definition = DefinitionOf(name, redefined);
      if (definition == nullptr) continue;
      for (const v1::Grant& grant : definition->grants()) {
        if (grant.privilege() == privilege && grant.scope() != v1::SCOPE_UNSPECIFIED) return true;
      }
    }
    return false;
  }
  // Every step of a workflow version in use that names roles (Transition.roles) stays
  // takeable with `redefined` read as the new definition of its role: one of its roles still
  // grants the step's privilege.
  absl::Status KeepStepsTakeable(const v1::RoleDefinition& redefined);
  // The house always keeps an administrator: some active user other than `except` holds
  // ADMIN_CONFIGURE (with `redefined` read as the new definition of its role). Without one,
  // nobody could give the role back.
  absl::Status KeepAnAdministrator(absl::string_view except, absl::string_view what,
                                   const v1::RoleDefinition* redefined = nullptr) const {
    for (const auto& [id, user] : state_.users()) {
      if (id != except && user.active() && Grants(user.roles(), v1::ADMIN_CONFIGURE, redefined)) {
        return absl::OkStatus();
      }
    }
    return absl::FailedPreconditionError(
        absl::StrCat(what,
                     " would leave no active administrator; give another user an administrator's "
                     "role first"));
  }
  // A client contact's login speaks for its company: its roles may only view that company's
  // orders, answer for it and submit its requests (ORDER_VIEW, CLIENT_ANSWER and
  // REQUEST_SUBMIT, scope OWN). Answering and asking as the client are theirs alone: staff
  // roles may not grant CLIENT_ANSWER or REQUEST_SUBMIT.
  absl::Status CheckRolesFit(const std::string& user_id, bool client_login,
                             const google::protobuf::RepeatedPtrField<std::string>& roles,
                             const v1::RoleDefinition* redefined = nullptr) const {
    for (const std::string& name : roles) {
      const v1::RoleDefinition* definition = DefinitionOf(name, redefined);
      if (definition == nullptr) continue;
      for (const v1::Grant& grant : definition->grants()) {
        const bool client_only =
            grant.privilege() == v1::CLIENT_ANSWER || grant.privilege() == v1::REQUEST_SUBMIT;
        const bool client_grant =
            (grant.privilege() == v1::ORDER_VIEW || client_only) && grant.scope() == v1::OWN;
        if (client_login && !client_grant) {
          return absl::InvalidArgumentError(absl::StrCat(
              "user \"", user_id, "\" is a client contact's login and role \"", name, "\" grants ",
              v1::Privilege_Name(grant.privilege()), " (", v1::Scope_Name(grant.scope()),
              "); a client contact's roles may only view its company's orders, answer for "
              "it and submit its requests (ORDER_VIEW, CLIENT_ANSWER and REQUEST_SUBMIT, scope "
              "OWN), as \"",
              kClientContact, "\" and \"", kClientRequester, "\" do"));
        }
        if (!client_login && client_only) {
          return absl::InvalidArgumentError(absl::StrCat(
              "role \"", name, "\" ",
              grant.privilege() == v1::CLIENT_ANSWER ? "answers for a client (CLIENT_ANSWER)"
                                                     : "submits a client's requests "
                                                       "(REQUEST_SUBMIT)",
              ", so it goes only to a client contact's login (with client_id and contact_id); "
              "user \"",
              user_id, "\" is staff"));
        }
      }
    }
    return absl::OkStatus();
  }

  // --- Workflows.
  absl::StatusOr<const v1::WorkflowDefinition*> WorkflowOf(const v1::OrderView& order) const {
    const v1::WorkflowDefinition* workflow =
        state_.FindWorkflow(order.workflow(), order.workflow_version());
    if (workflow == nullptr) {
      return absl::InternalError(absl::StrCat("order ", Name(order), " follows workflow \"",
                                              order.workflow(), "\" version ",
                                              order.workflow_version(), ", which is unknown"));
    }
    return workflow;
  }
  // The transition `action` takes from the order's state, its privilege, roles and conditions
  // checked; `remark` is what the command says with it (COMMENT_GIVEN). `privilege_override`
  // replaces the transition's privilege (client answers recorded on a contact's behalf). When
  // the step clears fields the order holds (a reopened deal's loss reason), an OrderUpdated
  // clearing them is emitted here, before the command's own event for the step.
  absl::StatusOr<const v1::Transition*> Transit(
      const v1::OrderView& order, const std::string& action, absl::string_view artifact,
      const Remark& remark, v1::Privilege privilege_override = v1::PRIVILEGE_UNSPECIFIED) {
    ASSIGN_OR_RETURN(const v1::WorkflowDefinition* workflow, WorkflowOf(order));
    const v1::Transition* transition = FindTransition(*workflow, order.status(), action);
    if (transition == nullptr) {
      // Not from this state: who may never take it hears that first.
      RETURN_IF_ERROR(RequireMayTake(order, action, privilege_override));
      // The actions from this state: those open to the actor (as GetOrder's open_actions:
      // their privilege, on a client's behalf too, and the conditions), and the rest, which
      // wait for others (a producer is not told to approve what they wrote).
      const std::vector<std::string> yours = OpenActions(order, /*moving_only=*/false);
      std::vector<std::string> others;
      std::set<std::string> actions;  // Every action of the workflow, from any state.
      const v1::ItemTypeDefinition* type = state_.FindItemType(order.item_type());
      for (const v1::Transition& t : workflow->transitions()) {
        actions.insert(t.action());
        if (t.from() != order.status()) continue;
        if (!FieldsTypeLacks(type, t).empty()) continue;  // Open to nobody (OpenActions).
        if (std::find(yours.begin(), yours.end(), t.action()) == yours.end() &&
            std::find(others.begin(), others.end(), t.action()) == others.end()) {
          others.push_back(t.action());
        }
      }
      // The house's workflow is not a client contact's to read: their answers are all they
      // take, and `spotflow order show` says when one is open to them.
      const bool contact = !actor_.client_id().empty();
      if (actions.count(action) == 0) {  // A typo, not a question of the order's state.
        return absl::InvalidArgumentError(absl::StrCat(
            "the workflow of order ", Name(order), " has no action \"", absl::CHexEscape(action),
            "\"",
            contact ? ""
                    : absl::StrCat(DidYouMean(action, actions),
                                   "; its actions are: ", absl::StrJoin(actions, ", "))));
      }
      const absl::Status refused = absl::FailedPreconditionError(absl::StrCat(
          "action \"", action, "\" is not allowed while order ", Name(order), " is in state \"",
          order.status(), "\"",
          contact ? "; nothing waits for your answer on it now"
                  : absl::StrCat(
                        yours.empty() ? "; no action is open to you now" : "; open to you now: ",
                        absl::StrJoin(yours, ", "),
                        others.empty() ? "" : "; open to others: ", absl::StrJoin(others, ", "))));
      // A contact is told no more than the message says: not the house's other actions.
      if (contact) {
        return WithErrorInfo(refused, kActionNotOpen,
                             {{"action", action}, {"state", order.status()}});
      }
      return WithErrorInfo(refused, kActionNotOpen,
                           {{"action", action},
                            {"state", order.status()},
                            {"open_to_you", absl::StrJoin(yours, ",")},
                            {"open_to_others", absl::StrJoin(others, ",")}});
    }
    const v1::Privilege privilege = privilege_override != v1::PRIVILEGE_UNSPECIFIED
                                        ? privilege_override
                                        : transition->privilege();
    RETURN_IF_ERROR(Require(privilege, order, absl::StrCat("take action \"", action, "\" on"),
                            transition->roles()));
    RETURN_IF_ERROR(RequireRoleFor(*transition, privilege, order));
    for (int condition : transition->conditions()) {
      RETURN_IF_ERROR(
          CheckCondition(order, static_cast<v1::Condition>(condition), artifact, action, remark));
    }
    RETURN_IF_ERROR(RequireStepFields(order, *transition));
    RETURN_IF_ERROR(RequireReadyToFinish(order, *workflow, *transition));
    if (!transition->clears_fields().empty()) {
      // Nor may the step finish the order without a field it clears that the order needs.
      v1::OrderView cleared = order;
      for (const std::string& field : transition->clears_fields()) {
        cleared.mutable_fields()->erase(field);
      }
      if (!RequireReadyToFinish(cleared, *workflow, *transition).ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "action \"", action, "\" clears field",
            transition->clears_fields_size() == 1 ? " " : "s ",
            absl::StrJoin(transition->clears_fields(), ", "), " and leads to final state \"",
            transition->to(), "\", where order ", Name(order),
            " needs them (its item type requires them of a finished order); ask an administrator "
            "to leave them out of the step"));
      }
    }
    AssignTaker(order, *workflow, *transition);
    ClearStepFields(order, *transition);
    return transition;
  }
  // The steps still ahead of an order in state `from`: those out of it and out of every state
  // it may reach.
  static std::vector<const v1::Transition*> StepsAhead(const v1::WorkflowDefinition& workflow,
                                                       const std::string& from) {
    std::vector<const v1::Transition*> ahead;
    std::set<std::string> reached = {from};
    std::vector<std::string> frontier = {from};
    while (!frontier.empty()) {
      const std::string state = std::move(frontier.back());
      frontier.pop_back();
      for (const v1::Transition& t : workflow.transitions()) {
        if (t.from() != state) continue;
        ahead.push_back(&t);
        if (reached.insert(t.to()).second) frontier.push_back(t.to());
      }
    }
    return ahead;
  }
  // Whether `user` may be an order's responsible (AssignProducer): one of the house's; for an
  // item with revisions a producer (REVISION_WRITE), else one who may take a step still
  // `ahead` (a pre-approver is none once it is approved).
  bool MayBeResponsible(const v1::UserView& user, bool revisions,
                        const std::vector<const v1::Transition*>& ahead) const {
    if (!user.client_id().empty()) return false;  // The client's people are not the house's.
    if (revisions) return state_.ScopeOf(user, v1::REVISION_WRITE) != v1::SCOPE_UNSPECIFIED;
    return std::any_of(ahead.begin(), ahead.end(), [&](const v1::Transition* t) {
      return state_.ScopeOf(user, t->privilege()) != v1::SCOPE_UNSPECIFIED &&
             HoldsOneOf(user, t->roles());
    });
  }
  // Emits a ProducerAssigned making the actor the responsible of `order` when step `t` assigns
  // its taker (Transition.assigns_taker) and the order has none, or one who has left; not when
  // the step finishes the order, nor when the actor could not be its responsible after the
  // step (MayBeResponsible), who takes it unassigned.
  void AssignTaker(const v1::OrderView& order, const v1::WorkflowDefinition& workflow,
                   const v1::Transition& t) {
    if (!t.assigns_taker() || IsSystem()) return;
    if (const v1::UserView* current =
            order.producer_id().empty() ? nullptr : state_.FindUser(order.producer_id())) {
      if (current->active()) return;
      ReadUser(*current);  // Reactivated meanwhile, they stay: decided again.
    }
    for (const v1::WorkflowState& state : workflow.states()) {
      if (state.name() == t.to() && state.terminal()) return;  // Done: no one new is assigned.
    }
    const v1::ItemTypeDefinition* type = state_.FindItemType(order.item_type());
    const bool revisions = type != nullptr && !type->facets().artifacts().empty();
    if (!MayBeResponsible(actor_, revisions, StepsAhead(workflow, t.to()))) return;
    v1::ProducerAssigned* e =
        Emit(OrderStream(order.order_id()), order.version()).mutable_producer_assigned();
    e->set_order_id(order.order_id());
    e->set_old_producer_id(order.producer_id());
    e->set_new_producer_id(actor_.user_id());
  }
  // Emits an OrderUpdated clearing the fields `t` clears that `order` holds, if any.
  void ClearStepFields(const v1::OrderView& order, const v1::Transition& t) {
    std::vector<std::string> held =
        Held(order, {t.clears_fields().begin(), t.clears_fields().end()});
    if (held.empty()) return;
    v1::OrderUpdated* e = StepUpdate(order);
    for (std::string& field : held) e->add_cleared_fields(std::move(field));
  }
  // The one OrderUpdated a workflow step writes on `order`, for the fields it clears
  // (Transit) and those given with it (PerformAction): the one emitted already, or a new one
  // keeping the order's title, instructions and length as they stand.
  v1::OrderUpdated* StepUpdate(const v1::OrderView& order) {
    const std::string stream = OrderStream(order.order_id());
    for (StreamWrite& write : decision_.writes) {
      if (write.stream_id == stream && !write.events.empty() &&
          write.events.back().has_order_updated()) {
        return write.events.back().mutable_order_updated();
      }
    }
    v1::OrderUpdated* e = Emit(stream, order.version()).mutable_order_updated();
    e->set_order_id(order.order_id());
    e->set_title(order.title());
    e->set_instructions(order.instructions());
    e->set_spot_length_seconds(order.spot_length_seconds());
    return e;
  }
  // The order has a value for each field the transition requires (a lost deal's reason),
  // given with the step or before it.
  absl::Status RequireStepFields(const v1::OrderView& order, const v1::Transition& t) const {
    if (t.required_fields().empty()) return absl::OkStatus();
    const v1::ItemTypeDefinition* type = state_.FindItemType(order.item_type());
    // Whatever the order holds: a type that dropped the field since (an order on an older
    // workflow version) takes the step from every order of it, as OpenActions says.
    const std::vector<std::string> unknown = FieldsTypeLacks(type, t);
    if (!unknown.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("action \"", t.action(), "\" from state \"", t.from(), "\" of workflow \"",
                       order.workflow(), "\" v", order.workflow_version(), " requires field",
                       unknown.size() == 1 ? " " : "s ", absl::StrJoin(unknown, ", "),
                       ", which item type \"", order.item_type(),
                       "\" no longer has, so its orders there cannot take it; take "
                       "another way on, or ask an administrator to give the type the field again"));
    }
    const std::vector<std::string> missing = MissingStepFields(t, order);
    if (missing.empty()) return absl::OkStatus();
    return WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            "action \"", t.action(), "\" from state \"", t.from(), "\" requires field",
            missing.size() == 1 ? " " : "s ", absl::StrJoin(missing, ", "), ", which order ",
            Name(order), " lacks; ", HowToFill(order, t.action(), missing))),
        kMissingFields, {{"fields", absl::StrJoin(missing, ",")}, {"action", t.action()}});
  }
  // How the `missing` fields of the order come to be given for `action`: with the step itself
  // when its command carries fields, or first by an update, or by whoever manages the order;
  // then the choices of each field that has them.
  std::string HowToFill(const v1::OrderView& order, const std::string& action,
                        const std::vector<std::string>& missing) const {
    const v1::ItemTypeDefinition* type = state_.FindItemType(order.item_type());
    const std::string name = order.key().empty() ? order.order_id() : order.key();
    std::vector<std::string> flags, choices;
    for (const std::string& field : missing) {
      flags.push_back(absl::StrCat("--field ", field, "=VALUE"));
      for (const v1::FieldDefinition& f :
           type == nullptr ? v1::ItemTypeDefinition::default_instance().fields() : type->fields()) {
        if (f.name() == field && !f.choices().empty()) {
          choices.push_back(absl::StrCat(field, " is one of: ", absl::StrJoin(f.choices(), ", ")));
        }
      }
    }
    const std::string give = absl::StrJoin(flags, " ");
    const char* them = missing.size() == 1 ? "it" : "them";
    std::string how;
    if (!IsSystem() && !state_.Allows(actor_, v1::ORDER_MANAGE, order, now_)) {
      // Setting fields is managing the order: someone else fills them in.
      how = absl::StrCat("you may not fill ", them, " in (ORDER_MANAGE): ask whoever manages ",
                         "the order (its owner, ", order.owner_id(), ") to, first (spotflow ",
                         "order update ", name, " ", give, ")");
    } else if (ArtifactOfAction(action).empty()) {
      how = absl::StrCat("give ", them, " with the step (spotflow action ", name, " ", action, " ",
                         give, ") or fill ", them, " in first (spotflow order update ", name, " ",
                         give, ")");
    } else {
      // A revision's command (approve_script) carries no fields: they are filled in first.
      how = absl::StrCat("fill ", them, " in first (spotflow order update ", name, " ", give, ")");
    }
    return absl::StrCat(how, choices.empty() ? "" : "; ", absl::StrJoin(choices, "; "));
  }
  // An order finishes once its work is done: its required fields filled in (one the house
  // fills in after a client's request, an internal field, or one its type requires since it
  // was made), and the items made for it (a request's media insertions) finished, archived or
  // deleted. Asked of the house's staff; a client's answer that finishes it is the client's,
  // who can do neither.
  // FAILED_PRECONDITION when items made for the order (a request's media insertions) are
  // still under way: neither finished, archived nor deleted. Those the actor sees are named,
  // the others counted; `after` says what waits for them ("is archived after them"). The
  // decision rests on each closed one staying closed: one restored meanwhile stops it.
  absl::Status RequireNoItemsUnderWay(const v1::OrderView& order, absl::string_view after) {
    std::vector<std::string> open;  // Those the actor sees, by key.
    int unseen = 0;
    for (const std::string& id : order.child_order_ids()) {
      const v1::OrderView* child = state_.FindOrder(id);
      if (child == nullptr) continue;
      if (!IsOpen(*child)) {
        Read(OrderStream(child->order_id()), child->version());
        continue;
      }
      if (IsSystem() || state_.CanSee(actor_, *child, now_)) {
        open.push_back(absl::StrCat(child->key().empty() ? child->order_id() : child->key(), " (",
                                    StateWords(*child), ")"));
      } else {
        ++unseen;
      }
    }
    if (open.empty() && unseen == 0) return absl::OkStatus();
    if (unseen > 0) {
      open.push_back(absl::StrCat(unseen, open.empty() ? "" : " more",
                                  " you do not see (ask their owner, or a manager over all "
                                  "orders)"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("order ", Name(order),
                     " has items made for it still under way: ", absl::StrJoin(open, ", "), "; it ",
                     after, ": finish, archive or delete them first (spotflow order list --parent ",
                     order.key().empty() ? order.order_id() : order.key(), ")"));
  }
  absl::Status RequireReadyToFinish(const v1::OrderView& order,
                                    const v1::WorkflowDefinition& workflow,
                                    const v1::Transition& t) {
    const v1::WorkflowState* to = FindState(workflow, t.to());
    if (to == nullptr || !to->terminal() || !actor_.client_id().empty()) return absl::OkStatus();
    const std::string finish =
        absl::StrCat("\"", t.action(), "\" leads to final state \"", t.to(), "\"");
    RETURN_IF_ERROR(
        RequireNoItemsUnderWay(order, absl::StrCat("finishes after them (", finish, ")")));
    // Ending undone (a decline) asks for none of the fields the work would have needed: a
    // declined request has no cost to fill in.
    if (state_.IsAbandonedState(workflow.name(), to->name())) return absl::OkStatus();
    const v1::ItemTypeDefinition* type = state_.FindItemType(order.item_type());
    if (type == nullptr) return absl::OkStatus();
    const std::vector<std::string> missing = MissingRequiredFields(*type, order);
    if (missing.empty()) return absl::OkStatus();
    return WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            "order ", Name(order), " lacks its required field", missing.size() == 1 ? " " : "s ",
            absl::StrJoin(missing, ", "), ", which it needs to finish (", finish, "); ",
            HowToFill(order, t.action(), missing))),
        kMissingFields, {{"fields", absl::StrJoin(missing, ",")}, {"action", t.action()}});
  }
  // The actor may take `action` on the order in some state: they hold the privilege (and one
  // of the roles, when it names some) of one of the workflow's transitions by that name. Checked
  // before anything about the order's state, so that someone who may never take an action hears
  // that, not why it cannot be taken now (an assistant approving an approved script). OK when the
  // workflow has no such action: Transit names the typo.
  absl::Status RequireMayTake(const v1::OrderView& order, const std::string& action,
                              v1::Privilege privilege_override = v1::PRIVILEGE_UNSPECIFIED) {
    ASSIGN_OR_RETURN(const v1::WorkflowDefinition* workflow, WorkflowOf(order));
    absl::Status denied;
    for (const v1::Transition& t : workflow->transitions()) {
      if (t.action() != action) continue;
      const v1::Privilege privilege =
          privilege_override != v1::PRIVILEGE_UNSPECIFIED ? privilege_override : t.privilege();
      absl::Status allowed =
          Require(privilege, order, absl::StrCat("take action \"", action, "\" on"), t.roles());
      if (allowed.ok()) allowed = RequireRoleFor(t, privilege, order);
      if (allowed.ok()) return allowed;
      if (denied.ok()) denied = std::move(allowed);
    }
    return denied;
  }
  // The actor holds one of the roles the transition is taken by (Transition.roles).
  // `privilege`: the one the step is taken with, which whoever is named to ask holds too.
  absl::Status RequireRoleFor(const v1::Transition& t, v1::Privilege privilege,
                              const v1::OrderView& order) const {
    if (IsSystem() || HoldsOneOf(actor_, t.roles())) return absl::OkStatus();
    return absl::PermissionDeniedError(
        absl::StrCat("action \"", t.action(), "\" from state \"", t.from(), "\" is taken by ",
                     t.roles_size() == 1 ? "the role " : "one of the roles ",
                     absl::StrJoin(t.roles(), ", "), ", which user \"", actor_.user_id(),
                     "\" does not hold; ", WhomToAsk(privilege, t.roles(), &order)));
  }
  // Whether the order's workflow has an action by that name, from any state.
  bool HasAction(const v1::OrderView& order, absl::string_view action) const {
    absl::StatusOr<const v1::WorkflowDefinition*> workflow = WorkflowOf(order);
    if (!workflow.ok()) return false;
    return std::any_of((*workflow)->transitions().begin(), (*workflow)->transitions().end(),
                       [&](const v1::Transition& t) { return t.action() == action; });
  }
  // `remark`: the command's; none when only the order is asked about (an action open to
  // someone, who gives the comment when they take it).
  absl::Status CheckCondition(const v1::OrderView& order, v1::Condition condition,
                              absl::string_view artifact, absl::string_view action,
                              std::optional<Remark> remark) const {
    auto latest_approved = [&](absl::string_view kind, bool internal) {
      const auto& revisions = kind == "script" ? order.scripts() : order.spots();
      if (revisions.empty()) return false;
      const v1::Revision& latest = revisions[revisions.size() - 1];
      if (!internal) return latest.approved();
      for (const v1::Review& review : latest.reviews()) {
        if (review.kind() == v1::APPROVED) return true;
      }
      return false;
    };
    switch (condition) {
      case v1::INTERNALLY_APPROVED: {
        const std::string kind = artifact.empty() ? "spot" : std::string(artifact);
        if (!latest_approved(kind, /*internal=*/true)) {
          return absl::FailedPreconditionError(
              absl::StrCat("action \"", action, "\" needs the latest ", kind, " revision of order ",
                           Name(order), " approved in the house first"));
        }
        return absl::OkStatus();
      }
      case v1::SPOT_APPROVED:
        if (!latest_approved("spot", /*internal=*/false)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "action \"", action, "\" needs an approved spot on order ", Name(order)));
        }
        return absl::OkStatus();
      case v1::COMMENT_GIVEN:
        if (remark.has_value() && absl::StripAsciiWhitespace(remark->text).empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("action \"", action, "\" on order ", Name(order),
                           " is taken with a comment saying why; give one (", remark->field,
                           "; the CLI's --", remark->flag, " TEXT)"));
        }
        return absl::OkStatus();
      default:
        return absl::InternalError(absl::StrCat("unknown condition ", condition));
    }
  }
  absl::StatusOr<const v1::ItemTypeDefinition*> ItemTypeOf(const v1::OrderView& order) const {
    const v1::ItemTypeDefinition* type = state_.FindItemType(order.item_type());
    if (type == nullptr) {
      return absl::InternalError(absl::StrCat("order ", Name(order), " has unknown item type \"",
                                              order.item_type(), "\""));
    }
    return type;
  }
  absl::Status CheckArtifact(const v1::OrderView& order, const std::string& artifact) const {
    ASSIGN_OR_RETURN(const v1::ItemTypeDefinition* type, ItemTypeOf(order));
    if (std::find(type->facets().artifacts().begin(), type->facets().artifacts().end(), artifact) ==
        type->facets().artifacts().end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("artifact \"", artifact, "\" is not one of ", order.item_type(),
                       "'s: ", absl::StrJoin(type->facets().artifacts(), ", ")));
    }
    // Revisions are kept as scripts and spots; other artifacts need their own list first.
    if (artifact != "script" && artifact != "spot") {
      return absl::UnimplementedError(
          absl::StrCat("revisions of artifact \"", artifact, "\" are not supported yet"));
    }
    return absl::OkStatus();
  }
  // The revision a review targets: it must exist and be the latest of its artifact.
  absl::StatusOr<const v1::Revision*> ReviewedRevision(const v1::OrderView& order,
                                                       const std::string& artifact,
                                                       uint32_t number) const {
    RETURN_IF_ERROR(CheckArtifact(order, artifact));
    const auto& revisions = artifact == "script" ? order.scripts() : order.spots();
    if (number == 0 || number > static_cast<uint32_t>(revisions.size())) {
      return absl::NotFoundError(
          absl::StrCat("order ", Name(order), " has no ", artifact, " revision ", number));
    }
    const v1::Revision& revision = revisions[static_cast<int>(number) - 1];
    if (revision.superseded()) {
      return absl::FailedPreconditionError(absl::StrCat(
          artifact, " revision ", number, " of order ", Name(order), " was superseded by revision ",
          revisions.size(), "; review the latest revision"));
    }
    if (revision.approved()) {
      return absl::FailedPreconditionError(absl::StrCat(
          artifact, " revision ", number, " of order ", Name(order), " is already approved"));
    }
    return &revision;
  }
  v1::RevisionReviewed* EmitReview(const v1::OrderView& order, const std::string& artifact,
                                   uint32_t revision, v1::ReviewKind kind,
                                   const v1::Transition& transition) {
    v1::RevisionReviewed* e =
        Emit(OrderStream(order.order_id()), order.version()).mutable_revision_reviewed();
    e->set_order_id(order.order_id());
    e->set_artifact(artifact);
    e->set_revision(revision);
    e->set_kind(kind);
    e->set_action(transition.action());
    e->set_from_status(transition.from());
    e->set_to_status(transition.to());
    Target(OrderStream(order.order_id()), order.version(), order.order_id());
    decision_.result.set_sub_id(absl::StrCat(revision));
    return e;
  }

  // --- Handlers, one per command.
  absl::Status CreateUser(const v1::CreateUser& c);
  absl::Status UpdateUser(const v1::UpdateUser& c);
  absl::Status SetUserRoles(const v1::SetUserRoles& c);
  absl::Status SetUserManager(const v1::SetUserManager& c);
  absl::Status SetUserActive(const std::string& user_id, bool active);
  // The log's record of a token issued or revoked for a user (the service changes the file).
  absl::Status RecordToken(const std::string& user_id, const std::string& hash_prefix,
                           bool revoked);
  absl::Status DefineRole(const v1::DefineRole& c);
  absl::Status DefineItemType(const v1::DefineItemType& c);
  absl::Status PublishWorkflow(const v1::PublishWorkflow& c);
  absl::Status CreateClient(const v1::CreateClient& c);
  absl::Status UpdateClient(const v1::UpdateClient& c);
  absl::Status AddContact(const v1::AddContact& c);
  absl::Status UpdateContact(const v1::UpdateContact& c);
  absl::Status RemoveContact(const v1::RemoveContact& c);
  absl::Status ShareClient(const v1::ShareClient& c);
  absl::Status UnshareClient(const v1::UnshareClient& c);
  absl::Status DeleteClient(const v1::DeleteClient& c);
  absl::Status ReassignAccounts(const v1::ReassignAccounts& c, bool has_etag);
  std::string OpenOrdersElsewhere(const v1::UserView& user) const;
  absl::Status ReassignOrders(const v1::ReassignOrders& c, bool has_etag);
  absl::Status CreateOrder(const v1::CreateOrder& c);
  absl::Status UpdateOrder(const v1::UpdateOrder& c);
  absl::Status SubmitRevision(const v1::SubmitRevision& c);
  absl::Status ApproveRevision(const v1::ApproveRevision& c);
  absl::Status RequestChanges(const v1::RequestChanges& c);
  absl::Status ForwardToClient(const v1::ForwardToClient& c);
  absl::Status RecordClientAnswer(const v1::RecordClientAnswer& c);
  absl::Status PerformAction(const v1::PerformAction& c);
  absl::Status RequestFlightChange(const v1::RequestFlightChange& c);
  absl::Status DecideFlightChange(const v1::DecideFlightChange& c);
  absl::Status WithdrawFlightChange(const v1::WithdrawFlightChange& c);
  // OK when the order's flight change `request_id` still waits for a decision.
  absl::Status RequirePending(const v1::OrderView& order, const std::string& request_id) const;
  absl::Status ShareOrder(const std::string& order_id, const std::string& user_id, bool share);
  absl::Status AssignProducer(const v1::AssignProducer& c);
  absl::Status AddComment(const v1::AddComment& c);
  absl::Status SetArchived(const std::string& order_id, bool archived);
  absl::Status DeleteOrder(const v1::DeleteOrder& c);
  absl::Status ReuseOrder(const v1::ReuseOrder& c);
  absl::Status SetBudget(const v1::SetBudget& c);
  absl::Status RemoveBudget(const v1::RemoveBudget& c);
  // The budget `id` when the actor may read it (MayReadBudget), else NOT_FOUND; PERMISSION_DENIED
  // when they read it but may not `what` it (BUDGET_MANAGE reaching its member).
  absl::StatusOr<const v1::Budget*> LoadBudgetToManage(const std::string& id,
                                                       absl::string_view what);
  // OK when the actor may set, change or remove a budget of `member` that `set_by` set (empty:
  // a new one); else PERMISSION_DENIED saying it may not `what`.
  absl::Status RequireMaySetBudgetOf(const std::string& member, const std::string& set_by,
                                     absl::string_view what) const;

  absl::Status ValidateContact(const v1::Contact& contact) const {
    RETURN_IF_ERROR(ValidateText("contact name", contact.name(), kMaxNameBytes, true));
    RETURN_IF_ERROR(ValidateEmail("contact email", contact.email()));
    RETURN_IF_ERROR(ValidateText("contact phone", contact.phone(), kMaxNameBytes, false));
    return ValidateText("contact title", contact.title(), kMaxNameBytes, false);
  }
  absl::Status ValidateRoles(const google::protobuf::RepeatedPtrField<std::string>& roles) const {
    absl::flat_hash_set<std::string> seen;
    for (const std::string& role : roles) {
      if (state_.FindRole(role) == nullptr) {
        std::set<std::string> names;  // Sorted: the map's order is not the log's.
        for (const auto& [name, view] : state_.roles()) names.insert(name);
        return absl::InvalidArgumentError(
            absl::StrCat("role \"", absl::CHexEscape(role), "\" does not exist",
                         DidYouMean(role, names), "; the roles are: ", absl::StrJoin(names, ", ")));
      }
      if (!seen.insert(role).second) {
        return absl::InvalidArgumentError(absl::StrCat("role \"", role, "\" is listed twice"));
      }
    }
    return absl::OkStatus();
  }

  const State& state_;
  const v1::UserView& actor_;
  const absl::Time now_;
  IdGenerator* const ids_;
  Decision decision_;
  absl::flat_hash_set<std::string> read_streams_;  // Those in decision_.reads.
};

absl::StatusOr<Decision> Decider::Run(const v1::Command& command) {
  using C = v1::Command;
  absl::Status status;
  switch (command.command_case()) {
    case C::kCreateUser:
      status = CreateUser(command.create_user());
      break;
    case C::kUpdateUser:
      status = UpdateUser(command.update_user());
      break;
    case C::kSetUserRoles:
      status = SetUserRoles(command.set_user_roles());
      break;
    case C::kSetUserManager:
      status = SetUserManager(command.set_user_manager());
      break;
    case C::kDeactivateUser:
      status = SetUserActive(command.deactivate_user().user_id(), false);
      break;
    case C::kReactivateUser:
      status = SetUserActive(command.reactivate_user().user_id(), true);
      break;
    case C::kDefineRole:
      status = DefineRole(command.define_role());
      break;
    case C::kDefineItemType:
      status = DefineItemType(command.define_item_type());
      break;
    case C::kPublishWorkflow:
      status = PublishWorkflow(command.publish_workflow());
      break;
    case C::kCreateClient:
      status = CreateClient(command.create_client());
      break;
    case C::kUpdateClient:
      status = UpdateClient(command.update_client());
      break;
    case C::kAddContact:
      status = AddContact(command.add_contact());
      break;
    case C::kUpdateContact:
      status = UpdateContact(command.update_contact());
      break;
    case C::kRemoveContact:
      status = RemoveContact(command.remove_contact());
      break;
    case C::kShareClient:
      status = ShareClient(command.share_client());
      break;
    case C::kUnshareClient:
      status = UnshareClient(command.unshare_client());
      break;
    case C::kDeleteClient:
      status = DeleteClient(command.delete_client());
      break;
    case C::kReassignAccounts:
      status = ReassignAccounts(command.reassign_accounts(), command.has_etag());
      break;
    case C::kReassignOrders:
      status = ReassignOrders(command.reassign_orders(), command.has_etag());
      break;
    case C::kSetBudget:
      status = SetBudget(command.set_budget());
      break;
    case C::kRemoveBudget:
      status = RemoveBudget(command.remove_budget());
      break;
    case C::kCreateOrder:
      status = CreateOrder(command.create_order());
      break;
    case C::kUpdateOrder:
      status = UpdateOrder(command.update_order());
      break;
    case C::kSubmitRevision:
      status = SubmitRevision(command.submit_revision());
      break;
    case C::kApproveRevision:
      status = ApproveRevision(command.approve_revision());
      break;
    case C::kRequestChanges:
      status = RequestChanges(command.request_changes());
      break;
    case C::kForwardToClient:
      status = ForwardToClient(command.forward_to_client());
      break;
    case C::kRecordClientAnswer:
      status = RecordClientAnswer(command.record_client_answer());
      break;
    case C::kPerformAction:
      status = PerformAction(command.perform_action());
      break;
    case C::kRequestFlightChange:
      status = RequestFlightChange(command.request_flight_change());
      break;
    case C::kDecideFlightChange:
      status = DecideFlightChange(command.decide_flight_change());
      break;
    case C::kWithdrawFlightChange:
      status = WithdrawFlightChange(command.withdraw_flight_change());
      break;
    case C::kShareOrder:
      status = ShareOrder(command.share_order().order_id(), command.share_order().user_id(), true);
      break;
    case C::kUnshareOrder:
      status =
          ShareOrder(command.unshare_order().order_id(), command.unshare_order().user_id(), false);
      break;
    case C::kAssignProducer:
      status = AssignProducer(command.assign_producer());
      break;
    case C::kAddComment:
      status = AddComment(command.add_comment());
      break;
    case C::kArchiveOrder:
      status = SetArchived(command.archive_order().order_id(), true);
      break;
    case C::kRestoreOrder:
      status = SetArchived(command.restore_order().order_id(), false);
      break;
    case C::kDeleteOrder:
      status = DeleteOrder(command.delete_order());
      break;
    case C::kRecordTokenIssued:
      status = RecordToken(command.record_token_issued().user_id(),
                           command.record_token_issued().token_hash_prefix(), /*revoked=*/false);
      break;
    case C::kRecordTokenRevoked:
      status = RecordToken(command.record_token_revoked().user_id(),
                           command.record_token_revoked().token_hash_prefix(), /*revoked=*/true);
      break;
    case C::kReuseOrder:
      status = ReuseOrder(command.reuse_order());
      break;
    case C::COMMAND_NOT_SET:
      return absl::InvalidArgumentError("the command is empty: set one of its commands");
  }
  if (!status.ok()) return status;
  if (!IsSystem()) {
    // The actor's privileges come from their record and their roles: a deactivation or a
    // change of role that commits first stops the command, so that no event in the log is
    // by someone who no longer held the right to it at its position.
    ReadUser(actor_);
  }
  return std::move(decision_);
}

// --- Users and roles --------------------------------------------------------------------------

absl::Status Decider::CreateUser(const v1::CreateUser& c) {
  decision_.turns = {kDirectoryTurn};  // Its rules look across users.
  RETURN_IF_ERROR(RequireAdmin("create users"));
  // People name users (in commands, shares, reassignments): no generated id for one.
  if (c.user_id().empty()) {
    return absl::InvalidArgumentError(
        "user_id is required: the name others will know the user by, such as \"sam\"");
  }
  ASSIGN_OR_RETURN(std::string id, IdOrNew("user_id", c.user_id()));
  if (id == kSystemUser) {
    return absl::InvalidArgumentError(absl::StrCat("user id \"", id, "\" is reserved"));
  }
  RETURN_IF_ERROR(ValidateText("display_name", c.display_name(), kMaxNameBytes, true));
  RETURN_IF_ERROR(ValidateEmail("email", c.email()));
  RETURN_IF_ERROR(ValidateRoles(c.roles()));
  if (!c.manager_id().empty()) {
    ASSIGN_OR_RETURN(const v1::UserView* manager, LoadUser("manager_id", c.manager_id()));
    RETURN_IF_ERROR(RequireStaff(*manager, "make a manager of"));
  }
  if (!c.client_id().empty() || !c.contact_id().empty()) {
    ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(c.client_id()));
    if (FindContact(client, c.contact_id()) == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("client \"", c.client_id(), "\" has no contact \"", c.contact_id(), "\""));
    }
  }
  RETURN_IF_ERROR(CheckRolesFit(id, !c.client_id().empty(), c.roles()));
  if (state_.FindUser(id) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("user \"", id, "\" already exists"));
  }
  RETURN_IF_ERROR(NotAnotherCaseOf("user", id, state_.users(), "choose another id"));
  v1::UserCreated* e = Emit(UserStream(id), 0).mutable_user_created();
  e->set_user_id(id);
  e->set_display_name(c.display_name());
  e->set_email(c.email());
  *e->mutable_roles() = c.roles();
  e->set_manager_id(c.manager_id());
  e->set_client_id(c.client_id());
  e->set_contact_id(c.contact_id());
  Target(UserStream(id), 0, id);
  return absl::OkStatus();
}

absl::Status Decider::UpdateUser(const v1::UpdateUser& c) {
  // Everyone may correct their own name and email. Whether another user exists is not told
  // to whom may not update them (a contact's login does not see the house's people).
  if (c.user_id() != actor_.user_id()) RETURN_IF_ERROR(RequireAdmin("update other users"));
  ASSIGN_OR_RETURN(const v1::UserView* user, LoadUser("user_id", c.user_id(), false));
  const std::string& name = c.has_display_name() ? c.display_name() : user->display_name();
  const std::string& email = c.has_email() ? c.email() : user->email();
  RETURN_IF_ERROR(ValidateText("display_name", name, kMaxNameBytes, true));
  RETURN_IF_ERROR(ValidateEmail("email", email));
  Target(UserStream(user->user_id()), user->version(), user->user_id());
  if (name == user->display_name() && email == user->email()) return absl::OkStatus();
  v1::UserUpdated* e = Emit(UserStream(user->user_id()), user->version()).mutable_user_updated();
  e->set_user_id(user->user_id());
  e->set_display_name(name);
  e->set_email(email);
  return absl::OkStatus();
}

absl::Status Decider::SetUserRoles(const v1::SetUserRoles& c) {
  decision_.turns = {kDirectoryTurn};  // Its rules look across users.
  RETURN_IF_ERROR(RequireAdmin("change a user's roles"));
  ASSIGN_OR_RETURN(const v1::UserView* user, LoadUser("user_id", c.user_id(), false));
  RETURN_IF_ERROR(ValidateRoles(c.roles()));
  RETURN_IF_ERROR(CheckRolesFit(user->user_id(), !user->client_id().empty(), c.roles()));
  if (!Grants(c.roles(), v1::ADMIN_CONFIGURE)) {
    RETURN_IF_ERROR(KeepAnAdministrator(
        user->user_id(),
        absl::StrCat("taking the administrator's role from \"", user->user_id(), "\"")));
  }
  Target(UserStream(user->user_id()), user->version(), user->user_id());
  std::vector<std::string> old_roles(user->roles().begin(), user->roles().end());
  std::vector<std::string> new_roles(c.roles().begin(), c.roles().end());
  std::sort(old_roles.begin(), old_roles.end());
  std::sort(new_roles.begin(), new_roles.end());
  if (old_roles == new_roles) return absl::OkStatus();
  v1::UserRolesChanged* e =
      Emit(UserStream(user->user_id()), user->version()).mutable_user_roles_changed();
  e->set_user_id(user->user_id());
  *e->mutable_old_roles() = user->roles();
  *e->mutable_new_roles() = c.roles();
  return absl::OkStatus();
}

absl::Status Decider::SetUserManager(const v1::SetUserManager& c) {
  decision_.turns = {kDirectoryTurn};  // Its rules look across users (no circle of managers).
  RETURN_IF_ERROR(RequireAdmin("change a user's manager"));
  ASSIGN_OR_RETURN(const v1::UserView* user, LoadUser("user_id", c.user_id(), false));
  if (!c.manager_id().empty()) {
    ASSIGN_OR_RETURN(const v1::UserView* manager, LoadUser("manager_id", c.manager_id()));
    RETURN_IF_ERROR(RequireStaff(*manager, "make a manager of"));
    if (c.manager_id() == c.user_id()) {
      return absl::InvalidArgumentError("a user cannot be their own manager");
    }
    // Teams form a tree: the new manager may not be someone the user manages, however
    // indirectly (team scopes would reach in a circle). The walk is bounded by the users.
    std::string above = c.manager_id();
    for (size_t steps = 0; !above.empty() && steps <= state_.users().size(); ++steps) {
      const v1::UserView* next = state_.FindUser(above);
      if (next == nullptr) break;
      if (next->manager_id() == c.user_id()) {
        return absl::InvalidArgumentError(
            absl::StrCat("user \"", c.manager_id(), "\" is managed by \"", c.user_id(), "\"",
                         above == c.manager_id() ? "" : absl::StrCat(" (through \"", above, "\")"),
                         "; a user cannot manage their own manager: change that first"));
      }
      above = next->manager_id();
    }
  }
  Target(UserStream(user->user_id()), user->version(), user->user_id());
  if (c.manager_id() == user->manager_id()) return absl::OkStatus();
  v1::UserManagerChanged* e =
      Emit(UserStream(user->user_id()), user->version()).mutable_user_manager_changed();
  e->set_user_id(user->user_id());
  e->set_old_manager_id(user->manager_id());
  e->set_new_manager_id(c.manager_id());
  return absl::OkStatus();
}

absl::Status Decider::SetUserActive(const std::string& user_id, bool active) {
  decision_.turns = {kDirectoryTurn};  // Its rules look across users.
  RETURN_IF_ERROR(RequireAdmin(active ? "reactivate users" : "deactivate users"));
  ASSIGN_OR_RETURN(const v1::UserView* user, LoadUser("user_id", user_id, false));
  Target(UserStream(user_id), user->version(), user_id);
  if (user->active() == active) return absl::OkStatus();
  if (!active && user_id == actor_.user_id()) {
    return absl::FailedPreconditionError(
        "you cannot deactivate yourself; ask another administrator");
  }
  if (active && !user->client_id().empty()) {
    // A client contact's login comes back only while its contact is on record.
    const v1::ClientView* client = state_.FindClient(user->client_id());
    if (client == nullptr || client->deleted() ||
        FindContact(client, user->contact_id()) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("user \"", user_id, "\" is the login of contact \"", user->contact_id(),
                       "\" at client \"", user->client_id(),
                       "\", which is no longer on record; add the contact to the client again "
                       "under that id first"));
    }
  }
  v1::DomainEvent& event = Emit(UserStream(user_id), user->version());
  if (active) {
    event.mutable_user_reactivated()->set_user_id(user_id);
  } else {
    event.mutable_user_deactivated()->set_user_id(user_id);
  }
  return absl::OkStatus();
}

absl::Status Decider::RecordToken(const std::string& user_id, const std::string& hash_prefix,
                                  bool revoked) {
  RETURN_IF_ERROR(RequireAdmin(revoked ? "revoke tokens" : "issue tokens"));
  // A deactivated user's tokens are revoked too (a leaver's, say); none is issued for one.
  ASSIGN_OR_RETURN(const v1::UserView* user,
                   LoadUser("user_id", user_id, /*must_be_active=*/!revoked));
  RETURN_IF_ERROR(ValidateTokenHashPrefix(hash_prefix));
  const std::string stream = UserStream(user->user_id());
  v1::DomainEvent& event = Emit(stream, user->version());
  if (revoked) {
    event.mutable_token_revoked()->set_user_id(user->user_id());
    event.mutable_token_revoked()->set_token_hash_prefix(hash_prefix);
  } else {
    event.mutable_token_issued()->set_user_id(user->user_id());
    event.mutable_token_issued()->set_token_hash_prefix(hash_prefix);
  }
  Target(stream, user->version(), user->user_id());
  return absl::OkStatus();
}

absl::Status Decider::DefineRole(const v1::DefineRole& c) {
  decision_.turns = {kDirectoryTurn};  // Its rules look across users.
  RETURN_IF_ERROR(RequireAdmin("define roles"));
  RETURN_IF_ERROR(ValidateRole(c.definition()));
  // The users who hold the role must still fit it, and someone must still administer.
  std::vector<const v1::UserView*> holders;
  for (const auto& [id, user] : state_.users()) {
    if (std::find(user.roles().begin(), user.roles().end(), c.definition().name()) !=
        user.roles().end()) {
      holders.push_back(&user);
    }
  }
  std::sort(holders.begin(), holders.end(), [](const v1::UserView* a, const v1::UserView* b) {
    return a->user_id() < b->user_id();
  });
  for (const v1::UserView* user : holders) {
    // What the users hold now decides it: a precondition, not a fault of the definition.
    if (absl::Status fits = CheckRolesFit(user->user_id(), !user->client_id().empty(),
                                          user->roles(), &c.definition());
        !fits.ok()) {
      return absl::FailedPreconditionError(fits.message());
    }
  }
  RETURN_IF_ERROR(KeepAnAdministrator(
      "", absl::StrCat("redefining role \"", c.definition().name(), "\" this way"),
      &c.definition()));
  RETURN_IF_ERROR(KeepStepsTakeable(c.definition()));
  const v1::RoleView* role = state_.FindRole(c.definition().name());
  if (role == nullptr) {
    RETURN_IF_ERROR(NotAnotherCaseOf("role", c.definition().name(), state_.roles(),
                                     "name that one to redefine it, or choose another name"));
  }
  const uint64_t version = role == nullptr ? 0 : role->version();
  const std::string stream = RoleStream(c.definition().name());
  Target(stream, version, c.definition().name());
  *Emit(stream, version).mutable_role_defined()->mutable_definition() = c.definition();
  return absl::OkStatus();
}

absl::Status Decider::KeepStepsTakeable(const v1::RoleDefinition& redefined) {
  // In the definitions' turn, as PublishWorkflow checks the roles its steps name.
  AlsoInTurnOf(kDefinitionsTurn);
  // The workflow versions in use: each one's latest, which new orders start in, and those of
  // orders under way (archived ones too: they may be restored), with how many follow each and
  // the first of them, for the message.
  struct Use {
    bool latest = false;
    int orders = 0;
    std::string first;
  };
  std::map<std::pair<std::string, uint32_t>, Use> in_use;
  for (const std::string& name : state_.WorkflowNames()) {
    in_use[{name, state_.FindWorkflow(name, 0)->version()}].latest = true;
  }
  for (const auto& [position, id] : state_.orders_by_creation()) {
    const v1::OrderView& order = *state_.FindOrder(id);
    if (order.deleted() || order.completed()) continue;
    Use& use = in_use[{order.workflow(), order.workflow_version()}];
    if (use.orders++ == 0) use.first = order.key().empty() ? order.order_id() : order.key();
  }
  // Whether one of `t`'s roles grants its privilege, the role being redefined read as
  // `redefined` or as it stands.
  const auto takeable = [&](const v1::Transition& t, const v1::RoleDefinition* replaced) {
    for (const std::string& role_name : t.roles()) {
      const v1::RoleView* role = state_.FindRole(role_name);
      const v1::RoleDefinition* definition =
          role_name == redefined.name() && replaced != nullptr
              ? replaced
              : (role == nullptr ? nullptr : &role->definition());
      if (definition == nullptr) continue;
      for (const v1::Grant& grant : definition->grants()) {
        if (grant.privilege() == t.privilege()) return true;
      }
    }
    return false;
  };
  for (const auto& [key, use] : in_use) {
    const auto& [name, version] = key;
    const v1::WorkflowDefinition* workflow = state_.FindWorkflow(name, version);
    if (workflow == nullptr) continue;
    for (const v1::Transition& t : workflow->transitions()) {
      if (std::find(t.roles().begin(), t.roles().end(), redefined.name()) == t.roles().end()) {
        continue;
      }
      // Only a change that takes the step from those who could take it: one no role grants
      // already (an older log's) does not hold up an unrelated change of the role.
      if (!takeable(t, nullptr) || takeable(t, &redefined)) continue;
      const std::string followed =
          use.orders == 0 ? ""
                          : absl::StrCat(", which ", use.orders, " order(s) under way follow (",
                                         use.first, use.orders > 1 ? ", ..." : "",
                                         "; archived ones count: they may be restored)");
      return absl::FailedPreconditionError(absl::StrCat(
          "role \"", redefined.name(), "\" would no longer grant ",
          v1::Privilege_Name(t.privilege()), ", which action \"", t.action(), "\" from state \"",
          t.from(), "\" of workflow \"", name, "\" version ", version, followed,
          " needs and which only ", absl::StrJoin(t.roles(), ", "),
          " may take: no one could take it; keep the grant, or ",
          use.latest ? "publish a version of the workflow without the step first" : "",
          use.latest && use.orders > 0 ? ", and " : "",
          use.orders > 0 ? "finish or delete the orders that follow this version first" : ""));
    }
  }
  return absl::OkStatus();
}

absl::Status Decider::DefineItemType(const v1::DefineItemType& c) {
  AlsoInTurnOf(kDefinitionsTurn);  // Its name is checked against the others'.
  RETURN_IF_ERROR(RequireAdmin("define item types"));
  RETURN_IF_ERROR(ValidateItemType(c.definition()));
  const v1::WorkflowDefinition* workflow = state_.FindWorkflow(c.definition().workflow(), 0);
  if (workflow == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("item type \"", c.definition().name(), "\" names unknown workflow \"",
                     c.definition().workflow(),
                     "\"; publish it first (PublishWorkflow; spotflow workflow "
                     "publish FILE), or name one of: ",
                     absl::StrJoin(state_.WorkflowNames(), ", ")));
  }
  // The types made for its items are types there are (or this one: a project's sub-projects).
  // Types are never removed, so the check holds once made.
  for (const std::string& child : c.definition().facets().child_types()) {
    if (child != c.definition().name() && state_.FindItemType(child) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("item type \"", c.definition().name(),
                                                     "\" lists unknown child type \"", child,
                                                     "\"; define that type first, or name one of: ",
                                                     absl::StrJoin(state_.ItemTypeNames(), ", ")));
    }
  }
  const std::string stream = ItemTypeStream(c.definition().name());
  const v1::ItemTypeDefinition* type = state_.FindItemType(c.definition().name());
  if (type == nullptr) {
    RETURN_IF_ERROR(NotAnotherCaseOf("item type", c.definition().name(), state_.ItemTypeNames(),
                                     "name that one to redefine it, or choose another name"));
  }
  const uint64_t version = type == nullptr ? 0 : type->version();
  RETURN_IF_ERROR(
      RequireReadAtLatest("item type", c.definition().name(), c.definition().version(), version));
  Target(stream, version, c.definition().name());
  if (type != nullptr && SameDefinition(*type, c.definition())) return absl::OkStatus();
  // New orders follow its latest version: what that works on, the type must have (and a
  // version published meanwhile is checked against this type by PublishWorkflow, or stops
  // this decision).
  RETURN_IF_ERROR(CheckTypeFitsWorkflow(c.definition(), *workflow));
  Read(WorkflowStream(workflow->name()), workflow->version());
  // Orders of the type under way follow the new definition from their state on, in the
  // workflow version they started with: none may be left where it cannot go on (a type that
  // drops its scripts while one is in review). Archived ones count: they may be restored.
  // (An order that moves meanwhile is not read: a definition's change is an administrator's,
  // rare, and seen by whoever moves it next.)
  if (type != nullptr) {
    // A budget that sums one of its whole-number fields keeps it one (SetBudget with a field
    // takes this turn too, so the two are never decided past each other).
    std::vector<std::string> summing;
    // Not one whose period is over: its sums are of the values orders kept.
    v1::Date today;
    today.set_year(static_cast<int32_t>(Today().year()));
    today.set_month(Today().month());
    today.set_day(Today().day());
    for (const auto& entry : state_.budgets()) {
      // (Not a structured binding: a lambda may not capture one in C++17.)
      const v1::Budget& budget = entry.second;
      if (budget.removed() || budget.item_type() != c.definition().name() ||
          budget.field().empty() || CompareDates(budget.end(), today) < 0) {
        continue;
      }
      const auto& fields = c.definition().fields();
      if (std::none_of(fields.begin(), fields.end(), [&](const v1::FieldDefinition& f) {
            return f.name() == budget.field() && f.type() == v1::INTEGER;
          })) {
        summing.push_back(absl::StrCat(entry.first, " (", budget.field(), ", of ", budget.user_id(),
                                       ", set by ", budget.set_by(), ")"));
      }
    }
    if (!summing.empty()) {
      std::sort(summing.begin(), summing.end());
      return absl::FailedPreconditionError(absl::StrCat(
          "item type \"", c.definition().name(), "\" would no longer have the whole-number ",
          summing.size() == 1 ? "field a budget sums: " : "fields budgets sum: ",
          absl::StrJoin(summing, ", "),
          "; keep the field, or have those budgets removed or changed first by whoever sets "
          "their members' budgets (BUDGET_MANAGE reaching them)"));
    }
    for (const auto& [position, id] : state_.orders_by_creation()) {
      const v1::OrderView& order = *state_.FindOrder(id);
      if (order.item_type() != c.definition().name() || order.deleted() || order.completed()) {
        continue;
      }
      const v1::WorkflowDefinition* started =
          state_.FindWorkflow(order.workflow(), order.workflow_version());
      if (started == nullptr) continue;
      RETURN_IF_ERROR(CheckFinishesFrom(c.definition(), *started, order.status(),
                                        absl::StrCat("order ", Name(order))));
    }
  }
  v1::ItemTypeDefinition* definition =
      Emit(stream, version).mutable_item_type_defined()->mutable_definition();
  *definition = c.definition();
  definition->set_version(static_cast<uint32_t>(version + 1));
  return absl::OkStatus();
}

absl::Status Decider::PublishWorkflow(const v1::PublishWorkflow& c) {
  AlsoInTurnOf(kDefinitionsTurn);  // Its name is checked against the others'.
  RETURN_IF_ERROR(RequireAdmin("publish workflows"));
  RETURN_IF_ERROR(ValidateWorkflow(c.definition()));
  const v1::WorkflowDefinition* latest = state_.FindWorkflow(c.definition().name(), 0);
  if (latest == nullptr) {
    RETURN_IF_ERROR(NotAnotherCaseOf("workflow", c.definition().name(), state_.WorkflowNames(),
                                     "name that one to publish its next version, or choose "
                                     "another name"));
  }
  // A step taken by some roles only (a pre-approval) names roles there are, one of which
  // grants its privilege: else no one could ever take it. (Roles are never removed, and
  // DefineRole keeps the grant while a version in use names the role: KeepStepsTakeable.)
  for (const v1::Transition& t : c.definition().transitions()) {
    bool granted = t.roles().empty();
    for (const std::string& name : t.roles()) {
      const v1::RoleView* role = state_.FindRole(name);
      if (role == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "workflow \"", c.definition().name(), "\": action \"", t.action(), "\" from state \"",
            t.from(), "\" names unknown role \"", absl::CHexEscape(name),
            "\"; define it first (spotflow role define), or name one of: ",
            absl::StrJoin(state_.RoleNames(), ", ")));
      }
      for (const v1::Grant& grant : role->definition().grants()) {
        granted |= grant.privilege() == t.privilege();
      }
      Read(RoleStream(name), role->version());
    }
    if (!granted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "workflow \"", c.definition().name(), "\": action \"", t.action(), "\" from state \"",
          t.from(), "\" is taken by ", absl::StrJoin(t.roles(), ", "),
          ", none of which grants its privilege ", v1::Privilege_Name(t.privilege()),
          ": no one could take it; grant it to one of them, or name another role"));
    }
  }
  const uint32_t version = latest == nullptr ? 1 : latest->version() + 1;
  const std::string stream = WorkflowStream(c.definition().name());
  RETURN_IF_ERROR(RequireReadAtLatest("workflow", c.definition().name(), c.definition().version(),
                                      version - 1));
  if (latest != nullptr && SameDefinition(*latest, c.definition())) {
    Target(stream, version - 1, c.definition().name());  // Nothing new to publish.
    decision_.result.set_sub_id(absl::StrCat(version - 1));
    return absl::OkStatus();
  }
  // The item types that follow it start their new orders in this version: each must have
  // what it works on (DefineItemType checks the other way round).
  v1::WorkflowDefinition next = c.definition();
  next.set_version(version);
  for (const std::string& name : state_.ItemTypeNames()) {
    const v1::ItemTypeDefinition* type = state_.FindItemType(name);
    if (type->workflow() != next.name()) continue;
    RETURN_IF_ERROR(CheckTypeFitsWorkflow(*type, next));
    Read(ItemTypeStream(name), type->version());
  }
  // One record per version, so the stream version is the workflow version.
  Target(stream, version - 1, c.definition().name());
  v1::WorkflowDefinition* definition =
      Emit(stream, version - 1).mutable_workflow_published()->mutable_definition();
  *definition = c.definition();
  definition->set_version(version);
  decision_.result.set_sub_id(absl::StrCat(version));
  return absl::OkStatus();
}

// --- Clients ----------------------------------------------------------------------------------

absl::Status Decider::CreateClient(const v1::CreateClient& c) {
  RETURN_IF_ERROR(Require(v1::CLIENT_MANAGE, "create clients"));
  RETURN_IF_ERROR(ValidateText("client name", c.name(), kMaxNameBytes, true));
  // A deleted client's id stays taken: its orders and history still name it.
  ASSIGN_OR_RETURN(std::string id,
                   IdOrFromName("client_id", c.client_id(), c.name(), [&](const std::string& id) {
                     return state_.FindClient(id) != nullptr;
                   }));
  RETURN_IF_ERROR(ValidateText("client kind", c.kind(), kMaxNameBytes, false));
  RETURN_IF_ERROR(ValidateText("organization", c.organization(), kMaxNameBytes, false));
  std::string owner = c.owner_id();
  if (owner.empty()) {
    ASSIGN_OR_RETURN(owner, DefaultAccountOwner());
  }
  ASSIGN_OR_RETURN(const v1::UserView* owner_user, LoadUser("owner_id", owner));
  RETURN_IF_ERROR(RequireStaff(*owner_user, "make the owner of a client"));
  RETURN_IF_ERROR(RequireAccountOwner(*owner_user, "make the owner"));
  v1::ClientView prospective;
  prospective.set_client_id(id);
  prospective.set_owner_id(owner);
  // One who works accounts the owner shared with them (a sales assistant for their AE, seed
  // 000) may open an account in the owner's book too. It is shared with them until the share
  // it comes from ends: as granted by them, not the owner, so that it never counts as the
  // owner's share itself (ShareOfBook), and the owner or a manager may end it.
  std::optional<v1::AccountShare> assists;
  if (absl::Status may =
          Require(v1::CLIENT_MANAGE, prospective, "create a client owned by " + owner);
      !may.ok()) {
    if (actor_.client_id().empty()) assists = ShareOfBook(owner);
    // The owner must still be one who may own it when it commits (checked above).
    if (assists.has_value()) Read(UserStream(owner), owner_user->version());
    if (!assists.has_value()) {
      return absl::PermissionDeniedError(
          absl::StrCat(may.message(), " (or an account of ", owner, "'s shared with you)"));
    }
  }
  if (const v1::ClientView* existing = state_.FindClient(id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("client \"", id, "\" already exists", Taken(existing->deleted())));
  }
  RETURN_IF_ERROR(ClientNameFree(c.name(), id));
  const std::string stream = ClientStream(id);
  v1::ClientCreated* e = Emit(stream, 0).mutable_client_created();
  e->set_client_id(id);
  e->set_name(c.name());
  e->set_kind(c.kind());
  e->set_organization(c.organization());
  e->set_owner_id(owner);
  if (assists.has_value()) {
    v1::ClientShared* shared = Emit(stream, 0).mutable_client_shared();
    shared->set_client_id(id);
    shared->set_user_id(actor_.user_id());
    if (assists->has_until()) *shared->mutable_until() = assists->until();
  }
  Target(stream, 0, id);
  return absl::OkStatus();
}

absl::Status Decider::UpdateClient(const v1::UpdateClient& c) {
  ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(c.client_id()));
  RETURN_IF_ERROR(Require(v1::CLIENT_MANAGE, *client, "update"));
  const std::string& name = c.has_name() ? c.name() : client->name();
  const std::string& kind = c.has_kind() ? c.kind() : client->kind();
  const std::string& org = c.has_organization() ? c.organization() : client->organization();
  RETURN_IF_ERROR(ValidateText("client name", name, kMaxNameBytes, true));
  RETURN_IF_ERROR(ValidateText("client kind", kind, kMaxNameBytes, false));
  RETURN_IF_ERROR(ValidateText("organization", org, kMaxNameBytes, false));
  const std::string stream = ClientStream(client->client_id());
  Target(stream, client->version(), client->client_id());
  if (name == client->name() && kind == client->kind() && org == client->organization()) {
    return absl::OkStatus();
  }
  if (name != client->name()) RETURN_IF_ERROR(ClientNameFree(name, client->client_id()));
  v1::ClientUpdated* e = Emit(stream, client->version()).mutable_client_updated();
  e->set_client_id(client->client_id());
  e->set_name(name);
  e->set_kind(kind);
  e->set_organization(org);
  return absl::OkStatus();
}

// How a contact reads in a message: "Carol Client <carol@acme.example>", with the phone too
// when they have one (a contact may be known by it alone).
std::string ContactName(const v1::Contact& contact) {
  std::string name = contact.email().empty()
                         ? contact.name()
                         : absl::StrCat(contact.name(), " <", contact.email(), ">");
  if (!contact.phone().empty()) absl::StrAppend(&name, " (", contact.phone(), ")");
  return name;
}

absl::Status Decider::AddContact(const v1::AddContact& c) {
  ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(c.client_id()));
  RETURN_IF_ERROR(Require(v1::CLIENT_MANAGE, *client, "add contacts to"));
  RETURN_IF_ERROR(ValidateContact(c.contact()));
  // The same person twice (a command run again without a request id; SamePersonAs). A removed
  // contact brought back under their own id is not refused: their history names them.
  const auto& gone = client->removed_contact_ids();
  const bool back = std::find(gone.begin(), gone.end(), c.contact().contact_id()) != gone.end();
  if (const v1::Contact* known = SamePersonAs(*client, c.contact(), "");
      known != nullptr && !back) {
    return absl::AlreadyExistsError(absl::StrCat(
        "client \"", client->client_id(), "\" already has ", ContactName(*known), " as contact \"",
        known->contact_id(), "\"; change it with UpdateContact (spotflow contact update ",
        client->client_id(), " ", known->contact_id(),
        "), or give a namesake an email and a phone of their own"));
  }
  // A removed contact's id stays theirs: forwards, answers and logins name them.
  const auto& removed = client->removed_contact_ids();
  ASSIGN_OR_RETURN(std::string id, IdOrFromName("contact_id", c.contact().contact_id(),
                                                c.contact().name(), [&](const std::string& id) {
                                                  return FindContact(client, id) != nullptr ||
                                                         std::find(removed.begin(), removed.end(),
                                                                   id) != removed.end();
                                                }));
  if (FindContact(client, id) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("client \"", client->client_id(), "\" already has contact \"", id, "\""));
  }
  const std::string stream = ClientStream(client->client_id());
  v1::ContactAdded* e = Emit(stream, client->version()).mutable_contact_added();
  e->set_client_id(client->client_id());
  *e->mutable_contact() = c.contact();
  e->mutable_contact()->set_contact_id(id);
  Target(stream, client->version(), client->client_id());
  decision_.result.set_sub_id(id);
  return absl::OkStatus();
}

// What an UpdateContact's mask (AIP-134) names, as a mask of Contact's own fields; nullopt
// for the whole contact (an empty mask, "contact" or "*": the contact is replaced). Paths are
// from UpdateContact: "contact.<field>". The id says which contact: it cannot be named.
absl::StatusOr<std::optional<google::protobuf::FieldMask>> ContactFieldsNamed(
    const google::protobuf::FieldMask& mask) {
  const google::protobuf::Descriptor* type = v1::Contact::descriptor();
  google::protobuf::FieldMask named;
  for (const std::string& path : mask.paths()) {
    if (path == "*" || path == "contact") {
      if (mask.paths_size() > 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "update_mask \"", path, "\" stands alone: it names every field of the contact"));
      }
      return std::nullopt;
    }
    absl::string_view name = path;
    const google::protobuf::FieldDescriptor* field =
        absl::ConsumePrefix(&name, "contact.") ? type->FindFieldByName(std::string(name)) : nullptr;
    if (path == "client_id" || (field != nullptr && field->name() == "contact_id")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask names \"", path, "\", which says what to update; it cannot change"));
    }
    if (field == nullptr) {
      std::vector<std::string> fields;
      for (int i = 0; i < type->field_count(); ++i) {
        if (type->field(i)->name() != "contact_id") {
          fields.push_back(absl::StrCat("contact.", type->field(i)->name()));
        }
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask names \"", absl::CHexEscape(path), "\"; a contact's fields are ",
          absl::StrJoin(fields, ", "), " (or \"contact\" for all of them)"));
    }
    named.add_paths(field->name());
  }
  if (named.paths().empty()) return std::nullopt;
  return named;
}

absl::Status Decider::UpdateContact(const v1::UpdateContact& c) {
  ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(c.client_id()));
  RETURN_IF_ERROR(Require(v1::CLIENT_MANAGE, *client, "update the contacts of"));
  ASSIGN_OR_RETURN(std::optional<google::protobuf::FieldMask> fields,
                   ContactFieldsNamed(c.update_mask()));
  RETURN_IF_ERROR(ValidateId("contact_id", c.contact().contact_id()));
  const v1::Contact* current = FindContact(client, c.contact().contact_id());
  if (current == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "client \"", client->client_id(), "\" has no contact \"", c.contact().contact_id(), "\""));
  }
  v1::Contact updated = c.contact();
  if (fields.has_value()) {
    // The named fields from the command (cleared where it leaves them empty), the rest as
    // they are.
    updated = *current;
    google::protobuf::util::FieldMaskUtil::MergeOptions options;
    options.set_replace_message_fields(true);
    options.set_replace_repeated_fields(true);
    google::protobuf::util::FieldMaskUtil::MergeMessageTo(c.contact(), *fields, options, &updated);
  }
  RETURN_IF_ERROR(ValidateContact(updated));
  const std::string stream = ClientStream(client->client_id());
  Target(stream, client->version(), client->client_id());
  decision_.result.set_sub_id(current->contact_id());
  if (current->SerializeAsString() == updated.SerializeAsString()) return absl::OkStatus();
  // An update may not make two contacts one person either (AddContact): one that changes who
  // they are (name, email or phone). Any other (a title) is not refused for a pair there
  // already, such as a removed contact brought back beside a namesake.
  const bool same_person = NameKey(updated.name()) == NameKey(current->name()) &&
                           absl::EqualsIgnoreCase(updated.email(), current->email()) &&
                           updated.phone() == current->phone();
  if (const v1::Contact* known =
          same_person ? nullptr : SamePersonAs(*client, updated, current->contact_id());
      known != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat(
        "client \"", client->client_id(), "\" already has ", ContactName(*known), " as contact \"",
        known->contact_id(), "\": contact \"", current->contact_id(),
        "\" would be the same person; give them an email and a phone of their own, or remove one "
        "of the two (spotflow contact remove ",
        client->client_id(), " ", current->contact_id(), ")"));
  }
  v1::ContactUpdated* e = Emit(stream, client->version()).mutable_contact_updated();
  e->set_client_id(client->client_id());
  *e->mutable_contact() = std::move(updated);
  return absl::OkStatus();
}

absl::Status Decider::RemoveContact(const v1::RemoveContact& c) {
  decision_.turns = {kDirectoryTurn};  // Its rules look across users.
  ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(c.client_id()));
  RETURN_IF_ERROR(Require(v1::CLIENT_DELETE, *client, "delete the contact records of"));
  RETURN_IF_ERROR(ValidateId("contact_id", c.contact_id()));
  if (FindContact(client, c.contact_id()) == nullptr) {
    return absl::NotFoundError(absl::StrCat("client \"", client->client_id(),
                                            "\" has no contact \"", c.contact_id(), "\""));
  }
  // In the client's turn, and each order's it reads: a command in flight on one of them is
  // waited for instead of raced, which on a busy account made the removal decide again until
  // it gave up.
  AlsoInTurnOf(ClientStream(client->client_id()));
  // A revision sent to this contact and not answered would wait for someone no longer on
  // record, and no one could answer for them.
  for (uint64_t position : state_.OrdersOfClient(client->client_id())) {
    const v1::OrderView& order = state_.OrderCreatedAt(position);
    // Archived orders too: they may be restored.
    if (order.deleted() || order.completed()) continue;
    // Read, for a forward to the contact that commits between this decision and the taking
    // of the order's turn (an order's turn keeps no record of who passed through it).
    Read(OrderStream(order.order_id()), order.version());
    AlsoInTurnOf(OrderStream(order.order_id()));
    for (const auto* revisions : {&order.scripts(), &order.spots()}) {
      if (revisions->empty()) continue;
      const v1::Revision& latest = *revisions->rbegin();
      if (latest.reviews().empty()) continue;
      const v1::Review& last = *latest.reviews().rbegin();
      if (last.kind() == v1::FORWARDED_TO_CLIENT && last.contact_id() == c.contact_id() &&
          AwaitsClientAnswer(order, latest.artifact())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "contact \"", c.contact_id(), "\" has not answered on ", latest.artifact(),
            " revision ", latest.number(), " of order ", Name(order),
            "; forward it to another contact or record their answer before removing them"));
      }
    }
  }
  // A login ends with its contact, and only an administrator brings it back: said by the
  // caller, not found afterwards. (Logins are made in the directory's turn, which this takes.)
  if (!c.end_login()) {
    std::vector<std::string> logins;
    for (const v1::UserView* login : ActiveLogins(client->client_id(), c.contact_id())) {
      logins.push_back(login->user_id());
    }
    if (!logins.empty()) {
      return WithErrorInfo(
          absl::FailedPreconditionError(absl::StrCat(
              "contact \"", c.contact_id(), "\" of client \"", client->client_id(),
              "\" has the login ", absl::StrJoin(logins, ", "),
              ", which ends with the contact (deactivated; only an administrator reactivates it): "
              "say so to go ahead (end_login; spotflow contact remove ",
              client->client_id(), " ", c.contact_id(), " --yes)")),
          kEndLoginRequired, {{"logins", absl::StrJoin(logins, ",")}});
    }
  }
  const std::string stream = ClientStream(client->client_id());
  v1::ContactRemoved* e = Emit(stream, client->version()).mutable_contact_removed();
  e->set_client_id(client->client_id());
  e->set_contact_id(c.contact_id());
  Target(stream, client->version(), client->client_id());
  // The contact's own logins speak for someone no longer on record: they end with it.
  DeactivateLogins(client->client_id(), c.contact_id());
  return absl::OkStatus();
}

absl::Status Decider::ShareClient(const v1::ShareClient& c) {
  ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(c.client_id()));
  RETURN_IF_ERROR(Require(v1::CLIENT_MANAGE, *client, "share the account of"));
  // Access is the owner's to give (or a manager's), not passed on by those who received it.
  if (client->owner_id() != actor_.user_id() && ScopeOf(v1::CLIENT_MANAGE) == v1::OWN) {
    return absl::PermissionDeniedError(absl::StrCat(
        "only the owner of client \"", client->client_id(), "\" or a manager may share it"));
  }
  ASSIGN_OR_RETURN(const v1::UserView* user, LoadUser("user_id", c.user_id()));
  RETURN_IF_ERROR(RequireStaff(*user, "share an account with"));
  if (user->user_id() == client->owner_id()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "user \"", user->user_id(), "\" already owns client \"", client->client_id(), "\""));
  }
  if (c.has_until() && ToTime(c.until()) <= now_) {
    return absl::InvalidArgumentError("share access must end in the future (until)");
  }
  const std::string stream = ClientStream(client->client_id());
  v1::ClientShared* e = Emit(stream, client->version()).mutable_client_shared();
  e->set_client_id(client->client_id());
  e->set_user_id(user->user_id());
  if (c.has_until()) *e->mutable_until() = c.until();
  Target(stream, client->version(), client->client_id());
  // A share with an end date, or given by someone other than the owner, in place of the
  // owner's for good: what they passed on through it ends now, not at a date no event marks.
  if (c.has_until() || actor_.user_id() != client->owner_id()) {
    EndSharesPassedOn(*client, user->user_id());
  }
  return absl::OkStatus();
}

absl::Status Decider::UnshareClient(const v1::UnshareClient& c) {
  ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(c.client_id()));
  RETURN_IF_ERROR(Require(v1::CLIENT_MANAGE, *client, "change who shares the account of"));
  if (client->owner_id() != actor_.user_id() && ScopeOf(v1::CLIENT_MANAGE) == v1::OWN) {
    return absl::PermissionDeniedError(absl::StrCat(
        "only the owner of client \"", client->client_id(), "\" or a manager may unshare it"));
  }
  RETURN_IF_ERROR(ValidateId("user_id", c.user_id()));
  const std::string stream = ClientStream(client->client_id());
  Target(stream, client->version(), client->client_id());
  bool shared = false;
  for (const v1::AccountShare& share : client->shares()) shared |= share.user_id() == c.user_id();
  if (!shared) return absl::OkStatus();
  v1::ClientUnshared* e = Emit(stream, client->version()).mutable_client_unshared();
  e->set_client_id(client->client_id());
  e->set_user_id(c.user_id());
  EndSharesPassedOn(*client, c.user_id());
  return absl::OkStatus();
}

absl::Status Decider::DeleteClient(const v1::DeleteClient& c) {
  decision_.turns = {kDirectoryTurn};  // Its rules look across users.
  ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(c.client_id()));
  RETURN_IF_ERROR(Require(v1::CLIENT_DELETE, *client, "delete"));
  int open = 0;
  for (uint64_t position : state_.OrdersOfClient(client->client_id())) {
    if (IsOpen(state_.OrderCreatedAt(position))) ++open;
  }
  if (open > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "client \"", client->client_id(), "\" has ", open,
        " open order(s); complete, archive or delete them before deleting the client"));
  }
  const std::string stream = ClientStream(client->client_id());
  // In the client's turn too, which commands opening an order on it take (Decision::turns).
  AlsoInTurnOf(stream);
  Emit(stream, client->version()).mutable_client_deleted()->set_client_id(client->client_id());
  Target(stream, client->version(), client->client_id());
  DeactivateLogins(client->client_id(), "");  // Its contacts' logins end with it.
  return absl::OkStatus();
}

// For a user with no accounts: the open orders they own nonetheless, all on others' accounts,
// which no account move takes ("; ..."), or "".
std::string Decider::OpenOrdersElsewhere(const v1::UserView& user) const {
  size_t open = 0;
  for (uint64_t position : state_.OrdersOfOwner(user.user_id())) {
    open += IsOpen(state_.OrderCreatedAt(position)) ? 1 : 0;
  }
  if (open == 0) return "";
  return absl::StrCat("; the ", open,
                      open == 1 ? " open order they own is on another's account: move it"
                                : " open orders they own are on others' accounts: move them",
                      " one by one (ReassignOrders; spotflow order reassign ORDERS USER)");
}

absl::Status Decider::ReassignAccounts(const v1::ReassignAccounts& c, bool has_etag) {
  decision_.turns = {kDirectoryTurn};  // Its rules look across users.
  RETURN_IF_ERROR(Require(v1::ACCOUNT_REASSIGN, "reassign accounts"));
  // Who gives the accounts: from_owner, those from_owners names, or, with neither, whoever
  // holds each account named or of the kind (an audience).
  if (!c.from_owner().empty() && !c.from_owners().empty()) {
    return absl::InvalidArgumentError(
        "give from_owner (one user gives the accounts) or from_owners (several do), not both");
  }
  if (c.from_owners_size() == 1) {
    return absl::InvalidArgumentError("from_owners names one user; give them as from_owner");
  }
  const char* from_field = c.from_owners().empty() ? "from_owner" : "from_owners";
  std::vector<std::string> giver_ids(c.from_owners().begin(), c.from_owners().end());
  if (!c.from_owner().empty()) giver_ids.push_back(c.from_owner());
  if (giver_ids.empty() && c.client_ids().empty() &&
      absl::StripAsciiWhitespace(c.client_kind()).empty()) {
    return absl::InvalidArgumentError(
        "name who gives the accounts (from_owner), or the accounts: client_ids, or client_kind "
        "for every account of a kind within your reach, whoever holds it");
  }
  std::vector<const v1::UserView*> givers;
  absl::flat_hash_set<std::string> giving;  // The givers' ids.
  for (const std::string& id : giver_ids) {
    ASSIGN_OR_RETURN(const v1::UserView* from, LoadUser(from_field, id, false));
    if (!giving.insert(from->user_id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", id, "\" is named twice among those giving accounts (from_owners)"));
    }
    // Whose book the caller may move follows from its owner alone (State::Allows): refused
    // here, before the accounts are listed, an answer tells nothing of a book beyond reach
    // (which accounts, of what kind). Each account is checked again below, on the record.
    if (!IsSystem() &&
        !state_.ReachesAsOwner(actor_, ScopeOf(v1::ACCOUNT_REASSIGN), from->user_id())) {
      return Denied(v1::ACCOUNT_REASSIGN,
                    absl::StrCat("reassign the accounts of user \"", from->user_id(), "\""));
    }
    givers.push_back(from);
  }
  // The givers as a person reads them: "ava", or "ava", "ben".
  std::vector<std::string> quoted;
  for (const v1::UserView* from : givers)
    quoted.push_back(absl::StrCat("\"", from->user_id(), "\""));
  const std::string from_names = absl::StrJoin(quoted, ", ");
  // Who takes the accounts: to_owner, or those spread_to names.
  if (!c.spread_to().empty() && !c.to_owner().empty()) {
    return absl::InvalidArgumentError(
        "give to_owner (one user takes every account) or spread_to (several share them), not "
        "both");
  }
  if (c.spread_to_size() == 1) {
    return absl::InvalidArgumentError("spread_to names one user; give them as to_owner");
  }
  if (!c.client_kind().empty() && !c.client_ids().empty()) {
    return absl::InvalidArgumentError(
        "give client_ids (those accounts) or client_kind (the accounts of a kind), not both");
  }
  RETURN_IF_ERROR(ValidateText("client_kind", c.client_kind(), kMaxNameBytes, false));
  // An etag is one record's version: it can guard one account, not several.
  if (has_etag && c.client_ids_size() != 1) {
    return absl::InvalidArgumentError(
        "an etag guards one account; reassign several without one (each is checked at the "
        "version read), or one client at a time (--client ID) with its etag");
  }
  // A kind as people type it: "agency " is "agency".
  const absl::string_view kind = absl::StripAsciiWhitespace(c.client_kind());
  std::vector<const v1::UserView*> takers;
  absl::flat_hash_set<std::string> named;
  const char* field = c.spread_to().empty() ? "to_owner" : "spread_to";
  std::vector<std::string> ids(c.spread_to().begin(), c.spread_to().end());
  if (ids.empty()) ids.push_back(c.to_owner());
  for (const std::string& id : ids) {
    ASSIGN_OR_RETURN(const v1::UserView* to, LoadUser(field, id));
    if (giving.contains(to->user_id())) {
      return absl::InvalidArgumentError(absl::StrCat("\"", to->user_id(), "\" gives the accounts (",
                                                     from_field, ") and is named to take them (",
                                                     field, "); name someone else to take them"));
    }
    if (!named.insert(to->user_id()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", id, "\" is named twice among those to spread the accounts over (spread_to)"));
    }
    RETURN_IF_ERROR(RequireStaff(*to, "give accounts to"));
    RETURN_IF_ERROR(RequireAccountOwner(*to, "give the accounts to"));
    RETURN_IF_ERROR(RequireTeammate(*to, "their accounts"));
    takers.push_back(to);
  }
  std::vector<const v1::ClientView*> clients;
  if (c.client_ids().empty()) {
    // Every account of the givers, or an audience: those of a kind, as people type it. With
    // no giver named, every account of the kind within the caller's reach, but those a taker
    // holds already. `kinds` are those accounts' kinds, whichever, to name when none matches.
    std::set<std::string> kinds;
    bool already = false;  // An audience's account a taker holds: the move is so (a repeat).
    for (const auto& [position, id] : state_.clients_by_creation()) {
      const v1::ClientView* client = state_.FindClient(id);
      if (client->deleted()) continue;
      if (givers.empty()) {
        if (!IsSystem() && !state_.Allows(actor_, v1::ACCOUNT_REASSIGN, *client, now_)) continue;
        if (named.contains(client->owner_id())) {
          already = already || IsOfKind(*client, kind);
          continue;
        }
      } else if (!giving.contains(client->owner_id())) {
        continue;
      }
      kinds.insert(client->kind().empty() ? "no kind set" : absl::AsciiStrToLower(client->kind()));
      if (IsOfKind(*client, kind)) clients.push_back(client);
    }
    if (clients.empty() && !already) {
      // A kind is free text: a misspelt one matches nothing. Name the kinds there are.
      const std::string kinds_there = absl::StrCat(givers.size() == 1 ? "their" : "those",
                                                   " clients' kinds: ", absl::StrJoin(kinds, ", "));
      if (givers.empty()) {
        return absl::FailedPreconditionError(
            absl::StrCat("no client of kind \"", kind,
                         "\" within your reach is held by others than those "
                         "named to take them",
                         kinds.empty() ? "" : absl::StrCat(" (", kinds_there, ")")));
      }
      return absl::FailedPreconditionError(
          absl::StrCat(givers.size() == 1 ? "user " : "users ", from_names,
                       givers.size() == 1 ? " owns" : " own", " no clients",
                       kind.empty() ? "" : absl::StrCat(" of kind \"", kind, "\""), " to reassign",
                       !kinds.empty()       ? absl::StrCat(" (", kinds_there, ")")
                       : givers.size() == 1 ? OpenOrdersElsewhere(*givers.front())
                                            : ""));
    }
  } else {
    absl::flat_hash_set<std::string> seen;
    for (const std::string& id : c.client_ids()) {
      if (!seen.insert(id).second) {
        return absl::InvalidArgumentError(absl::StrCat("client \"", id, "\" is listed twice"));
      }
      ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(id));
      if (c.client_ids_size() == 1) {
        // One account is the command's record: its etag guards it (a repeat with the etag read
        // before the first is then ABORTED, as for any record that changed since).
        decision_.target_stream = ClientStream(client->client_id());
        decision_.target_version = client->version();
      }
      // Already with one who takes the accounts (a repeat of the command): left as it is, as
      // ReassignOrders leaves an order its new owner has already.
      if (named.contains(client->owner_id())) continue;
      if (!givers.empty() && !giving.contains(client->owner_id())) {
        return absl::FailedPreconditionError(
            absl::StrCat("client \"", id, "\" is owned by \"", client->owner_id(), "\", not ",
                         givers.size() == 1 ? "" : "by any of ", from_names,
                         "; it is theirs to give: spotflow accounts reassign ", client->owner_id(),
                         " ", c.to_owner().empty() ? "USER" : c.to_owner(), " --client ", id,
                         !c.has_only_orders()                  ? ""
                         : c.only_orders().order_ids().empty() ? " --no-orders"
                                                               : " --orders ORDERS"));
      }
      // With no giver, the caller's reach is checked before anything of the account is said
      // (its orders, in only_orders' refusals), as a giver's is above.
      if (givers.empty()) RETURN_IF_ERROR(Require(v1::ACCOUNT_REASSIGN, *client, "reassign"));
      clients.push_back(client);
    }
  }
  // Each account's open orders, its owner's and any other giver's (several giving their books
  // at once hand over all their work on the accounts that move), in creation order: they
  // follow their account; completed, archived and deleted ones keep their owner. With
  // only_orders, only those named.
  const bool some_orders = c.has_only_orders();
  if (c.only_orders().order_ids_size() > kMaxOrdersReassigned) {
    return absl::InvalidArgumentError(
        absl::StrCat("only_orders names ", c.only_orders().order_ids_size(),
                     " orders; the limit is ", kMaxOrdersReassigned, " at once"));
  }
  absl::flat_hash_set<std::string> only;  // Order ids.
  const absl::flat_hash_set<std::string> named_clients(c.client_ids().begin(),
                                                       c.client_ids().end());
  for (const std::string& name : c.only_orders().order_ids()) {
    ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrder(name, "only_orders"));
    const bool account_named = named_clients.contains(order->client_id());
    // Already with one who takes the accounts, on an account named (a repeat): as it is.
    if (account_named && named.contains(order->owner_id())) continue;
    const v1::ClientView* account = state_.FindClient(order->client_id());
    // Its account named, but already with one who takes it: nothing moves with it.
    if (account_named && account != nullptr && named.contains(account->owner_id())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "account \"", account->client_id(), "\" is already \"", account->owner_id(),
          "\"'s, so order ", Name(*order),
          " cannot move with it (only_orders); move it on its "
          "own: spotflow order reassign ",
          order->key().empty() ? order->order_id() : order->key(), " ", account->owner_id()));
    }
    const bool on_them = std::any_of(
        clients.begin(), clients.end(),
        [&](const v1::ClientView* client) { return client->client_id() == order->client_id(); });
    if (!IsOpen(*order)) {
      // A finished or archived order keeps its owner, and its credit: no move takes it.
      return absl::FailedPreconditionError(absl::StrCat(
          "order ", Name(*order), " is ", order->archived() ? "archived" : "finished",
          ", so it stays with \"", order->owner_id(),
          "\" (only open orders move, with their accounts or on their own); leave it out of "
          "only_orders"));
    }
    // An order goes with its account from the account's owner, or from another who gives.
    if (!on_them ||
        (order->owner_id() != account->owner_id() && !giving.contains(order->owner_id()))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "order ", Name(*order), " is not an open order of ",
          givers.size() > 1 ? from_names
          : on_them         ? absl::StrCat("\"", account->owner_id(), "\"")
          : givers.empty()  ? std::string("their owners")
                            : from_names,
          " on the accounts moved, so it cannot move with them (only_orders); move it on its "
          "own: spotflow order reassign ",
          order->key().empty() ? order->order_id() : order->key(), " USER"));
    }
    if (!only.insert(order->order_id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("order ", Name(*order), " is named twice in only_orders"));
    }
  }
  std::vector<std::vector<const v1::OrderView*>> open(clients.size());
  for (size_t i = 0; i < clients.size(); ++i) {
    RETURN_IF_ERROR(Require(v1::ACCOUNT_REASSIGN, *clients[i], "reassign"));
    // In each client's turn too: an order opening on it meanwhile would keep the old owner.
    AlsoInTurnOf(ClientStream(clients[i]->client_id()));
    for (uint64_t position : state_.OrdersOfClient(clients[i]->client_id())) {
      const v1::OrderView* order = &state_.OrderCreatedAt(position);
      const bool given =
          order->owner_id() == clients[i]->owner_id() || giving.contains(order->owner_id());
      if (!given || !IsOpen(*order)) continue;
      if (some_orders && !only.contains(order->order_id())) continue;
      open[i].push_back(order);
    }
  }
  // Who takes each account: the one taker; or, spread, the account with the most open orders
  // first, to whoever has the fewest so far, and of those, the fewest accounts given here (so
  // accounts with no open order are shared out too); ties to the one named first.
  std::vector<const v1::UserView*> taker_of(clients.size(), takers.front());
  if (takers.size() > 1) {
    std::vector<std::pair<size_t, size_t>> load;  // Open orders, accounts given here.
    for (const v1::UserView* taker : takers) {
      size_t owned = 0;
      for (uint64_t position : state_.OrdersOfOwner(taker->user_id())) {
        owned += IsOpen(state_.OrderCreatedAt(position)) ? 1 : 0;
      }
      load.emplace_back(owned, 0);
    }
    std::vector<size_t> biggest_first(clients.size());
    for (size_t i = 0; i < clients.size(); ++i) biggest_first[i] = i;
    std::stable_sort(biggest_first.begin(), biggest_first.end(),
                     [&](size_t a, size_t b) { return open[a].size() > open[b].size(); });
    for (size_t i : biggest_first) {
      const size_t least = std::min_element(load.begin(), load.end()) - load.begin();
      taker_of[i] = takers[least];
      load[least].first += open[i].size();
      ++load[least].second;
    }
  }
  int orders = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    const v1::ClientView* client = clients[i];
    const v1::UserView* to = taker_of[i];
    v1::ClientOwnerChanged* e =
        Emit(ClientStream(client->client_id()), client->version()).mutable_client_owner_changed();
    e->set_client_id(client->client_id());
    e->set_old_owner(client->owner_id());
    e->set_new_owner(to->user_id());
    v1::AccountMoved* moved = decision_.result.add_moved_accounts();
    moved->set_client_id(client->client_id());
    moved->set_new_owner(to->user_id());
    moved->set_old_owner(client->owner_id());
  }
  // Then the orders, in creation order across the accounts.
  std::map<uint64_t, size_t> account_of;  // Creation position -> the account's index.
  for (size_t i = 0; i < clients.size(); ++i) {
    for (const v1::OrderView* order : open[i]) account_of[order->created_position()] = i;
  }
  for (const auto& [position, i] : account_of) {
    const v1::UserView* to = taker_of[i];
    const v1::OrderView* order = &state_.OrderCreatedAt(position);
    // In each moved order's turn too, as ReassignOrders: a command on the order in flight is
    // waited for instead of raced, which on a busy book made the reassignment decide again
    // until it gave up.
    AlsoInTurnOf(OrderStream(order->order_id()));
    MoveOrder(*order, to->user_id());
    decision_.result.mutable_moved_accounts(static_cast<int>(i))->add_order_ids(order->order_id());
    ++orders;
  }
  decision_.result.set_id(takers.size() == 1 ? takers.front()->user_id() : "");
  decision_.result.set_sub_id(absl::StrCat(clients.size(),
                                           clients.size() == 1 ? " client, " : " clients, ", orders,
                                           orders == 1 ? " order" : " orders"));
  return absl::OkStatus();
}

absl::Status Decider::ReassignOrders(const v1::ReassignOrders& c, bool has_etag) {
  decision_.turns = {kDirectoryTurn};  // The new owner must stay one who may own orders.
  RETURN_IF_ERROR(Require(v1::ACCOUNT_REASSIGN, "reassign orders"));
  if (c.order_ids().empty()) {
    return absl::InvalidArgumentError(
        "no order named (order_ids); give the orders to reassign, by id or key");
  }
  if (c.order_ids_size() > kMaxOrdersReassigned) {
    return absl::InvalidArgumentError(absl::StrCat(
        "order_ids names ", c.order_ids_size(), " orders; the limit is ", kMaxOrdersReassigned,
        " at once (move a whole book with its accounts: ReassignAccounts; spotflow "
        "accounts reassign FROM TO)"));
  }
  // An etag is one record's version: it can guard one order, not several.
  if (has_etag && c.order_ids_size() > 1) {
    return absl::InvalidArgumentError(
        "an etag guards one order; reassign several without one (each is checked at the "
        "version read), or one at a time with its etag");
  }
  ASSIGN_OR_RETURN(const v1::UserView* to, LoadUser("to_owner", c.to_owner()));
  RETURN_IF_ERROR(RequireStaff(*to, "give orders to"));
  RETURN_IF_ERROR(RequireTeammate(*to, "their orders"));
  if (state_.ScopeOf(*to, v1::ORDER_MANAGE) == v1::SCOPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("user \"", to->user_id(), "\" cannot own orders (no ORDER_MANAGE privilege); ",
                     "give them to someone who can, such as an account executive"));
  }
  absl::flat_hash_set<std::string> seen;
  std::vector<const v1::OrderView*> orders;
  for (const std::string& id : c.order_ids()) {
    ASSIGN_OR_RETURN(const v1::OrderView* order, LoadActiveOrder(id));
    if (!seen.insert(order->order_id()).second) {
      return absl::InvalidArgumentError(absl::StrCat("order ", Name(*order), " is listed twice"));
    }
    RETURN_IF_ERROR(Require(v1::ACCOUNT_REASSIGN, *order, "reassign"));
    if (order->completed()) {
      return absl::FailedPreconditionError(
          absl::StrCat("order ", Name(*order), " is completed: it keeps its owner's credit"));
    }
    orders.push_back(order);
  }
  int moved = 0;
  for (const v1::OrderView* order : orders) {
    const std::string stream = OrderStream(order->order_id());
    AlsoInTurnOf(stream);
    if (order->owner_id() == to->user_id()) {
      // Already theirs: it stays so while the others move (whoever holds an order's turn
      // writes or reads its stream, so the store checks what the decision saw).
      Read(stream, order->version());
      continue;
    }
    MoveOrder(*order, to->user_id());
    ++moved;
  }
  // One order is the target, so an etag can guard it and the answer names it (and its key);
  // several are checked by their versions, and the answer names who took them.
  if (orders.size() == 1) {
    Target(OrderStream(orders[0]->order_id()), orders[0]->version(), orders[0]->order_id());
  } else {
    decision_.result.set_id(to->user_id());
  }
  decision_.result.set_sub_id(absl::StrCat(moved, moved == 1 ? " order" : " orders"));
  return absl::OkStatus();
}

// --- Orders -----------------------------------------------------------------------------------

absl::Status Decider::CreateOrder(const v1::CreateOrder& c) {
  // A client contact's login submits a request for its own company (seed 001): an order like
  // any other, the account owner's, which it names by nothing but its login. The house's
  // staff create orders with ORDER_MANAGE.
  const bool from_client = !actor_.client_id().empty();
  const v1::Privilege privilege = from_client ? v1::REQUEST_SUBMIT : v1::ORDER_MANAGE;
  RETURN_IF_ERROR(Require(privilege, from_client ? "submit requests" : "create orders"));
  if (from_client) {
    if (!c.client_id().empty() && c.client_id() != actor_.client_id()) {
      // Another company's is not there for it (as LoadClient answers).
      return absl::NotFoundError(
          absl::StrCat("client \"", absl::CHexEscape(c.client_id()), "\" not found"));
    }
    if (!c.owner_id().empty()) {
      return absl::InvalidArgumentError(
          "a client's request belongs to its account's owner; leave owner_id out");
    }
    // Ids are the house's to choose: one chosen here would also tell whether an order of
    // that id, another company's too, exists.
    if (!c.order_id().empty()) {
      return absl::InvalidArgumentError(
          "a client's request gets its id from Spotflow; leave order_id out");
    }
    // What the house makes for a request is the house's work (seed 001's agent).
    if (!c.parent_order_id().empty()) {
      return absl::InvalidArgumentError(
          "a client's request is made for nothing else; leave parent_order_id out");
    }
  }
  std::string client_id = from_client ? actor_.client_id() : c.client_id();
  // What the house's setup refuses (its account's owner, its workflows) is the house's to
  // mend: a client's login is told so, not how the house is set up.
  const auto setup = [&](absl::Status status) {
    if (status.ok() || !from_client) return status;
    return absl::FailedPreconditionError(
        "the house cannot take this request now; ask your account's owner to look into it");
  };
  const std::string type_name = c.item_type().empty() ? kProductionOrder : c.item_type();
  const v1::ItemTypeDefinition* type = state_.FindItemType(type_name);
  // A client requests work for itself: of the types that belong to a client and that the
  // house does not keep to itself (the house's own work is not there for it, as GetItemType
  // answers).
  if (type == nullptr || (from_client && !Requestable(*type))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "item type \"", absl::CHexEscape(type_name), "\" does not exist",
        from_client
            ? "; `spotflow type list` lists those you may request"
            : absl::StrCat(DidYouMean(type_name, state_.ItemTypeNames()),
                           "; the item types are: ", absl::StrJoin(state_.ItemTypeNames(), ", "))));
  }
  if (c.kind() != v1::PRODUCTION && c.kind() != v1::PROVIDED) {
    return absl::InvalidArgumentError(
        "kind must be PRODUCTION (spot production needed) or PROVIDED (the client or agency "
        "provides the spot); reuse an archived order with ReuseOrder");
  }
  // An item made for another (a request's media insertion): the parent's type says which
  // types may be made for it, whoever manages the parent makes them, while it is not archived,
  // and one that belongs to a client is for the parent's client. Made in the parent's turn, as
  // it adds to the parent's stream: several made at once for one request wait for each other
  // rather than retry.
  const v1::OrderView* parent = nullptr;
  if (!c.parent_order_id().empty()) {
    ASSIGN_OR_RETURN(parent, LoadActiveOrder(c.parent_order_id()));
    RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, *parent, "make an item for"));
    if (parent->completed()) {
      return absl::FailedPreconditionError(
          absl::StrCat("order ", Name(*parent), " is done (", StateWords(*parent),
                       "); items are made for an order under way: make this one on its own"));
    }
    ASSIGN_OR_RETURN(const v1::ItemTypeDefinition* parent_type, ItemTypeOf(*parent));
    Read(ItemTypeStream(parent_type->name()), parent_type->version());
    const auto& children = parent_type->facets().child_types();
    if (std::find(children.begin(), children.end(), type_name) == children.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "an item of type \"", type_name, "\" is not made for a ", parent->item_type(),
          children.empty()
              ? absl::StrCat("; none is: ask an administrator to name \"", type_name,
                             "\" in the facets.child_types of item type \"", parent->item_type(),
                             "\"")
              : absl::StrCat("; those made for one are of type ", absl::StrJoin(children, ", "))));
    }
    if (parent->child_order_ids_size() >= kMaxChildOrders) {
      return absl::FailedPreconditionError(
          absl::StrCat("order ", Name(*parent), " has ", parent->child_order_ids_size(),
                       " items made for it, the most one order may: make this one for another "
                       "order, or on its own"));
    }
    // A type of the house's own work (no client_link) keeps its items the house's: the
    // client's logins see what is the client's.
    if (client_id.empty() && type->facets().client_link()) {
      client_id = parent->client_id();
    } else if (!client_id.empty() && !parent->client_id().empty() &&
               client_id != parent->client_id()) {
      return absl::InvalidArgumentError(
          absl::StrCat("order ", Name(*parent), " is client \"", parent->client_id(),
                       "\"'s; an item made for it is for the same client: leave client_id out"));
    }
    AlsoInTurnOf(OrderStream(parent->order_id()));
  }
  ASSIGN_OR_RETURN(std::string id, IdOrNew("order_id", c.order_id()));
  RETURN_IF_ERROR(NotAnotherOrdersKey(id));
  RETURN_IF_ERROR(ValidateText("title", c.title(), kMaxNameBytes, true));
  RETURN_IF_ERROR(ValidateText("instructions", c.instructions(), kMaxTextBytes, false));
  if (c.spot_length_seconds() > kMaxSpotSeconds) {
    return absl::InvalidArgumentError(absl::StrCat("spot_length_seconds ", c.spot_length_seconds(),
                                                   " is over the limit of ", kMaxSpotSeconds));
  }
  RETURN_IF_ERROR(FlightFitsType(*type, c.flight_start(), c.flight_end()));
  // A client's login fills in its form: the internal fields are the house's to fill.
  // Choices as the form spells them ("Radio" is "radio"), then checked.
  google::protobuf::Map<std::string, v1::FieldValue> fields = AsPicked(*type, c.fields());
  RETURN_IF_ERROR(ValidateFields(from_client ? FormOf(*type) : *type, fields,
                                 /*require_all=*/true));
  TakeBlanks(&fields);  // An optional text left blank is no value.
  const v1::ClientView* client = nullptr;
  if (type->facets().client_link() || !client_id.empty()) {
    ASSIGN_OR_RETURN(client, LoadClient(client_id));
  }
  // The order belongs to the account's AE, whoever enters it. Only a manager makes someone
  // else its owner: a sharee's own order would outlast the share, and handing one to another
  // is a reassignment (ReassignOrders), which is a manager's.
  std::string owner = c.owner_id();
  if (owner.empty()) owner = client != nullptr ? client->owner_id() : actor_.user_id();
  if (client != nullptr && owner != client->owner_id() && !IsSystem() &&
      ScopeOf(v1::ORDER_MANAGE) != v1::ALL) {
    return absl::PermissionDeniedError(
        absl::StrCat("an order for client \"", client->client_id(), "\" belongs to its owner \"",
                     client->owner_id(), "\"; leave owner_id (--owner) out, or, to make \"", owner,
                     "\" its owner, ", WhomToAsk(v1::ORDER_MANAGE)));
  }
  if (const v1::UserView* holder = state_.FindUser(owner);
      client != nullptr && owner == client->owner_id() && holder != nullptr && !holder->active()) {
    return setup(absl::FailedPreconditionError(absl::StrCat(
        "client \"", client->client_id(), "\"'s owner \"", owner,
        "\" is deactivated; a manager reassigns the account first (ReassignAccounts; spotflow "
        "accounts reassign ",
        owner, " USER --client ", client->client_id(), ")")));
  }
  ASSIGN_OR_RETURN(const v1::UserView* owner_user, LoadUser("owner_id", owner));
  RETURN_IF_ERROR(RequireStaff(*owner_user, "make the owner of an order"));
  if (state_.ScopeOf(*owner_user, v1::ORDER_MANAGE) == v1::SCOPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("user \"", owner, "\" cannot own orders (no ORDER_MANAGE privilege)"));
  }
  const v1::WorkflowDefinition* workflow = state_.FindWorkflow(type->workflow(), 0);
  if (workflow == nullptr) {
    return setup(absl::FailedPreconditionError(
        absl::StrCat("item type \"", type_name, "\" follows workflow \"", type->workflow(),
                     "\", not published")));
  }
  const std::string initial = InitialState(*workflow, c.kind());
  if (initial.empty()) {
    return setup(absl::FailedPreconditionError(
        absl::StrCat("workflow \"", workflow->name(), "\" v", workflow->version(),
                     " has no initial state for ", v1::OrderKind_Name(c.kind()), " orders")));
  }
  // An order that would stop for good on the way (a PRODUCTION order of a type with spots
  // alone meets a script first) is not made: another kind of the type may finish. The type
  // is read: one defined again meanwhile (DefineItemType checks the orders there are) stops
  // this decision.
  RETURN_IF_ERROR(setup(CheckKindFinishes(*type, *workflow, c.kind())));
  Read(ItemTypeStream(type_name), type->version());
  v1::OrderView prospective;
  prospective.set_owner_id(owner);
  if (client != nullptr) prospective.set_client_id(client->client_id());
  RETURN_IF_ERROR(Require(privilege, prospective, "create an order owned by " + owner));
  if (const v1::OrderView* existing = state_.FindOrder(id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("order \"", id, "\" already exists", Taken(existing->deleted())));
  }
  v1::OrderCreated* e = Emit(OrderStream(id), 0).mutable_order_created();
  e->set_order_id(id);
  e->set_item_type(type_name);
  e->set_workflow(workflow->name());
  e->set_workflow_version(workflow->version());
  e->set_kind(c.kind());
  e->set_client_id(prospective.client_id());
  e->set_owner_id(owner);
  e->set_title(c.title());
  e->set_instructions(c.instructions());
  e->set_spot_length_seconds(c.spot_length_seconds());
  if (type->facets().schedule()) {
    *e->mutable_flight_start() = c.flight_start();
    *e->mutable_flight_end() = c.flight_end();
  }
  *e->mutable_fields() = fields;
  e->set_status(initial);
  if (parent != nullptr) {
    // After the child's OrderCreated: a repeat's result is read from the first record.
    e->set_parent_order_id(parent->order_id());
    const std::string stream = OrderStream(parent->order_id());
    v1::ChildOrderAdded* added = Emit(stream, parent->version()).mutable_child_order_added();
    added->set_order_id(parent->order_id());
    added->set_child_order_id(id);
  }
  Target(OrderStream(id), 0, id);
  TakeClientTurn(prospective.client_id());
  return absl::OkStatus();
}

absl::Status Decider::UpdateOrder(const v1::UpdateOrder& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrderWithRoom(c.order_id()));
  RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, *order, "edit"));
  ASSIGN_OR_RETURN(const v1::ItemTypeDefinition* type, ItemTypeOf(*order));
  const std::string& title = c.has_title() ? c.title() : order->title();
  const std::string& instructions = c.has_instructions() ? c.instructions() : order->instructions();
  const uint32_t length =
      c.has_spot_length_seconds() ? c.spot_length_seconds() : order->spot_length_seconds();
  RETURN_IF_ERROR(ValidateText("title", title, kMaxNameBytes, true));
  RETURN_IF_ERROR(ValidateText("instructions", instructions, kMaxTextBytes, false));
  if (length > kMaxSpotSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("spot_length_seconds ", length, " is over the limit of ", kMaxSpotSeconds));
  }
  std::vector<std::string> blank;
  ASSIGN_OR_RETURN(const auto fields, PickFields(*type, c.fields(), &blank));
  const std::vector<std::string> cleared = Held(*order, blank);
  // As SubmitRevision: the latest spot must still fit the slot.
  if (length != order->spot_length_seconds() && length != 0 && !order->spots().empty()) {
    const v1::Revision& latest = order->spots(order->spots_size() - 1);
    if (latest.media().duration_ms() > uint64_t{length} * 1000) {
      return absl::FailedPreconditionError(
          absl::StrCat("order ", Name(*order), "'s latest spot (revision ", latest.number(),
                       ") runs ", latest.media().duration_ms() / 1000.0, " s, longer than ", length,
                       " s; submit a spot that fits first, then change the length"));
    }
  }
  const std::string stream = OrderStream(order->order_id());
  Target(stream, order->version(), order->order_id());
  if (title == order->title() && instructions == order->instructions() &&
      length == order->spot_length_seconds() && Changed(*order, fields).empty() &&
      cleared.empty()) {
    return absl::OkStatus();
  }
  v1::OrderUpdated* e = Emit(stream, order->version()).mutable_order_updated();
  e->set_order_id(order->order_id());
  e->set_title(title);
  e->set_instructions(instructions);
  e->set_spot_length_seconds(length);
  *e->mutable_fields() = fields;
  for (const std::string& field : cleared) e->add_cleared_fields(field);
  return absl::OkStatus();
}

absl::Status Decider::SubmitRevision(const v1::SubmitRevision& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrderWithRoom(c.order_id()));
  RETURN_IF_ERROR(CheckArtifact(*order, c.artifact()));
  RETURN_IF_ERROR(ValidateText("change_note", c.change_note(), kMaxTextBytes, false));
  std::string action;
  if (c.artifact() == "script") {
    RETURN_IF_ERROR(ValidateText("script text", c.text(), kMaxTextBytes, true));
    if (c.has_media() || c.provided_by_client()) {
      return absl::InvalidArgumentError("a script revision carries text, not media");
    }
    action = "submit_script";
  } else {
    RETURN_IF_ERROR(ValidateText("media uri", c.media().uri(), 2048, true));
    RETURN_IF_ERROR(ValidateMediaUri(c.media().uri()));
    RETURN_IF_ERROR(ValidateText("media checksum", c.media().checksum(), 256, false));
    // A duration under a second is seconds given as milliseconds (30 for a :30), not a spot.
    if (c.media().duration_ms() != 0 && c.media().duration_ms() < 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("media duration_ms ", c.media().duration_ms(),
                       " is under a second; it is in milliseconds: a 30 s spot is 30000"));
    }
    if (c.media().duration_ms() > uint64_t{kMaxSpotSeconds} * 1000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "media duration_ms ", c.media().duration_ms(), " is over the limit of ",
          uint64_t{kMaxSpotSeconds} * 1000, " (", kMaxSpotSeconds, " s); give it in milliseconds"));
    }
    if (!c.text().empty())
      return absl::InvalidArgumentError("a spot revision carries media, not text");
    action = c.provided_by_client() ? "upload_spot" : "record_spot";
    // Someone who uploads provided spots but does not record them, on an order whose spot
    // is provided, most likely left out the flag: say so rather than that they may not record.
    if (action == "record_spot" && order->kind() == v1::PROVIDED &&
        HasAction(*order, "upload_spot") && !RequireMayTake(*order, "record_spot").ok() &&
        RequireMayTake(*order, "upload_spot").ok()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "the spot of order ", Name(*order),
          " is provided by the client or agency, and you upload it rather than record it: "
          "send it as provided (provided_by_client; spotflow spot upload ... --provided)"));
    }
  }
  ASSIGN_OR_RETURN(const v1::Transition* transition,
                   Transit(*order, action, c.artifact(), {c.change_note(), "change_note", "note"}));
  // A spot airs in its slot: one that runs longer than the order's length would be cut off.
  // Shorter ones are taken (a :30 that runs 29.5 s); no duration or no length, no check.
  const uint64_t length_ms = uint64_t{order->spot_length_seconds()} * 1000;
  if (c.artifact() == "spot" && length_ms != 0 && c.media().duration_ms() > length_ms) {
    return absl::FailedPreconditionError(
        absl::StrCat("the spot runs ", c.media().duration_ms() / 1000.0, " s, longer than the ",
                     order->spot_length_seconds(), " s order ", Name(*order),
                     " is for; trim it, or first change the order's spot length (UpdateOrder "
                     "spot_length_seconds; spotflow order update ORDER --length SECONDS)"));
  }
  const auto& revisions = c.artifact() == "script" ? order->scripts() : order->spots();
  const uint32_t number = static_cast<uint32_t>(revisions.size()) + 1;
  const std::string stream = OrderStream(order->order_id());
  v1::RevisionSubmitted* e = Emit(stream, order->version()).mutable_revision_submitted();
  e->set_order_id(order->order_id());
  v1::Revision* revision = e->mutable_revision();
  revision->set_artifact(c.artifact());
  revision->set_number(number);
  revision->set_text(c.text());
  if (c.has_media()) *revision->mutable_media() = c.media();
  revision->set_change_note(c.change_note());
  revision->set_provided_by_client(c.provided_by_client());
  e->set_action(action);
  e->set_from_status(transition->from());
  e->set_to_status(transition->to());
  Target(stream, order->version(), order->order_id());
  decision_.result.set_sub_id(absl::StrCat(number));
  return absl::OkStatus();
}

absl::Status Decider::ApproveRevision(const v1::ApproveRevision& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadActiveOrder(c.order_id()));
  RETURN_IF_ERROR(ValidateText("comment", c.comment(), kMaxTextBytes, false));
  RETURN_IF_ERROR(RequireMayTake(*order, absl::StrCat("approve_", c.artifact())));
  ASSIGN_OR_RETURN(const v1::Revision* revision,
                   ReviewedRevision(*order, c.artifact(), c.revision()));
  ASSIGN_OR_RETURN(const v1::Transition* transition,
                   Transit(*order, absl::StrCat("approve_", c.artifact()), c.artifact(),
                           {c.comment(), "comment", "comment"}));
  EmitReview(*order, c.artifact(), revision->number(), v1::APPROVED, *transition)
      ->set_comment(c.comment());
  return absl::OkStatus();
}

absl::Status Decider::RequestChanges(const v1::RequestChanges& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrderWithRoom(c.order_id()));
  RETURN_IF_ERROR(ValidateText("comment (the changes wanted)", c.comment(), kMaxTextBytes, true));
  RETURN_IF_ERROR(RequireMayTake(*order, absl::StrCat("request_", c.artifact(), "_changes")));
  ASSIGN_OR_RETURN(const v1::Revision* revision,
                   ReviewedRevision(*order, c.artifact(), c.revision()));
  ASSIGN_OR_RETURN(const v1::Transition* transition,
                   Transit(*order, absl::StrCat("request_", c.artifact(), "_changes"), c.artifact(),
                           {c.comment(), "comment", "comment"}));
  EmitReview(*order, c.artifact(), revision->number(), v1::CHANGES_REQUESTED, *transition)
      ->set_comment(c.comment());
  return absl::OkStatus();
}

absl::Status Decider::ForwardToClient(const v1::ForwardToClient& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrderWithRoom(c.order_id()));
  RETURN_IF_ERROR(ValidateText("message", c.message(), kMaxTextBytes, false));
  RETURN_IF_ERROR(RequireMayTake(*order, absl::StrCat("forward_", c.artifact())));
  ASSIGN_OR_RETURN(const v1::Revision* revision,
                   ReviewedRevision(*order, c.artifact(), c.revision()));
  RETURN_IF_ERROR(ValidateId("contact_id", c.contact_id()));
  const v1::ClientView* client = state_.FindClient(order->client_id());
  if (FindContact(client, c.contact_id()) == nullptr) {
    return absl::NotFoundError(absl::StrCat("client \"", order->client_id(), "\" has no contact \"",
                                            c.contact_id(), "\""));
  }
  // The contact must still be on record when this commits: a RemoveContact decided in its own
  // turn meanwhile makes this one decide again (and RemoveContact reads the order likewise).
  Read(ClientStream(client->client_id()), client->version());
  ASSIGN_OR_RETURN(const v1::Transition* transition,
                   Transit(*order, absl::StrCat("forward_", c.artifact()), c.artifact(),
                           {c.message(), "message", "message"}));
  v1::RevisionReviewed* e =
      EmitReview(*order, c.artifact(), revision->number(), v1::FORWARDED_TO_CLIENT, *transition);
  e->set_contact_id(c.contact_id());
  e->set_comment(c.message());
  return absl::OkStatus();
}

absl::Status Decider::RecordClientAnswer(const v1::RecordClientAnswer& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrderWithRoom(c.order_id()));
  RETURN_IF_ERROR(ValidateText("comment", c.comment(), kMaxTextBytes, /*required=*/!c.approved()));
  // The contact answers with their own login, or a user records the answer on their behalf.
  const bool own_login = !actor_.contact_id().empty() && actor_.client_id() == order->client_id();
  const std::string action = c.approved()
                                 ? absl::StrCat("client_approve_", c.artifact())
                                 : absl::StrCat("client_request_", c.artifact(), "_changes");
  const v1::Privilege privilege =
      own_login ? v1::PRIVILEGE_UNSPECIFIED : OnBehalfPrivilege(c.approved());
  RETURN_IF_ERROR(RequireMayTake(*order, action, privilege));
  if (own_login) {
    // A contact sees only the revisions forwarded to them (ForContact): of any other, not
    // even that it is approved or superseded.
    const auto& revisions = c.artifact() == "spot" ? order->spots() : order->scripts();
    const bool theirs = std::any_of(revisions.begin(), revisions.end(), [&](const v1::Revision& r) {
      return r.number() == c.revision() &&
             std::any_of(r.reviews().begin(), r.reviews().end(), [&](const v1::Review& review) {
               return review.kind() == v1::FORWARDED_TO_CLIENT &&
                      review.contact_id() == actor_.contact_id();
             });
    });
    if (!theirs) {
      return absl::NotFoundError(absl::StrCat("order ", Name(*order), " has no ", c.artifact(),
                                              " revision ", c.revision(), " forwarded to you"));
    }
    // Theirs, but a later one was written since, which they may never have been sent: not
    // which, nor how many (ReviewedRevision would name it).
    if (c.revision() != static_cast<uint32_t>(revisions.size())) {
      return absl::FailedPreconditionError(
          absl::StrCat(c.artifact(), " revision ", c.revision(), " of order ", Name(*order),
                       " no longer waits for your answer: the house has revised it since"));
    }
  }
  ASSIGN_OR_RETURN(const v1::Revision* revision,
                   ReviewedRevision(*order, c.artifact(), c.revision()));
  std::string contact_id = own_login ? actor_.contact_id() : c.contact_id();
  if (own_login && !c.contact_id().empty() && c.contact_id() != contact_id) {
    return absl::PermissionDeniedError("a contact answers only for themselves");
  }
  if (contact_id.empty()) {
    // Recorded on someone's behalf without naming them: the contact it was last sent to.
    for (const v1::Review& review : revision->reviews()) {
      if (review.kind() == v1::FORWARDED_TO_CLIENT) contact_id = review.contact_id();
    }
    if (contact_id.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(c.artifact(), " revision ", revision->number(), " of order ", Name(*order),
                       " was not forwarded to the client; forward it first"));
    }
  }
  RETURN_IF_ERROR(ValidateId("contact_id", contact_id));
  if (FindContact(state_.FindClient(order->client_id()), contact_id) == nullptr) {
    const bool was_sent = std::any_of(
        revision->reviews().begin(), revision->reviews().end(), [&](const v1::Review& review) {
          return review.kind() == v1::FORWARDED_TO_CLIENT && review.contact_id() == contact_id;
        });
    if (!was_sent) {  // A typo, or another client's contact: as ForwardToClient says it.
      return absl::NotFoundError(
          absl::StrCat("client \"", order->client_id(), "\" has no contact \"", contact_id, "\""));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("contact \"", contact_id, "\" is no longer on record at client \"",
                     order->client_id(), "\"; an answer comes from a contact of the client"));
  }
  bool forwarded = false;
  for (const v1::Review& review : revision->reviews()) {
    forwarded |= review.kind() == v1::FORWARDED_TO_CLIENT && review.contact_id() == contact_id;
  }
  if (!forwarded) {
    return absl::FailedPreconditionError(
        absl::StrCat(c.artifact(), " revision ", revision->number(), " of order ", Name(*order),
                     " was not forwarded to contact \"", contact_id, "\""));
  }
  ASSIGN_OR_RETURN(
      const v1::Transition* transition,
      Transit(*order, action, c.artifact(), {c.comment(), "comment", "comment"}, privilege));
  v1::RevisionReviewed* e =
      EmitReview(*order, c.artifact(), revision->number(),
                 c.approved() ? v1::CLIENT_APPROVED : v1::CLIENT_CHANGES_REQUESTED, *transition);
  e->set_contact_id(contact_id);
  e->set_comment(c.comment());
  if (!own_login) decision_.on_behalf_of = contact_id;
  return absl::OkStatus();
}

absl::Status Decider::PerformAction(const v1::PerformAction& c) {
  // Fields given add to the order, as UpdateOrder does: not to one that is full.
  ASSIGN_OR_RETURN(const v1::OrderView* order, c.fields().empty()
                                                   ? LoadActiveOrder(c.order_id())
                                                   : LoadOrderWithRoom(c.order_id()));
  RETURN_IF_ERROR(ValidateId("action", c.action()));
  RETURN_IF_ERROR(ValidateText("comment", c.comment(), kMaxTextBytes, false));
  // An action on a revision names the revision, which only its own command carries. A name
  // the workflow does not have is a typo, which Transit answers with the actions there are.
  if (HasRevisionActionPrefix(c.action()) && HasAction(*order, c.action())) {
    const std::string& a = c.action();
    // The command, and the CLI's verb for it (as other messages name `spotflow client list`).
    const char* command = absl::StartsWith(a, "approve_")   ? "ApproveRevision; spotflow approve"
                          : absl::StartsWith(a, "request_") ? "RequestChanges; spotflow changes"
                          : absl::StartsWith(a, "forward_") ? "ForwardToClient; spotflow forward"
                          : absl::StartsWith(a, "client_")
                              ? "RecordClientAnswer; spotflow client-answer"
                              : "SubmitRevision; spotflow script submit or spot upload";
    return absl::InvalidArgumentError(absl::StrCat("action \"", a,
                                                   "\" acts on a revision; use its own command (",
                                                   command, "), which names the revision"));
  }
  // Fields given with the step: set as UpdateOrder sets them, and seen by the step's checks.
  const v1::OrderView* acted = order;
  v1::OrderView with_fields;
  google::protobuf::Map<std::string, v1::FieldValue> fields;
  std::vector<std::string> blank;        // Fields given blank.
  std::vector<std::string> given_blank;  // Of those, the ones the order holds: cleared.
  if (!c.fields().empty()) {
    // Who may never take the step hears that, not that they may not set fields.
    RETURN_IF_ERROR(RequireMayTake(*order, c.action()));
    RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, *order, "set the fields of"));
    ASSIGN_OR_RETURN(const v1::ItemTypeDefinition* type, ItemTypeOf(*order));
    ASSIGN_OR_RETURN(const auto picked, PickFields(*type, c.fields(), &blank));
    fields = Changed(*order, picked);  // A value given as it stands is no edit.
    given_blank = Held(*order, blank);
    with_fields = *order;
    for (const auto& [name, value] : fields) (*with_fields.mutable_fields())[name] = value;
    for (const std::string& name : given_blank) with_fields.mutable_fields()->erase(name);
    acted = &with_fields;
  }
  ASSIGN_OR_RETURN(const v1::Transition* transition,
                   Transit(*acted, c.action(), "", {c.comment(), "comment", "comment"}));
  for (const std::string& field : transition->clears_fields()) {
    // Given blank, it is cleared as the step would clear it: no conflict.
    if (c.fields().contains(field) && std::find(blank.begin(), blank.end(), field) == blank.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "action \"", c.action(), "\" clears field ", field,
          ", so it takes no value for it; set it after the step (spotflow order update ",
          order->key().empty() ? order->order_id() : order->key(), " --field ", field, "=VALUE)"));
    }
  }
  const std::string stream = OrderStream(order->order_id());
  if (!fields.empty()) *StepUpdate(*order)->mutable_fields() = std::move(fields);
  if (!given_blank.empty()) {
    v1::OrderUpdated* update = StepUpdate(*order);
    for (const std::string& field : given_blank) update->add_cleared_fields(field);
  }
  v1::OrderTransitioned* e = Emit(stream, order->version()).mutable_order_transitioned();
  e->set_order_id(order->order_id());
  e->set_action(c.action());
  e->set_from_status(transition->from());
  e->set_to_status(transition->to());
  e->set_comment(c.comment());
  Target(stream, order->version(), order->order_id());
  return absl::OkStatus();
}

absl::Status Decider::RequestFlightChange(const v1::RequestFlightChange& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrderWithRoom(c.order_id()));
  RETURN_IF_ERROR(Require(v1::FLIGHT_CHANGE_REQUEST, *order, "request a flight-date change on"));
  ASSIGN_OR_RETURN(const v1::ItemTypeDefinition* type, ItemTypeOf(*order));
  if (!type->facets().schedule()) {
    return absl::FailedPreconditionError(
        absl::StrCat("a ", order->item_type(), " has no flight dates"));
  }
  RETURN_IF_ERROR(ValidateFlight(c.new_start(), c.new_end()));
  RETURN_IF_ERROR(FlightNotOver("new_end", c.new_end()));
  RETURN_IF_ERROR(ValidateText("reason", c.reason(), kMaxTextBytes, false));
  if (CompareDates(c.new_start(), order->flight_start()) == 0 &&
      CompareDates(c.new_end(), order->flight_end()) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("order ", Name(*order), " already flies ",
                                                   FormatDate(c.new_start()), " to ",
                                                   FormatDate(c.new_end())));
  }
  if (const v1::FlightChange* pending = PendingFlightChange(*order)) {
    return absl::FailedPreconditionError(
        absl::StrCat("order ", Name(*order), " already has flight change ", pending->request_id(),
                     " waiting for a decision; decide, reject or withdraw it first"));
  }
  // Numbered within the order, as revisions are, so people can type it: requests are never
  // removed, so the count names a new one (earlier ones were drawn ids, none a number).
  const std::string request_id = absl::StrCat(order->flight_changes_size() + 1);
  const std::string stream = OrderStream(order->order_id());
  v1::FlightChangeRequested* e = Emit(stream, order->version()).mutable_flight_change_requested();
  e->set_order_id(order->order_id());
  e->set_request_id(request_id);
  *e->mutable_new_start() = c.new_start();
  *e->mutable_new_end() = c.new_end();
  e->set_reason(c.reason());
  Target(stream, order->version(), order->order_id());
  decision_.result.set_sub_id(request_id);
  return absl::OkStatus();
}

absl::Status Decider::DecideFlightChange(const v1::DecideFlightChange& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadActiveOrder(c.order_id()));
  RETURN_IF_ERROR(Require(v1::FLIGHT_CHANGE_DECIDE, *order, "decide flight-date changes on"));
  RETURN_IF_ERROR(ValidateText("comment", c.comment(), kMaxTextBytes, false));
  RETURN_IF_ERROR(RequirePending(*order, c.request_id()));
  // Dates that passed while the request waited cannot be granted: the order would fly a
  // flight that is over (as a request for them is refused).
  if (const v1::FlightChange* pending = PendingFlightChange(*order);
      c.approved() && pending != nullptr && IsOver(pending->new_end())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "flight change ", c.request_id(), " asks for ", FormatDate(pending->new_start()), " to ",
        FormatDate(pending->new_end()), ", which is over (today is ",
        absl::FormatCivilTime(Today()), " UTC); reject it, and ask for new dates if needed"));
  }
  const std::string stream = OrderStream(order->order_id());
  v1::FlightChangeDecided* e = Emit(stream, order->version()).mutable_flight_change_decided();
  e->set_order_id(order->order_id());
  e->set_request_id(c.request_id());
  e->set_approved(c.approved());
  e->set_comment(c.comment());
  Target(stream, order->version(), order->order_id());
  decision_.result.set_sub_id(c.request_id());
  return absl::OkStatus();
}

absl::Status Decider::WithdrawFlightChange(const v1::WithdrawFlightChange& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadActiveOrder(c.order_id()));
  RETURN_IF_ERROR(Require(v1::FLIGHT_CHANGE_REQUEST, *order, "withdraw flight-date changes on"));
  RETURN_IF_ERROR(ValidateText("comment", c.comment(), kMaxTextBytes, false));
  RETURN_IF_ERROR(RequirePending(*order, c.request_id()));
  const std::string stream = OrderStream(order->order_id());
  v1::FlightChangeWithdrawn* e = Emit(stream, order->version()).mutable_flight_change_withdrawn();
  e->set_order_id(order->order_id());
  e->set_request_id(c.request_id());
  e->set_comment(c.comment());
  Target(stream, order->version(), order->order_id());
  decision_.result.set_sub_id(c.request_id());
  return absl::OkStatus();
}

absl::Status Decider::RequirePending(const v1::OrderView& order,
                                     const std::string& request_id) const {
  RETURN_IF_ERROR(ValidateId(
      "the flight change's request_id (the sub_id RequestFlightChange returned)", request_id));
  for (const v1::FlightChange& change : order.flight_changes()) {
    if (change.request_id() != request_id) continue;
    if (change.status() != v1::PENDING) {
      return absl::FailedPreconditionError(
          absl::StrCat("flight change \"", request_id, "\" was already ",
                       change.status() == v1::GRANTED    ? "approved"
                       : change.status() == v1::REJECTED ? "rejected"
                                                         : "withdrawn"));
    }
    return absl::OkStatus();
  }
  return absl::NotFoundError(
      absl::StrCat("order ", Name(order), " has no flight change \"", request_id, "\""));
}

absl::Status Decider::ShareOrder(const std::string& order_id, const std::string& user_id,
                                 bool share) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadActiveOrder(order_id));
  RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, *order, share ? "share" : "unshare"));
  // Access is passed on by those the order belongs to (its owner, its account's owner, a
  // manager) and by whom the account's owner shared the account with for good (the AE's
  // assistant); not by those the order was shared with, who may only leave it, nor by whom the
  // account is shared with until a date (the order share would outlast theirs), nor through a
  // share that came with the account from a previous owner (as ShareOfBook).
  const v1::ClientView* client = state_.FindClient(order->client_id());
  const bool leaving = !share && user_id == actor_.user_id();
  const v1::AccountShare* account_share = nullptr;
  if (client != nullptr) {
    for (const v1::AccountShare& s : client->shares()) {
      if (s.user_id() == actor_.user_id() && (!s.has_until() || ToTime(s.until()) > now_)) {
        account_share = &s;
      }
    }
  }
  const v1::Scope scope = ScopeOf(v1::ORDER_MANAGE);
  const bool order_is_theirs = IsSystem() || order->owner_id() == actor_.user_id() ||
                               scope == v1::ALL ||
                               (scope == v1::TEAM && state_.Manages(actor_, order->owner_id())) ||
                               (client != nullptr && client->owner_id() == actor_.user_id());
  const bool standing_share = account_share != nullptr && !account_share->has_until() &&
                              account_share->granted_by() == client->owner_id();
  const bool passes_on = leaving || order_is_theirs || standing_share;
  // Passed on by the account's share alone, it ends with that share (EndSharesPassedOn):
  // decided in the client's turn, which an unshare takes, so neither passes the other unseen.
  const bool through_account_share = share && !order_is_theirs && standing_share;
  if (!passes_on) {
    const std::string ask =
        absl::StrCat("; ask its owner \"", order->owner_id(), "\" or a manager");
    if (account_share != nullptr) {
      const std::string held =
          account_share->has_until()
              ? absl::StrCat(" until ",
                             absl::FormatTime("%Y-%m-%d %H:%M UTC", ToTime(account_share->until()),
                                              absl::UTCTimeZone()))
              : absl::StrCat(" through a share from \"", account_share->granted_by(),
                             "\", not from its owner \"", client->owner_id(), "\"");
      return absl::PermissionDeniedError(
          absl::StrCat("user \"", actor_.user_id(), "\" holds client \"", client->client_id(), "\"",
                       held, " and works on its orders, but ",
                       share ? "does not share them on: an order share would outlast theirs"
                             : "does not unshare others: that is the owner's",
                       ask));
    }
    return absl::PermissionDeniedError(absl::StrCat(
        "order ", Name(*order), " was shared with user \"", actor_.user_id(),
        "\", who may leave it but not ", share ? "share it on" : "unshare others", ask));
  }
  // Passing it on, but as the order's owner (the order stream, which the write checks), rests
  // on the account too (its owner, the actor's share of it) and, through a team, on the
  // owner's record: an unshare or a move that commits first stops it.
  if (client != nullptr && !leaving && order->owner_id() != actor_.user_id()) {
    ReadGrounds(v1::ORDER_MANAGE, *client, order->owner_id());
  }
  ASSIGN_OR_RETURN(const v1::UserView* user,
                   LoadUser("user_id", user_id, /*must_be_active=*/share));
  if (share) RETURN_IF_ERROR(RequireStaff(*user, "share an order with"));
  if (share && user->user_id() == order->owner_id()) {
    return absl::InvalidArgumentError(absl::StrCat("user \"", user->user_id(), "\" owns order ",
                                                   Name(*order), "; share it with someone else"));
  }
  const std::string stream = OrderStream(order->order_id());
  Target(stream, order->version(), order->order_id());
  const bool participant = std::find(order->participants().begin(), order->participants().end(),
                                     user->user_id()) != order->participants().end();
  // Shared already, but through another's account share alone: shared again on other grounds
  // (its owner's, say), it no longer ends with that account share.
  const bool regrounds =
      share && participant && !through_account_share &&
      std::any_of(order->participant_shares().begin(), order->participant_shares().end(),
                  [&](const v1::OrderShare& s) {
                    return s.user_id() == user->user_id() && s.through_account_share();
                  });
  if (participant == share && !regrounds) return absl::OkStatus();
  if (regrounds) {
    // As the history tells it: the share through the account ends, the owner's begins.
    v1::OrderUnshared* ended = Emit(stream, order->version()).mutable_order_unshared();
    ended->set_order_id(order->order_id());
    ended->set_user_id(user->user_id());
  }
  v1::DomainEvent& event = Emit(stream, order->version());
  if (share) {
    event.mutable_order_shared()->set_order_id(order->order_id());
    event.mutable_order_shared()->set_user_id(user->user_id());
    event.mutable_order_shared()->set_through_account_share(through_account_share);
    if (through_account_share) TakeClientTurn(client->client_id());  // Its account is read.
  } else {
    event.mutable_order_unshared()->set_order_id(order->order_id());
    event.mutable_order_unshared()->set_user_id(user->user_id());
  }
  return absl::OkStatus();
}

absl::Status Decider::AssignProducer(const v1::AssignProducer& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadActiveOrder(c.order_id()));
  if (order->completed() && !c.user_id().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "order ", Name(*order), " is done (", StateWords(*order), "): no one new is assigned to it",
        order->producer_id().empty()
            ? ""
            : absl::StrCat(" (\"", order->producer_id(), "\" stays the one who worked on it)")));
  }
  if (c.user_id().empty()) {
    // No producer: whoever manages the order takes its producer off; a producer may hand
    // back an order assigned to them. It then waits for any producer again.
    if (order->producer_id() != actor_.user_id()) {
      RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, *order, "unassign the producer of"));
    }
    const std::string stream = OrderStream(order->order_id());
    Target(stream, order->version(), order->order_id());
    if (order->producer_id().empty()) return absl::OkStatus();
    v1::ProducerAssigned* e = Emit(stream, order->version()).mutable_producer_assigned();
    e->set_order_id(order->order_id());
    e->set_old_producer_id(order->producer_id());
    return absl::OkStatus();
  }
  // Whoever manages the order assigns its producer, or for an item without revisions (a
  // marketing request, seed 001) its responsible: someone who may take a step of its
  // workflow. Either may take an order nobody has.
  ASSIGN_OR_RETURN(const v1::ItemTypeDefinition* type, ItemTypeOf(*order));
  const bool revisions = !type->facets().artifacts().empty();
  ASSIGN_OR_RETURN(const v1::WorkflowDefinition* workflow, WorkflowOf(*order));
  // The steps left: those from the order's state and from every state it may still reach. A
  // responsible is someone who may take one (MayBeResponsible).
  const std::vector<const v1::Transition*> ahead =
      revisions ? std::vector<const v1::Transition*>() : StepsAhead(*workflow, order->status());
  const auto may_work_on = [&](const v1::UserView& user) {
    return MayBeResponsible(user, revisions, ahead);
  };
  const bool self =
      c.user_id() == actor_.user_id() && order->producer_id().empty() && may_work_on(actor_);
  if (!self) {
    RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, *order,
                            revisions ? "assign a producer to" : "assign a responsible to"));
  }
  ASSIGN_OR_RETURN(const v1::UserView* user, LoadUser("user_id", c.user_id()));
  if (!may_work_on(*user)) {
    if (revisions) {
      return absl::InvalidArgumentError(absl::StrCat(
          "user \"", user->user_id(), "\" is not a producer (no REVISION_WRITE privilege)"));
    }
    std::set<std::string> needed;
    for (const v1::Transition* t : ahead) {
      needed.insert(absl::StrCat(
          v1::Privilege_Name(t->privilege()),
          t->roles().empty() ? ""
                             : absl::StrCat(" (role ", absl::StrJoin(t->roles(), " or "), ")")));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "user \"", user->user_id(), "\" may take none of the steps still ahead of order ",
        Name(*order), " (in state \"", order->status(), "\"), which need ",
        absl::StrJoin(needed, "; or "), ": make someone who holds one its responsible"));
  }
  const std::string stream = OrderStream(order->order_id());
  Target(stream, order->version(), order->order_id());
  if (order->producer_id() == user->user_id()) return absl::OkStatus();
  v1::ProducerAssigned* e = Emit(stream, order->version()).mutable_producer_assigned();
  e->set_order_id(order->order_id());
  e->set_old_producer_id(order->producer_id());
  e->set_new_producer_id(user->user_id());
  return absl::OkStatus();
}

absl::Status Decider::AddComment(const v1::AddComment& c) {
  // A client's login comments on a request it submitted, for the client; the house's people
  // on what they manage, for themselves or for the client.
  const bool from_client = !actor_.client_id().empty();
  ASSIGN_OR_RETURN(const v1::OrderView* order,
                   from_client ? LoadActiveOrder(c.order_id()) : LoadOrderWithRoom(c.order_id()));
  if (from_client) {
    RETURN_IF_ERROR(Require(v1::REQUEST_SUBMIT, *order, "comment on"));
    if (order->created_by() != actor_.user_id()) {
      return absl::PermissionDeniedError(
          absl::StrCat("user \"", actor_.user_id(), "\" speaks for client \"", actor_.client_id(),
                       "\" and comments only on the requests it submitted; order ", Name(*order),
                       " is not one of them: ask your account's owner"));
    }
    // Its comments have a room of their own, so that they never fill the order the house
    // works in (kMaxOrderBytes), and it is told of its own, not of the order's size.
    size_t own = c.text().size();
    for (const v1::Comment& comment : order->comments()) {
      if (comment.author() == actor_.user_id()) own += comment.text().size();
    }
    if (c.text().size() > kMaxClientCommentBytes) {
      return absl::InvalidArgumentError(absl::StrCat("the comment is ", c.text().size(),
                                                     " bytes; a client's comment is at most ",
                                                     kMaxClientCommentBytes));
    }
    if (own > kMaxClientCommentsBytes || order->ByteSizeLong() >= kMaxOrderBytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "your comments on order ", Name(*order), " would pass ", kMaxClientCommentsBytes,
          " bytes, the most a client's comments on one request may: ask your account's owner"));
    }
  } else {
    RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, *order, "comment on"));
    if (c.for_client() && order->client_id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("order ", Name(*order),
                       " belongs to no client: a comment for the client has no one "
                       "to read it; leave for_client out"));
    }
  }
  RETURN_IF_ERROR(ValidateText("comment text", c.text(), kMaxTextBytes, true));
  const std::string id = NewId();
  const std::string stream = OrderStream(order->order_id());
  v1::CommentAdded* e = Emit(stream, order->version()).mutable_comment_added();
  e->set_order_id(order->order_id());
  e->set_comment_id(id);
  e->set_text(c.text());
  e->set_for_client(from_client || c.for_client());
  e->set_by_client(from_client);
  Target(stream, order->version(), order->order_id());
  decision_.result.set_sub_id(id);
  return absl::OkStatus();
}

absl::Status Decider::SetArchived(const std::string& order_id, bool archived) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrder(order_id));
  RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, *order, archived ? "archive" : "restore"));
  if (order->archived() == archived) {
    return absl::FailedPreconditionError(absl::StrCat(
        "order ", Name(*order), archived ? " is already archived" : " is not archived"));
  }
  // A request is not set aside while the work made for it goes on.
  if (archived) RETURN_IF_ERROR(RequireNoItemsUnderWay(*order, "is archived after them"));
  // An archived order takes no decision: the request would wait for one for good.
  if (const v1::FlightChange* pending = PendingFlightChange(*order); archived && pending) {
    return absl::FailedPreconditionError(
        absl::StrCat("order ", Name(*order), " has flight change ", pending->request_id(),
                     " waiting for a decision; decide or withdraw it before archiving the order"));
  }
  // An item made for a request opens again while the request stands (finished or not), not
  // under one set aside or deleted, which its work would outlive unseen; the decision rests on
  // the request as read.
  if (const v1::OrderView* parent = !archived && !order->parent_order_id().empty()
                                        ? state_.FindOrder(order->parent_order_id())
                                        : nullptr) {
    Read(OrderStream(parent->order_id()), parent->version());
    if (parent->archived() || parent->deleted()) {
      const bool seen = IsSystem() || (!parent->deleted() && state_.CanSee(actor_, *parent, now_));
      return absl::FailedPreconditionError(
          absl::StrCat("order ", Name(*order), " was made for ",
                       seen ? absl::StrCat("order ", Name(*parent)) : "an order",
                       parent->deleted() ? " that was deleted; it stays archived"
                                         : ", which is archived: restore that one first"));
    }
  }
  if (!archived && !order->client_id().empty()) {
    // A deleted client's orders stay archived: none opens again on it.
    const v1::ClientView* client = state_.FindClient(order->client_id());
    if (client == nullptr || client->deleted()) {
      return absl::FailedPreconditionError(
          absl::StrCat("order ", Name(*order), "'s client \"", order->client_id(),
                       "\" was deleted; its orders stay archived, to be read (an order for "
                       "another client starts with spotflow order create)"));
    }
    // An order opens again only in the hands of an owner who still stands on its account
    // (StandsOnAccount), and is active: else a manager restores it, and may reassign it.
    if (!IsSystem() && ScopeOf(v1::ORDER_MANAGE) != v1::ALL) {
      const std::string manager = "a manager over all orders (ORDER_MANAGE at scope ALL)";
      const v1::UserView* owner = state_.FindUser(order->owner_id());
      if (owner == nullptr || !owner->active()) {
        return absl::PermissionDeniedError(
            absl::StrCat("order ", Name(*order), "'s owner \"", order->owner_id(), "\" is ",
                         owner == nullptr ? "not a user" : "deactivated", "; ", manager,
                         " restores it, and may reassign it"));
      }
      if (!StandsOnAccount(*owner, *order, *client)) {
        return absl::PermissionDeniedError(absl::StrCat(
            "order ", Name(*order), "'s owner \"", order->owner_id(),
            "\" no longer holds its client \"", client->client_id(), "\" (now \"",
            client->owner_id(), "\"'s); ", manager, " restores it, and may reassign it"));
      }
      // Both rest on the owner's record (being active), and StandsOnAccount on the account.
      Read(UserStream(owner->user_id()), owner->version());
    }
  }
  const std::string stream = OrderStream(order->order_id());
  v1::DomainEvent& event = Emit(stream, order->version());
  if (archived) {
    event.mutable_order_archived()->set_order_id(order->order_id());
  } else {
    event.mutable_order_restored()->set_order_id(order->order_id());
  }
  Target(stream, order->version(), order->order_id());
  if (!archived) TakeClientTurn(order->client_id());
  return absl::OkStatus();
}

absl::Status Decider::DeleteOrder(const v1::DeleteOrder& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* order, LoadOrder(c.order_id()));
  RETURN_IF_ERROR(Require(v1::ORDER_DELETE, *order, "delete"));
  // An old owner still sees the orders they had on an account that moved since (their credit,
  // their history), but deleting them is for who stands on the account now, or a manager.
  if (const v1::ClientView* client = state_.FindClient(order->client_id());
      client != nullptr && !IsSystem() && ScopeOf(v1::ORDER_DELETE) != v1::ALL &&
      !StandsOnAccount(actor_, *order, *client)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "order ", Name(*order), " is on client \"", client->client_id(), "\", which user \"",
        actor_.user_id(), "\" no longer holds (now \"", client->owner_id(),
        "\"'s); who holds it, or a manager over all orders, deletes it"));
  }
  // Its items would lose what they were made for while someone still works on them.
  RETURN_IF_ERROR(RequireNoItemsUnderWay(*order, "is deleted after them"));
  const std::string stream = OrderStream(order->order_id());
  Emit(stream, order->version()).mutable_order_deleted()->set_order_id(order->order_id());
  Target(stream, order->version(), order->order_id());
  return absl::OkStatus();
}

namespace {

// What a reused spot's carried-over approval says: the approval it stands on and whose it was,
// so that the new order's history names the approver, not whoever reused the spot.
std::string CarriedApproval(const v1::Revision& spot, const std::string& source) {
  std::string by, carried;
  for (const v1::Review& review : spot.reviews()) {  // The last approval counts.
    if (review.kind() == v1::APPROVED) {
      by = review.by().empty() ? "" : absl::StrCat(" by ", review.by());
      carried.clear();
    } else if (review.kind() == v1::CLIENT_APPROVED) {
      by = absl::StrCat(" by the client's contact ", review.contact_id());
      carried.clear();
    } else if (review.kind() == v1::CARRIED_OVER) {
      carried = review.comment();  // Reused before: the approval it carried, and whose.
    }
  }
  if (!carried.empty()) return carried;
  return absl::StrCat("approved", by, " as spot revision ", spot.number(), " of order ", source);
}

}  // namespace

absl::Status Decider::ReuseOrder(const v1::ReuseOrder& c) {
  ASSIGN_OR_RETURN(const v1::OrderView* source, LoadOrder(c.source_order_id()));
  RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, *source, "reuse"));
  if (!source->archived()) {
    return absl::FailedPreconditionError(
        absl::StrCat("order ", Name(*source), " is not archived; only archived orders are reused"));
  }
  const v1::Revision* spot = nullptr;
  for (const v1::Revision& revision : source->spots()) {
    if (revision.approved()) spot = &revision;
  }
  if (spot == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("order ", Name(*source), " has no approved spot to reuse"));
  }
  ASSIGN_OR_RETURN(std::string id, IdOrNew("order_id", c.order_id()));
  RETURN_IF_ERROR(NotAnotherOrdersKey(id));
  const std::string title = c.title().empty() ? source->title() : c.title();
  RETURN_IF_ERROR(ValidateText("title", title, kMaxNameBytes, true));
  // A reuse airs the spot again for the same client: not for one that is gone.
  if (const v1::ClientView* gone = state_.FindClient(source->client_id());
      gone == nullptr || gone->deleted()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "order ", Name(*source), "'s client \"", source->client_id(),
        "\" was deleted; a reused spot airs again for its own client, so this one stays in the "
        "archive (an order for another client starts with spotflow order create)"));
  }
  ASSIGN_OR_RETURN(const v1::ClientView* client, LoadClient(source->client_id()));
  ASSIGN_OR_RETURN(const v1::ItemTypeDefinition* type, ItemTypeOf(*source));
  RETURN_IF_ERROR(FlightFitsType(*type, c.flight_start(), c.flight_end()));
  const v1::WorkflowDefinition* workflow = state_.FindWorkflow(type->workflow(), 0);
  const std::string initial = workflow == nullptr ? "" : InitialState(*workflow, v1::REUSE);
  if (initial.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("workflow \"", type->workflow(), "\" has no initial state for REUSE orders"));
  }
  // As CreateOrder: not an order that would stop for good on the way.
  RETURN_IF_ERROR(CheckKindFinishes(*type, *workflow, v1::REUSE));
  Read(ItemTypeStream(type->name()), type->version());
  v1::OrderView prospective;
  prospective.set_owner_id(client->owner_id());
  prospective.set_client_id(client->client_id());
  RETURN_IF_ERROR(Require(v1::ORDER_MANAGE, prospective, "create an order"));
  if (const v1::OrderView* existing = state_.FindOrder(id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("order \"", id, "\" already exists", Taken(existing->deleted())));
  }
  const std::string stream = OrderStream(id);
  v1::OrderCreated* created = Emit(stream, 0).mutable_order_created();
  created->set_order_id(id);
  created->set_item_type(source->item_type());
  created->set_workflow(workflow->name());
  created->set_workflow_version(workflow->version());
  created->set_kind(v1::REUSE);
  created->set_client_id(client->client_id());
  created->set_owner_id(client->owner_id());
  created->set_title(title);
  created->set_instructions(source->instructions());
  created->set_spot_length_seconds(source->spot_length_seconds());
  if (type->facets().schedule()) {
    *created->mutable_flight_start() = c.flight_start();
    *created->mutable_flight_end() = c.flight_end();
  }
  // The source's fields that its type still has, with those the command gives over them.
  google::protobuf::Map<std::string, v1::FieldValue> fields;
  for (const auto& [name, value] : source->fields()) {
    const std::string& field_name = name;  // A lambda may not capture a structured binding.
    if (std::any_of(type->fields().begin(), type->fields().end(),
                    [&](const v1::FieldDefinition& f) { return f.name() == field_name; })) {
      fields[name] = value;
    }
  }
  google::protobuf::Map<std::string, v1::FieldValue> given = AsPicked(*type, c.fields());
  RETURN_IF_ERROR(ValidateFields(*type, given, /*require_all=*/false));
  // A text given blank is left out of the new order, the source's value with it.
  for (const std::string& name : TakeBlanks(&given)) fields.erase(name);
  for (const auto& [name, value] : given) fields[name] = value;
  if (absl::Status complete = ValidateFields(*type, fields, /*require_all=*/true); !complete.ok()) {
    return WithErrorInfoOf(
        absl::FailedPreconditionError(absl::StrCat(
            "order ", Name(*source), " cannot be reused as it is: ", complete.message(),
            "; give it for the new order (ReuseOrder fields; spotflow order reuse "
            "... --field NAME=VALUE)")),
        complete);
  }
  *created->mutable_fields() = fields;
  created->set_status(initial);
  created->set_reused_from_order(source->order_id());
  v1::RevisionSubmitted* submitted = Emit(stream, 0).mutable_revision_submitted();
  submitted->set_order_id(id);
  v1::Revision* revision = submitted->mutable_revision();
  revision->set_artifact("spot");
  revision->set_number(1);
  *revision->mutable_media() = spot->media();
  revision->set_change_note(absl::StrCat("reused from order ", Name(*source)));
  // Who recorded the spot, not who reuses it (the projection names the reuser apart).
  revision->set_author(spot->author());
  revision->set_provided_by_client(spot->provided_by_client());
  revision->set_reused_from_order(source->order_id());
  revision->set_reused_from_revision(spot->number());
  submitted->set_action("reuse");
  submitted->set_from_status(initial);
  submitted->set_to_status(initial);
  v1::RevisionReviewed* carried = Emit(stream, 0).mutable_revision_reviewed();
  carried->set_order_id(id);
  carried->set_artifact("spot");
  carried->set_revision(1);
  carried->set_kind(v1::CARRIED_OVER);
  carried->set_comment(CarriedApproval(*spot, Name(*source)));
  Target(stream, 0, id);
  TakeClientTurn(client->client_id());
  return absl::OkStatus();
}

// --- Budgets ----------------------------------------------------------------------------------

absl::Status Decider::RequireMaySetBudgetOf(const std::string& member, const std::string& set_by,
                                            absl::string_view what) const {
  if (IsSystem()) return absl::OkStatus();
  const v1::Scope scope = ScopeOf(v1::BUDGET_MANAGE);
  // A budget measures its member, who does not own it as they own their orders: so TEAM
  // reaches those the actor manages, and one's own budget only as a goal one set oneself,
  // at any scope; a target someone else set for them (a sales manager's, by their director)
  // is not theirs to change. Only ALL reaches every budget.
  if (scope == v1::ALL) return absl::OkStatus();
  if (member == actor_.user_id()) {
    if (scope != v1::SCOPE_UNSPECIFIED && (set_by.empty() || set_by == actor_.user_id())) {
      return absl::OkStatus();
    }
    if (scope != v1::SCOPE_UNSPECIFIED) {
      return absl::PermissionDeniedError(absl::StrCat(
          "user \"", actor_.user_id(), "\" may not ", what, ": it was set for them by \"", set_by,
          "\", and a target set for someone is changed by those whose BUDGET_MANAGE reaches "
          "them, not by themselves"));
    }
  } else if (scope == v1::TEAM && state_.Manages(actor_, member)) {
    return absl::OkStatus();
  }
  // Whom to ask: the member's manager, whose team the member is on (seed 002's sales team
  // manager, who sets the targets the team is measured against), when their privilege reaches
  // them; else those who may anywhere.
  std::string whom;
  const v1::UserView* of = state_.FindUser(member);
  if (of != nullptr && !of->manager_id().empty()) {
    const v1::UserView* manager = state_.FindUser(of->manager_id());
    if (manager != nullptr && manager->active() && manager->user_id() != actor_.user_id() &&
        state_.ScopeOf(*manager, v1::BUDGET_MANAGE) != v1::SCOPE_UNSPECIFIED &&
        state_.ScopeOf(*manager, v1::BUDGET_MANAGE) != v1::OWN) {
      whom = member == actor_.user_id()
                 ? absl::StrCat("ask your manager (", manager->user_id(), ") to do it")
                 : absl::StrCat("ask ", manager->user_id(), " (", member, "'s manager) to do it");
    }
  }
  // Another's budget, with no manager of theirs who may (not the caller's own manager, whose
  // team the member is not on): when the caller is that manager, their role is what lacks;
  // else those who may set any budget, or a team for the member.
  const bool admin = ScopeOf(v1::ADMIN_CONFIGURE) != v1::SCOPE_UNSPECIFIED;
  if (whom.empty() && member != actor_.user_id() && of != nullptr &&
      of->manager_id() == actor_.user_id()) {
    whom = admin ? "give one of your roles BUDGET_MANAGE at scope TEAM (spotflow role define)"
                 : "ask an administrator to give one of your roles BUDGET_MANAGE at scope TEAM";
  } else if (whom.empty() && member != actor_.user_id()) {
    std::vector<std::string> anywhere;
    for (const auto& [id, user] : state_.users()) {
      if (id != actor_.user_id() && user.active() && user.client_id().empty() &&
          state_.ScopeOf(user, v1::BUDGET_MANAGE) == v1::ALL) {
        anywhere.push_back(id);
      }
    }
    std::sort(anywhere.begin(), anywhere.end());  // The same refusal reads the same every time.
    const std::string team =
        absl::StrCat("make \"", member, "\" a member of a team whose manager may (spotflow user ",
                     "manager ", member, " MANAGER)");
    whom = !anywhere.empty() ? absl::StrCat("ask one who may set any member's budget: ",
                                            absl::StrJoin(anywhere, ", "))
           : admin           ? absl::StrCat(team,
                                            ", or give a role BUDGET_MANAGE at scope TEAM or ALL "
                                                      "(spotflow role define)")
                             : absl::StrCat("ask an administrator to ", team);
  }
  return Denied(v1::BUDGET_MANAGE,
                absl::StrCat(what, scope == v1::TEAM  ? absl::StrCat(" (user \"", member,
                                                                     "\" is not in their team)")
                                   : scope == v1::OWN ? " (their scope reaches their own goals)"
                                                      : ""),
                {}, nullptr, nullptr, whom);
}

absl::StatusOr<const v1::Budget*> Decider::LoadBudgetToManage(const std::string& id,
                                                              absl::string_view what) {
  RETURN_IF_ERROR(ValidateId("budget_id", id));
  const v1::Budget* budget = state_.FindBudget(id);
  if (budget == nullptr || budget->removed() ||
      !(IsSystem() || MayReadBudget(state_, actor_, budget->user_id()))) {
    return absl::NotFoundError(absl::StrCat("budget \"", absl::CHexEscape(id),
                                            "\" not found; `spotflow budget list` lists yours"));
  }
  // Who may manage it rests on its member's record (their manager).
  if (const v1::UserView* member = state_.FindUser(budget->user_id())) ReadUser(*member);
  RETURN_IF_ERROR(RequireMaySetBudgetOf(
      budget->user_id(), budget->set_by(),
      absl::StrCat(what, " budget \"", id, "\" of user \"", budget->user_id(), "\"")));
  return budget;
}

absl::Status Decider::SetBudget(const v1::SetBudget& c) {
  const v1::Budget& given = c.budget();
  if (!IsSystem() && ScopeOf(v1::BUDGET_MANAGE) == v1::SCOPE_UNSPECIFIED) {
    // Refused whoever the member is; named, their manager is whom to ask
    // (RequireMaySetBudgetOf), as for one whose privilege does not reach them. Not to a
    // client's login, who is not told who is in the house (nor whom to ask: Denied).
    if (const v1::UserView* member = state_.FindUser(given.user_id());
        member != nullptr && member->client_id().empty() && actor_.client_id().empty()) {
      return RequireMaySetBudgetOf(
          member->user_id(), "", absl::StrCat("set a budget for user \"", member->user_id(), "\""));
    }
    return Denied(v1::BUDGET_MANAGE, "set budgets");
  }
  ASSIGN_OR_RETURN(const v1::UserView* user, LoadUser("user_id", given.user_id()));
  RETURN_IF_ERROR(RequireStaff(*user, "set a budget for"));
  // The budget it replaces, when its id names one.
  const v1::Budget* existing = nullptr;
  if (!given.budget_id().empty()) {
    RETURN_IF_ERROR(ValidateId("budget_id", given.budget_id()));
    existing = state_.FindBudget(given.budget_id());
    if (existing != nullptr &&
        (existing->removed() ||
         !(IsSystem() || MayReadBudget(state_, actor_, existing->user_id())))) {
      return absl::AlreadyExistsError(absl::StrCat(
          "budget \"", given.budget_id(), "\" already exists", Taken(existing->removed())));
    }
    if (existing != nullptr) {
      // Moving a budget to another member takes the right over both.
      ASSIGN_OR_RETURN(existing, LoadBudgetToManage(existing->budget_id(), "change"));
    }
  }
  // A new member's budget (a new one, or one moved to them); the one it replaces was checked
  // with its own member and setter above.
  if (existing == nullptr || existing->user_id() != user->user_id()) {
    RETURN_IF_ERROR(RequireMaySetBudgetOf(
        user->user_id(), "", absl::StrCat("set a budget for user \"", user->user_id(), "\"")));
  }
  RETURN_IF_ERROR(ValidateText("title", given.title(), kMaxNameBytes, true));
  if (!v1::BudgetBasis_IsValid(given.basis())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "basis ", static_cast<int>(given.basis()),
        " is none of ORDERS_MADE (orders made in the period) and ORDERS_DONE (orders done in it)"));
  }
  RETURN_IF_ERROR(ValidateDate("start", given.start()));
  RETURN_IF_ERROR(ValidateDate("end", given.end()));
  if (CompareDates(given.end(), given.start()) < 0) {
    return absl::InvalidArgumentError(
        "the budget's end comes before its start; the period includes both days");
  }
  const absl::CivilDay start(given.start().year(), given.start().month(), given.start().day());
  const absl::CivilDay end(given.end().year(), given.end().month(), given.end().day());
  if (end - start >= kMaxBudgetDays) {
    return absl::InvalidArgumentError(absl::StrCat("the budget's period is ", end - start + 1,
                                                   " days long; the longest is ", kMaxBudgetDays,
                                                   " (set one budget per year)"));
  }
  if (given.target() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("target is ", given.target(), "; a budget's target is above 0"));
  }
  if (!given.item_type().empty()) {
    // A budget that sums a field is decided in turn with the definitions, which keep the
    // fields budgets sum (DefineItemType).
    if (!given.field().empty()) AlsoInTurnOf(kDefinitionsTurn);
    const v1::ItemTypeDefinition* type = state_.FindItemType(given.item_type());
    if (type == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("item type \"", absl::CHexEscape(given.item_type()), "\" does not exist",
                       DidYouMean(given.item_type(), state_.ItemTypeNames()),
                       "; the item types are: ", absl::StrJoin(state_.ItemTypeNames(), ", ")));
    }
    Read(ItemTypeStream(type->name()), type->version());
    if (!given.field().empty()) RETURN_IF_ERROR(CheckSummableField(*type, given.field()));
  } else if (!given.field().empty()) {
    return absl::InvalidArgumentError(
        "a budget sums a field of one item type: give item_type with field, or leave field out "
        "to count the orders");
  }
  if (!given.set_by().empty() || given.removed()) {
    return absl::InvalidArgumentError(
        "set_by and removed are the engine's to keep: leave them out");
  }

  // The same target set twice is a repeat, not a second budget: another of the member's by
  // this title (ASCII case aside) over days of this period is refused. Decided in turn with
  // the member's other budgets, so that two cannot both pass.
  AlsoInTurnOf(absl::StrCat("(budgets of ", user->user_id(), ")"));
  for (const auto& [other_id, other] : state_.budgets()) {
    if (other.removed() || other_id == given.budget_id() || other.user_id() != user->user_id() ||
        !absl::EqualsIgnoreCase(other.title(), given.title()) ||
        CompareDates(other.end(), given.start()) < 0 ||
        CompareDates(given.end(), other.start()) < 0) {
      continue;
    }
    const bool theirs_to_change =
        RequireMaySetBudgetOf(other.user_id(), other.set_by(), "change it").ok();
    return absl::AlreadyExistsError(
        absl::StrCat("user \"", user->user_id(), "\" already has budget \"", other_id,
                     "\" titled \"", other.title(), "\" over days of this period",
                     theirs_to_change ? absl::StrCat(": change that one (spotflow budget set --id ",
                                                     other_id, " ...), or title this one apart")
                                      : ": title this one apart"));
  }
  std::string id;
  if (existing != nullptr) {
    id = existing->budget_id();
  } else {
    ASSIGN_OR_RETURN(id, IdOrFromName("budget_id", given.budget_id(),
                                      absl::StrCat(user->user_id(), " ", given.title()),
                                      [&](const std::string& candidate) {
                                        return state_.FindBudget(candidate) != nullptr;
                                      }));
  }
  const std::string stream = BudgetStream(id);
  const uint64_t version = existing == nullptr ? 0 : existing->version();
  Target(stream, version, id);
  v1::Budget budget = given;
  budget.set_budget_id(id);
  budget.clear_version();
  if (existing != nullptr) {
    v1::Budget before = *existing;
    before.clear_version();
    before.clear_set_by();
    if (google::protobuf::util::MessageDifferencer::Equals(before, budget)) {
      return absl::OkStatus();  // Already so.
    }
  }
  *Emit(stream, version).mutable_budget_set()->mutable_budget() = std::move(budget);
  return absl::OkStatus();
}

absl::Status Decider::RemoveBudget(const v1::RemoveBudget& c) {
  RETURN_IF_ERROR(Require(v1::BUDGET_MANAGE, "remove budgets"));
  ASSIGN_OR_RETURN(const v1::Budget* budget, LoadBudgetToManage(c.budget_id(), "remove"));
  const std::string stream = BudgetStream(budget->budget_id());
  Target(stream, budget->version(), budget->budget_id());
  v1::BudgetRemoved* removed = Emit(stream, budget->version()).mutable_budget_removed();
  removed->set_budget_id(budget->budget_id());
  removed->set_user_id(budget->user_id());
  return absl::OkStatus();
}

}  // namespace

bool MayReadBudget(const State& state, const v1::UserView& viewer, absl::string_view user_id) {
  if (!viewer.client_id().empty()) return false;
  return viewer.user_id() == user_id ||
         state.ReachesAsOwner(viewer, state.ScopeOf(viewer, v1::BUDGET_MANAGE), user_id);
}

bool DecideIsBulk(const v1::Command& command) {
  // Keep in step with the Decider methods that loop over every client or order. Deleting a
  // client walks only that client's orders (State::OrdersOfClient). Creating a client, or
  // renaming one, walks the clients for their names (ClientNameFree) and the owner's shares
  // (ShareOfBook, DefaultAccountOwner).
  // Defining an item type again walks the orders for those of the type under way.
  return command.has_reassign_accounts() || command.has_create_client() ||
         (command.has_update_client() && command.update_client().has_name()) ||
         command.has_define_item_type();
}

std::optional<std::pair<std::string, uint64_t>> TargetOf(const State& state,
                                                         const v1::Command& command,
                                                         const v1::UserView& viewer,
                                                         absl::Time now) {
  const google::protobuf::FieldDescriptor* which =
      v1::Command::descriptor()->FindFieldByNumber(command.command_case());
  if (which == nullptr) return std::nullopt;
  const bool system = viewer.user_id() == kSystemUser;
  // Who may know of each kind of record: the system of all; users, the house's staff (a
  // contact's login, only of itself).
  auto order_target =
      [&](const v1::OrderView* order) -> std::optional<std::pair<std::string, uint64_t>> {
    if (order == nullptr || !(system || state.CanSee(viewer, *order, now))) return std::nullopt;
    return std::pair(OrderStream(order->order_id()), order->version());
  };
  auto client_target =
      [&](const v1::ClientView* client) -> std::optional<std::pair<std::string, uint64_t>> {
    if (client == nullptr || !(system || state.CanSee(viewer, *client, now))) return std::nullopt;
    return std::pair(ClientStream(client->client_id()), client->version());
  };
  auto user_target =
      [&](const v1::UserView* user) -> std::optional<std::pair<std::string, uint64_t>> {
    if (user == nullptr) return std::nullopt;
    if (!viewer.client_id().empty() && user->user_id() != viewer.user_id()) return std::nullopt;
    return std::pair(UserStream(user->user_id()), user->version());
  };
  // A create's target is the record it makes, never the client or source it names: its only
  // etag is 0, "must not exist yet", whether or not it does (a record that exists, the decision
  // says is taken: ALREADY_EXISTS, to whoever may see it or not).
  switch (command.command_case()) {
    case v1::Command::kCreateOrder:
      return std::pair(OrderStream(command.create_order().order_id()), uint64_t{0});
    case v1::Command::kReuseOrder:
      return std::pair(OrderStream(command.reuse_order().order_id()), uint64_t{0});
    case v1::Command::kCreateClient:
      return std::pair(ClientStream(command.create_client().client_id()), uint64_t{0});
    case v1::Command::kReassignAccounts: {
      // One account is its target (ReassignAccounts); several have none.
      if (command.reassign_accounts().client_ids_size() != 1) return std::nullopt;
      return client_target(state.FindClient(command.reassign_accounts().client_ids(0)));
    }
    case v1::Command::kReassignOrders: {
      // One order is its target (ReassignOrders); several have none.
      if (command.reassign_orders().order_ids_size() != 1) return std::nullopt;
      return order_target(state.FindOrderByIdOrKey(command.reassign_orders().order_ids(0)));
    }
    case v1::Command::kCreateUser:
      return std::pair(UserStream(command.create_user().user_id()), uint64_t{0});
    case v1::Command::kSetBudget:
    case v1::Command::kRemoveBudget: {
      const std::string& id = command.has_set_budget() ? command.set_budget().budget().budget_id()
                                                       : command.remove_budget().budget_id();
      const v1::Budget* budget = id.empty() ? nullptr : state.FindBudget(id);
      if (budget == nullptr) {
        // A new one, which SetBudget makes: "must not exist yet".
        if (command.has_set_budget()) return std::pair(BudgetStream(id), uint64_t{0});
        return std::nullopt;
      }
      // A removed one is gone, as a deleted order is: the decision says so.
      if (budget->removed() || !(system || MayReadBudget(state, viewer, budget->user_id()))) {
        return std::nullopt;
      }
      return std::pair(BudgetStream(id), budget->version());
    }
    default:
      break;
  }
  const google::protobuf::Message& inner = command.GetReflection()->GetMessage(command, which);
  auto id_of = [&](const char* name) -> std::string {
    const google::protobuf::FieldDescriptor* field = inner.GetDescriptor()->FindFieldByName(name);
    return field == nullptr ? "" : inner.GetReflection()->GetString(inner, field);
  };
  if (std::string id = id_of("order_id"); !id.empty()) {
    return order_target(state.FindOrderByIdOrKey(id));
  } else if (std::string id = id_of("client_id"); !id.empty()) {
    return client_target(state.FindClient(id));
  } else if (std::string id = id_of("user_id"); !id.empty()) {
    return user_target(state.FindUser(id));
  }
  return std::nullopt;
}

absl::StatusOr<Decision> Decide(const State& state, const v1::UserView& actor,
                                const v1::Command& command, absl::Time now, IdGenerator* ids) {
  return Decider(state, actor, now, ids).Run(command);
}

// The checks the commands make when the action is taken (Transit; the loads of SubmitRevision,
// ApproveRevision, RequestChanges, ForwardToClient, RecordClientAnswer and PerformAction; the
// revision they name), short of the command's own fields: the revision is the latest one.
bool Decider::WaitsForSomeoneElse(const v1::OrderView& order, const v1::Transition& t) const {
  // Special case, by action name as the commands know them: a spot is recorded (record_spot)
  // for a production order, and uploaded (upload_spot) when the client or agency provides it.
  // Either may be taken on either kind of order (a client may provide the spot after all), but
  // the order waits for the one its kind expects: an AE's queue does not list production
  // orders waiting for production's spot.
  if (t.action() == "upload_spot" && order.kind() == v1::PRODUCTION) return true;
  if (t.action() == "record_spot" && order.kind() == v1::PROVIDED) return true;
  // An order waits for its own people when one of them may take the action (WaitsForOthers).
  return !IsSystem() && WaitsForOthers(state_, actor_, order, t.privilege(), now_, t.roles());
}

std::vector<std::string> Decider::OpenActions(const v1::OrderView& order, bool moving_only) const {
  std::vector<std::string> open;
  if (order.archived() || order.deleted()) return open;
  // A finished order waits for no one: a way out of its final state (reopening a lost deal)
  // is open to those who may take it, but it is in nobody's queue.
  if (moving_only && order.completed()) return open;
  absl::StatusOr<const v1::WorkflowDefinition*> workflow = WorkflowOf(order);
  if (!workflow.ok()) return open;
  const bool own_login = !actor_.contact_id().empty() && actor_.client_id() == order.client_id();
  const v1::ClientView* client = state_.FindClient(order.client_id());
  for (const v1::Transition& t : (*workflow)->transitions()) {
    const std::string& action = t.action();
    if (t.from() != order.status() || (moving_only && t.to() == t.from())) continue;
    if (std::find(open.begin(), open.end(), action) != open.end()) continue;
    if (moving_only && WaitsForSomeoneElse(order, t)) continue;
    // A way out, into a final state where the work ends undone (a deal lost, a request
    // declined), is open to those who may take it, but no one's work waits on it: an open deal
    // is not in its AE's queue, nor are they told, for the chance to lose it.
    if (moving_only && state_.IsAbandonedState(order.workflow(), t.to())) continue;
    const std::string artifact = ArtifactOfAction(action);
    if (artifact.empty() && HasRevisionActionPrefix(action)) continue;  // No command takes it.
    v1::Privilege privilege = t.privilege();
    if (!artifact.empty()) {
      if (!CheckArtifact(order, artifact).ok()) continue;
      const bool submits =
          absl::StartsWith(action, "submit_") || action == "record_spot" || action == "upload_spot";
      // LoadOrderWithRoom refuses a full order (sized only here: a queue lists many orders).
      if (!absl::StartsWith(action, "approve_") && order.ByteSizeLong() >= kMaxOrderBytes) {
        continue;
      }
      if (!submits) {
        // Approve, request changes, forward and answer name the latest revision, in review.
        const auto& revisions = artifact == "script" ? order.scripts() : order.spots();
        if (revisions.empty()) continue;
        const v1::Revision& latest = revisions[revisions.size() - 1];
        if (!ReviewedRevision(order, artifact, latest.number()).ok()) continue;
        const bool approves = absl::StartsWith(action, "client_approve_");
        if (approves || absl::StartsWith(action, "client_request_")) {
          // A contact answers with their own login what was forwarded to them; a user records
          // the answer of the contact it was last forwarded to, who must still be on record.
          // A work queue holds only the contact's own answers: the others wait for the client.
          if (moving_only && !own_login) continue;
          std::string contact_id;
          for (const v1::Review& review : latest.reviews()) {
            if (review.kind() != v1::FORWARDED_TO_CLIENT) continue;
            if (!own_login || review.contact_id() == actor_.contact_id()) {
              contact_id = review.contact_id();
            }
          }
          if (contact_id.empty() || FindContact(client, contact_id) == nullptr) continue;
          if (!own_login) privilege = OnBehalfPrivilege(approves);
        } else if (absl::StartsWith(action, "forward_") &&
                   (client == nullptr || client->contacts().empty())) {
          continue;  // No contact to forward it to.
        }
      }
    }
    if (!IsSystem() && !state_.Allows(actor_, privilege, order, now_)) continue;
    if (!IsSystem() && !HoldsOneOf(actor_, t.roles())) continue;
    if (!t.required_fields().empty() &&
        !FieldsTypeLacks(state_.FindItemType(order.item_type()), t).empty()) {
      continue;  // A field its type has not: nobody could give it.
    }
    bool conditions_hold = true;
    for (int condition : t.conditions()) {
      conditions_hold &= CheckCondition(order, static_cast<v1::Condition>(condition), artifact,
                                        action, std::nullopt)
                             .ok();
    }
    if (conditions_hold) open.push_back(action);
  }
  return open;
}

std::vector<std::string> ActionsOpenTo(const State& state, const v1::UserView& actor,
                                       const v1::OrderView& order, absl::Time now,
                                       bool moving_only) {
  return Decider(state, actor, now, /*ids=*/nullptr).OpenActions(order, moving_only);
}

std::vector<std::string> FlightActionsOpenTo(const State& state, const v1::UserView& actor,
                                             const v1::OrderView& order, absl::Time now) {
  std::vector<std::string> open;
  // As DecideFlightChange and WithdrawFlightChange: an active order, a pending request.
  const v1::FlightChange* pending = PendingFlightChange(order);
  if (order.archived() || order.deleted() || pending == nullptr) return open;
  if (state.Allows(actor, v1::FLIGHT_CHANGE_DECIDE, order, now)) {
    open.push_back(FlightDecisionOpen(order, now));
  }
  if (state.Allows(actor, v1::FLIGHT_CHANGE_REQUEST, order, now)) open.push_back("withdraw");
  return open;
}

std::string FlightDecisionOpen(const v1::OrderView& order, absl::Time now) {
  // Dates that have passed can only be rejected (DecideFlightChange).
  const v1::FlightChange* pending = PendingFlightChange(order);
  return pending != nullptr && FlightIsOver(pending->new_end(), now) ? "reject" : "decide";
}

bool FlightChangeAwaits(const State& state, const v1::UserView& actor, const v1::OrderView& order,
                        absl::Time now) {
  // As DecideFlightChange: an active order (LoadActiveOrder), the privilege, a pending request.
  if (order.archived() || order.deleted() || PendingFlightChange(order) == nullptr) return false;
  // Besides the order's own people (its producer may decide whether production can meet the
  // new dates), a flight change waits for the owner's managers who may decide it: booking is
  // the sales side's call too, and their queue is where they look for it.
  return state.Allows(actor, v1::FLIGHT_CHANGE_DECIDE, order, now) &&
         (state.Manages(actor, order.owner_id()) ||
          !WaitsForOthers(state, actor, order, v1::FLIGHT_CHANGE_DECIDE, now));
}

}  // namespace spotflow::engine::internal
