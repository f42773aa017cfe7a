// rocksdb_event_store.cc: EventStore on RocksDB.
//
// Writes go through a writer queue, the way LevelDB's DBImpl::Write does: each Append
// enqueues itself; the writer at the front becomes the leader, takes the appends queued
// behind it (up to Options::max_group_commit_bytes), checks each against the stream heads,
// assigns positions and hashes, and commits them all in one WriteBatch with one WAL sync.
// The others wait on their own condition variable and wake with their result. So durable
// throughput grows with the number of writers, and a failed append never affects another.
//
// Reads go straight to RocksDB and never take the writer lock: what RocksDB shows a reader
// has been committed (and synced, when sync is on) as one batch.
#include "store/internal/rocksdb_event_store.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "proto/store_format.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "store/internal/format.h"
#include "store/internal/rocksdb_status.h"
#include "store/internal/sha256.h"

namespace spotflow::store::internal {
namespace {

using ::spotflow::store::v1::IdempotencyEntry;

// Debian's Abseil has its own string_view, not std::string_view.
absl::string_view View(const rocksdb::Slice& slice) {
  return absl::string_view(slice.data(), slice.size());
}

const std::string& ZeroHash() {
  static const std::string* const kZero = new std::string(kHashBytes, '\0');
  return *kZero;
}

// Stream ids are 1..max bytes with no control characters (keeps the key layout sound and
// ids printable in messages).
absl::Status ValidateStreamId(absl::string_view stream_id, size_t max_bytes) {
  if (stream_id.empty()) return absl::InvalidArgumentError("stream id is empty");
  if (stream_id.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream id \"", absl::CHexEscape(stream_id.substr(0, 64)), "...\" is ",
                     stream_id.size(), " bytes; the limit is ", max_bytes));
  }
  for (char c : stream_id) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("stream id \"", absl::CHexEscape(stream_id),
                       "\" contains a control character; use printable characters"));
    }
  }
  return absl::OkStatus();
}

// Parses a log value (record bytes followed by the 32-byte hash) stored at `position` into
// `record`, reusing its memory.
absl::Status ParseLogValue(uint64_t position, absl::string_view value, EventRecord* record) {
  if (value.size() < kHashBytes) {
    return absl::DataLossError(
        absl::StrCat("record at position ", position, " is truncated (", value.size(), " bytes)"));
  }
  if (!record->ParseFromArray(value.data(), static_cast<int>(value.size() - kHashBytes))) {
    return absl::DataLossError(absl::StrCat("record at position ", position, " cannot be parsed"));
  }
  if (record->position() != position) {
    return absl::DataLossError(absl::StrCat("record stored at position ", position,
                                            " says it is at position ", record->position()));
  }
  record->set_hash(value.data() + value.size() - kHashBytes, kHashBytes);
  return absl::OkStatus();
}

// A fingerprint of what an append asks for, to tell a repeat from a different append
// reusing its idempotency key. Event ids, times and actors are left out on purpose: a
// caller retrying the same command may mint new ones.
std::string Fingerprint(const AppendRequest& request) {
  std::string canonical;
  auto add = [&canonical](absl::string_view field) {
    AppendBigEndian64(&canonical, field.size());
    canonical.append(field.data(), field.size());
  };
  for (const StreamAppend& stream : request.streams) {
    add(stream.stream_id);
    add(stream.expected.ToString());
    AppendBigEndian64(&canonical, stream.events.size());
    for (const EventRecord& event : stream.events) {
      add(event.payload_type());
      add(event.payload());
    }
  }
  for (const StreamRead& read : request.reads) {
    add(read.stream_id);
    AppendBigEndian64(&canonical, read.version);
  }
  return ChainHash("", canonical);
}

AppendResult ResultFromEntry(const IdempotencyEntry& entry) {
  AppendResult result;
  result.first_position = entry.first_position();
  result.last_position = entry.last_position();
  for (const auto& range : entry.streams()) {
    result.streams.push_back({range.stream_id(), range.first_version(), range.last_version()});
  }
  result.deduplicated = true;
  return result;
}

class RocksDbEventStore;

// A subscription: the committing thread pushes each committed group into a bounded buffer;
// Next() takes from the buffer when it holds the next position and otherwise reads the
// store. Records below next_position are dropped, so the switch from backlog to live can
// neither skip nor repeat a record.
class SubscriptionImpl final : public Subscription {
 public:
  SubscriptionImpl(RocksDbEventStore* store, uint64_t from_position, size_t capacity)
      : store_(store), capacity_(capacity), next_position_(from_position) {}
  ~SubscriptionImpl() override;

  absl::StatusOr<std::vector<EventRecord>> Next(size_t max_records,
                                                absl::Duration timeout) override;
  uint64_t next_position() const override { return next_position_.load(); }
  uint64_t known_head() const override {
    absl::MutexLock lock(&mu_);
    return known_head_;
  }
  void Close() override {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

  // Called by the committing thread, in commit order, with the records of one group and
  // the log's new head. Never blocks beyond a short lock.
  void Deliver(const std::shared_ptr<const std::vector<EventRecord>>& records, uint64_t head) {
    absl::MutexLock lock(&mu_);
    known_head_ = std::max(known_head_, head);
    if (closed_ || buffered_ + records->size() > capacity_) return;  // Next() reads the store.
    batches_.push_back({records, 0});
    buffered_ += records->size();
  }

  void RaiseKnownHead(uint64_t head) {
    absl::MutexLock lock(&mu_);
    known_head_ = std::max(known_head_, head);
  }

 private:
  struct Batch {
    std::shared_ptr<const std::vector<EventRecord>> records;
    size_t offset;  // The first record not yet consumed.
  };

  // Drops buffered records below next_position_.
  void DropConsumed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t next = next_position_.load();
    while (!batches_.empty()) {
      Batch& front = batches_.front();
      while (front.offset < front.records->size() &&
             (*front.records)[front.offset].position() < next) {
        ++front.offset;
        --buffered_;
      }
      if (front.offset < front.records->size()) return;
      batches_.pop_front();
    }
  }

  RocksDbEventStore* const store_;
  const size_t capacity_;
  // Written only by the reading thread; read by anyone.
  std::atomic<uint64_t> next_position_;

  mutable absl::Mutex mu_;
  std::deque<Batch> batches_ ABSL_GUARDED_BY(mu_);
  size_t buffered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t known_head_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class RocksDbEventStore final : public EventStore {
 public:
  RocksDbEventStore(const Options& options, std::string path) : options_(options), path_(path) {}
  ~RocksDbEventStore() override;

  absl::Status Init();

  absl::StatusOr<AppendResult> Append(AppendRequest request) override;
  void AppendAsync(AppendRequest request, AppendCallback done) override;
  absl::StatusOr<std::vector<EventRecord>> ReadStream(absl::string_view stream_id,
                                                      uint64_t from_version, Direction direction,
                                                      size_t limit) const override;
  absl::StatusOr<std::vector<EventRecord>> ReadAll(uint64_t from_position,
                                                   size_t limit) const override;
  absl::Status ScanAll(uint64_t from_position, uint64_t to_position,
                       const std::function<absl::Status(const EventRecord&)>& visit) const override;
  absl::StatusOr<uint64_t> StreamVersion(absl::string_view stream_id) const override;
  LogHead Head() const override {
    absl::MutexLock lock(&head_mu_);
    return head_;
  }
  absl::StatusOr<VerifyResult> VerifyEach(uint64_t from_position, uint64_t to_position,
                                          const VerifyVisitor& visit) const override;
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(uint64_t from_position) override;
  absl::Status SaveCheckpoint(absl::string_view name, uint64_t position) override;
  absl::StatusOr<uint64_t> LoadCheckpoint(absl::string_view name) const override;
  absl::StatusOr<std::optional<AppendResult>> FindIdempotent(absl::string_view key) const override;

  void Unregister(SubscriptionImpl* subscription) {
    absl::MutexLock lock(&subscriptions_mu_);
    subscriptions_.erase(subscription);
    has_subscriptions_.store(!subscriptions_.empty());
  }

 private:
  // One Append waiting in the writer queue.
  struct Writer {
    AppendRequest request;
    std::string fingerprint;  // Set when the request has an idempotency key.
    size_t bytes = 0;         // Serialized size of its events, for group limits.
    absl::StatusOr<AppendResult> result;
    bool finished = false;  // Set for a waiting Append once its group has committed.
    bool in_batch = false;  // Its success depends on this group's WriteBatch.
    absl::CondVar cv;       // Wakes a waiting Append.
    AppendCallback done;    // Set for AppendAsync: the writer is owned by the queue.
  };

  // Checks everything that does not depend on the log's state.
  absl::Status ValidateRequest(const AppendRequest& request, size_t* bytes) const;
  // Leader only: decides and commits `group`, setting every writer's result.
  void CommitGroup(const std::vector<Writer*>& group);
  // The front writer and those behind it, up to the group's byte limit.
  std::vector<Writer*> TakeGroupLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(writers_mu_);
  // After CommitGroup: removes the group from the queue, wakes its waiting writers, hands its
  // asynchronous ones to the completion thread, and passes leadership on.
  void FinishGroupLocked(const std::vector<Writer*>& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(writers_mu_);
  // The committer thread leads the groups an asynchronous append heads; the completion
  // thread runs their callbacks, a group at a time, while the next group commits.
  void CommitLoop();
  void CompleteLoop();
  // Stopping, with nothing queued, committed-but-unanswered, or being answered (an answer
  // may append again).
  bool DrainedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(writers_mu_) {
    return stopping_ && writers_.empty() && completions_.empty() && !completing_;
  }
  // The stream's last version, from the last key of its index (0 if it has none).
  absl::StatusOr<uint64_t> ReadStreamVersion(absl::string_view stream_id) const;
  // Leader only: the stream's last version from the cache or the index.
  absl::StatusOr<uint64_t> CachedStreamVersion(const std::string& stream_id);
  absl::StatusOr<std::vector<EventRecord>> ReadPositions(
      const std::vector<uint64_t>& positions) const;

  const Options options_;
  const std::string path_;
  // Set by Init(), then never changed. The handles are owned and destroyed before db_.
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* log_ = nullptr;
  rocksdb::ColumnFamilyHandle* streams_ = nullptr;
  rocksdb::ColumnFamilyHandle* idempotency_ = nullptr;
  rocksdb::ColumnFamilyHandle* checkpoints_ = nullptr;
  rocksdb::WriteOptions write_options_;

  absl::Mutex writers_mu_;
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(writers_mu_);
  bool stopping_ ABSL_GUARDED_BY(writers_mu_) = false;
  // Committed groups of asynchronous writers whose callbacks have not run, in commit order.
  std::deque<std::vector<Writer*>> completions_ ABSL_GUARDED_BY(writers_mu_);
  bool completing_ ABSL_GUARDED_BY(writers_mu_) = false;
  std::thread committer_;
  std::thread completer_;

  // Touched only by the current leader; leadership passes under writers_mu_, which orders
  // one leader's writes before the next leader's reads.
  uint64_t last_position_ = 0;
  std::string last_hash_;
  Sha256 hasher_;
  // The last version of recently appended streams, so an append checks its expected
  // version without a seek. Holds committed versions only.
  static constexpr size_t kVersionCacheEntries = 1 << 16;
  absl::flat_hash_map<std::string, uint64_t> version_cache_;

  mutable absl::Mutex head_mu_;
  LogHead head_ ABSL_GUARDED_BY(head_mu_);

  absl::Mutex subscriptions_mu_;
  absl::flat_hash_set<SubscriptionImpl*> subscriptions_ ABSL_GUARDED_BY(subscriptions_mu_);
  std::atomic<bool> has_subscriptions_{false};
};

SubscriptionImpl::~SubscriptionImpl() { store_->Unregister(this); }

absl::StatusOr<std::vector<EventRecord>> SubscriptionImpl::Next(size_t max_records,
                                                                absl::Duration timeout) {
  if (max_records == 0) return absl::InvalidArgumentError("max_records must be at least 1");
  const absl::Time deadline = absl::Now() + timeout;
  uint64_t read_up_to = 0;
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      if (closed_) return absl::CancelledError("the subscription is closed");
      DropConsumed();
      const uint64_t next = next_position_.load();
      if (!batches_.empty() &&
          (*batches_.front().records)[batches_.front().offset].position() == next) {
        std::vector<EventRecord> out;
        while (out.size() < max_records && !batches_.empty()) {
          Batch& front = batches_.front();
          const EventRecord& record = (*front.records)[front.offset];
          if (record.position() != next + out.size()) break;  // A gap: read it next time.
          out.push_back(record);
          ++front.offset;
          --buffered_;
          if (front.offset == front.records->size()) batches_.pop_front();
        }
        next_position_.store(next + out.size());
        return out;
      }
      if (known_head_ >= next) {
        read_up_to = known_head_;
        break;
      }
      auto ready = [this, next]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return closed_ || known_head_ >= next;
      };
      if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline))
        return std::vector<EventRecord>();
    }
  }
  // Catch up from the store, outside the lock so that Deliver() never waits on a read.
  const uint64_t next = next_position_.load();
  ASSIGN_OR_RETURN(std::vector<EventRecord> out,
                   store_->ReadAll(next, std::min<uint64_t>(max_records, read_up_to - next + 1)));
  next_position_.store(next + out.size());
  return out;
}

RocksDbEventStore::~RocksDbEventStore() {
  {
    // Every queued append commits and every callback runs before the threads end.
    absl::MutexLock lock(&writers_mu_);
    stopping_ = true;
  }
  if (committer_.joinable()) committer_.join();
  if (completer_.joinable()) completer_.join();
  {
    absl::MutexLock lock(&subscriptions_mu_);
    for (SubscriptionImpl* subscription : subscriptions_) subscription->Close();
  }
  if (db_ != nullptr) {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    // Close flushes nothing we depend on: every acknowledged write is in the WAL.
    db_->Close().PermitUncheckedError();
  }
}

namespace {

// Whether a store's format version (from its meta family: `got`, `value`) is one this code
// reads. A new store has none yet: OK with *missing set.
absl::Status CheckFormatVersion(const std::string& path, const rocksdb::Status& got,
                                const std::string& value, bool is_new, bool* missing) {
  *missing = got.IsNotFound();
  if (*missing && !is_new) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a Spotflow store: it has no format version"));
  }
  if (*missing) return absl::OkStatus();
  RETURN_IF_ERROR(FromRocksDb(got, "reading the format version"));
  uint32_t version = 0;
  if (!DecodeBigEndian32(value, &version)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " has an unreadable format version (",
                                                      absl::CHexEscape(value),
                                                      "); it is not a store this Spotflow reads"));
  }
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " has storage format version ", version, "; this Spotflow reads version ",
        kFormatVersion, ". Open it with a Spotflow release that reads version ", version, "."));
  }
  return absl::OkStatus();
}

// The format check of an existing store, on a read-only open that changes no file. A
// read-write open replays the WAL into new table files and writes a new MANIFEST: a store this
// release cannot read must not be rewritten by it before it says so.
absl::Status CheckFormatReadOnly(const rocksdb::DBOptions& db_options, const std::string& path,
                                 const rocksdb::ColumnFamilyOptions& meta_options) {
  // A read-only open takes no LOCK, and reading a store another process writes is undefined:
  // take the lock the read-write open will take, so that a store in use is refused as such.
  rocksdb::Env* env = db_options.env != nullptr ? db_options.env : rocksdb::Env::Default();
  rocksdb::FileLock* lock = nullptr;
  RETURN_IF_ERROR(FromRocksDb(env->LockFile(path + "/LOCK", &lock),
                              absl::StrCat("opening the store at ", path)));
  absl::Cleanup unlock = [env, lock] { env->UnlockFile(lock).PermitUncheckedError(); };
  // A read-only open may name only some of the column families: the meta family will do.
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {std::string(kMetaFamily), meta_options}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  RETURN_IF_ERROR(
      FromRocksDb(rocksdb::DB::OpenForReadOnly(db_options, path, descriptors, &handles, &raw_db),
                  absl::StrCat("opening the store at ", path, " to check its format")));
  std::unique_ptr<rocksdb::DB> db(raw_db);
  std::string value;
  const rocksdb::Status got =
      db->Get(rocksdb::ReadOptions(), handles[0], std::string(kFormatVersionKey), &value);
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  bool missing = false;
  return CheckFormatVersion(path, got, value, /*is_new=*/false, &missing);
}

}  // namespace

absl::Status RocksDbEventStore::Init() {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = false;
  db_options.max_background_jobs = options_.background_threads;
  // Point-in-time recovery: after a crash the log reopens to a prefix of what was written.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // RocksDB's own diagnostics (LOG, then LOG.old.* at each open): the last few, not one more
  // file for every start of the server.
  db_options.keep_log_file_num = 5;

  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = rocksdb::NewLRUCache(options_.block_cache_bytes);
  rocksdb::ColumnFamilyOptions scan_family;  // Read by range: log, streams.
  scan_family.write_buffer_size = options_.write_buffer_bytes;
  scan_family.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  rocksdb::BlockBasedTableOptions point_table_options = table_options;
  point_table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions point_family;  // Read by key: heads, idempotency, checkpoints.
  point_family.write_buffer_size = std::max<size_t>(options_.write_buffer_bytes / 4, 64 << 10);
  point_family.table_factory.reset(rocksdb::NewBlockBasedTableFactory(point_table_options));

  const std::vector<std::pair<absl::string_view, const rocksdb::ColumnFamilyOptions*>> families = {
      {kMetaFamily, &point_family},
      {kLogFamily, &scan_family},
      {kStreamsFamily, &scan_family},
      {kIdempotencyFamily, &point_family},
      {kCheckpointsFamily, &point_family}};

  std::vector<std::string> existing;
  rocksdb::Status list = rocksdb::DB::ListColumnFamilies(db_options, path_, &existing);
  const bool is_new = !list.ok();
  if (is_new) {
    // ListColumnFamilies fails when there is no database, but also when a database lost its
    // CURRENT file. A new store is made only in a directory that is missing or empty: over
    // what is left of a damaged one, RocksDB would start afresh and delete its files.
    std::error_code listing;
    if (std::filesystem::exists(path_, listing) && !std::filesystem::is_empty(path_, listing)) {
      return absl::FailedPreconditionError(absl::StrCat(
          path_, " is not empty but holds no readable database (", list.ToString(),
          "); Spotflow makes a new store only in an empty directory. If this is a damaged "
          "store, restore its CURRENT file or a backup; otherwise point Spotflow elsewhere"));
    }
    if (!options_.create_if_missing) {
      return absl::NotFoundError(
          absl::StrCat("no Spotflow store at ", path_, " and Options::create_if_missing is false"));
    }
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    // RocksDB makes only the last directory of the path; make its parents too.
    std::error_code error;
    std::filesystem::create_directories(path_, error);
    if (error) {
      return absl::UnavailableError(
          absl::StrCat("cannot create the store directory ", path_, ": ", error.message()));
    }
  } else {
    for (const auto& [name, unused] : families) {
      if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            path_, " holds a RocksDB database that is not a Spotflow store (it has no \"", name,
            "\" column family); point Spotflow at an empty or Spotflow directory"));
      }
    }
  }

  if (!is_new) RETURN_IF_ERROR(CheckFormatReadOnly(db_options, path_, point_family));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& [name, family_options] : families) {
    descriptors.emplace_back(std::string(name), *family_options);
  }
  rocksdb::DB* raw_db = nullptr;
  RETURN_IF_ERROR(FromRocksDb(rocksdb::DB::Open(db_options, path_, descriptors, &handles_, &raw_db),
                              absl::StrCat("opening the store at ", path_)));
  db_.reset(raw_db);
  meta_ = handles_[0];
  log_ = handles_[1];
  streams_ = handles_[2];
  idempotency_ = handles_[3];
  checkpoints_ = handles_[4];
  write_options_.sync = options_.sync;

  // Checked again under the lock the read-write open holds: another process may have made
  // the store in between.
  std::string version_value;
  const rocksdb::Status got =
      db_->Get(rocksdb::ReadOptions(), meta_, std::string(kFormatVersionKey), &version_value);
  bool missing = false;
  RETURN_IF_ERROR(CheckFormatVersion(path_, got, version_value, is_new, &missing));
  if (missing) {
    rocksdb::WriteOptions sync_write;
    sync_write.sync = true;
    RETURN_IF_ERROR(FromRocksDb(db_->Put(sync_write, meta_, std::string(kFormatVersionKey),
                                         EncodeBigEndian32(kFormatVersion)),
                                "writing the format version"));
  }

  // Recover the head: the last record of the log.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), log_));
  it->SeekToLast();
  last_hash_ = ZeroHash();
  if (it->Valid()) {
    if (!DecodeBigEndian64(View(it->key()), &last_position_)) {
      return absl::DataLossError("the log's last key is not a position");
    }
    EventRecord last;
    RETURN_IF_ERROR(ParseLogValue(last_position_, View(it->value()), &last));
    last_hash_ = last.hash();
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "reading the log's head"));
  {
    absl::MutexLock lock(&head_mu_);
    head_ = {last_position_, last_hash_};
  }
  committer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "spotflow-commit");
    CommitLoop();
  });
  completer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "spotflow-done");
    CompleteLoop();
  });
  return absl::OkStatus();
}

absl::Status RocksDbEventStore::ValidateRequest(const AppendRequest& request, size_t* bytes) const {
  if (request.streams.empty()) {
    return absl::InvalidArgumentError("the append names no stream; give at least one");
  }
  if (request.idempotency_key.size() > options_.max_idempotency_key_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("idempotency key is ", request.idempotency_key.size(), " bytes; the limit is ",
                     options_.max_idempotency_key_bytes));
  }
  absl::flat_hash_set<absl::string_view> seen;
  size_t events = 0;
  *bytes = 0;
  for (const StreamAppend& stream : request.streams) {
    RETURN_IF_ERROR(ValidateStreamId(stream.stream_id, options_.max_stream_id_bytes));
    if (!seen.insert(stream.stream_id).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stream \"", stream.stream_id, "\" is named twice in one append; merge its events"));
    }
    if (stream.events.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the append to stream \"", stream.stream_id, "\" has no events"));
    }
    events += stream.events.size();
    for (size_t i = 0; i < stream.events.size(); ++i) {
      const EventRecord& event = stream.events[i];
      const auto where = [&] {
        return absl::StrCat("event ", i + 1, " of stream \"", stream.stream_id, "\"");
      };
      if (event.position() != 0 || !event.stream_id().empty() || event.stream_version() != 0 ||
          !event.idempotency_key().empty() || !event.previous_hash().empty() ||
          !event.hash().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(),
                         " sets a field the store assigns (position, stream_id, stream_version, "
                         "idempotency_key, previous_hash or hash); leave them empty"));
      }
      if (event.payload_type().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(where(), " has no payload_type"));
      }
      const size_t size = event.ByteSizeLong();
      if (size > options_.max_event_bytes) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(), " is ", size, " bytes; the limit is ", options_.max_event_bytes));
      }
      *bytes += size;
    }
  }
  for (const StreamRead& read : request.reads) {
    RETURN_IF_ERROR(ValidateStreamId(read.stream_id, options_.max_stream_id_bytes));
    if (!seen.insert(read.stream_id).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stream \"", read.stream_id,
          "\" is named twice in one append (read, and read or written); name it once"));
    }
    *bytes += read.stream_id.size() + sizeof(read.version);
  }
  if (events > options_.max_events_per_append) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the append carries ", events, " events; the limit is ", options_.max_events_per_append));
  }
  return absl::OkStatus();
}

absl::StatusOr<AppendResult> RocksDbEventStore::Append(AppendRequest request) {
  Writer writer;
  RETURN_IF_ERROR(ValidateRequest(request, &writer.bytes));
  if (!request.idempotency_key.empty()) writer.fingerprint = Fingerprint(request);
  writer.request = std::move(request);

  absl::MutexLock lock(&writers_mu_);
  writers_.push_back(&writer);
  while (!writer.finished && &writer != writers_.front()) writer.cv.Wait(&writers_mu_);
  if (writer.finished) return std::move(writer.result);

  // This writer leads: it commits the group it heads.
  const std::vector<Writer*> group = TakeGroupLocked();
  writers_mu_.Unlock();
  CommitGroup(group);
  writers_mu_.Lock();
  FinishGroupLocked(group);
  return std::move(writer.result);
}

void RocksDbEventStore::AppendAsync(AppendRequest request, AppendCallback done) {
  auto writer = std::make_unique<Writer>();
  if (absl::Status valid = ValidateRequest(request, &writer->bytes); !valid.ok()) {
    done(valid);
    return;
  }
  if (!request.idempotency_key.empty()) writer->fingerprint = Fingerprint(request);
  writer->request = std::move(request);
  writer->done = std::move(done);
  absl::MutexLock lock(&writers_mu_);
  // When it reaches the front, the committer thread leads its group (CommitLoop).
  writers_.push_back(writer.release());
}

std::vector<RocksDbEventStore::Writer*> RocksDbEventStore::TakeGroupLocked() {
  std::vector<Writer*> group;
  size_t group_bytes = 0;
  for (Writer* w : writers_) {
    if (!group.empty() && group_bytes + w->bytes > options_.max_group_commit_bytes) break;
    group.push_back(w);
    group_bytes += w->bytes;
  }
  return group;
}

void RocksDbEventStore::FinishGroupLocked(const std::vector<Writer*>& group) {
  std::vector<Writer*> asynchronous;
  for (Writer* w : group) {
    writers_.pop_front();
    if (w->done) {
      asynchronous.push_back(w);
    } else {
      w->finished = true;
      w->cv.Signal();  // A leader's own Signal wakes nobody.
    }
  }
  if (!asynchronous.empty()) completions_.push_back(std::move(asynchronous));
  // The next leader: a waiting Append is woken here; an asynchronous writer at the front is
  // the committer's, whose Await sees it when the lock is released.
  if (!writers_.empty() && !writers_.front()->done) writers_.front()->cv.Signal();
}

void RocksDbEventStore::CommitLoop() {
  absl::MutexLock lock(&writers_mu_);
  while (true) {
    writers_mu_.Await(absl::Condition(
        +[](RocksDbEventStore* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->writers_mu_) {
          return (!s->writers_.empty() && s->writers_.front()->done) || s->DrainedLocked();
        },
        this));
    if (writers_.empty()) return;  // Stopping, and every append has committed.
    const std::vector<Writer*> group = TakeGroupLocked();
    writers_mu_.Unlock();
    CommitGroup(group);
    writers_mu_.Lock();
    FinishGroupLocked(group);
  }
}

void RocksDbEventStore::CompleteLoop() {
  absl::MutexLock lock(&writers_mu_);
  while (true) {
    writers_mu_.Await(absl::Condition(
        +[](RocksDbEventStore* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->writers_mu_) {
          return !s->completions_.empty() || s->DrainedLocked();
        },
        this));
    if (completions_.empty()) return;
    std::vector<Writer*> group = std::move(completions_.front());
    completions_.pop_front();
    completing_ = true;  // Its callbacks may append again: the committer must stay.
    writers_mu_.Unlock();
    for (Writer* w : group) {
      w->done(std::move(w->result));
      delete w;
    }
    writers_mu_.Lock();
    completing_ = false;
  }
}

absl::StatusOr<uint64_t> RocksDbEventStore::ReadStreamVersion(absl::string_view stream_id) const {
  const std::string prefix = StreamKeyPrefix(stream_id);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), streams_));
  it->SeekForPrev(StreamKey(stream_id, UINT64_MAX));
  RETURN_IF_ERROR(FromRocksDb(it->status(), "reading a stream's version"));
  if (!it->Valid() || !it->key().starts_with(prefix)) return 0;
  uint64_t version = 0;
  if (!DecodeBigEndian64(View(it->key()).substr(prefix.size()), &version)) {
    return absl::DataLossError(
        absl::StrCat("the index of stream \"", stream_id, "\" has an unreadable key"));
  }
  return version;
}

absl::StatusOr<uint64_t> RocksDbEventStore::CachedStreamVersion(const std::string& stream_id) {
  if (auto it = version_cache_.find(stream_id); it != version_cache_.end()) return it->second;
  ASSIGN_OR_RETURN(uint64_t version, ReadStreamVersion(stream_id));
  return version;
}

void RocksDbEventStore::CommitGroup(const std::vector<Writer*>& group) {
  rocksdb::WriteBatch batch;
  uint64_t position = last_position_;
  std::string previous_hash = last_hash_;
  // What earlier writers of this group wrote, which later ones must see.
  absl::flat_hash_map<std::string, uint64_t> group_versions;
  absl::flat_hash_map<std::string, IdempotencyEntry> group_keys;
  const bool deliver = has_subscriptions_.load();
  std::shared_ptr<std::vector<EventRecord>> committed;
  if (deliver) committed = std::make_shared<std::vector<EventRecord>>();
  std::string record_bytes;

  for (Writer* w : group) {
    AppendRequest& request = w->request;
    const std::string& key = request.idempotency_key;
    if (!key.empty()) {
      // A repeat of a committed append gets its first result back and writes nothing.
      std::optional<IdempotencyEntry> entry;
      if (auto it = group_keys.find(key); it != group_keys.end()) {
        entry = it->second;
        w->in_batch = true;
      } else {
        std::string value;
        rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), idempotency_, key, &value);
        if (!status.IsNotFound()) {
          if (absl::Status s = FromRocksDb(status, "reading an idempotency key"); !s.ok()) {
            w->result = s;
            continue;
          }
          entry.emplace();
          if (!entry->ParseFromString(value)) {
            w->result = absl::DataLossError(
                absl::StrCat("the entry of idempotency key \"", key, "\" is unreadable"));
            continue;
          }
        }
      }
      if (entry.has_value()) {
        if (entry->fingerprint() != w->fingerprint) {
          w->result = absl::AlreadyExistsError(absl::StrCat(
              "idempotency key \"", key, "\" was already used for a different append (positions ",
              entry->first_position(), "-", entry->last_position(),
              "); use a new key for a new request"));
        } else {
          w->result = ResultFromEntry(*entry);
        }
        continue;
      }
    }

    // Check every stream before writing any, so a stale one fails the append as a whole.
    std::vector<uint64_t> current(request.streams.size());
    absl::Status check;
    for (size_t i = 0; i < request.streams.size() && check.ok(); ++i) {
      const StreamAppend& stream = request.streams[i];
      if (auto it = group_versions.find(stream.stream_id); it != group_versions.end()) {
        current[i] = it->second;
      } else {
        absl::StatusOr<uint64_t> version = CachedStreamVersion(stream.stream_id);
        if (!version.ok()) {
          check = version.status();
          break;
        }
        current[i] = *version;
      }
      if (!stream.expected.is_any() && stream.expected.version() != current[i]) {
        check = absl::AbortedError(absl::StrCat("stream \"", stream.stream_id, "\" is at version ",
                                                current[i], " but the append expected ",
                                                stream.expected.ToString(),
                                                "; read the stream again and retry"));
      }
    }
    for (size_t i = 0; i < request.reads.size() && check.ok(); ++i) {
      const StreamRead& read = request.reads[i];
      uint64_t version = 0;
      if (auto it = group_versions.find(read.stream_id); it != group_versions.end()) {
        version = it->second;
      } else {
        absl::StatusOr<uint64_t> cached = CachedStreamVersion(read.stream_id);
        if (!cached.ok()) {
          check = cached.status();
          break;
        }
        version = *cached;
      }
      if (version != read.version) {
        check = absl::AbortedError(absl::StrCat("stream \"", read.stream_id, "\" is at version ",
                                                version, " but the append read it at ",
                                                read.version, "; read it again and retry"));
      }
    }
    if (!check.ok()) {
      w->result = check;
      continue;
    }

    AppendResult result;
    result.first_position = position + 1;
    for (size_t i = 0; i < request.streams.size(); ++i) {
      StreamAppend& stream = request.streams[i];
      uint64_t version = current[i];
      const std::string stream_prefix = StreamKeyPrefix(stream.stream_id);
      for (EventRecord& event : stream.events) {
        ++position;
        ++version;
        event.set_position(position);
        event.set_stream_id(stream.stream_id);
        event.set_stream_version(version);
        event.set_idempotency_key(key);
        event.set_previous_hash(previous_hash);
        record_bytes.clear();
        event.SerializeToString(&record_bytes);
        std::string hash = hasher_.Hash(previous_hash, record_bytes);
        record_bytes.append(hash);
        batch.Put(log_, LogKey(position), record_bytes);
        std::string stream_key = stream_prefix;
        AppendBigEndian64(&stream_key, version);
        batch.Put(streams_, stream_key, EncodeBigEndian64(position));
        event.set_hash(hash);
        if (deliver) committed->push_back(event);
        previous_hash = std::move(hash);
      }
      group_versions[stream.stream_id] = version;
      result.streams.push_back({stream.stream_id, current[i] + 1, version});
    }
    result.last_position = position;
    if (!key.empty()) {
      IdempotencyEntry entry;
      entry.set_fingerprint(w->fingerprint);
      entry.set_first_position(result.first_position);
      entry.set_last_position(result.last_position);
      for (const StreamResult& s : result.streams) {
        auto* range = entry.add_streams();
        range->set_stream_id(s.stream_id);
        range->set_first_version(s.first_version);
        range->set_last_version(s.last_version);
      }
      batch.Put(idempotency_, key, entry.SerializeAsString());
      group_keys[key] = std::move(entry);
    }
    w->result = std::move(result);
    w->in_batch = true;
  }

  if (batch.Count() == 0) return;
  absl::Status written = FromRocksDb(db_->Write(write_options_, &batch), "appending to the log");
  if (!written.ok()) {
    for (Writer* w : group) {
      if (w->in_batch) w->result = written;
    }
    return;
  }
  last_position_ = position;
  last_hash_ = previous_hash;
  // Hand each writer its committed records (the events of its request, now complete).
  for (Writer* w : group) {
    if (!w->in_batch || !w->result.ok() || w->result->deduplicated) continue;
    std::vector<EventRecord>& records = w->result->records;
    for (StreamAppend& stream : w->request.streams) {
      for (EventRecord& event : stream.events) records.push_back(std::move(event));
    }
  }
  // Only committed versions enter the cache. Clearing it when full keeps memory bounded at
  // the cost of one index seek per stream afterwards.
  if (version_cache_.size() + group_versions.size() > kVersionCacheEntries) version_cache_.clear();
  for (auto& [stream_id, version] : group_versions) version_cache_[stream_id] = version;
  {
    absl::MutexLock lock(&head_mu_);
    head_ = {last_position_, last_hash_};
  }
  if (deliver) {
    absl::MutexLock lock(&subscriptions_mu_);
    for (SubscriptionImpl* subscription : subscriptions_) {
      subscription->Deliver(committed, last_position_);
    }
  } else if (has_subscriptions_.load()) {
    // A subscription registered while this group was being built: tell it the new head so
    // it reads these records from the store.
    absl::MutexLock lock(&subscriptions_mu_);
    for (SubscriptionImpl* subscription : subscriptions_)
      subscription->RaiseKnownHead(last_position_);
  }
}

absl::StatusOr<std::vector<EventRecord>> RocksDbEventStore::ReadPositions(
    const std::vector<uint64_t>& positions) const {
  std::vector<std::string> keys;
  keys.reserve(positions.size());
  for (uint64_t position : positions) keys.push_back(LogKey(position));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> families(keys.size(), log_);
  std::vector<std::string> values;
  std::vector<rocksdb::Status> statuses =
      db_->MultiGet(rocksdb::ReadOptions(), families, slices, &values);
  std::vector<EventRecord> records;
  records.reserve(positions.size());
  for (size_t i = 0; i < positions.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      return absl::DataLossError(absl::StrCat("the stream index points at position ", positions[i],
                                              ", which the log does not hold"));
    }
    RETURN_IF_ERROR(FromRocksDb(statuses[i], "reading the log"));
    RETURN_IF_ERROR(ParseLogValue(positions[i], values[i], &records.emplace_back()));
  }
  return records;
}

absl::StatusOr<std::vector<EventRecord>> RocksDbEventStore::ReadStream(absl::string_view stream_id,
                                                                       uint64_t from_version,
                                                                       Direction direction,
                                                                       size_t limit) const {
  RETURN_IF_ERROR(ValidateStreamId(stream_id, options_.max_stream_id_bytes));
  if (limit == 0) return absl::InvalidArgumentError("limit must be at least 1");
  const std::string prefix = StreamKeyPrefix(stream_id);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), streams_));
  std::vector<uint64_t> positions;
  if (direction == Direction::kForward) {
    it->Seek(StreamKey(stream_id, std::max<uint64_t>(from_version, 1)));
  } else {
    it->SeekForPrev(StreamKey(stream_id, from_version));
  }
  for (; it->Valid() && positions.size() < limit;
       direction == Direction::kForward ? it->Next() : it->Prev()) {
    if (!it->key().starts_with(prefix)) break;
    uint64_t position = 0;
    if (!DecodeBigEndian64(View(it->value()), &position)) {
      return absl::DataLossError(
          absl::StrCat("stream \"", stream_id, "\" has an unreadable index entry"));
    }
    positions.push_back(position);
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "reading a stream"));
  return ReadPositions(positions);
}

absl::Status RocksDbEventStore::ScanAll(
    uint64_t from_position, uint64_t to_position,
    const std::function<absl::Status(const EventRecord&)>& visit) const {
  from_position = std::max<uint64_t>(from_position, 1);
  if (to_position == 0) to_position = UINT64_MAX;
  rocksdb::ReadOptions read_options;
  read_options.readahead_size = 2 << 20;  // Sequential scans read large blocks.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, log_));
  EventRecord record;  // Reused: parsing into it keeps its strings' capacity.
  uint64_t expected = from_position;
  for (it->Seek(LogKey(from_position)); it->Valid() && expected <= to_position;
       it->Next(), ++expected) {
    uint64_t position = 0;
    if (!DecodeBigEndian64(View(it->key()), &position) || position != expected) {
      return absl::DataLossError(absl::StrCat("the log has no record at position ", expected));
    }
    RETURN_IF_ERROR(ParseLogValue(position, View(it->value()), &record));
    RETURN_IF_ERROR(visit(record));
  }
  return FromRocksDb(it->status(), "reading the log");
}

absl::StatusOr<std::vector<EventRecord>> RocksDbEventStore::ReadAll(uint64_t from_position,
                                                                    size_t limit) const {
  if (limit == 0) return absl::InvalidArgumentError("limit must be at least 1");
  from_position = std::max<uint64_t>(from_position, 1);
  const uint64_t to_position =
      limit - 1 > UINT64_MAX - from_position ? UINT64_MAX : from_position + limit - 1;
  std::vector<EventRecord> records;
  records.reserve(std::min<size_t>(limit, 4096));
  RETURN_IF_ERROR(ScanAll(from_position, to_position, [&records](const EventRecord& record) {
    records.push_back(record);
    return absl::OkStatus();
  }));
  return records;
}

absl::StatusOr<uint64_t> RocksDbEventStore::StreamVersion(absl::string_view stream_id) const {
  RETURN_IF_ERROR(ValidateStreamId(stream_id, options_.max_stream_id_bytes));
  return ReadStreamVersion(stream_id);
}

namespace {

// Reads only a stored record's position and previous hash (fields 1 and 13), which is what
// linking it to the record before needs, at a fraction of the cost of a full parse (the hash
// already covers every byte). As in a full parse, the last occurrence of a field wins. False
// when the bytes are not a well-formed message.
bool ReadLink(absl::string_view bytes, uint64_t* position, absl::string_view* previous_hash) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return in.CurrentPosition() == static_cast<int>(bytes.size());
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const WireFormatLite::WireType type = WireFormatLite::GetTagWireType(tag);
    if (field == EventRecord::kPositionFieldNumber && type == WireFormatLite::WIRETYPE_VARINT) {
      if (!in.ReadVarint64(position)) return false;
    } else if (field == EventRecord::kPreviousHashFieldNumber &&
               type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t size = 0;
      if (!in.ReadVarint32(&size)) return false;
      const int at = in.CurrentPosition();
      if (!in.Skip(static_cast<int>(size))) return false;
      *previous_hash = bytes.substr(at, size);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
}

}  // namespace

absl::StatusOr<VerifyResult> RocksDbEventStore::VerifyEach(uint64_t from_position,
                                                           uint64_t to_position,
                                                           const VerifyVisitor& visit) const {
  const LogHead head = Head();
  from_position = std::max<uint64_t>(from_position, 1);
  if (to_position == 0) to_position = head.position;
  if (to_position > head.position) {
    return absl::InvalidArgumentError(absl::StrCat("cannot verify up to position ", to_position,
                                                   "; the log ends at ", head.position));
  }
  VerifyResult result;
  if (from_position > to_position) return result;

  std::string previous_hash = ZeroHash();
  if (from_position > 1) {
    std::string value;
    rocksdb::Status status =
        db_->Get(rocksdb::ReadOptions(), log_, LogKey(from_position - 1), &value);
    if (status.IsNotFound() || value.size() < kHashBytes) {
      return absl::DataLossError(
          absl::StrCat("position ", from_position - 1, ": record is missing"));
    }
    RETURN_IF_ERROR(FromRocksDb(status, "reading the log"));
    previous_hash = value.substr(value.size() - kHashBytes);
  }

  Sha256 hasher;
  rocksdb::ReadOptions read_options;
  read_options.readahead_size = 2 << 20;
  read_options.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, log_));
  uint64_t expected = from_position;
  EventRecord record;
  for (it->Seek(LogKey(from_position)); it->Valid() && expected <= to_position;
       it->Next(), ++expected) {
    uint64_t position = 0;
    if (!DecodeBigEndian64(View(it->key()), &position)) {
      return absl::DataLossError(
          absl::StrCat("position ", expected, ": the key is not a position"));
    }
    if (position != expected) {
      return absl::DataLossError(absl::StrCat(
          "position ", expected, ": record is missing (the next stored is ", position, ")"));
    }
    const absl::string_view value = View(it->value());
    if (value.size() < kHashBytes) {
      return absl::DataLossError(absl::StrCat("position ", position, ": record is truncated"));
    }
    const absl::string_view bytes = value.substr(0, value.size() - kHashBytes);
    const absl::string_view stored_hash = value.substr(value.size() - kHashBytes);
    if (hasher.Hash(previous_hash, bytes) != stored_hash) {
      return absl::DataLossError(absl::StrCat(
          "position ", position, ": hash mismatch, the record's bytes or its hash were altered"));
    }
    // A visitor gets the whole record; the check alone reads only the two fields that link.
    uint64_t linked_position = 0;
    absl::string_view linked_hash;
    bool linked = false;
    if (visit) {
      linked = record.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
      linked_position = record.position();
      linked_hash = record.previous_hash();
    } else {
      linked = ReadLink(bytes, &linked_position, &linked_hash);
    }
    if (!linked || linked_position != position || linked_hash != previous_hash) {
      return absl::DataLossError(
          absl::StrCat("position ", position, ": record does not link to position ", position - 1));
    }
    previous_hash.assign(stored_hash.data(), stored_hash.size());
    ++result.records;
    if (visit) {
      record.set_hash(previous_hash);
      ASSIGN_OR_RETURN(const bool go_on, visit(record, bytes));
      if (!go_on) {
        to_position = position;
        ++expected;
        break;
      }
    }
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "verifying the log"));
  if (expected <= to_position) {
    return absl::DataLossError(absl::StrCat("position ", expected, ": record is missing"));
  }
  result.first_position = from_position;
  result.last_position = to_position;
  result.last_hash = previous_hash;
  return result;
}

absl::StatusOr<std::unique_ptr<Subscription>> RocksDbEventStore::Subscribe(uint64_t from_position) {
  if (from_position == 0) {
    return absl::InvalidArgumentError("subscriptions start at position 1 or later");
  }
  const uint64_t head = Head().position;
  if (from_position > head + 1) {
    return absl::InvalidArgumentError(absl::StrCat("cannot subscribe from position ", from_position,
                                                   "; the log ends at ", head, ", so start at ",
                                                   head + 1, " at most"));
  }
  auto subscription =
      std::make_unique<SubscriptionImpl>(this, from_position, options_.subscription_buffer_events);
  {
    absl::MutexLock lock(&subscriptions_mu_);
    subscriptions_.insert(subscription.get());
    has_subscriptions_.store(true);
  }
  // Registered first, then read the head: a commit in between is seen one way or the other.
  subscription->RaiseKnownHead(Head().position);
  return subscription;
}

absl::Status RocksDbEventStore::SaveCheckpoint(absl::string_view name, uint64_t position) {
  if (name.empty() || name.size() > options_.max_stream_id_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint name must be 1 to ", options_.max_stream_id_bytes, " bytes"));
  }
  const uint64_t head = Head().position;
  if (position > head) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint position ", position, " is past the log's head ", head));
  }
  rocksdb::WriteOptions sync_write;
  sync_write.sync = options_.sync;
  return FromRocksDb(db_->Put(sync_write, checkpoints_, rocksdb::Slice(name.data(), name.size()),
                              EncodeBigEndian64(position)),
                     "saving a checkpoint");
}

absl::StatusOr<std::optional<AppendResult>> RocksDbEventStore::FindIdempotent(
    absl::string_view key) const {
  if (key.empty()) return std::optional<AppendResult>();
  std::string value;
  rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), idempotency_,
                                    rocksdb::Slice(key.data(), key.size()), &value);
  if (status.IsNotFound()) return std::optional<AppendResult>();
  RETURN_IF_ERROR(FromRocksDb(status, "reading an idempotency key"));
  IdempotencyEntry entry;
  if (!entry.ParseFromString(value)) {
    return absl::DataLossError(
        absl::StrCat("the entry of idempotency key \"", key, "\" is unreadable"));
  }
  return std::optional<AppendResult>(ResultFromEntry(entry));
}

absl::StatusOr<uint64_t> RocksDbEventStore::LoadCheckpoint(absl::string_view name) const {
  std::string value;
  rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), checkpoints_,
                                    rocksdb::Slice(name.data(), name.size()), &value);
  if (status.IsNotFound()) return 0;
  RETURN_IF_ERROR(FromRocksDb(status, "loading a checkpoint"));
  uint64_t position = 0;
  if (!DecodeBigEndian64(value, &position)) {
    return absl::DataLossError(absl::StrCat("checkpoint \"", name, "\" is unreadable"));
  }
  return position;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventStore>> OpenRocksDbEventStore(const Options& options,
                                                                  const std::string& path) {
  auto store = std::make_unique<RocksDbEventStore>(options, path);
  RETURN_IF_ERROR(store->Init());
  return store;
}

}  // namespace spotflow::store::internal
