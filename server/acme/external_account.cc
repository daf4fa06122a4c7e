#include "server/acme/external_account.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "server/acme/jws_request.h"
#include "server/http/vault/json.h"

namespace strongroom::server::acme {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr size_t kHmacKeyBytes = 32;
constexpr char kMaterialType[] = "acme-eab-hmac-sha256";

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("externalAccountBinding: ", what));
}

// The string member `name` of `object`, or nullptr.
const std::string* StringField(const Struct& object, absl::string_view name) {
  const Value* v = vault::Field(object, std::string(name));
  return v != nullptr && v->has_string_value() ? &v->string_value() : nullptr;
}

}  // namespace

absl::StatusOr<EabBinding> ParseEabBinding(const Value& binding) {
  if (!binding.has_struct_value()) return Bad("expected a flattened JWS object");
  const Struct& jws = binding.struct_value();
  const std::string* protected_b64 = StringField(jws, "protected");
  const std::string* payload_b64 = StringField(jws, "payload");
  const std::string* signature_b64 = StringField(jws, "signature");
  if (jws.fields_size() != 3 || protected_b64 == nullptr || payload_b64 == nullptr ||
      signature_b64 == nullptr) {
    return Bad("expected exactly \"protected\", \"payload\" and \"signature\" strings");
  }
  if (protected_b64->size() + payload_b64->size() + signature_b64->size() > jose::kMaxJoseInput) {
    return Bad(absl::StrCat("larger than ", jose::kMaxJoseInput, " bytes"));
  }
  EabBinding out;
  std::string header_json;
  if (!jose::Base64UrlDecode(*protected_b64, &header_json) ||
      !jose::Base64UrlDecode(*payload_b64, &out.payload) ||
      !jose::Base64UrlDecode(*signature_b64, &out.mac)) {
    return Bad("parts must be base64url");
  }
  Struct header;
  if (ParsePayload(header_json, "the binding's protected header", &header).has_value()) {
    return Bad("the protected header is not a JSON object");
  }
  const std::string* alg = StringField(header, "alg");
  const std::string* kid = StringField(header, "kid");
  const std::string* url = StringField(header, "url");
  if (alg == nullptr || *alg != "HS256") return Bad("alg must be HS256");
  if (kid == nullptr || kid->empty() || url == nullptr) return Bad("needs \"kid\" and \"url\"");
  if (vault::Field(header, "nonce") != nullptr) return Bad("must not carry a nonce");
  if (vault::Field(header, "jwk") != nullptr) return Bad("must not carry a jwk header");
  out.kid = *kid;
  out.url = *url;
  out.signing_input = absl::StrCat(*protected_b64, ".", *payload_b64);
  return out;
}

ExternalAccounts::ExternalAccounts(AcmeStore* store, kms::Barrier* barrier,
                                   absl::Duration lifetime)
    : store_(store), barrier_(barrier), lifetime_(lifetime) {}

kms::KeyMaterialId ExternalAccounts::MaterialId(absl::string_view kid) {
  return {absl::StrCat("@acme-eab:", kid), 1, kMaterialType};
}

absl::StatusOr<ExternalAccounts::NewKey> ExternalAccounts::Create(absl::string_view role,
                                                                  absl::Time now) {
  NewKey key{EabRecord(), hsm::SecretData(kHmacKeyBytes)};
  if (RAND_priv_bytes(key.hmac_key.MutableSecret().data(), kHmacKeyBytes) != 1) {
    return absl::UnavailableError("no randomness for an EAB key");
  }
  key.record.set_kid(AcmeStore::NewId());
  key.record.set_role(std::string(role));
  key.record.set_created(absl::ToUnixSeconds(now));
  key.record.set_expires(absl::ToUnixSeconds(now + lifetime_));
  kms::WriteBatch batch;
  if (absl::Status s = barrier_->Wrap(MaterialId(key.record.kid()), key.hmac_key, &batch);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = store_->CreateEab(key.record, std::move(batch)); !s.ok()) return s;
  return key;
}

std::optional<Problem> ExternalAccounts::Verify(const Value& binding, absl::string_view url,
                                                const jose::PublicJwk& account_key,
                                                absl::string_view role, absl::Time now,
                                                Stored<EabRecord>* out) {
  absl::StatusOr<EabBinding> parsed = ParseEabBinding(binding);
  if (!parsed.ok()) return Malformed(std::string(parsed.status().message()));
  if (parsed->url != url) {
    return Unauthorized("externalAccountBinding: \"url\" is not the newAccount URL");
  }
  absl::StatusOr<jose::PublicJwk> bound = jose::PublicJwk::FromJson(parsed->payload);
  if (!bound.ok() || !bound->SameKey(account_key)) {
    return Unauthorized("externalAccountBinding: the payload is not this account's key");
  }
  const Problem refused =
      Unauthorized("externalAccountBinding: no usable EAB key for this directory verifies it");
  absl::StatusOr<std::optional<Stored<EabRecord>>> record = store_->GetEab(parsed->kid);
  if (!record.ok()) return ServerProblem(record.status());
  if (!record->has_value() || (*record)->record.role() != role ||
      !(*record)->record.account_id().empty() ||
      (*record)->record.expires() < absl::ToUnixSeconds(now)) {
    return refused;
  }
  absl::StatusOr<std::shared_ptr<const hsm::SecretData>> key =
      barrier_->Unwrap(MaterialId(parsed->kid));
  if (absl::IsNotFound(key.status())) return refused;  // bound meanwhile
  if (!key.ok()) return ServerProblem(key.status());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  const absl::Span<const uint8_t> secret = (*key)->RevealSecret();
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(parsed->signing_input.data()),
           parsed->signing_input.size(), mac, &mac_len) == nullptr) {
    return ServerProblem(absl::InternalError("HMAC failed"));
  }
  const bool match = parsed->mac.size() == mac_len &&
                     CRYPTO_memcmp(mac, parsed->mac.data(), mac_len) == 0;
  OPENSSL_cleanse(mac, sizeof(mac));
  if (!match) return refused;
  *out = std::move(**record);
  return std::nullopt;
}

kms::WriteBatch ExternalAccounts::Consume(absl::string_view kid) {
  kms::WriteBatch batch;
  barrier_->Forget(MaterialId(kid), &batch);
  return batch;
}

}  // namespace strongroom::server::acme
