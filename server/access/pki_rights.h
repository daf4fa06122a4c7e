// PolicyCallerRights: the pki::CallerRights of one admitted call, from the policy set it
// was admitted under (the PKI authorization rule; README "Access control and audit").
//
// Issuers: writing a role bound to issuer X needs pki.admin on pki/issuers/X; issuing
// through it pki.issue, signing a CSR through it pki.sign, on pki/issuers/X.
// Names: a certificate is a credential wherever its issuer is trusted for client
// authentication (auth.client_ca_issuers, now or after any reload), so every identity it
// names -- each URI SAN, "dns:<each DNS SAN>" and "cn:<common name>", the forms client
// certificate identities take (client_certs.h) -- may hold, through auth.identities, only
// policies the caller holds itself (root holds all), as for tokens a token creates.
// Refusals are PERMISSION_DENIED naming the caller and what it may not do.
#pragma once

#include <string>
#include <vector>

#include "pki/caller_rights.h"
#include "server/access/policy.h"
#include "server/access/principal.h"

namespace strongroom::server::access {

class PolicyCallerRights final : public pki::CallerRights {
 public:
  // Both must outlive this object.
  PolicyCallerRights(const PolicySet& policies, const Principal& caller)
      : policies_(policies), caller_(caller) {}

  absl::Status CheckIssuer(IssuerUse use, absl::string_view issuer_name) const override;
  absl::Status CheckNames(const pki::NameRequest& names) const override;

 private:
  const PolicySet& policies_;
  const Principal& caller_;
};

// The identities a certificate with `names` could authenticate as, in the order above.
std::vector<std::string> IdentitiesNamed(const pki::NameRequest& names);

}  // namespace strongroom::server::access
