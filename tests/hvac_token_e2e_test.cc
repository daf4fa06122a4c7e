// End to end: Vault's token auth and sys routes of the real strongroomd over HTTPS.
//
// HvacTokenAndSys runs tests/hvac/token_test.py with Debian's python3-hvac (0.11.2, under
// Debian's /usr/bin/python3, not whatever python3 is first on PATH) as a root token: every
// token method hvac offers that Strongroom serves, and sys health, seal status, seal/unseal
// and mounts. EveryRouteIsGatedAndAudited sends each new route, with curl, a token that holds
// a policy but not the route's operation (or no token, for the routes any token may call) and
// checks the 403 in Vault's error shape, then finds each request's audit line (operation,
// resource, HTTP status) in the audit log, which holds no token.
#include <sys/stat.h>

#include <map>
#include <iostream>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

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

constexpr char kDebianPython[] = "/usr/bin/python3";

class HvacTokenE2eTest : public testing::StrongroomdHttpTest {
 protected:
  void SetUp() override {
    const std::string auth = absl::StrCat(
        "auth:\n",
        "  policies:\n",
        // What the hvac script's child tokens hold: they may mint tokens like themselves.
        "    - name: hvac-app\n",
        "      rules:\n",
        "        - resource: auth/tokens\n",
        "          operations: [token.create]\n",
        "        - resource: transit/keys/hvac\n",
        "          operations: [encrypt]\n",
        // A policy, but none of the token or sys operations.
        "    - name: narrow\n",
        "      rules:\n",
        "        - resource: transit/keys/other\n",
        "          operations: [encrypt, decrypt]\n");
    ASSERT_NO_FATAL_FAILURE(StartServer("hvac-token", auth));
    ASSERT_TRUE(absl::StartsWith(root_token_, "srt.")) << root_token_;
    secrets_.push_back(root_token_);
  }

  // A token holding `policy`; {token, accessor}.
  std::pair<std::string, std::string> CreateTokenAndAccessor(const std::string& policy) {
    v1::CreateTokenRequest request;
    request.add_policies(policy);
    request.mutable_ttl()->set_seconds(3600);
    v1::CreateTokenResponse response = CreateToken(request);
    return {response.token(), response.info().accessor()};
  }
};

TEST_F(HvacTokenE2eTest, HvacTokenAndSys) {
  struct stat st;
  ASSERT_EQ(stat("/usr/lib/python3/dist-packages/hvac/__init__.py", &st), 0)
      << "Debian's python3-hvac is missing: run tools/setup.sh";
  testing::RunResult run = RunCommand(
      {kDebianPython, Runfile("tests/hvac/token_test.py")},
      {{"VAULT_ADDR", absl::StrCat("https://127.0.0.1:", http_port_)},
       {"VAULT_TOKEN", root_token_},
       {"VAULT_CACERT", ca_},
       {"PYTHONDONTWRITEBYTECODE", "1"}},
      absl::Seconds(120));
  std::cout << run.output;  // the pass list, kept in the test log
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL"))) << run.output;
  const std::vector<std::string> checks = {
      "create", "create periodic", "create not renewable",
      "create orphan (no_parent and create-orphan)", "create: a child never outlives its parent",
      "create: unknown policy, root policy, token roles", "lookup", "lookup-self",
      "lookup-accessor", "renew", "renew-self", "renew-accessor", "revoke", "revoke-self",
      "revoke-accessor",
      "revoke cascades to children and theirs; revoke-accessor and revoke-self too",
      "revoke-orphan revokes the token and keeps its children", "list accessors",
      "a token lacking the right is refused", "sys health", "sys seal-status",
      "sys mounts", "sys seal and unseal"};
  for (const std::string& check : checks) {
    EXPECT_THAT(run.output, HasSubstr(absl::StrCat("ok ", check, "\n"))) << run.output;
  }
  EXPECT_THAT(run.output,
              HasSubstr(absl::StrCat(checks.size(), "/", checks.size(), " checks passed")))
      << run.output;
  const std::string log = StopServer();
  const std::string audit = ReadAll(AuditPath());
  EXPECT_THAT(audit, HasSubstr("\"operation\":\"token.create\"")) << audit;
  EXPECT_THAT(audit, HasSubstr("\"operation\":\"sys.seal\"")) << audit;
  EXPECT_THAT(run.output, Not(HasSubstr(root_token_)));
  EXPECT_THAT(audit, Not(HasSubstr(root_token_)));
  EXPECT_THAT(log, Not(HasSubstr(root_token_)));
  // The script's tokens: none of their secrets (the part after the accessor) in the logs.
  for (absl::string_view line : absl::StrSplit(audit, '\n', absl::SkipEmpty())) {
    EXPECT_THAT(line, Not(HasSubstr("\"srt."))) << line;
  }
}

TEST_F(HvacTokenE2eTest, EveryRouteIsGatedAndAudited) {
  const auto [narrow, narrow_accessor] = CreateTokenAndAccessor("narrow");
  const auto [target, accessor] = CreateTokenAndAccessor("hvac-app");
  const std::string by_token = absl::StrCat(R"({"token":")", target, R"("})");
  const std::string by_accessor = absl::StrCat(R"({"accessor":")", accessor, R"("})");
  const std::string target_resource = absl::StrCat("auth/tokens/", accessor);

  struct Case {
    std::string method, path, body;
    bool with_token;  // the narrow token, or none (routes any token may call)
    std::string operation, resource;
  };
  std::vector<Case> cases;
  for (const char* verb : {"POST", "PUT"}) {
    const std::string v = verb;
    for (const char* path : {"create", "create-orphan"}) {
      cases.push_back({v, absl::StrCat("/v1/auth/token/", path), R"({"policies":["narrow"]})",
                       true, "token.create", "auth/tokens"});
    }
    cases.push_back({v, "/v1/auth/token/lookup", by_token, true, "read", target_resource});
    cases.push_back(
        {v, "/v1/auth/token/lookup-accessor", by_accessor, true, "read", target_resource});
    cases.push_back({v, "/v1/auth/token/renew", by_token, true, "configure", target_resource});
    cases.push_back(
        {v, "/v1/auth/token/renew-accessor", by_accessor, true, "configure", target_resource});
    cases.push_back({v, "/v1/auth/token/revoke", by_token, true, "delete", target_resource});
    cases.push_back(
        {v, "/v1/auth/token/revoke-accessor", by_accessor, true, "delete", target_resource});
    cases.push_back({v, "/v1/auth/token/revoke-orphan", by_token, true, "delete", target_resource});
    // "{}": today's listener refuses a POST or PUT without Content-Length (curl sends
    // none without a body; Vault clients send one).
    cases.push_back({v, "/v1/auth/token/renew-self", "{}", false, "authenticated", "auth/self"});
    cases.push_back({v, "/v1/auth/token/revoke-self", "{}", false, "authenticated", "auth/self"});
    cases.push_back({v, "/v1/sys/seal", "{}", true, "sys.seal", "sys/seal"});
    cases.push_back({v, "/v1/sys/unseal", "{}", true, "sys.seal", "sys/seal"});
    cases.push_back({v, "/v1/sys/mounts/kv", R"({"type":"kv"})", true, "sys.admin", "sys/mounts"});
    cases.push_back({v, "/v1/sys/remount", "{}", true, "sys.admin", "sys/mounts"});
  }
  cases.push_back({"GET", "/v1/auth/token/lookup-self", "", false, "authenticated", "auth/self"});
  cases.push_back({"LIST", "/v1/auth/token/accessors", "", true, "read", "auth/tokens"});
  cases.push_back({"GET", "/v1/sys/mounts", "", true, "read", "sys/mounts"});
  cases.push_back({"DELETE", "/v1/sys/mounts/transit", "", true, "sys.admin", "sys/mounts"});

  std::map<std::string, int> expected_lines;  // "operation|resource|status" -> count
  for (const Case& c : cases) {
    HttpReply reply = Curl(c.method, c.path, c.with_token ? narrow : "", c.body);
    EXPECT_EQ(reply.status, 403) << c.method << " " << c.path << ": " << reply.raw;
    EXPECT_THAT(reply.body, HasSubstr("{\"errors\":[\"")) << c.method << " " << c.path;
    EXPECT_THAT(reply.body, Not(HasSubstr(target))) << c.method << " " << c.path;
    ++expected_lines[absl::StrCat(c.operation, "|", c.resource, "|403")];
  }
  // The target token is untouched; the public routes answer anyone.
  HttpReply self = Curl("GET", "/v1/auth/token/lookup-self", target);
  EXPECT_EQ(self.status, 200) << self.raw;
  ++expected_lines["authenticated|auth/self|200"];
  for (const char* path : {"/v1/sys/health", "/v1/sys/seal-status"}) {
    HttpReply open = Curl("GET", path, "");
    EXPECT_EQ(open.status, 200) << path << ": " << open.raw;
    ++expected_lines[absl::StrCat("public|", absl::EndsWith(path, "health") ? "sys/health" : "sys/seal",
                                  "|200")];
  }
  // Body fields that cannot name an accessor: refused as any caller without the right is.
  HttpReply bad = Curl("POST", "/v1/auth/token/lookup", narrow, R"({"token":"not-ours"})");
  EXPECT_EQ(bad.status, 403) << bad.raw;
  ++expected_lines["read|auth/tokens/|403"];
  // ... while a caller the gate admits gets the problem named, the field's value unquoted.
  bad = Curl("POST", "/v1/auth/token/lookup", root_token_, R"({"token":"not-ours-secret"})");
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_THAT(bad.body, HasSubstr("token: not a Strongroom token")) << bad.raw;
  EXPECT_THAT(bad.body, Not(HasSubstr("not-ours-secret"))) << bad.raw;
  ++expected_lines["read|auth/tokens/|400"];

  const std::string log = StopServer();
  const std::string audit = ReadAll(AuditPath());
  std::map<std::string, int> seen;
  for (absl::string_view line : absl::StrSplit(audit, '\n', absl::SkipEmpty())) {
    auto field = [&](const std::string& name) {
      const std::string marker = absl::StrCat("\"", name, "\":");
      size_t at = line.find(marker);
      if (at == absl::string_view::npos) return std::string();
      at += marker.size();
      if (line[at] == '"') {
        ++at;
        return std::string(line.substr(at, line.find('"', at) - at));
      }
      return std::string(line.substr(at, line.find_first_of(",}", at) - at));
    };
    ++seen[absl::StrCat(field("operation"), "|", field("resource"), "|", field("http_status"))];
  }
  for (const auto& [key, count] : expected_lines) {
    EXPECT_GE(seen[key], count) << "audit lines for " << key << ":\n" << audit;
  }
  ExpectSecretsAbsent(secrets_, audit, log);
}

}  // namespace
}  // namespace strongroom
