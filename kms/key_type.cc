#include "kms/key_type.h"

namespace strongroom::kms {
namespace {

struct TypeInfo {
  KeyType type;
  absl::string_view name;
  bool aead;
  bool asymmetric;
  size_t symmetric_key_size;
  bool hsm;
};

constexpr TypeInfo kTypes[] = {
    {KeyType::kAes256Gcm, "aes256-gcm", true, false, 32, true},
    {KeyType::kAes128Gcm, "aes128-gcm", true, false, 16, false},
    {KeyType::kChaCha20Poly1305, "chacha20-poly1305", true, false, 32, false},
    {KeyType::kEcdsaP256, "ecdsa-p256", false, true, 0, true},
    {KeyType::kEcdsaP384, "ecdsa-p384", false, true, 0, true},
    {KeyType::kEd25519, "ed25519", false, true, 0, false},
    {KeyType::kRsa2048, "rsa-2048", false, true, 0, true},
    {KeyType::kRsa3072, "rsa-3072", false, true, 0, true},
    {KeyType::kRsa4096, "rsa-4096", false, true, 0, true},
    {KeyType::kHmac, "hmac", false, false, 32, false},
};

const TypeInfo& Info(KeyType type) { return kTypes[static_cast<int>(type)]; }

}  // namespace

absl::string_view KeyTypeName(KeyType type) { return Info(type).name; }

std::optional<KeyType> ParseKeyType(absl::string_view name) {
  for (const TypeInfo& info : kTypes) {
    if (info.name == name) return info.type;
  }
  return std::nullopt;
}

bool IsAead(KeyType type) { return Info(type).aead; }
bool IsAsymmetric(KeyType type) { return Info(type).asymmetric; }
size_t SymmetricKeySize(KeyType type) { return Info(type).symmetric_key_size; }
bool SupportsHsmResidency(KeyType type) { return Info(type).hsm; }

}  // namespace strongroom::kms
