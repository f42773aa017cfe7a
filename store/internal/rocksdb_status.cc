#include "store/internal/rocksdb_status.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace spotflow::store::internal {

absl::Status FromRocksDb(const rocksdb::Status& status, absl::string_view context) {
  if (status.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(context, ": ", status.ToString());
  switch (status.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(message);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(message);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case rocksdb::Status::kIOError:
      if (status.IsNoSpace()) return absl::ResourceExhaustedError(message);
      // Opening, a file this process may not open (the LOCK file among them): the directory's
      // owner or mode, not another process. (Later, the same is a failing store: UNAVAILABLE,
      // which callers do not take for a refusal of their rights.)
      if (absl::StartsWith(context, "opening") &&
          absl::StrContains(status.ToString(), "Permission denied")) {
        return absl::PermissionDeniedError(absl::StrCat(
            context, ": this process may not open the data directory's files (check their owner ",
            "and mode) (", status.ToString(), ")"));
      }
      // RocksDB reports a held LOCK file as an I/O error on "LOCK" or "lock hold by ...".
      if (absl::StrContains(absl::AsciiStrToLower(status.ToString()), "lock")) {
        return absl::UnavailableError(
            absl::StrCat(context, ": the data directory is in use by another process (",
                         status.ToString(), ")"));
      }
      return absl::UnavailableError(message);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kShutdownInProgress:
      return absl::UnavailableError(message);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace spotflow::store::internal
