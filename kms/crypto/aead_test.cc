#include "kms/crypto/aead.h"

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace strongroom::kms::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Pattern(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(size);
  for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

std::string PatternString(size_t size, uint32_t seed) {
  const Bytes b = Pattern(size, seed);
  return std::string(b.begin(), b.end());
}

class AeadTest : public ::testing::TestWithParam<AeadAlgorithm> {
 protected:
  AeadAlgorithm alg() const { return GetParam(); }
  Bytes key_ = Pattern(AeadKeySize(GetParam()), 1);
  Bytes nonce_ = Pattern(kAeadNonceSize, 2);
  const std::string aad_ = PatternString(20, 3);
  const std::string plaintext_ = PatternString(33, 4);

  std::string Seal() {
    std::string out;
    EXPECT_TRUE(AeadSeal(alg(), key_, nonce_, aad_, plaintext_, &out).ok());
    return out;
  }

  // Opens `sealed` with the given inputs into an output that already holds a prefix and
  // checks that failure is indistinct and leaves the prefix exactly as it was.
  bool OpensAndKeepsOutOnFailure(const Bytes& key, const Bytes& nonce, const std::string& aad,
                                 const std::string& sealed) {
    const std::string prefix = "existing output";
    std::string out = prefix;
    const absl::Status s = AeadOpen(alg(), key, nonce, aad, sealed, &out);
    if (s.ok()) return true;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "decryption failed");
    EXPECT_EQ(out, prefix);
    return false;
  }
};

TEST_P(AeadTest, KeySize) {
  EXPECT_EQ(AeadKeySize(alg()), alg() == AeadAlgorithm::kAes128Gcm ? 16u : 32u);
}

TEST_P(AeadTest, ContextMatchesOneShotCallsAndOutlivesFailures) {
  absl::StatusOr<AeadContext> context = AeadContext::Create(alg(), key_);
  ASSERT_TRUE(context.ok()) << context.status();
  for (size_t size = 0; size <= 100; ++size) {
    SCOPED_TRACE(absl::StrCat("size ", size));
    const Bytes nonce = Pattern(kAeadNonceSize, static_cast<uint32_t>(1000 + size));
    const std::string plaintext = PatternString(size, static_cast<uint32_t>(size));
    const std::string aad = PatternString(size % 23, 7);
    std::string expected, sealed = "s";
    ASSERT_TRUE(AeadSeal(alg(), key_, nonce, aad, plaintext, &expected).ok());
    ASSERT_TRUE(context->Seal(nonce, aad, plaintext, &sealed).ok());
    EXPECT_EQ(sealed, "s" + expected);
    // A forged tag fails like AeadOpen's, leaves *out alone, and the context still opens.
    std::string forged = expected;
    forged.back() ^= 1;
    std::string opened = "o";
    absl::Status s = context->Open(nonce, aad, forged, &opened);
    EXPECT_EQ(s.message(), "decryption failed");
    EXPECT_EQ(opened, "o");
    ASSERT_TRUE(context->Open(nonce, aad, expected, &opened).ok());
    EXPECT_EQ(opened, "o" + plaintext);
  }
}

TEST_P(AeadTest, ContextRejectsAWrongKeySize) {
  const Bytes short_key(AeadKeySize(alg()) - 1, 1);
  absl::StatusOr<AeadContext> context = AeadContext::Create(alg(), short_key);
  EXPECT_EQ(context.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(context.status().message().find("must be"), absl::string_view::npos);
}

TEST_P(AeadTest, RoundTripsAllSizesUpTo300) {
  for (size_t size = 0; size <= 300; ++size) {
    SCOPED_TRACE(absl::StrCat("size ", size));
    const std::string plaintext = PatternString(size, static_cast<uint32_t>(size));
    const std::string aad = PatternString(size % 37, 99);
    std::string sealed = "prefix";
    ASSERT_TRUE(AeadSeal(alg(), key_, nonce_, aad, plaintext, &sealed).ok());
    ASSERT_EQ(sealed.size(), 6 + size + kAeadTagSize);
    EXPECT_EQ(sealed.substr(0, 6), "prefix");
    std::string opened = "p";
    ASSERT_TRUE(AeadOpen(alg(), key_, nonce_, aad, sealed.substr(6), &opened).ok());
    EXPECT_EQ(opened, "p" + plaintext);
  }
}

TEST_P(AeadTest, DifferentNoncesGiveDifferentCiphertexts) {
  std::string a, b;
  ASSERT_TRUE(AeadSeal(alg(), key_, nonce_, aad_, plaintext_, &a).ok());
  Bytes other = nonce_;
  other[11] ^= 1;
  ASSERT_TRUE(AeadSeal(alg(), key_, other, aad_, plaintext_, &b).ok());
  EXPECT_NE(a, b);
}

TEST_P(AeadTest, EveryBitFlipInCiphertextAndTagFails) {
  const std::string sealed = Seal();
  ASSERT_TRUE(OpensAndKeepsOutOnFailure(key_, nonce_, aad_, sealed));
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    std::string bad = sealed;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, nonce_, aad_, bad)) << "bit " << bit;
  }
}

TEST_P(AeadTest, EveryBitFlipInAadFails) {
  const std::string sealed = Seal();
  for (size_t bit = 0; bit < aad_.size() * 8; ++bit) {
    std::string bad = aad_;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, nonce_, bad, sealed)) << "bit " << bit;
  }
}

TEST_P(AeadTest, EveryBitFlipInNonceFails) {
  const std::string sealed = Seal();
  for (size_t bit = 0; bit < nonce_.size() * 8; ++bit) {
    Bytes bad = nonce_;
    bad[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, bad, aad_, sealed)) << "bit " << bit;
  }
}

TEST_P(AeadTest, EveryTruncationAndExtensionFails) {
  const std::string sealed = Seal();
  for (size_t len = 0; len < sealed.size(); ++len) {
    EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, nonce_, aad_, sealed.substr(0, len)))
        << "length " << len;
  }
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, nonce_, aad_, sealed + '\0'));
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, nonce_, aad_, ""));
}

TEST_P(AeadTest, WrongKeyFails) {
  const std::string sealed = Seal();
  Bytes other = key_;
  other[0] ^= 0x80;
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(other, nonce_, aad_, sealed));
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(Pattern(key_.size(), 77), nonce_, aad_, sealed));
}

TEST_P(AeadTest, AadIsBound) {
  const std::string sealed = Seal();
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, nonce_, "", sealed));
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, nonce_, aad_ + "x", sealed));
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, nonce_, aad_.substr(1), sealed));
}

// An empty AAD and an absent one (default absl::string_view, null data) are the same
// thing: both authenticate zero bytes of associated data, so either opens the other.
TEST_P(AeadTest, EmptyAndAbsentAadAreTheSame) {
  std::string with_empty, with_absent;
  ASSERT_TRUE(AeadSeal(alg(), key_, nonce_, "", plaintext_, &with_empty).ok());
  ASSERT_TRUE(AeadSeal(alg(), key_, nonce_, absl::string_view(), plaintext_, &with_absent).ok());
  EXPECT_EQ(with_empty, with_absent);
  std::string out;
  EXPECT_TRUE(AeadOpen(alg(), key_, nonce_, absl::string_view(), with_empty, &out).ok());
  EXPECT_EQ(out, plaintext_);
  // Empty plaintext, absent or empty, seals to just the tag.
  std::string tag_only;
  ASSERT_TRUE(
      AeadSeal(alg(), key_, nonce_, absl::string_view(), absl::string_view(), &tag_only).ok());
  EXPECT_EQ(tag_only.size(), kAeadTagSize);
  out.clear();
  EXPECT_TRUE(AeadOpen(alg(), key_, nonce_, "", tag_only, &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST_P(AeadTest, SealRejectsBadSizesAndKeepsOut) {
  std::string out = "keep";
  for (size_t size :
       {size_t{0}, size_t{15}, size_t{16}, size_t{24}, size_t{31}, size_t{32}, size_t{33}}) {
    if (size == AeadKeySize(alg())) continue;
    const absl::Status s = AeadSeal(alg(), Pattern(size, 5), nonce_, aad_, plaintext_, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_NE(s.message().find("key"), absl::string_view::npos) << s;
  }
  for (size_t size : {size_t{0}, size_t{8}, size_t{11}, size_t{13}, size_t{16}, size_t{24}}) {
    const absl::Status s = AeadSeal(alg(), key_, Pattern(size, 6), aad_, plaintext_, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_NE(s.message().find("nonce"), absl::string_view::npos) << s;
  }
  EXPECT_EQ(out, "keep");
}

TEST_P(AeadTest, OpenRejectsBadSizesIndistinctly) {
  const std::string sealed = Seal();
  Bytes long_key = key_;
  long_key.push_back(0);
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(long_key, nonce_, aad_, sealed));
  EXPECT_FALSE(
      OpensAndKeepsOutOnFailure(Bytes(key_.begin(), key_.end() - 1), nonce_, aad_, sealed));
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, Bytes(16), aad_, sealed));
  EXPECT_FALSE(OpensAndKeepsOutOnFailure(key_, Bytes(), aad_, sealed));
}

TEST_P(AeadTest, RejectsInputsAliasingOut) {
  std::string out = plaintext_;
  const absl::string_view inside(out.data() + 1, 10);
  EXPECT_EQ(AeadSeal(alg(), key_, nonce_, aad_, inside, &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AeadSeal(alg(), key_, nonce_, inside, plaintext_, &out).code(),
            absl::StatusCode::kInvalidArgument);
  std::string sealed = Seal();
  EXPECT_EQ(AeadOpen(alg(), key_, nonce_, aad_, sealed, &sealed).message(), "decryption failed");
  EXPECT_EQ(out, plaintext_);
}

TEST_P(AeadTest, AlgorithmsDoNotOpenEachOther) {
  const std::string sealed = Seal();
  for (AeadAlgorithm other :
       {AeadAlgorithm::kAes128Gcm, AeadAlgorithm::kAes256Gcm, AeadAlgorithm::kChaCha20Poly1305}) {
    if (other == alg()) continue;
    std::string out;
    EXPECT_FALSE(AeadOpen(other, Pattern(AeadKeySize(other), 1), nonce_, aad_, sealed, &out).ok());
    EXPECT_TRUE(out.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(All, AeadTest,
                         ::testing::Values(AeadAlgorithm::kAes128Gcm, AeadAlgorithm::kAes256Gcm,
                                           AeadAlgorithm::kChaCha20Poly1305),
                         [](const ::testing::TestParamInfo<AeadAlgorithm>& info) {
                           switch (info.param) {
                             case AeadAlgorithm::kAes128Gcm:
                               return "Aes128Gcm";
                             case AeadAlgorithm::kAes256Gcm:
                               return "Aes256Gcm";
                             case AeadAlgorithm::kChaCha20Poly1305:
                               return "ChaCha20Poly1305";
                           }
                           return "Unknown";
                         });

// Several threads seal and open with their own keys and all three algorithms at once;
// each also checks that its ciphertexts do not open under a neighbour's key, which would
// show a context shared between threads or keyed with a stale key.
TEST(AeadThreadsTest, ConcurrentSealAndOpenWithDifferentKeys) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 1500;
  const AeadAlgorithm algs[] = {AeadAlgorithm::kAes128Gcm, AeadAlgorithm::kAes256Gcm,
                                AeadAlgorithm::kChaCha20Poly1305};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const Bytes key = Pattern(32, 1000 + t);
      const Bytes neighbour = Pattern(32, 1000 + (t + 1) % kThreads);
      for (int i = 0; i < kIterations; ++i) {
        const AeadAlgorithm alg = algs[(i + t) % 3];
        const absl::Span<const uint8_t> k(key.data(), AeadKeySize(alg));
        const absl::Span<const uint8_t> n(neighbour.data(), AeadKeySize(alg));
        const Bytes nonce = Pattern(kAeadNonceSize, t * 100000 + i);
        const std::string aad = absl::StrCat("thread ", t);
        const std::string plaintext = PatternString(i % 200, t * 7 + i);
        std::string sealed, opened, wrong;
        if (!AeadSeal(alg, k, nonce, aad, plaintext, &sealed).ok() ||
            !AeadOpen(alg, k, nonce, aad, sealed, &opened).ok() || opened != plaintext ||
            AeadOpen(alg, n, nonce, aad, sealed, &wrong).ok() || !wrong.empty()) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace strongroom::kms::crypto
