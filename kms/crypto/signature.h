// Software asymmetric keys for transit signing: ECDSA P-256/P-384, Ed25519 and RSA
// 2048/3072/4096 (RSASSA-PSS or RSASSA-PKCS1-v1_5).
//
// Private keys travel as PKCS#8 DER inside hsm::SecretData; public keys as DER
// SubjectPublicKeyInfo. Signatures: ECDSA -> DER ECDSA-Sig-Value, Ed25519 -> 64 bytes
// (pure Ed25519, RFC 8032), RSA -> modulus-sized, per SignOptions::padding. PSS uses MGF1
// with the signing hash and a salt as long as the digest.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/openssl_ptr.h"
#include "hsm/secret_data.h"
#include "kms/crypto/mac.h"

namespace strongroom::kms::crypto {

enum class AsymmetricType { kEcdsaP256, kEcdsaP384, kEd25519, kRsa2048, kRsa3072, kRsa4096 };

enum class RsaPadding { kPss, kPkcs1 };

// How Sign and Verify treat their input. `hash` and `padding` are ignored for Ed25519
// (which hashes with SHA-512 internally); `padding` is ignored for ECDSA.
struct SignOptions {
  HashAlgorithm hash = HashAlgorithm::kSha256;
  RsaPadding padding = RsaPadding::kPss;
  // The input is already a digest under `hash` (INVALID_ARGUMENT if its length is wrong,
  // or for Ed25519, which has no prehashed mode here).
  bool prehashed = false;
};

// GeneratePrivateKey creates a new key pair of `type` from OpenSSL's CSPRNG and returns
// the private key as PKCS#8 DER (PrivateKeyInfo). The DER is written straight into the
// SecretData. INTERNAL if OpenSSL fails.
absl::StatusOr<hsm::SecretData> GeneratePrivateKey(AsymmetricType type);

// PemFromDer wraps `der` in PEM armour with `label` (e.g. "PUBLIC KEY"), 64-column lines.
std::string PemFromDer(absl::string_view der, absl::string_view label);

// PrivateKey: a parsed private key. Immutable after Parse; Sign and the accessors are
// thread-safe.
class PrivateKey {
 public:
  // Parse decodes PKCS#8 DER (nothing may follow it) and checks that the key is of `type`
  // (algorithm, curve or modulus size); INVALID_ARGUMENT otherwise, without key bytes in
  // the message.
  static absl::StatusOr<std::unique_ptr<PrivateKey>> Parse(AsymmetricType type,
                                                           const hsm::SecretData& pkcs8_der);

  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  AsymmetricType type() const { return type_; }

  // Sign signs `input` (the message, or its digest if options.prehashed). INVALID_ARGUMENT
  // for options the key type does not support or a digest of the wrong length; INTERNAL
  // if OpenSSL fails.
  absl::StatusOr<std::string> Sign(const SignOptions& options, absl::string_view input) const;

  // The public half as DER SubjectPublicKeyInfo, and as PEM ("PUBLIC KEY").
  absl::StatusOr<std::string> PublicKeyDer() const;
  absl::StatusOr<std::string> PublicKeyPem() const;

 private:
  PrivateKey(AsymmetricType type, hsm::EvpPkeyPtr pkey) : type_(type), pkey_(std::move(pkey)) {}

  const AsymmetricType type_;
  const hsm::EvpPkeyPtr pkey_;
};

// PublicKey: a parsed public key. Immutable; Verify is thread-safe.
class PublicKey {
 public:
  // ParseDer decodes DER SubjectPublicKeyInfo (nothing may follow it) and checks that the
  // key is of `type`; INVALID_ARGUMENT otherwise.
  static absl::StatusOr<std::unique_ptr<PublicKey>> ParseDer(AsymmetricType type,
                                                             absl::string_view spki_der);

  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;

  AsymmetricType type() const { return type_; }

  // Verify reports whether `signature` is a valid signature of `input` under `options`.
  // Any invalid or malformed signature is false, never an error; errors are only for
  // options the key type does not support or a digest of the wrong length.
  absl::StatusOr<bool> Verify(const SignOptions& options, absl::string_view input,
                              absl::string_view signature) const;

 private:
  PublicKey(AsymmetricType type, hsm::EvpPkeyPtr pkey) : type_(type), pkey_(std::move(pkey)) {}

  const AsymmetricType type_;
  const hsm::EvpPkeyPtr pkey_;
};

}  // namespace strongroom::kms::crypto
