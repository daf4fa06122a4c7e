#include "pki/testing/test_environment.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace strongroom::pki::testing {
namespace {

class PkiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto token = hsm::testing::SoftHsmToken::Create("pki-test");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new hsm::testing::SoftHsmToken(*std::move(token));
    auto opened = hsm::Hsm::Open(token_->Options());
    ASSERT_TRUE(opened.ok()) << opened.status();
    hsm_ = opened->release();
    ERR_clear_error();  // SoftHSM leaves engine-loading errors on the queue.
    auto provider = hsm::HsmProvider::Load(hsm_);
    ASSERT_TRUE(provider.ok()) << provider.status();
    provider_ = provider->release();
  }
  void TearDown() override {
    delete provider_;
    delete hsm_;
    delete token_;
  }

  static hsm::testing::SoftHsmToken* token_;
  static hsm::Hsm* hsm_;
  static hsm::HsmProvider* provider_;
};
hsm::testing::SoftHsmToken* PkiEnvironment::token_ = nullptr;
hsm::Hsm* PkiEnvironment::hsm_ = nullptr;
hsm::HsmProvider* PkiEnvironment::provider_ = nullptr;
::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new PkiEnvironment);

}  // namespace

hsm::Hsm& TheHsm() { return *PkiEnvironment::hsm_; }
hsm::HsmProvider& TheProvider() { return *PkiEnvironment::provider_; }

HsmKey MakeHsmKey(const std::string& label, hsm::KeyPairType type) {
  HsmKey key;
  absl::StatusOr<bool> exists = TheHsm().PrivateKeyExists(label);
  EXPECT_TRUE(exists.ok()) << exists.status();
  if (exists.ok() && !*exists) {
    absl::Status s = TheHsm().GenerateKeyPair(label, type);
    EXPECT_TRUE(s.ok()) << s;
  }
  auto priv = TheProvider().LoadPrivateKey(absl::StrCat(
      "pkcs11:token=", PkiEnvironment::token_->label, ";object=", label, ";type=private"));
  EXPECT_TRUE(priv.ok()) << priv.status();
  if (priv.ok()) key.private_key = *std::move(priv);
  absl::StatusOr<std::string> der = TheHsm().PublicKeyDer(label);
  EXPECT_TRUE(der.ok()) << der.status();
  if (der.ok()) {
    const auto* p = reinterpret_cast<const unsigned char*>(der->data());
    key.public_key.reset(d2i_PUBKEY(nullptr, &p, static_cast<long>(der->size())));
    EXPECT_NE(key.public_key, nullptr);
  }
  return key;
}

std::string TmpPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string WriteTmp(const std::string& name, const std::string& content) {
  std::string path = TmpPath(name);
  absl::Status s = hsm::testing::WriteFile(path, content, 0644);
  EXPECT_TRUE(s.ok()) << s;
  return path;
}

BuiltCertificate SelfSignedCa(const HsmKey& key, const std::string& common_name,
                              absl::Duration validity) {
  CertificateParams params;
  params.names.common_name = common_name;
  params.public_key = key.public_key.get();
  params.not_before = absl::Now() - absl::Minutes(1);
  params.not_after = absl::Now() + validity;
  params.is_ca = true;
  absl::StatusOr<BuiltCertificate> built =
      BuildCertificate(params, Signer{key.private_key.get(), TheProvider().libctx(), nullptr});
  if (!built.ok()) {
    ADD_FAILURE() << "self-signed CA " << common_name << ": " << built.status();
    return BuiltCertificate{};
  }
  return *std::move(built);
}

}  // namespace strongroom::pki::testing
