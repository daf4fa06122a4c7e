// End to end: the real strongroomd on a fresh SoftHSM token, driven over gRPC by a C++
// strongroom.v1.Pki client; certificates and CRLs are checked with the openssl CLI.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
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
using testing::ReadAll;
using testing::RunCommand;

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
                     "\ngrpc:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:0\n"
                     "pki:\n  base_url: https://pki.test:8443\n  crl_validity: 2h\n");
    ASSERT_TRUE(hsm::testing::WriteFile(config_, yaml, 0600).ok());
    server_ = std::make_unique<Process>();
    testing::StrongroomdPorts ports = testing::StartStrongroomd(*server_, config_, /*http=*/true);
    ASSERT_NE(ports.grpc, 0) << server_->output();
    ASSERT_NE(ports.http, 0) << server_->output();
    http_port_ = ports.http;
    // The bootstrap root token strongroomd wrote on first start.
    stub_ =
        v1::Pki::NewStub(testing::ServerChannel(state_, ports.grpc, testing::RootToken(state_)));
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

  // curl of https://localhost:PORT<path> trusting the server certificate; the body is
  // written to `out` and the output is "<status> <content type>".
  testing::RunResult Curl(const std::string& path, const std::string& out,
                          std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        "curl",      "-sS",
        "--cacert",  testing::ServerCert(state_),
        "--resolve", absl::StrCat("localhost:", http_port_, ":127.0.0.1"),
        "-o",        out,
        "-w",        "%{http_code} %{content_type}"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(absl::StrCat("https://localhost:", http_port_, path));
    return RunCommand(argv);
  }

  // What `openssl ocsp` reports for `leaf` in the response file `resp`, verified against
  // `ca` (nonce echo not compared: the CLI would make a fresh one; ocsp_responder_test
  // checks it).
  std::string OcspCheck(const std::string& resp, const std::string& ca, const std::string& leaf) {
    auto r = RunCommand({"openssl", "ocsp", "-no_nonce", "-respin", resp, "-issuer", ca, "-cert",
                         leaf, "-CAfile", ca, "-resp_text"});
    return r.output;
  }

  // GnuTLS's certtool parses `args` (e.g. {"--crl-info", "--infile", path}) without
  // errors or warnings.
  void ExpectCerttoolClean(std::vector<std::string> args) {
    args.insert(args.begin(), "certtool");
    auto r = RunCommand(args);
    const std::string line = absl::StrJoin(args, " ");
    EXPECT_EQ(r.exit_code, 0) << line << "\n" << r.output;
    const std::string lower = absl::AsciiStrToLower(r.output);
    EXPECT_THAT(lower, Not(HasSubstr("warning"))) << line << "\n" << r.output;
    EXPECT_THAT(lower, Not(HasSubstr("error"))) << line << "\n" << r.output;
  }

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::string state_, config_;
  int http_port_ = 0;
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
  ExpectCerttoolClean({"--crl-info", "--infile", crl_path});
  ExpectCerttoolClean({"--crl-info", "--inder", "--infile", der_path});
  ExpectCerttoolClean({"--verify-crl", "--load-ca-certificate", root_path, "--infile", crl_path});
  ExpectCerttoolClean({"-i", "--infile", leaf_path});
  ExpectCerttoolClean({"-i", "--infile", root_path});
  // The CRL is stored, not re-signed per request: a second GetCrl returns the same bytes.
  {
    grpc::ClientContext ctx;
    v1::GetCrlRequest req;
    req.set_issuer_name("root");
    v1::Crl again;
    grpc::Status s = stub_->GetCrl(&ctx, req, &again);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(again.crl_der(), crl.crl_der());
  }
  r = RunCommand(
      {"openssl", "verify", "-crl_check", "-CAfile", root_path, "-CRLfile", crl_path, leaf_path});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("certificate revoked"));
}

TEST_F(PkiE2eTest, CaCrlAndOcspOverHttp) {
  v1::Issuer root;
  {
    grpc::ClientContext ctx;
    v1::CreateRootIssuerRequest req;
    req.set_issuer_name("root");
    req.set_common_name("E2E HTTP Root CA");
    req.set_key_type(v1::EC_P256);
    req.mutable_ttl()->set_seconds(3600 * 24 * 30);
    grpc::Status s = stub_->CreateRootIssuer(&ctx, req, &root);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
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
  auto issue = [&](const std::string& cn) {
    grpc::ClientContext ctx;
    v1::IssueCertificateRequest req;
    req.set_role("web");
    req.set_common_name(cn);
    v1::IssuedCertificate leaf;
    grpc::Status s = stub_->IssueCertificate(&ctx, req, &leaf);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return leaf;
  };
  v1::IssuedCertificate leaf = issue("www.example.com");

  // CA certificate: PEM by default, DER on request; both are the issuer's certificate.
  const std::string ca_path = token_->dir + "/http-ca.pem";
  auto r = Curl("/v1/pki/root/ca", ca_path);
  EXPECT_EQ(r.output, "200 application/x-pem-file");
  EXPECT_EQ(ReadAll(ca_path), root.certificate_pem());
  const std::string ca_der = token_->dir + "/http-ca.der";
  r = Curl("/v1/pki/root/ca?format=der", ca_der);
  EXPECT_EQ(r.output, "200 application/pkix-cert");
  r = RunCommand({"openssl", "x509", "-inform", "DER", "-in", ca_der, "-noout", "-subject"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("E2E HTTP Root CA"));
  const std::string leaf_path = Write("http-leaf.pem", leaf.certificate_pem());

  // Unknown issuer: 404 with a short text body.
  const std::string junk = token_->dir + "/junk";
  r = Curl("/v1/pki/nosuch/ca", junk);
  EXPECT_EQ(r.output, "404 text/plain; charset=utf-8");
  EXPECT_EQ(ReadAll(junk), "unknown issuer\n");
  r = Curl("/v1/pki/nosuch/crl", junk);
  EXPECT_THAT(r.output, HasSubstr("404"));

  // OCSP, POST form: good.
  const std::string req_path = token_->dir + "/ocsp-req.der";
  const std::string resp_path = token_->dir + "/ocsp-resp.der";
  r = RunCommand({"openssl", "ocsp", "-issuer", ca_path, "-cert", leaf_path, "-reqout", req_path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto post_ocsp = [&] {
    return Curl("/v1/pki/root/ocsp", resp_path,
                {"--data-binary", "@" + req_path, "-H", "Content-Type: application/ocsp-request"});
  };
  r = post_ocsp();
  EXPECT_EQ(r.output, "200 application/ocsp-response");
  std::string text = OcspCheck(resp_path, ca_path, leaf_path);
  EXPECT_THAT(text, HasSubstr("Response verify OK")) << text;
  EXPECT_THAT(text, HasSubstr(": good")) << text;
  EXPECT_THAT(text, HasSubstr("OCSP Nonce")) << text;

  // Revoked after RevokeCertificate; the CRL lists it.
  {
    grpc::ClientContext ctx;
    v1::RevokeCertificateRequest req;
    req.set_serial_number(leaf.serial_number());
    v1::RevokeCertificateResponse reply;
    grpc::Status s = stub_->RevokeCertificate(&ctx, req, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  r = post_ocsp();
  EXPECT_EQ(r.output, "200 application/ocsp-response");
  text = OcspCheck(resp_path, ca_path, leaf_path);
  EXPECT_THAT(text, HasSubstr("Response verify OK")) << text;
  EXPECT_THAT(text, HasSubstr(": revoked")) << text;
  EXPECT_THAT(text, HasSubstr("Revocation Time")) << text;

  const std::string crl_der = token_->dir + "/http.crl";
  r = Curl("/v1/pki/root/crl", crl_der);
  EXPECT_EQ(r.output, "200 application/pkix-crl");
  r = RunCommand({"openssl", "crl", "-inform", "DER", "-in", crl_der, "-verify", "-noout", "-text",
                  "-CAfile", ca_path});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("verify OK"));
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("Serial Number: ",
                                               absl::AsciiStrToUpper(leaf.serial_number()))));
  const std::string crl_pem = token_->dir + "/http.crl.pem";
  r = Curl("/v1/pki/root/crl?format=pem", crl_pem);
  EXPECT_EQ(r.output, "200 application/x-pem-file");
  ExpectCerttoolClean({"--crl-info", "--inder", "--infile", crl_der});
  ExpectCerttoolClean({"--crl-info", "--infile", crl_pem});
  ExpectCerttoolClean({"--verify-crl", "--load-ca-certificate", ca_path, "--infile", crl_pem});
  ExpectCerttoolClean({"-i", "--infile", leaf_path});
  ExpectCerttoolClean({"-i", "--infile", ca_path});
  // PEM and DER are the same CRL.
  r = RunCommand({"openssl", "crl", "-in", crl_pem, "-outform", "DER", "-out", crl_pem + ".der"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ReadAll(crl_pem + ".der"), ReadAll(crl_der));
  r = RunCommand(
      {"openssl", "verify", "-crl_check", "-CAfile", ca_path, "-CRLfile", crl_pem, leaf_path});
  EXPECT_THAT(r.output, HasSubstr("certificate revoked"));

  // A serial the CA never issued: unknown. Then the GET form, for another leaf: good.
  v1::IssuedCertificate other = issue("api.example.com");
  const std::string other_path = Write("http-other.pem", other.certificate_pem());
  r = RunCommand(
      {"openssl", "ocsp", "-issuer", ca_path, "-serial", "0x0badc0de", "-reqout", req_path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = post_ocsp();
  r = RunCommand({"openssl", "ocsp", "-no_nonce", "-respin", resp_path, "-issuer", ca_path,
                  "-serial", "0x0badc0de", "-CAfile", ca_path, "-resp_text"});
  EXPECT_THAT(r.output, HasSubstr("0x0badc0de: unknown")) << r.output;

  r = RunCommand({"openssl", "ocsp", "-issuer", ca_path, "-cert", other_path, "-reqout", req_path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand({"openssl", "base64", "-A", "-in", req_path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string encoded;
  for (char c : r.output) {  // URL-encode the base64 alphabet's specials
    if (c == '+')
      encoded += "%2B";
    else if (c == '/')
      encoded += "%2F";
    else if (c == '=')
      encoded += "%3D";
    else if (c != '\n')
      encoded += c;
  }
  r = Curl(absl::StrCat("/v1/pki/root/ocsp/", encoded), resp_path);
  EXPECT_EQ(r.output, "200 application/ocsp-response");
  text = OcspCheck(resp_path, ca_path, other_path);
  EXPECT_THAT(text, HasSubstr("Response verify OK")) << text;
  EXPECT_THAT(text, HasSubstr(": good")) << text;

  // A malformed request: HTTP 200 with OCSP status malformedRequest.
  Write("bad-req.der", "not an OCSP request");
  r = Curl("/v1/pki/root/ocsp", resp_path,
           {"--data-binary", "@" + token_->dir + "/bad-req.der", "-H",
            "Content-Type: application/ocsp-request"});
  EXPECT_EQ(r.output, "200 application/ocsp-response");
  r = RunCommand({"openssl", "ocsp", "-respin", resp_path, "-resp_text", "-noverify"});
  EXPECT_THAT(r.output, HasSubstr("malformedrequest")) << r.output;
}

}  // namespace
}  // namespace strongroom
