// JwtLogin: the login every front end (gRPC Auth.Login, Vault's /v1/auth/jwt/login and
// /v1/auth/kubernetes/login) goes through: a JWT and a role in, a new token out.
//
// Login() bounds the request (role name, JWT size), refuses a source over its refusal
// budget (SourceRefusals, auth.jwt.refused_logins_per_second) before any work, verifies the
// JWT for the role (JwtAuth::Verify) and mints a token with exactly the role's policies and
// lifetimes through the token store (an orphan: no parent token; its creator is the
// identity "jwt:<iss>#<sub>"). The caller learns nothing about why a JWT was refused: every
// refusal is PERMISSION_DENIED "login refused", while the operator's log gets the role, the
// source and the reason. UNAVAILABLE when the issuer's keys cannot be fetched, or the source
// is over its budget. INVALID_ARGUMENT naming the field for a missing or oversized role or
// JWT. `identity` receives the audit identity: "jwt:<iss>#<sub>" once the JWT is verified,
// else "jwt:role/<role>".
//
// Reload() swaps in a newly compiled JwtAuth (SIGHUP); logins in flight finish with the one
// they started with. The refusal budget's rate is read at construction. `warn` writes a
// line to the operator's log (server/log.h's LogWarning). Thread-safe; `tokens` must
// outlive the object.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/access/jwt/jwt_auth.h"
#include "server/access/source_refusals.h"
#include "server/access/token_store.h"

namespace strongroom::server::access::jwt {

class JwtLogin {
 public:
  using Warn = std::function<void(absl::string_view)>;

  JwtLogin(TokenStore* tokens, std::shared_ptr<const JwtAuth> auth, Warn warn)
      : tokens_(tokens),
        warn_(std::move(warn)),
        refusals_(auth->refused_logins_per_second()),
        auth_(std::move(auth)) {}

  void Reload(std::shared_ptr<const JwtAuth> auth);
  std::shared_ptr<const JwtAuth> auth() const;
  // The sources the refusal budget tracks, for metrics ("jwt_login_sources").
  const SourceRefusals& refusals() const { return refusals_; }

  absl::StatusOr<TokenStore::Created> Login(absl::string_view role, absl::string_view jwt,
                                            absl::string_view peer, absl::Time now,
                                            std::string* identity);

 private:
  TokenStore* const tokens_;
  const Warn warn_;
  SourceRefusals refusals_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const JwtAuth> auth_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strongroom::server::access::jwt
