// The audit keys in a real SoftHSM token: checkpoints signed in the HSM verify with the
// public key it exports, and only with that key.
#include "server/audit/hsm_audit_keys.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "server/audit/audit_verify.h"
#include "server/audit/testing/log_files.h"
#include "server/audit/testing/software_signer.h"

namespace strongroom::server::audit {
namespace {

using testing::FreshDir;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing::SampleEvent;

class HsmAuditKeysTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (token_ != nullptr) return;  // One token for the whole binary.
    auto token = hsm::testing::SoftHsmToken::Create();
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new hsm::testing::SoftHsmToken(*std::move(token));
  }
  void SetUp() override {
    auto hsm = hsm::Hsm::Open(token_->Options());
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    hsm_ = *std::move(hsm);
  }
  static hsm::testing::SoftHsmToken* token_;
  std::unique_ptr<hsm::Hsm> hsm_;
};
hsm::testing::SoftHsmToken* HsmAuditKeysTest::token_ = nullptr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

TEST_F(HsmAuditKeysTest, CheckpointsVerifyWithTheHsmPublicKeyOnly) {
  absl::StatusOr<std::unique_ptr<HsmAuditSigner>> signer = HsmAuditSigner::Create(hsm_.get());
  ASSERT_TRUE(signer.ok()) << signer.status();
  absl::StatusOr<std::unique_ptr<HsmAuditSigner>> again = HsmAuditSigner::Create(hsm_.get());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->public_key_der(), (*signer)->public_key_der());  // found, not remade
  EXPECT_THAT(token_->DescribeObjects(kAuditSigningKeyLabel), HasSubstr("never extractable"));

  std::string dir = FreshDir("hsm-signed");
  AuditLogOptions options;
  options.path = dir + "/audit.log";
  options.node_id = "node-a";
  options.checkpoint_interval = absl::ZeroDuration();
  {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options, signer->get());
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*log)->Append(SampleEvent(i)).ok());
  }
  std::string pem_path = dir + "/audit-signing.pub.pem";
  ASSERT_TRUE((*signer)->WritePublicKeyPem(pem_path).ok());
  std::string pem = ReadFile(pem_path);
  EXPECT_THAT(pem, HasSubstr("-----BEGIN PUBLIC KEY-----"));
  hsm::testing::CommandResult openssl =
      hsm::testing::RunCommand("openssl pkey -pubin -noout -text -in '" + pem_path + "'");
  EXPECT_EQ(openssl.exit_code, 0) << openssl.output;
  EXPECT_THAT(openssl.output, HasSubstr("prime256v1"));

  VerifyReport report;
  absl::Status verified = VerifyAuditLogs({options.path}, pem, &report);
  ASSERT_TRUE(verified.ok()) << verified;
  ASSERT_EQ(report.chains.size(), 1);
  EXPECT_EQ(report.chains[0].checkpoints, 5);

  testing::SoftwareSigner other;
  absl::Status wrong = VerifyAuditLogs({options.path}, other.public_key_pem(), &report);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(wrong.message(), HasSubstr("does not match the pinned key"));
}

TEST_F(HsmAuditKeysTest, HasherIsStableAndKeyed) {
  absl::StatusOr<std::unique_ptr<AuditHasher>> hasher = AuditHasher::Create(hsm_.get());
  ASSERT_TRUE(hasher.ok()) << hasher.status();
  absl::StatusOr<std::string> a = (*hasher)->HexHmac("token-a");
  absl::StatusOr<std::string> b = (*hasher)->HexHmac("token-b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_THAT(*a, MatchesRegex("[0-9a-f]{64}"));
  EXPECT_NE(*a, *b);

  absl::StatusOr<std::unique_ptr<AuditHasher>> again = AuditHasher::Create(hsm_.get());
  ASSERT_TRUE(again.ok()) << again.status();
  absl::StatusOr<std::string> a2 = (*again)->HexHmac("token-a");
  ASSERT_TRUE(a2.ok());
  EXPECT_EQ(*a2, *a);
  EXPECT_THAT(token_->DescribeObjects(kAuditHmacKeyLabel), HasSubstr("sensitive"));
}

}  // namespace
}  // namespace strongroom::server::audit
