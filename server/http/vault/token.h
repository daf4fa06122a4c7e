// TokenApi: Vault's token auth routes over the token store.
//
//   GET      /v1/auth/token/lookup-self
//   POST|PUT /v1/auth/token/renew-self      increment: seconds or "1h"
//
// Handlers read request.principal, which the access gate sets; the token itself is never
// echoed (no "id" / "client_token").
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/access/principal.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"
#include "strongroom/v1/auth.pb.h"

namespace strongroom::server::vault {

// What the token routes need; implemented over the token store by the server.
// TokenInfo.expire_time gives the remaining ttl (Vault's "ttl"); TokenInfo.ttl / period are
// the configured lifetime (Vault's "creation_ttl" / "period").
class VaultTokenBackend {
 public:
  virtual ~VaultTokenBackend() = default;
  virtual absl::StatusOr<v1::TokenInfo> LookupSelf(const access::Principal& caller) = 0;
  virtual absl::StatusOr<v1::TokenInfo> RenewSelf(const access::Principal& caller,
                                                  absl::Duration increment) = 0;
};

class TokenApi {
 public:
  // `tokens` is not owned and must outlive the routes. Thread-safe.
  explicit TokenApi(VaultTokenBackend* tokens) : tokens_(tokens) {}

  std::vector<VaultRoute> Routes() const;

  HttpResponse LookupSelf(const HttpRequest& request) const;
  HttpResponse RenewSelf(const HttpRequest& request) const;

 private:
  VaultTokenBackend* const tokens_;
};

}  // namespace strongroom::server::vault
