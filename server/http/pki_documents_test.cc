// PkiDocumentRoutes through an HttpRouter over a real Ca (SoftHSM token, SQLite storage):
// the documents, and the RFC 5019 caching headers and 304s.
#include "server/http/pki_documents.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/sqlite_storage.h"
#include "pki/certificate_builder.h"
#include "pki/testing/all_rights.h"

namespace strongroom::server {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

const pki::testing::AllRights kAllRights;

std::string Header(const HttpResponse& response, const std::string& name) {
  for (const auto& [k, v] : response.headers) {
    if (k == name) return v;
  }
  return "";
}

int64_t MaxAge(const HttpResponse& response) {
  std::string cc = Header(response, "Cache-Control");
  int64_t seconds = -1;
  size_t at = cc.find("max-age=");
  if (at == std::string::npos) return -1;
  std::string rest = cc.substr(at + 8, cc.find(',', at) - at - 8);
  return absl::SimpleAtoi(rest, &seconds) ? seconds : -1;
}

class PkiDocumentsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto token = hsm::testing::SoftHsmToken::Create("pki-documents");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new hsm::testing::SoftHsmToken(*std::move(token));
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
    const char* dir = getenv("TEST_TMPDIR");
    auto storage = kms::SqliteStorage::Open(
        absl::StrCat(dir != nullptr ? dir : "/tmp", "/documents", ++n, ".db"));
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    barrier_ = std::make_unique<kms::Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    pki::CaOptions options;
    options.base_url = "http://pki.test";
    options.crl_validity = absl::Hours(2);
    ca_ = std::make_unique<pki::Ca>(hsm_, provider_, storage_.get(), barrier_.get(), options);
    ocsp_ = std::make_shared<pki::OcspResponder>(ca_.get());
    for (PkiDocumentRoute& route : PkiDocumentRoutes(ca_.get(), ocsp_)) {
      router_.Handle(route.method, route.pattern, std::move(route.handler));
    }
    v1::CreateRootIssuerRequest root;
    root.set_issuer_name("r");
    root.set_common_name("Documents Root");
    auto issuer = ca_->CreateRootIssuer(root);
    ASSERT_TRUE(issuer.ok()) << issuer.status();
    auto parsed = pki::ParseCertificatePem(issuer->certificate_pem());
    ASSERT_TRUE(parsed.ok());
    root_ = *std::move(parsed);
    v1::Role role;
    role.set_name("web");
    role.set_issuer_name("r");
    role.add_allowed_domains("example.com");
    role.set_allow_subdomains(true);
    role.set_server_flag(true);
    ASSERT_TRUE(ca_->PutRole(role, kAllRights).ok());
    v1::IssueCertificateRequest issue;
    issue.set_role("web");
    issue.set_common_name("www.example.com");
    auto leaf = ca_->IssueCertificate(issue, kAllRights);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    auto leaf_cert = pki::ParseCertificatePem(leaf->certificate_pem());
    ASSERT_TRUE(leaf_cert.ok());
    leaf_ = *std::move(leaf_cert);
  }

  HttpResponse Get(const std::string& path, std::multimap<std::string, std::string> headers = {},
                   std::multimap<std::string, std::string> params = {}) {
    HttpRequest request;
    request.method = "GET";
    request.path = path;
    request.headers = std::move(headers);
    request.params = std::move(params);
    return router_.Route(std::move(request));
  }

  // A DER OCSP request for the leaf.
  std::string OcspRequestDer() {
    hsm::OcspRequestPtr request(OCSP_REQUEST_new());
    OCSP_CERTID* id = OCSP_cert_to_id(nullptr, leaf_.get(), root_.get());
    EXPECT_NE(id, nullptr);
    EXPECT_NE(OCSP_request_add0_id(request.get(), id), nullptr);
    unsigned char* der = nullptr;
    int len = i2d_OCSP_REQUEST(request.get(), &der);
    std::string out(reinterpret_cast<char*>(der), len > 0 ? len : 0);
    OPENSSL_free(der);
    return out;
  }

  static hsm::testing::SoftHsmToken* token_;
  static hsm::Hsm* hsm_;
  static hsm::HsmProvider* provider_;
  std::unique_ptr<kms::Storage> storage_;
  std::unique_ptr<kms::Barrier> barrier_;
  std::unique_ptr<pki::Ca> ca_;
  std::shared_ptr<pki::OcspResponder> ocsp_;
  HttpRouter router_;
  hsm::X509Ptr root_, leaf_;
};

hsm::testing::SoftHsmToken* PkiDocumentsTest::token_ = nullptr;
hsm::Hsm* PkiDocumentsTest::hsm_ = nullptr;
hsm::HsmProvider* PkiDocumentsTest::provider_ = nullptr;

TEST_F(PkiDocumentsTest, CrlCarriesCachingHeadersAndAnswers304ToItsETag) {
  HttpResponse crl = Get("/v1/pki/r/crl");
  ASSERT_EQ(crl.status, 200) << crl.body;
  EXPECT_EQ(crl.content_type, "application/pkix-crl");
  // nextUpdate is thisUpdate + crl_validity (2h), and the CRL was just made.
  EXPECT_GT(MaxAge(crl), 7200 - 60);
  EXPECT_LE(MaxAge(crl), 7200);
  EXPECT_THAT(Header(crl, "Cache-Control"), HasSubstr(", public, no-transform, must-revalidate"));
  EXPECT_THAT(Header(crl, "Last-Modified"),
              MatchesRegex("[A-Z][a-z][a-z], [0-9][0-9] [A-Z][a-z][a-z] 20[0-9][0-9] "
                           "[0-9][0-9]:[0-9][0-9]:[0-9][0-9] GMT"));
  EXPECT_FALSE(Header(crl, "Expires").empty());
  const std::string etag = Header(crl, "ETag");
  EXPECT_THAT(etag, MatchesRegex("\"[0-9a-f]{32}\""));

  // The stored CRL is served again: same ETag; a client holding it gets 304 and no body.
  HttpResponse again = Get("/v1/pki/r/crl", {{"if-none-match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(Header(again, "ETag"), etag);
  EXPECT_EQ(Get("/v1/pki/r/crl", {{"if-none-match", "\"other\", W/" + etag}}).status, 304);
  EXPECT_EQ(Get("/v1/pki/r/crl", {{"if-none-match", "*"}}).status, 304);
  HttpResponse other = Get("/v1/pki/r/crl", {{"if-none-match", "\"stale\""}});
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, crl.body);
  // PEM is another representation: another ETag.
  HttpResponse pem = Get("/v1/pki/r/crl", {{"if-none-match", etag}}, {{"format", "pem"}});
  EXPECT_EQ(pem.status, 200);
  EXPECT_THAT(pem.body, HasSubstr("BEGIN X509 CRL"));
  EXPECT_NE(Header(pem, "ETag"), etag);

  // A revocation makes a new CRL: the old ETag no longer matches.
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_number(pki::SerialToHex(X509_get0_serialNumber(leaf_.get())));
  ASSERT_TRUE(ca_->RevokeCertificate(revoke).ok());
  HttpResponse revoked = Get("/v1/pki/r/crl", {{"if-none-match", etag}});
  EXPECT_EQ(revoked.status, 200);
  EXPECT_NE(Header(revoked, "ETag"), etag);
}

TEST_F(PkiDocumentsTest, OcspResponsesAreCacheableUntilNextUpdate) {
  const std::string der = OcspRequestDer();
  HttpRequest post;
  post.method = "POST";
  post.path = "/v1/pki/r/ocsp";
  post.body = der;
  HttpResponse response = router_.Route(post);
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/ocsp-response");
  // The responder's nextUpdate is an hour after now.
  EXPECT_GT(MaxAge(response), 3600 - 60);
  EXPECT_LE(MaxAge(response), 3600);
  EXPECT_FALSE(Header(response, "Last-Modified").empty());
  EXPECT_FALSE(Header(response, "Expires").empty());
  const std::string etag = Header(response, "ETag");
  EXPECT_EQ(etag.size(), 34u);
  // 304 is for GET only: a POST always gets its response.
  post.headers.emplace("if-none-match", etag);
  EXPECT_EQ(router_.Route(post).status, 200);

  // The GET form (RFC 6960 A.1: base64 in the path).
  std::string b64;
  absl::Base64Escape(der, &b64);
  HttpResponse get = Get(absl::StrCat("/v1/pki/r/ocsp/", b64), {{"if-none-match", "\"0123\""}});
  ASSERT_EQ(get.status, 200);
  EXPECT_FALSE(get.body.empty());
  EXPECT_GT(MaxAge(get), 3600 - 60);

  // Errors are never cached.
  post.body = "not an OCSP request";
  HttpResponse malformed = router_.Route(post);
  EXPECT_EQ(malformed.status, 200);
  EXPECT_EQ(Header(malformed, "Cache-Control"), "no-store");
  EXPECT_EQ(Header(malformed, "ETag"), "");
  post.body = der;
  post.path = "/v1/pki/nosuch/ocsp";
  EXPECT_EQ(Header(router_.Route(post), "Cache-Control"), "no-store");
}

// The routes answer with the responder they are given, so the server's one cache of
// pre-signed responses (and its bounds metric) covers them.
TEST_F(PkiDocumentsTest, OcspAnswersThroughTheResponderGiven) {
  EXPECT_EQ(ocsp_->presigned_count(), 0u);
  HttpRequest post;
  post.method = "POST";
  post.path = "/v1/pki/r/ocsp";
  post.body = OcspRequestDer();
  HttpResponse first = router_.Route(post);
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(ocsp_->presigned_count(), 1u);
  EXPECT_EQ(router_.Route(post).body, first.body);  // the pre-signed response
  EXPECT_EQ(ocsp_->presigned_count(), 1u);
}

TEST_F(PkiDocumentsTest, IssuerCertificatesAndErrors) {
  HttpResponse ca = Get("/v1/pki/r/ca");
  EXPECT_EQ(ca.status, 200);
  EXPECT_EQ(ca.content_type, "application/x-pem-file");
  EXPECT_EQ(ca.body, pki::CertificateToPem(root_.get()));
  HttpResponse der = Get("/v1/pki/r/ca", {}, {{"format", "der"}});
  EXPECT_EQ(der.content_type, "application/pkix-cert");
  HttpResponse missing = Get("/v1/pki/nosuch/crl");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "unknown issuer\n");
  EXPECT_TRUE(missing.headers.empty());
}

TEST(CachedDocumentResponseTest, DatesAndAnExpiredDocument) {
  const absl::Time this_update = absl::FromUnixSeconds(1700000000);  // 2023-11-14T22:13:20Z
  pki::PkiDocument doc{"application/pkix-crl", "crl bytes",
                       pki::PkiDocument::Validity{this_update, this_update + absl::Hours(24)}};
  HttpRequest request;
  request.method = "GET";
  HttpResponse response =
      CachedDocumentResponse(request, doc, this_update + absl::Hours(23) + absl::Seconds(1));
  EXPECT_EQ(Header(response, "Last-Modified"), "Tue, 14 Nov 2023 22:13:20 GMT");
  EXPECT_EQ(Header(response, "Expires"), "Wed, 15 Nov 2023 22:13:20 GMT");
  EXPECT_EQ(MaxAge(response), 3599);
  // Past its nextUpdate: nothing may be served from a cache.
  response = CachedDocumentResponse(request, doc, this_update + absl::Hours(25));
  EXPECT_EQ(MaxAge(response), 0);
  EXPECT_EQ(response.body, "crl bytes");
}

}  // namespace
}  // namespace strongroom::server
