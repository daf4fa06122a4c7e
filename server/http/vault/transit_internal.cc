#include "server/http/vault/transit_internal.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "kms/key_type.h"

namespace strongroom::server::vault::transit_internal {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

bool ReservedMount(const HttpRequest& request) {
  auto it = request.path_params.find("mount");
  return it != request.path_params.end() && (it->second == "sys" || it->second == "auth");
}

std::optional<HttpResponse> Begin(const HttpRequest& request, Body* body) {
  if (ReservedMount(request)) return NotFound();
  if (absl::Status s = ParseBody(request.body, &body->json); !s.ok()) return StatusError(s);
  return std::nullopt;
}

KeyOrAnswer FindKey(kms::Transit* transit, const std::string& name, absl::string_view missing) {
  v1::GetKeyRequest get;
  get.set_name(name);
  absl::StatusOr<v1::Key> key = transit->GetKey(get);
  KeyOrAnswer out;
  if (key.ok()) {
    out.key = *std::move(key);
  } else if (absl::IsNotFound(key.status())) {
    out.answer = JsonErrors(400, {std::string(missing)});
  } else {
    out.answer = StatusError(key.status());
  }
  return out;
}

std::string VaultTypeName(v1::KeyType type) {
  std::optional<kms::KeyType> t = kms::KeyTypeOf(type);
  if (!t.has_value()) return "unknown";
  std::string name(kms::KeyTypeName(*t));
  if (*t == kms::KeyType::kAes256Gcm || *t == kms::KeyType::kAes128Gcm) name += "96";
  return name;
}

std::optional<v1::KeyType> ParseVaultType(absl::string_view name) {
  for (kms::KeyType t : kms::AllKeyTypes()) {
    if (name == VaultTypeName(kms::ApiKeyType(t))) return kms::ApiKeyType(t);
  }
  return std::nullopt;
}

bool IsAeadType(v1::KeyType t) {
  std::optional<kms::KeyType> type = kms::KeyTypeOf(t);
  return type.has_value() && kms::IsAead(*type);
}

bool IsAsymmetricType(v1::KeyType t) {
  std::optional<kms::KeyType> type = kms::KeyTypeOf(t);
  return type.has_value() && kms::IsAsymmetric(*type);
}

bool IsRsaType(v1::KeyType t) {
  return t == v1::RSA_2048 || t == v1::RSA_3072 || t == v1::RSA_4096;
}

namespace {

// The public key's "name" in Vault's read shape.
const char* PublicKeyName(v1::KeyType t) {
  switch (t) {
    case v1::ECDSA_P256:
      return "P-256";
    case v1::ECDSA_P384:
      return "P-384";
    case v1::ED25519:
      return "ed25519";
    case v1::RSA_2048:
      return "rsa-2048";
    case v1::RSA_3072:
      return "rsa-3072";
    case v1::RSA_4096:
      return "rsa-4096";
    default:
      return "";
  }
}

}  // namespace

Json KeyData(const v1::Key& key) {
  const v1::KeyType type = key.type();
  Json keys = Json::Object();
  for (const v1::KeyVersion& v : key.versions()) {
    std::string n = absl::StrCat(v.version());
    if (IsAsymmetricType(type)) {
      keys.Set(n, Json::Object()
                      .Set("name", PublicKeyName(type))
                      .Set("public_key", v.public_key_pem())
                      .Set("certificate_chain", "")
                      .Set("creation_time", Rfc3339(TimeOf(v.create_time()))));
    } else {
      keys.Set(n, v.create_time().seconds());
    }
  }
  Json data = Json::Object()
                  .Set("name", key.name())
                  .Set("type", VaultTypeName(type))
                  .Set("derived", key.derived())
                  .Set("deletion_allowed", key.deletion_allowed())
                  .Set("min_available_version", key.min_available_version())
                  .Set("min_decryption_version", key.min_decryption_version())
                  .Set("min_encryption_version", key.min_encryption_version())
                  .Set("latest_version", key.latest_version())
                  .Set("exportable", false)
                  .Set("allow_plaintext_backup", false)
                  .Set("supports_encryption", IsAeadType(type))
                  .Set("supports_decryption", IsAeadType(type))
                  .Set("supports_signing", IsAsymmetricType(type))
                  .Set("supports_derivation", IsAeadType(type))
                  .Set("auto_rotate_period", key.auto_rotate_period().seconds())
                  .Set("imported_key", false)
                  .Set("convergent_encryption", key.convergent());
  if (key.derived()) data.Set("kdf", "hkdf_sha256");
  data.Set("keys", std::move(keys))
      .Set("residency", key.residency() == v1::HSM ? "hsm" : "wrapped");
  return data;
}

absl::StatusOr<v1::HashAlgorithm> RequestHash(const HttpRequest& request, const Struct& body,
                                              std::initializer_list<const char*> fields) {
  std::string name = PathParam(request, "algorithm");
  for (const char* field : fields) {
    if (!name.empty()) break;
    auto v = GetString(body, field, field);
    if (!v.ok()) return v.status();
    if (*v != nullptr) name = **v;
  }
  if (name.empty() || name == "sha2-256") return v1::SHA2_256;
  if (name == "sha2-384") return v1::SHA2_384;
  if (name == "sha2-512") return v1::SHA2_512;
  if (name.size() > 32) name = name.substr(0, 32) + "...";
  return absl::InvalidArgumentError(absl::StrCat("unsupported hash algorithm \"", name,
                                                 "\": Strongroom signs and computes HMACs with "
                                                 "sha2-256, sha2-384 or sha2-512"));
}

absl::Status DecodeField(const Struct& s, const std::string& name, std::string* out) {
  out->clear();
  const Value* v = Field(s, name);
  if (v == nullptr) return absl::OkStatus();
  if (v->kind_case() != Value::kStringValue) return TypeError(name, "a string");
  if (!DecodeBase64(v->string_value(), out)) {
    return absl::InvalidArgumentError(absl::StrCat("unable to decode ", name, " as base64"));
  }
  return absl::OkStatus();
}

absl::StatusOr<const ListValue*> BatchInput(const Struct& body) {
  const Value* input = Field(body, "batch_input");
  if (input == nullptr) return nullptr;
  if (input->kind_case() != Value::kListValue) return TypeError("batch_input", "an array");
  const ListValue& list = input->list_value();
  if (list.values_size() == 0) return absl::InvalidArgumentError("missing batch input to process");
  for (int i = 0; i < list.values_size(); ++i) {
    if (list.values(i).kind_case() != Value::kStructValue) {
      return TypeError(absl::StrCat("batch_input[", i, "]"), "an object");
    }
  }
  return &list;
}

}  // namespace strongroom::server::vault::transit_internal
