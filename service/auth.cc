#include "service/auth.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "openssl/rand.h"
#include "openssl/sha.h"

namespace spotflow::service {
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
  std::ifstream in(path);
  if (!in) return store;
  std::string line;
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
    store->users_by_hash_[absl::AsciiStrToLower(parts[0])] = std::string(parts[1]);
  }
  return store;
}

absl::StatusOr<std::string> TokenStore::Issue(const std::string& path, const std::string& user_id) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("the system's random source failed");
  }
  const std::string token = Hex(bytes, sizeof(bytes));
  const std::string hash = HashToken(token);
  absl::MutexLock lock(&mu_);
  std::ofstream out(path, std::ios::app);
  out << hash << " " << user_id << "\n";
  out.flush();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write the token file ", path));
  users_by_hash_[hash] = user_id;
  return token;
}

absl::StatusOr<std::string> TokenStore::Authenticate(absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "no credentials: send the metadata \"authorization: Bearer <token>\"");
  }
  absl::string_view token = authorization;
  if (!absl::ConsumePrefix(&token, "Bearer ") && !absl::ConsumePrefix(&token, "bearer ")) {
    return absl::UnauthenticatedError("the authorization metadata must be \"Bearer <token>\"");
  }
  const std::string hash = HashToken(absl::StripAsciiWhitespace(token));
  absl::ReaderMutexLock lock(&mu_);
  auto it = users_by_hash_.find(hash);
  if (it == users_by_hash_.end()) {
    return absl::UnauthenticatedError("unknown or revoked token");
  }
  return it->second;
}

}  // namespace spotflow::service
