// CallerRights: what pki::Ca asks of the caller's rights about records as stored.
//
// The access gate checks the route's operation on the resource the request names
// (pki/roles/<role>); only the CA knows which issuer a role is bound to and which names a
// certificate will carry, so it asks these at the point of use, with the role as loaded for
// the operation (never an issuer the request claims). The server implements it from its
// policies (server/access/pki_rights.h). Each returns OK or PERMISSION_DENIED naming the
// caller and what it may not do. Implementations are used from one request's thread only.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "pki/name_request.h"

namespace strongroom::pki {

class CallerRights {
 public:
  // What a caller does with an issuer through a role bound to it.
  enum class IssuerUse {
    kAdmin,  // writes (puts or deletes) a role bound to it
    kIssue,  // IssueCertificate through a role bound to it
    kSign,   // SignCertificate through a role bound to it
  };

  virtual ~CallerRights() = default;

  // Whether the caller may `use` issuer `issuer_name`.
  virtual absl::Status CheckIssuer(IssuerUse use, absl::string_view issuer_name) const = 0;
  // Whether the caller may obtain a certificate carrying `names` (the names it will carry,
  // after role checks): a certificate is a credential for each identity it names.
  virtual absl::Status CheckNames(const NameRequest& names) const = 0;
};

}  // namespace strongroom::pki
