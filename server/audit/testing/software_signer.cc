#include "server/audit/testing/software_signer.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>

namespace strongroom::server::audit::testing {

SoftwareSigner::SoftwareSigner() : key_(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")) {
  int length = key_ == nullptr ? -1 : i2d_PUBKEY(key_.get(), nullptr);
  if (length <= 0) std::abort();
  public_key_der_.resize(length);
  uint8_t* p = reinterpret_cast<uint8_t*>(public_key_der_.data());
  i2d_PUBKEY(key_.get(), &p);
}

absl::StatusOr<std::string> SoftwareSigner::SignDigest(absl::string_view sha256_digest) {
  hsm::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  size_t length = 0;
  if (ctx == nullptr || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_sign(ctx.get(), nullptr, &length,
                    reinterpret_cast<const uint8_t*>(sha256_digest.data()),
                    sha256_digest.size()) != 1) {
    return absl::InternalError("software signer: cannot sign");
  }
  std::string sig(length, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<uint8_t*>(sig.data()), &length,
                    reinterpret_cast<const uint8_t*>(sha256_digest.data()),
                    sha256_digest.size()) != 1) {
    return absl::InternalError("software signer: cannot sign");
  }
  sig.resize(length);
  return sig;
}

std::string SoftwareSigner::public_key_pem() const {
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, length);
}

}  // namespace strongroom::server::audit::testing
