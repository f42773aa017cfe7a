#include "service/auth.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "openssl/rand.h"
#include "openssl/sha.h"
#include "service/internal/files.h"

namespace spotflow::service {

using internal::FileLock;
namespace {

std::string Hex(const unsigned char* bytes, size_t size) {
  std::string hex;
  for (size_t i = 0; i < size; ++i) absl::StrAppend(&hex, absl::Hex(bytes[i], absl::kZeroPad2));
  return hex;
}

}  // namespace

std::string TokenStore::HashToken(absl::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return Hex(digest, sizeof(digest));
}

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Load(const std::string& path) {
  auto store = std::make_unique<TokenStore>();
  absl::MutexLock lock(&store->mu_);
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) return store;  // None issued yet.
  if (!error && status.type() != std::filesystem::file_type::regular) {
    return absl::FailedPreconditionError(
        absl::StrCat("the token file ", path, " is not a regular file"));
  }
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the token file ", path, ": ", error.message()));
  }
  // Whoever can write the file can make themselves anyone: it must be its owner's alone.
  using std::filesystem::perms;
  if ((status.permissions() & (perms::group_write | perms::others_write)) != perms::none) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the token file ", path, " is writable by others; chmod 600 it and start again"));
  }
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(absl::StrCat("cannot read the token file ", path));
  std::string line;
  absl::flat_hash_map<std::string, int> line_of;  // Where each hash was given.
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || absl::StartsWith(text, "#")) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 2 || parts[0].size() != 64 ||
        !std::all_of(parts[0].begin(), parts[0].end(),
                     [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); })) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number, ": expected \"<sha256 of the token, 64 hex digits> <user id>\""));
    }
    const std::string hash = absl::AsciiStrToLower(parts[0]);
    auto [given, fresh] = store->users_by_hash_.emplace(hash, std::string(parts[1]));
    if (!fresh && given->second != parts[1]) {  // One token, two users: whose is it?
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": this hash is already given to another user at line ",
                       line_of[hash], "; remove one of the two lines"));
    }
    line_of.emplace(hash, number);
  }
  return store;
}

std::vector<std::string> TokenStore::Users() const {
  absl::ReaderMutexLock lock(&mu_);
  std::set<std::string> users;
  for (const auto& [hash, user] : users_by_hash_) users.insert(user);
  return std::vector<std::string>(users.begin(), users.end());
}

absl::Status TokenStore::LoadsAsItIs(const std::string& path, absl::string_view unchanged) {
  // A file edited by hand since it was loaded (a bad line): adding to it or rewriting it would
  // carry the bad line on, and the next start would refuse the file.
  absl::StatusOr<std::unique_ptr<TokenStore>> loaded = Load(path);
  if (loaded.ok()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("the token file does not load as it is now (", loaded.status().message(),
                   "): fix it, then send spotflowd SIGHUP; ", unchanged));
}

absl::Status TokenStore::Reload(const std::string& path) {
  absl::StatusOr<std::unique_ptr<TokenStore>> loaded = Load(path);
  if (!loaded.ok()) return loaded.status();
  absl::flat_hash_map<std::string, std::string> users;
  {
    absl::MutexLock lock(&(*loaded)->mu_);
    users.swap((*loaded)->users_by_hash_);
  }
  absl::MutexLock lock(&mu_);
  users_by_hash_.swap(users);
  return absl::OkStatus();
}

absl::StatusOr<std::string> TokenStore::Issue(const std::string& path, const std::string& user_id) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("the system's random source failed");
  }
  const std::string token = Hex(bytes, sizeof(bytes));
  const std::string hash = HashToken(token);
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const FileLock file_lock, FileLock::Take(path));
  RETURN_IF_ERROR(LoadsAsItIs(path, "no token was issued"));
  // Only its owner reads the token file: hashes are not secrets, but user ids are.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot write the token file ", path));
  const std::string line = absl::StrCat(hash, " ", user_id, "\n");
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return absl::UnavailableError(absl::StrCat("cannot write the token file ", path));
  users_by_hash_[hash] = user_id;
  return token;
}

absl::StatusOr<std::string> TokenStore::Authenticate(absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "no credentials: send the metadata \"authorization: Bearer <token>\"");
  }
  const std::string hash = HashOfAuthorization(authorization);
  if (hash.empty()) {
    return absl::UnauthenticatedError("the authorization metadata must be \"Bearer <token>\"");
  }
  absl::ReaderMutexLock lock(&mu_);
  auto it = users_by_hash_.find(hash);
  if (it == users_by_hash_.end()) {
    return absl::UnauthenticatedError("unknown or revoked token");
  }
  return it->second;
}

std::string TokenStore::HashOfAuthorization(absl::string_view authorization) {
  // The scheme is case-insensitive (RFC 7235); one or more spaces follow it.
  const size_t space = authorization.find(' ');
  if (space == absl::string_view::npos ||
      !absl::EqualsIgnoreCase(authorization.substr(0, space), "bearer")) {
    return "";
  }
  return HashToken(absl::StripAsciiWhitespace(authorization.substr(space + 1)));
}

absl::StatusOr<std::string> TokenStore::NormalizePrefix(absl::string_view hash_prefix,
                                                        absl::string_view user_id) {
  const std::string prefix = absl::AsciiStrToLower(hash_prefix);
  const bool hex = std::all_of(prefix.begin(), prefix.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
  if (!hex || prefix.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("token_hash_prefix \"", absl::CHexEscape(hash_prefix),
                     "\" is not the start of a token's hash (hex digits); `spotflow user show ",
                     user_id, "` lists them"));
  }
  if (prefix.size() < 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("token_hash_prefix \"", prefix,
                     "\" is too short: give at least 12 hex digits, as "
                     "`spotflow user show ",
                     user_id, "` lists them"));
  }
  return prefix;
}

absl::StatusOr<std::string> TokenStore::Revoke(const std::string& path, const std::string& user_id,
                                               absl::string_view hash_prefix) {
  ASSIGN_OR_RETURN(const std::string prefix, NormalizePrefix(hash_prefix, user_id));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(const FileLock file_lock, FileLock::Take(path));
  RETURN_IF_ERROR(LoadsAsItIs(path, "no token was revoked"));
  // The token file as it is now: another server may have added to it, and an operator may
  // have edited it. A file that cannot be read whole is not rewritten from what was read.
  std::vector<std::string> lines;
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::string line;
    while (in && std::getline(in, line)) lines.push_back(line);
    if (!in.eof() || in.bad()) {
      return absl::UnavailableError(
          absl::StrCat("cannot read the token file ", path, "; it is unchanged"));
    }
  }
  absl::flat_hash_set<std::string> matches;
  std::vector<bool> keep(lines.size(), true);
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view text = absl::StripAsciiWhitespace(lines[i]);
    if (text.empty() || absl::StartsWith(text, "#")) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 2 || parts[1] != user_id) continue;
    const std::string hash = absl::AsciiStrToLower(parts[0]);
    if (!absl::StartsWith(hash, prefix)) continue;
    matches.insert(hash);
    keep[i] = false;
  }
  for (const auto& [hash, user] : users_by_hash_) {
    if (user == user_id && absl::StartsWith(hash, prefix)) matches.insert(hash);
  }
  if (matches.empty()) {
    return absl::NotFoundError(
        absl::StrCat("user ", user_id, " has no token whose hash starts with ", prefix,
                     "; `spotflow user show ", user_id, "` lists their tokens"));
  }
  if (matches.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(matches.size(), " tokens of user ", user_id,
                                                   " have hashes starting with ", prefix,
                                                   "; give more digits to name one"));
  }
  const std::string hash = *matches.begin();
  if (std::find(keep.begin(), keep.end(), false) != keep.end()) {
    std::string text;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (keep[i]) absl::StrAppend(&text, lines[i], "\n");
    }
    RETURN_IF_ERROR(internal::ReplaceFile(path, text, "the token file"));
  }
  users_by_hash_.erase(hash);
  return hash;
}

}  // namespace spotflow::service
