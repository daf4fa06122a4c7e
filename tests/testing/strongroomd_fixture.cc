#include "tests/testing/strongroomd_fixture.h"

#include <signal.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/strongroomd.h"

namespace strongroom::testing {

void StrongroomdHttpTest::StartServer(const std::string& label, const std::string& auth_yaml) {
  auto token = hsm::testing::SoftHsmToken::Create(label);
  ASSERT_TRUE(token.ok()) << token.status();
  token_ = std::make_unique<hsm::testing::SoftHsmToken>(*std::move(token));
  state_ = token_->dir + "/state";
  ca_ = ServerCert(state_);
  config_ = token_->dir + "/strongroom.yaml";
  const std::string yaml =
      absl::StrCat("state_dir: ", state_, "\nhsm:\n  token_label: ", token_->label,
                   "\n  pin_file: ", token_->pin_file,
                   "\ngrpc:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:0\n", auth_yaml);
  ASSERT_TRUE(hsm::testing::WriteFile(config_, yaml, 0600).ok());
  server_ = std::make_unique<Process>();
  StrongroomdPorts ports = StartStrongroomd(*server_, config_, /*http=*/true);
  grpc_port_ = ports.grpc;
  http_port_ = ports.http;
  ASSERT_NE(grpc_port_, 0) << server_->output();
  ASSERT_NE(http_port_, 0) << server_->output();
  root_token_ = RootToken(state_);
}

void StrongroomdHttpTest::TearDown() {
  if (server_ != nullptr) StopServer();
}

v1::CreateTokenResponse StrongroomdHttpTest::CreateToken(const v1::CreateTokenRequest& request) {
  auto stub = v1::Auth::NewStub(ServerChannel(state_, grpc_port_, root_token_));
  grpc::ClientContext ctx;
  v1::CreateTokenResponse response;
  grpc::Status s = stub->CreateToken(&ctx, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  secrets_.push_back(response.token());
  return response;
}

std::string StrongroomdHttpTest::CreateToken(const std::string& policy) {
  v1::CreateTokenRequest request;
  request.add_policies(policy);
  request.mutable_ttl()->set_seconds(3600);
  return CreateToken(request).token();
}

HttpReply StrongroomdHttpTest::Curl(const std::string& method, const std::string& path,
                                    const std::string& token, const std::string& body) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "30", "--cacert",      ca_, "-X",
                                   method, "-o",  "-",          "-w", "\n%{http_code}"};
  if (!token.empty()) argv.insert(argv.end(), {"-H", "X-Vault-Token: " + token});
  if (!body.empty()) {
    argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
  }
  argv.push_back(absl::StrCat("https://127.0.0.1:", http_port_, path));
  RunResult r = RunCommand(argv);
  HttpReply reply;
  reply.raw = r.output;
  EXPECT_EQ(r.exit_code, 0) << "curl " << method << " " << path << ": " << r.output;
  size_t nl = r.output.rfind('\n');
  if (nl == std::string::npos) return reply;
  reply.body = r.output.substr(0, nl);
  if (!absl::SimpleAtoi(r.output.substr(nl + 1), &reply.status)) reply.status = -1;
  return reply;
}

std::string StrongroomdHttpTest::StopServer() {
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(), 0) << server_->output();
  std::string log = server_->output();
  server_.reset();
  return log;
}

void StrongroomdHttpTest::ExpectSecretsAbsent(const std::vector<std::string>& secrets,
                                              const std::string& audit, const std::string& log) {
  for (const std::string& secret : secrets) {
    EXPECT_FALSE(secret.empty());
    EXPECT_EQ(audit.find(secret), std::string::npos) << "audit log holds a secret";
    EXPECT_EQ(log.find(secret), std::string::npos) << "server log holds a secret";
  }
}

void StrongroomdHttpTest::ExpectAuditVerifies() const {
  RunResult verify = RunCommand({Runfile("tools/cli/strongroom"), "audit", "verify", AuditPath(),
                                 "--public-key", state_ + "/audit/audit-signing.pub.pem"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  // An orderly stop closes the log with a signed checkpoint: no line is left unsigned.
  if (server_ == nullptr) {
    EXPECT_EQ(verify.output.find("not covered by a checkpoint signature"), std::string::npos)
        << verify.output;
  }
}

}  // namespace strongroom::testing
