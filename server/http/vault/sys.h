// SysApi: Vault's sys routes that map onto Strongroom.
//
//   GET      /v1/sys/health                 200 unsealed, 503 sealed (sealedcode/activecode
//                                           query parameters honoured, others ignored)
#pragma once

#include <functional>
#include <vector>

#include "server/http/server.h"
#include "server/http/vault/json.h"
#include "strongroom/v1/system.pb.h"

namespace strongroom::server::vault {

class SysApi {
 public:
  // `status` reports the system status (sealed, version); called once per request.
  explicit SysApi(std::function<v1::Status()> status) : status_(std::move(status)) {}

  std::vector<VaultRoute> Routes() const;

  HttpResponse Health(const HttpRequest& request) const;

 private:
  const std::function<v1::Status()> status_;
};

}  // namespace strongroom::server::vault
