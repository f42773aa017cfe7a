// auth.h: bearer tokens. The token file keeps only SHA-256 hashes of tokens, one per line,
// each mapped to a user id:
//
//   # comment
//   3f9a...64 hex digits...  ada
//
// A caller sends "authorization: Bearer <token>"; the token is hashed and looked up. A missing
// or unknown token is UNAUTHENTICATED. Thread-safe.
#ifndef SPOTFLOW_SERVICE_AUTH_H_
#define SPOTFLOW_SERVICE_AUTH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace spotflow::service {

class TokenStore {
 public:
  // Reads `path`. A missing file is an empty store; a malformed line is INVALID_ARGUMENT
  // naming the line.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Load(const std::string& path);

  // Reads `path` again and takes its tokens in place of these (spotflowd on SIGHUP: tokens
  // another server issued, or lines an operator removed). On an error nothing changes.
  absl::Status Reload(const std::string& path);

  // A new random token (256 bits, hex) for `user_id`: appends its hash to `path` and returns
  // the token, which is never stored.
  absl::StatusOr<std::string> Issue(const std::string& path, const std::string& user_id);

  // Takes the token of `user_id` whose hash starts with `hash_prefix` (hex, at least 12
  // digits) out of `path` and of this store, and returns its whole hash: it stops working at
  // once. NOT_FOUND when no token of the user has that prefix, INVALID_ARGUMENT when
  // several have (more digits tell them apart). The file is replaced whole (written beside
  // it, synced, renamed over it), so a crash leaves either the old file or the new one.
  absl::StatusOr<std::string> Revoke(const std::string& path, const std::string& user_id,
                                     absl::string_view hash_prefix);

  // `hash_prefix` in lowercase, or INVALID_ARGUMENT unless it is 12 to 64 hex digits (the
  // message names `user_id`'s listing).
  static absl::StatusOr<std::string> NormalizePrefix(absl::string_view hash_prefix,
                                                     absl::string_view user_id);

  // The hash of the token in an "authorization" header value ("Bearer <token>"); empty when
  // the value is not of that form.
  static std::string HashOfAuthorization(absl::string_view authorization);

  // The user behind an "authorization" header value, or UNAUTHENTICATED.
  absl::StatusOr<std::string> Authenticate(absl::string_view authorization) const;

  // The users the tokens are for, each once, sorted.
  std::vector<std::string> Users() const;

  size_t size() const {
    absl::ReaderMutexLock lock(&mu_);
    return users_by_hash_.size();
  }

  static std::string HashToken(absl::string_view token);
  // What the log keeps of an issued token (TokenIssued): the first 12 hex digits of its hash.
  static std::string HashPrefix(absl::string_view token) { return HashToken(token).substr(0, 12); }

 private:
  // OK when the file at `path` loads as it is now; else FAILED_PRECONDITION saying why and
  // `unchanged` (what was not done).
  static absl::Status LoadsAsItIs(const std::string& path, absl::string_view unchanged);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> users_by_hash_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spotflow::service

#endif  // SPOTFLOW_SERVICE_AUTH_H_
