#include "kms/ciphertext.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strongroom::kms {
namespace {

using ::testing::HasSubstr;

TEST(EnvelopeTest, RoundTripsEveryLengthAndByte) {
  for (size_t len = 1; len < 80; ++len) {
    std::string payload(len, '\0');
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<char>((i * 37 + len) & 0xff);
    std::string text = FormatEnvelope(static_cast<uint32_t>(len), payload);
    auto env = ParseEnvelope(text, "ciphertext");
    ASSERT_TRUE(env.ok()) << text << ": " << env.status();
    EXPECT_EQ(env->version, len);
    EXPECT_EQ(env->payload, payload);
  }
  auto max = ParseEnvelope(FormatEnvelope(4294967295u, "x"), "c");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->version, 4294967295u);
}

TEST(EnvelopeTest, RejectsEverythingElseNamingTheField) {
  const char* bad[] = {
      "",
      "vault:v1:",
      "vault:v1",
      "vault:v0:AAAA",
      "vault:v4294967296:AAAA",
      "vault:v-1:AAAA",
      "vault:v+1:AAAA",
      "vault:v 1:AAAA",
      "Vault:v1:AAAA",
      "vault:v1:AAA",
      "vault:v1:AA=A",
      "vault:v1:A===",
      "vault:v1:AB==",  // non-canonical: padding bits set
      "vault:v1:AAB=",  // non-canonical
      "vault:v1:AA AA",
      "vault:v1:AA\nA",
      "vault:v1:AA-_",  // URL-safe alphabet is not accepted
      "vault:v1:AAAA:",
  };
  for (const char* text : bad) {
    auto env = ParseEnvelope(text, "signature");
    EXPECT_FALSE(env.ok()) << text;
    EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(env.status().message(), HasSubstr("signature: ")) << text;
  }
  EXPECT_TRUE(ParseEnvelope("vault:v1:AA==", "c").ok());
  EXPECT_TRUE(ParseEnvelope("vault:v12:AAA=", "c").ok());
}

}  // namespace
}  // namespace strongroom::kms
