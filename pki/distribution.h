// Distribution points: the documents behind GET /v1/pki/<issuer>/ca and .../crl.
//
// Errors are the Ca's: UNAVAILABLE while sealed, NOT_FOUND for an unknown issuer,
// FAILED_PRECONDITION for an issuer without a certificate (yet).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/ca.h"

namespace strongroom::pki {

struct PkiDocument {
  std::string content_type;
  std::string body;
};

// The issuer's certificate: PEM (application/x-pem-file), or DER (application/pkix-cert)
// if `der`.
absl::StatusOr<PkiDocument> IssuerCertificateDocument(Ca& ca, absl::string_view issuer_name,
                                                      bool der);

// The issuer's current CRL (as stored; see Ca::GetCrl): DER (application/pkix-crl), or
// PEM (application/x-pem-file) if `pem`.
absl::StatusOr<PkiDocument> CrlDocument(Ca& ca, absl::string_view issuer_name, bool pem);

}  // namespace strongroom::pki
