// Vault's PKI engine over HTTPS on a real strongroomd (server/http/vault/pki.h).
//
// PkiHttpE2eTest.*: curl and openssl against the real server and its access gate: a root,
// a role, issuance, revocation and the CRL; every new route refused 403 in Vault's error
// shape for a token without the operation, and audited with the operation and resource of
// the matching gRPC call (body-addressed objects included); the public documents served
// without a token and audited too.
// PkiHvacE2eTest.*: tests/hvac/pki_test.py with Debian's python3-hvac (run by Debian's
// /usr/bin/python3), checked with openssl; it lists with the LIST verb
// (target //tests:pki_hvac_e2e_test).

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"
#include "tests/testing/strongroomd_fixture.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using testing::HttpReply;
using ::testing::Not;
using testing::ReadAll;
using testing::RunCommand;
using testing::Runfile;

class PkiHttpE2eTest : public testing::StrongroomdHttpTest {
 protected:
  void SetUp() override {
    const std::string auth = absl::StrCat(
        "auth:\n",
        "  policies:\n",
        "    - name: pki-all\n",
        "      rules:\n",
        "        - resource: pki/*\n",
        "          operations: ['*']\n",
        "    - name: other-app\n",
        "      rules:\n",
        "        - resource: transit/keys/other-*\n",
        "          operations: [encrypt, decrypt]\n");
    ASSERT_NO_FATAL_FAILURE(StartServer("pkihttp", auth));
    pki_token_ = CreateToken("pki-all");
    denied_token_ = CreateToken("other-app");
  }

  std::string Write(const std::string& name, const std::string& content) {
    std::string path = absl::StrCat(token_->dir, "/", name);
    EXPECT_TRUE(hsm::testing::WriteFile(path, content, 0644).ok());
    return path;
  }

  // Stops the server; its audit log.
  std::string StopAndReadAudit() {
    server_log_ = StopServer();
    return ReadAll(AuditPath());
  }

  std::string pki_token_, denied_token_, server_log_;
};

// The string value of "field":"..." in a JSON body (no escapes), or empty.
std::string JsonString(const std::string& body, const std::string& field) {
  const std::string marker = absl::StrCat("\"", field, "\":\"");
  size_t at = body.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  return body.substr(at, body.find('"', at) - at);
}

// JSON string unescaping for PEM values ("\n" only).
std::string Unescape(std::string s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out.push_back('\n');
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

TEST_F(PkiHttpE2eTest, IssueRevokeCrlAuthorizationAndAudit) {
  // A root (the default issuer), a role, a certificate, its revocation, the CRL.
  HttpReply root = Curl("POST", "/v1/pki/root/generate/internal", pki_token_,
                        R"({"common_name":"E2E Root","key_type":"ec"})");
  ASSERT_EQ(root.status, 200) << root.body;
  HttpReply ca = Curl("GET", "/v1/pki/ca/pem", "");  // public
  ASSERT_EQ(ca.status, 200) << ca.body;
  const std::string ca_path = Write("ca.pem", ca.body);
  HttpReply role = Curl("POST", "/v1/pki/roles/web", pki_token_,
                        R"({"allowed_domains":"example.com","allow_subdomains":true,"key_type":"ec"})");
  ASSERT_EQ(role.status, 200) << role.body;
  HttpReply issued = Curl("PUT", "/v1/pki/issue/web", pki_token_,
                          R"({"common_name":"a.example.com","ttl":"1h"})");
  ASSERT_EQ(issued.status, 200) << issued.body;
  const std::string leaf = Write("leaf.pem", Unescape(JsonString(issued.body, "certificate")));
  testing::RunResult verify = RunCommand({"openssl", "verify", "-CAfile", ca_path, leaf});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  const std::string serial = JsonString(issued.body, "serial_number");
  ASSERT_FALSE(serial.empty()) << issued.body;
  HttpReply revoked = Curl("POST", "/v1/pki/revoke", pki_token_,
                           absl::StrCat(R"({"serial_number":")", serial, "\"}"));
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  HttpReply crl = Curl("GET", "/v1/pki/crl/pem", "");
  ASSERT_EQ(crl.status, 200);
  testing::RunResult crl_check = RunCommand({"openssl", "verify", "-crl_check", "-CAfile", ca_path,
                                             "-CRLfile", Write("crl.pem", crl.body), leaf});
  EXPECT_NE(crl_check.exit_code, 0);
  EXPECT_THAT(crl_check.output, HasSubstr("revoked"));
  HttpReply exported = Curl("POST", "/v1/pki/root/generate/exported", pki_token_, "{}");
  EXPECT_EQ(exported.status, 400);
  EXPECT_THAT(exported.body, HasSubstr("never leave"));

  // Every authenticated route refuses a token without its operation, in Vault's shape, and
  // names the object the gRPC call would (from the path, or the body).
  struct Case {
    const char* method;
    const char* path;
    const char* body;
    const char* operation;
    const char* resource;
  };
  const Case cases[] = {
      {"POST", "/v1/pki/issue/web", "{}", "pki.issue", "pki/roles/web"},
      {"PUT", "/v1/pki/issue/web", "{}", "pki.issue", "pki/roles/web"},
      {"POST", "/v1/pki/sign/web", "{}", "pki.sign", "pki/roles/web"},
      {"PUT", "/v1/pki/sign/web", "{}", "pki.sign", "pki/roles/web"},
      {"POST", "/v1/pki/revoke", R"({"serial_number":"0A:0B"})", "pki.revoke", "pki/certs/0a0b"},
      {"PUT", "/v1/pki/revoke", R"({"serial_number":"0c0d"})", "pki.revoke", "pki/certs/0c0d"},
      {"GET", "/v1/pki/cert/0e0f", "", "read", "pki/certs/0e0f"},
      {"GET", "/v1/pki/certs?list=true", "", "read", "pki/certs"},
      {"GET", "/v1/pki/roles/web", "", "read", "pki/roles/web"},
      {"POST", "/v1/pki/roles/r-post", "{}", "pki.admin", "pki/roles/r-post"},
      {"PUT", "/v1/pki/roles/r-put", "{}", "pki.admin", "pki/roles/r-put"},
      {"DELETE", "/v1/pki/roles/web", "", "pki.admin", "pki/roles/web"},
      {"GET", "/v1/pki/roles?list=true", "", "read", "pki/roles"},
      {"GET", "/v1/pki/issuers?list=true", "", "read", "pki/issuers"},
      {"GET", "/v1/pki/issuer/default", "", "read", "pki/issuers/default"},
      {"GET", "/v1/pki/config/issuers", "", "read", "pki/issuers/default"},
      {"POST", "/v1/pki/root/generate/internal", R"({"issuer_name":"g1"})", "pki.admin",
       "pki/issuers/g1"},
      {"PUT", "/v1/pki/root/generate/internal", "{}", "pki.admin", "pki/issuers/default"},
      {"POST", "/v1/pki/intermediate/generate/internal", R"({"issuer_name":"g2"})", "pki.admin",
       "pki/issuers/g2"},
      {"PUT", "/v1/pki/intermediate/generate/internal", R"({"issuer_name":"g3"})", "pki.admin",
       "pki/issuers/g3"},
      {"POST", "/v1/pki/root/sign-intermediate", R"({"issuer_ref":"s1"})", "pki.admin",
       "pki/issuers/s1"},
      {"PUT", "/v1/pki/root/sign-intermediate", R"({"issuer_ref":"s2"})", "pki.admin",
       "pki/issuers/s2"},
      {"POST", "/v1/pki/issuer/s3/sign-intermediate", "{}", "pki.admin", "pki/issuers/s3"},
      {"PUT", "/v1/pki/issuer/s4/sign-intermediate", "{}", "pki.admin", "pki/issuers/s4"},
      {"POST", "/v1/pki/intermediate/set-signed", R"({"issuer_name":"i1"})", "pki.admin",
       "pki/issuers/i1"},
      {"PUT", "/v1/pki/intermediate/set-signed", R"({"issuer_name":"i2"})", "pki.admin",
       "pki/issuers/i2"},
      {"POST", "/v1/pki/root/generate/exported", R"({"issuer_name":"e1"})", "pki.admin",
       "pki/issuers/e1"},
      {"PUT", "/v1/pki/root/generate/exported", R"({"issuer_name":"e2"})", "pki.admin",
       "pki/issuers/e2"},
      {"POST", "/v1/pki/intermediate/generate/exported", R"({"issuer_name":"e3"})", "pki.admin",
       "pki/issuers/e3"},
      {"PUT", "/v1/pki/intermediate/generate/exported", R"({"issuer_name":"e4"})", "pki.admin",
       "pki/issuers/e4"},
      {"POST", "/v1/pki/issuers/generate/root/exported", R"({"issuer_name":"e5"})", "pki.admin",
       "pki/issuers/e5"},
      {"PUT", "/v1/pki/issuers/generate/root/exported", R"({"issuer_name":"e6"})", "pki.admin",
       "pki/issuers/e6"},
      {"POST", "/v1/pki/issuers/generate/intermediate/exported", R"({"issuer_name":"e7"})",
       "pki.admin", "pki/issuers/e7"},
      {"PUT", "/v1/pki/issuers/generate/intermediate/exported", R"({"issuer_name":"e8"})",
       "pki.admin", "pki/issuers/e8"},
  };
  for (const Case& c : cases) {
    HttpReply reply = Curl(c.method, c.path, denied_token_, c.body);
    EXPECT_EQ(reply.status, 403) << c.method << " " << c.path << ": " << reply.body;
    // Vault's error shape, naming the operation and the object the check was made on.
    EXPECT_TRUE(absl::StartsWith(reply.body, R"({"errors":[")")) << reply.body;
    EXPECT_THAT(reply.body, HasSubstr(absl::StrCat("may not ", c.operation, " ", c.resource, ":")))
        << c.method << " " << c.path;
  }
  // The public documents need no token.
  const char* documents[] = {"/v1/pki/ca", "/v1/pki/ca/pem", "/v1/pki/ca_chain", "/v1/pki/crl",
                             "/v1/pki/crl/pem"};
  for (const char* path : documents) EXPECT_EQ(Curl("GET", path, "").status, 200) << path;
  HttpReply ocsp = Curl("GET", "/v1/pki/ocsp/MAMCAQA=", "");  // malformed: an OCSP error reply
  EXPECT_EQ(ocsp.status, 200);

  const std::string audit = StopAndReadAudit();
  std::vector<std::string> lines = absl::StrSplit(audit, '\n', absl::SkipEmpty());
  auto audited = [&lines](const std::string& operation, const std::string& resource, int status) {
    for (const std::string& line : lines) {
      if (absl::StrContains(line, absl::StrCat("\"operation\":\"", operation, "\"")) &&
          absl::StrContains(line, absl::StrCat("\"resource\":\"", resource, "\"")) &&
          absl::StrContains(line, absl::StrCat("\"http_status\":", status))) {
        return true;
      }
    }
    return false;
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(audited(c.operation, c.resource, 403))
        << c.method << " " << c.path << ": no audit line for " << c.operation << " on "
        << c.resource << " with 403";
  }
  EXPECT_TRUE(audited("pki.admin", "pki/issuers/default", 200));    // root/generate
  EXPECT_TRUE(audited("pki.issue", "pki/roles/web", 200));          // issue
  EXPECT_TRUE(audited("public", "pki/issuers/default", 200));       // documents
  std::string canonical = serial;  // Vault's spelling of the canonical form
  canonical.erase(std::remove(canonical.begin(), canonical.end(), ':'), canonical.end());
  EXPECT_TRUE(audited("pki.revoke", absl::StrCat("pki/certs/", canonical), 200)) << audit;
  ExpectSecretsAbsent(secrets_, audit, server_log_);
  EXPECT_THAT(audit, Not(HasSubstr("PRIVATE KEY")));
  EXPECT_THAT(server_log_, Not(HasSubstr("PRIVATE KEY")));
}

// `text` with the characters of base64 that a URL path would misread percent-encoded.
std::string PathEscaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '+') out += "%2B";
    else if (c == '/') out += "%2F";
    else if (c == '=') out += "%3D";
    else out += c;
  }
  return out;
}

// OCSP over both HTTPS routes (Vault's pki/ocsp and the documents' {issuer}/ocsp): every
// answer is audited; a pre-signed answer (a repeated request without a nonce) may leave once
// its line is written, so the line is in the file when the reply arrives; a nonce is echoed in
// a fresh signature that verifies.
TEST_F(PkiHttpE2eTest, OcspAnswersAreAuditedAndNoncesEchoed) {
  HttpReply root = Curl("POST", "/v1/pki/root/generate/internal", pki_token_,
                        R"({"common_name":"E2E Root","key_type":"ec"})");
  ASSERT_EQ(root.status, 200) << root.body;
  const std::string ca_path = Write("ca.pem", Curl("GET", "/v1/pki/ca/pem", "").body);
  ASSERT_EQ(Curl("POST", "/v1/pki/roles/web", pki_token_,
                 R"({"allowed_domains":"example.com","allow_subdomains":true,"key_type":"ec"})")
                .status,
            200);
  HttpReply issued = Curl("PUT", "/v1/pki/issue/web", pki_token_,
                          R"({"common_name":"o.example.com","ttl":"1h"})");
  ASSERT_EQ(issued.status, 200) << issued.body;
  const std::string leaf = Write("leaf.pem", Unescape(JsonString(issued.body, "certificate")));
  // The DER request made by openssl, with a nonce or without, in its GET form.
  auto request = [&](bool nonce, const std::string& name) {
    const std::string path = absl::StrCat(token_->dir, "/", name);
    std::vector<std::string> argv = {"openssl", "ocsp",    "-issuer", ca_path,
                                     "-cert",   leaf,      "-reqout", path};
    if (!nonce) argv.push_back("-no_nonce");
    testing::RunResult made = RunCommand(argv);
    EXPECT_EQ(made.exit_code, 0) << made.output;
    return std::make_pair(path, PathEscaped(absl::Base64Escape(ReadAll(path))));
  };
  // What openssl says of `der` (its text, and its check of the signature against the CA and
  // of the nonce against the request in `request_path`).
  auto verdict = [&](const std::string& der, const std::string& request_path) {
    const std::string path = Write("resp.der", der);
    return RunCommand({"openssl", "ocsp", "-respin", path, "-reqin", request_path, "-CAfile",
                       ca_path, "-VAfile", ca_path, "-resp_text"})
        .output;
  };
  auto count = [&](const std::string& detail) {
    const std::string audit = ReadAll(AuditPath());
    int n = 0;
    for (absl::string_view line : absl::StrSplit(audit, '\n', absl::SkipEmpty())) {
      if (absl::StrContains(line, absl::StrCat("\"detail\":\"", detail, "\"")) &&
          absl::StrContains(line, "\"resource\":\"pki/issuers/default\"")) {
        ++n;
      }
    }
    return n;
  };
  const auto [plain_path, plain] = request(/*nonce=*/false, "plain.der");
  const auto [nonce_path, nonce] = request(/*nonce=*/true, "nonce.der");
  int presigned = 0, answered = 0;
  for (const std::string& route : {std::string("/v1/pki/ocsp/"), std::string("/v1/pki/default/ocsp/")}) {
    for (int i = 0; i < 5; ++i) {
      HttpReply reply = Curl("GET", route + plain, "");
      ASSERT_EQ(reply.status, 200) << route;
      const std::string v = verdict(reply.body, plain_path);
      EXPECT_THAT(v, HasSubstr("Response verify OK")) << v;
      EXPECT_THAT(v, HasSubstr("Cert Status: good")) << v;
      // The first answer for this CertID is signed for it; the rest are pre-signed, and each
      // reply's audit line is already in the file.
      if (i == 0 && route == "/v1/pki/ocsp/") ++answered; else ++presigned;
      EXPECT_EQ(count("ocsp=presigned"), presigned) << route << " " << i;
    }
    for (int i = 0; i < 3; ++i) {
      HttpReply reply = Curl("GET", route + nonce, "");
      ASSERT_EQ(reply.status, 200) << route;
      const std::string v = verdict(reply.body, nonce_path);
      EXPECT_THAT(v, HasSubstr("Response verify OK")) << v;
      EXPECT_THAT(v, HasSubstr("Cert Status: good")) << v;
      EXPECT_THAT(v, HasSubstr("OCSP Nonce:")) << v;
      EXPECT_THAT(v, Not(HasSubstr("Nonce Verify error"))) << v;  // echoed, and equal
      EXPECT_THAT(v, Not(HasSubstr("no nonce"))) << v;
      ++answered;
      EXPECT_EQ(count("ocsp=answered"), answered) << route << " " << i;
    }
  }
  StopAndReadAudit();
  EXPECT_EQ(count("ocsp=presigned"), presigned);
  EXPECT_EQ(count("ocsp=answered"), answered);
}

using PkiHvacE2eTest = PkiHttpE2eTest;

TEST_F(PkiHvacE2eTest, HvacPkiCalls) {
  ASSERT_EQ(RunCommand({"/usr/bin/python3", "-c", "import hvac"}).exit_code, 0)
      << "Debian's python3-hvac is not installed for /usr/bin/python3 (tools/setup.sh)";
  const std::string work = token_->dir + "/hvac";
  ASSERT_EQ(RunCommand({"mkdir", "-p", work}).exit_code, 0);
  testing::RunResult hvac = RunCommand(
      {"/usr/bin/python3", Runfile("tests/hvac/pki_test.py")},
      {{"VAULT_ADDR", absl::StrCat("https://127.0.0.1:", http_port_)},
       {"VAULT_CACERT", ca_},
       {"VAULT_TOKEN", pki_token_},
       {"DENIED_TOKEN", denied_token_},
       {"WORKDIR", work},
       {"PATH", "/usr/bin:/bin"}},
      absl::Seconds(120));
  std::cout << hvac.output;  // the pass list, kept in the test log
  EXPECT_EQ(hvac.exit_code, 0) << hvac.output;
  EXPECT_THAT(hvac.output, Not(HasSubstr("FAIL"))) << hvac.output;
  for (const char* check :
       {"generate_root", "generate_intermediate", "sign_intermediate", "set_signed_intermediate",
        "read_ca_certificate_chain", "create_or_update_role", "read_role", "generate_certificate",
        "sign_certificate", "read_certificate", "revoke_certificate", "read_crl",
        "exported refused", "denied token refused", "list_roles", "list_certificates",
        "read_certificate ca and ca_chain", "generate_certificate pem_bundle",
        "read_certificate crl"}) {
    EXPECT_THAT(hvac.output, HasSubstr(absl::StrCat("ok ", check, "\n"))) << hvac.output;
  }
  // The LIST routes refuse a token without `read` like the others.
  for (const char* path : {"/v1/pki/certs", "/v1/pki/roles", "/v1/pki/issuers"}) {
    HttpReply reply = Curl("LIST", path, denied_token_);
    EXPECT_EQ(reply.status, 403) << path << ": " << reply.body;
  }
  const std::string audit = StopAndReadAudit();
  EXPECT_THAT(audit, HasSubstr("\"operation\":\"pki.sign\",\"resource\":\"pki/roles/web\""));
}

}  // namespace
}  // namespace strongroom
