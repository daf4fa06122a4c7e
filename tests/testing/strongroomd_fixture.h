// StrongroomdHttpTest: a gtest fixture running the real strongroomd with HTTP on, for the
// end-to-end tests of the Vault-compatible HTTP API.
//
// StartServer() creates a fresh SoftHSM token, writes a config (state under <token dir>/state,
// gRPC and HTTP on 127.0.0.1:0, the given "auth:" section), starts strongroomd with it and
// reads the bootstrap root token; call it from SetUp() under ASSERT_NO_FATAL_FAILURE. Tokens
// come from CreateToken() (over gRPC, with the root token); Curl() speaks HTTPS to the server
// as a Vault client would. Every token handed out is kept in secrets_ so a test can check that
// no log holds one (ExpectSecretsAbsent), and the audit log can be verified. TearDown() stops a
// server still running and expects a clean exit. Test-only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "tests/testing/process.h"

namespace strongroom::testing {

// One HTTP answer from curl.
struct HttpReply {
  int status = 0;  // -1 if curl printed no status
  std::string body;
  std::string raw;  // curl's whole output, for failure messages
};

class StrongroomdHttpTest : public ::testing::Test {
 protected:
  // Starts the server on a new SoftHSM token labelled `label`; `auth_yaml` is the config's
  // "auth:" section, written as is. Asserts (fatally) that both ports came up.
  void StartServer(const std::string& label, const std::string& auth_yaml);

  void TearDown() override;

  // Sends `request` to Auth.CreateToken with the root token; the token joins secrets_.
  v1::CreateTokenResponse CreateToken(const v1::CreateTokenRequest& request);
  // A token holding `policy` with a TTL of one hour.
  std::string CreateToken(const std::string& policy);

  // `method` `path` over HTTPS (trusting the server's certificate), with X-Vault-Token unless
  // `token` is empty and `body` as a JSON request body unless empty; curl gives up after 30 s.
  HttpReply Curl(const std::string& method, const std::string& path, const std::string& token,
                 const std::string& body = "");

  // Stops the server (SIGTERM; expects exit code 0); its output.
  std::string StopServer();

  // <state_dir>/audit/audit.log.
  std::string AuditPath() const { return state_ + "/audit/audit.log"; }

  // Expects each of `secrets` to be non-empty and in neither the audit log `audit` nor the
  // server's output `log`.
  static void ExpectSecretsAbsent(const std::vector<std::string>& secrets, const std::string& audit,
                                  const std::string& log);

  // Expects `strongroom audit verify` (runfile tools/cli/strongroom, which the test must list
  // in its data) to accept the audit log with the server's audit signing key; once the server
  // has stopped, with every line covered by a checkpoint signature.
  void ExpectAuditVerifies() const;

  std::unique_ptr<hsm::testing::SoftHsmToken> token_;
  std::string state_, ca_, config_, root_token_;
  int grpc_port_ = 0, http_port_ = 0;
  std::unique_ptr<Process> server_;
  std::vector<std::string> secrets_;  // must never appear in the audit or server log
};

}  // namespace strongroom::testing
