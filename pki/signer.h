// Signer: the issuing key (and certificate) that certificate, CSR and CRL builders sign with.
#pragma once

#include <openssl/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::pki {

// Not owning: `key`, `libctx` and `certificate` outlive every call that is given the Signer.
struct Signer {
  // The private key: an HsmProvider key (then `libctx` is the provider's libctx()) or a
  // software key (then `libctx` may be nullptr, the default library context).
  EVP_PKEY* key = nullptr;
  OSSL_LIB_CTX* libctx = nullptr;
  // The issuer's certificate; nullptr only when self-signing a root or signing a CSR.
  X509* certificate = nullptr;
  // Optional: a context NewSigningContext made for this same `key`, kept unused, which
  // NewSigningContext copies instead of initialising a new one (initialising fetches the
  // algorithms from the key's provider every time). Copied concurrently, never modified.
  const EVP_MD_CTX* prepared = nullptr;
};

// The digest a Signer uses: SHA-384 for P-384 keys, SHA-256 otherwise (P-256, RSA with
// PKCS#1 v1.5).
const char* SigningDigest(const EVP_PKEY* key);

// A digest-sign context for `signer.key` in `signer.libctx`, ready for one X509_sign_ctx,
// X509_REQ_sign_ctx, X509_CRL_sign_ctx or OCSP_basic_sign_ctx (it signs once); a copy of
// signer.prepared if set. INVALID_ARGUMENT without a key or with a prepared context for
// another key; INTERNAL with OpenSSL's errors if the key cannot sign.
absl::StatusOr<hsm::EvpMdCtxPtr> NewSigningContext(const Signer& signer);

// The OpenSSL error queue as text (emptied), for INTERNAL messages.
std::string DrainOpenSslErrors();

}  // namespace strongroom::pki
