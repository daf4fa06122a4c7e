// Signature operations ("ECDSA", "RSA") of the strongroom-hsm provider: the message is
// digested here (default provider's SHA-2) and the digest is signed by Hsm::Sign, so the
// private key is only ever used inside the HSM.
//
// Supported: SHA-256/384/512; ECDSA; RSA PKCS#1 v1.5 and PSS with MGF1 of the signing
// digest and salt length = digest length (what the HSM implements). Other settings fail
// at set or sign time with an OpenSSL error saying what is supported.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/proverr.h>
#include <openssl/rsa.h>

#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "hsm/internal/provider_key.h"

namespace strongroom::hsm::internal {
namespace {

struct SignatureContext {
  const ProviderContext* provider = nullptr;
  KeyKind kind = KeyKind::kEc;
  const HsmKey* key = nullptr;  // Owned by the EVP_PKEY the EVP_PKEY_CTX holds.
  SignScheme scheme = SignScheme::kEcdsa;
  std::optional<HashAlgorithm> hash;
  std::optional<HashAlgorithm> mgf1_hash;    // PSS only; unset means "same as hash"
  int pss_saltlen = RSA_PSS_SALTLEN_DIGEST;  // PSS only
  EvpMdCtxPtr md_ctx;                        // Set between digest_sign_init and final.
};

const char* DigestName(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha256:
      return "SHA2-256";
    case HashAlgorithm::kSha384:
      return "SHA2-384";
    case HashAlgorithm::kSha512:
      return "SHA2-512";
  }
  return "";
}

// Resolves any of OpenSSL's names for SHA-256/384/512 ("SHA256", "sha-384", an OID...);
// with `fetched`, also hands over the digest fetched to resolve it.
std::optional<HashAlgorithm> HashFromName(const ProviderContext* provider, const char* name,
                                          EvpMdPtr* fetched = nullptr) {
  if (name == nullptr) return std::nullopt;
  EvpMdPtr md(EVP_MD_fetch(provider->libctx, name, kDefaultProviderQuery));
  if (md == nullptr) return std::nullopt;
  std::optional<HashAlgorithm> hash;
  for (HashAlgorithm h : {HashAlgorithm::kSha256, HashAlgorithm::kSha384, HashAlgorithm::kSha512}) {
    if (EVP_MD_is_a(md.get(), DigestName(h))) hash = h;
  }
  if (hash.has_value() && fetched != nullptr) *fetched = std::move(md);
  return hash;
}

// The DER AlgorithmIdentifier of the signature ctx will produce (what X509_sign_ctx and
// friends put into the certificate, CRL or OCSP response).
std::string AlgorithmId(SignScheme scheme, HashAlgorithm hash) {
  const char h = static_cast<char>(hash == HashAlgorithm::kSha256   ? 1
                                   : hash == HashAlgorithm::kSha384 ? 2
                                                                    : 3);
  switch (scheme) {
    case SignScheme::kEcdsa:
      // SEQUENCE { OID ecdsa-with-SHA256/384/512 (1.2.840.10045.4.3.2/3/4) }
      return std::string("\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03", 11) +
             static_cast<char>(h + 1);
    case SignScheme::kRsaPkcs1:
      // SEQUENCE { OID sha256/384/512WithRSAEncryption (1.2.840.113549.1.1.11/12/13), NULL }
      return std::string("\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01", 12) +
             static_cast<char>(h + 10) + std::string("\x05\x00", 2);
    case SignScheme::kRsaPss: {
      // SEQUENCE { OID sha256/384/512 (2.16.840.1.101.3.4.2.1/2/3), NULL }
      const std::string hash_alg =
          std::string("\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02", 12) + h +
          std::string("\x05\x00", 2);
      // SEQUENCE { OID id-RSASSA-PSS (1.2.840.113549.1.1.10), RSASSA-PSS-params {
      //   [0] hashAlgorithm, [1] maskGenAlgorithm { OID id-mgf1, hashAlgorithm },
      //   [2] saltLength INTEGER (= digest length) } }; trailerField is the default.
      return std::string("\x30\x41\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a\x30\x34\xa0\x0f",
                         17) +
             hash_alg +
             std::string("\xa1\x1c\x30\x1a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x08", 15) +
             hash_alg + std::string("\xa2\x03\x02\x01", 4) + static_cast<char>(DigestSize(hash));
    }
  }
  return "";
}

// Checks that the PSS settings are what the HSM implements for `hash`.
bool CheckPss(const SignatureContext* ctx, HashAlgorithm hash) {
  if (ctx->scheme != SignScheme::kRsaPss) return true;
  if (ctx->mgf1_hash.has_value() && *ctx->mgf1_hash != hash) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_MGF1_MD,
                   "the HSM signs PSS with MGF1 of the signing digest (%s)", DigestName(hash));
    return false;
  }
  if (ctx->pss_saltlen != RSA_PSS_SALTLEN_DIGEST &&
      ctx->pss_saltlen != static_cast<int>(DigestSize(hash))) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_SALT_LENGTH,
                   "the HSM signs PSS with salt length = digest length (%zu bytes)",
                   DigestSize(hash));
    return false;
  }
  return true;
}

template <KeyKind kKind>
void* NewCtx(void* provctx, const char* /*propq*/) {
  auto* ctx = new (std::nothrow) SignatureContext;
  if (ctx == nullptr) return nullptr;
  ctx->provider = static_cast<const ProviderContext*>(provctx);
  ctx->kind = kKind;
  ctx->scheme = kKind == KeyKind::kEc ? SignScheme::kEcdsa : SignScheme::kRsaPkcs1;
  return ctx;
}

void FreeCtx(void* vctx) { delete static_cast<SignatureContext*>(vctx); }

// EVP_DigestSignFinal duplicates the context before finishing, so dup must carry the
// digest state.
void* DupCtx(void* vctx) {
  const auto* from = static_cast<const SignatureContext*>(vctx);
  auto* ctx = new (std::nothrow) SignatureContext;
  if (ctx == nullptr) return nullptr;
  ctx->provider = from->provider;
  ctx->kind = from->kind;
  ctx->key = from->key;
  ctx->scheme = from->scheme;
  ctx->hash = from->hash;
  ctx->mgf1_hash = from->mgf1_hash;
  ctx->pss_saltlen = from->pss_saltlen;
  if (from->md_ctx != nullptr) {
    ctx->md_ctx.reset(EVP_MD_CTX_new());
    if (ctx->md_ctx == nullptr || !EVP_MD_CTX_copy_ex(ctx->md_ctx.get(), from->md_ctx.get())) {
      delete ctx;
      return nullptr;
    }
  }
  return ctx;
}

int SetCtxParams(void* vctx, const OSSL_PARAM params[]) {
  auto* ctx = static_cast<SignatureContext*>(vctx);
  if (ctx == nullptr) return 0;
  if (params == nullptr) return 1;
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST)) {
    const char* name = nullptr;
    std::optional<HashAlgorithm> hash;
    if (OSSL_PARAM_get_utf8_string_ptr(p, &name)) hash = HashFromName(ctx->provider, name);
    if (!hash.has_value()) {
      ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_DIGEST,
                     "digest %s is not supported (SHA-256, SHA-384, SHA-512)",
                     name != nullptr ? name : "?");
      return 0;
    }
    if (ctx->md_ctx != nullptr && hash != ctx->hash) {
      ERR_raise_data(ERR_LIB_PROV, PROV_R_DIGEST_NOT_ALLOWED,
                     "the digest is fixed by EVP_DigestSignInit");
      return 0;
    }
    ctx->hash = hash;
  }
  if (ctx->kind != KeyKind::kRsa) return 1;

  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) {
    int mode = 0;
    const char* name = nullptr;
    if (p->data_type == OSSL_PARAM_UTF8_STRING && OSSL_PARAM_get_utf8_string_ptr(p, &name)) {
      if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0) mode = RSA_PKCS1_PADDING;
      if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0) mode = RSA_PKCS1_PSS_PADDING;
    } else if (!OSSL_PARAM_get_int(p, &mode)) {
      mode = 0;
    }
    if (mode != RSA_PKCS1_PADDING && mode != RSA_PKCS1_PSS_PADDING) {
      ERR_raise_data(ERR_LIB_PROV, PROV_R_ILLEGAL_OR_UNSUPPORTED_PADDING_MODE,
                     "the HSM signs RSA with pkcs1 or pss padding only");
      return 0;
    }
    ctx->scheme = mode == RSA_PKCS1_PSS_PADDING ? SignScheme::kRsaPss : SignScheme::kRsaPkcs1;
  }
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) {
    int saltlen = 0;
    bool ok = false;
    const char* name = nullptr;
    if (p->data_type == OSSL_PARAM_UTF8_STRING && OSSL_PARAM_get_utf8_string_ptr(p, &name)) {
      ok = true;
      if (strcmp(name, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0) {
        saltlen = RSA_PSS_SALTLEN_DIGEST;
      } else if (strcmp(name, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0) {
        saltlen = RSA_PSS_SALTLEN_MAX;
      } else if (strcmp(name, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0) {
        saltlen = RSA_PSS_SALTLEN_AUTO;
      } else {
        ok = absl::SimpleAtoi(name, &saltlen);
      }
    } else {
      ok = OSSL_PARAM_get_int(p, &saltlen);
    }
    if (!ok) {
      ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_SALT_LENGTH, "malformed PSS salt length");
      return 0;
    }
    ctx->pss_saltlen = saltlen;  // Checked against the digest when it is known (CheckPss).
  }
  if (const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) {
    const char* name = nullptr;
    std::optional<HashAlgorithm> hash;
    if (OSSL_PARAM_get_utf8_string_ptr(p, &name)) hash = HashFromName(ctx->provider, name);
    if (!hash.has_value()) {
      ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_MGF1_MD,
                     "MGF1 digest %s is not supported (SHA-256, SHA-384, SHA-512)",
                     name != nullptr ? name : "?");
      return 0;
    }
    ctx->mgf1_hash = hash;
  }
  return 1;
}

// Starts an operation with `provkey` (NULL: keep the current key), resetting settings.
bool InitKey(SignatureContext* ctx, void* provkey) {
  const auto* key = provkey != nullptr ? static_cast<const HsmKey*>(provkey) : ctx->key;
  if (key == nullptr) {
    ERR_raise(ERR_LIB_PROV, PROV_R_NO_KEY_SET);
    return false;
  }
  if (!key->has_private()) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_NOT_A_PRIVATE_KEY,
                   "%s signs only with keys loaded from the HSM", kProviderName);
    return false;
  }
  ctx->key = key;
  ctx->scheme = ctx->kind == KeyKind::kEc ? SignScheme::kEcdsa : SignScheme::kRsaPkcs1;
  ctx->hash.reset();
  ctx->mgf1_hash.reset();
  ctx->pss_saltlen = RSA_PSS_SALTLEN_DIGEST;
  ctx->md_ctx.reset();
  return true;
}

int SignInit(void* vctx, void* provkey, const OSSL_PARAM params[]) {
  auto* ctx = static_cast<SignatureContext*>(vctx);
  return ctx != nullptr && InitKey(ctx, provkey) && SetCtxParams(ctx, params);
}

// Signs `digest` (of `hash`) in the HSM into sig[0, sigsize).
int HsmSign(const SignatureContext* ctx, HashAlgorithm hash, const unsigned char* digest,
            size_t digest_len, unsigned char* sig, size_t* siglen, size_t sigsize) {
  if (!CheckPss(ctx, hash)) return 0;
  absl::StatusOr<std::string> out = ctx->provider->hsm->Sign(
      ctx->key->label, ctx->scheme, hash,
      absl::string_view(reinterpret_cast<const char*>(digest), digest_len));
  if (!out.ok()) {
    const absl::Status& status = out.status();
    ERR_raise_data(ERR_LIB_PROV, PROV_R_FAILED_TO_SIGN, "HSM key '%s': %s: %s",
                   ctx->key->label.c_str(), absl::StatusCodeToString(status.code()).c_str(),
                   std::string(status.message()).c_str());
    return 0;
  }
  if (out->size() > sigsize) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_OUTPUT_BUFFER_TOO_SMALL,
                   "signature is %zu bytes, buffer %zu", out->size(), sigsize);
    return 0;
  }
  memcpy(sig, out->data(), out->size());
  *siglen = out->size();
  return 1;
}

size_t MaxSignatureSize(const SignatureContext* ctx) {
  return static_cast<size_t>(EVP_PKEY_get_size(ctx->key->pub.get()));
}

// Signs a precomputed digest (EVP_PKEY_sign). Without a configured digest, ECDSA infers
// SHA-256/384/512 from the input length; RSA requires the digest to be set.
int Sign(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize, const unsigned char* tbs,
         size_t tbslen) {
  auto* ctx = static_cast<SignatureContext*>(vctx);
  if (ctx == nullptr || ctx->key == nullptr) {
    ERR_raise(ERR_LIB_PROV, PROV_R_NO_KEY_SET);
    return 0;
  }
  if (sig == nullptr) {
    *siglen = MaxSignatureSize(ctx);
    return 1;
  }
  std::optional<HashAlgorithm> hash = ctx->hash;
  if (!hash.has_value() && ctx->kind == KeyKind::kEc) {
    for (HashAlgorithm h :
         {HashAlgorithm::kSha256, HashAlgorithm::kSha384, HashAlgorithm::kSha512}) {
      if (DigestSize(h) == tbslen) hash = h;
    }
  }
  if (!hash.has_value()) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_MISSING_MESSAGE_DIGEST,
                   "set the signature digest (SHA-256, SHA-384 or SHA-512) before signing");
    return 0;
  }
  if (tbslen != DigestSize(*hash)) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_DIGEST_LENGTH, "expected a %zu-byte %s digest",
                   DigestSize(*hash), DigestName(*hash));
    return 0;
  }
  return HsmSign(ctx, *hash, tbs, tbslen, sig, siglen, sigsize);
}

int DigestSignInit(void* vctx, const char* mdname, void* provkey, const OSSL_PARAM params[]) {
  auto* ctx = static_cast<SignatureContext*>(vctx);
  if (ctx == nullptr || !InitKey(ctx, provkey)) return 0;
  if (mdname == nullptr || *mdname == '\0') mdname = "SHA2-256";
  EvpMdPtr md;  // fetched once, to resolve the name and to digest with
  std::optional<HashAlgorithm> hash = HashFromName(ctx->provider, mdname, &md);
  if (!hash.has_value()) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_DIGEST,
                   "digest %s is not supported (SHA-256, SHA-384, SHA-512)", mdname);
    return 0;
  }
  ctx->md_ctx.reset(EVP_MD_CTX_new());
  bool ok = md != nullptr && ctx->md_ctx != nullptr &&
            EVP_DigestInit_ex2(ctx->md_ctx.get(), md.get(), nullptr);
  if (!ok) {
    ctx->md_ctx.reset();
    return 0;
  }
  ctx->hash = hash;
  return SetCtxParams(ctx, params);
}

int DigestSignUpdate(void* vctx, const unsigned char* data, size_t len) {
  auto* ctx = static_cast<SignatureContext*>(vctx);
  if (ctx == nullptr || ctx->md_ctx == nullptr) {
    ERR_raise(ERR_LIB_PROV, PROV_R_INVALID_STATE);
    return 0;
  }
  return EVP_DigestUpdate(ctx->md_ctx.get(), data, len);
}

int DigestSignFinal(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize) {
  auto* ctx = static_cast<SignatureContext*>(vctx);
  if (ctx == nullptr || ctx->md_ctx == nullptr || !ctx->hash.has_value()) {
    ERR_raise(ERR_LIB_PROV, PROV_R_INVALID_STATE);
    return 0;
  }
  if (sig == nullptr) {
    *siglen = MaxSignatureSize(ctx);
    return 1;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (!EVP_DigestFinal_ex(ctx->md_ctx.get(), digest, &digest_len)) return 0;
  return HsmSign(ctx, *ctx->hash, digest, digest_len, sig, siglen, sigsize);
}

int GetCtxParams(void* vctx, OSSL_PARAM params[]) {
  auto* ctx = static_cast<SignatureContext*>(vctx);
  if (ctx == nullptr) return 0;
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
      p != nullptr && ctx->hash.has_value()) {
    if (!CheckPss(ctx, *ctx->hash)) return 0;
    std::string aid = AlgorithmId(ctx->scheme, *ctx->hash);
    if (!OSSL_PARAM_set_octet_string(p, aid.data(), aid.size())) return 0;
  }
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
      p != nullptr && ctx->hash.has_value()) {
    if (!OSSL_PARAM_set_utf8_string(p, DigestName(*ctx->hash))) return 0;
  }
  if (ctx->kind != KeyKind::kRsa) return 1;

  const bool pss = ctx->scheme == SignScheme::kRsaPss;
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) {
    int ok = p->data_type == OSSL_PARAM_UTF8_STRING
                 ? OSSL_PARAM_set_utf8_string(
                       p, pss ? OSSL_PKEY_RSA_PAD_MODE_PSS : OSSL_PKEY_RSA_PAD_MODE_PKCSV15)
                 : OSSL_PARAM_set_int(p, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING);
    if (!ok) return 0;
  }
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) {
    int ok = p->data_type == OSSL_PARAM_UTF8_STRING
                 ? (ctx->pss_saltlen == RSA_PSS_SALTLEN_DIGEST
                        ? OSSL_PARAM_set_utf8_string(p, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST)
                        : OSSL_PARAM_set_utf8_string(p, std::to_string(ctx->pss_saltlen).c_str()))
                 : OSSL_PARAM_set_int(p, ctx->pss_saltlen);
    if (!ok) return 0;
  }
  if (OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) {
    std::optional<HashAlgorithm> mgf1 = ctx->mgf1_hash ? ctx->mgf1_hash : ctx->hash;
    if (mgf1.has_value() && !OSSL_PARAM_set_utf8_string(p, DigestName(*mgf1))) return 0;
  }
  return 1;
}

const OSSL_PARAM kEcdsaGettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0), OSSL_PARAM_END};
const OSSL_PARAM kEcdsaSettable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, nullptr, 0), OSSL_PARAM_END};
const OSSL_PARAM kRsaGettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, nullptr, 0),
    OSSL_PARAM_END};
const OSSL_PARAM kRsaSettable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, nullptr, 0),
    OSSL_PARAM_END};

const OSSL_PARAM* EcdsaGettable(void*, void*) { return kEcdsaGettable; }
const OSSL_PARAM* EcdsaSettable(void*, void*) { return kEcdsaSettable; }
const OSSL_PARAM* RsaGettable(void*, void*) { return kRsaGettable; }
const OSSL_PARAM* RsaSettable(void*, void*) { return kRsaSettable; }

}  // namespace

const OSSL_DISPATCH kEcdsaSignatureFunctions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, DispatchFn(&NewCtx<KeyKind::kEc>)},
    {OSSL_FUNC_SIGNATURE_FREECTX, DispatchFn(&FreeCtx)},
    {OSSL_FUNC_SIGNATURE_DUPCTX, DispatchFn(&DupCtx)},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, DispatchFn(&SignInit)},
    {OSSL_FUNC_SIGNATURE_SIGN, DispatchFn(&Sign)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, DispatchFn(&DigestSignInit)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, DispatchFn(&DigestSignUpdate)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, DispatchFn(&DigestSignFinal)},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, DispatchFn(&GetCtxParams)},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, DispatchFn(&EcdsaGettable)},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, DispatchFn(&SetCtxParams)},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, DispatchFn(&EcdsaSettable)},
    {0, nullptr}};

const OSSL_DISPATCH kRsaSignatureFunctions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, DispatchFn(&NewCtx<KeyKind::kRsa>)},
    {OSSL_FUNC_SIGNATURE_FREECTX, DispatchFn(&FreeCtx)},
    {OSSL_FUNC_SIGNATURE_DUPCTX, DispatchFn(&DupCtx)},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, DispatchFn(&SignInit)},
    {OSSL_FUNC_SIGNATURE_SIGN, DispatchFn(&Sign)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, DispatchFn(&DigestSignInit)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, DispatchFn(&DigestSignUpdate)},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, DispatchFn(&DigestSignFinal)},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, DispatchFn(&GetCtxParams)},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, DispatchFn(&RsaGettable)},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, DispatchFn(&SetCtxParams)},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, DispatchFn(&RsaSettable)},
    {0, nullptr}};

}  // namespace strongroom::hsm::internal
