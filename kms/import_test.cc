// BYOK import through the keyring and the transit engine: keys wrapped outside (OpenSSL,
// Vault's format) are the keys used afterwards, whichever their residency.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"
#include "hsm/testing/import_wrap.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/ciphertext.h"
#include "kms/keyring.h"
#include "kms/sqlite_storage.h"
#include "kms/transit.h"

namespace strongroom::kms {
namespace {

using hsm::testing::SoftHsmToken;
using ::testing::HasSubstr;

class ImportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (token_ != nullptr) return;  // One token (and one wrapping key) for the binary.
    auto token = SoftHsmToken::Create("import");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new SoftHsmToken(*std::move(token));
    auto hsm = hsm::Hsm::Open(token_->Options());
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    hsm_ = hsm->release();
  }

  void SetUp() override {
    static int n = 0;
    auto storage = SqliteStorage::Open(absl::StrCat(token_->dir, "/import-", ++n, ".db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    barrier_ = std::make_unique<Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    keyring_ = std::make_unique<Keyring>(hsm_, storage_.get(), barrier_.get());
    transit_ = std::make_unique<Transit>(keyring_.get(), hsm_);
    absl::StatusOr<std::string> der = keyring_->ImportWrappingKeyDer();
    ASSERT_TRUE(der.ok()) << der.status();
    wrapping_der_ = *der;
  }

  std::string Random(size_t n) {
    std::string out(n, '\0');
    EXPECT_TRUE(
        hsm_->GenerateRandom(absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), n)).ok());
    return out;
  }
  WrappedKeyImport Wrap(absl::string_view target) {
    WrappedKeyImport w;
    w.hash = hsm::OaepHash::kSha1;  // SoftHSM 2.6 does OAEP with SHA-1 only
    absl::StatusOr<std::string> c =
        hsm::testing::WrapForImport(wrapping_der_, w.hash, Random(32), target);
    EXPECT_TRUE(c.ok()) << c.status();
    w.ciphertext = c.value_or("");
    return w;
  }
  absl::StatusOr<std::shared_ptr<const TransitKey>> Import(
      const std::string& name, absl::string_view target, KeyType type = KeyType::kAes256Gcm,
      Residency residency = Residency::kWrapped, bool allow_rotation = false) {
    ImportKeyOptions o;
    o.key.name = name;
    o.key.type = type;
    o.key.residency = residency;
    o.allow_rotation = allow_rotation;
    return keyring_->Import(o, Wrap(target));
  }
  std::string EncryptOne(const std::string& key, const std::string& plaintext) {
    v1::EncryptRequest req;
    req.set_key_name(key);
    req.add_items()->set_plaintext(plaintext);
    auto resp = transit_->Encrypt(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    if (!resp.ok()) return "";
    EXPECT_EQ(resp->results(0).error().code(), 0) << resp->results(0).error().message();
    return resp->results(0).ciphertext();
  }
  // Opens "vault:vN:base64(nonce || ct || tag)" with OpenSSL and the original key bytes.
  static std::string OpenWithKey(absl::string_view key, absl::string_view envelope,
                                 uint32_t* version) {
    absl::StatusOr<Envelope> env = ParseEnvelope(envelope, "ciphertext");
    if (!env.ok() || env->payload.size() < 28) return "<malformed>";
    *version = env->version;
    const std::string& p = env->payload;
    hsm::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    std::string out(p.size(), '\0');
    int len = 0, final_len = 0;
    size_t ct_len = p.size() - 12 - 16;
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                           reinterpret_cast<const unsigned char*>(key.data()),
                           reinterpret_cast<const unsigned char*>(p.data())) <= 0 ||
        EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                          reinterpret_cast<const unsigned char*>(p.data()) + 12, ct_len) <= 0 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16,
                            const_cast<char*>(p.data()) + 12 + ct_len) <= 0 ||
        EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len,
                            &final_len) <= 0) {
      return "<does not decrypt>";
    }
    out.resize(len + final_len);
    return out;
  }

  static SoftHsmToken* token_;
  static hsm::Hsm* hsm_;
  std::unique_ptr<SqliteStorage> storage_;
  std::unique_ptr<Barrier> barrier_;
  std::unique_ptr<Keyring> keyring_;
  std::unique_ptr<Transit> transit_;
  std::string wrapping_der_;
};
SoftHsmToken* ImportTest::token_ = nullptr;
hsm::Hsm* ImportTest::hsm_ = nullptr;

TEST_F(ImportTest, WrappingKeyIsStableAndNonExtractable) {
  absl::StatusOr<std::string> again = keyring_->ImportWrappingKeyDer();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, wrapping_der_);
  std::string listing = token_->DescribeObjects(kImportWrappingLabel);
  EXPECT_THAT(listing, HasSubstr("RSA 4096 bits"));
  EXPECT_THAT(listing, HasSubstr("never extractable"));
}

TEST_F(ImportTest, WrappedAesKeyIsTheImportedOne) {
  std::string target = Random(32);
  auto key = Import("byok-wrapped", target);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE((*key)->record().imported());
  EXPECT_FALSE((*key)->record().hsm_resident());
  uint32_t version = 0;
  EXPECT_EQ(OpenWithKey(target, EncryptOne("byok-wrapped", "hello byok"), &version), "hello byok");
  EXPECT_EQ(version, 1u);
}

TEST_F(ImportTest, HsmResidentAesKeyIsTheImportedOneAndNotExtractable) {
  std::string target = Random(32);
  auto key = Import("byok-hsm", target, KeyType::kAes256Gcm, Residency::kHsm);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE((*key)->record().hsm_resident());
  uint32_t version = 0;
  EXPECT_EQ(OpenWithKey(target, EncryptOne("byok-hsm", "in the HSM"), &version), "in the HSM");
  const std::string& label = (*key)->version_record(1)->hsm_label();
  ASSERT_FALSE(label.empty());
  absl::StatusOr<bool> locked = hsm_->SecretKeyIsNonExtractable(label);
  ASSERT_TRUE(locked.ok()) << locked.status();
  EXPECT_TRUE(*locked);
  EXPECT_THAT(token_->DescribeObjects(label), HasSubstr("sensitive"));
  // Nothing of the key went to storage: no barrier record for an HSM-resident version.
  auto record = storage_->Get(Barrier::RecordKey("transit:byok-hsm", 1));
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(record->has_value());
}

TEST_F(ImportTest, HmacKeyIsTheImportedOne) {
  std::string target = Random(32);
  ASSERT_TRUE(Import("byok-hmac", target, KeyType::kHmac).ok());
  v1::HmacRequest req;
  req.set_key_name("byok-hmac");
  req.set_input("message");
  req.set_hash_algorithm(v1::SHA2_256);
  auto resp = transit_->Hmac(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), target.data(), target.size(),
       reinterpret_cast<const unsigned char*>("message"), 7, mac, &mac_len);
  EXPECT_EQ(resp->hmac(),
            FormatEnvelope(1, absl::string_view(reinterpret_cast<char*>(mac), mac_len)));
}

TEST_F(ImportTest, EcdsaKeyIsTheImportedOne) {
  hsm::EvpPkeyPtr pkey(EVP_EC_gen("P-256"));
  ASSERT_TRUE(pkey);
  int len = i2d_PrivateKey(pkey.get(), nullptr);  // PKCS#8 for EC in OpenSSL 3
  hsm::Pkcs8PrivKeyInfoPtr p8(EVP_PKEY2PKCS8(pkey.get()));
  ASSERT_TRUE(p8);
  len = i2d_PKCS8_PRIV_KEY_INFO(p8.get(), nullptr);
  std::string pkcs8(len, '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(pkcs8.data());
  ASSERT_EQ(i2d_PKCS8_PRIV_KEY_INFO(p8.get(), &out), len);
  auto key = Import("byok-ec", pkcs8, KeyType::kEcdsaP256);
  ASSERT_TRUE(key.ok()) << key.status();
  len = i2d_PUBKEY(pkey.get(), nullptr);
  std::string spki(len, '\0');
  out = reinterpret_cast<unsigned char*>(spki.data());
  ASSERT_EQ(i2d_PUBKEY(pkey.get(), &out), len);
  EXPECT_EQ((*key)->version_record(1)->public_key_der(), spki);
  // HSM residency for imported asymmetric keys is refused with the way out.
  auto hsm_ec = Import("byok-ec-hsm", pkcs8, KeyType::kEcdsaP256, Residency::kHsm);
  EXPECT_EQ(hsm_ec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(hsm_ec.status().message(), HasSubstr("residency wrapped"));
  hsm::CleanseString(&pkcs8);
}

TEST_F(ImportTest, ImportVersionAndVaultsRotationRule) {
  std::string k1 = Random(32), k2 = Random(32);
  ASSERT_TRUE(Import("byok-versions", k1, KeyType::kAes256Gcm, Residency::kHsm).ok());
  // Not allowed to rotate: only import_version adds versions.
  auto rotated = keyring_->Rotate("byok-versions");
  EXPECT_EQ(rotated.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(rotated.status().message(), HasSubstr("import_version"));
  auto v2 = keyring_->ImportVersion("byok-versions", Wrap(k2));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ((*v2)->latest_version(), 2u);
  uint32_t version = 0;
  EXPECT_EQ(OpenWithKey(k2, EncryptOne("byok-versions", "second"), &version), "second");
  EXPECT_EQ(version, 2u);

  // allow_rotation: Rotate adds a generated version after the imported ones.
  ASSERT_TRUE(Import("byok-rotates", k1, KeyType::kAes256Gcm, Residency::kWrapped, true).ok());
  auto r = keyring_->Rotate("byok-rotates");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->latest_version(), 2u);
  EXPECT_EQ(OpenWithKey(k1, EncryptOne("byok-rotates", "x"), &version), "<does not decrypt>");

  // import_version on a key that was not imported.
  CreateKeyOptions plain;
  plain.name = "generated";
  ASSERT_TRUE(keyring_->Create(plain).ok());
  auto refused = keyring_->ImportVersion("generated", Wrap(k1));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("not imported"));
}

TEST_F(ImportTest, RefusesWithClearErrors) {
  std::string target = Random(32);
  ASSERT_TRUE(Import("byok-taken", target).ok());
  auto taken = Import("byok-taken", target);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(taken.status().message(), HasSubstr("import_version"));

  WrappedKeyImport bad = Wrap(target);
  bad.ciphertext[bad.ciphertext.size() - 1] ^= 1;
  ImportKeyOptions o;
  o.key.name = "byok-bad";
  for (Residency residency : {Residency::kWrapped, Residency::kHsm}) {
    o.key.residency = residency;
    auto s = keyring_->Import(o, bad);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << s.status();
    EXPECT_THAT(s.status().message(), HasSubstr("does not unwrap"));
  }
  auto missing = keyring_->Get("byok-bad");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  auto wrong_size = Import("byok-short", Random(16));
  EXPECT_EQ(wrong_size.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_size.status().message(), HasSubstr("16 bytes"));

  o.key.residency = Residency::kWrapped;
  o.key.convergent = true;
  o.key.derived = true;
  EXPECT_THAT(keyring_->Import(o, Wrap(target)).status().message(), HasSubstr("convergent"));
  o.key.convergent = false;
  o.key.auto_rotate_period = absl::Hours(24);
  EXPECT_THAT(keyring_->Import(o, Wrap(target)).status().message(), HasSubstr("allow_rotation"));
}

}  // namespace
}  // namespace strongroom::kms
