// SoftwareSigner: an AuditSigner with an in-memory EC P-256 key, for tests and the bench.
// Test-only: the product signs with the HSM (hsm_audit_keys.h).
#pragma once

#include <memory>
#include <string>

#include "hsm/openssl_ptr.h"
#include "server/audit/audit_log.h"

namespace strongroom::server::audit::testing {

class SoftwareSigner : public AuditSigner {
 public:
  // A new random key; aborts if OpenSSL cannot make one.
  SoftwareSigner();

  absl::StatusOr<std::string> SignDigest(absl::string_view sha256_digest) override;
  const std::string& public_key_der() const override { return public_key_der_; }
  std::string public_key_pem() const;

 private:
  hsm::EvpPkeyPtr key_;
  std::string public_key_der_;
};

}  // namespace strongroom::server::audit::testing
