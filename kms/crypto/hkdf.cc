#include "kms/crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>

#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::kms::crypto {
namespace {

// Fetched once per process and intentionally never freed.
EVP_KDF* HkdfMethod() {
  static EVP_KDF* const kHkdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kHkdf;
}

// OSSL_PARAM octet strings have no const variant; the provider copies the bytes. An empty
// input still gets a non-null pointer so that it is set rather than skipped.
OSSL_PARAM OctetParam(const char* name, const void* data, size_t size) {
  static const uint8_t kEmpty = 0;
  return OSSL_PARAM_construct_octet_string(
      name, const_cast<void*>(size == 0 ? static_cast<const void*>(&kEmpty) : data), size);
}

}  // namespace

absl::StatusOr<hsm::SecretData> HkdfSha256(absl::Span<const uint8_t> ikm, absl::string_view salt,
                                           absl::string_view info, size_t length) {
  if (length == 0 || length > kHkdfSha256MaxLength) {
    return absl::InvalidArgumentError(absl::StrCat("HKDF-SHA256 output length must be 1..",
                                                   kHkdfSha256MaxLength, ", got ", length));
  }
  if (HkdfMethod() == nullptr) return absl::InternalError("HKDF is not available in OpenSSL");
  hsm::EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(HkdfMethod()));
  if (ctx == nullptr) return absl::InternalError("cannot create an HKDF context");
  OSSL_PARAM params[5];
  int n = 0;
  params[n++] =
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
  params[n++] = OctetParam(OSSL_KDF_PARAM_KEY, ikm.data(), ikm.size());
  if (!salt.empty()) params[n++] = OctetParam(OSSL_KDF_PARAM_SALT, salt.data(), salt.size());
  if (!info.empty()) params[n++] = OctetParam(OSSL_KDF_PARAM_INFO, info.data(), info.size());
  params[n] = OSSL_PARAM_construct_end();
  hsm::SecretData okm(length);
  if (EVP_KDF_derive(ctx.get(), okm.MutableSecret().data(), length, params) != 1) {
    ERR_clear_error();
    return absl::InternalError("HKDF-SHA256 failed in OpenSSL");
  }
  return okm;
}

}  // namespace strongroom::kms::crypto
