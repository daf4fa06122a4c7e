// `strongroom audit verify` end to end: the real binary (a data dependency) on logs written
// by server/audit's AuditLog, intact and tampered with. No server is involved.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/audit/audit_log.h"
#include "server/audit/testing/log_files.h"
#include "server/audit/testing/software_signer.h"
#include "tools/cli/testing/cli_runner.h"

namespace strongroom::cli {
namespace {

using server::audit::testing::FreshDir;
using server::audit::testing::ReadLines;
using server::audit::testing::SampleEvent;
using server::audit::testing::SoftwareSigner;
using server::audit::testing::WriteLines;
using testing::CliResult;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class AuditCommandsTest : public ::testing::Test {
 protected:
  // node-a's log of a header, 10 requests and a checkpoint, and the signer's PEM beside it.
  void SetUp() override {
    std::string dir = FreshDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = dir + "/audit.log";
    pem_path_ = dir + "/audit-signing.pub.pem";
    WriteLog(path_, "node-a", 10);
    WriteLines(pem_path_, {signer_.public_key_pem()});
  }

  // A log at `path` by node `node_id` of a header, `requests` requests and a checkpoint.
  void WriteLog(const std::string& path, const std::string& node_id, int requests) {
    server::audit::AuditLogOptions options;
    options.path = path;
    options.node_id = node_id;
    absl::StatusOr<std::unique_ptr<server::audit::AuditLog>> log =
        server::audit::AuditLog::Open(options, &signer_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < requests; ++i) ASSERT_TRUE((*log)->Append(SampleEvent(i)).ok());
  }

  CliResult Verify(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::CliPath(), "audit", "verify"});
    return testing::RunBinary(args, "");
  }

  SoftwareSigner signer_;
  std::string path_;
  std::string pem_path_;
};

TEST_F(AuditCommandsTest, IntactLogVerifies) {
  CliResult result = Verify({path_, "--public-key", pem_path_});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("Result         OK\n"));
  EXPECT_THAT(result.out, HasSubstr("Lines          12 (seq 1 to 12)\n"));
  EXPECT_THAT(result.out, HasSubstr("Checkpoints    1\n"));
  EXPECT_THAT(result.out, HasSubstr("Signed up to   seq 12\n"));
  EXPECT_THAT(result.err, IsEmpty());

  result = Verify({"--json", path_});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"lines\": 12,"));
  EXPECT_THAT(result.out, HasSubstr("\"node\": \"node-a\""));
}

TEST_F(AuditCommandsTest, TamperedLineFailsNamingIt) {
  std::vector<std::string> lines = ReadLines(path_);
  lines[4][lines[4].find("spiffe")] = 'S';
  WriteLines(path_, lines);
  CliResult result = Verify({path_});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr(absl::StrCat("strongroom: ", path_,
                                                 ":6: prev hash does not match line 5")));
  EXPECT_THAT(result.out, IsEmpty());
}

TEST_F(AuditCommandsTest, WrongPinnedKeyFails) {
  SoftwareSigner other;
  WriteLines(pem_path_, {other.public_key_pem()});
  CliResult result = Verify({path_, "--public-key", pem_path_});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr(":1: header public key does not match the pinned key"));
}

TEST_F(AuditCommandsTest, UnsignedTailIsAWarning) {
  std::vector<std::string> lines = ReadLines(path_);
  lines.pop_back();
  WriteLines(path_, lines);
  CliResult result = Verify({path_});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("Unsigned tail  11 lines\n"));
  EXPECT_THAT(result.err, HasSubstr("warning: the last 11 lines of node node-a are not covered"));
}

TEST_F(AuditCommandsTest, LogsOfSeveralNodesVerifyTogether) {
  std::string other = FreshDir("other-node") + "/audit.log";
  WriteLog(other, "node-b", 4);

  CliResult result = Verify({other, path_, "--public-key", pem_path_});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("Node           node-a\nResult         OK\n"));
  EXPECT_THAT(result.out, HasSubstr("Lines          12 (seq 1 to 12)\n"));
  EXPECT_THAT(result.out, HasSubstr("Node           node-b\nResult         OK\n"));
  EXPECT_THAT(result.out, HasSubstr("Lines          6 (seq 1 to 6)\n"));

  result = Verify({"--json", other, path_});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("\"node\": \"node-a\",\n      \"files\": 1,\n      "
                                    "\"lines\": 12,"));
  EXPECT_THAT(result.out, HasSubstr("\"node\": \"node-b\",\n      \"files\": 1,\n      "
                                    "\"lines\": 6,"));

  // A line of node-b's log tampered with fails, naming node-b's file.
  std::vector<std::string> lines = ReadLines(other);
  lines[2][lines[2].find("spiffe")] = 'S';
  WriteLines(other, lines);
  result = Verify({path_, other});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr(absl::StrCat(other, ":4: prev hash does not match line 3")));
}

TEST_F(AuditCommandsTest, MissingFileAndUsage) {
  CliResult result = Verify({path_ + ".missing"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("cannot read"));
  EXPECT_EQ(Verify({}).exit_code, 2);
}

}  // namespace
}  // namespace strongroom::cli
