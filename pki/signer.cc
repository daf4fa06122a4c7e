#include "pki/signer.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace strongroom::pki {

const char* SigningDigest(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) == 1 &&
        std::string(group) == "secp384r1") {
      return "SHA384";
    }
  }
  return "SHA256";
}

std::string DrainOpenSslErrors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long err = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    absl::StrAppend(&out, out.empty() ? "" : "; ", buf,
                    (flags & ERR_TXT_STRING) ? absl::StrCat(" (", data, ")") : "");
  }
  return out;
}

absl::StatusOr<hsm::EvpMdCtxPtr> NewSigningContext(const Signer& signer) {
  if (signer.key == nullptr) return absl::InvalidArgumentError("signer: no key");
  hsm::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (signer.prepared != nullptr) {
    // EVP_MD_CTX_get_pkey_ctx takes a non-const context but only reads it.
    EVP_PKEY_CTX* prepared_pkey_ctx =
        EVP_MD_CTX_get_pkey_ctx(const_cast<EVP_MD_CTX*>(signer.prepared));
    if (prepared_pkey_ctx == nullptr || EVP_PKEY_CTX_get0_pkey(prepared_pkey_ctx) != signer.key) {
      return absl::InvalidArgumentError("signer: the prepared context is for another key");
    }
    if (ctx == nullptr || EVP_MD_CTX_copy_ex(ctx.get(), signer.prepared) != 1) {
      return absl::InternalError(
          absl::StrCat("signer: cannot copy the prepared context: ", DrainOpenSslErrors()));
    }
  } else if (ctx == nullptr ||
             EVP_DigestSignInit_ex(ctx.get(), nullptr, SigningDigest(signer.key), signer.libctx,
                                   nullptr, signer.key, nullptr) != 1) {
    return absl::InternalError(
        absl::StrCat("signer: cannot initialise signing: ", DrainOpenSslErrors()));
  }
  // One signature per context: without this flag EVP_DigestSignFinal signs with a copy of
  // the context (provider context and digest state duplicated) to keep this one usable.
  EVP_MD_CTX_set_flags(ctx.get(), EVP_MD_CTX_FLAG_FINALISE);
  return ctx;
}

}  // namespace strongroom::pki
