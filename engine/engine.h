// engine.h: the Spotflow engine. Commands in, events out, projections to query.
//
// An Engine runs over an EventStore it borrows. Execute() checks a command against the current
// state and the caller's privileges and either appends the events it decides on, or returns an
// error having written nothing. Queries read projections that are rebuilt from the log when the
// engine opens and kept current as commands commit; a query after a successful command sees
// its effects.
//
//   auto store = spotflow::store::EventStore::Open({}, "./var/spotflow");
//   spotflow::engine::SystemClock clock;
//   spotflow::engine::RandomIdGenerator ids;
//   auto engine = spotflow::engine::Engine::Open({}, store->get(), &clock, &ids);
//   (*engine)->Bootstrap(...);  // the first administrator, on a new log
//   spotflow::v1::Command command;
//   command.mutable_create_client()->set_name("Acme Motors");
//   auto result = (*engine)->Execute({"ae-1"}, command);
//
// Thread-safe: Execute and every query may be called from any number of threads. The engine
// must be the only writer of its store while it is open.
#ifndef SPOTFLOW_ENGINE_ENGINE_H_
#define SPOTFLOW_ENGINE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/audit.h"
#include "engine/clock.h"
#include "engine/ids.h"
#include "proto/commands.pb.h"
#include "proto/domain.pb.h"
#include "store/event_store.h"

namespace spotflow::engine {

using ::spotflow::v1::ClientView;
using ::spotflow::v1::Command;
using ::spotflow::v1::CommandResult;
using ::spotflow::v1::OrderView;
using ::spotflow::v1::RoleView;
using ::spotflow::v1::UserView;

struct Options {
  // Load the preset roles, the production-order item type and its workflow when the log is
  // new. Default: true.
  bool load_presets = true;

  // How many decisions of one command may be overtaken by changes that commit first to what
  // it was decided on (its target, or a record it read: Decision::reads), the first decision
  // included, before it fails with ABORTED. Deciding again after waiting in line for a turn
  // does not count, nor do the first 3 made again because another command passed through one
  // of its turns. Default: 16.
  int max_attempts = 16;

  // A snapshot file of the projections. When set, Open loads it if it matches the log (same
  // hash at its position) and replays only the records after it; WriteSnapshot() writes it.
  // Default: empty (rebuild from position 1).
  std::string snapshot_path;

  // Largest page a List query returns; larger page sizes are clamped. Default: 1000.
  size_t max_page_size = 1000;

  // Default page size of List queries. Default: 50.
  size_t default_page_size = 50;
};

// Who is calling: a user id the service authenticated. The engine decides what they may do.
struct Principal {
  std::string user_id;
};

// A moment in the log: a position, or the last record recorded at or before a time.
struct AsOf {
  std::optional<uint64_t> position;
  std::optional<absl::Time> time;
};

struct GetOrderOptions {
  // Also fill OrderView.awaiting (for the house's staff): whose work queue the order stands in.
  // It asks every user's queue, so only where someone will read it.
  bool awaiting = false;
};

enum class ArchivedFilter { kExclude, kInclude, kOnly };

struct ListOrdersRequest {
  // Orders in any of these workflow states; empty: any state.
  std::vector<std::string> statuses;
  std::string client_id;  // Empty: any.
  std::string owner_id;   // Empty: any.
  // Orders on the accounts this user owns now, whoever owns the orders (seed 003's personal
  // manager); only those whose client the caller sees. Empty: any.
  std::string account_owner_id;
  std::string item_type;  // Orders of this item type. Empty: any.
  // The items made for this order (its id or key; one the caller does not see is NOT_FOUND).
  // Empty: any.
  std::string parent_order_id;
  // Orders this user is assigned to (their producer or responsible; seed 002's support board).
  // A contact's login is refused (PERMISSION_DENIED): whom the house assigns is its own.
  // Empty: any.
  std::string assignee_id;
  // Orders whose flight overlaps [flight_from, flight_to]; unset: no bound.
  std::optional<v1::Date> flight_from;
  std::optional<v1::Date> flight_to;
  ArchivedFilter archived = ArchivedFilter::kExclude;
  // Only orders waiting for the caller: a workflow action of theirs moves it on now (a
  // producer's production queue, an AE's approvals to give), or a flight-date change waits
  // for their decision (a sales manager's). Actions that leave an order in its state (a new
  // script while one is in review) do not count.
  bool actionable = false;
  // Also fill each order's `awaiting`, as GetOrderOptions::awaiting; a page then holds at
  // most 100 orders. A client contact's login is refused (PERMISSION_DENIED).
  bool awaiting = false;
  size_t page_size = 0;  // 0: Options::default_page_size.
  std::string page_token;
};

struct ListOrdersResponse {
  std::vector<OrderView> orders;
  std::string next_page_token;  // Empty on the last page.
};

// Which orders GetOrderStats counts, besides those the caller sees.
struct OrderStatsFilter {
  std::string owner_id;   // Empty: any.
  std::string client_id;  // Empty: any.
  std::string item_type;  // Empty: any.
  // Those assigned to this user: their producer, or an item's responsible. Empty: any.
  std::string assignee_id;
  // Created in [created_since, created_before); unset: no bound.
  std::optional<absl::Time> created_since;
  std::optional<absl::Time> created_before;
  // Finished in [finished_since, finished_before): the order's last step into the final
  // state it is in (deals won or lost this quarter). Either set: only finished orders count.
  std::optional<absl::Time> finished_since;
  std::optional<absl::Time> finished_before;
  std::string field;     // A whole-number field of item_type to sum; empty: none.
  std::string group_by;  // A text field of item_type to count finished orders by; empty: none.
  // Each assignee's book (v1::OrderStats::assignees) instead of each owner's.
  bool by_assignee = false;
};

struct ListBudgetsRequest {
  std::string user_id;  // Empty: every member's the caller reads.
  size_t page_size = 0;
  std::string page_token;
};

struct ListBudgetsResponse {
  std::vector<v1::BudgetProgress> budgets;
  std::string next_page_token;
};

struct ListClientsRequest {
  std::string owner_id;  // Empty: any.
  std::string kind;      // Empty: any; else as internal::IsOfKind reads it ("agency").
  size_t page_size = 0;
  std::string page_token;
};

struct ListClientsResponse {
  std::vector<ClientView> clients;
  std::string next_page_token;
};

// Users by id, roles by name, a page at a time.
struct ListUsersRequest {
  size_t page_size = 0;
  std::string page_token;
};

struct ListUsersResponse {
  std::vector<UserView> users;
  std::string next_page_token;
};

// A page of a list by name (roles, item types, workflows).
struct PageRequest {
  size_t page_size = 0;
  std::string page_token;
};
using ListRolesRequest = PageRequest;

struct ListRolesResponse {
  std::vector<RoleView> roles;
  std::string next_page_token;
};

struct ListItemTypesResponse {
  std::vector<v1::ItemTypeDefinition> item_types;  // Each one's latest version, by name.
  std::string next_page_token;
};

struct ListWorkflowsResponse {
  std::vector<v1::WorkflowDefinition> workflows;  // Each one's latest version, by name.
  std::string next_page_token;
};

class Engine {
 public:
  // Opens an engine over `store`, rebuilding the projections from the log (from the snapshot,
  // when one matches). On a new log with Options::load_presets, appends the presets first.
  // `store`, `clock` and `ids` are borrowed and must outlive the engine.
  // Errors: INVALID_ARGUMENT for bad options; DATA_LOSS when a record cannot be read; what the
  // store returns otherwise.
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const Options& options,
                                                      store::EventStore* store, Clock* clock,
                                                      IdGenerator* ids);

  Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  virtual ~Engine() = default;

  // Creates the first administrator (a user with the "admin" role). FAILED_PRECONDITION once
  // any user exists.
  virtual absl::StatusOr<CommandResult> Bootstrap(const v1::CreateUser& admin) = 0;

  // Executes `command` for `principal`. On success the events are durable (when the store
  // syncs) and projected; a preview (Command.validate_only) is decided the same way and
  // writes nothing, answering what it would write. Errors, each having written nothing:
  // UNAUTHENTICATED (unknown user), PERMISSION_DENIED (deactivated, or lacking the privilege or
  // scope), INVALID_ARGUMENT, NOT_FOUND (missing or not visible), FAILED_PRECONDITION (not allowed
  // in the current state), ALREADY_EXISTS, ABORTED (stale etag, or too many concurrent changes).
  virtual absl::StatusOr<CommandResult> Execute(const Principal& principal,
                                                const Command& command) = 0;

  // Execute without waiting for the append to commit: `done` gets what Execute would
  // return. It runs on the caller's thread when the command is answered before anything is
  // appended (refused, repeated, nothing to change, or a preview), else on the store's completion
  // thread once the events are durable and projected. `done` must be quick and must not
  // call Execute (which would wait for that thread); it may call ExecuteAsync and queries.
  // Destroying the engine waits for every answer still to come.
  using ExecuteCallback = std::function<void(absl::StatusOr<CommandResult>)>;
  virtual void ExecuteAsync(const Principal& principal, const Command& command,
                            ExecuteCallback done) = 0;

  // ExecuteAsync for a caller that must not wait (a gRPC reaction): it goes ahead only when it
  // can decide at once. It returns false, having done nothing, when deciding would first read
  // the log (a request id to look up), walk every client (ReassignAccounts), wait for the
  // engine's state while it is being changed or read at length, or have to decide again
  // because another command passed through one of its turns since it decided; the caller then
  // hands the command to a thread that may wait. Otherwise as ExecuteAsync, and true.
  virtual bool TryExecuteAsync(const Principal& principal, const Command& command,
                               ExecuteCallback done) = 0;

  // Queries. NOT_FOUND when the record does not exist, is deleted, or is not visible to the
  // caller; UNAUTHENTICATED / PERMISSION_DENIED for an unknown or deactivated caller. Queries
  // and commands find an order by its id or by its key ("PO-2026-00001").
  absl::StatusOr<OrderView> GetOrder(const Principal& principal,
                                     const std::string& order_id) const {
    return GetOrder(principal, order_id, GetOrderOptions());
  }
  virtual absl::StatusOr<OrderView> GetOrder(const Principal& principal,
                                             const std::string& order_id,
                                             const GetOrderOptions& options) const = 0;
  // As of a moment: the record folded from its own events up to it. Auditors (EVENTS_READ)
  // may read deleted records as they were.
  virtual absl::StatusOr<OrderView> GetOrderAsOf(const Principal& principal,
                                                 const std::string& order_id,
                                                 const AsOf& as_of) const = 0;
  // Analytics over the orders the caller sees (deleted ones not counted), for the house's
  // staff (a client's login is PERMISSION_DENIED): how many stand in each state now, how long
  // they spend in each (average and median stay, a stay still going on counted until now), and
  // each owner's open and completed orders with the average time from creation to completion.
  virtual absl::StatusOr<v1::OrderStats> GetOrderStats(const Principal& principal,
                                                       const OrderStatsFilter& filter) const = 0;
  virtual absl::StatusOr<ListOrdersResponse> ListOrders(const Principal& principal,
                                                        const ListOrdersRequest& request) const = 0;
  // The budgets the caller reads (their own, and those of whom their BUDGET_MANAGE reaches),
  // of one member alone when asked, by member, period start and id, a page at a time, each
  // with its progress now: the orders the member owns that were made in the period count,
  // whoever sees them (without an item type, those made for another order do not: they are
  // part of its work). A client's login is PERMISSION_DENIED; so is a member whose budgets the
  // caller does not read.
  virtual absl::StatusOr<ListBudgetsResponse> ListBudgets(
      const Principal& principal, const ListBudgetsRequest& request) const = 0;
  // The client as it stands now: an account share past its end is not shown.
  virtual absl::StatusOr<ClientView> GetClient(const Principal& principal,
                                               const std::string& client_id) const = 0;
  // The client as its events had left it at that moment, without the shares that had ended by
  // then.
  virtual absl::StatusOr<ClientView> GetClientAsOf(const Principal& principal,
                                                   const std::string& client_id,
                                                   const AsOf& as_of) const = 0;
  virtual absl::StatusOr<ListClientsResponse> ListClients(
      const Principal& principal, const ListClientsRequest& request) const = 0;
  // An empty user_id reads the caller's own record.
  virtual absl::StatusOr<UserView> GetUser(const Principal& principal,
                                           const std::string& user_id) const = 0;
  virtual absl::StatusOr<ListUsersResponse> ListUsers(const Principal& principal,
                                                      const ListUsersRequest& request) const = 0;
  virtual absl::StatusOr<ListRolesResponse> ListRoles(const Principal& principal,
                                                      const ListRolesRequest& request) const = 0;
  // The house's staff read the whole definition; a client's login with REQUEST_SUBMIT reads
  // the form it fills in (name, title, version, the fields not internal, facets), without the
  // workflow and the key format, of the types it may request (those with a client,
  // facets.client_link, that the house does not keep to itself, facets.house_only).
  virtual absl::StatusOr<v1::ItemTypeDefinition> GetItemType(const Principal& principal,
                                                             const std::string& name) const = 0;
  // Shown as GetItemType shows each.
  virtual absl::StatusOr<ListItemTypesResponse> ListItemTypes(const Principal& principal,
                                                              const PageRequest& request) const = 0;
  // The house's staff only.
  virtual absl::StatusOr<ListWorkflowsResponse> ListWorkflows(const Principal& principal,
                                                              const PageRequest& request) const = 0;
  // version 0: the latest.
  virtual absl::StatusOr<v1::WorkflowDefinition> GetWorkflow(const Principal& principal,
                                                             const std::string& name,
                                                             uint32_t version) const = 0;

  // The raw log, for administrators and auditors (EVENTS_READ): up to `limit` records from
  // `from_position`. PERMISSION_DENIED without the privilege.
  virtual absl::StatusOr<std::vector<v1::EventRecord>> ReadEvents(const Principal& principal,
                                                                  uint64_t from_position,
                                                                  size_t limit) const = 0;

  // --- Audit (EVENTS_READ; PERMISSION_DENIED without it). engine/audit.h has the formats. ---

  // The hash-chain check of [from, to] (0: the head): the count and the hash of `to`, whose
  // DigestAt is the digest to keep. DATA_LOSS names the first bad position. `progress` (may
  // be empty) is called every few thousand records.
  virtual absl::StatusOr<store::VerifyResult> VerifyLog(const Principal& principal,
                                                        uint64_t from_position,
                                                        uint64_t to_position,
                                                        const Progress& progress) const = 0;

  // Proves that the log up to the digest's position is the one the digest was taken of and
  // that today's log extends it: verifies the whole log and compares the hash at that
  // position. Returns the whole log's verification. DATA_LOSS when a record is bad, when the
  // hash there differs (the log before it was rewritten), or when the log now ends before it
  // (records were removed); INVALID_ARGUMENT for a malformed digest.
  virtual absl::StatusOr<store::VerifyResult> CheckDigest(const Principal& principal,
                                                          const v1::LogDigest& digest,
                                                          const Progress& progress) const = 0;

  // One page of an export: the records of [filter.from_position, filter.to_position] that
  // match the filter, each verified before it is rendered (ExportLine), up to about
  // `max_bytes` of lines (at least one). Continue from `next_position` until `done`. A
  // corrupt record stops the export with DATA_LOSS at its position.
  virtual absl::StatusOr<ExportPage> ExportEvents(const Principal& principal,
                                                  const ExportFilter& filter,
                                                  size_t max_bytes) const = 0;

  // Every change to an order or a client, oldest first: each event of its stream with who,
  // when, and the fields of the record it changed. NOT_FOUND when the record never existed.
  // Auditors (EVENTS_READ) read any, deleted ones included; staff read the history of an
  // order they can see (not deleted); client contacts' logins read none.
  virtual absl::StatusOr<std::vector<v1::Change>> OrderHistory(
      const Principal& principal, const std::string& order_id) const = 0;
  virtual absl::StatusOr<std::vector<v1::Change>> ClientHistory(
      const Principal& principal, const std::string& client_id) const = 0;

  // The determinism check: rebuilds every projection from position 1 into a scratch state,
  // up to the position the live projections have reached, and compares the two digests.
  // DATA_LOSS naming the first difference when they differ (a forged snapshot, or a
  // projection that is not a pure function of the log).
  struct ReplayCheck {
    uint64_t position = 0;
    std::string live_digest;     // StateDigest of the live projections at `position`.
    std::string rebuilt_digest;  // Of the rebuild: equal when the check passes.
  };
  virtual absl::StatusOr<ReplayCheck> CheckReplay(const Principal& principal,
                                                  const Progress& progress) const = 0;

  // OK when the caller holds `privilege` in any scope; UNAUTHENTICATED, PERMISSION_DENIED
  // otherwise. For what the service manages beside the engine (tokens).
  virtual absl::Status Authorize(const Principal& principal, v1::Privilege privilege) const = 0;
  // Whether `user_id` is an active user (NOT_FOUND, FAILED_PRECONDITION otherwise).
  virtual absl::Status CheckActiveUser(const std::string& user_id) const = 0;

  // A live feed of the raw log from `from_position` (EVENTS_READ): the backlog, then new
  // records. The subscription must be destroyed before the engine.
  virtual absl::StatusOr<std::unique_ptr<store::Subscription>> SubscribeEvents(
      const Principal& principal, uint64_t from_position) = 0;

  // Waits up to `timeout` for the projections to include a record after `after_position`;
  // returns whether they do. For watchers: note position(), read, and wait on that position
  // when there was nothing new. Never fails.
  virtual bool WaitForPosition(uint64_t after_position, absl::Duration timeout) const = 0;

  // What changed after `after_position`, up to the projections' position: for a watcher woken
  // by WaitForPosition to tell whether the change was its concern.
  struct Changes {
    uint64_t position = 0;               // The projections' position these run up to.
    std::vector<std::string> order_ids;  // The orders changed, each once.
    // Something besides orders changed (users, roles, clients, definitions: who may see what),
    // or the changes go further back than the engine remembers (its last 4,096 records).
    bool beyond_orders = false;
  };
  virtual Changes ChangedSince(uint64_t after_position) const = 0;

  // The position of the last record the projections include.
  virtual uint64_t position() const = 0;
  // The position of the log's last record, which may be past position() for a moment: the
  // projections take in a commit just after the store makes it. Always the end of a whole
  // append.
  virtual uint64_t log_head() const = 0;

  // How Open rebuilt the projections, for an operator's log.
  struct Recovery {
    uint64_t snapshot_position = 0;  // Where the snapshot it started from ends; 0: none.
    // Why a snapshot file that was there was not used (unreadable, another format, another
    // log); empty when none was there or it was used.
    std::string snapshot_ignored;
    uint64_t replayed = 0;  // The records read from the log after it.
  };
  virtual Recovery recovery() const = 0;

  // The whole projected state, every list sorted (EngineState), and its SHA-256: two engines
  // that applied the same log have the same digest.
  virtual v1::EngineState State() const = 0;
  virtual std::string StateDigest() const = 0;

  // Writes the projections to Options::snapshot_path (atomically: a temporary file, then
  // rename). FAILED_PRECONDITION when no snapshot path was configured.
  virtual absl::Status WriteSnapshot() const = 0;
};

// SHA-256 of the deterministic serialization of `state`, as 64 hex digits.
std::string DigestOf(const v1::EngineState& state);

}  // namespace spotflow::engine

#endif  // SPOTFLOW_ENGINE_ENGINE_H_
