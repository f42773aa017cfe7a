#include "engine/engine.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/types/span.h"
#include "base/nearest.h"
#include "base/status_macros.h"
#include "engine/errors.h"
#include "engine/internal/decide.h"
#include "engine/internal/definitions.h"
#include "engine/internal/state.h"
#include "engine/presets.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "openssl/sha.h"

namespace spotflow::engine {
namespace {

using internal::Decision;
using internal::State;
using internal::StreamWrite;
using store::EventRecord;

constexpr uint32_t kSchemaVersion = 1;
constexpr size_t kMaxRequestIdBytes = 256;
constexpr size_t kMaxStreamRead = 1'000'000;
constexpr size_t kMaxAwaitingPage = 100;  // ListOrders with `awaiting`.
// A page of orders stops short of this many bytes (but holds one order at least), well under
// the 4 MiB a gRPC client receives by default: an order may hold up to kMaxOrderBytes, so a
// page bounded only by its count could reach a gigabyte.
constexpr size_t kMaxOrderPageBytes = 2 * 1024 * 1024;
constexpr char kPresetsKey[] = "spotflow.presets.v1";

// The client as it stands at `now`: an account share that has expired grants nothing and is
// not shown (its grant and its end stay in the client's history). The ids of removed
// contacts are the engine's bookkeeping for making ids, not shown either.
ClientView Current(const ClientView& client, absl::Time now) {
  ClientView current = client;
  current.clear_removed_contact_ids();
  auto* shares = current.mutable_shares();
  shares->erase(std::remove_if(shares->begin(), shares->end(),
                               [now](const v1::AccountShare& share) {
                                 return share.has_until() && internal::ToTime(share.until()) <= now;
                               }),
                shares->end());
  return current;
}

std::string PayloadType(const v1::DomainEvent& event) {
  const auto* field = v1::DomainEvent::descriptor()->FindFieldByNumber(event.event_case());
  return field == nullptr ? "" : field->message_type()->full_name();
}

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  std::string hex;
  for (unsigned char byte : digest) absl::StrAppend(&hex, absl::Hex(byte, absl::kZeroPad2));
  return hex;
}

std::string DeterministicBytes(const google::protobuf::Message& message) {
  std::string bytes;
  google::protobuf::io::StringOutputStream output(&bytes);
  google::protobuf::io::CodedOutputStream coded(&output);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

std::string DigestOfCommand(const Command& command) {
  // A preview of a request is the same request: it answers as the request would (a repeat
  // of one committed gets its first result).
  if (command.validate_only()) {
    Command done = command;
    done.clear_validate_only();
    return Sha256Hex(DeterministicBytes(done));
  }
  return Sha256Hex(DeterministicBytes(command));
}

// A list's page token: which list, the creation position of the last item given, and a
// fingerprint of the filters (AIP-158: the next page must be asked with the same ones).
// FNV-1a, so that a token outlives a restart of the server.
uint32_t FilterFingerprint(absl::Span<const absl::string_view> parts) {
  uint32_t hash = 2166136261u;
  for (absl::string_view part : parts) {
    for (char c : part) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
    hash = (hash ^ 0xffu) * 16777619u;  // A separator: ("ab", "") differs from ("a", "b").
  }
  return hash;
}

std::string PageToken(absl::string_view list, uint64_t after, uint32_t filters) {
  return absl::StrCat(list, ".", after, ".", absl::Hex(filters, absl::kZeroPad8));
}

absl::Status NotAPageToken(absl::string_view list, const std::string& token) {
  return absl::InvalidArgumentError(absl::StrCat("page_token \"", absl::CHexEscape(token),
                                                 "\" is not one ", list,
                                                 " gave; start again without it"));
}

// What a page token continues after: the middle of "<list>.<after>.<filters>" (empty without a
// token), once the token is known to be `list`'s for these filters. `filters` is nullopt for a
// list that takes none.
absl::StatusOr<absl::string_view> PageTokenAfter(absl::string_view list,
                                                 std::optional<uint32_t> filters,
                                                 const std::string& token) {
  if (token.empty()) return absl::string_view();
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3 || parts[0] != list || parts[1].empty()) {
    return NotAPageToken(list, token);
  }
  if (parts[2] != absl::StrCat(absl::Hex(filters.value_or(0), absl::kZeroPad8))) {
    if (!filters.has_value()) return NotAPageToken(list, token);
    return absl::InvalidArgumentError(
        "page_token was given for other filters; ask the next page with the filters of the "
        "first, or start again without it");
  }
  return parts[1];
}

// The position a page token of a list in log order continues after (0 without a token).
absl::StatusOr<uint64_t> ParsePageToken(absl::string_view list, uint32_t filters,
                                        const std::string& token, uint64_t head) {
  ASSIGN_OR_RETURN(absl::string_view after, PageTokenAfter(list, filters, token));
  uint64_t position = 0;
  if (!after.empty() && (!absl::SimpleAtoi(after, &position) || position > head)) {
    return NotAPageToken(list, token);
  }
  return position;
}

// Lists in key order (users by id, roles by name) name the last key given, in hex: a key may
// hold a '.'. They take no filters.
std::string KeyPageToken(absl::string_view list, absl::string_view after) {
  return absl::StrCat(list, ".", absl::BytesToHexString(after), ".", absl::Hex(0, absl::kZeroPad8));
}

// The key a KeyPageToken continues after ("" without a token: every key is longer).
absl::StatusOr<std::string> ParseKeyPageToken(absl::string_view list, const std::string& token) {
  ASSIGN_OR_RETURN(absl::string_view after, PageTokenAfter(list, std::nullopt, token));
  if (after.size() % 2 != 0 ||
      !std::all_of(after.begin(), after.end(), [](char c) { return absl::ascii_isxdigit(c); })) {
    return NotAPageToken(list, token);
  }
  return absl::HexStringToBytes(after);
}

// A page of `all` (any order) by `key`, after the key the token names.
template <typename View, typename Key>
std::pair<std::vector<View>, std::string> KeyPage(absl::string_view list,
                                                  std::vector<const View*> all, Key key,
                                                  const std::string& after, size_t page_size) {
  std::sort(all.begin(), all.end(),
            [&](const View* a, const View* b) { return key(*a) < key(*b); });
  auto it = std::upper_bound(all.begin(), all.end(), after,
                             [&](const std::string& k, const View* v) { return k < key(*v); });
  std::pair<std::vector<View>, std::string> page;
  for (; it != all.end() && page.first.size() < page_size; ++it) page.first.push_back(**it);
  if (it != all.end()) page.second = KeyPageToken(list, key(page.first.back()));
  return page;
}

bool FlightOverlaps(const v1::OrderView& order, const std::optional<v1::Date>& from,
                    const std::optional<v1::Date>& to) {
  if (from.has_value() && internal::CompareDates(order.flight_end(), *from) < 0) return false;
  if (to.has_value() && internal::CompareDates(order.flight_start(), *to) > 0) return false;
  return true;
}

// ABORTED for a command whose etag is not the version of what it changes. `stream` is the
// record's stream ("order-<id>"), named as a person knows it: order "<id>", or an order by its
// `key` when it has one (order PO-2026-00005).
absl::Status EtagMismatch(uint64_t etag, absl::string_view stream, uint64_t version,
                          absl::string_view key) {
  const size_t dash = stream.find('-');
  const std::string record =
      !key.empty()                      ? absl::StrCat("order ", key)
      : dash == absl::string_view::npos ? absl::StrCat("\"", stream, "\"")
      : dash + 1 == stream.size()
          ? absl::StrCat("the new ", stream.substr(0, dash))
          : absl::StrCat(stream.substr(0, dash), " \"", stream.substr(dash + 1), "\"");
  const absl::Status refused =
      version == 0
          ? absl::AbortedError(absl::StrCat("etag ", etag,
                                            " does not match: a create takes no etag, or 0 (",
                                            record, " must not exist yet)"))
          : absl::AbortedError(absl::StrCat("etag ", etag, " does not match: ", record,
                                            " is at version ", version,
                                            etag < version ? " (it changed since you read it)" : "",
                                            "; read it again and retry with its current etag"));
  return WithErrorInfo(refused, kEtagMismatch,
                       {{"etag", absl::StrCat(etag)}, {"current_etag", absl::StrCat(version)}});
}

class EngineImpl final : public Engine {
 public:
  EngineImpl(const Options& options, store::EventStore* store, Clock* clock, IdGenerator* ids)
      : options_(options), store_(store), clock_(clock), ids_(ids) {}
  ~EngineImpl() override {
    // An answer still to come runs on the store's completion thread and uses this engine.
    absl::MutexLock lock(&pending_mu_);
    pending_mu_.Await(absl::Condition(
        +[](uint64_t* pending) { return *pending == 0; }, &pending_));
  }

  absl::Status Init();

  absl::StatusOr<CommandResult> Bootstrap(const v1::CreateUser& admin) override;
  absl::StatusOr<CommandResult> Execute(const Principal& principal,
                                        const Command& command) override;
  void ExecuteAsync(const Principal& principal, const Command& command,
                    ExecuteCallback done) override;
  bool TryExecuteAsync(const Principal& principal, const Command& command,
                       ExecuteCallback done) override;

  using Engine::GetOrder;
  absl::StatusOr<OrderView> GetOrder(const Principal& principal, const std::string& order_id,
                                     const GetOrderOptions& options) const override;
  absl::StatusOr<OrderView> GetOrderAsOf(const Principal& principal, const std::string& order_id,
                                         const AsOf& as_of) const override;
  absl::StatusOr<v1::OrderStats> GetOrderStats(const Principal& principal,
                                               const OrderStatsFilter& filter) const override;
  absl::StatusOr<ListBudgetsResponse> ListBudgets(const Principal& principal,
                                                  const ListBudgetsRequest& request) const override;
  // The active users, by id: whom an order may wait for.
  std::vector<const UserView*> ActiveUsersLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Whom `order` waits for (OrderView.awaiting), added to `shown` for staff callers: each of
  // `users` (ActiveUsersLocked) whose work queue it stands in.
  void AddAwaitingLocked(const UserView& caller, const std::vector<const UserView*>& users,
                         const OrderView& order, absl::Time now, OrderView* shown) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // A filter by whom orders are assigned to: a user of the house (staff only, as is whom the
  // house assigns). OK when `assignee_id` is empty.
  absl::Status AssigneeToFilterBy(const UserView& caller, const std::string& assignee_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // A list filtered by a client or owner that is not there for the caller is a typo, not a
  // filter that happens to match nothing: NOT_FOUND, asked only when nothing matched (one may
  // see an order shared with them whose client they do not see). So no one learns of a client
  // or user they may not see (nor that one was deleted), and a deleted client still counts.
  absl::Status FiltersNameSomeoneLocked(const UserView& caller, const std::string& client_id,
                                        const std::string& owner_id, absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<ListOrdersResponse> ListOrders(const Principal& principal,
                                                const ListOrdersRequest& request) const override;
  absl::StatusOr<ClientView> GetClient(const Principal& principal,
                                       const std::string& client_id) const override;
  absl::StatusOr<ClientView> GetClientAsOf(const Principal& principal, const std::string& client_id,
                                           const AsOf& as_of) const override;
  absl::StatusOr<ListClientsResponse> ListClients(const Principal& principal,
                                                  const ListClientsRequest& request) const override;
  absl::StatusOr<UserView> GetUser(const Principal& principal,
                                   const std::string& user_id) const override;
  absl::StatusOr<ListUsersResponse> ListUsers(const Principal& principal,
                                              const ListUsersRequest& request) const override;
  absl::StatusOr<ListRolesResponse> ListRoles(const Principal& principal,
                                              const ListRolesRequest& request) const override;
  // A list's page size: 0 is the default, and no more than the most.
  size_t PageSize(size_t asked) const {
    return std::min(asked == 0 ? options_.default_page_size : asked, options_.max_page_size);
  }
  absl::StatusOr<v1::ItemTypeDefinition> GetItemType(const Principal& principal,
                                                     const std::string& name) const override;
  absl::StatusOr<ListItemTypesResponse> ListItemTypes(const Principal& principal,
                                                      const PageRequest& request) const override;
  absl::StatusOr<ListWorkflowsResponse> ListWorkflows(const Principal& principal,
                                                      const PageRequest& request) const override;
  // NOT_FOUND, naming the types there are, for a filter by an item type no one defined (a
  // typo, not a filter that matches nothing); OK for none.
  absl::Status ItemTypeToFilterBy(const std::string& name) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (name.empty() || state_.FindItemType(name) != nullptr) return absl::OkStatus();
    return absl::NotFoundError(
        absl::StrCat("there is no item type \"", absl::CHexEscape(name), "\" to filter by",
                     DidYouMean(name, state_.ItemTypeNames()),
                     "; the item types are: ", absl::StrJoin(state_.ItemTypeNames(), ", ")));
  }
  // Whether `caller` is a client's login that submits requests (seed 001), which reads the
  // forms of the item types.
  bool IsRequester(const UserView& caller) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !caller.client_id().empty() &&
           state_.ScopeOf(caller, v1::REQUEST_SUBMIT) != v1::SCOPE_UNSPECIFIED;
  }
  absl::StatusOr<v1::WorkflowDefinition> GetWorkflow(const Principal& principal,
                                                     const std::string& name,
                                                     uint32_t version) const override;

  absl::StatusOr<std::vector<v1::EventRecord>> ReadEvents(const Principal& principal,
                                                          uint64_t from_position,
                                                          size_t limit) const override {
    RETURN_IF_ERROR(RequireEventsRead(principal));
    return store_->ReadAll(from_position, std::min(limit, options_.max_page_size));
  }
  absl::StatusOr<store::VerifyResult> VerifyLog(const Principal& principal, uint64_t from_position,
                                                uint64_t to_position,
                                                const Progress& progress) const override;
  absl::StatusOr<store::VerifyResult> CheckDigest(const Principal& principal,
                                                  const v1::LogDigest& digest,
                                                  const Progress& progress) const override;
  absl::StatusOr<ExportPage> ExportEvents(const Principal& principal, const ExportFilter& filter,
                                          size_t max_bytes) const override;
  absl::StatusOr<std::vector<v1::Change>> OrderHistory(const Principal& principal,
                                                       const std::string& order_id) const override;
  absl::StatusOr<std::vector<v1::Change>> ClientHistory(
      const Principal& principal, const std::string& client_id) const override;
  absl::StatusOr<ReplayCheck> CheckReplay(const Principal& principal,
                                          const Progress& progress) const override;

  absl::Status Authorize(const Principal& principal, v1::Privilege privilege) const override {
    absl::ReaderMutexLock lock(&mu_);
    ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
    if (state_.ScopeOf(*caller, privilege) == v1::SCOPE_UNSPECIFIED) {
      return absl::PermissionDeniedError(absl::StrCat(
          "user \"", caller->user_id(), "\" does not hold ", v1::Privilege_Name(privilege)));
    }
    return absl::OkStatus();
  }

  absl::Status CheckActiveUser(const std::string& user_id) const override {
    absl::ReaderMutexLock lock(&mu_);
    const UserView* user = state_.FindUser(user_id);
    if (user == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("user \"", absl::CHexEscape(user_id), "\" not found"));
    }
    if (!user->active()) {
      return absl::FailedPreconditionError(absl::StrCat("user \"", user_id, "\" is deactivated"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<store::Subscription>> SubscribeEvents(
      const Principal& principal, uint64_t from_position) override {
    RETURN_IF_ERROR(RequireEventsRead(principal));
    return store_->Subscribe(std::max<uint64_t>(from_position, 1));
  }

  Changes ChangedSince(uint64_t after_position) const override;
  bool WaitForPosition(uint64_t after_position, absl::Duration timeout) const override {
    absl::MutexLock lock(&published_mu_);
    auto passed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(published_mu_) {
      return published_ > after_position;
    };
    return published_mu_.AwaitWithTimeout(absl::Condition(&passed), timeout);
  }

  uint64_t log_head() const override { return store_->Head().position; }
  uint64_t position() const override {
    absl::ReaderMutexLock lock(&mu_);
    return state_.position();
  }
  v1::EngineState State() const override {
    absl::ReaderMutexLock lock(&mu_);
    return state_.ToProto();
  }
  std::string StateDigest() const override { return DigestOf(State()); }
  absl::Status WriteSnapshot() const override;
  Recovery recovery() const override { return recovery_; }

 private:
  // The active user behind `principal`. Requires mu_ held.
  absl::StatusOr<const UserView*> Caller(const Principal& principal) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The order `id` when `caller` may see it at `now` (a linked order), else nullptr.
  const OrderView* VisibleOrderLocked(const UserView& caller, absl::string_view id,
                                      absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const OrderView* order = state_.FindOrder(id);
    return order == nullptr || order->deleted() || !state_.CanSee(caller, *order, now) ? nullptr
                                                                                       : order;
  }
  // What `caller` may see of `order` at `now`: all of it, or the client's part for a contact's
  // login; with its status's title and its type's title and facets.
  OrderView Shown(const UserView& caller, OrderView order, absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    order.set_status_title(state_.StatusTitle(order));
    order.set_abandoned(state_.IsAbandoned(order));
    // To those who see the client (not one the order alone was shared with), and to whom it
    // was handed (seed 003's order manager, who calls with the personal manager in mind).
    if (const ClientView* client = state_.FindClient(order.client_id());
        client != nullptr && KnowsAccountOwnerLocked(caller, order, *client, now)) {
      order.set_account_owner_id(client->owner_id());
    }
    const v1::ItemTypeDefinition* type = state_.FindItemType(order.item_type());
    if (type != nullptr) {
      order.set_item_type_title(type->title());
      *order.mutable_item_type_facets() = type->facets();
    }
    // Linked orders by the ids of those the caller may see: the others' would tell that they
    // exist.
    const auto hidden = [&](const std::string& id) {
      return VisibleOrderLocked(caller, id, now) == nullptr;
    };
    if (!order.parent_order_id().empty() && hidden(order.parent_order_id())) {
      order.clear_parent_order_id();
    }
    auto* children = order.mutable_child_order_ids();
    children->erase(std::remove_if(children->begin(), children->end(), hidden), children->end());
    if (caller.contact_id().empty()) return order;
    // Of its fields, those its type has now and does not keep to the house (a media
    // insertion's cost): not one a type defined again has dropped or renamed, which may have
    // been internal.
    auto* fields = order.mutable_fields();
    for (auto it = fields->begin(); it != fields->end();) {
      const bool shown =
          type != nullptr && std::any_of(type->fields().begin(), type->fields().end(),
                                         [&](const v1::FieldDefinition& f) {
                                           return f.name() == it->first && !f.internal();
                                         });
      it = shown ? std::next(it) : fields->erase(it);
    }
    const v1::WorkflowDefinition* workflow =
        state_.FindWorkflow(order.workflow(), order.workflow_version());
    return internal::ForContact(std::move(order), caller.contact_id(), caller.user_id(), type,
                                workflow);
  }
  // What `caller` may see of `client` as it stands at `now` (Current): all of it, or its own
  // part for a contact's login.
  static ClientView Shown(const UserView& caller, const ClientView& client, absl::Time now) {
    ClientView current = Current(client, now);
    if (caller.contact_id().empty()) return current;
    return internal::ForContact(std::move(current), caller.contact_id());
  }
  absl::Status RequireEventsRead(const Principal& principal) const {
    ASSIGN_OR_RETURN(const bool holds, HoldsEventsRead(principal));
    if (holds) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(
        "user \"", principal.user_id, "\" may not read raw events: that needs EVENTS_READ"));
  }
  absl::StatusOr<CommandResult> ExecuteAs(const Principal& principal, const Command& command,
                                          bool system);
  // The asynchronous path every command takes: checks and decides on the caller's thread,
  // appends without waiting, projects and answers on the store's completion thread.
  struct Pending;
  void ExecuteAsyncAs(const Principal& principal, const Command& command, bool system,
                      ExecuteCallback done);
  // A command on its way, counted in pending_ until its `done` runs.
  std::shared_ptr<Pending> NewPending(const Principal& principal, const Command& command,
                                      bool system, ExecuteCallback done);
  // What every command is checked for before it is decided: its request and correlation ids
  // and its text.
  static absl::Status ValidateEnvelope(const Command& command);
  void Attempt(std::shared_ptr<Pending> pending) ABSL_LOCKS_EXCLUDED(mu_);
  // Attempt, but when !may_wait and the state is locked: false, having done nothing.
  bool TryAttempt(std::shared_ptr<Pending> pending, bool may_wait) ABSL_LOCKS_EXCLUDED(mu_);
  // After deciding, without the lock: the answer, a turn behind another append to the same
  // stream, or the append. With !may_wait, false when it would have to decide again (having
  // done nothing), as TryAttempt.
  bool Proceed(std::shared_ptr<Pending> pending, absl::Time now, UserView actor,
               absl::StatusOr<internal::Decision> decided, bool may_wait) ABSL_LOCKS_EXCLUDED(mu_);
  // Brings the projections up to `to_position`: reads the records without the lock, then
  // applies under it those another thread has not applied meanwhile.
  absl::Status CatchUp(uint64_t to_position) ABSL_LOCKS_EXCLUDED(mu_);
  void Committed(std::shared_ptr<Pending> pending, CommandResult result,
                 const std::string& target_stream, absl::StatusOr<store::AppendResult> appended)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Answers a command, handing the stream it holds to the next command waiting for it.
  void Answer(const std::shared_ptr<Pending>& pending, absl::StatusOr<CommandResult> result);
  void Release(const std::shared_ptr<Pending>& pending);
  // What TakeTurns did with a command.
  enum class Turns {
    kTaken,        // It holds every turn it wants: append.
    kDecideAgain,  // It holds them all, but one was passed through since it decided.
    kWouldWait,    // As kDecideAgain, but it may not wait: it holds none it took here.
    kInLine,       // One is taken: it waits in line for it (moved out of the pointer).
  };
  // Takes every turn in `wanted` for `pending`.
  Turns TakeTurns(std::shared_ptr<Pending>& pending, std::vector<std::string> wanted,
                  bool may_wait);
  // Hands `turn` to the next command in line for it (returned, to be attempted once turns_mu_
  // is released), or frees it.
  std::shared_ptr<Pending> HandOnLocked(const std::string& turn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(turns_mu_);
  // The first result of a request id that already committed, if it did.
  absl::StatusOr<std::optional<CommandResult>> Repeated(const Pending& pending);
  // Applies committed records (and any committed before them) to the projections.
  absl::Status Project(std::vector<EventRecord> records) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status CatchUpLocked(uint64_t to_position) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes state_'s position to WaitForPosition.
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies `record` to state_, unless another writer did, and remembers which stream it
  // changed (ChangedSince). A gap before it is INTERNAL (State::Apply).
  absl::Status ApplyLocked(const EventRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The answer to a repeated request: the first result, rebuilt from the records it wrote,
  // or ALREADY_EXISTS when the request id was used for a different command.
  absl::StatusOr<CommandResult> RepeatedResult(const store::AppendResult& append,
                                               const Command& command, const std::string& digest);
  // A repeated reassignment's moved_accounts, id and sub_id, from the `events` it wrote.
  void RebuildMovesLocked(const std::vector<v1::DomainEvent>& events, CommandResult* result) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Whether `caller` was handed `order`, open, on an account they do not see: then GetOrder
  // gives them its client's contacts (OrderView.client_contacts).
  bool HandedOrderOfAnotherAccountLocked(const UserView& caller, const OrderView& order,
                                         const ClientView& client, absl::Time now) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Whether `caller` is told whose account `order` is on (OrderView.account_owner_id, and
  // ListOrders by it): one who sees its client (`even_deleted`: a deleted one too), or was
  // handed the order.
  bool KnowsAccountOwnerLocked(const UserView& caller, const OrderView& order,
                               const ClientView& client, absl::Time now,
                               bool even_deleted = false) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return state_.CanSee(caller, client, now, even_deleted) ||
           HandedOrderOfAnotherAccountLocked(caller, order, client, now);
  }
  // Clears `user`'s tokens unless `caller` is an administrator or that user.
  void HideTokens(const UserView& caller, UserView* user) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  store::AppendRequest ToAppend(const Decision& decision, const UserView& actor,
                                const Command& command, absl::Time now, const std::string& key,
                                const std::string& digest);
  absl::Status LoadSnapshot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status LoadPresets();
  // Every event of `stream` folded by `apply` into a view of type View, with the fields each
  // changed; NOT_FOUND naming the `what` `id` when the stream is empty.
  template <typename View>
  absl::StatusOr<std::vector<v1::Change>> History(
      const char* what, const std::string& id, const std::string& stream,
      const std::function<void(const EventRecord&, v1::DomainEvent*, View*)>& apply) const;
  // Whether the caller holds EVENTS_READ (UNAUTHENTICATED / PERMISSION_DENIED for an
  // unknown or deactivated caller).
  absl::StatusOr<bool> HoldsEventsRead(const Principal& principal) const;
  // Folds the records of one stream up to `as_of`; false when none qualified.
  absl::StatusOr<bool> Fold(
      const std::string& stream, const AsOf& as_of,
      const std::function<void(const EventRecord&, v1::DomainEvent*)>& apply) const;

  // Never change after construction.
  const Options options_;
  store::EventStore* const store_;
  Clock* const clock_;
  IdGenerator* const ids_;
  Recovery recovery_;  // Set by Init, then never changed.

  mutable absl::Mutex mu_;
  internal::State state_ ABSL_GUARDED_BY(mu_);
  // The position and stream of the last kRecentRecords records applied, oldest first.
  static constexpr size_t kRecentRecords = 4096;
  std::deque<std::pair<uint64_t, std::string>> recent_ ABSL_GUARDED_BY(mu_);

  // state_'s position, published apart from mu_ for WaitForPosition: an absl::Mutex with a
  // waiter takes its slow path on every lock, and mu_ is taken several times per command.
  mutable absl::Mutex published_mu_ ABSL_ACQUIRED_AFTER(mu_);
  uint64_t published_ ABSL_GUARDED_BY(published_mu_) = 0;

  // Commands started and not yet answered (ExecuteAsync); the destructor waits for none.
  absl::Mutex pending_mu_;
  uint64_t pending_ ABSL_GUARDED_BY(pending_mu_) = 0;

  // Streams with an append in flight, each with the commands waiting for their turn.
  absl::Mutex turns_mu_;
  absl::flat_hash_map<std::string, std::deque<std::shared_ptr<Pending>>> turns_
      ABSL_GUARDED_BY(turns_mu_);
  // Whether passed_at_ keeps `turn`: every turn but an order's own stream. Every command that
  // holds an order's turn writes or reads its stream, so the store's version check covers it,
  // and orders are the many records.
  static bool KeepsPassage(const std::string& turn) {
    return !absl::StartsWith(turn, internal::OrderStream(""));
  }
  // For each turn KeepsPassage: the last position committed by a command that held it
  // (Release), bounded by the number of users, roles, clients and definitions.
  absl::flat_hash_map<std::string, uint64_t> passed_at_ ABSL_GUARDED_BY(turns_mu_);
};

absl::Status EngineImpl::Init() {
  {
    absl::MutexLock lock(&mu_);
    if (!options_.snapshot_path.empty()) RETURN_IF_ERROR(LoadSnapshot());
    recovery_.snapshot_position = state_.position();
    RETURN_IF_ERROR(CatchUpLocked(store_->Head().position));
    recovery_.replayed = state_.position() - recovery_.snapshot_position;
  }
  if (options_.load_presets && position() == 0) RETURN_IF_ERROR(LoadPresets());
  return absl::OkStatus();
}

absl::Status EngineImpl::LoadSnapshot() {
  std::ifstream in(options_.snapshot_path, std::ios::binary);
  if (!in) return absl::OkStatus();  // No snapshot yet: rebuild from the log.
  std::stringstream bytes;
  bytes << in.rdbuf();
  v1::EngineState snapshot;
  // A snapshot is only a cache of the log: one that is unreadable, of another format, or of
  // another log is ignored (Recovery says why) and the projections are rebuilt from position 1.
  std::string& ignored = recovery_.snapshot_ignored;
  const uint64_t head = store_->Head().position;
  if (!snapshot.ParseFromString(bytes.str()) || snapshot.format_version() == 0) {
    ignored = "it is not a snapshot Spotflow wrote (unreadable or empty)";
  } else if (snapshot.position() == 0) {
    return absl::OkStatus();  // Of an empty log: nothing to resume from.
  } else if (snapshot.format_version() != internal::kStateFormatVersion) {
    ignored = absl::StrCat("it has format ", snapshot.format_version(), "; this Spotflow reads ",
                           internal::kStateFormatVersion);
  } else if (snapshot.position() > head) {
    ignored = absl::StrCat("it ends at position ", snapshot.position(), ", past the log's end at ",
                           head, ": another log's, or this log was restored from an older copy");
  } else {
    ASSIGN_OR_RETURN(std::vector<EventRecord> at, store_->ReadAll(snapshot.position(), 1));
    if (at.empty() || at[0].hash() != snapshot.head_hash()) {
      ignored = absl::StrCat("its record at position ", snapshot.position(),
                             " differs from the log's: it belongs to another log");
    }
  }
  if (ignored.empty()) state_.LoadProto(snapshot);
  return absl::OkStatus();
}

absl::Status EngineImpl::WriteSnapshot() const {
  if (options_.snapshot_path.empty()) {
    return absl::FailedPreconditionError(
        "no snapshot path was configured (Options::snapshot_path)");
  }
  const std::string bytes = State().SerializeAsString();
  const std::string temporary = options_.snapshot_path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot write snapshot ", temporary, ": ", std::strerror(errno)));
  }
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot write snapshot ", temporary, ": ", std::strerror(error)));
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(temporary.c_str(), options_.snapshot_path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot install snapshot ", options_.snapshot_path,
                                               ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status EngineImpl::LoadPresets() {
  // One atomic append under a fixed key: two engines opening the same new log load them once.
  Decision decision;
  auto add = [&](std::string stream, v1::DomainEvent event) {
    StreamWrite& write = decision.writes.emplace_back();
    write.stream_id = std::move(stream);
    write.expected = store::ExpectedVersion::NoStream();
    write.events.push_back(std::move(event));
  };
  for (const v1::RoleDefinition& role : PresetRoles()) {
    v1::DomainEvent event;
    *event.mutable_role_defined()->mutable_definition() = role;
    add(internal::RoleStream(role.name()), std::move(event));
  }
  v1::DomainEvent workflow;
  *workflow.mutable_workflow_published()->mutable_definition() = ProductionOrderWorkflow();
  workflow.mutable_workflow_published()->mutable_definition()->set_version(1);
  add(internal::WorkflowStream(kProductionOrder), std::move(workflow));
  v1::DomainEvent type;
  *type.mutable_item_type_defined()->mutable_definition() = ProductionOrderType();
  type.mutable_item_type_defined()->mutable_definition()->set_version(1);
  add(internal::ItemTypeStream(kProductionOrder), std::move(type));
  UserView system;
  system.set_user_id(internal::kSystemUser);
  Command command;
  ASSIGN_OR_RETURN(store::AppendResult result,
                   store_->Append(ToAppend(decision, system, command, clock_->Now(), kPresetsKey,
                                           /*digest=*/"")));
  RETURN_IF_ERROR(Project(std::move(result.records)));
  // Another engine may have loaded them first (the append was deduplicated): read them.
  return CatchUp(store_->Head().position);
}

absl::StatusOr<const UserView*> EngineImpl::Caller(const Principal& principal) const {
  const UserView* user = state_.FindUser(principal.user_id);
  if (user == nullptr || principal.user_id.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("unknown user \"", absl::CHexEscape(principal.user_id), "\""));
  }
  if (!user->active()) {
    return absl::PermissionDeniedError(
        absl::StrCat("user \"", principal.user_id, "\" is deactivated"));
  }
  return user;
}

store::AppendRequest EngineImpl::ToAppend(const Decision& decision, const UserView& actor,
                                          const Command& command, absl::Time now,
                                          const std::string& key, const std::string& digest) {
  store::AppendRequest request;
  request.idempotency_key = key;
  const google::protobuf::Timestamp time = internal::ToTimestamp(now);
  std::string correlation = command.correlation_id();
  for (const StreamWrite& write : decision.writes) {
    store::StreamAppend& stream = request.streams.emplace_back();
    stream.stream_id = write.stream_id;
    stream.expected = write.expected;
    for (const v1::DomainEvent& event : write.events) {
      EventRecord& record = stream.events.emplace_back();
      record.set_event_id(ids_->NewId());
      if (correlation.empty()) correlation = record.event_id();
      *record.mutable_recorded_time() = time;
      v1::Actor* who = record.mutable_actor();
      who->set_user_id(actor.user_id());
      *who->mutable_roles() = actor.roles();
      who->set_on_behalf_of(decision.on_behalf_of);
      record.set_correlation_id(correlation);
      record.set_schema_version(kSchemaVersion);
      record.set_payload_type(PayloadType(event));
      record.set_command_digest(digest);
      event.SerializeToString(record.mutable_payload());
    }
  }
  for (const store::StreamRead& read : decision.reads) {
    // A stream the decision also writes is checked by its expected version.
    if (std::none_of(decision.writes.begin(), decision.writes.end(),
                     [&](const StreamWrite& w) { return w.stream_id == read.stream_id; })) {
      request.reads.push_back(read);
    }
  }
  return request;
}

absl::StatusOr<CommandResult> EngineImpl::Bootstrap(const v1::CreateUser& admin) {
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!state_.users().empty()) {
      return absl::FailedPreconditionError(
          "users exist already; an administrator creates further users");
    }
  }
  Command command;
  *command.mutable_create_user() = admin;
  auto* roles = command.mutable_create_user()->mutable_roles();
  if (std::find(roles->begin(), roles->end(), kAdmin) == roles->end()) roles->Add(kAdmin);
  command.set_request_id("spotflow.bootstrap");
  return ExecuteAs(Principal{internal::kSystemUser}, command, /*system=*/true);
}

absl::StatusOr<CommandResult> EngineImpl::Execute(const Principal& principal,
                                                  const Command& command) {
  return ExecuteAs(principal, command, /*system=*/false);
}

absl::StatusOr<CommandResult> EngineImpl::RepeatedResult(const store::AppendResult& append,
                                                         const Command& command,
                                                         const std::string& digest) {
  const std::string& request_id = command.request_id();
  ASSIGN_OR_RETURN(std::vector<EventRecord> records, store_->ReadAll(append.first_position, 1));
  if (records.empty()) {
    return absl::InternalError(absl::StrCat("request_id \"", request_id, "\" names position ",
                                            append.first_position, ", which is not in the log"));
  }
  if (records[0].command_digest() != digest) {
    return absl::AlreadyExistsError(absl::StrCat(
        "request_id \"", request_id, "\" was already used for a different command (positions ",
        append.first_position, "-", append.last_position, "); use a new request_id"));
  }
  CommandResult result;
  result.set_deduplicated(true);
  result.set_first_position(append.first_position);
  result.set_last_position(append.last_position);
  for (const store::StreamResult& stream : append.streams) {
    v1::StreamEtag* etag = result.add_streams();
    etag->set_stream_id(stream.stream_id);
    etag->set_etag(stream.last_version);
    if (stream.stream_id == records[0].stream_id()) result.set_etag(stream.last_version);
  }
  // What the first result said, rebuilt from the event the command wrote first.
  v1::DomainEvent event;
  RETURN_IF_ERROR(internal::DecodeEvent(records[0], &event));
  // A workflow step that cleared or set fields wrote them (OrderUpdated) before its own event,
  // which is what the answer told (a revision's number).
  if (event.has_order_updated() && !command.has_update_order() &&
      append.last_position > append.first_position) {
    ASSIGN_OR_RETURN(std::vector<EventRecord> next, store_->ReadAll(append.first_position + 1, 2));
    for (const EventRecord& record : next) {
      v1::DomainEvent step;
      RETURN_IF_ERROR(internal::DecodeEvent(record, &step));
      if (step.has_order_updated()) continue;
      event = std::move(step);
      break;
    }
  }
  std::string id, sub_id;
  internal::Describe(event, &id, &sub_id);
  result.set_id(id);
  result.set_sub_id(sub_id);
  // A reassignment's moves, from all it wrote: its accounts, then their orders; or the chosen
  // orders it moved, whose first event may be an unshare (the new owner was a participant).
  std::vector<v1::DomainEvent> moves;
  if (event.has_client_owner_changed() || command.has_reassign_orders()) {
    ASSIGN_OR_RETURN(records, store_->ReadAll(append.first_position,
                                              append.last_position - append.first_position + 1));
    for (const EventRecord& record : records) {
      RETURN_IF_ERROR(internal::DecodeEvent(record, &moves.emplace_back()));
    }
  }
  if (command.has_reassign_orders()) {
    // As ReassignOrders answered: one order names it (and is the etag's target); several name
    // who took them. Either way, how many moved.
    const size_t moved = std::count_if(moves.begin(), moves.end(), [](const v1::DomainEvent& e) {
      return e.has_order_owner_changed();
    });
    if (command.reassign_orders().order_ids_size() != 1) {
      id = command.reassign_orders().to_owner();
      result.set_id(id);
      result.set_etag(0);
    }
    result.set_sub_id(absl::StrCat(moved, moved == 1 ? " order" : " orders"));
  }
  // A query after this answer must see the first command's effects.
  RETURN_IF_ERROR(CatchUp(store_->Head().position));
  absl::ReaderMutexLock lock(&mu_);
  if (const OrderView* order = state_.FindOrder(id);
      order != nullptr && records[0].stream_id() == internal::OrderStream(id)) {
    result.set_key(order->key());
  }
  for (const v1::DomainEvent& move : moves) {
    if (!move.has_order_owner_changed()) continue;
    const v1::OrderOwnerChanged& changed = move.order_owner_changed();
    v1::OrderMoved* moved = result.add_moved_orders();
    moved->set_order_id(changed.order_id());
    if (const OrderView* order = state_.FindOrder(changed.order_id())) moved->set_key(order->key());
    moved->set_old_owner(changed.old_owner());
    moved->set_new_owner(changed.new_owner());
  }
  if (event.has_client_owner_changed()) {
    RebuildMovesLocked(moves, &result);
    // A spread names no one taker, as its first answer did, even when one took everything.
    if (!command.reassign_accounts().spread_to().empty()) result.set_id("");
  }
  return result;
}

void EngineImpl::RebuildMovesLocked(const std::vector<v1::DomainEvent>& events,
                                    CommandResult* result) const {
  absl::flat_hash_map<std::string, int> account;  // Client id -> its entry.
  std::set<std::string> takers;
  int orders = 0;
  for (const v1::DomainEvent& event : events) {
    if (event.has_client_owner_changed()) {
      const v1::ClientOwnerChanged& changed = event.client_owner_changed();
      account[changed.client_id()] = result->moved_accounts_size();
      v1::AccountMoved* moved = result->add_moved_accounts();
      moved->set_client_id(changed.client_id());
      moved->set_new_owner(changed.new_owner());
      moved->set_old_owner(changed.old_owner());
      takers.insert(changed.new_owner());
    } else if (event.has_order_owner_changed()) {
      // The order moved with its account, which the order names.
      const OrderView* order = state_.FindOrder(event.order_owner_changed().order_id());
      auto it = order == nullptr ? account.end() : account.find(order->client_id());
      if (it == account.end()) continue;
      result->mutable_moved_accounts(it->second)->add_order_ids(order->order_id());
      ++orders;
    }
  }
  const size_t clients = account.size();
  result->set_etag(0);  // It targets no one record.
  result->set_id(takers.size() == 1 ? *takers.begin() : "");
  result->set_sub_id(absl::StrCat(clients, clients == 1 ? " client, " : " clients, ", orders,
                                  orders == 1 ? " order" : " orders"));
}

// One command on its way: what every attempt needs, shared by the callbacks that carry it.
struct EngineImpl::Pending {
  Principal principal;
  Command command;
  bool system = false;
  std::string key;     // The store's idempotency key: "user/<id>/<request_id>"; empty: none.
  std::string digest;  // Of the command, when it has a request id.
  int attempt = 0;
  absl::Status last_conflict;
  ExecuteCallback done;
  // The turns (streams, or Decision::turns) this command's append is in flight in, or that
  // were handed to it: commands to one stream take turns instead of racing for its next
  // version. Turns are taken in sorted order, and a command in line for one holds only turns
  // that sort before it, so no two commands wait on each other (TakeTurns).
  // Sorted, as they are taken; a bulk reassignment holds one for each order it moves.
  absl::btree_set<std::string> held;
  uint64_t decided_at = 0;    // The projections' position its last decision read.
  uint64_t committed_at = 0;  // The last position it committed, once projected; 0: none.
  int decided_again = 0;      // Times it decided again for a turn passed through (TakeTurns).
};

void EngineImpl::Answer(const std::shared_ptr<Pending>& p, absl::StatusOr<CommandResult> result) {
  if (!p->held.empty()) Release(p);
  p->done(std::move(result));
}

std::shared_ptr<EngineImpl::Pending> EngineImpl::HandOnLocked(const std::string& turn) {
  auto it = turns_.find(turn);
  if (it == turns_.end()) return nullptr;
  if (it->second.empty()) {
    turns_.erase(it);
    return nullptr;
  }
  std::shared_ptr<Pending> next = std::move(it->second.front());
  it->second.pop_front();
  next->held.insert(turn);  // The turn passes to the next in line, still taken.
  return next;
}

void EngineImpl::Release(const std::shared_ptr<Pending>& p) {
  std::vector<std::shared_ptr<Pending>> next;
  {
    absl::MutexLock lock(&turns_mu_);
    for (const std::string& turn : p->held) {
      // Where the state was when it left the turn, for a command that decided before then
      // (TakeTurns).
      if (p->committed_at != 0 && KeepsPassage(turn)) {
        uint64_t& passed = passed_at_[turn];
        passed = std::max(passed, p->committed_at);
      }
      if (std::shared_ptr<Pending> n = HandOnLocked(turn)) next.push_back(std::move(n));
    }
  }
  p->held.clear();
  for (std::shared_ptr<Pending>& n : next) Attempt(std::move(n));
}

absl::StatusOr<CommandResult> EngineImpl::ExecuteAs(const Principal& principal,
                                                    const Command& command, bool system) {
  absl::Notification finished;
  absl::StatusOr<CommandResult> out;
  ExecuteAsyncAs(principal, command, system, [&](absl::StatusOr<CommandResult> result) {
    out = std::move(result);
    finished.Notify();
  });
  finished.WaitForNotification();
  return out;
}

void EngineImpl::ExecuteAsync(const Principal& principal, const Command& command,
                              ExecuteCallback done) {
  ExecuteAsyncAs(principal, command, /*system=*/false, std::move(done));
}

EngineImpl::Turns EngineImpl::TakeTurns(std::shared_ptr<Pending>& p,
                                        std::vector<std::string> wanted, bool may_wait) {
  // Taken in one order by every command, and waited for holding only turns before the one
  // waited for: no two commands wait on each other, and a command that needs many turns (a
  // reassignment of many accounts) keeps those it has instead of starting over each time.
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  std::vector<std::shared_ptr<Pending>> handed;  // Attempted once turns_mu_ is released.
  // Hands on the turns `p` holds that `leaves` names.
  const auto hand_on = [&](const auto& leaves) ABSL_EXCLUSIVE_LOCKS_REQUIRED(turns_mu_) {
    for (auto it = p->held.begin(); it != p->held.end();) {
      if (!leaves(*it)) {
        ++it;
        continue;
      }
      if (std::shared_ptr<Pending> n = HandOnLocked(*it)) handed.push_back(std::move(n));
      it = p->held.erase(it);
    }
  };
  Turns outcome = Turns::kTaken;
  {
    absl::MutexLock lock(&turns_mu_);
    // Turns an earlier decision of this command held that this one does not want go on.
    hand_on([&](const std::string& held) {
      return !std::binary_search(wanted.begin(), wanted.end(), held);
    });
    std::vector<std::string> taken_here;
    for (const std::string& turn : wanted) {
      if (p->held.contains(turn)) continue;
      if (turns_.try_emplace(turn).second) {
        p->held.insert(turn);
        taken_here.push_back(turn);
        // If a command passed through this turn after this one decided, decide again, now
        // that the turn is held. Even for the target stream: the store checks its version,
        // but a command may hold a turn without writing its stream (creating an order holds
        // its client's, and deleting the client would not see the order).
        if (KeepsPassage(turn)) {
          auto passed = passed_at_.find(turn);
          if (passed != passed_at_.end() && passed->second > p->decided_at) {
            outcome = Turns::kDecideAgain;
          }
        }
        continue;
      }
      // Another command's append in this turn is in flight: decide again after it, on the
      // state it leaves, rather than race it for the same version. The turns after this one
      // go on meanwhile; those before it are kept.
      hand_on([&](const std::string& held) { return !(held < turn); });
      --p->attempt;
      turns_.find(turn)->second.push_back(std::move(p));
      outcome = Turns::kInLine;
      break;
    }
    if (outcome == Turns::kDecideAgain && !may_wait) {
      // A thread that must not wait does not decide again (it could wait for the engine's
      // lock): it gives back what it took here, which no one can be in line for yet (this
      // lock was held throughout), and the command goes where it may wait.
      for (const std::string& turn : taken_here) {
        turns_.erase(turn);
        p->held.erase(turn);
      }
      outcome = Turns::kWouldWait;
    }
  }
  for (std::shared_ptr<Pending>& n : handed) Attempt(std::move(n));
  return outcome;
}

absl::StatusOr<std::optional<CommandResult>> EngineImpl::Repeated(const Pending& p) {
  if (p.key.empty()) return std::optional<CommandResult>();
  ASSIGN_OR_RETURN(std::optional<store::AppendResult> earlier, store_->FindIdempotent(p.key));
  if (!earlier.has_value()) return std::optional<CommandResult>();
  ASSIGN_OR_RETURN(CommandResult result, RepeatedResult(*earlier, p.command, p.digest));
  return std::optional<CommandResult>(std::move(result));
}

std::shared_ptr<EngineImpl::Pending> EngineImpl::NewPending(const Principal& principal,
                                                            const Command& command, bool system,
                                                            ExecuteCallback done) {
  auto p = std::make_shared<Pending>();
  p->principal = principal;
  p->command = command;
  p->system = system;
  // Counted until answered: the engine is not destroyed under an answer still to come.
  {
    absl::MutexLock lock(&pending_mu_);
    ++pending_;
  }
  p->done = [this, done = std::move(done)](absl::StatusOr<CommandResult> result) {
    done(std::move(result));
    absl::MutexLock lock(&pending_mu_);
    --pending_;
  };
  return p;
}

absl::Status EngineImpl::ValidateEnvelope(const Command& command) {
  RETURN_IF_ERROR(
      internal::ValidateText("request_id", command.request_id(), kMaxRequestIdBytes, false));
  RETURN_IF_ERROR(internal::ValidateText("correlation_id", command.correlation_id(),
                                         kMaxRequestIdBytes, false));
  return internal::ValidateUtf8(command);
}

void EngineImpl::ExecuteAsyncAs(const Principal& principal, const Command& command, bool system,
                                ExecuteCallback done) {
  std::shared_ptr<Pending> p = NewPending(principal, command, system, std::move(done));
  auto prepare = [&]() -> absl::StatusOr<std::optional<CommandResult>> {
    RETURN_IF_ERROR(ValidateEnvelope(command));
    if (!system) {
      absl::ReaderMutexLock lock(&mu_);
      RETURN_IF_ERROR(Caller(principal).status());
    }
    // Request ids are the caller's own: the store key names the user, so one user's id never
    // answers another's request. The digest tells a true repeat from a reused id.
    if (!command.request_id().empty()) {
      p->key = system ? command.request_id()
                      : absl::StrCat("user/", principal.user_id, "/", command.request_id());
      p->digest = DigestOfCommand(command);
    }
    // A repeat of a committed request gets the first result and writes nothing.
    return Repeated(*p);
  };
  absl::StatusOr<std::optional<CommandResult>> first = prepare();
  if (!first.ok()) return Answer(p, first.status());
  if (first->has_value()) {
    (*first)->set_validate_only(command.validate_only());  // A preview of a request done.
    return Answer(p, **std::move(first));
  }
  Attempt(std::move(p));
}

bool EngineImpl::TryExecuteAsync(const Principal& principal, const Command& command,
                                 ExecuteCallback done) {
  // No request id: nothing to look up in the log before deciding (Repeated).
  if (!command.request_id().empty() || internal::DecideIsBulk(command)) return false;
  std::shared_ptr<Pending> p = NewPending(principal, command, /*system=*/false, std::move(done));
  if (absl::Status valid = ValidateEnvelope(command); !valid.ok()) {
    Answer(p, valid);
    return true;
  }
  // TryAttempt checks the caller, as prepare() does in ExecuteAsyncAs.
  if (TryAttempt(p, /*may_wait=*/false)) return true;
  absl::MutexLock lock(&pending_mu_);
  --pending_;  // Never answered: the caller goes on with the command elsewhere.
  return false;
}

void EngineImpl::Attempt(std::shared_ptr<Pending> p) {
  TryAttempt(std::move(p), /*may_wait=*/true);
}

// The lock is taken by hand: with !may_wait only if it is free at once.
bool EngineImpl::TryAttempt(std::shared_ptr<Pending> p,
                            bool may_wait) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (p->attempt >= options_.max_attempts) {
    Answer(p, absl::AbortedError(absl::StrCat(
                  "gave up after ", options_.max_attempts,
                  " concurrent changes to the same records; last: ", p->last_conflict.message())));
    return true;
  }
  const Command& command = p->command;
  const absl::Time now = clock_->Now();
  if (may_wait) {
    mu_.ReaderLock();
  } else if (!mu_.ReaderTryLock()) {
    return false;
  }
  ++p->attempt;
  p->decided_at = state_.position();
  absl::Status refused;
  absl::StatusOr<Decision> decided = absl::UnknownError("not decided");
  UserView actor;
  if (p->system) {
    actor.set_user_id(internal::kSystemUser);
  } else if (absl::StatusOr<const UserView*> caller = Caller(p->principal); caller.ok()) {
    actor = **caller;
  } else {
    refused = caller.status();
  }
  // A stale etag says "read again" before anything else the command would be told, of a record
  // the caller may see (TargetOf); of one they may not, the decision says what they may know.
  if (refused.ok() && command.has_etag()) {
    std::optional<std::pair<std::string, uint64_t>> target =
        internal::TargetOf(state_, command, actor, now);
    if (target.has_value() && target->second != command.etag()) {
      // Named by its key only when it exists (TargetOf names only what the caller may see;
      // version 0 is a create's "must not exist yet", named as given).
      absl::string_view id = target->first;
      const OrderView* order = target->second != 0 && absl::ConsumePrefix(&id, "order-")
                                   ? state_.FindOrder(id)
                                   : nullptr;
      refused = EtagMismatch(command.etag(), target->first, target->second,
                             order == nullptr ? "" : order->key());
    }
  }
  if (refused.ok()) decided = internal::Decide(state_, actor, command, now, ids_);
  // An order's key is what people quote: every command on an order answers with it. Read
  // here, under the lock the decision already holds (a new order's is read once committed).
  if (decided.ok()) {
    internal::Decision& decision = *decided;
    if (decision.target_stream == internal::OrderStream(decision.result.id())) {
      if (const OrderView* order = state_.FindOrder(decision.result.id())) {
        decision.result.set_key(order->key());
      }
    }
  }
  mu_.ReaderUnlock();
  if (!refused.ok()) {
    Answer(p, refused);
    return true;
  }
  if (Proceed(p, now, std::move(actor), std::move(decided), may_wait)) return true;
  --p->attempt;  // Not taken up here: the caller goes on with the command elsewhere.
  return false;
}

bool EngineImpl::Proceed(std::shared_ptr<Pending> p, absl::Time now, UserView actor,
                         absl::StatusOr<Decision> decided, bool may_wait) {
  const Command& command = p->command;
  if (!decided.ok()) {
    // The same request may have committed since we looked (a concurrent retry): then its
    // result is the answer, not the refusal of doing it twice.
    absl::StatusOr<std::optional<CommandResult>> concurrent = Repeated(*p);
    if (!concurrent.ok()) return Answer(p, concurrent.status()), true;
    if (concurrent->has_value()) return Answer(p, **std::move(concurrent)), true;
    return Answer(p, decided.status()), true;
  }
  Decision decision = *std::move(decided);
  if (command.has_etag() && command.etag() != decision.target_version) {
    Answer(p, EtagMismatch(command.etag(), decision.target_stream, decision.target_version,
                           decision.result.key()));
    return true;
  }
  CommandResult result;
  result.set_id(decision.result.id());
  result.set_sub_id(decision.result.sub_id());
  *result.mutable_moved_accounts() = decision.result.moved_accounts();
  *result.mutable_moved_orders() = decision.result.moved_orders();
  result.set_key(decision.result.key());
  result.set_etag(decision.target_version);
  if (decision.writes.empty()) {
    result.set_validate_only(command.validate_only());
    Answer(p, std::move(result));  // Nothing to change.
    return true;
  }
  if (command.validate_only()) {
    // A preview: what the append would write, and nothing written. No turn is taken: the
    // answer describes the state it was decided on, as any query's does.
    result.set_validate_only(true);
    for (const StreamWrite& write : decision.writes) {
      v1::StreamEtag* etag = result.add_streams();
      etag->set_stream_id(write.stream_id);
      if (!write.expected.is_any()) etag->set_etag(write.expected.version() + write.events.size());
      // The target's new version, where the decision fixed it; unknown (0) where it did not.
      if (write.stream_id == decision.target_stream) result.set_etag(etag->etag());
    }
    Answer(p, std::move(result));
    return true;
  }
  std::vector<std::string> wanted = std::move(decision.turns);
  if (!decision.target_stream.empty()) wanted.push_back(decision.target_stream);
  switch (TakeTurns(p, std::move(wanted), may_wait)) {
    case Turns::kTaken:
      break;
    case Turns::kInLine:
      return true;  // Decided again in its turn.
    case Turns::kWouldWait:
      return false;
    case Turns::kDecideAgain:
      // Not a conflict: the turns it now holds keep others out this time. Only a decision
      // that keeps wanting new turns passed through meanwhile counts against its attempts.
      if (++p->decided_again <= 3) --p->attempt;
      Attempt(std::move(p));
      return true;
  }
  store::AppendRequest append = ToAppend(decision, actor, command, now, p->key, p->digest);
  store_->AppendAsync(std::move(append), [this, p, result = std::move(result),
                                          target = std::move(decision.target_stream)](
                                             absl::StatusOr<store::AppendResult> appended) mutable {
    Committed(std::move(p), std::move(result), target, std::move(appended));
  });
  return true;
}

void EngineImpl::Committed(std::shared_ptr<Pending> p, CommandResult result,
                           const std::string& target_stream,
                           absl::StatusOr<store::AppendResult> appended) {
  const Command& command = p->command;
  if (absl::IsAborted(appended.status())) {
    // A concurrent change: bring the projections up to it, then decide again. With an etag
    // too: the next attempt checks it against the target first, so a caller whose record
    // moved on hears that, and one whose decision read something else that did is not told
    // their etag was stale.
    p->last_conflict = appended.status();
    if (absl::Status caught_up = CatchUp(store_->Head().position); !caught_up.ok()) {
      return Answer(p, caught_up);
    }
    return Attempt(std::move(p));
  }
  if (absl::IsAlreadyExists(appended.status()) && !p->key.empty()) {
    // The same request committed concurrently under this key: its result is ours.
    absl::StatusOr<std::optional<CommandResult>> concurrent = Repeated(*p);
    if (!concurrent.ok()) return Answer(p, concurrent.status());
    if (concurrent->has_value()) return Answer(p, **std::move(concurrent));
  }
  if (!appended.ok()) return Answer(p, appended.status());
  if (appended->deduplicated) {
    return Answer(p, RepeatedResult(*appended, command, p->digest));
  }
  if (absl::Status projected = Project(std::move(appended->records)); !projected.ok()) {
    return Answer(p, projected);
  }
  p->committed_at = appended->last_position;  // For the turns it leaves (Release).
  result.set_first_position(appended->first_position);
  result.set_last_position(appended->last_position);
  for (const store::StreamResult& stream : appended->streams) {
    v1::StreamEtag* etag = result.add_streams();
    etag->set_stream_id(stream.stream_id);
    etag->set_etag(stream.last_version);
    if (stream.stream_id == target_stream) result.set_etag(stream.last_version);
  }
  if (command.has_create_order() || command.has_reuse_order()) {
    absl::ReaderMutexLock lock(&mu_);
    if (const OrderView* order = state_.FindOrder(result.id())) result.set_key(order->key());
  }
  Answer(p, std::move(result));
}

absl::Status EngineImpl::Project(std::vector<EventRecord> records) {
  // Records committed before ours that no one has projected yet are read without the lock.
  if (!records.empty()) RETURN_IF_ERROR(CatchUp(records.front().position() - 1));
  absl::MutexLock lock(&mu_);
  absl::Status status;
  for (const EventRecord& record : records) {
    status = ApplyLocked(record);
    if (!status.ok()) break;
  }
  PublishLocked();
  return status;
}

absl::Status EngineImpl::CatchUp(uint64_t to_position) {
  uint64_t from;
  {
    absl::ReaderMutexLock lock(&mu_);
    from = state_.position() + 1;
  }
  if (from > to_position) return absl::OkStatus();
  // Read without the lock: deciding commands (in gRPC reactions, which must not wait on a
  // disk) take it for reading meanwhile.
  std::vector<EventRecord> records;
  RETURN_IF_ERROR(store_->ScanAll(from, to_position, [&](const EventRecord& record) {
    records.push_back(record);
    return absl::OkStatus();
  }));
  absl::MutexLock lock(&mu_);
  absl::Status status;
  for (const EventRecord& record : records) {
    status = ApplyLocked(record);
    if (!status.ok()) break;
  }
  PublishLocked();
  return status;
}

absl::Status EngineImpl::CatchUpLocked(uint64_t to_position) {
  absl::Status status;
  if (to_position > state_.position()) {
    status = store_->ScanAll(state_.position() + 1, to_position,
                             [&](const EventRecord& record) { return ApplyLocked(record); });
  }
  PublishLocked();
  return status;
}

absl::Status EngineImpl::ApplyLocked(const EventRecord& record) {
  if (record.position() <= state_.position()) return absl::OkStatus();  // Applied already.
  RETURN_IF_ERROR(state_.Apply(record));
  recent_.emplace_back(record.position(), record.stream_id());
  if (recent_.size() > kRecentRecords) recent_.pop_front();
  return absl::OkStatus();
}

Engine::Changes EngineImpl::ChangedSince(uint64_t after_position) const {
  absl::ReaderMutexLock lock(&mu_);
  Changes changes;
  changes.position = state_.position();
  if (after_position >= state_.position()) return changes;
  if (recent_.empty() || recent_.front().first > after_position + 1) {
    changes.beyond_orders = true;  // Some of it is no longer remembered.
    return changes;
  }
  absl::flat_hash_set<absl::string_view> orders;
  for (auto it = recent_.rbegin(); it != recent_.rend() && it->first > after_position; ++it) {
    absl::string_view stream = it->second;
    if (absl::ConsumePrefix(&stream, internal::OrderStream(""))) {
      if (orders.insert(stream).second) changes.order_ids.emplace_back(stream);
    } else {
      changes.beyond_orders = true;
    }
  }
  return changes;
}

void EngineImpl::PublishLocked() {
  absl::MutexLock lock(&published_mu_);
  published_ = state_.position();
}

// --- Queries ------------------------------------------------------------------------------

absl::StatusOr<OrderView> EngineImpl::GetOrder(const Principal& principal,
                                               const std::string& order_id,
                                               const GetOrderOptions& options) const {
  if (order_id.empty()) return absl::InvalidArgumentError("order_id is required");
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  const OrderView* order = state_.FindOrderByIdOrKey(order_id);
  const absl::Time now = clock_->Now();
  if (order == nullptr || !state_.CanSee(*caller, *order, now)) {
    return absl::NotFoundError(
        absl::StrCat("order \"", absl::CHexEscape(order_id), "\" not found"));
  }
  OrderView shown = Shown(*caller, *order, now);
  for (std::string& action :
       internal::ActionsOpenTo(state_, *caller, *order, now, /*moving_only=*/false)) {
    shown.add_open_actions(std::move(action));
  }
  if (const v1::WorkflowDefinition* workflow =
          state_.FindWorkflow(order->workflow(), order->workflow_version())) {
    for (const v1::Transition& t : workflow->transitions()) {
      const bool open = t.from() == order->status() &&
                        std::find(shown.open_actions().begin(), shown.open_actions().end(),
                                  t.action()) != shown.open_actions().end();
      if (open && std::find(t.conditions().begin(), t.conditions().end(), v1::COMMENT_GIVEN) !=
                      t.conditions().end()) {
        shown.add_open_actions_needing_comment(t.action());
      }
      if (!open) continue;
      std::vector<std::string> fields = internal::MissingStepFields(t, *order);
      if (fields.empty()) continue;
      v1::ActionNeeds* needs = shown.add_open_actions_needing_fields();
      needs->set_action(t.action());
      needs->set_filled_by_others(!state_.Allows(*caller, v1::ORDER_MANAGE, *order, now));
      for (std::string& field : fields) needs->add_fields(std::move(field));
    }
  }
  for (std::string& action : internal::FlightActionsOpenTo(state_, *caller, *order, now)) {
    shown.add_open_flight_actions(std::move(action));
  }
  if (options.awaiting) AddAwaitingLocked(*caller, ActiveUsersLocked(), *order, now, &shown);
  const bool forwards =
      std::any_of(shown.open_actions().begin(), shown.open_actions().end(),
                  [](const std::string& action) { return absl::StartsWith(action, "forward_"); });
  // For the house only: a contact's login is not shown the client's roster.
  const ClientView* client = state_.FindClient(order->client_id());
  if (forwards && client != nullptr && caller->client_id().empty()) {
    for (const v1::Contact& contact : client->contacts()) {
      v1::Contact* shown_contact = shown.add_forward_contacts();
      shown_contact->set_contact_id(contact.contact_id());
      shown_contact->set_name(contact.name());
      shown_contact->set_title(contact.title());
    }
  }
  if (client != nullptr && HandedOrderOfAnotherAccountLocked(*caller, *order, *client, now)) {
    *shown.mutable_client_contacts() = client->contacts();
  }
  // To a client's login: whom in the house to reach, the order's owner and the account's.
  if (!caller->client_id().empty()) {
    for (const std::string* id :
         {&order->owner_id(), client == nullptr ? nullptr : &client->owner_id()}) {
      const bool of_order = id == &order->owner_id();
      const UserView* user = id == nullptr ? nullptr : state_.FindUser(*id);
      // One who left is stood in for by the nearest active manager above them whose privilege
      // reaches what they held (the order, to manage; the account, to manage), who hands it
      // on; with none, no one is named. (Bounded: a chain of managers is short.)
      std::string left;
      const auto stands_in = [&](const UserView& above) {
        return above.active() && (of_order ? state_.Allows(above, v1::ORDER_MANAGE, *order, now)
                                           : state_.Allows(above, v1::CLIENT_MANAGE, *client, now));
      };
      if (user != nullptr && !user->active()) {
        left = user->display_name().empty() ? user->user_id() : user->display_name();
        const UserView* above = user;
        user = nullptr;
        for (int up = 0; up < 16 && above != nullptr && !above->manager_id().empty(); ++up) {
          above = state_.FindUser(above->manager_id());
          if (above != nullptr && stands_in(*above)) {
            user = above;
            break;
          }
        }
      }
      if (user == nullptr || !user->active()) continue;
      // One row a person and a standing: who stands in for another is told apart from what
      // they hold themselves ("mia, who manages your account" and "mia, who manages this
      // order in place of sam").
      v1::HouseContact* reach = nullptr;
      for (v1::HouseContact& already : *shown.mutable_house_contacts()) {
        if (already.user_id() == user->user_id() && already.stands_in_for() == left) {
          reach = &already;
        }
      }
      if (reach == nullptr) {
        reach = shown.add_house_contacts();
        reach->set_user_id(user->user_id());
        reach->set_name(user->display_name());
        reach->set_email(user->email());
      }
      reach->set_stands_in_for(left);
      if (of_order) {
        reach->set_manages_order(true);
      } else {
        reach->set_manages_account(true);
      }
    }
  }
  // What the house has yet to fill in, to those who may (UpdateOrder: not while archived).
  if (caller->client_id().empty() && !order->archived() &&
      state_.Allows(*caller, v1::ORDER_MANAGE, *order, now)) {
    if (const v1::ItemTypeDefinition* type = state_.FindItemType(order->item_type())) {
      // An order that ended undone needs nothing more (a declined request, its cost).
      if (!shown.abandoned()) {
        for (std::string& field : internal::MissingRequiredFields(*type, *order)) {
          shown.add_missing_fields(std::move(field));
        }
      }
      // Each value checked alone, as a command giving it would be: the same words.
      for (const v1::FieldDefinition& field : type->fields()) {
        auto value = order->fields().find(field.name());
        if (value == order->fields().end()) continue;
        google::protobuf::Map<std::string, v1::FieldValue> alone;
        alone[field.name()] = value->second;
        if (absl::Status fits = internal::ValidateFields(*type, alone, /*require_all=*/false);
            !fits.ok()) {
          v1::FieldOutOfBounds* out = shown.add_fields_out_of_bounds();
          out->set_field(field.name());
          out->set_reason(std::string(fits.message()));
        }
      }
    }
  }
  // The item it was made for and those made for it, each that the caller may see, with
  // where it stands.
  const auto link = [&](const std::string& id, v1::OrderLink* out) {
    const OrderView* linked = VisibleOrderLocked(*caller, id, now);
    if (linked == nullptr) return false;
    out->set_order_id(linked->order_id());
    out->set_key(linked->key());
    out->set_item_type(linked->item_type());
    if (const v1::ItemTypeDefinition* type = state_.FindItemType(linked->item_type())) {
      out->set_item_type_title(type->title());
    }
    out->set_title(linked->title());
    out->set_status(linked->status());
    out->set_status_title(state_.StatusTitle(*linked));
    out->set_completed(linked->completed());
    out->set_abandoned(state_.IsAbandoned(*linked));
    out->set_archived(linked->archived());
    *out->mutable_created_time() = linked->created_time();
    return true;
  };
  if (!order->parent_order_id().empty() &&
      !link(order->parent_order_id(), shown.mutable_parent())) {
    shown.clear_parent();
  }
  for (const std::string& child : order->child_order_ids()) {
    if (!link(child, shown.add_children())) shown.mutable_children()->RemoveLast();
  }
  return shown;
}

bool EngineImpl::HandedOrderOfAnotherAccountLocked(const UserView& caller, const OrderView& order,
                                                   const ClientView& client, absl::Time now) const {
  // Who was handed an open order of an account they do not see calls the client's people
  // about it (seed 003's order manager): they get its contacts, nothing else of the client.
  // Handed: someone else made them its owner (ReassignOrders). Not an order they made or kept
  // themselves: a sharee's own order would outlast the share. Nor once the account moved away
  // from them after the handing: an old owner's order would outlast the account's move. The
  // account changing hands between others leaves them calling (seed 003: the personal manager
  // changes, the order manager works on).
  if (!caller.client_id().empty() || order.owner_id() != caller.user_id() || order.archived() ||
      state_.IsTerminal(order) || order.owner_history().empty() ||
      !state_.Allows(caller, v1::ORDER_MANAGE, order, now) || state_.CanSee(caller, client, now)) {
    return false;
  }
  const v1::OwnerChange& handed = *order.owner_history().rbegin();
  if (handed.new_owner() != caller.user_id() || handed.changed_by() == caller.user_id()) {
    return false;
  }
  return std::none_of(client.owner_history().begin(), client.owner_history().end(),
                      [&](const v1::OwnerChange& move) {
                        return move.position() > handed.position() &&
                               move.old_owner() == caller.user_id();
                      });
}

absl::StatusOr<bool> EngineImpl::Fold(
    const std::string& stream, const AsOf& as_of,
    const std::function<void(const EventRecord&, v1::DomainEvent*)>& apply) const {
  if (as_of.position.has_value() == as_of.time.has_value()) {
    return absl::InvalidArgumentError("give either a position or a time to read as of");
  }
  // A position the log has not reached would read as today: say so rather than answer. (A
  // time ahead of the clock reads as now: callers' clocks differ a little.)
  if (const uint64_t head = store_->Head().position;
      as_of.position.has_value() && *as_of.position > head) {
    return absl::InvalidArgumentError(
        absl::StrCat("position ", *as_of.position, " is past the end of the log (", head, ")"));
  }
  ASSIGN_OR_RETURN(std::vector<EventRecord> records,
                   store_->ReadStream(stream, 1, store::Direction::kForward, kMaxStreamRead));
  bool any = false;
  for (const EventRecord& record : records) {
    if (as_of.position.has_value() && record.position() > *as_of.position) break;
    if (as_of.time.has_value() && internal::ToTime(record.recorded_time()) > *as_of.time) break;
    v1::DomainEvent event;
    RETURN_IF_ERROR(internal::DecodeEvent(record, &event));
    apply(record, &event);
    any = true;
  }
  return any;
}

absl::StatusOr<OrderView> EngineImpl::GetOrderAsOf(const Principal& principal,
                                                   const std::string& order_id,
                                                   const AsOf& as_of) const {
  ASSIGN_OR_RETURN(const bool auditor, HoldsEventsRead(principal));
  std::string id = order_id;  // Or the key: the id once found.
  std::string key;
  if (auditor) {
    absl::ReaderMutexLock lock(&mu_);
    if (const OrderView* found = state_.FindOrderByIdOrKey(order_id)) {
      id = found->order_id();
      key = found->key();
    }
  } else {
    ASSIGN_OR_RETURN(OrderView current, GetOrder(principal, order_id));
    id = current.order_id();
    key = current.key();
  }
  OrderView order;
  ASSIGN_OR_RETURN(bool existed, Fold(internal::OrderStream(id), as_of,
                                      [&](const EventRecord& record, v1::DomainEvent* event) {
                                        internal::ApplyToOrder(record, event, &order);
                                      }));
  if (!existed) {
    return absl::NotFoundError(
        absl::StrCat("order \"", order_id, "\" did not exist yet at that moment"));
  }
  order.set_key(key);  // Assigned once, from the log order, and never changed.
  OrderView shown;
  {
    absl::ReaderMutexLock lock(&mu_);
    order.set_completed(state_.IsTerminal(order));
    ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
    shown = Shown(*caller, std::move(order), clock_->Now());
  }
  // Its account's owner at that moment, not now's, to one who sees the account (as Shown).
  if (!shown.account_owner_id().empty()) {
    ClientView client;
    RETURN_IF_ERROR(Fold(internal::ClientStream(shown.client_id()), as_of,
                         [&](const EventRecord& record, v1::DomainEvent* event) {
                           internal::ApplyToClient(record, event, &client);
                         })
                        .status());
    shown.set_account_owner_id(client.owner_id());
  }
  return shown;
}

absl::StatusOr<ListOrdersResponse> EngineImpl::ListOrders(const Principal& principal,
                                                          const ListOrdersRequest& request) const {
  // Saying whom each order waits for asks every user's queue per order, under the lock: such
  // pages are kept short (a page may hold fewer than asked; the token goes on from there).
  const size_t page_size = request.awaiting
                               ? std::min<size_t>(PageSize(request.page_size), kMaxAwaitingPage)
                               : PageSize(request.page_size);
  const auto date = [](const std::optional<v1::Date>& d) {
    return d.has_value() ? internal::FormatDate(*d) : std::string();
  };
  // The states in a canonical order, so that the same set always makes the same page tokens.
  const std::set<std::string> statuses(request.statuses.begin(), request.statuses.end());
  const std::string status_filter = absl::StrJoin(statuses, ",");
  const std::string flight_from = date(request.flight_from);
  const std::string flight_to = date(request.flight_to);
  const std::string archived = absl::StrCat(static_cast<int>(request.archived));
  std::vector<absl::string_view> filter_parts = {status_filter,
                                                 request.client_id,
                                                 request.owner_id,
                                                 flight_from,
                                                 flight_to,
                                                 archived,
                                                 request.actionable ? "actionable" : ""};
  // Only when given, so that the tokens of lists from before this filter still work.
  if (!request.account_owner_id.empty()) filter_parts.push_back(request.account_owner_id);
  const std::string type_part = "type:" + request.item_type;  // Kept: the parts are views.
  if (!request.item_type.empty()) filter_parts.push_back(type_part);
  const std::string parent_part = "parent:" + request.parent_order_id;
  if (!request.parent_order_id.empty()) filter_parts.push_back(parent_part);
  const std::string assignee_part = "assignee:" + request.assignee_id;
  if (!request.assignee_id.empty()) filter_parts.push_back(assignee_part);
  const uint32_t filters = FilterFingerprint(filter_parts);
  if (request.flight_from.has_value()) {
    RETURN_IF_ERROR(internal::ValidateDate("flight_from", *request.flight_from));
  }
  if (request.flight_to.has_value()) {
    RETURN_IF_ERROR(internal::ValidateDate("flight_to", *request.flight_to));
  }
  if (request.flight_from.has_value() && request.flight_to.has_value() &&
      internal::CompareDates(*request.flight_to, *request.flight_from) < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "flight_to ", internal::FormatDate(*request.flight_to), " is before flight_from ",
        internal::FormatDate(*request.flight_from), "; swap them"));
  }
  const absl::Time now = clock_->Now();
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  // A board of who has the ball names the house's people: not for a contact's login, which
  // would otherwise read every order as waiting for no one. (GetOrder, which a view of one
  // order asks whoever calls, leaves `awaiting` empty instead.)
  if (request.awaiting && !caller->client_id().empty()) {
    return absl::PermissionDeniedError(
        "whom orders wait for is for the house's staff; list the orders without with_awaiting "
        "(the CLI's --waiting)");
  }
  RETURN_IF_ERROR(AssigneeToFilterBy(*caller, request.assignee_id));
  ASSIGN_OR_RETURN(const uint64_t after,
                   ParsePageToken("ListOrders", filters, request.page_token, state_.position()));
  // The items made for one order: that order is one the caller sees (else a typo).
  const OrderView* parent = nullptr;
  if (!request.parent_order_id.empty()) {
    parent = state_.FindOrderByIdOrKey(request.parent_order_id);
    if (parent == nullptr || parent->deleted() || !state_.CanSee(*caller, *parent, now)) {
      return absl::NotFoundError(absl::StrCat("order \"", absl::CHexEscape(request.parent_order_id),
                                              "\" not found, to list the items made for it"));
    }
  }
  // A status no workflow has is a typo, not a filter that happens to match nothing: said to the
  // house's staff. To a contact's login it matches nothing, so that it cannot tell the house's
  // states (its workflows) from the names it makes up (RequireHouse). A state's title, as
  // `order show` prints it ("Waiting for pre-approval"), is one in any case.
  if (!statuses.empty() && caller->client_id().empty()) {
    const std::set<std::string> states = state_.WorkflowStateNames();
    const std::set<std::string> titles = state_.WorkflowStateTitles();
    std::vector<std::string> unknown;
    for (const std::string& status : request.statuses) {
      if (states.count(status) == 0 && titles.count(absl::AsciiStrToLower(status)) == 0) {
        unknown.push_back(absl::StrCat("\"", absl::CHexEscape(status), "\""));
      }
    }
    if (!unknown.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("no workflow has a state ", absl::StrJoin(unknown, " or "),
                       "; the states are: ", absl::StrJoin(states, ", ")));
    }
  }
  ListOrdersResponse response;
  uint64_t last_listed = after;
  const std::vector<const UserView*> users =
      request.awaiting ? ActiveUsersLocked() : std::vector<const UserView*>();
  size_t page_bytes = 0;  // Of the orders listed, as they are sent.
  // Lists the order created at `position` if every filter passes; false once the page is full.
  const auto list = [&](uint64_t position, const std::string& order_id) {
    const OrderView& order = *state_.FindOrder(order_id);
    // By its state's name, or by its title as `order show` prints it ("Declined").
    if (!statuses.empty() && statuses.count(order.status()) == 0 &&
        std::none_of(statuses.begin(), statuses.end(), [&](const std::string& status) {
          return !status.empty() && absl::EqualsIgnoreCase(status, state_.StatusTitle(order));
        })) {
      return true;
    }
    if (!request.client_id.empty() && order.client_id() != request.client_id) return true;
    if (!request.owner_id.empty() && order.owner_id() != request.owner_id) return true;
    if (!request.item_type.empty() && order.item_type() != request.item_type) return true;
    if (parent != nullptr && order.parent_order_id() != parent->order_id()) return true;
    if (!request.assignee_id.empty() && order.producer_id() != request.assignee_id) return true;
    if (!request.account_owner_id.empty()) {
      // Whose account it is, told only of a client the caller sees.
      const ClientView* client = state_.FindClient(order.client_id());
      if (client == nullptr || client->owner_id() != request.account_owner_id ||
          !KnowsAccountOwnerLocked(*caller, order, *client, now, /*even_deleted=*/true)) {
        return true;
      }
    }
    if (request.archived == ArchivedFilter::kExclude && order.archived()) return true;
    if (request.archived == ArchivedFilter::kOnly && !order.archived()) return true;
    if (!FlightOverlaps(order, request.flight_from, request.flight_to)) return true;
    if (!state_.CanSee(*caller, order, now)) return true;
    // An action that leaves the order where it is (a new script while the last one is in
    // review) is open to the caller, but the order does not wait for it: not their queue.
    std::vector<std::string> waiting;
    bool flight_change_waits = false;
    if (request.actionable) {
      waiting = internal::ActionsOpenTo(state_, *caller, order, now, /*moving_only=*/true);
      flight_change_waits = internal::FlightChangeAwaits(state_, *caller, order, now);
      if (waiting.empty() && !flight_change_waits) return true;
    }
    if (response.orders.size() == page_size) {
      response.next_page_token = PageToken("ListOrders", last_listed, filters);
      return false;
    }
    OrderView& shown = response.orders.emplace_back(Shown(*caller, order, now));
    // A queue says why each order is in it: what it waits for the caller to do.
    for (std::string& action : waiting) shown.add_open_actions(std::move(action));
    if (flight_change_waits)
      shown.add_open_flight_actions(internal::FlightDecisionOpen(order, now));
    if (request.awaiting) AddAwaitingLocked(*caller, users, order, now, &shown);
    const size_t bytes = shown.ByteSizeLong();  // As sent: trimmed, with what it waits for.
    if (response.orders.size() > 1 && page_bytes + bytes > kMaxOrderPageBytes) {
      response.orders.pop_back();  // The next page starts with it.
      response.next_page_token = PageToken("ListOrders", last_listed, filters);
      return false;
    }
    page_bytes += bytes;
    last_listed = position;
    return true;
  };
  // A filter by client or owner walks that one's orders (the smaller set when both are
  // given), not every order: the same orders in the same order, so pages are the same too.
  const absl::btree_set<uint64_t>* narrowed = nullptr;
  if (!request.client_id.empty()) narrowed = &state_.OrdersOfClient(request.client_id);
  if (!request.owner_id.empty()) {
    const absl::btree_set<uint64_t>* owned = &state_.OrdersOfOwner(request.owner_id);
    if (narrowed == nullptr || owned->size() < narrowed->size()) narrowed = owned;
  }
  // The orders of the accounts a user owns: theirs merged, when no narrower set was given.
  absl::btree_set<uint64_t> of_accounts;
  if (!request.account_owner_id.empty() && narrowed == nullptr) {
    for (const auto& [position, client_id] : state_.clients_by_creation()) {
      if (state_.FindClient(client_id)->owner_id() != request.account_owner_id) continue;
      const absl::btree_set<uint64_t>& orders = state_.OrdersOfClient(client_id);
      of_accounts.insert(orders.upper_bound(after), orders.end());
    }
    narrowed = &of_accounts;
  }
  // The items made for one order: its children, fewer than any other set.
  absl::btree_set<uint64_t> of_parent;
  if (parent != nullptr) {
    for (const std::string& child : parent->child_order_ids()) {
      if (const OrderView* made = state_.FindOrder(child)) {
        of_parent.insert(made->created_position());
      }
    }
    narrowed = &of_parent;
  }
  const auto& index = state_.orders_by_creation();
  if (narrowed != nullptr) {
    for (auto it = narrowed->upper_bound(after); it != narrowed->end(); ++it) {
      if (!list(*it, index.at(*it))) break;
    }
  } else {
    for (auto it = index.upper_bound(after); it != index.end(); ++it) {
      if (!list(it->first, it->second)) break;
    }
  }
  // Likewise a filter on a client or owner that is not there for the caller is a typo, not a
  // filter that happens to match nothing; but only when nothing was listed: one may see an
  // order shared with them whose client they do not see. So no one learns of a client or user
  // they may not see (nor that one was deleted), and a deleted client still lists its orders.
  if (response.orders.empty() && request.page_token.empty()) {
    RETURN_IF_ERROR(FiltersNameSomeoneLocked(*caller, request.client_id, request.owner_id, now));
    // An item type no one defined, to the house's staff (a contact's login may not read the
    // house's item types: to it, it matches nothing).
    if (caller->client_id().empty()) RETURN_IF_ERROR(ItemTypeToFilterBy(request.item_type));
    // The same for the accounts' owner; a contact's login knows only its own client's.
    if (const std::string& id = request.account_owner_id; !id.empty()) {
      const ClientView* own =
          caller->client_id().empty() ? nullptr : state_.FindClient(caller->client_id());
      if (state_.FindUser(id) == nullptr ||
          (!caller->client_id().empty() && (own == nullptr || own->owner_id() != id))) {
        return absl::NotFoundError(
            absl::StrCat("there is no user \"", absl::CHexEscape(id),
                         "\" to filter by accounts' owner; `spotflow user list` lists them"));
      }
    }
  }
  return response;
}

std::vector<const UserView*> EngineImpl::ActiveUsersLocked() const {
  std::vector<const UserView*> users;
  for (const auto& [id, user] : state_.users()) {
    if (user.active()) users.push_back(&user);
  }
  std::sort(users.begin(), users.end(),
            [](const UserView* a, const UserView* b) { return a->user_id() < b->user_id(); });
  return users;
}

void EngineImpl::AddAwaitingLocked(const UserView& caller,
                                   const std::vector<const UserView*>& users,
                                   const OrderView& order, absl::Time now, OrderView* shown) const {
  // For the house only: a contact's login is not shown the house's people.
  if (!caller.client_id().empty()) return;
  for (const UserView* user : users) {
    if (!state_.CanSee(*user, order, now)) continue;  // As a work queue lists only those.
    std::vector<std::string> actions =
        internal::ActionsOpenTo(state_, *user, order, now, /*moving_only=*/true);
    const bool flight_change = internal::FlightChangeAwaits(state_, *user, order, now);
    if (actions.empty() && !flight_change) continue;
    v1::Awaiting* awaiting = shown->add_awaiting();
    awaiting->set_user_id(user->user_id());
    awaiting->set_display_name(user->display_name());
    awaiting->set_contact_id(user->contact_id());
    for (std::string& action : actions) awaiting->add_actions(std::move(action));
    awaiting->set_flight_change(flight_change);
    if (flight_change) awaiting->set_flight_decision(internal::FlightDecisionOpen(order, now));
  }
}

absl::Status EngineImpl::FiltersNameSomeoneLocked(const UserView& caller,
                                                  const std::string& client_id,
                                                  const std::string& owner_id,
                                                  absl::Time now) const {
  const ClientView* client = client_id.empty() ? nullptr : state_.FindClient(client_id);
  if (!client_id.empty() &&
      (client == nullptr || !state_.CanSee(caller, *client, now, /*even_deleted=*/true))) {
    return absl::NotFoundError(absl::StrCat("there is no client \"", absl::CHexEscape(client_id),
                                            "\" to filter by; `spotflow client list` lists them"));
  }
  // A client contact's login sees no other user.
  if (!owner_id.empty() && (state_.FindUser(owner_id) == nullptr ||
                            (!caller.client_id().empty() && owner_id != caller.user_id()))) {
    return absl::NotFoundError(
        absl::StrCat("there is no user \"", absl::CHexEscape(owner_id),
                     "\" to filter by owner; `spotflow user list` lists them"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ListBudgetsResponse> EngineImpl::ListBudgets(
    const Principal& principal, const ListBudgetsRequest& request) const {
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  if (!caller->client_id().empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "user \"", caller->user_id(), "\" speaks for a client; budgets are the house's"));
  }
  const std::string& user_id = request.user_id;
  if (!user_id.empty()) {
    RETURN_IF_ERROR(internal::ValidateId("user_id", user_id));
    if (state_.FindUser(user_id) == nullptr) {
      return absl::NotFoundError(absl::StrCat("user \"", user_id, "\" not found"));
    }
    if (!internal::MayReadBudget(state_, *caller, user_id)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "user \"", caller->user_id(), "\" reads their own budgets and those of whom their ",
          "BUDGET_MANAGE reaches; not user \"", user_id, "\"'s"));
    }
  }
  ASSIGN_OR_RETURN(const std::string after,
                   ParseKeyPageToken(absl::StrCat("ListBudgets/", user_id), request.page_token));
  std::vector<const v1::Budget*> readable;
  for (const auto& [id, budget] : state_.budgets()) {
    if (budget.removed() || (!user_id.empty() && budget.user_id() != user_id)) continue;
    if (internal::MayReadBudget(state_, *caller, budget.user_id())) readable.push_back(&budget);
  }
  // By member, period start, id: a key that sorts so ("\x01" is below every id's characters).
  const auto key = [](const v1::Budget& b) {
    return absl::StrCat(
        b.user_id(), "\x01",
        absl::StrFormat("%05d%02d%02d", b.start().year(), b.start().month(), b.start().day()),
        "\x01", b.budget_id());
  };
  auto [page, next] = KeyPage(absl::StrCat("ListBudgets/", user_id), std::move(readable), key,
                              after, PageSize(request.page_size));
  const auto day = [](const v1::Date& d) { return absl::CivilDay(d.year(), d.month(), d.day()); };
  const absl::Time now = clock_->Now();
  ListBudgetsResponse response;
  response.next_page_token = std::move(next);
  response.budgets.reserve(page.size());
  for (v1::Budget& budget : page) {
    v1::BudgetProgress& p = response.budgets.emplace_back();
    *p.mutable_as_of() = internal::ToTimestamp(now);
    const absl::Time from = absl::FromCivil(day(budget.start()), absl::UTCTimeZone());
    const absl::Time until = absl::FromCivil(day(budget.end()) + 1, absl::UTCTimeZone());
    __int128 sum = 0;  // Field values span int64: summed wide, clamped once.
    for (uint64_t position : state_.OrdersOfOwner(budget.user_id())) {
      const OrderView& order = state_.OrderCreatedAt(position);
      if (order.deleted() || order.owner_id() != budget.user_id()) continue;
      if (budget.item_type().empty() ? !order.parent_order_id().empty()
                                     : order.item_type() != budget.item_type()) {
        continue;
      }
      // In the period by when it was made, or by when it was done.
      const std::optional<absl::Time> when = budget.basis() == v1::ORDERS_DONE
                                                 ? internal::FinishedAt(order)
                                                 : internal::ToTime(order.created_time());
      if (!when.has_value() || *when < from || *when >= until) continue;
      // Declined, cancelled: no sale was made, whatever it was worth.
      if (state_.IsAbandoned(order)) {
        p.set_abandoned_orders(p.abandoned_orders() + 1);
        continue;
      }
      p.set_orders(p.orders() + 1);
      if (order.completed()) p.set_completed_orders(p.completed_orders() + 1);
      if (budget.field().empty()) {
        ++sum;
      } else if (auto field = order.fields().find(budget.field());
                 field != order.fields().end() && field->second.has_integer_value()) {
        sum += field->second.integer_value();
      }
    }
    p.set_actual(static_cast<int64_t>(std::clamp<__int128>(sum, std::numeric_limits<int64_t>::min(),
                                                           std::numeric_limits<int64_t>::max())));
    p.set_percent(100.0 * static_cast<double>(p.actual()) / static_cast<double>(budget.target()));
    p.set_period_elapsed_percent(now <= from    ? 0
                                 : now >= until ? 100
                                                : 100 * absl::ToDoubleSeconds(now - from) /
                                                      absl::ToDoubleSeconds(until - from));
    *p.mutable_budget() = std::move(budget);
  }
  return response;
}

absl::Status EngineImpl::AssigneeToFilterBy(const UserView& caller,
                                            const std::string& assignee_id) const {
  if (assignee_id.empty()) return absl::OkStatus();
  if (!caller.client_id().empty()) {
    return absl::PermissionDeniedError(
        "whom the house assigns its orders to is the house's: leave out assignee_id (the "
        "CLI's --assigned)");
  }
  RETURN_IF_ERROR(internal::ValidateId("assignee_id", assignee_id));
  const UserView* assignee = state_.FindUser(assignee_id);
  if (assignee == nullptr) {
    return absl::NotFoundError(absl::StrCat("user \"", assignee_id,
                                            "\" not found, to filter by the orders assigned to "
                                            "them"));
  }
  if (!assignee->client_id().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("user \"", assignee_id,
                     "\" speaks for a client; the house assigns its orders to its staff"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::OrderStats> EngineImpl::GetOrderStats(const Principal& principal,
                                                         const OrderStatsFilter& filter) const {
  for (const auto& [what, since, before] :
       {std::make_tuple("created", &filter.created_since, &filter.created_before),
        std::make_tuple("finished", &filter.finished_since, &filter.finished_before)}) {
    if (since->has_value() && before->has_value() && **before <= **since) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, "_before ", absl::FormatTime(**before), " is not after ", what,
                       "_since ", absl::FormatTime(**since), "; the range would hold no order"));
    }
  }
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  if (!caller->client_id().empty()) {
    // The time orders spend in each state would tell a client of the house's internal reviews.
    return absl::PermissionDeniedError(absl::StrCat(
        "user \"", caller->user_id(), "\" speaks for a client; order analytics are the house's"));
  }
  RETURN_IF_ERROR(ItemTypeToFilterBy(filter.item_type));
  RETURN_IF_ERROR(AssigneeToFilterBy(*caller, filter.assignee_id));
  if (!filter.field.empty()) {
    if (filter.item_type.empty()) {
      return absl::InvalidArgumentError(
          "field sums a field of one item type: give item_type with field, or leave field out");
    }
    RETURN_IF_ERROR(
        internal::CheckSummableField(*state_.FindItemType(filter.item_type), filter.field));
  }
  // The group_by field's choices as they stand: a value given before a choice was respelt
  // ("price", now "Price") counts under it, not in a row of its own.
  const google::protobuf::RepeatedPtrField<std::string>* choices = nullptr;
  if (!filter.group_by.empty()) {
    if (filter.item_type.empty()) {
      return absl::InvalidArgumentError(
          "group_by names a field of one item type: give item_type with group_by, or leave "
          "group_by out");
    }
    const v1::ItemTypeDefinition& type = *state_.FindItemType(filter.item_type);
    std::vector<std::string> texts;
    bool found = false;
    for (const v1::FieldDefinition& f : type.fields()) {
      if (f.type() != v1::STRING && f.type() != v1::EMAIL) continue;
      texts.push_back(f.name());
      if (f.name() == filter.group_by) {
        found = true;
        choices = &f.choices();
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          "item type \"", type.name(), "\" has no text field \"", absl::CHexEscape(filter.group_by),
          "\" to group by",
          texts.empty() ? "; it has none"
                        : absl::StrCat("; its text fields are: ", absl::StrJoin(texts, ", "))));
    }
  }
  const absl::Time now = clock_->Now();
  // A field's values over some orders: summed wide (they span int64), clamped once.
  struct Amounts {
    __int128 sum = 0;
    uint32_t orders = 0;  // Those with a value.
    void Add(const OrderView& order, const std::string& field) {
      if (field.empty()) return;
      auto value = order.fields().find(field);
      if (value == order.fields().end() || !value->second.has_integer_value()) return;
      sum += value->second.integer_value();
      ++orders;
    }
    double Average() const { return orders == 0 ? 0 : static_cast<double>(sum) / orders; }
    int64_t Sum() const {
      return static_cast<int64_t>(std::clamp<__int128>(sum, std::numeric_limits<int64_t>::min(),
                                                       std::numeric_limits<int64_t>::max()));
    }
  };
  struct PerState {
    uint32_t orders_now = 0;
    std::vector<double> stays;  // Seconds.
    size_t rank = SIZE_MAX;     // Where its workflow lists it (the least over versions).
  };
  // States and final states by workflow, then name: two workflows' "completed" never mix.
  using StateKey = std::pair<std::string, std::string>;
  struct Cycles {
    uint32_t orders = 0;
    uint32_t timed = 0;  // Those whose completion is known (their workflow version is).
    double seconds = 0;  // Summed from creation to completion, over the timed ones.
    Amounts amounts;
    struct Tally {
      uint32_t orders = 0;
      Amounts amounts;
    };
    std::map<std::string, Tally> by_value;  // By the group_by field's value ("": none).
  };
  struct PerOwner {
    uint32_t open = 0;
    Amounts open_amounts;
    uint32_t archived_unfinished = 0;
    Cycles completed;
    // By the final state reached, and whether it is abandoned (State::IsAbandoned): a row
    // each, so lost deals never mix with won.
    std::map<std::pair<StateKey, bool>, Cycles> finished;
  };
  std::map<StateKey, PerState> states;
  std::map<std::string, PerOwner> owners;
  PerOwner everyone;  // OrderStats.team.
  // Each workflow version's final states, looked up once.
  std::map<std::pair<std::string, uint32_t>, std::set<std::string>> finals;
  v1::OrderStats stats;
  const auto seconds = [](const google::protobuf::Timestamp& from, absl::Time to) {
    return std::max(0.0, absl::ToDoubleSeconds(to - internal::ToTime(from)));
  };
  const auto count = [&](const OrderView& order) {
    if (order.deleted() || !state_.CanSee(*caller, order, now)) return;
    if (!filter.owner_id.empty() && order.owner_id() != filter.owner_id) return;
    if (!filter.client_id.empty() && order.client_id() != filter.client_id) return;
    if (!filter.item_type.empty() && order.item_type() != filter.item_type) return;
    if (!filter.assignee_id.empty() && order.producer_id() != filter.assignee_id) return;
    const absl::Time created = internal::ToTime(order.created_time());
    if (filter.created_since.has_value() && created < *filter.created_since) return;
    if (filter.created_before.has_value() && created >= *filter.created_before) return;
    if (filter.finished_since.has_value() || filter.finished_before.has_value()) {
      const std::optional<absl::Time> finished = internal::FinishedAt(order);
      if (!finished.has_value()) return;
      if (filter.finished_since.has_value() && *finished < *filter.finished_since) return;
      if (filter.finished_before.has_value() && *finished >= *filter.finished_before) return;
    }
    stats.set_orders(stats.orders() + 1);
    auto [final_states, first_seen] =
        finals.try_emplace({order.workflow(), order.workflow_version()});
    if (first_seen) {
      if (const v1::WorkflowDefinition* workflow =
              state_.FindWorkflow(order.workflow(), order.workflow_version())) {
        for (int i = 0; i < workflow->states_size(); ++i) {
          const v1::WorkflowState& s = workflow->states(i);
          size_t& rank = states[{order.workflow(), s.name()}].rank;
          rank = std::min(rank, static_cast<size_t>(i));
          if (s.terminal()) final_states->second.insert(s.name());
        }
      }
    }
    const std::set<std::string>& done = final_states->second;
    if (!order.archived()) ++states[{order.workflow(), order.status()}].orders_now;
    // Each stay ends at the next entry: another state, or archiving. The last goes on until
    // now; an archiving starts none, and a final state's are not stays of work.
    const auto& history = order.status_history();
    std::optional<absl::Time> completed_at;
    for (int i = 0; i < history.size(); ++i) {
      const v1::StatusEntered& entry = history[i];
      if (entry.archived()) continue;
      if (done.count(entry.status()) != 0) {
        // Completed when it entered the final state, not when it was restored there.
        const bool restored = i > 0 && history[i - 1].archived();
        if (!restored) completed_at = internal::ToTime(entry.time());
        continue;
      }
      const absl::Time end = i + 1 < history.size() ? internal::ToTime(history[i + 1].time()) : now;
      states[{order.workflow(), entry.status()}].stays.push_back(seconds(entry.time(), end));
    }
    // Its owner's (or assignee's) book, and everyone's together.
    const std::string& book = filter.by_assignee ? order.producer_id() : order.owner_id();
    for (PerOwner* owner : {&owners[book], &everyone}) {
      if (order.completed()) {
        Cycles& finished =
            owner->finished[{{order.workflow(), order.status()}, state_.IsAbandoned(order)}];
        finished.amounts.Add(order, filter.field);
        if (!filter.group_by.empty()) {
          auto value = order.fields().find(filter.group_by);
          // Blank is none given.
          std::string text(value == order.fields().end()
                               ? ""
                               : absl::StripAsciiWhitespace(value->second.string_value()));
          for (const std::string& choice : *choices) {
            if (absl::EqualsIgnoreCase(choice, text)) text = choice;
          }
          Cycles::Tally& tally = finished.by_value[text];
          ++tally.orders;
          tally.amounts.Add(order, filter.field);
        }
        for (Cycles* cycles : {&owner->completed, &finished}) {
          ++cycles->orders;
          if (!completed_at.has_value()) continue;
          ++cycles->timed;
          cycles->seconds += seconds(order.created_time(), *completed_at);
        }
      } else if (!order.archived()) {
        ++owner->open;
        owner->open_amounts.Add(order, filter.field);
      } else {
        ++owner->archived_unfinished;
      }
    }
  };
  // A filter by client or owner walks that one's orders (the smaller set), as ListOrders does.
  const absl::btree_set<uint64_t>* narrowed = nullptr;
  if (!filter.client_id.empty()) narrowed = &state_.OrdersOfClient(filter.client_id);
  if (!filter.owner_id.empty()) {
    const absl::btree_set<uint64_t>* owned = &state_.OrdersOfOwner(filter.owner_id);
    if (narrowed == nullptr || owned->size() < narrowed->size()) narrowed = owned;
  }
  if (narrowed != nullptr) {
    for (uint64_t position : *narrowed) count(state_.OrderCreatedAt(position));
  } else {
    for (const auto& [position, id] : state_.orders_by_creation()) count(*state_.FindOrder(id));
  }
  if (stats.orders() == 0) {
    RETURN_IF_ERROR(FiltersNameSomeoneLocked(*caller, filter.client_id, filter.owner_id, now));
  }
  // By workflow; in its order of states, and those it no longer lists (an older version's) after,
  // by name.
  const auto rank = [&](const StateKey& key) {
    const auto it = states.find(key);
    return it == states.end() ? SIZE_MAX : it->second.rank;
  };
  const auto in_order = [&](const StateKey& a, const StateKey& b) {
    return std::make_tuple(a.first, rank(a), a.second) <
           std::make_tuple(b.first, rank(b), b.second);
  };
  std::vector<StateKey> ordered;
  for (const auto& [key, per] : states) ordered.push_back(key);
  std::sort(ordered.begin(), ordered.end(), in_order);
  for (const StateKey& key : ordered) {
    PerState* per = &states[key];
    if (per->orders_now == 0 && per->stays.empty()) continue;
    v1::StateStats* out = stats.add_states();
    out->set_workflow(key.first);
    out->set_status(key.second);
    out->set_orders_now(per->orders_now);
    out->set_stays(static_cast<uint32_t>(per->stays.size()));
    if (!per->stays.empty()) {
      std::vector<double>& stays = per->stays;
      double sum = 0;
      for (double stay : stays) sum += stay;
      out->set_average_seconds(sum / stays.size());
      const size_t middle = stays.size() / 2;
      std::nth_element(stays.begin(), stays.begin() + middle, stays.end());
      double median = stays[middle];
      if (stays.size() % 2 == 0) {
        median = (median + *std::max_element(stays.begin(), stays.begin() + middle)) / 2;
      }
      out->set_median_seconds(median);
    }
  }
  const auto emit = [&](const PerOwner& per, v1::OwnerStats* out) {
    out->set_open_orders(per.open);
    out->set_archived_unfinished_orders(per.archived_unfinished);
    out->set_open_field_sum(per.open_amounts.Sum());
    out->set_open_field_orders(per.open_amounts.orders);
    out->set_completed_orders(per.completed.orders);
    if (per.completed.timed > 0) {
      out->set_average_cycle_seconds(per.completed.seconds / per.completed.timed);
    }
    std::vector<std::pair<const std::pair<StateKey, bool>*, const Cycles*>> finished;
    for (const auto& [ended, cycles] : per.finished) finished.emplace_back(&ended, &cycles);
    std::stable_sort(finished.begin(), finished.end(), [&](const auto& a, const auto& b) {
      return in_order(a.first->first, b.first->first);
    });
    for (const auto& [ended, cycles] : finished) {
      v1::FinishedStats* f = out->add_finished();
      f->set_workflow(ended->first.first);
      f->set_status(ended->first.second);
      f->set_orders(cycles->orders);
      f->set_abandoned(ended->second);
      f->set_field_sum(cycles->amounts.Sum());
      f->set_field_orders(cycles->amounts.orders);
      f->set_field_average(cycles->amounts.Average());
      // Most first; the map's order (by value) among equals.
      std::vector<std::pair<std::string, const Cycles::Tally*>> values;
      for (const auto& [text, tally] : cycles->by_value) values.emplace_back(text, &tally);
      std::stable_sort(values.begin(), values.end(), [](const auto& a, const auto& b) {
        return a.second->orders > b.second->orders;
      });
      for (const auto& [text, tally] : values) {
        v1::ValueCount* count = f->add_by_value();
        count->set_value(text);
        count->set_orders(tally->orders);
        count->set_field_sum(tally->amounts.Sum());
        count->set_field_orders(tally->amounts.orders);
        count->set_field_average(tally->amounts.Average());
      }
      if (cycles->timed > 0) f->set_average_cycle_seconds(cycles->seconds / cycles->timed);
    }
  };
  // Assignees by id, then the orders no one is assigned to: the map's "" moves to the end.
  for (const auto& [user, per] : owners) {
    if (filter.by_assignee && user.empty()) continue;
    v1::OwnerStats* out = filter.by_assignee ? stats.add_assignees() : stats.add_owners();
    out->set_user_id(user);
    emit(per, out);
  }
  if (auto none = owners.find(""); filter.by_assignee && none != owners.end()) {
    v1::OwnerStats* out = stats.add_assignees();
    out->set_unassigned(true);
    emit(none->second, out);
  }
  if (!owners.empty()) emit(everyone, stats.mutable_team());
  *stats.mutable_as_of() = internal::ToTimestamp(now);
  stats.set_field(filter.field);
  stats.set_group_by(filter.group_by);
  return stats;
}

absl::StatusOr<ClientView> EngineImpl::GetClient(const Principal& principal,
                                                 const std::string& client_id) const {
  if (client_id.empty()) return absl::InvalidArgumentError("client_id is required");
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  const ClientView* client = state_.FindClient(client_id);
  const absl::Time now = clock_->Now();
  if (client == nullptr || !state_.CanSee(*caller, *client, now)) {
    // One who works an order of it knows the client exists: still NOT_FOUND, as a client beyond
    // sight is (DESIGN section 5), but told where they meet it, as commands on it are.
    if (const OrderView* order = client == nullptr || client->deleted()
                                     ? nullptr
                                     : state_.AnOrderSeenBy(*caller, client->client_id(), now)) {
      const std::string& name = order->key().empty() ? order->order_id() : order->key();
      return absl::NotFoundError(
          absl::StrCat("client \"", client_id, "\" is not in your book: you work its order ", name,
                       " (spotflow order show ", name,
                       "), but the account itself is its owner's; ask them, or a manager"));
    }
    return absl::NotFoundError(
        absl::StrCat("client \"", absl::CHexEscape(client_id), "\" not found"));
  }
  ClientView shown = Shown(*caller, *client, now);
  // Which contacts have a login, for the house: removing one ends its login too.
  if (caller->client_id().empty()) {
    std::vector<std::pair<std::string, std::string>> logins;
    for (const auto& [id, user] : state_.users()) {
      if (user.active() && user.client_id() == client->client_id() && !user.contact_id().empty()) {
        logins.emplace_back(user.contact_id(), id);
      }
    }
    std::sort(logins.begin(), logins.end());  // The map's order is not the log's.
    for (auto& [contact, user] : logins) {
      v1::ContactLogin* login = shown.add_contact_logins();
      login->set_contact_id(std::move(contact));
      login->set_user_id(std::move(user));
    }
  }
  return shown;
}

absl::StatusOr<ClientView> EngineImpl::GetClientAsOf(const Principal& principal,
                                                     const std::string& client_id,
                                                     const AsOf& as_of) const {
  ASSIGN_OR_RETURN(const bool auditor, HoldsEventsRead(principal));
  if (!auditor) RETURN_IF_ERROR(GetClient(principal, client_id).status());
  UserView caller;
  {
    absl::ReaderMutexLock lock(&mu_);
    ASSIGN_OR_RETURN(const UserView* found, Caller(principal));
    caller = *found;
  }
  ClientView client;
  ASSIGN_OR_RETURN(bool existed, Fold(internal::ClientStream(client_id), as_of,
                                      [&](const EventRecord& record, v1::DomainEvent* event) {
                                        internal::ApplyToClient(record, event, &client);
                                      }));
  if (!existed) {
    return absl::NotFoundError(
        absl::StrCat("client \"", client_id, "\" did not exist yet at that moment"));
  }
  // As GetClient shows it then: a share that had expired by that moment is not shown.
  absl::Time moment = clock_->Now();
  if (as_of.time.has_value()) moment = std::min(moment, *as_of.time);
  if (as_of.position.has_value()) {
    ASSIGN_OR_RETURN(std::vector<EventRecord> at, store_->ReadAll(*as_of.position, 1));
    if (!at.empty()) moment = internal::ToTime(at.front().recorded_time());
  }
  return Shown(caller, client, moment);
}

absl::StatusOr<ListClientsResponse> EngineImpl::ListClients(
    const Principal& principal, const ListClientsRequest& request) const {
  const size_t page_size = PageSize(request.page_size);
  const uint32_t filters = FilterFingerprint({request.owner_id, request.kind});
  const absl::Time now = clock_->Now();
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  ASSIGN_OR_RETURN(const uint64_t after,
                   ParsePageToken("ListClients", filters, request.page_token, state_.position()));
  ListClientsResponse response;
  const auto& index = state_.clients_by_creation();
  for (auto it = index.upper_bound(after); it != index.end(); ++it) {
    const ClientView& client = *state_.FindClient(it->second);
    if (!request.owner_id.empty() && client.owner_id() != request.owner_id) continue;
    if (!internal::IsOfKind(client, request.kind)) continue;
    if (!state_.CanSee(*caller, client, now)) continue;
    if (response.clients.size() == page_size) {
      response.next_page_token = PageToken("ListClients", std::prev(it)->first, filters);
      break;
    }
    response.clients.push_back(Shown(*caller, client, now));
  }
  return response;
}

absl::StatusOr<UserView> EngineImpl::GetUser(const Principal& principal,
                                             const std::string& user_id) const {
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  // No id: the caller's own record (whom a token speaks for).
  const UserView* user = user_id.empty() ? caller : state_.FindUser(user_id);
  // A client contact's login sees only itself; staff see the directory.
  if (user == nullptr || (!caller->client_id().empty() && user != caller)) {
    return absl::NotFoundError(absl::StrCat("user \"", absl::CHexEscape(user_id), "\" not found"));
  }
  UserView shown = *user;
  HideTokens(*caller, &shown);
  return shown;
}

void EngineImpl::HideTokens(const UserView& caller, UserView* user) const {
  // Which tokens a user holds, and who issued them, is for administrators and the user.
  if (caller.user_id() != user->user_id() &&
      state_.ScopeOf(caller, v1::ADMIN_CONFIGURE) == v1::SCOPE_UNSPECIFIED) {
    user->clear_tokens();
  }
}

absl::StatusOr<ListUsersResponse> EngineImpl::ListUsers(const Principal& principal,
                                                        const ListUsersRequest& request) const {
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  if (!caller->client_id().empty()) {
    return absl::PermissionDeniedError("client contacts cannot list the users of the house");
  }
  ASSIGN_OR_RETURN(const std::string after, ParseKeyPageToken("ListUsers", request.page_token));
  std::vector<const UserView*> users;
  for (const auto& [id, user] : state_.users()) users.push_back(&user);
  ListUsersResponse response;
  std::tie(response.users, response.next_page_token) = KeyPage(
      "ListUsers", std::move(users),
      [](const UserView& u) -> const std::string& { return u.user_id(); }, after,
      PageSize(request.page_size));
  for (UserView& user : response.users) HideTokens(*caller, &user);
  return response;
}

// The house's configuration (roles, item types, workflows) is for its staff: a client
// contact's login is shown only its own orders' part (ForContact).
absl::Status RequireHouse(const UserView& caller, absl::string_view what) {
  if (caller.client_id().empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("a client contact's login may not ", what, ": they are the house's"));
}

absl::StatusOr<ListRolesResponse> EngineImpl::ListRoles(const Principal& principal,
                                                        const ListRolesRequest& request) const {
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  RETURN_IF_ERROR(RequireHouse(*caller, "list the house's roles"));
  ASSIGN_OR_RETURN(const std::string after, ParseKeyPageToken("ListRoles", request.page_token));
  std::vector<const RoleView*> roles;
  for (const auto& [name, role] : state_.roles()) roles.push_back(&role);
  ListRolesResponse response;
  std::tie(response.roles, response.next_page_token) = KeyPage(
      "ListRoles", std::move(roles),
      [](const RoleView& r) -> const std::string& { return r.definition().name(); }, after,
      PageSize(request.page_size));
  return response;
}

absl::StatusOr<v1::ItemTypeDefinition> EngineImpl::GetItemType(const Principal& principal,
                                                               const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  const bool requester = IsRequester(*caller);
  if (!requester) RETURN_IF_ERROR(RequireHouse(*caller, "read the house's item types"));
  const v1::ItemTypeDefinition* type = state_.FindItemType(name);
  // A requester's company's requests are of types that belong to a client and that the house
  // does not keep to itself; others (the house's own work) are not there for it.
  if (requester && (type == nullptr || !internal::Requestable(*type))) {
    return absl::NotFoundError(absl::StrCat("there is no item type \"", absl::CHexEscape(name),
                                            "\" to request; `spotflow type list` lists those "
                                            "there are"));
  }
  if (type == nullptr) {
    return absl::NotFoundError(absl::StrCat("there is no item type \"", absl::CHexEscape(name),
                                            "\"", DidYouMean(name, state_.ItemTypeNames()),
                                            "; the item types are ",
                                            absl::StrJoin(state_.ItemTypeNames(), ", ")));
  }
  return requester ? internal::FormOf(*type) : *type;
}

absl::StatusOr<ListItemTypesResponse> EngineImpl::ListItemTypes(const Principal& principal,
                                                                const PageRequest& request) const {
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  const bool requester = IsRequester(*caller);
  if (!requester) RETURN_IF_ERROR(RequireHouse(*caller, "list the house's item types"));
  ASSIGN_OR_RETURN(const std::string after, ParseKeyPageToken("ListItemTypes", request.page_token));
  std::vector<const v1::ItemTypeDefinition*> types;
  for (const std::string& name : state_.ItemTypeNames()) {
    const v1::ItemTypeDefinition* type = state_.FindItemType(name);
    // A requester's: those it may request (GetItemType).
    if (type != nullptr && (!requester || internal::Requestable(*type))) types.push_back(type);
  }
  ListItemTypesResponse response;
  std::tie(response.item_types, response.next_page_token) = KeyPage(
      "ListItemTypes", std::move(types),
      [](const v1::ItemTypeDefinition& t) -> const std::string& { return t.name(); }, after,
      PageSize(request.page_size));
  if (requester) {
    for (v1::ItemTypeDefinition& type : response.item_types) type = internal::FormOf(type);
  }
  return response;
}

absl::StatusOr<ListWorkflowsResponse> EngineImpl::ListWorkflows(const Principal& principal,
                                                                const PageRequest& request) const {
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  RETURN_IF_ERROR(RequireHouse(*caller, "list the house's workflows"));
  ASSIGN_OR_RETURN(const std::string after, ParseKeyPageToken("ListWorkflows", request.page_token));
  std::vector<const v1::WorkflowDefinition*> workflows;
  for (const std::string& name : state_.WorkflowNames()) {
    const v1::WorkflowDefinition* workflow = state_.FindWorkflow(name, 0);
    if (workflow != nullptr) workflows.push_back(workflow);
  }
  ListWorkflowsResponse response;
  std::tie(response.workflows, response.next_page_token) = KeyPage(
      "ListWorkflows", std::move(workflows),
      [](const v1::WorkflowDefinition& w) -> const std::string& { return w.name(); }, after,
      PageSize(request.page_size));
  return response;
}

absl::StatusOr<v1::WorkflowDefinition> EngineImpl::GetWorkflow(const Principal& principal,
                                                               const std::string& name,
                                                               uint32_t version) const {
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  RETURN_IF_ERROR(RequireHouse(*caller, "read the house's workflows"));
  const v1::WorkflowDefinition* workflow = state_.FindWorkflow(name, version);
  if (workflow == nullptr) {
    const v1::WorkflowDefinition* latest = state_.FindWorkflow(name, 0);
    if (latest != nullptr) {
      return absl::NotFoundError(absl::StrCat("workflow \"", absl::CHexEscape(name),
                                              "\" has no version ", version, "; its latest is ",
                                              latest->version()));
    }
    return absl::NotFoundError(absl::StrCat("there is no workflow \"", absl::CHexEscape(name),
                                            "\"; the workflows are ",
                                            absl::StrJoin(state_.WorkflowNames(), ", ")));
  }
  return *workflow;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const Options& options,
                                                     store::EventStore* store, Clock* clock,
                                                     IdGenerator* ids) {
  if (store == nullptr || clock == nullptr || ids == nullptr) {
    return absl::InvalidArgumentError("Engine::Open needs a store, a clock and an id generator");
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError("Options::max_attempts must be at least 1");
  }
  if (options.max_page_size == 0 || options.default_page_size == 0) {
    return absl::InvalidArgumentError("page sizes must be at least 1");
  }
  auto engine = std::make_unique<EngineImpl>(options, store, clock, ids);
  RETURN_IF_ERROR(engine->Init());
  return engine;
}

// --- Audit --------------------------------------------------------------------------------

// How often the rebuild reports progress.
constexpr uint64_t kProgressEvery = 10'000;

absl::StatusOr<bool> EngineImpl::HoldsEventsRead(const Principal& principal) const {
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  return state_.ScopeOf(*caller, v1::EVENTS_READ) != v1::SCOPE_UNSPECIFIED;
}

absl::StatusOr<store::VerifyResult> EngineImpl::VerifyLog(const Principal& principal,
                                                          uint64_t from_position,
                                                          uint64_t to_position,
                                                          const Progress& progress) const {
  RETURN_IF_ERROR(RequireEventsRead(principal));
  return engine::VerifyLog(*store_, from_position, to_position, progress);
}

absl::StatusOr<store::VerifyResult> EngineImpl::CheckDigest(const Principal& principal,
                                                            const v1::LogDigest& digest,
                                                            const Progress& progress) const {
  RETURN_IF_ERROR(RequireEventsRead(principal));
  return engine::CheckDigest(*store_, digest, progress);
}

absl::StatusOr<ExportPage> EngineImpl::ExportEvents(const Principal& principal,
                                                    const ExportFilter& filter,
                                                    size_t max_bytes) const {
  RETURN_IF_ERROR(RequireEventsRead(principal));
  if (!filter.order_id.empty() + !filter.client_id.empty() + !filter.stream_id.empty() > 1) {
    return absl::InvalidArgumentError(
        "an export takes one of an order, a client and a stream, not several");
  }
  if (!filter.actor_id.empty() && filter.actor_id != internal::kSystemUser) {
    // Likewise an empty export for a misspelt user would read as one who did nothing.
    absl::ReaderMutexLock lock(&mu_);
    if (state_.FindUser(filter.actor_id) == nullptr) {
      return absl::NotFoundError(absl::StrCat("no user has the id \"",
                                              absl::CHexEscape(filter.actor_id),
                                              "\"; `spotflow user list` lists them"));
    }
  }
  ExportFilter resolved = filter;
  if (!filter.order_id.empty()) {
    absl::ReaderMutexLock lock(&mu_);
    const OrderView* order = state_.FindOrderByIdOrKey(filter.order_id);  // Deleted too.
    if (order == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("no order has the id or key \"", absl::CHexEscape(filter.order_id), "\""));
    }
    resolved.stream_id = internal::OrderStream(order->order_id());
  } else if (!filter.client_id.empty()) {
    absl::ReaderMutexLock lock(&mu_);
    if (state_.FindClient(filter.client_id) == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("no client has the id \"", absl::CHexEscape(filter.client_id), "\""));
    }
    resolved.stream_id = internal::ClientStream(filter.client_id);
  } else if (!filter.stream_id.empty()) {
    // An empty export of a misspelled stream would read as a record with no events.
    ASSIGN_OR_RETURN(const uint64_t version, store_->StreamVersion(filter.stream_id));
    if (version == 0) {
      // "order-PO-2026-00003", as `events tail` names an order by its key: say its stream.
      absl::string_view name = filter.stream_id;
      if (absl::ConsumePrefix(&name, "order-") || absl::ConsumePrefix(&name, "order ")) {
        absl::ReaderMutexLock lock(&mu_);
        if (const OrderView* order = state_.FindOrderByIdOrKey(name); order != nullptr) {
          return absl::NotFoundError(absl::StrCat(
              "the log has no stream \"", absl::CHexEscape(filter.stream_id), "\"; order ",
              order->key(), "'s stream is ", internal::OrderStream(order->order_id()),
              " (or export it by its key: spotflow audit export --order ", order->key(), ")"));
        }
      }
      return absl::NotFoundError(
          absl::StrCat("the log has no stream \"", absl::CHexEscape(filter.stream_id),
                       "\"; orders' streams are named order-<id> and clients' client-<id>"));
    }
  }
  return engine::ExportEvents(*store_, resolved, max_bytes);
}

template <typename View>
absl::StatusOr<std::vector<v1::Change>> EngineImpl::History(
    const char* what, const std::string& id, const std::string& stream,
    const std::function<void(const EventRecord&, v1::DomainEvent*, View*)>& apply) const {
  ASSIGN_OR_RETURN(std::vector<EventRecord> records,
                   store_->ReadStream(stream, 1, store::Direction::kForward, kMaxStreamRead));
  std::vector<v1::Change> changes;
  changes.reserve(records.size());
  View view;
  for (const EventRecord& record : records) {
    v1::DomainEvent event;
    RETURN_IF_ERROR(internal::DecodeEvent(record, &event));
    const View before = view;
    apply(record, &event, &view);
    v1::Change& change = changes.emplace_back();
    change.set_position(record.position());
    change.set_version(record.stream_version());
    *change.mutable_time() = record.recorded_time();
    *change.mutable_actor() = record.actor();
    change.set_type(record.payload_type());
    for (v1::FieldChange& field : DiffFields(before, view, /*for_people=*/true)) {
      *change.add_fields() = std::move(field);
    }
  }
  if (changes.empty()) {
    return absl::NotFoundError(
        absl::StrCat(what, " \"", absl::CHexEscape(id), "\" has no history: it never existed"));
  }
  return changes;
}

absl::StatusOr<std::vector<v1::Change>> EngineImpl::OrderHistory(
    const Principal& principal, const std::string& order_id) const {
  ASSIGN_OR_RETURN(const bool auditor, HoldsEventsRead(principal));
  if (!auditor) {
    // Staff read the history of an order they can see (GetOrder: NOT_FOUND otherwise). A
    // contact's login sees only what was forwarded to them; the history holds the rest.
    ASSIGN_OR_RETURN(UserView caller, GetUser(principal, principal.user_id));
    if (!caller.contact_id().empty()) {
      return absl::PermissionDeniedError(
          "a client contact's login may not read an order's history: it holds the house's "
          "internal reviews and comments");
    }
    RETURN_IF_ERROR(GetOrder(principal, order_id).status());
  }
  std::string id = order_id;
  {
    // By key too (deleted orders included: auditors read them).
    absl::ReaderMutexLock lock(&mu_);
    if (const OrderView* found = state_.FindOrderByIdOrKey(order_id)) id = found->order_id();
  }
  ASSIGN_OR_RETURN(
      std::vector<v1::Change> changes,
      History<OrderView>("order", order_id, internal::OrderStream(id), internal::ApplyToOrder));
  if (auditor) return changes;
  // Linked orders by the ids of those the caller may see, as its views give them.
  absl::ReaderMutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const UserView* caller, Caller(principal));
  const absl::Time now = clock_->Now();
  const auto hidden = [&](const v1::FieldChange& field) {
    if (field.path() != "parent_order_id" && !absl::StartsWith(field.path(), "child_order_ids[")) {
      return false;
    }
    absl::string_view linked_id = field.new_value();
    absl::ConsumePrefix(&linked_id, "\"");
    absl::ConsumeSuffix(&linked_id, "\"");
    return VisibleOrderLocked(*caller, linked_id, now) == nullptr;
  };
  for (v1::Change& change : changes) {
    auto* fields = change.mutable_fields();
    fields->erase(std::remove_if(fields->begin(), fields->end(), hidden), fields->end());
  }
  return changes;
}

absl::StatusOr<std::vector<v1::Change>> EngineImpl::ClientHistory(
    const Principal& principal, const std::string& client_id) const {
  RETURN_IF_ERROR(RequireEventsRead(principal));
  return History<ClientView>("client", client_id, internal::ClientStream(client_id),
                             internal::ApplyToClient);
}

absl::StatusOr<Engine::ReplayCheck> EngineImpl::CheckReplay(const Principal& principal,
                                                            const Progress& progress) const {
  RETURN_IF_ERROR(RequireEventsRead(principal));
  v1::EngineState live;
  {
    absl::ReaderMutexLock lock(&mu_);
    live = state_.ToProto();
  }
  const uint64_t position = live.position();
  internal::State scratch;
  uint64_t done = 0;
  if (position > 0) {
    RETURN_IF_ERROR(store_->ScanAll(1, position, [&](const EventRecord& record) -> absl::Status {
      RETURN_IF_ERROR(scratch.Apply(record));
      if (progress && ++done % kProgressEvery == 0 && !progress(done, position)) {
        return absl::CancelledError(
            absl::StrCat("the rebuild was stopped at position ", record.position()));
      }
      return absl::OkStatus();
    }));
  }
  if (progress) progress(position, position);
  const v1::EngineState rebuilt = scratch.ToProto();
  ReplayCheck check;
  check.position = position;
  check.live_digest = DigestOf(live);
  check.rebuilt_digest = DigestOf(rebuilt);
  if (check.live_digest != check.rebuilt_digest) {
    const std::vector<v1::FieldChange> differences = DiffFields(live, rebuilt);
    return absl::DataLossError(absl::StrCat(
        "the live projections differ from a rebuild from the log at position ", position,
        differences.empty() ? std::string()
                            : absl::StrCat(" (first difference: ", differences[0].path(), ", live ",
                                           differences[0].old_value(), ", rebuilt ",
                                           differences[0].new_value(), ")"),
        "; live digest ", check.live_digest, ", rebuilt ", check.rebuilt_digest,
        ". Restart without the snapshot to rebuild them from the log"));
  }
  return check;
}

std::string DigestOf(const v1::EngineState& state) { return Sha256Hex(DeterministicBytes(state)); }

}  // namespace spotflow::engine
