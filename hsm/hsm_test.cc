#include "hsm/hsm.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/ck_rv.h"
#include "hsm/openssl_ptr.h"
#include "hsm/pin_file.h"
#include "hsm/testing/import_wrap.h"
#include "hsm/testing/softhsm_token.h"

namespace strongroom::hsm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SoftHsmToken;

class HsmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (token_ != nullptr) return;  // One token for the whole binary.
    auto token = SoftHsmToken::Create();
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new SoftHsmToken(*std::move(token));
  }
  void SetUp() override {
    auto hsm = Hsm::Open(token_->Options());
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    hsm_ = *std::move(hsm);
  }
  std::vector<uint8_t> Iv() {
    std::vector<uint8_t> iv(12);
    EXPECT_TRUE(hsm_->GenerateRandom(absl::MakeSpan(iv)).ok());
    return iv;
  }
  static absl::Span<const uint8_t> Bytes(absl::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }
  static SoftHsmToken* token_;
  std::unique_ptr<Hsm> hsm_;
};
SoftHsmToken* HsmTest::token_ = nullptr;

TEST_F(HsmTest, ReportsTokenDetails) {
  EXPECT_EQ(hsm_->token_info().label, token_->label);
  EXPECT_EQ(hsm_->token_info().manufacturer, "SoftHSM project");
  EXPECT_EQ(hsm_->token_info().model, "SoftHSM v2");
  EXPECT_FALSE(hsm_->token_info().serial_number.empty());
  EXPECT_TRUE(hsm_->health().ok());
}

TEST_F(HsmTest, WrongPinIsRefusedWithoutShowingIt) {
  std::string wrong = token_->dir + "/wrong.pin";
  ASSERT_TRUE(testing::WriteFile(wrong, "not-the-pin-31337", 0600).ok());
  hsm_.reset();  // Login state is per process: log the fixture's session out first.
  HsmOptions options = token_->Options();
  options.pin_file = wrong;
  auto hsm = Hsm::Open(options);
  ASSERT_FALSE(hsm.ok());
  EXPECT_EQ(hsm.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(hsm.status().message(), HasSubstr("CKR_PIN_INCORRECT"));
  EXPECT_THAT(hsm.status().message(), Not(HasSubstr("31337")));
}

TEST_F(HsmTest, PinFileReadableByOthersIsRefused) {
  std::string loose = token_->dir + "/loose.pin";
  ASSERT_TRUE(testing::WriteFile(loose, token_->pin, 0644).ok());
  HsmOptions options = token_->Options();
  options.pin_file = loose;
  auto hsm = Hsm::Open(options);
  ASSERT_FALSE(hsm.ok());
  EXPECT_EQ(hsm.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(hsm.status().message(), HasSubstr("mode 0644"));
  EXPECT_THAT(hsm.status().message(), HasSubstr("chmod 600"));
  EXPECT_THAT(hsm.status().message(), Not(HasSubstr(token_->pin)));
}

TEST_F(HsmTest, PinFileNewlineIsTrimmedAndEmptyRefused) {
  std::string path = token_->dir + "/newline.pin";
  ASSERT_TRUE(testing::WriteFile(path, token_->pin + "\n", 0600).ok());
  auto pin = ReadPinFile(path);
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(pin->RevealSecretAsString(), token_->pin);
  ASSERT_TRUE(testing::WriteFile(path, "\n", 0600).ok());
  EXPECT_EQ(ReadPinFile(path).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadPinFile(token_->dir + "/absent.pin").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(HsmTest, MissingModuleAndTokenAreNamed) {
  HsmOptions options = token_->Options();
  options.module_path = "/nonexistent/libpkcs11.so";
  auto hsm = Hsm::Open(options);
  EXPECT_EQ(hsm.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(hsm.status().message(), HasSubstr("/nonexistent/libpkcs11.so"));

  options = token_->Options();
  options.token_label = "no-such-token";
  hsm = Hsm::Open(options);
  EXPECT_EQ(hsm.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(hsm.status().message(), HasSubstr("'no-such-token'"));
  EXPECT_THAT(hsm.status().message(), HasSubstr(token_->label));
}

TEST(SecretDataTest, EqualityMoveAndTruncate) {
  SecretData a = SecretData::Copy("0123456789abcdef");
  SecretData b = SecretData::Copy("0123456789abcdef");
  SecretData c = SecretData::Copy("0123456789abcdeF");
  EXPECT_TRUE(a.Equals(b));
  EXPECT_FALSE(a.Equals(c));
  EXPECT_FALSE(a.Equals(SecretData::Copy("0123")));
  EXPECT_TRUE(SecretData().Equals(SecretData()));
  SecretData moved = std::move(a);
  EXPECT_TRUE(a.empty());
  EXPECT_TRUE(moved.Equals(b));
  moved.Truncate(4);
  EXPECT_EQ(moved.RevealSecretAsString(), "0123");
}

TEST_F(HsmTest, RandomBytesDiffer) {
  std::vector<uint8_t> a(32), b(32);
  ASSERT_TRUE(hsm_->GenerateRandom(absl::MakeSpan(a)).ok());
  ASSERT_TRUE(hsm_->GenerateRandom(absl::MakeSpan(b)).ok());
  EXPECT_NE(a, b);
}

TEST_F(HsmTest, AesKeyIsSensitiveAndNeverExtractable) {
  ASSERT_TRUE(hsm_->GenerateAesKey("kek-outside-view").ok());
  EXPECT_EQ(hsm_->GenerateAesKey("kek-outside-view").code(), absl::StatusCode::kAlreadyExists);
  std::string view = token_->DescribeObjects("kek-outside-view");
  EXPECT_THAT(view, HasSubstr("Secret Key"));
  EXPECT_THAT(view, HasSubstr("AES"));
  EXPECT_THAT(view, HasSubstr("sensitive"));
  EXPECT_THAT(view, HasSubstr("never extractable"));
  EXPECT_THAT(view, Not(HasSubstr("wrap")));
}

TEST_F(HsmTest, AesGcmRoundTripAndTamperDetection) {
  ASSERT_TRUE(hsm_->GenerateAesKey("kek-gcm").ok());
  auto iv = Iv();
  std::string pt = "thirty-two bytes of key material";
  auto ct = hsm_->AesGcmEncrypt("kek-gcm", iv, "aad-1", Bytes(pt));
  ASSERT_TRUE(ct.ok()) << ct.status();
  EXPECT_EQ(ct->size(), pt.size() + 16);
  auto back = hsm_->AesGcmDecrypt("kek-gcm", iv, "aad-1", *ct);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->RevealSecretAsString(), pt);

  EXPECT_EQ(hsm_->AesGcmDecrypt("kek-gcm", iv, "aad-2", *ct).status().message(),
            "decryption failed");
  for (size_t bit = 0; bit < ct->size() * 8; bit += 7) {
    std::string bad = *ct;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    auto r = hsm_->AesGcmDecrypt("kek-gcm", iv, "aad-1", bad);
    ASSERT_FALSE(r.ok()) << "bit " << bit;
    EXPECT_EQ(r.status().message(), "decryption failed");
  }
  for (size_t len = 0; len < ct->size(); len += 5) {
    auto r = hsm_->AesGcmDecrypt("kek-gcm", iv, "aad-1", ct->substr(0, len));
    EXPECT_EQ(r.status().message(), "decryption failed") << "length " << len;
  }
  EXPECT_EQ(hsm_->AesGcmEncrypt("no-such-kek", iv, "", Bytes(pt)).status().code(),
            absl::StatusCode::kNotFound);
}

// A device that fails is not a ciphertext that does not authenticate, even where the
// module answers both with CKR_GENERAL_ERROR (SoftHSM does for a bad tag).
TEST_F(HsmTest, AesGcmDecryptTellsDeviceFaultsFromBadCiphertexts) {
  ASSERT_TRUE(hsm_->GenerateAesKey("kek-gcm-fault").ok());
  auto iv = Iv();
  auto ct = hsm_->AesGcmEncrypt("kek-gcm-fault", iv, "aad", Bytes("key material"));
  ASSERT_TRUE(ct.ok()) << ct.status();
  std::string bad = *ct;
  bad.back() ^= 0x01;
  for (CK_RV rv : {CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED}) {
    hsm_->faults().Fail("C_Decrypt", rv);
    for (const std::string* input : {&*ct, &bad}) {
      auto r = hsm_->AesGcmDecrypt("kek-gcm-fault", iv, "aad", *input);
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << CkRvName(rv);
      EXPECT_THAT(r.status().message(), HasSubstr(CkRvName(rv)));
    }
    hsm_->faults().Clear();
  }
  hsm_->faults().Fail("C_Decrypt", CKR_GENERAL_ERROR, 1);  // passes by itself
  auto back = hsm_->AesGcmDecrypt("kek-gcm-fault", iv, "aad", *ct);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->RevealSecretAsString(), "key material");
  auto r = hsm_->AesGcmDecrypt("kek-gcm-fault", iv, "aad", bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "decryption failed");
}

struct KeyPairCase {
  KeyPairType type;
  SignScheme scheme;
  const char* name;
};

class HsmKeyPairTest : public HsmTest, public ::testing::WithParamInterface<KeyPairCase> {};

TEST_P(HsmKeyPairTest, SignsVerifiablyAndKeepsThePrivateKeyInside) {
  const KeyPairCase& c = GetParam();
  std::string label = absl::StrCat("ca-", c.name);
  ASSERT_TRUE(hsm_->GenerateKeyPair(label, c.type).ok());
  EXPECT_EQ(hsm_->GenerateKeyPair(label, c.type).code(), absl::StatusCode::kAlreadyExists);
  auto spki = hsm_->PublicKeyDer(label);
  ASSERT_TRUE(spki.ok()) << spki.status();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(spki->data());
  EvpPkeyPtr pub(d2i_PUBKEY(nullptr, &p, spki->size()));
  ASSERT_NE(pub, nullptr);

  std::string message = "to be signed";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest);
  auto sig = hsm_->Sign(label, c.scheme, HashAlgorithm::kSha256,
                        absl::string_view(reinterpret_cast<char*>(digest), sizeof(digest)));
  ASSERT_TRUE(sig.ok()) << sig.status();

  EvpMdCtxPtr md(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  ASSERT_EQ(EVP_DigestVerifyInit(md.get(), &pctx, EVP_sha256(), nullptr, pub.get()), 1);
  if (c.scheme == SignScheme::kRsaPss) {
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
  }
  EXPECT_EQ(
      EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()),
      1);

  std::string view = token_->DescribeObjects(label);
  EXPECT_THAT(view, HasSubstr("Private Key"));
  EXPECT_THAT(view, HasSubstr("sensitive"));
  EXPECT_THAT(view, HasSubstr("never extractable"));
}

INSTANTIATE_TEST_SUITE_P(
    KeyTypes, HsmKeyPairTest,
    ::testing::Values(KeyPairCase{KeyPairType::kEcP256, SignScheme::kEcdsa, "p256"},
                      KeyPairCase{KeyPairType::kEcP384, SignScheme::kEcdsa, "p384"},
                      KeyPairCase{KeyPairType::kRsa2048, SignScheme::kRsaPkcs1, "rsa2048"},
                      KeyPairCase{KeyPairType::kRsa3072, SignScheme::kRsaPss, "rsa3072"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(HsmTest, HmacKeysComputeHmacsInsideAndStayThere) {
  ASSERT_TRUE(hsm_->GenerateHmacKey("mac-1").ok());
  auto a = hsm_->Hmac("mac-1", HashAlgorithm::kSha256, "data");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->size(), 32u);
  EXPECT_EQ(*hsm_->Hmac("mac-1", HashAlgorithm::kSha256, "data"), *a);
  EXPECT_NE(*hsm_->Hmac("mac-1", HashAlgorithm::kSha256, "date"), *a);
  EXPECT_EQ(hsm_->Hmac("mac-1", HashAlgorithm::kSha512, "data")->size(), 64u);
  ASSERT_TRUE(hsm_->GenerateHmacKey("mac-2").ok());
  EXPECT_NE(*hsm_->Hmac("mac-2", HashAlgorithm::kSha256, "data"), *a);
  std::string view = token_->DescribeObjects("mac-1");
  EXPECT_THAT(view, HasSubstr("Secret Key Object; Generic secret length 64"));
  EXPECT_THAT(view, HasSubstr("never extractable"));
  ASSERT_TRUE(hsm_->DestroyObjects("mac-1").ok());
  EXPECT_EQ(hsm_->Hmac("mac-1", HashAlgorithm::kSha256, "x").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(HsmTest, SignRejectsWrongDigestLength) {
  ASSERT_TRUE(hsm_->GenerateKeyPair("ca-digest", KeyPairType::kEcP256).ok());
  auto sig = hsm_->Sign("ca-digest", SignScheme::kEcdsa, HashAlgorithm::kSha256, "short");
  EXPECT_EQ(sig.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HsmTest, SingleFaultIsRetriedAfterReconnecting) {
  ASSERT_TRUE(hsm_->GenerateAesKey("kek-fault").ok());
  auto iv = Iv();
  hsm_->faults().Fail("C_Encrypt", CKR_DEVICE_REMOVED, 1);
  auto ct = hsm_->AesGcmEncrypt("kek-fault", iv, "", Bytes("x"));
  EXPECT_TRUE(ct.ok()) << ct.status();
  EXPECT_TRUE(hsm_->health().ok());
}

TEST_F(HsmTest, OutageIsReportedAndRecoveredFrom) {
  ASSERT_TRUE(hsm_->GenerateAesKey("kek-outage").ok());
  auto iv = Iv();
  hsm_->faults().Fail("*", CKR_TOKEN_NOT_PRESENT);
  auto ct = hsm_->AesGcmEncrypt("kek-outage", iv, "", Bytes("x"));
  EXPECT_EQ(ct.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(ct.status().message(), HasSubstr("CKR_TOKEN_NOT_PRESENT"));
  EXPECT_EQ(hsm_->health().code(), absl::StatusCode::kUnavailable);
  hsm_->faults().Clear();  // The token is back.
  ct = hsm_->AesGcmEncrypt("kek-outage", iv, "", Bytes("x"));
  EXPECT_TRUE(ct.ok()) << ct.status();
  EXPECT_TRUE(hsm_->health().ok());
}

TEST_F(HsmTest, SessionCountLimitMeansWaitNotFail) {
  ASSERT_TRUE(hsm_->GenerateAesKey("kek-count").ok());
  hsm_->faults().Fail("C_OpenSession", CKR_SESSION_COUNT, 3);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      std::vector<uint8_t> iv(12, 1);
      for (int i = 0; i < 50; ++i) {
        auto ct = hsm_->AesGcmEncrypt("kek-count", iv, "", Bytes("payload"));
        if (!ct.ok() || !hsm_->AesGcmDecrypt("kek-count", iv, "", *ct).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(hsm_->sessions_in_use(), 0u);
}

TEST_F(HsmTest, LogoutRefusesUntilLogin) {
  ASSERT_TRUE(hsm_->GenerateAesKey("kek-seal").ok());
  auto iv = Iv();
  hsm_->Logout();
  EXPECT_EQ(hsm_->AesGcmEncrypt("kek-seal", iv, "", Bytes("x")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(hsm_->Login().ok());
  EXPECT_TRUE(hsm_->AesGcmEncrypt("kek-seal", iv, "", Bytes("x")).ok());
}

// BYOK import: a key wrapped outside (OpenSSL, as Vault's documentation describes) is
// unwrapped inside the token.
class HsmImportTest : public HsmTest {
 protected:
  void SetUp() override {
    HsmTest::SetUp();
    absl::Status s = hsm_->GenerateUnwrappingKeyPair("import-wrapping", KeyPairType::kRsa4096);
    ASSERT_TRUE(s.ok() || absl::IsAlreadyExists(s)) << s;
    absl::StatusOr<std::string> der = hsm_->PublicKeyDer("import-wrapping");
    ASSERT_TRUE(der.ok()) << der.status();
    wrapping_der_ = *der;
  }
  std::string Random(size_t n) {
    std::string out(n, '\0');
    EXPECT_TRUE(
        hsm_->GenerateRandom(absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), n)).ok());
    return out;
  }
  std::string Wrap(absl::string_view target, OaepHash hash = OaepHash::kSha1,
                   size_t ephemeral_size = 32) {
    absl::StatusOr<std::string> w =
        testing::WrapForImport(wrapping_der_, hash, Random(ephemeral_size), target);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.value_or("");
  }
  // AES-256-GCM decryption in software with the original key bytes.
  static std::string OpenSslGcmDecrypt(absl::string_view key, absl::Span<const uint8_t> iv,
                                       absl::string_view ct_and_tag) {
    EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    std::string out(ct_and_tag.size(), '\0');
    int len = 0, final_len = 0;
    size_t ct_len = ct_and_tag.size() - 16;
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                           reinterpret_cast<const unsigned char*>(key.data()), iv.data()) <= 0 ||
        EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                          reinterpret_cast<const unsigned char*>(ct_and_tag.data()), ct_len) <= 0 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16,
                            const_cast<char*>(ct_and_tag.data()) + ct_len) <= 0 ||
        EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len,
                            &final_len) <= 0) {
      return "<does not decrypt>";
    }
    out.resize(len + final_len);
    return out;
  }
  std::string wrapping_der_;
};

TEST_F(HsmImportTest, WrappingKeyIsRsa4096ThatOnlyUnwraps) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(wrapping_der_.data());
  EvpPkeyPtr pub(d2i_PUBKEY(nullptr, &p, wrapping_der_.size()));
  ASSERT_TRUE(pub);
  EXPECT_EQ(EVP_PKEY_get_base_id(pub.get()), EVP_PKEY_RSA);
  EXPECT_EQ(EVP_PKEY_get_bits(pub.get()), 4096);
  std::string listing = token_->DescribeObjects("import-wrapping");
  EXPECT_THAT(listing, HasSubstr("Public Key Object; RSA 4096 bits"));
  EXPECT_THAT(listing, HasSubstr("never extractable"));
  EXPECT_THAT(listing, HasSubstr("Usage:      unwrap\n"));
}

TEST_F(HsmImportTest, ImportedAesKeyIsTheOneWrappedAndNeverExtractable) {
  std::string target = Random(32);
  ASSERT_TRUE(
      hsm_->UnwrapAesKey("import-wrapping", OaepHash::kSha1, Wrap(target), "imported-aes").ok());
  auto iv = Iv();
  absl::StatusOr<std::string> ct = hsm_->AesGcmEncrypt("imported-aes", iv, "", Bytes("payload"));
  ASSERT_TRUE(ct.ok()) << ct.status();
  EXPECT_EQ(OpenSslGcmDecrypt(target, iv, *ct), "payload");
  absl::StatusOr<bool> locked = hsm_->SecretKeyIsNonExtractable("imported-aes");
  ASSERT_TRUE(locked.ok()) << locked.status();
  EXPECT_TRUE(*locked);
  std::string listing = token_->DescribeObjects("imported-aes");
  EXPECT_THAT(listing, HasSubstr("sensitive"));
  EXPECT_THAT(listing, Not(HasSubstr("extractable\n")));
  // No ephemeral or other session key is left behind; only the token key exists.
  absl::StatusOr<std::vector<std::string>> labels = token_->ObjectLabels();
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ(std::count(labels->begin(), labels->end(), "imported-aes"), 1);
}

TEST_F(HsmImportTest, UnwrapSecretReturnsTheTargetBytes) {
  std::string target = Random(121);  // not a multiple of 8: KWP pads
  absl::StatusOr<SecretData> out =
      hsm_->UnwrapSecret("import-wrapping", OaepHash::kSha1, Wrap(target));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->RevealSecretAsString(), target);
}

TEST_F(HsmImportTest, RefusesBadWrapsWithClearErrors) {
  std::string target = Random(32);
  std::string good = Wrap(target);
  // A flipped bit in the OAEP part, and in the KWP part.
  for (size_t at : {size_t{10}, good.size() - 3}) {
    std::string bad = good;
    bad[at] ^= 0x01;
    absl::Status s = hsm_->UnwrapAesKey("import-wrapping", OaepHash::kSha1, bad, "bad-aes");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << at << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr(at == 10 ? "ephemeral key does not unwrap"
                                                : "target key does not unwrap"));
    EXPECT_THAT(s.message(), Not(HasSubstr(target)));
  }
  // Too short to hold the OAEP block.
  absl::Status s =
      hsm_->UnwrapAesKey("import-wrapping", OaepHash::kSha1, good.substr(0, 512), "bad-aes");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("too short"));
  // Targets that are not AES-256 keys.
  s = hsm_->UnwrapAesKey("import-wrapping", OaepHash::kSha1, Wrap(Random(16)), "bad-aes");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("a wrapped 256-bit key is 40")) << s;
  s = hsm_->UnwrapAesKey("import-wrapping", OaepHash::kSha1, Wrap(Random(28)), "bad-aes");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("not an AES-256 key")) << s;
  // Wrapped with SHA-1 but announced as SHA-256 (or SoftHSM's SHA-1-only OAEP).
  s = hsm_->UnwrapAesKey("import-wrapping", OaepHash::kSha256, good, "bad-aes");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("hash_function"));
  // Nothing was left on the token by the refusals.
  absl::StatusOr<bool> exists = hsm_->SecretKeyExists("bad-aes");
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
  EXPECT_EQ(hsm_->sessions_in_use(), 0u);
}

// SoftHSM's CKR_GENERAL_ERROR means bad input or a failing device: a self-check decides,
// and a passing fault does not fail the import.
TEST_F(HsmImportTest, AmbiguousAnswersAreSettledByTheDevice) {
  std::string target = Random(32);
  std::string wrapped = Wrap(target);
  hsm_->faults().Fail("C_UnwrapKey", CKR_GENERAL_ERROR, 1);
  absl::StatusOr<SecretData> out = hsm_->UnwrapSecret("import-wrapping", OaepHash::kSha1, wrapped);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->RevealSecretAsString(), target);
  hsm_->faults().Fail("C_UnwrapKey", CKR_GENERAL_ERROR, 100);
  out = hsm_->UnwrapSecret("import-wrapping", OaepHash::kSha1, wrapped);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable) << out.status();
  EXPECT_THAT(out.status().message(), HasSubstr("HSM fault"));
  hsm_->faults().Clear();
  EXPECT_EQ(hsm_->sessions_in_use(), 0u);
}

}  // namespace
}  // namespace strongroom::hsm
