// IssuerKeys: the HSM key pairs of issuers — created on the token, named by PKCS#11 URI,
// loaded through hsm::HsmProvider, and cached by label.
//
// Loading a key through the provider reads the token, and a label never changes meaning
// (each carries random hex), so Get keeps the loaded keys for the life of the object; Load
// reads the token every time (for a key not yet bound to an issuer). The private halves stay
// in the HSM: a provider key holds only the label and the public key.
// Thread-safe.
#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "hsm/hsm.h"
#include "hsm/openssl_ptr.h"
#include "hsm/provider.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki::internal {

// The HSM key pair type of an issuer key type (PKI_KEY_TYPE_UNSPECIFIED is EC_P256);
// INVALID_ARGUMENT "key_type: ..." for an unknown one.
absl::StatusOr<hsm::KeyPairType> HsmKeyType(v1::PkiKeyType type);

class IssuerKeys {
 public:
  struct KeyPair {
    hsm::EvpPkeyPtr key;         // provider key (signing)
    hsm::EvpPkeyPtr public_key;  // default library context
  };

  // Neither pointer is owned; both outlive this object. `provider` is loaded for `hsm`.
  IssuerKeys(hsm::Hsm* hsm, hsm::HsmProvider* provider) : hsm_(hsm), provider_(provider) {}

  // Creates a key pair of `type` labelled "strongroom-ca-<issuer>-<random hex>"; returns the
  // label.
  absl::StatusOr<std::string> Create(const std::string& issuer, v1::PkiKeyType type);
  // Destroys the key pair (for one that no record refers to).
  absl::Status Destroy(const std::string& label) { return hsm_->DestroyObjects(label); }
  // The key pair, read from the token (not cached).
  absl::StatusOr<KeyPair> Load(const std::string& label);
  // The key pair, from the cache or else loaded and cached; new references.
  absl::StatusOr<KeyPair> Get(const std::string& label) ABSL_LOCKS_EXCLUDED(mu_);
  // "pkcs11:token=...;object=<label>;type=private".
  std::string Uri(const std::string& label) const;
  OSSL_LIB_CTX* libctx() const { return provider_->libctx(); }

 private:
  hsm::Hsm* const hsm_;
  hsm::HsmProvider* const provider_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, KeyPair> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strongroom::pki::internal
