// The fixture of the transit route tests (transit_test.cc, transit_sign_test.cc): a
// TransitApi over the real transit engine (TransitEngineTest: one SoftHSM token per test
// binary, a fresh SQLite database per test, which vault_api_test.cc shares), called through an
// HttpRouter with no network, and Reply, the answer with its JSON parsed. Test-only.
#pragma once

#include <memory>
#include <vector>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/keyring.h"
#include "kms/sqlite_storage.h"
#include "kms/transit.h"
#include "server/access/policy.h"
#include "server/access/principal.h"
#include "server/http/vault/testing_hsm.h"
#include "server/http/vault/transit.h"

namespace strongroom::server::vault::testing {

using google::protobuf::Struct;
using google::protobuf::Value;

struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
  Struct json;
  uint32_t key_version = 0;

  // The value at a dotted path ("data.batch_results.1.error"); an unset Value if absent.
  Value At(const std::string& path) const {
    Value v;
    *v.mutable_struct_value() = json;
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
      Value next;
      if (v.has_struct_value()) {
        auto it = v.struct_value().fields().find(part);
        if (it == v.struct_value().fields().end()) return Value();
        next = it->second;
      } else if (v.has_list_value()) {
        int i = std::stoi(part);
        if (i < 0 || i >= v.list_value().values_size()) return Value();
        next = v.list_value().values(i);
      } else {
        return Value();
      }
      v = next;
      if (dot == std::string::npos) return v;
      start = dot + 1;
    }
  }
  std::string Str(const std::string& path) const { return At(path).string_value(); }
  double Num(const std::string& path) const { return At(path).number_value(); }
  bool Bool(const std::string& path) const { return At(path).bool_value(); }
  bool Has(const std::string& path) const { return At(path).kind_case() != Value::KIND_NOT_SET; }
  std::string Error() const { return Str("errors.0"); }
};

inline std::string B64(const std::string& s) { return absl::Base64Escape(s); }
inline std::string Unb64(const std::string& s) {
  std::string out;
  EXPECT_TRUE(absl::Base64Unescape(s, &out)) << s;
  return out;
}

// The payload bytes of "vault:v<N>:<payload>", decoded with `decode`.
inline std::string Payload(const std::string& envelope, bool url_safe = false) {
  std::string payload = envelope.substr(envelope.rfind(':') + 1), out;
  EXPECT_TRUE(url_safe ? absl::WebSafeBase64Unescape(payload, &out)
                       : absl::Base64Unescape(payload, &out))
      << envelope;
  return out;
}

// An HttpRequest for `method` `path` with `body`; `path` may carry one query string
// "?a=b&c=d" (a name without "=" gets an empty value).
inline HttpRequest MakeRequest(const std::string& method, const std::string& path,
                               const std::string& body) {
  HttpRequest request;
  request.method = method;
  size_t q = path.find('?');
  request.path = path.substr(0, q);
  if (q != std::string::npos) {
    std::string query = path.substr(q + 1);
    size_t start = 0;
    while (start < query.size()) {
      size_t amp = query.find('&', start);
      std::string pair = query.substr(start, amp == std::string::npos ? amp : amp - start);
      size_t eq = pair.find('=');
      request.params.emplace(pair.substr(0, eq),
                             eq == std::string::npos ? "" : pair.substr(eq + 1));
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  request.body = body;
  return request;
}

// `response` as a Reply; a JSON body must parse.
inline Reply ReadReply(const HttpResponse& response) {
  Reply reply;
  reply.status = response.status;
  reply.content_type = response.content_type;
  reply.body = response.body;
  reply.key_version = response.key_version;
  if (!response.body.empty() && response.content_type == "application/json") {
    auto st = google::protobuf::util::JsonStringToMessage(response.body, &reply.json);
    EXPECT_TRUE(st.ok()) << "not JSON: " << response.body;
  }
  return reply;
}

// The real transit engine under test: one SoftHSM token per test binary (opened in
// SetUpTestSuite by SetUpHsm), and per test a fresh SQLite database with an unsealed barrier,
// a keyring and a kms::Transit over them (SetUpEngine, from SetUp under
// ASSERT_NO_FATAL_FAILURE).
class TransitEngineTest : public HsmStorageTest {
 protected:
  // The database is <token dir>/<db_prefix><n>.db (HsmStorageTest::NewStorage).
  void SetUpEngine(const std::string& db_prefix) {
    ASSERT_NO_FATAL_FAILURE(NewStorage(db_prefix));
    barrier_ = std::make_unique<kms::Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    keyring_ =
        std::make_unique<kms::Keyring>(hsm_, storage_.get(), barrier_.get(), kms::KeyringOptions{});
    transit_ = std::make_unique<kms::Transit>(keyring_.get(), hsm_);
  }

  std::unique_ptr<kms::Barrier> barrier_;
  std::unique_ptr<kms::Keyring> keyring_;
  std::unique_ptr<kms::Transit> transit_;
};

class TransitApiTest : public TransitEngineTest {
 protected:
  static void SetUpTestSuite() { SetUpHsm("transit-api"); }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpEngine("transit-"));
    api_ = std::make_unique<TransitApi>(transit_.get(), hsm_, [this] { return policies_; });
    for (VaultRoute& r : api_->Routes()) router_.Handle(r.method, r.pattern, r.handler);
    ASSERT_NO_FATAL_FAILURE(As({access::kRootPolicy}, v1::AuthConfig()));
  }

  // Calls are made as a token holding `policies`, defined in `config`; root until then.
  void As(std::vector<std::string> policies, const v1::AuthConfig& config) {
    auto compiled = access::PolicySet::Compile(config, "");
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    policies_ = *std::move(compiled);
    caller_.kind = access::Principal::Kind::kToken;
    caller_.identity = "token:test";
    caller_.policies = std::move(policies);
  }

  // `method` `path` as the admitted caller (the access gate's check is not made here).
  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    HttpRequest request = MakeRequest(method, path, body);
    request.principal = &caller_;
    HttpResponse response = router_.Route(std::move(request));
    if (!response.body.empty()) EXPECT_EQ(response.content_type, "application/json");
    return ReadReply(response);
  }

  void CreateKey(const std::string& name, const std::string& body = "") {
    Reply r = Call("POST", "/v1/transit/keys/" + name, body);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void Rotate(const std::string& name) {
    ASSERT_EQ(Call("POST", "/v1/transit/keys/" + name + "/rotate").status, 200);
  }
  std::string Encrypt(const std::string& key, const std::string& plaintext) {
    Reply r = Call("POST", "/v1/transit/encrypt/" + key,
                   absl::StrCat(R"({"plaintext":")", B64(plaintext), R"("})"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("data.ciphertext");
  }

  std::unique_ptr<TransitApi> api_;
  HttpRouter router_;
  std::shared_ptr<const access::PolicySet> policies_;
  access::Principal caller_;
};

}  // namespace strongroom::server::vault::testing
