// End to end: transit BYOK import on the real strongroomd over HTTPS, with the key wrapped
// by the openssl CLI exactly as Vault's key-wrapping guide describes (hvac 0.11.2 has no
// import methods): `openssl rand` for the ephemeral AES-256 key, `openssl pkeyutl -encrypt`
// with RSA-OAEP for it, `openssl enc -id-aes256-wrap-pad` (RFC 5649 KWP; its IV must be
// given as A65959A6) for the target key, and base64 of the two concatenated.
//
// SoftHSM 2.6 implements RSA-OAEP only with SHA-1, so the import that succeeds uses
// hash_function SHA1 (rsa_oaep_md/rsa_mgf1_md sha1); Vault's default SHA256 is refused with
// an error that says so. The imported key (HSM residency) then encrypts over HTTP, and the
// test decrypts the ciphertext with the original key bytes. The HSM object is checked from
// outside with pkcs11-tool: sensitive and not extractable. Tokens without transit.import
// are refused with 403 in Vault's shape, and every request has its audit line.
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"
#include "tests/testing/strongroomd_fixture.h"

namespace strongroom {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::HttpReply;
using testing::ReadAll;
using testing::RunCommand;
using testing::Runfile;

// The string value of "field":"..." in a JSON body (JSON escapes of '\n' and '/' undone).
std::string JsonString(const std::string& body, const std::string& field) {
  const std::string marker = absl::StrCat("\"", field, "\":\"");
  size_t at = body.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  std::string out;
  for (size_t i = at; i < body.size() && body[i] != '"'; ++i) {
    if (body[i] == '\\' && i + 1 < body.size()) {
      ++i;
      out.push_back(body[i] == 'n' ? '\n' : body[i]);
    } else {
      out.push_back(body[i]);
    }
  }
  return out;
}

class ByokE2eTest : public testing::StrongroomdHttpTest {
 protected:
  void SetUp() override {
    const std::string auth = absl::StrCat(
        "auth:\n  policies:\n",
        // An importer: read the wrapping key, import and use its keys.
        "    - name: byok-importer\n      rules:\n",
        "        - resource: transit/wrapping_key\n          operations: [read]\n",
        "        - resource: transit/keys/byok-*\n",
        "          operations: [transit.import, encrypt, decrypt, read]\n",
        // A user of the same keys who may not import.
        "    - name: byok-user\n      rules:\n", "        - resource: transit/keys/byok-*\n",
        "          operations: [create, rotate, encrypt, decrypt, read]\n");
    ASSERT_NO_FATAL_FAILURE(StartServer("byok", auth));
    dir_ = token_->dir;
  }

  // Runs a shell pipeline in the test's directory; its output.
  std::string Sh(const std::string& script) {
    testing::RunResult r =
        RunCommand({"/bin/sh", "-c", absl::StrCat("cd '", dir_, "' && ", script)});
    EXPECT_EQ(r.exit_code, 0) << script << ": " << r.output;
    return r.output;
  }

  // Wraps the 32 bytes in <name>.key for the wrapping key in wrapping.pem, with openssl as
  // Vault's guide describes; the base64 ciphertext the import endpoints take.
  std::string WrapWithOpenssl(const std::string& name, const std::string& md) {
    Sh(absl::StrCat("openssl rand -out ", name, ".eph 32"));
    Sh(absl::StrCat("openssl pkeyutl -encrypt -pubin -inkey wrapping.pem -in ", name, ".eph -out ",
                    name, ".eph.wrapped -pkeyopt rsa_padding_mode:oaep",
                    " -pkeyopt rsa_oaep_md:", md, " -pkeyopt rsa_mgf1_md:", md));
    Sh(absl::StrCat("openssl enc -id-aes256-wrap-pad -iv A65959A6 -K $(od -An -tx1 -v ", name,
                    ".eph | tr -d ' \\n') -in ", name, ".key -out ", name, ".key.wrapped"));
    std::string b64 =
        Sh(absl::StrCat("cat ", name, ".eph.wrapped ", name, ".key.wrapped | base64 -w0"));
    return std::string(absl::StripAsciiWhitespace(b64));
  }

  // AES-256-GCM open of "vault:vN:base64(nonce || ct || tag)" with `key`.
  static std::string OpenWithKey(const std::string& key, const std::string& envelope) {
    std::vector<std::string> parts = absl::StrSplit(envelope, ':');
    std::string c;
    if (parts.size() != 3 || !absl::Base64Unescape(parts[2], &c) || c.size() < 28) {
      return "<malformed>";
    }
    hsm::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
    std::string out(c.size(), '\0');
    int len = 0, final_len = 0;
    size_t ct_len = c.size() - 28;
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                           reinterpret_cast<const unsigned char*>(key.data()),
                           reinterpret_cast<const unsigned char*>(c.data())) <= 0 ||
        EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                          reinterpret_cast<const unsigned char*>(c.data()) + 12, ct_len) <= 0 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, c.data() + 12 + ct_len) <= 0 ||
        EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len,
                            &final_len) <= 0) {
      return "<does not decrypt>";
    }
    out.resize(len + final_len);
    return out;
  }

  std::string dir_;
};

TEST_F(ByokE2eTest, OpensslWrappedKeyImportsIntoTheHsmAndIsTheKeyUsed) {
  const std::string importer = CreateToken("byok-importer");
  const std::string user = CreateToken("byok-user");

  // The wrapping key, as `vault read transit/wrapping_key` shows it.
  HttpReply wk = Curl("GET", "/v1/transit/wrapping_key", importer);
  ASSERT_EQ(wk.status, 200) << wk.raw;
  const std::string pem = JsonString(wk.body, "public_key");
  ASSERT_TRUE(hsm::testing::WriteFile(dir_ + "/wrapping.pem", pem, 0600).ok());
  EXPECT_THAT(Sh("openssl pkey -pubin -in wrapping.pem -noout -text | head -1"),
              HasSubstr("4096 bit"));

  // The target key, and the key wrapped by openssl.
  Sh("openssl rand -out target.key 32");
  const std::string target = ReadAll(dir_ + "/target.key");
  ASSERT_EQ(target.size(), 32u);
  const std::string wrapped_sha1 = WrapWithOpenssl("target", "sha1");

  // A token without transit.import is refused (403, Vault's shape) on both import routes.
  const std::string body = absl::StrCat(R"({"ciphertext":")", wrapped_sha1,
                                        R"(","hash_function":"SHA1","residency":"hsm"})");
  HttpReply denied = Curl("POST", "/v1/transit/keys/byok-hsm/import", user, body);
  EXPECT_EQ(denied.status, 403) << denied.raw;
  EXPECT_THAT(denied.body, HasSubstr(R"({"errors":[")")) << denied.raw;
  EXPECT_THAT(denied.body, HasSubstr("may not transit.import")) << denied.raw;
  denied = Curl("PUT", "/v1/transit/keys/byok-hsm/import_version", user, body);
  EXPECT_EQ(denied.status, 403) << denied.raw;
  EXPECT_EQ(Curl("GET", "/v1/transit/wrapping_key", user).status, 403);

  // Vault's default hash (SHA256): SoftHSM cannot unwrap it, and the error says so.
  const std::string wrapped_sha256 = WrapWithOpenssl("target", "sha256");
  HttpReply sha256 =
      Curl("POST", "/v1/transit/keys/byok-hsm/import", importer,
           absl::StrCat(R"({"ciphertext":")", wrapped_sha256, R"(","residency":"hsm"})"));
  EXPECT_EQ(sha256.status, 400) << sha256.raw;
  EXPECT_THAT(sha256.body, HasSubstr("hash_function")) << sha256.raw;

  // A damaged wrap: a clear 400, nothing created.
  std::string damaged;
  ASSERT_TRUE(absl::Base64Unescape(wrapped_sha1, &damaged));
  damaged[damaged.size() - 5] ^= 0x40;
  HttpReply bad = Curl("POST", "/v1/transit/keys/byok-hsm/import", importer,
                       absl::StrCat(R"({"ciphertext":")", absl::Base64Escape(damaged),
                                    R"(","hash_function":"SHA1","residency":"hsm"})"));
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_THAT(bad.body, HasSubstr("does not unwrap")) << bad.raw;
  EXPECT_EQ(Curl("GET", "/v1/transit/keys/byok-hsm", importer).status, 404);

  // The import, then encryption with the imported key, opened here with the original bytes.
  HttpReply imported = Curl("POST", "/v1/transit/keys/byok-hsm/import", importer, body);
  ASSERT_EQ(imported.status, 204) << imported.raw;
  HttpReply key = Curl("GET", "/v1/transit/keys/byok-hsm", importer);
  EXPECT_EQ(key.status, 200) << key.raw;
  EXPECT_THAT(key.body, HasSubstr("\"residency\":\"hsm\"")) << key.raw;
  HttpReply enc = Curl("POST", "/v1/transit/encrypt/byok-hsm", user,
                       R"({"plaintext":"YnJpbmcgeW91ciBvd24ga2V5"})");  // "bring your own key"
  ASSERT_EQ(enc.status, 200) << enc.raw;
  const std::string ciphertext = JsonString(enc.body, "ciphertext");
  EXPECT_EQ(OpenWithKey(target, ciphertext), "bring your own key") << ciphertext;

  // import_version (PUT, as Vault's Go client sends it): version 2 is the new key.
  Sh("openssl rand -out second.key 32");
  const std::string second = ReadAll(dir_ + "/second.key");
  HttpReply v2 = Curl("PUT", "/v1/transit/keys/byok-hsm/import_version", importer,
                      absl::StrCat(R"({"ciphertext":")", WrapWithOpenssl("second", "sha1"),
                                   R"(","hash_function":"SHA1"})"));
  ASSERT_EQ(v2.status, 204) << v2.raw;
  enc = Curl("POST", "/v1/transit/encrypt/byok-hsm", user, R"({"plaintext":"djI="})");
  ASSERT_EQ(enc.status, 200) << enc.raw;
  EXPECT_EQ(OpenWithKey(second, JsonString(enc.body, "ciphertext")), "v2");
  // Not allowed to rotate (allow_rotation was not set), even by a token that may rotate.
  HttpReply rotate = Curl("POST", "/v1/transit/keys/byok-hsm/rotate", user, "{}");
  EXPECT_EQ(rotate.status, 400) << rotate.raw;
  EXPECT_THAT(rotate.body, HasSubstr("import_version")) << rotate.raw;

  const std::string server_log = StopServer();

  // From outside the server, on the token: the imported keys are sensitive HSM objects that
  // are not extractable, and nothing of the import is left but them and the wrapping key.
  absl::StatusOr<std::vector<std::string>> labels = token_->ObjectLabels();
  ASSERT_TRUE(labels.ok()) << labels.status();
  int imported_objects = 0;
  for (const std::string& label : *labels) {
    if (!absl::StartsWith(label, "strongroom-transit-byok-hsm-") ||
        absl::EndsWith(label, "-hmac")) {
      continue;
    }
    ++imported_objects;
    std::string listing = token_->DescribeObjects(label);
    EXPECT_THAT(listing, HasSubstr("Secret Key Object; AES")) << listing;
    EXPECT_THAT(listing, HasSubstr("sensitive")) << listing;
    EXPECT_THAT(listing, Not(ContainsRegex("(: |, )extractable"))) << listing;
  }
  EXPECT_EQ(imported_objects, 2);  // versions 1 and 2
  std::string wrapping = token_->DescribeObjects("strongroom-import-wrapping");
  EXPECT_THAT(wrapping, HasSubstr("never extractable")) << wrapping;
  EXPECT_THAT(wrapping, HasSubstr("Usage:      unwrap\n")) << wrapping;

  // Audit: a line per request, allowed and refused, under the import operation.
  const std::string audit = ReadAll(AuditPath());
  int import_ok = 0, import_denied = 0, import_bad = 0, wrapping_lines = 0;
  for (absl::string_view line : absl::StrSplit(audit, '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, "\"resource\":\"transit/wrapping_key\"")) ++wrapping_lines;
    if (!absl::StrContains(line, "\"operation\":\"transit.import\"")) continue;
    EXPECT_THAT(std::string(line), HasSubstr("\"resource\":\"transit/keys/byok-hsm\""));
    if (absl::StrContains(line, "\"http_status\":204")) ++import_ok;
    if (absl::StrContains(line, "\"http_status\":403")) ++import_denied;
    if (absl::StrContains(line, "\"http_status\":400")) ++import_bad;
  }
  EXPECT_EQ(import_ok, 2) << audit;
  EXPECT_EQ(import_denied, 2) << audit;
  EXPECT_EQ(import_bad, 2) << audit;
  EXPECT_EQ(wrapping_lines, 2) << audit;
  // No key material or token in the audit log or the server's log.
  ExpectSecretsAbsent(
      {absl::Base64Escape(target), absl::Base64Escape(second), importer, user, wrapped_sha1},
      audit, server_log);
  ExpectAuditVerifies();
}

}  // namespace
}  // namespace strongroom
