#include "pki/internal/revocation.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "pki/crl_builder.h"
#include "pki/internal/encoding.h"
#include "pki/internal/records.h"
#include "pki/serial.h"
#include "pki/signer.h"

namespace strongroom::pki::internal {
namespace {

v1::Crl ToCrl(const CrlRecord& record) {
  v1::Crl crl;
  crl.set_crl_der(record.crl_der());
  crl.set_crl_pem(CrlPemOfDer(record.crl_der()));
  *crl.mutable_this_update() = record.this_update();
  *crl.mutable_next_update() = record.next_update();
  return crl;
}

// The revoked index's entry for `cert`: what its CRL entry needs, not the certificate.
// Every CRL rebuild reads the whole index, so the entries' size is the rebuild's memory.
CertificateRecord RevokedIndexEntry(const CertificateRecord& cert) {
  CertificateRecord entry;
  entry.set_serial_number(cert.serial_number());
  entry.set_issuer_name(cert.issuer_name());
  *entry.mutable_not_after() = cert.not_after();
  *entry.mutable_revocation_time() = cert.revocation_time();
  entry.set_revocation_reason(cert.revocation_reason());
  return entry;
}

// Index entries read per storage call while a CRL is built: what is held at once besides
// the CRL's own entries.
constexpr size_t kRevokedReadPage = 1000;

}  // namespace

absl::StatusOr<v1::RevokeCertificateResponse> Revocation::Revoke(
    const v1::RevokeCertificateRequest& request) {
  auto serial = CanonicalSerial(request.serial_number());
  if (!serial.ok()) return serial.status();
  if (!v1::RevocationReason_IsValid(request.reason()) ||
      request.reason() == v1::REVOCATION_REASON_CERTIFICATE_HOLD ||
      request.reason() == v1::REVOCATION_REASON_REMOVE_FROM_CRL) {
    return absl::InvalidArgumentError(
        "reason: an RFC 5280 CRLReason code other than certificateHold (6) and removeFromCRL (8)");
  }
  absl::MutexLock lock(record_mu_);
  auto found = inventory_->Find(*serial);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return NotFound("certificate with serial", *serial);
  CertificateRecord& cert = (*found)->record;
  v1::RevokeCertificateResponse response;
  if (cert.has_revocation_time()) {
    *response.mutable_revocation_time() = cert.revocation_time();
    return response;
  }
  *cert.mutable_revocation_time() = ToProto(absl::Now());
  cert.set_revocation_reason(request.reason());
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kCertPrefix, *serial), cert.SerializeAsString(), (*found)->revision);
  batch.Put(absl::StrCat(kRevokedPrefix, cert.issuer_name(), "/", *serial),
            RevokedIndexEntry(cert).SerializeAsString());
  // The stored CRL goes with the revocation, so no CRL without it is served even if the
  // rebuild below fails (the next GetCrl or RefreshDueCrls then builds one).
  batch.Delete(absl::StrCat(kCrlPrefix, cert.issuer_name()));
  if (absl::Status s = storage_->Commit(batch); !s.ok()) return s;
  trust_epoch_->fetch_add(1, std::memory_order_release);
  *response.mutable_revocation_time() = cert.revocation_time();
  (void)BuildAndStoreCrl(cert.issuer_name(), absl::Now());
  return response;
}

absl::StatusOr<std::vector<std::pair<std::string, absl::Time>>> Revocation::StoredCrlTimes() {
  absl::StatusOr<std::vector<kms::Entry>> entries = storage_->List(kCrlPrefix, "", 0);
  if (!entries.ok()) return entries.status();
  std::vector<std::pair<std::string, absl::Time>> out;
  for (const kms::Entry& entry : *entries) {
    CrlRecord record;
    if (!record.ParseFromString(entry.value)) continue;
    out.emplace_back(entry.key.substr(sizeof(kCrlPrefix) - 1),
                     absl::FromUnixSeconds(record.this_update().seconds()));
  }
  return out;
}

absl::StatusOr<std::optional<CrlRecord>> Revocation::LoadStoredCrl(absl::string_view issuer_name) {
  auto entry = storage_->Get(absl::StrCat(kCrlPrefix, issuer_name));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return std::optional<CrlRecord>();
  CrlRecord record;
  if (!record.ParseFromString((*entry)->value) || record.crl_der().empty()) {
    return absl::DataLossError(absl::StrCat("stored CRL of issuer '", issuer_name, "' is corrupt"));
  }
  return std::optional<CrlRecord>(std::move(record));
}

absl::StatusOr<v1::Crl> Revocation::GetCrl(const v1::GetCrlRequest& request) {
  const std::string& name = request.issuer_name();
  if (!ValidateName("issuer_name", name).ok()) return NotFound("issuer", name);
  // The stored CRL unless there is none (or it has lapsed: a missed refresh must not
  // leave relying parties with an expired CRL).
  auto usable = [](const std::optional<CrlRecord>& crl) {
    return crl.has_value() && absl::Now() < FromProto(crl->next_update());
  };
  auto stored = LoadStoredCrl(name);
  if (!stored.ok()) return stored.status();
  if (usable(*stored)) return ToCrl(**stored);
  absl::MutexLock lock(record_mu_);
  stored = LoadStoredCrl(name);  // Another caller may have built it meanwhile.
  if (!stored.ok()) return stored.status();
  if (usable(*stored)) return ToCrl(**stored);
  return BuildAndStoreCrl(name, absl::Now());
}

absl::Status Revocation::RefreshDueCrls(absl::Time now, const kms::LeaseFence& lease) {
  auto entries = storage_->List(kIssuerPrefix, "", 0);
  if (!entries.ok()) return entries.status();
  const absl::Duration max_age = crl_validity_ / 2;
  auto due = [&](const std::optional<CrlRecord>& crl) {
    return !crl.has_value() || now - FromProto(crl->this_update()) > max_age;
  };
  absl::Status first_error;
  for (const kms::Entry& e : *entries) {
    const std::string name = e.key.substr(strlen(kIssuerPrefix));
    IssuerRecord record;
    if (!record.ParseFromString(e.value) || record.certificate_der().empty()) continue;
    absl::Status s = [&]() -> absl::Status {
      auto stored = LoadStoredCrl(name);
      if (!stored.ok()) return stored.status();
      if (!due(*stored)) return absl::OkStatus();
      absl::MutexLock lock(record_mu_);
      stored = LoadStoredCrl(name);
      if (!stored.ok()) return stored.status();
      if (!due(*stored)) return absl::OkStatus();
      return BuildAndStoreCrl(name, now, &lease).status();
    }();
    if (!s.ok() && first_error.ok()) {
      first_error =
          absl::Status(s.code(), absl::StrCat("CRL of issuer '", name, "': ", s.message()));
    }
  }
  return first_error;
}

absl::StatusOr<v1::Crl> Revocation::BuildAndStoreCrl(absl::string_view issuer_name,
                                                     absl::Time now,
                                                     const kms::LeaseFence* lease) {
  auto issuer = issuers_->Load(issuer_name, /*need_certificate=*/true);
  if (!issuer.ok()) return issuer.status();
  // Entries written by earlier versions hold the whole record; only these fields are read.
  const std::string prefix = absl::StrCat(kRevokedPrefix, issuer_name, "/");
  std::vector<RevokedCertificate> revoked;
  std::string after;
  for (;;) {
    auto entries = storage_->List(prefix, after, kRevokedReadPage);
    if (!entries.ok()) return entries.status();
    CertificateRecord cert;
    for (const kms::Entry& e : *entries) {
      if (!cert.ParseFromString(e.value)) {
        return absl::DataLossError(absl::StrCat("stored revocation ", e.key, " is corrupt"));
      }
      revoked.push_back(
          {cert.serial_number(), FromProto(cert.revocation_time()), cert.revocation_reason()});
    }
    if (entries->size() < kRevokedReadPage) break;
    after = entries->back().key;
  }
  CrlParams params;
  params.this_update = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
  params.next_update = params.this_update + crl_validity_;
  params.crl_number = issuer->record.crl_number() + 1;
  auto crl = BuildCrl(params, revoked, issuer->signer());
  if (!crl.ok()) return crl.status();
  IssuerRecord record = issuer->record;
  record.set_crl_number(params.crl_number);
  CrlRecord stored;
  stored.set_crl_der(CrlToDer(crl->get()));
  stored.set_crl_number(params.crl_number);
  *stored.mutable_this_update() = ToProto(params.this_update);
  *stored.mutable_next_update() = ToProto(params.next_update);
  if (stored.crl_der().empty()) {
    return absl::InternalError(absl::StrCat("encoding the CRL: ", DrainOpenSslErrors()));
  }
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kIssuerPrefix, issuer_name), record.SerializeAsString(), issuer->revision);
  batch.Put(absl::StrCat(kCrlPrefix, issuer_name), stored.SerializeAsString());
  if (lease != nullptr) batch.RequireLease(*lease);
  if (absl::Status s = storage_->Commit(batch); !s.ok()) return s;
  return ToCrl(stored);
}

}  // namespace strongroom::pki::internal
