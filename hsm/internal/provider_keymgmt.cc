// Key management ("EC", "RSA") of the strongroom-hsm provider. A key is a reference to an
// HSM key pair (label) plus its public half as a default-provider EVP_PKEY; every public
// query (bits, size, public components, comparisons) is answered by that public key, and
// no private component exists outside the HSM, so none can be exported.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/proverr.h>
#include <openssl/x509.h>

#include <new>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "hsm/internal/provider_key.h"

namespace strongroom::hsm::internal {
namespace {

const char* TypeName(KeyKind kind) { return kind == KeyKind::kEc ? "EC" : "RSA"; }

template <KeyKind kKind>
void* KeyNew(void* provctx) {
  auto* key = new (std::nothrow) HsmKey;
  if (key == nullptr) return nullptr;
  key->provider = static_cast<const ProviderContext*>(provctx);
  key->kind = kKind;
  return key;
}

void KeyFree(void* keydata) { delete static_cast<HsmKey*>(keydata); }

int KeyHas(const void* keydata, int selection) {
  const auto* key = static_cast<const HsmKey*>(keydata);
  if (key == nullptr) return 0;
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && !key->has_private()) return 0;
  if ((selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) != 0 &&
      key->pub == nullptr) {
    return 0;
  }
  return 1;
}

// Whether `params` carry private key material (EC "priv", RSA "d" and CRT components).
bool HasPrivateComponents(const OSSL_PARAM params[]) {
  for (const OSSL_PARAM* p = params; p != nullptr && p->key != nullptr; ++p) {
    absl::string_view name = p->key;
    if (name == OSSL_PKEY_PARAM_PRIV_KEY || name == OSSL_PKEY_PARAM_RSA_D ||
        absl::StartsWith(name, "rsa-factor") || absl::StartsWith(name, "rsa-exponent") ||
        absl::StartsWith(name, "rsa-coefficient")) {
      return true;
    }
  }
  return false;
}

// Makes `key` refer to an HSM key pair (kParamHsmLabel + kParamHsmSpki).
int ImportHsmReference(HsmKey* key, const OSSL_PARAM params[]) {
  const char* label = nullptr;
  const void* spki = nullptr;
  size_t spki_len = 0;
  if (!OSSL_PARAM_get_utf8_string_ptr(OSSL_PARAM_locate_const(params, kParamHsmLabel), &label) ||
      *label == '\0' ||
      !OSSL_PARAM_get_octet_string_ptr(OSSL_PARAM_locate_const(params, kParamHsmSpki), &spki,
                                       &spki_len)) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_KEY, "an HSM key reference needs %s and %s",
                   kParamHsmLabel, kParamHsmSpki);
    return 0;
  }
  const auto* p = static_cast<const unsigned char*>(spki);
  EvpPkeyPtr pub(d2i_PUBKEY_ex(nullptr, &p, static_cast<long>(spki_len), key->provider->libctx,
                               kDefaultProviderQuery));
  if (pub == nullptr || p != static_cast<const unsigned char*>(spki) + spki_len ||
      !EVP_PKEY_is_a(pub.get(), TypeName(key->kind))) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_INVALID_KEY,
                   "the public key of HSM key '%s' is not a %s SubjectPublicKeyInfo", label,
                   TypeName(key->kind));
    return 0;
  }
  key->label = label;
  key->pub = std::move(pub);
  return 1;
}

// Makes `key` a public-only key from standard parameters (OpenSSL does this when it
// moves a key from another provider here, e.g. to compare it with one of ours).
int ImportPublic(HsmKey* key, int selection, const OSSL_PARAM params[]) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(key->provider->libctx, TypeName(key->kind),
                                               kDefaultProviderQuery));
  EVP_PKEY* pub = nullptr;
  int evp_selection = (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 ? EVP_PKEY_PUBLIC_KEY
                                                                        : EVP_PKEY_KEY_PARAMETERS;
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pub, evp_selection, const_cast<OSSL_PARAM*>(params)) <= 0) {
    return 0;
  }
  key->pub.reset(pub);
  return 1;
}

int KeyImport(void* keydata, int selection, const OSSL_PARAM params[]) {
  auto* key = static_cast<HsmKey*>(keydata);
  // A key is filled once, then immutable (so it can be shared between threads).
  if (key == nullptr || key->pub != nullptr) return 0;
  if (OSSL_PARAM_locate_const(params, kParamHsmLabel) != nullptr) {
    return ImportHsmReference(key, params);
  }
  if (HasPrivateComponents(params)) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_NOT_SUPPORTED,
                   "%s does not import private keys: create them in the HSM", kProviderName);
    return 0;
  }
  return ImportPublic(key, selection, params);
}

int KeyExport(void* keydata, int selection, OSSL_CALLBACK* callback, void* callback_arg) {
  auto* key = static_cast<HsmKey*>(keydata);
  if (key == nullptr || key->pub == nullptr) return 0;
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && key->has_private()) {
    ERR_raise_data(ERR_LIB_PROV, PROV_R_NOT_SUPPORTED,
                   "the private key of HSM key '%s' never leaves the HSM; only public "
                   "components can be exported",
                   key->label.c_str());
    return 0;
  }
  OSSL_PARAM* params = nullptr;
  int public_selection =
      selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS);
  if (EVP_PKEY_todata(key->pub.get(), public_selection, &params) <= 0) return 0;
  OsslParamPtr owned(params);
  return callback(params, callback_arg);
}

int KeyGetParams(void* keydata, OSSL_PARAM params[]) {
  auto* key = static_cast<HsmKey*>(keydata);
  if (key == nullptr || key->pub == nullptr) return 0;
  // The public key answers bits, security bits, max signature size, the default digest
  // and public components; it has no private ones to give.
  return EVP_PKEY_get_params(key->pub.get(), params);
}

int KeyMatch(const void* keydata1, const void* keydata2, int selection) {
  const auto* a = static_cast<const HsmKey*>(keydata1);
  const auto* b = static_cast<const HsmKey*>(keydata2);
  if (a == nullptr || b == nullptr || a->pub == nullptr || b->pub == nullptr) return 0;
  // A key pair is identified by its public key.
  if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
    return EVP_PKEY_eq(a->pub.get(), b->pub.get()) == 1;
  if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0 && a->kind == KeyKind::kEc) {
    return EVP_PKEY_parameters_eq(a->pub.get(), b->pub.get()) == 1;
  }
  return 1;
}

void* KeyDup(const void* keydata, int selection) {
  const auto* from = static_cast<const HsmKey*>(keydata);
  if (from == nullptr) return nullptr;
  auto* key = new (std::nothrow) HsmKey;
  if (key == nullptr) return nullptr;
  key->provider = from->provider;
  key->kind = from->kind;
  if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) key->label = from->label;
  if (from->pub != nullptr && EVP_PKEY_up_ref(from->pub.get())) key->pub.reset(from->pub.get());
  return key;
}

const char* EcOperationName(int operation_id) {
  return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : nullptr;
}

const char* RsaOperationName(int operation_id) {
  return operation_id == OSSL_OP_SIGNATURE ? "RSA" : nullptr;
}

#define SR_PARAM_REFERENCE                            \
  OSSL_PARAM_utf8_string(kParamHsmLabel, nullptr, 0), \
      OSSL_PARAM_octet_string(kParamHsmSpki, nullptr, 0)

const OSSL_PARAM kEcGettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, nullptr, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, nullptr, 0),
    OSSL_PARAM_END};

const OSSL_PARAM kRsaGettable[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
    OSSL_PARAM_END};

const OSSL_PARAM kEcPublic[] = {OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
                                OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
                                OSSL_PARAM_END};
const OSSL_PARAM kEcImportable[] = {OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
                                    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
                                    SR_PARAM_REFERENCE, OSSL_PARAM_END};
const OSSL_PARAM kRsaPublic[] = {OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
                                 OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0), OSSL_PARAM_END};
const OSSL_PARAM kRsaImportable[] = {OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
                                     OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
                                     SR_PARAM_REFERENCE, OSSL_PARAM_END};

const OSSL_PARAM* EcGettableParams(void*) { return kEcGettable; }
const OSSL_PARAM* RsaGettableParams(void*) { return kRsaGettable; }
const OSSL_PARAM* EcImportTypes(int) { return kEcImportable; }
const OSSL_PARAM* RsaImportTypes(int) { return kRsaImportable; }
const OSSL_PARAM* EcExportTypes(int selection) {
  return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 ? nullptr : kEcPublic;
}
const OSSL_PARAM* RsaExportTypes(int selection) {
  return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 ? nullptr : kRsaPublic;
}

}  // namespace

const OSSL_DISPATCH kEcKeyMgmtFunctions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, DispatchFn(&KeyNew<KeyKind::kEc>)},
    {OSSL_FUNC_KEYMGMT_FREE, DispatchFn(&KeyFree)},
    {OSSL_FUNC_KEYMGMT_HAS, DispatchFn(&KeyHas)},
    {OSSL_FUNC_KEYMGMT_MATCH, DispatchFn(&KeyMatch)},
    {OSSL_FUNC_KEYMGMT_DUP, DispatchFn(&KeyDup)},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, DispatchFn(&KeyGetParams)},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, DispatchFn(&EcGettableParams)},
    {OSSL_FUNC_KEYMGMT_IMPORT, DispatchFn(&KeyImport)},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, DispatchFn(&EcImportTypes)},
    {OSSL_FUNC_KEYMGMT_EXPORT, DispatchFn(&KeyExport)},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, DispatchFn(&EcExportTypes)},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, DispatchFn(&EcOperationName)},
    {0, nullptr}};

const OSSL_DISPATCH kRsaKeyMgmtFunctions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, DispatchFn(&KeyNew<KeyKind::kRsa>)},
    {OSSL_FUNC_KEYMGMT_FREE, DispatchFn(&KeyFree)},
    {OSSL_FUNC_KEYMGMT_HAS, DispatchFn(&KeyHas)},
    {OSSL_FUNC_KEYMGMT_MATCH, DispatchFn(&KeyMatch)},
    {OSSL_FUNC_KEYMGMT_DUP, DispatchFn(&KeyDup)},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, DispatchFn(&KeyGetParams)},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, DispatchFn(&RsaGettableParams)},
    {OSSL_FUNC_KEYMGMT_IMPORT, DispatchFn(&KeyImport)},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, DispatchFn(&RsaImportTypes)},
    {OSSL_FUNC_KEYMGMT_EXPORT, DispatchFn(&KeyExport)},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, DispatchFn(&RsaExportTypes)},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, DispatchFn(&RsaOperationName)},
    {0, nullptr}};

}  // namespace strongroom::hsm::internal
