// TokenApi over the real token store (SoftHSM + SQLite) and a compiled policy set, called
// through an HttpRouter with no network. The caller's principal is set as the access gate
// sets it (from the token the store authenticated); the gate's own checks (route operation
// and resource, 403, audit) are covered end to end in tests/hvac_e2e_test.cc.
#include "server/http/vault/token.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/vault/testing_hsm.h"
#include "server/access/policy.h"
#include "server/access/token_store.h"
#include "server/http/vault/testing_reply.h"

namespace strongroom::server::vault {
namespace {

using testing::Reply;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;

v1::AuthConfig Config() {
  v1::AuthConfig config;
  auto add = [&](const std::string& name, const std::string& resource,
                 std::vector<std::string> operations) {
    v1::Policy* p = config.add_policies();
    p->set_name(name);
    v1::PolicyRule* rule = p->add_rules();
    rule->set_resource(resource);
    for (const std::string& op : operations) rule->add_operations(op);
  };
  add("app", "transit/keys/app", {"encrypt", "decrypt"});
  add("minter", "auth/tokens", {"token.create"});
  add("periodic", "auth/tokens", {"token.periodic"});
  add("ops", "*", {"*"});
  return config;
}

class TokenApiTest : public testing::HsmStorageTest {
 protected:
  static void SetUpTestSuite() { SetUpHsm("token-api-test"); }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(NewStorage("tokens-"));
    auto store = access::TokenStore::Open(storage_.get(), hsm_, {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto policies = access::PolicySet::Compile(Config(), "");
    ASSERT_TRUE(policies.ok()) << policies.status();
    policies_ = *std::move(policies);
    api_ = std::make_unique<TokenApi>(store_.get(), [this] { return policies_; });
    for (VaultRoute& r : api_->Routes()) {
      routes_.push_back(r);
      router_.Handle(r.method, r.pattern, r.handler);
    }
    auto root = store_->CreateRoot(absl::Hours(1), absl::Now());
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = PrincipalOf(std::string(root->token.RevealSecretAsString()));
  }

  // The principal the gate makes of `token`.
  access::Principal PrincipalOf(const std::string& token) {
    access::Principal p;
    auto info = store_->Authenticate(token, absl::Now());
    EXPECT_TRUE(info.ok()) << info.status();
    if (!info.ok()) return p;
    p.kind = access::Principal::Kind::kToken;
    p.identity = absl::StrCat("token:", info->accessor());
    p.token_accessor = info->accessor();
    p.policies.assign(info->policies().begin(), info->policies().end());
    return p;
  }

  Reply Call(const std::string& method, const std::string& path, const std::string& body,
             const access::Principal& caller) {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    request.principal = &caller;
    return Reply(router_.Route(request));
  }

  // A token created by `caller` with `body`; its client_token.
  std::string MustCreate(const std::string& body, const access::Principal& caller) {
    Reply r = Call("POST", "/v1/auth/token/create", body, caller);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("auth.client_token");
  }

  std::unique_ptr<access::TokenStore> store_;
  std::shared_ptr<const access::PolicySet> policies_;
  std::unique_ptr<TokenApi> api_;
  std::vector<VaultRoute> routes_;
  HttpRouter router_;
  access::Principal root_;
};

TEST_F(TokenApiTest, RoutesAreVaultsWithPutBesidePost) {
  std::vector<std::string> names;
  for (const VaultRoute& r : routes_) names.push_back(r.method + " " + r.pattern);
  std::vector<std::string> expected = {"GET /v1/auth/token/lookup-self",
                                       "LIST /v1/auth/token/accessors"};
  for (const char* path :
       {"create", "create-orphan", "lookup", "lookup-accessor", "renew", "renew-self",
        "renew-accessor", "revoke", "revoke-self", "revoke-accessor", "revoke-orphan"}) {
    for (const char* verb : {"POST", "PUT"}) {
      expected.push_back(absl::StrCat(verb, " /v1/auth/token/", path));
    }
  }
  EXPECT_THAT(names, UnorderedElementsAreArray(expected));
}

TEST_F(TokenApiTest, CreateShowsTheTokenOnceInVaultsAuthShape) {
  Reply r = Call("POST", "/v1/auth/token/create",
                 R"({"policies":["app"],"ttl":"2h","display_name":"payments","renewable":true,)"
                 R"("no_parent":false,"no_default_policy":false,"num_uses":0,"meta":null})",
                 root_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.IsNull("data"));
  const std::string token = r.Str("auth.client_token");
  ASSERT_THAT(token, StartsWith("srt."));
  auto info = store_->Authenticate(token, absl::Now());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(r.Str("auth.accessor"), info->accessor());
  EXPECT_EQ(info->display_name(), "payments");
  EXPECT_EQ(r.Str("auth.policies.0"), "app");
  EXPECT_EQ(r.Str("auth.token_policies.0"), "app");
  EXPECT_NEAR(r.Num("auth.lease_duration"), 7200, 5);
  EXPECT_TRUE(r.Bool("auth.renewable"));
  EXPECT_FALSE(r.Bool("auth.orphan")) << "a token's child, as Vault counts it";
  EXPECT_EQ(r.Str("auth.token_type"), "service");

  // Policies as a comma-separated string; periodic; not renewable.
  r = Call("PUT", "/v1/auth/token/create", R"({"policies":"app, ops","period":"24h"})", root_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.At("auth.policies").list_value().values_size(), 2);
  EXPECT_NEAR(r.Num("auth.lease_duration"), 86400, 5);
  r = Call("POST", "/v1/auth/token/create", R"({"policies":["app"],"renewable":false})", root_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.Bool("auth.renewable"));
  access::Principal fixed = PrincipalOf(r.Str("auth.client_token"));
  Reply renew = Call("POST", "/v1/auth/token/renew-self", "", fixed);
  EXPECT_EQ(renew.status, 400) << renew.body;
  EXPECT_THAT(renew.Str("errors.0"), HasSubstr("not renewable"));
}

TEST_F(TokenApiTest, CreateFollowsTheGrantRules) {
  // A token holding app and minter may grant those, not ops; by default it grants its own.
  access::Principal minter =
      PrincipalOf(MustCreate(R"({"policies":["app","minter"],"ttl":"1h"})", root_));
  EXPECT_EQ(Call("POST", "/v1/auth/token/create", R"({"policies":["ops"]})", minter).status,
            403);
  Reply r = Call("POST", "/v1/auth/token/create", R"({"ttl":"10m"})", minter);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.At("auth.policies").list_value().values_size(), 2);
  // Its children never outlive it, and are not orphans.
  r = Call("POST", "/v1/auth/token/create", R"({"policies":["app"],"ttl":"2h"})", minter);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.Str("errors.0"), HasSubstr("ttl: at most"));
  for (const char* path : {"/v1/auth/token/create-orphan", "/v1/auth/token/create"}) {
    r = Call("POST", path, R"({"policies":["app"],"no_parent":true})", minter);
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
    EXPECT_THAT(r.Str("errors.0"), StartsWith("no_parent:"));
  }
  // Periodic tokens need token.periodic too.
  EXPECT_EQ(Call("POST", "/v1/auth/token/create", R"({"policies":["app"],"period":"10m"})",
                 minter)
                .status,
            403);
  // Root may create orphans; "root" is granted by nobody; unknown policies are named.
  r = Call("POST", "/v1/auth/token/create-orphan", R"({"policies":["app"]})", root_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("auth.orphan"));
  EXPECT_EQ(Call("POST", "/v1/auth/token/create", R"({"policies":["root"]})", root_).status, 403);
  EXPECT_EQ(Call("POST", "/v1/auth/token/create", "{}", root_).status, 400)
      << "root's own policy is no default";
  r = Call("POST", "/v1/auth/token/create", R"({"policies":["nope"]})", root_);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Str("errors.0"), HasSubstr("no policy named \"nope\""));
}

// As in Vault, the tokens a root token creates are its children: revoking it revokes them,
// unless they were made orphans (create-orphan, no_parent). They may outlive its 1 h.
TEST_F(TokenApiTest, ARootTokensChildrenAreRevokedWithIt) {
  const std::string child = MustCreate(R"({"policies":["app"],"ttl":"24h"})", root_);
  const std::string grandchild = MustCreate(R"({"policies":["app"]})", PrincipalOf(
      MustCreate(R"({"policies":["app","minter"],"ttl":"2h"})", root_)));
  const std::string orphan = MustCreate(R"({"policies":["app"],"no_parent":true})", root_);
  Reply r = Call("POST", "/v1/auth/token/create-orphan", R"({"policies":["app"]})", root_);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string orphan2 = r.Str("auth.client_token");
  ASSERT_TRUE(store_->Authenticate(child, absl::Now()).ok());
  EXPECT_EQ(Call("POST", "/v1/auth/token/revoke-self", "", root_).status, 204);
  for (const std::string& t : {child, grandchild}) {
    EXPECT_FALSE(store_->Authenticate(t, absl::Now()).ok()) << "revoked with root";
  }
  for (const std::string& t : {orphan, orphan2}) {
    EXPECT_TRUE(store_->Authenticate(t, absl::Now()).ok()) << "an orphan outlives root";
  }
}

// "orphan" is the stored fact, in every reply that shows it: true for root's orphans
// (create-orphan, no_parent) whoever created them, false for children, and true for the
// children of a token revoked with revoke-orphan.
TEST_F(TokenApiTest, OrphanIsTrueExactlyForTokensWithoutAParent) {
  auto lookup_orphan = [&](const access::Principal& who) {
    Reply r = Call("POST", "/v1/auth/token/lookup-accessor",
                   absl::StrCat(R"({"accessor":")", who.token_accessor, R"("})"), root_);
    EXPECT_EQ(r.status, 200) << r.body;
    Reply self = Call("GET", "/v1/auth/token/lookup-self", "", who);
    EXPECT_EQ(self.Bool("data.orphan"), r.Bool("data.orphan"));
    Reply renewed = Call("POST", "/v1/auth/token/renew-self", "", who);
    EXPECT_EQ(renewed.Bool("auth.orphan"), r.Bool("data.orphan")) << renewed.body;
    return r.Bool("data.orphan");
  };
  Reply r = Call("POST", "/v1/auth/token/create-orphan", R"({"policies":["app"]})", root_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("auth.orphan"));
  EXPECT_TRUE(lookup_orphan(PrincipalOf(r.Str("auth.client_token"))));
  EXPECT_TRUE(lookup_orphan(PrincipalOf(
      MustCreate(R"({"policies":["app"],"no_parent":true})", root_))));
  const std::string parent = MustCreate(R"({"policies":["app","minter"],"ttl":"1h"})", root_);
  EXPECT_FALSE(lookup_orphan(PrincipalOf(parent)));
  const access::Principal child =
      PrincipalOf(MustCreate(R"({"policies":["app"],"ttl":"30m"})", PrincipalOf(parent)));
  EXPECT_FALSE(lookup_orphan(child));

  r = Call("POST", "/v1/auth/token/revoke-orphan",
           absl::StrCat(R"({"token":")", parent, R"("})"), root_);
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_TRUE(lookup_orphan(child)) << "its parent is gone: an orphan now";
}

TEST_F(TokenApiTest, CreateRefusesWhatStrongroomTokensDoNotHave) {
  for (const auto& [body, field] : std::vector<std::pair<std::string, std::string>>{
           {R"({"policies":["app"],"id":"my-token"})", "id:"},
           {R"({"policies":["app"],"num_uses":3})", "num_uses:"},
           {R"({"policies":["app"],"type":"batch"})", "type:"},
           {R"({"policies":["app"],"meta":{"owner":"x"}})", "meta:"},
           {R"({"policies":["app"],"entity_alias":"x"})", "entity_alias:"},
           {R"({"policies":[1]})", "policies:"},
           {R"({"policies":["app"],"ttl":"forever"})", "ttl:"},
           {R"({"policies":["app"],"renewable":"maybe"})", "renewable:"},
           {R"({"policies":["app"],"period":"1h","explicit_max_ttl":"2h"})", "explicit_max_ttl:"},
       }) {
    Reply r = Call("POST", "/v1/auth/token/create", body, root_);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
    EXPECT_THAT(r.Str("errors.0"), StartsWith(field)) << body;
    EXPECT_FALSE(r.Has("auth.client_token"));
  }
}

TEST_F(TokenApiTest, LookupsNeverShowTheToken) {
  const std::string token =
      MustCreate(R"({"policies":["app"],"ttl":"1h","display_name":"x"})", root_);
  access::Principal self = PrincipalOf(token);
  std::vector<Reply> replies = {
      Call("GET", "/v1/auth/token/lookup-self", "", self),
      Call("POST", "/v1/auth/token/lookup", absl::StrCat(R"({"token":")", token, R"("})"), root_),
      Call("POST", "/v1/auth/token/lookup-accessor",
           absl::StrCat(R"({"accessor":")", self.token_accessor, R"("})"), root_)};
  for (const Reply& r : replies) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Str("data.accessor"), self.token_accessor);
    EXPECT_EQ(r.Str("data.policies.0"), "app");
    EXPECT_EQ(r.Str("data.display_name"), "x");
    EXPECT_NEAR(r.Num("data.ttl"), 3600, 5);
    EXPECT_EQ(r.Num("data.creation_ttl"), 3600);
    EXPECT_TRUE(r.Bool("data.renewable"));
    EXPECT_FALSE(r.Bool("data.orphan"));
    EXPECT_EQ(r.Num("data.explicit_max_ttl"), 768 * 3600);
    EXPECT_FALSE(r.Has("data.id"));
    EXPECT_THAT(r.body, Not(HasSubstr(token.substr(37))));
  }
  // A wrong secret with a real accessor, an unknown accessor, nothing named.
  std::string forged = token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  Reply r = Call("POST", "/v1/auth/token/lookup", absl::StrCat(R"({"token":")", forged, R"("})"),
                 root_);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_THAT(r.body, Not(HasSubstr(forged.substr(37))));
  r = Call("POST", "/v1/auth/token/lookup-accessor",
           R"({"accessor":"0123456789abcdef0123456789abcdef"})", root_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Str("errors.0"), "invalid accessor");
  r = Call("POST", "/v1/auth/token/lookup-accessor", "{}", root_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Str("errors.0"), "missing accessor");
  // Self routes need a token.
  access::Principal cert;
  cert.kind = access::Principal::Kind::kCertificate;
  cert.identity = "spiffe://example.org/x";
  EXPECT_EQ(Call("GET", "/v1/auth/token/lookup-self", "", cert).status, 400);
  EXPECT_EQ(Call("POST", "/v1/auth/token/revoke-self", "", cert).status, 400);
}

TEST_F(TokenApiTest, RenewalsAnswerInVaultsAuthShape) {
  const std::string token = MustCreate(R"({"policies":["app"],"ttl":"2h"})", root_);
  access::Principal self = PrincipalOf(token);
  const std::string by_token = absl::StrCat(R"({"token":")", token, R"(","increment":"30m"})");
  const std::string by_accessor =
      absl::StrCat(R"({"accessor":")", self.token_accessor, R"(","increment":600})");
  for (const auto& [path, body, caller, lease] :
       std::vector<std::tuple<std::string, std::string, const access::Principal*, int>>{
           {"renew-self", R"({"increment":"1h"})", &self, 3600},
           {"renew-self", "", &self, 7200},  // the token's own ttl
           {"renew", by_token, &root_, 1800},
           {"renew-accessor", by_accessor, &root_, 600},
           {"renew-self", R"({"increment":"9h"})", &self, 7200},  // never more than its ttl
       }) {
    Reply r = Call("PUT", absl::StrCat("/v1/auth/token/", path), body, *caller);
    ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.Str("auth.accessor"), self.token_accessor);
    EXPECT_EQ(r.Str("auth.policies.0"), "app");
    EXPECT_NEAR(r.Num("auth.lease_duration"), lease, 5) << path << " " << body;
    EXPECT_TRUE(r.Bool("auth.renewable"));
    EXPECT_FALSE(r.Has("auth.client_token"));
    EXPECT_THAT(r.body, Not(HasSubstr(token.substr(37))));
  }
  Reply r = Call("PUT", "/v1/auth/token/renew-self", R"({"increment":"soon"})", self);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Str("errors.0"), StartsWith("increment:"));
  // The root token is not renewable.
  r = Call("PUT", "/v1/auth/token/renew-self", "", root_);
  EXPECT_EQ(r.status, 400);
}

TEST_F(TokenApiTest, RevocationsAre204AndFinal) {
  for (const char* path : {"revoke", "revoke-self", "revoke-accessor"}) {
    const std::string token = MustCreate(R"({"policies":["app"]})", root_);
    access::Principal self = PrincipalOf(token);
    std::string body;
    const access::Principal* caller = &root_;
    if (std::string(path) == "revoke") body = absl::StrCat(R"({"token":")", token, R"("})");
    if (std::string(path) == "revoke-self") caller = &self;
    if (std::string(path) == "revoke-accessor") {
      body = absl::StrCat(R"({"accessor":")", self.token_accessor, R"("})");
    }
    Reply r = Call("POST", absl::StrCat("/v1/auth/token/", path), body, *caller);
    EXPECT_EQ(r.status, 204) << path << ": " << r.body;
    EXPECT_EQ(r.body, "");
    EXPECT_FALSE(store_->Authenticate(token, absl::Now()).ok()) << path;
    EXPECT_FALSE(store_->Lookup(self.token_accessor, absl::Now()).ok()) << path;
  }
  Reply again = Call("POST", "/v1/auth/token/revoke-accessor",
                     R"({"accessor":"0123456789abcdef0123456789abcdef"})", root_);
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(again.Str("errors.0"), "invalid accessor");
}

// What the gate reads for "auth/tokens/{accessor}" before it authenticates anyone: the
// accessor named, or the one a token names; bounded, and never quoting the token.
TEST_F(TokenApiTest, ResourceParamsNameTheTargetAccessor) {
  const std::string token = MustCreate(R"({"policies":["app"]})", root_);
  const std::string accessor = PrincipalOf(token).token_accessor;
  std::map<std::string, const VaultRoute*> by_name;
  for (const VaultRoute& r : routes_) by_name[r.method + " " + r.pattern] = &r;
  auto params = [&](const std::string& route, const std::string& body) {
    HttpRequest request;
    request.body = body;
    return by_name.at(route)->resource_params(request);
  };
  for (const char* path : {"lookup", "renew", "revoke"}) {
    for (const char* verb : {"POST", "PUT"}) {
      const std::string route = absl::StrCat(verb, " /v1/auth/token/", path);
      auto p = params(route, absl::StrCat(R"({"token":")", token, R"("})"));
      ASSERT_TRUE(p.ok()) << route << ": " << p.status();
      EXPECT_EQ(p->at("accessor"), accessor);
      auto bad = params(route, R"({"token":"hvs.not-ours-secret"})");
      EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(bad.status().message(), Not(HasSubstr("not-ours-secret")));
      EXPECT_EQ(params(route, "{}").status().message(), "missing token");
    }
  }
  for (const char* path : {"lookup-accessor", "renew-accessor", "revoke-accessor"}) {
    const std::string route = absl::StrCat("POST /v1/auth/token/", path);
    auto p = params(route, absl::StrCat(R"({"accessor":")", accessor, R"("})"));
    ASSERT_TRUE(p.ok()) << route << ": " << p.status();
    EXPECT_EQ(p->at("accessor"), accessor);
    EXPECT_FALSE(params(route, R"({"accessor":"*"})").ok());
    EXPECT_FALSE(params(route, absl::StrCat(R"({"accessor":")", accessor, R"(","x":")",
                                            std::string(70000, 'a'), R"("})"))
                     .ok())
        << "bounded before authentication";
  }
  for (const char* path : {"create", "create-orphan", "renew-self", "revoke-self"}) {
    EXPECT_EQ(by_name.at(absl::StrCat("POST /v1/auth/token/", path))->resource_params, nullptr);
  }
}

// Counts HMACs the HSM starts (C_SignInit).
class SignCounter final : public hsm::CallObserver {
 public:
  void OnCall(const char* function, CK_RV, absl::Duration) override {
    if (absl::string_view(function) == "C_SignInit") calls.fetch_add(1);
  }
  std::atomic<int> calls{0};
};

// A token named in a request body (lookup, renew, revoke) is checked like a presented one:
// wrong secrets for an accessor the caller knows cost HSM work only as the store's refusal
// budget allows, on this path too.
TEST_F(TokenApiTest, TokensNamedInBodiesAreCheckedWithinTheRefusalBudget) {
  const std::string token = MustCreate(R"({"policies":["app"]})", root_);
  access::TokenStoreOptions options;
  options.refused_token_hmacs_per_second = 2;
  auto metered = access::TokenStore::Open(storage_.get(), hsm_, options);
  ASSERT_TRUE(metered.ok()) << metered.status();
  TokenApi api(metered->get(), [this] { return policies_; });
  HttpRouter router;
  for (VaultRoute& r : api.Routes()) router.Handle(r.method, r.pattern, r.handler);
  SignCounter hsm_work;
  hsm_->SetCallObserver(&hsm_work);
  constexpr int kAttempts = 40;
  int refused = 0;
  for (int i = 0; i < kAttempts; ++i) {
    const std::string wrong =
        token.substr(0, 37) + absl::StrCat(i, std::string(43, 'A')).substr(0, 43);
    HttpRequest request;
    request.method = "POST";
    request.path = i % 2 == 0 ? "/v1/auth/token/lookup" : "/v1/auth/token/revoke";
    request.body = absl::StrCat(R"({"token":")", wrong, R"("})");
    request.principal = &root_;
    Reply r(router.Route(request));
    EXPECT_NE(r.status, 200) << r.body;
    EXPECT_NE(r.status, 204) << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr(wrong.substr(37))));
    ++refused;
  }
  hsm_->SetCallObserver(nullptr);
  EXPECT_EQ(refused, kAttempts);
  // Both budgets' bursts (2 each) and rates over the few seconds the loop takes; unmetered,
  // every attempt cost one HMAC.
  EXPECT_LE(hsm_work.calls.load(), 8) << "HSM HMACs for " << kAttempts << " wrong secrets";
  // The genuine token is still served (once the budget allows).
  absl::SleepFor(absl::Seconds(1));
  EXPECT_TRUE((*metered)->Authenticate(token, absl::Now()).ok());
}

}  // namespace
}  // namespace strongroom::server::vault
