#include "hsm/testing/import_wrap.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hsm/openssl_ptr.h"

namespace strongroom::hsm::testing {

absl::StatusOr<std::string> WrapForImport(absl::string_view public_key_der, OaepHash hash,
                                          absl::string_view ephemeral_key,
                                          absl::string_view target_key) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(public_key_der.data());
  EvpPkeyPtr pkey(d2i_PUBKEY(nullptr, &p, public_key_der.size()));
  if (!pkey) return absl::InvalidArgumentError("not a public key");
  const EVP_MD* md = hash == OaepHash::kSha1     ? EVP_sha1()
                     : hash == OaepHash::kSha224 ? EVP_sha224()
                     : hash == OaepHash::kSha256 ? EVP_sha256()
                     : hash == OaepHash::kSha384 ? EVP_sha384()
                                                 : EVP_sha512();
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(pkey.get(), nullptr));
  size_t oaep_len = 0;
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) <= 0 ||
      EVP_PKEY_encrypt(ctx.get(), nullptr, &oaep_len,
                       reinterpret_cast<const unsigned char*>(ephemeral_key.data()),
                       ephemeral_key.size()) <= 0) {
    return absl::InternalError("RSA-OAEP setup failed");
  }
  std::string out(oaep_len, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &oaep_len,
                       reinterpret_cast<const unsigned char*>(ephemeral_key.data()),
                       ephemeral_key.size()) <= 0) {
    return absl::InternalError("RSA-OAEP failed");
  }
  out.resize(oaep_len);

  EvpCipherCtxPtr kwp(EVP_CIPHER_CTX_new());
  if (!kwp) return absl::InternalError("out of memory");
  EVP_CIPHER_CTX_set_flags(kwp.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  const EVP_CIPHER* cipher = ephemeral_key.size() == 16   ? EVP_aes_128_wrap_pad()
                             : ephemeral_key.size() == 24 ? EVP_aes_192_wrap_pad()
                                                          : EVP_aes_256_wrap_pad();
  if (ephemeral_key.size() != 16 && ephemeral_key.size() != 24 && ephemeral_key.size() != 32) {
    return absl::InvalidArgumentError("ephemeral key must be an AES key");
  }
  std::string wrapped(target_key.size() + 16, '\0');
  int len = 0, final_len = 0;
  if (EVP_EncryptInit_ex(kwp.get(), cipher, nullptr,
                         reinterpret_cast<const unsigned char*>(ephemeral_key.data()),
                         nullptr) <= 0 ||
      EVP_EncryptUpdate(kwp.get(), reinterpret_cast<unsigned char*>(wrapped.data()), &len,
                        reinterpret_cast<const unsigned char*>(target_key.data()),
                        target_key.size()) <= 0 ||
      EVP_EncryptFinal_ex(kwp.get(), reinterpret_cast<unsigned char*>(wrapped.data()) + len,
                          &final_len) <= 0) {
    return absl::InternalError("AES-KWP failed");
  }
  wrapped.resize(len + final_len);
  return out + wrapped;
}

}  // namespace strongroom::hsm::testing
