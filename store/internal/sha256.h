// sha256.h: SHA-256 through OpenSSL's libcrypto, for the log's hash chain.
//
// Thread-compatible: a Sha256 object is used by one thread at a time; the free function
// is thread-safe.
#ifndef SPOTFLOW_STORE_INTERNAL_SHA256_H_
#define SPOTFLOW_STORE_INTERNAL_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace spotflow::store::internal {

// A reusable hasher: keeps one OpenSSL context to avoid an allocation per hash.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // Returns SHA-256(a || b), 32 bytes.
  std::string Hash(absl::string_view a, absl::string_view b);

 private:
  EVP_MD_CTX* ctx_;  // Owned.
};

// The hash chain's link: SHA-256(previous_hash || record_bytes).
std::string ChainHash(absl::string_view previous_hash, absl::string_view record_bytes);

}  // namespace spotflow::store::internal

#endif  // SPOTFLOW_STORE_INTERNAL_SHA256_H_
