#include "service/internal/pem.h"

#include "absl/strings/str_cat.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/x509.h"

namespace spotflow::service::internal {
namespace {

// The first certificate in `pem`, or null (the caller frees it).
X509* ReadCertificate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  return cert;
}

absl::Status NoCertificate(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, " holds no PEM certificate"));
}

}  // namespace

absl::Status CheckPemCertificate(const std::string& pem, absl::string_view what) {
  X509* cert = ReadCertificate(pem);
  if (cert == nullptr) return NoCertificate(what);
  X509_free(cert);
  return absl::OkStatus();
}

absl::Status CheckPemKeyPair(const std::string& cert_pem, const std::string& key_pem,
                             absl::string_view cert_what, absl::string_view key_what) {
  X509* cert = ReadCertificate(cert_pem);
  if (cert == nullptr) return NoCertificate(cert_what);
  BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  // A null passphrase callback with a null argument would prompt on the terminal for an
  // encrypted key; this one refuses it instead.
  EVP_PKEY* key = PEM_read_bio_PrivateKey(
      bio, nullptr, [](char*, int, int, void*) { return -1; }, nullptr);
  BIO_free(bio);
  absl::Status status;
  if (key == nullptr) {
    status = absl::InvalidArgumentError(
        absl::StrCat(key_what, " holds no PEM private key (or one with a passphrase)"));
  } else if (X509_check_private_key(cert, key) != 1) {
    status = absl::InvalidArgumentError(absl::StrCat(key_what, " is not the key of ", cert_what));
  }
  EVP_PKEY_free(key);
  X509_free(cert);
  ERR_clear_error();
  return status;
}

}  // namespace spotflow::service::internal
