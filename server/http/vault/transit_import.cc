#include "server/http/vault/transit_import.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "hsm/hsm.h"
#include "kms/crypto/signature.h"
#include "kms/key_type.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::Struct;

// Mounts that are not transit mounts (as transit.cc).
bool ReservedMount(const HttpRequest& request) {
  std::string mount = PathParam(request, "mount");
  return mount == "sys" || mount == "auth";
}

// Vault's key type names: the engine's, with "96" after AES-GCM's (as transit.cc).
std::optional<kms::KeyType> ParseVaultType(absl::string_view name) {
  for (kms::KeyType t : kms::AllKeyTypes()) {
    std::string vault_name(kms::KeyTypeName(t));
    if (t == kms::KeyType::kAes256Gcm || t == kms::KeyType::kAes128Gcm) vault_name += "96";
    if (absl::AsciiStrToLower(name) == vault_name) return t;
  }
  return std::nullopt;
}

std::optional<hsm::OaepHash> ParseHashFunction(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (upper == "SHA1") return hsm::OaepHash::kSha1;
  if (upper == "SHA224") return hsm::OaepHash::kSha224;
  if (upper == "SHA256") return hsm::OaepHash::kSha256;
  if (upper == "SHA384") return hsm::OaepHash::kSha384;
  if (upper == "SHA512") return hsm::OaepHash::kSha512;
  return std::nullopt;
}

// ciphertext and hash_function, common to both import routes.
absl::Status ReadWrapped(const Struct& body, kms::WrappedKeyImport* out) {
  if (Field(body, "public_key") != nullptr) {
    return absl::InvalidArgumentError(
        "public_key: importing a public key alone is not supported; send ciphertext");
  }
  auto ciphertext = GetString(body, "ciphertext", "ciphertext");
  if (!ciphertext.ok()) return ciphertext.status();
  if (*ciphertext == nullptr || (*ciphertext)->empty()) {
    return absl::InvalidArgumentError("ciphertext: required (the wrapped key, base64)");
  }
  // Base64 is 4/3 of the bytes: refuse oversized input before decoding it.
  if ((*ciphertext)->size() > (hsm::kMaxWrappedKeyBytes / 3 + 1) * 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("ciphertext: at most ", hsm::kMaxWrappedKeyBytes, " bytes once decoded"));
  }
  if (!DecodeBase64(**ciphertext, &out->ciphertext)) {
    return absl::InvalidArgumentError("ciphertext: not valid base64");
  }
  auto hash = GetString(body, "hash_function", "hash_function");
  if (!hash.ok()) return hash.status();
  std::string hash_name = *hash != nullptr ? **hash : "SHA256";
  std::optional<hsm::OaepHash> parsed = ParseHashFunction(hash_name);
  if (!parsed.has_value()) {
    return absl::InvalidArgumentError(
        "hash_function: must be SHA1, SHA224, SHA256, SHA384 or SHA512");
  }
  out->hash = *parsed;
  return absl::OkStatus();
}

HttpResponse NoContent(uint32_t key_version) {
  HttpResponse response;
  response.status = 204;
  response.key_version = key_version;
  return response;
}

}  // namespace

std::vector<VaultRoute> TransitImportApi::Routes() const {
  std::vector<VaultRoute> routes;
  auto bind = [this](HttpResponse (TransitImportApi::*method)(const HttpRequest&) const) {
    return [this, method](const HttpRequest& request) { return (this->*method)(request); };
  };
  routes.push_back({"GET", "/v1/{mount}/wrapping_key", bind(&TransitImportApi::WrappingKey)});
  for (const char* method : {"POST", "PUT"}) {
    routes.push_back({method, "/v1/{mount}/keys/{key}/import", bind(&TransitImportApi::Import)});
    routes.push_back(
        {method, "/v1/{mount}/keys/{key}/import_version", bind(&TransitImportApi::ImportVersion)});
  }
  return routes;
}

HttpResponse TransitImportApi::WrappingKey(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  absl::StatusOr<std::string> der = keyring_->ImportWrappingKeyDer();
  if (!der.ok()) return StatusError(der.status());
  return Envelope(200,
                  Json::Object().Set("public_key", kms::crypto::PemFromDer(*der, "PUBLIC KEY")));
}

HttpResponse TransitImportApi::Import(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct& body = parsed.json;
  kms::ImportKeyOptions options;
  options.key.name = PathParam(request, "key");

  auto type = GetString(body, "type", "type");
  if (!type.ok()) return StatusError(type.status());
  std::string type_name = *type != nullptr ? **type : "aes256-gcm96";
  std::optional<kms::KeyType> key_type = ParseVaultType(type_name);
  if (!key_type.has_value()) return JsonErrors(400, {absl::StrCat("unknown key type: ", type_name)});
  options.key.type = *key_type;

  auto residency = GetString(body, "residency", "residency");
  if (!residency.ok()) return StatusError(residency.status());
  std::string where = *residency != nullptr ? **residency : "wrapped";
  if (where == "hsm") {
    options.key.residency = kms::Residency::kHsm;
  } else if (where != "wrapped") {
    return JsonErrors(400, {"residency: must be \"hsm\" or \"wrapped\""});
  }

  // Vault refuses the field's presence, whatever its value.
  if (Field(body, "convergent_encryption") != nullptr) {
    return JsonErrors(400, {"import cannot be used on keys with convergent encryption enabled"});
  }
  for (const char* never : {"exportable", "allow_plaintext_backup"}) {
    absl::StatusOr<bool> v = GetBool(body, never, never);
    if (!v.ok()) return StatusError(v.status());
    if (*v) return JsonErrors(400, {absl::StrCat(never, ": keys never leave the HSM boundary")});
  }
  absl::StatusOr<bool> derived = GetBool(body, "derived", "derived");
  if (!derived.ok()) return StatusError(derived.status());
  options.key.derived = *derived;
  absl::StatusOr<bool> allow_rotation = GetBool(body, "allow_rotation", "allow_rotation");
  if (!allow_rotation.ok()) return StatusError(allow_rotation.status());
  options.allow_rotation = *allow_rotation;
  absl::StatusOr<absl::Duration> period =
      GetDuration(body, "auto_rotate_period", "auto_rotate_period");
  if (!period.ok()) return StatusError(period.status());
  options.key.auto_rotate_period = *period;

  kms::WrappedKeyImport wrapped;
  if (absl::Status s = ReadWrapped(body, &wrapped); !s.ok()) return StatusError(s);
  absl::StatusOr<std::shared_ptr<const kms::TransitKey>> key = keyring_->Import(options, wrapped);
  if (!key.ok()) return StatusError(key.status());
  return NoContent((*key)->latest_version());
}

HttpResponse TransitImportApi::ImportVersion(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct& body = parsed.json;
  if (Field(body, "version") != nullptr) {
    return JsonErrors(400, {"version: updating an existing version is not supported; omit it to "
                        "import a new version"});
  }
  kms::WrappedKeyImport wrapped;
  if (absl::Status s = ReadWrapped(body, &wrapped); !s.ok()) return StatusError(s);
  absl::StatusOr<std::shared_ptr<const kms::TransitKey>> key =
      keyring_->ImportVersion(PathParam(request, "key"), wrapped);
  if (!key.ok()) return StatusError(key.status());
  return NoContent((*key)->latest_version());
}

}  // namespace strongroom::server::vault
