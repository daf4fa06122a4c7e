// JwtAuth: the JWT/OIDC auth method as the config (auth.jwt) defines it, compiled once per
// load: issuers with their keys (IssuerKeys), accepted algorithms and clock skew, and roles
// (RoleRules, the policies and lifetimes of the token a login gets).
//
// Verify() decides whether a JWT may log in as a role, in this order: the role exists; the
// JWT parses (jose::ParseCompact refuses "none", HS* and unknown algorithms by name); its
// algorithm is one the role's issuer accepts; its "iss" is that issuer's; a key of the
// issuer with the JWT's "kid" (or any, if it names none) verifies the signature; "exp",
// "nbf" and "iat" hold within the skew; "sub" is present; the role's bound audiences,
// subjects and claims match. Every refusal is a status whose message is the reason for the
// operator's log (never quoting the JWT): PERMISSION_DENIED for the JWT or role, or
// UNAVAILABLE when the issuer's keys cannot be had. Callers answer the caller generically.
//
// Compile() checks what a login would otherwise find out late: role policies exist in the
// PolicySet (never "root"), issuers named by roles exist, lifetimes are within
// auth.max_token_ttl. Remote key caches of issuers whose config is unchanged are taken over
// from `previous`, so a SIGHUP reload does not refetch them. Immutable apart from those
// caches; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/access/jwt/claims.h"
#include "server/access/jwt/issuer_keys.h"
#include "server/access/policy.h"
#include "server/jose/jose.h"
#include "strongroom/v1/auth.pb.h"
#include "strongroom/v1/config.pb.h"

namespace strongroom::server::access::jwt {

// The largest JWT a login takes (its compact text).
inline constexpr size_t kMaxJwtBytes = jose::kMaxJoseInput;

// Whether `name` can be a role or issuer name: 1 to 128 of [A-Za-z0-9._-].
bool ValidName(absl::string_view name);

class JwtAuth {
 public:
  // `fetch` is for tests (see IssuerKeys::Create). INVALID_ARGUMENT naming the field, as
  // `auth.jwt.roles[ci].policies: no policy named "x"`.
  static absl::StatusOr<std::shared_ptr<const JwtAuth>> Compile(
      const v1::AuthConfig& auth, const PolicySet& policies, const JwtAuth* previous = nullptr,
      Fetcher fetch = nullptr);

  // Who a verified JWT proved to be, and what it gets.
  struct Verified {
    std::string issuer;   // "iss"
    std::string subject;  // "sub"
    std::string role;
    v1::CreateTokenRequest token;  // the role's policies and lifetimes
    // The identity in audit records and as the token's creator: "jwt:<iss>#<sub>".
    std::string Identity() const;
  };

  absl::StatusOr<Verified> Verify(absl::string_view role, absl::string_view jwt,
                                  absl::Time now) const;

  // Per-source refused logins per second (auth.jwt.refused_logins_per_second).
  uint32_t refused_logins_per_second() const { return refused_per_second_; }
  // The keys of the issuer named `name` (config JwtIssuer.name); nullptr if none.
  IssuerKeys* issuer_keys(absl::string_view name) const;

 private:
  struct Issuer {
    v1::JwtIssuer config;
    std::string fingerprint;  // config serialized, to match on reload
    std::vector<jose::Algorithm> algorithms;
    absl::Duration skew;
    std::shared_ptr<IssuerKeys> keys;
  };
  struct Role {
    std::string name;
    const Issuer* issuer;
    RoleRules rules;
    v1::CreateTokenRequest token;
  };

  JwtAuth() = default;
  absl::Status CheckSignature(const Issuer& issuer, const jose::Jws& jws, absl::Time now) const;

  absl::flat_hash_map<std::string, std::unique_ptr<Issuer>> issuers_;
  absl::flat_hash_map<std::string, std::unique_ptr<Role>> roles_;
  uint32_t refused_per_second_ = 5;
};

}  // namespace strongroom::server::access::jwt
