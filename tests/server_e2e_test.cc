// End to end: the real strongroomd on a fresh SoftHSM token, driven by the real
// `strongroom` CLI, pkcs11-tool and Python's grpcio as outside clients.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "kubernetes/kms/v2/kms.grpc.pb.h"
#include "strongroom/v1/system.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Process;
using testing::RunCommand;
using testing::Runfile;

class ServerE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (token_ != nullptr) return;  // One token for the whole binary.
    auto token = hsm::testing::SoftHsmToken::Create("e2e");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new hsm::testing::SoftHsmToken(*std::move(token));
  }

  void SetUp() override {
    static int n = 0;
    state_ = absl::StrCat(token_->dir, "/state", ++n);
    config_ = WriteConfig("strongroom.yaml", "");
  }

  // A config for this test's state dir, with `hsm_extra` YAML lines under hsm: and the
  // token's PIN file unless `pin_file` says otherwise.
  std::string WriteConfig(const std::string& name, const std::string& hsm_extra,
                          const std::string& pin_file = "", const std::string& top_extra = "") {
    std::string path = absl::StrCat(token_->dir, "/", name);
    std::string yaml =
        absl::StrCat("state_dir: ", state_, "\nhsm:\n  token_label: ", token_->label,
                     "\n  pin_file: ", pin_file.empty() ? token_->pin_file : pin_file, "\n",
                     hsm_extra, "grpc:\n  address: 127.0.0.1:0\n", top_extra);
    EXPECT_TRUE(hsm::testing::WriteFile(path, yaml, 0600).ok());
    return path;
  }

  // Starts strongroomd and waits until it listens; returns its port.
  int StartServer() {
    server_ = std::make_unique<Process>();
    int port = testing::StartStrongroomd(*server_, config_).grpc;
    EXPECT_NE(port, 0) << server_->output();
    if (port == 0) return 0;
    addr_ = absl::StrCat("127.0.0.1:", port);
    return port;
  }

  testing::RunResult Cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {Runfile("tools/cli/strongroom"), "--addr", addr_, "--ca-file",
                                     testing::ServerCert(state_)};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, CliEnv());
  }

  // The CLI's credentials: the bootstrap root token strongroomd wrote on first start.
  std::map<std::string, std::string> CliEnv() const {
    return {{"STRONGROOM_TOKEN_FILE", state_ + "/root-token"}};
  }

  v1::Status StatusJson(const std::vector<std::string>& command) {
    std::vector<std::string> args = {"--json"};
    args.insert(args.end(), command.begin(), command.end());
    testing::RunResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    v1::Status status;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.output, &status).ok()) << r.output;
    return status;
  }

  // Runs a Python grpcio client script (an independent gRPC implementation) against the
  // server; the script gets the address and the CA file as argv[1] and argv[2].
  testing::RunResult Python(const std::string& script) {
    return RunCommand({"python3", "-c", script, addr_, testing::ServerCert(state_)});
  }

  static hsm::testing::SoftHsmToken* token_;
  std::string state_, config_, addr_;
  std::unique_ptr<Process> server_;
};
hsm::testing::SoftHsmToken* ServerE2eTest::token_ = nullptr;

constexpr char kPythonPrelude[] = R"py(
import sys, grpc
addr, ca = sys.argv[1], sys.argv[2]
creds = grpc.ssl_channel_credentials(open(ca, 'rb').read())
ch = grpc.secure_channel(addr, creds, options=[('grpc.ssl_target_name_override', 'localhost')])
)py";

TEST_F(ServerE2eTest, StatusReportsUnsealedWithTheTokenDetails) {
  ASSERT_NE(StartServer(), 0);
  testing::RunResult r = Cli({"status"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Sealed"));
  EXPECT_THAT(r.output, HasSubstr("false"));
  EXPECT_THAT(r.output, HasSubstr("SoftHSM project"));
  EXPECT_THAT(r.output, HasSubstr("SoftHSM v2"));
  EXPECT_THAT(r.output, HasSubstr(token_->label));

  v1::Status status = StatusJson({"status"});
  EXPECT_FALSE(status.sealed());
  EXPECT_EQ(status.kek_version(), 1u);
  EXPECT_EQ(status.hsm().module(), hsm::testing::kSoftHsmModule);
  EXPECT_EQ(status.hsm().token_label(), token_->label);
  EXPECT_EQ(status.hsm().manufacturer(), "SoftHSM project");
  EXPECT_EQ(status.hsm().model(), "SoftHSM v2");
  EXPECT_TRUE(status.hsm().available());
  EXPECT_EQ(status.storage().backend(), "sqlite");
  EXPECT_EQ(status.storage().location(), state_ + "/strongroom.db");
  EXPECT_THAT(server_->output(), HasSubstr("created a self-signed TLS certificate"));
}

TEST_F(ServerE2eTest, KekOnTheTokenIsSensitiveAndNotExtractable) {
  ASSERT_NE(StartServer(), 0);
  std::string view = token_->DescribeObjects("strongroom-kek-1");
  EXPECT_THAT(view, HasSubstr("Secret Key Object; AES length 32"));
  EXPECT_THAT(view, HasSubstr("sensitive"));
  EXPECT_THAT(view, HasSubstr("never extractable"));
}

TEST_F(ServerE2eTest, SealAndUnsealThroughTheCli) {
  ASSERT_NE(StartServer(), 0);
  v1::Status sealed = StatusJson({"seal"});
  EXPECT_TRUE(sealed.sealed());
  EXPECT_EQ(sealed.sealed_reason(), "sealed by operator");
  EXPECT_EQ(sealed.kek_version(), 0u);
  EXPECT_TRUE(StatusJson({"status"}).sealed());
  v1::Status unsealed = StatusJson({"unseal"});
  EXPECT_FALSE(unsealed.sealed());
  EXPECT_EQ(unsealed.kek_version(), 1u);
}

TEST_F(ServerE2eTest, RootKeyRotationAndRestartKeepTheKek) {
  ASSERT_NE(StartServer(), 0);
  EXPECT_EQ(StatusJson({"rotate-root-key"}).kek_version(), 2u);
  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0) << server_->output();
  ASSERT_NE(StartServer(), 0);
  EXPECT_EQ(StatusJson({"status"}).kek_version(), 2u);
  EXPECT_THAT(server_->output(), Not(HasSubstr("created a self-signed")));
}

TEST_F(ServerE2eTest, SigkillDuringWritesLosesNoAcknowledgedWrite) {
  ASSERT_NE(StartServer(), 0);
  // A client rotates the root key in a loop; each printed KEK version is an
  // acknowledged, committed write (new KEK state plus every record re-wrapped).
  Process client;
  std::string cli = absl::StrCat(Runfile("tools/cli/strongroom"), " --addr ", addr_, " --ca-file ",
                                 testing::ServerCert(state_), " --json");
  ASSERT_TRUE(client.Start(
      {"sh", "-c",
       absl::StrCat("i=0; while [ $i -lt 200 ]; do i=$((i+1)); ", cli,
                    " rotate-root-key | grep -o '\"kekVersion\": [0-9]*' || exit 0; done")},
      CliEnv()));
  ASSERT_TRUE(client.WaitForOutput("\"kekVersion\": 6")) << client.output();
  server_->Signal(SIGKILL);
  EXPECT_EQ(server_->Wait(), 128 + SIGKILL);
  client.Wait();
  uint32_t acknowledged = 0;
  for (absl::string_view line : absl::StrSplit(client.output(), '\n')) {
    uint32_t v;
    if (absl::ConsumePrefix(&line, "\"kekVersion\": ") && absl::SimpleAtoi(line, &v)) {
      acknowledged = std::max(acknowledged, v);
    }
  }
  ASSERT_GE(acknowledged, 6u);
  // The storage opens cleanly and holds every acknowledged rotation (and at most the one
  // that was committed but not yet acknowledged when the process died).
  ASSERT_NE(StartServer(), 0) << server_->output();
  v1::Status status = StatusJson({"status"});
  EXPECT_FALSE(status.sealed());
  EXPECT_GE(status.kek_version(), acknowledged);
  EXPECT_LE(status.kek_version(), acknowledged + 1);
}

TEST_F(ServerE2eTest, HealthAndReflectionAnswerAnOutsideClient) {
  ASSERT_NE(StartServer(), 0);
  // grpc.health.v1.Health/Check with an empty request: SERVING is field 1 = 1.
  testing::RunResult health = Python(absl::StrCat(kPythonPrelude, R"py(
resp = ch.unary_unary('/grpc.health.v1.Health/Check')(b'', timeout=10)
print('health', resp.hex())
)py"));
  EXPECT_EQ(health.exit_code, 0) << health.output;
  EXPECT_THAT(health.output, HasSubstr("health 0801"));
  // ServerReflectionInfo with list_services (field 7) lists our service.
  testing::RunResult reflection = Python(absl::StrCat(kPythonPrelude, R"py(
call = ch.stream_stream('/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo')
for resp in call(iter([b'\x3a\x00']), timeout=10):
    print('services', resp)
)py"));
  EXPECT_EQ(reflection.exit_code, 0) << reflection.output;
  EXPECT_THAT(reflection.output, HasSubstr("strongroom.v1.System"));
  EXPECT_THAT(reflection.output, HasSubstr("grpc.health.v1.Health"));
}

TEST_F(ServerE2eTest, SigtermDrainsAndExitsCleanly) {
  ASSERT_NE(StartServer(), 0);
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(), 0);
  EXPECT_THAT(server_->output(), HasSubstr("SIGTERM: draining"));
  EXPECT_THAT(server_->output(), HasSubstr("stopped: sealed"));
  testing::RunResult down = Cli({"status"});
  EXPECT_NE(down.exit_code, 0);
  EXPECT_THAT(down.output, HasSubstr("cannot reach strongroomd at " + addr_));
}

TEST_F(ServerE2eTest, CliRefusesAServerItDoesNotTrust) {
  ASSERT_NE(StartServer(), 0);
  std::string other_key = token_->dir + "/other.key", other_crt = token_->dir + "/other.crt";
  testing::RunResult made = RunCommand(
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-subj", "/CN=localhost", "-keyout", other_key, "-out", other_crt, "-days", "1"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  testing::RunResult r = RunCommand(
      {Runfile("tools/cli/strongroom"), "--addr", addr_, "--ca-file", other_crt, "status"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("TLS handshake with " + addr_ + " failed"));
}

TEST_F(ServerE2eTest, TheProcessCannotDumpCore) {
  ASSERT_NE(StartServer(), 0);
  testing::RunResult limits =
      RunCommand({"cat", absl::StrCat("/proc/", server_->pid(), "/limits")});
  EXPECT_THAT(limits.output, ::testing::ContainsRegex("Max core file size +0 +0"));
  testing::RunResult st =
      RunCommand({"grep", "-E", "^(Uid|VmLck)", absl::StrCat("/proc/", server_->pid(), "/status")});
  // The secure heap for key material is mlock'ed.
  EXPECT_THAT(st.output, Not(HasSubstr("VmLck:\t       0 kB"))) << st.output;
}

// The server runs without glibc's per-thread malloc caches (server/allocator.h): it has
// exec'd itself, same process, with the tunable set.
TEST_F(ServerE2eTest, TheServerRunsWithoutPerThreadMallocCaches) {
  ASSERT_NE(StartServer(), 0);
  testing::RunResult env = RunCommand(
      {"sh", "-c", absl::StrCat("tr '\\0' '\\n' < /proc/", server_->pid(), "/environ")});
  EXPECT_THAT(env.output, HasSubstr("GLIBC_TUNABLES=glibc.malloc.tcache_count=0"));
}

TEST_F(ServerE2eTest, TransitLifecycleThroughTheCliSurvivesARestart) {
  ASSERT_NE(StartServer(), 0);
  std::string plain = token_->dir + "/plain.bin";
  const std::string secret = std::string("card 4111-1111\0tail", 19);
  ASSERT_TRUE(hsm::testing::WriteFile(plain, secret, 0600).ok());
  auto ok = [&](std::vector<std::string> args) {
    testing::RunResult r = Cli(args);
    EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << ": " << r.output;
    return std::string(absl::StripTrailingAsciiWhitespace(r.output));
  };
  ok({"key", "create", "payments"});
  std::string c1 = ok({"encrypt", "payments", "--in", plain});
  EXPECT_THAT(c1, ::testing::StartsWith("vault:v1:"));
  EXPECT_THAT(ok({"key", "rotate", "payments"}), HasSubstr("2"));
  std::string c2 = ok({"encrypt", "payments", "--in", plain});
  EXPECT_THAT(c2, ::testing::StartsWith("vault:v2:"));
  EXPECT_EQ(Cli({"decrypt", "payments", c1}).output, secret);
  EXPECT_EQ(Cli({"decrypt", "payments", c2}).output, secret);
  std::string rewrapped = ok({"rewrap", "payments", c1});
  EXPECT_THAT(rewrapped, ::testing::StartsWith("vault:v2:"));
  ok({"key", "config", "payments", "--min-decryption-version", "2"});
  testing::RunResult denied = Cli({"decrypt", "payments", c1});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.output, HasSubstr("below min_decryption_version 2"));
  EXPECT_THAT(denied.output, Not(HasSubstr("4111")));

  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0);
  ASSERT_NE(StartServer(), 0);
  EXPECT_EQ(Cli({"decrypt", "payments", c2}).output, secret);
  EXPECT_EQ(Cli({"decrypt", "payments", rewrapped}).output, secret);
  EXPECT_EQ(Cli({"decrypt", "payments", c1}).exit_code, 1);
  // Plaintext never reaches the server's log.
  EXPECT_THAT(server_->output(), Not(HasSubstr("4111")));
}

TEST_F(ServerE2eTest, KubernetesKmsV2PluginOnAUnixSocket) {
  // sockaddr_un paths are short: the socket goes in a fresh folder under /tmp.
  std::string dir = "/tmp/strongroom-kms-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string socket = dir + "/plugin.sock";
  config_ = WriteConfig("kms.yaml", "", "",
                        "kms_plugin:\n  key_name: kubernetes\n  socket_path: " + socket + "\n");
  ASSERT_NE(StartServer(), 0);
  ASSERT_TRUE(server_->WaitForOutput("KMS v2 plugin listening")) << server_->output();
  struct stat st;
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto stub = ::v2::KeyManagementService::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  auto status = [&] {
    grpc::ClientContext ctx;
    ::v2::StatusResponse resp;
    EXPECT_TRUE(stub->Status(&ctx, ::v2::StatusRequest(), &resp).ok());
    return resp;
  };
  auto encrypt = [&](const std::string& plaintext, ::v2::EncryptResponse* resp) {
    grpc::ClientContext ctx;
    ::v2::EncryptRequest req;
    req.set_plaintext(plaintext);
    req.set_uid("uid-1");
    return stub->Encrypt(&ctx, req, resp);
  };
  auto decrypt = [&](const std::string& ciphertext, const std::string& key_id,
                     ::v2::DecryptResponse* resp) {
    grpc::ClientContext ctx;
    ::v2::DecryptRequest req;
    req.set_ciphertext(ciphertext);
    req.set_key_id(key_id);
    req.set_uid("uid-2");
    return stub->Decrypt(&ctx, req, resp);
  };

  ::v2::StatusResponse s1 = status();
  EXPECT_EQ(s1.version(), "v2");
  EXPECT_EQ(s1.healthz(), "ok");
  EXPECT_EQ(s1.key_id(), "strongroom/kubernetes/v1");
  const std::string dek(32, '\x5a');
  ::v2::EncryptResponse e1;
  ASSERT_TRUE(encrypt(dek, &e1).ok());
  EXPECT_LT(e1.ciphertext().size(), 1024u);
  EXPECT_EQ(e1.key_id(), "strongroom/kubernetes/v1");
  ::v2::DecryptResponse d1;
  ASSERT_TRUE(decrypt(e1.ciphertext(), e1.key_id(), &d1).ok());
  EXPECT_EQ(d1.plaintext(), dek);

  // Rotation changes key_id; what was encrypted before still decrypts.
  EXPECT_EQ(Cli({"key", "rotate", "kubernetes"}).exit_code, 0);
  EXPECT_EQ(status().key_id(), "strongroom/kubernetes/v2");
  ::v2::EncryptResponse e2;
  ASSERT_TRUE(encrypt(dek, &e2).ok());
  EXPECT_EQ(e2.key_id(), "strongroom/kubernetes/v2");
  ::v2::DecryptResponse old;
  ASSERT_TRUE(decrypt(e1.ciphertext(), e1.key_id(), &old).ok());
  EXPECT_EQ(old.plaintext(), dek);

  // A ciphertext of another key does not decrypt; foreign key ids and oversized input are
  // refused.
  EXPECT_EQ(Cli({"key", "create", "elsewhere"}).exit_code, 0);
  std::string plain = token_->dir + "/dek.bin";
  ASSERT_TRUE(hsm::testing::WriteFile(plain, dek, 0600).ok());
  testing::RunResult foreign = Cli({"encrypt", "elsewhere", "--in", plain});
  ASSERT_EQ(foreign.exit_code, 0);
  ::v2::DecryptResponse wrong;
  grpc::Status denied = decrypt(std::string(absl::StripTrailingAsciiWhitespace(foreign.output)),
                                "strongroom/kubernetes/v1", &wrong);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(denied.error_message(), "decryption failed");
  EXPECT_EQ(decrypt(e1.ciphertext(), "other-kms/key", &wrong).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ::v2::EncryptResponse big;
  EXPECT_EQ(encrypt(std::string(701, 'x'), &big).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Health follows the seal state.
  EXPECT_EQ(Cli({"seal"}).exit_code, 0);
  EXPECT_NE(status().healthz(), "ok");
  EXPECT_EQ(Cli({"unseal"}).exit_code, 0);
  EXPECT_EQ(status().healthz(), "ok");
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(), 0);
  EXPECT_NE(stat(socket.c_str(), &st), 0);  // The socket is removed on shutdown.
  rmdir(dir.c_str());
}

// Each bad start prints one line naming the problem, exits non-zero, and never the PIN.
struct BadStart {
  const char* name;
  std::string pin_file;   // "$WRONG", "$LOOSE" or "" for the token's PIN file
  std::string hsm_extra;  // YAML under hsm:
  std::string top_extra;  // whole-file override when non-empty
  const char* expected;
};

class ServerBadStartTest : public ServerE2eTest, public ::testing::WithParamInterface<BadStart> {};

TEST_P(ServerBadStartTest, FailsWithOneClearLine) {
  const BadStart& c = GetParam();
  std::string wrong_pin = token_->dir + "/wrong.pin";
  ASSERT_TRUE(hsm::testing::WriteFile(wrong_pin, "wrong-pin-31337", 0600).ok());
  std::string loose_pin = token_->dir + "/loose.pin";
  ASSERT_TRUE(hsm::testing::WriteFile(loose_pin, token_->pin, 0644).ok());
  std::string pin_file = c.pin_file == "$WRONG"   ? wrong_pin
                         : c.pin_file == "$LOOSE" ? loose_pin
                                                  : "";
  std::string config = WriteConfig(absl::StrCat("bad-", c.name, ".yaml"), c.hsm_extra, pin_file);
  if (!c.top_extra.empty()) {
    ASSERT_TRUE(hsm::testing::WriteFile(config, c.top_extra, 0600).ok());
  }
  testing::RunResult r = RunCommand({Runfile("server/strongroomd"), "--config", config});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  std::vector<std::string> lines = absl::StrSplit(r.output, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << r.output;
  EXPECT_THAT(lines[0], HasSubstr("strongroomd: "));
  EXPECT_THAT(lines[0], HasSubstr(c.expected));
  EXPECT_THAT(r.output, Not(HasSubstr(token_->pin)));
  EXPECT_THAT(r.output, Not(HasSubstr("31337")));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ServerBadStartTest,
    ::testing::Values(BadStart{"wrong_pin", "$WRONG", "", "", "C_Login: CKR_PIN_INCORRECT"},
                      BadStart{"missing_module", "", "  module: /nonexistent/libpkcs11.so\n", "",
                               "PKCS#11 module /nonexistent/libpkcs11.so not found"},
                      BadStart{"world_readable_pin", "$LOOSE", "", "",
                               "accessible to group or others (mode 0644)"},
                      BadStart{"unknown_key", "", "  pin_fle: x\n", "",
                               ":5: hsm.pin_fle: unknown key"},
                      BadStart{"bad_value", "", "", "grpc:\n  drain_seconds: ten\n",
                               ":2: grpc.drain_seconds: expected an unsigned integer"},
                      BadStart{"bad_yaml", "", "", "hsm: [unclosed\n", "YAML syntax error"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace strongroom
