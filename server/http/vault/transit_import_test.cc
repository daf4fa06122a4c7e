// TransitImportApi over the real keyring (SoftHSM + SQLite), called through an HttpRouter
// beside TransitApi: a key wrapped outside with OpenSSL in Vault's format is imported over
// HTTP and is then the key transit encrypts with.
#include "server/http/vault/transit_import.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"
#include "hsm/testing/import_wrap.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/ciphertext.h"
#include "kms/keyring.h"
#include "kms/sqlite_storage.h"
#include "server/http/vault/testing_hsm.h"
#include "kms/transit.h"
#include "server/http/vault/transit.h"

namespace strongroom::server {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Reply {
  int status = 0;
  std::string body;
  Struct json;
  uint32_t key_version = 0;
  std::string Str(const std::string& a, const std::string& b) const {
    auto it = json.fields().find(a);
    if (it == json.fields().end()) return "";
    if (b.empty()) return it->second.string_value();
    auto inner = it->second.struct_value().fields().find(b);
    return inner == it->second.struct_value().fields().end() ? "" : inner->second.string_value();
  }
  std::string Error() const {
    auto it = json.fields().find("errors");
    if (it == json.fields().end() || it->second.list_value().values_size() == 0) return "";
    return it->second.list_value().values(0).string_value();
  }
};

class TransitImportTest : public vault::testing::HsmStorageTest {
 protected:
  // One token (and wrapping key) for the whole binary.
  static void SetUpTestSuite() { SetUpHsm("vault-import"); }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(NewStorage("import-"));
    barrier_ = std::make_unique<kms::Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    keyring_ = std::make_unique<kms::Keyring>(hsm_, storage_.get(), barrier_.get());
    transit_ = std::make_unique<kms::Transit>(keyring_.get(), hsm_);
    import_api_ = std::make_unique<vault::TransitImportApi>(keyring_.get());
    // No listing here (the only route that reads the policies): no PolicySource.
    transit_api_ = std::make_unique<vault::TransitApi>(transit_.get(), hsm_, nullptr);
    for (auto* routes : {new std::vector<vault::VaultRoute>(import_api_->Routes()),
                         new std::vector<vault::VaultRoute>(transit_api_->Routes())}) {
      for (vault::VaultRoute& r : *routes) router_.Handle(r.method, r.pattern, r.handler);
      delete routes;
    }
    Reply wk = Call("GET", "/v1/transit/wrapping_key");
    ASSERT_EQ(wk.status, 200) << wk.body;
    pem_ = wk.Str("data", "public_key");
  }

  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    HttpResponse response = router_.Route(request);
    Reply reply;
    reply.status = response.status;
    reply.body = response.body;
    reply.key_version = response.key_version;
    if (!response.body.empty()) {
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(response.body, &reply.json).ok())
          << response.body;
    }
    return reply;
  }

  std::string Random(size_t n) {
    std::string out(n, '\0');
    EXPECT_TRUE(
        hsm_->GenerateRandom(absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), n)).ok());
    return out;
  }
  // The wrapping key from its PEM, as an importer reads it, and the key wrapped for it.
  std::string WrapB64(const std::string& target, hsm::OaepHash hash = hsm::OaepHash::kSha1) {
    hsm::BioPtr bio(BIO_new_mem_buf(pem_.data(), pem_.size()));
    hsm::EvpPkeyPtr pub(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    EXPECT_TRUE(pub);
    int len = i2d_PUBKEY(pub.get(), nullptr);
    std::string der(len, '\0');
    unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_PUBKEY(pub.get(), &p);
    auto wrapped = hsm::testing::WrapForImport(der, hash, Random(32), target);
    EXPECT_TRUE(wrapped.ok()) << wrapped.status();
    return absl::Base64Escape(wrapped.value_or(""));
  }

  static std::string OpenWithKey(absl::string_view key, const std::string& envelope) {
    absl::StatusOr<kms::Envelope> env = kms::ParseEnvelope(envelope, "ciphertext");
    if (!env.ok() || env->payload.size() < 28) return "<malformed>";
    const std::string& c = env->payload;
    hsm::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    std::string out(c.size(), '\0');
    int len = 0, final_len = 0;
    size_t ct_len = c.size() - 28;
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                           reinterpret_cast<const unsigned char*>(key.data()),
                           reinterpret_cast<const unsigned char*>(c.data())) <= 0 ||
        EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                          reinterpret_cast<const unsigned char*>(c.data()) + 12, ct_len) <= 0 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16,
                            const_cast<char*>(c.data()) + 12 + ct_len) <= 0 ||
        EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len,
                            &final_len) <= 0) {
      return "<does not decrypt>";
    }
    out.resize(len + final_len);
    return out;
  }
  std::string Encrypt(const std::string& key, const std::string& plaintext) {
    Reply r = Call("POST", "/v1/transit/encrypt/" + key,
                   absl::StrCat(R"({"plaintext":")", absl::Base64Escape(plaintext), R"("})"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("data", "ciphertext");
  }

  std::unique_ptr<kms::Barrier> barrier_;
  std::unique_ptr<kms::Keyring> keyring_;
  std::unique_ptr<kms::Transit> transit_;
  std::unique_ptr<vault::TransitImportApi> import_api_;
  std::unique_ptr<vault::TransitApi> transit_api_;
  HttpRouter router_;
  std::string pem_;
};

TEST_F(TransitImportTest, WrappingKeyIsAnRsa4096PublicKeyInPem) {
  EXPECT_THAT(pem_, StartsWith("-----BEGIN PUBLIC KEY-----\n"));
  hsm::BioPtr bio(BIO_new_mem_buf(pem_.data(), pem_.size()));
  hsm::EvpPkeyPtr pub(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(pub);
  EXPECT_EQ(EVP_PKEY_get_bits(pub.get()), 4096);
  // The same key on every read, and under any mount name but the reserved ones.
  EXPECT_EQ(Call("GET", "/v1/other/wrapping_key").Str("data", "public_key"), pem_);
  EXPECT_EQ(Call("GET", "/v1/sys/wrapping_key").status, 404);
}

TEST_F(TransitImportTest, ImportedKeyIsTheOneTransitUsesInBothResidencies) {
  for (const char* residency : {"wrapped", "hsm"}) {
    SCOPED_TRACE(residency);
    std::string key = absl::StrCat("byok-", residency);
    std::string target = Random(32);
    Reply r = Call("POST", absl::StrCat("/v1/transit/keys/", key, "/import"),
                   absl::StrCat(R"({"ciphertext":")", WrapB64(target),
                                R"(","hash_function":"SHA1","residency":")", residency, R"("})"));
    ASSERT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(r.key_version, 1u);
    EXPECT_EQ(OpenWithKey(target, Encrypt(key, "imported")), "imported");

    // import_version (PUT, as Vault's Go client sends) adds v2, which encrypts from now on.
    std::string next = Random(32);
    r = Call("PUT", absl::StrCat("/v1/transit/keys/", key, "/import_version"),
             absl::StrCat(R"({"ciphertext":")", WrapB64(next), R"(","hash_function":"sha1"})"));
    ASSERT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(r.key_version, 2u);
    std::string ct = Encrypt(key, "second");
    EXPECT_THAT(ct, StartsWith("vault:v2:"));
    EXPECT_EQ(OpenWithKey(next, ct), "second");

    // Without allow_rotation, only import_version adds versions.
    r = Call("POST", absl::StrCat("/v1/transit/keys/", key, "/rotate"));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_THAT(r.Error(), HasSubstr("import_version"));
  }
}

TEST_F(TransitImportTest, RefusalsAreVaultErrorsThatNameTheProblem) {
  std::string target = Random(32);
  const std::string good = WrapB64(target);
  struct Case {
    std::string body;
    std::string error;
  } cases[] = {
      {"{}", "ciphertext: required"},
      {R"({"ciphertext":"not base64!"})", "not valid base64"},
      // Vault's default hash is SHA256; SoftHSM 2.6 unwraps OAEP with SHA1 only.
      {absl::StrCat(R"({"ciphertext":")", good, R"("})"), "hash_function"},
      {absl::StrCat(R"({"ciphertext":")", good, R"(","hash_function":"MD5"})"),
       "hash_function: must be"},
      {absl::StrCat(R"({"ciphertext":")", absl::Base64Escape(std::string(600, 'x')),
                    R"(","hash_function":"SHA1"})"),
       "ephemeral key does not unwrap"},
      {absl::StrCat(R"({"ciphertext":")", good, R"(","hash_function":"SHA1","type":"nope"})"),
       "unknown key type"},
      {absl::StrCat(R"({"ciphertext":")", good,
                    R"(","hash_function":"SHA1","convergent_encryption":false})"),
       "convergent"},
      {absl::StrCat(R"({"ciphertext":")", good, R"(","hash_function":"SHA1","exportable":true})"),
       "never leave"},
      {absl::StrCat(R"({"ciphertext":")", good,
                    R"(","hash_function":"SHA1","auto_rotate_period":"24h"})"),
       "allow_rotation"},
      {absl::StrCat(R"({"ciphertext":")", good,
                    R"(","hash_function":"SHA1","type":"ecdsa-p256","residency":"hsm"})"),
       "residency wrapped"},
      {absl::StrCat(R"({"ciphertext":")", good, R"(","hash_function":"SHA1","type":"hmac"})"),
       ""},  // accepted: 32 bytes is an hmac key
      {R"({"public_key":"x"})", "public key alone"},
      {absl::StrCat(R"({"ciphertext":")", std::string(30000, 'A'), R"("})"), "at most"},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body.substr(0, 80));
    Reply r = Call("POST", absl::StrCat("/v1/transit/keys/refused-", ++n, "/import"), c.body);
    if (c.error.empty()) {
      EXPECT_EQ(r.status, 204) << r.body;
      continue;
    }
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_THAT(r.Error(), HasSubstr(c.error));
    EXPECT_EQ(r.body.find(absl::Base64Escape(target)), std::string::npos);
  }
  // An existing key, and import_version of keys that are missing or were not imported.
  Reply r = Call("POST", "/v1/transit/keys/refused-11/import",
                 absl::StrCat(R"({"ciphertext":")", good, R"(","hash_function":"SHA1"})"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.Error(), HasSubstr("import_version"));
  r = Call("POST", "/v1/transit/keys/missing/import_version",
           absl::StrCat(R"({"ciphertext":")", good, R"(","hash_function":"SHA1"})"));
  EXPECT_EQ(r.status, 404) << r.body;
  ASSERT_EQ(Call("POST", "/v1/transit/keys/generated").status, 200);
  r = Call("POST", "/v1/transit/keys/generated/import_version",
           absl::StrCat(R"({"ciphertext":")", good, R"(","hash_function":"SHA1"})"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.Error(), HasSubstr("not imported"));
  r = Call("POST", "/v1/transit/keys/generated/import_version",
           absl::StrCat(R"({"ciphertext":")", good, R"(","version":1})"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.Error(), HasSubstr("version"));
}

}  // namespace
}  // namespace strongroom::server
