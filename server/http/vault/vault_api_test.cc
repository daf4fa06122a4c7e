// VaultApi over the real transit engine (SoftHSM + SQLite), called through an HttpRouter
// with no network: Vault's request and response shapes, status codes, batches, the
// HTTP <-> engine ciphertext interchange, HSM-resident keys.
#include "server/http/vault/vault_api.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/keyring.h"
#include "kms/sqlite_storage.h"
#include "kms/transit.h"
#include "server/access/principal.h"
#include "server/http/vault/transit_test_fixture.h"

namespace strongroom::server {
namespace {

// This binary replaces the global operator delete so that a test can look into every
// heap block freed while a request is handled (DecodedPlaintextIsCleansedBeforeItIsFreed).
std::atomic<bool> watching_frees{false};
std::string freed_marker;
std::atomic<int> blocks_with_marker{0};

void InspectFreed(void* p) {
  if (p == nullptr || !watching_frees.load(std::memory_order_relaxed)) return;
  if (memmem(p, malloc_usable_size(p), freed_marker.data(), freed_marker.size()) != nullptr) {
    ++blocks_with_marker;
  }
}

}  // namespace
}  // namespace strongroom::server

// Allocation through malloc too, so that new and delete stay a pair under ASan.
void* operator new(size_t size) {
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  strongroom::server::InspectFreed(p);
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  strongroom::server::InspectFreed(p);
  std::free(p);
}

namespace strongroom::server {
namespace {

using vault::VaultApi;
using vault::VaultRoute;
using vault::testing::B64;
using vault::testing::Reply;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class VaultApiTest : public vault::testing::TransitEngineTest {
 protected:
  static void SetUpTestSuite() { SetUpHsm("vault-api"); }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpEngine("vault-"));
    // The token and sys engines have tests of their own (token_test, sys_test).
    api_ = std::make_unique<VaultApi>(transit_.get(), hsm_, keyring_.get(), nullptr, nullptr,
                                      nullptr);
    for (VaultRoute& r : api_->Routes()) router_.Handle(r.method, r.pattern, r.handler);
    principal_.kind = access::Principal::Kind::kToken;
    principal_.identity = "token:acc-1234";
    principal_.token_accessor = "acc-1234";
    principal_.policies = {"vault-seal"};
  }

  Reply Call(const std::string& method, const std::string& path, const std::string& body = "",
             const access::Principal* principal = nullptr) {
    HttpRequest request = vault::testing::MakeRequest(method, path, body);
    request.principal = principal;
    return vault::testing::ReadReply(router_.Route(request));
  }

  void CreateKey(const std::string& name, const std::string& body = "") {
    Reply r = Call("POST", "/v1/transit/keys/" + name, body);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::string EncryptHttp(const std::string& key, const std::string& plaintext) {
    Reply r = Call("POST", "/v1/transit/encrypt/" + key,
                   absl::StrCat(R"({"plaintext":")", B64(plaintext), R"("})"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Str("data.ciphertext");
  }

  std::unique_ptr<VaultApi> api_;
  HttpRouter router_;
  access::Principal principal_;
};

TEST_F(VaultApiTest, RoutesCoverTheApiWithPutBesidePost) {
  std::vector<std::string> routes;
  for (const VaultRoute& r : api_->Routes()) routes.push_back(r.method + " " + r.pattern);
  // Every engine's routes are here (transit_test lists transit's own in full).
  EXPECT_THAT(routes, ::testing::IsSupersetOf({
                          "POST /v1/{mount}/encrypt/{key}", "PUT /v1/{mount}/encrypt/{key}",
                          "POST /v1/{mount}/decrypt/{key}", "PUT /v1/{mount}/decrypt/{key}",
                          "POST /v1/{mount}/rewrap/{key}", "PUT /v1/{mount}/rewrap/{key}",
                          "GET /v1/{mount}/keys/{key}", "POST /v1/{mount}/keys/{key}",
                          "PUT /v1/{mount}/keys/{key}", "POST /v1/{mount}/keys/{key}/rotate",
                          "PUT /v1/{mount}/keys/{key}/rotate", "GET /v1/sys/health",
                          "GET /v1/auth/token/lookup-self", "POST /v1/auth/token/renew-self",
                          "PUT /v1/auth/token/renew-self",
                          // transit BYOK import (transit_import.h)
                          "GET /v1/{mount}/wrapping_key", "POST /v1/{mount}/keys/{key}/import",
                          "PUT /v1/{mount}/keys/{key}/import",
                          "POST /v1/{mount}/keys/{key}/import_version",
                          "PUT /v1/{mount}/keys/{key}/import_version"}));
  for (const std::string& route : routes) {
    // OCSP is POST only (RFC 6960), as in Vault.
    if (route.rfind("POST ", 0) == 0 && route.find("/ocsp") == std::string::npos) {
      EXPECT_THAT(routes, ::testing::Contains("PUT " + route.substr(5))) << route;
    }
  }
}

TEST_F(VaultApiTest, CreateReadsBackInVaultsKeyShape) {
  Reply created = Call("POST", "/v1/transit/keys/seal", "");
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.content_type, "application/json");
  EXPECT_EQ(created.Str("data.name"), "seal");
  EXPECT_TRUE(created.Has("request_id"));

  Reply r = Call("GET", "/v1/transit/keys/seal");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Str("data.name"), "seal");
  EXPECT_EQ(r.Str("data.type"), "aes256-gcm96");
  EXPECT_EQ(r.Num("data.latest_version"), 1);
  EXPECT_EQ(r.Num("data.min_decryption_version"), 1);
  EXPECT_EQ(r.Num("data.min_encryption_version"), 0);
  EXPECT_FALSE(r.At("data.exportable").bool_value());
  EXPECT_TRUE(r.Has("data.exportable"));
  EXPECT_FALSE(r.At("data.deletion_allowed").bool_value());
  EXPECT_TRUE(r.At("data.supports_encryption").bool_value());
  EXPECT_TRUE(r.At("data.supports_decryption").bool_value());
  EXPECT_TRUE(r.At("data.supports_derivation").bool_value());
  EXPECT_FALSE(r.At("data.supports_signing").bool_value());
  EXPECT_FALSE(r.At("data.derived").bool_value());
  EXPECT_FALSE(r.At("data.convergent_encryption").bool_value());
  EXPECT_EQ(r.Num("data.auto_rotate_period"), 0);
  EXPECT_EQ(r.Str("data.residency"), "wrapped");
  double created_at = r.Num("data.keys.1");
  EXPECT_NEAR(created_at, absl::ToUnixSeconds(absl::Now()), 120);
  // The JSON integer really is an integer, not 1.7e9.
  EXPECT_THAT(r.body, HasSubstr(absl::StrCat("\"1\":", static_cast<int64_t>(created_at))));
}

TEST_F(VaultApiTest, CreateTakesVaultTypesOptionsAndResidency) {
  CreateKey("cc", R"({"type":"chacha20-poly1305","auto_rotate_period":"24h"})");
  Reply r = Call("GET", "/v1/transit/keys/cc");
  EXPECT_EQ(r.Str("data.type"), "chacha20-poly1305");
  EXPECT_EQ(r.Num("data.auto_rotate_period"), 86400);

  CreateKey("derived", R"({"derived":"true","convergent_encryption":true})");
  r = Call("GET", "/v1/transit/keys/derived");
  EXPECT_TRUE(r.At("data.derived").bool_value());
  EXPECT_TRUE(r.At("data.convergent_encryption").bool_value());

  CreateKey("signer", R"({"type":"ecdsa-p256"})");
  r = Call("GET", "/v1/transit/keys/signer");
  EXPECT_EQ(r.Str("data.type"), "ecdsa-p256");
  EXPECT_TRUE(r.At("data.supports_signing").bool_value());
  EXPECT_FALSE(r.At("data.supports_encryption").bool_value());
  EXPECT_EQ(r.Str("data.keys.1.name"), "P-256");
  EXPECT_THAT(r.Str("data.keys.1.public_key"), StartsWith("-----BEGIN PUBLIC KEY-----"));

  // An existing key: Vault answers with the key and a warning.
  Reply again = Call("POST", "/v1/transit/keys/cc", R"({"type":"chacha20-poly1305"})");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_THAT(again.Str("warnings.0"), HasSubstr("already existed"));
}

// The minimum auto-rotation period is the keyring's (transit.min_auto_rotate_period), not
// one of the Vault API's own.
TEST_F(VaultApiTest, AutoRotatePeriodMinimumIsTheKeyringsConfiguredOne) {
  Reply refused = Call("POST", "/v1/transit/keys/fast", R"({"auto_rotate_period":"10m"})");
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_THAT(refused.Str("errors.0"), HasSubstr("at least 1h"));

  kms::KeyringOptions options;
  options.min_auto_rotate_period = absl::Minutes(5);
  kms::Keyring keyring(hsm_, storage_.get(), barrier_.get(), options);
  kms::Transit transit(&keyring, hsm_);
  VaultApi api(&transit, hsm_, &keyring, nullptr, nullptr, nullptr);
  for (VaultRoute& r : api.Routes()) router_.Handle(r.method, r.pattern, r.handler);
  CreateKey("fast", R"({"auto_rotate_period":"10m"})");
  EXPECT_EQ(Call("GET", "/v1/transit/keys/fast").Num("data.auto_rotate_period"), 600);
  Reply too_fast = Call("POST", "/v1/transit/keys/faster", R"({"auto_rotate_period":"4m"})");
  EXPECT_EQ(too_fast.status, 400) << too_fast.body;
  EXPECT_THAT(too_fast.Str("errors.0"), HasSubstr("at least 5m"));
}

TEST_F(VaultApiTest, HsmResidentKeyThroughResidency) {
  Reply created = Call("PUT", "/v1/transit/keys/hsm-seal", R"({"residency":"hsm"})");
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.Str("data.residency"), "hsm");
  v1::GetKeyRequest get;
  get.set_name("hsm-seal");
  auto key = transit_->GetKey(get);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->residency(), v1::HSM);

  std::string ct = EncryptHttp("hsm-seal", "root key share");
  EXPECT_THAT(ct, StartsWith("vault:v1:"));
  Reply dec = Call("POST", "/v1/transit/decrypt/hsm-seal", absl::StrCat(R"({"ciphertext":")", ct,
                                                                        R"("})"));
  ASSERT_EQ(dec.status, 200) << dec.body;
  EXPECT_EQ(dec.Str("data.plaintext"), B64("root key share"));

  // HSM residency for a type the HSM cannot hold is the engine's 400.
  Reply bad = Call("POST", "/v1/transit/keys/x", R"({"type":"chacha20-poly1305","residency":"hsm"})");
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST_F(VaultApiTest, EncryptDecryptRoundTripInVaultShape) {
  CreateKey("k");
  // The transit seal's calls: PUT with {"plaintext": base64}.
  const std::string plaintext("binary\0\xff payload", 16);
  Reply enc = Call("PUT", "/v1/transit/encrypt/k",
                   absl::StrCat(R"({"plaintext":")", B64(plaintext), R"("})"));
  ASSERT_EQ(enc.status, 200) << enc.body;
  EXPECT_THAT(enc.Str("data.ciphertext"), StartsWith("vault:v1:"));
  EXPECT_EQ(enc.Num("data.key_version"), 1);
  EXPECT_EQ(enc.key_version, 1u);
  EXPECT_EQ(enc.body.find(B64(plaintext)), std::string::npos);

  Reply dec = Call("PUT", "/v1/transit/decrypt/k",
                   absl::StrCat(R"({"ciphertext":")", enc.Str("data.ciphertext"), R"("})"));
  ASSERT_EQ(dec.status, 200) << dec.body;
  EXPECT_EQ(dec.Str("data.plaintext"), B64(plaintext));
  EXPECT_EQ(dec.key_version, 1u);

  // Empty plaintext is a valid input; any mount name works.
  Reply empty = Call("POST", "/v1/seal-mount/encrypt/k", R"({"plaintext":""})");
  ASSERT_EQ(empty.status, 200) << empty.body;
  Reply back = Call("POST", "/v1/seal-mount/decrypt/k",
                    absl::StrCat(R"({"ciphertext":")", empty.Str("data.ciphertext"), R"("})"));
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(back.Str("data.plaintext"), "");
}

TEST_F(VaultApiTest, CiphertextsInterchangeWithTheEngine) {
  CreateKey("k");
  // HTTP -> engine.
  std::string ct = EncryptHttp("k", "from http");
  v1::DecryptRequest dreq;
  dreq.set_key_name("k");
  dreq.add_items()->set_ciphertext(ct);
  auto dresp = transit_->Decrypt(dreq);
  ASSERT_TRUE(dresp.ok()) << dresp.status();
  ASSERT_FALSE(dresp->results(0).has_error()) << dresp->results(0).error().message();
  EXPECT_EQ(dresp->results(0).plaintext(), "from http");

  // Engine -> HTTP, with context and associated data on a derived key.
  CreateKey("d", R"({"derived":true})");
  v1::EncryptRequest ereq;
  ereq.set_key_name("d");
  auto* item = ereq.add_items();
  item->set_plaintext("from grpc");
  item->set_context("tenant-7");
  item->set_associated_data("header");
  auto eresp = transit_->Encrypt(ereq);
  ASSERT_TRUE(eresp.ok()) << eresp.status();
  ASSERT_FALSE(eresp->results(0).has_error());
  Reply dec = Call("POST", "/v1/transit/decrypt/d",
                   absl::StrCat(R"({"ciphertext":")", eresp->results(0).ciphertext(),
                                R"(","context":")", B64("tenant-7"), R"(","associated_data":")",
                                B64("header"), R"("})"));
  ASSERT_EQ(dec.status, 200) << dec.body;
  EXPECT_EQ(dec.Str("data.plaintext"), B64("from grpc"));

  // Wrong context: Vault's 400 with an error, never the plaintext.
  Reply wrong = Call("POST", "/v1/transit/decrypt/d",
                     absl::StrCat(R"({"ciphertext":")", eresp->results(0).ciphertext(),
                                  R"(","context":")", B64("tenant-8"), R"(","associated_data":")",
                                  B64("header"), R"("})"));
  EXPECT_EQ(wrong.status, 400) << wrong.body;
  EXPECT_TRUE(wrong.Has("errors.0"));
  EXPECT_THAT(wrong.body, Not(HasSubstr(B64("from grpc"))));
}

TEST_F(VaultApiTest, RotateVersionsAndRewrap) {
  CreateKey("k");
  std::string v1_ct = EncryptHttp("k", "old");
  Reply rot = Call("POST", "/v1/transit/keys/k/rotate", "");
  ASSERT_EQ(rot.status, 200) << rot.body;
  EXPECT_EQ(rot.Num("data.latest_version"), 2);
  EXPECT_TRUE(rot.Has("data.keys.2"));

  std::string v2_ct = EncryptHttp("k", "new");
  EXPECT_THAT(v2_ct, StartsWith("vault:v2:"));
  Reply old = Call("POST", "/v1/transit/decrypt/k",
                   absl::StrCat(R"({"ciphertext":")", v1_ct, R"("})"));
  ASSERT_EQ(old.status, 200) << old.body;
  EXPECT_EQ(old.Str("data.plaintext"), B64("old"));

  // key_version as a number and as a string.
  Reply pinned = Call("POST", "/v1/transit/encrypt/k",
                      absl::StrCat(R"({"plaintext":")", B64("x"), R"(","key_version":1})"));
  ASSERT_EQ(pinned.status, 200) << pinned.body;
  EXPECT_THAT(pinned.Str("data.ciphertext"), StartsWith("vault:v1:"));
  pinned = Call("POST", "/v1/transit/encrypt/k",
                absl::StrCat(R"({"plaintext":")", B64("x"), R"(","key_version":"1"})"));
  ASSERT_EQ(pinned.status, 200) << pinned.body;
  EXPECT_EQ(pinned.Num("data.key_version"), 1);
  Reply future = Call("POST", "/v1/transit/encrypt/k",
                      absl::StrCat(R"({"plaintext":")", B64("x"), R"(","key_version":9})"));
  EXPECT_EQ(future.status, 400) << future.body;

  Reply rewrap = Call("POST", "/v1/transit/rewrap/k",
                      absl::StrCat(R"({"ciphertext":")", v1_ct, R"("})"));
  ASSERT_EQ(rewrap.status, 200) << rewrap.body;
  EXPECT_THAT(rewrap.Str("data.ciphertext"), StartsWith("vault:v2:"));
  EXPECT_EQ(rewrap.Num("data.key_version"), 2);
  Reply dec = Call("POST", "/v1/transit/decrypt/k",
                   absl::StrCat(R"({"ciphertext":")", rewrap.Str("data.ciphertext"), R"("})"));
  EXPECT_EQ(dec.Str("data.plaintext"), B64("old"));
}

TEST_F(VaultApiTest, BatchesAnswerPerItemLikeVault) {
  CreateKey("k");
  Reply enc = Call("POST", "/v1/transit/encrypt/k",
                   absl::StrCat(R"({"batch_input":[{"plaintext":")", B64("a"),
                                R"(","reference":"r0"},{"plaintext":")", B64("b"),
                                R"("},{"plaintext":")", B64("c"), R"(","reference":"r2"}]})"));
  ASSERT_EQ(enc.status, 200) << enc.body;
  ASSERT_EQ(enc.At("data.batch_results").list_value().values_size(), 3);
  EXPECT_EQ(enc.Str("data.batch_results.0.reference"), "r0");
  EXPECT_EQ(enc.Str("data.batch_results.1.reference"), "");
  EXPECT_EQ(enc.Num("data.batch_results.2.key_version"), 1);
  EXPECT_FALSE(enc.Has("data.batch_results.0.error"));

  std::string input = "[";
  for (int i = 0; i < 3; ++i) {
    absl::StrAppend(&input, i ? "," : "", R"({"ciphertext":")",
                    enc.Str(absl::StrCat("data.batch_results.", i, ".ciphertext")), R"("})");
  }
  input += "]";
  Reply dec = Call("POST", "/v1/transit/decrypt/k", absl::StrCat(R"({"batch_input":)", input, "}"));
  ASSERT_EQ(dec.status, 200) << dec.body;
  EXPECT_EQ(dec.Str("data.batch_results.0.plaintext"), B64("a"));
  EXPECT_EQ(dec.Str("data.batch_results.1.plaintext"), B64("b"));
  EXPECT_EQ(dec.Str("data.batch_results.2.plaintext"), B64("c"));

  // One bad item: that item's error, the others still done, HTTP 400 (Vault's default).
  const std::string mixed = absl::StrCat(R"({"batch_input":[{"plaintext":")", B64("a"),
                                         R"("},{"plaintext":"not base64!"}]})");
  Reply partial = Call("POST", "/v1/transit/encrypt/k", mixed);
  EXPECT_EQ(partial.status, 400) << partial.body;
  EXPECT_THAT(partial.Str("data.batch_results.0.ciphertext"), StartsWith("vault:v1:"));
  EXPECT_THAT(partial.Str("data.batch_results.1.error"), HasSubstr("base64"));
  EXPECT_FALSE(partial.Has("data.batch_results.1.ciphertext"));
  // ... or the code the caller asked for partial failures.
  Reply custom = Call("POST", "/v1/transit/encrypt/k",
                      absl::StrCat(mixed.substr(0, mixed.size() - 1),
                                   R"(,"partial_failure_response_code":207})"));
  EXPECT_EQ(custom.status, 207) << custom.body;

  // Per-item decrypt failure (tampered ciphertext) and per-item key_version.
  std::string ct = enc.Str("data.batch_results.0.ciphertext");
  ct[ct.size() - 3] = ct[ct.size() - 3] == 'A' ? 'B' : 'A';
  Reply bad = Call("POST", "/v1/transit/decrypt/k",
                   absl::StrCat(R"({"batch_input":[{"ciphertext":")", ct, R"("},{"ciphertext":")",
                                enc.Str("data.batch_results.1.ciphertext"), R"("}]})"));
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_TRUE(bad.Has("data.batch_results.0.error"));
  EXPECT_EQ(bad.Str("data.batch_results.0.plaintext"), "");
  EXPECT_EQ(bad.Str("data.batch_results.1.plaintext"), B64("b"));

  Call("POST", "/v1/transit/keys/k/rotate");
  Reply versions = Call("POST", "/v1/transit/encrypt/k",
                        absl::StrCat(R"({"batch_input":[{"plaintext":")", B64("a"),
                                     R"(","key_version":1},{"plaintext":")", B64("b"), R"("}]})"));
  ASSERT_EQ(versions.status, 200) << versions.body;
  EXPECT_THAT(versions.Str("data.batch_results.0.ciphertext"), StartsWith("vault:v1:"));
  EXPECT_THAT(versions.Str("data.batch_results.1.ciphertext"), StartsWith("vault:v2:"));

  Reply rewrap = Call("POST", "/v1/transit/rewrap/k", absl::StrCat(R"({"batch_input":)", input, "}"));
  ASSERT_EQ(rewrap.status, 200) << rewrap.body;
  EXPECT_THAT(rewrap.Str("data.batch_results.2.ciphertext"), StartsWith("vault:v2:"));

  EXPECT_EQ(Call("POST", "/v1/transit/encrypt/k", R"({"batch_input":[]})").status, 400);
  Reply mixed_ctx = Call("POST", "/v1/transit/encrypt/k",
                         absl::StrCat(R"({"batch_input":[{"plaintext":"","context":")", B64("c"),
                                      R"("},{"plaintext":""}]})"));
  EXPECT_EQ(mixed_ctx.status, 400);
  EXPECT_THAT(mixed_ctx.Str("errors.0"), HasSubstr("context"));
}

TEST_F(VaultApiTest, ErrorsUseVaultCodesAndNameTheField) {
  CreateKey("k");
  auto error_of = [](const Reply& r) { return r.Str("errors.0"); };

  Reply r = Call("POST", "/v1/transit/encrypt/missing", R"({"plaintext":""})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "encryption key not found");
  r = Call("POST", "/v1/transit/decrypt/missing", R"({"ciphertext":"vault:v1:AAAA"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "encryption key not found");
  r = Call("POST", "/v1/transit/encrypt/missing",
           R"({"batch_input":[{"plaintext":"!!"}]})");  // even when every item is bad
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "encryption key not found");
  r = Call("POST", "/v1/transit/rewrap/missing", R"({"ciphertext":"vault:v1:AAAA"})");
  EXPECT_EQ(error_of(r), "encryption key not found");
  r = Call("GET", "/v1/transit/keys/missing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "{\"errors\":[]}\n");
  r = Call("POST", "/v1/transit/keys/missing/rotate");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "key not found");

  r = Call("POST", "/v1/transit/encrypt/k", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(error_of(r), HasSubstr("JSON"));
  r = Call("POST", "/v1/transit/encrypt/k", "[1,2]");
  EXPECT_EQ(r.status, 400);
  r = Call("POST", "/v1/transit/encrypt/k", R"({"plaintext":42})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(error_of(r), StartsWith("plaintext:"));
  r = Call("POST", "/v1/transit/encrypt/k", R"({"plaintext":"","key_version":"two"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(error_of(r), StartsWith("key_version:"));
  r = Call("POST", "/v1/transit/encrypt/k", R"({"plaintext":"","key_version":-1})");
  EXPECT_EQ(r.status, 400);
  r = Call("POST", "/v1/transit/encrypt/k", R"({"batch_input":[{"plaintext":1}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(error_of(r), StartsWith("batch_input[0].plaintext:"));
  r = Call("POST", "/v1/transit/encrypt/k", R"({"batch_input":{"plaintext":""}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(error_of(r), StartsWith("batch_input:"));
  r = Call("POST", "/v1/transit/encrypt/k", "{}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "missing plaintext to encrypt");
  r = Call("POST", "/v1/transit/decrypt/k", "{}");
  EXPECT_EQ(error_of(r), "missing ciphertext to decrypt");
  r = Call("POST", "/v1/transit/encrypt/k", R"({"plaintext":"aGk"})");  // unpadded
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(error_of(r), HasSubstr("base64"));
  r = Call("POST", "/v1/transit/decrypt/k", R"({"ciphertext":"vault:v1:bm90IGEgY2lwaGVydGV4dA=="})");
  EXPECT_EQ(r.status, 400);
  r = Call("POST", "/v1/transit/decrypt/k", R"({"ciphertext":"garbage"})");
  EXPECT_EQ(r.status, 400);

  r = Call("POST", "/v1/transit/keys/n", R"({"type":"aes512-magic"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(error_of(r), HasSubstr("type"));
  r = Call("POST", "/v1/transit/keys/n", R"({"type":7})");
  EXPECT_THAT(error_of(r), StartsWith("type:"));
  r = Call("POST", "/v1/transit/keys/n", R"({"residency":"cloud"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(error_of(r), StartsWith("residency:"));
  r = Call("POST", "/v1/transit/keys/n", R"({"derived":"maybe"})");
  EXPECT_THAT(error_of(r), StartsWith("derived:"));
  r = Call("POST", "/v1/transit/keys/n", R"({"exportable":true})");
  EXPECT_EQ(r.status, 400);
  r = Call("POST", "/v1/transit/keys/n", R"({"convergent_encryption":true})");
  EXPECT_EQ(r.status, 400);
  r = Call("POST", "/v1/transit/keys/bad%20name!", "");
  EXPECT_EQ(r.status, 400);

  // A signing key cannot encrypt: the engine's 400.
  CreateKey("signer", R"({"type":"ed25519"})");
  r = Call("POST", "/v1/transit/encrypt/signer", R"({"plaintext":""})");
  EXPECT_EQ(r.status, 400) << r.body;

  EXPECT_EQ(Call("GET", "/v1/transit/encrypt/k").status, 405);
  EXPECT_EQ(Call("POST", "/v1/sys/encrypt/k", R"({"plaintext":""})").status, 404);
}

// A body that does not parse is refused with a message that names the problem and quotes
// none of the body, which may hold base64 plaintext.
TEST_F(VaultApiTest, MalformedJsonErrorsQuoteNothingOfTheBody) {
  CreateKey("k");
  const std::string secret = B64("the plaintext nobody may see");  // 40 characters
  const std::vector<std::string> bodies = {
      absl::StrCat(R"({"plaintext":")", secret),                   // unterminated string
      absl::StrCat(R"({"plaintext":")", secret, R"(" "x":1})"),    // missing comma
      absl::StrCat(R"({"plaintext":")", secret, "\xff\xfe\"}"),    // invalid UTF-8
      absl::StrCat(R"({")", secret, R"(":})"),                     // missing value
      absl::StrCat(R"({"plaintext":)", secret, "}"),                // unquoted
      absl::StrCat(R"([")", secret, R"("])"),                      // not an object
      absl::StrCat(R"({"batch_input":[{"plaintext":")", secret, R"("}})"),
  };
  for (const std::string& path :
       {"/v1/transit/encrypt/k", "/v1/transit/decrypt/k", "/v1/transit/rewrap/k",
        "/v1/transit/keys/k2", "/v1/auth/token/renew-self"}) {
    for (const std::string& body : bodies) {
      Reply r = Call("POST", path, body, &principal_);
      EXPECT_EQ(r.status, 400) << path << " " << body << ": " << r.body;
      EXPECT_THAT(r.Str("errors.0"), StartsWith("failed to parse JSON input")) << r.body;
      // Not even a part of the secret: every 6-character slice of it is absent.
      for (size_t i = 0; i + 6 <= secret.size(); ++i) {
        ASSERT_THAT(r.body, Not(HasSubstr(secret.substr(i, 6))))
            << path << " " << body << " echoes the body: " << r.body;
      }
    }
  }
}

// The decoded plaintext (encrypt) and the engine's plaintext (decrypt) are cleansed before
// their buffers are freed. (Their base64 form is still copied by protobuf's JSON parser and
// by the HTTP body itself: see README, Architecture.)
TEST_F(VaultApiTest, DecodedPlaintextIsCleansedBeforeItIsFreed) {
  CreateKey("clean");
  freed_marker = "RAW-PLAINTEXT-MARKER-123";
  const std::string plaintext = freed_marker + std::string(40, 'z');  // on the heap
  auto route = [this](const std::string& path, const std::string& body) {
    HttpRequest request;
    request.method = "POST";
    request.path = path;
    request.body = body;
    blocks_with_marker = 0;
    watching_frees = true;
    HttpResponse response = router_.Route(request);
    watching_frees = false;
    EXPECT_EQ(response.status, 200) << response.body;
    return response.body;
  };
  std::string encrypted = route("/v1/transit/encrypt/clean",
                                absl::StrCat(R"({"plaintext":")", B64(plaintext), R"("})"));
  EXPECT_EQ(blocks_with_marker.load(), 0) << "encrypt freed the plaintext uncleansed";
  size_t at = encrypted.find("vault:v1:");
  ASSERT_NE(at, std::string::npos) << encrypted;
  std::string ciphertext = encrypted.substr(at, encrypted.find('"', at) - at);
  std::string decrypted = route("/v1/transit/decrypt/clean",
                                absl::StrCat(R"({"ciphertext":")", ciphertext, R"("})"));
  EXPECT_EQ(blocks_with_marker.load(), 0) << "decrypt freed the plaintext uncleansed";
  EXPECT_THAT(decrypted, HasSubstr(B64(plaintext)));
}

// protobuf's JSON parser takes time quadratic in the nesting of arrays (seconds for a few
// kB, hours for the 16 MiB an HTTP body may be): depth is refused before it parses.
TEST_F(VaultApiTest, DeeplyNestedBodiesAreRefusedBeforeParsing) {
  CreateKey("k");
  const int depth = 5000;
  std::string nested = absl::StrCat(R"({"batch_input":)", std::string(depth, '['),
                                    std::string(depth, ']'), "}");
  for (const char* route : {"/v1/transit/encrypt/k", "/v1/transit/decrypt/k",
                            "/v1/transit/rewrap/k", "/v1/transit/keys/n"}) {
    Reply r = Call("POST", route, nested);
    EXPECT_EQ(r.status, 400) << route;
    EXPECT_THAT(r.Str("errors.0"), HasSubstr("nested more than")) << route;
  }
  // Brackets inside strings are text, not nesting.
  Reply r = Call("POST", "/v1/transit/encrypt/k",
                 absl::StrCat(R"({"plaintext":"", "reference":")", std::string(100, '['),
                              std::string(100, '{'), R"("})"));
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(VaultApiTest, SealedEngineIs503) {
  CreateKey("k");
  barrier_->Seal("sealed by test");
  Reply r = Call("POST", "/v1/transit/encrypt/k", R"({"plaintext":""})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(r.Has("errors.0"));
  EXPECT_EQ(Call("GET", "/v1/transit/keys/k").status, 503);
  EXPECT_EQ(Call("POST", "/v1/transit/keys/k/rotate").status, 503);
  EXPECT_EQ(Call("POST", "/v1/transit/decrypt/k", R"({"ciphertext":"vault:v1:AAAA"})").status,
            503);
  ASSERT_TRUE(barrier_->Unseal().ok());
}

TEST_F(VaultApiTest, OutputIsValidJsonEvenForInvalidUtf8InNames) {
  Reply r = Call("POST", "/v1/transit/keys/bad\xff\xfe", "");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, Not(HasSubstr("\xff")));
}

}  // namespace
}  // namespace strongroom::server
