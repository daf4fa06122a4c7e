// JwtAuth: every refusal of Verify, Compile's checks, and IssuerKeys' remote caching,
// rotation, refetch bound and stale bound (with a fetcher that serves JWK Sets from memory;
// the real HTTPS fetch is exercised by tests/jwt_e2e_test). JWTs are signed here with
// Ed25519 keys through OpenSSL.
#include "server/access/jwt/jwt_auth.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::server::access::jwt {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
constexpr char kIss[] = "https://kubernetes.default.svc";

struct Key {
  hsm::EvpPkeyPtr pkey;
  std::string kid;

  static Key Make(std::string kid) {
    return Key{hsm::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")), std::move(kid)};
  }
  // {"kid":...,"crv":...,"kty":"OKP","x":...}
  std::string Jwk() const {
    absl::StatusOr<jose::PublicJwk> jwk = jose::PublicJwk::FromEvpPkey(pkey.get());
    EXPECT_TRUE(jwk.ok()) << jwk.status();
    return absl::StrCat("{\"kid\":\"", kid, "\",", jwk->canonical_json().substr(1));
  }
  std::string Sign(const std::string& header, const std::string& claims) const {
    const std::string input =
        absl::StrCat(jose::Base64UrlEncode(header), ".", jose::Base64UrlEncode(claims));
    hsm::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    unsigned char sig[64];
    size_t len = sizeof(sig);
    EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()), 1);
    EXPECT_EQ(EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
              1);
    return absl::StrCat(input, ".",
                        jose::Base64UrlEncode(absl::string_view(reinterpret_cast<char*>(sig), len)));
  }
  std::string Jwt(const std::string& claims) const {
    return Sign(absl::StrCat(R"({"alg":"EdDSA","typ":"JWT","kid":")", kid, R"("})"), claims);
  }
};

std::string Jwks(const std::vector<const Key*>& keys) {
  std::string out = "{\"keys\":[";
  for (size_t i = 0; i < keys.size(); ++i) absl::StrAppend(&out, i ? "," : "", keys[i]->Jwk());
  return out + "]}";
}

std::string Claims(const std::string& extra = "", int64_t exp = 1700000600,
                   const std::string& aud = "strongroom", const std::string& ns = "payments") {
  return absl::StrCat(R"({"iss":")", kIss, R"(","aud":")", aud, R"(","exp":)", exp,
                      R"(,"iat":1700000000,"sub":"system:serviceaccount:)", ns,
                      R"(:api","kubernetes.io":{"namespace":")", ns, "\"}", extra, "}");
}

// The config: policies "payments" and "other", issuer "k8s" (its keys set by the test), role
// "payments-api".
v1::AuthConfig Config(const v1::JwtIssuer& issuer) {
  v1::AuthConfig auth;
  auth.mutable_max_token_ttl()->set_seconds(768 * 3600);
  for (const char* name : {"payments", "other"}) {
    v1::Policy* p = auth.add_policies();
    p->set_name(name);
    p->add_rules()->set_resource(absl::StrCat("transit/keys/", name));
    p->mutable_rules(0)->add_operations("encrypt");
  }
  *auth.mutable_jwt()->add_issuers() = issuer;
  v1::JwtRole* role = auth.mutable_jwt()->add_roles();
  role->set_name("payments-api");
  role->set_issuer("k8s");
  role->add_bound_audiences("strongroom");
  role->add_bound_subjects("system:serviceaccount:payments:*");
  v1::JwtClaimBinding* ns = role->add_bound_claims();
  ns->set_claim("kubernetes.io/namespace");
  ns->add_values("payments");
  role->add_policies("payments");
  return auth;
}

v1::JwtIssuer Issuer() {
  v1::JwtIssuer issuer;
  issuer.set_name("k8s");
  issuer.set_issuer(kIss);
  issuer.add_algorithms("EdDSA");
  return issuer;
}

absl::StatusOr<std::shared_ptr<const JwtAuth>> Compile(const v1::AuthConfig& config,
                                                       Fetcher fetch = nullptr) {
  auto policies = PolicySet::Compile(config, "");
  EXPECT_TRUE(policies.ok()) << policies.status();
  return JwtAuth::Compile(config, **policies, nullptr, std::move(fetch));
}

class JwtAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::JwtIssuer issuer = Issuer();
    issuer.add_public_keys_pem(Pem(key_));
    auto auth = Compile(Config(issuer));
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = *std::move(auth);
  }

  static std::string Pem(const Key& key) {
    hsm::BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_PUBKEY(bio.get(), key.pkey.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, n);
  }

  // Expects Verify to refuse `jwt` with `code`, its reason holding `reason`.
  void ExpectRefused(const std::string& jwt, absl::string_view reason,
                     const std::string& role = "payments-api",
                     absl::StatusCode code = absl::StatusCode::kPermissionDenied) {
    absl::StatusOr<JwtAuth::Verified> v = auth_->Verify(role, jwt, kNow);
    ASSERT_FALSE(v.ok()) << reason;
    EXPECT_EQ(v.status().code(), code) << v.status();
    EXPECT_NE(v.status().message().find(reason), absl::string_view::npos) << v.status();
    EXPECT_EQ(v.status().message().find(jwt), absl::string_view::npos);
  }

  Key key_ = Key::Make("");
  std::shared_ptr<const JwtAuth> auth_;
};

TEST_F(JwtAuthTest, VerifiedLoginGetsTheRolesPoliciesAndIdentity) {
  absl::StatusOr<JwtAuth::Verified> v = auth_->Verify("payments-api", key_.Jwt(Claims()), kNow);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->Identity(), "jwt:https://kubernetes.default.svc#system:serviceaccount:payments:api");
  ASSERT_EQ(v->token.policies_size(), 1);
  EXPECT_EQ(v->token.policies(0), "payments");
  EXPECT_EQ(v->token.ttl().seconds(), 15 * 60);
  EXPECT_EQ(v->token.explicit_max_ttl().seconds(), 3600);
  EXPECT_EQ(v->token.display_name(), "jwt-payments-api");
}

TEST_F(JwtAuthTest, EveryRefusalNamesItsReason) {
  const std::string claims = Claims();
  const std::string body = absl::StrCat(jose::Base64UrlEncode(R"({"alg":"none"})"), ".",
                                        jose::Base64UrlEncode(claims));
  ExpectRefused(body + ".", "malformed JWT");
  ExpectRefused(absl::StrCat(jose::Base64UrlEncode(R"({"alg":"HS256"})"), ".",
                             jose::Base64UrlEncode(claims), ".AAAA"),
                "malformed JWT");
  ExpectRefused("not a jwt", "malformed JWT");
  ExpectRefused(key_.Jwt(Claims("", 1700000600, "vault")), "\"aud\"");
  ExpectRefused(key_.Jwt(Claims("", 1699999000)), "expired");
  ExpectRefused(key_.Jwt(Claims(R"(,"nbf":1700001000)")), "not valid yet");
  ExpectRefused(key_.Jwt(Claims("", 1700000600, "strongroom", "billing")), "\"sub\"");
  ExpectRefused(key_.Jwt(R"({"iss":"https://other","aud":"strongroom","exp":1700000600,"sub":"x"})"),
                "\"iss\"");
  ExpectRefused(key_.Jwt(R"({"iss":"https://kubernetes.default.svc","aud":"strongroom","exp":1700000600})"),
                "\"sub\"");
  ExpectRefused(Key::Make("").Jwt(claims), "bad signature");
  ExpectRefused(key_.Jwt(claims), "no such role", "no-such-role");
  // ES256 is a fine algorithm, but not this issuer's (and not this key's).
  ExpectRefused(key_.Sign(R"({"alg":"ES256"})", claims), "algorithm ES256");
  // The claim binding, with a subject that matches.
  v1::JwtIssuer issuer = Issuer();
  issuer.add_public_keys_pem(Pem(key_));
  v1::AuthConfig config = Config(issuer);
  config.mutable_jwt()->mutable_roles(0)->clear_bound_subjects();
  auth_ = *Compile(config);
  ExpectRefused(key_.Jwt(Claims("", 1700000600, "strongroom", "billing")),
                "claim \"kubernetes.io/namespace\"");
}

TEST_F(JwtAuthTest, CompileRefusesBadConfigsNamingTheField) {
  struct Case {
    std::function<void(v1::AuthConfig&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](v1::AuthConfig& c) { c.mutable_jwt()->mutable_roles(0)->add_policies("root"); },
       "auth.jwt.roles[payments-api].policies"},
      {[](v1::AuthConfig& c) { c.mutable_jwt()->mutable_roles(0)->add_policies("nope"); },
       "auth.jwt.roles[payments-api].policies"},
      {[](v1::AuthConfig& c) { c.mutable_jwt()->mutable_roles(0)->set_issuer("gh"); },
       "auth.jwt.roles[payments-api].issuer"},
      {[](v1::AuthConfig& c) {
         c.mutable_jwt()->mutable_roles(0)->mutable_token_ttl()->set_seconds(7200);
         c.mutable_jwt()->mutable_roles(0)->mutable_token_max_ttl()->set_seconds(3600);
       },
       "auth.jwt.roles[payments-api].token_ttl"},
      {[](v1::AuthConfig& c) { c.mutable_jwt()->mutable_issuers(0)->set_jwks_url("https://x/"); },
       "auth.jwt.issuers[k8s]: set exactly one"},
      {[](v1::AuthConfig& c) { c.mutable_jwt()->mutable_issuers(0)->add_algorithms("HS256"); },
       "auth.jwt.issuers[k8s].algorithms"},
      {[](v1::AuthConfig& c) { c.mutable_jwt()->mutable_issuers(0)->add_algorithms("none"); },
       "auth.jwt.issuers[k8s].algorithms"},
      {[](v1::AuthConfig& c) {
         c.mutable_jwt()->mutable_issuers(0)->mutable_clock_skew()->set_seconds(3600);
       },
       "auth.jwt.issuers[k8s].clock_skew"},
      {[](v1::AuthConfig& c) { *c.mutable_jwt()->add_roles() = c.jwt().roles(0); },
       "auth.jwt.roles[payments-api]: defined twice"},
  };
  for (const Case& c : cases) {
    v1::JwtIssuer issuer = Issuer();
    issuer.add_public_keys_pem(Pem(key_));
    v1::AuthConfig config = Config(issuer);
    c.edit(config);
    absl::StatusOr<std::shared_ptr<const JwtAuth>> auth = Compile(config);
    ASSERT_FALSE(auth.ok()) << c.field;
    EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(auth.status().message().find(c.field), absl::string_view::npos) << auth.status();
  }
}

// A JWKS URL served from memory, counting fetches.
struct FakeIssuer {
  std::map<std::string, std::string> documents;
  int fetches = 0;
  Fetcher fetcher() {
    return [this](absl::string_view url) -> absl::StatusOr<std::string> {
      ++fetches;
      auto it = documents.find(std::string(url));
      if (it == documents.end()) return absl::UnavailableError("connect: refused");
      return it->second;
    };
  }
};

TEST(IssuerKeysTest, RemoteKeysAreCachedRotatedAndBoundedWhenStale) {
  Key k1 = Key::Make("k1"), k2 = Key::Make("k2");
  FakeIssuer web;
  web.documents["https://issuer/jwks"] = Jwks({&k1});
  v1::JwtIssuer issuer = Issuer();
  issuer.set_jwks_url("https://issuer/jwks");
  issuer.mutable_jwks_refresh_interval()->set_seconds(3600);
  issuer.mutable_jwks_max_stale()->set_seconds(7200);
  auto auth = Compile(Config(issuer), web.fetcher());
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(web.fetches, 0);  // fetched on first use
  absl::Time t = kNow;
  ASSERT_TRUE((*auth)->Verify("payments-api", k1.Jwt(Claims()), t).ok());
  ASSERT_TRUE((*auth)->Verify("payments-api", k1.Jwt(Claims()), t + absl::Seconds(1)).ok());
  EXPECT_EQ(web.fetches, 1);
  // Rotation: k2 appears; a JWT naming it refetches at once (past kMinRefetch).
  web.documents["https://issuer/jwks"] = Jwks({&k1, &k2});
  t += IssuerKeys::kMinRefetch;
  ASSERT_TRUE((*auth)->Verify("payments-api", k2.Jwt(Claims()), t).ok());
  EXPECT_EQ(web.fetches, 2);
  // Made-up kids within kMinRefetch: refused without fetching.
  Key k3 = Key::Make("k3");
  EXPECT_EQ((*auth)->Verify("payments-api", k3.Jwt(Claims()), t + absl::Seconds(1)).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(web.fetches, 2);
  // The issuer goes away: the cached set serves until refresh + max_stale, then UNAVAILABLE.
  web.documents.clear();
  const std::string late_claims = Claims("", absl::ToUnixSeconds(t) + 20000);
  EXPECT_TRUE((*auth)->Verify("payments-api", k1.Jwt(late_claims), t + absl::Hours(2)).ok());
  EXPECT_EQ(web.fetches, 3);
  absl::StatusOr<JwtAuth::Verified> stale =
      (*auth)->Verify("payments-api", k1.Jwt(late_claims), t + absl::Hours(3) + absl::Seconds(1));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kUnavailable) << stale.status();
}

TEST(IssuerKeysTest, DiscoveryMustNameTheIssuer) {
  Key k1 = Key::Make("k1");
  FakeIssuer web;
  web.documents["https://issuer/.well-known/openid-configuration"] =
      absl::StrCat(R"({"issuer":"https://evil","jwks_uri":"https://issuer/jwks"})");
  web.documents["https://issuer/jwks"] = Jwks({&k1});
  v1::JwtIssuer issuer = Issuer();
  issuer.set_discovery_url("https://issuer/.well-known/openid-configuration");
  auto auth = Compile(Config(issuer), web.fetcher());
  ASSERT_TRUE(auth.ok()) << auth.status();
  absl::StatusOr<JwtAuth::Verified> v = (*auth)->Verify("payments-api", k1.Jwt(Claims()), kNow);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(v.status().message().find("\"issuer\""), absl::string_view::npos) << v.status();
  web.documents["https://issuer/.well-known/openid-configuration"] =
      absl::StrCat(R"({"issuer":")", kIss, R"(","jwks_uri":"https://issuer/jwks"})");
  auth = Compile(Config(issuer), web.fetcher());
  EXPECT_TRUE((*auth)->Verify("payments-api", k1.Jwt(Claims()), kNow).ok());
}

}  // namespace
}  // namespace strongroom::server::access::jwt
