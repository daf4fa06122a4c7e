// End to end: the real strongroomd on a fresh SoftHSM token, driven over gRPC by a C++
// strongroom.v1.Pki client; certificates and CRLs are checked with the openssl CLI.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "tests/testing/process.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using testing::Process;
using testing::RunCommand;
using testing::Runfile;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class PkiE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto token = hsm::testing::SoftHsmToken::Create("pki-e2e");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = std::make_unique<hsm::testing::SoftHsmToken>(*std::move(token));
    state_ = token_->dir + "/state";
    config_ = token_->dir + "/strongroom.yaml";
    std::string yaml =
        absl::StrCat("state_dir: ", state_, "\nhsm:\n  token_label: ", token_->label,
                     "\n  pin_file: ", token_->pin_file,
                     "\ngrpc:\n  address: 127.0.0.1:0\nhttp:\n  enabled: false\n"
                     "pki:\n  base_url: https://pki.test:8443\n  crl_validity: 2h\n");
    ASSERT_TRUE(hsm::testing::WriteFile(config_, yaml, 0600).ok());
    server_ = std::make_unique<Process>();
    ASSERT_TRUE(server_->Start({Runfile("server/strongroomd"), "--config", config_}));
    ASSERT_TRUE(server_->WaitForOutput("listening on 127.0.0.1:")) << server_->output();
    std::string out = server_->output();
    size_t at = out.find("listening on 127.0.0.1:") + 23;
    int port = 0;
    ASSERT_TRUE(absl::SimpleAtoi(absl::string_view(out).substr(at, out.find(' ', at) - at), &port))
        << out;
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadAll(state_ + "/tls/server.crt");
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                             grpc::SslCredentials(ssl), args);
    stub_ = v1::Pki::NewStub(channel);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      EXPECT_EQ(server_->Wait(), 0) << server_->output();
    }
  }

  std::string Write(const std::string& name, const std::string& content) {
    std::string path = token_->dir + "/" + name;
    EXPECT_TRUE(hsm::testing::WriteFile(path, content, 0600).ok());
    return path;
  }

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::string state_, config_;
  std::unique_ptr<Process> server_;
  std::unique_ptr<v1::Pki::Stub> stub_;
};

TEST_F(PkiE2eTest, IssueRevokeAndCrlOverGrpc) {
  v1::Issuer root;
  {
    grpc::ClientContext ctx;
    v1::CreateRootIssuerRequest req;
    req.set_issuer_name("root");
    req.set_common_name("E2E Root CA");
    req.set_key_type(v1::EC_P384);
    req.mutable_ttl()->set_seconds(3600 * 24 * 30);
    grpc::Status s = stub_->CreateRootIssuer(&ctx, req, &root);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_THAT(root.key_uri(), HasSubstr("type=private"));
  {
    grpc::ClientContext ctx;
    v1::Role role, reply;
    role.set_name("web");
    role.set_issuer_name("root");
    role.add_allowed_domains("example.com");
    role.set_allow_subdomains(true);
    role.set_server_flag(true);
    role.mutable_max_ttl()->set_seconds(3600 * 24);
    grpc::Status s = stub_->PutRole(&ctx, role, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {  // A name outside the role is refused with PERMISSION_DENIED.
    grpc::ClientContext ctx;
    v1::IssueCertificateRequest req;
    req.set_role("web");
    req.set_common_name("www.other.org");
    v1::IssuedCertificate reply;
    EXPECT_EQ(stub_->IssueCertificate(&ctx, req, &reply).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  v1::IssuedCertificate leaf;
  {
    grpc::ClientContext ctx;
    v1::IssueCertificateRequest req;
    req.set_role("web");
    req.set_common_name("www.example.com");
    req.add_dns_sans("www.example.com");
    grpc::Status s = stub_->IssueCertificate(&ctx, req, &leaf);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  std::string root_path = Write("root.pem", root.certificate_pem());
  std::string leaf_path = Write("leaf.pem", leaf.certificate_pem());
  std::string key_path = Write("leaf.key", leaf.private_key_pem());
  auto r = RunCommand({"openssl", "verify", "-x509_strict", "-CAfile", root_path, leaf_path});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand({"openssl", "x509", "-noout", "-text", "-in", leaf_path});
  EXPECT_THAT(r.output, HasSubstr("https://pki.test:8443/v1/pki/root/crl"));
  EXPECT_THAT(r.output, HasSubstr("TLS Web Server Authentication"));
  auto a = RunCommand({"openssl", "pkey", "-pubout", "-in", key_path});
  auto b = RunCommand({"openssl", "x509", "-noout", "-pubkey", "-in", leaf_path});
  EXPECT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(a.output, b.output);

  {
    grpc::ClientContext ctx;
    v1::RevokeCertificateRequest req;
    req.set_serial_number(leaf.serial_number());
    v1::RevokeCertificateResponse reply;
    grpc::Status s = stub_->RevokeCertificate(&ctx, req, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_GT(reply.revocation_time().seconds(), 0);
  }
  v1::Crl crl;
  {
    grpc::ClientContext ctx;
    v1::GetCrlRequest req;
    req.set_issuer_name("root");
    grpc::Status s = stub_->GetCrl(&ctx, req, &crl);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(crl.next_update().seconds() - crl.this_update().seconds(), 7200);
  std::string crl_path = Write("root.crl", crl.crl_pem());
  std::string der_path = Write("root.crl.der", crl.crl_der());
  r = RunCommand(
      {"openssl", "crl", "-verify", "-noout", "-text", "-CAfile", root_path, "-in", crl_path});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("verify OK"));
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("Serial Number: ",
                                               absl::AsciiStrToUpper(leaf.serial_number()))));
  r = RunCommand({"openssl", "crl", "-inform", "DER", "-noout", "-in", der_path});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand(
      {"openssl", "verify", "-crl_check", "-CAfile", root_path, "-CRLfile", crl_path, leaf_path});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("certificate revoked"));
}

}  // namespace
}  // namespace strongroom
