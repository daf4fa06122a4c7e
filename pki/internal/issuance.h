// Issuance: leaf certificates through a role (IssueCertificate with a new software key,
// SignCertificate for a CSR) and CA certificates for intermediates (SignIntermediate).
//
// Every leaf passes, before a key is made or anything signed: the caller's rights on the
// role's issuer, the role's rules for the names the certificate will carry (the common name
// also in the SAN unless excluded, role_policy.h), and the caller's rights on those names.
// A CSR's signature is verified and only its public key (and, if the request names nothing,
// its names) is used. Certificates carry the AIA and CRL DP URLs under the base URL.
// Stored certificates are returned once their record is durable (inventory.h). Errors as
// pki/ca.h states them (the caller checks the barrier first). Thread-safe.
#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pki/caller_rights.h"
#include "pki/internal/inventory.h"
#include "pki/internal/issuers.h"
#include "pki/internal/roles.h"
#include "pki/name_request.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki {
struct BuiltCertificate;   // certificate_builder.h
struct CertificateParams;  // certificate_builder.h
}  // namespace strongroom::pki

namespace strongroom::pki::internal {

class Issuance {
 public:
  // No pointer is owned; all outlive this object. `base_url` as CaOptions::base_url.
  Issuance(Issuers* issuers, Roles* roles, Inventory* inventory, std::string base_url)
      : issuers_(issuers), roles_(roles), inventory_(inventory), base_url_(std::move(base_url)) {}

  absl::StatusOr<v1::IssuedCertificate> IssueCertificate(const v1::IssueCertificateRequest& request,
                                                         const CallerRights& rights);
  absl::StatusOr<v1::SignedCertificate> SignCertificate(const v1::SignCertificateRequest& request,
                                                        const CallerRights& rights);
  absl::StatusOr<v1::SignedCertificate> SignIntermediate(
      const v1::SignIntermediateRequest& request);
  void SetBaseUrl(std::string base_url) ABSL_LOCKS_EXCLUDED(base_url_mu_);

 private:
  // The checks every leaf passes (see above) for `use` of the role's issuer.
  absl::Status AuthorizeLeaf(const v1::Role& role, CallerRights::IssuerUse use,
                             const NameRequest& names, const CallerRights& rights);
  // Signs a leaf for `public_key` under `role` and stores it unless role.no_store.
  // `public_key_info` (may be nullptr) is public_key's encoded SubjectPublicKeyInfo.
  absl::StatusOr<v1::SignedCertificate> IssueLeaf(const v1::Role& role, const NameRequest& names,
                                                  absl::Duration requested_ttl,
                                                  EVP_PKEY* public_key,
                                                  const X509_PUBKEY* public_key_info);
  // Stores `built` (issued by `issuer_name`, under `role` if not empty) unless `store` is
  // false, and returns it as the caller receives it.
  absl::StatusOr<v1::SignedCertificate> Issued(const BuiltCertificate& built, absl::Time not_after,
                                               const std::string& issuer_name,
                                               const std::string& role,
                                               const std::string& chain_pem, bool store);
  // The AIA (CA issuers, OCSP) and CRL DP URLs of certificates signed by `issuer_name`.
  void SetDocumentUrls(const std::string& issuer_name, CertificateParams* params) const
      ABSL_LOCKS_EXCLUDED(base_url_mu_);

  Issuers* const issuers_;
  Roles* const roles_;
  Inventory* const inventory_;
  mutable absl::Mutex base_url_mu_;
  std::string base_url_ ABSL_GUARDED_BY(base_url_mu_);
};

}  // namespace strongroom::pki::internal
