#include "store/internal/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace spotflow::store::internal {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) std::abort();  // Out of memory; nothing sensible to do.
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

std::string Sha256::Hash(absl::string_view a, absl::string_view b) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int length = 0;
  // With a valid context and EVP_sha256 these calls cannot fail short of memory corruption.
  if (EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx_, a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx_, b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx_, reinterpret_cast<unsigned char*>(out.data()), &length) != 1) {
    std::abort();
  }
  out.resize(length);
  return out;
}

std::string ChainHash(absl::string_view previous_hash, absl::string_view record_bytes) {
  Sha256 hasher;
  return hasher.Hash(previous_hash, record_bytes);
}

}  // namespace spotflow::store::internal
