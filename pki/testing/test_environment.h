// PkiTestEnvironment: one SoftHSM token, Hsm and HsmProvider per test binary, plus helpers
// for HSM key pairs and for running the real openssl/certtool CLIs. Test-only.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "hsm/hsm.h"
#include "hsm/openssl_ptr.h"
#include "hsm/provider.h"
#include "hsm/testing/softhsm_token.h"
#include "pki/certificate_builder.h"

namespace strongroom::pki::testing {

hsm::Hsm& TheHsm();
hsm::HsmProvider& TheProvider();

// An HSM key pair `label` (created on first use): its provider-backed private key and its
// public key parsed in the default library context. Fails the test on error.
struct HsmKey {
  hsm::EvpPkeyPtr private_key;
  hsm::EvpPkeyPtr public_key;
};
HsmKey MakeHsmKey(const std::string& label, hsm::KeyPairType type);

// A self-signed CA certificate for `key` named `common_name`, valid from a minute ago for
// `validity`. Fails the test on error (and returns no certificate).
BuiltCertificate SelfSignedCa(const HsmKey& key, const std::string& common_name,
                              absl::Duration validity);

// $TEST_TMPDIR/name; WriteTmp writes `content` there and returns the path.
std::string TmpPath(const std::string& name);
std::string WriteTmp(const std::string& name, const std::string& content);

using hsm::testing::RunCommand;

}  // namespace strongroom::pki::testing
