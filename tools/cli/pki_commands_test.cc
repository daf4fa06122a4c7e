// The pki commands end to end on the client side: the real `strongroom` binary (a data
// dependency) against an in-process fake strongroom.v1.Pki over TLS. The fake records every
// request and answers with canned replies, so each test checks what the CLI sent, what it
// printed, and how it exited.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "strongroom/v1/pki.pb.h"
#include "tools/cli/testing/cli_runner.h"
#include "tools/cli/testing/request_log.h"
#include "tools/cli/testing/tls_server.h"

namespace strongroom::cli {
namespace {

using testing::RequestLog;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kCertPem[] = "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n";
constexpr char kChainPem[] = "-----BEGIN CERTIFICATE-----\nQ0hBSU4=\n-----END CERTIFICATE-----\n";
constexpr char kKeyPem[] = "-----BEGIN PRIVATE KEY-----\nU0VDUkVU\n-----END PRIVATE KEY-----\n";
constexpr char kCsrPem[] =
    "-----BEGIN CERTIFICATE REQUEST-----\nQ1NS\n-----END CERTIFICATE REQUEST-----\n";
constexpr char kCrlPem[] = "-----BEGIN X509 CRL-----\nQ1JM\n-----END X509 CRL-----\n";

// Records each request; answers with the canned PEMs above. The name "missing" (issuer,
// role) is NOT_FOUND. ListCertificates serves "01 02" / "03" on pages "", p2.
class FakePki final : public v1::Pki::Service {
 public:
  using Status = grpc::Status;
  using Context = grpc::ServerContext;

  Status CreateRootIssuer(Context*, const v1::CreateRootIssuerRequest* request,
                          v1::Issuer* reply) override {
    root.Add(*request);
    if (request->issuer_name() == "missing") return NotFound();
    reply->set_issuer_name(request->issuer_name());
    reply->set_certificate_pem(kCertPem);
    return Status::OK;
  }
  Status CreateIntermediateIssuer(Context*, const v1::CreateIntermediateIssuerRequest* request,
                                  v1::CreateIntermediateIssuerResponse* reply) override {
    intermediate.Add(*request);
    reply->mutable_issuer()->set_issuer_name(request->issuer_name());
    reply->set_csr_pem(kCsrPem);
    return Status::OK;
  }
  Status SignIntermediate(Context*, const v1::SignIntermediateRequest* request,
                          v1::SignedCertificate* reply) override {
    sign_intermediate.Add(*request);
    reply->set_certificate_pem(kCertPem);
    return Status::OK;
  }
  Status ImportIssuerCertificate(Context*, const v1::ImportIssuerCertificateRequest* request,
                                 v1::Issuer* reply) override {
    import.Add(*request);
    reply->set_issuer_name(request->issuer_name());
    reply->set_common_name("Intermediate CA");
    reply->set_key_type(v1::EC_P384);
    reply->set_certificate_pem(request->certificate_pem());
    return Status::OK;
  }
  Status GetIssuer(Context*, const v1::GetIssuerRequest* request, v1::Issuer* reply) override {
    if (request->issuer_name() == "missing") return NotFound();
    reply->set_issuer_name(request->issuer_name());
    reply->set_common_name("Root CA");
    reply->set_key_type(v1::RSA4096);
    reply->set_serial_number("0a1b");
    reply->set_certificate_pem(kCertPem);
    return Status::OK;
  }
  Status ListIssuers(Context*, const v1::ListIssuersRequest* request,
                     v1::ListIssuersResponse* reply) override {
    if (request->page_token().empty()) {
      reply->add_issuer_names("root");
      reply->set_next_page_token("p2");
    } else {
      reply->add_issuer_names("int");
    }
    return Status::OK;
  }
  Status PutRole(Context*, const v1::Role* request, v1::Role* reply) override {
    put_role.Add(*request);
    *reply = *request;
    return Status::OK;
  }
  Status GetRole(Context*, const v1::GetRoleRequest* request, v1::Role* reply) override {
    if (request->name() == "missing") return NotFound();
    reply->set_name(request->name());
    reply->set_issuer_name("int");
    reply->add_allowed_domains("example.com");
    reply->set_server_flag(true);
    reply->mutable_ttl()->set_seconds(3600);
    return Status::OK;
  }
  Status ListRoles(Context*, const v1::ListRolesRequest*, v1::ListRolesResponse* reply) override {
    reply->add_names("web");
    reply->add_names("db");
    return Status::OK;
  }
  Status DeleteRole(Context*, const v1::DeleteRoleRequest* request,
                    v1::DeleteRoleResponse*) override {
    delete_role.Add(*request);
    return Status::OK;
  }
  Status IssueCertificate(Context*, const v1::IssueCertificateRequest* request,
                          v1::IssuedCertificate* reply) override {
    issue.Add(*request);
    if (request->role() == "missing") return NotFound();
    reply->set_certificate_pem(kCertPem);
    reply->set_ca_chain_pem(kChainPem);
    reply->set_private_key_pem(kKeyPem);
    reply->set_serial_number("3f2a");
    return Status::OK;
  }
  Status SignCertificate(Context*, const v1::SignCertificateRequest* request,
                         v1::SignedCertificate* reply) override {
    sign.Add(*request);
    reply->set_certificate_pem(kCertPem);
    reply->set_ca_chain_pem(kChainPem);
    reply->set_serial_number("3f2b");
    return Status::OK;
  }
  Status RevokeCertificate(Context*, const v1::RevokeCertificateRequest* request,
                           v1::RevokeCertificateResponse* reply) override {
    revoke.Add(*request);
    reply->mutable_revocation_time()->set_seconds(1795550400);  // 2026-11-24T20:00:00Z
    return Status::OK;
  }
  Status ListCertificates(Context*, const v1::ListCertificatesRequest* request,
                          v1::ListCertificatesResponse* reply) override {
    list.Add(*request);
    if (request->page_token().empty()) {
      reply->add_serial_numbers("01");
      reply->add_serial_numbers("02");
      reply->set_next_page_token("p2");
    } else {
      reply->add_serial_numbers("03");
    }
    return Status::OK;
  }
  Status GetCrl(Context*, const v1::GetCrlRequest*, v1::Crl* reply) override {
    reply->set_crl_pem(kCrlPem);
    reply->set_crl_der(std::string("\x30\x00\x01", 3));
    return Status::OK;
  }

  RequestLog<v1::CreateRootIssuerRequest> root;
  RequestLog<v1::CreateIntermediateIssuerRequest> intermediate;
  RequestLog<v1::SignIntermediateRequest> sign_intermediate;
  RequestLog<v1::ImportIssuerCertificateRequest> import;
  RequestLog<v1::Role> put_role;
  RequestLog<v1::DeleteRoleRequest> delete_role;
  RequestLog<v1::IssueCertificateRequest> issue;
  RequestLog<v1::SignCertificateRequest> sign;
  RequestLog<v1::RevokeCertificateRequest> revoke;
  RequestLog<v1::ListCertificatesRequest> list;

 private:
  static Status NotFound() { return Status(grpc::StatusCode::NOT_FOUND, "not found"); }
};

using testing::CliPath;
using testing::CliResult;
using testing::ReadFile;
using testing::RunBinary;
using testing::TestDir;

class PkiCommandsTest : public ::testing::Test {
 protected:
  PkiCommandsTest()
      : identity_(testing::LocalhostIdentity()),
        ca_file_(testing::WriteTestFile("pki-ca.crt", identity_.cert_pem)),
        server_(identity_, &fake_) {}

  void SetUp() override { ASSERT_TRUE(server_.ok()); }

  CliResult Run(const std::vector<std::string>& args, const std::string& input = "") {
    std::vector<std::string> argv = {CliPath(), "--addr", server_.addr(), "--ca-file", ca_file_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunBinary(argv, input);
  }

  testing::Identity identity_;
  std::string ca_file_;
  FakePki fake_;
  testing::TlsTestServer server_;
};

MATCHER(Succeeded, "") {
  *result_listener << "exit " << arg.exit_code << ", stderr: " << arg.err;
  return arg.exit_code == 0 && arg.err.empty();
}

// Exit 1 with exactly one line "strongroom: ..." on standard error.
MATCHER_P(FailedWith, text, "") {
  *result_listener << "exit " << arg.exit_code << ", stderr: " << arg.err;
  return arg.exit_code == 1 && arg.err.rfind("strongroom: ", 0) == 0 &&
         arg.err.find('\n') == arg.err.size() - 1 && arg.err.find(text) != std::string::npos;
}

TEST_F(PkiCommandsTest, RootSendsFlagsAndPrintsCertificate) {
  CliResult result = Run({"pki", "root", "root", "--common-name", "Root CA", "--key-type",
                          "rsa-4096", "--ttl", "87600h"});
  EXPECT_THAT(result, Succeeded());
  EXPECT_EQ(result.out, kCertPem);
  std::vector<v1::CreateRootIssuerRequest> requests = fake_.root.Get();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].issuer_name(), "root");
  EXPECT_EQ(requests[0].common_name(), "Root CA");
  EXPECT_EQ(requests[0].key_type(), v1::RSA4096);
  EXPECT_EQ(requests[0].ttl().seconds(), 87600 * 3600);
}

TEST_F(PkiCommandsTest, RootJsonAndErrors) {
  CliResult json = Run({"--json", "pki", "root", "r", "--common-name", "R"});
  EXPECT_THAT(json, Succeeded());
  EXPECT_THAT(json.out, HasSubstr("\"certificatePem\""));
  EXPECT_EQ(fake_.root.Get()[0].key_type(), v1::PKI_KEY_TYPE_UNSPECIFIED);
  EXPECT_FALSE(fake_.root.Get()[0].has_ttl());

  EXPECT_THAT(Run({"pki", "root", "missing", "--common-name", "R"}), FailedWith("NOT_FOUND"));
  EXPECT_EQ(Run({"pki", "root", "r"}).exit_code, 2);  // --common-name required
  EXPECT_EQ(Run({"pki", "root", "r", "--common-name", "R", "--key-type", "dsa"}).exit_code, 2);
  EXPECT_EQ(Run({"pki", "root", "r", "--common-name", "R", "--ttl", "soon"}).exit_code, 2);
  EXPECT_EQ(fake_.root.Get().size(), 2u);
}

TEST_F(PkiCommandsTest, IntermediateCsrSignAndImport) {
  CliResult csr =
      Run({"pki", "intermediate", "int", "--common-name", "Int CA", "--key-type", "ec-p384"});
  EXPECT_THAT(csr, Succeeded());
  EXPECT_EQ(csr.out, kCsrPem);
  ASSERT_EQ(fake_.intermediate.Get().size(), 1u);
  EXPECT_EQ(fake_.intermediate.Get()[0].key_type(), v1::EC_P384);
  EXPECT_EQ(fake_.intermediate.Get()[0].common_name(), "Int CA");

  CliResult signed_cert = Run({"pki", "intermediate", "sign", "root", "--csr", "-", "--ttl",
                               "43800h", "--max-path-length", "0"},
                              kCsrPem);
  EXPECT_THAT(signed_cert, Succeeded());
  EXPECT_EQ(signed_cert.out, kCertPem);
  ASSERT_EQ(fake_.sign_intermediate.Get().size(), 1u);
  v1::SignIntermediateRequest sign = fake_.sign_intermediate.Get()[0];
  EXPECT_EQ(sign.issuer_name(), "root");
  EXPECT_EQ(sign.csr_pem(), kCsrPem);
  EXPECT_EQ(sign.ttl().seconds(), 43800 * 3600);
  ASSERT_TRUE(sign.has_max_path_length());
  EXPECT_EQ(sign.max_path_length(), 0u);
  EXPECT_EQ(fake_.intermediate.Get().size(), 1u);  // the parent command did not run

  std::string cert = testing::WriteTestFile("int.crt", kCertPem);
  std::string chain = testing::WriteTestFile("chain.crt", kChainPem);
  CliResult imported =
      Run({"pki", "intermediate", "import", "int", "--cert", cert, "--chain", chain});
  EXPECT_THAT(imported, Succeeded());
  EXPECT_THAT(imported.out, HasSubstr("Intermediate CA"));
  EXPECT_THAT(imported.out, HasSubstr("ec-p384"));
  ASSERT_EQ(fake_.import.Get().size(), 1u);
  EXPECT_EQ(fake_.import.Get()[0].certificate_pem(), kCertPem);
  EXPECT_EQ(fake_.import.Get()[0].chain_pem(), kChainPem);

  EXPECT_EQ(Run({"pki", "intermediate", "int"}).exit_code, 2);  // no --common-name
  EXPECT_THAT(Run({"pki", "intermediate", "import", "int", "--cert", "/nonexistent"}),
              FailedWith("cannot read /nonexistent: no such file"));
}

TEST_F(PkiCommandsTest, IssuerGetAndList) {
  CliResult get = Run({"pki", "issuer", "get", "root"});
  EXPECT_THAT(get, Succeeded());
  EXPECT_THAT(get.out, HasSubstr("Root CA"));
  EXPECT_THAT(get.out, HasSubstr("rsa-4096"));
  EXPECT_THAT(get.out, HasSubstr(kCertPem));
  EXPECT_THAT(Run({"pki", "issuer", "get", "missing"}), FailedWith("NOT_FOUND: not found"));
  CliResult list = Run({"pki", "issuer", "list"});
  EXPECT_THAT(list, Succeeded());
  EXPECT_EQ(list.out, "root\nint\n");
}

TEST_F(PkiCommandsTest, RolePutSendsExactlyTheFlagsGiven) {
  CliResult result = Run({"pki",
                          "role",
                          "put",
                          "web",
                          "--issuer",
                          "int",
                          "--allowed-domains",
                          "example.com,example.org",
                          "--allow-subdomains",
                          "--allowed-uri-sans",
                          "spiffe://a/*,spiffe://b/*",
                          "--server",
                          "--key-type",
                          "rsa-2048",
                          "--key-bits",
                          "3072",
                          "--ttl",
                          "720h",
                          "--max-ttl",
                          "2160h"});
  EXPECT_THAT(result, Succeeded());
  EXPECT_THAT(result.out, HasSubstr("example.com,example.org"));
  ASSERT_EQ(fake_.put_role.Get().size(), 1u);
  v1::Role role = fake_.put_role.Get()[0];
  EXPECT_EQ(role.name(), "web");
  EXPECT_EQ(role.issuer_name(), "int");
  EXPECT_THAT(role.allowed_domains(), ElementsAre("example.com", "example.org"));
  EXPECT_THAT(role.allowed_uri_sans(), ElementsAre("spiffe://a/*", "spiffe://b/*"));
  EXPECT_TRUE(role.allow_subdomains());
  EXPECT_FALSE(role.allow_bare_domains());
  EXPECT_FALSE(role.allow_glob_domains());
  EXPECT_FALSE(role.allow_localhost());
  EXPECT_FALSE(role.allow_ip_sans());
  EXPECT_TRUE(role.server_flag());
  EXPECT_FALSE(role.client_flag());
  EXPECT_EQ(role.key_type(), v1::RSA2048);
  EXPECT_EQ(role.key_bits(), 3072u);
  EXPECT_EQ(role.ttl().seconds(), 720 * 3600);
  EXPECT_EQ(role.max_ttl().seconds(), 2160 * 3600);
  EXPECT_FALSE(role.no_store());
  EXPECT_FALSE(role.exclude_cn_from_sans());

  EXPECT_THAT(Run({"pki", "role", "put", "min", "--issuer", "int", "--allow-bare-domains",
                   "--allow-glob-domains", "--allow-localhost", "--allow-ip-sans", "--client",
                   "--no-store", "--exclude-cn-from-sans"}),
              Succeeded());
  ASSERT_EQ(fake_.put_role.Get().size(), 2u);
  v1::Role minimal = fake_.put_role.Get()[1];
  EXPECT_THAT(minimal.allowed_domains(), IsEmpty());
  EXPECT_FALSE(minimal.allow_subdomains());
  EXPECT_TRUE(minimal.allow_bare_domains());
  EXPECT_TRUE(minimal.allow_glob_domains());
  EXPECT_TRUE(minimal.allow_localhost());
  EXPECT_TRUE(minimal.allow_ip_sans());
  EXPECT_TRUE(minimal.client_flag());
  EXPECT_FALSE(minimal.server_flag());
  EXPECT_TRUE(minimal.no_store());
  EXPECT_TRUE(minimal.exclude_cn_from_sans());
  EXPECT_EQ(minimal.key_type(), v1::PKI_KEY_TYPE_UNSPECIFIED);
  EXPECT_EQ(minimal.key_bits(), 0u);
  EXPECT_FALSE(minimal.has_ttl());
  EXPECT_FALSE(minimal.has_max_ttl());

  EXPECT_EQ(Run({"pki", "role", "put", "x"}).exit_code, 2);  // --issuer required
  EXPECT_EQ(Run({"pki", "role", "put", "x", "--issuer", "i", "--key-bits", "-1"}).exit_code, 2);
  EXPECT_EQ(fake_.put_role.Get().size(), 2u);
}

TEST_F(PkiCommandsTest, RoleGetListDelete) {
  CliResult get = Run({"pki", "role", "get", "web"});
  EXPECT_THAT(get, Succeeded());
  EXPECT_THAT(get.out, HasSubstr("example.com"));
  EXPECT_THAT(get.out, HasSubstr("1h"));
  EXPECT_THAT(Run({"pki", "role", "get", "missing"}), FailedWith("NOT_FOUND"));
  CliResult list = Run({"pki", "role", "list"});
  EXPECT_THAT(list, Succeeded());
  EXPECT_EQ(list.out, "web\ndb\n");
  CliResult del = Run({"pki", "role", "delete", "web"});
  EXPECT_THAT(del, Succeeded());
  EXPECT_EQ(del.out, "Deleted role web\n");
  ASSERT_EQ(fake_.delete_role.Get().size(), 1u);
  EXPECT_EQ(fake_.delete_role.Get()[0].name(), "web");
}

TEST_F(PkiCommandsTest, IssuePrintsCertificateChainThenKey) {
  CliResult result = Run({"pki", "issue", "web", "--common-name", "www.example.com", "--dns",
                          "a.example.com,b.example.com", "--ip", "10.0.0.1,::1", "--uri",
                          "spiffe://a/b", "--ttl", "24h"});
  EXPECT_THAT(result, Succeeded());
  EXPECT_EQ(result.out, absl::StrCat(kCertPem, kChainPem, kKeyPem));
  ASSERT_EQ(fake_.issue.Get().size(), 1u);
  v1::IssueCertificateRequest request = fake_.issue.Get()[0];
  EXPECT_EQ(request.role(), "web");
  EXPECT_EQ(request.common_name(), "www.example.com");
  EXPECT_THAT(request.dns_sans(), ElementsAre("a.example.com", "b.example.com"));
  EXPECT_THAT(request.ip_sans(), ElementsAre("10.0.0.1", "::1"));
  EXPECT_THAT(request.uri_sans(), ElementsAre("spiffe://a/b"));
  EXPECT_EQ(request.ttl().seconds(), 24 * 3600);
  EXPECT_FALSE(request.exclude_cn_from_sans());

  CliResult missing = Run({"pki", "issue", "missing", "--common-name", "x"});
  EXPECT_THAT(missing, FailedWith("NOT_FOUND"));
  EXPECT_THAT(missing.err, Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(PkiCommandsTest, IssueOutDirWritesFilesKeyMode0600) {
  std::string dir = TestDir("issued");
  CliResult result = Run({"pki", "issue", "web", "--common-name", "x", "--out-dir", dir});
  EXPECT_THAT(result, Succeeded());
  EXPECT_EQ(result.out, "3f2a\n");
  EXPECT_EQ(ReadFile(dir + "/cert.pem"), kCertPem);
  EXPECT_EQ(ReadFile(dir + "/chain.pem"), kChainPem);
  EXPECT_EQ(ReadFile(dir + "/key.pem"), kKeyPem);
  struct stat info;
  ASSERT_EQ(stat((dir + "/key.pem").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  // Existing files are not overwritten, and no certificate is issued.
  CliResult again = Run({"pki", "issue", "web", "--common-name", "x", "--out-dir", dir});
  EXPECT_THAT(again, FailedWith("already exists"));
  EXPECT_EQ(fake_.issue.Get().size(), 1u);
  EXPECT_THAT(Run({"pki", "issue", "web", "--common-name", "x", "--out-dir", dir + "/nope"}),
              FailedWith("is not a directory"));
}

TEST_F(PkiCommandsTest, SignCsr) {
  std::string csr = testing::WriteTestFile("leaf.csr", kCsrPem);
  CliResult result = Run({"pki", "sign", "web", "--csr", csr, "--common-name", "svc", "--dns",
                          "svc.example.com", "--ttl", "1h"});
  EXPECT_THAT(result, Succeeded());
  EXPECT_EQ(result.out, kCertPem);
  ASSERT_EQ(fake_.sign.Get().size(), 1u);
  EXPECT_EQ(fake_.sign.Get()[0].csr_pem(), kCsrPem);
  EXPECT_EQ(fake_.sign.Get()[0].common_name(), "svc");
  EXPECT_THAT(fake_.sign.Get()[0].dns_sans(), ElementsAre("svc.example.com"));
  EXPECT_FALSE(fake_.sign.Get()[0].exclude_cn_from_sans());
  EXPECT_THAT(Run({"pki", "sign", "web", "--csr", csr, "--exclude-cn-from-sans"}), Succeeded());
  ASSERT_EQ(fake_.sign.Get().size(), 2u);
  EXPECT_TRUE(fake_.sign.Get()[1].exclude_cn_from_sans());
  CliResult chained = Run({"pki", "sign", "web", "--csr", "-", "--chain"}, kCsrPem);
  EXPECT_THAT(chained, Succeeded());
  EXPECT_EQ(chained.out, absl::StrCat(kCertPem, kChainPem));
  EXPECT_EQ(Run({"pki", "sign", "web"}).exit_code, 2);  // --csr required
}

TEST_F(PkiCommandsTest, RevokeCrlAndList) {
  CliResult revoke = Run({"pki", "revoke", "3f2a"});
  EXPECT_THAT(revoke, Succeeded());
  EXPECT_EQ(revoke.out, "2026-11-24T20:00:00Z\n");
  EXPECT_EQ(fake_.revoke.Get()[0].serial_number(), "3f2a");
  EXPECT_EQ(fake_.revoke.Get()[0].reason(), v1::REVOCATION_REASON_UNSPECIFIED);
  EXPECT_THAT(Run({"pki", "revoke", "3f2b", "--reason", "1"}), Succeeded());
  EXPECT_EQ(fake_.revoke.Get()[1].reason(), v1::REVOCATION_REASON_KEY_COMPROMISE);

  CliResult crl = Run({"pki", "crl", "root"});
  EXPECT_THAT(crl, Succeeded());
  EXPECT_EQ(crl.out, kCrlPem);
  std::string der = TestDir("crl") + "/root.crl";
  EXPECT_THAT(Run({"pki", "crl", "root", "--der", der}), Succeeded());
  EXPECT_EQ(ReadFile(der), std::string("\x30\x00\x01", 3));

  CliResult page = Run({"pki", "list", "--issuer", "int"});
  EXPECT_EQ(page.exit_code, 0);
  EXPECT_EQ(page.out, "01\n02\n");
  EXPECT_THAT(page.err, HasSubstr("--all"));
  EXPECT_EQ(fake_.list.Get()[0].issuer_name(), "int");
  CliResult all = Run({"pki", "list", "--all"});
  EXPECT_THAT(all, Succeeded());
  EXPECT_EQ(all.out, "01\n02\n03\n");
}

}  // namespace
}  // namespace strongroom::cli
