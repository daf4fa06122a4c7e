#include "hsm/provider.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"
#include "hsm/pkcs11.h"
#include "hsm/testing/softhsm_token.h"

namespace strongroom::hsm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SoftHsmToken;

// One SoftHSM token, Hsm and provider for the whole binary; key pairs are generated once
// per label.
class ProviderEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto token = SoftHsmToken::Create("provider-test");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new SoftHsmToken(*std::move(token));
    auto hsm = Hsm::Open(token_->Options());
    ASSERT_TRUE(hsm.ok()) << hsm.status();
    hsm_ = hsm->release();
    ERR_clear_error();  // SoftHSM leaves engine-loading errors on the queue as it starts.
    auto provider = HsmProvider::Load(hsm_);
    ASSERT_TRUE(provider.ok()) << provider.status();
    provider_ = provider->release();
  }
  void TearDown() override {
    delete provider_;  // The provider before the Hsm it signs with.
    delete hsm_;
    delete token_;
  }

  static SoftHsmToken* token_;
  static Hsm* hsm_;
  static HsmProvider* provider_;
};
SoftHsmToken* ProviderEnvironment::token_ = nullptr;
Hsm* ProviderEnvironment::hsm_ = nullptr;
HsmProvider* ProviderEnvironment::provider_ = nullptr;
::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new ProviderEnvironment);

Hsm& TheHsm() { return *ProviderEnvironment::hsm_; }
HsmProvider& TheProvider() { return *ProviderEnvironment::provider_; }

// Creates the key pair `label` in the HSM once.
void EnsureKeyPair(const std::string& label, KeyPairType type) {
  static auto* made = new std::map<std::string, bool>;
  if ((*made)[label]) return;
  absl::Status s = TheHsm().GenerateKeyPair(label, type);
  ASSERT_TRUE(s.ok()) << s;
  (*made)[label] = true;
}

std::string UriFor(const std::string& label) {
  return absl::StrCat("pkcs11:token=", ProviderEnvironment::token_->label, ";object=", label,
                      ";type=private");
}

// The HSM's public key, parsed in the default library context (an outside view).
EvpPkeyPtr PublicKeyOf(const std::string& label) {
  absl::StatusOr<std::string> der = TheHsm().PublicKeyDer(label);
  if (!der.ok()) {
    ADD_FAILURE() << der.status();
    return nullptr;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  return EvpPkeyPtr(d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size())));
}

std::string OpenSslErrors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long err = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    absl::StrAppend(&out, buf, (flags & ERR_TXT_STRING) ? absl::StrCat(" (", data, ")") : "", "\n");
  }
  return out;
}

std::string TmpPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

template <typename T>
std::string ToPem(int (*write)(BIO*, const T*), const T* object) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(write(bio.get(), object), 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

struct KeyCase {
  const char* name;
  KeyPairType type;
  const char* digest;
  bool pss;
  const char* signature_algorithm;  // as `openssl x509 -text` names it
  int bits;
};

// A digest-sign context for `key` in the provider's library context: the way callers
// prepare X509_sign_ctx and friends.
EvpMdCtxPtr SigningContext(EVP_PKEY* key, const KeyCase& c, const char* saltlen = "digest",
                           const char* propq = nullptr) {
  EvpMdCtxPtr md_ctx(EVP_MD_CTX_new());
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                       const_cast<char*>(OSSL_PKEY_RSA_PAD_MODE_PSS), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, const_cast<char*>(saltlen),
                                       0),
      OSSL_PARAM_construct_end()};
  if (EVP_DigestSignInit_ex(md_ctx.get(), nullptr, c.digest, TheProvider().libctx(), propq, key,
                            c.pss ? params : nullptr) != 1) {
    ADD_FAILURE() << "EVP_DigestSignInit_ex: " << OpenSslErrors();
    return nullptr;
  }
  return md_ctx;
}

// An unsigned self-issued CA certificate for `key`.
X509Ptr NewCaCertificate(EVP_PKEY* key, const std::string& common_name, long serial) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  EXPECT_EQ(X509_set_pubkey(cert.get(), key), 1) << OpenSslErrors();
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::pair<int, const char*> extensions[] = {{NID_basic_constraints, "critical,CA:TRUE"},
                                                    {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                                    {NID_subject_key_identifier, "hash"}};
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    EXPECT_NE(ext, nullptr) << OpenSslErrors();
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  return cert;
}

class ProviderKeyTest : public ::testing::TestWithParam<KeyCase> {
 protected:
  void SetUp() override {
    label_ = absl::StrCat("provider-", GetParam().name);
    ASSERT_NO_FATAL_FAILURE(EnsureKeyPair(label_, GetParam().type));
    auto key = TheProvider().LoadPrivateKey(UriFor(label_));
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = *std::move(key);
    public_key_ = PublicKeyOf(label_);
    ASSERT_NE(public_key_, nullptr);
  }
  void TearDown() override { EXPECT_EQ(OpenSslErrors(), ""); }

  std::string label_;
  EvpPkeyPtr key_;
  EvpPkeyPtr public_key_;
};

TEST_P(ProviderKeyTest, PublicHalfIsTheHsmPublicKey) {
  EXPECT_EQ(EVP_PKEY_eq(key_.get(), public_key_.get()), 1);
  EXPECT_EQ(EVP_PKEY_get_bits(key_.get()), GetParam().bits);
  EXPECT_EQ(EVP_PKEY_get_size(key_.get()), EVP_PKEY_get_size(public_key_.get()));
  EXPECT_TRUE(EVP_PKEY_is_a(
      key_.get(), GetParam().type == KeyPairType::kEcP256 || GetParam().type == KeyPairType::kEcP384
                      ? "EC"
                      : "RSA"));
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key_.get(), &der);
  ASSERT_GT(len, 0) << OpenSslErrors();
  EXPECT_EQ(std::string(reinterpret_cast<char*>(der), len), *TheHsm().PublicKeyDer(label_));
  OPENSSL_free(der);
}

TEST_P(ProviderKeyTest, SignsCertificateAndCrlThatVerify) {
  const KeyCase& c = GetParam();
  X509Ptr cert = NewCaCertificate(key_.get(), absl::StrCat("Strongroom ", c.name), 1);
  EvpMdCtxPtr md_ctx = SigningContext(key_.get(), c);
  ASSERT_NE(md_ctx, nullptr);
  ASSERT_GT(X509_sign_ctx(cert.get(), md_ctx.get()), 0) << OpenSslErrors();

  // (a) OpenSSL verifies it with the HSM's public key.
  EXPECT_EQ(X509_verify(cert.get(), public_key_.get()), 1) << OpenSslErrors();

  // (b) The openssl CLI verifies it (with the self-signature checked), and (c) names the
  // expected signature algorithm.
  const std::string cert_path = TmpPath(absl::StrCat(c.name, "-ca.pem"));
  ASSERT_TRUE(testing::WriteFile(cert_path, ToPem(PEM_write_bio_X509, cert.get()), 0644).ok());
  testing::CommandResult verify = testing::RunCommand(
      absl::StrCat("openssl verify -check_ss_sig -CAfile ", cert_path, " ", cert_path));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr(": OK"));
  testing::CommandResult text =
      testing::RunCommand(absl::StrCat("openssl x509 -noout -text -in ", cert_path));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr(absl::StrCat("Signature Algorithm: ", c.signature_algorithm)));
  if (c.pss) {
    const int digest_bytes = EVP_MD_get_size(EVP_get_digestbyname(c.digest));
    EXPECT_THAT(text.output, HasSubstr(absl::StrCat("Salt Length: 0x", absl::Hex(digest_bytes))));
    EXPECT_THAT(text.output, HasSubstr("Mask Algorithm: mgf1 with"));
  }

  // A CRL signed by the same key verifies against the certificate.
  X509CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(cert.get()));
  ASN1_TIME* now = X509_gmtime_adj(nullptr, 0);
  ASN1_TIME* next = X509_gmtime_adj(nullptr, 3600);
  X509_CRL_set1_lastUpdate(crl.get(), now);
  X509_CRL_set1_nextUpdate(crl.get(), next);
  X509_REVOKED* revoked = X509_REVOKED_new();
  ASN1_INTEGER* serial = ASN1_INTEGER_new();
  ASN1_INTEGER_set(serial, 4711);
  X509_REVOKED_set_serialNumber(revoked, serial);
  X509_REVOKED_set_revocationDate(revoked, now);
  X509_CRL_add0_revoked(crl.get(), revoked);
  ASN1_INTEGER_free(serial);
  ASN1_TIME_free(now);
  ASN1_TIME_free(next);
  X509_CRL_sort(crl.get());
  EvpMdCtxPtr crl_ctx = SigningContext(key_.get(), c);
  ASSERT_NE(crl_ctx, nullptr);
  ASSERT_GT(X509_CRL_sign_ctx(crl.get(), crl_ctx.get()), 0) << OpenSslErrors();
  EXPECT_EQ(X509_CRL_verify(crl.get(), public_key_.get()), 1) << OpenSslErrors();
  const std::string crl_path = TmpPath(absl::StrCat(c.name, "-crl.pem"));
  ASSERT_TRUE(testing::WriteFile(crl_path, ToPem(PEM_write_bio_X509_CRL, crl.get()), 0644).ok());
  testing::CommandResult crl_verify = testing::RunCommand(
      absl::StrCat("openssl crl -noout -verify -in ", crl_path, " -CAfile ", cert_path));
  EXPECT_EQ(crl_verify.exit_code, 0) << crl_verify.output;
  EXPECT_THAT(crl_verify.output, HasSubstr("verify OK"));
}

TEST_P(ProviderKeyTest, SignsCertificateRequest) {
  X509ReqPtr req(X509_REQ_new());
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("request"), -1, -1, 0);
  ASSERT_EQ(X509_REQ_set_pubkey(req.get(), public_key_.get()), 1);
  EvpMdCtxPtr md_ctx = SigningContext(key_.get(), GetParam());
  ASSERT_NE(md_ctx, nullptr);
  ASSERT_GT(X509_REQ_sign_ctx(req.get(), md_ctx.get()), 0) << OpenSslErrors();
  EXPECT_EQ(X509_REQ_verify(req.get(), public_key_.get()), 1) << OpenSslErrors();
}

TEST_P(ProviderKeyTest, SignsPrehashedDigest) {
  const KeyCase& c = GetParam();
  const EVP_MD* md = EVP_get_digestbyname(c.digest);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  ASSERT_EQ(EVP_Digest("to be signed", 12, digest, &digest_len, md, nullptr), 1);

  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(TheProvider().libctx(), key_.get(), nullptr));
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(EVP_PKEY_sign_init(ctx.get()), 1) << OpenSslErrors();
  ASSERT_EQ(EVP_PKEY_CTX_set_signature_md(ctx.get(), md), 1) << OpenSslErrors();
  if (c.pss) {
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST), 1);
  }
  size_t sig_len = 0;
  ASSERT_EQ(EVP_PKEY_sign(ctx.get(), nullptr, &sig_len, digest, digest_len), 1);
  std::string sig(sig_len, '\0');
  ASSERT_EQ(EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len, digest,
                          digest_len),
            1)
      << OpenSslErrors();
  sig.resize(sig_len);

  EvpPkeyCtxPtr verify(EVP_PKEY_CTX_new(public_key_.get(), nullptr));
  ASSERT_EQ(EVP_PKEY_verify_init(verify.get()), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_signature_md(verify.get(), md), 1);
  if (c.pss) {
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(verify.get(), RSA_PKCS1_PSS_PADDING), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(verify.get(), RSA_PSS_SALTLEN_DIGEST), 1);
  }
  EXPECT_EQ(EVP_PKEY_verify(verify.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                            sig.size(), digest, digest_len),
            1)
      << OpenSslErrors();
}

// The AlgorithmIdentifier the provider reports is the one OpenSSL's own implementation
// reports for the same key type and settings.
TEST_P(ProviderKeyTest, AlgorithmIdMatchesOpenSsl) {
  const KeyCase& c = GetParam();
  auto algorithm_id = [](EVP_PKEY_CTX* pctx) {
    unsigned char aid[128];
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, aid, sizeof(aid)),
        OSSL_PARAM_construct_end()};
    EXPECT_EQ(EVP_PKEY_CTX_get_params(pctx, params), 1) << OpenSslErrors();
    return std::string(reinterpret_cast<char*>(aid), params[0].return_size);
  };
  EvpMdCtxPtr ours = SigningContext(key_.get(), c);
  ASSERT_NE(ours, nullptr);

  EvpMdCtxPtr reference(EVP_MD_CTX_new());
  EVP_PKEY_CTX* reference_pctx = nullptr;
  ASSERT_EQ(EVP_DigestVerifyInit_ex(reference.get(), &reference_pctx, c.digest, nullptr, nullptr,
                                    public_key_.get(), nullptr),
            1);
  if (c.pss) {
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(reference_pctx, RSA_PKCS1_PSS_PADDING), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(reference_pctx, RSA_PSS_SALTLEN_DIGEST), 1);
  }
  std::string expected = algorithm_id(reference_pctx);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(absl::BytesToHexString(algorithm_id(EVP_MD_CTX_get_pkey_ctx(ours.get()))),
            absl::BytesToHexString(expected));
}

TEST_P(ProviderKeyTest, PrivateKeyCannotBeExported) {
  OSSL_PARAM* params = nullptr;
  EXPECT_LE(EVP_PKEY_todata(key_.get(), EVP_PKEY_KEYPAIR, &params), 0);
  EXPECT_EQ(params, nullptr);
  EXPECT_THAT(OpenSslErrors(), HasSubstr("never leaves the HSM"));

  unsigned char* der = nullptr;
  EXPECT_LE(i2d_PrivateKey(key_.get(), &der), 0);
  EXPECT_EQ(der, nullptr);
  BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr),
            0);
  EXPECT_EQ(BIO_pending(bio.get()), 0);
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &bn), 0);
  EXPECT_EQ(EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_RSA_D, &bn), 0);
  EXPECT_EQ(bn, nullptr);
  ERR_clear_error();

  // The public half exports.
  ASSERT_EQ(EVP_PKEY_todata(key_.get(), EVP_PKEY_PUBLIC_KEY, &params), 1) << OpenSslErrors();
  EXPECT_EQ(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY), nullptr);
  EXPECT_EQ(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_D), nullptr);
  OSSL_PARAM_free(params);

  // ... and the token still reports the key as never extractable.
  std::string objects = ProviderEnvironment::token_->DescribeObjects(label_);
  EXPECT_THAT(objects, HasSubstr("Private Key Object"));
  EXPECT_THAT(objects, HasSubstr("never extractable"));
}

INSTANTIATE_TEST_SUITE_P(
    Keys, ProviderKeyTest,
    ::testing::Values(
        KeyCase{"EcP256", KeyPairType::kEcP256, "SHA256", false, "ecdsa-with-SHA256", 256},
        KeyCase{"EcP384", KeyPairType::kEcP384, "SHA384", false, "ecdsa-with-SHA384", 384},
        KeyCase{"Rsa2048Pkcs1", KeyPairType::kRsa2048, "SHA256", false, "sha256WithRSAEncryption",
                2048},
        KeyCase{"Rsa2048Pss", KeyPairType::kRsa2048, "SHA256", true, "rsassaPss", 2048},
        KeyCase{"Rsa3072Pkcs1", KeyPairType::kRsa3072, "SHA384", false, "sha384WithRSAEncryption",
                3072},
        KeyCase{"Rsa3072Pss", KeyPairType::kRsa3072, "SHA512", true, "rsassaPss", 3072}),
    [](const ::testing::TestParamInfo<KeyCase>& info) { return std::string(info.param.name); });

class ProviderTest : public ::testing::Test {
 protected:
  void TearDown() override { ERR_clear_error(); }
};

TEST_F(ProviderTest, UnknownObjectIsNotFound) {
  auto key = TheProvider().LoadPrivateKey(UriFor("no-such-key"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(key.status().message(), HasSubstr("no-such-key"));
}

TEST_F(ProviderTest, OtherTokenIsNamed) {
  ASSERT_NO_FATAL_FAILURE(EnsureKeyPair("provider-other-token", KeyPairType::kEcP256));
  auto key =
      TheProvider().LoadPrivateKey("pkcs11:token=some%20other%20token;object=provider-other-token");
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(key.status().message(), HasSubstr("'some other token'"));
  EXPECT_THAT(key.status().message(), HasSubstr(ProviderEnvironment::token_->label));
}

TEST_F(ProviderTest, MalformedUrisAreInvalidArgument) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "pkcs11:"},
      {"file:///etc/key.pem", "pkcs11:"},
      {"pkcs11:", "'object'"},
      {"pkcs11:token=provider-test", "'object'"},
      {"pkcs11:object=", "'object'"},
      {"pkcs11:object=a;object=b", "'object' appears more than once"},
      {"pkcs11:object=a%2", "percent-encoding in attribute 'object'"},
      {"pkcs11:object=a%zz", "percent-encoding in attribute 'object'"},
      {"pkcs11:object=a%00b", "NUL"},
      {"pkcs11:object=a b", "must be percent-encoded"},
      {"pkcs11:object", "name=value"},
      {"pkcs11:object=a;;type=private", "name=value"},
      {"pkcs11:=a", "name=value"},
      {"pkcs11:object=a;id=%01", "unsupported attribute 'id'"},
      {"pkcs11:object=a;slot-id=0", "unsupported attribute 'slot-id'"},
      {"pkcs11:object=a;colour=blue", "unknown attribute 'colour'"},
      {"pkcs11:object=a;type=public", "type=private"},
      {"pkcs11:object=a;type=cert", "type=private"},
      {"pkcs11:object=a?pin-value=31337", "'pin-value'"},
      {"pkcs11:object=a?module-path=/tmp/evil.so", "'module-path'"},
  };
  for (const auto& [uri, message] : cases) {
    auto key = TheProvider().LoadPrivateKey(uri);
    ASSERT_FALSE(key.ok()) << uri;
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument)
        << uri << ": " << key.status();
    EXPECT_THAT(key.status().message(), HasSubstr(message)) << uri;
    EXPECT_THAT(key.status().message(), Not(HasSubstr("31337")));
  }
}

TEST_F(ProviderTest, LabelsArePercentDecodedAndTokenIsOptional) {
  ASSERT_NO_FATAL_FAILURE(EnsureKeyPair("ca key/1;x", KeyPairType::kEcP256));
  for (const char* uri :
       {"pkcs11:object=ca%20key%2F1%3Bx", "PKCS11:object=ca%20key/1%3bx;type=private",
        "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;object=ca%20key%2f1%3Bx"}) {
    auto key = TheProvider().LoadPrivateKey(uri);
    ASSERT_TRUE(key.ok()) << uri << ": " << key.status();
    EvpPkeyPtr pub = PublicKeyOf("ca key/1;x");
    EXPECT_EQ(EVP_PKEY_eq(key->get(), pub.get()), 1) << uri;
  }
  auto key = TheProvider().LoadPrivateKey("pkcs11:model=HSM%209000;object=ca%20key%2F1%3Bx");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(key.status().message(), HasSubstr("model 'HSM 9000'"));
}

TEST_F(ProviderTest, PssWithOtherSaltLengthIsRefused) {
  ASSERT_NO_FATAL_FAILURE(EnsureKeyPair("provider-Rsa2048Pss", KeyPairType::kRsa2048));
  auto key = TheProvider().LoadPrivateKey(UriFor("provider-Rsa2048Pss"));
  ASSERT_TRUE(key.ok()) << key.status();
  KeyCase pss{"pss", KeyPairType::kRsa2048, "SHA256", true, "rsassaPss", 2048};
  EvpMdCtxPtr md_ctx = SigningContext(key->get(), pss, "max");
  ASSERT_NE(md_ctx, nullptr);
  X509Ptr cert = NewCaCertificate(key->get(), "salt", 1);
  EXPECT_EQ(X509_sign_ctx(cert.get(), md_ctx.get()), 0);
  EXPECT_THAT(OpenSslErrors(), HasSubstr("salt length = digest length"));
}

TEST_F(ProviderTest, HsmErrorsBecomeOpenSslErrors) {
  ASSERT_NO_FATAL_FAILURE(EnsureKeyPair("provider-fault", KeyPairType::kEcP256));
  auto key = TheProvider().LoadPrivateKey(UriFor("provider-fault"));
  ASSERT_TRUE(key.ok()) << key.status();
  EvpPkeyPtr public_key = PublicKeyOf("provider-fault");
  const KeyCase ec{"fault", KeyPairType::kEcP256, "SHA256", false, "", 256};
  X509Ptr cert = NewCaCertificate(public_key.get(), "fault", 1);
  EvpMdCtxPtr md_ctx = SigningContext(key->get(), ec);
  ASSERT_NE(md_ctx, nullptr);
  TheHsm().faults().Fail("C_Sign", CKR_FUNCTION_FAILED);
  EXPECT_EQ(X509_sign_ctx(cert.get(), md_ctx.get()), 0);
  TheHsm().faults().Clear();
  std::string errors = OpenSslErrors();
  EXPECT_THAT(errors, HasSubstr("HSM key 'provider-fault'"));
  EXPECT_THAT(errors, HasSubstr("CKR_FUNCTION_FAILED"));
  EXPECT_THAT(errors, Not(HasSubstr(ProviderEnvironment::token_->pin)));
}

TEST_F(ProviderTest, ProviderStaysOutOfTheDefaultLibraryContext) {
  EXPECT_TRUE(OSSL_PROVIDER_available(TheProvider().libctx(), HsmProvider::kName));
  EXPECT_FALSE(OSSL_PROVIDER_available(nullptr, HsmProvider::kName));
  EVP_SIGNATURE* ours =
      EVP_SIGNATURE_fetch(TheProvider().libctx(), "ECDSA", "provider=strongroom-hsm");
  EXPECT_NE(ours, nullptr);
  EVP_SIGNATURE_free(ours);
  EVP_SIGNATURE* leaked = EVP_SIGNATURE_fetch(nullptr, "ECDSA", "provider=strongroom-hsm");
  EXPECT_EQ(leaked, nullptr);
  EVP_SIGNATURE_free(leaked);
}

TEST_F(ProviderTest, ConcurrentSigningWithOneKey) {
  ASSERT_NO_FATAL_FAILURE(EnsureKeyPair("provider-concurrent", KeyPairType::kEcP256));
  auto key = TheProvider().LoadPrivateKey(UriFor("provider-concurrent"));
  ASSERT_TRUE(key.ok()) << key.status();
  EvpPkeyPtr public_key = PublicKeyOf("provider-concurrent");
  const KeyCase ec{"concurrent", KeyPairType::kEcP256, "SHA256", false, "", 256};
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::atomic<int> verified{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        X509Ptr cert = NewCaCertificate(public_key.get(), absl::StrCat("t", t, "-", i),
                                        t * kPerThread + i + 1);
        // Half the threads name the provider explicitly.
        EvpMdCtxPtr md_ctx = SigningContext(key->get(), ec, "digest",
                                            t % 2 == 0 ? nullptr : "provider=strongroom-hsm");
        if (md_ctx != nullptr && X509_sign_ctx(cert.get(), md_ctx.get()) > 0 &&
            X509_verify(cert.get(), public_key.get()) == 1) {
          ++verified;
        }
      }
      ERR_clear_error();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(verified.load(), kThreads * kPerThread);
}

}  // namespace
}  // namespace strongroom::hsm
