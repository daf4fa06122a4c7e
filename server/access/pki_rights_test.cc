#include "server/access/pki_rights.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/access/testing/policies.h"

namespace strongroom::server::access {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using IssuerUse = pki::CallerRights::IssuerUse;
using testing::AddIdentity;
using testing::AddRule;
using testing::Compile;
using testing::TokenPrincipal;

// team-admin may write and issue through team-* roles and administer its own issuer;
// payments-app is what the payments workload's identity holds.
std::shared_ptr<const PolicySet> Policies() {
  v1::AuthConfig config;
  AddRule(&config, "team-admin", "pki/*/team-*", {"pki.admin", "pki.issue"});
  AddRule(&config, "signer", "pki/issuers/workloads", {"pki.sign"});
  AddRule(&config, "payments-app", "transit/keys/payments-*", {"encrypt"});
  AddRule(&config, "web-app", "transit/keys/web-*", {"encrypt"});
  AddIdentity(&config, "spiffe://prod.example/payments/*", {"payments-app"});
  AddIdentity(&config, "dns:*.web.example", {"web-app"});
  AddIdentity(&config, "cn:payments", {"payments-app"});
  return Compile(config);
}

Principal Token(std::vector<std::string> policies) {
  return TokenPrincipal(std::move(policies), "0123");
}

pki::NameRequest Names(std::string cn, std::vector<std::string> dns, std::vector<std::string> uri) {
  pki::NameRequest names;
  names.common_name = std::move(cn);
  names.dns_sans = std::move(dns);
  names.uri_sans = std::move(uri);
  return names;
}

TEST(PolicyCallerRightsTest, IssuerUseNeedsTheOperationOnTheIssuer) {
  auto policies = Policies();
  const Principal team = Token({"team-admin"});
  PolicyCallerRights rights(*policies, team);
  EXPECT_TRUE(rights.CheckIssuer(IssuerUse::kAdmin, "team-ca").ok());
  EXPECT_TRUE(rights.CheckIssuer(IssuerUse::kIssue, "team-ca").ok());
  absl::Status s = rights.CheckIssuer(IssuerUse::kSign, "team-ca");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("may not pki.sign pki/issuers/team-ca"));
  for (IssuerUse use : {IssuerUse::kAdmin, IssuerUse::kIssue, IssuerUse::kSign}) {
    s = rights.CheckIssuer(use, "workloads");
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(s.message(), HasSubstr("pki/issuers/workloads"));
  }
  const Principal signer = Token({"signer"});
  EXPECT_TRUE(
      PolicyCallerRights(*policies, signer).CheckIssuer(IssuerUse::kSign, "workloads").ok());
}

TEST(PolicyCallerRightsTest, EveryNamedIdentityMayHoldOnlyTheCallersPolicies) {
  auto policies = Policies();
  const Principal team = Token({"team-admin"});
  PolicyCallerRights rights(*policies, team);
  // Identities no binding names hold nothing: anyone with the issuer rights may issue them.
  EXPECT_TRUE(
      rights.CheckNames(Names("svc", {"svc.team.example"}, {"spiffe://prod.example/team-x/svc"}))
          .ok());
  // Each identity the certificate names counts, wherever it is among the names.
  for (const pki::NameRequest& names :
       {Names("", {}, {"spiffe://prod.example/payments/api"}),
        Names("", {}, {"spiffe://prod.example/team-x/svc", "spiffe://prod.example/payments/api"}),
        Names("svc", {"svc.team.example", "a.web.example"}, {}), Names("payments", {}, {})}) {
    absl::Status s = rights.CheckNames(names);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << names.common_name;
    EXPECT_THAT(s.message(), HasSubstr("token:0123 may not obtain a certificate naming "));
    EXPECT_THAT(s.message(), HasSubstr("which the caller does not hold"));
  }
  // Holding the identity's policies, the caller may.
  const Principal holder = Token({"team-admin", "payments-app"});
  EXPECT_TRUE(PolicyCallerRights(*policies, holder)
                  .CheckNames(Names("payments", {}, {"spiffe://prod.example/payments/api"}))
                  .ok());
  // So may a workload renewing its own certificate, and root.
  Principal workload;
  workload.kind = Principal::Kind::kCertificate;
  workload.identity = "spiffe://prod.example/payments/api";
  EXPECT_TRUE(PolicyCallerRights(*policies, workload)
                  .CheckNames(Names("", {}, {"spiffe://prod.example/payments/api"}))
                  .ok());
  const Principal root = Token({kRootPolicy});
  EXPECT_TRUE(PolicyCallerRights(*policies, root)
                  .CheckNames(Names("payments", {"a.web.example"}, {}))
                  .ok());
}

TEST(PolicyCallerRightsTest, IdentitiesNamedTakesEveryForm) {
  EXPECT_THAT(IdentitiesNamed(Names("c", {"d1", "d2"}, {"u1", "u2"})),
              ElementsAre("u1", "u2", "dns:d1", "dns:d2", "cn:c"));
  EXPECT_THAT(IdentitiesNamed(Names("", {}, {})), ElementsAre());
}

}  // namespace
}  // namespace strongroom::server::access
