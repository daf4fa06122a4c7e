// Distribution points: the documents behind GET /v1/pki/<issuer>/ca, .../crl and the
// OCSP responses, with the validity period HTTP caches need (RFC 5019).
//
// Errors are the Ca's: UNAVAILABLE while sealed, NOT_FOUND for an unknown issuer,
// FAILED_PRECONDITION for an issuer without a certificate (yet).
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "pki/ca.h"

namespace strongroom::pki {

struct PkiDocument {
  std::string content_type;
  std::string body;
  // For signed documents that are superseded on a schedule (CRLs, successful OCSP
  // responses): when this one was made (thisUpdate; an OCSP response's producedAt) and
  // when the next is due (nextUpdate). Absent for issuer certificates and OCSP errors.
  struct Validity {
    absl::Time this_update;
    absl::Time next_update;
  };
  std::optional<Validity> validity;
};

// The issuer's certificate: PEM (application/x-pem-file), or DER (application/pkix-cert)
// if `der`.
absl::StatusOr<PkiDocument> IssuerCertificateDocument(Ca& ca, absl::string_view issuer_name,
                                                      bool der);

// The issuer's current CRL (as stored; see Ca::GetCrl): DER (application/pkix-crl), or
// PEM (application/x-pem-file) if `pem`.
absl::StatusOr<PkiDocument> CrlDocument(Ca& ca, absl::string_view issuer_name, bool pem);

// A DER OCSPResponse (application/ocsp-response) as a document: with the validity of its
// first single response (producedAt to nextUpdate) when it is successful and has one.
PkiDocument OcspDocument(std::string der);

}  // namespace strongroom::pki
