// files.h: replacing a small file whole, readable by its owner alone (the token file, the
// first administrator's token).
#ifndef SPOTFLOW_SERVICE_INTERNAL_FILES_H_
#define SPOTFLOW_SERVICE_INTERNAL_FILES_H_

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
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
  if (fd < 0) return failed("write a new");
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

}  // namespace spotflow::service::internal

#endif  // SPOTFLOW_SERVICE_INTERNAL_FILES_H_
