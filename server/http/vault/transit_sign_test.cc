// TransitApi's signing routes over the real transit engine: sign, verify (signatures and
// HMACs) and hmac, single and batch; signatures are also checked by OpenSSL against the
// public key the key read returns.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/vault/transit_test_fixture.h"

namespace strongroom::server::vault {
namespace {

using testing::B64;
using ::testing::HasSubstr;
using testing::Payload;
using testing::Reply;
using ::testing::StartsWith;
using testing::TransitApiTest;

bool OpenSslVerifies(const std::string& pem, const std::string& message,
                     const std::string& signature, const EVP_MD* md, int rsa_padding = 0) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key) == 1;
  if (ok && rsa_padding != 0) ok = EVP_PKEY_CTX_set_rsa_padding(pctx, rsa_padding) == 1;
  ok = ok && EVP_DigestVerify(
                 ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                 reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

// r||s (JWS) as a DER ECDSA-Sig-Value.
std::string RawToDer(const std::string& raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  size_t n = raw.size() / 2;
  auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG_set0(sig, BN_bin2bn(in, static_cast<int>(n), nullptr),
                 BN_bin2bn(in + n, static_cast<int>(n), nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

TEST_F(TransitApiTest, HmacWithAlgorithmInPathOrBodyBatchAndVerify) {
  CreateKey("k");
  const std::string input = B64("message");
  Reply r = Call("POST", "/v1/transit/hmac/k", absl::StrCat(R"({"input":")", input, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string mac = r.Str("data.hmac");
  EXPECT_THAT(mac, StartsWith("vault:v1:"));
  EXPECT_EQ(Payload(mac).size(), 32u);
  // The engine's HMAC over gRPC is the same.
  v1::HmacRequest req;
  req.set_key_name("k");
  req.set_input("message");
  EXPECT_EQ(transit_->Hmac(req)->hmac(), mac);

  r = Call("POST", "/v1/transit/hmac/k/sha2-512", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_EQ(Payload(r.Str("data.hmac")).size(), 64u);
  r = Call("POST", "/v1/transit/hmac/k",
           absl::StrCat(R"({"input":")", input, R"(","algorithm":"sha2-384"})"));
  const std::string mac384 = r.Str("data.hmac");
  EXPECT_EQ(Payload(mac384).size(), 48u);

  // verify with the HMAC, with the algorithm in the path or the body.
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"input":")", input, R"(","hmac":")", mac, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("data.valid"));
  r = Call("POST", "/v1/transit/verify/k/sha2-384",
           absl::StrCat(R"({"input":")", input, R"(","hmac":")", mac384, R"("})"));
  EXPECT_TRUE(r.Bool("data.valid")) << r.body;
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"input":")", B64("other"), R"(","hmac":")", mac, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.Bool("data.valid"));

  // Batches: per-item results and errors, references echoed.
  Rotate("k");
  r = Call("POST", "/v1/transit/hmac/k",
           absl::StrCat(R"({"key_version":1,"batch_input":[{"input":")", input,
                        R"(","reference":"a"},{"input":"!!"}]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Str("data.batch_results.0.hmac"), mac);
  EXPECT_EQ(r.Str("data.batch_results.0.reference"), "a");
  EXPECT_THAT(r.Str("data.batch_results.1.error"), HasSubstr("base64"));
  EXPECT_FALSE(r.Has("data.batch_results.1.hmac"));
  r = Call("POST", "/v1/transit/hmac/k", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_THAT(r.Str("data.hmac"), StartsWith("vault:v2:"));
  EXPECT_EQ(r.key_version, 2u);
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"batch_input":[{"input":")", input, R"(","hmac":")", mac,
                        R"("},{"input":")", input, R"(","hmac":"vault:v9:AAAA"}]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("data.batch_results.0.valid"));
  EXPECT_TRUE(r.Has("data.batch_results.1.error"));

  // Errors.
  r = Call("POST", "/v1/transit/hmac/missing", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "encryption key not found");
  r = Call("POST", "/v1/transit/hmac/k/sha2-224", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("sha2-256"));
  r = Call("POST", "/v1/transit/hmac/k", "{}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "missing input for HMAC");
  r = Call("POST", "/v1/transit/hmac/k",
           absl::StrCat(R"({"input":")", input, R"(","key_version":7})"));
  EXPECT_EQ(r.status, 400) << r.body;
  r = Call("POST", "/v1/transit/verify/k", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("neither"));
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"input":")", input, R"(","hmac":")", mac, R"(","signature":"x"})"));
  EXPECT_EQ(r.status, 400);
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"batch_input":[{"input":")", input, R"(","hmac":")", mac,
                        R"("},{"input":")", input, R"("}]})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("missing 'hmac'"));
}

TEST_F(TransitApiTest, EcdsaSignaturesInAsn1AndJwsCheckedByOpenSsl) {
  CreateKey("ec", R"({"type":"ecdsa-p256"})");
  const std::string pem = Call("GET", "/v1/transit/keys/ec").Str("data.keys.1.public_key");
  ASSERT_THAT(pem, StartsWith("-----BEGIN PUBLIC KEY-----"));
  const std::string input = B64("release-1.2.3.tar.gz");

  Reply r = Call("POST", "/v1/transit/sign/ec", absl::StrCat(R"({"input":")", input, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string asn1 = r.Str("data.signature");
  EXPECT_THAT(asn1, StartsWith("vault:v1:"));
  EXPECT_EQ(r.Num("data.key_version"), 1);
  EXPECT_TRUE(OpenSslVerifies(pem, "release-1.2.3.tar.gz", Payload(asn1), EVP_sha256()));

  // JWS: r||s, 64 bytes for P-256, in unpadded base64url.
  r = Call("POST", "/v1/transit/sign/ec/sha2-384",
           absl::StrCat(R"({"input":")", input, R"(","marshaling_algorithm":"jws"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string jws = r.Str("data.signature");
  EXPECT_EQ(jws.find('='), std::string::npos) << jws;
  const std::string raw = Payload(jws, /*url_safe=*/true);
  ASSERT_EQ(raw.size(), 64u);
  EXPECT_TRUE(OpenSslVerifies(pem, "release-1.2.3.tar.gz", RawToDer(raw), EVP_sha384()));

  r = Call("POST", "/v1/transit/verify/ec/sha2-384",
           absl::StrCat(R"({"input":")", input, R"(","signature":")", jws,
                        R"(","marshaling_algorithm":"jws"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("data.valid"));
  r = Call("POST", "/v1/transit/verify/ec",
           absl::StrCat(R"({"input":")", input, R"(","signature":")", asn1, R"("})"));
  EXPECT_TRUE(r.Bool("data.valid")) << r.body;
  // Another message, or the other hash: not valid.
  r = Call(
      "POST", "/v1/transit/verify/ec",
      absl::StrCat(R"({"input":")", B64("release-6.6.6"), R"(","signature":")", asn1, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.Bool("data.valid"));
  r = Call("POST", "/v1/transit/verify/ec",
           absl::StrCat(R"({"input":")", input, R"(","signature":")", jws,
                        R"(","marshaling_algorithm":"jws"})"));
  EXPECT_FALSE(r.Bool("data.valid")) << r.body;

  // Prehashed input: the digest signed is the one of the message.
  std::string digest(32, '\0');
  unsigned int len = 0;
  const std::string message = "release-1.2.3.tar.gz";
  EVP_Digest(message.data(), message.size(), reinterpret_cast<unsigned char*>(digest.data()), &len,
             EVP_sha256(), nullptr);
  r = Call("POST", "/v1/transit/sign/ec",
           absl::StrCat(R"({"input":")", B64(digest), R"(","prehashed":true})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(OpenSslVerifies(pem, message, Payload(r.Str("data.signature")), EVP_sha256()));
}

TEST_F(TransitApiTest, RsaSignatureAlgorithmsAndEd25519) {
  CreateKey("rsa", R"({"type":"rsa-2048"})");
  const std::string pem = Call("GET", "/v1/transit/keys/rsa").Str("data.keys.1.public_key");
  const std::string input = B64("contract");
  Reply pkcs1 =
      Call("POST", "/v1/transit/sign/rsa",
           absl::StrCat(R"({"input":")", input,
                        R"(","hash_algorithm":"sha2-512","signature_algorithm":"pkcs1v15"})"));
  ASSERT_EQ(pkcs1.status, 200) << pkcs1.body;
  const std::string sig = pkcs1.Str("data.signature");
  EXPECT_TRUE(OpenSslVerifies(pem, "contract", Payload(sig), EVP_sha512(), RSA_PKCS1_PADDING));
  Reply pss = Call("POST", "/v1/transit/sign/rsa",
                   absl::StrCat(R"({"input":")", input, R"(","signature_algorithm":"pss"})"));
  ASSERT_EQ(pss.status, 200) << pss.body;
  EXPECT_TRUE(OpenSslVerifies(pem, "contract", Payload(pss.Str("data.signature")), EVP_sha256(),
                              RSA_PKCS1_PSS_PADDING));
  Reply r = Call("POST", "/v1/transit/verify/rsa/sha2-512",
                 absl::StrCat(R"({"input":")", input, R"(","signature":")", sig,
                              R"(","signature_algorithm":"pkcs1v15"})"));
  EXPECT_TRUE(r.Bool("data.valid")) << r.body;
  r = Call("POST", "/v1/transit/verify/rsa/sha2-512",
           absl::StrCat(R"({"input":")", input, R"(","signature":")", sig,
                        R"(","signature_algorithm":"pss"})"));
  EXPECT_FALSE(r.Bool("data.valid")) << r.body;
  r = Call("POST", "/v1/transit/sign/rsa",
           absl::StrCat(R"({"input":")", input, R"(","signature_algorithm":"pkcs9"})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), StartsWith("signature_algorithm:"));

  // Ed25519: Vault ignores hash and signature_algorithm for it; JWS is the same bytes.
  CreateKey("ed", R"({"type":"ed25519"})");
  const std::string ed_pem = Call("GET", "/v1/transit/keys/ed").Str("data.keys.1.public_key");
  r = Call("POST", "/v1/transit/sign/ed",
           absl::StrCat(R"({"input":")", input,
                        R"(","signature_algorithm":"pss","marshaling_algorithm":"jws"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(OpenSslVerifies(ed_pem, "contract", Payload(r.Str("data.signature"), true), nullptr));
}

TEST_F(TransitApiTest, SignBatchesAndErrors) {
  CreateKey("ec", R"({"type":"ecdsa-p384"})");
  Reply r = Call("POST", "/v1/transit/sign/ec",
                 absl::StrCat(R"({"batch_input":[{"input":")", B64("one"),
                              R"(","reference":"r1"},{"input":"%%%"},{"reference":"r3"}]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.Str("data.batch_results.0.signature"), StartsWith("vault:v1:"));
  EXPECT_EQ(r.Str("data.batch_results.0.reference"), "r1");
  EXPECT_EQ(r.Num("data.batch_results.0.key_version"), 1);
  EXPECT_THAT(r.Str("data.batch_results.1.error"), HasSubstr("base64"));
  EXPECT_EQ(r.Str("data.batch_results.2.error"), "missing input");
  EXPECT_EQ(r.Str("data.batch_results.2.reference"), "r3");
  EXPECT_EQ(r.key_version, 1u);
  const std::string sig = r.Str("data.batch_results.0.signature");
  r = Call("POST", "/v1/transit/verify/ec",
           absl::StrCat(R"({"batch_input":[{"input":")", B64("one"), R"(","signature":")", sig,
                        R"("},{"input":")", B64("two"), R"(","signature":")", sig,
                        R"("},{"input":")", B64("one"), R"(","signature":"vault:v1:@@"}]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("data.batch_results.0.valid"));
  EXPECT_FALSE(r.Bool("data.batch_results.1.valid"));
  EXPECT_TRUE(r.Has("data.batch_results.2.error"));

  CreateKey("aes");
  r = Call("POST", "/v1/transit/sign/aes", absl::StrCat(R"({"input":")", B64("x"), R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "key type aes256-gcm96 does not support signing");
  r = Call("POST", "/v1/transit/sign/missing", absl::StrCat(R"({"input":")", B64("x"), R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "signing key not found");
  r = Call("POST", "/v1/transit/verify/missing",
           absl::StrCat(R"({"input":")", B64("x"), R"(","signature":")", sig, R"("})"));
  EXPECT_EQ(r.Error(), "signature verification key not found");
  for (const char* body :
       {R"({"input":"eA==","marshaling_algorithm":"der"})",
        R"({"input":"eA==","hash_algorithm":"sha1"})", R"({"input":"eA==","salt_length":"17"})",
        R"({"input":"eA==","key_version":3})", R"({"batch_input":[]})", R"({"batch_input":["x"]})",
        "{}"}) {
    r = Call("POST", "/v1/transit/sign/ec", body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
  }
  // Too many items for one request.
  std::string many = R"({"batch_input":[)";
  for (int i = 0; i <= 10000; ++i) absl::StrAppend(&many, i ? "," : "", R"({"input":""})");
  r = Call("POST", "/v1/transit/sign/ec", many + "]}");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("an array or object of more than 10000 items"));
}

}  // namespace
}  // namespace strongroom::server::vault
