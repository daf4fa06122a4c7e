#include "server/access/policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/access/routes.h"

namespace strongroom::server::access {
namespace {

using ::testing::HasSubstr;

v1::AuthConfig Config() {
  v1::AuthConfig config;
  v1::Policy* app = config.add_policies();
  app->set_name("payments");
  v1::PolicyRule* allow = app->add_rules();
  allow->set_resource("transit/keys/payments-*");
  allow->add_operations("encrypt");
  allow->add_operations("decrypt");
  v1::PolicyRule* deny = app->add_rules();
  deny->set_resource("transit/keys/payments-legacy");
  deny->add_operations("*");
  deny->set_effect("deny");
  v1::Policy* ops = config.add_policies();
  ops->set_name("ops");
  v1::PolicyRule* all = ops->add_rules();
  all->set_resource("*");
  all->add_operations("*");
  v1::IdentityBinding* b = config.add_identities();
  b->set_identity("spiffe://example.org/payments/*");
  b->add_policies("payments");
  return config;
}

Principal Cert(std::string identity) {
  Principal p;
  p.kind = Principal::Kind::kCertificate;
  p.identity = std::move(identity);
  return p;
}

TEST(GlobMatchTest, Patterns) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "a/b"));
  EXPECT_TRUE(GlobMatch("transit/keys/p-*", "transit/keys/p-1"));
  EXPECT_TRUE(GlobMatch("transit/keys/p-*", "transit/keys/p-"));
  EXPECT_FALSE(GlobMatch("transit/keys/p-*", "transit/keys/q-1"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
  EXPECT_TRUE(GlobMatch("*-admin", "pki-admin"));
  EXPECT_FALSE(GlobMatch("exact", "exactly"));
  EXPECT_FALSE(GlobMatch("exactly", "exact"));
}

TEST(PolicySetTest, AllowDenyAndDefaultDeny) {
  auto set = PolicySet::Compile(Config(), "");
  ASSERT_TRUE(set.ok()) << set.status();
  Principal app = Cert("spiffe://example.org/payments/api");
  EXPECT_TRUE((*set)->Check(app, Operation::kEncrypt, "transit/keys/payments-eu").ok());
  EXPECT_TRUE((*set)->Check(app, Operation::kDecrypt, "transit/keys/payments-eu").ok());
  absl::Status s = (*set)->Check(app, Operation::kRotate, "transit/keys/payments-eu");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("may not rotate transit/keys/payments-eu: no policy grants it"));
  s = (*set)->Check(app, Operation::kEncrypt, "transit/keys/payments-legacy");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("denied by policy payments"));
  EXPECT_FALSE((*set)->Check(Cert("spiffe://example.org/other"), Operation::kEncrypt,
                             "transit/keys/payments-eu").ok());
  EXPECT_TRUE((*set)->Check(Cert("spiffe://example.org/other"), Operation::kAuthenticated,
                            "auth/self").ok());
}

TEST(PolicySetTest, DenyWinsAcrossPolicies) {
  v1::AuthConfig config = Config();
  config.mutable_identities(0)->add_policies("ops");
  auto set = PolicySet::Compile(config, "");
  ASSERT_TRUE(set.ok());
  Principal app = Cert("spiffe://example.org/payments/api");
  EXPECT_TRUE((*set)->Check(app, Operation::kRotate, "transit/keys/payments-eu").ok());
  EXPECT_EQ((*set)->Check(app, Operation::kRead, "transit/keys/payments-legacy").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(PolicySetTest, TokensRootAndKmsPlugin) {
  auto set = PolicySet::Compile(Config(), "k8s");
  ASSERT_TRUE(set.ok());
  Principal token;
  token.kind = Principal::Kind::kToken;
  token.identity = "token:abc";
  token.policies = {"payments"};
  EXPECT_TRUE((*set)->Check(token, Operation::kEncrypt, "transit/keys/payments-1").ok());
  EXPECT_FALSE((*set)->Check(token, Operation::kSysSeal, "sys/seal").ok());
  token.policies = {"root"};
  EXPECT_TRUE((*set)->Check(token, Operation::kSysSeal, "sys/seal").ok());
  Principal plugin;
  plugin.kind = Principal::Kind::kLocalSocket;
  plugin.identity = "unix:kms-plugin";
  EXPECT_TRUE((*set)->Check(plugin, Operation::kEncrypt, "transit/keys/k8s").ok());
  EXPECT_FALSE((*set)->Check(plugin, Operation::kEncrypt, "transit/keys/other").ok());
  EXPECT_FALSE((*set)->Check(plugin, Operation::kRotate, "transit/keys/k8s").ok());
  EXPECT_FALSE((*set)->Exists("@kms-plugin"));
  EXPECT_TRUE((*set)->Exists("root"));
}

TEST(PolicySetTest, NoCredentialsIsUnauthenticatedButPublicIsOpen) {
  auto set = PolicySet::Compile(Config(), "");
  ASSERT_TRUE(set.ok());
  Principal none;
  EXPECT_EQ((*set)->Check(none, Operation::kEncrypt, "transit/keys/x").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*set)->Check(none, Operation::kAuthenticated, "auth/self").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*set)->Check(none, Operation::kPublic, "sys/health").ok());
}

TEST(PolicySetTest, CompileErrorsNameTheFault) {
  struct Case {
    std::function<void(v1::AuthConfig&)> edit;
    std::string want;
  };
  std::vector<Case> cases = {
      {[](v1::AuthConfig& c) { c.mutable_policies(0)->mutable_rules(0)->set_operations(0, "encrpyt"); },
       "auth.policies[payments].rules[1]: unknown operation \"encrpyt\""},
      {[](v1::AuthConfig& c) { c.mutable_policies(0)->mutable_rules(0)->set_operations(0, "public"); },
       "unknown operation \"public\""},
      {[](v1::AuthConfig& c) { c.mutable_policies(0)->mutable_rules(1)->set_effect("maybe"); },
       "auth.policies[payments].rules[2]: effect must be allow or deny"},
      {[](v1::AuthConfig& c) { c.mutable_policies(1)->set_name("root"); }, "\"root\" is built in"},
      {[](v1::AuthConfig& c) { c.mutable_policies(1)->set_name("payments"); }, "defined twice"},
      {[](v1::AuthConfig& c) { c.mutable_policies(1)->set_name("bad name"); }, "name must be"},
      {[](v1::AuthConfig& c) { c.mutable_identities(0)->add_policies("nope"); },
       "auth.identities[1] (spiffe://example.org/payments/*): unknown policy \"nope\""},
      {[](v1::AuthConfig& c) { c.mutable_identities(0)->add_policies("root"); }, "unknown policy \"root\""},
      {[](v1::AuthConfig& c) { c.mutable_policies(0)->mutable_rules(0)->clear_resource(); },
       "resource is required"},
  };
  for (const Case& c : cases) {
    v1::AuthConfig config = Config();
    c.edit(config);
    auto set = PolicySet::Compile(config, "");
    ASSERT_FALSE(set.ok()) << c.want;
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(set.status().message(), HasSubstr(c.want));
  }
}

TEST(RoutesTest, ExpandResource) {
  const Route* route = FindRoute("/strongroom.v1.Transit/Encrypt");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(ExpandResource(route->resource, [](absl::string_view f) { return std::string(f) + "!"; }),
            "transit/keys/key_name!");
  EXPECT_EQ(FindRoute("/strongroom.v1.Transit/Nope"), nullptr);
}

}  // namespace
}  // namespace strongroom::server::access
