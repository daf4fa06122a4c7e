#include "hsm/provider.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "hsm/internal/pkcs11_uri.h"
#include "hsm/internal/provider_key.h"

namespace strongroom::hsm {
namespace {

using internal::DispatchFn;
using internal::ProviderContext;

static_assert(std::string_view(HsmProvider::kName) == internal::kProviderName);

// Every algorithm carries "provider=strongroom-hsm" (as the default provider's carry
// "provider=default"), which tells them apart from the default provider's of the same name.
const OSSL_ALGORITHM kKeyManagement[] = {
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", internal::kProviderQuery, internal::kEcKeyMgmtFunctions,
     "EC key held in the HSM"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", internal::kProviderQuery,
     internal::kRsaKeyMgmtFunctions, "RSA key held in the HSM"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM kSignatures[] = {
    {"ECDSA", internal::kProviderQuery, internal::kEcdsaSignatureFunctions, "ECDSA in the HSM"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", internal::kProviderQuery,
     internal::kRsaSignatureFunctions, "RSA PKCS#1 v1.5 / PSS signatures in the HSM"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM* QueryOperation(void* /*provctx*/, int operation_id, int* no_cache) {
  *no_cache = 0;
  switch (operation_id) {
    case OSSL_OP_KEYMGMT:
      return kKeyManagement;
    case OSSL_OP_SIGNATURE:
      return kSignatures;
    default:
      return nullptr;
  }
}

const OSSL_PARAM kProviderGettable[] = {OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, nullptr, 0),
                                        OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, nullptr),
                                        OSSL_PARAM_END};

const OSSL_PARAM* GettableParams(void* /*provctx*/) { return kProviderGettable; }

int GetParams(void* /*provctx*/, OSSL_PARAM params[]) {
  OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
  if (p != nullptr && !OSSL_PARAM_set_utf8_ptr(p, "Strongroom HSM provider")) return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
  if (p != nullptr && !OSSL_PARAM_set_int(p, 1)) return 0;
  return 1;
}

void Teardown(void* provctx) { delete static_cast<ProviderContext*>(provctx); }

const OSSL_DISPATCH kProviderFunctions[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, DispatchFn(&Teardown)},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, DispatchFn(&GettableParams)},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, DispatchFn(&GetParams)},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, DispatchFn(&QueryOperation)},
    {0, nullptr}};

// The provider's entry point. Its context is filled in by HsmProvider::Load.
int ProviderInit(const OSSL_CORE_HANDLE* /*handle*/, const OSSL_DISPATCH* /*in*/,
                 const OSSL_DISPATCH** out, void** provctx) {
  auto* ctx = new (std::nothrow) ProviderContext;
  if (ctx == nullptr) return 0;
  *provctx = ctx;
  *out = kProviderFunctions;
  return 1;
}

// `what` followed by the OpenSSL error queue (which this drains).
absl::Status OpenSslError(absl::StatusCode code, absl::string_view what) {
  std::string message(what);
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long err = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    absl::StrAppend(&message, "; ", buf);
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      absl::StrAppend(&message, " (", data, ")");
    }
  }
  return absl::Status(code, message);
}

// Checks that `pub` is a key type and size the provider serves.
absl::Status CheckSupported(const std::string& label, EVP_PKEY* pub, const char** type) {
  if (EVP_PKEY_is_a(pub, "EC")) {
    char group[64] = "";
    if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        nullptr) ||
        (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0)) {
      return absl::FailedPreconditionError(absl::StrCat("HSM key '", label, "' is on EC curve '",
                                                        group, "'; supported: P-256, P-384"));
    }
    *type = "EC";
    return absl::OkStatus();
  }
  if (EVP_PKEY_is_a(pub, "RSA")) {
    int bits = EVP_PKEY_get_bits(pub);
    if (bits < 2048 || bits > 4096) {
      return absl::FailedPreconditionError(absl::StrCat("HSM key '", label, "' is RSA-", bits,
                                                        "; supported: RSA 2048 to 4096 bits"));
    }
    *type = "RSA";
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat("HSM key '", label, "' is neither EC nor RSA"));
}

// NOT_FOUND unless the URI's optional `attribute` matches the token's `actual` value.
absl::Status CheckTokenAttribute(absl::string_view attribute,
                                 const std::optional<std::string>& wanted,
                                 const std::string& actual, const std::string& token_label) {
  if (!wanted.has_value() || *wanted == actual) return absl::OkStatus();
  if (attribute == "token") {
    return absl::NotFoundError(absl::StrCat("pkcs11 URI names token '", *wanted,
                                            "', but this HSM holds token '", token_label, "'"));
  }
  return absl::NotFoundError(absl::StrCat("pkcs11 URI names ", attribute, " '", *wanted,
                                          "', but token '", token_label, "' has ", attribute, " '",
                                          actual, "'"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<HsmProvider>> HsmProvider::Load(Hsm* hsm) {
  if (hsm == nullptr) return absl::InvalidArgumentError("HsmProvider::Load: hsm is null");
  // Errors the thread's queue holds from earlier calls (SoftHSM, for one, leaves some
  // behind when it starts) would otherwise be reported as ours.
  ERR_clear_error();
  OsslLibCtxPtr libctx(OSSL_LIB_CTX_new());
  if (libctx == nullptr) return OpenSslError(absl::StatusCode::kInternal, "OSSL_LIB_CTX_new");
  if (!OSSL_PROVIDER_add_builtin(libctx.get(), kName, &ProviderInit)) {
    return OpenSslError(absl::StatusCode::kInternal, "registering the strongroom-hsm provider");
  }
  OSSL_PROVIDER* default_provider = OSSL_PROVIDER_load(libctx.get(), "default");
  if (default_provider == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "loading OpenSSL's default provider");
  }
  OSSL_PROVIDER* hsm_provider = OSSL_PROVIDER_load(libctx.get(), kName);
  if (hsm_provider == nullptr) {
    OSSL_PROVIDER_unload(default_provider);
    return OpenSslError(absl::StatusCode::kInternal, "loading the strongroom-hsm provider");
  }
  auto* context = static_cast<ProviderContext*>(OSSL_PROVIDER_get0_provider_ctx(hsm_provider));
  context->hsm = hsm;
  context->libctx = libctx.get();
  // The provider object frees the context last, after unloading both providers.
  return std::unique_ptr<HsmProvider>(
      new HsmProvider(hsm, libctx.release(), default_provider, hsm_provider));
}

HsmProvider::~HsmProvider() {
  OSSL_PROVIDER_unload(hsm_provider_);
  OSSL_PROVIDER_unload(default_provider_);
  OSSL_LIB_CTX_free(libctx_);
}

absl::StatusOr<EvpPkeyPtr> HsmProvider::LoadPrivateKey(absl::string_view pkcs11_uri) {
  ERR_clear_error();  // As in Load: report only this call's OpenSSL errors.
  absl::StatusOr<internal::Pkcs11Uri> uri = internal::ParsePkcs11Uri(pkcs11_uri);
  if (!uri.ok()) return uri.status();
  const TokenInfo& token = hsm_->token_info();
  for (absl::Status s :
       {CheckTokenAttribute("token", uri->token, token.label, token.label),
        CheckTokenAttribute("manufacturer", uri->manufacturer, token.manufacturer, token.label),
        CheckTokenAttribute("model", uri->model, token.model, token.label),
        CheckTokenAttribute("serial", uri->serial, token.serial_number, token.label)}) {
    if (!s.ok()) return s;
  }

  const std::string& label = uri->object;
  absl::StatusOr<bool> exists = hsm_->PrivateKeyExists(label);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    return absl::NotFoundError(
        absl::StrCat("no private key labelled '", label, "' on token '", token.label, "'"));
  }
  absl::StatusOr<std::string> spki = hsm_->PublicKeyDer(label);
  if (!spki.ok()) return spki.status();

  const auto* der = reinterpret_cast<const unsigned char*>(spki->data());
  EvpPkeyPtr pub(d2i_PUBKEY_ex(nullptr, &der, static_cast<long>(spki->size()), libctx_,
                               internal::kDefaultProviderQuery));
  if (pub == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal,
                        absl::StrCat("parsing the public key of HSM key '", label, "'"));
  }
  const char* type = nullptr;
  if (absl::Status s = CheckSupported(label, pub.get(), &type); !s.ok()) return s;

  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(libctx_, type, internal::kProviderQuery));
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(internal::kParamHsmLabel, const_cast<char*>(label.c_str()),
                                       0),
      OSSL_PARAM_construct_octet_string(internal::kParamHsmSpki, spki->data(), spki->size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* pkey = nullptr;
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_KEYPAIR, params) <= 0) {
    return OpenSslError(absl::StatusCode::kInternal,
                        absl::StrCat("making an EVP_PKEY for HSM key '", label, "'"));
  }
  return EvpPkeyPtr(pkey);
}

}  // namespace strongroom::hsm
