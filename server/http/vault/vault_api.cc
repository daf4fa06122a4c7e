#include "server/http/vault/vault_api.h"

namespace strongroom::server::vault {

std::vector<VaultRoute> VaultApi::Routes() const {
  std::vector<VaultRoute> routes;
  // PKI first: its literal /v1/pki/... patterns must win over "/v1/{mount}/..." ones on a
  // router that tries patterns in registration order.
  for (std::vector<VaultRoute> engine : {pki_.Routes(), transit_.Routes(),
                                         transit_import_.Routes(), token_.Routes(),
                                         jwt_login_.Routes(), sys_.Routes()}) {
    for (VaultRoute& route : engine) routes.push_back(std::move(route));
  }
  return routes;
}

}  // namespace strongroom::server::vault
