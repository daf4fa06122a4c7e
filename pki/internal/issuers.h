// Issuers: the CA's issuer records ("pki/issuers/<name>") — creating roots and
// intermediates with a new HSM key each, installing an intermediate's certificate, reading
// them — and loading an issuer with its keys and parsed certificate for signing.
//
// Errors as pki/ca.h states them (the caller checks the barrier first). Record updates that
// race with other writers of the same record (ImportIssuerCertificate here, CRL numbers in
// Revocation) are serialised by the shared `record_mu` and committed with compare-and-set.
// `trust_epoch` is increased once an issuer gets its certificate. LoadForSigning serves
// issuance and OCSP from a cache (epoch_cache.h) under `trust_epoch`, which every change of
// an issuer record that signing relies on advances (here, and through Ca::WatchChanges for
// other nodes' changes). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "hsm/openssl_ptr.h"
#include "kms/change_watcher.h"
#include "kms/storage.h"
#include "pki/internal/epoch_cache.h"
#include "pki/internal/issuer_keys.h"
#include "pki/records.pb.h"
#include "pki/signer.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki::internal {

// An issuer as loaded for signing.
struct LoadedIssuer {
  IssuerRecord record;
  int64_t revision = 0;        // of the stored record
  hsm::EvpPkeyPtr key;         // provider key (signing)
  hsm::EvpPkeyPtr public_key;  // default library context
  hsm::X509Ptr certificate;    // nullptr while awaiting its certificate
  std::string chain_pem;       // certificate and chain, PEM (empty without a certificate)
  OSSL_LIB_CTX* libctx = nullptr;
  // Made once for `key` by LoadForSigning (nullptr otherwise); each signature copies it.
  hsm::EvpMdCtxPtr signing_context;
  Signer signer() const {
    return Signer{key.get(), libctx, certificate.get(), signing_context.get()};
  }
};

class Issuers {
 public:
  static constexpr size_t kMaxCachedForSigning = 1024;

  // No pointer is owned; all outlive this object.
  Issuers(IssuerKeys* keys, kms::Storage* storage, absl::Mutex* record_mu,
          std::atomic<uint64_t>* trust_epoch)
      : keys_(keys), storage_(storage), record_mu_(record_mu), trust_epoch_(trust_epoch) {}

  absl::StatusOr<v1::Issuer> CreateRoot(const v1::CreateRootIssuerRequest& request);
  absl::StatusOr<v1::CreateIntermediateIssuerResponse> CreateIntermediate(
      const v1::CreateIntermediateIssuerRequest& request);
  absl::StatusOr<v1::Issuer> ImportCertificate(const v1::ImportIssuerCertificateRequest& request)
      ABSL_LOCKS_EXCLUDED(*record_mu_);
  absl::StatusOr<v1::Issuer> Get(const v1::GetIssuerRequest& request);
  absl::StatusOr<v1::ListIssuersResponse> List(const v1::ListIssuersRequest& request);

  // The stored record and its revision; NOT_FOUND (also for a malformed name).
  absl::StatusOr<std::pair<IssuerRecord, int64_t>> LoadRecord(absl::string_view name);
  // The issuer with its HSM key and, if `need_certificate`, its certificate (else
  // FAILED_PRECONDITION).
  absl::StatusOr<LoadedIssuer> Load(absl::string_view name, bool need_certificate)
      ABSL_LOCKS_EXCLUDED(parsed_mu_);
  // As Load(name, /*need_certificate=*/true), shared read-only, from the cache while the
  // trust epoch has not moved since it was loaded.
  absl::StatusOr<std::shared_ptr<const LoadedIssuer>> LoadForSigning(absl::string_view name);
  // Reads storage while `watcher` is not fresh. Call once, before `watcher` starts.
  void WatchChanges(const kms::ChangeWatcher* watcher) { signing_.Watch(watcher); }
  size_t cached_for_signing() const { return signing_.size(); }

 private:
  // Issuer certificates, parsed, and their chain PEM, by issuer name (checked against the
  // stored certificate DER on every use, so a re-created issuer is never served stale).
  struct ParsedCertificate {
    std::string certificate_der;
    hsm::X509Ptr certificate;  // shared read-only (X509_up_ref) with callers
    std::string chain_pem;
  };

  // Checks a new issuer's name, common name and key type, creates its HSM key and returns
  // the initial record (not yet stored).
  absl::StatusOr<IssuerRecord> Start(const std::string& name, const std::string& common_name,
                                     v1::PkiKeyType key_type);
  // Loads a new issuer's HSM key pair, runs `step` (self-sign or make a CSR), stores the
  // record (ALREADY_EXISTS if the name was taken meanwhile); on any failure destroys the key.
  using KeyStep = std::function<absl::Status(EVP_PKEY* key, EVP_PKEY* public_key)>;
  absl::Status Finish(IssuerRecord* record, const KeyStep& step);
  v1::Issuer ToIssuer(const IssuerRecord& record) const;
  // The parsed certificate of a stored record with a certificate (cached by its DER).
  absl::StatusOr<std::shared_ptr<const ParsedCertificate>> Parsed(const IssuerRecord& record)
      ABSL_LOCKS_EXCLUDED(parsed_mu_);

  IssuerKeys* const keys_;
  kms::Storage* const storage_;
  absl::Mutex* const record_mu_;
  std::atomic<uint64_t>* const trust_epoch_;
  absl::Mutex parsed_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const ParsedCertificate>> parsed_
      ABSL_GUARDED_BY(parsed_mu_);
  EpochCache<std::shared_ptr<const LoadedIssuer>> signing_{trust_epoch_, kMaxCachedForSigning};
};

}  // namespace strongroom::pki::internal
