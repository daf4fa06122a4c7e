#include "pki/role_policy.h"

#include <openssl/evp.h>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"

namespace strongroom::pki {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

v1::Role WebRole() {
  v1::Role role;
  role.set_name("web");
  role.add_allowed_domains("example.com");
  role.set_allow_subdomains(true);
  role.set_allow_bare_domains(true);
  role.add_allowed_uri_sans("spiffe://prod.example/ns/*/sa/web");
  role.mutable_ttl()->set_seconds(3600);
  role.mutable_max_ttl()->set_seconds(24 * 3600);
  return role;
}

NameRequest Names(const std::string& cn, std::vector<std::string> dns = {},
                  std::vector<std::string> ip = {}, std::vector<std::string> uri = {}) {
  return NameRequest{cn, std::move(dns), std::move(ip), std::move(uri)};
}

TEST(RolePolicyTest, AllowsBareAndSubdomainsAtAnyDepth) {
  v1::Role role = WebRole();
  EXPECT_TRUE(CheckNames(role, Names("example.com")).ok());
  EXPECT_TRUE(CheckNames(role, Names("www.example.com", {"a.b.c.EXAMPLE.com"})).ok());
  role.set_allow_bare_domains(false);
  absl::Status s = CheckNames(role, Names("example.com"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  role.set_allow_bare_domains(true);
  role.set_allow_subdomains(false);
  EXPECT_EQ(CheckNames(role, Names("www.example.com")).code(), absl::StatusCode::kPermissionDenied);
}

TEST(RolePolicyTest, RefusesNameOutsideAllowedDomains) {
  absl::Status s = CheckNames(WebRole(), Names("www.example.com", {"evil.com"}));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "dns_sans: \"evil.com\" is not allowed by role \"web\" (allowed_domains: example.com; "
            "allow_bare_domains; allow_subdomains)");
  // A suffix that is not a label boundary is not a subdomain.
  s = CheckNames(WebRole(), Names("badexample.com"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("common_name: \"badexample.com\""));
}

TEST(RolePolicyTest, GlobMatchesWithinOneLabelOnly) {
  v1::Role role;
  role.set_name("glob");
  role.add_allowed_domains("*.svc.example.com");
  role.add_allowed_domains("web-*.example.com");
  role.set_allow_glob_domains(true);
  EXPECT_TRUE(CheckNames(role, Names("api.svc.example.com")).ok());
  EXPECT_TRUE(CheckNames(role, Names("web-01.example.com")).ok());
  for (const char* name :
       {"a.b.svc.example.com", "svc.example.com", "web.example.com", "web-1.x.example.com"}) {
    absl::Status s = CheckNames(role, Names(name));
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << name;
    EXPECT_THAT(s.message(), HasSubstr("allow_glob_domains")) << name;
  }
  // Without allow_glob_domains the pattern is not a glob.
  role.set_allow_glob_domains(false);
  role.set_allow_subdomains(true);
  EXPECT_EQ(CheckNames(role, Names("api.svc.example.com")).code(),
            absl::StatusCode::kPermissionDenied);
  // A wildcard in the request is refused as malformed.
  absl::Status s = CheckNames(WebRole(), Names("*.example.com"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("wildcard"));
}

TEST(RolePolicyTest, LocalhostNeedsAllowLocalhost) {
  v1::Role role = WebRole();
  absl::Status s = CheckNames(role, Names("localhost"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("allow_localhost is false"));
  role.set_allow_localhost(true);
  EXPECT_TRUE(CheckNames(role, Names("localhost", {"localhost.localdomain"})).ok());
}

TEST(RolePolicyTest, IpSansNeedAllowIpSansAndValidSyntax) {
  v1::Role role = WebRole();
  absl::Status s = CheckNames(role, Names("www.example.com", {}, {"10.0.0.1"}));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("ip_sans: \"10.0.0.1\""), HasSubstr("allow_ip_sans is false")));
  role.set_allow_ip_sans(true);
  EXPECT_TRUE(CheckNames(role, Names("www.example.com", {}, {"10.0.0.1", "2001:db8::1"})).ok());
  for (const char* bad : {"10.0.0.256", "10.0.0", "2001:db8:::1", "1.2.3.4/8", ""}) {
    s = CheckNames(role, Names("www.example.com", {}, {bad}));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("not an IPv4 or IPv6 address")) << bad;
  }
}

TEST(RolePolicyTest, UriSansMustMatchAPattern) {
  v1::Role role = WebRole();
  EXPECT_TRUE(
      CheckNames(role, Names("", {}, {}, {"spiffe://prod.example/ns/default/sa/web"})).ok());
  absl::Status s = CheckNames(role, Names("", {}, {}, {"spiffe://prod.example/ns/default/sa/db"}));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("(allowed_uri_sans: spiffe://prod.example/ns/*/sa/web)"));
  EXPECT_EQ(CheckNames(role, Names("", {}, {}, {"spiffe://dev.example/ns/x/sa/web"})).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckNames(role, Names("", {}, {}, {"not a uri"})).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RolePolicyTest, MalformedAndEmptyNames) {
  EXPECT_EQ(CheckNames(WebRole(), Names("")).code(), absl::StatusCode::kInvalidArgument);
  for (const char* bad :
       {"-a.example.com", "a..example.com", "a_b.example.com", "example.com.", "a b.example.com"}) {
    EXPECT_EQ(CheckNames(WebRole(), Names(bad)).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(RolePolicyTest, CommonNameGoesIntoTheSanUnlessExcluded) {
  v1::Role role = WebRole();
  NameRequest names = CertificateNames(role, Names("api.example.com"), false);
  EXPECT_EQ(names.common_name, "api.example.com");
  EXPECT_THAT(names.dns_sans, ::testing::ElementsAre("api.example.com"));
  EXPECT_TRUE(names.ip_sans.empty());
  // Not twice, whatever the case of the SAN already requested.
  names = CertificateNames(role, Names("API.example.com", {"www.example.com", "api.EXAMPLE.com"}),
                           false);
  EXPECT_THAT(names.dns_sans, ::testing::ElementsAre("www.example.com", "api.EXAMPLE.com"));
  // An address goes in as an IP SAN (compared as an address, not as text).
  names = CertificateNames(role, Names("10.0.0.7"), false);
  EXPECT_TRUE(names.dns_sans.empty());
  EXPECT_THAT(names.ip_sans, ::testing::ElementsAre("10.0.0.7"));
  names = CertificateNames(role, Names("2001:db8::1", {}, {"2001:DB8:0::1"}), false);
  EXPECT_THAT(names.ip_sans, ::testing::ElementsAre("2001:DB8:0::1"));
  // Left out when the request or the role says so.
  EXPECT_TRUE(CertificateNames(role, Names("api.example.com"), true).dns_sans.empty());
  role.set_exclude_cn_from_sans(true);
  EXPECT_TRUE(CertificateNames(role, Names("api.example.com"), false).dns_sans.empty());
  // No common name: nothing to add.
  names = CertificateNames(WebRole(), Names("", {"www.example.com"}), false);
  EXPECT_THAT(names.dns_sans, ::testing::ElementsAre("www.example.com"));
}

TEST(RolePolicyTest, ServerRolesNeverIssueWithoutASan) {
  v1::Role role = WebRole();
  role.set_server_flag(true);
  absl::Status s = CheckNames(role, Names("api.example.com"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("subjectAltName"), HasSubstr("\"web\""),
                                 HasSubstr("exclude_cn_from_sans")));
  EXPECT_TRUE(CheckNames(role, Names("api.example.com", {"api.example.com"})).ok());
  EXPECT_TRUE(
      CheckNames(role, Names("", {}, {}, {"spiffe://prod.example/ns/default/sa/web"})).ok());
  // Client-only roles may name their holder in the subject alone.
  role.set_server_flag(false);
  role.set_client_flag(true);
  EXPECT_TRUE(CheckNames(role, Names("api.example.com")).ok());
}

TEST(RolePolicyTest, AnAddressAsCommonNameFollowsTheIpRules) {
  v1::Role role = WebRole();
  absl::Status s = CheckNames(role, Names("10.0.0.7"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(),
              AllOf(HasSubstr("common_name: \"10.0.0.7\""), HasSubstr("allow_ip_sans is false")));
  role.set_allow_ip_sans(true);
  EXPECT_TRUE(CheckNames(role, Names("10.0.0.7", {}, {"10.0.0.7"})).ok());
  EXPECT_TRUE(CheckNames(role, Names("2001:db8::1")).ok());
}

TEST(RolePolicyTest, TtlDefaultsCapsAndIssuerExpiry) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  const absl::Time issuer_end = now + absl::Hours(24 * 365);
  v1::Role role = WebRole();
  EXPECT_EQ(*GrantTtl(role, absl::ZeroDuration(), issuer_end, now), absl::Hours(1));
  EXPECT_EQ(*GrantTtl(role, absl::Hours(5), issuer_end, now), absl::Hours(5));
  absl::StatusOr<absl::Duration> over = GrantTtl(role, absl::Hours(25), issuer_end, now);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(), "ttl: 25h exceeds max_ttl 24h of role \"web\"");
  // Cut to the issuer's not_after.
  EXPECT_EQ(*GrantTtl(role, absl::Hours(5), now + absl::Hours(2), now), absl::Hours(2));
  EXPECT_EQ(GrantTtl(role, absl::Hours(5), now, now).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GrantTtl(role, -absl::Hours(1), issuer_end, now).status().code(),
            absl::StatusCode::kInvalidArgument);
  role.clear_ttl();
  EXPECT_EQ(*GrantTtl(role, absl::ZeroDuration(), issuer_end, now), absl::Hours(24));
  role.clear_max_ttl();
  EXPECT_EQ(*GrantTtl(role, absl::ZeroDuration(), issuer_end, now), kDefaultLeafTtl);

  absl::Duration granted;
  EXPECT_TRUE(CheckRequest(WebRole(), Names("www.example.com"), absl::ZeroDuration(), issuer_end,
                           now, &granted)
                  .ok());
  EXPECT_EQ(granted, absl::Hours(1));
}

TEST(RolePolicyTest, CsrKeyChecks) {
  v1::Role role = WebRole();
  for (v1::PkiKeyType type : {v1::EC_P256, v1::EC_P384, v1::RSA2048}) {
    auto key = GenerateSoftwareKey(type);
    ASSERT_TRUE(key.ok());
    EXPECT_TRUE(CheckCsrKey(role, key->get()).ok()) << type;
  }
  hsm::EvpPkeyPtr rsa1024(EVP_RSA_gen(1024));
  absl::Status s = CheckCsrKey(role, rsa1024.get());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "csr: RSA key of 1024 bits is below the minimum of 2048 bits of role \"web\" "
            "(key_bits; never less than 2048)");
  role.set_key_bits(3072);
  auto rsa2048 = GenerateSoftwareKey(v1::RSA2048);
  EXPECT_THAT(CheckCsrKey(role, rsa2048->get()).message(), HasSubstr("minimum of 3072"));
  hsm::EvpPkeyPtr p521(EVP_EC_gen("P-521"));
  s = CheckCsrKey(role, p521.get());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("secp521r1"));
  hsm::EvpPkeyPtr ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  EXPECT_EQ(CheckCsrKey(role, ed25519.get()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(GlobMatchTest, Cases) {
  EXPECT_TRUE(GlobMatch("a*c", "abbbc", false));
  EXPECT_TRUE(GlobMatch("a*", "a", false));
  EXPECT_FALSE(GlobMatch("a*", "a", true));
  EXPECT_TRUE(GlobMatch("spiffe://x/*", "spiffe://x/a/b", false));
  EXPECT_FALSE(GlobMatch("*.x", "a.b.x", true));
  EXPECT_TRUE(GlobMatch("*-*.x", "a-b.x", true));
  EXPECT_FALSE(GlobMatch("*-*.x", "a-.x", true));
}

}  // namespace
}  // namespace strongroom::pki
