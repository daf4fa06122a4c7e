#include "server/jose/jose.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::server::jose {
namespace {

hsm::EvpPkeyPtr Generate(const char* type, const char* param) {
  if (std::string(type) == "RSA") {
    return hsm::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  }
  if (std::string(type) == "EC") return hsm::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", param));
  return hsm::EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
}

// Signs as a JOSE signer would: ECDSA as fixed-size R||S, PSS with a digest-long salt.
std::string Sign(EVP_PKEY* key, Algorithm alg, const std::string& input) {
  const EVP_MD* md = nullptr;
  switch (alg) {
    case Algorithm::kRs256: case Algorithm::kPs256: case Algorithm::kEs256: md = EVP_sha256(); break;
    case Algorithm::kRs384: case Algorithm::kPs384: case Algorithm::kEs384: md = EVP_sha384(); break;
    case Algorithm::kRs512: case Algorithm::kPs512: case Algorithm::kEs512: md = EVP_sha512(); break;
    case Algorithm::kEdDsa: break;
  }
  hsm::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key), 1);
  if (alg == Algorithm::kPs256 || alg == Algorithm::kPs384 || alg == Algorithm::kPs512) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                           input.size()),
            1);
  sig.resize(len);
  if (alg != Algorithm::kEs256 && alg != Algorithm::kEs384 && alg != Algorithm::kEs512) {
    return sig;
  }
  size_t n = alg == Algorithm::kEs256 ? 32 : alg == Algorithm::kEs384 ? 48 : 66;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
  hsm::EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &p, sig.size()));
  std::string raw(2 * n, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), reinterpret_cast<unsigned char*>(raw.data()), n);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), reinterpret_cast<unsigned char*>(raw.data()) + n,
               n);
  return raw;
}

std::string Sha256B64(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return Base64UrlEncode(std::string(reinterpret_cast<char*>(d), sizeof(d)));
}

std::string CompactJwt(EVP_PKEY* key, Algorithm alg, const std::string& header_json,
                       const std::string& payload) {
  std::string input =
      absl::StrCat(Base64UrlEncode(header_json), ".", Base64UrlEncode(payload));
  return absl::StrCat(input, ".", Base64UrlEncode(Sign(key, alg, input)));
}

TEST(Base64UrlTest, RoundTripsAndRefusesOtherSpellings) {
  std::string out;
  for (std::string s : {std::string(""), std::string("f"), std::string("fo"),
                        std::string("\xff\xfe\x00", 3)}) {
    ASSERT_TRUE(Base64UrlDecode(Base64UrlEncode(s), &out));
    EXPECT_EQ(out, s);
  }
  EXPECT_FALSE(Base64UrlDecode("Zg==", &out));   // padding
  EXPECT_FALSE(Base64UrlDecode("+/8", &out));    // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm 8", &out));   // whitespace
  EXPECT_FALSE(Base64UrlDecode("Zh", &out));     // non-zero trailing bits ("Zg" is canonical)
  EXPECT_FALSE(Base64UrlDecode("Z", &out));      // impossible length
}

TEST(AlgorithmTest, NoneAndHmacAreRefusedByName) {
  EXPECT_FALSE(ParseAlgorithm("none").ok());
  EXPECT_FALSE(ParseAlgorithm("HS256").ok());
  EXPECT_FALSE(ParseAlgorithm("es256").ok());
  for (const char* name : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                           "ES384", "ES512", "EdDSA"}) {
    absl::StatusOr<Algorithm> alg = ParseAlgorithm(name);
    ASSERT_TRUE(alg.ok()) << name;
    EXPECT_EQ(AlgorithmName(*alg), name);
  }
}

struct KeyCase {
  const char* type;
  const char* param;
  std::vector<Algorithm> algs;
  Algorithm foreign;  // an algorithm of another key type
};

class PublicJwkTest : public ::testing::TestWithParam<KeyCase> {};

TEST_P(PublicJwkTest, VerifiesItsAlgorithmsOnlyAndRoundTripsThroughJson) {
  const KeyCase& c = GetParam();
  hsm::EvpPkeyPtr key = Generate(c.type, c.param);
  ASSERT_NE(key, nullptr);
  absl::StatusOr<PublicJwk> jwk = PublicJwk::FromEvpPkey(key.get());
  ASSERT_TRUE(jwk.ok()) << jwk.status();
  EXPECT_EQ(jwk->thumbprint(), Sha256B64(jwk->canonical_json()));

  absl::StatusOr<PublicJwk> again = PublicJwk::FromJson(jwk->canonical_json());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->SameKey(*jwk));

  // The same key through PEM.
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), key.get()), 1);
  char* pem = nullptr;
  long len = BIO_get_mem_data(bio.get(), &pem);
  absl::StatusOr<PublicJwk> from_pem = PublicJwk::FromPem(std::string(pem, len));
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  EXPECT_TRUE(from_pem->SameKey(*jwk));

  const std::string input = "eyJhbGciOiJ4In0.cGF5bG9hZA";
  for (Algorithm alg : c.algs) {
    std::string sig = Sign(key.get(), alg, input);
    EXPECT_TRUE(jwk->Accepts(alg)) << AlgorithmName(alg);
    EXPECT_TRUE(jwk->Verify(alg, input, sig)) << AlgorithmName(alg);
    EXPECT_FALSE(jwk->Verify(alg, input + "x", sig)) << AlgorithmName(alg);
    std::string bad = sig;
    bad[bad.size() / 2] ^= 1;
    EXPECT_FALSE(jwk->Verify(alg, input, bad)) << AlgorithmName(alg);
    EXPECT_FALSE(jwk->Verify(alg, input, sig.substr(1))) << AlgorithmName(alg);
    EXPECT_FALSE(jwk->Verify(alg, input, "")) << AlgorithmName(alg);
  }
  EXPECT_FALSE(jwk->Accepts(c.foreign));
  EXPECT_FALSE(jwk->Verify(c.foreign, input, Sign(key.get(), c.algs[0], input)));
}

INSTANTIATE_TEST_SUITE_P(
    Keys, PublicJwkTest,
    ::testing::Values(
        KeyCase{"RSA", nullptr,
                {Algorithm::kRs256, Algorithm::kRs384, Algorithm::kRs512, Algorithm::kPs256,
                 Algorithm::kPs384, Algorithm::kPs512},
                Algorithm::kEs256},
        KeyCase{"EC", "P-256", {Algorithm::kEs256}, Algorithm::kEs384},
        KeyCase{"EC", "P-384", {Algorithm::kEs384}, Algorithm::kEs256},
        KeyCase{"EC", "P-521", {Algorithm::kEs512}, Algorithm::kRs256},
        KeyCase{"ED25519", nullptr, {Algorithm::kEdDsa}, Algorithm::kEs256}));

TEST(PublicJwkTest, ThumbprintIgnoresMemberOrderAndExtraMembers) {
  hsm::EvpPkeyPtr key = Generate("EC", "P-256");
  absl::StatusOr<PublicJwk> jwk = PublicJwk::FromEvpPkey(key.get());
  ASSERT_TRUE(jwk.ok());
  // {"crv":..,"kty":..,"x":..,"y":..} reordered, with kid/use/alg added and whitespace.
  std::string json = jwk->canonical_json();
  std::string reordered = absl::StrReplaceAll(
      json, {{"{\"crv\"", "{ \"use\": \"sig\", \"kid\": \"k1\", \"alg\": \"ES256\",\n \"crv\""}});
  absl::StatusOr<PublicJwk> other = PublicJwk::FromJson(reordered);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->thumbprint(), jwk->thumbprint());
  EXPECT_EQ(other->kid(), "k1");
  EXPECT_TRUE(other->Accepts(Algorithm::kEs256));
  // A JWK's "alg" restricts it.
  absl::StatusOr<PublicJwk> pinned = PublicJwk::FromJson(absl::StrReplaceAll(
      json, {{"{\"crv\"", "{\"alg\":\"ES384\",\"crv\""}}));
  ASSERT_TRUE(pinned.ok());
  EXPECT_FALSE(pinned->Accepts(Algorithm::kEs256));
}

TEST(PublicJwkTest, RefusesPrivateWeakAndMalformedKeys) {
  hsm::EvpPkeyPtr ec = Generate("EC", "P-256");
  std::string json = PublicJwk::FromEvpPkey(ec.get())->canonical_json();
  auto with = [&](const std::string& extra) {
    return PublicJwk::FromJson(absl::StrReplaceAll(json, {{"{", absl::StrCat("{", extra)}}));
  };
  EXPECT_FALSE(with("\"d\":\"AAAA\",").ok());
  EXPECT_FALSE(PublicJwk::FromJson(R"({"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"})").ok());
  // A point not on the curve: (1, 1).
  std::string one(31, '\0');
  one.push_back('\1');
  EXPECT_FALSE(PublicJwk::FromJson(absl::StrCat(R"({"kty":"EC","crv":"P-256","x":")",
                                                Base64UrlEncode(one), R"(","y":")",
                                                Base64UrlEncode(one), R"("})"))
                   .ok());
  EXPECT_FALSE(PublicJwk::FromJson(R"({"kty":"oct","k":"AAAA"})").ok());
  EXPECT_FALSE(PublicJwk::FromJson(R"({"kty":"OKP","crv":"X25519","x":"AAAA"})").ok());
  EXPECT_FALSE(PublicJwk::FromJson(R"({"kty":"EC","crv":"P-256","x":1,"y":2})").ok());
  EXPECT_FALSE(PublicJwk::FromJson("[1]").ok());
  EXPECT_FALSE(PublicJwk::FromJson(std::string(kMaxJoseInput + 1, ' ')).ok());
  hsm::EvpPkeyPtr rsa1024(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  EXPECT_FALSE(PublicJwk::FromEvpPkey(rsa1024.get()).ok());
}

TEST(JwksTest, SkipsForeignKeysAndRefusesMalformedOnes) {
  hsm::EvpPkeyPtr a = Generate("EC", "P-256");
  hsm::EvpPkeyPtr b = Generate("ED25519", nullptr);
  std::string ja = PublicJwk::FromEvpPkey(a.get())->canonical_json();
  std::string jb = PublicJwk::FromEvpPkey(b.get())->canonical_json();
  std::string enc = absl::StrReplaceAll(ja, {{"{", "{\"use\":\"enc\","}});
  absl::StatusOr<std::vector<PublicJwk>> set = ParseJwks(absl::StrCat(
      R"({"keys":[)", ja, ",", jb, ",", enc, R"(,{"kty":"oct","k":"AAAA"}]})"));
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 2u);
  EXPECT_TRUE((*set)[1].Accepts(Algorithm::kEdDsa));
  EXPECT_FALSE(ParseJwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AA"}]})").ok());
  EXPECT_FALSE(ParseJwks(R"({"keys":{}})").ok());
  std::string many = R"({"keys":[)";
  for (int i = 0; i < 101; ++i) absl::StrAppend(&many, i ? "," : "", jb);
  EXPECT_FALSE(ParseJwks(many + "]}").ok());
}

TEST(CompactTest, ParsesAndVerifiesAJwt) {
  hsm::EvpPkeyPtr key = Generate("EC", "P-256");
  std::string jwt = CompactJwt(key.get(), Algorithm::kEs256, R"({"alg":"ES256","kid":"a"})",
                               R"({"sub":"x"})");
  absl::StatusOr<Jws> jws = ParseCompact(jwt);
  ASSERT_TRUE(jws.ok()) << jws.status();
  EXPECT_EQ(jws->alg, Algorithm::kEs256);
  EXPECT_EQ(jws->payload, R"({"sub":"x"})");
  EXPECT_EQ(jws->header.fields().at("kid").string_value(), "a");
  EXPECT_TRUE(PublicJwk::FromEvpPkey(key.get())->Verify(jws->alg, jws->signing_input,
                                                        jws->signature));
}

TEST(CompactTest, RefusesUnusableHeadersAndShapes) {
  hsm::EvpPkeyPtr key = Generate("EC", "P-256");
  auto jwt = [&](const std::string& header) {
    return CompactJwt(key.get(), Algorithm::kEs256, header, "{}");
  };
  EXPECT_FALSE(ParseCompact(jwt(R"({"alg":"none"})")).ok());
  EXPECT_FALSE(ParseCompact(jwt(R"({"alg":"HS256"})")).ok());
  EXPECT_FALSE(ParseCompact(jwt(R"({"typ":"JWT"})")).ok());
  EXPECT_FALSE(ParseCompact(jwt(R"({"alg":"ES256","crit":["exp"]})")).ok());
  EXPECT_FALSE(ParseCompact(jwt("[]")).ok());
  EXPECT_FALSE(ParseCompact(absl::StrCat(Base64UrlEncode(R"({"alg":"none"})"), ".e30.")).ok());
  EXPECT_FALSE(ParseCompact("a.b").ok());
  EXPECT_FALSE(ParseCompact("a.b.c.d").ok());
  std::string deep(100, '[');
  EXPECT_FALSE(ParseCompact(absl::StrCat(Base64UrlEncode(deep), ".e30.AAAA")).ok());
}

TEST(FlattenedTest, ParsesAcmeShapes) {
  hsm::EvpPkeyPtr key = Generate("EC", "P-256");
  std::string prot = Base64UrlEncode(R"({"alg":"ES256","nonce":"n","url":"u"})");
  std::string input = prot + ".";
  std::string sig = Base64UrlEncode(Sign(key.get(), Algorithm::kEs256, input));
  absl::StatusOr<Jws> jws = ParseFlattened(
      absl::StrCat(R"({"protected":")", prot, R"(","payload":"","signature":")", sig, R"("})"));
  ASSERT_TRUE(jws.ok()) << jws.status();
  EXPECT_TRUE(jws->payload_empty);
  EXPECT_EQ(jws->signing_input, input);
  EXPECT_TRUE(PublicJwk::FromEvpPkey(key.get())->Verify(jws->alg, jws->signing_input,
                                                        jws->signature));
  EXPECT_FALSE(ParseFlattened(absl::StrCat(R"({"protected":")", prot,
                                           R"(","header":{},"payload":"","signature":")", sig,
                                           R"("})"))
                   .ok());
  EXPECT_FALSE(ParseFlattened(absl::StrCat(R"({"protected":")", prot, R"(","signature":")", sig,
                                           R"("})"))
                   .ok());
  EXPECT_FALSE(ParseFlattened(absl::StrCat(R"({"protected":")", prot,
                                           R"(","payload":7,"signature":")", sig, R"("})"))
                   .ok());
  EXPECT_FALSE(ParseFlattened("not json").ok());
}

}  // namespace
}  // namespace strongroom::server::jose
