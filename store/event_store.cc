#include "store/event_store.h"

#include "absl/strings/str_cat.h"
#include "store/internal/rocksdb_event_store.h"
#include "store/internal/sha256.h"

namespace spotflow::store {
namespace {

absl::Status CheckRange(absl::string_view name, size_t value, size_t min, size_t max) {
  if (value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("Options::", name, " is ", value, "; it must be between ", min, " and ", max));
  }
  return absl::OkStatus();
}

absl::Status ValidateOptions(const Options& options) {
  for (const absl::Status& status : {
           CheckRange("max_event_bytes", options.max_event_bytes, 1 << 10, size_t{64} << 20),
           CheckRange("max_events_per_append", options.max_events_per_append, 1, 1'000'000),
           CheckRange("max_stream_id_bytes", options.max_stream_id_bytes, 1, 4096),
           CheckRange("max_idempotency_key_bytes", options.max_idempotency_key_bytes, 1, 4096),
           CheckRange("subscription_buffer_events", options.subscription_buffer_events, 1,
                      1'000'000),
           CheckRange("max_group_commit_bytes", options.max_group_commit_bytes, 1, size_t{1} << 30),
           CheckRange("block_cache_bytes", options.block_cache_bytes, 0, size_t{1} << 40),
           CheckRange("write_buffer_bytes", options.write_buffer_bytes, size_t{64} << 10,
                      size_t{4} << 30),
           CheckRange("background_threads", static_cast<size_t>(options.background_threads), 1, 64),
       }) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace

std::string ChainHash(absl::string_view previous_hash, absl::string_view record_bytes) {
  return internal::ChainHash(previous_hash, record_bytes);
}

std::string ExpectedVersion::ToString() const {
  if (is_any()) return "any";
  if (version_ == 0) return "no stream";
  return absl::StrCat(version_);
}

absl::StatusOr<std::unique_ptr<EventStore>> EventStore::Open(const Options& options,
                                                             const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("the store's path is empty");
  if (absl::Status status = ValidateOptions(options); !status.ok()) return status;
  return internal::OpenRocksDbEventStore(options, path);
}

}  // namespace spotflow::store
