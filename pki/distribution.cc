#include "pki/distribution.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include <ctime>

#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"
#include "pki/certificate_builder.h"

namespace strongroom::pki {
namespace {

std::optional<absl::Time> TimeOf(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return absl::FromTimeT(timegm(&tm));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace

absl::StatusOr<PkiDocument> IssuerCertificateDocument(Ca& ca, absl::string_view issuer_name,
                                                      bool der) {
  v1::GetIssuerRequest request;
  request.set_issuer_name(std::string(issuer_name));
  absl::StatusOr<v1::Issuer> issuer = ca.GetIssuer(request);
  if (!issuer.ok()) return issuer.status();
  if (issuer->certificate_pem().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("issuer '", issuer_name, "' has no certificate yet"));
  }
  if (!der) return PkiDocument{"application/x-pem-file", issuer->certificate_pem()};
  absl::StatusOr<hsm::X509Ptr> cert = ParseCertificatePem(issuer->certificate_pem());
  if (!cert.ok()) return cert.status();
  std::string encoded = hsm::DerOf(i2d_X509, cert->get());
  if (encoded.empty()) return absl::InternalError("encoding the issuer certificate");
  return PkiDocument{"application/pkix-cert", std::move(encoded)};
}

absl::StatusOr<PkiDocument> CrlDocument(Ca& ca, absl::string_view issuer_name, bool pem) {
  v1::GetCrlRequest request;
  request.set_issuer_name(std::string(issuer_name));
  absl::StatusOr<v1::Crl> crl = ca.GetCrl(request);
  if (!crl.ok()) return crl.status();
  PkiDocument doc = pem ? PkiDocument{"application/x-pem-file", crl->crl_pem()}
                        : PkiDocument{"application/pkix-crl", crl->crl_der()};
  doc.validity = PkiDocument::Validity{FromProto(crl->this_update()),
                                       FromProto(crl->next_update())};
  return doc;
}

PkiDocument OcspDocument(std::string der) {
  PkiDocument doc{"application/ocsp-response", std::move(der)};
  const auto* p = reinterpret_cast<const unsigned char*>(doc.body.data());
  hsm::OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(doc.body.size())));
  if (response == nullptr ||
      OCSP_response_status(response.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    ERR_clear_error();
    return doc;
  }
  hsm::OcspBasicRespPtr basic(OCSP_response_get1_basic(response.get()));
  OCSP_SINGLERESP* single = basic == nullptr ? nullptr : OCSP_resp_get0(basic.get(), 0);
  ASN1_GENERALIZEDTIME* this_update = nullptr;
  ASN1_GENERALIZEDTIME* next_update = nullptr;
  if (single == nullptr ||
      OCSP_single_get0_status(single, nullptr, nullptr, &this_update, &next_update) < 0) {
    ERR_clear_error();
    return doc;
  }
  std::optional<absl::Time> produced = TimeOf(OCSP_resp_get0_produced_at(basic.get()));
  std::optional<absl::Time> next = TimeOf(next_update);
  if (produced.has_value() && next.has_value()) {
    doc.validity = PkiDocument::Validity{*produced, *next};
  }
  return doc;
}

}  // namespace strongroom::pki
