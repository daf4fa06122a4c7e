#include "server/http/vault/sys.h"

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"

namespace strongroom::server::vault {

std::vector<VaultRoute> SysApi::Routes() const {
  return {{"GET", "/v1/sys/health", [this](const HttpRequest& r) { return Health(r); }}};
}

HttpResponse SysApi::Health(const HttpRequest& request) const {
  v1::Status status = status_();
  int code = status.sealed() ? 503 : 200;
  // Vault's overrides of the status code; the standby/replication ones never apply here.
  const char* param = status.sealed() ? "sealedcode" : "activecode";
  auto it = request.params.find(param);
  int override_code = 0;
  if (it != request.params.end() && absl::SimpleAtoi(it->second, &override_code) &&
      override_code >= 100 && override_code <= 599) {
    code = override_code;
  }
  Json body = Json::Object()
                  .Set("initialized", true)
                  .Set("sealed", status.sealed())
                  .Set("standby", false)
                  .Set("performance_standby", false)
                  .Set("replication_performance_mode", "disabled")
                  .Set("replication_dr_mode", "disabled")
                  .Set("server_time_utc", absl::ToUnixSeconds(absl::Now()))
                  .Set("version", status.version());
  HttpResponse response = JsonResponse(code, body);
  return response;
}

}  // namespace strongroom::server::vault
