#include "kms/key_type.h"

namespace strongroom::kms {
namespace {

struct TypeInfo {
  KeyType type;
  absl::string_view name;
  v1::KeyType api;
  bool aead;
  bool asymmetric;
  size_t symmetric_key_size;
  bool hsm;
};

constexpr TypeInfo kTypes[] = {
    {KeyType::kAes256Gcm, "aes256-gcm", v1::AES256_GCM, true, false, 32, true},
    {KeyType::kAes128Gcm, "aes128-gcm", v1::AES128_GCM, true, false, 16, false},
    {KeyType::kChaCha20Poly1305, "chacha20-poly1305", v1::CHACHA20_POLY1305, true, false, 32,
     false},
    {KeyType::kEcdsaP256, "ecdsa-p256", v1::ECDSA_P256, false, true, 0, true},
    {KeyType::kEcdsaP384, "ecdsa-p384", v1::ECDSA_P384, false, true, 0, true},
    {KeyType::kEd25519, "ed25519", v1::ED25519, false, true, 0, false},
    {KeyType::kRsa2048, "rsa-2048", v1::RSA_2048, false, true, 0, true},
    {KeyType::kRsa3072, "rsa-3072", v1::RSA_3072, false, true, 0, true},
    {KeyType::kRsa4096, "rsa-4096", v1::RSA_4096, false, true, 0, true},
    {KeyType::kHmac, "hmac", v1::HMAC, false, false, 32, false},
};

const TypeInfo& Info(KeyType type) { return kTypes[static_cast<int>(type)]; }

}  // namespace

std::vector<KeyType> AllKeyTypes() {
  std::vector<KeyType> all;
  for (const TypeInfo& info : kTypes) all.push_back(info.type);
  return all;
}

absl::string_view KeyTypeName(KeyType type) { return Info(type).name; }

std::optional<KeyType> ParseKeyType(absl::string_view name) {
  for (const TypeInfo& info : kTypes) {
    if (info.name == name) return info.type;
  }
  return std::nullopt;
}

v1::KeyType ApiKeyType(KeyType type) { return Info(type).api; }

std::optional<KeyType> KeyTypeOf(v1::KeyType type) {
  if (type == v1::KEY_TYPE_UNSPECIFIED) return KeyType::kAes256Gcm;
  for (const TypeInfo& info : kTypes) {
    if (info.api == type) return info.type;
  }
  return std::nullopt;
}

bool IsAead(KeyType type) { return Info(type).aead; }
bool IsAsymmetric(KeyType type) { return Info(type).asymmetric; }
size_t SymmetricKeySize(KeyType type) { return Info(type).symmetric_key_size; }
bool SupportsHsmResidency(KeyType type) { return Info(type).hsm; }

}  // namespace strongroom::kms
