// BuildOcspResponse against an HSM-keyed issuer, checked with OCSP_basic_verify.
#include "pki/ocsp_responder.h"

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include <map>
#include <string>

#include "gtest/gtest.h"
#include "pki/certificate_builder.h"
#include "pki/testing/test_environment.h"

namespace strongroom::pki {
namespace {

using testing::MakeHsmKey;
using testing::TheProvider;

class OcspResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = MakeHsmKey("ocsp-issuer", hsm::KeyPairType::kEcP256);
    ASSERT_NE(key_.private_key, nullptr);
    BuiltCertificate built =
        testing::SelfSignedCa(key_, "Strongroom OCSP Test CA", absl::Hours(24));
    ASSERT_NE(built.certificate, nullptr);
    ca_ = std::move(built.certificate);
    for (const char* name : {"good", "revoked", "unknown"}) {
      auto leaf_key = GenerateSoftwareKey(v1::EC_P256);
      ASSERT_TRUE(leaf_key.ok());
      CertificateParams lp;
      lp.names.common_name = name;
      lp.public_key = leaf_key->get();
      lp.not_before = absl::Now() - absl::Minutes(1);
      lp.not_after = absl::Now() + absl::Hours(24);
      auto leaf = BuildCertificate(lp, signer());
      ASSERT_TRUE(leaf.ok()) << leaf.status();
      serials_[name] = leaf->serial_number;
      leaves_[name] = std::move(leaf->certificate);
    }
    statuses_[serials_["good"]] = {Ca::CertificateStatus::kGood, {}};
    statuses_[serials_["revoked"]] = {Ca::CertificateStatus::kRevoked,
                                      absl::FromUnixSeconds(1'700'000'000), /*reason=*/1};
  }

  Signer signer() const {
    return Signer{key_.private_key.get(), TheProvider().libctx(), ca_.get()};
  }

  // A DER request for `names` (SHA-1 CertIDs unless `md`), with a nonce if `nonce`.
  std::string Request(std::initializer_list<const char*> names, bool nonce,
                      const EVP_MD* md = nullptr) {
    hsm::OcspRequestPtr req(OCSP_REQUEST_new());
    for (const char* name : names) {
      OCSP_CERTID* id = OCSP_cert_to_id(md, leaves_[name].get(), ca_.get());
      EXPECT_NE(OCSP_request_add0_id(req.get(), id), nullptr);
    }
    if (nonce) EXPECT_EQ(OCSP_request_add1_nonce(req.get(), nullptr, -1), 1);
    unsigned char* der = nullptr;
    int len = i2d_OCSP_REQUEST(req.get(), &der);
    std::string out(reinterpret_cast<char*>(der), len);
    OPENSSL_free(der);
    request_ = std::move(req);
    return out;
  }

  std::string Respond(const std::string& request) {
    return BuildOcspResponse(
        request, signer(),
        [this](const std::string& serial) -> absl::StatusOr<Ca::CertificateStatus> {
          auto it = statuses_.find(serial);
          return it == statuses_.end() ? Ca::CertificateStatus{} : it->second;
        },
        absl::Now(), absl::Hours(1));
  }

  // Parses and verifies `der` against the CA; the basic response.
  hsm::OcspBasicRespPtr Verified(const std::string& der, unsigned long flags = 0) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    hsm::OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, der.size()));
    EXPECT_NE(response, nullptr);
    if (response == nullptr) return nullptr;
    EXPECT_EQ(OCSP_response_status(response.get()), OCSP_RESPONSE_STATUS_SUCCESSFUL);
    hsm::OcspBasicRespPtr basic(OCSP_response_get1_basic(response.get()));
    EXPECT_NE(basic, nullptr);
    if (basic == nullptr) return nullptr;
    STACK_OF(X509)* certs = sk_X509_new_null();
    sk_X509_push(certs, ca_.get());
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, ca_.get());
    EXPECT_EQ(OCSP_basic_verify(basic.get(), certs, store, flags), 1);
    X509_STORE_free(store);
    sk_X509_free(certs);
    return basic;
  }

  int StatusOf(OCSP_BASICRESP* basic, const char* name, ASN1_GENERALIZEDTIME** revtime = nullptr,
               const EVP_MD* md = nullptr, int* reason_out = nullptr) {
    OCSP_CERTID* id = OCSP_cert_to_id(md, leaves_[name].get(), ca_.get());
    int status = -2, reason = 0;
    ASN1_GENERALIZEDTIME *thisupd = nullptr, *nextupd = nullptr;
    EXPECT_EQ(OCSP_resp_find_status(basic, id, &status, &reason, revtime, &thisupd, &nextupd), 1);
    if (thisupd != nullptr) {
      EXPECT_EQ(OCSP_check_validity(thisupd, nextupd, 300, -1), 1);
    }
    OCSP_CERTID_free(id);
    if (reason_out != nullptr) *reason_out = reason;
    return status;
  }

  testing::HsmKey key_;
  hsm::X509Ptr ca_;
  std::map<std::string, hsm::X509Ptr> leaves_;
  std::map<std::string, std::string> serials_;
  std::map<std::string, Ca::CertificateStatus> statuses_;
  hsm::OcspRequestPtr request_;
};

TEST_F(OcspResponderTest, GoodRevokedUnknownWithNonce) {
  std::string der = Respond(Request({"good", "revoked", "unknown"}, /*nonce=*/true));
  hsm::OcspBasicRespPtr basic = Verified(der);
  ASSERT_NE(basic, nullptr);
  EXPECT_EQ(OCSP_check_nonce(request_.get(), basic.get()), 1);
  EXPECT_EQ(StatusOf(basic.get(), "good"), V_OCSP_CERTSTATUS_GOOD);
  ASN1_GENERALIZEDTIME* revtime = nullptr;
  int reason = -2;
  EXPECT_EQ(StatusOf(basic.get(), "revoked", &revtime, nullptr, &reason),
            V_OCSP_CERTSTATUS_REVOKED);
  EXPECT_EQ(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
  ASSERT_NE(revtime, nullptr);
  EXPECT_EQ(ASN1_TIME_cmp_time_t(revtime, 1'700'000'000), 0);
  EXPECT_EQ(StatusOf(basic.get(), "unknown"), V_OCSP_CERTSTATUS_UNKNOWN);
}

TEST_F(OcspResponderTest, NoNonceNotEchoed) {
  hsm::OcspBasicRespPtr basic = Verified(Respond(Request({"good"}, /*nonce=*/false)));
  ASSERT_NE(basic, nullptr);
  EXPECT_EQ(OCSP_check_nonce(request_.get(), basic.get()), 2);  // absent in both
}

TEST_F(OcspResponderTest, Sha256CertId) {
  hsm::OcspBasicRespPtr basic = Verified(Respond(Request({"good"}, false, EVP_sha256())));
  ASSERT_NE(basic, nullptr);
  EXPECT_EQ(StatusOf(basic.get(), "good", nullptr, EVP_sha256()), V_OCSP_CERTSTATUS_GOOD);
}

TEST_F(OcspResponderTest, OtherIssuerIsUnknown) {
  // A CertID whose issuer hashes are the leaf's own (not our CA's).
  hsm::OcspRequestPtr req(OCSP_REQUEST_new());
  OCSP_CERTID* id = OCSP_cert_to_id(nullptr, leaves_["good"].get(), leaves_["revoked"].get());
  OCSP_request_add0_id(req.get(), id);
  unsigned char* der = nullptr;
  int len = i2d_OCSP_REQUEST(req.get(), &der);
  std::string request(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  // The signature verifies; the CA is (rightly) not authorised for another issuer's ids.
  hsm::OcspBasicRespPtr basic = Verified(Respond(request), OCSP_NOCHECKS);
  ASSERT_NE(basic, nullptr);
  int status = -2;
  ASSERT_EQ(OCSP_resp_find_status(basic.get(), id, &status, nullptr, nullptr, nullptr, nullptr), 1);
  EXPECT_EQ(status, V_OCSP_CERTSTATUS_UNKNOWN);
}

TEST_F(OcspResponderTest, MalformedRequest) {
  for (const std::string& bad :
       {std::string(), std::string("garbage"), Request({"good"}, false) + "x"}) {
    std::string der = Respond(bad);
    const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
    hsm::OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, der.size()));
    ASSERT_NE(response, nullptr);
    EXPECT_EQ(OCSP_response_status(response.get()), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
  }
}

}  // namespace
}  // namespace strongroom::pki
