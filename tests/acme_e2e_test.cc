// The real strongroomd's ACME directory for a role, driven by outside clients:
// - certbot (Debian's certbot 2.1.0): account, order, http-01 validation (certbot's standalone
//   server on a free port, which the server's validation override points the name at),
//   finalize and download; renewal; revocation by the account, seen in the CRL and by OCSP;
//   the chain checked by openssl verify.
// - raw JWS requests (tests/acme/raw_jws_test.py, python3-jwcrypto): every refusal's problem
//   type (badNonce, unauthorized, rejectedIdentifier, badCSR, ...), key change, deactivation,
//   revocation with the certificate's own key and a reason (in the CRL and OCSP), challenge
//   validation off the request path.
// - external account binding (tests/acme/eab_test.py and certbot --eab-kid/--eab-hmac-key),
//   with EAB keys made over HTTP by a token holding pki.acme.eab, and pki.acme.external_url.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd_fixture.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using testing::HttpReply;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class AcmeE2eTest : public testing::StrongroomdHttpTest {
 protected:
  void SetUp() override {
    http01_port_ = testing::FreeLoopbackPort();
    ASSERT_NE(http01_port_, 0);
    ASSERT_NO_FATAL_FAILURE(StartServer(
        "acme-certbot",
        absl::StrCat(auth_, "pki:\n  acme:\n", limits_, "    validation_overrides:\n",
                     "      \"*\": \"127.0.0.1:", http01_port_, "\"\n")));
    HttpReply root = Curl("POST", "/v1/pki/root/generate/internal", root_token_,
                          R"({"common_name":"ACME E2E Root","key_type":"ec"})");
    ASSERT_EQ(root.status, 200) << root.body;
    HttpReply role = Curl("POST", "/v1/pki/roles/web", root_token_,
                          R"({"allowed_domains":"example.com","allow_subdomains":true,)"
                          R"("key_type":"ec","ttl":"24h","server_flag":true})");
    ASSERT_EQ(role.status, 200) << role.body;
    HttpReply ca = Curl("GET", "/v1/pki/ca/pem", "");
    ASSERT_EQ(ca.status, 200) << ca.body;
    root_pem_ = Write("root.pem", ca.body);
    dir_ = std::string(getenv("TEST_TMPDIR")) + "/certbot";
  }

  // The raw JWS script sends its requests back to back, faster than the default
  // per-account and per-source limits allow on an idle machine.
  std::string limits_ =
      "    account_requests_per_second: 1000\n    source_requests_per_second: 1000\n";
  std::string auth_;  // the config's auth: section, if any

  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = std::string(getenv("TEST_TMPDIR")) + "/" + name;
    EXPECT_TRUE(hsm::testing::WriteFile(path, content, 0644).ok());
    return path;
  }

  // certbot `args` with its directories under TEST_TMPDIR, trusting the server's TLS CA.
  testing::RunResult Certbot(std::vector<std::string> args) {
    std::vector<std::string> argv = {"certbot"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--config-dir", dir_ + "/config", "--work-dir", dir_ + "/work",
                             "--logs-dir", dir_ + "/logs", "--non-interactive"});
    return testing::RunCommand(argv, {{"REQUESTS_CA_BUNDLE", ca_}}, absl::Seconds(120));
  }

  // certbot certonly --standalone for `domain` (with `extra` flags), the certificate checked
  // with openssl verify against the root and its chain; its live directory, "" on failure.
  std::string Certonly(const std::string& domain, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"certonly", "--standalone", "--http-01-port",
                                     std::to_string(http01_port_), "--http-01-address",
                                     "127.0.0.1", "--server", Directory()};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"--register-unsafely-without-email", "--agree-tos", "-d", domain});
    testing::RunResult issued = Certbot(args);
    EXPECT_EQ(issued.exit_code, 0) << issued.output << ReadFile(dir_ + "/logs/letsencrypt.log");
    if (issued.exit_code != 0) return "";
    const std::string live = dir_ + "/config/live/" + domain;
    testing::RunResult verify = testing::RunCommand(
        {"openssl", "verify", "-CAfile", root_pem_, "-untrusted", live + "/chain.pem",
         live + "/cert.pem"});
    EXPECT_EQ(verify.exit_code, 0) << verify.output;
    return live;
  }

  std::string Directory() const {
    return absl::StrCat("https://127.0.0.1:", http_port_, "/v1/pki/roles/web/acme/directory");
  }

  std::string Serial(const std::string& cert) {
    testing::RunResult r = testing::RunCommand({"openssl", "x509", "-noout", "-serial", "-in", cert});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }

  int http01_port_ = 0;
  std::string root_pem_, dir_;
};

TEST_F(AcmeE2eTest, CertbotCertonlyRenewRevoke) {
  const std::string domain = "www.acme.example.com";
  const std::string live = Certonly(domain);
  ASSERT_FALSE(live.empty());
  testing::RunResult text =
      testing::RunCommand({"openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                           live + "/cert.pem"});
  EXPECT_THAT(text.output, HasSubstr("DNS:" + domain));
  const std::string first = Serial(live + "/cert.pem");

  testing::RunResult renewed = Certbot({"renew", "--force-renewal", "--no-random-sleep-on-renew",
                                        "--http-01-port",
                                        std::to_string(http01_port_), "--http-01-address",
                                        "127.0.0.1"});
  ASSERT_EQ(renewed.exit_code, 0) << renewed.output << ReadFile(dir_ + "/logs/letsencrypt.log");
  const std::string second = Serial(live + "/cert.pem");
  EXPECT_NE(first, second);
  testing::RunResult verify =
      testing::RunCommand({"openssl", "verify", "-CAfile", root_pem_, "-untrusted",
                           live + "/chain.pem", live + "/cert.pem"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;

  // Revocation by the account that ordered it.
  const std::string cert_copy = Write("revoked.pem", ReadFile(live + "/cert.pem"));
  testing::RunResult revoked = Certbot({"revoke", "--cert-path", live + "/cert.pem", "--server",
                                        Directory(), "--no-delete-after-revoke"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.output << ReadFile(dir_ + "/logs/letsencrypt.log");

  HttpReply crl = Curl("GET", "/v1/pki/crl/pem", "");
  ASSERT_EQ(crl.status, 200);
  testing::RunResult crl_check =
      testing::RunCommand({"openssl", "verify", "-crl_check", "-CAfile", root_pem_, "-CRLfile",
                           Write("crl.pem", crl.body), cert_copy});
  EXPECT_NE(crl_check.exit_code, 0);
  EXPECT_THAT(crl_check.output, HasSubstr("revoked"));
  testing::RunResult ocsp_uri =
      testing::RunCommand({"openssl", "x509", "-noout", "-ocsp_uri", "-in", cert_copy});
  ASSERT_EQ(ocsp_uri.exit_code, 0);
  std::string url = ocsp_uri.output;
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
  testing::RunResult ocsp =
      testing::RunCommand({"openssl", "ocsp", "-issuer", root_pem_, "-cert", cert_copy, "-url",
                           url, "-CAfile", root_pem_});
  EXPECT_THAT(ocsp.output, HasSubstr(": revoked")) << ocsp.output;

  // Every ACME request was audited under the role's ACME resource.
  const std::string audit = ReadFile(AuditPath());
  EXPECT_THAT(audit, HasSubstr("pki/roles/web/acme"));
  EXPECT_THAT(audit, HasSubstr("names=" + domain + " serial="));
  EXPECT_THAT(audit, HasSubstr("\"detail\":\"account="));
  EXPECT_THAT(audit, HasSubstr(" revoked="));
}

TEST_F(AcmeE2eTest, RawJwsProblems) {
  testing::RunResult r = testing::RunCommand(
      {"/usr/bin/python3", testing::Runfile("tests/acme/raw_jws_test.py"), Directory(), ca_,
       std::to_string(http01_port_)},
      {{"TEST_TMPDIR", getenv("TEST_TMPDIR")}}, absl::Seconds(120));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("0 failure(s)")) << r.output;
  // Refusals are audited with their problem type.
  const std::string audit = ReadFile(AuditPath());
  for (const char* type : {"badNonce", "unauthorized", "rejectedIdentifier", "badCSR",
                           "badRevocationReason"}) {
    EXPECT_THAT(audit, HasSubstr(absl::StrCat("problem=", type))) << type;
  }
  // The script revoked its certificate for keyCompromise (1): the CRL entry and OCSP say so.
  const std::string revoked = std::string(getenv("TEST_TMPDIR")) + "/raw-revoked.pem";
  HttpReply crl = Curl("GET", "/v1/pki/crl/pem", "");
  ASSERT_EQ(crl.status, 200);
  testing::RunResult text =
      testing::RunCommand({"openssl", "crl", "-noout", "-text", "-in", Write("raw.crl", crl.body)});
  EXPECT_THAT(text.output, HasSubstr("X509v3 CRL Reason Code: \n                Key Compromise"))
      << text.output;
  testing::RunResult ocsp_uri =
      testing::RunCommand({"openssl", "x509", "-noout", "-ocsp_uri", "-in", revoked});
  ASSERT_EQ(ocsp_uri.exit_code, 0) << ocsp_uri.output;
  std::string url = ocsp_uri.output;
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r')) url.pop_back();
  testing::RunResult ocsp = testing::RunCommand({"openssl", "ocsp", "-issuer", root_pem_, "-cert",
                                                 revoked, "-url", url, "-CAfile", root_pem_});
  EXPECT_THAT(ocsp.output, HasSubstr(": revoked")) << ocsp.output;
  EXPECT_THAT(ocsp.output, HasSubstr("Reason: keyCompromise")) << ocsp.output;
}

// Validation off the request path with one worker and room for one validation: a second
// challenge POST while the first is validated gets rateLimited (tests/acme/
// validation_queue_test.py), and both turn valid.
class AcmeValidationQueueE2eTest : public AcmeE2eTest {
 protected:
  AcmeValidationQueueE2eTest() { limits_ += "    validation_workers: 1\n    validation_queue: 1\n"; }
};

TEST_F(AcmeValidationQueueE2eTest, FullQueueIsRateLimitedAndDrains) {
  testing::RunResult r = testing::RunCommand(
      {"/usr/bin/python3", testing::Runfile("tests/acme/validation_queue_test.py"), Directory(),
       ca_, std::to_string(http01_port_)},
      {}, absl::Seconds(120));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("0 failure(s)")) << r.output;
  EXPECT_THAT(ReadFile(AuditPath()), HasSubstr("problem=rateLimited"));
}

// External account binding: the role "web" requires it; EAB keys come from
// POST /v1/pki/roles/<role>/acme/new-eab with a token holding pki.acme.eab on the role.
class AcmeEabE2eTest : public AcmeE2eTest {
 protected:
  AcmeEabE2eTest() {
    auth_ =
        "auth:\n  policies:\n"
        "    - name: enroller\n      rules:\n        - resource: pki/roles/web\n"
        "          operations: [pki.acme.eab]\n"
        "    - name: issuer\n      rules:\n        - resource: pki/roles/web\n"
        "          operations: [pki.issue, pki.sign, read]\n";
    limits_ += "    external_account_required: [web]\n";
  }

  // A new EAB key for `role` made with `token`: {kid, base64url HMAC key}.
  std::pair<std::string, std::string> NewEab(const std::string& role, const std::string& token) {
    HttpReply r = Curl("POST", absl::StrCat("/v1/pki/roles/", role, "/acme/new-eab"), token);
    EXPECT_EQ(r.status, 200) << r.raw;
    auto field = [&r](const std::string& name) {
      const std::string marker = absl::StrCat("\"", name, "\":\"");
      size_t at = r.body.find(marker);
      if (at == std::string::npos) return std::string();
      at += marker.size();
      return r.body.substr(at, r.body.find('"', at) - at);
    };
    EXPECT_EQ(field("key_type"), "hs") << r.body;
    secrets_.push_back(field("key"));
    return {field("id"), field("key")};
  }

  void CreateOtherRole() {
    HttpReply role = Curl("POST", "/v1/pki/roles/other", root_token_,
                          R"({"allowed_domains":"example.org","key_type":"ec"})");
    ASSERT_EQ(role.status, 200) << role.body;
  }
};

TEST_F(AcmeEabE2eTest, OnlyATokenWithTheOperationMakesKeys) {
  ASSERT_NO_FATAL_FAILURE(CreateOtherRole());
  EXPECT_EQ(Curl("POST", "/v1/pki/roles/web/acme/new-eab", "").status, 403);
  EXPECT_EQ(Curl("POST", "/v1/pki/roles/web/acme/new-eab", CreateToken("issuer")).status, 403);
  const std::string enroller = CreateToken("enroller");
  HttpReply other_role = Curl("POST", "/v1/pki/roles/other/acme/new-eab", enroller);
  EXPECT_EQ(other_role.status, 403) << other_role.raw;
  // The reply shows the HMAC key once and must not be cached: read its headers too.
  testing::RunResult made = testing::RunCommand(
      {"curl", "-sS", "-i", "--cacert", ca_, "-X", "POST", "-H", "X-Vault-Token: " + enroller,
       absl::StrCat("https://127.0.0.1:", http_port_, "/v1/pki/roles/web/acme/new-eab")});
  EXPECT_EQ(made.exit_code, 0);
  EXPECT_THAT(absl::AsciiStrToLower(made.output), HasSubstr("cache-control: no-store"));
  EXPECT_THAT(made.output, HasSubstr(" 200"));
  EXPECT_THAT(made.output, HasSubstr("/v1/pki/roles/web/acme/directory"));
  const std::string audit = ReadFile(AuditPath());
  EXPECT_THAT(audit, HasSubstr("\"operation\":\"pki.acme.eab\""));
  EXPECT_THAT(audit, HasSubstr("\"detail\":\"eab="));
}

TEST_F(AcmeEabE2eTest, CertbotWithEab) {
  const std::string enroller = CreateToken("enroller");
  const auto [kid, key] = NewEab("web", enroller);
  ASSERT_FALSE(kid.empty());
  const std::string domain = "eab.acme.example.com";
  // Without a binding certbot's registration is refused.
  testing::RunResult refused = Certbot(
      {"register", "--server", Directory(), "--register-unsafely-without-email", "--agree-tos"});
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  ASSERT_FALSE(Certonly(domain, {"--eab-kid", kid, "--eab-hmac-key", key}).empty());
  const std::string audit = ReadFile(AuditPath());
  EXPECT_THAT(audit, HasSubstr(" eab=" + kid));
  ExpectSecretsAbsent(secrets_, audit, StopServer());
}

// The same directory with pki.acme.external_url pinned: raw JWS cases for the binding and
// for the URLs (tests/acme/eab_test.py).
class AcmeEabExternalUrlE2eTest : public AcmeEabE2eTest {
 protected:
  AcmeEabExternalUrlE2eTest() {
    limits_ += absl::StrCat("    external_url: \"", kExternal, "\"\n");
  }
  static constexpr char kExternal[] = "https://acme.example.net:8443";
};

TEST_F(AcmeEabExternalUrlE2eTest, RawBindingAndPinnedUrls) {
  ASSERT_NO_FATAL_FAILURE(CreateOtherRole());
  const std::string enroller = CreateToken("enroller");
  const auto [kid1, key1] = NewEab("web", enroller);
  const auto [kid2, key2] = NewEab("web", enroller);
  const auto [kid3, key3] = NewEab("other", root_token_);
  testing::RunResult r = testing::RunCommand(
      {"/usr/bin/python3", testing::Runfile("tests/acme/eab_test.py"), Directory(), ca_,
       kExternal, kid1, key1, kid2, key2, kid3, key3},
      {}, absl::Seconds(120));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("0 failure(s)")) << r.output;
  ExpectSecretsAbsent(secrets_, ReadFile(AuditPath()), StopServer());
}

// The per-source limit: requests past it get 429 with an ACME rateLimited problem.
class AcmeRateLimitE2eTest : public AcmeE2eTest {
 protected:
  AcmeRateLimitE2eTest() { limits_ = "    source_requests_per_second: 1\n"; }
};

TEST_F(AcmeRateLimitE2eTest, RequestsPastTheSourceLimitAreRateLimited) {
  int limited = 0, served = 0;
  for (int i = 0; i < 20 && limited == 0; ++i) {
    HttpReply r = Curl("GET", "/v1/pki/roles/web/acme/new-nonce", "");
    if (r.status == 429) {
      ++limited;
      EXPECT_THAT(r.body, HasSubstr("urn:ietf:params:acme:error:rateLimited")) << r.body;
    } else {
      EXPECT_EQ(r.status, 204) << r.raw;
      ++served;
    }
  }
  EXPECT_GE(served, 1);
  EXPECT_EQ(limited, 1) << "20 requests in a row at 1 per second were all served";
  EXPECT_THAT(ReadFile(AuditPath()), HasSubstr("problem=rateLimited"));
}

}  // namespace
}  // namespace strongroom
