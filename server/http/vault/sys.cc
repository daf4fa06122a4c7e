#include "server/http/vault/sys.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace strongroom::server::vault {
namespace {

// Vault's seal-status body for `status`.
Json SealStatusOf(const v1::Status& status) {
  return Json::Object()
      .Set("type", "pkcs11")
      .Set("initialized", true)
      .Set("sealed", status.sealed())
      .Set("t", 0)
      .Set("n", 0)
      .Set("progress", 0)
      .Set("nonce", "")
      .Set("version", status.version())
      .Set("build_date", "")
      .Set("migration", false)
      .Set("cluster_name", "")
      .Set("cluster_id", "")
      .Set("recovery_seal", false)
      .Set("storage_type", status.storage().backend());
}

// One engine in sys/mounts' shape; "local" and "seal_wrap" as Vault reports them.
Json MountOf(const char* type, const char* description) {
  return Json::Object()
      .Set("type", type)
      .Set("description", description)
      .Set("accessor", absl::StrCat(type, "_strongroom"))
      .Set("config", Json::Object()
                         .Set("default_lease_ttl", 0)
                         .Set("max_lease_ttl", 0)
                         .Set("force_no_cache", false))
      .Set("options", Json())
      .Set("local", false)
      .Set("seal_wrap", false)
      .Set("external_entropy_access", false);
}

Json MountTable() {
  return Json::Object()
      .Set("transit/", MountOf("transit", "Strongroom transit: keys in or wrapped by the HSM"))
      .Set("pki/", MountOf("pki", "Strongroom PKI: CA keys in the HSM"));
}

}  // namespace

std::vector<VaultRoute> SysApi::Routes() const {
  auto bind = [this](HttpResponse (SysApi::*method)(const HttpRequest&) const) {
    return [this, method](const HttpRequest& request) { return (this->*method)(request); };
  };
  std::vector<VaultRoute> routes = {
      {"GET", "/v1/sys/health", bind(&SysApi::Health)},
      {"GET", "/v1/sys/seal-status", bind(&SysApi::SealStatus)},
      {"GET", "/v1/sys/mounts", bind(&SysApi::Mounts)},
      {"DELETE", "/v1/sys/mounts/{path...}", bind(&SysApi::MountWrite)},
  };
  for (const char* verb : {"POST", "PUT"}) {
    routes.push_back({verb, "/v1/sys/seal", bind(&SysApi::Seal)});
    routes.push_back({verb, "/v1/sys/unseal", bind(&SysApi::Unseal)});
    routes.push_back({verb, "/v1/sys/mounts/{path...}", bind(&SysApi::MountWrite)});
    routes.push_back({verb, "/v1/sys/remount", bind(&SysApi::MountWrite)});
  }
  return routes;
}

HttpResponse SysApi::Health(const HttpRequest& request) const {
  // Vault's overrides of the status code; only sealedcode and activecode can apply here,
  // but every one is checked, so a bad value is refused whatever the state.
  int sealed_code = 503, active_code = 200;
  for (const auto& [name, value] : request.params) {
    if (!absl::EndsWith(name, "code")) continue;
    int code = 0;
    if (!absl::SimpleAtoi(value, &code) || code < 200 || code > 599 || code == 204 ||
        code == 304) {
      return JsonErrors(400, {absl::StrCat(name.substr(0, 40),
                                       ": must be a status code from 200 to 599 other than 204 "
                                       "and 304")});
    }
    if (name == "sealedcode") sealed_code = code;
    if (name == "activecode") active_code = code;
  }
  v1::Status status = system_->SealState();
  Json body = Json::Object()
                  .Set("initialized", true)
                  .Set("sealed", status.sealed())
                  .Set("standby", false)
                  .Set("performance_standby", false)
                  .Set("replication_performance_mode", "disabled")
                  .Set("replication_dr_mode", "disabled")
                  .Set("server_time_utc", absl::ToUnixSeconds(absl::Now()))
                  .Set("version", status.version());
  return JsonResponse(status.sealed() ? sealed_code : active_code, body);
}

HttpResponse SysApi::SealStatus(const HttpRequest&) const {
  return JsonResponse(200, SealStatusOf(system_->SealState()));
}

HttpResponse SysApi::Seal(const HttpRequest& request) const {
  if (request.principal == nullptr) return JsonErrors(403, {"permission denied"});
  absl::StatusOr<v1::Status> status = system_->SealBy(*request.principal);
  if (!status.ok()) return StatusError(status.status());
  HttpResponse response;
  response.status = 204;
  response.content_type = "";
  return response;
}

HttpResponse SysApi::Unseal(const HttpRequest& request) const {
  if (request.principal == nullptr) return JsonErrors(403, {"permission denied"});
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  // Not quoted or kept: a key share meant for a Vault is a secret.
  if (Field(parsed.json, "key") != nullptr) {
    return JsonErrors(400, {"key: Strongroom has no unseal key shares: it unseals by logging in to "
                        "its HSM, so send the request without a key"});
  }
  // "reset" asks to forget the key shares given so far: there are none, so either value
  // is fine.
  if (absl::StatusOr<bool> reset = GetBool(parsed.json, "reset", "reset"); !reset.ok()) {
    return StatusError(reset.status());
  }
  absl::StatusOr<bool> migrate = GetBool(parsed.json, "migrate", "migrate");
  if (!migrate.ok()) return StatusError(migrate.status());
  if (*migrate) return JsonErrors(400, {"migrate: Strongroom has no seal migration"});
  absl::StatusOr<v1::Status> status = system_->UnsealBy(*request.principal);
  if (!status.ok()) return StatusError(status.status());
  return JsonResponse(200, SealStatusOf(*status));
}

HttpResponse SysApi::Mounts(const HttpRequest&) const {
  // Vault answers with the table under "data" and, for older clients, at the top level too.
  Json body = MountTable();
  body.Set("request_id", "")
      .Set("lease_id", "")
      .Set("renewable", false)
      .Set("lease_duration", 0)
      .Set("data", MountTable())
      .Set("wrap_info", Json())
      .Set("warnings", Json())
      .Set("auth", Json());
  return JsonResponse(200, body);
}

HttpResponse SysApi::MountWrite(const HttpRequest&) const {
  return JsonErrors(400, {"Strongroom's mounts are fixed: transit and pki are always mounted and "
                      "cannot be added, moved, tuned or removed"});
}

}  // namespace strongroom::server::vault
