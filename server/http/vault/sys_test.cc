// SysApi over the server's real SystemService (SoftHSM barrier, SQLite storage), called
// through an HttpRouter with no network: health and its status-code overrides, seal status,
// seal and unseal, and the fixed mount table.
#include "server/http/vault/sys.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/vault/testing_hsm.h"
#include "kms/barrier.h"
#include "server/http/vault/testing_reply.h"
#include "server/system_service.h"

namespace strongroom::server::vault {
namespace {

using testing::Reply;
using ::testing::HasSubstr;
using ::testing::Not;

class SysApiTest : public testing::HsmStorageTest {
 protected:
  static void SetUpTestSuite() { SetUpHsm("sys-api-test"); }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(NewStorage("sys-"));
    barrier_ = std::make_unique<kms::Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    // The gRPC gate is not used by the methods the HTTP routes call.
    system_ = std::make_unique<SystemService>(hsm_, storage_.get(), barrier_.get(),
                                              /*cluster=*/nullptr, /*watcher=*/nullptr,
                                              /*gate=*/nullptr);
    api_ = std::make_unique<SysApi>(system_.get());
    for (VaultRoute& r : api_->Routes()) router_.Handle(r.method, r.pattern, r.handler);
    operator_.kind = access::Principal::Kind::kToken;
    operator_.identity = "token:0123456789abcdef0123456789abcdef";
  }

  void TearDown() override {
    if (barrier_ != nullptr) (void)barrier_->Unseal();
  }

  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    size_t q = path.find('?');
    request.path = path.substr(0, q);
    if (q != std::string::npos) {
      std::string query = path.substr(q + 1);
      size_t eq = query.find('=');
      request.params.emplace(query.substr(0, eq), query.substr(eq + 1));
    }
    request.body = body;
    request.principal = &operator_;
    return Reply(router_.Route(request));
  }

  std::unique_ptr<kms::Barrier> barrier_;
  std::unique_ptr<SystemService> system_;
  std::unique_ptr<SysApi> api_;
  HttpRouter router_;
  access::Principal operator_;
};

TEST_F(SysApiTest, HealthFollowsTheSealState) {
  Reply up = Call("GET", "/v1/sys/health");
  EXPECT_EQ(up.status, 200) << up.body;
  EXPECT_TRUE(up.Bool("initialized"));
  EXPECT_TRUE(up.Has("sealed"));
  EXPECT_FALSE(up.Bool("sealed"));
  EXPECT_FALSE(up.Bool("standby"));
  EXPECT_EQ(up.Str("version"), kVersion);
  EXPECT_NEAR(up.Num("server_time_utc"), absl::ToUnixSeconds(absl::Now()), 60);
  EXPECT_EQ(Call("GET", "/v1/sys/health?standbyok=true").status, 200);
  EXPECT_EQ(Call("GET", "/v1/sys/health?activecode=299").status, 299);
  EXPECT_EQ(Call("GET", "/v1/sys/health?sealedcode=200").status, 200) << "only when sealed";

  barrier_->Seal("sealed by test");
  Reply down = Call("GET", "/v1/sys/health");
  EXPECT_EQ(down.status, 503);
  EXPECT_TRUE(down.Bool("sealed"));
  EXPECT_EQ(Call("GET", "/v1/sys/health?sealedcode=200").status, 200);
  EXPECT_EQ(Call("GET", "/v1/sys/health?sealedcode=599").status, 599);
}

// Only final status codes with a body may be chosen: 1xx, 204 and 304 would break the
// framing of the reply, and anything else is no status at all.
TEST_F(SysApiTest, HealthCodeOverridesAreFinalStatusesOnly) {
  for (const char* bad : {"sealedcode=204", "sealedcode=304", "activecode=100",
                          "activecode=199", "activecode=600", "activecode=abc", "activecode=",
                          "standbycode=204", "perfstandbyokcode=304", "activecode=-200"}) {
    Reply r = Call("GET", absl::StrCat("/v1/sys/health?", bad));
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_THAT(r.Str("errors.0"), HasSubstr("from 200 to 599 other than 204 and 304")) << bad;
  }
  for (const char* good : {"activecode=200", "activecode=429", "sealedcode=503",
                           "standbycode=473", "activecode=305"}) {
    EXPECT_NE(Call("GET", absl::StrCat("/v1/sys/health?", good)).status, 400) << good;
  }
}

TEST_F(SysApiTest, SealUnsealAndSealStatus) {
  Reply status = Call("GET", "/v1/sys/seal-status");
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_FALSE(status.Bool("sealed"));
  EXPECT_TRUE(status.Bool("initialized"));
  EXPECT_EQ(status.Str("type"), "pkcs11");
  EXPECT_EQ(status.Num("t"), 0);
  EXPECT_EQ(status.Num("n"), 0);
  EXPECT_EQ(status.Num("progress"), 0);
  EXPECT_EQ(status.Str("storage_type"), "sqlite");
  EXPECT_EQ(status.Str("version"), kVersion);

  Reply sealed = Call("PUT", "/v1/sys/seal");
  EXPECT_EQ(sealed.status, 204) << sealed.body;
  EXPECT_EQ(sealed.body, "");
  EXPECT_TRUE(barrier_->state().sealed);
  EXPECT_TRUE(Call("GET", "/v1/sys/seal-status").Bool("sealed"));
  EXPECT_EQ(Call("GET", "/v1/sys/health").status, 503);

  // A Vault key share is refused, neither quoted nor acted on.
  Reply share = Call("PUT", "/v1/sys/unseal", R"({"key":"c2hhbWlyLXNoYXJlLXNlY3JldA=="})");
  EXPECT_EQ(share.status, 400);
  EXPECT_THAT(share.Str("errors.0"), HasSubstr("no unseal key shares"));
  EXPECT_THAT(share.body, Not(HasSubstr("c2hhbWlyLXNoYXJlLXNlY3JldA")));
  EXPECT_TRUE(barrier_->state().sealed);
  EXPECT_EQ(Call("PUT", "/v1/sys/unseal", R"({"migrate":true})").status, 400);
  EXPECT_TRUE(barrier_->state().sealed);

  Reply unsealed = Call("POST", "/v1/sys/unseal", R"({"reset":false})");
  ASSERT_EQ(unsealed.status, 200) << unsealed.body;
  EXPECT_FALSE(unsealed.Bool("sealed"));
  EXPECT_FALSE(barrier_->state().sealed);
  EXPECT_EQ(Call("PUT", "/v1/sys/unseal", "").status, 200) << "idempotent";
  EXPECT_EQ(Call("POST", "/v1/sys/seal").status, 204);
  EXPECT_EQ(Call("PUT", "/v1/sys/unseal", "{}").status, 200);
  EXPECT_EQ(Call("GET", "/v1/sys/health").status, 200);
}

TEST_F(SysApiTest, MountsListTheTwoEnginesAndRefuseWrites) {
  Reply r = Call("GET", "/v1/sys/mounts");
  ASSERT_EQ(r.status, 200) << r.body;
  for (const std::string& prefix : {std::string("data."), std::string()}) {
    EXPECT_EQ(r.Str(prefix + "transit/.type"), "transit") << r.body;
    EXPECT_EQ(r.Str(prefix + "pki/.type"), "pki") << r.body;
  }
  EXPECT_EQ(r.At("data").struct_value().fields_size(), 2);
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/v1/sys/mounts/kv"},
           {"PUT", "/v1/sys/mounts/transit2"},
           {"DELETE", "/v1/sys/mounts/transit"},
           {"POST", "/v1/sys/mounts/transit/tune"},
           {"POST", "/v1/sys/remount"}}) {
    Reply w = Call(method, path, R"({"type":"kv"})");
    EXPECT_EQ(w.status, 400) << method << " " << path;
    EXPECT_THAT(w.Str("errors.0"), HasSubstr("mounts are fixed")) << method << " " << path;
  }
}

}  // namespace
}  // namespace strongroom::server::vault
