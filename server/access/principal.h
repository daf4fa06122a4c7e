// Principal: who is calling, once authenticated (see access/gate.h).
//
// A principal is a certificate identity (mTLS), a token, or the local Kubernetes KMS
// plugin socket. Certificate identities get their policies from the config bindings at
// check time (so a SIGHUP reload applies at once); token principals carry the policies
// stored with the token.
#pragma once

#include <string>
#include <vector>

namespace strongroom::server::access {

// The policy of root tokens: everything (see policy.h). Only the bootstrap and
// `strongroomd generate-root-token` grant it.
inline constexpr char kRootPolicy[] = "root";

struct Principal {
  enum class Kind { kNone, kCertificate, kToken, kLocalSocket };
  Kind kind = Kind::kNone;
  // "spiffe://..." (URI SAN), "dns:<name>", "cn:<name>", "token:<accessor>",
  // "unix:kms-plugin"; empty for kNone.
  std::string identity;
  // Token principals: the token's policies and accessor.
  std::vector<std::string> policies;
  std::string token_accessor;
};

}  // namespace strongroom::server::access
