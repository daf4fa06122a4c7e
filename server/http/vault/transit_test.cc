// TransitApi over the real transit engine (SoftHSM + SQLite), called through an HttpRouter
// with no network: every transit route in Vault's shapes, with its error cases. Signatures
// made here are also checked by OpenSSL against the public key the key read returns, and
// hashes against published test vectors. (Encrypt/decrypt/rewrap shapes are covered in
// depth by vault_api_test.)
#include "server/http/vault/transit.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/keyring.h"
#include "kms/sqlite_storage.h"
#include "kms/transit.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using hsm::testing::SoftHsmToken;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct Reply {
  int status = 0;
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

std::string B64(const std::string& s) { return absl::Base64Escape(s); }
std::string Unb64(const std::string& s) {
  std::string out;
  EXPECT_TRUE(absl::Base64Unescape(s, &out)) << s;
  return out;
}

// The payload bytes of "vault:v<N>:<payload>", decoded with `decode`.
std::string Payload(const std::string& envelope, bool url_safe = false) {
  std::string payload = envelope.substr(envelope.rfind(':') + 1), out;
  EXPECT_TRUE(url_safe ? absl::WebSafeBase64Unescape(payload, &out)
                       : absl::Base64Unescape(payload, &out))
      << envelope;
  return out;
}

// OpenSSL's verdict on `signature` over `message` with the PEM public key.
bool OpenSslVerifies(const std::string& pem, const std::string& message,
                     const std::string& signature, const EVP_MD* md, int rsa_padding = 0) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key) == 1;
  if (ok && rsa_padding != 0) ok = EVP_PKEY_CTX_set_rsa_padding(pctx, rsa_padding) == 1;
  ok = ok && EVP_DigestVerify(
                 ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                 reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

// r||s (JWS) as a DER ECDSA-Sig-Value.
std::string RawToDer(const std::string& raw) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  size_t n = raw.size() / 2;
  auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG_set0(sig, BN_bin2bn(in, static_cast<int>(n), nullptr),
                 BN_bin2bn(in + n, static_cast<int>(n), nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

class TransitApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (token_ != nullptr) return;  // One token for the whole binary.
    auto token = SoftHsmToken::Create("transit-api");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new SoftHsmToken(*std::move(token));
    auto hsm = hsm::Hsm::Open(token_->Options());
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    hsm_ = hsm->release();
  }

  void SetUp() override {
    static int n = 0;
    auto storage = kms::SqliteStorage::Open(absl::StrCat(token_->dir, "/transit-", ++n, ".db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    barrier_ = std::make_unique<kms::Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    keyring_ =
        std::make_unique<kms::Keyring>(hsm_, storage_.get(), barrier_.get(), kms::KeyringOptions{});
    transit_ = std::make_unique<kms::Transit>(keyring_.get(), hsm_);
    api_ = std::make_unique<TransitApi>(transit_.get(), hsm_);
    for (VaultRoute& r : api_->Routes()) router_.Handle(r.method, r.pattern, r.handler);
  }

  // `path` may carry one query string "?a=b&c=d".
  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
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
    HttpResponse response = router_.Route(request);
    Reply reply;
    reply.status = response.status;
    reply.body = response.body;
    reply.key_version = response.key_version;
    if (!response.body.empty()) {
      EXPECT_EQ(response.content_type, "application/json");
      auto st = google::protobuf::util::JsonStringToMessage(response.body, &reply.json);
      EXPECT_TRUE(st.ok()) << "not JSON: " << response.body;
    }
    return reply;
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

  static SoftHsmToken* token_;
  static hsm::Hsm* hsm_;
  std::unique_ptr<kms::SqliteStorage> storage_;
  std::unique_ptr<kms::Barrier> barrier_;
  std::unique_ptr<kms::Keyring> keyring_;
  std::unique_ptr<kms::Transit> transit_;
  std::unique_ptr<TransitApi> api_;
  HttpRouter router_;
};
SoftHsmToken* TransitApiTest::token_ = nullptr;
hsm::Hsm* TransitApiTest::hsm_ = nullptr;

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

TEST_F(TransitApiTest, HmacWithAlgorithmInPathOrBodyBatchAndVerify) {
  CreateKey("k");
  const std::string input = B64("message");
  Reply r = Call("POST", "/v1/transit/hmac/k", absl::StrCat(R"({"input":")", input, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string mac = r.Str("data.hmac");
  EXPECT_THAT(mac, StartsWith("vault:v1:"));
  EXPECT_EQ(Payload(mac).size(), 32u);
  // The engine's HMAC over gRPC is the same.
  v1::HmacRequest req;
  req.set_key_name("k");
  req.set_input("message");
  EXPECT_EQ(transit_->Hmac(req)->hmac(), mac);

  r = Call("POST", "/v1/transit/hmac/k/sha2-512", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_EQ(Payload(r.Str("data.hmac")).size(), 64u);
  r = Call("POST", "/v1/transit/hmac/k",
           absl::StrCat(R"({"input":")", input, R"(","algorithm":"sha2-384"})"));
  const std::string mac384 = r.Str("data.hmac");
  EXPECT_EQ(Payload(mac384).size(), 48u);

  // verify with the HMAC, with the algorithm in the path or the body.
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"input":")", input, R"(","hmac":")", mac, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("data.valid"));
  r = Call("POST", "/v1/transit/verify/k/sha2-384",
           absl::StrCat(R"({"input":")", input, R"(","hmac":")", mac384, R"("})"));
  EXPECT_TRUE(r.Bool("data.valid")) << r.body;
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"input":")", B64("other"), R"(","hmac":")", mac, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.Bool("data.valid"));

  // Batches: per-item results and errors, references echoed.
  Rotate("k");
  r = Call("POST", "/v1/transit/hmac/k",
           absl::StrCat(R"({"key_version":1,"batch_input":[{"input":")", input,
                        R"(","reference":"a"},{"input":"!!"}]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Str("data.batch_results.0.hmac"), mac);
  EXPECT_EQ(r.Str("data.batch_results.0.reference"), "a");
  EXPECT_THAT(r.Str("data.batch_results.1.error"), HasSubstr("base64"));
  EXPECT_FALSE(r.Has("data.batch_results.1.hmac"));
  r = Call("POST", "/v1/transit/hmac/k", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_THAT(r.Str("data.hmac"), StartsWith("vault:v2:"));
  EXPECT_EQ(r.key_version, 2u);
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"batch_input":[{"input":")", input, R"(","hmac":")", mac,
                        R"("},{"input":")", input, R"(","hmac":"vault:v9:AAAA"}]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("data.batch_results.0.valid"));
  EXPECT_TRUE(r.Has("data.batch_results.1.error"));

  // Errors.
  r = Call("POST", "/v1/transit/hmac/missing", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "encryption key not found");
  r = Call("POST", "/v1/transit/hmac/k/sha2-224", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("sha2-256"));
  r = Call("POST", "/v1/transit/hmac/k", "{}");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "missing input for HMAC");
  r = Call("POST", "/v1/transit/hmac/k",
           absl::StrCat(R"({"input":")", input, R"(","key_version":7})"));
  EXPECT_EQ(r.status, 400) << r.body;
  r = Call("POST", "/v1/transit/verify/k", absl::StrCat(R"({"input":")", input, R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("neither"));
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"input":")", input, R"(","hmac":")", mac, R"(","signature":"x"})"));
  EXPECT_EQ(r.status, 400);
  r = Call("POST", "/v1/transit/verify/k",
           absl::StrCat(R"({"batch_input":[{"input":")", input, R"(","hmac":")", mac,
                        R"("},{"input":")", input, R"("}]})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("missing 'hmac'"));
}

TEST_F(TransitApiTest, EcdsaSignaturesInAsn1AndJwsCheckedByOpenSsl) {
  CreateKey("ec", R"({"type":"ecdsa-p256"})");
  const std::string pem = Call("GET", "/v1/transit/keys/ec").Str("data.keys.1.public_key");
  ASSERT_THAT(pem, StartsWith("-----BEGIN PUBLIC KEY-----"));
  const std::string input = B64("release-1.2.3.tar.gz");

  Reply r = Call("POST", "/v1/transit/sign/ec", absl::StrCat(R"({"input":")", input, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string asn1 = r.Str("data.signature");
  EXPECT_THAT(asn1, StartsWith("vault:v1:"));
  EXPECT_EQ(r.Num("data.key_version"), 1);
  EXPECT_TRUE(OpenSslVerifies(pem, "release-1.2.3.tar.gz", Payload(asn1), EVP_sha256()));

  // JWS: r||s, 64 bytes for P-256, in unpadded base64url.
  r = Call("POST", "/v1/transit/sign/ec/sha2-384",
           absl::StrCat(R"({"input":")", input, R"(","marshaling_algorithm":"jws"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string jws = r.Str("data.signature");
  EXPECT_EQ(jws.find('='), std::string::npos) << jws;
  const std::string raw = Payload(jws, /*url_safe=*/true);
  ASSERT_EQ(raw.size(), 64u);
  EXPECT_TRUE(OpenSslVerifies(pem, "release-1.2.3.tar.gz", RawToDer(raw), EVP_sha384()));

  r = Call("POST", "/v1/transit/verify/ec/sha2-384",
           absl::StrCat(R"({"input":")", input, R"(","signature":")", jws,
                        R"(","marshaling_algorithm":"jws"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("data.valid"));
  r = Call("POST", "/v1/transit/verify/ec",
           absl::StrCat(R"({"input":")", input, R"(","signature":")", asn1, R"("})"));
  EXPECT_TRUE(r.Bool("data.valid")) << r.body;
  // Another message, or the other hash: not valid.
  r = Call(
      "POST", "/v1/transit/verify/ec",
      absl::StrCat(R"({"input":")", B64("release-6.6.6"), R"(","signature":")", asn1, R"("})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.Bool("data.valid"));
  r = Call("POST", "/v1/transit/verify/ec",
           absl::StrCat(R"({"input":")", input, R"(","signature":")", jws,
                        R"(","marshaling_algorithm":"jws"})"));
  EXPECT_FALSE(r.Bool("data.valid")) << r.body;

  // Prehashed input: the digest signed is the one of the message.
  std::string digest(32, '\0');
  unsigned int len = 0;
  const std::string message = "release-1.2.3.tar.gz";
  EVP_Digest(message.data(), message.size(), reinterpret_cast<unsigned char*>(digest.data()), &len,
             EVP_sha256(), nullptr);
  r = Call("POST", "/v1/transit/sign/ec",
           absl::StrCat(R"({"input":")", B64(digest), R"(","prehashed":true})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(OpenSslVerifies(pem, message, Payload(r.Str("data.signature")), EVP_sha256()));
}

TEST_F(TransitApiTest, RsaSignatureAlgorithmsAndEd25519) {
  CreateKey("rsa", R"({"type":"rsa-2048"})");
  const std::string pem = Call("GET", "/v1/transit/keys/rsa").Str("data.keys.1.public_key");
  const std::string input = B64("contract");
  Reply pkcs1 =
      Call("POST", "/v1/transit/sign/rsa",
           absl::StrCat(R"({"input":")", input,
                        R"(","hash_algorithm":"sha2-512","signature_algorithm":"pkcs1v15"})"));
  ASSERT_EQ(pkcs1.status, 200) << pkcs1.body;
  const std::string sig = pkcs1.Str("data.signature");
  EXPECT_TRUE(OpenSslVerifies(pem, "contract", Payload(sig), EVP_sha512(), RSA_PKCS1_PADDING));
  Reply pss = Call("POST", "/v1/transit/sign/rsa",
                   absl::StrCat(R"({"input":")", input, R"(","signature_algorithm":"pss"})"));
  ASSERT_EQ(pss.status, 200) << pss.body;
  EXPECT_TRUE(OpenSslVerifies(pem, "contract", Payload(pss.Str("data.signature")), EVP_sha256(),
                              RSA_PKCS1_PSS_PADDING));
  Reply r = Call("POST", "/v1/transit/verify/rsa/sha2-512",
                 absl::StrCat(R"({"input":")", input, R"(","signature":")", sig,
                              R"(","signature_algorithm":"pkcs1v15"})"));
  EXPECT_TRUE(r.Bool("data.valid")) << r.body;
  r = Call("POST", "/v1/transit/verify/rsa/sha2-512",
           absl::StrCat(R"({"input":")", input, R"(","signature":")", sig,
                        R"(","signature_algorithm":"pss"})"));
  EXPECT_FALSE(r.Bool("data.valid")) << r.body;
  r = Call("POST", "/v1/transit/sign/rsa",
           absl::StrCat(R"({"input":")", input, R"(","signature_algorithm":"pkcs9"})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), StartsWith("signature_algorithm:"));

  // Ed25519: Vault ignores hash and signature_algorithm for it; JWS is the same bytes.
  CreateKey("ed", R"({"type":"ed25519"})");
  const std::string ed_pem = Call("GET", "/v1/transit/keys/ed").Str("data.keys.1.public_key");
  r = Call("POST", "/v1/transit/sign/ed",
           absl::StrCat(R"({"input":")", input,
                        R"(","signature_algorithm":"pss","marshaling_algorithm":"jws"})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(OpenSslVerifies(ed_pem, "contract", Payload(r.Str("data.signature"), true), nullptr));
}

TEST_F(TransitApiTest, SignBatchesAndErrors) {
  CreateKey("ec", R"({"type":"ecdsa-p384"})");
  Reply r = Call("POST", "/v1/transit/sign/ec",
                 absl::StrCat(R"({"batch_input":[{"input":")", B64("one"),
                              R"(","reference":"r1"},{"input":"%%%"},{"reference":"r3"}]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.Str("data.batch_results.0.signature"), StartsWith("vault:v1:"));
  EXPECT_EQ(r.Str("data.batch_results.0.reference"), "r1");
  EXPECT_EQ(r.Num("data.batch_results.0.key_version"), 1);
  EXPECT_THAT(r.Str("data.batch_results.1.error"), HasSubstr("base64"));
  EXPECT_EQ(r.Str("data.batch_results.2.error"), "missing input");
  EXPECT_EQ(r.Str("data.batch_results.2.reference"), "r3");
  EXPECT_EQ(r.key_version, 1u);
  const std::string sig = r.Str("data.batch_results.0.signature");
  r = Call("POST", "/v1/transit/verify/ec",
           absl::StrCat(R"({"batch_input":[{"input":")", B64("one"), R"(","signature":")", sig,
                        R"("},{"input":")", B64("two"), R"(","signature":")", sig,
                        R"("},{"input":")", B64("one"), R"(","signature":"vault:v1:@@"}]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.Bool("data.batch_results.0.valid"));
  EXPECT_FALSE(r.Bool("data.batch_results.1.valid"));
  EXPECT_TRUE(r.Has("data.batch_results.2.error"));

  CreateKey("aes");
  r = Call("POST", "/v1/transit/sign/aes", absl::StrCat(R"({"input":")", B64("x"), R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "key type aes256-gcm96 does not support signing");
  r = Call("POST", "/v1/transit/sign/missing", absl::StrCat(R"({"input":")", B64("x"), R"("})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Error(), "signing key not found");
  r = Call("POST", "/v1/transit/verify/missing",
           absl::StrCat(R"({"input":")", B64("x"), R"(","signature":")", sig, R"("})"));
  EXPECT_EQ(r.Error(), "signature verification key not found");
  for (const char* body :
       {R"({"input":"eA==","marshaling_algorithm":"der"})",
        R"({"input":"eA==","hash_algorithm":"sha1"})", R"({"input":"eA==","salt_length":"17"})",
        R"({"input":"eA==","key_version":3})", R"({"batch_input":[]})", R"({"batch_input":["x"]})",
        "{}"}) {
    r = Call("POST", "/v1/transit/sign/ec", body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
  }
  // Too many items for one request.
  std::string many = R"({"batch_input":[)";
  for (int i = 0; i <= 10000; ++i) absl::StrAppend(&many, i ? "," : "", R"({"input":""})");
  r = Call("POST", "/v1/transit/sign/ec", many + "]}");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.Error(), HasSubstr("at most 10000"));
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
