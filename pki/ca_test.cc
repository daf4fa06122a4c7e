// Ca against a fresh SoftHSM token and SQLite storage, checked with the openssl CLI.
#include "pki/ca.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/change_watcher.h"
#include "kms/sqlite_storage.h"
#include "kms/testing/controlled_storage.h"
#include "pki/records.pb.h"
#include "pki/testing/all_rights.h"

namespace strongroom::pki {
namespace {

using hsm::testing::RunCommand;
using hsm::testing::SoftHsmToken;
using ::testing::HasSubstr;
using ::testing::Not;

// The background lease as a single-writer store grants it, and the same lease after a
// takeover (a later epoch): writes under it must not land.
kms::LeaseFence HeldLease() { return {"background", "test", kms::kSingleWriterLeaseEpoch}; }
kms::LeaseFence LostLease() { return {"background", "test", kms::kSingleWriterLeaseEpoch + 1}; }

const testing::AllRights kAllRights;

std::string Tmp(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string WriteTmp(const std::string& name, const std::string& content) {
  std::string path = Tmp(name);
  EXPECT_TRUE(hsm::testing::WriteFile(path, content, 0644).ok());
  return path;
}

// The cRLNumber of a DER CRL (-1 if it does not parse or has none).
long CrlNumber(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  hsm::X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  if (crl == nullptr) return -1;
  hsm::Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
  return number == nullptr ? -1 : ASN1_INTEGER_get(number.get());
}

// GnuTLS's certtool parses `args` (e.g. "--crl-info --infile x.crl") without errors or
// warnings. Skipped if certtool is not installed.
void ExpectCerttoolClean(const std::string& args) {
  if (RunCommand("command -v certtool").exit_code != 0) {
    GTEST_LOG_(INFO) << "certtool not installed; skipping its check";
    return;
  }
  auto r = RunCommand(absl::StrCat("certtool ", args, " 2>&1"));
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
  const std::string lower = absl::AsciiStrToLower(r.output);
  EXPECT_THAT(lower, Not(HasSubstr("warning"))) << args << "\n" << r.output;
  EXPECT_THAT(lower, Not(HasSubstr("error"))) << args << "\n" << r.output;
}

class CaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto token = SoftHsmToken::Create("ca-test");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new SoftHsmToken(*std::move(token));
    auto opened = hsm::Hsm::Open(token_->Options());
    ASSERT_TRUE(opened.ok()) << opened.status();
    hsm_ = opened->release();
    ERR_clear_error();
    auto provider = hsm::HsmProvider::Load(hsm_);
    ASSERT_TRUE(provider.ok()) << provider.status();
    provider_ = provider->release();
  }

  void SetUp() override {
    static int n = 0;
    db_ = Tmp(absl::StrCat("ca", ++n, ".db"));
    OpenCa();
  }

  void OpenCa() {
    ca_.reset();
    barrier_.reset();
    storage_.reset();
    auto storage = kms::SqliteStorage::Open(db_);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    barrier_ = std::make_unique<kms::Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    CaOptions options;
    options.base_url = "https://ca.test:7401";
    ca_ = std::make_unique<Ca>(hsm_, provider_, storage_.get(), barrier_.get(), options);
  }

  v1::Issuer MakeRoot(const std::string& name) {
    v1::CreateRootIssuerRequest req;
    req.set_issuer_name(name);
    req.set_common_name(absl::StrCat(name, " Root CA"));
    req.mutable_ttl()->set_seconds(3600 * 24 * 365);
    auto issuer = ca_->CreateRootIssuer(req);
    EXPECT_TRUE(issuer.ok()) << issuer.status();
    return issuer.ok() ? *issuer : v1::Issuer();
  }

  v1::Role MakeRole(const std::string& name, const std::string& issuer, bool no_store = false) {
    v1::Role role;
    role.set_name(name);
    role.set_issuer_name(issuer);
    role.add_allowed_domains("example.com");
    role.set_allow_subdomains(true);
    role.set_server_flag(true);
    role.mutable_max_ttl()->set_seconds(3600 * 24 * 90);
    role.set_no_store(no_store);
    auto put = ca_->PutRole(role, kAllRights);
    EXPECT_TRUE(put.ok()) << put.status();
    return role;
  }

  v1::IssuedCertificate Issue(const std::string& role, const std::string& cn) {
    v1::IssueCertificateRequest req;
    req.set_role(role);
    req.set_common_name(cn);
    req.add_dns_sans(cn);
    auto issued = ca_->IssueCertificate(req, kAllRights);
    EXPECT_TRUE(issued.ok()) << issued.status();
    return issued.ok() ? *issued : v1::IssuedCertificate();
  }

  static SoftHsmToken* token_;
  static hsm::Hsm* hsm_;
  static hsm::HsmProvider* provider_;
  std::string db_;
  std::unique_ptr<kms::SqliteStorage> storage_;
  std::unique_ptr<kms::Barrier> barrier_;
  std::unique_ptr<Ca> ca_;
};
SoftHsmToken* CaTest::token_ = nullptr;
hsm::Hsm* CaTest::hsm_ = nullptr;
hsm::HsmProvider* CaTest::provider_ = nullptr;

TEST_F(CaTest, RootIntermediateLeafChainVerifiesStrictly) {
  v1::Issuer root = MakeRoot("root");
  EXPECT_THAT(root.key_uri(), HasSubstr("object=strongroom-ca-root-"));

  v1::CreateIntermediateIssuerRequest ireq;
  ireq.set_issuer_name("inter");
  ireq.set_common_name("Intermediate CA");
  ireq.set_key_type(v1::EC_P384);
  auto inter = ca_->CreateIntermediateIssuer(ireq);
  ASSERT_TRUE(inter.ok()) << inter.status();
  EXPECT_TRUE(inter->issuer().certificate_pem().empty());

  // Not usable before its certificate is imported.
  MakeRole("early", "inter");
  v1::IssueCertificateRequest early;
  early.set_role("early");
  early.set_common_name("a.example.com");
  EXPECT_EQ(ca_->IssueCertificate(early, kAllRights).status().code(),
            absl::StatusCode::kFailedPrecondition);

  v1::SignIntermediateRequest sreq;
  sreq.set_issuer_name("root");
  sreq.set_csr_pem(inter->csr_pem());
  sreq.set_max_path_length(0);
  sreq.mutable_ttl()->set_seconds(3600 * 24 * 180);
  auto signed_inter = ca_->SignIntermediate(sreq);
  ASSERT_TRUE(signed_inter.ok()) << signed_inter.status();

  // The root's own certificate is not the intermediate's key.
  v1::ImportIssuerCertificateRequest bad;
  bad.set_issuer_name("inter");
  bad.set_certificate_pem(root.certificate_pem());
  bad.set_chain_pem(root.chain_pem());
  EXPECT_EQ(ca_->ImportIssuerCertificate(bad).status().code(),
            absl::StatusCode::kFailedPrecondition);

  v1::ImportIssuerCertificateRequest imp;
  imp.set_issuer_name("inter");
  imp.set_certificate_pem(signed_inter->certificate_pem());
  imp.set_chain_pem(signed_inter->ca_chain_pem());
  auto imported = ca_->ImportIssuerCertificate(imp);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_FALSE(imported->serial_number().empty());

  // pathlen:0 forbids further CAs below the intermediate.
  sreq.set_issuer_name("inter");
  EXPECT_EQ(ca_->SignIntermediate(sreq).status().code(), absl::StatusCode::kFailedPrecondition);

  MakeRole("web", "inter");
  v1::IssuedCertificate leaf = Issue("web", "www.example.com");
  EXPECT_THAT(leaf.private_key_pem(), HasSubstr("BEGIN PRIVATE KEY"));

  std::string root_path = WriteTmp("root.pem", root.certificate_pem());
  std::string inter_path = WriteTmp("inter.pem", imported->certificate_pem());
  std::string leaf_path = WriteTmp("leaf.pem", leaf.certificate_pem());
  auto r = RunCommand(absl::StrCat("openssl verify -x509_strict -CAfile ", root_path,
                                   " -untrusted ", inter_path, " ", leaf_path));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::string chain_path = WriteTmp("chain.pem", leaf.ca_chain_pem());
  r = RunCommand(absl::StrCat("openssl verify -x509_strict -CAfile ", root_path, " -untrusted ",
                              chain_path, " ", leaf_path));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand(absl::StrCat("openssl x509 -noout -text -in ", leaf_path));
  EXPECT_THAT(r.output, HasSubstr("https://ca.test:7401/v1/pki/inter/ca"));
  EXPECT_THAT(r.output, HasSubstr("https://ca.test:7401/v1/pki/inter/ocsp"));
  EXPECT_THAT(r.output, HasSubstr("https://ca.test:7401/v1/pki/inter/crl"));
  // The leaf key matches the certificate.
  std::string key_path = WriteTmp("leaf.key", leaf.private_key_pem());
  auto a = RunCommand(absl::StrCat("openssl pkey -pubout -in ", key_path));
  auto b = RunCommand(absl::StrCat("openssl x509 -noout -pubkey -in ", leaf_path));
  EXPECT_EQ(a.output, b.output);
  r = RunCommand(absl::StrCat("openssl x509 -noout -text -in ", inter_path));
  EXPECT_THAT(r.output, HasSubstr("CA:TRUE, pathlen:0"));
  // certtool parses the leaf, the chain the CA returned with it, and the issuers.
  for (const std::string& path : {leaf_path, chain_path, inter_path, root_path}) {
    ExpectCerttoolClean(absl::StrCat("-i --infile ", path));
  }
  std::string full_chain = WriteTmp("full-chain.pem", leaf.certificate_pem() + leaf.ca_chain_pem());
  ExpectCerttoolClean(absl::StrCat("--verify-chain --infile ", full_chain));

  auto issuers = ca_->ListIssuers(v1::ListIssuersRequest());
  ASSERT_TRUE(issuers.ok());
  EXPECT_THAT(issuers->issuer_names(), ::testing::ElementsAre("inter", "root"));
}

TEST_F(CaTest, RoleViolationsAreRefused) {
  MakeRoot("r");
  MakeRole("web", "r");
  v1::IssueCertificateRequest req;
  req.set_role("web");
  req.set_common_name("www.evil.com");
  auto issued = ca_->IssueCertificate(req, kAllRights);
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kPermissionDenied);
  req.set_common_name("www.example.com");
  req.add_ip_sans("10.0.0.1");
  EXPECT_EQ(ca_->IssueCertificate(req, kAllRights).status().code(),
            absl::StatusCode::kPermissionDenied);
  req.clear_ip_sans();
  req.mutable_ttl()->set_seconds(3600 * 24 * 365);
  EXPECT_EQ(ca_->IssueCertificate(req, kAllRights).status().code(),
            absl::StatusCode::kInvalidArgument);
  req.set_role("nope");
  EXPECT_EQ(ca_->IssueCertificate(req, kAllRights).status().code(), absl::StatusCode::kNotFound);

  v1::Role bad;
  bad.set_name("bad");
  bad.set_issuer_name("missing");
  auto put = ca_->PutRole(bad, kAllRights);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(put.status().message(), HasSubstr("issuer_name"));
  bad.set_issuer_name("r");
  bad.mutable_ttl()->set_seconds(100);
  bad.mutable_max_ttl()->set_seconds(10);
  put = ca_->PutRole(bad, kAllRights);
  EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(put.status().message(), HasSubstr("max_ttl"));

  // A CSR with a CA:TRUE request and a name outside the role.
  std::string key = Tmp("csr.key"), csr = Tmp("csr.pem");
  auto r = RunCommand(absl::StrCat(
      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
      "-nodes -keyout ",
      key, " -out ", csr, " -subj /CN=api.example.com -addext basicConstraints=CA:TRUE"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto pem = RunCommand(absl::StrCat("cat ", csr)).output;
  v1::SignCertificateRequest sreq;
  sreq.set_role("web");
  sreq.set_csr_pem(pem);
  auto signed_cert = ca_->SignCertificate(sreq, kAllRights);
  ASSERT_TRUE(signed_cert.ok()) << signed_cert.status();
  std::string path = WriteTmp("signed.pem", signed_cert->certificate_pem());
  r = RunCommand(absl::StrCat("openssl x509 -noout -text -in ", path));
  EXPECT_THAT(r.output, HasSubstr("CA:FALSE"));
  EXPECT_THAT(r.output, HasSubstr("CN = api.example.com"));
  sreq.set_common_name("www.evil.com");
  EXPECT_EQ(ca_->SignCertificate(sreq, kAllRights).status().code(),
            absl::StatusCode::kPermissionDenied);

  v1::DeleteRoleRequest del;
  del.set_name("web");
  EXPECT_TRUE(ca_->DeleteRole(del, kAllRights).ok());
  v1::GetRoleRequest get;
  get.set_name("web");
  EXPECT_EQ(ca_->GetRole(get).status().code(), absl::StatusCode::kNotFound);
}

// What the CA asked of the caller's rights, in order ("kAdmin r1", "names cn=... dns=...
// uri=..."); refuses the issuers and URI SANs it is told to.
class RecordedRights final : public CallerRights {
 public:
  std::set<std::string> refused_issuers;
  std::set<std::string> refused_uris;
  mutable std::vector<std::string> asked;

  absl::Status CheckIssuer(IssuerUse use, absl::string_view issuer) const override {
    const char* what = use == IssuerUse::kAdmin   ? "kAdmin"
                       : use == IssuerUse::kIssue ? "kIssue"
                                                  : "kSign";
    asked.push_back(absl::StrCat(what, " ", issuer));
    if (refused_issuers.count(std::string(issuer))) {
      return absl::PermissionDeniedError(absl::StrCat("refused issuer ", issuer));
    }
    return absl::OkStatus();
  }
  absl::Status CheckNames(const NameRequest& names) const override {
    asked.push_back(absl::StrCat("names cn=", names.common_name,
                                 " dns=", absl::StrJoin(names.dns_sans, ","),
                                 " uri=", absl::StrJoin(names.uri_sans, ",")));
    for (const std::string& uri : names.uri_sans) {
      if (refused_uris.count(uri)) return absl::PermissionDeniedError("refused name");
    }
    return absl::OkStatus();
  }
};

// Role writes ask for rights on the issuer a role is bound to before and after; issuance
// asks for rights on the role's issuer as stored and on the names the certificate will carry
// (the CSR's, when the request names none), before anything is signed or stored.
TEST_F(CaTest, CallerRightsAreCheckedAgainstTheStoredRole) {
  MakeRoot("shared");
  MakeRoot("own");
  v1::Role role;
  role.set_name("team");
  role.set_issuer_name("shared");
  role.add_allowed_domains("example.com");
  role.set_allow_subdomains(true);
  role.add_allowed_uri_sans("spiffe://prod.example/*");
  role.set_client_flag(true);
  v1::GetRoleRequest get;
  get.set_name("team");

  RecordedRights rights;
  rights.refused_issuers = {"shared"};
  // A new role bound to an issuer the caller may not administer.
  EXPECT_EQ(ca_->PutRole(role, rights).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(rights.asked, ::testing::ElementsAre("kAdmin shared"));
  EXPECT_EQ(ca_->GetRole(get).status().code(), absl::StatusCode::kNotFound);
  // Nor does the caller learn whether a refused issuer exists.
  role.set_issuer_name("no-such-issuer");
  rights.refused_issuers = {"no-such-issuer"};
  EXPECT_EQ(ca_->PutRole(role, rights).status().code(), absl::StatusCode::kPermissionDenied);

  role.set_issuer_name("shared");
  ASSERT_TRUE(ca_->PutRole(role, kAllRights).ok());
  // Rebinding to an issuer the caller holds still needs the one the role is bound to now;
  // deleting the role too.
  rights = RecordedRights();
  rights.refused_issuers = {"shared"};
  role.set_issuer_name("own");
  EXPECT_EQ(ca_->PutRole(role, rights).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(rights.asked, ::testing::ElementsAre("kAdmin own", "kAdmin shared"));
  v1::DeleteRoleRequest del;
  del.set_name("team");
  EXPECT_EQ(ca_->DeleteRole(del, rights).status().code(), absl::StatusCode::kPermissionDenied);
  auto stored = ca_->GetRole(get);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->issuer_name(), "shared");

  // Issuance: the stored role's issuer, then the names.
  v1::IssueCertificateRequest issue;
  issue.set_role("team");
  issue.set_common_name("svc.example.com");
  issue.add_uri_sans("spiffe://prod.example/payments/api");
  rights.asked.clear();
  EXPECT_EQ(ca_->IssueCertificate(issue, rights).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(rights.asked, ::testing::ElementsAre("kIssue shared"));
  rights.refused_issuers.clear();
  rights.refused_uris = {"spiffe://prod.example/payments/api"};
  rights.asked.clear();
  EXPECT_EQ(ca_->IssueCertificate(issue, rights).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(
      rights.asked,
      ::testing::ElementsAre(
          "kIssue shared",
          "names cn=svc.example.com dns=svc.example.com uri=spiffe://prod.example/payments/api"));
  auto listed = ca_->ListCertificates(v1::ListCertificatesRequest());
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->serial_numbers_size(), 0) << "a refused certificate was stored";

  // SignCertificate: names from the CSR when the request gives none are the ones checked.
  std::string key = Tmp("rights.key");
  auto pem = RunCommand(absl::StrCat(
      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ", key,
      " -subj /CN=csr.example.com -addext subjectAltName=URI:spiffe://prod.example/payments/api"
      " 2>/dev/null"));
  ASSERT_EQ(pem.exit_code, 0) << pem.output;
  v1::SignCertificateRequest sign;
  sign.set_role("team");
  sign.set_csr_pem(pem.output);
  rights.asked.clear();
  EXPECT_EQ(ca_->SignCertificate(sign, rights).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(
      rights.asked,
      ::testing::ElementsAre(
          "kSign shared",
          "names cn=csr.example.com dns=csr.example.com uri=spiffe://prod.example/payments/api"));
  rights.refused_uris.clear();
  auto signed_cert = ca_->SignCertificate(sign, rights);
  EXPECT_TRUE(signed_cert.ok()) << signed_cert.status();
}

// The subjectAltName extension of a PEM certificate as openssl prints it.
std::string SanText(const std::string& name, const std::string& pem) {
  const std::string path = WriteTmp(name, pem);
  auto r = RunCommand(absl::StrCat("openssl x509 -noout -ext subjectAltName -in ", path));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

// A CSR as `openssl req -subj /CN=...` makes it: a subject CN and no extensions at all.
std::string CnOnlyCsr(const std::string& cn) {
  auto r = RunCommand(absl::StrCat(
      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ",
      Tmp("cn-only.key"), " -subj /CN=", cn, " 2>/dev/null"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

// TLS clients read host names only from the SAN (RFC 6125): the common name goes there too.
TEST_F(CaTest, CommonNameIsAlsoInTheSan) {
  v1::Issuer issuer = MakeRoot("r");
  MakeRole("web", "r");
  v1::SignCertificateRequest sign;
  sign.set_role("web");
  sign.set_csr_pem(CnOnlyCsr("api.example.com"));
  auto signed_cert = ca_->SignCertificate(sign, kAllRights);
  ASSERT_TRUE(signed_cert.ok()) << signed_cert.status();
  EXPECT_THAT(SanText("cn-only.pem", signed_cert->certificate_pem()),
              HasSubstr("DNS:api.example.com"));
  // The host name checks of OpenSSL's verifier (the SAN, not the CN) accept it.
  const std::string root = WriteTmp("r.pem", issuer.certificate_pem());
  auto r = RunCommand(absl::StrCat("openssl verify -x509_strict -verify_hostname api.example.com ",
                                   "-CAfile ", root, " ", Tmp("cn-only.pem")));
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // IssueCertificate with only a common name, and a name the SAN already holds (no twice).
  v1::IssueCertificateRequest issue;
  issue.set_role("web");
  issue.set_common_name("www.example.com");
  auto issued = ca_->IssueCertificate(issue, kAllRights);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_THAT(SanText("cn-issued.pem", issued->certificate_pem()),
              HasSubstr("DNS:www.example.com"));
  issue.add_dns_sans("WWW.example.com");
  issue.add_dns_sans("api.example.com");
  issued = ca_->IssueCertificate(issue, kAllRights);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_THAT(SanText("cn-dup.pem", issued->certificate_pem()),
              HasSubstr("DNS:WWW.example.com, DNS:api.example.com\n"));

  // exclude_cn_from_sans leaves a server certificate without a SAN: refused, saying why.
  sign.set_exclude_cn_from_sans(true);
  auto refused = ca_->SignCertificate(sign, kAllRights);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("subjectAltName"));
  // ... but with another SAN it is honoured: the CN stays out of the SAN.
  sign.add_dns_sans("www.example.com");
  sign.set_common_name("api.example.com");
  signed_cert = ca_->SignCertificate(sign, kAllRights);
  ASSERT_TRUE(signed_cert.ok()) << signed_cert.status();
  std::string san = SanText("excluded.pem", signed_cert->certificate_pem());
  EXPECT_THAT(san, HasSubstr("DNS:www.example.com"));
  EXPECT_THAT(san, Not(HasSubstr("api.example.com")));

  // The role's exclude_cn_from_sans works like the request's; a client-only role may
  // then issue a certificate naming its holder in the subject alone.
  v1::Role client = MakeRole("client", "r");
  client.set_server_flag(false);
  client.set_client_flag(true);
  client.set_exclude_cn_from_sans(true);
  ASSERT_TRUE(ca_->PutRole(client, kAllRights).ok());
  issue.set_role("client");
  issue.clear_dns_sans();
  issued = ca_->IssueCertificate(issue, kAllRights);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_THAT(SanText("client.pem", issued->certificate_pem()),
              Not(HasSubstr("Subject Alternative Name")));

  // An address as common name: an IP SAN, under the role's IP rules.
  issue.set_role("web");
  issue.set_common_name("10.1.2.3");
  EXPECT_EQ(ca_->IssueCertificate(issue, kAllRights).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::Role web = MakeRole("web", "r");
  web.set_allow_ip_sans(true);
  ASSERT_TRUE(ca_->PutRole(web, kAllRights).ok());
  issued = ca_->IssueCertificate(issue, kAllRights);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_THAT(SanText("ip.pem", issued->certificate_pem()), HasSubstr("IP Address:10.1.2.3"));
}

// The document URLs follow SetBaseUrl (a listener bound to port 0 learns its port late);
// the CA issuers URL names the DER form RFC 5280 4.2.2.1 requires.
TEST_F(CaTest, DocumentUrlsFollowTheBaseUrl) {
  MakeRoot("r");
  MakeRole("web", "r");
  ca_->SetBaseUrl("http://pki.example:8080");
  v1::IssuedCertificate leaf = Issue("web", "www.example.com");
  std::string path = WriteTmp("urls.pem", leaf.certificate_pem());
  auto r = RunCommand(absl::StrCat("openssl x509 -noout -text -in ", path));
  EXPECT_THAT(r.output, HasSubstr("OCSP - URI:http://pki.example:8080/v1/pki/r/ocsp\n"));
  EXPECT_THAT(r.output,
              HasSubstr("CA Issuers - URI:http://pki.example:8080/v1/pki/r/ca?format=der\n"));
  EXPECT_THAT(r.output, HasSubstr("URI:http://pki.example:8080/v1/pki/r/crl\n"));
  EXPECT_THAT(r.output, Not(HasSubstr("ca.test")));
}

TEST_F(CaTest, RevocationAppearsInAVerifiedCrlWithIncreasingNumbers) {
  v1::Issuer root = MakeRoot("rv");
  MakeRole("web", "rv");
  v1::IssuedCertificate a = Issue("web", "a.example.com");
  v1::IssuedCertificate b = Issue("web", "b.example.com");

  v1::GetCrlRequest crl_req;
  crl_req.set_issuer_name("rv");
  auto crl1 = ca_->GetCrl(crl_req);
  ASSERT_TRUE(crl1.ok()) << crl1.status();

  v1::RevokeCertificateRequest rev;
  rev.set_serial_number(absl::AsciiStrToUpper(a.serial_number()));
  rev.set_reason(v1::REVOCATION_REASON_CESSATION_OF_OPERATION);
  auto revoked = ca_->RevokeCertificate(rev);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_GT(revoked->revocation_time().seconds(), 0);
  v1::GetCertificateRequest get;
  get.set_serial_number(a.serial_number());
  auto record = ca_->GetCertificate(get);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_TRUE(record->has_revocation_time());
  EXPECT_EQ(record->revocation_reason(), v1::REVOCATION_REASON_CESSATION_OF_OPERATION);
  EXPECT_EQ(record->role(), "web");

  auto crl2 = ca_->GetCrl(crl_req);
  ASSERT_TRUE(crl2.ok()) << crl2.status();
  std::string ca_path = WriteTmp("rv.pem", root.certificate_pem());
  std::string crl_path = WriteTmp("rv.crl", crl2->crl_pem());
  auto r = RunCommand(
      absl::StrCat("openssl crl -verify -noout -text -CAfile ", ca_path, " -in ", crl_path));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("verify OK"));
  EXPECT_THAT(r.output,
              HasSubstr(absl::StrCat("Serial Number: ", absl::AsciiStrToUpper(a.serial_number()))));
  EXPECT_THAT(r.output, Not(HasSubstr(absl::AsciiStrToUpper(b.serial_number()))));
  // GetCrl #1 built CRL 1 (none was stored), the revocation CRL 2, which GetCrl #2 serves.
  EXPECT_THAT(r.output, HasSubstr("X509v3 CRL Number: \n                2"));
  EXPECT_THAT(r.output, HasSubstr("X509v3 CRL Reason Code: \n                Cessation Of Operation"));
  EXPECT_GT(crl2->next_update().seconds(), crl2->this_update().seconds());

  ExpectCerttoolClean(absl::StrCat("--crl-info --infile ", crl_path));
  std::string der_path = WriteTmp("rv.crl.der", crl2->crl_der());
  ExpectCerttoolClean(absl::StrCat("--crl-info --inder --infile ", der_path));
  ExpectCerttoolClean(
      absl::StrCat("--verify-crl --load-ca-certificate ", ca_path, " --infile ", crl_path));

  // The leaf fails verification once the CRL is checked.
  std::string leaf_path = WriteTmp("rv-leaf.pem", a.certificate_pem());
  r = RunCommand(absl::StrCat("openssl verify -crl_check -CAfile ", ca_path, " -CRLfile ", crl_path,
                              " ", leaf_path));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("revoked"));

  rev.set_serial_number(b.serial_number());
  for (int reason : {6, 7, 8, 11}) {  // hold, unassigned, removeFromCRL, past the last
    rev.set_reason(static_cast<v1::RevocationReason>(reason));
    EXPECT_EQ(ca_->RevokeCertificate(rev).status().code(), absl::StatusCode::kInvalidArgument)
        << reason;
  }
  rev.set_reason(v1::REVOCATION_REASON_UNSPECIFIED);
  rev.set_serial_number("ff");
  EXPECT_EQ(ca_->RevokeCertificate(rev).status().code(), absl::StatusCode::kNotFound);
  rev.set_serial_number("zz");
  EXPECT_EQ(ca_->RevokeCertificate(rev).status().code(), absl::StatusCode::kInvalidArgument);

  v1::ListCertificatesRequest list;
  list.set_issuer_name("rv");
  auto listed = ca_->ListCertificates(list);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->serial_numbers_size(), 2);
}

TEST_F(CaTest, CrlIsStoredOnRevokeAndRefreshedWhenDue) {
  MakeRoot("sched");
  MakeRole("web", "sched");
  v1::IssuedCertificate a = Issue("web", "a.example.com");
  v1::GetCrlRequest crl_req;
  crl_req.set_issuer_name("sched");

  // The first GetCrl builds CRL 1; later ones serve the same bytes.
  auto first = ca_->GetCrl(crl_req);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(CrlNumber(first->crl_der()), 1);
  auto again = ca_->GetCrl(crl_req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->crl_der(), first->crl_der());
  EXPECT_EQ(again->crl_pem(), first->crl_pem());
  EXPECT_EQ(again->next_update().seconds(), first->next_update().seconds());
  // The PEM is the DER's, as openssl writes it.
  std::string pem_path = WriteTmp("sched.crl", first->crl_pem());
  auto r = RunCommand(absl::StrCat("openssl crl -in ", pem_path, " -outform DER | cmp - ",
                                   WriteTmp("sched.crl.der", first->crl_der())));
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // A revocation builds CRL 2 listing it, served from then on (also by a new Ca).
  v1::RevokeCertificateRequest rev;
  rev.set_serial_number(a.serial_number());
  ASSERT_TRUE(ca_->RevokeCertificate(rev).ok());
  auto revoked = ca_->GetCrl(crl_req);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_EQ(CrlNumber(revoked->crl_der()), 2);
  OpenCa();
  auto reopened = ca_->GetCrl(crl_req);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(reopened->crl_der(), revoked->crl_der());

  // Not yet due (default crl_validity 24 h: due after 12 h): unchanged.
  const absl::Time built = absl::FromUnixSeconds(revoked->this_update().seconds());
  ASSERT_TRUE(ca_->RefreshDueCrls(built + absl::Hours(11), HeldLease()).ok());
  auto not_due = ca_->GetCrl(crl_req);
  ASSERT_TRUE(not_due.ok());
  EXPECT_EQ(not_due->crl_der(), revoked->crl_der());

  // Past the half-life: CRL 3, thisUpdate = now, nextUpdate = now + 24 h, still listing
  // the revoked serial.
  const absl::Time later = built + absl::Hours(12) + absl::Seconds(1);
  // Due, but under a lease that was taken over: nothing is stored.
  absl::Status lost = ca_->RefreshDueCrls(later, LostLease());
  EXPECT_EQ(lost.code(), absl::StatusCode::kFailedPrecondition) << lost;
  EXPECT_EQ(ca_->GetCrl(crl_req)->crl_der(), revoked->crl_der());
  ASSERT_TRUE(ca_->RefreshDueCrls(later, HeldLease()).ok());
  auto refreshed = ca_->GetCrl(crl_req);
  ASSERT_TRUE(refreshed.ok()) << refreshed.status();
  EXPECT_EQ(CrlNumber(refreshed->crl_der()), 3);
  EXPECT_EQ(refreshed->this_update().seconds(), absl::ToUnixSeconds(later));
  EXPECT_EQ(refreshed->next_update().seconds(), absl::ToUnixSeconds(later + absl::Hours(24)));
  std::string path = WriteTmp("sched3.crl", refreshed->crl_pem());
  r = RunCommand(absl::StrCat("openssl crl -noout -text -in ", path));
  EXPECT_THAT(r.output,
              HasSubstr(absl::StrCat("Serial Number: ", absl::AsciiStrToUpper(a.serial_number()))));
  ExpectCerttoolClean(absl::StrCat("--crl-info --infile ", path));
  // Refreshing again at the same time does nothing.
  ASSERT_TRUE(ca_->RefreshDueCrls(later, HeldLease()).ok());
  EXPECT_EQ(CrlNumber(ca_->GetCrl(crl_req)->crl_der()), 3);

  // An issuer with no CRL yet gets one; one awaiting its certificate is skipped.
  MakeRoot("fresh");
  v1::CreateIntermediateIssuerRequest ireq;
  ireq.set_issuer_name("pending");
  ireq.set_common_name("Pending CA");
  ASSERT_TRUE(ca_->CreateIntermediateIssuer(ireq).ok());
  ASSERT_TRUE(ca_->RefreshDueCrls(absl::Now(), HeldLease()).ok());
  crl_req.set_issuer_name("fresh");
  auto fresh = ca_->GetCrl(crl_req);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(CrlNumber(fresh->crl_der()), 1);
  crl_req.set_issuer_name("pending");
  EXPECT_EQ(ca_->GetCrl(crl_req).status().code(), absl::StatusCode::kFailedPrecondition);
  crl_req.set_issuer_name("nosuch");
  EXPECT_EQ(ca_->GetCrl(crl_req).status().code(), absl::StatusCode::kNotFound);

  // Sealed: nothing to do, no error.
  barrier_->Seal("test");
  EXPECT_TRUE(ca_->RefreshDueCrls(later + absl::Hours(24), HeldLease()).ok());
  EXPECT_EQ(ca_->GetCrl(crl_req).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(barrier_->Unseal().ok());
}

// The revoked index keeps what a CRL entry needs (serial, time, reason), not the
// certificate: a CRL rebuild reads every entry, so their size is its working set. Entries
// written whole by earlier versions are still read, and the CRL lists every entry however
// many there are (they are read in pages).
TEST_F(CaTest, RevokedIndexHoldsOnlyWhatTheCrlNeeds) {
  MakeRoot("ix");
  MakeRole("web", "ix");
  v1::IssuedCertificate a = Issue("web", "a.example.com");
  v1::IssuedCertificate b = Issue("web", "b.example.com");
  v1::RevokeCertificateRequest rev;
  rev.set_serial_number(a.serial_number());
  rev.set_reason(v1::REVOCATION_REASON_KEY_COMPROMISE);
  auto revoked = ca_->RevokeCertificate(rev);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  auto entry = storage_->Get(absl::StrCat("pki/revoked/ix/", a.serial_number()));
  ASSERT_TRUE(entry.ok() && entry->has_value()) << entry.status();
  CertificateRecord index;
  ASSERT_TRUE(index.ParseFromString((*entry)->value));
  EXPECT_EQ(index.serial_number(), a.serial_number());
  EXPECT_EQ(index.revocation_time().seconds(), revoked->revocation_time().seconds());
  EXPECT_EQ(index.revocation_reason(), v1::REVOCATION_REASON_KEY_COMPROMISE);
  EXPECT_TRUE(index.certificate_der().empty());
  EXPECT_TRUE(index.role().empty());
  EXPECT_LT((*entry)->value.size(), 128u);

  // Entries as earlier versions wrote them (the whole record), more than a page of them.
  constexpr int kWritten = 2500;
  kms::WriteBatch batch;
  CertificateRecord whole = index;
  whole.set_certificate_der(std::string(700, 'x'));
  whole.set_role("web");
  for (int i = 0; i < kWritten; ++i) {
    whole.set_serial_number(absl::StrCat("7e", absl::Hex(i, absl::kZeroPad6)));
    batch.Put(absl::StrCat("pki/revoked/ix/", whole.serial_number()), whole.SerializeAsString());
  }
  ASSERT_TRUE(storage_->Commit(batch).ok());
  rev.set_serial_number(b.serial_number());
  ASSERT_TRUE(ca_->RevokeCertificate(rev).ok());
  v1::GetCrlRequest crl_req;
  crl_req.set_issuer_name("ix");
  auto crl = ca_->GetCrl(crl_req);
  ASSERT_TRUE(crl.ok()) << crl.status();
  const auto* p = reinterpret_cast<const unsigned char*>(crl->crl_der().data());
  hsm::X509CrlPtr parsed(d2i_X509_CRL(nullptr, &p, static_cast<long>(crl->crl_der().size())));
  ASSERT_NE(parsed, nullptr);
  std::set<std::string> serials;
  STACK_OF(X509_REVOKED)* listed = X509_CRL_get_REVOKED(parsed.get());
  for (int i = 0; i < sk_X509_REVOKED_num(listed); ++i) {
    hsm::BignumPtr bn(ASN1_INTEGER_to_BN(
        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(listed, i)), nullptr));
    char* hex = BN_bn2hex(bn.get());
    serials.insert(absl::AsciiStrToLower(hex));
    OPENSSL_free(hex);
  }
  EXPECT_EQ(serials.size(), kWritten + 2u);
  EXPECT_EQ(serials.count(absl::AsciiStrToLower(a.serial_number())), 1u);
  EXPECT_EQ(serials.count(absl::AsciiStrToLower(b.serial_number())), 1u);
  EXPECT_EQ(serials.count("7e000000"), 1u);
  EXPECT_EQ(serials.count(absl::StrCat("7e", absl::Hex(kWritten - 1, absl::kZeroPad6))), 1u);
}

// The trust epoch moves after each change relying parties must see at once (a new issuer
// certificate, a revocation) and not for issuance or repeated revocation.
TEST_F(CaTest, TrustEpochMovesOnNewIssuersAndRevocations) {
  uint64_t epoch = ca_->trust_epoch();
  MakeRoot("te");
  EXPECT_GT(ca_->trust_epoch(), epoch);
  epoch = ca_->trust_epoch();
  MakeRole("web", "te");
  v1::IssuedCertificate c = Issue("web", "a.example.com");
  EXPECT_EQ(ca_->trust_epoch(), epoch);
  v1::RevokeCertificateRequest rev;
  rev.set_serial_number(c.serial_number());
  ASSERT_TRUE(ca_->RevokeCertificate(rev).ok());
  EXPECT_GT(ca_->trust_epoch(), epoch);
  epoch = ca_->trust_epoch();
  ASSERT_TRUE(ca_->RevokeCertificate(rev).ok());  // already revoked: nothing changes
  EXPECT_EQ(ca_->trust_epoch(), epoch);
  auto status = ca_->LookupCertificateStatus("te", c.serial_number());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->kind, pki::Ca::CertificateStatus::kRevoked);
}

// A role change takes effect for the very next issuance on this node (roles and issuers
// are cached for issuance, epoch_cache.h).
TEST_F(CaTest, RoleChangesApplyToTheNextIssuance) {
  MakeRoot("rc");
  v1::Role role = MakeRole("web", "rc");
  Issue("web", "a.example.com");
  role.clear_allowed_domains();
  role.add_allowed_domains("example.org");
  ASSERT_TRUE(ca_->PutRole(role, kAllRights).ok());
  v1::IssueCertificateRequest req;
  req.set_role("web");
  req.set_common_name("b.example.com");
  EXPECT_EQ(ca_->IssueCertificate(req, kAllRights).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::DeleteRoleRequest del;
  del.set_name("web");
  ASSERT_TRUE(ca_->DeleteRole(del, kAllRights).ok());
  req.set_common_name("c.example.org");
  EXPECT_EQ(ca_->IssueCertificate(req, kAllRights).status().code(), absl::StatusCode::kNotFound);
}

// Storage shared with another node, whose commits this node learns through a change feed
// that the test drives: Deliver() hands a change to the feed, and while `down` is set the
// feed fails, so the node's caches stop being fresh after the watcher's bound.
class FedStorage final : public kms::Storage {
 public:
  explicit FedStorage(kms::Storage* real) : real_(real) {}
  absl::StatusOr<std::optional<kms::Entry>> Get(absl::string_view key) override {
    return real_->Get(key);
  }
  absl::StatusOr<std::vector<kms::Entry>> List(absl::string_view prefix,
                                               absl::string_view start_after,
                                               size_t limit) override {
    return real_->List(prefix, start_after, limit);
  }
  absl::Status Commit(const kms::WriteBatch& batch) override { return real_->Commit(batch); }
  std::string Backend() const override { return real_->Backend(); }
  std::string Location() const override { return real_->Location(); }
  uint32_t SchemaVersion() const override { return real_->SchemaVersion(); }
  absl::StatusOr<std::unique_ptr<kms::ChangeFeed>> Watch() override {
    return std::unique_ptr<kms::ChangeFeed>(new Feed(this));
  }

  void Deliver(std::string key) {
    absl::MutexLock lock(&mu_);
    pending_.push_back({std::move(key), 1});
  }
  std::atomic<bool> down{false};

 private:
  class Feed final : public kms::ChangeFeed {
   public:
    explicit Feed(FedStorage* storage) : storage_(storage) {}
    absl::StatusOr<Batch> Next(absl::Duration max_wait) override {
      absl::SleepFor(std::min(max_wait, absl::Milliseconds(5)));
      if (storage_->down.load()) return absl::UnavailableError("feed down (injected)");
      Batch batch;
      absl::MutexLock lock(&storage_->mu_);
      batch.changes.swap(storage_->pending_);
      batch.resync = first_;
      first_ = false;
      batch.confirmed_as_of = absl::Now();
      return batch;
    }

   private:
    FedStorage* const storage_;
    bool first_ = true;
  };

  kms::Storage* const real_;
  absl::Mutex mu_;
  std::vector<kms::Change> pending_ ABSL_GUARDED_BY(mu_);
};

// Until `done` holds or 10 s pass, polling; whether it held.
bool Eventually(const std::function<bool()>& done) {
  for (absl::Time end = absl::Now() + absl::Seconds(10); absl::Now() < end;) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

// Another node's role change reaches this node's cached roles through the change feed, and
// while the feed cannot confirm they are current this node reads the role from storage.
TEST_F(CaTest, OtherNodesRoleChangesReachTheCache) {
  MakeRoot("fed");
  v1::Role role = MakeRole("web", "fed");
  FedStorage fed(storage_.get());
  kms::ChangeWatcherOptions options;
  options.bound = absl::Milliseconds(200);
  kms::ChangeWatcher watcher(&fed, options);
  Ca node(hsm_, provider_, &fed, barrier_.get(), CaOptions());
  node.WatchChanges(&watcher);
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_TRUE(Eventually([&] { return watcher.fresh(); }));
  v1::IssueCertificateRequest req;
  req.set_role("web");
  req.set_common_name("a.example.com");
  auto issues = [&] { return node.IssueCertificate(req, kAllRights).ok(); };
  ASSERT_TRUE(issues());  // the role is now cached on `node`

  // Changed by the other node (ca_): refused here once the feed reports it.
  role.clear_allowed_domains();
  role.add_allowed_domains("example.org");
  ASSERT_TRUE(ca_->PutRole(role, kAllRights).ok());
  fed.Deliver("pki/roles/web");
  EXPECT_TRUE(Eventually([&] { return !issues(); }));

  // The feed is down: once it is not fresh, changes are read from storage.
  fed.down = true;
  ASSERT_TRUE(Eventually([&] { return !watcher.fresh(); }));
  role.clear_allowed_domains();
  role.add_allowed_domains("example.com");
  ASSERT_TRUE(ca_->PutRole(role, kAllRights).ok());
  EXPECT_TRUE(issues());
}

TEST_F(CaTest, NoStoreRolesKeepNoRecord) {
  MakeRoot("ns");
  MakeRole("ephemeral", "ns", /*no_store=*/true);
  v1::IssuedCertificate c = Issue("ephemeral", "x.example.com");
  ASSERT_FALSE(c.serial_number().empty());
  v1::GetCertificateRequest get;
  get.set_serial_number(c.serial_number());
  EXPECT_EQ(ca_->GetCertificate(get).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CaTest, NewCaOverTheSameStorageStillIssues) {
  v1::Issuer root = MakeRoot("persist");
  MakeRole("web", "persist");
  OpenCa();
  v1::IssuedCertificate c = Issue("web", "later.example.com");
  std::string root_path = WriteTmp("persist.pem", root.certificate_pem());
  std::string leaf_path = WriteTmp("persist-leaf.pem", c.certificate_pem());
  auto r =
      RunCommand(absl::StrCat("openssl verify -x509_strict -CAfile ", root_path, " ", leaf_path));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  v1::CreateRootIssuerRequest again;
  again.set_issuer_name("persist");
  again.set_common_name("x");
  EXPECT_EQ(ca_->CreateRootIssuer(again).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(CaTest, CaKeysAreNeverExtractable) {
  v1::Issuer root = MakeRoot("hsmkey");
  std::string label = root.key_uri().substr(root.key_uri().find("object=") + 7);
  label = label.substr(0, label.find(';'));
  std::string view = token_->DescribeObjects(label);
  EXPECT_THAT(view, HasSubstr("Private Key Object"));
  EXPECT_THAT(view, HasSubstr("never extractable"));
  EXPECT_THAT(view, HasSubstr("sensitive"));
}

TEST_F(CaTest, SealedRefusesWithUnavailable) {
  MakeRoot("sealed");
  barrier_->Seal("test");
  v1::GetIssuerRequest get;
  get.set_issuer_name("sealed");
  EXPECT_EQ(ca_->GetIssuer(get).status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(barrier_->Unseal().ok());
  EXPECT_TRUE(ca_->GetIssuer(get).ok());
}

// Stored issuance shares inventory commits (kms/group_commit.h): every certificate returned
// is durable. A new connection to the database file sees only what was committed.
TEST_F(CaTest, ConcurrentStoredIssuanceIsAllDurable) {
  MakeRoot("burst");
  MakeRole("burst-web", "burst");
  constexpr int kThreads = 8, kEach = 12;
  std::vector<std::vector<std::string>> serials(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        v1::IssueCertificateRequest req;
        req.set_role("burst-web");
        req.set_common_name(absl::StrCat("h", t, "-", i, ".example.com"));
        auto issued = ca_->IssueCertificate(req, kAllRights);
        EXPECT_TRUE(issued.ok()) << issued.status();
        if (issued.ok()) serials[t].push_back(issued->serial_number());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  OpenCa();
  std::set<std::string> distinct;
  for (const auto& list : serials) {
    ASSERT_EQ(list.size(), static_cast<size_t>(kEach));
    for (const std::string& serial : list) {
      v1::GetCertificateRequest get;
      get.set_serial_number(serial);
      auto record = ca_->GetCertificate(get);
      ASSERT_TRUE(record.ok()) << serial << ": " << record.status();
      EXPECT_EQ(record->issuer_name(), "burst");
      distinct.insert(serial);
    }
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads * kEach));
}

TEST_F(CaTest, AFailedInventoryCommitFailsEachIssuanceInIt) {
  MakeRoot("faulty");
  MakeRole("faulty-web", "faulty");
  kms::testing::ControlledStorage faulty(storage_.get());
  Ca ca(hsm_, provider_, &faulty, barrier_.get(), CaOptions());
  faulty.fail_all_ = true;
  constexpr int kThreads = 6;
  std::vector<absl::Status> status(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      v1::IssueCertificateRequest req;
      req.set_role("faulty-web");
      req.set_common_name(absl::StrCat("f", t, ".example.com"));
      status[t] = ca.IssueCertificate(req, kAllRights).status();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : status) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("disk full"));
  }
  faulty.fail_all_ = false;
  v1::IssueCertificateRequest req;
  req.set_role("faulty-web");
  req.set_common_name("ok.example.com");
  auto issued = ca.IssueCertificate(req, kAllRights);
  ASSERT_TRUE(issued.ok()) << issued.status();
  v1::ListCertificatesRequest list;
  list.set_issuer_name("faulty");
  auto listed = ca.ListCertificates(list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(listed->serial_numbers(), ::testing::ElementsAre(issued->serial_number()));
}

}  // namespace
}  // namespace strongroom::pki
