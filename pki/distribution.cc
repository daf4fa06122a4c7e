#include "pki/distribution.h"

#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "pki/certificate_builder.h"

namespace strongroom::pki {

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
  unsigned char* out = nullptr;
  int len = i2d_X509(cert->get(), &out);
  if (len <= 0) return absl::InternalError("encoding the issuer certificate");
  PkiDocument doc{"application/pkix-cert", std::string(reinterpret_cast<char*>(out), len)};
  OPENSSL_free(out);
  return doc;
}

absl::StatusOr<PkiDocument> CrlDocument(Ca& ca, absl::string_view issuer_name, bool pem) {
  v1::GetCrlRequest request;
  request.set_issuer_name(std::string(issuer_name));
  absl::StatusOr<v1::Crl> crl = ca.GetCrl(request);
  if (!crl.ok()) return crl.status();
  if (pem) return PkiDocument{"application/x-pem-file", crl->crl_pem()};
  return PkiDocument{"application/pkix-crl", crl->crl_der()};
}

}  // namespace strongroom::pki
