// The audit log's keys in the HSM: HsmAuditSigner signs checkpoints with the EC P-256 key
// pair "strongroom-audit-signing"; AuditHasher computes the hex HMAC-SHA256 that correlates
// tokens in audit lines, with the HMAC key "strongroom-audit-hmac". Both create their key
// on first use (Create) and reuse it afterwards, so checkpoints and HMACs stay stable across
// restarts. Errors are the HSM's (they name the label, never key bytes). Thread-safe; the
// Hsm must outlive them.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/hsm.h"
#include "server/audit/audit_log.h"

namespace strongroom::server::audit {

inline constexpr char kAuditSigningKeyLabel[] = "strongroom-audit-signing";
inline constexpr char kAuditHmacKeyLabel[] = "strongroom-audit-hmac";

class HsmAuditSigner : public AuditSigner {
 public:
  // Finds or generates the signing key pair and reads its public key.
  static absl::StatusOr<std::unique_ptr<HsmAuditSigner>> Create(hsm::Hsm* hsm);

  absl::StatusOr<std::string> SignDigest(absl::string_view sha256_digest) override;
  const std::string& public_key_der() const override { return public_key_der_; }

  // Writes the public key as PEM to `path` (mode 0644, replaced atomically) so operators
  // can pin it: strongroom audit verify --public-key <path>.
  absl::Status WritePublicKeyPem(const std::string& path) const;

 private:
  HsmAuditSigner(hsm::Hsm* hsm, std::string public_key_der)
      : hsm_(hsm), public_key_der_(std::move(public_key_der)) {}

  hsm::Hsm* const hsm_;
  const std::string public_key_der_;
};

class AuditHasher {
 public:
  // Finds or generates the HMAC key.
  static absl::StatusOr<std::unique_ptr<AuditHasher>> Create(hsm::Hsm* hsm);

  // Lowercase hex HMAC-SHA256 of `data` (e.g. a bearer token): equal inputs give equal
  // output, and the input cannot be recovered from it without the HSM key.
  absl::StatusOr<std::string> HexHmac(absl::string_view data);

 private:
  explicit AuditHasher(hsm::Hsm* hsm) : hsm_(hsm) {}

  hsm::Hsm* const hsm_;
};

}  // namespace strongroom::server::audit
