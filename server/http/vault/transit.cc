// Transit routes and key management: create, read, list, delete, config, rotate, trim, and
// the refusal of every route that would let key material out.
#include "server/http/vault/transit.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "server/http/vault/listing.h"
#include "server/http/vault/transit_internal.h"

namespace strongroom::server::vault {

using google::protobuf::Struct;
using transit_internal::KeyData;
using transit_internal::kMaxVersion;
using transit_internal::ParseVaultType;
using transit_internal::ReservedMount;

std::vector<VaultRoute> TransitApi::Routes() const {
  std::vector<VaultRoute> routes;
  auto bind = [this](HttpResponse (TransitApi::*method)(const HttpRequest&) const) {
    return [this, method](const HttpRequest& request) { return (this->*method)(request); };
  };
  auto write = [&](const std::string& pattern, HttpHandler handler) {
    routes.push_back({"POST", pattern, handler});
    routes.push_back({"PUT", pattern, std::move(handler)});
  };
  // Keys.
  routes.push_back({"GET", "/v1/{mount}/keys/{key}", bind(&TransitApi::ReadKey)});
  write("/v1/{mount}/keys/{key}", bind(&TransitApi::CreateKey));
  routes.push_back({"DELETE", "/v1/{mount}/keys/{key}", bind(&TransitApi::DeleteKey)});
  routes.push_back({"LIST", "/v1/{mount}/keys", bind(&TransitApi::ListKeys)});
  routes.push_back({"GET", "/v1/{mount}/keys", bind(&TransitApi::ListKeys)});
  write("/v1/{mount}/keys/{key}/config", bind(&TransitApi::ConfigureKey));
  write("/v1/{mount}/keys/{key}/rotate", bind(&TransitApi::RotateKey));
  write("/v1/{mount}/keys/{key}/trim", bind(&TransitApi::TrimKey));
  routes.push_back({"GET", "/v1/{mount}/export/{type}/{key}", bind(&TransitApi::RefuseExport)});
  routes.push_back(
      {"GET", "/v1/{mount}/export/{type}/{key}/{version}", bind(&TransitApi::RefuseExport)});
  routes.push_back({"GET", "/v1/{mount}/backup/{key}", bind(&TransitApi::RefuseExport)});
  write("/v1/{mount}/restore", bind(&TransitApi::RefuseExport));
  write("/v1/{mount}/restore/{key}", bind(&TransitApi::RefuseExport));
  // Encryption.
  write("/v1/{mount}/encrypt/{key}", bind(&TransitApi::Encrypt));
  write("/v1/{mount}/decrypt/{key}", bind(&TransitApi::Decrypt));
  write("/v1/{mount}/rewrap/{key}", bind(&TransitApi::Rewrap));
  write("/v1/{mount}/datakey/{type}/{key}", bind(&TransitApi::DataKey));
  // Signing.
  write("/v1/{mount}/sign/{key}", bind(&TransitApi::Sign));
  write("/v1/{mount}/sign/{key}/{algorithm}", bind(&TransitApi::Sign));
  write("/v1/{mount}/verify/{key}", bind(&TransitApi::Verify));
  write("/v1/{mount}/verify/{key}/{algorithm}", bind(&TransitApi::Verify));
  write("/v1/{mount}/hmac/{key}", bind(&TransitApi::Hmac));
  write("/v1/{mount}/hmac/{key}/{algorithm}", bind(&TransitApi::Hmac));
  // Utilities.
  write("/v1/{mount}/random", bind(&TransitApi::Random));
  write("/v1/{mount}/random/{param1}", bind(&TransitApi::Random));
  write("/v1/{mount}/random/{param1}/{param2}", bind(&TransitApi::Random));
  write("/v1/{mount}/hash", bind(&TransitApi::Hash));
  write("/v1/{mount}/hash/{algorithm}", bind(&TransitApi::Hash));
  return routes;
}

HttpResponse TransitApi::ReadKey(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  v1::GetKeyRequest req;
  req.set_name(PathParam(request, "key"));
  absl::StatusOr<v1::Key> key = transit_->GetKey(req);
  if (!key.ok()) {
    if (absl::IsNotFound(key.status())) return NotFound();
    return StatusError(key.status());
  }
  return Envelope(200, KeyData(*key));
}

HttpResponse TransitApi::CreateKey(const HttpRequest& request) const {
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  const Struct* body = &parsed.json;
  v1::CreateKeyRequest req;
  req.set_name(PathParam(request, "key"));

  auto type = GetString(*body, "type", "type");
  if (!type.ok()) return StatusError(type.status());
  std::string type_name = *type != nullptr ? **type : "aes256-gcm96";
  std::optional<v1::KeyType> key_type = ParseVaultType(type_name);
  if (!key_type.has_value()) {
    return JsonErrors(400, {absl::StrCat("type: unknown key type ", type_name)});
  }
  req.set_type(*key_type);

  auto residency = GetString(*body, "residency", "residency");
  if (!residency.ok()) return StatusError(residency.status());
  std::string where = *residency != nullptr ? **residency : "wrapped";
  if (where == "hsm") {
    req.set_residency(v1::HSM);
  } else if (where == "wrapped") {
    req.set_residency(v1::WRAPPED);
  } else {
    return JsonErrors(400, {"residency: must be \"hsm\" or \"wrapped\""});
  }

  absl::StatusOr<bool> derived = GetBool(*body, "derived", "derived");
  if (!derived.ok()) return StatusError(derived.status());
  absl::StatusOr<bool> convergent =
      GetBool(*body, "convergent_encryption", "convergent_encryption");
  if (!convergent.ok()) return StatusError(convergent.status());
  if (*convergent && !*derived) {
    return JsonErrors(400, {"convergent encryption requires derivation to be enabled"});
  }
  req.set_derived(*derived);
  req.set_convergent(*convergent);

  for (const char* never : {"exportable", "allow_plaintext_backup"}) {
    absl::StatusOr<bool> v = GetBool(*body, never, never);
    if (!v.ok()) return StatusError(v.status());
    if (*v) {
      return JsonErrors(400, {absl::StrCat(never,
                                       ": keys never leave the HSM boundary, so no key "
                                       "can be exportable")});
    }
  }
  auto key_size = GetUint(*body, "key_size", "key_size", UINT32_MAX);
  if (!key_size.ok()) return StatusError(key_size.status());
  if (key_size->has_value() && **key_size != 0 && (*key_type != v1::HMAC || **key_size != 32)) {
    return JsonErrors(400, {absl::StrCat("key_size: only 32 (bytes, for hmac keys) is supported")});
  }

  absl::StatusOr<absl::Duration> period =
      GetDuration(*body, "auto_rotate_period", "auto_rotate_period");
  if (!period.ok()) return StatusError(period.status());
  req.mutable_auto_rotate_period()->set_seconds(absl::ToInt64Seconds(*period));

  std::vector<std::string> warnings;
  absl::StatusOr<v1::Key> key = transit_->CreateKey(req);
  if (absl::IsAlreadyExists(key.status())) {
    v1::GetKeyRequest get;
    get.set_name(req.name());
    key = transit_->GetKey(get);
    warnings.push_back(absl::StrCat("key ", req.name(), " already existed"));
  }
  if (!key.ok()) return StatusError(key.status());
  return Envelope(200, KeyData(*key), Json(), warnings);
}

HttpResponse TransitApi::RotateKey(const HttpRequest& request) const {
  // A body is allowed (Vault clients send "{}" or nothing) and ignored.
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  v1::RotateKeyRequest req;
  req.set_name(PathParam(request, "key"));
  absl::StatusOr<v1::Key> key = transit_->RotateKey(req);
  if (!key.ok()) {
    if (absl::IsNotFound(key.status())) return JsonErrors(400, {"key not found"});
    return StatusError(key.status());
  }
  HttpResponse response = Envelope(200, KeyData(*key));
  response.key_version = key->latest_version();
  return response;
}

HttpResponse TransitApi::ListKeys(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  if (request.method == "GET") {
    auto it = request.params.find("list");
    if (it == request.params.end() || (it->second != "true" && it->second != "1")) {
      return JsonErrors(405, {"unsupported operation"});
    }
  }
  // Vault's paging: names after `after`, at most `limit` (all when absent or 0).
  std::string after;
  if (auto it = request.params.find("after"); it != request.params.end()) after = it->second;
  uint64_t limit = 0;
  if (auto it = request.params.find("limit"); it != request.params.end()) {
    if (!absl::SimpleAtoi(it->second, &limit)) {
      return JsonErrors(400, {"limit: expected a non-negative integer"});
    }
  }
  if (request.principal == nullptr) return JsonErrors(403, {"permission denied"});
  bool truncated = false;
  absl::StatusOr<std::vector<std::string>> names = VisibleNames(
      *policies_(), *request.principal, "transit/keys/",
      EnginePages<v1::ListKeysRequest>(
          [this](const v1::ListKeysRequest& list) { return transit_->ListKeys(list); },
          [](const v1::ListKeysResponse& page) -> const auto& { return page.names(); }),
      &truncated, after, limit == 0 ? kMaxListed : std::min<uint64_t>(limit, kMaxListed));
  if (!names.ok()) return StatusError(names.status());
  return ListReply(*names, std::nullopt, limit == 0 && truncated);
}

HttpResponse TransitApi::DeleteKey(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  v1::DeleteKeyRequest req;
  req.set_name(PathParam(request, "key"));
  absl::StatusOr<v1::DeleteKeyResponse> deleted = transit_->DeleteKey(req);
  if (!deleted.ok()) {
    const absl::Status& s = deleted.status();
    if (absl::IsNotFound(s)) {
      return JsonErrors(400, {absl::StrCat("error deleting key ", req.name(),
                                       ": could not delete key; not found")});
    }
    if (absl::IsFailedPrecondition(s)) {
      return JsonErrors(400, {absl::StrCat("error deleting key ", req.name(),
                                       ": deletion is not allowed for this key (set "
                                       "deletion_allowed in its config first)")});
    }
    return StatusError(s);
  }
  HttpResponse response;
  response.status = 204;
  response.content_type = "application/json";
  return response;
}

HttpResponse TransitApi::ConfigureKey(const HttpRequest& request) const {
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  const Struct& body = parsed.json;
  v1::UpdateKeyConfigRequest req;
  req.set_name(PathParam(request, "key"));
  std::vector<std::string> warnings;
  auto min_dec = GetUint(body, "min_decryption_version", "min_decryption_version", kMaxVersion);
  if (!min_dec.ok()) return StatusError(min_dec.status());
  if (min_dec->has_value()) {
    uint32_t v = static_cast<uint32_t>(**min_dec);
    if (v == 0) {  // as Vault: versions start at 1
      v = 1;
      warnings.push_back("key versions start at 1; min_decryption_version set to 1");
    }
    req.set_min_decryption_version(v);
  }
  auto min_enc = GetUint(body, "min_encryption_version", "min_encryption_version", kMaxVersion);
  if (!min_enc.ok()) return StatusError(min_enc.status());
  if (min_enc->has_value()) req.set_min_encryption_version(static_cast<uint32_t>(**min_enc));
  if (Field(body, "deletion_allowed") != nullptr) {
    absl::StatusOr<bool> allowed = GetBool(body, "deletion_allowed", "deletion_allowed");
    if (!allowed.ok()) return StatusError(allowed.status());
    req.set_deletion_allowed(*allowed);
  }
  if (Field(body, "auto_rotate_period") != nullptr) {
    absl::StatusOr<absl::Duration> period =
        GetDuration(body, "auto_rotate_period", "auto_rotate_period");
    if (!period.ok()) return StatusError(period.status());
    req.mutable_auto_rotate_period()->set_seconds(absl::ToInt64Seconds(*period));
  }
  for (const char* never : {"exportable", "allow_plaintext_backup"}) {
    absl::StatusOr<bool> v = GetBool(body, never, never);
    if (!v.ok()) return StatusError(v.status());
    if (*v) {
      return JsonErrors(400, {absl::StrCat(never,
                                       ": keys never leave the HSM boundary, so no key "
                                       "can be made exportable")});
    }
  }
  absl::StatusOr<v1::Key> key = transit_->UpdateKeyConfig(req);
  if (!key.ok()) {
    if (absl::IsNotFound(key.status())) {
      return JsonErrors(400, {absl::StrCat("no existing key named ", req.name(), " could be found")});
    }
    return StatusError(key.status());
  }
  return Envelope(200, KeyData(*key), Json(), warnings);
}

HttpResponse TransitApi::TrimKey(const HttpRequest& request) const {
  Body parsed;
  if (auto answer = transit_internal::Begin(request, &parsed)) return *answer;
  auto min = GetUint(parsed.json, "min_available_version", "min_available_version", kMaxVersion);
  if (!min.ok()) return StatusError(min.status());
  if (!min->has_value()) return JsonErrors(400, {"missing min_available_version"});
  if (**min == 0) return JsonErrors(400, {"minimum available version should be positive"});
  v1::TrimKeyRequest req;
  req.set_name(PathParam(request, "key"));
  req.set_min_available_version(static_cast<uint32_t>(**min));
  absl::StatusOr<v1::Key> key = transit_->TrimKey(req);
  if (!key.ok()) {
    if (absl::IsNotFound(key.status())) return JsonErrors(400, {"invalid key name"});
    return StatusError(key.status());
  }
  return Envelope(200, KeyData(*key));
}

HttpResponse TransitApi::RefuseExport(const HttpRequest& request) const {
  if (ReservedMount(request)) return NotFound();
  return JsonErrors(400, {"keys never leave the HSM boundary: Strongroom does not export, back up "
                      "or restore key material (export, backup and restore are not supported)"});
}

}  // namespace strongroom::server::vault
