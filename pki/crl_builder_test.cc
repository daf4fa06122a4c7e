#include "pki/crl_builder.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
#include "pki/testing/test_environment.h"

namespace strongroom::pki {
namespace {

using ::testing::HasSubstr;
using testing::MakeHsmKey;
using testing::RunCommand;
using testing::SelfSignedCa;
using testing::TheProvider;
using testing::WriteTmp;

class CrlBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = MakeHsmKey("crl-issuer", hsm::KeyPairType::kEcP256);
    ASSERT_NE(key_.private_key, nullptr);
    BuiltCertificate built = SelfSignedCa(key_, "Strongroom CRL Test CA", absl::Hours(24));
    ASSERT_NE(built.certificate, nullptr);
    cert_ = std::move(built.certificate);
    pem_ = built.pem;
  }
  Signer signer() const {
    return Signer{key_.private_key.get(), TheProvider().libctx(), cert_.get()};
  }
  CrlParams Params() const { return CrlParams{absl::Now(), absl::Now() + absl::Hours(24), 42}; }

  testing::HsmKey key_;
  hsm::X509Ptr cert_;
  std::string pem_;
};

TEST_F(CrlBuilderTest, VerifiesWithOpenSslAndListsSerials) {
  const absl::Time when = absl::FromUnixSeconds(1'700'000'000);
  std::vector<RevokedCertificate> revoked = {
      {"7f00000000000000000000000000000000000001", when},
      {"0A", when + absl::Hours(1), /*reason=*/1},
      {"4c9d2e", when + absl::Hours(2), /*reason=*/4},
  };
  auto crl = BuildCrl(Params(), revoked, signer());
  ASSERT_TRUE(crl.ok()) << crl.status();
  EXPECT_FALSE(CrlToDer(crl->get()).empty());
  const std::string issuer_path = WriteTmp("crl_issuer.pem", pem_);
  const std::string crl_path = WriteTmp("test.crl", CrlToPem(crl->get()));
  auto r = RunCommand(
      absl::StrCat("openssl crl -verify -noout -text -CAfile ", issuer_path, " -in ", crl_path));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("verify OK"));
  EXPECT_THAT(r.output, HasSubstr("Version 2"));
  EXPECT_THAT(r.output, HasSubstr("X509v3 CRL Number: \n                42"));
  EXPECT_THAT(r.output, HasSubstr("X509v3 Authority Key Identifier"));
  EXPECT_THAT(r.output, HasSubstr("Serial Number: 0A"));
  EXPECT_THAT(r.output, HasSubstr("Serial Number: 4C9D2E"));
  EXPECT_THAT(r.output, HasSubstr("Serial Number: 7F00000000000000000000000000000000000001"));
  EXPECT_THAT(r.output, HasSubstr("Revocation Date: Nov 14 22:13:20 2023 GMT"));
  // The reasonCode entry extension for the two with a reason, none for the unspecified one.
  EXPECT_THAT(r.output, HasSubstr("X509v3 CRL Reason Code: \n                Key Compromise"));
  EXPECT_THAT(r.output, HasSubstr("X509v3 CRL Reason Code: \n                Superseded"));
  size_t codes = 0;
  for (size_t at = r.output.find("CRL Reason Code"); at != std::string::npos;
       at = r.output.find("CRL Reason Code", at + 1)) {
    ++codes;
  }
  EXPECT_EQ(codes, 2u);
}

TEST_F(CrlBuilderTest, RefusesBadInput) {
  const absl::Time when = absl::Now();
  std::vector<RevokedCertificate> dup = {{"0a", when}, {"A", when}};
  auto crl = BuildCrl(Params(), dup, signer());
  EXPECT_EQ(crl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(crl.status().message(), HasSubstr("serial a is listed twice"));
  std::vector<RevokedCertificate> bad = {{"xyz", when}};
  crl = BuildCrl(Params(), bad, signer());
  EXPECT_EQ(crl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(crl.status().message(), HasSubstr("revoked[0].serial_number"));
  for (int reason : {-1, 7, 11}) {
    std::vector<RevokedCertificate> bad_reason = {{"0b", when, reason}};
    crl = BuildCrl(Params(), bad_reason, signer());
    EXPECT_EQ(crl.status().code(), absl::StatusCode::kInvalidArgument) << reason;
    EXPECT_THAT(crl.status().message(), HasSubstr("revoked[0].reason"));
  }
  CrlParams params = Params();
  params.next_update = params.this_update;
  EXPECT_EQ(BuildCrl(params, {}, signer()).status().code(), absl::StatusCode::kInvalidArgument);
  auto other = GenerateSoftwareKey(v1::EC_P256);
  EXPECT_EQ(BuildCrl(Params(), {}, Signer{other->get(), nullptr, cert_.get()}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(CrlBuilderTest, HundredThousandEntriesUnderTwoSeconds) {
  std::vector<RevokedCertificate> revoked;
  revoked.reserve(100000);
  const absl::Time when = absl::Now() - absl::Hours(1);
  for (int i = 0; i < 100000; ++i) {
    auto serial = RandomSerial();
    ASSERT_TRUE(serial.ok());
    revoked.push_back({SerialToHex(serial->get()), when});
  }
  const auto start = std::chrono::steady_clock::now();
  auto crl = BuildCrl(Params(), revoked, signer());
  const std::string der = crl.ok() ? CrlToDer(crl->get()) : "";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(crl.ok()) << crl.status();
  std::printf("CRL with 100000 entries: built, signed and DER-encoded (%zu bytes) in %.3f s\n",
              der.size(), seconds);
  RecordProperty("crl_100k_seconds", absl::StrFormat("%.3f", seconds));
  EXPECT_LT(seconds, 2.0);
  EXPECT_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl->get())), 100000);
  EXPECT_EQ(X509_CRL_verify(crl->get(), key_.public_key.get()), 1);
}

}  // namespace
}  // namespace strongroom::pki
