// rocksdb_status.h: the one place where rocksdb::Status becomes absl::Status.
//
// Thread-safe: a stateless function.
#ifndef SPOTFLOW_STORE_INTERNAL_ROCKSDB_STATUS_H_
#define SPOTFLOW_STORE_INTERNAL_ROCKSDB_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rocksdb/status.h"

namespace spotflow::store::internal {

// Converts `status`, prefixing its message with `context` (what the store was doing).
// Corruption is DATA_LOSS; a held lock file is UNAVAILABLE ("in use by another process");
// a full disk is RESOURCE_EXHAUSTED; other I/O errors are UNAVAILABLE.
absl::Status FromRocksDb(const rocksdb::Status& status, absl::string_view context);

}  // namespace spotflow::store::internal

#endif  // SPOTFLOW_STORE_INTERNAL_ROCKSDB_STATUS_H_
