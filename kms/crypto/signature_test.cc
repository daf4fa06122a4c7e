#include "kms/crypto/signature.h"

#include <openssl/bio.h>
#include <openssl/pem.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hsm/secret_data.h"
#include "kms/crypto/mac.h"

namespace strongroom::kms::crypto {
namespace {

constexpr AsymmetricType kAllTypes[] = {AsymmetricType::kEcdsaP256, AsymmetricType::kEcdsaP384,
                                        AsymmetricType::kEd25519,   AsymmetricType::kRsa2048,
                                        AsymmetricType::kRsa3072,   AsymmetricType::kRsa4096};
constexpr HashAlgorithm kAllHashes[] = {HashAlgorithm::kSha256, HashAlgorithm::kSha384,
                                        HashAlgorithm::kSha512};

std::string TypeName(AsymmetricType type) {
  switch (type) {
    case AsymmetricType::kEcdsaP256:
      return "EcdsaP256";
    case AsymmetricType::kEcdsaP384:
      return "EcdsaP384";
    case AsymmetricType::kEd25519:
      return "Ed25519";
    case AsymmetricType::kRsa2048:
      return "Rsa2048";
    case AsymmetricType::kRsa3072:
      return "Rsa3072";
    case AsymmetricType::kRsa4096:
      return "Rsa4096";
  }
  return "Unknown";
}

bool IsRsa(AsymmetricType type) {
  return type == AsymmetricType::kRsa2048 || type == AsymmetricType::kRsa3072 ||
         type == AsymmetricType::kRsa4096;
}

// Every SignOptions a key of `type` supports.
std::vector<SignOptions> SupportedOptions(AsymmetricType type) {
  if (type == AsymmetricType::kEd25519) return {SignOptions{}};
  std::vector<SignOptions> all;
  for (HashAlgorithm hash : kAllHashes) {
    for (bool prehashed : {false, true}) {
      if (IsRsa(type)) {
        for (RsaPadding padding : {RsaPadding::kPss, RsaPadding::kPkcs1}) {
          all.push_back({hash, padding, prehashed});
        }
      } else {
        all.push_back({hash, RsaPadding::kPss, prehashed});
      }
    }
  }
  return all;
}

std::string Describe(const SignOptions& o) {
  return absl::StrCat("hash ", static_cast<int>(o.hash), " padding ",
                      o.padding == RsaPadding::kPss ? "PSS" : "PKCS1",
                      o.prehashed ? " prehashed" : "");
}

// The input Sign/Verify expect for `message` under `options`.
std::string Input(const SignOptions& options, const std::string& message) {
  if (!options.prehashed) return message;
  std::string digest;
  EXPECT_TRUE(Digest(options.hash, message, &digest).ok());
  return digest;
}

// Two key pairs per type, generated once for the whole binary (RSA-4096 is slow).
class SignatureTest : public ::testing::TestWithParam<AsymmetricType> {
 protected:
  struct Pair {
    hsm::SecretData der;
    std::unique_ptr<PrivateKey> private_key;
    std::unique_ptr<PublicKey> public_key;
  };

  static void TearDownTestSuite() { keys_->clear(); }

  static const Pair& Key(AsymmetricType type, int index) {
    auto& slot = (*keys_)[{type, index}];
    if (slot.private_key == nullptr) {
      absl::StatusOr<hsm::SecretData> der = GeneratePrivateKey(type);
      EXPECT_TRUE(der.ok()) << der.status();
      slot.der = *std::move(der);
      absl::StatusOr<std::unique_ptr<PrivateKey>> key = PrivateKey::Parse(type, slot.der);
      EXPECT_TRUE(key.ok()) << key.status();
      slot.private_key = *std::move(key);
      absl::StatusOr<std::string> spki = slot.private_key->PublicKeyDer();
      EXPECT_TRUE(spki.ok()) << spki.status();
      absl::StatusOr<std::unique_ptr<PublicKey>> pub = PublicKey::ParseDer(type, *spki);
      EXPECT_TRUE(pub.ok()) << pub.status();
      slot.public_key = *std::move(pub);
    }
    return slot;
  }

  AsymmetricType type() const { return GetParam(); }
  const Pair& A() const { return Key(type(), 0); }
  const Pair& B() const { return Key(type(), 1); }

  static std::map<std::pair<AsymmetricType, int>, Pair>* keys_;
};

std::map<std::pair<AsymmetricType, int>, SignatureTest::Pair>* SignatureTest::keys_ =
    new std::map<std::pair<AsymmetricType, int>, SignatureTest::Pair>();

TEST_P(SignatureTest, SignsAndVerifiesWithEverySupportedOption) {
  const std::string message = "transit message for " + TypeName(type());
  for (const SignOptions& options : SupportedOptions(type())) {
    SCOPED_TRACE(Describe(options));
    absl::StatusOr<std::string> sig = A().private_key->Sign(options, Input(options, message));
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_EQ(A().public_key->Verify(options, Input(options, message), *sig).value_or(false), true);
    // Prehashed and message modes produce interchangeable signatures.
    SignOptions flipped = options;
    flipped.prehashed = !options.prehashed;
    if (type() != AsymmetricType::kEd25519) {
      EXPECT_TRUE(A().public_key->Verify(flipped, Input(flipped, message), *sig).value_or(false));
    }
    // Modified message or signature.
    EXPECT_FALSE(
        A().public_key->Verify(options, Input(options, message + "!"), *sig).value_or(true));
    std::string bad = *sig;
    bad[bad.size() / 2] ^= 0x01;
    EXPECT_FALSE(A().public_key->Verify(options, Input(options, message), bad).value_or(true));
    EXPECT_FALSE(A().public_key->Verify(options, Input(options, message), "").value_or(true));
    EXPECT_FALSE(
        A().public_key->Verify(options, Input(options, message), sig->substr(1)).value_or(true));
    EXPECT_FALSE(
        A().public_key->Verify(options, Input(options, message), *sig + '\0').value_or(true));
  }
}

TEST_P(SignatureTest, SignatureSizes) {
  absl::StatusOr<std::string> sig = A().private_key->Sign({}, "m");
  ASSERT_TRUE(sig.ok()) << sig.status();
  switch (type()) {
    case AsymmetricType::kEd25519:
      EXPECT_EQ(sig->size(), 64u);
      break;
    case AsymmetricType::kRsa2048:
      EXPECT_EQ(sig->size(), 256u);
      break;
    case AsymmetricType::kRsa3072:
      EXPECT_EQ(sig->size(), 384u);
      break;
    case AsymmetricType::kRsa4096:
      EXPECT_EQ(sig->size(), 512u);
      break;
    default:
      EXPECT_EQ((*sig)[0], 0x30);  // DER SEQUENCE.
      EXPECT_LE(sig->size(), type() == AsymmetricType::kEcdsaP256 ? 72u : 104u);
  }
}

TEST_P(SignatureTest, SignatureFromAnotherKeyDoesNotVerify) {
  const std::string message = "m";
  for (const SignOptions& options : SupportedOptions(type())) {
    SCOPED_TRACE(Describe(options));
    absl::StatusOr<std::string> sig = A().private_key->Sign(options, Input(options, message));
    ASSERT_TRUE(sig.ok());
    EXPECT_FALSE(B().public_key->Verify(options, Input(options, message), *sig).value_or(true));
  }
}

TEST_P(SignatureTest, OptionsAreBoundToTheSignature) {
  if (type() == AsymmetricType::kEd25519) {
    // Pure Ed25519 ignores hash and padding.
    absl::StatusOr<std::string> sig = A().private_key->Sign({}, "m");
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE(
        A().public_key->Verify({HashAlgorithm::kSha512, RsaPadding::kPkcs1, false}, "m", *sig)
            .value_or(false));
    return;
  }
  const std::string message = "m";
  SignOptions options;
  absl::StatusOr<std::string> sig = A().private_key->Sign(options, message);
  ASSERT_TRUE(sig.ok());
  SignOptions other_hash = options;
  other_hash.hash = HashAlgorithm::kSha384;
  EXPECT_FALSE(A().public_key->Verify(other_hash, message, *sig).value_or(true));
  if (IsRsa(type())) {
    SignOptions pkcs1 = options;
    pkcs1.padding = RsaPadding::kPkcs1;
    EXPECT_FALSE(A().public_key->Verify(pkcs1, message, *sig).value_or(true));
    absl::StatusOr<std::string> pkcs1_sig = A().private_key->Sign(pkcs1, message);
    ASSERT_TRUE(pkcs1_sig.ok());
    EXPECT_FALSE(A().public_key->Verify(options, message, *pkcs1_sig).value_or(true));
    // PKCS#1 v1.5 is deterministic, PSS is randomised.
    EXPECT_EQ(*A().private_key->Sign(pkcs1, message), *pkcs1_sig);
    EXPECT_NE(*A().private_key->Sign(options, message), *sig);
  }
}

// Checks that only concern RSA, run on RSA-2048.
class RsaSignatureTest : public SignatureTest {};

// A signature that starts with a zero octet must not verify with that octet dropped
// (OpenSSL 3.0's PSS verification alone would accept it). Signs until such a signature
// turns up, about one in 256.
TEST_P(RsaSignatureTest, SignatureWithLeadingZeroDroppedIsRejected) {
  for (RsaPadding padding : {RsaPadding::kPss, RsaPadding::kPkcs1}) {
    const SignOptions options{HashAlgorithm::kSha256, padding, false};
    bool found = false;
    for (int i = 0; i < 5000 && !found; ++i) {
      const std::string message = absl::StrCat("message ", i);
      absl::StatusOr<std::string> sig = A().private_key->Sign(options, message);
      ASSERT_TRUE(sig.ok());
      if ((*sig)[0] != 0) continue;
      found = true;
      EXPECT_TRUE(A().public_key->Verify(options, message, *sig).value_or(false));
      EXPECT_FALSE(A().public_key->Verify(options, message, sig->substr(1)).value_or(true));
    }
    EXPECT_TRUE(found) << "no signature with a leading zero octet in 5000 tries";
  }
}

TEST_P(SignatureTest, PrehashedInputMustBeADigest) {
  SignOptions options;
  options.prehashed = true;
  if (type() == AsymmetricType::kEd25519) {
    const std::string digest(32, 'd');
    EXPECT_EQ(A().private_key->Sign(options, digest).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(A().public_key->Verify(options, digest, std::string(64, 's')).status().code(),
              absl::StatusCode::kInvalidArgument);
    return;
  }
  for (HashAlgorithm hash : kAllHashes) {
    options.hash = hash;
    for (size_t size : {size_t{0}, size_t{20}, size_t{32}, size_t{48}, size_t{64}, size_t{65}}) {
      if (size == DigestSize(hash)) continue;
      EXPECT_EQ(A().private_key->Sign(options, std::string(size, 'd')).status().code(),
                absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(A().public_key->Verify(options, std::string(size, 'd'), "sig").status().code(),
                absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST_P(SignatureTest, ParseRejectsOtherTypesAndSizes) {
  absl::StatusOr<std::string> spki = A().private_key->PublicKeyDer();
  ASSERT_TRUE(spki.ok());
  for (AsymmetricType other : kAllTypes) {
    if (other == type()) continue;
    SCOPED_TRACE(TypeName(other));
    absl::StatusOr<std::unique_ptr<PrivateKey>> priv = PrivateKey::Parse(other, A().der);
    EXPECT_EQ(priv.status().code(), absl::StatusCode::kInvalidArgument);
    absl::StatusOr<std::unique_ptr<PublicKey>> pub = PublicKey::ParseDer(other, *spki);
    EXPECT_EQ(pub.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_P(SignatureTest, ParseRejectsMalformedDer) {
  const absl::string_view der = A().der.RevealSecretAsString();
  EXPECT_FALSE(PrivateKey::Parse(type(), hsm::SecretData()).ok());
  EXPECT_FALSE(
      PrivateKey::Parse(type(), hsm::SecretData::Copy(der.substr(0, der.size() - 1))).ok());
  EXPECT_FALSE(PrivateKey::Parse(type(), hsm::SecretData::Copy(absl::StrCat(der, "x"))).ok());
  EXPECT_FALSE(PrivateKey::Parse(type(), hsm::SecretData::Copy("not a key")).ok());
  absl::StatusOr<std::string> spki = A().private_key->PublicKeyDer();
  ASSERT_TRUE(spki.ok());
  EXPECT_FALSE(PublicKey::ParseDer(type(), "").ok());
  EXPECT_FALSE(PublicKey::ParseDer(type(), spki->substr(0, spki->size() - 1)).ok());
  EXPECT_FALSE(PublicKey::ParseDer(type(), *spki + "x").ok());
  // A private key is not a public key and vice versa.
  EXPECT_FALSE(PublicKey::ParseDer(type(), der).ok());
  EXPECT_FALSE(PrivateKey::Parse(type(), hsm::SecretData::Copy(*spki)).ok());
}

TEST_P(SignatureTest, PublicKeyPemMatchesOpenSsl) {
  absl::StatusOr<std::string> der = A().private_key->PublicKeyDer();
  absl::StatusOr<std::string> pem = A().private_key->PublicKeyPem();
  ASSERT_TRUE(der.ok());
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(*pem, PemFromDer(*der, "PUBLIC KEY"));
  // Parse the PEM back with OpenSSL and re-encode it.
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  ASSERT_NE(bio, nullptr);
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(pkey, nullptr);
  unsigned char* reencoded = nullptr;
  const int len = i2d_PUBKEY(pkey, &reencoded);
  EVP_PKEY_free(pkey);
  ASSERT_GT(len, 0);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(reencoded), len), *der);
  OPENSSL_free(reencoded);
}

TEST_P(SignatureTest, ConcurrentSigningAndVerifying) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const int iterations = IsRsa(type()) ? 5 : 50;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < iterations; ++i) {
        const std::string message = absl::StrCat("thread ", t, " message ", i);
        absl::StatusOr<std::string> sig = A().private_key->Sign({}, message);
        if (!sig.ok() || !A().public_key->Verify({}, message, *sig).value_or(false) ||
            B().public_key->Verify({}, message, *sig).value_or(true)) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(All, SignatureTest, ::testing::ValuesIn(kAllTypes),
                         [](const ::testing::TestParamInfo<AsymmetricType>& info) {
                           return TypeName(info.param);
                         });
INSTANTIATE_TEST_SUITE_P(Rsa2048, RsaSignatureTest, ::testing::Values(AsymmetricType::kRsa2048),
                         [](const ::testing::TestParamInfo<AsymmetricType>& info) {
                           return TypeName(info.param);
                         });

TEST(PemFromDerTest, WrapsAt64Columns) {
  EXPECT_EQ(PemFromDer("", "X"), "-----BEGIN X-----\n-----END X-----\n");
  EXPECT_EQ(PemFromDer("abc", "PUBLIC KEY"),
            "-----BEGIN PUBLIC KEY-----\nYWJj\n-----END PUBLIC KEY-----\n");
  std::string line;
  for (int i = 0; i < 16; ++i) line += "YWFh";  // base64("aaa")
  EXPECT_EQ(PemFromDer(std::string(49, 'a'), "K"),
            "-----BEGIN K-----\n" + line + "\nYQ==\n-----END K-----\n");
}

}  // namespace
}  // namespace strongroom::kms::crypto
