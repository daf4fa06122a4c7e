// GrantToken: the rules for minting a token, the same for every front end (the gRPC
// Auth.CreateToken and Vault's auth/token/create over HTTP), on top of the route check
// (token.create on "auth/tokens") the gate has already made.
//
// The caller may grant only policies that exist and that it holds itself (a root token may
// grant any config policy; nobody grants "root": that takes `strongroomd
// generate-root-token`). A periodic token also needs token.periodic on "auth/tokens". A
// token created by a token is its child, revoked with it, and unless the creator is root
// never outlives it (TokenStore::Create), as in Vault. `orphan` asks for a token without a
// parent, which only a root token may ask for (a certificate identity's tokens are orphans
// anyway): a non-root token asking for one is refused INVALID_ARGUMENT, so the rule cannot
// be dodged.
// Errors: PERMISSION_DENIED for a policy or right the caller lacks, INVALID_ARGUMENT for
// unknown policies and bad requests, and the store's errors.
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/access/policy.h"
#include "server/access/principal.h"
#include "server/access/token_store.h"
#include "strongroom/v1/auth.pb.h"

namespace strongroom::server::access {

inline constexpr char kTokensResource[] = "auth/tokens";

absl::StatusOr<TokenStore::Created> GrantToken(TokenStore& tokens, const PolicySet& policies,
                                               const Principal& caller,
                                               const v1::CreateTokenRequest& request, bool orphan,
                                               absl::Time now);

}  // namespace strongroom::server::access
