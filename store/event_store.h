// event_store.h: Spotflow's append-only event log (DESIGN.md section 2).
//
// An EventStore holds streams of events (one stream per order, client, ...) in one global,
// dense, hash-chained log. Appends to one or more streams commit atomically, are checked
// against expected versions, and may carry an idempotency key. The only implementation
// today keeps the log in RocksDB; docs/storage-format.md describes its bytes.
//
//   spotflow::store::Options options;
//   ASSIGN_OR_RETURN(std::unique_ptr<spotflow::store::EventStore> store,
//                    spotflow::store::EventStore::Open(options, "./var/spotflow"));
//   spotflow::store::AppendRequest request;
//   auto& stream = request.streams.emplace_back();
//   stream.stream_id = "order-PO-2026-00001";
//   stream.expected = spotflow::store::ExpectedVersion::NoStream();
//   stream.events.emplace_back().set_payload_type("spotflow.v1.OrderCreated");
//   ASSIGN_OR_RETURN(spotflow::store::AppendResult result, store->Append(std::move(request)));
//
// Thread-safety: every method of EventStore may be called from any number of threads at
// once. A Subscription is used by one thread at a time, except Close(), which any thread
// may call.
#ifndef SPOTFLOW_STORE_EVENT_STORE_H_
#define SPOTFLOW_STORE_EVENT_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/event.pb.h"

namespace spotflow::store {

using ::spotflow::v1::EventRecord;

// Options for EventStore::Open. Open rejects values out of range with INVALID_ARGUMENT.
struct Options {
  // Create the store when `path` holds none.
  // Default: true.
  bool create_if_missing = true;

  // Sync the write-ahead log before an append is acknowledged, so an acknowledged append
  // survives a kill -9 or a power loss. Off trades that guarantee for speed (tests, bulk
  // imports); a crash then loses a suffix of the log, never a middle part.
  // Default: true.
  bool sync = true;

  // Largest serialized event (payload and metadata) an append may carry, in bytes.
  // Default: 1 MiB. Range: 1 KiB to 64 MiB.
  size_t max_event_bytes = size_t{1} << 20;

  // Most events one append may carry across all its streams.
  // Default: 10,000. Range: 1 to 1,000,000.
  size_t max_events_per_append = 10'000;

  // Longest stream id, in bytes. Stream ids are 1 to this many bytes of printable
  // characters (no control characters).
  // Default: 256. Range: 1 to 4,096.
  size_t max_stream_id_bytes = 256;

  // Longest idempotency key, in bytes.
  // Default: 256. Range: 1 to 4,096.
  size_t max_idempotency_key_bytes = 256;

  // Most events a subscription holds in memory waiting for its reader. Past it, live
  // events are not buffered and the subscription catches up by reading the store, so a
  // slow subscriber costs no memory beyond this and never slows appends.
  // Default: 4,096. Range: 1 to 1,000,000.
  size_t subscription_buffer_events = 4'096;

  // Most bytes of events that concurrent appends may share in one write (group commit).
  // An append larger than this is still written, alone.
  // Default: 4 MiB.
  size_t max_group_commit_bytes = size_t{4} << 20;

  // RocksDB tuning.
  // Size of the block cache for reads, in bytes. Default: 64 MiB.
  size_t block_cache_bytes = size_t{64} << 20;
  // Size of one memtable before it is flushed, in bytes. Default: 64 MiB.
  size_t write_buffer_bytes = size_t{64} << 20;
  // Background threads for flushes and compactions. Default: 2.
  int background_threads = 2;
};

// What an append expects of a stream's current version.
class ExpectedVersion {
 public:
  // Any version, including a stream that does not exist yet.
  static ExpectedVersion Any() { return ExpectedVersion(Kind::kAny, 0); }
  // The stream must not exist (it has no events).
  static ExpectedVersion NoStream() { return ExpectedVersion(Kind::kExact, 0); }
  // The stream's last event must have exactly `version` (0 is the same as NoStream).
  static ExpectedVersion Exactly(uint64_t version) {
    return ExpectedVersion(Kind::kExact, version);
  }

  bool is_any() const { return kind_ == Kind::kAny; }
  // The version required; meaningful when !is_any().
  uint64_t version() const { return version_; }
  std::string ToString() const;

 private:
  enum class Kind { kAny, kExact };
  ExpectedVersion(Kind kind, uint64_t version) : kind_(kind), version_(version) {}
  Kind kind_;
  uint64_t version_;
};

// Events to append to one stream.
struct StreamAppend {
  std::string stream_id;
  ExpectedVersion expected = ExpectedVersion::Any();
  // Only the fields marked "caller" in proto/event.proto may be set; payload_type must be.
  std::vector<EventRecord> events;
};

// A stream the decision behind an append read without writing to it.
struct StreamRead {
  std::string stream_id;
  uint64_t version = 0;  // The version it read (0: the stream had no events).
};

// One call to Append: one or more streams that commit together or not at all.
struct AppendRequest {
  // At least one stream, each named once, each with at least one event.
  std::vector<StreamAppend> streams;
  // Streams the append's decision depended on without writing them, none of them among
  // `streams`: it commits only while each is still at the version read, and is ABORTED like
  // a stale ExpectedVersion otherwise, so that a decision made on what another append has
  // since changed is made again.
  std::vector<StreamRead> reads;
  // Optional. A repeat of a committed append with the same key and the same content gets
  // the first result back and writes nothing, also after a restart. The same key with
  // different content is ALREADY_EXISTS. Keys are kept forever.
  std::string idempotency_key;
};

// The versions an append wrote to one stream.
struct StreamResult {
  std::string stream_id;
  uint64_t first_version = 0;
  uint64_t last_version = 0;  // The stream's new version: the etag of the resource.
};

struct AppendResult {
  uint64_t first_position = 0;
  uint64_t last_position = 0;
  // In the order of AppendRequest::streams.
  std::vector<StreamResult> streams;
  // True when this result was committed earlier under the same idempotency key and this
  // call wrote nothing.
  bool deduplicated = false;
  // The committed records in position order, complete with position, version and hash, so
  // that a caller can project them without reading them back. Empty when deduplicated.
  std::vector<EventRecord> records;
};

// The last record of the log.
struct LogHead {
  uint64_t position = 0;  // 0 when the log is empty.
  std::string hash;       // 32 bytes; 32 zero bytes when the log is empty.
};

struct VerifyResult {
  uint64_t first_position = 0;  // The range verified; both 0 when it was empty.
  uint64_t last_position = 0;
  uint64_t records = 0;
  std::string last_hash;  // The hash of last_position (32 bytes).
};

enum class Direction { kForward, kBackward };

// A reader of the log from a position onwards: first the stored backlog, then live
// appends, in position order, with no gap and no duplicate. Destroy every Subscription
// before the EventStore that made it.
class Subscription {
 public:
  virtual ~Subscription() = default;

  // Returns the next 1 to `max_records` records in position order. Waits up to `timeout`
  // for one; returns an empty vector if none came. Returns CANCELLED once Close() was
  // called or the store is closing, DATA_LOSS if a stored record cannot be read.
  virtual absl::StatusOr<std::vector<EventRecord>> Next(size_t max_records,
                                                        absl::Duration timeout) = 0;

  // The position the next record will have.
  virtual uint64_t next_position() const = 0;

  // The log's head as this subscription last heard of it: at least the position of every
  // record Next() has returned, and always the end of a whole append. Records Next() returned
  // that end before it may end inside an append, with the rest of it to come at once.
  virtual uint64_t known_head() const = 0;

  // Wakes a waiting Next() and makes every later call return CANCELLED. Thread-safe;
  // idempotent.
  virtual void Close() = 0;
};

// The hash chain's link as the store computes it: SHA-256(previous_hash || record_bytes),
// 32 bytes, where record_bytes are a record's stored bytes without its hash and position 1
// follows 32 zero bytes. For checks made without a store, such as of an exported log.
std::string ChainHash(absl::string_view previous_hash, absl::string_view record_bytes);

class EventStore {
 public:
  // Opens the store in directory `path`, creating it if options.create_if_missing.
  // Returns INVALID_ARGUMENT for bad options, NOT_FOUND when the store does not exist and
  // may not be created, FAILED_PRECONDITION when the directory holds a store of an unknown
  // format version or something that is not a Spotflow store, UNAVAILABLE when another
  // process has it open, and DATA_LOSS when its files are corrupt.
  static absl::StatusOr<std::unique_ptr<EventStore>> Open(const Options& options,
                                                          const std::string& path);

  EventStore() = default;
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;
  // Closes the store: wakes every Subscription (they return CANCELLED from then on).
  virtual ~EventStore() = default;

  // Appends the request's events atomically. Returns the positions and versions written.
  // Errors, on every one of which nothing is written:
  //   INVALID_ARGUMENT  no streams or events, a stream named twice, a bad stream id, an
  //                     event over max_event_bytes or without payload_type or setting a
  //                     store-assigned field, more than max_events_per_append, a bad key;
  //   ABORTED           a stream's version is not what `expected` says (the message names
  //                     the stream, the expected and the actual version);
  //   ALREADY_EXISTS    the idempotency key was committed with different content;
  //   others            the disk failed (the store's message says how).
  virtual absl::StatusOr<AppendResult> Append(AppendRequest request) = 0;

  // Append without waiting: `done` gets what Append would return, once the append has
  // committed (durably, when the store syncs) or failed. It joins the same group commits as
  // Append. `done` runs on a store thread, in commit order, one group after another (or at
  // once on the caller's thread for a request that is invalid in itself); it must be quick,
  // and may call AppendAsync but never Append. Every `done` has run when the store is
  // destroyed.
  using AppendCallback = std::function<void(absl::StatusOr<AppendResult>)>;
  virtual void AppendAsync(AppendRequest request, AppendCallback done) = 0;

  // Reads up to `limit` events of one stream starting at `from_version` (inclusive), in
  // the given direction. Reading backward from a version past the end starts at the last
  // event. An unknown stream reads as empty. INVALID_ARGUMENT for a bad stream id or a zero
  // limit.
  virtual absl::StatusOr<std::vector<EventRecord>> ReadStream(absl::string_view stream_id,
                                                              uint64_t from_version,
                                                              Direction direction,
                                                              size_t limit) const = 0;

  // Reads up to `limit` records of the whole log from `from_position` (inclusive, from 1)
  // forward. DATA_LOSS if a stored record cannot be parsed.
  virtual absl::StatusOr<std::vector<EventRecord>> ReadAll(uint64_t from_position,
                                                           size_t limit) const = 0;

  // Calls `visit` with each record of the log from `from_position` (inclusive, from 1) to
  // `to_position` (inclusive; 0 means to the end), in position order, without copying:
  // the record passed is reused between calls, so copy what you keep. This is the replay
  // path for projections. Stops at the first error `visit` returns and returns it;
  // DATA_LOSS if a stored record cannot be parsed or a position is missing.
  virtual absl::Status ScanAll(
      uint64_t from_position, uint64_t to_position,
      const std::function<absl::Status(const EventRecord&)>& visit) const = 0;

  // The stream's current version: the version of its last event, 0 if it has none.
  virtual absl::StatusOr<uint64_t> StreamVersion(absl::string_view stream_id) const = 0;

  // The last committed record's position and hash.
  virtual LogHead Head() const = 0;

  // Re-hashes the stored bytes of positions [from, to] (to = 0 means the head) and checks
  // that positions are dense and each record links to the previous one's hash. Returns
  // what was verified, or DATA_LOSS naming the first bad position.
  absl::StatusOr<VerifyResult> Verify(uint64_t from_position, uint64_t to_position) const {
    return VerifyEach(from_position, to_position, nullptr);
  }

  // Called with each record Verify has checked, in position order, and the exact stored
  // bytes its hash covers. Returns true to go on, false to stop after this record (the
  // result then ends at it), or an error that stops the verification and is returned.
  using VerifyVisitor =
      std::function<absl::StatusOr<bool>(const EventRecord& record, absl::string_view bytes)>;

  // Verify, handing every verified record to `visit` (may be empty): auditors export and
  // count what has been proven, never what has merely been read.
  virtual absl::StatusOr<VerifyResult> VerifyEach(uint64_t from_position, uint64_t to_position,
                                                  const VerifyVisitor& visit) const = 0;

  // Starts a subscription whose first record is at `from_position` (1 for the whole log;
  // head + 1 for live events only). INVALID_ARGUMENT if from_position is 0.
  virtual absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(uint64_t from_position) = 0;

  // Durably records that consumer `name` has processed the log up to `position`.
  // INVALID_ARGUMENT for an empty name or a position past the head.
  virtual absl::Status SaveCheckpoint(absl::string_view name, uint64_t position) = 0;

  // The position last saved for `name`, or 0 if none was.
  virtual absl::StatusOr<uint64_t> LoadCheckpoint(absl::string_view name) const = 0;

  // The result of the append committed under idempotency key `key` (deduplicated set, no
  // records), or nullopt when none was. Lets a caller answer a repeated request without
  // deciding it again.
  virtual absl::StatusOr<std::optional<AppendResult>> FindIdempotent(
      absl::string_view key) const = 0;
};

}  // namespace spotflow::store

#endif  // SPOTFLOW_STORE_EVENT_STORE_H_
