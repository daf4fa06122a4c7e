#include "pki/certificate_builder.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pki/role_policy.h"
#include "pki/testing/test_environment.h"

namespace strongroom::pki {
namespace {

using ::testing::HasSubstr;
using testing::HsmKey;
using testing::MakeHsmKey;
using ::testing::Not;
using testing::RunCommand;
using testing::TheProvider;
using testing::WriteTmp;

constexpr char kCrlUrl[] = "http://pki.example.com/crl/root.crl";
constexpr char kIssuerUrl[] = "http://pki.example.com/ca/root.crt";
constexpr char kOcspUrl[] = "http://ocsp.example.com";

struct Ca {
  HsmKey key;
  hsm::X509Ptr cert;
  std::string pem;
  Signer signer() const {
    return Signer{key.private_key.get(), TheProvider().libctx(), cert.get()};
  }
};

Ca MakeRoot() {
  Ca ca;
  ca.key = MakeHsmKey("root", hsm::KeyPairType::kEcP256);
  BuiltCertificate built =
      testing::SelfSignedCa(ca.key, "Strongroom Test Root", absl::Hours(24 * 365));
  ca.cert = std::move(built.certificate);
  ca.pem = built.pem;
  return ca;
}

// An intermediate (P-384 in the HSM) through a CSR signed by the root, path length 0.
Ca MakeIntermediate(const Ca& root) {
  Ca ca;
  ca.key = MakeHsmKey("intermediate", hsm::KeyPairType::kEcP384);
  auto csr = BuildCsr("Strongroom Test Intermediate", ca.key.public_key.get(),
                      Signer{ca.key.private_key.get(), TheProvider().libctx(), nullptr});
  EXPECT_TRUE(csr.ok()) << csr.status();
  if (!csr.ok()) return ca;
  auto parsed = ParseCsr(CsrToPem(csr->get()));  // as SignIntermediate would receive it
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  auto names = NamesFromCsr(parsed->get());
  auto key = CsrPublicKey(parsed->get());
  CertificateParams params;
  params.names = *names;
  params.public_key = key->get();
  params.not_before = absl::Now() - absl::Minutes(1);
  params.not_after = absl::Now() + absl::Hours(24 * 180);
  params.is_ca = true;
  params.max_path_length = 0;
  params.issuing_certificate_url = kIssuerUrl;
  params.crl_distribution_point = kCrlUrl;
  auto built = BuildCertificate(params, root.signer());
  EXPECT_TRUE(built.ok()) << built.status();
  if (built.ok()) {
    ca.cert = std::move(built->certificate);
    ca.pem = built->pem;
  }
  return ca;
}

CertificateParams LeafParams(EVP_PKEY* key) {
  CertificateParams params;
  params.names = NameRequest{"www.example.com",
                             {"www.example.com", "api.example.com"},
                             {"10.1.2.3", "2001:db8::1"},
                             {"spiffe://prod.example/ns/default/sa/web"}};
  params.public_key = key;
  params.not_before = absl::Now() - absl::Minutes(1);
  params.not_after = absl::Now() + absl::Hours(24);
  params.server_auth = true;
  params.client_auth = true;
  params.issuing_certificate_url = "http://pki.example.com/ca/intermediate.crt";
  params.ocsp_url = kOcspUrl;
  params.crl_distribution_point = "http://pki.example.com/crl/intermediate.crl";
  return params;
}

// A CSR for `key` with subject CN `cn`, asking for extensions `ext_conf` (e.g. "CA:TRUE").
hsm::X509ReqPtr MakeCsr(EVP_PKEY* key, const std::string& cn, const char* basic_constraints) {
  hsm::X509ReqPtr csr(X509_REQ_new());
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr.get()), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(csr.get(), key);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  if (basic_constraints != nullptr) {
    sk_X509_EXTENSION_push(
        exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_basic_constraints, basic_constraints));
  }
  sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name,
                                                   "DNS:csr.example.com,IP:192.0.2.7"));
  X509_REQ_add_extensions(csr.get(), exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  EXPECT_GT(X509_REQ_sign(csr.get(), key, EVP_sha256()), 0);
  return csr;
}

std::string X509Text(const std::string& path) {
  auto r = RunCommand(absl::StrCat("openssl x509 -noout -text -in ", path));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

void ExpectCerttoolClean(const std::string& path) {
  if (RunCommand("command -v certtool").exit_code != 0) {
    GTEST_LOG_(INFO) << "certtool not installed; skipping its check";
    return;
  }
  auto r = RunCommand(absl::StrCat("certtool -i --infile ", path));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(absl::AsciiStrToLower(r.output), Not(HasSubstr("warning"))) << r.output;
}

TEST(CertificateBuilderTest, ChainVerifiesWithOpenSslAndCerttool) {
  Ca root = MakeRoot();
  ASSERT_NE(root.cert, nullptr);
  Ca inter = MakeIntermediate(root);
  ASSERT_NE(inter.cert, nullptr);

  // Leaf 1: a freshly generated software key (IssueCertificate).
  auto leaf_key = GenerateSoftwareKey(v1::EC_P256);
  ASSERT_TRUE(leaf_key.ok());
  auto leaf = BuildCertificate(LeafParams(leaf_key->get()), inter.signer());
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(leaf->serial_number, absl::AsciiStrToLower(leaf->serial_number));
  EXPECT_EQ(leaf->serial_number.size(), 40u);

  // Leaf 2: from an RSA CSR (SignCertificate); names taken from the CSR.
  auto rsa = GenerateSoftwareKey(v1::RSA2048);
  hsm::X509ReqPtr csr = MakeCsr(rsa->get(), "csr.example.com", nullptr);
  auto parsed = ParseCsr(CsrToPem(csr.get()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto csr_names = NamesFromCsr(parsed->get());
  ASSERT_TRUE(csr_names.ok()) << csr_names.status();
  EXPECT_EQ(csr_names->common_name, "csr.example.com");
  EXPECT_THAT(csr_names->dns_sans, ::testing::ElementsAre("csr.example.com"));
  EXPECT_THAT(csr_names->ip_sans, ::testing::ElementsAre("192.0.2.7"));
  auto csr_key = CsrPublicKey(parsed->get());
  CertificateParams csr_params = LeafParams(csr_key->get());
  csr_params.names = *csr_names;
  csr_params.client_auth = false;
  csr_params.public_key_info = X509_REQ_get_X509_PUBKEY(parsed->get());  // copied verbatim
  auto csr_leaf = BuildCertificate(csr_params, inter.signer());
  ASSERT_TRUE(csr_leaf.ok()) << csr_leaf.status();
  {  // The certificate's key, re-parsed from its PEM, is the CSR's.
    auto reparsed = ParseCertificatePem(csr_leaf->pem);
    ASSERT_TRUE(reparsed.ok()) << reparsed.status();
    EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(reparsed->get()), rsa->get()), 1);
  }

  const std::string root_path = WriteTmp("root.pem", root.pem);
  const std::string inter_path = WriteTmp("inter.pem", inter.pem);
  const std::string leaf_path = WriteTmp("leaf.pem", leaf->pem);
  const std::string csr_leaf_path = WriteTmp("csr_leaf.pem", csr_leaf->pem);
  for (const std::string& path : {leaf_path, csr_leaf_path}) {
    auto r = RunCommand(absl::StrCat("openssl verify -x509_strict -purpose sslserver -CAfile ",
                                     root_path, " -untrusted ", inter_path, " ", path));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr(": OK"));
  }
  for (const std::string& path : {root_path, inter_path, leaf_path, csr_leaf_path}) {
    ExpectCerttoolClean(path);
  }

  std::string root_text = X509Text(root_path);
  EXPECT_THAT(root_text, HasSubstr("CA:TRUE"));
  EXPECT_THAT(root_text, HasSubstr("Certificate Sign, CRL Sign"));
  EXPECT_THAT(root_text, HasSubstr("ecdsa-with-SHA256"));

  std::string inter_text = X509Text(inter_path);
  EXPECT_THAT(inter_text, HasSubstr("CA:TRUE, pathlen:0"));
  EXPECT_THAT(inter_text, HasSubstr("Issuer: CN = Strongroom Test Root"));
  EXPECT_THAT(inter_text, HasSubstr("NIST CURVE: P-384"));
  EXPECT_THAT(inter_text, HasSubstr(absl::StrCat("CA Issuers - URI:", kIssuerUrl)));
  EXPECT_THAT(inter_text, HasSubstr(absl::StrCat("URI:", kCrlUrl)));

  std::string leaf_text = X509Text(leaf_path);
  EXPECT_THAT(leaf_text, HasSubstr("ecdsa-with-SHA384"));  // signed by the P-384 intermediate
  EXPECT_THAT(leaf_text, HasSubstr("X509v3 Basic Constraints: critical\n                CA:FALSE"));
  EXPECT_THAT(leaf_text,
              HasSubstr("X509v3 Key Usage: critical\n                Digital Signature\n"));
  EXPECT_THAT(leaf_text, HasSubstr("TLS Web Server Authentication, TLS Web Client Authentication"));
  EXPECT_THAT(leaf_text, HasSubstr("X509v3 Subject Key Identifier"));
  EXPECT_THAT(leaf_text, HasSubstr("X509v3 Authority Key Identifier"));
  EXPECT_THAT(leaf_text, HasSubstr(absl::StrCat("OCSP - URI:", kOcspUrl)));
  EXPECT_THAT(leaf_text, HasSubstr("CA Issuers - URI:http://pki.example.com/ca/intermediate.crt"));
  EXPECT_THAT(leaf_text, HasSubstr("URI:http://pki.example.com/crl/intermediate.crl"));
  EXPECT_THAT(leaf_text, HasSubstr("DNS:www.example.com, DNS:api.example.com, IP Address:10.1.2.3, "
                                   "IP Address:2001:DB8:0:0:0:0:0:1, "
                                   "URI:spiffe://prod.example/ns/default/sa/web"));
  EXPECT_THAT(leaf_text, HasSubstr(absl::StrCat("Subject: CN = www.example.com")));

  // AKI of each certificate is its issuer's SKI.
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(inter.cert.get()),
                                  X509_get0_subject_key_id(root.cert.get())),
            0);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf->certificate.get()),
                                  X509_get0_subject_key_id(inter.cert.get())),
            0);
  // The root's AKI is its own SKI; an AKI carries the key identifier only.
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(root.cert.get()),
                                  X509_get0_subject_key_id(root.cert.get())),
            0);
  for (X509* cert : {root.cert.get(), inter.cert.get(), leaf->certificate.get()}) {
    EXPECT_EQ(X509_get0_authority_issuer(cert), nullptr);
    EXPECT_EQ(X509_get0_authority_serial(cert), nullptr);
    // Each SKI is the SHA-1 of the subject public key's bits (RFC 5280 4.2.1.2, method 1).
    unsigned char sha1[EVP_MAX_MD_SIZE];
    unsigned int sha1_len = 0;
    ASSERT_EQ(X509_pubkey_digest(cert, EVP_sha1(), sha1, &sha1_len), 1);
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert);
    ASSERT_NE(ski, nullptr);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ski)),
                          ASN1_STRING_length(ski)),
              std::string(reinterpret_cast<const char*>(sha1), sha1_len));
  }

  std::string csr_leaf_text = X509Text(csr_leaf_path);
  EXPECT_THAT(csr_leaf_text, HasSubstr("Digital Signature, Key Encipherment"));  // RSA leaf
  EXPECT_THAT(csr_leaf_text, HasSubstr("TLS Web Server Authentication\n"));
  EXPECT_THAT(csr_leaf_text, Not(HasSubstr("Client Authentication")));
}

TEST(CertificateBuilderTest, PreparedSigningContextIsCopiedNotConsumed) {
  Ca root = MakeRoot();
  auto prepared = NewSigningContext(root.signer());
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  Signer signer = root.signer();
  signer.prepared = prepared->get();
  auto leaf_key = GenerateSoftwareKey(v1::EC_P256);
  ASSERT_TRUE(leaf_key.ok());
  for (int i = 0; i < 3; ++i) {  // each signature from its own copy
    auto leaf = BuildCertificate(LeafParams(leaf_key->get()), signer);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    EXPECT_EQ(X509_verify(leaf->certificate.get(), X509_get0_pubkey(root.cert.get())), 1) << i;
  }
  // A context prepared for another key is refused rather than signing with it.
  auto other_prepared = NewSigningContext(Signer{leaf_key->get(), nullptr, nullptr});
  ASSERT_TRUE(other_prepared.ok());
  signer.prepared = other_prepared->get();
  auto mismatched = NewSigningContext(signer);
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CertificateBuilderTest, ChainPemParsesEveryCertificateInOrder) {
  Ca root = MakeRoot();
  Ca inter = MakeIntermediate(root);
  ASSERT_NE(inter.cert, nullptr);
  // Text around and between the blocks is skipped, as clients write bundles.
  auto chain = ParseCertificateChainPem(
      absl::StrCat("intermediate:\n", inter.pem, "\nroot:\n", root.pem, "trailer\n"));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(X509_cmp(chain[0].get(), inter.cert.get()), 0);
  EXPECT_EQ(X509_cmp(chain[1].get(), root.cert.get()), 0);
  EXPECT_TRUE(ParseCertificateChainPem("").empty());
  EXPECT_TRUE(ParseCertificateChainPem("-----BEGIN CERTIFICATE-----\nAAAA\n"
                                       "-----END CERTIFICATE-----\n").empty());
  EXPECT_EQ(ERR_peek_error(), 0u);  // nothing left on OpenSSL's error queue
}

TEST(CertificateBuilderTest, CsrAskingForCaGetsCaFalse) {
  Ca root = MakeRoot();
  ASSERT_NE(root.cert, nullptr);
  auto key = GenerateSoftwareKey(v1::EC_P256);
  hsm::X509ReqPtr csr = MakeCsr(key->get(), "csr.example.com", "critical,CA:TRUE,pathlen:5");
  auto parsed = ParseCsr(CsrToPem(csr.get()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto csr_key = CsrPublicKey(parsed->get());
  auto cert = BuildCertificate(LeafParams(csr_key->get()), root.signer());
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(X509_check_ca(cert->certificate.get()), 0);
  std::string text = X509Text(WriteTmp("csr_ca.pem", cert->pem));
  EXPECT_THAT(text, HasSubstr("CA:FALSE"));
  EXPECT_THAT(text, Not(HasSubstr("CA:TRUE")));
  EXPECT_THAT(text, Not(HasSubstr("csr.example.com")));  // the request's names, not the CSR's
}

TEST(CertificateBuilderTest, RefusesCsrWithBadSignature) {
  auto key = GenerateSoftwareKey(v1::EC_P256);
  hsm::X509ReqPtr csr = MakeCsr(key->get(), "victim.example.com", nullptr);
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(csr.get(), &der);
  ASSERT_GT(len, 0);
  std::string bytes(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  size_t at = bytes.find("victim");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'w';  // signed data changed, signature kept
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  hsm::X509ReqPtr tampered(d2i_X509_REQ(nullptr, &p, len));
  ASSERT_NE(tampered, nullptr);
  auto parsed = ParseCsr(CsrToPem(tampered.get()));
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(), "csr: signature does not verify");
  EXPECT_EQ(ParseCsr("not a csr").status().code(), absl::StatusCode::kInvalidArgument);
}

// ParseCsr decodes P-256, P-384 and RSA keys without OpenSSL's decoders and other keys (here
// P-521) with them; either way the parsed request keeps the CSR's exact SubjectPublicKeyInfo,
// subject and requested names, and a changed byte of the signed data is refused.
TEST(CertificateBuilderTest, ParsedCsrKeepsKeySubjectAndNamesForEveryKeyType) {
  std::vector<hsm::EvpPkeyPtr> keys;
  keys.emplace_back(EVP_EC_gen("P-256"));
  keys.emplace_back(EVP_EC_gen("P-384"));
  keys.emplace_back(EVP_RSA_gen(2048));
  keys.emplace_back(EVP_EC_gen("P-521"));
  for (const hsm::EvpPkeyPtr& key : keys) {
    SCOPED_TRACE(EVP_PKEY_get0_type_name(key.get()));
    ASSERT_NE(key, nullptr);
    hsm::X509ReqPtr csr = MakeCsr(key.get(), "kinds.example.com", nullptr);
    auto parsed = ParseCsr(CsrToPem(csr.get()));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    auto spki_der = [](X509_REQ* req) {
      unsigned char* der = nullptr;
      int len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &der);
      std::string out(reinterpret_cast<char*>(der), len > 0 ? len : 0);
      OPENSSL_free(der);
      return out;
    };
    EXPECT_EQ(spki_der(parsed->get()), spki_der(csr.get()));
    auto parsed_key = CsrPublicKey(parsed->get());
    ASSERT_TRUE(parsed_key.ok()) << parsed_key.status();
    EXPECT_EQ(EVP_PKEY_eq(parsed_key->get(), key.get()), 1);
    auto names = NamesFromCsr(parsed->get());
    ASSERT_TRUE(names.ok()) << names.status();
    EXPECT_EQ(names->common_name, "kinds.example.com");
    EXPECT_THAT(names->dns_sans, ::testing::ElementsAre("csr.example.com"));
    EXPECT_THAT(names->ip_sans, ::testing::ElementsAre("192.0.2.7"));

    unsigned char* der = nullptr;
    int len = i2d_X509_REQ(csr.get(), &der);
    ASSERT_GT(len, 0);
    std::string bytes(reinterpret_cast<char*>(der), len);
    OPENSSL_free(der);
    size_t at = bytes.find("kinds");
    ASSERT_NE(at, std::string::npos);
    bytes[at] = 'm';
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    hsm::X509ReqPtr tampered(d2i_X509_REQ(nullptr, &p, len));
    ASSERT_NE(tampered, nullptr);
    EXPECT_EQ(ParseCsr(CsrToPem(tampered.get())).status().message(),
              "csr: signature does not verify");
  }
}

// EC requests are verified with EC_KEY's ECDSA directly for SHA-256/384/512 and by
// OpenSSL's own path for other digests (here SHA-224): every digest is accepted, and a
// changed signature byte is refused on both paths.
TEST(CertificateBuilderTest, EcdsaCsrSignatureIsCheckedForEveryDigest) {
  hsm::EvpPkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_NE(key, nullptr);
  for (const EVP_MD* md : {EVP_sha256(), EVP_sha384(), EVP_sha512(), EVP_sha224()}) {
    SCOPED_TRACE(EVP_MD_get0_name(md));
    hsm::X509ReqPtr csr = MakeCsr(key.get(), "digests.example.com", nullptr);
    ASSERT_GT(X509_REQ_sign(csr.get(), key.get(), md), 0);
    auto parsed = ParseCsr(CsrToPem(csr.get()));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    auto parsed_key = CsrPublicKey(parsed->get());
    ASSERT_TRUE(parsed_key.ok()) << parsed_key.status();
    EXPECT_EQ(EVP_PKEY_eq(parsed_key->get(), key.get()), 1);

    unsigned char* der = nullptr;
    int len = i2d_X509_REQ(csr.get(), &der);
    ASSERT_GT(len, 0);
    std::string bytes(reinterpret_cast<char*>(der), len);
    OPENSSL_free(der);
    bytes.back() ^= 0x01;  // the last byte of the signature's s
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    hsm::X509ReqPtr tampered(d2i_X509_REQ(nullptr, &p, len));
    ASSERT_NE(tampered, nullptr);
    EXPECT_EQ(ParseCsr(CsrToPem(tampered.get())).status().message(),
              "csr: signature does not verify");
  }
}

TEST(CertificateBuilderTest, RefusesRsa1024Csr) {
  hsm::EvpPkeyPtr weak(EVP_RSA_gen(1024));
  hsm::X509ReqPtr csr = MakeCsr(weak.get(), "weak.example.com", nullptr);
  auto parsed = ParseCsr(CsrToPem(csr.get()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();  // well-formed; the role refuses the key
  auto key = CsrPublicKey(parsed->get());
  v1::Role role;
  role.set_name("web");
  absl::Status s = CheckCsrKey(role, key->get());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("RSA key of 1024 bits is below the minimum of 2048"));
}

TEST(CertificateBuilderTest, RefusesMismatchedSignerAndBadParams) {
  Ca root = MakeRoot();
  ASSERT_NE(root.cert, nullptr);
  auto other = GenerateSoftwareKey(v1::EC_P256);
  // A software key that is not the root's cannot sign as the root.
  auto built =
      BuildCertificate(LeafParams(other->get()), Signer{other->get(), nullptr, root.cert.get()});
  EXPECT_EQ(built.status().code(), absl::StatusCode::kFailedPrecondition);
  CertificateParams params = LeafParams(other->get());
  params.not_after = params.not_before;
  EXPECT_EQ(BuildCertificate(params, root.signer()).status().code(),
            absl::StatusCode::kInvalidArgument);
  params = LeafParams(other->get());
  params.names.ip_sans = {"300.1.1.1"};
  EXPECT_EQ(BuildCertificate(params, root.signer()).status().code(),
            absl::StatusCode::kInvalidArgument);
  params = LeafParams(other->get());
  params.max_path_length = 1;  // not a CA
  EXPECT_EQ(BuildCertificate(params, root.signer()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CertificateBuilderTest, SerialsAreRandomPositive159Bits) {
  for (int i = 0; i < 100; ++i) {
    auto serial = RandomSerial();
    ASSERT_TRUE(serial.ok());
    std::string hex = SerialToHex(serial->get());
    EXPECT_EQ(hex.size(), 40u) << hex;
    EXPECT_NE(hex[0], '-');
  }
}

}  // namespace
}  // namespace strongroom::pki
