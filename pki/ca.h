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
// Thread-safe: issuer-record updates (import, CRL numbers) are serialised by a mutex and
// committed with compare-and-set; issuance runs concurrently, and the records of stored
// certificates are committed in groups (kms/group_commit.h): a certificate is returned
// only once its record is durable, and a failed commit fails every issuance in it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hsm/hsm.h"
#include "hsm/openssl_ptr.h"
#include "hsm/provider.h"
#include "kms/barrier.h"
#include "kms/change_watcher.h"
#include "kms/group_commit.h"
#include "kms/storage.h"
#include "pki/caller_rights.h"
#include "pki/name_request.h"
#include "pki/records.pb.h"
#include "pki/signer.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki {

struct BuiltCertificate;   // certificate_builder.h
struct CertificateParams;  // certificate_builder.h

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
  // Marks the certificate revoked (idempotent: the first revocation time stays) and
  // rebuilds its issuer's CRL.
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
  absl::Status RefreshDueCrls(absl::Time now);
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
  // Certificate records queued for their group commit (each caller waits for its own, so
  // at most one per concurrent issuance), for metrics.
  size_t inventory_queued() const { return inventory_.queued(); }

  // Advances trust_epoch when another node changes an issuer or revokes a certificate, and
  // on every full re-check. Call once, before `watcher` starts; it must outlive the CA.
  void WatchChanges(kms::ChangeWatcher* watcher);

  // Replaces CaOptions::base_url for certificates signed from now on: for a server whose
  // document listener learns its port only once bound (port 0). Thread-safe.
  void SetBaseUrl(std::string base_url) ABSL_LOCKS_EXCLUDED(base_url_mu_);

 private:
  struct LoadedIssuer;

  absl::Status RequireUnsealed() const;
  absl::StatusOr<std::pair<IssuerRecord, int64_t>> LoadIssuerRecord(absl::string_view name);
  // The issuer with its HSM key and, if `need_certificate`, its certificate (else
  // FAILED_PRECONDITION).
  absl::StatusOr<LoadedIssuer> LoadIssuer(absl::string_view name, bool need_certificate);
  // The stored role (and its storage revision, if `revision` is not null).
  absl::StatusOr<v1::Role> LoadRole(absl::string_view name, int64_t* revision = nullptr);
  // The checks every leaf passes before a key is made or anything signed: the caller's
  // rights on the role's issuer for `use`, the role's rules for `names`, and the caller's
  // rights on `names`.
  absl::Status AuthorizeLeaf(const v1::Role& role, CallerRights::IssuerUse use,
                             const NameRequest& names, const CallerRights& rights);
  // Creates the HSM key pair of a new issuer; returns its label.
  absl::StatusOr<std::string> NewIssuerKey(const std::string& issuer, v1::PkiKeyType type);
  // Loads a new issuer's HSM key pair, runs `step` (self-sign or make a CSR), stores the
  // record (ALREADY_EXISTS if the name was taken meanwhile); on any failure destroys the key.
  using IssuerKeyStep = std::function<absl::Status(EVP_PKEY* key, EVP_PKEY* public_key)>;
  absl::Status FinishIssuer(IssuerRecord* record, const IssuerKeyStep& step);
  // Checks a new issuer's name, common name and key type, creates its HSM key and returns
  // the initial record (not yet stored).
  absl::StatusOr<IssuerRecord> StartIssuer(const std::string& name, const std::string& common_name,
                                           v1::PkiKeyType key_type);
  std::string KeyUri(const std::string& label) const;
  v1::Issuer ToIssuer(const IssuerRecord& record) const;
  // Signs a leaf for `public_key` under `role` and stores it unless role.no_store.
  // `public_key_info` (may be nullptr) is public_key's encoded SubjectPublicKeyInfo.
  absl::StatusOr<v1::SignedCertificate> IssueLeaf(const v1::Role& role, const NameRequest& names,
                                                  absl::Duration requested_ttl,
                                                  EVP_PKEY* public_key,
                                                  const X509_PUBKEY* public_key_info);
  // Stores `built` as a CertificateRecord (issued by `issuer_name`, under `role` if not
  // empty) unless `store` is false, and returns it as the caller receives it.
  absl::StatusOr<v1::SignedCertificate> Issued(const BuiltCertificate& built, absl::Time not_after,
                                               const std::string& issuer_name,
                                               const std::string& role,
                                               const std::string& chain_pem, bool store);
  // Builds and signs the issuer's CRL (thisUpdate `now`, the next CRL number) and stores it
  // with the issuer's new CRL number in one commit.
  absl::StatusOr<v1::Crl> BuildAndStoreCrl(absl::string_view issuer_name, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(issuer_mu_);
  // The stored CRL of `issuer_name` (nullopt if none).
  absl::StatusOr<std::optional<CrlRecord>> LoadStoredCrl(absl::string_view issuer_name);

  // The AIA (CA issuers, OCSP) and CRL DP URLs of certificates signed by `issuer_name`.
  void SetDocumentUrls(const std::string& issuer_name, CertificateParams* params) const
      ABSL_LOCKS_EXCLUDED(base_url_mu_);

  hsm::Hsm* const hsm_;
  hsm::HsmProvider* const provider_;
  kms::Storage* const storage_;
  kms::Barrier* const barrier_;
  const CaOptions options_;
  mutable absl::Mutex base_url_mu_;
  std::string base_url_ ABSL_GUARDED_BY(base_url_mu_);
  // New certificate records: a burst of issuances shares one durable commit.
  kms::GroupCommit inventory_;
  absl::Mutex issuer_mu_;  // serialises issuer-record updates
  std::atomic<uint64_t> trust_epoch_{0};
  // Issuer keys by HSM label: loading one through the provider reads the token, and labels
  // never change meaning. Provider keys hold only the label and the public key.
  struct CachedKeys {
    hsm::EvpPkeyPtr key;         // provider key (signing)
    hsm::EvpPkeyPtr public_key;  // default library context
  };
  // Issuer certificates, parsed, and their chain PEM, by issuer name (checked against the
  // stored certificate DER on every use, so a re-created issuer is never served stale).
  struct ParsedIssuer {
    std::string certificate_der;
    hsm::X509Ptr certificate;  // shared read-only (X509_up_ref) with callers
    std::string chain_pem;
  };
  absl::Mutex key_cache_mu_;
  absl::flat_hash_map<std::string, CachedKeys> key_cache_ ABSL_GUARDED_BY(key_cache_mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<const ParsedIssuer>> parsed_issuers_
      ABSL_GUARDED_BY(key_cache_mu_);
};

}  // namespace strongroom::pki
