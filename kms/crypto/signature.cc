#include "kms/crypto/signature.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kms/crypto/mac.h"

namespace strongroom::kms::crypto {
namespace {

const char* TypeName(AsymmetricType type) {
  switch (type) {
    case AsymmetricType::kEcdsaP256:
      return "ECDSA P-256";
    case AsymmetricType::kEcdsaP384:
      return "ECDSA P-384";
    case AsymmetricType::kEd25519:
      return "Ed25519";
    case AsymmetricType::kRsa2048:
      return "RSA-2048";
    case AsymmetricType::kRsa3072:
      return "RSA-3072";
    case AsymmetricType::kRsa4096:
      return "RSA-4096";
  }
  abort();  // Not a valid enumerator: a broken invariant.
}

bool IsRsa(AsymmetricType type) {
  return type == AsymmetricType::kRsa2048 || type == AsymmetricType::kRsa3072 ||
         type == AsymmetricType::kRsa4096;
}

int RsaBits(AsymmetricType type) {
  switch (type) {
    case AsymmetricType::kRsa2048:
      return 2048;
    case AsymmetricType::kRsa3072:
      return 3072;
    case AsymmetricType::kRsa4096:
      return 4096;
    default:
      return 0;
  }
}

// Legacy EVP_MD handles, used only to name the digest to the provider.
const EVP_MD* MdFor(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha256:
      return EVP_sha256();
    case HashAlgorithm::kSha384:
      return EVP_sha384();
    case HashAlgorithm::kSha512:
      return EVP_sha512();
  }
  abort();
}

absl::Status OpenSslError(absl::string_view what) {
  const unsigned long err = ERR_peek_last_error();
  char buf[256] = "no OpenSSL error";
  if (err != 0) ERR_error_string_n(err, buf, sizeof(buf));
  ERR_clear_error();
  return absl::InternalError(absl::StrCat(what, ": ", buf));
}

// Checks that `pkey` has the algorithm and size of `type`.
absl::Status CheckType(AsymmetricType type, const EVP_PKEY* pkey) {
  bool ok = false;
  switch (type) {
    case AsymmetricType::kEcdsaP256:
    case AsymmetricType::kEcdsaP384: {
      char group[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_is_a(pkey, "EC") &&
          EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                         &len) == 1) {
        const int want = type == AsymmetricType::kEcdsaP256 ? NID_X9_62_prime256v1 : NID_secp384r1;
        ok = OBJ_txt2nid(group) == want;
      }
      break;
    }
    case AsymmetricType::kEd25519:
      ok = EVP_PKEY_is_a(pkey, "ED25519");
      break;
    case AsymmetricType::kRsa2048:
    case AsymmetricType::kRsa3072:
    case AsymmetricType::kRsa4096:
      // Plain rsaEncryption keys only: RSASSA-PSS-restricted keys carry their own
      // parameters, which would fight SignOptions.
      ok = EVP_PKEY_is_a(pkey, "RSA") && !EVP_PKEY_is_a(pkey, "RSA-PSS") &&
           EVP_PKEY_get_bits(pkey) == RsaBits(type);
      break;
  }
  ERR_clear_error();
  if (!ok)
    return absl::InvalidArgumentError(absl::StrCat("key is not an ", TypeName(type), " key"));
  return absl::OkStatus();
}

absl::Status CheckOptions(AsymmetricType type, const SignOptions& options,
                          absl::string_view input) {
  if (type == AsymmetricType::kEd25519) {
    if (options.prehashed) {
      return absl::InvalidArgumentError(
          "Ed25519 signs the message itself: prehashed is not supported");
    }
    return absl::OkStatus();
  }
  if (options.prehashed && input.size() != DigestSize(options.hash)) {
    return absl::InvalidArgumentError(absl::StrCat("prehashed input must be a ",
                                                   DigestSize(options.hash), "-byte digest, got ",
                                                   input.size(), " bytes"));
  }
  return absl::OkStatus();
}

// Applies the RSA padding of `options` to a signing or verification context.
bool ConfigureRsa(EVP_PKEY_CTX* pctx, const SignOptions& options) {
  if (options.padding == RsaPadding::kPkcs1) {
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
  }
  return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, MdFor(options.hash)) > 0 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
}

// Never null, so that OpenSSL sees an empty input rather than a missing one.
const uint8_t* Bytes(absl::string_view s) {
  static const uint8_t kEmpty = 0;
  return s.data() == nullptr ? &kEmpty : reinterpret_cast<const uint8_t*>(s.data());
}

// A context for signing or verifying with `pkey` under `options`. For a message the
// returned EVP_MD_CTX is ready for EVP_DigestSign/Verify; for a digest `*pctx_out` is
// ready for EVP_PKEY_sign/verify.
struct OpContext {
  hsm::EvpMdCtxPtr md_ctx;
  hsm::EvpPkeyCtxPtr pkey_ctx;  // Owned only in prehashed mode.
};

absl::StatusOr<OpContext> NewOpContext(AsymmetricType type, EVP_PKEY* pkey,
                                       const SignOptions& options, bool sign) {
  OpContext op;
  EVP_PKEY_CTX* pctx = nullptr;
  if (options.prehashed) {
    op.pkey_ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    pctx = op.pkey_ctx.get();
    if (pctx == nullptr || (sign ? EVP_PKEY_sign_init(pctx) : EVP_PKEY_verify_init(pctx)) != 1 ||
        EVP_PKEY_CTX_set_signature_md(pctx, MdFor(options.hash)) <= 0) {
      return OpenSslError("cannot set up the signature context");
    }
  } else {
    op.md_ctx.reset(EVP_MD_CTX_new());
    // Ed25519 takes no digest name: it hashes internally.
    const char* md_name =
        type == AsymmetricType::kEd25519 ? nullptr : EVP_MD_get0_name(MdFor(options.hash));
    if (op.md_ctx == nullptr ||
        (sign ? EVP_DigestSignInit_ex(op.md_ctx.get(), &pctx, md_name, nullptr, nullptr, pkey,
                                      nullptr)
              : EVP_DigestVerifyInit_ex(op.md_ctx.get(), &pctx, md_name, nullptr, nullptr, pkey,
                                        nullptr)) != 1) {
      return OpenSslError("cannot set up the signature context");
    }
  }
  if (IsRsa(type) && !ConfigureRsa(pctx, options)) {
    return OpenSslError("cannot set the RSA padding");
  }
  return op;
}

absl::StatusOr<std::string> SpkiDer(const EVP_PKEY* pkey) {
  const int len = i2d_PUBKEY(pkey, nullptr);
  if (len <= 0) return OpenSslError("cannot encode the public key");
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<uint8_t*>(&der[0]);
  if (i2d_PUBKEY(pkey, &p) != len) return OpenSslError("cannot encode the public key");
  return der;
}

}  // namespace

absl::StatusOr<hsm::SecretData> GeneratePrivateKey(AsymmetricType type) {
  hsm::EvpPkeyPtr pkey;
  switch (type) {
    case AsymmetricType::kEcdsaP256:
      pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
      break;
    case AsymmetricType::kEcdsaP384:
      pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
      break;
    case AsymmetricType::kEd25519:
      pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      break;
    case AsymmetricType::kRsa2048:
    case AsymmetricType::kRsa3072:
    case AsymmetricType::kRsa4096:
      pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(RsaBits(type))));
      break;
  }
  if (pkey == nullptr)
    return OpenSslError(absl::StrCat("cannot generate an ", TypeName(type), " key"));
  // PKCS8_PRIV_KEY_INFO cleanses its key octets when freed.
  hsm::Pkcs8PrivKeyInfoPtr p8(EVP_PKEY2PKCS8(pkey.get()));
  if (p8 == nullptr) return OpenSslError("cannot convert the key to PKCS#8");
  const int len = i2d_PKCS8_PRIV_KEY_INFO(p8.get(), nullptr);
  if (len <= 0) return OpenSslError("cannot encode the key as PKCS#8");
  hsm::SecretData der(static_cast<size_t>(len));
  uint8_t* p = der.MutableSecret().data();
  if (i2d_PKCS8_PRIV_KEY_INFO(p8.get(), &p) != len) {
    return OpenSslError("cannot encode the key as PKCS#8");
  }
  return der;
}

std::string PemFromDer(absl::string_view der, absl::string_view label) {
  std::string pem = absl::StrCat("-----BEGIN ", label, "-----\n");
  constexpr size_t kLineBytes = 48;  // 64 base64 characters.
  uint8_t line[65];
  for (size_t i = 0; i < der.size(); i += kLineBytes) {
    const size_t n = std::min(kLineBytes, der.size() - i);
    const int len = EVP_EncodeBlock(line, Bytes(der) + i, static_cast<int>(n));
    pem.append(reinterpret_cast<const char*>(line), static_cast<size_t>(len));
    pem.push_back('\n');
  }
  absl::StrAppend(&pem, "-----END ", label, "-----\n");
  return pem;
}

absl::StatusOr<std::unique_ptr<PrivateKey>> PrivateKey::Parse(AsymmetricType type,
                                                              const hsm::SecretData& pkcs8_der) {
  const absl::Span<const uint8_t> der = pkcs8_der.RevealSecret();
  const uint8_t* p = der.data();
  hsm::Pkcs8PrivKeyInfoPtr p8(
      der.empty() ? nullptr : d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
  if (p8 == nullptr || p != der.data() + der.size()) {
    ERR_clear_error();
    return absl::InvalidArgumentError("private key is not a single DER PKCS#8 PrivateKeyInfo");
  }
  hsm::EvpPkeyPtr pkey(EVP_PKCS82PKEY(p8.get()));
  if (pkey == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError("private key in PKCS#8 cannot be decoded");
  }
  if (absl::Status s = CheckType(type, pkey.get()); !s.ok()) return s;
  return std::unique_ptr<PrivateKey>(new PrivateKey(type, std::move(pkey)));
}

absl::StatusOr<std::string> PrivateKey::Sign(const SignOptions& options,
                                             absl::string_view input) const {
  if (absl::Status s = CheckOptions(type_, options, input); !s.ok()) return s;
  absl::StatusOr<OpContext> op = NewOpContext(type_, pkey_.get(), options, /*sign=*/true);
  if (!op.ok()) return op.status();
  size_t len = 0;
  std::string signature;
  if (options.prehashed) {
    EVP_PKEY_CTX* pctx = op->pkey_ctx.get();
    if (EVP_PKEY_sign(pctx, nullptr, &len, Bytes(input), input.size()) != 1) {
      return OpenSslError("signing failed");
    }
    signature.resize(len);
    if (EVP_PKEY_sign(pctx, reinterpret_cast<uint8_t*>(&signature[0]), &len, Bytes(input),
                      input.size()) != 1) {
      return OpenSslError("signing failed");
    }
  } else {
    EVP_MD_CTX* ctx = op->md_ctx.get();
    if (EVP_DigestSign(ctx, nullptr, &len, Bytes(input), input.size()) != 1) {
      return OpenSslError("signing failed");
    }
    signature.resize(len);
    if (EVP_DigestSign(ctx, reinterpret_cast<uint8_t*>(&signature[0]), &len, Bytes(input),
                       input.size()) != 1) {
      return OpenSslError("signing failed");
    }
  }
  signature.resize(len);  // DER ECDSA signatures are often shorter than the maximum.
  return signature;
}

absl::StatusOr<std::string> PrivateKey::PublicKeyDer() const { return SpkiDer(pkey_.get()); }

absl::StatusOr<std::string> PrivateKey::PublicKeyPem() const {
  absl::StatusOr<std::string> der = PublicKeyDer();
  if (!der.ok()) return der.status();
  return PemFromDer(*der, "PUBLIC KEY");
}

absl::StatusOr<std::unique_ptr<PublicKey>> PublicKey::ParseDer(AsymmetricType type,
                                                               absl::string_view spki_der) {
  const uint8_t* p = Bytes(spki_der);
  hsm::EvpPkeyPtr pkey(
      spki_der.empty() ? nullptr : d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (pkey == nullptr || p != Bytes(spki_der) + spki_der.size()) {
    ERR_clear_error();
    return absl::InvalidArgumentError("public key is not a single DER SubjectPublicKeyInfo");
  }
  if (absl::Status s = CheckType(type, pkey.get()); !s.ok()) return s;
  return std::unique_ptr<PublicKey>(new PublicKey(type, std::move(pkey)));
}

absl::StatusOr<bool> PublicKey::Verify(const SignOptions& options, absl::string_view input,
                                       absl::string_view signature) const {
  if (absl::Status s = CheckOptions(type_, options, input); !s.ok()) return s;
  // RFC 8017 8.1.2/8.2.2: an RSA signature is exactly k octets. OpenSSL 3.0 enforces this
  // for PKCS#1 v1.5 but its PSS path accepts a signature with leading zero octets dropped.
  if (IsRsa(type_) && signature.size() != static_cast<size_t>(EVP_PKEY_get_size(pkey_.get()))) {
    return false;
  }
  absl::StatusOr<OpContext> op = NewOpContext(type_, pkey_.get(), options, /*sign=*/false);
  if (!op.ok()) return op.status();
  const int rc = options.prehashed ? EVP_PKEY_verify(op->pkey_ctx.get(), Bytes(signature),
                                                     signature.size(), Bytes(input), input.size())
                                   : EVP_DigestVerify(op->md_ctx.get(), Bytes(signature),
                                                      signature.size(), Bytes(input), input.size());
  ERR_clear_error();
  return rc == 1;
}

}  // namespace strongroom::kms::crypto
