#include "hsm/hsm.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstring>
#include <optional>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "hsm/ck_rv.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::hsm {
namespace {

using Bytes = std::vector<uint8_t>;

CK_BBOOL kTrue = CK_TRUE;
CK_BBOOL kFalse = CK_FALSE;

// DER OIDs for CKA_EC_PARAMS.
const uint8_t kP256Oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
const uint8_t kP384Oid[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
const uint8_t kRsaExponent[] = {0x01, 0x00, 0x01};

// DigestInfo prefixes (RFC 8017 section 9.2, note 1).
const uint8_t kSha256Prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
const uint8_t kSha384Prefix[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
const uint8_t kSha512Prefix[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40};

CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, const void* value, size_t len) {
  return {type, const_cast<void*>(value), static_cast<CK_ULONG>(len)};
}
template <typename T>
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, const T& value) {
  return Attr(type, &value, sizeof(T));
}
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, const std::string& value) {
  return Attr(type, value.data(), value.size());
}

// CKM_AES_GCM with a 96-bit IV, `aad` and a 128-bit tag. Borrows iv and aad.
struct GcmMechanism {
  GcmMechanism(absl::Span<const uint8_t> iv, absl::string_view aad)
      : params{const_cast<uint8_t*>(iv.data()),
               iv.size(),
               iv.size() * 8,
               reinterpret_cast<CK_BYTE*>(const_cast<char*>(aad.data())),
               aad.size(),
               128},
        mechanism{CKM_AES_GCM, &params, sizeof(params)} {}
  GcmMechanism(const GcmMechanism&) = delete;
  CK_GCM_PARAMS params;
  CK_MECHANISM mechanism;
};

const char* ClassName(CK_OBJECT_CLASS cls) {
  switch (cls) {
    case CKO_SECRET_KEY:
      return "secret key";
    case CKO_PRIVATE_KEY:
      return "private key";
    case CKO_PUBLIC_KEY:
      return "public key";
    default:
      return "object";
  }
}

// Reads one variable-length attribute of an object.
absl::StatusOr<Bytes> GetAttribute(Pkcs11Module& module, CK_SESSION_HANDLE session,
                                   CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE attr = {type, nullptr, 0};
  if (auto s = SR_P11(module, C_GetAttributeValue, session, object, &attr, 1); !s.ok()) return s;
  Bytes value(attr.ulValueLen);
  attr.pValue = value.data();
  if (auto s = SR_P11(module, C_GetAttributeValue, session, object, &attr, 1); !s.ok()) return s;
  value.resize(attr.ulValueLen);
  return value;
}

// ECDSA r||s (PKCS#11) to DER ECDSA-Sig-Value (X.509, TLS, everything else).
absl::StatusOr<std::string> EcdsaRawToDer(const Bytes& raw) {
  if (raw.empty() || raw.size() % 2 != 0) {
    return absl::InternalError("HSM returned a malformed ECDSA signature");
  }
  size_t half = raw.size() / 2;
  BignumPtr r(BN_bin2bn(raw.data(), half, nullptr));
  BignumPtr s(BN_bin2bn(raw.data() + half, half, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || !ECDSA_SIG_set0(sig.get(), r.get(), s.get())) {
    return absl::InternalError("cannot encode ECDSA signature");
  }
  r.release();
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  std::string der(len > 0 ? len : 0, '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
  if (len <= 0 || i2d_ECDSA_SIG(sig.get(), &p) != len) {
    return absl::InternalError("cannot encode ECDSA signature");
  }
  return der;
}

absl::StatusOr<std::string> EncodePublicKey(EVP_PKEY* pkey) {
  int len = i2d_PUBKEY(pkey, nullptr);
  if (len <= 0) return absl::InternalError("cannot encode public key");
  std::string der(len, '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(pkey, &p) != len) return absl::InternalError("cannot encode public key");
  return der;
}

absl::StatusOr<std::string> PkeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return absl::InternalError(absl::StrCat("HSM public key is not a valid ", type, " key"));
  }
  EvpPkeyPtr pkey(raw);
  return EncodePublicKey(pkey.get());
}

}  // namespace

namespace {

absl::Status ValidateLabel(const std::string& label) {
  if (label.empty() || label.size() > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("token label must be 1 to 32 bytes (PKCS#11 limit), got ", label.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Hsm>> Hsm::Open(const HsmOptions& options) {
  if (absl::Status s = ValidateLabel(options.token_label); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<Pkcs11Module>> module = Pkcs11Module::Load(options.module_path);
  if (!module.ok()) return module.status();
  SessionPoolOptions pool_options;
  pool_options.token_label = options.token_label;
  pool_options.pin_file = options.pin_file;
  pool_options.max_sessions = options.max_sessions;
  pool_options.reconnect_interval = options.reconnect_interval;
  absl::StatusOr<std::unique_ptr<SessionPool>> pool =
      SessionPool::Create(module->get(), std::move(pool_options));
  if (!pool.ok()) return pool.status();

  TokenInfo info;
  Pkcs11Module& m = **module;
  absl::Status s = (*pool)->Run([&](CK_SESSION_HANDLE session) -> absl::Status {
    CK_SESSION_INFO session_info;
    if (auto s = SR_P11(m, C_GetSessionInfo, session, &session_info); !s.ok()) return s;
    CK_TOKEN_INFO token;
    if (auto s = SR_P11(m, C_GetTokenInfo, session_info.slotID, &token); !s.ok()) return s;
    CK_INFO library;
    if (auto s = SR_P11(m, C_GetInfo, &library); !s.ok()) return s;
    info.label = TrimField(token.label, sizeof(token.label));
    info.manufacturer = TrimField(token.manufacturerID, sizeof(token.manufacturerID));
    info.model = TrimField(token.model, sizeof(token.model));
    info.serial_number = TrimField(token.serialNumber, sizeof(token.serialNumber));
    info.library_description =
        TrimField(library.libraryDescription, sizeof(library.libraryDescription));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return std::unique_ptr<Hsm>(new Hsm(*std::move(module), *std::move(pool), std::move(info)));
}

absl::Status Hsm::InitToken(const std::string& module_path, const std::string& label,
                            const SecretData& so_pin, const SecretData& user_pin) {
  if (absl::Status s = ValidateLabel(label); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<Pkcs11Module>> loaded = Pkcs11Module::Load(module_path);
  if (!loaded.ok()) return loaded.status();
  Pkcs11Module& m = **loaded;
  if (FindTokenSlot(m, label).ok()) {
    return absl::AlreadyExistsError(absl::StrCat("a token labelled '", label, "' already exists"));
  }
  CK_ULONG count = 0;
  if (auto s = SR_P11(m, C_GetSlotList, CK_TRUE, nullptr, &count); !s.ok()) return s;
  std::vector<CK_SLOT_ID> slots(count);
  if (auto s = SR_P11(m, C_GetSlotList, CK_TRUE, slots.data(), &count); !s.ok()) return s;
  slots.resize(count);
  std::optional<CK_SLOT_ID> free_slot;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    if (SR_P11(m, C_GetTokenInfo, slot, &info).ok() && !(info.flags & CKF_TOKEN_INITIALIZED)) {
      free_slot = slot;
      break;
    }
  }
  if (!free_slot) {
    return absl::FailedPreconditionError(
        absl::StrCat("PKCS#11 module ", module_path, " has no uninitialised token to set up"));
  }
  std::string padded = PadField(label, 32);
  auto so = so_pin.RevealSecret();
  if (auto s = SR_P11(m, C_InitToken, *free_slot, const_cast<CK_UTF8CHAR*>(so.data()), so.size(),
                      reinterpret_cast<CK_UTF8CHAR*>(padded.data()));
      !s.ok()) {
    return s;
  }
  // Some modules (SoftHSM) move an initialised token to a new slot id.
  absl::StatusOr<CK_SLOT_ID> slot = FindTokenSlot(m, label);
  if (!slot.ok()) return slot.status();
  CK_SESSION_HANDLE session;
  if (auto s = SR_P11(m, C_OpenSession, *slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                      nullptr, &session);
      !s.ok()) {
    return s;
  }
  absl::Status s =
      SR_P11(m, C_Login, session, CKU_SO, const_cast<CK_UTF8CHAR*>(so.data()), so.size());
  if (s.ok()) {
    auto user = user_pin.RevealSecret();
    s = SR_P11(m, C_InitPIN, session, const_cast<CK_UTF8CHAR*>(user.data()), user.size());
    (void)SR_P11(m, C_Logout, session);
  }
  (void)SR_P11(m, C_CloseSession, session);
  return s;
}

Hsm::~Hsm() { pool_.reset(); }

void Hsm::Logout() { pool_->Logout(); }

absl::Status Hsm::Login() { return pool_->Login(); }

absl::Status Hsm::GenerateRandom(absl::Span<uint8_t> out) {
  if (out.empty()) return absl::OkStatus();
  return pool_->Run([&](CK_SESSION_HANDLE session) {
    return SR_P11(*module_, C_GenerateRandom, session, out.data(), out.size());
  });
}

absl::StatusOr<CK_OBJECT_HANDLE> Hsm::Find(CK_SESSION_HANDLE session, CK_OBJECT_CLASS cls,
                                           const std::string& label) {
  std::string cache_key = absl::StrCat(cls, ":", label);
  {
    absl::MutexLock lock(&cache_mu_);
    if (cache_generation_ != pool_->generation()) {
      handles_.clear();
      cache_generation_ = pool_->generation();
    }
    auto it = handles_.find(cache_key);
    if (it != handles_.end()) return it->second;
  }
  CK_ATTRIBUTE tmpl[] = {Attr(CKA_CLASS, cls), Attr(CKA_LABEL, label)};
  if (auto s = SR_P11(*module_, C_FindObjectsInit, session, tmpl, 2); !s.ok()) return s;
  CK_OBJECT_HANDLE found[2];
  CK_ULONG count = 0;
  absl::Status s = SR_P11(*module_, C_FindObjects, session, found, 2, &count);
  absl::Status final_status = SR_P11(*module_, C_FindObjectsFinal, session);
  if (!s.ok()) return s;
  if (!final_status.ok()) return final_status;
  if (count == 0) {
    return absl::NotFoundError(absl::StrCat("no ", ClassName(cls), " labelled '", label,
                                            "' on token '", token_info_.label, "'"));
  }
  if (count > 1) {
    return absl::FailedPreconditionError(absl::StrCat("several ", ClassName(cls),
                                                      "s are labelled '", label, "' on token '",
                                                      token_info_.label, "'"));
  }
  absl::MutexLock lock(&cache_mu_);
  if (cache_generation_ == pool_->generation()) handles_[cache_key] = found[0];
  return found[0];
}

absl::Status Hsm::WithObject(
    CK_OBJECT_CLASS cls, const std::string& label,
    const std::function<absl::Status(CK_SESSION_HANDLE, CK_OBJECT_HANDLE)>& fn) {
  return pool_->Run([&](CK_SESSION_HANDLE session) -> absl::Status {
    absl::StatusOr<CK_OBJECT_HANDLE> handle = Find(session, cls, label);
    if (!handle.ok()) return handle.status();
    absl::Status s = fn(session, *handle);
    CK_RV rv = RvOf(s);
    if (rv != CKR_OBJECT_HANDLE_INVALID && rv != CKR_KEY_HANDLE_INVALID) return s;
    {  // The object was replaced behind our back: look it up once more.
      absl::MutexLock lock(&cache_mu_);
      handles_.erase(absl::StrCat(cls, ":", label));
    }
    handle = Find(session, cls, label);
    if (!handle.ok()) return handle.status();
    return fn(session, *handle);
  });
}

absl::StatusOr<bool> Hsm::Exists(CK_OBJECT_CLASS cls, const std::string& label) {
  absl::Status s =
      WithObject(cls, label, [](CK_SESSION_HANDLE, CK_OBJECT_HANDLE) { return absl::OkStatus(); });
  if (s.ok()) return true;
  if (absl::IsNotFound(s)) return false;
  return s;
}

absl::StatusOr<bool> Hsm::SecretKeyExists(const std::string& label) {
  return Exists(CKO_SECRET_KEY, label);
}

absl::StatusOr<bool> Hsm::PrivateKeyExists(const std::string& label) {
  return Exists(CKO_PRIVATE_KEY, label);
}

absl::Status Hsm::DestroyObjects(const std::string& label) {
  absl::Status s = pool_->Run([&](CK_SESSION_HANDLE session) -> absl::Status {
    CK_ATTRIBUTE tmpl[] = {Attr(CKA_LABEL, label)};
    if (auto s = SR_P11(*module_, C_FindObjectsInit, session, tmpl, 1); !s.ok()) return s;
    CK_OBJECT_HANDLE found[16];
    CK_ULONG count = 0;
    absl::Status s = SR_P11(*module_, C_FindObjects, session, found, 16, &count);
    absl::Status final_status = SR_P11(*module_, C_FindObjectsFinal, session);
    if (!s.ok()) return s;
    if (!final_status.ok()) return final_status;
    for (CK_ULONG i = 0; i < count; ++i) {
      if (auto s = SR_P11(*module_, C_DestroyObject, session, found[i]); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
  absl::MutexLock lock(&cache_mu_);
  for (CK_OBJECT_CLASS cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
    handles_.erase(absl::StrCat(cls, ":", label));
  }
  return s;
}

absl::Status Hsm::GenerateSecretKey(const std::string& label, const SecretKeySpec& spec) {
  absl::StatusOr<bool> exists = SecretKeyExists(label);
  if (!exists.ok()) return exists.status();
  if (*exists) {
    return absl::AlreadyExistsError(absl::StrCat("secret key '", label, "' already exists"));
  }
  return pool_->Run([&](CK_SESSION_HANDLE session) -> absl::Status {
    uint8_t id[16];
    if (auto s = SR_P11(*module_, C_GenerateRandom, session, id, sizeof(id)); !s.ok()) return s;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL crypt = spec.usage == SecretKeySpec::kEncrypt ? CK_TRUE : CK_FALSE;
    CK_BBOOL mac = spec.usage == SecretKeySpec::kMac ? CK_TRUE : CK_FALSE;
    // Sensitive, never extractable, not modifiable, and usable for exactly one purpose.
    CK_ATTRIBUTE tmpl[] = {
        Attr(CKA_CLASS, cls),
        Attr(CKA_KEY_TYPE, spec.type),
        Attr(CKA_VALUE_LEN, spec.bytes),
        Attr(CKA_LABEL, label),
        Attr(CKA_ID, id, sizeof(id)),
        Attr(CKA_TOKEN, kTrue),
        Attr(CKA_PRIVATE, kTrue),
        Attr(CKA_SENSITIVE, kTrue),
        Attr(CKA_EXTRACTABLE, kFalse),
        Attr(CKA_MODIFIABLE, kFalse),
        Attr(CKA_ENCRYPT, crypt),
        Attr(CKA_DECRYPT, crypt),
        Attr(CKA_SIGN, mac),
        Attr(CKA_VERIFY, mac),
        Attr(CKA_WRAP, kFalse),
        Attr(CKA_UNWRAP, kFalse),
        Attr(CKA_DERIVE, kFalse),
    };
    CK_MECHANISM mech = {spec.mechanism, nullptr, 0};
    CK_OBJECT_HANDLE key;
    return SR_P11(*module_, C_GenerateKey, session, &mech, tmpl, std::size(tmpl), &key);
  });
}

absl::Status Hsm::GenerateAesKey(const std::string& label) {
  return GenerateSecretKey(label, {CKK_AES, 32, CKM_AES_KEY_GEN, SecretKeySpec::kEncrypt});
}

absl::Status Hsm::GenerateHmacKey(const std::string& label) {
  // 64 bytes: at least the largest digest; tokens refuse shorter HMAC keys.
  return GenerateSecretKey(
      label, {CKK_GENERIC_SECRET, 64, CKM_GENERIC_SECRET_KEY_GEN, SecretKeySpec::kMac});
}

absl::StatusOr<std::string> Hsm::Hmac(const std::string& label, HashAlgorithm hash,
                                      absl::string_view data) {
  CK_MECHANISM mech = {hash == HashAlgorithm::kSha256   ? CKM_SHA256_HMAC
                       : hash == HashAlgorithm::kSha384 ? CKM_SHA384_HMAC
                                                        : CKM_SHA512_HMAC,
                       nullptr, 0};
  std::string out(DigestSize(hash), '\0');
  absl::Status s =
      WithObject(CKO_SECRET_KEY, label, [&](CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key) {
        if (auto s = SR_P11(*module_, C_SignInit, session, &mech, key); !s.ok()) return s;
        CK_ULONG len = out.size();
        if (auto s = SR_P11(*module_, C_Sign, session,
                            reinterpret_cast<CK_BYTE*>(const_cast<char*>(data.data())), data.size(),
                            reinterpret_cast<CK_BYTE*>(out.data()), &len);
            !s.ok()) {
          return s;
        }
        out.resize(len);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return out;
}

absl::Status Hsm::GenerateKeyPair(const std::string& label, KeyPairType type) {
  return GenerateKeyPairWith(
      label, type, {Attr(CKA_VERIFY, kTrue), Attr(CKA_ENCRYPT, kFalse), Attr(CKA_WRAP, kFalse)},
      {Attr(CKA_SIGN, kTrue), Attr(CKA_DECRYPT, kFalse), Attr(CKA_UNWRAP, kFalse),
       Attr(CKA_DERIVE, kFalse)});
}

absl::Status Hsm::GenerateUnwrappingKeyPair(const std::string& label, KeyPairType type) {
  if (type != KeyPairType::kRsa2048 && type != KeyPairType::kRsa3072 &&
      type != KeyPairType::kRsa4096) {
    return absl::InvalidArgumentError("an unwrapping key pair must be RSA");
  }
  // The public half is only ever read (and handed to importers); the private half only
  // unwraps.
  return GenerateKeyPairWith(
      label, type, {Attr(CKA_VERIFY, kFalse), Attr(CKA_ENCRYPT, kFalse), Attr(CKA_WRAP, kFalse)},
      {Attr(CKA_SIGN, kFalse), Attr(CKA_DECRYPT, kFalse), Attr(CKA_UNWRAP, kTrue),
       Attr(CKA_DERIVE, kFalse)});
}

absl::Status Hsm::GenerateKeyPairWith(const std::string& label, KeyPairType type,
                                      std::vector<CK_ATTRIBUTE> pub,
                                      std::vector<CK_ATTRIBUTE> priv) {
  absl::StatusOr<bool> exists = PrivateKeyExists(label);
  if (!exists.ok()) return exists.status();
  if (*exists) {
    return absl::AlreadyExistsError(absl::StrCat("private key '", label, "' already exists"));
  }
  return pool_->Run([&](CK_SESSION_HANDLE session) -> absl::Status {
    uint8_t id[16];
    if (auto s = SR_P11(*module_, C_GenerateRandom, session, id, sizeof(id)); !s.ok()) return s;
    std::vector<CK_ATTRIBUTE> pub_tmpl = pub, priv_tmpl = priv;  // Run may call this again
    pub_tmpl.insert(pub_tmpl.end(), {Attr(CKA_LABEL, label), Attr(CKA_ID, id, sizeof(id)),
                                     Attr(CKA_TOKEN, kTrue), Attr(CKA_PRIVATE, kFalse)});
    priv_tmpl.insert(priv_tmpl.end(),
                     {Attr(CKA_LABEL, label), Attr(CKA_ID, id, sizeof(id)), Attr(CKA_TOKEN, kTrue),
                      Attr(CKA_PRIVATE, kTrue), Attr(CKA_SENSITIVE, kTrue),
                      Attr(CKA_EXTRACTABLE, kFalse), Attr(CKA_MODIFIABLE, kFalse)});
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_ULONG bits = 0;
    switch (type) {
      case KeyPairType::kEcP256:
        pub_tmpl.push_back(Attr(CKA_EC_PARAMS, kP256Oid, sizeof(kP256Oid)));
        break;
      case KeyPairType::kEcP384:
        pub_tmpl.push_back(Attr(CKA_EC_PARAMS, kP384Oid, sizeof(kP384Oid)));
        break;
      case KeyPairType::kRsa2048:
        bits = 2048;
        break;
      case KeyPairType::kRsa3072:
        bits = 3072;
        break;
      case KeyPairType::kRsa4096:
        bits = 4096;
        break;
    }
    if (bits != 0) {
      mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
      pub_tmpl.push_back(Attr(CKA_MODULUS_BITS, bits));
      pub_tmpl.push_back(Attr(CKA_PUBLIC_EXPONENT, kRsaExponent, sizeof(kRsaExponent)));
    }
    CK_OBJECT_HANDLE pub_handle, priv_handle;
    return SR_P11(*module_, C_GenerateKeyPair, session, &mech, pub_tmpl.data(), pub_tmpl.size(),
                  priv_tmpl.data(), priv_tmpl.size(), &pub_handle, &priv_handle);
  });
}

namespace {

const char* OaepHashName(OaepHash hash) {
  switch (hash) {
    case OaepHash::kSha1:
      return "SHA1";
    case OaepHash::kSha224:
      return "SHA224";
    case OaepHash::kSha256:
      return "SHA256";
    case OaepHash::kSha384:
      return "SHA384";
    case OaepHash::kSha512:
      return "SHA512";
  }
  return "";
}

CK_RSA_PKCS_OAEP_PARAMS OaepParams(OaepHash hash) {
  CK_RSA_PKCS_OAEP_PARAMS p = {};
  switch (hash) {
    case OaepHash::kSha1:
      p.hashAlg = CKM_SHA_1, p.mgf = CKG_MGF1_SHA1;
      break;
    case OaepHash::kSha224:
      p.hashAlg = CKM_SHA224, p.mgf = CKG_MGF1_SHA224;
      break;
    case OaepHash::kSha256:
      p.hashAlg = CKM_SHA256, p.mgf = CKG_MGF1_SHA256;
      break;
    case OaepHash::kSha384:
      p.hashAlg = CKM_SHA384, p.mgf = CKG_MGF1_SHA384;
      break;
    case OaepHash::kSha512:
      p.hashAlg = CKM_SHA512, p.mgf = CKG_MGF1_SHA512;
      break;
  }
  p.source = CKZ_DATA_SPECIFIED;  // empty label, as Vault uses
  return p;
}

const EVP_MD* OaepMd(OaepHash hash) {
  switch (hash) {
    case OaepHash::kSha1:
      return EVP_sha1();
    case OaepHash::kSha224:
      return EVP_sha224();
    case OaepHash::kSha256:
      return EVP_sha256();
    case OaepHash::kSha384:
      return EVP_sha384();
    case OaepHash::kSha512:
      return EVP_sha512();
  }
  return EVP_sha256();
}

absl::Status OaepRefusal(OaepHash hash) {
  return absl::InvalidArgumentError(
      absl::StrCat("ciphertext: the ephemeral key does not unwrap under this server's wrapping key "
                   "(RSA-OAEP with ",
                   OaepHashName(hash), ")"));
}

absl::Status KwpRefusal() {
  return absl::InvalidArgumentError(
      "ciphertext: the target key does not unwrap under the ephemeral key (AES-KWP)");
}

// The module's answers for wrapped input that does not unwrap (or is not the key asked
// for). CKR_GENERAL_ERROR is not among them: it is a device fault.
bool RejectsWrappedInput(CK_RV rv) {
  return rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE ||
         rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
         rv == CKR_DATA_INVALID || rv == CKR_DATA_LEN_RANGE || rv == CKR_KEY_SIZE_RANGE ||
         rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_ATTRIBUTE_VALUE_INVALID;
}

}  // namespace

absl::Status Hsm::WithEphemeralKey(
    const std::string& unwrapping_label, OaepHash hash, absl::string_view wrapped,
    const std::function<absl::Status(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, absl::string_view)>& fn,
    bool settle) {
  if (wrapped.size() > kMaxWrappedKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("ciphertext: at most ", kMaxWrappedKeyBytes, " bytes"));
  }
  bool ambiguous = false;  // the module said CKR_GENERAL_ERROR or CKR_FUNCTION_FAILED
  const auto is_ambiguous = [&](const absl::Status& s) {
    CK_RV rv = RvOf(s);
    ambiguous = rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED;
    return ambiguous;
  };
  absl::Status s = WithObject(
      CKO_PRIVATE_KEY, unwrapping_label,
      [&](CK_SESSION_HANDLE session, CK_OBJECT_HANDLE unwrapping) -> absl::Status {
        CK_ULONG modulus_bits = 0;
        CK_ATTRIBUTE bits_attr = Attr(CKA_MODULUS_BITS, modulus_bits);
        // Private keys need not carry CKA_MODULUS_BITS; the modulus length says the same.
        size_t modulus_bytes = 0;
        if (SR_P11(*module_, C_GetAttributeValue, session, unwrapping, &bits_attr, 1).ok() &&
            modulus_bits != 0) {
          modulus_bytes = (modulus_bits + 7) / 8;
        } else {
          CK_ATTRIBUTE n = {CKA_MODULUS, nullptr, 0};
          if (auto s = SR_P11(*module_, C_GetAttributeValue, session, unwrapping, &n, 1); !s.ok()) {
            return s;
          }
          modulus_bytes = n.ulValueLen;
        }
        if (wrapped.size() <= modulus_bytes) {
          return absl::InvalidArgumentError(absl::StrCat(
              "ciphertext: too short: expected the ", modulus_bytes,
              "-byte RSA-OAEP wrapped ephemeral key followed by the AES-KWP wrapped key"));
        }
        CK_RSA_PKCS_OAEP_PARAMS params = OaepParams(hash);
        CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &params, sizeof(params)};
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE aes = CKK_AES;
        // A session object that can do nothing but unwrap the target key.
        CK_ATTRIBUTE tmpl[] = {
            Attr(CKA_CLASS, cls),      Attr(CKA_KEY_TYPE, aes),    Attr(CKA_TOKEN, kFalse),
            Attr(CKA_PRIVATE, kTrue),  Attr(CKA_SENSITIVE, kTrue), Attr(CKA_EXTRACTABLE, kFalse),
            Attr(CKA_ENCRYPT, kFalse), Attr(CKA_DECRYPT, kFalse),  Attr(CKA_SIGN, kFalse),
            Attr(CKA_VERIFY, kFalse),  Attr(CKA_WRAP, kFalse),     Attr(CKA_UNWRAP, kTrue),
            Attr(CKA_DERIVE, kFalse),
        };
        CK_OBJECT_HANDLE ephemeral = CK_INVALID_HANDLE;
        absl::Status s = SR_P11(*module_, C_UnwrapKey, session, &oaep, unwrapping,
                                reinterpret_cast<CK_BYTE*>(const_cast<char*>(wrapped.data())),
                                modulus_bytes, tmpl, std::size(tmpl), &ephemeral);
        CK_RV rv = RvOf(s);
        if (rv == CKR_ARGUMENTS_BAD || rv == CKR_MECHANISM_PARAM_INVALID ||
            rv == CKR_MECHANISM_INVALID) {
          return absl::InvalidArgumentError(absl::StrCat(
              "hash_function: this HSM (", token_info_.manufacturer, " ", token_info_.model,
              ") does not unwrap RSA-OAEP with ", OaepHashName(hash), " (", CkRvName(rv),
              "); wrap the ephemeral key with a hash it supports (SoftHSM 2.6: SHA1)"));
        }
        if (RejectsWrappedInput(rv)) return OaepRefusal(hash);
        if (!s.ok()) {
          is_ambiguous(s);
          return s;
        }
        absl::Cleanup destroy = [&] {
          (void)SR_P11(*module_, C_DestroyObject, session, ephemeral);
        };
        CK_ULONG length = 0;
        CK_ATTRIBUTE len_attr = Attr(CKA_VALUE_LEN, length);
        if (auto s = SR_P11(*module_, C_GetAttributeValue, session, ephemeral, &len_attr, 1);
            !s.ok()) {
          return s;
        }
        // Tokens that do not record the length of unwrapped keys (SoftHSM 2.6 says 0)
        // leave this check to the KWP unwrap, which needs a valid AES key.
        if (length != 0 && length != 32) {
          return absl::InvalidArgumentError(
              absl::StrCat("ciphertext: the ephemeral key must be a 256-bit AES key, got ",
                           length * 8, " bits"));
        }
        absl::Status inner = fn(session, ephemeral, wrapped.substr(modulus_bytes));
        if (!inner.ok() && is_ambiguous(inner)) return KwpRefusal();
        return inner;
      });
  if (!ambiguous || s.ok() || !settle) return s;
  // SoftHSM answers CKR_GENERAL_ERROR for input that does not unwrap, which is also what
  // a failing device says. The device decides: if it cannot unwrap a known wrap now it is
  // at fault; if it can, the first answer may have been a passing fault, so try once more.
  if (absl::Status check = UnwrapSelfCheck(unwrapping_label, hash); !check.ok()) {
    return absl::UnavailableError(
        absl::StrCat("HSM fault while unwrapping an imported key (", check.message(), ")"));
  }
  absl::Status again = WithEphemeralKey(unwrapping_label, hash, wrapped, fn, /*settle=*/false);
  if (again.ok() || absl::IsInvalidArgument(again)) return again;
  CK_RV rv = RvOf(again);
  if (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) return OaepRefusal(hash);
  return again;
}

absl::Status Hsm::UnwrapSelfCheck(const std::string& unwrapping_label, OaepHash hash) {
  absl::StatusOr<std::string> der = PublicKeyDer(unwrapping_label);
  if (!der.ok()) return der.status();
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der->data());
  EvpPkeyPtr pub(d2i_PUBKEY(nullptr, &p, der->size()));
  uint8_t known[32];
  if (absl::Status s = GenerateRandom(absl::MakeSpan(known)); !s.ok()) return s;
  EvpPkeyCtxPtr ctx(pub ? EVP_PKEY_CTX_new(pub.get(), nullptr) : nullptr);
  const EVP_MD* md = OaepMd(hash);
  size_t len = 0;
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) <= 0 ||
      EVP_PKEY_encrypt(ctx.get(), nullptr, &len, known, sizeof(known)) <= 0) {
    return absl::InternalError("cannot set up the RSA-OAEP self-check");
  }
  std::string block(len, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(block.data()), &len, known,
                       sizeof(known)) <= 0) {
    return absl::InternalError("cannot set up the RSA-OAEP self-check");
  }
  OPENSSL_cleanse(known, sizeof(known));
  block.resize(len);
  block.append(40, '\0');  // WithEphemeralKey wants something after the OAEP block
  return WithEphemeralKey(
      unwrapping_label, hash, block,
      [](CK_SESSION_HANDLE, CK_OBJECT_HANDLE, absl::string_view) { return absl::OkStatus(); },
      /*settle=*/false);
}

absl::Status Hsm::UnwrapAesKey(const std::string& unwrapping_label, OaepHash hash,
                               absl::string_view wrapped, const std::string& label) {
  absl::StatusOr<bool> exists = SecretKeyExists(label);
  if (!exists.ok()) return exists.status();
  if (*exists) {
    return absl::AlreadyExistsError(absl::StrCat("secret key '", label, "' already exists"));
  }
  absl::Status s = WithEphemeralKey(
      unwrapping_label, hash, wrapped,
      [&](CK_SESSION_HANDLE session, CK_OBJECT_HANDLE ephemeral,
          absl::string_view kwp) -> absl::Status {
        uint8_t id[16];
        if (auto s = SR_P11(*module_, C_GenerateRandom, session, id, sizeof(id)); !s.ok()) {
          return s;
        }
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE aes = CKK_AES;
        // As GenerateAesKey's keys: sensitive, never extractable, encrypt/decrypt only.
        // (SoftHSM refuses CKA_MODIFIABLE in an unwrap template; PKCS#11 forbids turning
        // CKA_SENSITIVE off or CKA_EXTRACTABLE on later anyway.)
        CK_ATTRIBUTE tmpl[] = {
            Attr(CKA_CLASS, cls),         Attr(CKA_KEY_TYPE, aes),       Attr(CKA_LABEL, label),
            Attr(CKA_ID, id, sizeof(id)), Attr(CKA_TOKEN, kTrue),        Attr(CKA_PRIVATE, kTrue),
            Attr(CKA_SENSITIVE, kTrue),   Attr(CKA_EXTRACTABLE, kFalse), Attr(CKA_ENCRYPT, kTrue),
            Attr(CKA_DECRYPT, kTrue),     Attr(CKA_SIGN, kFalse),        Attr(CKA_VERIFY, kFalse),
            Attr(CKA_WRAP, kFalse),       Attr(CKA_UNWRAP, kFalse),      Attr(CKA_DERIVE, kFalse),
        };
        // KWP of 25 to 32 bytes is 40 bytes long; AES itself refuses 25 to 31 (see below).
        if (kwp.size() != 40) {
          return absl::InvalidArgumentError(
              absl::StrCat("ciphertext: the AES-KWP part is ", kwp.size(),
                           " bytes; a wrapped 256-bit key is 40 (is the key of another type?)"));
        }
        CK_MECHANISM kwp_mech = {CKM_AES_KEY_WRAP_PAD, nullptr, 0};
        CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
        absl::Status s = SR_P11(*module_, C_UnwrapKey, session, &kwp_mech, ephemeral,
                                reinterpret_cast<CK_BYTE*>(const_cast<char*>(kwp.data())),
                                kwp.size(), tmpl, std::size(tmpl), &key);
        if (RejectsWrappedInput(RvOf(s))) return KwpRefusal();
        if (!s.ok()) return s;
        CK_ULONG length = 0;
        CK_ATTRIBUTE len_attr = Attr(CKA_VALUE_LEN, length);
        s = SR_P11(*module_, C_GetAttributeValue, session, key, &len_attr, 1);
        if (s.ok() && length != 0 && length != 32) {
          s = absl::InvalidArgumentError(absl::StrCat("ciphertext: the target key is ", length * 8,
                                                      " bits; an AES-256 key is 256"));
        }
        if (!s.ok()) (void)SR_P11(*module_, C_DestroyObject, session, key);
        return s;
      });
  if (!s.ok()) return s;
  // Where the token does not report the length, a key of 25 to 31 bytes fails here.
  if (absl::Status check = AesGcmSelfCheck(label); !check.ok()) {
    (void)DestroyObjects(label);
    if (absl::Status h = health(); !h.ok()) return h;  // the device, not the key
    return absl::InvalidArgumentError("ciphertext: the target key is not an AES-256 key");
  }
  return absl::OkStatus();
}

absl::StatusOr<SecretData> Hsm::UnwrapSecret(const std::string& unwrapping_label, OaepHash hash,
                                             absl::string_view wrapped) {
  SecretData out;
  absl::Status s = WithEphemeralKey(
      unwrapping_label, hash, wrapped,
      [&](CK_SESSION_HANDLE session, CK_OBJECT_HANDLE ephemeral,
          absl::string_view kwp) -> absl::Status {
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
        // A session object that exists only to be read once and destroyed.
        CK_ATTRIBUTE tmpl[] = {
            Attr(CKA_CLASS, cls),      Attr(CKA_KEY_TYPE, generic), Attr(CKA_TOKEN, kFalse),
            Attr(CKA_PRIVATE, kTrue),  Attr(CKA_SENSITIVE, kFalse), Attr(CKA_EXTRACTABLE, kTrue),
            Attr(CKA_ENCRYPT, kFalse), Attr(CKA_DECRYPT, kFalse),   Attr(CKA_SIGN, kFalse),
            Attr(CKA_VERIFY, kFalse),  Attr(CKA_WRAP, kFalse),      Attr(CKA_UNWRAP, kFalse),
            Attr(CKA_DERIVE, kFalse),
        };
        CK_MECHANISM kwp_mech = {CKM_AES_KEY_WRAP_PAD, nullptr, 0};
        CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
        absl::Status s = SR_P11(*module_, C_UnwrapKey, session, &kwp_mech, ephemeral,
                                reinterpret_cast<CK_BYTE*>(const_cast<char*>(kwp.data())),
                                kwp.size(), tmpl, std::size(tmpl), &key);
        if (RejectsWrappedInput(RvOf(s))) return KwpRefusal();
        if (!s.ok()) return s;
        absl::Cleanup destroy = [&] { (void)SR_P11(*module_, C_DestroyObject, session, key); };
        CK_ATTRIBUTE value = {CKA_VALUE, nullptr, 0};
        if (auto s = SR_P11(*module_, C_GetAttributeValue, session, key, &value, 1); !s.ok()) {
          return s;
        }
        if (value.ulValueLen == 0 || value.ulValueLen > kMaxWrappedKeyBytes) {
          return absl::InvalidArgumentError("ciphertext: the target key is empty");
        }
        out = SecretData(value.ulValueLen);
        value.pValue = out.MutableSecret().data();
        if (auto s = SR_P11(*module_, C_GetAttributeValue, session, key, &value, 1); !s.ok()) {
          return s;
        }
        out.Truncate(value.ulValueLen);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<bool> Hsm::SecretKeyIsNonExtractable(const std::string& label) {
  CK_BBOOL sensitive = CK_FALSE;
  CK_BBOOL extractable = CK_TRUE;
  absl::Status s =
      WithObject(CKO_SECRET_KEY, label, [&](CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key) {
        CK_ATTRIBUTE attrs[] = {Attr(CKA_SENSITIVE, sensitive), Attr(CKA_EXTRACTABLE, extractable)};
        return SR_P11(*module_, C_GetAttributeValue, session, key, attrs, std::size(attrs));
      });
  if (!s.ok()) return s;
  return sensitive == CK_TRUE && extractable == CK_FALSE;
}

absl::StatusOr<std::string> Hsm::AesGcmEncrypt(const std::string& label,
                                               absl::Span<const uint8_t> iv, absl::string_view aad,
                                               absl::Span<const uint8_t> plaintext) {
  if (iv.size() != 12) return absl::InvalidArgumentError("AES-GCM IV must be 12 bytes");
  std::string out(plaintext.size() + 16, '\0');
  absl::Status s =
      WithObject(CKO_SECRET_KEY, label, [&](CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key) {
        GcmMechanism gcm(iv, aad);
        CK_MECHANISM* mech = &gcm.mechanism;
        if (auto s = SR_P11(*module_, C_EncryptInit, session, mech, key); !s.ok()) return s;
        CK_ULONG len = out.size();
        if (auto s = SR_P11(*module_, C_Encrypt, session, const_cast<uint8_t*>(plaintext.data()),
                            plaintext.size(), reinterpret_cast<CK_BYTE*>(out.data()), &len);
            !s.ok()) {
          return s;
        }
        out.resize(len);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return out;
}

absl::Status Hsm::AesGcmDecryptOnce(const std::string& label, absl::Span<const uint8_t> iv,
                                    absl::string_view aad, absl::string_view ciphertext_and_tag,
                                    SecretData* out) {
  *out = SecretData(ciphertext_and_tag.size());
  return WithObject(CKO_SECRET_KEY, label, [&](CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key) {
    GcmMechanism gcm(iv, aad);
    CK_MECHANISM* mech = &gcm.mechanism;
    if (auto s = SR_P11(*module_, C_DecryptInit, session, mech, key); !s.ok()) return s;
    CK_ULONG len = out->size();
    if (auto s = SR_P11(*module_, C_Decrypt, session,
                        reinterpret_cast<CK_BYTE*>(const_cast<char*>(ciphertext_and_tag.data())),
                        ciphertext_and_tag.size(), out->MutableSecret().data(), &len);
        !s.ok()) {
      return s;
    }
    out->Truncate(len);
    return absl::OkStatus();
  });
}

absl::Status Hsm::AesGcmSelfCheck(const std::string& label) {
  static constexpr uint8_t kBlock[16] = {'s', 't', 'r', 'o', 'n', 'g', 'r', 'o',
                                         'o', 'm', '-', 'c', 'h', 'e', 'c', 'k'};
  static constexpr char kAad[] = "strongroom-hsm-self-check";
  uint8_t iv[12];
  if (absl::Status s = GenerateRandom(absl::MakeSpan(iv)); !s.ok()) return s;
  absl::StatusOr<std::string> ct = AesGcmEncrypt(label, iv, kAad, kBlock);
  if (!ct.ok()) return ct.status();
  SecretData back;
  if (absl::Status s = AesGcmDecryptOnce(label, iv, kAad, *ct, &back); !s.ok()) return s;
  if (back.RevealSecretAsString() !=
      absl::string_view(reinterpret_cast<const char*>(kBlock), sizeof(kBlock))) {
    return absl::UnavailableError(absl::StrCat("HSM key '", label, "' failed a self-check"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SecretData> Hsm::AesGcmDecrypt(const std::string& label,
                                              absl::Span<const uint8_t> iv, absl::string_view aad,
                                              absl::string_view ciphertext_and_tag) {
  if (iv.size() != 12 || ciphertext_and_tag.size() < 16) {
    return absl::InvalidArgumentError("decryption failed");
  }
  // The module's answers for input that does not authenticate. SoftHSM says
  // CKR_GENERAL_ERROR for a bad tag, which is also what a failing device says.
  const auto rejects_input = [](CK_RV rv) {
    return rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
           rv == CKR_DATA_INVALID || rv == CKR_DATA_LEN_RANGE;
  };
  const auto ambiguous = [](CK_RV rv) {
    return rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED;
  };
  SecretData out;
  absl::Status s = AesGcmDecryptOnce(label, iv, aad, ciphertext_and_tag, &out);
  if (s.ok()) return out;
  if (rejects_input(RvOf(s))) return absl::InvalidArgumentError("decryption failed");
  if (!ambiguous(RvOf(s))) return s;
  // The device decides: if it cannot round-trip a known block under this key it is at
  // fault; if it can, the first answer may have been a passing fault, so try once more.
  if (absl::Status check = AesGcmSelfCheck(label); !check.ok()) {
    return absl::UnavailableError(
        absl::StrCat("HSM fault: ", s.message(), " (self-check: ", check.message(), ")"));
  }
  s = AesGcmDecryptOnce(label, iv, aad, ciphertext_and_tag, &out);
  if (s.ok()) return out;
  if (rejects_input(RvOf(s)) || ambiguous(RvOf(s))) {
    return absl::InvalidArgumentError("decryption failed");
  }
  return s;
}

absl::StatusOr<std::string> Hsm::Sign(const std::string& label, SignScheme scheme,
                                      HashAlgorithm hash, absl::string_view digest) {
  if (digest.size() != DigestSize(hash)) {
    return absl::InvalidArgumentError(absl::StrCat("digest must be ", DigestSize(hash),
                                                   " bytes for this hash, got ", digest.size()));
  }
  Bytes input;
  CK_RSA_PKCS_PSS_PARAMS pss = {};
  CK_MECHANISM mech = {CKM_ECDSA, nullptr, 0};
  switch (scheme) {
    case SignScheme::kEcdsa:
      input.assign(digest.begin(), digest.end());
      break;
    case SignScheme::kRsaPkcs1: {
      mech.mechanism = CKM_RSA_PKCS;
      const uint8_t* prefix = kSha256Prefix;
      size_t prefix_len = sizeof(kSha256Prefix);
      if (hash == HashAlgorithm::kSha384)
        prefix = kSha384Prefix, prefix_len = sizeof(kSha384Prefix);
      if (hash == HashAlgorithm::kSha512)
        prefix = kSha512Prefix, prefix_len = sizeof(kSha512Prefix);
      input.assign(prefix, prefix + prefix_len);
      input.insert(input.end(), digest.begin(), digest.end());
      break;
    }
    case SignScheme::kRsaPss:
      mech = {CKM_RSA_PKCS_PSS, &pss, sizeof(pss)};
      pss.sLen = digest.size();
      pss.hashAlg = hash == HashAlgorithm::kSha256   ? CKM_SHA256
                    : hash == HashAlgorithm::kSha384 ? CKM_SHA384
                                                     : CKM_SHA512;
      pss.mgf = hash == HashAlgorithm::kSha256   ? CKG_MGF1_SHA256
                : hash == HashAlgorithm::kSha384 ? CKG_MGF1_SHA384
                                                 : CKG_MGF1_SHA512;
      input.assign(digest.begin(), digest.end());
      break;
  }
  Bytes sig(1024);
  absl::Status s =
      WithObject(CKO_PRIVATE_KEY, label, [&](CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key) {
        if (auto s = SR_P11(*module_, C_SignInit, session, &mech, key); !s.ok()) return s;
        CK_ULONG len = sig.size();
        if (auto s =
                SR_P11(*module_, C_Sign, session, input.data(), input.size(), sig.data(), &len);
            !s.ok()) {
          return s;
        }
        sig.resize(len);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  if (scheme == SignScheme::kEcdsa) return EcdsaRawToDer(sig);
  return std::string(sig.begin(), sig.end());
}

absl::StatusOr<std::string> Hsm::PublicKeyDer(const std::string& label) {
  std::string der;
  absl::Status s = WithObject(
      CKO_PUBLIC_KEY, label, [&](CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key) -> absl::Status {
        CK_KEY_TYPE type = 0;  // written by C_GetAttributeValue
        CK_ATTRIBUTE attr = Attr(CKA_KEY_TYPE, type);
        if (auto s = SR_P11(*module_, C_GetAttributeValue, session, key, &attr, 1); !s.ok()) {
          return s;
        }
        OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
        if (!bld) return absl::ResourceExhaustedError("out of memory");
        if (type == CKK_EC) {
          absl::StatusOr<Bytes> params = GetAttribute(*module_, session, key, CKA_EC_PARAMS);
          if (!params.ok()) return params.status();
          absl::StatusOr<Bytes> point = GetAttribute(*module_, session, key, CKA_EC_POINT);
          if (!point.ok()) return point.status();
          const char* group = nullptr;
          if (*params == Bytes(std::begin(kP256Oid), std::end(kP256Oid))) group = "P-256";
          if (*params == Bytes(std::begin(kP384Oid), std::end(kP384Oid))) group = "P-384";
          if (group == nullptr) return absl::FailedPreconditionError("unsupported EC curve");
          // CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
          const unsigned char* p = point->data();
          Asn1StringPtr os(d2i_ASN1_OCTET_STRING(nullptr, &p, point->size()));
          if (os == nullptr) return absl::InternalError("malformed CKA_EC_POINT");
          Bytes raw(os->data, os->data + os->length);
          if (!OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
              !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, raw.data(),
                                                raw.size())) {
            return absl::ResourceExhaustedError("out of memory");
          }
          absl::StatusOr<std::string> out = PkeyFromParams("EC", bld.get());
          if (!out.ok()) return out.status();
          der = *std::move(out);
          return absl::OkStatus();
        }
        if (type == CKK_RSA) {
          absl::StatusOr<Bytes> n = GetAttribute(*module_, session, key, CKA_MODULUS);
          if (!n.ok()) return n.status();
          absl::StatusOr<Bytes> e = GetAttribute(*module_, session, key, CKA_PUBLIC_EXPONENT);
          if (!e.ok()) return e.status();
          BignumPtr bn_n(BN_bin2bn(n->data(), n->size(), nullptr));
          BignumPtr bn_e(BN_bin2bn(e->data(), e->size(), nullptr));
          if (!bn_n || !bn_e ||
              !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
              !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get())) {
            return absl::ResourceExhaustedError("out of memory");
          }
          absl::StatusOr<std::string> out = PkeyFromParams("RSA", bld.get());
          if (!out.ok()) return out.status();
          der = *std::move(out);
          return absl::OkStatus();
        }
        return absl::FailedPreconditionError("unsupported public key type");
      });
  if (!s.ok()) return s;
  return der;
}

}  // namespace strongroom::hsm
