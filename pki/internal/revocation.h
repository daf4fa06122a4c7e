// Revocation: revoking stored certificates ("pki/revoked/<issuer>/<serial>") and the CRLs
// that publish them ("pki/crls/<issuer>"), built on revocation, on demand when none is
// usable, and by a periodic refresh, each with the issuer's next CRL number.
//
// CRL numbers live in the issuer record: its updates are serialised by the shared
// `record_mu` (see issuers.h) and committed with compare-and-set. `trust_epoch` is increased
// once a revocation is committed. Errors as pki/ca.h states them (the caller checks the
// barrier first). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kms/storage.h"
#include "pki/internal/inventory.h"
#include "pki/internal/issuers.h"
#include "pki/records.pb.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki::internal {

class Revocation {
 public:
  // No pointer is owned; all outlive this object. Every CRL is valid for `crl_validity`.
  Revocation(kms::Storage* storage, Issuers* issuers, Inventory* inventory, absl::Mutex* record_mu,
             std::atomic<uint64_t>* trust_epoch, absl::Duration crl_validity)
      : storage_(storage),
        issuers_(issuers),
        inventory_(inventory),
        record_mu_(record_mu),
        trust_epoch_(trust_epoch),
        crl_validity_(crl_validity) {}

  // Marks the certificate revoked with request.reason (idempotent: the first revocation
  // time and reason stay) and rebuilds its issuer's CRL. INVALID_ARGUMENT for a reason
  // that is not a CRLReason, or is certificateHold or removeFromCRL.
  absl::StatusOr<v1::RevokeCertificateResponse> Revoke(const v1::RevokeCertificateRequest& request)
      ABSL_LOCKS_EXCLUDED(*record_mu_);
  // The stored CRL, or a new one if none is stored or it is past its next_update.
  absl::StatusOr<v1::Crl> GetCrl(const v1::GetCrlRequest& request) ABSL_LOCKS_EXCLUDED(*record_mu_);
  // Rebuilds every CRL that is missing or older than crl_validity / 2 at `now`, each write
  // requiring `lease`; carries on after errors and returns the first (naming the issuer).
  absl::Status RefreshDueCrls(absl::Time now, const kms::LeaseFence& lease)
      ABSL_LOCKS_EXCLUDED(*record_mu_);
  // The thisUpdate of each issuer's stored CRL.
  absl::StatusOr<std::vector<std::pair<std::string, absl::Time>>> StoredCrlTimes();

 private:
  // Builds and signs the issuer's CRL (thisUpdate `now`, the next CRL number) and stores it
  // with the issuer's new CRL number in one commit, which requires `lease` if given.
  absl::StatusOr<v1::Crl> BuildAndStoreCrl(absl::string_view issuer_name, absl::Time now,
                                           const kms::LeaseFence* lease = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(*record_mu_);
  // The stored CRL of `issuer_name` (nullopt if none).
  absl::StatusOr<std::optional<CrlRecord>> LoadStoredCrl(absl::string_view issuer_name);

  kms::Storage* const storage_;
  Issuers* const issuers_;
  Inventory* const inventory_;
  absl::Mutex* const record_mu_;
  std::atomic<uint64_t>* const trust_epoch_;
  const absl::Duration crl_validity_;
};

}  // namespace strongroom::pki::internal
