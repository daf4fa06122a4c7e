#include "pki/internal/inventory.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "pki/internal/encoding.h"
#include "pki/internal/records.h"
#include "pki/serial.h"

namespace strongroom::pki::internal {

absl::Status Inventory::Add(const std::string& serial_number, const std::string& certificate_der,
                            absl::Time not_after, const std::string& issuer_name,
                            const std::string& role) {
  CertificateRecord cert;
  cert.set_serial_number(serial_number);
  cert.set_issuer_name(issuer_name);
  if (!role.empty()) cert.set_role(role);
  cert.set_certificate_der(certificate_der);
  *cert.mutable_not_after() = ToProto(not_after);
  kms::WriteBatch batch;
  batch.Put(absl::StrCat(kCertPrefix, serial_number), cert.SerializeAsString(),
            kms::WriteBatch::kMustNotExist);
  // Shares one durable commit with the issuances beside it; returns once it is durable.
  return group_.Commit(batch);
}

absl::StatusOr<std::optional<Inventory::Found>> Inventory::Find(absl::string_view serial) {
  auto entry = storage_->Get(absl::StrCat(kCertPrefix, serial));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value()) return std::optional<Found>();
  Found found;
  found.revision = (*entry)->revision;
  if (!found.record.ParseFromString((*entry)->value)) {
    return absl::DataLossError(
        absl::StrCat("stored record of certificate ", serial, " is corrupt"));
  }
  return std::optional<Found>(std::move(found));
}

absl::StatusOr<v1::CertificateRecord> Inventory::Get(const v1::GetCertificateRequest& request) {
  auto serial = CanonicalSerial(request.serial_number());
  if (!serial.ok()) return serial.status();
  auto found = Find(*serial);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return NotFound("certificate with serial", *serial);
  const CertificateRecord& cert = (*found)->record;
  v1::CertificateRecord response;
  response.set_serial_number(cert.serial_number());
  response.set_issuer_name(cert.issuer_name());
  response.set_certificate_pem(CertificatePemOfDer(cert.certificate_der()));
  *response.mutable_not_after() = cert.not_after();
  if (cert.has_revocation_time()) {
    *response.mutable_revocation_time() = cert.revocation_time();
    response.set_revocation_reason(static_cast<v1::RevocationReason>(cert.revocation_reason()));
  }
  response.set_role(cert.role());
  return response;
}

absl::StatusOr<v1::ListCertificatesResponse> Inventory::List(
    const v1::ListCertificatesRequest& request) {
  v1::ListCertificatesResponse response;
  if (request.issuer_name().empty()) {
    auto names = ListNames(storage_, kCertPrefix, request.page_size(), request.page_token(),
                           response.mutable_next_page_token());
    if (!names.ok()) return names.status();
    for (std::string& n : *names) response.add_serial_numbers(std::move(n));
    return response;
  }
  uint32_t page_size =
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  std::string after =
      request.page_token().empty() ? "" : absl::StrCat(kCertPrefix, request.page_token());
  while (true) {
    auto entries = storage_->List(kCertPrefix, after, kDefaultPageSize);
    if (!entries.ok()) return entries.status();
    for (const kms::Entry& e : *entries) {
      CertificateRecord cert;
      if (!cert.ParseFromString(e.value) || cert.issuer_name() != request.issuer_name()) continue;
      if (static_cast<uint32_t>(response.serial_numbers_size()) == page_size) {
        response.set_next_page_token(response.serial_numbers(response.serial_numbers_size() - 1));
        return response;
      }
      response.add_serial_numbers(cert.serial_number());
    }
    if (entries->size() < kDefaultPageSize) return response;
    after = entries->back().key;
  }
}

}  // namespace strongroom::pki::internal
