// End to end (issue 19): certificates of the real strongroomd as outside TLS clients use them.
// A certificate signed from a CN-only CSR is accepted by curl and by Python's ssl module
// (Debian's /usr/bin/python3) against `openssl s_server` presenting it; its OCSP, CRL and CA
// issuers URLs point at the plain-HTTP listener, where `openssl ocsp -url`, `openssl verify
// -crl_download` and curl fetch and verify them, with RFC 5019 caching headers; every other
// path there is 404 and a token sent there is not used.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using testing::Process;
using testing::ReadAll;
using testing::RunCommand;
using testing::RunResult;

constexpr char kPlainListening[] = "PKI documents listening on http://127.0.0.1:";
constexpr char kPython[] = "/usr/bin/python3";

// Python's ssl module with its default context (certificate and host name checks) trusting
// argv[1], connecting to 127.0.0.1:argv[2] for the host name argv[3]. Like Go, browsers and
// Java, it matches the host name against the SAN only: OpenSSL (and so curl and Python by
// default) still falls back to the subject CN when a certificate has no DNS SAN.
constexpr char kPythonClient[] = R"(
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.hostname_checks_common_name = False
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=20) as sock:
    try:
        with ctx.wrap_socket(sock, server_hostname=sys.argv[3]) as tls:
            print("verified", tls.getpeercert()["subjectAltName"])
    except ssl.SSLCertVerificationError as e:
        print("refused", e.verify_message)
        sys.exit(3)
)";

class PkiClientsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto token = hsm::testing::SoftHsmToken::Create("pki-clients-e2e");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = std::make_unique<hsm::testing::SoftHsmToken>(*std::move(token));
    state_ = token_->dir + "/state";
    const std::string config = token_->dir + "/strongroom.yaml";
    // No pki.base_url: certificates name the plain listener, bound to a free port.
    const std::string yaml = absl::StrCat(
        "state_dir: ", state_, "\nhsm:\n  token_label: ", token_->label,
        "\n  pin_file: ", token_->pin_file,
        "\ngrpc:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:0\n"
        "pki:\n  crl_validity: 2h\n");
    ASSERT_TRUE(hsm::testing::WriteFile(config, yaml, 0600).ok());
    server_ = std::make_unique<Process>();
    testing::StrongroomdPorts ports = testing::StartStrongroomd(*server_, config, /*http=*/true);
    ASSERT_NE(ports.grpc, 0) << server_->output();
    ASSERT_NE(ports.http, 0) << server_->output();
    http_port_ = ports.http;
    plain_port_ = testing::WaitForPort(*server_, kPlainListening);
    ASSERT_NE(plain_port_, 0) << server_->output();
    root_token_ = testing::RootToken(state_);
    stub_ = v1::Pki::NewStub(testing::ServerChannel(state_, ports.grpc, root_token_));

    grpc::ClientContext ctx;
    v1::CreateRootIssuerRequest req;
    req.set_issuer_name("root");
    req.set_common_name("Clients E2E Root");
    req.set_key_type(v1::EC_P256);
    grpc::Status s = stub_->CreateRootIssuer(&ctx, req, &root_);
    ASSERT_TRUE(s.ok()) << s.error_message();
    root_path_ = Write("root.pem", root_.certificate_pem());
    PutRole("web", /*server=*/true, /*exclude_cn=*/false);
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

  void PutRole(const std::string& name, bool server, bool exclude_cn) {
    grpc::ClientContext ctx;
    v1::Role role, reply;
    role.set_name(name);
    role.set_issuer_name("root");
    role.add_allowed_domains("example.com");
    role.set_allow_subdomains(true);
    role.set_server_flag(server);
    role.set_exclude_cn_from_sans(exclude_cn);
    grpc::Status s = stub_->PutRole(&ctx, role, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // A key and a CSR with subject CN=<cn> and no extensions, as `openssl req -subj` makes it.
  std::string CnOnlyCsr(const std::string& cn, const std::string& key_path) {
    RunResult r = RunCommand({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:P-256", "-nodes", "-keyout", key_path, "-subj",
                              "/CN=" + cn});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output.substr(r.output.find("-----BEGIN"));
  }

  v1::SignedCertificate Sign(const std::string& role, const std::string& csr) {
    grpc::ClientContext ctx;
    v1::SignCertificateRequest req;
    req.set_role(role);
    req.set_csr_pem(csr);
    v1::SignedCertificate reply;
    grpc::Status s = stub_->SignCertificate(&ctx, req, &reply);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return reply;
  }

  // `openssl s_server` on a free loopback port presenting `cert` and `key`; its port.
  int StartTlsServer(Process& server, const std::string& cert, const std::string& key) {
    if (!server.Start({"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key",
                       key, "-www"})) {
      return 0;
    }
    return testing::WaitForPort(server, "ACCEPT 127.0.0.1:");
  }

  // curl of `url`: the body to `out`, the response headers to `out`.headers; the output is
  // "<status> <content type>".
  RunResult Curl(const std::string& url, const std::string& out,
                 std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {"curl", "-sS",           "-o", out, "-D", out + ".headers",
                                     "-w",   "%{http_code} %{content_type}"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    return RunCommand(argv);
  }

  std::string PlainUrl(const std::string& path) {
    return absl::StrCat("http://127.0.0.1:", plain_port_, path);
  }

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::string state_, root_token_, root_path_;
  int http_port_ = 0, plain_port_ = 0;
  std::unique_ptr<Process> server_;
  std::unique_ptr<v1::Pki::Stub> stub_;
  v1::Issuer root_;
};

// The value of response header `name` (case-insensitive) in a curl -D dump, or "".
std::string HeaderIn(const std::string& dump, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(dump, "\r\n")) {
    if (absl::StartsWithIgnoreCase(line, name + ":")) {
      return std::string(absl::StripAsciiWhitespace(line.substr(name.size() + 1)));
    }
  }
  return "";
}

TEST_F(PkiClientsE2eTest, CnOnlyCsrGivesACertificateCurlAndPythonAccept) {
  const std::string key = token_->dir + "/api.key";
  v1::SignedCertificate cert = Sign("web", CnOnlyCsr("api.example.com", key));
  const std::string cert_path = Write("api.pem", cert.certificate_pem());
  RunResult r = RunCommand({"openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", cert_path});
  EXPECT_THAT(r.output, HasSubstr("DNS:api.example.com")) << r.output;

  Process tls;
  const int port = StartTlsServer(tls, cert_path, key);
  ASSERT_NE(port, 0) << tls.output();
  r = RunCommand({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", root_path_,
                  "--resolve", absl::StrCat("api.example.com:", port, ":127.0.0.1"),
                  absl::StrCat("https://api.example.com:", port, "/")});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "200");
  r = RunCommand({kPython, "-c", kPythonClient, root_path_, absl::StrCat(port), "api.example.com"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("verified (('DNS', 'api.example.com'),)"));

  // The control: the same kind of certificate with the name left out of the SAN (a role
  // with no server flag, and exclude_cn_from_sans) is refused by a client that reads names
  // from the SAN only. (curl, through OpenSSL, would still fall back to the CN.)
  PutRole("legacy", /*server=*/false, /*exclude_cn=*/true);
  const std::string legacy_key = token_->dir + "/legacy.key";
  v1::SignedCertificate legacy = Sign("legacy", CnOnlyCsr("api.example.com", legacy_key));
  const std::string legacy_path = Write("legacy.pem", legacy.certificate_pem());
  Process legacy_tls;
  const int legacy_port = StartTlsServer(legacy_tls, legacy_path, legacy_key);
  ASSERT_NE(legacy_port, 0) << legacy_tls.output();
  r = RunCommand(
      {kPython, "-c", kPythonClient, root_path_, absl::StrCat(legacy_port), "api.example.com"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_THAT(r.output, HasSubstr("refused")) << r.output;

  // A server role refuses to leave the name out of the SAN, saying why.
  grpc::ClientContext ctx;
  v1::SignCertificateRequest req;
  req.set_role("web");
  req.set_csr_pem(CnOnlyCsr("api.example.com", key + ".2"));
  req.set_exclude_cn_from_sans(true);
  v1::SignedCertificate reply;
  grpc::Status s = stub_->SignCertificate(&ctx, req, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("subjectAltName"));
}

TEST_F(PkiClientsE2eTest, RevocationAndIssuerFetchedFromTheCertificateUrlsOverPlainHttp) {
  const std::string key = token_->dir + "/www.key";
  v1::SignedCertificate leaf = Sign("web", CnOnlyCsr("www.example.com", key));
  const std::string leaf_path = Write("www.pem", leaf.certificate_pem());

  // The URLs in the certificate name the plain listener.
  RunResult r = RunCommand({"openssl", "x509", "-noout", "-ocsp_uri", "-in", leaf_path});
  const std::string ocsp_url = std::string(absl::StripAsciiWhitespace(r.output));
  EXPECT_EQ(ocsp_url, PlainUrl("/v1/pki/root/ocsp"));
  r = RunCommand({"openssl", "x509", "-noout", "-text", "-in", leaf_path});
  const std::string crl_url = PlainUrl("/v1/pki/root/crl");
  const std::string issuer_url = PlainUrl("/v1/pki/root/ca?format=der");
  EXPECT_THAT(r.output, HasSubstr("URI:" + crl_url + "\n"));
  EXPECT_THAT(r.output, HasSubstr("CA Issuers - URI:" + issuer_url + "\n"));

  // CA issuers: the DER issuer certificate (RFC 5280 4.2.2.1).
  const std::string issuer_der = token_->dir + "/issuer.der";
  r = Curl(issuer_url, issuer_der);
  EXPECT_EQ(r.output, "200 application/pkix-cert");
  r = RunCommand({"openssl", "x509", "-inform", "DER", "-in", issuer_der});
  EXPECT_EQ(r.output, root_.certificate_pem());

  // OCSP with openssl's own HTTP client (POST to the URL), verified against the root.
  auto ocsp = [&] {
    return RunCommand({"openssl", "ocsp", "-issuer", root_path_, "-cert", leaf_path, "-url",
                       ocsp_url, "-CAfile", root_path_});
  };
  r = ocsp();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Response verify OK")) << r.output;
  EXPECT_THAT(r.output, HasSubstr(leaf_path + ": good")) << r.output;
  // The CRL through the certificate's distribution point, by openssl verify: not revoked.
  auto verify_with_crl = [&] {
    return RunCommand({"openssl", "verify", "-crl_download", "-crl_check", "-CAfile", root_path_,
                       leaf_path});
  };
  r = verify_with_crl();
  EXPECT_EQ(r.exit_code, 0) << r.output;

  {
    grpc::ClientContext ctx;
    v1::RevokeCertificateRequest req;
    req.set_serial_number(leaf.serial_number());
    v1::RevokeCertificateResponse reply;
    grpc::Status s = stub_->RevokeCertificate(&ctx, req, &reply);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  r = ocsp();
  EXPECT_THAT(r.output, HasSubstr("Response verify OK")) << r.output;
  EXPECT_THAT(r.output, HasSubstr(leaf_path + ": revoked")) << r.output;
  r = verify_with_crl();
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("certificate revoked")) << r.output;

  // curl: the CRL verifies and lists the serial; RFC 5019 caching headers, and 304 for a
  // client that holds it.
  const std::string crl = token_->dir + "/root.crl";
  r = Curl(crl_url, crl);
  EXPECT_EQ(r.output, "200 application/pkix-crl");
  const std::string headers = ReadAll(crl + ".headers");
  EXPECT_THAT(HeaderIn(headers, "Cache-Control"),
              MatchesRegex("max-age=[0-9]+, public, no-transform, must-revalidate"))
      << headers;
  EXPECT_THAT(HeaderIn(headers, "Last-Modified"), HasSubstr(" GMT")) << headers;
  EXPECT_THAT(HeaderIn(headers, "Expires"), HasSubstr(" GMT")) << headers;
  const std::string etag = HeaderIn(headers, "ETag");
  EXPECT_THAT(etag, MatchesRegex("\"[0-9a-f]+\"")) << headers;
  r = RunCommand({"openssl", "crl", "-inform", "DER", "-in", crl, "-verify", "-noout", "-text",
                  "-CAfile", root_path_});
  EXPECT_THAT(r.output, HasSubstr("verify OK")) << r.output;
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("Serial Number: ",
                                               absl::AsciiStrToUpper(leaf.serial_number()))));
  r = Curl(crl_url, token_->dir + "/again.crl", {"-H", "If-None-Match: " + etag});
  EXPECT_THAT(r.output, HasSubstr("304"));
  EXPECT_EQ(ReadAll(token_->dir + "/again.crl"), "");
  // The HTTPS listener serves the same CRL with the same headers.
  r = Curl(absl::StrCat("https://localhost:", http_port_, "/v1/pki/root/crl"),
           token_->dir + "/https.crl",
           {"--cacert", testing::ServerCert(state_), "--resolve",
            absl::StrCat("localhost:", http_port_, ":127.0.0.1")});
  EXPECT_EQ(r.output, "200 application/pkix-crl");
  EXPECT_EQ(HeaderIn(ReadAll(token_->dir + "/https.crl.headers"), "ETag"), etag);

  // OCSP's GET form (RFC 6960 A.1) over plain HTTP is cacheable until its nextUpdate.
  const std::string req_der = token_->dir + "/ocsp-req.der";
  r = RunCommand({"openssl", "ocsp", "-issuer", root_path_, "-cert", leaf_path, "-no_nonce",
                  "-reqout", req_der});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand({"openssl", "base64", "-A", "-in", req_der});
  std::string encoded;
  for (char c : r.output) {
    if (c == '+') encoded += "%2B";
    else if (c == '/') encoded += "%2F";
    else if (c == '=') encoded += "%3D";
    else if (c != '\n') encoded += c;
  }
  const std::string resp = token_->dir + "/ocsp-resp.der";
  r = Curl(absl::StrCat(ocsp_url, "/", encoded), resp);
  EXPECT_EQ(r.output, "200 application/ocsp-response");
  EXPECT_THAT(HeaderIn(ReadAll(resp + ".headers"), "Cache-Control"),
              MatchesRegex("max-age=3[0-9]{3}, public, no-transform, must-revalidate"));
  r = RunCommand({"openssl", "ocsp", "-respin", resp, "-issuer", root_path_, "-cert", leaf_path,
                  "-CAfile", root_path_, "-no_nonce"});
  EXPECT_THAT(r.output, HasSubstr("Response verify OK")) << r.output;
  EXPECT_THAT(r.output, HasSubstr(": revoked")) << r.output;
}

TEST_F(PkiClientsE2eTest, PlainListenerServesOnlyPublicDocumentsAndReadsNoToken) {
  // The root token works over HTTPS ...
  RunResult r = RunCommand({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                            testing::ServerCert(state_), "--resolve",
                            absl::StrCat("localhost:", http_port_, ":127.0.0.1"), "-H",
                            "X-Vault-Token: " + root_token_,
                            absl::StrCat("https://localhost:", http_port_,
                                         "/v1/auth/token/lookup-self")});
  EXPECT_EQ(r.output, "200");
  // ... but on the plain listener nothing but the documents exists, token or not.
  for (const char* path : {"/v1/auth/token/lookup-self", "/v1/sys/health", "/metrics",
                           "/v1/transit/keys/k", "/", "/v1/pki/root/ca/extra", "/v1/pki/root"}) {
    r = RunCommand({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                    "X-Vault-Token: " + root_token_, "-H", "Authorization: Bearer " + root_token_,
                    PlainUrl(path)});
    EXPECT_EQ(r.output, "404") << path;
  }
  r = RunCommand({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
                  PlainUrl("/v1/pki/root/crl")});
  EXPECT_EQ(r.output, "405");
  r = RunCommand({"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                  PlainUrl("/v1/pki/root/ca")});
  EXPECT_EQ(r.output, "200");

  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0) << server_->output();
  const std::string log = server_->output();
  server_.reset();
  // Every one of those requests is on record, as an unrouted request of nobody: the token
  // sent with it was never read.
  const std::string audit = ReadAll(state_ + "/audit/audit.log");
  int plain_404 = 0;
  for (absl::string_view line : absl::StrSplit(audit, '\n', absl::SkipEmpty())) {
    if (!absl::StrContains(line, "\"http_status\":404")) continue;
    ++plain_404;
    EXPECT_THAT(line, HasSubstr("\"identity\":\"\"")) << line;
    EXPECT_THAT(line, Not(HasSubstr("token_hmac"))) << line;
  }
  EXPECT_EQ(plain_404, 7) << audit;
  EXPECT_THAT(audit, HasSubstr("\"resource\":\"http/v1/auth/token/lookup-self\"")) << audit;
  EXPECT_THAT(audit, HasSubstr("\"http_status\":405")) << audit;
  EXPECT_THAT(audit, Not(HasSubstr(root_token_))) << audit;
  EXPECT_THAT(log, Not(HasSubstr(root_token_)));
}

}  // namespace
}  // namespace strongroom
