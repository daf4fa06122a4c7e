#include "server/http/vault/vault_api.h"

namespace strongroom::server::vault {

std::vector<VaultRoute> VaultApi::Routes() const {
  std::vector<VaultRoute> routes;
  for (std::vector<VaultRoute> engine : {transit_.Routes(), token_.Routes(), sys_.Routes(),
                                          transit_import_.Routes()}) {
    for (VaultRoute& route : engine) routes.push_back(std::move(route));
  }
  return routes;
}

}  // namespace strongroom::server::vault
