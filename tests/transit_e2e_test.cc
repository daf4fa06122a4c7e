// End to end: Vault's transit engine over HTTPS on the real strongroomd.
//
// AuthzAndAudit*: every transit route (the keys, datakey, sign/verify/hmac, random, hash and
// export families) is refused with 403 in Vault's error shape for a token whose policy lacks
// the operation, served past the gate for a token that holds it, and each of those requests
// leaves an audit line naming the route's operation, resource and HTTP status.
//
// Hvac*: tests/hvac/transit_test.py calls every transit method of Debian's python3-hvac
// (0.11.2, run by Debian's /usr/bin/python3) against the server, and the LIST verb is
// refused for a token without "read" (target //tests:transit_hvac_e2e_test).
#include <iostream>
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

class TransitE2eTest : public testing::StrongroomdHttpTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServer(
        "transit",
        absl::StrCat(
            "auth:\n", "  policies:\n",
            // Every transit operation, on every transit resource.
            "    - name: transit-all\n", "      rules:\n", "        - resource: transit/*\n",
            "          operations: [encrypt, decrypt, rewrap, datakey, sign, verify, hmac, read,\n",
            "                       create, rotate, configure, delete]\n",
            // Grants on other keys only: every request below lacks its operation.
            "    - name: unrelated\n", "      rules:\n",
            "        - resource: transit/keys/other-*\n",
            "          operations: [encrypt, decrypt, rewrap, datakey, sign, verify, hmac, read,\n",
            "                       create, rotate, configure, delete]\n")));
    ASSERT_TRUE(absl::StartsWith(root_token_, "srt.")) << root_token_;
    secrets_.push_back(root_token_);
    all_token_ = CreateToken("transit-all");
    unrelated_token_ = CreateToken("unrelated");
  }

  // Stops the server and returns its audit log, after checking that it verifies and that
  // neither it nor the server's output holds a token.
  std::string StopAndReadAudit() {
    const std::string log = StopServer();
    const std::string audit = ReadAll(AuditPath());
    ExpectSecretsAbsent(secrets_, audit, log);
    ExpectAuditVerifies();
    return audit;
  }

  std::string all_token_, unrelated_token_;
};

// The string value of "field":"..." in a JSON body, or empty.
std::string JsonString(const std::string& body, const std::string& field) {
  const std::string marker = absl::StrCat("\"", field, "\":\"");
  size_t at = body.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  return body.substr(at, body.find('"', at) - at);
}

struct RouteCase {
  std::string method;
  std::string path;
  std::string operation;  // as audit lines name it
  std::string resource;
  std::string body;
};

// Whether the audit log has a line for `c` answered with `status` (or, with status 0, any
// status but 403).
bool Audited(const std::string& audit, const RouteCase& c, int status) {
  const std::string what =
      absl::StrCat("\"operation\":\"", c.operation, "\",\"resource\":\"", c.resource, "\"");
  for (absl::string_view line : absl::StrSplit(audit, '\n', absl::SkipEmpty())) {
    if (!absl::StrContains(line, what) || !absl::StrContains(line, "\"http_status\":")) continue;
    const bool denied = absl::StrContains(line, "\"http_status\":403");
    if (status == 403 ? denied : !denied) return true;
  }
  return false;
}

TEST_F(TransitE2eTest, AuthzAndAuditForEveryTransitRoute) {
  for (const char* key : {"k1", "signer"}) {
    HttpReply created = Curl("POST", absl::StrCat("/v1/transit/keys/", key), all_token_,
                             key == std::string("signer") ? R"({"type":"ecdsa-p256"})" : "{}");
    ASSERT_EQ(created.status, 200) << created.raw;
  }
  HttpReply signed_ = Curl("POST", "/v1/transit/sign/signer", all_token_, R"({"input":"aGk="})");
  ASSERT_EQ(signed_.status, 200) << signed_.raw;
  const std::string input = R"({"input":"aGk="})";
  const std::vector<RouteCase> cases = {
      {"GET", "/v1/transit/keys?list=true", "read", "transit/keys", ""},
      {"POST", "/v1/transit/keys/k1/config", "configure", "transit/keys/k1",
       R"({"deletion_allowed":true})"},
      {"PUT", "/v1/transit/keys/k1/trim", "configure", "transit/keys/k1",
       R"({"min_available_version":1})"},
      {"POST", "/v1/transit/datakey/plaintext/k1", "datakey", "transit/keys/k1", "{}"},
      {"PUT", "/v1/transit/datakey/wrapped/k1", "datakey", "transit/keys/k1", R"({"bits":128})"},
      {"POST", "/v1/transit/sign/signer", "sign", "transit/keys/signer", input},
      {"PUT", "/v1/transit/sign/signer/sha2-384", "sign", "transit/keys/signer", input},
      {"POST", "/v1/transit/verify/signer", "verify", "transit/keys/signer",
       absl::StrCat(R"({"input":"aGk=","signature":")", JsonString(signed_.body, "signature"),
                    R"("})")},
      {"PUT", "/v1/transit/verify/k1/sha2-256", "verify", "transit/keys/k1",
       R"({"input":"aGk=","hmac":"vault:v1:AAAA"})"},
      {"POST", "/v1/transit/hmac/k1", "hmac", "transit/keys/k1", input},
      {"PUT", "/v1/transit/hmac/k1/sha2-512", "hmac", "transit/keys/k1", input},
      {"POST", "/v1/transit/random", "read", "transit/random", "{}"},
      {"PUT", "/v1/transit/random/16", "read", "transit/random", "{}"},
      {"POST", "/v1/transit/random/seal/16", "read", "transit/random", "{}"},
      {"POST", "/v1/transit/hash", "read", "transit/hash", input},
      {"PUT", "/v1/transit/hash/sha3-256", "read", "transit/hash", input},
      {"GET", "/v1/transit/export/encryption-key/k1", "read", "transit/keys/k1", ""},
      {"GET", "/v1/transit/export/encryption-key/k1/1", "read", "transit/keys/k1", ""},
      {"GET", "/v1/transit/backup/k1", "read", "transit/keys/k1", ""},
      {"POST", "/v1/transit/restore", "create", "transit/keys", R"({"backup":"e30="})"},
      {"PUT", "/v1/transit/restore/k2", "create", "transit/keys/k2", R"({"backup":"e30="})"},
      {"DELETE", "/v1/transit/keys/k1", "delete", "transit/keys/k1", ""},
  };
  for (const RouteCase& c : cases) {
    HttpReply denied = Curl(c.method, c.path, unrelated_token_, c.body);
    EXPECT_EQ(denied.status, 403) << c.method << " " << c.path << ": " << denied.raw;
    EXPECT_THAT(denied.body, HasSubstr("{\"errors\":[\"")) << c.path << ": " << denied.raw;
    HttpReply anonymous = Curl(c.method, c.path, "", c.body);
    EXPECT_EQ(anonymous.status, 403) << c.method << " " << c.path << ": " << anonymous.raw;
  }
  // The same requests with the operation granted get past the gate: the engine answers.
  for (const RouteCase& c : cases) {
    HttpReply served = Curl(c.method, c.path, all_token_, c.body);
    const bool refused_by_design = absl::StrContains(c.path, "/export/") ||
                                   absl::StrContains(c.path, "/backup/") ||
                                   absl::StrContains(c.path, "/restore");
    if (refused_by_design) {
      EXPECT_EQ(served.status, 400) << c.path << ": " << served.raw;
      EXPECT_THAT(served.body, HasSubstr("never leave the HSM boundary")) << served.raw;
    } else {
      EXPECT_TRUE(served.status == 200 || served.status == 204)
          << c.method << " " << c.path << ": " << served.raw;
    }
  }

  const std::string audit = StopAndReadAudit();
  for (const RouteCase& c : cases) {
    EXPECT_TRUE(Audited(audit, c, 403)) << "no 403 audit line for " << c.method << " " << c.path;
    EXPECT_TRUE(Audited(audit, c, 0)) << "no served audit line for " << c.method << " " << c.path;
  }
}

TEST_F(TransitE2eTest, HvacEveryTransitCallAndTheListVerb) {
  ASSERT_EQ(RunCommand({"/usr/bin/python3", "-c", "import hvac"}).exit_code, 0)
      << "Debian's python3-hvac is missing: run tools/setup.sh";
  testing::RunResult hvac =
      RunCommand({"/usr/bin/python3", Runfile("tests/hvac/transit_test.py")},
                 {{"VAULT_ADDR", absl::StrCat("https://127.0.0.1:", http_port_)},
                  {"VAULT_TOKEN", all_token_},
                  {"VAULT_CACERT", ca_}},
                 absl::Seconds(240));
  std::cout << hvac.output;  // the pass list, kept in the test log
  EXPECT_EQ(hvac.exit_code, 0) << hvac.output;
  EXPECT_THAT(hvac.output, Not(HasSubstr("FAIL"))) << hvac.output;
  EXPECT_THAT(hvac.output, HasSubstr("25/25 checks passed")) << hvac.output;

  // The LIST verb goes through the gate like every route.
  const RouteCase list = {"LIST", "/v1/transit/keys", "read", "transit/keys", ""};
  HttpReply denied = Curl(list.method, list.path, unrelated_token_);
  EXPECT_EQ(denied.status, 403) << denied.raw;
  EXPECT_THAT(denied.body, HasSubstr("{\"errors\":[\"")) << denied.raw;
  const std::string audit = StopAndReadAudit();
  EXPECT_TRUE(Audited(audit, list, 403)) << audit;
  EXPECT_TRUE(Audited(audit, list, 0)) << audit;
}

}  // namespace
}  // namespace strongroom
