// End to end: what an outsider or a low-privilege token holder tried against the real
// strongroomd's HTTPS listener, and what it must get.
//
// - Listings (LIST transit keys, LIST token accessors) show only what the caller may read,
//   over Vault's HTTP API as over gRPC: a token for app-* keys does not learn the names of
//   other keys, nor the accessors of other tokens (with which it could aim at them).
// - HTTP framing a front end and strongroomd could read differently is refused: a token in a
//   chunked request's trailer is no credential, and a request whose transfer coding does not
//   end with chunked is refused instead of having its body read as a second request.
// - A token presented twice (two headers, two metadata entries) is refused.
#include <grpcpp/grpcpp.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "tests/testing/http_wire.h"
#include "tests/testing/strongroomd.h"
#include "tests/testing/strongroomd_fixture.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::HttpReply;
using testing::HttpWire;

class AttackE2eTest : public testing::StrongroomdHttpTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServer("attack-e2e",
                                        "auth:\n"
                                        "  policies:\n"
                                        "    - name: app\n"
                                        "      rules:\n"
                                        "        - resource: transit/keys/app-*\n"
                                        "          operations: [encrypt, decrypt, read]\n"
                                        "        - resource: transit/keys/app-secret\n"
                                        "          operations: [\"*\"]\n"
                                        "          effect: deny\n"
                                        "        - resource: transit/keys\n"
                                        "          operations: [read]\n"
                                        "        - resource: auth/tokens\n"
                                        "          operations: [read]\n"));
    for (const char* key : {"app-a", "app-secret", "other"}) {
      HttpReply r = Curl("POST", absl::StrCat("/v1/transit/keys/", key), root_token_, "{}");
      ASSERT_EQ(r.status, 200) << r.raw;
    }
    app_ = CreateToken("app");
  }

  // `bytes` sent as they are on a new connection to the HTTPS port; the first response.
  testing::WireResponse Send(const std::string& bytes) {
    auto wire = HttpWire::Connect(http_port_, /*tls=*/true);
    EXPECT_TRUE(wire.ok()) << wire.status();
    if (!wire.ok()) return {};
    EXPECT_TRUE((*wire)->Send(bytes).ok());
    auto response = (*wire)->Read();
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : testing::WireResponse{};
  }

  std::string app_;
};

TEST_F(AttackE2eTest, ListingsShowOnlyWhatTheCallerMayRead) {
  for (const char* path : {"/v1/transit/keys", "/v1/transit/keys?list=true"}) {
    HttpReply listed = Curl(path[16] == '?' ? "GET" : "LIST", path, app_);
    ASSERT_EQ(listed.status, 200) << listed.raw;
    EXPECT_THAT(listed.body, HasSubstr("\"keys\":[\"app-a\"]"));
    EXPECT_THAT(listed.body, Not(HasSubstr("app-secret")));
    EXPECT_THAT(listed.body, Not(HasSubstr("other")));
  }
  // Root still sees every key.
  EXPECT_THAT(Curl("LIST", "/v1/transit/keys", root_token_).body,
              HasSubstr("\"keys\":[\"app-a\",\"app-secret\",\"other\"]"));
  // No accessor of another token (root's, a second app token's): the app token may read the
  // collection, not the tokens in it.
  const std::string other = CreateToken("app");
  HttpReply accessors = Curl("LIST", "/v1/auth/token/accessors", app_);
  ASSERT_EQ(accessors.status, 200) << accessors.raw;
  HttpReply all = Curl("LIST", "/v1/auth/token/accessors", root_token_);
  ASSERT_EQ(all.status, 200) << all.raw;
  EXPECT_THAT(all.body, HasSubstr("\"keys\":[\""));
  EXPECT_THAT(accessors.body, HasSubstr("\"keys\":[]"));
}

TEST_F(AttackE2eTest, ATokenInTheTrailerIsNoCredential) {
  const std::string body = R"({"plaintext":"aGk="})";
  testing::WireResponse r = Send(absl::StrCat(
      "POST /v1/transit/encrypt/app-a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
      "chunked\r\n\r\n",
      absl::Hex(body.size()), "\r\n", body, "\r\n0\r\nX-Vault-Token: ", app_, "\r\n\r\n"));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_THAT(r.body, HasSubstr("no credentials"));
  // The same request with the token in its header is served.
  r = Send(absl::StrCat("POST /v1/transit/encrypt/app-a HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                        "X-Vault-Token: ", app_, "\r\nTransfer-Encoding: chunked\r\n\r\n",
                        absl::Hex(body.size()), "\r\n", body, "\r\n0\r\n\r\n"));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(AttackE2eTest, ABodyIsNeverReadAsASecondRequest) {
  // Read as bodiless (its last coding is not chunked), this request's body would be a second
  // request reading app-secret with root's token, unseen by a front end that took it as one.
  const std::string smuggled = absl::StrCat("GET /v1/transit/keys/app-secret HTTP/1.1\r\nHost: "
                                            "127.0.0.1\r\nX-Vault-Token: ",
                                            root_token_, "\r\n\r\n");
  testing::WireResponse r = Send(absl::StrCat(
      "POST /v1/transit/encrypt/app-a HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Vault-Token: ", app_,
      "\r\nTransfer-Encoding: chunked, identity\r\n\r\n", smuggled));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(r.close);
  EXPECT_THAT(r.body, HasSubstr("Transfer-Encoding"));
}

// Two tokens in one request: refused, whichever one a front end would have checked, over
// HTTP (either order) as over gRPC.
TEST_F(AttackE2eTest, ATokenPresentedTwiceIsRefused) {
  for (const auto& [first, second] : {std::pair(app_, root_token_), std::pair(root_token_, app_)}) {
    testing::WireResponse r =
        Send(absl::StrCat("GET /v1/transit/keys/app-secret HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                          "X-Vault-Token: ", first, "\r\nX-Vault-Token: ", second, "\r\n\r\n"));
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_THAT(r.body, HasSubstr("more than once"));
  }
  auto stub = v1::Transit::NewStub(testing::ServerChannel(state_, grpc_port_));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + root_token_);
  ctx.AddMetadata("authorization", "Bearer " + app_);
  v1::GetKeyRequest request;
  request.set_name("app-secret");
  v1::Key key;
  grpc::Status s = stub->GetKey(&ctx, request, &key);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("more than once"));
}

}  // namespace
}  // namespace strongroom
