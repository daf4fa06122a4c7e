// Ca: the operations of strongroom.v1.Pki — issuers whose keys live in the HSM, roles,
// issuance, inventory, revocation and CRLs — over Storage.
//
// Methods take and return the API messages so the gRPC service is a thin adapter.
// Issuer keys are HSM key pairs (labelled "strongroom-ca-<issuer>-<random hex>",
// sensitive and never extractable) that sign through hsm::HsmProvider; leaf keys made by
// IssueCertificate are software keys returned once and never stored. Every name and key is
// checked against the role (role_policy.h) before anything is signed, with the common name
// also in the SAN unless exclude_cn_from_sans (CertificateNames); certificates carry
// AIA (CA issuers <base_url>/v1/pki/<issuer>/ca?format=der, a DER certificate as RFC 5280
// 4.2.2.1 requires; OCSP <base_url>/v1/pki/<issuer>/ocsp) and a CRL distribution point
// (<base_url>/v1/pki/<issuer>/crl).
//
// Records: "pki/issuers/<name>", "pki/roles/<name>", "pki/certs/<serial>", for revoked
// certificates the index "pki/revoked/<issuer>/<serial>", and each issuer's current CRL
// "pki/crls/<issuer>" (pki/records.proto). Certificates of no_store roles have no record
// and so cannot be revoked by serial.
//
// Errors: UNAVAILABLE while the barrier is sealed; INVALID_ARGUMENT naming the field and
// rule; NOT_FOUND for unknown issuers, roles and serials; ALREADY_EXISTS for a taken issuer
// name; FAILED_PRECONDITION for an issuer without a certificate (yet) or a certificate
// that does not match the issuer's key; PERMISSION_DENIED for names a role does not allow.
// Ca is a facade over the parts in pki/internal/ (issuers, their HSM keys, roles, issuance,
// the inventory of stored certificates, revocation and CRLs).
// Thread-safe: issuer-record updates (import, CRL numbers) are serialised by a mutex and
// committed with compare-and-set; issuance runs concurrently, and the records of stored
// certificates are committed in groups (kms/group_commit.h): a certificate is returned
// only once its record is durable, and a failed commit fails every issuance in it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hsm/hsm.h"
#include "hsm/openssl_ptr.h"
#include "hsm/provider.h"
#include "kms/barrier.h"
#include "kms/change_watcher.h"
#include "kms/storage.h"
#include "pki/caller_rights.h"
#include "pki/name_request.h"
#include "pki/signer.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki {

namespace internal {  // pki/internal/: the parts Ca is a facade over
class Inventory;
class Issuance;
class IssuerKeys;
class Issuers;
class Revocation;
class Roles;
}  // namespace internal

struct CaOptions {
  // Prefix of the AIA, OCSP and CRL DP URLs, e.g. "http://ca.example:7402" (no trailing '/');
  // see also Ca::SetBaseUrl.
  std::string base_url = "http://127.0.0.1:7402";
  // nextUpdate - thisUpdate of every CRL.
  absl::Duration crl_validity = absl::Hours(24);
};

class Ca {
 public:
  // None of the pointers is owned; all outlive the Ca. `provider` is loaded for `hsm`.
  Ca(hsm::Hsm* hsm, hsm::HsmProvider* provider, kms::Storage* storage, kms::Barrier* barrier,
     CaOptions options);
  ~Ca();

  absl::StatusOr<v1::Issuer> CreateRootIssuer(const v1::CreateRootIssuerRequest& request);
  // Creates the issuer's HSM key and returns a CSR for it; the issuer cannot sign until
  // ImportIssuerCertificate gives it its certificate.
  absl::StatusOr<v1::CreateIntermediateIssuerResponse> CreateIntermediateIssuer(
      const v1::CreateIntermediateIssuerRequest& request);
  // Issuer `issuer_name` signs a CA certificate for the CSR (signature verified; only its
  // public key and subject CN are used), with pathLenConstraint max_path_length if set.
  absl::StatusOr<v1::SignedCertificate> SignIntermediate(
      const v1::SignIntermediateRequest& request);
  // Installs the certificate of an intermediate: its public key must be the HSM key's and
  // it must verify against chain_pem (the parent's chain, up to a self-signed root).
  absl::StatusOr<v1::Issuer> ImportIssuerCertificate(
      const v1::ImportIssuerCertificateRequest& request);
  absl::StatusOr<v1::Issuer> GetIssuer(const v1::GetIssuerRequest& request);
  absl::StatusOr<v1::ListIssuersResponse> ListIssuers(const v1::ListIssuersRequest& request);

  // Roles are bound to issuers, so writing one needs the caller's rights (`rights`, kAdmin)
  // on the issuer it names and, if the role exists, on the issuer it is bound to as stored;
  // the write commits only if the role is still as checked (else ABORTED).

  // Stores `role` after validating it (name, issuer exists, ttl <= max_ttl, key type/bits).
  absl::StatusOr<v1::Role> PutRole(const v1::Role& role, const CallerRights& rights);
  absl::StatusOr<v1::Role> GetRole(const v1::GetRoleRequest& request);
  absl::StatusOr<v1::ListRolesResponse> ListRoles(const v1::ListRolesRequest& request);
  absl::StatusOr<v1::DeleteRoleResponse> DeleteRole(const v1::DeleteRoleRequest& request,
                                                    const CallerRights& rights);

  // Issuance through a role needs the caller's rights on the role's issuer as stored
  // (kIssue, kSign) and on the names the certificate will carry (CallerRights::CheckNames),
  // checked after the role's own checks and before any key is generated or anything signed.

  // A new software key of role.key_type and a certificate for it; the PKCS#8 PEM private
  // key is in the reply only.
  absl::StatusOr<v1::IssuedCertificate> IssueCertificate(const v1::IssueCertificateRequest& request,
                                                         const CallerRights& rights);
  // A certificate for the CSR's key; names from the request, else from the CSR.
  absl::StatusOr<v1::SignedCertificate> SignCertificate(const v1::SignCertificateRequest& request,
                                                        const CallerRights& rights);
  // Marks the certificate revoked for request.reason (idempotent: the first revocation time
  // and reason stay) and rebuilds its issuer's CRL; the reason is published in the CRL entry
  // and in OCSP unless it is unspecified. INVALID_ARGUMENT for a reason that is not an
  // RFC 5280 CRLReason, or is certificateHold or removeFromCRL (revocation is final).
  absl::StatusOr<v1::RevokeCertificateResponse> RevokeCertificate(
      const v1::RevokeCertificateRequest& request);
  absl::StatusOr<v1::CertificateRecord> GetCertificate(const v1::GetCertificateRequest& request);
  absl::StatusOr<v1::ListCertificatesResponse> ListCertificates(
      const v1::ListCertificatesRequest& request);
  // The issuer's current CRL as stored: built on revocation and by RefreshDueCrls, each
  // time with the next CRL number. GetCrl builds one only if none is stored (a new issuer,
  // or a rebuild after a revocation failed) or the stored one is past its next_update;
  // otherwise repeated calls return the same bytes.
  absl::StatusOr<v1::Crl> GetCrl(const v1::GetCrlRequest& request);
  // Rebuilds the CRL of every issuer with a certificate whose stored CRL is missing or
  // older than crl_validity / 2 at `now` (the new CRL's thisUpdate; nextUpdate is
  // now + crl_validity). For a periodic maintenance loop: does nothing while sealed; on
  // errors carries on with the other issuers and returns the first error (naming the issuer).
  // Each write requires `lease` (the background lease this job runs by): once it no longer
  // holds, every rebuild fails FAILED_PRECONDITION and nothing is stored.
  absl::Status RefreshDueCrls(absl::Time now, const kms::LeaseFence& lease);
  // The thisUpdate of each issuer's stored CRL (issuers without one are left out). Reads
  // only; for metrics.
  absl::StatusOr<std::vector<std::pair<std::string, absl::Time>>> StoredCrlTimes();

  // For the OCSP responder: the status of certificate `serial_number` (hex, any case) as
  // issued by `issuer_name`. kUnknown if there is no record (or a no_store role issued
  // it) or another issuer issued it; INVALID_ARGUMENT for a malformed serial.
  struct CertificateStatus {
    enum Kind { kGood, kRevoked, kUnknown };
    Kind kind = kUnknown;
    absl::Time revocation_time;  // kRevoked only
    int reason = 0;              // kRevoked only: RFC 5280 CRLReason, 0 unspecified
  };
  absl::StatusOr<CertificateStatus> LookupCertificateStatus(absl::string_view issuer_name,
                                                            absl::string_view serial_number);
  // The issuer's HSM signing key and certificate (errors as LoadIssuer: UNAVAILABLE
  // sealed, NOT_FOUND, FAILED_PRECONDITION without a certificate). signer() stays valid
  // while the IssuerKey lives.
  struct IssuerKey {
    hsm::EvpPkeyPtr key;  // provider key
    hsm::X509Ptr certificate;
    OSSL_LIB_CTX* libctx = nullptr;
    Signer signer() const { return Signer{key.get(), libctx, certificate.get()}; }
  };
  absl::StatusOr<IssuerKey> LoadIssuerKey(absl::string_view issuer_name);

  // A counter that increases once a change relying parties must see at once is committed:
  // an issuer that gets its certificate (CreateRootIssuer, ImportIssuerCertificate) or a
  // revocation. Caches of trust verdicts (server/access/client_certs.h) compare it to know
  // when to look again. Counts this process's changes, and with WatchChanges those other
  // nodes commit (0 at start).
  uint64_t trust_epoch() const { return trust_epoch_.load(std::memory_order_acquire); }
  // trust_epoch() for a cache that vouches from memory for what it counts (an OCSP answer
  // reused while no issuer changed and nothing was revoked): nullopt while sealed or while
  // the change feed is not fresh (WatchChanges), when such a cache must read storage instead.
  // Read it before the records the cached value rests on.
  std::optional<uint64_t> current_trust_epoch() const;
  // Certificate records queued for their group commit (each caller waits for its own, so
  // at most one per concurrent issuance), for metrics.
  size_t inventory_queued() const;
  // Entries of the role and issuer caches that serve issuance (internal/epoch_cache.h) and
  // their bounds, for metrics.
  struct CacheSizes {
    size_t roles = 0;
    size_t max_roles = 0;
    size_t issuers = 0;
    size_t max_issuers = 0;
  };
  CacheSizes cache_sizes() const;

  // Advances trust_epoch when another node changes an issuer or revokes a certificate, and
  // on every full re-check. Call once, before `watcher` starts; it must outlive the CA.
  void WatchChanges(kms::ChangeWatcher* watcher);

  // Replaces CaOptions::base_url for certificates signed from now on: for a server whose
  // document listener learns its port only once bound (port 0). Thread-safe.
  void SetBaseUrl(std::string base_url);

 private:
  absl::Status RequireUnsealed() const;

  kms::Barrier* const barrier_;
  const kms::ChangeWatcher* watcher_ = nullptr;  // set by WatchChanges
  absl::Mutex issuer_mu_;  // serialises issuer-record updates (certificate, CRL number)
  std::atomic<uint64_t> trust_epoch_{0};
  // The parts, along the seams of the API; declared in dependency order.
  std::unique_ptr<internal::IssuerKeys> keys_;
  std::unique_ptr<internal::Issuers> issuers_;
  std::unique_ptr<internal::Roles> roles_;
  std::unique_ptr<internal::Inventory> inventory_;
  std::unique_ptr<internal::Issuance> issuance_;
  std::unique_ptr<internal::Revocation> revocation_;
};

}  // namespace strongroom::pki
