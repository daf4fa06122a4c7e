// Outside ACME clients against the real strongroomd's ACME directory, with validation of the
// test names sent to the clients' loopback ports through pki.acme.validation_overrides:
// - lego (the Debian package): an account, an order, http-01 and tls-alpn-01 answered by lego
//   itself and checked by the server's ChallengeValidator over the network, finalize and
//   download; the certificate is checked with `openssl verify` against the issuer.
// - acme-client (npm, tests/node/acme_load_test.js): a bounded load of parallel accounts and
//   orders; no duplicate serials; the nonce store stays bounded (pki.acme.max_nonces).
// node_modules comes from tools/setup.sh (`npm ci` in tests/node); the load test fails,
// saying so, when it is missing.
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Process;
using testing::RunCommand;
using testing::RunResult;

// The source directory tests/node (where tools/setup.sh put node_modules), through the
// runfile symlink of tests/node/package.json; empty if it cannot be resolved.
std::string NodeSourceDir() {
  char real[PATH_MAX];
  if (realpath(testing::Runfile("tests/node/package.json").c_str(), real) == nullptr) return "";
  std::string path(real);
  return path.substr(0, path.rfind('/'));
}

constexpr int kMaxNonces = 64;

class AcmeClientsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto token = hsm::testing::SoftHsmToken::Create("acme-clients-e2e");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = std::make_unique<hsm::testing::SoftHsmToken>(*std::move(token));
    state_ = token_->dir + "/state";
    http_port_ = testing::FreeLoopbackPort();
    tls_port_ = testing::FreeLoopbackPort();
    closed_port_ = testing::FreeLoopbackPort();
    load_port_ = testing::FreeLoopbackPort();
    ASSERT_TRUE(http_port_ != 0 && tls_port_ != 0 && closed_port_ != 0 && load_port_ != 0);
    const std::string config = token_->dir + "/strongroom.yaml";
    const std::string yaml = absl::StrCat(
        "state_dir: ", state_, "\nhsm:\n  token_label: ", token_->label,
        "\n  pin_file: ", token_->pin_file,
        "\ngrpc:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:0\n"
        "pki:\n  acme:\n    validation_timeout: 5s\n    max_nonces: ", kMaxNonces, "\n",
        "    source_requests_per_second: 1000\n    validation_overrides:\n"
        "      http.example.com: 127.0.0.1:", http_port_, "\n",
        "      tls.example.com: 127.0.0.1:", tls_port_, "\n",
        "      absent.example.com: 127.0.0.1:", closed_port_, "\n",
        "      \"*\": 127.0.0.1:", load_port_, "\n");
    ASSERT_TRUE(hsm::testing::WriteFile(config, yaml, 0600).ok());
    server_ = std::make_unique<Process>();
    testing::StrongroomdPorts ports = testing::StartStrongroomd(*server_, config, /*http=*/true);
    ASSERT_NE(ports.grpc, 0) << server_->output();
    ASSERT_NE(ports.http, 0) << server_->output();
    directory_ =
        absl::StrCat("https://localhost:", ports.http, "/v1/pki/roles/web/acme/directory");
    auto stub = v1::Pki::NewStub(
        testing::ServerChannel(state_, ports.grpc, testing::RootToken(state_)));

    grpc::ClientContext ctx;
    v1::CreateRootIssuerRequest req;
    req.set_issuer_name("root");
    req.set_common_name("ACME Clients E2E Root");
    req.set_key_type(v1::EC_P256);
    v1::Issuer root;
    grpc::Status s = stub->CreateRootIssuer(&ctx, req, &root);
    ASSERT_TRUE(s.ok()) << s.error_message();
    root_path_ = token_->dir + "/root.pem";
    ASSERT_TRUE(hsm::testing::WriteFile(root_path_, root.certificate_pem(), 0600).ok());

    grpc::ClientContext role_ctx;
    v1::Role role, reply;
    role.set_name("web");
    role.set_issuer_name("root");
    role.add_allowed_domains("example.com");
    role.set_allow_subdomains(true);
    role.set_server_flag(true);
    s = stub->PutRole(&role_ctx, role, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      EXPECT_EQ(server_->Wait(), 0) << server_->output();
    }
  }

  // `lego ... run` for `domain` with the challenge flags; lego trusts the server's TLS CA.
  RunResult Lego(const std::string& domain, const std::vector<std::string>& challenge) {
    std::vector<std::string> argv = {"lego", "--accept-tos", "--email", "ops@example.com",
                                     "--server", directory_, "--path", token_->dir + "/lego",
                                     "--domains", domain, "--key-type", "ec256"};
    argv.insert(argv.end(), challenge.begin(), challenge.end());
    argv.push_back("run");
    return RunCommand(argv, {{"LEGO_CA_CERTIFICATES", testing::ServerCert(state_)}},
                      absl::Seconds(90));
  }

  void ExpectIssued(const std::string& domain) {
    const std::string certificate = absl::StrCat(token_->dir, "/lego/certificates/", domain, ".crt");
    RunResult verify = RunCommand({"openssl", "verify", "-CAfile", root_path_, certificate});
    EXPECT_EQ(verify.exit_code, 0) << verify.output;
    EXPECT_THAT(verify.output, HasSubstr(": OK"));
    RunResult names = RunCommand({"openssl", "x509", "-in", certificate, "-noout", "-ext",
                                  "subjectAltName"});
    EXPECT_EQ(names.exit_code, 0) << names.output;
    EXPECT_THAT(names.output, HasSubstr("DNS:" + domain));
  }

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::unique_ptr<Process> server_;
  std::string state_, directory_, root_path_;
  int http_port_ = 0, tls_port_ = 0, closed_port_ = 0, load_port_ = 0;
};

TEST_F(AcmeClientsE2eTest, Http01) {
  RunResult lego = Lego("http.example.com", {"--http", "--http.port", absl::StrCat(":", http_port_)});
  ASSERT_EQ(lego.exit_code, 0) << lego.output << server_->output();
  ExpectIssued("http.example.com");
}

TEST_F(AcmeClientsE2eTest, TlsAlpn01) {
  RunResult lego = Lego("tls.example.com", {"--tls", "--tls.port", absl::StrCat(":", tls_port_)});
  ASSERT_EQ(lego.exit_code, 0) << lego.output << server_->output();
  ExpectIssued("tls.example.com");
}

// lego with external account binding (--eab --kid --hmac): the binding is checked on any
// directory that is given one, and the account is bound to the EAB key made over HTTP.
TEST_F(AcmeClientsE2eTest, Http01WithExternalAccountBinding) {
  const std::string url = directory_.substr(0, directory_.rfind("/directory")) + "/new-eab";
  RunResult made = RunCommand({"curl", "-sS", "--cacert", testing::ServerCert(state_), "-X",
                               "POST", "-H", "X-Vault-Token: " + testing::RootToken(state_), url});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto field = [&made](const std::string& name) {
    const std::string marker = absl::StrCat("\"", name, "\":\"");
    size_t at = made.output.find(marker);
    if (at == std::string::npos) return std::string();
    at += marker.size();
    return made.output.substr(at, made.output.find('"', at) - at);
  };
  const std::string kid = field("id"), key = field("key");
  ASSERT_FALSE(kid.empty() || key.empty()) << made.output;
  RunResult wrong = Lego("http.example.com", {"--eab", "--kid", kid, "--hmac",
                                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                              "--http", "--http.port",
                                              absl::StrCat(":", http_port_)});
  EXPECT_NE(wrong.exit_code, 0) << wrong.output;
  EXPECT_THAT(wrong.output, HasSubstr("unauthorized"));
  RunResult lego = Lego("http.example.com", {"--eab", "--kid", kid, "--hmac", key, "--http",
                                             "--http.port", absl::StrCat(":", http_port_)});
  ASSERT_EQ(lego.exit_code, 0) << lego.output << server_->output();
  ExpectIssued("http.example.com");
  RunResult audit = RunCommand({"cat", state_ + "/audit/audit.log"});
  EXPECT_THAT(audit.output, HasSubstr(" eab=" + kid));
  EXPECT_THAT(audit.output, Not(HasSubstr(key)));
}

// The validator really connects: with validation sent to a port where nobody answers, lego
// answers on its own port in vain and the authorization fails with a connection problem.
TEST_F(AcmeClientsE2eTest, ValidationThatReachesNobodyFails) {
  RunResult lego =
      Lego("absent.example.com", {"--http", "--http.port", absl::StrCat(":", http_port_)});
  EXPECT_NE(lego.exit_code, 0) << lego.output;
  EXPECT_THAT(lego.output, HasSubstr("urn:ietf:params:acme:error:connection"));
}

TEST_F(AcmeClientsE2eTest, NamesOutsideTheRoleAreRejected) {
  RunResult lego = Lego("app.example.org", {"--http", "--http.port", absl::StrCat(":", http_port_)});
  EXPECT_NE(lego.exit_code, 0) << lego.output;
  EXPECT_THAT(lego.output, HasSubstr("rejectedIdentifier"));
}

TEST_F(AcmeClientsE2eTest, AcmeClientLoad) {
  const std::string node_dir = NodeSourceDir();
  ASSERT_FALSE(node_dir.empty()) << "cannot resolve the runfile tests/node/package.json";
  struct stat st;
  ASSERT_EQ(stat((node_dir + "/node_modules/acme-client/package.json").c_str(), &st), 0)
      << node_dir << "/node_modules/acme-client is missing: run tools/setup.sh (it runs "
      << "`npm ci` in tests/node)";
  RunResult node = RunCommand({"node", node_dir + "/acme_load_test.js"},
                              {{"DIRECTORY", directory_},
                               {"HTTP_PORT", absl::StrCat(load_port_)},
                               {"ACCOUNTS", "8"},
                               {"ORDERS", "3"},
                               {"MAX_NONCES", absl::StrCat(kMaxNonces)},
                               {"NODE_EXTRA_CA_CERTS", testing::ServerCert(state_)}},
                              absl::Seconds(240));
  EXPECT_EQ(node.exit_code, 0) << node.output;
  EXPECT_THAT(node.output, Not(HasSubstr("FAIL"))) << node.output;
  for (const char* check : {"ok 24 of 24 orders gave a certificate",
                            "ok 24 certificates carry their order's name",
                            "ok 24 distinct serials for 24 certificates",
                            "ok nonce store bounded", "ok a fresh nonce is accepted"}) {
    EXPECT_THAT(node.output, HasSubstr(check)) << node.output;
  }
  std::cout << node.output.substr(node.output.find("summary:")) << std::endl;
}

}  // namespace
}  // namespace strongroom
