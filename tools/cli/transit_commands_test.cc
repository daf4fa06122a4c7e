// The transit commands end to end on the client side: the real `strongroom` binary (a data
// dependency) against an in-process fake strongroom.v1.Transit over TLS. The fake records
// every request and answers with replies derived from them, so each test checks what the
// CLI sent, what it printed, and how it exited.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "strongroom/v1/transit.pb.h"
#include "tools/cli/testing/cli_runner.h"
#include "tools/cli/testing/request_log.h"
#include "tools/cli/testing/tls_server.h"

namespace strongroom::cli {
namespace {

using testing::RequestLog;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr size_t kMiB = size_t{1} << 20;

// A P-256 public key and its fingerprint, SHA-256 of the DER SubjectPublicKeyInfo computed
// with `openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64`.
constexpr char kPublicKeyPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETc6VOYJydsVq/9wpq39+aiRaCXS3\n"
    "2dN53kHMwXKJgZjC31cJUIw2PyClPX1JEuFqwAWIkFTzhD2h52mkq4hp5w==\n"
    "-----END PUBLIC KEY-----\n";
constexpr char kPublicKeyFingerprint[] = "SHA256:FltVvwod+hxpCSzpHq+WdKNUdoCreWfeNEqbpxXuEWo";

int64_t UnixSeconds(int year, int month, int day, int hour) {
  return absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilSecond(year, month, day, hour, 0, 0), absl::UTCTimeZone()));
}

// The key every key command but create answers with (renamed to the requested name).
v1::Key CannedKey() {
  v1::Key key;
  key.set_name("payments");
  key.set_type(v1::AES256_GCM);
  key.set_residency(v1::HSM);
  key.set_latest_version(2);
  key.set_min_decryption_version(1);
  key.set_derived(true);
  key.mutable_auto_rotate_period()->set_seconds(24 * 3600);
  v1::KeyVersion* v1 = key.add_versions();
  v1->set_version(1);
  v1->mutable_create_time()->set_seconds(UnixSeconds(2026, 11, 23, 20));
  v1->set_encryptions(12);
  v1::KeyVersion* v2 = key.add_versions();
  v2->set_version(2);
  v2->mutable_create_time()->set_seconds(UnixSeconds(2026, 11, 24, 20));
  v2->set_encryptions(1);
  return key;
}

// Records each request and answers from it:
// - keys: CreateKey echoes the request as version 1 (with kPublicKeyPem for asymmetric
//   types); the other key calls return CannedKey() under the requested name, except for
//   the name "missing" (NOT_FOUND). ListKeys serves "a b" / "c" / "d" on pages "", p2, p3.
// - Encrypt: "vault:v1:<base64 of the plaintext>" for plaintexts under 1 KiB,
//   "vault:v1:large" otherwise; an item error when the associated data is "reject".
// - Decrypt: the base64 after "vault:v1:" decoded; an item error for "vault:v1:bad".
// - Key name "twice": Encrypt/Decrypt answer with two results.
// - Verify/VerifyHmac: valid iff the signature/HMAC is "vault:v1:good".
class FakeTransit final : public v1::Transit::Service {
 public:
  using Status = grpc::Status;
  using Context = grpc::ServerContext;

  Status CreateKey(Context*, const v1::CreateKeyRequest* request, v1::Key* reply) override {
    create.Add(*request);
    reply->set_name(request->name());
    reply->set_type(request->type());
    reply->set_residency(request->residency());
    reply->set_derived(request->derived());
    reply->set_convergent(request->convergent());
    *reply->mutable_auto_rotate_period() = request->auto_rotate_period();
    reply->set_latest_version(1);
    reply->set_min_decryption_version(1);
    v1::KeyVersion* version = reply->add_versions();
    version->set_version(1);
    version->mutable_create_time()->set_seconds(UnixSeconds(2026, 11, 23, 20));
    if (request->type() >= v1::ECDSA_P256 && request->type() <= v1::RSA_4096) {
      version->set_public_key_pem(kPublicKeyPem);
    }
    return Status::OK;
  }
  Status GetKey(Context*, const v1::GetKeyRequest* request, v1::Key* reply) override {
    get.Add(*request);
    return Canned(request->name(), reply);
  }
  Status ListKeys(Context*, const v1::ListKeysRequest* request,
                  v1::ListKeysResponse* reply) override {
    list.Add(*request);
    if (request->page_token().empty()) {
      reply->add_names("a");
      reply->add_names("b");
      reply->set_next_page_token("p2");
    } else if (request->page_token() == "p2") {
      reply->add_names("c");
      reply->set_next_page_token("p3");
    } else if (request->page_token() == "p3") {
      reply->add_names("d");
    } else {
      return Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page token");
    }
    return Status::OK;
  }
  Status RotateKey(Context*, const v1::RotateKeyRequest* request, v1::Key* reply) override {
    rotate.Add(*request);
    return Canned(request->name(), reply);
  }
  Status UpdateKeyConfig(Context*, const v1::UpdateKeyConfigRequest* request,
                         v1::Key* reply) override {
    config.Add(*request);
    return Canned(request->name(), reply);
  }
  Status DeleteKey(Context*, const v1::DeleteKeyRequest* request, v1::DeleteKeyResponse*) override {
    del.Add(*request);
    return Status::OK;
  }
  Status TrimKey(Context*, const v1::TrimKeyRequest* request, v1::Key* reply) override {
    trim.Add(*request);
    return Canned(request->name(), reply);
  }
  Status Encrypt(Context*, const v1::EncryptRequest* request, v1::EncryptResponse* reply) override {
    encrypt.Add(*request);
    for (const v1::EncryptRequest::Item& item : request->items()) {
      v1::EncryptResponse::Result* result = reply->add_results();
      if (item.associated_data() == "reject") {
        result->mutable_error()->set_code(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
        result->mutable_error()->set_message("associated data rejected");
        continue;
      }
      result->set_key_version(1);
      result->set_ciphertext(item.plaintext().size() < 1024
                                 ? "vault:v1:" + absl::Base64Escape(item.plaintext())
                                 : "vault:v1:large");
    }
    if (request->key_name() == "twice") *reply->add_results() = reply->results(0);
    return Status::OK;
  }
  Status Decrypt(Context*, const v1::DecryptRequest* request, v1::DecryptResponse* reply) override {
    decrypt.Add(*request);
    for (const v1::DecryptRequest::Item& item : request->items()) {
      v1::DecryptResponse::Result* result = reply->add_results();
      std::string plaintext;
      if (item.ciphertext() == "vault:v1:bad" ||
          !absl::StartsWith(item.ciphertext(), "vault:v1:") ||
          !absl::Base64Unescape(item.ciphertext().substr(9), &plaintext)) {
        result->mutable_error()->set_code(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
        result->mutable_error()->set_message("ciphertext failed authentication\nfor key");
        continue;
      }
      result->set_key_version(1);
      result->set_plaintext(plaintext);
    }
    if (request->key_name() == "twice") *reply->add_results() = reply->results(0);
    return Status::OK;
  }
  Status Rewrap(Context*, const v1::RewrapRequest* request, v1::RewrapResponse* reply) override {
    rewrap.Add(*request);
    v1::EncryptResponse::Result* result = reply->add_results();
    result->set_ciphertext("vault:v3:cmV3cmFwcGVk");
    result->set_key_version(3);
    return Status::OK;
  }
  Status GenerateDataKey(Context*, const v1::GenerateDataKeyRequest* request,
                         v1::GenerateDataKeyResponse* reply) override {
    datakey.Add(*request);
    reply->set_ciphertext("vault:v1:d3JhcHBlZA==");
    reply->set_key_version(1);
    if (request->include_plaintext()) reply->set_plaintext(DataKeyBytes(request->bits()));
    return Status::OK;
  }
  Status Sign(Context*, const v1::SignRequest* request, v1::SignResponse* reply) override {
    sign.Add(*request);
    reply->set_signature("vault:v2:c2lnbmF0dXJl");
    reply->set_key_version(2);
    return Status::OK;
  }
  Status Verify(Context*, const v1::VerifyRequest* request, v1::VerifyResponse* reply) override {
    verify.Add(*request);
    reply->set_valid(request->signature() == "vault:v1:good");
    return Status::OK;
  }
  Status Hmac(Context*, const v1::HmacRequest* request, v1::HmacResponse* reply) override {
    hmac.Add(*request);
    reply->set_hmac("vault:v1:aG1hYw==");
    reply->set_key_version(1);
    return Status::OK;
  }
  Status VerifyHmac(Context*, const v1::VerifyHmacRequest* request,
                    v1::VerifyResponse* reply) override {
    verify_hmac.Add(*request);
    reply->set_valid(request->hmac() == "vault:v1:good");
    return Status::OK;
  }

  // The data key GenerateDataKey returns: bytes 0, 1, 2, ... (32 for bits 0).
  static std::string DataKeyBytes(uint32_t bits) {
    std::string key;
    for (uint32_t i = 0; i < (bits == 0 ? 256 : bits) / 8; ++i) key.push_back(static_cast<char>(i));
    return key;
  }

  // Calls of every kind.
  size_t calls() const {
    return create.Get().size() + get.Get().size() + list.Get().size() + rotate.Get().size() +
           config.Get().size() + del.Get().size() + trim.Get().size() + encrypt.Get().size() +
           decrypt.Get().size() + rewrap.Get().size() + datakey.Get().size() + sign.Get().size() +
           verify.Get().size() + hmac.Get().size() + verify_hmac.Get().size();
  }

  RequestLog<v1::CreateKeyRequest> create;
  RequestLog<v1::GetKeyRequest> get;
  RequestLog<v1::ListKeysRequest> list;
  RequestLog<v1::RotateKeyRequest> rotate;
  RequestLog<v1::UpdateKeyConfigRequest> config;
  RequestLog<v1::DeleteKeyRequest> del;
  RequestLog<v1::TrimKeyRequest> trim;
  RequestLog<v1::EncryptRequest> encrypt;
  RequestLog<v1::DecryptRequest> decrypt;
  RequestLog<v1::RewrapRequest> rewrap;
  RequestLog<v1::GenerateDataKeyRequest> datakey;
  RequestLog<v1::SignRequest> sign;
  RequestLog<v1::VerifyRequest> verify;
  RequestLog<v1::HmacRequest> hmac;
  RequestLog<v1::VerifyHmacRequest> verify_hmac;

 private:
  static Status Canned(const std::string& name, v1::Key* reply) {
    if (name == "missing") {
      return Status(grpc::StatusCode::NOT_FOUND, "key \"missing\" not found");
    }
    *reply = CannedKey();
    reply->set_name(name);
    return Status::OK;
  }
};

using testing::CliPath;
using testing::CliResult;
using testing::ReadFile;
using testing::RunBinary;

class TransitCommandsTest : public ::testing::Test {
 protected:
  TransitCommandsTest()
      : identity_(testing::LocalhostIdentity()),
        ca_file_(testing::WriteTestFile("transit-ca.crt", identity_.cert_pem)),
        // Room for a 4 MiB input plus the rest of the request.
        server_(identity_, &fake_, "", 5 * kMiB) {}

  void SetUp() override { ASSERT_TRUE(server_.ok()); }

  // Runs `strongroom --addr <fake> --ca-file <its certificate> args...`.
  CliResult Run(const std::vector<std::string>& args, const std::string& input = "") {
    std::vector<std::string> argv = {CliPath(), "--addr", server_.addr(), "--ca-file", ca_file_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunBinary(argv, input);
  }

  testing::Identity identity_;
  std::string ca_file_;
  FakeTransit fake_;
  testing::TlsTestServer server_;
};

// Exit status 0 with nothing on standard error.
MATCHER(Succeeded, "") {
  *result_listener << "exit " << arg.exit_code << ", stderr: " << arg.err;
  return arg.exit_code == 0 && arg.err.empty();
}

// Exit status 1 with exactly "strongroom: <message>\n" on standard error.
MATCHER_P(FailedWith, message, "") {
  *result_listener << "exit " << arg.exit_code << ", stderr: " << arg.err;
  return arg.exit_code == 1 && arg.err == absl::StrCat("strongroom: ", message, "\n");
}

// ---- key ... ----

TEST_F(TransitCommandsTest, KeyGetPrintsAlignedFields) {
  CliResult r = Run({"key", "get", "payments"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out,
            "Name                    payments\n"
            "Type                    aes256-gcm\n"
            "Residency               hsm\n"
            "Latest version          2\n"
            "Min decryption version  1\n"
            "Min encryption version  0 (latest)\n"
            "Min available version   0\n"
            "Deletion allowed        false\n"
            "Derived                 true\n"
            "Convergent              false\n"
            "Auto-rotate period      24h\n"
            "Version 1               2026-11-23T20:00:00Z  12 encryptions\n"
            "Version 2               2026-11-24T20:00:00Z  1 encryption\n");
  ASSERT_EQ(fake_.get.Get().size(), 1u);
  EXPECT_EQ(fake_.get.Get()[0].name(), "payments");
}

TEST_F(TransitCommandsTest, JsonPrintsTheReplyMessageWhereverTheFlagIs) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--json", "key", "get", "payments"},
        std::vector<std::string>{"key", "get", "payments", "--json"}}) {
    CliResult r = Run(args);
    ASSERT_THAT(r, Succeeded());
    EXPECT_THAT(r.out, AllOf(StartsWith("{"), HasSubstr("\"name\": \"payments\""),
                             HasSubstr("\"type\": \"AES256_GCM\""),
                             HasSubstr("\"minEncryptionVersion\": 0"),
                             HasSubstr("\"autoRotatePeriod\": \"86400s\"")));
  }
}

TEST_F(TransitCommandsTest, KeyCreateSendsEveryFlagAndShowsTheFingerprint) {
  CliResult r = Run({"key", "create", "signer", "--type", "ecdsa-p256", "--hsm", "--derived",
                     "--convergent", "--auto-rotate", "24h"});
  ASSERT_THAT(r, Succeeded());
  std::vector<v1::CreateKeyRequest> requests = fake_.create.Get();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].name(), "signer");
  EXPECT_EQ(requests[0].type(), v1::ECDSA_P256);
  EXPECT_EQ(requests[0].residency(), v1::HSM);
  EXPECT_TRUE(requests[0].derived());
  EXPECT_TRUE(requests[0].convergent());
  ASSERT_TRUE(requests[0].has_auto_rotate_period());
  EXPECT_EQ(requests[0].auto_rotate_period().seconds(), 86400);
  EXPECT_EQ(requests[0].auto_rotate_period().nanos(), 0);
  EXPECT_THAT(r.out, AllOf(HasSubstr("Type                    ecdsa-p256\n"),
                           HasSubstr("Auto-rotate period      24h\n"),
                           HasSubstr(absl::StrCat("Version 1               2026-11-23T20:00:00Z  ",
                                                  kPublicKeyFingerprint, "\n"))));
}

TEST_F(TransitCommandsTest, KeyCreateDefaultsToWrappedAes256WithoutRotation) {
  CliResult r = Run({"key", "create", "payments"});
  ASSERT_THAT(r, Succeeded());
  std::vector<v1::CreateKeyRequest> requests = fake_.create.Get();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].type(), v1::AES256_GCM);
  EXPECT_EQ(requests[0].residency(), v1::WRAPPED);
  EXPECT_FALSE(requests[0].derived());
  EXPECT_FALSE(requests[0].convergent());
  EXPECT_FALSE(requests[0].has_auto_rotate_period());
  EXPECT_THAT(r.out,
              AllOf(HasSubstr("Auto-rotate period      never\n"),
                    HasSubstr("Version 1               2026-11-23T20:00:00Z  0 encryptions\n")));
}

TEST_F(TransitCommandsTest, KeyConfigSendsOnlyTheFlagsGiven) {
  ASSERT_THAT(Run({"key", "config", "payments", "--min-decryption-version", "3"}), Succeeded());
  ASSERT_THAT(
      Run({"key", "config", "payments", "--deletion-allowed", "false", "--auto-rotate", "never"}),
      Succeeded());
  ASSERT_THAT(Run({"key", "config", "payments", "--min-encryption-version", "0",
                   "--deletion-allowed", "true", "--auto-rotate", "1h30m"}),
              Succeeded());
  std::vector<v1::UpdateKeyConfigRequest> requests = fake_.config.Get();
  ASSERT_EQ(requests.size(), 3u);

  EXPECT_EQ(requests[0].name(), "payments");
  ASSERT_TRUE(requests[0].has_min_decryption_version());
  EXPECT_EQ(requests[0].min_decryption_version(), 3u);
  EXPECT_FALSE(requests[0].has_min_encryption_version());
  EXPECT_FALSE(requests[0].has_deletion_allowed());
  EXPECT_FALSE(requests[0].has_auto_rotate_period());

  EXPECT_FALSE(requests[1].has_min_decryption_version());
  EXPECT_FALSE(requests[1].has_min_encryption_version());
  ASSERT_TRUE(requests[1].has_deletion_allowed());
  EXPECT_FALSE(requests[1].deletion_allowed());
  ASSERT_TRUE(requests[1].has_auto_rotate_period());
  EXPECT_EQ(requests[1].auto_rotate_period().seconds(), 0);

  EXPECT_FALSE(requests[2].has_min_decryption_version());
  ASSERT_TRUE(requests[2].has_min_encryption_version());
  EXPECT_EQ(requests[2].min_encryption_version(), 0u);
  ASSERT_TRUE(requests[2].has_deletion_allowed());
  EXPECT_TRUE(requests[2].deletion_allowed());
  EXPECT_EQ(requests[2].auto_rotate_period().seconds(), 5400);
}

TEST_F(TransitCommandsTest, KeyConfigWithoutChangesIsAUsageError) {
  CliResult r = Run({"key", "config", "payments"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("nothing to change"));
  EXPECT_EQ(fake_.calls(), 0u);
}

TEST_F(TransitCommandsTest, KeyListAllFollowsThePages) {
  CliResult r = Run({"key", "list", "--all", "--page-size", "2"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "a\nb\nc\nd\n");
  std::vector<v1::ListKeysRequest> requests = fake_.list.Get();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].page_token(), "");
  EXPECT_EQ(requests[1].page_token(), "p2");
  EXPECT_EQ(requests[2].page_token(), "p3");
  for (const v1::ListKeysRequest& request : requests) EXPECT_EQ(request.page_size(), 2u);

  r = Run({"--json", "key", "list", "--all"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"d\""), HasSubstr("\"nextPageToken\": \"\"")));
}

TEST_F(TransitCommandsTest, KeyListShowsOnePageAndHowToGetTheNext) {
  CliResult r = Run({"key", "list"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "a\nb\n");
  EXPECT_THAT(r.err, HasSubstr("--page-token p2"));

  r = Run({"key", "list", "--page-token", "p3"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "d\n");
}

TEST_F(TransitCommandsTest, KeyRotateTrimAndDelete) {
  CliResult r = Run({"key", "rotate", "payments"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_THAT(r.out, HasSubstr("Latest version          2\n"));
  ASSERT_EQ(fake_.rotate.Get().size(), 1u);
  EXPECT_EQ(fake_.rotate.Get()[0].name(), "payments");

  r = Run({"key", "trim", "payments", "--min-available-version", "2"});
  ASSERT_THAT(r, Succeeded());
  ASSERT_EQ(fake_.trim.Get().size(), 1u);
  EXPECT_EQ(fake_.trim.Get()[0].name(), "payments");
  EXPECT_EQ(fake_.trim.Get()[0].min_available_version(), 2u);

  r = Run({"key", "delete", "payments"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "Deleted key payments\n");
  ASSERT_EQ(fake_.del.Get().size(), 1u);
  EXPECT_EQ(fake_.del.Get()[0].name(), "payments");
}

TEST_F(TransitCommandsTest, ServerErrorsAreOneLine) {
  CliResult r = Run({"key", "get", "missing"});
  EXPECT_THAT(r, FailedWith("NOT_FOUND: key \"missing\" not found"));
  EXPECT_EQ(r.out, "");
}

TEST_F(TransitCommandsTest, UsageErrorsMakeNoCall) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"key", "create", "k", "--type", "aes512"},
                                             {"key", "trim", "k"},
                                             {"encrypt", "k", "--version", "-1"},
                                             {"encrypt", "k", "--version", "0x10"},
                                             {"datakey", "k", "--bits", "64"},
                                             {"sign", "k", "--hash", "md5"},
                                             {"verify", "k"},
                                             {"decrypt", "k", "vault:v1:AA==", "--in", "-"},
                                             {"key"}}) {
    CliResult r = Run(args, "data");
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << ": " << r.err;
    EXPECT_THAT(r.err, StartsWith("strongroom: ")) << absl::StrJoin(args, " ");
  }
  EXPECT_EQ(fake_.calls(), 0u);
}

// ---- encrypt / decrypt / rewrap / datakey ----

const std::string& BinaryPlaintext() {
  static const std::string* const kBytes = new std::string("\0top\xff\n secret\0\r\n\0", 17);
  return *kBytes;
}

TEST_F(TransitCommandsTest, EncryptSendsStandardInputExactly) {
  CliResult r =
      Run({"encrypt", "payments", "--aad", "order-17", "--context", "tenant-a", "--version", "2"},
          BinaryPlaintext());
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "vault:v1:" + absl::Base64Escape(BinaryPlaintext()) + "\n");
  std::vector<v1::EncryptRequest> requests = fake_.encrypt.Get();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].key_name(), "payments");
  EXPECT_EQ(requests[0].key_version(), 2u);
  ASSERT_EQ(requests[0].items_size(), 1);
  EXPECT_EQ(requests[0].items(0).plaintext(), BinaryPlaintext());
  EXPECT_EQ(requests[0].items(0).associated_data(), "order-17");
  EXPECT_EQ(requests[0].items(0).context(), "tenant-a");
}

TEST_F(TransitCommandsTest, EncryptReadsAFileAndEmptyInput) {
  std::string path = testing::WriteTestFile("plaintext.bin", BinaryPlaintext());
  CliResult r = Run({"encrypt", "payments", "--in", path}, "not this");
  ASSERT_THAT(r, Succeeded());
  r = Run({"encrypt", "payments", "--in", "-"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "vault:v1:\n");
  std::vector<v1::EncryptRequest> requests = fake_.encrypt.Get();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].items(0).plaintext(), BinaryPlaintext());
  EXPECT_EQ(requests[0].key_version(), 0u);
  EXPECT_EQ(requests[1].items(0).plaintext(), "");

  r = Run({"encrypt", "payments", "--in", path + ".missing"});
  EXPECT_THAT(r, FailedWith(absl::StrCat("cannot read ", path, ".missing: no such file")));
}

TEST_F(TransitCommandsTest, ItemErrorsFailTheCommandWithoutEchoingPlaintext) {
  const std::string plaintext = "the launch code is 0000";
  CliResult r = Run({"encrypt", "payments", "--aad", "reject"}, plaintext);
  EXPECT_THAT(r, FailedWith("INVALID_ARGUMENT: associated data rejected"));
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, Not(HasSubstr("launch")));

  std::string out = testing::WriteTestFile("never-written.bin", "old");
  unlink(out.c_str());
  r = Run({"decrypt", "payments", "vault:v1:bad", "--out", out});
  EXPECT_THAT(r, FailedWith("INVALID_ARGUMENT: ciphertext failed authentication for key"));
  EXPECT_EQ(access(out.c_str(), F_OK), -1) << "output file created for a failed decrypt";

  r = Run({"encrypt", "twice"}, plaintext);
  EXPECT_THAT(r, FailedWith("strongroomd answered one item with 2 results"));
  EXPECT_EQ(r.out, "");
}

TEST_F(TransitCommandsTest, OversizedInputIsRefusedBeforeAnyCall) {
  const std::string too_big(4 * kMiB + 1, 'x');
  CliResult r = Run({"encrypt", "payments"}, too_big);
  EXPECT_THAT(r, FailedWith("plaintext from standard input is larger than 4 MiB, the most one "
                            "request may carry"));
  std::string path = testing::WriteTestFile("too-big.bin", too_big);
  r = Run({"sign", "payments", "--in", path});
  EXPECT_THAT(r, FailedWith(absl::StrCat("input from ", path,
                                         " is larger than 4 MiB, the most one request may carry")));
  r = Run({"hmac", "payments"}, too_big + too_big);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("larger than 4 MiB"));
  EXPECT_EQ(fake_.calls(), 0u);

  // Exactly 4 MiB is sent.
  r = Run({"encrypt", "payments"}, std::string(4 * kMiB, '\0'));
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "vault:v1:large\n");
  ASSERT_EQ(fake_.encrypt.Get().size(), 1u);
  EXPECT_EQ(fake_.encrypt.Get()[0].items(0).plaintext(), std::string(4 * kMiB, '\0'));
}

TEST_F(TransitCommandsTest, DecryptWritesThePlaintextBytesExactly) {
  const std::string ciphertext = "vault:v1:" + absl::Base64Escape(BinaryPlaintext());
  CliResult r = Run({"decrypt", "payments", ciphertext, "--aad", "order-17", "--context", "t"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, BinaryPlaintext());

  std::string out = testing::WriteTestFile("plaintext-out.bin", "");
  unlink(out.c_str());
  r = Run({"decrypt", "payments", ciphertext, "--out", out});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(ReadFile(out), BinaryPlaintext());
  struct stat info;
  ASSERT_EQ(stat(out.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  std::vector<v1::DecryptRequest> requests = fake_.decrypt.Get();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].key_name(), "payments");
  ASSERT_EQ(requests[0].items_size(), 1);
  EXPECT_EQ(requests[0].items(0).ciphertext(), ciphertext);
  EXPECT_EQ(requests[0].items(0).associated_data(), "order-17");
  EXPECT_EQ(requests[0].items(0).context(), "t");
}

TEST_F(TransitCommandsTest, DecryptReadsTheCiphertextFromInput) {
  const std::string ciphertext = "vault:v1:" + absl::Base64Escape(BinaryPlaintext());
  CliResult r = Run({"decrypt", "payments"}, ciphertext + "\n");
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, BinaryPlaintext());
  std::string path = testing::WriteTestFile("ciphertext.txt", ciphertext);
  r = Run({"decrypt", "payments", "--in", path});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, BinaryPlaintext());
  std::vector<v1::DecryptRequest> requests = fake_.decrypt.Get();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].items(0).ciphertext(), ciphertext);
  EXPECT_EQ(requests[1].items(0).ciphertext(), ciphertext);

  r = Run({"decrypt", "payments"}, " \n");
  EXPECT_THAT(r,
              FailedWith("no ciphertext on standard input: give it as an argument or with --in"));
  EXPECT_EQ(fake_.decrypt.Get().size(), 2u);
}

TEST_F(TransitCommandsTest, RewrapPrintsTheNewCiphertext) {
  CliResult r = Run(
      {"rewrap", "payments", "vault:v1:b2xk", "--context", "t", "--aad", "a", "--version", "3"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "vault:v3:cmV3cmFwcGVk\n");
  std::vector<v1::RewrapRequest> requests = fake_.rewrap.Get();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].key_name(), "payments");
  EXPECT_EQ(requests[0].key_version(), 3u);
  ASSERT_EQ(requests[0].items_size(), 1);
  EXPECT_EQ(requests[0].items(0).ciphertext(), "vault:v1:b2xk");
  EXPECT_EQ(requests[0].items(0).context(), "t");
  EXPECT_EQ(requests[0].items(0).associated_data(), "a");
}

TEST_F(TransitCommandsTest, DataKeyPrintsTheWrappedKeyAndOnRequestThePlaintext) {
  CliResult r = Run({"datakey", "payments"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "ciphertext: vault:v1:d3JhcHBlZA==\n");

  r = Run({"datakey", "payments", "--bits", "512", "--plaintext", "--context", "t"});
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, absl::StrCat("ciphertext: vault:v1:d3JhcHBlZA==\nplaintext: ",
                                absl::Base64Escape(FakeTransit::DataKeyBytes(512)), "\n"));

  std::vector<v1::GenerateDataKeyRequest> requests = fake_.datakey.Get();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].key_name(), "payments");
  EXPECT_EQ(requests[0].bits(), 0u);
  EXPECT_FALSE(requests[0].include_plaintext());
  EXPECT_EQ(requests[1].bits(), 512u);
  EXPECT_TRUE(requests[1].include_plaintext());
  EXPECT_EQ(requests[1].context(), "t");
}

// ---- sign / verify / hmac / verify-hmac ----

TEST_F(TransitCommandsTest, SignSendsTheInputAndOptions) {
  CliResult r = Run({"sign", "signer", "--hash", "sha2-384", "--algorithm", "pkcs1v15",
                     "--prehashed", "--context", "t", "--version", "2"},
                    BinaryPlaintext());
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "vault:v2:c2lnbmF0dXJl\n");
  r = Run({"sign", "signer"}, "message");
  ASSERT_THAT(r, Succeeded());

  std::vector<v1::SignRequest> requests = fake_.sign.Get();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].key_name(), "signer");
  EXPECT_EQ(requests[0].input(), BinaryPlaintext());
  EXPECT_EQ(requests[0].hash_algorithm(), v1::SHA2_384);
  EXPECT_EQ(requests[0].signature_algorithm(), v1::PKCS1V15);
  EXPECT_TRUE(requests[0].prehashed());
  EXPECT_EQ(requests[0].context(), "t");
  EXPECT_EQ(requests[0].key_version(), 2u);
  EXPECT_EQ(requests[1].input(), "message");
  EXPECT_EQ(requests[1].hash_algorithm(), v1::HASH_ALGORITHM_UNSPECIFIED);
  EXPECT_EQ(requests[1].signature_algorithm(), v1::SIGNATURE_ALGORITHM_UNSPECIFIED);
  EXPECT_FALSE(requests[1].prehashed());
  EXPECT_EQ(requests[1].key_version(), 0u);
}

TEST_F(TransitCommandsTest, VerifyExitsZeroWhenValidAndOneWhenInvalid) {
  CliResult r = Run({"verify", "signer", "vault:v1:good", "--hash", "sha2-512"}, "message");
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "valid\n");

  r = Run({"verify", "signer", "vault:v1:forged", "--algorithm", "pss", "--prehashed"}, "message");
  EXPECT_THAT(r, FailedWith("signature is invalid for this input under key signer"));
  EXPECT_EQ(r.out, "invalid\n");

  r = Run({"--json", "verify", "signer", "vault:v1:forged"}, "message");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("\"valid\": false"));

  std::vector<v1::VerifyRequest> requests = fake_.verify.Get();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].key_name(), "signer");
  EXPECT_EQ(requests[0].signature(), "vault:v1:good");
  EXPECT_EQ(requests[0].input(), "message");
  EXPECT_EQ(requests[0].hash_algorithm(), v1::SHA2_512);
  EXPECT_EQ(requests[1].signature_algorithm(), v1::PSS);
  EXPECT_TRUE(requests[1].prehashed());
}

TEST_F(TransitCommandsTest, HmacAndVerifyHmac) {
  CliResult r = Run({"hmac", "mac-key", "--hash", "sha2-256", "--version", "1"}, BinaryPlaintext());
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "vault:v1:aG1hYw==\n");
  std::vector<v1::HmacRequest> hmacs = fake_.hmac.Get();
  ASSERT_EQ(hmacs.size(), 1u);
  EXPECT_EQ(hmacs[0].key_name(), "mac-key");
  EXPECT_EQ(hmacs[0].input(), BinaryPlaintext());
  EXPECT_EQ(hmacs[0].hash_algorithm(), v1::SHA2_256);
  EXPECT_EQ(hmacs[0].key_version(), 1u);

  r = Run({"verify-hmac", "mac-key", "vault:v1:good", "--hash", "sha2-384"}, "message");
  ASSERT_THAT(r, Succeeded());
  EXPECT_EQ(r.out, "valid\n");
  r = Run({"verify-hmac", "mac-key", "vault:v1:other"}, "message");
  EXPECT_THAT(r, FailedWith("HMAC is invalid for this input under key mac-key"));
  EXPECT_EQ(r.out, "invalid\n");
  std::vector<v1::VerifyHmacRequest> verifies = fake_.verify_hmac.Get();
  ASSERT_EQ(verifies.size(), 2u);
  EXPECT_EQ(verifies[0].hmac(), "vault:v1:good");
  EXPECT_EQ(verifies[0].input(), "message");
  EXPECT_EQ(verifies[0].hash_algorithm(), v1::SHA2_384);
}

}  // namespace
}  // namespace strongroom::cli
