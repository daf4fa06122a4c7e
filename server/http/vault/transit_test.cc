// TransitApi's key, encryption and utility routes over the real transit engine: keys
// (list, delete, config, trim), datakey, random, hash, the export family, and
// partial_failure_response_code. Hashes are checked against published test vectors.
// (Encrypt/decrypt/rewrap shapes are covered in depth by vault_api_test; signing routes by
// transit_sign_test.)
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/vault/transit_test_fixture.h"

namespace strongroom::server::vault {
namespace {

using testing::B64;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Reply;
using ::testing::StartsWith;
using testing::TransitApiTest;
using testing::Unb64;

TEST_F(TransitApiTest, RoutesAreVaultsPathsWithPutBesidePost) {
  std::vector<std::string> routes;
  for (const VaultRoute& r : api_->Routes()) routes.push_back(r.method + " " + r.pattern);
  std::vector<std::string> expected = {"GET /v1/{mount}/keys/{key}",
                                       "DELETE /v1/{mount}/keys/{key}",
                                       "LIST /v1/{mount}/keys",
                                       "GET /v1/{mount}/keys",
                                       "GET /v1/{mount}/export/{type}/{key}",
                                       "GET /v1/{mount}/export/{type}/{key}/{version}",
                                       "GET /v1/{mount}/backup/{key}"};
  for (const char* write : {"/v1/{mount}/keys/{key}",
                            "/v1/{mount}/keys/{key}/config",
                            "/v1/{mount}/keys/{key}/rotate",
                            "/v1/{mount}/keys/{key}/trim",
                            "/v1/{mount}/restore",
                            "/v1/{mount}/restore/{key}",
                            "/v1/{mount}/encrypt/{key}",
                            "/v1/{mount}/decrypt/{key}",
                            "/v1/{mount}/rewrap/{key}",
                            "/v1/{mount}/datakey/{type}/{key}",
                            "/v1/{mount}/sign/{key}",
                            "/v1/{mount}/sign/{key}/{algorithm}",
                            "/v1/{mount}/verify/{key}",
                            "/v1/{mount}/verify/{key}/{algorithm}",
                            "/v1/{mount}/hmac/{key}",
                            "/v1/{mount}/hmac/{key}/{algorithm}",
                            "/v1/{mount}/random",
                            "/v1/{mount}/random/{param1}",
                            "/v1/{mount}/random/{param1}/{param2}",
                            "/v1/{mount}/hash",
                            "/v1/{mount}/hash/{algorithm}"}) {
    expected.push_back(absl::StrCat("POST ", write));
    expected.push_back(absl::StrCat("PUT ", write));
  }
  EXPECT_THAT(routes, ::testing::UnorderedElementsAreArray(expected));
}

TEST_F(TransitApiTest, ListKeysByListVerbAndByGetWithListTrue) {
  // No keys: Vault's 404 with an empty errors list.
  Reply none = Call("LIST", "/v1/transit/keys");
  EXPECT_EQ(none.status, 404) << none.body;
  EXPECT_EQ(none.body, "{\"errors\":[]}\n");
  for (const char* name : {"b-key", "a-key", "c-key"}) CreateKey(name);
  Reply listed = Call("LIST", "/v1/transit/keys");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.At("data.keys").list_value().values_size(), 3);
  EXPECT_EQ(listed.Str("data.keys.0"), "a-key");
  EXPECT_EQ(listed.Str("data.keys.2"), "c-key");
  Reply got = Call("GET", "/v1/transit/keys?list=true");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.At("data.keys").DebugString(), listed.At("data.keys").DebugString());
  // Paging: after and limit.
  Reply page = Call("LIST", "/v1/transit/keys?after=a-key&limit=1");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.At("data.keys").list_value().values_size(), 1);
  EXPECT_EQ(page.Str("data.keys.0"), "b-key");
  EXPECT_EQ(Call("LIST", "/v1/transit/keys?limit=x").status, 400);
  // A GET without list=true is not a list.
  EXPECT_EQ(Call("GET", "/v1/transit/keys").status, 405);
  EXPECT_EQ(Call("LIST", "/v1/sys/keys").status, 404);
}

// A listing shows only the keys the caller may read (README: listings need read on the
// collection and show the entries the caller may read), as the gRPC ListKeys does: names a
// caller may not touch are not its business either.
TEST_F(TransitApiTest, ListKeysShowsOnlyTheKeysTheCallerMayRead) {
  for (const char* name : {"app-a", "app-b", "app-secret", "other"}) CreateKey(name);
  v1::AuthConfig config;
  v1::Policy* policy = config.add_policies();
  policy->set_name("app");
  v1::PolicyRule* rule = policy->add_rules();
  rule->set_resource("transit/keys/app-*");
  rule->add_operations("read");
  rule = policy->add_rules();
  rule->set_resource("transit/keys/app-secret");
  rule->add_operations("*");
  rule->set_effect("deny");
  rule = policy->add_rules();
  rule->set_resource("transit/keys");
  rule->add_operations("read");
  ASSERT_NO_FATAL_FAILURE(As({"app"}, config));
  for (const char* path : {"/v1/transit/keys", "/v1/transit/keys?list=true"}) {
    Reply listed = Call(path[16] == '?' ? "GET" : "LIST", path);
    ASSERT_EQ(listed.status, 200) << listed.body;
    ASSERT_EQ(listed.At("data.keys").list_value().values_size(), 2) << listed.body;
    EXPECT_EQ(listed.Str("data.keys.0"), "app-a");
    EXPECT_EQ(listed.Str("data.keys.1"), "app-b");
  }
  Reply page = Call("LIST", "/v1/transit/keys?after=app-a&limit=5");
  ASSERT_EQ(page.status, 200) << page.body;
  ASSERT_EQ(page.At("data.keys").list_value().values_size(), 1) << page.body;
  EXPECT_EQ(page.Str("data.keys.0"), "app-b");
  // Nothing readable: Vault's empty listing.
  rule = config.mutable_policies(0)->mutable_rules(0);
  rule->set_resource("transit/keys/none-*");
  ASSERT_NO_FATAL_FAILURE(As({"app"}, config));
  EXPECT_EQ(Call("LIST", "/v1/transit/keys").status, 404);
}

TEST_F(TransitApiTest, DeleteNeedsDeletionAllowedAsInVault) {
  CreateKey("doomed");
  Reply refused = Call("DELETE", "/v1/transit/keys/doomed");
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_THAT(refused.Error(), HasSubstr("deletion is not allowed"));
  EXPECT_EQ(Call("GET", "/v1/transit/keys/doomed").status, 200);

  Reply config = Call("POST", "/v1/transit/keys/doomed/config", R"({"deletion_allowed":true})");
  ASSERT_EQ(config.status, 200) << config.body;
  EXPECT_TRUE(config.Bool("data.deletion_allowed"));
  Reply deleted = Call("DELETE", "/v1/transit/keys/doomed");
  EXPECT_EQ(deleted.status, 204) << deleted.body;
  EXPECT_EQ(deleted.body, "");
  EXPECT_EQ(Call("GET", "/v1/transit/keys/doomed").status, 404);
  Reply again = Call("DELETE", "/v1/transit/keys/doomed");
  EXPECT_EQ(again.status, 400);
  EXPECT_THAT(again.Error(), HasSubstr("not found"));
}

TEST_F(TransitApiTest, ConfigSetsVersionsAndPeriodAndRefusesExport) {
  CreateKey("k");
  const std::string v1_ct = Encrypt("k", "old secret");
  Rotate("k");
  Rotate("k");
  Reply r = Call("PUT", "/v1/transit/keys/k/config",
                 R"({"min_decryption_version":2,"min_encryption_version":"3",)"
                 R"("auto_rotate_period":"2h"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Num("data.min_decryption_version"), 2);
  EXPECT_EQ(r.Num("data.min_encryption_version"), 3);
  EXPECT_EQ(r.Num("data.auto_rotate_period"), 7200);
  Reply read = Call("GET", "/v1/transit/keys/k");
  EXPECT_EQ(read.Num("data.min_decryption_version"), 2);
  // The old ciphertext no longer decrypts.
  Reply dec =
      Call("POST", "/v1/transit/decrypt/k", absl::StrCat(R"({"ciphertext":")", v1_ct, R"("})"));
  EXPECT_EQ(dec.status, 400) << dec.body;
  EXPECT_THAT(dec.body, Not(HasSubstr(B64("old secret"))));

  // min_encryption_version below min_decryption_version: the engine's 400.
  r = Call("POST", "/v1/transit/keys/k/config", R"({"min_encryption_version":1})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.Error(), HasSubstr("min_encryption_version"));
  // Zero means one, with Vault's warning.
  r = Call("POST", "/v1/transit/keys/k/config",
           R"({"min_decryption_version":0,"min_encryption_version":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Num("data.min_decryption_version"), 1);
  EXPECT_THAT(r.Str("warnings.0"), HasSubstr("start at 1"));
  // Only a period of an hour or more, or 0 to stop.
  EXPECT_EQ(Call("POST", "/v1/transit/keys/k/config", R"({"auto_rotate_period":"10m"})").status,
            400);
  r = Call("POST", "/v1/transit/keys/k/config", R"({"auto_rotate_period":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Num("data.auto_rotate_period"), 0);
  // Keys never become exportable.
  for (const char* field : {"exportable", "allow_plaintext_backup"}) {
    r = Call("POST", "/v1/transit/keys/k/config", absl::StrCat(R"({")", field, R"(":true})"));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_THAT(r.Error(), HasSubstr("HSM boundary"));
  }
  r = Call("POST", "/v1/transit/keys/k/config", R"({"deletion_allowed":"perhaps"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), StartsWith("deletion_allowed:"));
  r = Call("POST", "/v1/transit/keys/missing/config", R"({"deletion_allowed":true})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("no existing key named missing"));
}

TEST_F(TransitApiTest, TrimDropsOldVersionsForGood) {
  CreateKey("k");
  const std::string v1_ct = Encrypt("k", "v1");
  Rotate("k");
  Rotate("k");
  // Trimming needs min_decryption_version and min_encryption_version at or above it.
  Reply early = Call("POST", "/v1/transit/keys/k/trim", R"({"min_available_version":2})");
  EXPECT_EQ(early.status, 400) << early.body;
  ASSERT_EQ(Call("POST", "/v1/transit/keys/k/config",
                 R"({"min_decryption_version":2,"min_encryption_version":3})")
                .status,
            200);
  Reply trimmed = Call("POST", "/v1/transit/keys/k/trim", R"({"min_available_version":2})");
  ASSERT_EQ(trimmed.status, 200) << trimmed.body;
  EXPECT_EQ(trimmed.Num("data.min_available_version"), 2);
  EXPECT_FALSE(trimmed.Has("data.keys.1"));
  EXPECT_TRUE(trimmed.Has("data.keys.2"));
  // Version 1 cannot come back, even by lowering min_decryption_version.
  EXPECT_EQ(Call("POST", "/v1/transit/keys/k/config", R"({"min_decryption_version":1})").status,
            400);
  EXPECT_EQ(Call("POST", "/v1/transit/keys/k/trim", R"({"min_available_version":1})").status, 400);
  Reply r = Call("POST", "/v1/transit/keys/k/trim", "{}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "missing min_available_version");
  EXPECT_EQ(Call("POST", "/v1/transit/keys/k/trim", R"({"min_available_version":0})").status, 400);
  r = Call("POST", "/v1/transit/keys/missing/trim", R"({"min_available_version":1})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "invalid key name");
}

TEST_F(TransitApiTest, DataKeyPlaintextAndWrapped) {
  CreateKey("k");
  Reply plain = Call("POST", "/v1/transit/datakey/plaintext/k", "");
  ASSERT_EQ(plain.status, 200) << plain.body;
  const std::string dek = plain.Str("data.plaintext");
  EXPECT_EQ(Unb64(dek).size(), 32u);
  EXPECT_EQ(plain.Num("data.key_version"), 1);
  EXPECT_EQ(plain.key_version, 1u);
  // The wrapped key decrypts to the plaintext key.
  Reply dec = Call("POST", "/v1/transit/decrypt/k",
                   absl::StrCat(R"({"ciphertext":")", plain.Str("data.ciphertext"), R"("})"));
  ASSERT_EQ(dec.status, 200) << dec.body;
  EXPECT_EQ(dec.Str("data.plaintext"), dek);

  Reply wrapped = Call("PUT", "/v1/transit/datakey/wrapped/k", R"({"bits":512})");
  ASSERT_EQ(wrapped.status, 200) << wrapped.body;
  EXPECT_FALSE(wrapped.Has("data.plaintext"));
  dec = Call("POST", "/v1/transit/decrypt/k",
             absl::StrCat(R"({"ciphertext":")", wrapped.Str("data.ciphertext"), R"("})"));
  EXPECT_EQ(Unb64(dec.Str("data.plaintext")).size(), 64u);
  EXPECT_EQ(Unb64(Call("POST", "/v1/transit/datakey/plaintext/k", R"({"bits":"128"})")
                      .Str("data.plaintext"))
                .size(),
            16u);

  // key_version, and a derived key's context.
  Rotate("k");
  Reply pinned = Call("POST", "/v1/transit/datakey/wrapped/k", R"({"key_version":1})");
  EXPECT_THAT(pinned.Str("data.ciphertext"), StartsWith("vault:v1:"));
  CreateKey("derived", R"({"derived":true})");
  EXPECT_EQ(Call("POST", "/v1/transit/datakey/wrapped/derived", "").status, 400);
  Reply with_context = Call("POST", "/v1/transit/datakey/wrapped/derived",
                            absl::StrCat(R"({"context":")", B64("tenant"), R"("})"));
  EXPECT_EQ(with_context.status, 200) << with_context.body;

  Reply r = Call("POST", "/v1/transit/datakey/plaintext/k", R"({"bits":100})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("bits"));
  r = Call("POST", "/v1/transit/datakey/cleartext/k", "");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("'plaintext' or 'wrapped'"));
  r = Call("POST", "/v1/transit/datakey/plaintext/missing", "");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "encryption key not found");
  r = Call("POST", "/v1/transit/datakey/plaintext/k", R"({"key_version":9})");
  EXPECT_EQ(r.status, 400) << r.body;
  CreateKey("signer", R"({"type":"ecdsa-p256"})");
  EXPECT_EQ(Call("POST", "/v1/transit/datakey/plaintext/signer", "").status, 400);
}

TEST_F(TransitApiTest, RandomTakesBytesFormatAndSourceInPathOrBody) {
  Reply r = Call("POST", "/v1/transit/random", "");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string first = r.Str("data.random_bytes");
  EXPECT_EQ(Unb64(first).size(), 32u);
  EXPECT_NE(Call("POST", "/v1/transit/random", "").Str("data.random_bytes"), first);

  EXPECT_EQ(Unb64(Call("POST", "/v1/transit/random/64", "").Str("data.random_bytes")).size(), 64u);
  r = Call("PUT", "/v1/transit/random", R"({"bytes":16,"format":"hex"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.Str("data.random_bytes"), ::testing::MatchesRegex("[0-9a-f]{32}"));
  // The HSM's RNG, and both together; the path wins over the body.
  for (const char* path : {"/v1/transit/random/seal/24", "/v1/transit/random/all/24"}) {
    r = Call("POST", path, R"({"bytes":8})");
    ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(Unb64(r.Str("data.random_bytes")).size(), 24u) << path;
  }
  r = Call("POST", "/v1/transit/random/seal", R"({"bytes":8,"source":"platform"})");
  EXPECT_EQ(Unb64(r.Str("data.random_bytes")).size(), 8u);
  r = Call("POST", "/v1/transit/random/12/hex", "");
  EXPECT_THAT(r.Str("data.random_bytes"), ::testing::MatchesRegex("[0-9a-f]{24}"));
  r = Call("POST", "/v1/transit/random", R"({"source":"seal","format":"base64","bytes":"10"})");
  EXPECT_EQ(Unb64(r.Str("data.random_bytes")).size(), 10u);
  EXPECT_EQ(Unb64(Call("POST", "/v1/transit/random/131072", "").Str("data.random_bytes")).size(),
            131072u);

  // Bounds and bad values.
  for (const auto& [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/transit/random/0", ""},
           {"/v1/transit/random/131073", ""},
           {"/v1/transit/random", R"({"bytes":1000000000})"},
           {"/v1/transit/random", R"({"bytes":-1})"},
           {"/v1/transit/random/lots", ""},
           {"/v1/transit/random", R"({"format":"binary"})"},
           {"/v1/transit/random", R"({"source":"moon"})"}}) {
    r = Call("POST", path, body);
    EXPECT_EQ(r.status, 400) << path << " " << body << ": " << r.body;
    EXPECT_TRUE(r.Has("errors.0")) << r.body;
  }
}

TEST_F(TransitApiTest, HashMatchesPublishedVectors) {
  const std::string abc = B64("abc");
  Reply r = Call("POST", "/v1/transit/hash", absl::StrCat(R"({"input":")", abc, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Str("data.sum"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  r = Call("POST", "/v1/transit/hash/sha3-256", absl::StrCat(R"({"input":")", abc, R"("})"));
  EXPECT_EQ(r.Str("data.sum"), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
  r = Call("POST", "/v1/transit/hash",
           absl::StrCat(R"({"input":")", abc, R"(","algorithm":"sha2-224","format":"base64"})"));
  EXPECT_EQ(absl::BytesToHexString(Unb64(r.Str("data.sum"))),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7");
  // The path's algorithm wins over the body's.
  r = Call("POST", "/v1/transit/hash/sha2-512",
           absl::StrCat(R"({"input":")", abc, R"(","algorithm":"sha2-256"})"));
  EXPECT_THAT(r.Str("data.sum"), StartsWith("ddaf35a193617aba"));
  EXPECT_EQ(r.Str("data.sum").size(), 128u);
  EXPECT_EQ(Call("POST", "/v1/transit/hash", R"({"input":""})").Str("data.sum"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  r = Call("POST", "/v1/transit/hash", "{}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "input missing");
  EXPECT_EQ(Call("POST", "/v1/transit/hash", R"({"input":"not base64"})").status, 400);
  EXPECT_EQ(
      Call("POST", "/v1/transit/hash/md5", absl::StrCat(R"({"input":")", abc, R"("})")).status,
      400);
  EXPECT_EQ(
      Call("POST", "/v1/transit/hash", absl::StrCat(R"({"input":")", abc, R"(","format":"raw"})"))
          .status,
      400);
  // Input is bounded (1 MiB).
  r = Call("POST", "/v1/transit/hash",
           absl::StrCat(R"({"input":")", B64(std::string((1 << 20) + 1, 'x')), R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("limit"));
  EXPECT_EQ(Call("POST", "/v1/transit/hash",
                 absl::StrCat(R"({"input":")", B64(std::string(1 << 20, 'x')), R"("})"))
                .status,
            200);
}

TEST_F(TransitApiTest, ExportBackupAndRestoreSayKeysNeverLeave) {
  CreateKey("k");
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/transit/export/encryption-key/k"},
           {"GET", "/v1/transit/export/encryption-key/k/latest"},
           {"GET", "/v1/transit/export/signing-key/k/1"},
           {"GET", "/v1/transit/backup/k"},
           {"POST", "/v1/transit/restore"},
           {"PUT", "/v1/transit/restore/k"}}) {
    Reply r = Call(method, path, R"({"backup":"eyJwb2xpY3kiOnt9fQ=="})");
    EXPECT_EQ(r.status, 400) << method << " " << path;
    EXPECT_THAT(r.Error(), HasSubstr("never leave the HSM boundary")) << path;
  }
  EXPECT_EQ(Call("POST", "/v1/transit/keys/k2", R"({"exportable":true})").status, 400);
  EXPECT_EQ(Call("GET", "/v1/transit/keys/k2").status, 404);
}

// Only final codes that carry a body: 200-599 other than 204 and 304, checked before any work.
TEST_F(TransitApiTest, PartialFailureResponseCodeOnlyFinalCodes) {
  CreateKey("k");
  const std::string mixed = absl::StrCat(R"({"batch_input":[{"plaintext":")", B64("a"),
                                         R"("},{"plaintext":"not base64!"}])");
  for (const char* bad : {"100", "199", "204", "304", "600", "0", "-1", "\"abc\"", "2000"}) {
    Reply r = Call("POST", "/v1/transit/encrypt/k",
                   absl::StrCat(mixed, R"(,"partial_failure_response_code":)", bad, "}"));
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_THAT(r.Error(), StartsWith("partial_failure_response_code:")) << bad;
    EXPECT_FALSE(r.Has("data")) << bad;
  }
  for (int good : {200, 207, 299, 400, 599}) {
    Reply r = Call("POST", "/v1/transit/encrypt/k",
                   absl::StrCat(mixed, R"(,"partial_failure_response_code":)", good, "}"));
    EXPECT_EQ(r.status, good) << r.body;
    EXPECT_THAT(r.Str("data.batch_results.0.ciphertext"), StartsWith("vault:v1:"));
  }
}

TEST_F(TransitApiTest, ReservedMountsAreNotTransit) {
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/v1/sys/random"},
                                                        {"POST", "/v1/auth/hash"},
                                                        {"POST", "/v1/sys/sign/k"},
                                                        {"DELETE", "/v1/sys/keys/k"},
                                                        {"POST", "/v1/auth/keys/k/trim"},
                                                        {"POST", "/v1/sys/datakey/plaintext/k"}}) {
    EXPECT_EQ(Call(method, path, "{}").status, 404) << method << " " << path;
  }
}

}  // namespace
}  // namespace strongroom::server::vault
