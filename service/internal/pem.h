// pem.h: checking TLS files before gRPC sees them. gRPC refuses a bad certificate or key
// without saying which file or why (a server does not listen; a client's every call fails with
// gRPC's own log lines), so spotflowd and the CLI check them first, naming the file.
#ifndef SPOTFLOW_SERVICE_INTERNAL_PEM_H_
#define SPOTFLOW_SERVICE_INTERNAL_PEM_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace spotflow::service::internal {

// INVALID_ARGUMENT unless `pem` holds a PEM certificate. `what` names the file in the message
// ("the client CA /etc/ca.pem").
absl::Status CheckPemCertificate(const std::string& pem, absl::string_view what);

// INVALID_ARGUMENT unless `cert_pem` holds a PEM certificate and `key_pem` the PEM private key
// (without a passphrase) that belongs to its first certificate.
absl::Status CheckPemKeyPair(const std::string& cert_pem, const std::string& key_pem,
                             absl::string_view cert_what, absl::string_view key_what);

}  // namespace spotflow::service::internal

#endif  // SPOTFLOW_SERVICE_INTERNAL_PEM_H_
