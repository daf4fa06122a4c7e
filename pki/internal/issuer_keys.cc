#include "pki/internal/issuer_keys.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "pki/internal/encoding.h"

namespace strongroom::pki::internal {
namespace {

hsm::EvpPkeyPtr Share(const hsm::EvpPkeyPtr& key) {
  EVP_PKEY_up_ref(key.get());
  return hsm::EvpPkeyPtr(key.get());
}

}  // namespace

absl::StatusOr<hsm::KeyPairType> HsmKeyType(v1::PkiKeyType type) {
  switch (type) {
    case v1::PKI_KEY_TYPE_UNSPECIFIED:
    case v1::EC_P256:
      return hsm::KeyPairType::kEcP256;
    case v1::EC_P384:
      return hsm::KeyPairType::kEcP384;
    case v1::RSA2048:
      return hsm::KeyPairType::kRsa2048;
    case v1::RSA3072:
      return hsm::KeyPairType::kRsa3072;
    case v1::RSA4096:
      return hsm::KeyPairType::kRsa4096;
    default:
      return absl::InvalidArgumentError("key_type: unknown key type");
  }
}

absl::StatusOr<std::string> IssuerKeys::Create(const std::string& issuer, v1::PkiKeyType type) {
  auto hsm_type = HsmKeyType(type);
  if (!hsm_type.ok()) return hsm_type.status();
  uint8_t suffix[4];
  if (absl::Status s = hsm_->GenerateRandom(absl::MakeSpan(suffix)); !s.ok()) return s;
  std::string label = absl::StrCat(
      "strongroom-ca-", issuer, "-",
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(suffix), 4)));
  if (absl::Status s = hsm_->GenerateKeyPair(label, *hsm_type); !s.ok()) return s;
  return label;
}

absl::StatusOr<IssuerKeys::KeyPair> IssuerKeys::Load(const std::string& label) {
  auto key = provider_->LoadPrivateKey(Uri(label));
  if (!key.ok()) return key.status();
  auto der = hsm_->PublicKeyDer(label);
  if (!der.ok()) return der.status();
  hsm::EvpPkeyPtr public_key = PublicKeyFromDer(*der);
  if (public_key == nullptr) {
    return absl::InternalError(absl::StrCat("HSM public key '", label, "' does not parse"));
  }
  return KeyPair{*std::move(key), std::move(public_key)};
}

absl::StatusOr<IssuerKeys::KeyPair> IssuerKeys::Get(const std::string& label) {
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(label);
    if (it != cache_.end()) return KeyPair{Share(it->second.key), Share(it->second.public_key)};
  }
  auto loaded = Load(label);
  if (!loaded.ok()) return loaded.status();
  KeyPair out{Share(loaded->key), Share(loaded->public_key)};
  absl::MutexLock lock(&mu_);
  cache_.try_emplace(label, *std::move(loaded));
  return out;
}

std::string IssuerKeys::Uri(const std::string& label) const {
  auto escape = [](absl::string_view s) {
    std::string out;
    for (unsigned char c : s) {
      if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        out.push_back(static_cast<char>(c));
      } else {
        absl::StrAppend(
            &out, "%",
            absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(&c), 1)));
      }
    }
    return out;
  };
  return absl::StrCat("pkcs11:token=", escape(hsm_->token_info().label), ";object=", escape(label),
                      ";type=private");
}

}  // namespace strongroom::pki::internal
