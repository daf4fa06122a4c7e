// GrantToken: the rules for minting a token, the same for every front end (the gRPC
// Auth.CreateToken and Vault's auth/token/create over HTTP), on top of the route check
// (token.create on "auth/tokens") the gate has already made.
//
// The caller may grant only policies that exist and that it holds itself (a root token may
// grant any config policy; nobody grants "root": that takes `strongroomd
// generate-root-token`). A periodic token also needs token.periodic on "auth/tokens". A
// token created by a non-root token is its child and never outlives it
// (TokenStore::Create); `orphan` asks for a token without that bound, which only callers
// whose children have none anyway may have (a root token, a certificate identity): a
// non-root token asking for one is refused INVALID_ARGUMENT, so the rule cannot be dodged.
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
