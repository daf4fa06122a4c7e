#include "kms/transit.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/ciphertext.h"
#include "kms/keyring.h"
#include "kms/sqlite_storage.h"
#include "kms/storage.h"

namespace strongroom::kms {
namespace {

using hsm::testing::SoftHsmToken;
using ::testing::HasSubstr;

class TransitTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (token_ != nullptr) return;  // One token for the whole binary.
    auto token = SoftHsmToken::Create("transit");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new SoftHsmToken(*std::move(token));
    auto hsm = hsm::Hsm::Open(token_->Options());
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    hsm_ = hsm->release();
  }

  void SetUp() override {
    static int n = 0;
    db_ = absl::StrCat(token_->dir, "/transit-", ++n, ".db");
    Open(KeyringOptions{});
  }

  // (Re)opens storage, barrier, keyring and engine over the same database: a restart.
  void Open(KeyringOptions options, TransitLimits limits = {}) {
    transit_.reset();
    keyring_.reset();
    barrier_.reset();
    storage_.reset();
    auto storage = SqliteStorage::Open(db_);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    barrier_ = std::make_unique<Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    keyring_ = std::make_unique<Keyring>(hsm_, storage_.get(), barrier_.get(), options);
    transit_ = std::make_unique<Transit>(keyring_.get(), hsm_, limits);
  }

  v1::Key Create(const std::string& name, v1::KeyType type = v1::AES256_GCM,
                 v1::Residency residency = v1::WRAPPED, bool derived = false,
                 bool convergent = false) {
    v1::CreateKeyRequest req;
    req.set_name(name);
    req.set_type(type);
    req.set_residency(residency);
    req.set_derived(derived);
    req.set_convergent(convergent);
    auto key = transit_->CreateKey(req);
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? *key : v1::Key();
  }

  v1::EncryptResponse::Result Encrypt(const std::string& key, const std::string& plaintext,
                                      const std::string& aad = "", const std::string& context = "",
                                      uint32_t version = 0) {
    v1::EncryptRequest req;
    req.set_key_name(key);
    req.set_key_version(version);
    auto* item = req.add_items();
    item->set_plaintext(plaintext);
    item->set_associated_data(aad);
    item->set_context(context);
    auto resp = transit_->Encrypt(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? resp->results(0) : v1::EncryptResponse::Result();
  }

  v1::DecryptResponse::Result Decrypt(const std::string& key, const std::string& ciphertext,
                                      const std::string& aad = "",
                                      const std::string& context = "") {
    v1::DecryptRequest req;
    req.set_key_name(key);
    auto* item = req.add_items();
    item->set_ciphertext(ciphertext);
    item->set_associated_data(aad);
    item->set_context(context);
    auto resp = transit_->Decrypt(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? resp->results(0) : v1::DecryptResponse::Result();
  }

  v1::Key Rotate(const std::string& key) {
    v1::RotateKeyRequest req;
    req.set_name(key);
    auto r = transit_->RotateKey(req);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::Key();
  }

  static SoftHsmToken* token_;
  static hsm::Hsm* hsm_;
  std::string db_;
  std::unique_ptr<SqliteStorage> storage_;
  std::unique_ptr<Barrier> barrier_;
  std::unique_ptr<Keyring> keyring_;
  std::unique_ptr<Transit> transit_;
};
SoftHsmToken* TransitTest::token_ = nullptr;
hsm::Hsm* TransitTest::hsm_ = nullptr;

constexpr int kDecryptionFailed = static_cast<int>(absl::StatusCode::kInvalidArgument);

struct AeadCase {
  v1::KeyType type;
  v1::Residency residency;
  const char* name;
};

class TransitAeadTest : public TransitTest, public ::testing::WithParamInterface<AeadCase> {};

TEST_P(TransitAeadTest, RoundTripsAndRejectsEveryTamperedCiphertext) {
  const AeadCase& c = GetParam();
  Create(c.name, c.type, c.residency);
  const std::string plaintext =
      std::string("sixty-four bytes of payload, give or take a few\0!", 50);
  auto enc = Encrypt(c.name, plaintext, "aad");
  ASSERT_FALSE(enc.has_error()) << enc.error().message();
  EXPECT_THAT(enc.ciphertext(), ::testing::StartsWith("vault:v1:"));
  auto dec = Decrypt(c.name, enc.ciphertext(), "aad");
  ASSERT_FALSE(dec.has_error()) << dec.error().message();
  EXPECT_EQ(dec.plaintext(), plaintext);
  EXPECT_EQ(dec.key_version(), 1u);

  // Every bit of nonce || ciphertext || tag flipped.
  auto env = ParseEnvelope(enc.ciphertext(), "ciphertext");
  ASSERT_TRUE(env.ok());
  for (size_t bit = 0; bit < env->payload.size() * 8; ++bit) {
    std::string bad = env->payload;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    auto r = Decrypt(c.name, FormatEnvelope(1, bad), "aad");
    ASSERT_TRUE(r.has_error()) << "bit " << bit;
    ASSERT_EQ(r.error().message(), "decryption failed") << "bit " << bit;
    ASSERT_TRUE(r.plaintext().empty());
  }
  // Every truncation of the ciphertext string.
  for (size_t len = 0; len < enc.ciphertext().size(); ++len) {
    auto r = Decrypt(c.name, enc.ciphertext().substr(0, len), "aad");
    ASSERT_TRUE(r.has_error()) << "length " << len;
  }
  // Wrong or missing associated data.
  EXPECT_EQ(Decrypt(c.name, enc.ciphertext(), "aae").error().message(), "decryption failed");
  EXPECT_EQ(Decrypt(c.name, enc.ciphertext(), "").error().message(), "decryption failed");
  // Never under another key of the same type.
  Create(absl::StrCat(c.name, "-other"), c.type, c.residency);
  auto other = Decrypt(absl::StrCat(c.name, "-other"), enc.ciphertext(), "aad");
  EXPECT_EQ(other.error().code(), kDecryptionFailed);
  EXPECT_EQ(other.error().message(), "decryption failed");
}

INSTANTIATE_TEST_SUITE_P(Types, TransitAeadTest,
                         ::testing::Values(AeadCase{v1::AES256_GCM, v1::WRAPPED, "aes256"},
                                           AeadCase{v1::AES128_GCM, v1::WRAPPED, "aes128"},
                                           AeadCase{v1::CHACHA20_POLY1305, v1::WRAPPED, "chacha"},
                                           AeadCase{v1::AES256_GCM, v1::HSM, "aes256-hsm"}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST_F(TransitTest, MalformedCiphertextsGetClearPerItemErrors) {
  Create("malformed");
  auto enc = Encrypt("malformed", "hello");
  std::string b64 = enc.ciphertext().substr(strlen("vault:v1:"));
  struct {
    std::string ciphertext;
    std::string message;
  } cases[] = {
      {"hello", "missing the vault:v prefix"},
      {"vault:1:" + b64, "missing the vault:v prefix"},
      {"vault:v:" + b64, "not a positive decimal number"},
      {"vault:v01:" + b64, "not a positive decimal number"},
      {"vault:v1:" + b64 + "!", "invalid base64"},
      {"vault:v1:" + b64.substr(1), "invalid base64"},
      {"vault:v1:AAAA", "too short"},
      {"vault:v7:" + b64, "version 7 does not exist (latest is 1)"},
  };
  v1::DecryptRequest req;
  req.set_key_name("malformed");
  for (const auto& c : cases) {
    auto* item = req.add_items();
    item->set_ciphertext(c.ciphertext);
    item->set_reference(c.message);
  }
  req.add_items()->set_ciphertext(enc.ciphertext());
  auto resp = transit_->Decrypt(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_EQ(resp->results_size(), static_cast<int>(std::size(cases)) + 1);
  for (size_t i = 0; i < std::size(cases); ++i) {
    EXPECT_EQ(resp->results(i).reference(), cases[i].message);
    EXPECT_THAT(resp->results(i).error().message(), HasSubstr(cases[i].message));
  }
  EXPECT_FALSE(resp->results(std::size(cases)).has_error());  // Good items still succeed.
  EXPECT_EQ(resp->results(std::size(cases)).plaintext(), "hello");
}

TEST_F(TransitTest, VersionsMinimumsAndTrim) {
  Create("versions");
  auto v1 = Encrypt("versions", "one");
  Rotate("versions");
  auto v2 = Encrypt("versions", "two");
  EXPECT_EQ(v2.key_version(), 2u);
  Rotate("versions");
  EXPECT_EQ(Decrypt("versions", v1.ciphertext()).plaintext(), "one");
  EXPECT_EQ(Encrypt("versions", "old", "", "", 1).key_version(), 1u);

  v1::UpdateKeyConfigRequest cfg;
  cfg.set_name("versions");
  cfg.set_min_decryption_version(2);
  ASSERT_TRUE(transit_->UpdateKeyConfig(cfg).ok());
  auto denied = Decrypt("versions", v1.ciphertext());
  EXPECT_EQ(denied.error().code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(denied.error().message(), HasSubstr("below min_decryption_version 2"));
  EXPECT_EQ(Decrypt("versions", v2.ciphertext()).plaintext(), "two");

  cfg.clear_min_decryption_version();
  cfg.set_min_encryption_version(3);
  ASSERT_TRUE(transit_->UpdateKeyConfig(cfg).ok());
  v1::EncryptRequest enc;
  enc.set_key_name("versions");
  enc.set_key_version(2);
  enc.add_items()->set_plaintext("x");
  EXPECT_EQ(transit_->Encrypt(enc).status().code(), absl::StatusCode::kFailedPrecondition);

  v1::TrimKeyRequest trim;
  trim.set_name("versions");
  trim.set_min_available_version(3);
  EXPECT_EQ(transit_->TrimKey(trim).status().code(), absl::StatusCode::kInvalidArgument);
  trim.set_min_available_version(2);
  auto trimmed = transit_->TrimKey(trim);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  EXPECT_EQ(trimmed->versions_size(), 2);
  auto gone = Decrypt("versions", v1.ciphertext());
  EXPECT_THAT(gone.error().message(), HasSubstr("version 1 was trimmed"));
  trim.set_min_available_version(1);
  EXPECT_EQ(transit_->TrimKey(trim).status().code(), absl::StatusCode::kInvalidArgument);

  cfg.clear_min_encryption_version();
  cfg.set_min_decryption_version(1);
  EXPECT_EQ(transit_->UpdateKeyConfig(cfg).status().code(), absl::StatusCode::kInvalidArgument);
  // All of it survives a restart.
  Open(KeyringOptions{});
  EXPECT_THAT(Decrypt("versions", v1.ciphertext()).error().message(), HasSubstr("trimmed"));
  EXPECT_EQ(Decrypt("versions", v2.ciphertext()).plaintext(), "two");
}

TEST_F(TransitTest, DerivedAndConvergentKeys) {
  Create("derived", v1::AES256_GCM, v1::WRAPPED, /*derived=*/true);
  auto missing = Encrypt("derived", "x");
  EXPECT_THAT(missing.error().message(), HasSubstr("context: required"));
  auto enc = Encrypt("derived", "secret", "", "tenant-a");
  ASSERT_FALSE(enc.has_error());
  EXPECT_EQ(Decrypt("derived", enc.ciphertext(), "", "tenant-a").plaintext(), "secret");
  EXPECT_EQ(Decrypt("derived", enc.ciphertext(), "", "tenant-b").error().message(),
            "decryption failed");
  EXPECT_NE(Encrypt("derived", "secret", "", "tenant-a").ciphertext(), enc.ciphertext());

  Create("convergent", v1::AES256_GCM, v1::WRAPPED, true, true);
  auto a = Encrypt("convergent", "same", "", "ctx");
  EXPECT_EQ(Encrypt("convergent", "same", "", "ctx").ciphertext(), a.ciphertext());
  EXPECT_NE(Encrypt("convergent", "same", "", "ctx2").ciphertext(), a.ciphertext());
  EXPECT_NE(Encrypt("convergent", "other", "", "ctx").ciphertext(), a.ciphertext());
  EXPECT_EQ(Decrypt("convergent", a.ciphertext(), "", "ctx").plaintext(), "same");

  v1::CreateKeyRequest bad;
  bad.set_name("bad");
  bad.set_convergent(true);
  EXPECT_THAT(transit_->CreateKey(bad).status().message(),
              HasSubstr("convergent: requires derived"));
  bad.set_derived(true);
  bad.set_residency(v1::HSM);
  EXPECT_EQ(transit_->CreateKey(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

// One batch holding ciphertexts of several versions (and a forged one between them):
// each item opens with its own version's key, and a failed item does not disturb the next.
TEST_F(TransitTest, BatchesMixingVersionsOpenEachWithItsOwnKey) {
  Create("mixed");
  std::vector<std::string> ciphertexts;
  for (int v = 1; v <= 3; ++v) {
    if (v > 1) Rotate("mixed");
    ciphertexts.push_back(Encrypt("mixed", absl::StrCat("pt", v)).ciphertext());
  }
  std::string forged = ciphertexts[0];
  char& c = forged[forged.size() - 8];  // inside the base64, not its padding
  c = c == 'A' ? 'B' : 'A';
  const std::vector<std::string> batch = {ciphertexts[2], ciphertexts[0], forged, ciphertexts[1],
                                          ciphertexts[0]};
  const std::vector<std::string> expected = {"pt3", "pt1", "", "pt2", "pt1"};
  v1::DecryptRequest dec;
  dec.set_key_name("mixed");
  v1::RewrapRequest rewrap;
  rewrap.set_key_name("mixed");
  for (const std::string& ct : batch) {
    dec.add_items()->set_ciphertext(ct);
    rewrap.add_items()->set_ciphertext(ct);
  }
  auto opened = transit_->Decrypt(dec);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto rewrapped = transit_->Rewrap(rewrap);
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.status();
  for (size_t i = 0; i < batch.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("item ", i));
    if (expected[i].empty()) {
      EXPECT_EQ(opened->results(i).error().message(), "decryption failed");
      EXPECT_TRUE(rewrapped->results(i).has_error());
      continue;
    }
    EXPECT_EQ(opened->results(i).plaintext(), expected[i]);
    EXPECT_EQ(rewrapped->results(i).key_version(), 3u);
    EXPECT_EQ(Decrypt("mixed", rewrapped->results(i).ciphertext()).plaintext(), expected[i]);
  }
}

TEST_F(TransitTest, RewrapAndDataKeys) {
  Create("rewrap");
  auto old = Encrypt("rewrap", "payload", "ad");
  Rotate("rewrap");
  v1::RewrapRequest req;
  req.set_key_name("rewrap");
  auto* item = req.add_items();
  item->set_ciphertext(old.ciphertext());
  item->set_associated_data("ad");
  req.add_items()->set_ciphertext("vault:v1:broken");
  auto resp = transit_->Rewrap(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_THAT(resp->results(0).ciphertext(), ::testing::StartsWith("vault:v2:"));
  EXPECT_EQ(Decrypt("rewrap", resp->results(0).ciphertext(), "ad").plaintext(), "payload");
  EXPECT_TRUE(resp->results(1).has_error());
  EXPECT_TRUE(resp->results(1).ciphertext().empty());

  v1::GenerateDataKeyRequest dk;
  dk.set_key_name("rewrap");
  dk.set_bits(512);
  dk.set_include_plaintext(true);
  auto data_key = transit_->GenerateDataKey(dk);
  ASSERT_TRUE(data_key.ok()) << data_key.status();
  EXPECT_EQ(data_key->plaintext().size(), 64u);
  EXPECT_EQ(Decrypt("rewrap", data_key->ciphertext()).plaintext(), data_key->plaintext());
  dk.set_include_plaintext(false);
  dk.set_bits(128);
  auto wrapped_only = transit_->GenerateDataKey(dk);
  ASSERT_TRUE(wrapped_only.ok());
  EXPECT_TRUE(wrapped_only->plaintext().empty());
  EXPECT_EQ(Decrypt("rewrap", wrapped_only->ciphertext()).plaintext().size(), 16u);
  dk.set_bits(100);
  EXPECT_EQ(transit_->GenerateDataKey(dk).status().code(), absl::StatusCode::kInvalidArgument);
}

struct SignCase {
  v1::KeyType type;
  v1::Residency residency;
  v1::SignatureAlgorithm algorithm;
  const char* name;
};

class TransitSignTest : public TransitTest, public ::testing::WithParamInterface<SignCase> {};

TEST_P(TransitSignTest, SignsAndVerifies) {
  const SignCase& c = GetParam();
  v1::Key key = Create(c.name, c.type, c.residency);
  ASSERT_EQ(key.versions_size(), 1);
  EXPECT_THAT(key.versions(0).public_key_pem(), HasSubstr("BEGIN PUBLIC KEY"));
  for (bool prehashed : {false, true}) {
    if (prehashed && c.type == v1::ED25519) continue;
    std::string input = prehashed ? std::string(48, 'd') : "message to sign";
    v1::SignRequest sign;
    sign.set_key_name(c.name);
    sign.set_input(input);
    sign.set_prehashed(prehashed);
    sign.set_hash_algorithm(prehashed ? v1::SHA2_384 : v1::SHA2_256);
    sign.set_signature_algorithm(c.algorithm);
    auto sig = transit_->Sign(sign);
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_THAT(sig->signature(), ::testing::StartsWith("vault:v1:"));
    v1::VerifyRequest verify;
    verify.set_key_name(c.name);
    verify.set_input(input);
    verify.set_signature(sig->signature());
    verify.set_prehashed(prehashed);
    verify.set_hash_algorithm(sign.hash_algorithm());
    verify.set_signature_algorithm(c.algorithm);
    auto ok = transit_->Verify(verify);
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_TRUE(ok->valid());
    std::string tampered = input;
    tampered[0] ^= 1;
    verify.set_input(tampered);
    auto bad = transit_->Verify(verify);
    ASSERT_TRUE(bad.ok()) << bad.status();
    EXPECT_FALSE(bad->valid());
    if (prehashed) {  // A digest of the wrong length is bad input, not a bad signature.
      verify.set_input(input + "x");
      EXPECT_EQ(transit_->Verify(verify).status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  // A signature from another key of the same type does not verify.
  Create(absl::StrCat(c.name, "-b"), c.type, c.residency);
  v1::SignRequest sign;
  sign.set_key_name(absl::StrCat(c.name, "-b"));
  sign.set_input("m");
  sign.set_signature_algorithm(c.algorithm);
  auto sig = transit_->Sign(sign);
  ASSERT_TRUE(sig.ok());
  v1::VerifyRequest verify;
  verify.set_key_name(c.name);
  verify.set_input("m");
  verify.set_signature(sig->signature());
  verify.set_signature_algorithm(c.algorithm);
  EXPECT_FALSE(transit_->Verify(verify)->valid());
}

INSTANTIATE_TEST_SUITE_P(
    Types, TransitSignTest,
    ::testing::Values(
        SignCase{v1::ECDSA_P256, v1::WRAPPED, v1::SIGNATURE_ALGORITHM_UNSPECIFIED, "p256"},
        SignCase{v1::ECDSA_P384, v1::WRAPPED, v1::SIGNATURE_ALGORITHM_UNSPECIFIED, "p384"},
        SignCase{v1::ED25519, v1::WRAPPED, v1::SIGNATURE_ALGORITHM_UNSPECIFIED, "ed25519"},
        SignCase{v1::RSA_2048, v1::WRAPPED, v1::PSS, "rsa2048_pss"},
        SignCase{v1::RSA_2048, v1::WRAPPED, v1::PKCS1V15, "rsa2048_pkcs1"},
        SignCase{v1::ECDSA_P256, v1::HSM, v1::SIGNATURE_ALGORITHM_UNSPECIFIED, "p256_hsm"},
        SignCase{v1::RSA_2048, v1::HSM, v1::PSS, "rsa2048_hsm"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(TransitTest, HmacAndWrongOperations) {
  Create("mac", v1::HMAC);
  Create("enc");
  Create("enc-hsm", v1::AES256_GCM, v1::HSM);  // HMAC computed inside the HSM
  for (const char* key : {"mac", "enc", "enc-hsm"}) {
    v1::HmacRequest req;
    req.set_key_name(key);
    req.set_input("data");
    req.set_hash_algorithm(v1::SHA2_512);
    auto mac = transit_->Hmac(req);
    ASSERT_TRUE(mac.ok()) << mac.status();
    v1::VerifyHmacRequest verify;
    verify.set_key_name(key);
    verify.set_input("data");
    verify.set_hmac(mac->hmac());
    verify.set_hash_algorithm(v1::SHA2_512);
    EXPECT_TRUE(transit_->VerifyHmac(verify)->valid());
    verify.set_input("date");
    EXPECT_FALSE(transit_->VerifyHmac(verify)->valid());
    verify.set_hmac("vault:v1:@@@@");
    EXPECT_EQ(transit_->VerifyHmac(verify).status().code(), absl::StatusCode::kInvalidArgument);
  }
  v1::EncryptRequest enc;
  enc.set_key_name("mac");
  enc.add_items()->set_plaintext("x");
  EXPECT_THAT(transit_->Encrypt(enc).status().message(), HasSubstr("of type hmac cannot"));
  v1::SignRequest sign;
  sign.set_key_name("enc");
  EXPECT_EQ(transit_->Sign(sign).status().code(), absl::StatusCode::kInvalidArgument);
  enc.set_key_name("nope");
  EXPECT_EQ(transit_->Encrypt(enc).status().code(), absl::StatusCode::kNotFound);
}

// A new HMAC, like a new signature or ciphertext, never uses a version below
// min_encryption_version; verifying old ones still works down to min_decryption_version.
TEST_F(TransitTest, HmacAndSignHonourMinEncryptionVersion) {
  Create("mac-min", v1::HMAC);
  Create("sign-min", v1::ECDSA_P256);
  for (const char* key : {"mac-min", "sign-min"}) {
    SCOPED_TRACE(key);
    Rotate(key);
    KeyConfigUpdate update;
    update.min_encryption_version = 2;
    ASSERT_TRUE(keyring_->UpdateConfig(key, update).ok());
    v1::HmacRequest hmac;
    hmac.set_key_name(key);
    hmac.set_input("data");
    v1::SignRequest sign;
    sign.set_key_name(key);
    sign.set_input("data");
    auto old_version = [&]() -> absl::Status {
      if (std::string(key) == "mac-min") return transit_->Hmac(hmac).status();
      return transit_->Sign(sign).status();
    };
    hmac.set_key_version(1);
    sign.set_key_version(1);
    absl::Status refused = old_version();
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
    EXPECT_THAT(refused.message(), HasSubstr("below min_encryption_version 2"));
  }
  v1::HmacRequest hmac;
  hmac.set_key_name("mac-min");
  hmac.set_input("data");
  auto latest = transit_->Hmac(hmac);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->key_version(), 2u);
}

TEST_F(TransitTest, LimitsAreEnforcedWithClearErrors) {
  Open(KeyringOptions{}, TransitLimits{3, 10});
  Create("limits");
  v1::EncryptRequest req;
  req.set_key_name("limits");
  for (int i = 0; i < 4; ++i) req.add_items()->set_plaintext("x");
  auto too_many = transit_->Encrypt(req);
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_many.status().message(), HasSubstr("exceeds the limit of 3"));
  req.clear_items();
  EXPECT_EQ(transit_->Encrypt(req).status().code(), absl::StatusCode::kInvalidArgument);
  req.add_items()->set_plaintext(std::string(11, 'x'));
  req.add_items()->set_plaintext(std::string(10, 'x'));
  auto resp = transit_->Encrypt(req);
  ASSERT_TRUE(resp.ok());
  EXPECT_THAT(resp->results(0).error().message(), HasSubstr("11 bytes exceeds the limit of 10"));
  EXPECT_FALSE(resp->results(1).has_error());
}

TEST_F(TransitTest, RotatesBeforeTheEncryptionLimitEvenAcrossRestarts) {
  KeyringOptions options;
  options.max_encryptions_per_version = 100;
  options.reservation_block = 16;
  Open(options);
  Create("counted");
  std::vector<std::string> ciphertexts;
  for (int batch = 0; batch < 6; ++batch) {
    v1::EncryptRequest req;
    req.set_key_name("counted");
    for (int i = 0; i < 45; ++i) req.add_items()->set_plaintext(absl::StrCat(batch, "-", i));
    auto resp = transit_->Encrypt(req);
    ASSERT_TRUE(resp.ok()) << resp.status();
    for (const auto& r : resp->results()) ciphertexts.push_back(r.ciphertext());
    if (batch == 2) Open(options);  // A restart keeps the counts.
  }
  v1::GetKeyRequest get;
  get.set_name("counted");
  auto key = transit_->GetKey(get);
  ASSERT_TRUE(key.ok());
  // 270 encryptions, at most 100 per version, whole batches per version.
  EXPECT_GE(key->latest_version(), 3u);
  for (const auto& v : key->versions()) EXPECT_LE(v.encryptions(), 100u) << v.version();
  for (size_t i = 0; i < ciphertexts.size(); ++i) {
    auto dec = Decrypt("counted", ciphertexts[i]);
    ASSERT_FALSE(dec.has_error()) << i << ": " << dec.error().message();
  }
  // An explicitly requested spent version is refused rather than over-used.
  v1::EncryptRequest old;
  old.set_key_name("counted");
  old.set_key_version(1);
  for (int i = 0; i < 90; ++i) old.add_items()->set_plaintext("x");
  EXPECT_EQ(transit_->Encrypt(old).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TransitTest, AutoRotationOnPeriodSurvivesRestart) {
  KeyringOptions options;
  options.min_auto_rotate_period = absl::Seconds(1);
  Open(options);
  v1::CreateKeyRequest req;
  req.set_name("periodic");
  req.mutable_auto_rotate_period()->set_seconds(3600);
  ASSERT_TRUE(transit_->CreateKey(req).ok());
  Create("still");
  const LeaseFence held{"background", "test", kSingleWriterLeaseEpoch};
  EXPECT_EQ(*keyring_->RotateDueKeys(absl::Now(), held), 0);
  Open(options);  // The period is stored with the key.
  // Due, but under a lease that was taken over (a later epoch): nothing rotates.
  const LeaseFence lost{"background", "test", kSingleWriterLeaseEpoch + 1};
  EXPECT_EQ(keyring_->RotateDueKeys(absl::Now() + absl::Minutes(61), lost).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*keyring_->Get("periodic"))->latest_version(), 1u);
  EXPECT_EQ(*keyring_->RotateDueKeys(absl::Now() + absl::Minutes(61), held), 1);
  EXPECT_EQ((*keyring_->Get("periodic"))->latest_version(), 2u);
  EXPECT_EQ((*keyring_->Get("still"))->latest_version(), 1u);
  req.mutable_auto_rotate_period()->set_nanos(1);
  req.mutable_auto_rotate_period()->set_seconds(0);
  req.set_name("too-fast");
  EXPECT_EQ(transit_->CreateKey(req).status().code(), absl::StatusCode::kInvalidArgument);
}

// Storage whose next commit to `key` is preceded by `race` (another writer commits first,
// so the compare-and-set fails) or, with `after_commit`, followed by it (before the committer
// has installed its snapshot).
class RacedStorage : public Storage {
 public:
  RacedStorage(Storage* inner, std::string key, std::function<void()> race,
               bool after_commit = false)
      : inner_(inner), key_(std::move(key)), race_(std::move(race)), after_(after_commit) {}
  absl::StatusOr<std::optional<Entry>> Get(absl::string_view key) override {
    return inner_->Get(key);
  }
  absl::StatusOr<std::vector<Entry>> List(absl::string_view prefix, absl::string_view after,
                                          size_t limit) override {
    return inner_->List(prefix, after, limit);
  }
  absl::Status Commit(const WriteBatch& batch) override {
    std::function<void()> race;
    for (const WriteBatch::Op& op : batch.ops()) {
      if (op.key == key_ && race_) race = std::exchange(race_, nullptr);
    }
    if (race && !after_) race();
    absl::Status s = inner_->Commit(batch);
    if (race && after_) race();
    return s;
  }
  std::string Backend() const override { return inner_->Backend(); }
  std::string Location() const override { return inner_->Location(); }
  uint32_t SchemaVersion() const override { return inner_->SchemaVersion(); }

 private:
  Storage* const inner_;
  const std::string key_;
  std::function<void()> race_;
  const bool after_;
};

// A rotation whose commit is overtaken by a newer one before it installs its snapshot keeps
// the HSM objects it committed.
TEST_F(TransitTest, RotationOvertakenBeforeInstallKeepsItsHsmObjects) {
  Create("overtaken", v1::AES256_GCM, v1::HSM);
  Keyring* node = nullptr;
  RacedStorage raced(
      storage_.get(), "transit/keys/overtaken",
      [&] {
        absl::Status s = node->Rotate("overtaken").status();
        EXPECT_TRUE(s.ok()) << s;
      },
      /*after_commit=*/true);
  Barrier barrier(hsm_, &raced);
  ASSERT_TRUE(barrier.Unseal().ok());
  Keyring keyring(hsm_, &raced, &barrier);
  node = &keyring;
  auto rotated = keyring.Rotate("overtaken");
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  ASSERT_EQ((*rotated)->latest_version(), 3u);
  for (const TransitVersionRecord& v : (*rotated)->record().versions()) {
    EXPECT_TRUE(*hsm_->SecretKeyExists(v.hsm_label())) << v.version();
    EXPECT_TRUE(*hsm_->SecretKeyExists(v.hsm_label() + "-hmac")) << v.version();
  }
}

// Auto-rotation of an HSM-resident key that loses a compare-and-set race (to another node's
// rotation, or to any other change) leaves on the token only the objects of committed versions.
TEST_F(TransitTest, AutoRotationLosingARaceLeavesNoOrphanHsmObjects) {
  KeyringOptions options;
  options.min_auto_rotate_period = absl::Seconds(1);
  Open(options);
  auto token_labels = [](const std::string& key) {
    std::vector<std::string> found;
    auto labels = token_->ObjectLabels();
    EXPECT_TRUE(labels.ok()) << labels.status();
    for (const std::string& l : labels.value_or(std::vector<std::string>{})) {
      if (absl::StartsWith(l, absl::StrCat("strongroom-transit-", key, "-v"))) found.push_back(l);
    }
    std::sort(found.begin(), found.end());
    return found;
  };
  auto committed_labels = [&](const std::string& key) {
    std::vector<std::string> labels;
    auto stored = storage_->Get(absl::StrCat("transit/keys/", key));
    TransitKeyRecord record;
    EXPECT_TRUE(stored.ok() && stored->has_value() && record.ParseFromString((*stored)->value));
    for (const TransitVersionRecord& v : record.versions()) {
      for (const std::string& l : HsmObjectLabels(v.hsm_label())) labels.push_back(l);
    }
    std::sort(labels.begin(), labels.end());
    return labels;
  };
  struct Race {
    const char* key;
    std::function<absl::Status(Keyring*, const std::string&)> other_node;
    uint32_t latest_after;
  };
  const Race races[] = {
      {"raced-by-rotation",
       [](Keyring* k, const std::string& key) { return k->Rotate(key).status(); }, 2},
      {"raced-by-config",
       [](Keyring* k, const std::string& key) {
         KeyConfigUpdate update;
         update.deletion_allowed = true;
         return k->UpdateConfig(key, update).status();
       },
       2},
  };
  for (const Race& race : races) {
    SCOPED_TRACE(race.key);
    CreateKeyOptions create;
    create.name = race.key;
    create.residency = Residency::kHsm;
    create.auto_rotate_period = absl::Hours(1);
    ASSERT_TRUE(keyring_->Create(create).ok());
    std::string key = race.key;
    RacedStorage raced(storage_.get(), absl::StrCat("transit/keys/", key), [&] {
      absl::Status s = race.other_node(keyring_.get(), key);
      EXPECT_TRUE(s.ok()) << s;
    });
    Barrier barrier(hsm_, &raced);
    ASSERT_TRUE(barrier.Unseal().ok());
    Keyring node(hsm_, &raced, &barrier, options);
    ASSERT_TRUE(node.RotateDueKeys(absl::Now() + absl::Hours(2),
                                   {"background", "test", kSingleWriterLeaseEpoch})
                    .ok());
    auto stored = storage_->Get(absl::StrCat("transit/keys/", key));
    TransitKeyRecord record;
    ASSERT_TRUE(stored.ok() && stored->has_value() && record.ParseFromString((*stored)->value));
    EXPECT_EQ(record.latest_version(), race.latest_after);
    EXPECT_EQ(token_labels(key), committed_labels(key));
  }
}

TEST_F(TransitTest, DeleteOnlyWhenAllowedAndHsmObjectsGo) {
  v1::Key key = Create("doomed", v1::AES256_GCM, v1::HSM);
  Rotate("doomed");
  auto snapshot = keyring_->Get("doomed");
  ASSERT_TRUE(snapshot.ok());
  std::string label = (*snapshot)->record().versions(0).hsm_label();
  ASSERT_TRUE(*hsm_->SecretKeyExists(label));
  ASSERT_TRUE(*hsm_->SecretKeyExists(label + "-hmac"));
  EXPECT_THAT(token_->DescribeObjects(label), HasSubstr("never extractable"));
  // HSM-resident versions keep nothing in storage but their metadata.
  EXPECT_FALSE(storage_->Get(Barrier::RecordKey("transit:doomed", 1))->has_value());
  v1::DeleteKeyRequest del;
  del.set_name("doomed");
  EXPECT_EQ(transit_->DeleteKey(del).status().code(), absl::StatusCode::kFailedPrecondition);
  v1::UpdateKeyConfigRequest cfg;
  cfg.set_name("doomed");
  cfg.set_deletion_allowed(true);
  ASSERT_TRUE(transit_->UpdateKeyConfig(cfg).ok());
  ASSERT_TRUE(transit_->DeleteKey(del).ok());
  EXPECT_FALSE(*hsm_->SecretKeyExists(label));
  EXPECT_FALSE(*hsm_->SecretKeyExists(label + "-hmac"));
  v1::GetKeyRequest get;
  get.set_name("doomed");
  EXPECT_EQ(transit_->GetKey(get).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TransitTest, ListKeysPages) {
  for (int i = 0; i < 5; ++i) Create(absl::StrCat("list-", i));
  v1::ListKeysRequest req;
  req.set_page_size(2);
  std::vector<std::string> names;
  do {
    auto page = transit_->ListKeys(req);
    ASSERT_TRUE(page.ok()) << page.status();
    names.insert(names.end(), page->names().begin(), page->names().end());
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty());
  EXPECT_THAT(names, ::testing::ElementsAre("list-0", "list-1", "list-2", "list-3", "list-4"));
  req.set_page_token("not a token!");
  EXPECT_EQ(transit_->ListKeys(req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TransitTest, SealedRefusesUntilUnsealed) {
  Create("sealing");
  auto enc = Encrypt("sealing", "x");
  barrier_->Seal("test");
  v1::EncryptRequest req;
  req.set_key_name("sealing");
  req.add_items()->set_plaintext("x");
  EXPECT_EQ(transit_->Encrypt(req).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(barrier_->Unseal().ok());
  EXPECT_EQ(Decrypt("sealing", enc.ciphertext()).plaintext(), "x");
}

TEST_F(TransitTest, ConcurrentChangesLeaveTheNewestSnapshotInstalled) {
  Create("contended");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        if ((i + t) % 3 == 0) {
          absl::Status s = keyring_->Rotate("contended").status();
          EXPECT_TRUE(s.ok()) << s;
        } else {
          KeyConfigUpdate update;
          update.deletion_allowed = (i + t) % 2 == 0;
          absl::Status s = keyring_->UpdateConfig("contended", update).status();
          EXPECT_TRUE(s.ok()) << s;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto stored = storage_->Get("transit/keys/contended");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  TransitKeyRecord record;
  ASSERT_TRUE(record.ParseFromString((*stored)->value));
  auto snapshot = keyring_->Get("contended");
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ((*snapshot)->record().generation(), record.generation());
  EXPECT_EQ((*snapshot)->record().generation(), 61u);  // created + 60 changes
  EXPECT_EQ((*snapshot)->latest_version(), record.latest_version());
  EXPECT_EQ((*snapshot)->record().deletion_allowed(), record.deletion_allowed());
}

TEST_F(TransitTest, EncryptionsFlowWhileTheKeyRotates) {
  Create("busy");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, done{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      while (!stop.load()) {
        v1::EncryptRequest req;
        req.set_key_name("busy");
        req.add_items()->set_plaintext("p");
        auto resp = transit_->Encrypt(req);
        if (!resp.ok() || resp->results(0).has_error()) {
          ++failures;
          continue;
        }
        v1::DecryptRequest dec;
        dec.set_key_name("busy");
        dec.add_items()->set_ciphertext(resp->results(0).ciphertext());
        auto back = transit_->Decrypt(dec);
        if (!back.ok() || back->results(0).plaintext() != "p") ++failures;
        ++done;
      }
    });
  }
  for (int i = 0; i < 10; ++i) Rotate("busy");
  stop = true;
  for (auto& w : workers) w.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(done.load(), 0);
}

}  // namespace
}  // namespace strongroom::kms
