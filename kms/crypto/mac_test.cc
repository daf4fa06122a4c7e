// Known-answer and behaviour tests for Digest, HMAC and HKDF beyond Wycheproof.
#include "kms/crypto/mac.h"

#include <array>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "hsm/secret_data.h"
#include "kms/crypto/hkdf.h"

namespace strongroom::kms::crypto {
namespace {

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

absl::Span<const uint8_t> Span(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(DigestTest, Sizes) {
  EXPECT_EQ(DigestSize(HashAlgorithm::kSha256), 32u);
  EXPECT_EQ(DigestSize(HashAlgorithm::kSha384), 48u);
  EXPECT_EQ(DigestSize(HashAlgorithm::kSha512), 64u);
}

// FIPS 180-2 appendix examples ("abc") and the empty string; output is appended.
TEST(DigestTest, KnownAnswers) {
  std::string out = "x";
  ASSERT_TRUE(Digest(HashAlgorithm::kSha256, "abc", &out).ok());
  EXPECT_EQ(Hex(out.substr(1)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(out[0], 'x');
  out.clear();
  ASSERT_TRUE(Digest(HashAlgorithm::kSha384, "abc", &out).ok());
  EXPECT_EQ(
      Hex(out),
      "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca1"
      "34c825a7");
  out.clear();
  ASSERT_TRUE(Digest(HashAlgorithm::kSha512, "abc", &out).ok());
  EXPECT_EQ(
      Hex(out),
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23"
      "a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  out.clear();
  ASSERT_TRUE(Digest(HashAlgorithm::kSha256, absl::string_view(), &out).ok());
  EXPECT_EQ(Hex(out), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(DigestTest, IntoAFixedBufferOfExactlyTheDigestSize) {
  std::array<uint8_t, 32> sha256{};
  ASSERT_TRUE(Digest(HashAlgorithm::kSha256, "abc", absl::MakeSpan(sha256)).ok());
  EXPECT_EQ(Hex(std::string(sha256.begin(), sha256.end())),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::array<uint8_t, 48> wrong{};
  absl::Status s = Digest(HashAlgorithm::kSha256, "abc", absl::MakeSpan(wrong));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "digest buffer must be 32 bytes, got 48");
}

struct HmacVector {
  HashAlgorithm hash;
  std::string key;
  std::string data;
  std::string tag_hex;
};

// RFC 4231 test cases 1 and 2.
std::vector<HmacVector> Rfc4231() {
  const std::string key1(20, '\x0b');
  const std::string data1 = "Hi There";
  const std::string data2 = "what do ya want for nothing?";
  return {
      {HashAlgorithm::kSha256, key1, data1,
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {HashAlgorithm::kSha384, key1, data1,
       "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8"
       "b2fa9cb6"},
      {HashAlgorithm::kSha512, key1, data1,
       "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274e"
       "aea3f4e4be9d914eeb61f1702e696c203a126854"},
      {HashAlgorithm::kSha256, "Jefe", data2,
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {HashAlgorithm::kSha384, "Jefe", data2,
       "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ec"
       "fab21649"},
      {HashAlgorithm::kSha512, "Jefe", data2,
       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65"
       "f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
  };
}

TEST(HmacTest, Rfc4231KnownAnswers) {
  for (const HmacVector& v : Rfc4231()) {
    SCOPED_TRACE(v.tag_hex);
    std::string out = "prefix";
    ASSERT_TRUE(HmacCompute(v.hash, Span(v.key), v.data, &out).ok());
    EXPECT_EQ(out.substr(0, 6), "prefix");
    EXPECT_EQ(Hex(out.substr(6)), v.tag_hex);
    const std::string tag = absl::HexStringToBytes(v.tag_hex);
    EXPECT_TRUE(HmacVerify(v.hash, Span(v.key), v.data, tag));
  }
}

TEST(HmacTest, VerifyRejectsModifiedTruncatedAndMismatched) {
  const HmacVector v = Rfc4231()[0];
  const std::string tag = absl::HexStringToBytes(v.tag_hex);
  for (size_t bit = 0; bit < tag.size() * 8; ++bit) {
    std::string bad = tag;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_FALSE(HmacVerify(v.hash, Span(v.key), v.data, bad)) << bit;
  }
  for (size_t len = 0; len < tag.size(); ++len) {
    EXPECT_FALSE(HmacVerify(v.hash, Span(v.key), v.data, tag.substr(0, len))) << len;
  }
  EXPECT_FALSE(HmacVerify(v.hash, Span(v.key), v.data, tag + "x"));
  EXPECT_FALSE(HmacVerify(v.hash, Span(v.key), v.data + ".", tag));
  EXPECT_FALSE(HmacVerify(v.hash, Span(v.key + "k"), v.data, tag));
  EXPECT_FALSE(HmacVerify(HashAlgorithm::kSha512, Span(v.key), v.data, tag));
}

// An empty key is refused rather than silently keyed with the previous call's key.
TEST(HmacTest, EmptyKeyIsRefused) {
  std::string out = "keep";
  const absl::Status s = HmacCompute(HashAlgorithm::kSha256, {}, "data", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, "keep");
  // Prime this thread's context with a real key first.
  const HmacVector v = Rfc4231()[0];
  ASSERT_TRUE(HmacVerify(v.hash, Span(v.key), v.data, absl::HexStringToBytes(v.tag_hex)));
  EXPECT_FALSE(HmacVerify(v.hash, {}, v.data, absl::HexStringToBytes(v.tag_hex)));
}

TEST(HmacTest, LongKeysAreHashed) {
  // Keys longer than the block size are hashed first (RFC 2104); the result must differ
  // from the same key truncated to the block size.
  const std::string long_key(200, 'k');
  std::string a, b;
  ASSERT_TRUE(HmacCompute(HashAlgorithm::kSha256, Span(long_key), "m", &a).ok());
  ASSERT_TRUE(HmacCompute(HashAlgorithm::kSha256, Span(long_key.substr(0, 64)), "m", &b).ok());
  EXPECT_NE(a, b);
  EXPECT_TRUE(HmacVerify(HashAlgorithm::kSha256, Span(long_key), "m", a));
}

TEST(HmacTest, ConcurrentThreadsWithDifferentKeys) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  const std::vector<HmacVector> vectors = Rfc4231();
  for (size_t t = 0; t < vectors.size(); ++t) {
    threads.emplace_back([&, t] {
      const HmacVector& v = vectors[t];
      const std::string tag = absl::HexStringToBytes(v.tag_hex);
      for (int i = 0; i < 2000; ++i) {
        std::string out;
        if (!HmacCompute(v.hash, Span(v.key), v.data, &out).ok() || out != tag ||
            !HmacVerify(v.hash, Span(v.key), v.data, tag)) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// RFC 5869 test cases 1 and 3 (the latter with empty salt and info).
TEST(HkdfTest, Rfc5869KnownAnswers) {
  const std::string ikm(22, '\x0b');
  std::string salt, info;
  for (int i = 0; i <= 0x0c; ++i) salt.push_back(static_cast<char>(i));
  for (int i = 0xf0; i <= 0xf9; ++i) info.push_back(static_cast<char>(i));
  absl::StatusOr<hsm::SecretData> okm = HkdfSha256(Span(ikm), salt, info, 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(Hex(okm->RevealSecretAsString()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");

  okm = HkdfSha256(Span(ikm), "", "", 42);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(Hex(okm->RevealSecretAsString()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfTest, EmptyIkmAndLengthLimits) {
  absl::StatusOr<hsm::SecretData> okm = HkdfSha256({}, "", "", 32);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(Hex(okm->RevealSecretAsString()),
            "eb70f01dede9afafa449eee1b1286504e1f62388b3f7dd4f956697b0e828fe18");
  const std::string ikm(32, 'i');
  EXPECT_EQ(HkdfSha256(Span(ikm), "s", "i", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HkdfSha256(Span(ikm), "s", "i", kHkdfSha256MaxLength + 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  okm = HkdfSha256(Span(ikm), "s", "i", kHkdfSha256MaxLength);
  ASSERT_TRUE(okm.ok()) << okm.status();
  EXPECT_EQ(okm->size(), kHkdfSha256MaxLength);
  // A prefix property: shorter outputs are prefixes of longer ones.
  absl::StatusOr<hsm::SecretData> short_okm = HkdfSha256(Span(ikm), "s", "i", 10);
  ASSERT_TRUE(short_okm.ok());
  EXPECT_EQ(short_okm->RevealSecretAsString(), okm->RevealSecretAsString().substr(0, 10));
}

TEST(HkdfTest, LongInfo) {
  const std::string ikm(32, 'i');
  EXPECT_TRUE(HkdfSha256(Span(ikm), "", std::string(4096, 'n'), 32).ok());
}

}  // namespace
}  // namespace strongroom::kms::crypto
