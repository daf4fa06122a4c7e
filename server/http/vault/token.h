// TokenApi: Vault's token auth routes (/v1/auth/token/...) over the token store.
//
//   POST|PUT /v1/auth/token/create            policies, ttl, period, renewable, display_name,
//                                             explicit_max_ttl, no_parent -> auth.client_token
//   POST|PUT /v1/auth/token/create-orphan     the same with no_parent
//   POST|PUT /v1/auth/token/lookup            {"token"}     -> data (the token's details)
//   GET      /v1/auth/token/lookup-self                     -> data
//   POST|PUT /v1/auth/token/lookup-accessor   {"accessor"}  -> data
//   POST|PUT /v1/auth/token/renew             {"token", "increment"}    -> auth
//   POST|PUT /v1/auth/token/renew-self        {"increment"}             -> auth
//   POST|PUT /v1/auth/token/renew-accessor    {"accessor", "increment"} -> auth
//   POST|PUT /v1/auth/token/revoke            {"token"}     -> 204
//   POST|PUT /v1/auth/token/revoke-self                     -> 204
//   POST|PUT /v1/auth/token/revoke-accessor   {"accessor"}  -> 204
//
// Authorization is the access gate's (server/access/routes.cc): create needs token.create on
// "auth/tokens" and then access::GrantToken's checks, made here against the gate's current
// policy set; the by-token and by-accessor routes act on "auth/tokens/<accessor>" (read,
// configure for renewals, delete), the accessor coming from the body through each route's
// resource_params (a token in the body names its accessor; it is then verified by the store
// before anything is done with it). The *-self routes act on the calling token.
//
// A token appears in a reply only once, as auth.client_token of create; never in errors,
// lookups ("id" is left out) or renewals. What Strongroom's tokens do not have is refused
// with 400 naming the field: a chosen id, num_uses, batch tokens, metadata, token roles.
// Revoking a token does not revoke the tokens it created (they never outlive its expiry at
// their creation instead). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "server/access/policy.h"
#include "server/access/token_store.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"

namespace strongroom::server::vault {

// Vault's "auth" block of a token's creation (with `token`, shown this once) or renewal
// (`token` null), for every route that hands out tokens.
Json TokenAuthBlock(const v1::TokenInfo& info, absl::Time now,
                    const hsm::SecretData* token = nullptr);

class TokenApi {
 public:
  // `tokens` is not owned and must outlive the routes.
  TokenApi(access::TokenStore* tokens, PolicySource policies)
      : tokens_(tokens), policies_(std::move(policies)) {}

  std::vector<VaultRoute> Routes() const;

  HttpResponse Create(const HttpRequest& request, bool orphan) const;
  HttpResponse Lookup(const HttpRequest& request) const;
  HttpResponse LookupSelf(const HttpRequest& request) const;
  HttpResponse LookupAccessor(const HttpRequest& request) const;
  HttpResponse Renew(const HttpRequest& request) const;
  HttpResponse RenewSelf(const HttpRequest& request) const;
  HttpResponse RenewAccessor(const HttpRequest& request) const;
  HttpResponse Revoke(const HttpRequest& request) const;
  HttpResponse RevokeSelf(const HttpRequest& request) const;
  HttpResponse RevokeAccessor(const HttpRequest& request) const;
  // Revokes the token only; its children become orphans (revoke and the others revoke a
  // token's children with it).
  HttpResponse RevokeOrphan(const HttpRequest& request) const;
  // LIST auth/token/accessors: the accessor of every live token the caller may read.
  HttpResponse ListAccessors(const HttpRequest& request) const;

 private:
  // The accessor a by-token or by-accessor request names in its body ("token" or
  // "accessor", per `field`); a token is verified by the store first.
  absl::StatusOr<std::string> TargetAccessor(const google::protobuf::Struct& body,
                                             const char* field) const;
  HttpResponse LookupIn(const HttpRequest& request, const char* field) const;
  HttpResponse RenewIn(const HttpRequest& request, const char* field) const;
  HttpResponse RevokeIn(const HttpRequest& request, const char* field,
                        bool orphan_children = false) const;

  access::TokenStore* const tokens_;
  const PolicySource policies_;
};

}  // namespace strongroom::server::vault
