// End to end: the Vault-compatible transit HTTP API of the real strongroomd, exercised by
// node-vault (an independent Vault client from npm, tests/node/vault_transit_test.js) and by
// curl, with access control on.
//
// The server's config has two policies: "vault-seal", the minimal policy of a Vault/OpenBao
// `seal "transit"` (encrypt and decrypt on one key), and "vault-transit-test", exactly what
// the node script needs (it creates, reads, rotates and rewraps its key, and reads/encrypts
// with a missing key to check the errors). Both tokens are periodic (period 1h), created over
// gRPC with the bootstrap root token, as an admin would.
//
// node_modules: tools/setup.sh (which tools/test.sh runs first) installs node-vault into
// tests/node/node_modules with `npm ci`. node_modules is not a Bazel input: the test follows
// the runfile symlink of tests/node/package.json back to the source tree and runs the script
// there, so node finds node_modules beside it. Nothing is downloaded at test time; if
// node_modules is missing the test fails, saying to run tools/setup.sh.
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>
#include <string>
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

constexpr char kKey[] = "vault-unseal";

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// The source directory tests/node (where tools/setup.sh put node_modules): the real path
// of the runfile tests/node/package.json, whose runfiles symlink leads back to the source
// tree. Empty if it cannot be resolved.
std::string NodeSourceDir() {
  char real[PATH_MAX];
  if (realpath(Runfile("tests/node/package.json").c_str(), real) == nullptr) return "";
  std::string path(real);
  return path.substr(0, path.rfind('/'));
}

class VaultE2eTest : public testing::StrongroomdHttpTest {
 protected:
  void SetUp() override {
    const std::string auth = absl::StrCat(
        "auth:\n",
        "  policies:\n",
        // What a Vault/OpenBao seal \"transit\" needs: encrypt and decrypt on its one key.
        "    - name: vault-seal\n",
        "      rules:\n",
        "        - resource: transit/keys/", kKey, "\n",
        "          operations: [encrypt, decrypt]\n",
        // What the node script needs: its key's lifecycle, and the missing key it probes.
        "    - name: vault-transit-test\n",
        "      rules:\n",
        "        - resource: transit/keys/", kKey, "\n",
        "          operations: [create, read, rotate, rewrap, encrypt, decrypt]\n",
        "        - resource: transit/keys/", kKey, "-missing-*\n",
        "          operations: [read, encrypt]\n",
        // Something unrelated, for a token that holds a policy but not the right one.
        "    - name: other-app\n",
        "      rules:\n",
        "        - resource: transit/keys/other-*\n",
        "          operations: [encrypt, decrypt]\n");
    ASSERT_NO_FATAL_FAILURE(StartServer("vault", auth));
    ASSERT_TRUE(absl::StartsWith(root_token_, "srt.")) << root_token_;
  }

  // A periodic token holding `policy`, created over gRPC with the root token.
  std::string CreatePeriodicToken(const std::string& policy, const std::string& name) {
    v1::CreateTokenRequest request;
    request.add_policies(policy);
    request.mutable_period()->set_seconds(3600);
    request.set_display_name(name);
    v1::CreateTokenResponse response = CreateToken(request);
    EXPECT_EQ(response.info().period().seconds(), 3600);
    EXPECT_TRUE(response.info().renewable());
    EXPECT_FALSE(response.info().has_max_expire_time()) << "a periodic token has no maximum";
    return response.token();
  }
};

// The string value of "field":"..." in a JSON body, or empty.
std::string JsonString(const std::string& body, const std::string& field) {
  const std::string marker = absl::StrCat("\"", field, "\":\"");
  size_t at = body.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  return body.substr(at, body.find('"', at) - at);
}

// The integer value of "field":N in a JSON body, or -1.
int JsonInt(const std::string& body, const std::string& field) {
  const std::string marker = absl::StrCat("\"", field, "\":");
  size_t at = body.find(marker);
  if (at == std::string::npos) return -1;
  at += marker.size();
  int value = -1;
  if (!absl::SimpleAtoi(body.substr(at, body.find_first_not_of("0123456789", at) - at), &value)) {
    return -1;
  }
  return value;
}

TEST_F(VaultE2eTest, NodeVaultCurlAndAudit) {
  // node and node-vault first: without them the test cannot mean anything.
  const std::string node_dir = NodeSourceDir();
  ASSERT_FALSE(node_dir.empty()) << "cannot resolve the runfile tests/node/package.json";
  ASSERT_TRUE(Exists(node_dir + "/node_modules/node-vault/package.json"))
      << node_dir << "/node_modules/node-vault is missing: run tools/setup.sh (it runs "
      << "`npm ci` in tests/node; tools/test.sh does so before testing)";
  testing::RunResult node_version = RunCommand({"node", "--version"});
  ASSERT_EQ(node_version.exit_code, 0)
      << "node is not on PATH (" << node_version.output << "): run tools/setup.sh";

  secrets_.push_back(root_token_);
  const std::string node_token = CreatePeriodicToken("vault-transit-test", "node-vault-test");
  const std::string seal_token = CreatePeriodicToken("vault-seal", "vault-seal-node-1");
  const std::string other_token = CreatePeriodicToken("other-app", "other-app");

  // node-vault: create (HSM-resident), round trip, batch, rotate, rewrap, token
  // lookup/renew, errors.
  testing::RunResult node = RunCommand(
      {"node", node_dir + "/vault_transit_test.js"},
      {{"VAULT_ADDR", absl::StrCat("https://127.0.0.1:", http_port_)},
       {"VAULT_TOKEN", node_token},
       {"VAULT_CACERT", ca_},
       {"KEY", kKey}},
      absl::Seconds(150));
  EXPECT_EQ(node.exit_code, 0) << node.output;
  EXPECT_THAT(node.output, Not(HasSubstr("FAIL"))) << node.output;
  for (const char* check :
       {"ok health", "ok create key", "ok encrypt decrypt round trip",
        "ok node-vault encryptData/decryptData helpers", "ok batch encrypt", "ok batch decrypt",
        "ok batch partial failure", "ok rotate", "ok rewrap", "ok token lookup-self",
        "ok token renew-self", "ok error: encrypt with a missing key",
        "ok error: read a missing key", "ok error: bad base64 plaintext",
        "ok error: tampered ciphertext", "ok error: bad token"}) {
    EXPECT_THAT(node.output, HasSubstr(absl::StrCat(check, "\n"))) << node.output;
  }
  EXPECT_THAT(node.output, HasSubstr("16/16 checks passed")) << node.output;

  // Health needs no token.
  HttpReply health = Curl("GET", "/v1/sys/health", "");
  EXPECT_EQ(health.status, 200) << health.raw;
  EXPECT_THAT(health.body, HasSubstr("\"sealed\":false")) << health.raw;

  // The seal's token: encrypt and decrypt on its key, as Vault's seal calls them (PUT)...
  const std::string plaintext_b64 = "dGhlIGJhcnJpZXIga2V5";  // "the barrier key"
  HttpReply enc = Curl("PUT", absl::StrCat("/v1/transit/encrypt/", kKey), seal_token,
                       absl::StrCat("{\"plaintext\":\"", plaintext_b64, "\"}"));
  EXPECT_EQ(enc.status, 200) << enc.raw;
  const std::string ciphertext = JsonString(enc.body, "ciphertext");
  EXPECT_TRUE(absl::StartsWith(ciphertext, "vault:v2:")) << enc.raw;  // the script rotated
  HttpReply dec = Curl("PUT", absl::StrCat("/v1/transit/decrypt/", kKey), seal_token,
                       absl::StrCat("{\"ciphertext\":\"", ciphertext, "\"}"));
  EXPECT_EQ(dec.status, 200) << dec.raw;
  EXPECT_EQ(JsonString(dec.body, "plaintext"), plaintext_b64) << dec.raw;
  // ... keeps itself alive (periodic, renewable) ...
  HttpReply lookup = Curl("GET", "/v1/auth/token/lookup-self", seal_token);
  EXPECT_EQ(lookup.status, 200) << lookup.raw;
  EXPECT_THAT(lookup.body, HasSubstr("\"period\":3600")) << lookup.raw;
  EXPECT_THAT(lookup.body, HasSubstr("\"renewable\":true")) << lookup.raw;
  HttpReply renew = Curl("PUT", "/v1/auth/token/renew-self", seal_token, "{}");
  EXPECT_EQ(renew.status, 200) << renew.raw;
  // Renewed by the period: expiry about an hour from now.
  int lease = JsonInt(renew.body.substr(renew.body.find("\"auth\":")), "lease_duration");
  EXPECT_GE(lease, 3500) << renew.raw;
  EXPECT_LE(lease, 3600) << renew.raw;
  EXPECT_THAT(renew.body, Not(HasSubstr(seal_token))) << "the token is not echoed";
  // ... and can do nothing else.
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", absl::StrCat("/v1/transit/keys/", kKey)},
           {"POST", absl::StrCat("/v1/transit/keys/", kKey, "/rotate")},
           {"POST", absl::StrCat("/v1/transit/rewrap/", kKey)},
           {"POST", "/v1/transit/keys/another-key"},
           {"POST", "/v1/transit/encrypt/another-key"}}) {
    HttpReply denied = Curl(method, path, seal_token,
                            absl::StrCat("{\"ciphertext\":\"", ciphertext, "\",\"plaintext\":\"",
                                         plaintext_b64, "\"}"));
    EXPECT_EQ(denied.status, 403) << method << " " << path << ": " << denied.raw;
    EXPECT_THAT(denied.body, HasSubstr("{\"errors\":[\"")) << denied.raw;
  }

  // A token without the policy, and no token at all: 403 with Vault's errors list.
  const std::string encrypt_body = absl::StrCat("{\"plaintext\":\"", plaintext_b64, "\"}");
  HttpReply other = Curl("POST", absl::StrCat("/v1/transit/encrypt/", kKey), other_token,
                         encrypt_body);
  EXPECT_EQ(other.status, 403) << other.raw;
  EXPECT_THAT(other.body, HasSubstr("{\"errors\":[\"")) << other.raw;
  HttpReply anonymous = Curl("POST", absl::StrCat("/v1/transit/encrypt/", kKey), "", encrypt_body);
  EXPECT_EQ(anonymous.status, 403) << anonymous.raw;
  EXPECT_THAT(anonymous.body, HasSubstr("{\"errors\":[\"")) << anonymous.raw;
  HttpReply anonymous_dec =
      Curl("POST", absl::StrCat("/v1/transit/decrypt/", kKey), "",
           absl::StrCat("{\"ciphertext\":\"", ciphertext, "\"}"));
  EXPECT_EQ(anonymous_dec.status, 403) << anonymous_dec.raw;
  EXPECT_THAT(anonymous_dec.body, Not(HasSubstr(plaintext_b64))) << anonymous_dec.raw;

  const std::string server_log = StopServer();

  // The audit log has a line for each HTTP request, with its status; it verifies, and holds
  // no token.
  const std::string audit = ReadAll(AuditPath());
  const std::string resource = absl::StrCat("\"resource\":\"transit/keys/", kKey, "\"");
  int http_lines = 0, allowed = 0, denied = 0, health_lines = 0;
  for (absl::string_view line : absl::StrSplit(audit, '\n', absl::SkipEmpty())) {
    if (!absl::StrContains(line, "\"http_status\":")) continue;
    ++http_lines;
    if (absl::StrContains(line, resource) && absl::StrContains(line, "\"http_status\":200")) {
      ++allowed;
    }
    if (absl::StrContains(line, resource) && absl::StrContains(line, "\"http_status\":403")) {
      ++denied;
    }
    if (absl::StrContains(line, "\"resource\":\"sys/health\"")) ++health_lines;
  }
  // node-vault alone makes 20-odd HTTP requests; curl above makes 14.
  EXPECT_GE(http_lines, 30) << audit;
  EXPECT_GE(allowed, 10) << audit;
  EXPECT_GE(denied, 5) << audit;  // seal token x3, other token, anonymous x2
  EXPECT_GE(health_lines, 2) << audit;
  EXPECT_THAT(audit, HasSubstr("\"operation\":\"decrypt\"")) << audit;
  ExpectSecretsAbsent(secrets_, audit, server_log);
  ExpectAuditVerifies();
}

// A body that does not parse is answered 400 with the problem named; neither the answer
// nor the audit line nor the server's log quotes any of the body (base64 plaintext).
TEST_F(VaultE2eTest, MalformedBodiesAreNeitherEchoedNorAudited) {
  const std::string token = CreatePeriodicToken("vault-seal", "vault-seal-node-1");
  const std::string secret = "c2VjcmV0LW1hcmtlci1ub2JvZHktbWF5LXNlZQ";  // never valid JSON here
  for (const std::string& body :
       {absl::StrCat("{\"plaintext\":\"", secret, "\" \"x\":1}"),
        absl::StrCat("{\"plaintext\":", secret, "}"), absl::StrCat("{\"plaintext\":\"", secret)}) {
    HttpReply reply = Curl("PUT", absl::StrCat("/v1/transit/encrypt/", kKey), token, body);
    EXPECT_EQ(reply.status, 400) << reply.raw;
    EXPECT_THAT(reply.body, HasSubstr("failed to parse JSON input")) << reply.raw;
    for (size_t i = 0; i + 6 <= secret.size(); ++i) {
      ASSERT_THAT(reply.body, Not(HasSubstr(secret.substr(i, 6)))) << reply.raw;
    }
  }
  const std::string server_log = StopServer();
  const std::string audit = ReadAll(AuditPath());
  EXPECT_THAT(audit, HasSubstr("\"http_status\":400")) << audit;
  for (size_t i = 0; i + 6 <= secret.size(); ++i) {
    ASSERT_THAT(audit, Not(HasSubstr(secret.substr(i, 6)))) << audit;
    ASSERT_THAT(server_log, Not(HasSubstr(secret.substr(i, 6)))) << server_log;
  }
}

}  // namespace
}  // namespace strongroom
