// KeyType: the kinds of transit key, their stable names and what each can do.
//
// Names ("aes256-gcm", "ecdsa-p256", ...) are what storage records and the barrier's AAD
// bind, so they never change. Residency says where a key's material lives: WRAPPED keys
// are generated from the HSM's RNG and stored wrapped by the KEK; HSM keys are created
// inside the HSM and every operation on them runs there.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace strongroom::kms {

enum class KeyType {
  kAes256Gcm,
  kAes128Gcm,
  kChaCha20Poly1305,
  kEcdsaP256,
  kEcdsaP384,
  kEd25519,
  kRsa2048,
  kRsa3072,
  kRsa4096,
  kHmac,
};

enum class Residency { kWrapped, kHsm };

absl::string_view KeyTypeName(KeyType type);
std::optional<KeyType> ParseKeyType(absl::string_view name);

bool IsAead(KeyType type);        // encrypt, decrypt, rewrap, datakey
bool IsAsymmetric(KeyType type);  // sign, verify
// Bytes of WRAPPED material for symmetric types (AEAD key, or the HMAC key of kHmac).
size_t SymmetricKeySize(KeyType type);
// Whether keys of this type can be HSM-resident (AES-256-GCM, ECDSA and RSA).
bool SupportsHsmResidency(KeyType type);

// Every version of every key also has an HMAC key of this many bytes (for Hmac and for
// convergent nonces).
inline constexpr size_t kVersionHmacKeySize = 32;

}  // namespace strongroom::kms
