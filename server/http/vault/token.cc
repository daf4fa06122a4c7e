#include "server/http/vault/token.h"

#include <string>
#include <utility>

#include "absl/time/clock.h"

namespace strongroom::server::vault {
namespace {

using google::protobuf::Struct;

int64_t Seconds(const google::protobuf::Duration& d) { return d.seconds(); }

// Seconds left before `info` expires (its configured ttl when it carries no expiry).
int64_t RemainingSeconds(const v1::TokenInfo& info, absl::Time now) {
  if (!info.has_expire_time()) {
    return info.period().seconds() > 0 ? info.period().seconds() : info.ttl().seconds();
  }
  int64_t left = absl::ToInt64Seconds(TimeOf(info.expire_time()) - now);
  return left > 0 ? left : 0;
}

}  // namespace

std::vector<VaultRoute> TokenApi::Routes() const {
  auto bind = [this](HttpResponse (TokenApi::*method)(const HttpRequest&) const) {
    return [this, method](const HttpRequest& request) { return (this->*method)(request); };
  };
  return {
      {"GET", "/v1/auth/token/lookup-self", bind(&TokenApi::LookupSelf)},
      {"POST", "/v1/auth/token/renew-self", bind(&TokenApi::RenewSelf)},
      {"PUT", "/v1/auth/token/renew-self", bind(&TokenApi::RenewSelf)},
  };
}

HttpResponse TokenApi::LookupSelf(const HttpRequest& request) const {
  if (request.principal == nullptr) return Errors(403, {"permission denied"});
  absl::StatusOr<v1::TokenInfo> info = tokens_->LookupSelf(*request.principal);
  if (!info.ok()) return StatusError(info.status());
  const absl::Time now = absl::Now();
  const bool periodic = info->period().seconds() > 0;
  int64_t explicit_max_ttl = 0;
  if (!periodic && info->has_max_expire_time() && info->has_create_time()) {
    explicit_max_ttl =
        info->max_expire_time().seconds() - info->create_time().seconds();
  }
  Json data = Json::Object()
                  .Set("accessor", info->accessor())
                  .Set("creation_time", info->create_time().seconds())
                  .Set("creation_ttl", periodic ? Seconds(info->period()) : Seconds(info->ttl()))
                  .Set("display_name", info->display_name())
                  .Set("entity_id", "")
                  .Set("expire_time", info->has_expire_time()
                                          ? Json(Rfc3339(TimeOf(info->expire_time())))
                                          : Json())
                  .Set("explicit_max_ttl", explicit_max_ttl)
                  .Set("issue_time", Rfc3339(TimeOf(info->create_time())))
                  .Set("meta", Json())
                  .Set("num_uses", 0)
                  .Set("orphan", true)
                  .Set("path", "auth/token/create")
                  .Set("policies", Json::Strings({info->policies().begin(),
                                                   info->policies().end()}))
                  .Set("renewable", info->renewable())
                  .Set("ttl", RemainingSeconds(*info, now))
                  .Set("type", "service");
  if (periodic) data.Set("period", Seconds(info->period()));
  return Envelope(200, std::move(data));
}

HttpResponse TokenApi::RenewSelf(const HttpRequest& request) const {
  if (request.principal == nullptr) return Errors(403, {"permission denied"});
  Body parsed;
  if (absl::Status s = ParseBody(request.body, &parsed.json); !s.ok()) return StatusError(s);
  const Struct* body = &parsed.json;
  absl::StatusOr<absl::Duration> increment = GetDuration(*body, "increment", "increment");
  if (!increment.ok()) return StatusError(increment.status());
  absl::StatusOr<v1::TokenInfo> info = tokens_->RenewSelf(*request.principal, *increment);
  if (!info.ok()) return StatusError(info.status());
  std::vector<std::string> policies(info->policies().begin(), info->policies().end());
  Json auth = Json::Object()
                  .Set("accessor", info->accessor())
                  .Set("policies", Json::Strings(policies))
                  .Set("token_policies", Json::Strings(policies))
                  .Set("metadata", Json())
                  .Set("lease_duration", RemainingSeconds(*info, absl::Now()))
                  .Set("renewable", info->renewable())
                  .Set("entity_id", "")
                  .Set("token_type", "service")
                  .Set("orphan", true)
                  .Set("num_uses", 0);
  return Envelope(200, Json(), std::move(auth));
}


}  // namespace strongroom::server::vault
