// files.h: replacing a small file whole, readable by its owner alone (the token file, the
// first administrator's token, notify's state), and locking it between processes.
#ifndef SPOTFLOW_SERVICE_INTERNAL_FILES_H_
#define SPOTFLOW_SERVICE_INTERNAL_FILES_H_

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace spotflow::service::internal {

// Replaces the file at `path` with `text`, mode 0600: writes it beside the file, syncs it,
// renames it over the file and syncs the directory, so that a crash leaves the old file or
// the new one whole. `what` names the file in the error ("the token file").
inline absl::Status ReplaceFile(const std::string& path, const std::string& text,
                                absl::string_view what) {
  const std::string temporary = absl::StrCat(path, ".new.", ::getpid());
  const auto failed = [&](absl::string_view doing) {
    return absl::UnavailableError(absl::StrCat("cannot ", doing, " ", what, " ", path, ": ",
                                               std::strerror(errno), "; it is unchanged"));
  };
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return failed("write");
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) {
    const absl::Status status = failed("replace");
    ::unlink(temporary.c_str());
    return status;
  }
  std::string directory = std::filesystem::path(path).parent_path().string();
  if (directory.empty()) directory = ".";
  const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

// An exclusive lock on "<path>.lock" for as long as it lives (flock(2), between processes):
// servers sharing a token file add and remove lines one at a time, so a revocation's rewrite
// does not drop a line another server appended meanwhile; two `spotflow notify` runs on one
// state would tell people twice.
class FileLock {
 public:
  // Waits for the lock, or with `wait` false fails at once with FAILED_PRECONDITION when
  // another process holds it.
  static absl::StatusOr<FileLock> Take(const std::string& path, bool wait = true) {
    const std::string name = absl::StrCat(path, ".lock");
    const int fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0) {
      const absl::Status status =
          fd >= 0 && errno == EWOULDBLOCK
              ? absl::FailedPreconditionError(absl::StrCat(name, " is held by another process"))
              : absl::UnavailableError(
                    absl::StrCat("cannot lock ", name, ": ", std::strerror(errno)));
      if (fd >= 0) ::close(fd);
      return status;
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // Closing releases the lock.
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace spotflow::service::internal

#endif  // SPOTFLOW_SERVICE_INTERNAL_FILES_H_
