// End to end: access control and audit of the real strongroomd.
//
// The matrix: for every grantable operation, a token holding only that operation's policy
// succeeds at it and a token holding another operation's policy is refused with
// PERMISSION_DENIED; no credentials, untrusted or expired client certificates, and
// expired or revoked tokens are UNAUTHENTICATED; a trusted certificate gets the policies
// of its identity binding, and SIGHUP swaps bindings in. Afterwards the audit log verifies
// with `strongroom audit verify`, fails naming the line after an edit, a deleted line or a
// swap, and neither it nor the server log holds any plaintext, token, key or PIN of the run.
// Last, a full disk under the audit log makes requests fail closed, and they recover.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "strongroom/v1/system.grpc.pb.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Process;
using testing::ReadAll;
using testing::RunCommand;
using testing::Runfile;

// A test CA and client certificates, made with OpenSSL directly.
struct Pem {
  std::string cert;
  std::string key;
};

EVP_PKEY* NewKey() { return EVP_EC_gen("P-256"); }

std::string CertPem(X509* x) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `subject_cn` (and `uri` SAN if set), valid from now+from to now+to,
// signed by `ca` (self-signed CA when ca is null; an intermediate CA when `is_ca`).
Pem MakeCert(const Pem* ca, const std::string& subject_cn, const std::string& uri, long from,
             long to, bool is_ca = false) {
  EVP_PKEY* key = NewKey();
  X509* x = X509_new();
  X509_set_version(x, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(x), from);
  X509_gmtime_adj(X509_getm_notAfter(x), to);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(subject_cn.c_str()), -1, -1, 0);
  X509_set_pubkey(x, key);
  X509* issuer_cert = nullptr;
  EVP_PKEY* issuer_key = key;
  if (ca != nullptr) {
    BIO* b = BIO_new_mem_buf(ca->cert.data(), static_cast<int>(ca->cert.size()));
    issuer_cert = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    b = BIO_new_mem_buf(ca->key.data(), static_cast<int>(ca->key.size()));
    issuer_key = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  } else {
    X509_set_issuer_name(x, name);
  }
  if (ca == nullptr || is_ca) {
    X509* signer = ca != nullptr ? issuer_cert : x;
    AddExt(x, signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExt(x, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(x, issuer_cert, NID_ext_key_usage, "clientAuth");
    if (!uri.empty()) AddExt(x, issuer_cert, NID_subject_alt_name, ("URI:" + uri).c_str());
  }
  X509_sign(x, issuer_key, EVP_sha256());
  Pem out{CertPem(x), KeyPem(key)};
  if (issuer_key != key) EVP_PKEY_free(issuer_key);
  X509_free(issuer_cert);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

// The grantable operations; the config has a policy "op-<name>" for each, granting that
// operation on every resource.
const char* const kOperations[] = {
    "encrypt",    "decrypt",   "rewrap",   "datakey",   "sign",         "verify",    "hmac",
    "read",       "create",    "rotate",   "configure", "delete",       "pki.issue", "pki.sign",
    "pki.revoke", "pki.admin", "sys.seal", "sys.admin", "token.create",
};

class AccessE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto token = hsm::testing::SoftHsmToken::Create("access");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new hsm::testing::SoftHsmToken(*std::move(token));
  }
  static void TearDownTestSuite() {
    delete token_;
    token_ = nullptr;
  }

  void SetUp() override {
    static int n = 0;
    state_ = absl::StrCat(token_->dir, "/state", ++n);
    ca_ = MakeCert(nullptr, "test client CA", "", -60, 3600);
    ASSERT_TRUE(hsm::testing::WriteFile(token_->dir + "/client-ca.crt", ca_.cert, 0644).ok());
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      EXPECT_EQ(server_->Wait(), 0) << server_->output();
    }
  }

  // Writes the config: one policy per operation, the app identity bound to
  // `app_policy`, and `extra` YAML appended.
  // `policies` is YAML of further entries of auth.policies.
  void WriteConfig(const std::string& app_policy, const std::string& extra = "", bool http = false,
                   const std::string& policies = "") {
    std::string yaml =
        absl::StrCat("state_dir: ", state_, "\nhsm:\n  token_label: ", token_->label,
                     "\n  pin_file: ", token_->pin_file, "\ngrpc:\n  address: 127.0.0.1:0\nhttp:\n",
                     http ? "  address: 127.0.0.1:0\n" : "  enabled: false\n",
                     "auth:\n  client_ca_file: ", token_->dir, "/client-ca.crt\n  policies:\n");
    for (const char* op : kOperations) {
      absl::StrAppend(&yaml, "    - name: op-", op, "\n      rules:\n        - resource: \"*\"\n",
                      "          operations: [", op, "]\n");
    }
    absl::StrAppend(&yaml, extra_policies_, policies,
                    "  identities:\n    - identity: spiffe://test/app\n      policies: [",
                    app_policy, "]\n", extra);
    config_ = token_->dir + "/strongroom.yaml";
    ASSERT_TRUE(hsm::testing::WriteFile(config_, yaml, 0600).ok());
  }

  void StartServer() {
    server_ = std::make_unique<Process>();
    port_ = testing::StartStrongroomd(*server_, config_).grpc;
    ASSERT_NE(port_, 0) << server_->output();
    root_token_ = testing::RootToken(state_);
    ASSERT_TRUE(absl::StartsWith(root_token_, "srt.")) << root_token_;
  }

  // A channel with the given token and/or client certificate.
  std::shared_ptr<grpc::Channel> Channel(const std::string& token, const Pem* client = nullptr) {
    return testing::ServerChannel(state_, port_, token, client != nullptr ? client->cert : "",
                                  client != nullptr ? client->key : "");
  }

  std::string CreateToken(const std::vector<std::string>& policies, int ttl_seconds = 600) {
    return CreateTokenWithInfo(policies, ttl_seconds).token();
  }
  v1::CreateTokenResponse CreateTokenWithInfo(const std::vector<std::string>& policies,
                                              int ttl_seconds = 600) {
    auto stub = v1::Auth::NewStub(Channel(root_token_));
    grpc::ClientContext ctx;
    v1::CreateTokenRequest request;
    for (const std::string& p : policies) request.add_policies(p);
    request.mutable_ttl()->set_seconds(ttl_seconds);
    v1::CreateTokenResponse response;
    grpc::Status s = stub->CreateToken(&ctx, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    secrets_.push_back(response.token());
    return response;
  }

  static hsm::testing::SoftHsmToken* token_;
  Pem ca_;
  std::string state_, config_, root_token_;
  int port_ = 0;
  std::unique_ptr<Process> server_;
  std::vector<std::string> secrets_;  // must never appear in the audit or server log
  std::string extra_policies_;        // more entries of auth.policies, for WriteConfig
};

hsm::testing::SoftHsmToken* AccessE2eTest::token_ = nullptr;

// Runs one representative call of an operation with `channel`.
using OperationCall = std::function<grpc::Status(const std::shared_ptr<grpc::Channel>&)>;

template <typename Stub, typename Request, typename Response>
grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel,
                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  const Request& request, Response* response = nullptr) {
  auto stub = std::make_unique<Stub>(channel);
  grpc::ClientContext ctx;
  Response local;
  return ((*stub).*method)(&ctx, request, response != nullptr ? response : &local);
}

TEST_F(AccessE2eTest, MatrixAuditAndNoSecretsLeak) {
  WriteConfig("op-encrypt");
  StartServer();
  auto root = Channel(root_token_);
  secrets_.push_back(root_token_);
  const std::string plaintext = "matrix-plaintext-4f1d9a";
  secrets_.push_back(plaintext);
  secrets_.push_back(absl::Base64Escape(plaintext));
  secrets_.push_back(std::string(absl::StripTrailingAsciiWhitespace(ReadAll(token_->pin_file))));
  secrets_.push_back(ca_.key.substr(40, 40));

  // Setup as root: keys, an issuer and a role, a ciphertext, a signature, an HMAC.
  using T = v1::Transit::Stub;
  using P = v1::Pki::Stub;
  auto create = [&](const std::string& name, v1::KeyType type) {
    v1::CreateKeyRequest r;
    r.set_name(name);
    r.set_type(type);
    ASSERT_TRUE(Call(root, &T::CreateKey, r).ok());
  };
  create("k", v1::AES256_GCM);
  create("ks", v1::ECDSA_P256);
  v1::EncryptRequest enc;
  enc.set_key_name("k");
  enc.add_items()->set_plaintext(plaintext);
  v1::EncryptResponse encrypted;
  ASSERT_TRUE(Call(root, &T::Encrypt, enc, &encrypted).ok());
  const std::string ciphertext = encrypted.results(0).ciphertext();
  v1::SignRequest sign;
  sign.set_key_name("ks");
  sign.set_input("signed input");
  v1::SignResponse signature;
  ASSERT_TRUE(Call(root, &T::Sign, sign, &signature).ok());
  v1::CreateRootIssuerRequest issuer;
  issuer.set_issuer_name("root-ca");
  issuer.set_common_name("Access Test Root");
  ASSERT_TRUE(Call(root, &P::CreateRootIssuer, issuer).ok());
  v1::Role role;
  role.set_name("web");
  role.set_issuer_name("root-ca");
  role.add_allowed_domains("example.test");
  role.set_allow_subdomains(true);
  role.set_server_flag(true);
  role.mutable_ttl()->set_seconds(3600);
  role.mutable_max_ttl()->set_seconds(7200);
  ASSERT_TRUE(Call(root, &P::PutRole, role).ok());
  v1::IssueCertificateRequest issue;
  issue.set_role("web");
  issue.set_common_name("a.example.test");
  v1::IssuedCertificate issued;
  ASSERT_TRUE(Call(root, &P::IssueCertificate, issue, &issued).ok());
  secrets_.push_back(issued.private_key_pem().substr(40, 40));
  std::string csr = RunCommand({"sh", "-c",
                                absl::StrCat("openssl req -new -newkey ec -pkeyopt "
                                             "ec_paramgen_curve:P-256 -nodes -keyout ",
                                             token_->dir,
                                             "/csr.key -subj /CN=b.example.test "
                                             "2>/dev/null")})
                        .output;
  ASSERT_THAT(csr, HasSubstr("BEGIN CERTIFICATE REQUEST"));

  int deletable = 0;
  std::map<std::string, OperationCall> calls = {
      {"encrypt", [&](auto ch) { return Call(ch, &T::Encrypt, enc); }},
      {"decrypt",
       [&](auto ch) {
         v1::DecryptRequest r;
         r.set_key_name("k");
         r.add_items()->set_ciphertext(ciphertext);
         return Call(ch, &T::Decrypt, r);
       }},
      {"rewrap",
       [&](auto ch) {
         v1::RewrapRequest r;
         r.set_key_name("k");
         r.add_items()->set_ciphertext(ciphertext);
         return Call(ch, &T::Rewrap, r);
       }},
      {"datakey",
       [&](auto ch) {
         v1::GenerateDataKeyRequest r;
         r.set_key_name("k");
         r.set_include_plaintext(true);
         v1::GenerateDataKeyResponse response;
         grpc::Status s = Call(ch, &T::GenerateDataKey, r, &response);
         if (s.ok()) secrets_.push_back(absl::Base64Escape(response.plaintext()));
         return s;
       }},
      {"sign", [&](auto ch) { return Call(ch, &T::Sign, sign); }},
      {"verify",
       [&](auto ch) {
         v1::VerifyRequest r;
         r.set_key_name("ks");
         r.set_input("signed input");
         r.set_signature(signature.signature());
         return Call(ch, &T::Verify, r);
       }},
      {"hmac",
       [&](auto ch) {
         v1::HmacRequest r;
         r.set_key_name("k");
         r.set_input("mac input");
         return Call(ch, &T::Hmac, r);
       }},
      {"read",
       [&](auto ch) {
         v1::GetKeyRequest r;
         r.set_name("k");
         return Call(ch, &T::GetKey, r);
       }},
      {"create",
       [&](auto ch) {
         static int n = 0;
         v1::CreateKeyRequest r;
         r.set_name(absl::StrCat("created-", ++n));
         return Call(ch, &T::CreateKey, r);
       }},
      {"rotate",
       [&](auto ch) {
         v1::RotateKeyRequest r;
         r.set_name("k");
         return Call(ch, &T::RotateKey, r);
       }},
      {"configure",
       [&](auto ch) {
         v1::UpdateKeyConfigRequest r;
         r.set_name("k");
         r.set_min_decryption_version(1);
         return Call(ch, &T::UpdateKeyConfig, r);
       }},
      {"delete",
       [&](auto ch) {
         std::string name = absl::StrCat("doomed-", ++deletable);
         create(name, v1::AES256_GCM);
         v1::UpdateKeyConfigRequest allow;
         allow.set_name(name);
         allow.set_deletion_allowed(true);
         EXPECT_TRUE(Call(root, &T::UpdateKeyConfig, allow).ok());
         v1::DeleteKeyRequest r;
         r.set_name(name);
         return Call(ch, &T::DeleteKey, r);
       }},
      {"pki.issue", [&](auto ch) { return Call(ch, &P::IssueCertificate, issue); }},
      {"pki.sign",
       [&](auto ch) {
         v1::SignCertificateRequest r;
         r.set_role("web");
         r.set_csr_pem(csr);
         return Call(ch, &P::SignCertificate, r);
       }},
      {"pki.revoke",
       [&](auto ch) {
         v1::IssuedCertificate fresh;
         EXPECT_TRUE(Call(root, &P::IssueCertificate, issue, &fresh).ok());
         v1::RevokeCertificateRequest r;
         r.set_serial_number(fresh.serial_number());
         return Call(ch, &P::RevokeCertificate, r);
       }},
      {"pki.admin", [&](auto ch) { return Call(ch, &P::PutRole, role); }},
      {"sys.seal",
       [&](auto ch) {
         grpc::Status s = Call(ch, &v1::System::Stub::Seal, v1::SealRequest());
         if (s.ok()) {
           EXPECT_TRUE(Call(ch, &v1::System::Stub::Unseal, v1::UnsealRequest()).ok());
         }
         return s;
       }},
      {"sys.admin",
       [&](auto ch) {
         return Call(ch, &v1::System::Stub::RotateRootKey, v1::RotateRootKeyRequest());
       }},
      {"token.create",
       [&](auto ch) {
         v1::CreateTokenRequest r;
         r.add_policies("op-token.create");
         v1::CreateTokenResponse response;
         grpc::Status s = Call(ch, &v1::Auth::Stub::CreateToken, r, &response);
         if (s.ok()) secrets_.push_back(response.token());
         return s;
       }},
  };
  ASSERT_EQ(calls.size(), std::size(kOperations));

  for (size_t i = 0; i < std::size(kOperations); ++i) {
    const std::string op = kOperations[i];
    const std::string other = kOperations[(i + 1) % std::size(kOperations)];
    SCOPED_TRACE(op);
    grpc::Status allowed = calls[op](Channel(CreateToken({"op-" + op})));
    EXPECT_TRUE(allowed.ok()) << op << ": " << allowed.error_message();
    grpc::Status denied = calls[op](Channel(CreateToken({"op-" + other})));
    EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED) << denied.error_message();
    EXPECT_THAT(denied.error_message(), HasSubstr(absl::StrCat(" may not ", op, " ")));
    grpc::Status anonymous = calls[op](Channel(""));
    EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << anonymous.error_message();
  }

  // A token cannot grant what it does not hold, nor root.
  {
    v1::CreateTokenRequest r;
    r.add_policies("op-sys.admin");
    grpc::Status s =
        Call(Channel(CreateToken({"op-token.create"})), &v1::Auth::Stub::CreateToken, r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    r.set_policies(0, "root");
    EXPECT_EQ(Call(root, &v1::Auth::Stub::CreateToken, r).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }

  // Certificates: trusted + bound -> its policies; untrusted or expired -> UNAUTHENTICATED.
  Pem app = MakeCert(&ca_, "app", "spiffe://test/app", -60, 3600);
  secrets_.push_back(app.key.substr(40, 40));
  EXPECT_TRUE(calls["encrypt"](Channel("", &app)).ok());
  EXPECT_EQ(calls["decrypt"](Channel("", &app)).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  {
    v1::WhoAmIResponse who;
    ASSERT_TRUE(Call(Channel("", &app), &v1::Auth::Stub::WhoAmI, v1::WhoAmIRequest(), &who).ok());
    EXPECT_EQ(who.identity(), "spiffe://test/app");
    EXPECT_THAT(who.policies(), ::testing::ElementsAre("op-encrypt"));
  }
  Pem rogue_ca = MakeCert(nullptr, "rogue CA", "", -60, 3600);
  Pem rogue = MakeCert(&rogue_ca, "app", "spiffe://test/app", -60, 3600);
  grpc::Status s = calls["encrypt"](Channel("", &rogue));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("client certificate not trusted"));
  Pem expired = MakeCert(&ca_, "app", "spiffe://test/app", -7200, -3600);
  s = calls["encrypt"](Channel("", &expired));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("expired"));

  // SIGHUP: rebinding the identity takes effect without a restart.
  WriteConfig("op-decrypt");
  server_->Signal(SIGHUP);
  ASSERT_TRUE(server_->WaitForOutput("SIGHUP: reloaded")) << server_->output();
  EXPECT_EQ(calls["encrypt"](Channel("", &app)).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(calls["decrypt"](Channel("", &app)).ok());

  // Tokens: revoked and expired ones are refused.
  std::string revoked = CreateToken({"op-encrypt"});
  EXPECT_TRUE(calls["encrypt"](Channel(revoked)).ok());
  EXPECT_TRUE(Call(Channel(revoked), &v1::Auth::Stub::RevokeSelf, v1::RevokeSelfRequest()).ok());
  EXPECT_EQ(calls["encrypt"](Channel(revoked)).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  std::string short_lived = CreateToken({"op-encrypt"}, 1);
  EXPECT_TRUE(calls["encrypt"](Channel(short_lived)).ok());
  absl::SleepFor(absl::Milliseconds(2100));
  EXPECT_EQ(calls["encrypt"](Channel(short_lived)).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(calls["encrypt"](Channel("srt.0123456789abcdef0123456789abcdef.garbage")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // A method no service has: UNIMPLEMENTED naming it, and on record like any call.
  {
    grpc::GenericStub generic(Channel(""));
    grpc::ClientContext context;
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;  // an empty message
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&context, "/strongroom.v1.Transit/Probe", grpc::StubOptions(), &request,
                      &response, [&](grpc::Status s) {
                        status = std::move(s);
                        done.Notify();
                      });
    done.WaitForNotification();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_THAT(status.error_message(), HasSubstr("unknown method /strongroom.v1.Transit/Probe"));
  }

  // Revoke the bootstrap root token: nothing all-powerful remains.
  EXPECT_TRUE(Call(root, &v1::Auth::Stub::RevokeSelf, v1::RevokeSelfRequest()).ok());
  EXPECT_EQ(calls["read"](root).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0) << server_->output();
  const std::string server_log = server_->output();
  server_.reset();

  // The audit log verifies, has a line per request, and holds no secret.
  const std::string audit_path = state_ + "/audit/audit.log";
  const std::string audit = ReadAll(audit_path);
  EXPECT_THAT(audit, HasSubstr("\"operation\":\"pki.revoke\""));
  EXPECT_THAT(audit, HasSubstr("\"code\":\"PERMISSION_DENIED\""));
  EXPECT_THAT(audit, HasSubstr("\"code\":\"UNAUTHENTICATED\""));
  EXPECT_THAT(audit, HasSubstr("\"identity\":\"spiffe://test/app\""));
  EXPECT_THAT(audit,
              HasSubstr("\"resource\":\"grpc/strongroom.v1.Transit/Probe\",\"key_version\":0,"
                        "\"code\":\"UNIMPLEMENTED\""));
  for (const std::string& secret : secrets_) {
    ASSERT_FALSE(secret.empty());
    EXPECT_THAT(audit, Not(HasSubstr(secret))) << "audit log holds a secret";
    EXPECT_THAT(server_log, Not(HasSubstr(secret))) << "server log holds a secret";
  }
  const std::string cli = Runfile("tools/cli/strongroom");
  const std::string pub = state_ + "/audit/audit-signing.pub.pem";
  testing::RunResult ok = RunCommand({cli, "audit", "verify", audit_path, "--public-key", pub});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;

  std::vector<std::string> lines = absl::StrSplit(audit, '\n', absl::SkipEmpty());
  ASSERT_GT(lines.size(), 50u);
  auto verify_tampered = [&](std::vector<std::string> edited) {
    const std::string path = token_->dir + "/tampered.log";
    EXPECT_TRUE(hsm::testing::WriteFile(path, absl::StrJoin(edited, "\n") + "\n", 0600).ok());
    return RunCommand({cli, "audit", "verify", path, "--public-key", pub});
  };
  const size_t mid = lines.size() / 2;
  std::vector<std::string> edited = lines;
  edited[mid][edited[mid].find("\"code\":\"") + 8] ^= 1;
  testing::RunResult r = verify_tampered(edited);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat(":", mid + 2, ":"))) << r.output;
  edited = lines;
  edited.erase(edited.begin() + mid);
  r = verify_tampered(edited);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat(":", mid + 1, ":"))) << r.output;
  edited = lines;
  std::swap(edited[mid], edited[mid + 1]);
  r = verify_tampered(edited);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat(":", mid + 1, ":"))) << r.output;
}

// The Vault-compatible HTTP API takes client certificates too (optional mTLS): a trusted,
// bound identity is served without a token, an untrusted one is refused.
TEST_F(AccessE2eTest, HttpAcceptsClientCertificates) {
  WriteConfig("op-encrypt", "", /*http=*/true);
  StartServer();
  const int http_port = testing::WaitForPort(*server_, testing::kHttpListening);
  ASSERT_NE(http_port, 0) << server_->output();
  v1::CreateKeyRequest create;
  create.set_name("k");
  ASSERT_TRUE(Call(Channel(root_token_), &v1::Transit::Stub::CreateKey, create).ok());
  auto curl = [&](const Pem& client) {
    const std::string cert = token_->dir + "/http-client.crt";
    const std::string key = token_->dir + "/http-client.key";
    EXPECT_TRUE(hsm::testing::WriteFile(cert, client.cert, 0600).ok());
    EXPECT_TRUE(hsm::testing::WriteFile(key, client.key, 0600).ok());
    return RunCommand({"curl", "-sS", "--max-time", "10", "--cacert", testing::ServerCert(state_),
                       "--resolve", absl::StrCat("localhost:", http_port, ":127.0.0.1"), "--cert",
                       cert, "--key", key, "-d", "{\"plaintext\":\"aGk=\"}",
                       absl::StrCat("https://localhost:", http_port, "/v1/transit/encrypt/k")});
  };
  testing::RunResult ok = curl(MakeCert(&ca_, "app", "spiffe://test/app", -60, 3600));
  EXPECT_THAT(ok.output, HasSubstr("\"ciphertext\":\"vault:v1:")) << ok.output;
  Pem rogue_ca = MakeCert(nullptr, "rogue CA", "", -60, 3600);
  testing::RunResult rogue = curl(MakeCert(&rogue_ca, "app", "spiffe://test/app", -60, 3600));
  EXPECT_THAT(rogue.output, HasSubstr("client certificate not trusted")) << rogue.output;

  // Paths and methods nothing serves are answered, and audited, like every request.
  auto status_of = [&](const std::string& method, const std::string& path) {
    return RunCommand({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                       "-X", method, "--cacert", testing::ServerCert(state_), "--resolve",
                       absl::StrCat("localhost:", http_port, ":127.0.0.1"),
                       absl::StrCat("https://localhost:", http_port, path)})
        .output;
  };
  EXPECT_EQ(status_of("GET", "/v1/probe/../etc"), "404");
  EXPECT_EQ(status_of("DELETE", "/metrics"), "405");
  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0) << server_->output();
  const std::string audit = ReadAll(state_ + "/audit/audit.log");
  EXPECT_THAT(audit, HasSubstr("\"resource\":\"http/v1/etc\",\"key_version\":0,"
                               "\"code\":\"NOT_FOUND\",\"http_status\":404"));
  EXPECT_THAT(audit, HasSubstr("\"resource\":\"http/metrics\",\"key_version\":0,"
                               "\"code\":\"UNIMPLEMENTED\",\"http_status\":405"));
}

// Client chains as TLS stacks send them, over gRPC and HTTPS: leaf alone, leaf + root,
// leaf + intermediate, leaf + intermediate + root, from an external CA (auth.client_ca_file,
// its root) and from a Strongroom intermediate issuer (root -> intermediate -> leaf, the
// intermediate in auth.client_ca_issuers). A chain topped with a root of the client's own
// making is refused.
TEST_F(AccessE2eTest, ClientChainsAreAcceptedAsClientsSendThem) {
  WriteConfig("op-encrypt", "  client_ca_issuers: [chain-clients]\n", /*http=*/true);
  StartServer();
  const int http_port = testing::WaitForPort(*server_, testing::kHttpListening);
  ASSERT_NE(http_port, 0) << server_->output();
  using P = v1::Pki::Stub;
  auto root = Channel(root_token_);
  v1::CreateKeyRequest create;
  create.set_name("k");
  ASSERT_TRUE(Call(root, &v1::Transit::Stub::CreateKey, create).ok());

  // Strongroom: root -> intermediate (the trusted issuer) -> leaf.
  v1::CreateRootIssuerRequest root_issuer;
  root_issuer.set_issuer_name("chain-root");
  root_issuer.set_common_name("Chain Test Root");
  v1::Issuer sr_root;
  ASSERT_TRUE(Call(root, &P::CreateRootIssuer, root_issuer, &sr_root).ok());
  v1::CreateIntermediateIssuerRequest intermediate;
  intermediate.set_issuer_name("chain-clients");
  intermediate.set_common_name("Chain Test Clients");
  v1::CreateIntermediateIssuerResponse csr;
  ASSERT_TRUE(Call(root, &P::CreateIntermediateIssuer, intermediate, &csr).ok());
  v1::SignIntermediateRequest sign;
  sign.set_issuer_name("chain-root");
  sign.set_csr_pem(csr.csr_pem());
  v1::SignedCertificate signed_intermediate;
  ASSERT_TRUE(Call(root, &P::SignIntermediate, sign, &signed_intermediate).ok());
  v1::ImportIssuerCertificateRequest import;
  import.set_issuer_name("chain-clients");
  import.set_certificate_pem(signed_intermediate.certificate_pem());
  import.set_chain_pem(sr_root.certificate_pem());
  grpc::Status s = Call(root, &P::ImportIssuerCertificate, import);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::Role role;
  role.set_name("chain-workloads");
  role.set_issuer_name("chain-clients");
  role.add_allowed_uri_sans("spiffe://test/*");
  role.set_client_flag(true);
  role.mutable_ttl()->set_seconds(3600);
  role.mutable_max_ttl()->set_seconds(7200);
  ASSERT_TRUE(Call(root, &P::PutRole, role).ok());
  v1::IssueCertificateRequest issue;
  issue.set_role("chain-workloads");
  issue.add_uri_sans("spiffe://test/app");
  v1::IssuedCertificate issued;
  s = Call(root, &P::IssueCertificate, issue, &issued);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string sr_leaf = issued.certificate_pem();
  const std::string sr_intermediate = signed_intermediate.certificate_pem();

  // External: ca_ (the client_ca_file) -> intermediate -> leaf, and a leaf ca_ signed.
  const Pem ext_intermediate = MakeCert(&ca_, "external intermediate", "", -60, 3600, true);
  const Pem ext_leaf = MakeCert(&ext_intermediate, "app", "spiffe://test/app", -60, 3600);
  const Pem ext_direct = MakeCert(&ca_, "app", "spiffe://test/app", -60, 3600);
  // A forger's own root and intermediate, names copied from the external ones.
  const Pem forged_root = MakeCert(nullptr, "test client CA", "", -60, 3600);
  const Pem forged_intermediate =
      MakeCert(&forged_root, "external intermediate", "", -60, 3600, true);
  const Pem forged_leaf = MakeCert(&forged_intermediate, "app", "spiffe://test/app", -60, 3600);

  struct Shape {
    std::string name, chain, key;
    bool trusted;
  };
  const std::vector<Shape> shapes = {
      {"strongroom leaf", sr_leaf, issued.private_key_pem(), true},
      {"strongroom leaf + intermediate", sr_leaf + sr_intermediate, issued.private_key_pem(),
       true},
      {"strongroom leaf + intermediate + root", sr_leaf + sr_intermediate + sr_root.certificate_pem(),
       issued.private_key_pem(), true},
      {"external leaf", ext_direct.cert, ext_direct.key, true},
      // The shape issue 18 was filed for: the leaf with the root that issued it.
      {"external leaf + root", ext_direct.cert + ca_.cert, ext_direct.key, true},
      {"external leaf + intermediate", ext_leaf.cert + ext_intermediate.cert, ext_leaf.key, true},
      {"external leaf + intermediate + root", ext_leaf.cert + ext_intermediate.cert + ca_.cert,
       ext_leaf.key, true},
      {"forged leaf + intermediate + root",
       forged_leaf.cert + forged_intermediate.cert + forged_root.cert, forged_leaf.key, false},
  };
  v1::EncryptRequest enc;
  enc.set_key_name("k");
  enc.add_items()->set_plaintext("x");
  for (const Shape& shape : shapes) {
    Pem client{shape.chain, shape.key};
    s = Call(Channel("", &client), &v1::Transit::Stub::Encrypt, enc);
    if (shape.trusted) {
      EXPECT_TRUE(s.ok()) << "gRPC, " << shape.name << ": " << s.error_message();
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "gRPC, " << shape.name;
    }
    const std::string cert = token_->dir + "/chain-client.crt";
    const std::string key = token_->dir + "/chain-client.key";
    ASSERT_TRUE(hsm::testing::WriteFile(cert, shape.chain, 0600).ok());
    ASSERT_TRUE(hsm::testing::WriteFile(key, shape.key, 0600).ok());
    testing::RunResult r = RunCommand(
        {"curl", "-sS", "--max-time", "10", "--cacert", testing::ServerCert(state_), "--resolve",
         absl::StrCat("localhost:", http_port, ":127.0.0.1"), "--cert", cert, "--key", key, "-d",
         "{\"plaintext\":\"aGk=\"}",
         absl::StrCat("https://localhost:", http_port, "/v1/transit/encrypt/k")});
    if (shape.trusted) {
      EXPECT_THAT(r.output, HasSubstr("\"ciphertext\":\"vault:v1:")) << "HTTPS, " << shape.name;
    } else {
      EXPECT_THAT(r.output, HasSubstr("client certificate not trusted")) << "HTTPS, " << shape.name;
    }
  }
}

// A client certificate from a Strongroom issuer in auth.client_ca_issuers authenticates
// until it is revoked; the very next call after RevokeCertificate is refused, on the same
// connection (the trusted verdict was cached), while another certificate of the issuer
// still works.
TEST_F(AccessE2eTest, RevokedStrongroomClientCertificateIsRefusedAtOnce) {
  WriteConfig("op-encrypt", "  client_ca_issuers: [clients]\n");
  StartServer();
  using P = v1::Pki::Stub;
  auto root = Channel(root_token_);
  v1::CreateKeyRequest create;
  create.set_name("k");
  ASSERT_TRUE(Call(root, &v1::Transit::Stub::CreateKey, create).ok());
  // Created after start: trusted at once.
  v1::CreateRootIssuerRequest issuer;
  issuer.set_issuer_name("clients");
  issuer.set_common_name("Access Test Clients");
  ASSERT_TRUE(Call(root, &P::CreateRootIssuer, issuer).ok());
  v1::Role role;
  role.set_name("workloads");
  role.set_issuer_name("clients");
  role.add_allowed_uri_sans("spiffe://test/*");
  role.set_client_flag(true);
  role.mutable_ttl()->set_seconds(3600);
  role.mutable_max_ttl()->set_seconds(7200);
  ASSERT_TRUE(Call(root, &P::PutRole, role).ok());
  auto issue = [&] {
    v1::IssueCertificateRequest request;
    request.set_role("workloads");
    request.add_uri_sans("spiffe://test/app");
    v1::IssuedCertificate issued;
    grpc::Status s = Call(root, &P::IssueCertificate, request, &issued);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return issued;
  };
  const v1::IssuedCertificate revoked = issue();
  const v1::IssuedCertificate kept = issue();
  Pem revoked_pem{revoked.certificate_pem(), revoked.private_key_pem()};
  Pem kept_pem{kept.certificate_pem(), kept.private_key_pem()};
  auto app = Channel("", &revoked_pem);
  v1::EncryptRequest enc;
  enc.set_key_name("k");
  enc.add_items()->set_plaintext("x");
  grpc::Status s = Call(app, &v1::Transit::Stub::Encrypt, enc);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(Call(app, &v1::Transit::Stub::Encrypt, enc).ok());  // from the verdict cache

  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_number(revoked.serial_number());
  ASSERT_TRUE(Call(root, &P::RevokeCertificate, revoke).ok());
  s = Call(app, &v1::Transit::Stub::Encrypt, enc);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("client certificate revoked"));
  s = Call(Channel("", &revoked_pem), &v1::Transit::Stub::Encrypt, enc);  // a new connection
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  s = Call(Channel("", &kept_pem), &v1::Transit::Stub::Encrypt, enc);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// Refused tokens get an HSM-keyed token_hmac in their audit line only within
// auth.refused_token_hmacs_per_second, so a flood of bad tokens cannot use up the HSM;
// every refusal is still recorded.
TEST_F(AccessE2eTest, RefusedTokenHmacsAreBounded) {
  WriteConfig("op-encrypt", "  refused_token_hmacs_per_second: 2\n");
  StartServer();
  constexpr int kAttempts = 40;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kAttempts; ++i) {
    grpc::Status s = Call(Channel(absl::StrCat("srt.bogus-", i)), &v1::System::Stub::GetStatus,
                          v1::GetStatusRequest());
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0) << server_->output();
  int refused = 0, hashed = 0;
  for (absl::string_view line :
       absl::StrSplit(ReadAll(state_ + "/audit/audit.log"), '\n', absl::SkipEmpty())) {
    if (!absl::StrContains(line, "\"code\":\"UNAUTHENTICATED\"")) continue;
    ++refused;
    if (absl::StrContains(line, "\"token_hmac\":\"")) ++hashed;
  }
  EXPECT_EQ(refused, kAttempts);
  EXPECT_GE(hashed, 2);  // the first second's burst
  EXPECT_LE(hashed, 2 + static_cast<int>(2 * elapsed) + 1) << elapsed << " s";
}

// A token that may create tokens cannot make one that outlives it, with a longer period, or
// periodic without `token.periodic`.
TEST_F(AccessE2eTest, ChildTokensNeverOutliveTheirParent) {
  WriteConfig("op-encrypt", "", /*http=*/false,
              "    - name: periodic\n      rules:\n        - resource: auth/tokens\n"
              "          operations: [token.periodic]\n");
  StartServer();
  v1::CreateTokenResponse parent = CreateTokenWithInfo({"op-token.create", "periodic"}, 600);
  const int64_t parent_expiry = parent.info().expire_time().seconds();
  auto child = [&](const std::string& token, int64_t ttl, int64_t period, int64_t max_ttl,
                   v1::TokenInfo* info = nullptr) {
    v1::CreateTokenRequest r;
    r.add_policies("op-token.create");
    if (ttl > 0) r.mutable_ttl()->set_seconds(ttl);
    if (period > 0) r.mutable_period()->set_seconds(period);
    if (max_ttl > 0) r.mutable_explicit_max_ttl()->set_seconds(max_ttl);
    v1::CreateTokenResponse response;
    grpc::Status s = Call(Channel(token), &v1::Auth::Stub::CreateToken, r, &response);
    if (s.ok()) secrets_.push_back(response.token());
    if (info != nullptr) *info = response.info();
    return s;
  };
  // Longer than the parent's remaining life: refused, naming the field.
  grpc::Status s = child(parent.token(), 7200, 0, 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("ttl"));
  s = child(parent.token(), 300, 0, 7200);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("explicit_max_ttl"));
  // Within it: created, and its maximum is the parent's expiry (also by default).
  v1::TokenInfo info;
  ASSERT_TRUE(child(parent.token(), 300, 0, 0, &info).ok());
  EXPECT_LE(info.max_expire_time().seconds(), parent_expiry);
  ASSERT_TRUE(child(parent.token(), 0, 0, 0, &info).ok());  // default ttl (1h) is cut short
  EXPECT_LE(info.expire_time().seconds(), parent_expiry);
  EXPECT_LE(info.max_expire_time().seconds(), parent_expiry);
  // Periodic: no longer than the parent's own ttl or period, and bounded by its expiry.
  s = child(parent.token(), 0, 3600, 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("period"));
  ASSERT_TRUE(child(parent.token(), 0, 300, 0, &info).ok());
  EXPECT_EQ(info.period().seconds(), 300);
  EXPECT_TRUE(info.has_max_expire_time());
  EXPECT_LE(info.max_expire_time().seconds(), parent_expiry);
  // Periodic tokens need token.periodic, even for a token that may create tokens.
  s = child(CreateToken({"op-token.create"}), 0, 300, 0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("token.periodic"));
}

// renew-self with a huge increment extends a token by at most its own ttl.
TEST_F(AccessE2eTest, RenewSelfNeverExceedsTheTokensTtl) {
  WriteConfig("op-encrypt");
  StartServer();
  const int64_t start = absl::ToUnixSeconds(absl::Now());
  const std::string short_lived = CreateToken({"op-encrypt"}, 600);
  v1::RenewSelfRequest renew;
  renew.mutable_increment()->set_seconds(100 * 3600);
  v1::TokenInfo renewed;
  ASSERT_TRUE(Call(Channel(short_lived), &v1::Auth::Stub::RenewSelf, renew, &renewed).ok());
  EXPECT_LE(renewed.expire_time().seconds(), absl::ToUnixSeconds(absl::Now()) + 600);
  EXPECT_GE(renewed.expire_time().seconds(), start + 600);
}

// A caller who knows an accessor cannot make each refused attempt cost HSM work beyond
// auth.refused_token_hmacs_per_second: counted with the server's own PKCS#11 call metrics.
TEST_F(AccessE2eTest, RefusedAttemptsWithAKnownAccessorAreBounded) {
  WriteConfig("op-encrypt", "  refused_token_hmacs_per_second: 2\n", /*http=*/true);
  StartServer();
  const int http_port = testing::WaitForPort(*server_, testing::kHttpListening);
  ASSERT_NE(http_port, 0) << server_->output();
  // The number of HMACs the HSM computed so far (C_SignInit: one per HMAC or signature).
  auto hsm_sign_inits = [&]() -> int {
    testing::RunResult r = RunCommand({"curl", "-sS", "--fail", "--max-time", "10", "--cacert",
                                       testing::ServerCert(state_), "--resolve",
                                       absl::StrCat("localhost:", http_port, ":127.0.0.1"), "-H",
                                       "X-Vault-Token: " + root_token_,
                                       absl::StrCat("https://localhost:", http_port, "/metrics")});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const std::string marker = "strongroom_hsm_calls_total{function=\"C_SignInit\",result=\"ok\"} ";
    size_t at = r.output.find(marker);
    if (at == std::string::npos) return 0;
    return std::atoi(r.output.c_str() + at + marker.size());
  };
  // Tokens whose accessors an attacker learned (from an error or the audit log), never used
  // since the server started, so none is in its cache.
  std::vector<std::string> accessors;
  for (int i = 0; i < 3; ++i) {
    accessors.push_back(CreateTokenWithInfo({"op-encrypt"}).info().accessor());
  }
  hsm_sign_inits();  // the root token is verified and cached by now
  const int before = hsm_sign_inits();
  constexpr int kAttempts = 60;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kAttempts; ++i) {
    // Well formed: srt.<accessor>.<43 base64url characters>, a different secret each time.
    std::string secret = absl::StrCat(i, "-", std::string(43, 'A')).substr(0, 43);
    grpc::Status s =
        Call(Channel(absl::StrCat("srt.", accessors[i % accessors.size()], ".", secret)),
             &v1::System::Stub::GetStatus, v1::GetStatusRequest());
    EXPECT_NE(s.error_code(), grpc::StatusCode::OK);
    EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const int spent = hsm_sign_inits() - before;
  // One first check per accessor (each also within the first-check budget, as large as the
  // refusal budget), the refusal budget's burst (2) and rate (2/s) for everything else
  // (token checks and audit token_hmacs alike), and at most one audit checkpoint.
  EXPECT_LE(spent, static_cast<int>(accessors.size()) + 2 + static_cast<int>(2 * elapsed) + 2)
      << elapsed << " s";
}

// Lists show only the entries the caller may read, and paging over them stays complete.
TEST_F(AccessE2eTest, ListsShowOnlyWhatTheCallerMayRead) {
  WriteConfig("op-encrypt", "", /*http=*/false,
              "    - name: app-reader\n      rules:\n"
              "        - resource: transit/keys\n          operations: [read]\n"
              "        - resource: transit/keys/app-*\n          operations: [read]\n"
              "        - resource: pki/roles\n          operations: [read]\n"
              "        - resource: pki/roles/app-*\n          operations: [read]\n"
              "        - resource: auth/tokens\n          operations: [read]\n");
  StartServer();
  auto root = Channel(root_token_);
  for (const char* name : {"aaa", "app-1", "app-2", "apq", "zzz", "app-3"}) {
    v1::CreateKeyRequest create;
    create.set_name(name);
    ASSERT_TRUE(Call(root, &v1::Transit::Stub::CreateKey, create).ok()) << name;
  }
  auto reader = Channel(CreateToken({"app-reader"}));
  for (uint32_t page_size : {0u, 1u, 2u}) {
    SCOPED_TRACE(page_size);
    std::vector<std::string> seen;
    v1::ListKeysRequest list;
    list.set_page_size(page_size);
    for (int pages = 0; pages < 20; ++pages) {
      v1::ListKeysResponse response;
      grpc::Status s = Call(reader, &v1::Transit::Stub::ListKeys, list, &response);
      ASSERT_TRUE(s.ok()) << s.error_message();
      if (page_size > 0) EXPECT_LE(response.names_size(), static_cast<int>(page_size));
      seen.insert(seen.end(), response.names().begin(), response.names().end());
      if (response.next_page_token().empty()) break;
      list.set_page_token(response.next_page_token());
    }
    EXPECT_THAT(seen, ::testing::ElementsAre("app-1", "app-2", "app-3"));
  }
  v1::ListKeysResponse all;
  ASSERT_TRUE(Call(root, &v1::Transit::Stub::ListKeys, v1::ListKeysRequest(), &all).ok());
  EXPECT_EQ(all.names_size(), 6);

  v1::CreateRootIssuerRequest issuer;
  issuer.set_issuer_name("ca");
  issuer.set_common_name("Test CA");
  ASSERT_TRUE(Call(root, &v1::Pki::Stub::CreateRootIssuer, issuer).ok());
  for (const char* name : {"app-web", "db"}) {
    v1::Role role;
    role.set_name(name);
    role.set_issuer_name("ca");
    ASSERT_TRUE(Call(root, &v1::Pki::Stub::PutRole, role).ok()) << name;
  }
  v1::ListRolesResponse roles;
  ASSERT_TRUE(Call(reader, &v1::Pki::Stub::ListRoles, v1::ListRolesRequest(), &roles).ok());
  EXPECT_THAT(roles.names(), ::testing::ElementsAre("app-web"));
  // Tokens: listed only where `read` on auth/tokens/<accessor> is granted (none here).
  v1::ListTokensResponse tokens;
  ASSERT_TRUE(Call(reader, &v1::Auth::Stub::ListTokens, v1::ListTokensRequest(), &tokens).ok());
  EXPECT_EQ(tokens.tokens_size(), 0);
  ASSERT_TRUE(Call(root, &v1::Auth::Stub::ListTokens, v1::ListTokensRequest(), &tokens).ok());
  EXPECT_GE(tokens.tokens_size(), 2);
}

// Recovery: `strongroomd generate-root-token` (run by whoever holds the HSM PIN file)
// writes a new one-time root token and revokes the one it replaces.
TEST_F(AccessE2eTest, GenerateRootTokenReplacesTheRootToken) {
  WriteConfig("op-encrypt");
  StartServer();
  const std::string first = root_token_;
  auto status = [&](const std::string& token) {
    return Call(Channel(token), &v1::System::Stub::GetStatus, v1::GetStatusRequest()).error_code();
  };
  EXPECT_EQ(status(first), grpc::StatusCode::OK);
  testing::RunResult r =
      RunCommand({Runfile("server/strongroomd"), "generate-root-token", "--config", config_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("root-token"));
  const std::string second = testing::RootToken(state_);
  EXPECT_NE(second, first);
  EXPECT_THAT(r.output, Not(HasSubstr(second)));
  // The running server verifies cached tokens against storage again every 5 s.
  grpc::StatusCode code = grpc::StatusCode::OK;
  for (int i = 0; i < 70 && code == grpc::StatusCode::OK; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    code = status(first);
  }
  EXPECT_EQ(code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status(second), grpc::StatusCode::OK);
}

// The audit log on a tiny tmpfs in a private mount namespace: once it is full, requests
// fail closed with UNAVAILABLE; once space is back, they succeed again and the log verifies.
TEST_F(AccessE2eTest, FullDiskFailsClosedAndRecovers) {
  ASSERT_EQ(unshare(CLONE_NEWNS), 0) << "needs root (CAP_SYS_ADMIN) for a private tmpfs";
  ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
  const std::string dir = token_->dir + "/audit-fs";
  ASSERT_EQ(RunCommand({"mkdir", "-p", dir}).exit_code, 0);
  ASSERT_EQ(mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=256k"), 0);
  WriteConfig("op-encrypt", absl::StrCat("audit:\n  path: ", dir, "/audit.log\n"));
  StartServer();
  auto root = Channel(root_token_);
  v1::CreateKeyRequest create;
  create.set_name("k");
  ASSERT_TRUE(Call(root, &v1::Transit::Stub::CreateKey, create).ok());
  v1::EncryptRequest enc;
  enc.set_key_name("k");
  enc.add_items()->set_plaintext("x");
  ASSERT_TRUE(Call(root, &v1::Transit::Stub::Encrypt, enc).ok());

  // Fill the file system. The log's last page may still take a few lines; after that
  // every request is refused.
  RunCommand({"sh", "-c", absl::StrCat("dd if=/dev/zero of=", dir, "/filler bs=1k 2>/dev/null")});
  grpc::Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) s = Call(root, &v1::Transit::Stub::Encrypt, enc);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("audit"));
  for (int i = 0; i < 3; ++i) {
    s = Call(root, &v1::Transit::Stub::Encrypt, enc);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  }

  // Free it: the next request may still be refused (it is the one that finds space), then
  // service resumes.
  ASSERT_EQ(unlink((dir + "/filler").c_str()), 0);
  Call(root, &v1::Transit::Stub::Encrypt, enc);
  s = Call(root, &v1::Transit::Stub::Encrypt, enc);
  EXPECT_TRUE(s.ok()) << s.error_message();

  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0) << server_->output();
  server_.reset();
  testing::RunResult r =
      RunCommand({Runfile("tools/cli/strongroom"), "audit", "verify", dir + "/audit.log"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  umount(dir.c_str());
}


// "AB:CD" for "abcd": a serial as `openssl x509 -text` prints it.
std::string WithColons(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) out += ':';
    out += hex.substr(i, 2);
  }
  return out;
}

// Resources are put in the engines' form before the policy check: a deny on a certificate's
// serial holds however the serial is spelled (upper case, colons), and what the audit log
// records is the serial the engine acted on.
TEST_F(AccessE2eTest, SerialSpellingCannotDodgeADeny) {
  WriteConfig("op-encrypt");
  StartServer();
  auto root = Channel(root_token_);
  using P = v1::Pki::Stub;
  v1::CreateRootIssuerRequest issuer;
  issuer.set_issuer_name("ca");
  issuer.set_common_name("Serial Test CA");
  ASSERT_TRUE(Call(root, &P::CreateRootIssuer, issuer).ok());
  v1::Role role;
  role.set_name("web");
  role.set_issuer_name("ca");
  role.add_allowed_domains("example.test");
  role.set_allow_subdomains(true);
  role.set_server_flag(true);
  ASSERT_TRUE(Call(root, &P::PutRole, role).ok());
  v1::IssueCertificateRequest issue;
  issue.set_role("web");
  issue.set_common_name("a.example.test");
  v1::IssuedCertificate guarded, other;
  ASSERT_TRUE(Call(root, &P::IssueCertificate, issue, &guarded).ok());
  ASSERT_TRUE(Call(root, &P::IssueCertificate, issue, &other).ok());
  const std::string serial = guarded.serial_number();
  ASSERT_EQ(serial, absl::AsciiStrToLower(serial));
  ASSERT_NE(serial, absl::AsciiStrToUpper(serial)) << "a serial of digits only: run again";

  extra_policies_ = absl::StrCat(
      "    - name: revoker\n      rules:\n        - resource: pki/certs/*\n"
      "          operations: [pki.revoke, read]\n        - resource: pki/certs/",
      serial, "\n          operations: [pki.revoke, read]\n          effect: deny\n");
  WriteConfig("op-encrypt");
  server_->Signal(SIGHUP);
  ASSERT_TRUE(server_->WaitForOutput("SIGHUP: reloaded")) << server_->output();
  auto revoker = Channel(CreateToken({"revoker"}));

  for (const std::string& spelling :
       {serial, absl::AsciiStrToUpper(serial), WithColons(serial),
        WithColons(absl::AsciiStrToUpper(serial))}) {
    SCOPED_TRACE(spelling);
    v1::RevokeCertificateRequest revoke;
    revoke.set_serial_number(spelling);
    grpc::Status s = Call(revoker, &P::RevokeCertificate, revoke);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("pki/certs/" + serial + ": denied by policy revoker"));
    v1::GetCertificateRequest get;
    get.set_serial_number(spelling);
    EXPECT_EQ(Call(revoker, &P::GetCertificate, get).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  v1::GetCertificateRequest get;
  get.set_serial_number(serial);
  v1::CertificateRecord record;
  ASSERT_TRUE(Call(root, &P::GetCertificate, get, &record).ok());
  EXPECT_FALSE(record.has_revocation_time()) << "the denied certificate was revoked";

  // Every spelling names the same certificate: the engine takes the colon form too.
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_number(WithColons(absl::AsciiStrToUpper(other.serial_number())));
  grpc::Status s = Call(revoker, &P::RevokeCertificate, revoke);
  EXPECT_TRUE(s.ok()) << s.error_message();
  get.set_serial_number(other.serial_number());
  ASSERT_TRUE(Call(root, &P::GetCertificate, get, &record).ok());
  EXPECT_TRUE(record.has_revocation_time());

  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0) << server_->output();
  server_.reset();
  const std::string audit = ReadAll(state_ + "/audit/audit.log");
  EXPECT_THAT(audit, HasSubstr(absl::StrCat("\"operation\":\"pki.revoke\",\"resource\":\"pki/certs/",
                                            other.serial_number(), "\"")));
  EXPECT_THAT(audit, Not(HasSubstr(absl::AsciiStrToUpper(serial))));
}

// A role is bound to an issuer, so writing one needs pki.admin on that issuer (the one it is
// bound to as stored, and the one it is bound to after the write), and issuing through one
// needs pki.issue or pki.sign on its issuer as stored; a certificate is a credential, so it
// may not name an identity that holds a policy the caller does not hold. The escalation this
// closes: a token with pki.admin and pki.issue on pki/roles/team-* bound a new role to the
// issuer trusted for client authentication and issued itself the payments workload's SPIFFE
// ID, which then authenticated with the payments workload's policies.
TEST_F(AccessE2eTest, RolesCannotMintIdentitiesBeyondTheCallersRights) {
  extra_policies_ =
      "    - name: team-admin\n      rules:\n"
      "        - resource: pki/roles/team-*\n          operations: [pki.admin, pki.issue, pki.sign]\n"
      "        - resource: pki/issuers/team-ca\n          operations: [pki.admin, pki.issue]\n"
      "    - name: workload-issuer\n      rules:\n"
      "        - resource: pki/roles/*\n          operations: [pki.issue, pki.sign]\n"
      "        - resource: pki/issuers/workloads\n          operations: [pki.issue, pki.sign]\n"
      "    - name: payments-app\n      rules:\n"
      "        - resource: transit/keys/payments-*\n          operations: [encrypt]\n";
  WriteConfig("op-encrypt",
              "    - identity: spiffe://prod.example/payments/*\n      policies: [payments-app]\n"
              "  client_ca_issuers: [workloads]\n");
  StartServer();
  auto root = Channel(root_token_);
  using P = v1::Pki::Stub;
  for (const char* name : {"workloads", "team-ca"}) {
    v1::CreateRootIssuerRequest issuer;
    issuer.set_issuer_name(name);
    issuer.set_common_name(name);
    ASSERT_TRUE(Call(root, &P::CreateRootIssuer, issuer).ok());
  }
  v1::CreateKeyRequest key;
  key.set_name("payments-cards");
  ASSERT_TRUE(Call(root, &v1::Transit::Stub::CreateKey, key).ok());
  auto client_role = [](const std::string& name, const std::string& issuer,
                        const std::string& uris) {
    v1::Role role;
    role.set_name(name);
    role.set_issuer_name(issuer);
    role.add_allowed_uri_sans(uris);
    role.set_client_flag(true);
    return role;
  };
  // Set up by root: a team role on the shared workload CA, and a broad one.
  ASSERT_TRUE(Call(root, &P::PutRole,
                   client_role("team-y", "workloads", "spiffe://prod.example/team-y/*"))
                  .ok());
  ASSERT_TRUE(
      Call(root, &P::PutRole, client_role("broad", "workloads", "spiffe://prod.example/*")).ok());
  auto issue = [](const std::string& role, const std::string& uri) {
    v1::IssueCertificateRequest r;
    r.set_role(role);
    r.add_uri_sans(uri);
    return r;
  };
  const std::string payments = "spiffe://prod.example/payments/api";
  // What a certificate authenticates as, and whether it may encrypt with payments-cards.
  auto encrypts_as_payments = [&](const v1::IssuedCertificate& cert) {
    Pem pem{cert.certificate_pem(), cert.private_key_pem()};
    secrets_.push_back(cert.private_key_pem().substr(40, 40));
    v1::EncryptRequest enc;
    enc.set_key_name("payments-cards");
    enc.add_items()->set_plaintext("x");
    return Call(Channel("", &pem), &v1::Transit::Stub::Encrypt, enc);
  };

  auto team = Channel(CreateToken({"team-admin"}));
  // 1. The escalation: bind a new role to the client CA, issue the payments identity.
  grpc::Status s = Call(team, &P::PutRole,
                        client_role("team-x", "workloads", "spiffe://prod.example/*"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("may not pki.admin pki/issuers/workloads"));
  v1::IssuedCertificate minted;
  s = Call(team, &P::IssueCertificate, issue("team-x", payments), &minted);
  EXPECT_FALSE(s.ok());
  if (s.ok()) {
    EXPECT_FALSE(encrypts_as_payments(minted).ok()) << "the minted certificate is the payments app";
  }
  // 2. The issuer as stored decides, not the one the request names: rebinding team-y (bound
  // to workloads) to the team's own issuer, or deleting it, needs pki.admin on workloads.
  s = Call(team, &P::PutRole, client_role("team-y", "team-ca", "spiffe://prod.example/*"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("pki/issuers/workloads"));
  v1::DeleteRoleRequest del;
  del.set_name("team-y");
  s = Call(team, &P::DeleteRole, del);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  // 3. Issuing through a role needs the operation on its issuer too.
  s = Call(team, &P::IssueCertificate, issue("team-y", "spiffe://prod.example/team-y/svc"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("may not pki.issue pki/issuers/workloads"));
  v1::SignCertificateRequest sign;
  sign.set_role("team-y");
  sign.set_csr_pem(RunCommand({"sh", "-c",
                               "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                               "-nodes -keyout /dev/null -subj /CN=svc 2>/dev/null"})
                       .output);
  sign.add_uri_sans("spiffe://prod.example/team-y/svc");
  s = Call(team, &P::SignCertificate, sign);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("may not pki.sign pki/issuers/workloads"));
  // On its own issuer the team manages roles and issues, but not identities bound to
  // policies it does not hold, whether or not that issuer is trusted for clients.
  s = Call(team, &P::PutRole, client_role("team-z", "team-ca", "spiffe://prod.example/*"));
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Call(team, &P::IssueCertificate, issue("team-z", "spiffe://prod.example/team-z/svc"));
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Call(team, &P::IssueCertificate, issue("team-z", payments));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("payments-app"));

  // 4. An issuing service with rights on the client CA mints what the roles allow, except
  // identities holding policies it does not hold itself.
  auto issuer_bot = Channel(CreateToken({"workload-issuer"}));
  s = Call(issuer_bot, &P::IssueCertificate, issue("broad", "spiffe://prod.example/team-y/svc"));
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Call(issuer_bot, &P::IssueCertificate, issue("broad", payments), &minted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  if (s.ok()) EXPECT_FALSE(encrypts_as_payments(minted).ok());
  sign.set_role("broad");
  sign.set_uri_sans(0, payments);
  s = Call(issuer_bot, &P::SignCertificate, sign);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  // Holding payments-app as well, it may: and that certificate is the payments workload.
  auto payments_bot = Channel(CreateToken({"workload-issuer", "payments-app"}));
  s = Call(payments_bot, &P::IssueCertificate, issue("broad", payments), &minted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = encrypts_as_payments(minted);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace strongroom
