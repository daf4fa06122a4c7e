// OcspResponder over a real Ca (SoftHSM issuer, SQLite inventory): pre-signed good
// responses, revocation, nonces; every response checked with the openssl CLI.
#include <openssl/err.h>
#include <openssl/ocsp.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/barrier.h"
#include "kms/sqlite_storage.h"
#include "pki/ca.h"
#include "pki/ocsp_responder.h"
#include "pki/testing/all_rights.h"

namespace strongroom::pki {
namespace {

using hsm::testing::RunCommand;
using ::testing::HasSubstr;

const testing::AllRights kAllRights;

std::string Tmp(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class OcspPresignedTest : public ::testing::Test {
 protected:
  // PKCS#11 login is per process: one token, session and provider for every test.
  static void SetUpTestSuite() {
    auto token = hsm::testing::SoftHsmToken::Create("ocsp-presigned");
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
    auto storage = kms::SqliteStorage::Open(Tmp(absl::StrCat("ocsp-presigned-", ++n, ".db")));
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    barrier_ = std::make_unique<kms::Barrier>(hsm_, storage_.get());
    ASSERT_TRUE(barrier_->Unseal().ok());
    ca_ = std::make_unique<Ca>(hsm_, provider_, storage_.get(), barrier_.get(),
                               CaOptions());
    v1::CreateRootIssuerRequest root;
    root.set_issuer_name("root");
    root.set_common_name("OCSP Test Root");
    auto issuer = ca_->CreateRootIssuer(root);
    ASSERT_TRUE(issuer.ok()) << issuer.status();
    ASSERT_TRUE(hsm::testing::WriteFile(Tmp("root.pem"), issuer->certificate_pem(), 0644).ok());
    v1::Role role;
    role.set_name("web");
    role.set_issuer_name("root");
    role.add_allowed_domains("example.com");
    role.set_allow_subdomains(true);
    role.set_server_flag(true);
    ASSERT_TRUE(ca_->PutRole(role, kAllRights).ok());
    v1::IssueCertificateRequest req;
    req.set_role("web");
    req.set_common_name("www.example.com");
    auto leaf = ca_->IssueCertificate(req, kAllRights);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    serial_ = leaf->serial_number();
    ASSERT_TRUE(hsm::testing::WriteFile(Tmp("leaf.pem"), leaf->certificate_pem(), 0644).ok());
    responder_ = std::make_unique<OcspResponder>(ca_.get());
  }

  // A DER request made by `openssl ocsp` for the leaf, with a nonce or without.
  std::string Request(bool nonce, const std::string& file) {
    auto r = RunCommand(absl::StrCat("openssl ocsp -issuer ", Tmp("root.pem"), " -cert ",
                                     Tmp("leaf.pem"), nonce ? "" : " -no_nonce", " -reqout ",
                                     Tmp(file), " 2>&1"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return ReadFile(Tmp(file));
  }

  // What `openssl ocsp` says of `response`, verified against the root.
  std::string OpensslVerdict(const std::string& response) {
    EXPECT_TRUE(hsm::testing::WriteFile(Tmp("resp.der"), response, 0644).ok());
    auto r = RunCommand(absl::StrCat("openssl ocsp -respin ", Tmp("resp.der"), " -issuer ",
                                     Tmp("root.pem"), " -cert ", Tmp("leaf.pem"), " -CAfile ",
                                     Tmp("root.pem"), " -no_nonce 2>&1"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }

  static hsm::testing::SoftHsmToken* token_;
  static hsm::Hsm* hsm_;
  static hsm::HsmProvider* provider_;
  std::unique_ptr<kms::SqliteStorage> storage_;
  std::unique_ptr<kms::Barrier> barrier_;
  std::unique_ptr<Ca> ca_;
  std::unique_ptr<OcspResponder> responder_;
  std::string serial_;
};

hsm::testing::SoftHsmToken* OcspPresignedTest::token_ = nullptr;
hsm::Hsm* OcspPresignedTest::hsm_ = nullptr;
hsm::HsmProvider* OcspPresignedTest::provider_ = nullptr;

TEST_F(OcspPresignedTest, GoodWithoutNonceIsServedPresignedAndVerifies) {
  const std::string request = Request(/*nonce=*/false, "req.der");
  const std::string first = responder_->Respond("root", request).response;
  // ECDSA signatures are randomised: the same bytes again mean no new signature was made.
  EXPECT_EQ(responder_->Respond("root", request).response, first);
  const std::string verdict = OpensslVerdict(first);
  EXPECT_THAT(verdict, HasSubstr("Response verify OK"));
  EXPECT_THAT(verdict, HasSubstr("leaf.pem: good"));
  // The GET form names the same CertID, so it gets the same response.
  EXPECT_EQ(responder_->RespondToGet("root", absl::Base64Escape(request)).response, first);
}

// The responder says which answers were signed before the request: only a repeated good
// answer without a nonce, never a first signature, a nonce, a revoked or a multi-certificate
// answer (those are signed for the request, and their replies wait for a durable audit line).
TEST_F(OcspPresignedTest, SaysWhichAnswersWerePresigned) {
  const std::string request = Request(/*nonce=*/false, "req.der");
  EXPECT_FALSE(responder_->Respond("root", request).presigned);
  EXPECT_TRUE(responder_->Respond("root", request).presigned);
  EXPECT_TRUE(responder_->RespondToGet("root", absl::Base64Escape(request)).presigned);
  const std::string nonce = Request(/*nonce=*/true, "nonce-req.der");
  EXPECT_FALSE(responder_->Respond("root", nonce).presigned);
  EXPECT_FALSE(responder_->Respond("root", nonce).presigned);
  EXPECT_FALSE(responder_->Respond("root", "not DER").presigned);
  EXPECT_FALSE(responder_->Respond("no-such-issuer", request).presigned);
  auto two = RunCommand(absl::StrCat("openssl ocsp -issuer ", Tmp("root.pem"), " -cert ",
                                    Tmp("leaf.pem"), " -cert ", Tmp("leaf.pem"),
                                    " -no_nonce -reqout ", Tmp("two-req.der"), " 2>&1"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const std::string two_certs = ReadFile(Tmp("two-req.der"));
  EXPECT_FALSE(responder_->Respond("root", two_certs).presigned);
  EXPECT_FALSE(responder_->Respond("root", two_certs).presigned);
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_number(serial_);
  ASSERT_TRUE(ca_->RevokeCertificate(revoke).ok());
  EXPECT_FALSE(responder_->Respond("root", request).presigned);
  EXPECT_FALSE(responder_->Respond("root", request).presigned);
}

TEST_F(OcspPresignedTest, RevocationIsAnsweredAtOnce) {
  const std::string request = Request(/*nonce=*/false, "req.der");
  EXPECT_THAT(OpensslVerdict(responder_->Respond("root", request).response), HasSubstr("leaf.pem: good"));
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial_number(serial_);
  ASSERT_TRUE(ca_->RevokeCertificate(revoke).ok());
  const std::string after = responder_->Respond("root", request).response;
  const std::string verdict = OpensslVerdict(after);
  EXPECT_THAT(verdict, HasSubstr("Response verify OK"));
  EXPECT_THAT(verdict, HasSubstr("leaf.pem: revoked"));
}

TEST_F(OcspPresignedTest, NonceGetsAFreshSignatureThatEchoesIt) {
  const std::string request = Request(/*nonce=*/true, "nonce-req.der");
  const std::string first = responder_->Respond("root", request).response;
  EXPECT_NE(responder_->Respond("root", request).response, first);
  const std::string verdict = OpensslVerdict(first);
  EXPECT_THAT(verdict, HasSubstr("Response verify OK"));
  EXPECT_THAT(verdict, HasSubstr("leaf.pem: good"));
  // The response carries the request's nonce (1: both present and equal).
  const auto* p = reinterpret_cast<const unsigned char*>(request.data());
  hsm::OcspRequestPtr req(d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(request.size())));
  p = reinterpret_cast<const unsigned char*>(first.data());
  hsm::OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(first.size())));
  ASSERT_NE(req, nullptr);
  ASSERT_NE(response, nullptr);
  hsm::OcspBasicRespPtr basic(OCSP_response_get1_basic(response.get()));
  ASSERT_NE(basic, nullptr);
  EXPECT_EQ(OCSP_check_nonce(req.get(), basic.get()), 1);
}

TEST_F(OcspPresignedTest, PresignedResponsesAreRefreshedAfterHalfTheirValidity) {
  // With no validity the refresh time is the signing time, so every request re-signs.
  OcspResponder immediate(ca_.get(), absl::ZeroDuration());
  const std::string request = Request(/*nonce=*/false, "req.der");
  EXPECT_NE(immediate.Respond("root", request).response, immediate.Respond("root", request).response);
}

// Responses past their refresh time are dropped (and not counted), and beyond the capacity
// the oldest goes first, not all.
TEST_F(OcspPresignedTest, ExpiredResponsesAreDroppedAndTheOldestGoesFirst) {
  absl::Time now = absl::Now();
  OcspResponder responder(ca_.get(), absl::Hours(1), [&now] { return now; }, /*capacity=*/2);
  const std::string first = Request(/*nonce=*/false, "req.der");
  EXPECT_FALSE(responder.Respond("root", first).presigned);
  EXPECT_EQ(responder.presigned_count(), 1u);
  now += absl::Minutes(29);
  EXPECT_EQ(responder.presigned_count(), 1u);
  EXPECT_TRUE(responder.Respond("root", first).presigned);
  now += absl::Minutes(2);  // past half the validity: due for refresh, useless
  EXPECT_EQ(responder.presigned_count(), 0u);
  EXPECT_FALSE(responder.Respond("root", first).presigned);
  EXPECT_EQ(responder.presigned_count(), 1u);

  // Two more certificates: the third response pushes out the oldest (the first's) only.
  std::vector<std::string> requests = {first};
  for (const char* name : {"b.example.com", "c.example.com"}) {
    v1::IssueCertificateRequest req;
    req.set_role("web");
    req.set_common_name(name);
    auto leaf = ca_->IssueCertificate(req, kAllRights);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    const std::string pem = Tmp(absl::StrCat(name, ".pem"));
    ASSERT_TRUE(hsm::testing::WriteFile(pem, leaf->certificate_pem(), 0644).ok());
    auto r = RunCommand(absl::StrCat("openssl ocsp -issuer ", Tmp("root.pem"), " -cert ", pem,
                                     " -no_nonce -reqout ", pem, ".req 2>&1"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    requests.push_back(ReadFile(pem + ".req"));
    now += absl::Minutes(1);
    EXPECT_FALSE(responder.Respond("root", requests.back()).presigned);
  }
  EXPECT_EQ(responder.presigned_count(), 2u);
  EXPECT_FALSE(responder.Respond("root", requests[0]).presigned);  // dropped: signed again
  EXPECT_TRUE(responder.Respond("root", requests[2]).presigned);   // kept
}

// A pre-signed response is not served while the barrier is sealed: tryLater, as for others.
TEST_F(OcspPresignedTest, SealedAnswersTryLaterEvenWhenPresigned) {
  const std::string request = Request(/*nonce=*/false, "req.der");
  responder_->Respond("root", request);
  ASSERT_TRUE(responder_->Respond("root", request).presigned);
  barrier_->Seal("test");
  const OcspAnswer sealed = responder_->Respond("root", request);
  EXPECT_FALSE(sealed.presigned);
  EXPECT_EQ(sealed.response, OcspErrorResponse(OCSP_RESPONSE_STATUS_TRYLATER));
}

}  // namespace
}  // namespace strongroom::pki
