#include "server/access/jwt/jwt_auth.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/access/principal.h"

namespace strongroom::server::access::jwt {
namespace {

using google::protobuf::Struct;

constexpr absl::Duration kDefaultSkew = absl::Seconds(60);
constexpr absl::Duration kMaxSkew = absl::Minutes(10);
constexpr absl::Duration kDefaultRefresh = absl::Hours(1);
constexpr absl::Duration kDefaultMaxStale = absl::Hours(24);
constexpr absl::Duration kDefaultTokenTtl = absl::Minutes(15);
constexpr absl::Duration kDefaultTokenMaxTtl = absl::Hours(1);
constexpr const char* kDefaultAlgorithms[] = {"RS256", "PS256", "ES256", "ES384", "EdDSA"};

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(d));
}

absl::Status Invalid(absl::string_view where, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", problem));
}

}  // namespace

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::string JwtAuth::Verified::Identity() const { return absl::StrCat("jwt:", issuer, "#", subject); }

absl::StatusOr<std::shared_ptr<const JwtAuth>> JwtAuth::Compile(const v1::AuthConfig& auth,
                                                                const PolicySet& policies,
                                                                const JwtAuth* previous,
                                                                Fetcher fetch) {
  const v1::JwtAuthConfig& config = auth.jwt();
  std::shared_ptr<JwtAuth> out(new JwtAuth());
  if (config.refused_logins_per_second() != 0) {
    out->refused_per_second_ = config.refused_logins_per_second();
  }
  for (int i = 0; i < config.issuers_size(); ++i) {
    v1::JwtIssuer ic = config.issuers(i);
    const std::string where = absl::StrCat("auth.jwt.issuers[", ic.name(), "]");
    if (!ValidName(ic.name())) {
      return Invalid(absl::StrCat("auth.jwt.issuers[", i, "].name"),
                     "1 to 128 letters, digits, '.', '_' or '-'");
    }
    if (out->issuers_.contains(ic.name())) return Invalid(where, "defined twice");
    if (ic.issuer().empty()) return Invalid(absl::StrCat(where, ".issuer"), "required");
    if (ic.algorithms().empty()) {
      for (const char* a : kDefaultAlgorithms) ic.add_algorithms(a);
    }
    if (ic.clock_skew().seconds() == 0 && ic.clock_skew().nanos() == 0) {
      SetDuration(kDefaultSkew, ic.mutable_clock_skew());
    }
    if (ic.jwks_refresh_interval().seconds() <= 0) {
      SetDuration(kDefaultRefresh, ic.mutable_jwks_refresh_interval());
    }
    if (ic.jwks_max_stale().seconds() <= 0) SetDuration(kDefaultMaxStale, ic.mutable_jwks_max_stale());
    auto issuer = std::make_unique<Issuer>();
    issuer->skew = ToDuration(ic.clock_skew());
    if (issuer->skew < absl::ZeroDuration() || issuer->skew > kMaxSkew) {
      return Invalid(absl::StrCat(where, ".clock_skew"), "0s to 10m");
    }
    for (const std::string& name : ic.algorithms()) {
      absl::StatusOr<jose::Algorithm> alg = jose::ParseAlgorithm(name);
      if (!alg.ok()) return Invalid(absl::StrCat(where, ".algorithms"), alg.status().message());
      issuer->algorithms.push_back(*alg);
    }
    issuer->fingerprint = ic.SerializeAsString();
    issuer->config = ic;
    // Remote keys whose source is unchanged keep their cache across reloads.
    if (previous != nullptr) {
      auto it = previous->issuers_.find(ic.name());
      if (it != previous->issuers_.end() && it->second->fingerprint == issuer->fingerprint &&
          (!ic.jwks_url().empty() || !ic.discovery_url().empty())) {
        issuer->keys = it->second->keys;
      }
    }
    if (issuer->keys == nullptr) {
      absl::StatusOr<std::unique_ptr<IssuerKeys>> keys = IssuerKeys::Create(ic, where, fetch);
      if (!keys.ok()) return keys.status();
      issuer->keys = *std::move(keys);
    }
    out->issuers_[ic.name()] = std::move(issuer);
  }
  const absl::Duration max_token_ttl = ToDuration(auth.max_token_ttl());
  for (int i = 0; i < config.roles_size(); ++i) {
    const v1::JwtRole& rc = config.roles(i);
    const std::string where = absl::StrCat("auth.jwt.roles[", rc.name(), "]");
    if (!ValidName(rc.name())) {
      return Invalid(absl::StrCat("auth.jwt.roles[", i, "].name"),
                     "1 to 128 letters, digits, '.', '_' or '-'");
    }
    if (out->roles_.contains(rc.name())) return Invalid(where, "defined twice");
    auto issuer = out->issuers_.find(rc.issuer());
    if (issuer == out->issuers_.end()) {
      return Invalid(absl::StrCat(where, ".issuer"),
                     absl::StrCat("no issuer named \"", rc.issuer(), "\""));
    }
    absl::StatusOr<RoleRules> rules = RoleRules::Compile(rc, where);
    if (!rules.ok()) return rules.status();
    v1::CreateTokenRequest token;
    if (rc.policies().empty()) return Invalid(absl::StrCat(where, ".policies"), "required");
    for (const std::string& p : rc.policies()) {
      if (p == kRootPolicy || !policies.Exists(p)) {
        return Invalid(absl::StrCat(where, ".policies"),
                       absl::StrCat("no policy named \"", p, "\" (root cannot be granted)"));
      }
      token.add_policies(p);
    }
    const absl::Duration period = ToDuration(rc.token_period());
    absl::Duration ttl = ToDuration(rc.token_ttl());
    absl::Duration max_ttl = ToDuration(rc.token_max_ttl());
    if (period > absl::ZeroDuration()) {
      if (period < absl::Seconds(1) || period > max_token_ttl) {
        return Invalid(absl::StrCat(where, ".token_period"), "1s to auth.max_token_ttl");
      }
      SetDuration(period, token.mutable_period());
    } else {
      if (ttl == absl::ZeroDuration()) ttl = kDefaultTokenTtl;
      if (max_ttl == absl::ZeroDuration()) max_ttl = std::max(kDefaultTokenMaxTtl, ttl);
      if (ttl < absl::Seconds(1) || ttl > max_ttl || max_ttl > max_token_ttl) {
        return Invalid(absl::StrCat(where, ".token_ttl"),
                       "at least 1s, at most token_max_ttl, which is at most auth.max_token_ttl");
      }
      SetDuration(ttl, token.mutable_ttl());
      SetDuration(max_ttl, token.mutable_explicit_max_ttl());
    }
    token.set_display_name(absl::StrCat("jwt-", rc.name()));
    out->roles_[rc.name()] = std::make_unique<Role>(
        Role{rc.name(), issuer->second.get(), *std::move(rules), std::move(token)});
  }
  return std::shared_ptr<const JwtAuth>(std::move(out));
}

IssuerKeys* JwtAuth::issuer_keys(absl::string_view name) const {
  auto it = issuers_.find(name);
  return it == issuers_.end() ? nullptr : it->second->keys.get();
}

absl::Status JwtAuth::CheckSignature(const Issuer& issuer, const jose::Jws& jws,
                                     absl::Time now) const {
  std::string kid;
  auto it = jws.header.fields().find("kid");
  if (it != jws.header.fields().end()) {
    if (it->second.kind_case() != google::protobuf::Value::kStringValue) {
      return absl::PermissionDeniedError("the JWT's \"kid\" is not a string");
    }
    kid = it->second.string_value();
  }
  absl::StatusOr<std::vector<jose::PublicJwk>> keys = issuer.keys->Candidates(kid, now);
  if (!keys.ok()) {
    if (absl::IsUnavailable(keys.status())) {
      return absl::UnavailableError(
          absl::StrCat("issuer ", issuer.config.name(), ": ", keys.status().message()));
    }
    return absl::PermissionDeniedError(keys.status().message());
  }
  for (const jose::PublicJwk& key : *keys) {
    if (key.Accepts(jws.alg) && key.Verify(jws.alg, jws.signing_input, jws.signature)) {
      return absl::OkStatus();
    }
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "bad signature: no key of the issuer", kid.empty() ? "" : " with the JWT's \"kid\"",
      " verifies it with ", jose::AlgorithmName(jws.alg)));
}

absl::StatusOr<JwtAuth::Verified> JwtAuth::Verify(absl::string_view role_name,
                                                  absl::string_view jwt, absl::Time now) const {
  auto role_it = roles_.find(role_name);
  if (role_it == roles_.end()) return absl::PermissionDeniedError("no such role");
  const Role& role = *role_it->second;
  const Issuer& issuer = *role.issuer;
  absl::StatusOr<jose::Jws> jws = jose::ParseCompact(jwt);
  if (!jws.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("malformed JWT: ", jws.status().message()));
  }
  if (std::find(issuer.algorithms.begin(), issuer.algorithms.end(), jws->alg) ==
      issuer.algorithms.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "algorithm ", jose::AlgorithmName(jws->alg), " is not among issuer ",
        issuer.config.name(), "'s algorithms"));
  }
  absl::StatusOr<Struct> claims = ParseClaims(jws->payload);
  if (!claims.ok()) return absl::PermissionDeniedError(claims.status().message());
  // Before any key is looked at: a JWT of another issuer never makes this one's keys fetched.
  if (StringClaim(*claims, "iss") != issuer.config.issuer()) {
    return absl::PermissionDeniedError(
        absl::StrCat("\"iss\" is not issuer ", issuer.config.name(), "'s"));
  }
  if (absl::Status s = CheckSignature(issuer, *jws, now); !s.ok()) return s;
  if (absl::Status s = CheckTimes(*claims, now, issuer.skew); !s.ok()) return s;
  Verified verified;
  verified.issuer = issuer.config.issuer();
  verified.subject = StringClaim(*claims, "sub");
  if (verified.subject.empty() || verified.subject.size() > 1024) {
    return absl::PermissionDeniedError("the JWT has no \"sub\" (or one over 1024 characters)");
  }
  if (absl::Status s = role.rules.Check(*claims); !s.ok()) return s;
  verified.role = role.name;
  verified.token = role.token;
  return verified;
}

}  // namespace strongroom::server::access::jwt
