#include "server/access/jwt/claims.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace strongroom::server::access::jwt {
namespace {

using google::protobuf::Struct;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
constexpr absl::Duration kSkew = absl::Seconds(60);

Struct Claims(const std::string& json) {
  absl::StatusOr<Struct> claims = ParseClaims(json);
  EXPECT_TRUE(claims.ok()) << claims.status() << " " << json;
  return claims.ok() ? *claims : Struct();
}

// A Kubernetes service account token's claims.
const char kKubernetes[] = R"({
  "aud": ["https://kubernetes.default.svc", "strongroom"],
  "exp": 1700000600, "iat": 1700000000, "nbf": 1700000000,
  "iss": "https://kubernetes.default.svc.cluster.local",
  "sub": "system:serviceaccount:payments:api",
  "kubernetes.io": {
    "namespace": "payments",
    "pod": {"name": "api-7d9f", "uid": "1"},
    "serviceaccount": {"name": "api", "uid": "2"}
  }
})";

v1::JwtRole KubernetesRole() {
  v1::JwtRole role;
  role.set_name("payments-api");
  role.add_bound_audiences("strongroom");
  role.add_bound_subjects("system:serviceaccount:payments:*");
  v1::JwtClaimBinding* ns = role.add_bound_claims();
  ns->set_claim("kubernetes.io/namespace");
  ns->add_values("payments");
  v1::JwtClaimBinding* sa = role.add_bound_claims();
  sa->set_claim("kubernetes.io/serviceaccount/name");
  sa->add_values("api");
  sa->add_values("worker-*");
  return role;
}

RoleRules Compile(const v1::JwtRole& role) {
  absl::StatusOr<RoleRules> rules = RoleRules::Compile(role, "role");
  EXPECT_TRUE(rules.ok()) << rules.status();
  return *std::move(rules);
}

TEST(ClaimsTest, ParseClaimsNeedsAnObject) {
  EXPECT_TRUE(ParseClaims("{}").ok());
  for (const char* bad : {"", "[]", "\"x\"", "{", "{\"a\":}", "null"}) {
    EXPECT_EQ(ParseClaims(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ClaimsTest, TimesWithinSkew) {
  EXPECT_TRUE(CheckTimes(Claims(kKubernetes), kNow, kSkew).ok());
  // exp is required, and honoured with the skew.
  EXPECT_EQ(CheckTimes(Claims(R"({"iat":1700000000})"), kNow, kSkew).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(CheckTimes(Claims(R"({"exp":1699999950})"), kNow, kSkew).ok());
  absl::Status expired = CheckTimes(Claims(R"({"exp":1699999940})"), kNow, kSkew);
  EXPECT_EQ(expired.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(expired.message().find("expired"), absl::string_view::npos) << expired;
  // nbf and iat in the future beyond the skew.
  absl::Status early =
      CheckTimes(Claims(R"({"exp":1700009999,"nbf":1700000061})"), kNow, kSkew);
  EXPECT_NE(early.message().find("not valid yet"), absl::string_view::npos) << early;
  EXPECT_TRUE(CheckTimes(Claims(R"({"exp":1700009999,"nbf":1700000059})"), kNow, kSkew).ok());
  EXPECT_EQ(CheckTimes(Claims(R"({"exp":1700009999,"iat":1700000061})"), kNow, kSkew).code(),
            absl::StatusCode::kPermissionDenied);
  // NumericDates must be numbers.
  for (const char* bad : {R"({"exp":"1700009999"})", R"({"exp":null})", R"({"exp":1e300})",
                          R"({"exp":1700009999,"nbf":[1]})"}) {
    EXPECT_EQ(CheckTimes(Claims(bad), kNow, kSkew).code(), absl::StatusCode::kPermissionDenied)
        << bad;
  }
}

TEST(ClaimsTest, KubernetesServiceAccountMatches) {
  RoleRules rules = Compile(KubernetesRole());
  EXPECT_TRUE(rules.Check(Claims(kKubernetes)).ok());
}

TEST(ClaimsTest, EachMismatchIsRefusedNamingTheClaim) {
  RoleRules rules = Compile(KubernetesRole());
  struct Case {
    std::string from, to, named;
  };
  const std::vector<Case> cases = {
      {R"("https://kubernetes.default.svc", "strongroom")", R"("other")", "\"aud\""},
      {R"("https://kubernetes.default.svc", "strongroom")", R"("strongroom*")", "\"aud\""},
      {R"("system:serviceaccount:payments:api")", R"("system:serviceaccount:billing:api")",
       "\"sub\""},
      {R"("namespace": "payments")", R"("namespace": "billing")", "kubernetes.io/namespace"},
      {R"("namespace": "payments")", R"("namespace": ["billing"])", "kubernetes.io/namespace"},
      {R"("namespace": "payments")", R"("namespace": {"x":"payments"})",
       "kubernetes.io/namespace"},
      {R"("namespace": "payments")", R"("ns": "payments")", "kubernetes.io/namespace"},
      {R"("name": "api", "uid": "2")", R"("name": "apix", "uid": "2")",
       "kubernetes.io/serviceaccount/name"},
  };
  for (const Case& c : cases) {
    std::string json = kKubernetes;
    size_t at = json.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    json.replace(at, c.from.size(), c.to);
    absl::Status s = rules.Check(Claims(json));
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << c.to;
    EXPECT_NE(s.message().find(c.named), absl::string_view::npos) << s << " for " << c.to;
  }
  // A glob value matches; a missing "aud" or "sub" is refused.
  std::string worker = kKubernetes;
  worker.replace(worker.find(R"("name": "api", "uid": "2")"), 25, R"("name": "worker-7", "uid": "2")");
  EXPECT_TRUE(rules.Check(Claims(worker)).ok());
  EXPECT_FALSE(rules.Check(Claims(R"({"sub":"system:serviceaccount:payments:api"})")).ok());
  EXPECT_FALSE(rules.Check(Claims(R"({"aud":"strongroom"})")).ok());
}

TEST(ClaimsTest, GitHubActionsClaims) {
  v1::JwtRole role;
  role.add_bound_audiences("https://github.com/acme");
  role.add_bound_subjects("repo:acme/deploy:*");
  for (auto [claim, value] : std::vector<std::pair<std::string, std::string>>{
           {"repository", "acme/deploy"}, {"ref", "refs/heads/main"}, {"environment", "prod"}}) {
    v1::JwtClaimBinding* b = role.add_bound_claims();
    b->set_claim(claim);
    b->add_values(value);
  }
  v1::JwtClaimBinding* run = role.add_bound_claims();
  run->set_claim("run_attempt");  // numbers compare as their JSON text
  run->add_values("1");
  RoleRules rules = Compile(role);
  const std::string base = R"({"aud":"https://github.com/acme","sub":"repo:acme/deploy:environment:prod",
      "repository":"acme/deploy","ref":"refs/heads/main","environment":"prod","run_attempt":1,
      "exp":1700000600})";
  EXPECT_TRUE(rules.Check(Claims(base)).ok()) << rules.Check(Claims(base));
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"refs/heads/main", "refs/heads/feature"},
           {"\"environment\":\"prod\"", "\"environment\":\"staging\""},
           {"\"repository\":\"acme/deploy\"", "\"repository\":\"evil/deploy\""},
           {"\"run_attempt\":1", "\"run_attempt\":2"},
           {"\"run_attempt\":1", "\"run_attempt\":\"1.0\""}}) {
    std::string json = base;
    json.replace(json.find(from), from.size(), to);
    EXPECT_EQ(rules.Check(Claims(json)).code(), absl::StatusCode::kPermissionDenied) << to;
  }
}

TEST(ClaimsTest, CompileRefusesBadRoles) {
  v1::JwtRole no_aud = KubernetesRole();
  no_aud.clear_bound_audiences();
  EXPECT_EQ(RoleRules::Compile(no_aud, "r").status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* claim : {"", "/ns", "a//b", "a/"}) {
    v1::JwtRole bad = KubernetesRole();
    bad.mutable_bound_claims(0)->set_claim(claim);
    EXPECT_EQ(RoleRules::Compile(bad, "r").status().code(), absl::StatusCode::kInvalidArgument)
        << claim;
  }
  v1::JwtRole no_values = KubernetesRole();
  no_values.mutable_bound_claims(0)->clear_values();
  absl::Status s = RoleRules::Compile(no_values, "auth.jwt.roles[x]").status();
  EXPECT_NE(s.message().find("auth.jwt.roles[x].bound_claims[0].values"), absl::string_view::npos)
      << s;
}

}  // namespace
}  // namespace strongroom::server::access::jwt
