// HsmProvider: an OpenSSL 3 provider ("strongroom-hsm") that presents private keys held in
// an Hsm as EVP_PKEYs, so that X509_sign_ctx, X509_REQ_sign_ctx, X509_CRL_sign_ctx,
// OCSP_basic_sign_ctx, EVP_DigestSign* and EVP_PKEY_sign work unchanged while every
// private-key operation is an Hsm::Sign call.
//
// The provider lives in its own OSSL_LIB_CTX (libctx()) beside OpenSSL's "default"
// provider, which supplies digests, encoders and public-key operations; the default
// library context is left untouched. Create signing contexts in libctx().
// Keys: EC P-256/P-384 (ECDSA) and RSA 2048-4096 (PKCS#1 v1.5, or PSS with MGF1 of the
// signing digest and salt length = digest length), with SHA-256/384/512. The EVP_PKEY's
// public half is the HSM's public key; private components cannot be exported
// (EVP_PKEY_todata(EVP_PKEY_KEYPAIR), i2d_PrivateKey, PEM_write_bio_PrivateKey fail).
//
// Lifetimes: the Hsm outlives the HsmProvider, which outlives every EVP_PKEY it made and
// every OpenSSL object holding one (EVP_MD_CTX, EVP_PKEY_CTX, and an X509/X509_REQ given
// the key by X509_set_pubkey, which keeps a reference; pass the public key parsed from
// Hsm::PublicKeyDer there instead if the certificate may live longer).
// Thread-safe: keys may be used for concurrent signing from any number of threads (each
// EVP_MD_CTX/EVP_PKEY_CTX by one thread at a time, as usual with OpenSSL).
#pragma once

#include <openssl/types.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/hsm.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::hsm {

class HsmProvider {
 public:
  static constexpr char kName[] = "strongroom-hsm";

  // Creates a library context holding the "default" provider and this provider for `hsm`
  // (not owned). INTERNAL if OpenSSL refuses to load either.
  static absl::StatusOr<std::unique_ptr<HsmProvider>> Load(Hsm* hsm);

  HsmProvider(const HsmProvider&) = delete;
  HsmProvider& operator=(const HsmProvider&) = delete;
  ~HsmProvider();

  // The library context to create EVP_MD_CTX/EVP_PKEY_CTX in, e.g.
  // EVP_DigestSignInit_ex(md_ctx, nullptr, "SHA256", libctx(), nullptr, key, params).
  OSSL_LIB_CTX* libctx() const { return libctx_; }

  // The private key named by an RFC 7512 URI such as
  // "pkcs11:token=<label>;object=<key label>;type=private" (see internal/pkcs11_uri.h).
  // INVALID_ARGUMENT for a malformed URI or an unsupported attribute (named);
  // NOT_FOUND if the URI names another token (named) or no private key has that label;
  // FAILED_PRECONDITION for a key type or size the provider does not support; HSM errors
  // as Hsm returns them.
  absl::StatusOr<EvpPkeyPtr> LoadPrivateKey(absl::string_view pkcs11_uri);

 private:
  HsmProvider(Hsm* hsm, OSSL_LIB_CTX* libctx, OSSL_PROVIDER* default_provider,
              OSSL_PROVIDER* hsm_provider)
      : hsm_(hsm),
        libctx_(libctx),
        default_provider_(default_provider),
        hsm_provider_(hsm_provider) {}

  Hsm* hsm_;
  OSSL_LIB_CTX* libctx_;
  OSSL_PROVIDER* default_provider_;
  OSSL_PROVIDER* hsm_provider_;
};

}  // namespace strongroom::hsm
