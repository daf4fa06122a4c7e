// KeyType: the kinds of transit key, their stable names and what each can do.
//
// The one table of key types: names ("aes256-gcm", "ecdsa-p256", ...) are what storage
// records and the barrier's AAD bind, so they never change; the CLI shows them and the Vault
// API derives its own from them. Residency says where a key's material lives: WRAPPED keys
// are generated from the HSM's RNG and stored wrapped by the KEK; HSM keys are created
// inside the HSM and every operation on them runs there.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "strongroom/v1/transit.pb.h"

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

// Every key type, in the order of the wire enum.
std::vector<KeyType> AllKeyTypes();
absl::string_view KeyTypeName(KeyType type);
std::optional<KeyType> ParseKeyType(absl::string_view name);
// The wire enum value of `type`, and the type of a wire value (KEY_TYPE_UNSPECIFIED is
// aes256-gcm, the default; nullopt for a value outside the enum).
v1::KeyType ApiKeyType(KeyType type);
std::optional<KeyType> KeyTypeOf(v1::KeyType type);

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
