// Internals of the "strongroom-hsm" OpenSSL provider shared by its key management
// (provider_keymgmt.cc) and signature (provider_signature.cc) dispatch tables.
#pragma once

#include <openssl/core_dispatch.h>

#include <string>

#include "hsm/hsm.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::hsm::internal {

inline constexpr char kProviderName[] = "strongroom-hsm";
inline constexpr char kProviderQuery[] = "provider=strongroom-hsm";
// Where the software halves (public keys, digests) are fetched inside the provider's
// library context.
inline constexpr char kDefaultProviderQuery[] = "provider=default";

// Import parameters that make a keymgmt object refer to an HSM key pair: the key label
// (UTF-8) and its DER SubjectPublicKeyInfo as read from the token.
inline constexpr char kParamHsmLabel[] = "strongroom-hsm-label";
inline constexpr char kParamHsmSpki[] = "strongroom-hsm-spki";

// The provider context (provctx). `hsm` and `libctx` are set by HsmProvider::Load right
// after the provider is loaded and never change afterwards.
struct ProviderContext {
  Hsm* hsm = nullptr;
  OSSL_LIB_CTX* libctx = nullptr;
};

enum class KeyKind { kEc, kRsa };

// The keymgmt's keydata. Immutable once imported, so it may be shared across threads.
struct HsmKey {
  const ProviderContext* provider = nullptr;
  KeyKind kind = KeyKind::kEc;
  // The HSM key pair's label; empty for a public-only key that OpenSSL imported from
  // another provider (e.g. to compare keys), which cannot sign.
  std::string label;
  // The public half as a default-provider key in provider->libctx.
  EvpPkeyPtr pub;

  bool has_private() const { return !label.empty(); }
};

// `f` as an OSSL_DISPATCH entry's function pointer.
template <typename F>
void (*DispatchFn(F* f))(void) {
  return reinterpret_cast<void (*)(void)>(f);
}

extern const OSSL_DISPATCH kEcKeyMgmtFunctions[];
extern const OSSL_DISPATCH kRsaKeyMgmtFunctions[];
extern const OSSL_DISPATCH kEcdsaSignatureFunctions[];
extern const OSSL_DISPATCH kRsaSignatureFunctions[];

}  // namespace strongroom::hsm::internal
