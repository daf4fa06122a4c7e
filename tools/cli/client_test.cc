#include "tools/cli/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/state_dir.h"
#include "strongroom/v1/system.grpc.pb.h"
#include "tools/cli/testing/tls_server.h"

namespace strongroom::cli {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::Identity;
using testing::LocalhostIdentity;
using testing::SelfSigned;
using testing::WriteTestFile;

// A port on 127.0.0.1 with nothing listening.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// ---- An in-process strongroom.v1.System server ----

class FakeSystem final : public v1::System::Service {
 public:
  grpc::Status GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                         v1::Status* reply) override {
    reply->set_version("0.1.0-test");
    reply->set_kek_version(3);
    return grpc::Status::OK;
  }
  // Answers too late for a short client deadline.
  grpc::Status Seal(grpc::ServerContext*, const v1::SealRequest*, v1::Status*) override {
    absl::SleepFor(absl::Milliseconds(500));
    return grpc::Status::OK;
  }
  grpc::Status Unseal(grpc::ServerContext*, const v1::UnsealRequest*, v1::Status*) override {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "HSM token strongroom: CKR_TOKEN_NOT_PRESENT");
  }
};

// FakeSystem over TLS as `identity` on 127.0.0.1. With `client_ca`, clients must present a
// certificate it signed.
class TestServer {
 public:
  explicit TestServer(const Identity& identity, const std::string& client_ca = "")
      : server_(identity, &service_, client_ca) {}
  bool ok() const { return server_.ok(); }
  int port() const { return server_.port(); }

 private:
  FakeSystem service_;
  testing::TlsTestServer server_;
};

// Calls GetStatus (or Seal/Unseal) through Connect(); returns the raw gRPC status.
grpc::Status CallRaw(const ClientOptions& options, const std::string& method, v1::Status* reply) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  EXPECT_TRUE(channel.ok()) << channel.status();
  if (!channel.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "no channel");
  auto stub = v1::System::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
  if (method == "Seal") return stub->Seal(&context, v1::SealRequest(), reply);
  if (method == "Unseal") return stub->Unseal(&context, v1::UnsealRequest(), reply);
  return stub->GetStatus(&context, v1::GetStatusRequest(), reply);
}

// ---- Options ----

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kVariables) unsetenv(name);
  }
  void TearDown() override {
    for (const char* name : kVariables) unsetenv(name);
  }
  static constexpr const char* kVariables[] = {"STRONGROOM_ADDR",        "STRONGROOM_CACERT",
                                               "STRONGROOM_CLIENT_CERT", "STRONGROOM_CLIENT_KEY",
                                               "STRONGROOM_STATE_DIR",   "XDG_STATE_HOME"};
};

TEST_F(EnvTest, DefaultsComeFromTheStateDirectory) {
  setenv("HOME", "/home/op", 1);
  ClientOptions options;
  ApplyEnvironmentDefaults(&options);
  EXPECT_EQ(options.addr, "127.0.0.1:7400");
  EXPECT_EQ(options.ca_file, "/home/op/.local/state/strongroom/tls/server.crt");
  EXPECT_EQ(options.cert_file, "");
  EXPECT_EQ(options.key_file, "");

  setenv("XDG_STATE_HOME", "/xdg", 1);
  EXPECT_EQ(server::DefaultStateDir(), "/xdg/strongroom");
  setenv("STRONGROOM_STATE_DIR", "/srv/strongroom", 1);
  options = ClientOptions();
  ApplyEnvironmentDefaults(&options);
  EXPECT_EQ(options.ca_file, "/srv/strongroom/tls/server.crt");
}

TEST_F(EnvTest, FlagsWinOverEnvironmentWhichWinsOverDefaults) {
  setenv("STRONGROOM_ADDR", "kms.internal:7400", 1);
  setenv("STRONGROOM_CACERT", "/env/ca.pem", 1);
  setenv("STRONGROOM_CLIENT_CERT", "/env/client.crt", 1);
  setenv("STRONGROOM_CLIENT_KEY", "/env/client.key", 1);
  ClientOptions options;
  options.ca_file = "/flag/ca.pem";
  ApplyEnvironmentDefaults(&options);
  EXPECT_EQ(options.addr, "kms.internal:7400");
  EXPECT_EQ(options.ca_file, "/flag/ca.pem");
  EXPECT_EQ(options.cert_file, "/env/client.crt");
  EXPECT_EQ(options.key_file, "/env/client.key");
}

// ---- Connect: local checks ----

TEST(ConnectTest, MissingCaFileNamesTheFileAndTheVariable) {
  ClientOptions options;
  options.addr = "127.0.0.1:7400";
  options.ca_file = WriteTestFile("unused", "") + "-does-not-exist.crt";
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  ASSERT_FALSE(channel.ok());
  EXPECT_THAT(channel.status().message(),
              AllOf(HasSubstr(options.ca_file), HasSubstr("no such file"), HasSubstr("--ca-file"),
                    HasSubstr("STRONGROOM_CACERT")));
}

TEST(ConnectTest, CaFileWithoutPemIsRefused) {
  ClientOptions options;
  options.addr = "127.0.0.1:7400";
  options.ca_file = WriteTestFile("not-pem.crt", "hello\n");
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  ASSERT_FALSE(channel.ok());
  EXPECT_THAT(channel.status().message(),
              AllOf(HasSubstr(options.ca_file), HasSubstr("no PEM certificate"),
                    HasSubstr("STRONGROOM_CACERT")));
}

TEST(ConnectTest, ClientCertificateAndKeyGoTogether) {
  Identity server = LocalhostIdentity();
  Identity client = SelfSigned("client", "DNS:client");
  ClientOptions options;
  options.addr = "127.0.0.1:7400";
  options.ca_file = WriteTestFile("ca-pair.crt", server.cert_pem);
  options.cert_file = WriteTestFile("client-pair.crt", client.cert_pem);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  ASSERT_FALSE(channel.ok());
  EXPECT_THAT(channel.status().message(),
              AllOf(HasSubstr("without a key"), HasSubstr("STRONGROOM_CLIENT_KEY")));

  options.cert_file.clear();
  options.key_file = WriteTestFile("client-pair.key", client.key_pem);
  channel = Connect(options);
  ASSERT_FALSE(channel.ok());
  EXPECT_THAT(channel.status().message(),
              AllOf(HasSubstr("without a certificate"), HasSubstr("STRONGROOM_CLIENT_CERT")));
}

TEST(ConnectTest, MismatchedClientKeyIsRefusedWithoutPrintingIt) {
  Identity server = LocalhostIdentity();
  Identity client = SelfSigned("client", "DNS:client");
  Identity other = SelfSigned("other", "DNS:other");
  ClientOptions options;
  options.addr = "127.0.0.1:7400";
  options.ca_file = WriteTestFile("ca-mismatch.crt", server.cert_pem);
  options.cert_file = WriteTestFile("client-mismatch.crt", client.cert_pem);
  options.key_file = WriteTestFile("other-mismatch.key", other.key_pem);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  ASSERT_FALSE(channel.ok());
  EXPECT_THAT(channel.status().message(), HasSubstr("does not match key"));
  EXPECT_THAT(channel.status().message(), Not(HasSubstr("PRIVATE KEY")));
}

// ---- Connect + Explain against real endpoints ----

TEST(ExplainTest, ClosedPortSaysCannotReach) {
  ClientOptions options;
  options.addr = absl::StrCat("127.0.0.1:", ClosedPort());
  options.ca_file = WriteTestFile("ca-closed.crt", LocalhostIdentity().cert_pem);
  v1::Status reply;
  grpc::Status raw = CallRaw(options, "GetStatus", &reply);
  std::cout << "gRPC, server down: " << raw.error_code() << " \"" << raw.error_message() << "\"\n";
  EXPECT_EQ(raw.error_code(), grpc::StatusCode::UNAVAILABLE);
  absl::Status explained = Explain(raw, options);
  EXPECT_EQ(explained.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(explained.message(),
            absl::StrCat("cannot reach strongroomd at ", options.addr,
                         ": connection refused (is it running? set --addr or STRONGROOM_ADDR)"));
}

TEST(ExplainTest, UntrustedServerCertificateSaysWhichCaFile) {
  TestServer server(LocalhostIdentity());
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.addr = absl::StrCat("127.0.0.1:", server.port());
  options.ca_file = WriteTestFile("ca-other.crt", LocalhostIdentity().cert_pem);
  v1::Status reply;
  grpc::Status raw = CallRaw(options, "GetStatus", &reply);
  std::cout << "gRPC, untrusted certificate: " << raw.error_code() << " \"" << raw.error_message()
            << "\"\n";
  absl::Status explained = Explain(raw, options);
  EXPECT_EQ(explained.message(),
            absl::StrCat("TLS handshake with ", options.addr,
                         " failed: its certificate is not trusted by ", options.ca_file,
                         " (set --ca-file or STRONGROOM_CACERT)"));
}

TEST(ExplainTest, RightCaFileWorksForIpAndLocalhost) {
  Identity identity = LocalhostIdentity();
  TestServer server(identity);
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.ca_file = WriteTestFile("ca-right.crt", identity.cert_pem);
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    options.addr = absl::StrCat(host, ":", server.port());
    v1::Status reply;
    grpc::Status raw = CallRaw(options, "GetStatus", &reply);
    EXPECT_TRUE(raw.ok()) << host << ": " << raw.error_message();
    EXPECT_EQ(reply.version(), "0.1.0-test");
    EXPECT_EQ(reply.kek_version(), 3u);
  }
}

TEST(ExplainTest, CallUnaryAppliesTheTimeout) {
  Identity identity = LocalhostIdentity();
  TestServer server(identity);
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.addr = absl::StrCat("127.0.0.1:", server.port());
  options.ca_file = WriteTestFile("ca-timeout.crt", identity.cert_pem);
  options.timeout = absl::Milliseconds(100);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  auto stub = v1::System::NewStub(*channel);
  v1::Status reply;
  absl::Status status = CallUnary(options, [&](grpc::ClientContext* context) {
    return stub->Seal(context, v1::SealRequest(), &reply);
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(status.message(),
            absl::StrCat("strongroomd at ", options.addr, " did not answer within 100ms"));
}

TEST(ExplainTest, ServerErrorsKeepTheirCodeAndMessage) {
  Identity identity = LocalhostIdentity();
  TestServer server(identity);
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.addr = absl::StrCat("127.0.0.1:", server.port());
  options.ca_file = WriteTestFile("ca-server-error.crt", identity.cert_pem);
  v1::Status reply;
  absl::Status explained = Explain(CallRaw(options, "Unseal", &reply), options);
  EXPECT_EQ(explained.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(explained.message(), "UNAVAILABLE: HSM token strongroom: CKR_TOKEN_NOT_PRESENT");

  explained =
      Explain(grpc::Status(grpc::StatusCode::NOT_FOUND, "key \"payments\"\nnot found"), options);
  EXPECT_EQ(explained.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(explained.message(), "NOT_FOUND: key \"payments\" not found");
  EXPECT_TRUE(Explain(grpc::Status::OK, options).ok());
}

TEST(ExplainTest, CertificateForAnotherNameIsRefused) {
  Identity identity = SelfSigned("kms.example", "DNS:kms.example");
  TestServer server(identity);
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.addr = absl::StrCat("127.0.0.1:", server.port());
  options.ca_file = WriteTestFile("ca-other-name.crt", identity.cert_pem);
  v1::Status reply;
  grpc::Status raw = CallRaw(options, "GetStatus", &reply);
  std::cout << "gRPC, wrong name: " << raw.error_code() << " \"" << raw.error_message() << "\"\n";
  EXPECT_EQ(Explain(raw, options).message(),
            absl::StrCat("TLS handshake with ", options.addr,
                         " failed: its certificate is not issued for localhost (set --addr to a "
                         "name it carries)"));
}

TEST(ExplainTest, ClientCertificateIsPresentedWhenGiven) {
  Identity server_identity = LocalhostIdentity();
  Identity client = SelfSigned("operator", "DNS:operator");
  TestServer server(server_identity, client.cert_pem);
  ASSERT_TRUE(server.ok());
  ClientOptions options;
  options.addr = absl::StrCat("127.0.0.1:", server.port());
  options.ca_file = WriteTestFile("ca-mtls.crt", server_identity.cert_pem);

  v1::Status reply;
  grpc::Status raw = CallRaw(options, "GetStatus", &reply);
  std::cout << "gRPC, no client certificate: " << raw.error_code() << " \"" << raw.error_message()
            << "\"\n";
  EXPECT_EQ(Explain(raw, options).message(),
            absl::StrCat("strongroomd at ", options.addr,
                         " closed the connection during the TLS handshake (does it require a "
                         "client certificate? set --cert or STRONGROOM_CLIENT_CERT and --key or "
                         "STRONGROOM_CLIENT_KEY)"));

  Identity stranger = SelfSigned("stranger", "DNS:stranger");
  options.cert_file = WriteTestFile("stranger.crt", stranger.cert_pem);
  options.key_file = WriteTestFile("stranger.key", stranger.key_pem);
  raw = CallRaw(options, "GetStatus", &reply);
  std::cout << "gRPC, untrusted client certificate: " << raw.error_code() << " \""
            << raw.error_message() << "\"\n";
  EXPECT_THAT(Explain(raw, options).message(), HasSubstr(options.cert_file));

  options.cert_file = WriteTestFile("operator.crt", client.cert_pem);
  options.key_file = WriteTestFile("operator.key", client.key_pem);
  raw = CallRaw(options, "GetStatus", &reply);
  EXPECT_TRUE(raw.ok()) << raw.error_message();
  EXPECT_EQ(reply.version(), "0.1.0-test");
}

// ---- Output ----

TEST(FormatTest, FieldsAreAlignedAndControlCharactersEscaped) {
  EXPECT_EQ(FormatFields({{"Sealed", "false"}, {"HSM manufacturer", "SoftHSM\x1b[2J"}}),
            "Sealed            false\n"
            "HSM manufacturer  SoftHSM\\x1b[2J\n");
}

TEST(FormatTest, JsonIncludesDefaultValues) {
  v1::Status status;
  status.set_kek_version(2);
  absl::StatusOr<std::string> json = FormatJson(status);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, AllOf(HasSubstr("\"sealed\": false"), HasSubstr("\"kekVersion\": 2")));
}

}  // namespace
}  // namespace strongroom::cli
