// Per-stage cost of Ca::SignCertificate, in process on one thread (a P-256 CSR and a P-256
// SoftHSM issuer), for profiling; prints the thread's CPU microseconds per call (SoftHSM
// signs in the calling thread) and checks nothing else.
// Manual: bazel run //pki:sign_profile_test
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <ctime>
#include <cstdio>
#include <functional>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/sqlite_storage.h"
#include "pki/ca.h"
#include "pki/certificate_builder.h"
#include "pki/role_policy.h"
#include "pki/testing/all_rights.h"

namespace strongroom::pki {
namespace {

const testing::AllRights kAllRights;

// CPU time of the calling thread, in microseconds: on a machine shared with other work,
// wall time would count the time this thread waits for a core.
double ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

double Time(const char* what, int n, const std::function<void()>& f) {
  for (int i = 0; i < 20; ++i) f();
  const double start = ThreadCpuMicros();
  for (int i = 0; i < n; ++i) f();
  const double us = (ThreadCpuMicros() - start) / n;
  std::printf("  %-50s %9.1f us CPU\n", what, us);
  return us;
}

TEST(SignProfile, Stages) {
  auto token = hsm::testing::SoftHsmToken::Create("prof");
  ASSERT_TRUE(token.ok());
  auto hsm = hsm::Hsm::Open(token->Options());
  ASSERT_TRUE(hsm.ok());
  ERR_clear_error();
  auto provider = hsm::HsmProvider::Load(hsm->get());
  ASSERT_TRUE(provider.ok());
  const char* dir = getenv("TEST_TMPDIR");
  auto storage = kms::SqliteStorage::Open(absl::StrCat(dir ? dir : "/tmp", "/prof-", getpid(), ".db"));
  ASSERT_TRUE(storage.ok());
  kms::Barrier barrier(hsm->get(), storage->get());
  ASSERT_TRUE(barrier.Unseal().ok());
  Ca ca(hsm->get(), provider->get(), storage->get(), &barrier, CaOptions());
  v1::CreateRootIssuerRequest rreq;
  rreq.set_issuer_name("root");
  rreq.set_common_name("Root");
  rreq.mutable_ttl()->set_seconds(86400 * 30);
  auto root = ca.CreateRootIssuer(rreq);
  ASSERT_TRUE(root.ok()) << root.status();
  v1::Role role;
  role.set_name("web");
  role.set_issuer_name("root");
  role.add_allowed_domains("bench.example");
  role.set_allow_subdomains(true);
  role.set_server_flag(true);
  role.mutable_ttl()->set_seconds(3600);
  role.set_no_store(true);
  ASSERT_TRUE(ca.PutRole(role, kAllRights).ok());
  auto key = GenerateSoftwareKey(v1::EC_P256);
  auto csr = BuildCsr("svc.bench.example", key->get(), Signer{key->get(), nullptr, nullptr});
  std::string csr_pem = CsrToPem(csr->get());
  v1::SignCertificateRequest req;
  req.set_role("web");
  req.set_csr_pem(csr_pem);
  req.set_common_name("svc.bench.example");
  const int n = 2000;
  std::printf("SignCertificate stages (P-256 CSR, P-256 HSM issuer), 1 thread:\n");
  Time("Ca::SignCertificate (no_store), total", n,
       [&] { ASSERT_TRUE(ca.SignCertificate(req, kAllRights).ok()); });
  Time("ParseCsr (PEM + signature verify)", n, [&] { ASSERT_TRUE(ParseCsr(csr_pem).ok()); });
  auto parsed = ParseCsr(csr_pem);
  Time("CsrPublicKey + CheckCsrKey", n, [&] {
    auto pk = CsrPublicKey(parsed->get());
    ASSERT_TRUE(CheckCsrKey(role, pk->get()).ok());
  });
  v1::GetRoleRequest grole;
  grole.set_name("web");
  Time("GetRole (storage read + parse)", n, [&] { ASSERT_TRUE(ca.GetRole(grole).ok()); });
  Time("LoadIssuerKey (storage read + cert d2i + cache)", n,
       [&] { ASSERT_TRUE(ca.LoadIssuerKey("root").ok()); });
  NameRequest names;
  names.common_name = "svc.bench.example";
  Time("CertificateNames", n, [&] { (void)CertificateNames(role, names, false); });
  names = CertificateNames(role, names, false);
  Time("CheckRequest", n, [&] {
    absl::Duration ttl;
    ASSERT_TRUE(CheckRequest(role, names, absl::ZeroDuration(), absl::Now() + absl::Hours(1000),
                             absl::Now(), &ttl).ok());
  });
  auto ik = ca.LoadIssuerKey("root");
  ASSERT_TRUE(ik.ok());
  auto pk = CsrPublicKey(parsed->get());
  CertificateParams params;
  params.names = names;
  params.public_key = pk->get();
  params.not_before = absl::Now();
  params.not_after = absl::Now() + absl::Hours(1);
  params.server_auth = true;
  params.issuing_certificate_url = "https://127.0.0.1:7401/v1/pki/root/ca";
  params.ocsp_url = "https://127.0.0.1:7401/v1/pki/root/ocsp";
  params.crl_distribution_point = "https://127.0.0.1:7401/v1/pki/root/crl";
  Time("BuildCertificate, HSM signer, X509_set_pubkey", n,
       [&] { ASSERT_TRUE(BuildCertificate(params, ik->signer()).ok()); });
  CertificateParams csr_params = params;
  csr_params.public_key_info = X509_REQ_get_X509_PUBKEY(parsed->get());
  Time("BuildCertificate, HSM signer, CSR's SPKI copied (as Ca)", n,
       [&] { ASSERT_TRUE(BuildCertificate(csr_params, ik->signer()).ok()); });
  auto soft_issuer_key = GenerateSoftwareKey(v1::EC_P256);
  Time("BuildCertificate, software signer", n, [&] {
    Signer s{soft_issuer_key->get(), nullptr, nullptr};
    CertificateParams p = params;
    p.public_key = soft_issuer_key->get();
    ASSERT_TRUE(BuildCertificate(p, s).ok());
  });
  Time("EVP_PKEY_eq(provider key, cert pubkey)", n, [&] {
    EVP_PKEY_eq(ik->key.get(), X509_get0_pubkey(ik->certificate.get()));
    ERR_clear_error();
  });
  Time("NewSigningContext (provider)", n, [&] { ASSERT_TRUE(NewSigningContext(ik->signer()).ok()); });
  std::string digest(32, 'd');
  std::string label = root->key_uri().substr(root->key_uri().find("object=") + 7);
  label = label.substr(0, label.find(';'));
  Time("Hsm::Sign ECDSA P-256 (session pool + C_Sign)", n, [&] {
    ASSERT_TRUE((*hsm)->Sign(label, hsm::SignScheme::kEcdsa, hsm::HashAlgorithm::kSha256, digest).ok());
  });
  Time("EVP_DigestSign via provider (ctx + sign 300B)", n, [&] {
    auto ctx = NewSigningContext(ik->signer());
    unsigned char sig[128];
    size_t len = sizeof(sig);
    ASSERT_EQ(EVP_DigestSign(ctx->get(), sig, &len, reinterpret_cast<const unsigned char*>(csr_pem.data()), 300), 1);
  });
  auto built = BuildCertificate(params, ik->signer());
  Time("X509_set_pubkey (CSR's EVP_PKEY)", n, [&] {
    hsm::X509Ptr c(X509_new());
    X509_set_pubkey(c.get(), pk->get());
  });
  Time("X509_PUBKEY copy via get0/set0_param", n, [&] {
    hsm::X509Ptr c(X509_new());
    ASN1_OBJECT* obj = nullptr;
    const unsigned char* pk_bytes = nullptr;
    int pk_len = 0;
    X509_ALGOR* alg = nullptr;
    X509_PUBKEY_get0_param(&obj, &pk_bytes, &pk_len, &alg, X509_REQ_get_X509_PUBKEY(parsed->get()));
    int ptype = 0;
    const void* pval = nullptr;
    X509_ALGOR_get0(nullptr, &ptype, &pval, alg);
    void* pv = ptype == V_ASN1_OBJECT ? (void*)OBJ_dup((const ASN1_OBJECT*)pval) : nullptr;
    unsigned char* enc = (unsigned char*)OPENSSL_memdup(pk_bytes, pk_len);
    ASSERT_EQ(X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(c.get()), OBJ_dup(obj), ptype, pv, enc, pk_len), 1);
  });
  Time("X509_PUBKEY_get0 (csr pubkey obj) i2d", n, [&] {
    unsigned char* b = nullptr; int l = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(parsed->get()), &b); OPENSSL_free(b); ASSERT_GT(l, 0);
  });
  std::string issuer_der;
  {
    unsigned char* b = nullptr;
    int l = i2d_X509(ik->certificate.get(), &b);
    issuer_der.assign(reinterpret_cast<char*>(b), l);
    OPENSSL_free(b);
  }
  Time("d2i_X509 (issuer certificate)", n, [&] {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(issuer_der.data());
    hsm::X509Ptr c(d2i_X509(nullptr, &p, issuer_der.size()));
  });
  Time("PEM_read_bio_X509_REQ (no verify)", n, [&] {
    hsm::BioPtr bio(BIO_new_mem_buf(csr_pem.data(), csr_pem.size()));
    hsm::X509ReqPtr r(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  });
  Time("X509_REQ_verify", n, [&] { X509_REQ_verify(parsed->get(), X509_REQ_get0_pubkey(parsed->get())); });
  Time("SKI hash + AKI keyid:always (X509V3_EXT_conf_nid)", n, [&] {
    hsm::X509Ptr c(X509_new());
    X509_set_pubkey(c.get(), pk->get());
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ik->certificate.get(), c.get(), nullptr, nullptr, 0);
    X509_EXTENSION_free(X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_key_identifier, "hash"));
    X509_EXTENSION_free(X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  });
  Time("X509_sign_ctx with software key (ctx included)", n, [&] {
    hsm::X509Ptr c(X509_dup(built->certificate.get()));
    auto ctx = NewSigningContext(Signer{soft_issuer_key->get(), nullptr, nullptr});
    X509_sign_ctx(c.get(), ctx->get());
  });
  Time("CertificateToPem", n, [&] { CertificateToPem(built->certificate.get()); });
  v1::GetIssuerRequest gi;
  gi.set_issuer_name("root");
  Time("GetIssuer (chain PEM, re-parse)", n, [&] { ASSERT_TRUE(ca.GetIssuer(gi).ok()); });
}

}  // namespace
}  // namespace strongroom::pki
