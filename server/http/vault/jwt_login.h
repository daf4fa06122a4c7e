// JwtLoginApi: Vault's JWT/OIDC and Kubernetes auth login routes over access::jwt::JwtLogin.
//
//   POST|PUT /v1/auth/jwt/login         {"role", "jwt"} -> auth.client_token, policies,
//   POST|PUT /v1/auth/kubernetes/login  {"role", "jwt"}    lease_duration, renewable, ...
//
// The routes take no credentials (the JWT is the credential; routes.cc lists them public);
// the role named in the body is the audited resource ("auth/jwt/roles/<role>") and, once
// the JWT is verified, its issuer and subject the audited identity. Vault's answers: the
// token in auth.client_token (shown this once), 400 naming a missing or oversized field, and
// one 403 "permission denied" for every refused JWT (the reason goes to the server's log only);
// 503 while the issuer's keys cannot be fetched or the source has too many refused logins.
// Thread-safe.
#pragma once

#include <vector>

#include "server/access/jwt/login.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"

namespace strongroom::server::vault {

class JwtLoginApi {
 public:
  // `login` is not owned and must outlive the routes; null answers every login 503.
  explicit JwtLoginApi(access::jwt::JwtLogin* login) : login_(login) {}

  std::vector<VaultRoute> Routes() const;
  HttpResponse Login(const HttpRequest& request) const;

 private:
  access::jwt::JwtLogin* const login_;
};

}  // namespace strongroom::server::vault
