#include "server/access/token_grant.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace strongroom::server::access {

absl::StatusOr<TokenStore::Created> GrantToken(TokenStore& tokens, const PolicySet& policies,
                                               const Principal& caller,
                                               const v1::CreateTokenRequest& request, bool orphan,
                                               absl::Time now) {
  const std::vector<std::string> held = policies.PoliciesOf(caller);
  const bool root = std::find(held.begin(), held.end(), kRootPolicy) != held.end();
  for (const std::string& policy : request.policies()) {
    if (policy == kRootPolicy) {
      return absl::PermissionDeniedError(
          "policies: root cannot be granted (use `strongroomd generate-root-token` on the server)");
    }
    if (!policies.Exists(policy)) {
      return absl::InvalidArgumentError(absl::StrCat("policies: no policy named \"", policy, "\""));
    }
    if (!root && std::find(held.begin(), held.end(), policy) == held.end()) {
      return absl::PermissionDeniedError(absl::StrCat(caller.identity, " may not grant policy \"",
                                                      policy, "\": it does not hold it"));
    }
  }
  if (request.period().seconds() != 0 || request.period().nanos() != 0) {
    // A token that never expires while renewed is a right of its own.
    if (absl::Status s = policies.Check(caller, Operation::kTokenPeriodic, kTokensResource);
        !s.ok()) {
      return s;
    }
  }
  // A token's children are revoked with it, and (unless it is root) never outlive it; a
  // certificate identity's tokens are orphans, bounded by auth.max_token_ttl only.
  const bool token_caller = caller.kind == Principal::Kind::kToken;
  if (orphan && token_caller && !root) {
    return absl::InvalidArgumentError(
        "no_parent: a token created by a token (other than root) never outlives it, so only a "
        "root token or a certificate identity may create orphan tokens");
  }
  return tokens.Create(request, caller.identity, now,
                       token_caller && !orphan ? caller.token_accessor : "");
}

}  // namespace strongroom::server::access
