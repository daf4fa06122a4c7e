// Fuzzes the JWT login path after the request body: JwtAuth::Verify on arbitrary JWT text
// for a configured role (compact parsing, algorithm and issuer checks, key selection,
// signature verification), and, since no fuzzed input carries a valid signature, the checks
// made after it directly on arbitrary claims (ParseClaims, CheckTimes, RoleRules::Check).
// The first input byte picks the path.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "absl/time/time.h"
#include "server/access/jwt/claims.h"
#include "server/access/jwt/jwt_auth.h"
#include "server/access/policy.h"

namespace {

using strongroom::server::access::PolicySet;
using strongroom::server::access::jwt::JwtAuth;
using strongroom::server::access::jwt::RoleRules;

// A public key only: nothing here can sign.
constexpr char kPublicKey[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERTSDlTcQ12LIZwTqDNqIYZe0TpYU\n"
    "Uvbv+RTBfyntk27kHQ1N4lQ8xjG9iOjSsZbupJcO58YZC73W0M5BBXf7eQ==\n"
    "-----END PUBLIC KEY-----\n";

strongroom::v1::AuthConfig Config() {
  strongroom::v1::AuthConfig auth;
  auth.mutable_max_token_ttl()->set_seconds(768 * 3600);
  strongroom::v1::Policy* policy = auth.add_policies();
  policy->set_name("app");
  policy->add_rules()->set_resource("transit/keys/app");
  policy->mutable_rules(0)->add_operations("encrypt");
  strongroom::v1::JwtIssuer* issuer = auth.mutable_jwt()->add_issuers();
  issuer->set_name("k8s");
  issuer->set_issuer("https://kubernetes.default.svc");
  issuer->add_public_keys_pem(kPublicKey);
  strongroom::v1::JwtRole* role = auth.mutable_jwt()->add_roles();
  role->set_name("app");
  role->set_issuer("k8s");
  role->add_bound_audiences("strongroom");
  role->add_bound_subjects("system:serviceaccount:app:*");
  strongroom::v1::JwtClaimBinding* ns = role->add_bound_claims();
  ns->set_claim("kubernetes.io/namespace");
  ns->add_values("app");
  ns->add_values("app-*");
  role->add_policies("app");
  return auth;
}

struct Fixture {
  std::shared_ptr<const JwtAuth> auth;
  std::unique_ptr<RoleRules> rules;
};

const Fixture& Get() {
  static const Fixture* fixture = [] {
    strongroom::v1::AuthConfig config = Config();
    auto policies = PolicySet::Compile(config, "");
    if (!policies.ok()) std::abort();
    auto auth = JwtAuth::Compile(config, **policies);
    auto rules = RoleRules::Compile(config.jwt().roles(0), "role");
    if (!auth.ok() || !rules.ok()) std::abort();
    return new Fixture{*std::move(auth), std::make_unique<RoleRules>(*std::move(rules))};
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Fixture& f = Get();
  const absl::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  if (data[0] & 1) {
    auto claims = strongroom::server::access::jwt::ParseClaims(input);
    if (claims.ok()) {
      (void)strongroom::server::access::jwt::CheckTimes(*claims, now, absl::Seconds(60));
      (void)f.rules->Check(*claims);
    }
  } else {
    (void)f.auth->Verify("app", input, now);
  }
  return 0;
}
