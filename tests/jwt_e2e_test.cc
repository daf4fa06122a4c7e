// End to end: workload identity (JWT/OIDC login) on the real strongroomd.
//
// tests/jwt/jwt_e2e.py (Debian's /usr/bin/python3 with python3-jwt 2.6.0, python3-hvac
// 0.11.2 and python3-cryptography) makes the keys and mints every JWT; it also serves a JWK
// Set and an OIDC discovery document over HTTPS on loopback. Three issuers: "kubernetes"
// (RSA, JWK Set file, RS256 only), "github" (EC P-256/P-384, OIDC discovery + JWKS URL over
// HTTPS with its own CA) and "spiffe" (Ed25519, inline PEM).
//
// HttpLoginsRefusalsAndRotation runs the script's checks over Vault's HTTP API (logins with
// exactly the role's policies, hvac's jwt_login then a transit call, a periodic seal token,
// each refusal as the same 403, JWKS caching and rotation), then Auth.Login over gRPC, then
// finds each refusal's reason in the server's log and the logins' identities in the audit
// log, which holds no JWT and no token. RefusedLoginsAreRateLimitedPerSource and
// ReloadAddsARole use their own servers.
#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
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
using ::testing::Not;
using testing::HttpReply;
using testing::ReadAll;
using testing::RunCommand;
using testing::Runfile;

constexpr char kDebianPython[] = "/usr/bin/python3";

class JwtE2eTest : public testing::StrongroomdHttpTest {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(getenv("TEST_TMPDIR"), "/jwt-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(RunCommand({"mkdir", "-p", dir_}).exit_code, 0);
    testing::RunResult setup = Python({"setup", dir_});
    ASSERT_EQ(setup.exit_code, 0) << setup.output;
    jwks_server_ = std::make_unique<testing::Process>();
    ASSERT_TRUE(jwks_server_->Start({kDebianPython, Runfile("tests/jwt/jwt_e2e.py"), "serve", dir_},
                                    {{"PYTHONDONTWRITEBYTECODE", "1"}}));
    jwks_port_ = testing::WaitForPort(*jwks_server_, "jwks listening on port ");
    ASSERT_NE(jwks_port_, 0) << jwks_server_->output();
  }

  void TearDown() override {
    testing::StrongroomdHttpTest::TearDown();
    jwks_server_.reset();  // SIGKILLs it
  }

  testing::RunResult Python(std::vector<std::string> args) {
    args.insert(args.begin(), {kDebianPython, Runfile("tests/jwt/jwt_e2e.py")});
    return RunCommand(args, {{"PYTHONDONTWRITEBYTECODE", "1"}}, absl::Seconds(120));
  }

  std::string Mint(const std::string& kind) {
    testing::RunResult r = Python({"mint", dir_, kind});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::string jwt(absl::StripAsciiWhitespace(r.output));
    secrets_.push_back(jwt);
    return jwt;
  }

  // The "auth:" section: policies, and auth.jwt with `extra_roles` appended to its roles.
  std::string AuthYaml(int refused_per_second, const std::string& extra_roles = "") {
    std::string pem = ReadAll(dir_ + "/spiffe.pub.pem");
    pem = absl::StrReplaceAll(absl::StripTrailingAsciiWhitespace(pem), {{"\n", "\n          "}});
    auto policy = [](const std::string& name) {
      return absl::StrCat("    - name: ", name, "\n      rules:\n        - resource: transit/keys/",
                          name, "\n          operations: [encrypt, decrypt]\n");
    };
    return absl::StrCat(
        "auth:\n  policies:\n", policy("payments"), policy("deploy"), policy("seal"),
        "  jwt:\n",
        "    refused_logins_per_second: ", refused_per_second, "\n",
        "    issuers:\n",
        "      - name: kubernetes\n",
        "        issuer: https://kubernetes.default.svc.cluster.local\n",
        "        jwks_file: ", dir_, "/k8s-jwks.json\n",
        "        algorithms: [RS256]\n",
        "      - name: github\n",
        "        issuer: https://token.actions.githubusercontent.com\n",
        "        discovery_url: https://localhost:", jwks_port_,
        "/.well-known/openid-configuration\n",
        "        ca_file: ", dir_, "/jwks-ca.crt\n",
        "      - name: spiffe\n",
        "        issuer: https://spire.example.org\n",
        "        algorithms: [EdDSA]\n",
        "        public_keys_pem:\n",
        "        - |\n          ", pem, "\n",
        "    roles:\n",
        "      - name: payments-api\n",
        "        issuer: kubernetes\n",
        "        bound_audiences: [strongroom]\n",
        "        bound_subjects: [\"system:serviceaccount:payments:*\"]\n",
        "        bound_claims:\n",
        "          - {claim: kubernetes.io/namespace, values: [payments]}\n",
        "          - {claim: kubernetes.io/serviceaccount/name, values: [api, \"worker-*\"]}\n",
        "        policies: [payments]\n",
        "        token_ttl: 600s\n",
        "        token_max_ttl: 3600s\n",
        "      - name: vault-seal\n",
        "        issuer: kubernetes\n",
        "        bound_audiences: [strongroom]\n",
        "        bound_claims:\n",
        "          - {claim: kubernetes.io/namespace, values: [vault]}\n",
        "        policies: [seal]\n",
        "        token_period: 3600s\n",
        "      - name: deploy\n",
        "        issuer: github\n",
        "        bound_audiences: [\"https://github.com/acme\"]\n",
        "        bound_subjects: [\"repo:acme/deploy:*\"]\n",
        "        bound_claims:\n",
        "          - {claim: repository, values: [acme/deploy]}\n",
        "          - {claim: ref, values: [refs/heads/main]}\n",
        "          - {claim: environment, values: [prod]}\n",
        "        policies: [deploy]\n",
        "      - name: spiffe-batch\n",
        "        issuer: spiffe\n",
        "        bound_audiences: [strongroom]\n",
        "        bound_subjects: [\"spiffe://example.org/ns/payments/*\"]\n",
        "        policies: [payments]\n",
        extra_roles);
  }

  void CreateKey(const std::string& name) {
    HttpReply r = Curl("POST", "/v1/transit/keys/" + name, root_token_, "{}");
    EXPECT_TRUE(r.status == 200 || r.status == 204) << r.raw;
  }

  absl::StatusOr<v1::LoginResponse> GrpcLogin(const std::string& role, const std::string& jwt) {
    auto stub = v1::Auth::NewStub(testing::ServerChannel(state_, grpc_port_));
    grpc::ClientContext ctx;
    v1::LoginRequest request;
    request.set_role(role);
    request.set_jwt(jwt);
    v1::LoginResponse response;
    grpc::Status s = stub->Login(&ctx, request, &response);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    secrets_.push_back(response.token());
    return response;
  }

  std::string dir_;
  std::unique_ptr<testing::Process> jwks_server_;
  int jwks_port_ = 0;
};

TEST_F(JwtE2eTest, HttpLoginsRefusalsAndRotation) {
  ASSERT_NO_FATAL_FAILURE(StartServer("jwt-main", AuthYaml(1000)));
  secrets_.push_back(root_token_);
  for (const char* key : {"payments", "deploy", "seal"}) CreateKey(key);

  testing::RunResult run =
      RunCommand({kDebianPython, Runfile("tests/jwt/jwt_e2e.py"), "check", dir_},
                 {{"VAULT_ADDR", absl::StrCat("https://127.0.0.1:", http_port_)},
                  {"VAULT_CACERT", ca_},
                  {"PYTHONDONTWRITEBYTECODE", "1"}},
                 absl::Seconds(180));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL"))) << run.output;
  EXPECT_THAT(run.output, HasSubstr("21/21 checks passed")) << run.output;

  // gRPC Auth.Login: the same policies; a refusal says nothing of why.
  absl::StatusOr<v1::LoginResponse> grpc_login = GrpcLogin("payments-api", Mint("k8s"));
  ASSERT_TRUE(grpc_login.ok()) << grpc_login.status();
  EXPECT_THAT(grpc_login->info().policies(), ::testing::ElementsAre("payments"));
  EXPECT_EQ(grpc_login->info().creator(),
            "jwt:https://kubernetes.default.svc.cluster.local#system:serviceaccount:payments:api");
  absl::StatusOr<v1::LoginResponse> expired = GrpcLogin("payments-api", Mint("k8s-expired"));
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(expired.status().message(), "login refused");

  const std::string log = StopServer();
  // Each refusal's reason is in the operator's log.
  for (const char* reason : {
           "refused: malformed JWT",              // alg none, HS256
           "\"aud\" names none of the role's bound_audiences",
           "refused: the JWT expired",
           "refused: the JWT is not valid yet",
           "no key of the issuer has the JWT's \"kid\"",
           "refused: bad signature",
           "\"sub\" matches none of the role's bound_subjects",
           "claim \"kubernetes.io/serviceaccount/name\" matches none",
           "claim \"ref\" matches none",
           "claim \"environment\" matches none",
           "\"iss\" is not issuer github's",
           "algorithm PS256 is not among issuer kubernetes's algorithms",
           "refused: no such role",
       }) {
    EXPECT_THAT(log, HasSubstr(reason)) << reason;
  }
  const std::string audit = ReadAll(AuditPath());
  EXPECT_THAT(audit, HasSubstr("\"identity\":\"jwt:https://kubernetes.default.svc.cluster.local"
                               "#system:serviceaccount:payments:api\""));
  EXPECT_THAT(audit, HasSubstr("\"identity\":\"jwt:https://token.actions.githubusercontent.com"
                               "#repo:acme/deploy:environment:prod\""));
  EXPECT_THAT(audit, HasSubstr("\"resource\":\"auth/jwt/roles/payments-api\""));
  EXPECT_THAT(audit, HasSubstr("\"identity\":\"jwt:role/deploy\""));  // a refused login
  ExpectSecretsAbsent(secrets_, audit, log);
  // No JWT (three base64url parts starting with a JSON header) in either log.
  EXPECT_THAT(audit, Not(HasSubstr("eyJ")));
  EXPECT_THAT(log, Not(HasSubstr("eyJ")));
}

TEST_F(JwtE2eTest, RefusedLoginsAreRateLimitedPerSource) {
  ASSERT_NO_FATAL_FAILURE(StartServer("jwt-budget", AuthYaml(1)));
  secrets_.push_back(root_token_);
  const std::string expired = Mint("k8s-expired");
  const std::string body = absl::StrCat(R"({"role":"payments-api","jwt":")", expired, R"("})");
  const std::string good = absl::StrCat(R"({"role":"payments-api","jwt":")", Mint("k8s"), R"("})");
  // A budget of 1 refusal per second: the first is checked (403), the next ones within the
  // second are refused unchecked (503), and so is a good JWT from that source meanwhile. One
  // curl sends them back to back on one connection, well within the second.
  std::vector<std::string> argv = {"curl", "-sS"};
  const std::string url = absl::StrCat("https://127.0.0.1:", http_port_);
  for (const std::string* b : {&body, &body, &body, &good}) {
    if (argv.size() > 2) argv.push_back("--next");
    argv.insert(argv.end(), {"--max-time", "30", "--cacert", ca_, "-o", "/dev/null", "-w",
                             "%{http_code}\n", "-H",
                             "Content-Type: application/json", "--data-binary", *b,
                             url + "/v1/auth/kubernetes/login"});
  }
  testing::RunResult r = RunCommand(argv);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "403\n503\n503\n503\n");
  const std::string log = StopServer();
  EXPECT_THAT(log, HasSubstr("refused unchecked: too many refused logins from this source"));
}

TEST_F(JwtE2eTest, ReloadAddsARole) {
  ASSERT_NO_FATAL_FAILURE(StartServer("jwt-reload", AuthYaml(1000)));
  secrets_.push_back(root_token_);
  const std::string jwt = Mint("k8s");
  EXPECT_EQ(GrpcLogin("payments-api-2", jwt).status().code(), absl::StatusCode::kPermissionDenied);
  const std::string role = absl::StrCat(
      "      - name: payments-api-2\n", "        issuer: kubernetes\n",
      "        bound_audiences: [strongroom]\n", "        policies: [payments, deploy]\n");
  std::string yaml = ReadAll(config_);
  yaml.replace(yaml.find("auth:\n"), std::string::npos, AuthYaml(1000, role));
  ASSERT_TRUE(hsm::testing::WriteFile(config_, yaml, 0600).ok());
  server_->Signal(SIGHUP);
  ASSERT_TRUE(server_->WaitForOutput("SIGHUP: reloaded")) << server_->output();
  absl::StatusOr<v1::LoginResponse> login = GrpcLogin("payments-api-2", jwt);
  ASSERT_TRUE(login.ok()) << login.status();
  EXPECT_THAT(login->info().policies(), ::testing::ElementsAre("payments", "deploy"));
}

}  // namespace
}  // namespace strongroom
