// End to end on PostgreSQL: the real strongroomd with storage.postgres on a throwaway
// PostgreSQL 15 cluster and a fresh SoftHSM token, driven by the real `strongroom` CLI and
// Python's grpcio. A key created and used before a restart decrypts after it; health goes
// NOT_SERVING while the database is down and SERVING again when it returns, with no
// restart of strongroomd; the password never appears in the server's output.
#include <google/protobuf/util/json_util.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/system.pb.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::PostgresCluster;
using testing::Process;
using testing::RunCommand;
using testing::Runfile;

// Polls grpc.health.v1.Health/Check until it answers `want` (hex of the response: 0801
// SERVING, 0802 NOT_SERVING) or 60 s pass; prints the last answer.
constexpr char kWaitForHealth[] = R"py(
import sys, time, grpc
addr, ca, want = sys.argv[1], sys.argv[2], sys.argv[3]
creds = grpc.ssl_channel_credentials(open(ca, 'rb').read())
ch = grpc.secure_channel(addr, creds, options=[('grpc.ssl_target_name_override', 'localhost')])
check = ch.unary_unary('/grpc.health.v1.Health/Check')
deadline = time.time() + 60
last = ''
while time.time() < deadline:
    try:
        last = check(b'', timeout=5).hex()
    except grpc.RpcError as e:
        last = str(e.code())
    if last == want:
        break
    time.sleep(0.2)
print('health', last)
)py";

class PostgresE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto token = hsm::testing::SoftHsmToken::Create("pg-e2e");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = std::make_unique<hsm::testing::SoftHsmToken>(*std::move(token));
    auto cluster = PostgresCluster::Start({.name = "pg-e2e"});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    pg_ = *std::move(cluster);
    std::ifstream(pg_->PasswordFile()) >> password_;
    ASSERT_FALSE(password_.empty());

    state_ = token_->dir + "/state";
    config_ = token_->dir + "/strongroom.yaml";
    const std::string yaml = absl::StrCat(
        "state_dir: ", state_, "\nhsm:\n  token_label: ", token_->label,
        "\n  pin_file: ", token_->pin_file, "\ngrpc:\n  address: 127.0.0.1:0\n",
        "storage:\n  postgres:\n    conninfo: \"", pg_->ConnInfo(),
        " target_session_attrs=read-write\"\n    password_file: ", pg_->PasswordFile(), "\n");
    ASSERT_TRUE(hsm::testing::WriteFile(config_, yaml, 0600).ok());
  }

  void TearDown() override {
    if (server_ != nullptr) {
      EXPECT_THAT(server_->output(), Not(HasSubstr(password_)));
      server_->Signal(SIGTERM);
      server_->Wait();
    }
  }

  int StartServer() {
    server_ = std::make_unique<Process>();
    int port = testing::StartStrongroomd(*server_, config_).grpc;
    EXPECT_NE(port, 0) << server_->output();
    addr_ = absl::StrCat("127.0.0.1:", port);
    return port;
  }

  testing::RunResult Cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {Runfile("tools/cli/strongroom"), "--addr", addr_, "--ca-file",
                                     testing::ServerCert(state_)};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {{"STRONGROOM_TOKEN_FILE", state_ + "/root-token"}});
  }

  std::string Ok(std::vector<std::string> args) {
    testing::RunResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << ": " << r.output;
    return std::string(absl::StripTrailingAsciiWhitespace(r.output));
  }

  std::string WaitForHealth(const std::string& want) {
    testing::RunResult r =
        RunCommand({"python3", "-c", kWaitForHealth, addr_, testing::ServerCert(state_), want}, {},
                   absl::Seconds(90));
    return r.output;
  }

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::unique_ptr<PostgresCluster> pg_;
  std::string password_, state_, config_, addr_;
  std::unique_ptr<Process> server_;
};

TEST_F(PostgresE2eTest, KeysSurviveARestartAndHealthFollowsTheDatabase) {
  ASSERT_NE(StartServer(), 0);
  testing::RunResult status = Cli({"--json", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  v1::Status parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(status.output, &parsed).ok());
  EXPECT_EQ(parsed.storage().backend(), "postgres");
  EXPECT_THAT(parsed.storage().location(), HasSubstr(absl::StrCat("port=", pg_->port())));
  EXPECT_THAT(status.output, Not(HasSubstr(password_)));

  const std::string plain = token_->dir + "/plain.bin";
  const std::string secret = "card 4111-1111-1111-1111";
  ASSERT_TRUE(hsm::testing::WriteFile(plain, secret, 0600).ok());
  Ok({"key", "create", "payments"});
  const std::string c1 = Ok({"encrypt", "payments", "--in", plain});
  EXPECT_THAT(c1, ::testing::StartsWith("vault:v1:"));

  // The records are in PostgreSQL, and no row holds the plaintext.
  EXPECT_NE(*pg_->Query("SELECT count(*) FROM strongroom_entries"), "0");
  EXPECT_EQ(*pg_->Query(absl::StrCat("SELECT count(*) FROM strongroom_entries WHERE "
                                     "position(convert_to('",
                                     secret, "', 'UTF8') in value) > 0")),
            "0");

  // A restart of strongroomd finds its keys in the database.
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(), 0) << server_->output();
  ASSERT_NE(StartServer(), 0);
  EXPECT_EQ(Cli({"decrypt", "payments", c1}).output, secret);
  EXPECT_THAT(WaitForHealth("0801"), HasSubstr("health 0801"));

  // The database goes away: NOT_SERVING, and writes fail clearly.
  ASSERT_TRUE(pg_->Stop().ok());
  EXPECT_THAT(WaitForHealth("0802"), HasSubstr("health 0802"));
  testing::RunResult create = Cli({"key", "create", "during-outage"});
  EXPECT_NE(create.exit_code, 0);
  EXPECT_THAT(create.output, Not(HasSubstr(password_)));
  EXPECT_THAT(server_->output(), HasSubstr("not serving: storage unavailable"));

  // It returns: SERVING again without restarting strongroomd, and everything works.
  ASSERT_TRUE(pg_->Restart().ok());
  EXPECT_THAT(WaitForHealth("0801"), HasSubstr("health 0801"));
  EXPECT_EQ(Cli({"decrypt", "payments", c1}).output, secret);
  Ok({"key", "create", "after-outage"});
  const std::string c2 = Ok({"encrypt", "after-outage", "--in", plain});
  EXPECT_EQ(Cli({"decrypt", "after-outage", c2}).output, secret);
}

}  // namespace
}  // namespace strongroom
