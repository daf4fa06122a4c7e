#include "server/http/vault/jwt_login.h"

#include <string>

#include "absl/time/clock.h"
#include "server/http/vault/token.h"

namespace strongroom::server::vault {

std::vector<VaultRoute> JwtLoginApi::Routes() const {
  std::vector<VaultRoute> routes;
  for (const char* method : {"POST", "PUT"}) {
    for (const char* pattern : {"/v1/auth/jwt/login", "/v1/auth/kubernetes/login"}) {
      routes.push_back({method, pattern, [this](const HttpRequest& r) { return Login(r); },
                        BodyFields({{"role", ""}})});
    }
  }
  return routes;
}

HttpResponse JwtLoginApi::Login(const HttpRequest& request) const {
  if (login_ == nullptr) return StatusError(absl::UnavailableError("JWT login is not configured"));
  if (request.body.size() > kMaxResourceParamsBody) {
    return StatusError(absl::InvalidArgumentError(
        absl::StrCat("request body larger than ", kMaxResourceParamsBody, " bytes")));
  }
  Body body;  // the JWT is a credential: cleansed when done
  if (absl::Status s = ParseBody(request.body, &body.json); !s.ok()) return StatusError(s);
  absl::StatusOr<const std::string*> role = GetString(body.json, "role", "role");
  if (!role.ok()) return StatusError(role.status());
  absl::StatusOr<const std::string*> jwt = GetString(body.json, "jwt", "jwt");
  if (!jwt.ok()) return StatusError(jwt.status());
  const absl::Time now = absl::Now();
  std::string identity;
  absl::StatusOr<access::TokenStore::Created> created = login_->Login(
      *role == nullptr ? "" : **role, *jwt == nullptr ? "" : **jwt, request.peer, now, &identity);
  HttpResponse response =
      created.ok() ? Envelope(200, Json(), TokenAuthBlock(created->info, now, &created->token))
                   : StatusError(created.status());
  response.audit_identity = std::move(identity);
  return response;
}

}  // namespace strongroom::server::vault
