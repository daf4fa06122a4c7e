#include "pki/ca.h"

#include "pki/internal/encoding.h"
#include "pki/internal/inventory.h"
#include "pki/internal/issuance.h"
#include "pki/internal/issuer_keys.h"
#include "pki/internal/issuers.h"
#include "pki/internal/records.h"
#include "pki/internal/revocation.h"
#include "pki/internal/roles.h"
#include "pki/serial.h"

namespace strongroom::pki {

Ca::Ca(hsm::Hsm* hsm, hsm::HsmProvider* provider, kms::Storage* storage, kms::Barrier* barrier,
       CaOptions options)
    : barrier_(barrier),
      keys_(std::make_unique<internal::IssuerKeys>(hsm, provider)),
      issuers_(
          std::make_unique<internal::Issuers>(keys_.get(), storage, &issuer_mu_, &trust_epoch_)),
      roles_(std::make_unique<internal::Roles>(storage, issuers_.get())),
      inventory_(std::make_unique<internal::Inventory>(storage)),
      issuance_(std::make_unique<internal::Issuance>(issuers_.get(), roles_.get(), inventory_.get(),
                                                     options.base_url)),
      revocation_(std::make_unique<internal::Revocation>(storage, issuers_.get(), inventory_.get(),
                                                         &issuer_mu_, &trust_epoch_,
                                                         options.crl_validity)) {}

Ca::~Ca() = default;

void Ca::WatchChanges(kms::ChangeWatcher* watcher) {
  watcher_ = watcher;
  // The roles and issuers cached for issuance follow other nodes' changes too, and are read
  // from storage while `watcher` is not fresh (internal/epoch_cache.h).
  issuers_->WatchChanges(watcher);
  roles_->WatchChanges(watcher);
  for (const char* prefix : {internal::kIssuerPrefix, internal::kRevokedPrefix}) {
    watcher->Subscribe(
        prefix, [this](const kms::Change&) { trust_epoch_.fetch_add(1, std::memory_order_release); },
        [this] {
          trust_epoch_.fetch_add(1, std::memory_order_release);
          return absl::OkStatus();
        });
  }
}

std::optional<uint64_t> Ca::current_trust_epoch() const {
  // The epoch first: a feed that turns fresh in between vouches for changes up to now.
  const uint64_t epoch = trust_epoch();
  if (barrier_->sealed() || (watcher_ != nullptr && !watcher_->fresh())) return std::nullopt;
  return epoch;
}

size_t Ca::inventory_queued() const { return inventory_->queued(); }

Ca::CacheSizes Ca::cache_sizes() const {
  return {roles_->cached(), internal::Roles::kMaxCached, issuers_->cached_for_signing(),
          internal::Issuers::kMaxCachedForSigning};
}

absl::Status Ca::RequireUnsealed() const {
  return barrier_->sealed() ? barrier_->SealedError() : absl::OkStatus();
}

void Ca::SetBaseUrl(std::string base_url) { issuance_->SetBaseUrl(std::move(base_url)); }

absl::StatusOr<v1::Issuer> Ca::CreateRootIssuer(const v1::CreateRootIssuerRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return issuers_->CreateRoot(request);
}

absl::StatusOr<v1::CreateIntermediateIssuerResponse> Ca::CreateIntermediateIssuer(
    const v1::CreateIntermediateIssuerRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return issuers_->CreateIntermediate(request);
}

absl::StatusOr<v1::SignedCertificate> Ca::SignIntermediate(
    const v1::SignIntermediateRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return issuance_->SignIntermediate(request);
}

absl::StatusOr<v1::Issuer> Ca::ImportIssuerCertificate(
    const v1::ImportIssuerCertificateRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return issuers_->ImportCertificate(request);
}

absl::StatusOr<v1::Issuer> Ca::GetIssuer(const v1::GetIssuerRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return issuers_->Get(request);
}

absl::StatusOr<v1::ListIssuersResponse> Ca::ListIssuers(const v1::ListIssuersRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return issuers_->List(request);
}

absl::StatusOr<v1::Role> Ca::PutRole(const v1::Role& role, const CallerRights& rights) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return roles_->Put(role, rights);
}

absl::StatusOr<v1::Role> Ca::GetRole(const v1::GetRoleRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return roles_->Load(request.name());
}

absl::StatusOr<v1::ListRolesResponse> Ca::ListRoles(const v1::ListRolesRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return roles_->List(request);
}

absl::StatusOr<v1::DeleteRoleResponse> Ca::DeleteRole(const v1::DeleteRoleRequest& request,
                                                      const CallerRights& rights) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return roles_->Delete(request, rights);
}

absl::StatusOr<v1::IssuedCertificate> Ca::IssueCertificate(
    const v1::IssueCertificateRequest& request, const CallerRights& rights) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return issuance_->IssueCertificate(request, rights);
}

absl::StatusOr<v1::SignedCertificate> Ca::SignCertificate(const v1::SignCertificateRequest& request,
                                                          const CallerRights& rights) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return issuance_->SignCertificate(request, rights);
}

absl::StatusOr<v1::RevokeCertificateResponse> Ca::RevokeCertificate(
    const v1::RevokeCertificateRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return revocation_->Revoke(request);
}

absl::StatusOr<v1::CertificateRecord> Ca::GetCertificate(const v1::GetCertificateRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return inventory_->Get(request);
}

absl::StatusOr<v1::ListCertificatesResponse> Ca::ListCertificates(
    const v1::ListCertificatesRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return inventory_->List(request);
}

absl::StatusOr<v1::Crl> Ca::GetCrl(const v1::GetCrlRequest& request) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  return revocation_->GetCrl(request);
}

absl::Status Ca::RefreshDueCrls(absl::Time now, const kms::LeaseFence& lease) {
  if (barrier_->sealed()) return absl::OkStatus();  // Nothing can be signed; try next time.
  return revocation_->RefreshDueCrls(now, lease);
}

absl::StatusOr<std::vector<std::pair<std::string, absl::Time>>> Ca::StoredCrlTimes() {
  return revocation_->StoredCrlTimes();
}

absl::StatusOr<Ca::CertificateStatus> Ca::LookupCertificateStatus(absl::string_view issuer_name,
                                                                  absl::string_view serial_number) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto serial = CanonicalSerial(serial_number);
  if (!serial.ok()) return serial.status();
  auto found = inventory_->Find(*serial);
  if (!found.ok()) return found.status();
  CertificateStatus status;
  if (!found->has_value() || (*found)->record.issuer_name() != issuer_name) return status;
  if ((*found)->record.has_revocation_time()) {
    status.kind = CertificateStatus::kRevoked;
    status.revocation_time = internal::FromProto((*found)->record.revocation_time());
    status.reason = (*found)->record.revocation_reason();
  } else {
    status.kind = CertificateStatus::kGood;
  }
  return status;
}

absl::StatusOr<Ca::IssuerKey> Ca::LoadIssuerKey(absl::string_view issuer_name) {
  if (absl::Status s = RequireUnsealed(); !s.ok()) return s;
  auto issuer = issuers_->LoadForSigning(issuer_name);
  if (!issuer.ok()) return issuer.status();
  IssuerKey key;
  EVP_PKEY_up_ref((*issuer)->key.get());
  key.key.reset((*issuer)->key.get());
  X509_up_ref((*issuer)->certificate.get());
  key.certificate.reset((*issuer)->certificate.get());
  key.libctx = (*issuer)->libctx;
  return key;
}

}  // namespace strongroom::pki
