#include "pki/serial.h"

#include <openssl/bn.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::pki {
namespace {

// The serial `hex` (any case, no separators) as SerialToHex formats it.
std::string StoredForm(const std::string& hex) {
  BIGNUM* raw = nullptr;
  EXPECT_GT(BN_hex2bn(&raw, hex.c_str()), 0) << hex;
  hsm::BignumPtr bn(raw);
  hsm::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  return SerialToHex(serial.get());
}

std::string WithSeparators(const std::string& hex, char separator) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) out += separator;
    out += hex.substr(i, 2);
  }
  return out;
}

// Every spelling of a number is the form the CA stores it under, so policies, storage keys
// and the audit log all see one string for one certificate.
TEST(CanonicalSerialTest, EverySpellingIsTheStoredForm) {
  for (const std::string hex : {"4370dc9a5820922ef3658361917d5bf08c84b256", "0a1b2c", "01", "7f",
                                "80", "0", "1000", "00ff00"}) {
    const std::string stored = StoredForm(hex);
    SCOPED_TRACE(hex + " -> " + stored);
    std::string padded = hex.size() % 2 == 1 ? "0" + hex : hex;
    for (const std::string& spelling :
         {hex, absl::AsciiStrToUpper(hex), WithSeparators(padded, ':'),
          WithSeparators(absl::AsciiStrToUpper(padded), ':'), WithSeparators(padded, '-'),
          "00" + padded, "000" + hex, stored}) {
      absl::StatusOr<std::string> canonical = CanonicalSerial(spelling);
      ASSERT_TRUE(canonical.ok()) << spelling << ": " << canonical.status();
      EXPECT_EQ(*canonical, stored) << spelling;
    }
  }
}

TEST(CanonicalSerialTest, RefusesWhatIsNotASerial) {
  const std::vector<std::string> bad_serials = {"",
                                                ":",
                                                "--",
                                                "xyz",
                                                "12 34",
                                                "12/34",
                                                "0x12",
                                                "*",
                                                "ab\n",
                                                std::string(65, 'a'),
                                                std::string("ab\0cd", 5)};
  for (const std::string& bad : bad_serials) {
    absl::StatusOr<std::string> canonical = CanonicalSerial(bad);
    EXPECT_EQ(canonical.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(CanonicalSerial(std::string(64, 'a')).ok());
  EXPECT_TRUE(CanonicalSerial(WithSeparators(std::string(64, 'a'), ':')).ok());
}

}  // namespace
}  // namespace strongroom::pki
