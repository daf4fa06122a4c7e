// VaultApi: every Vault-compatible HTTP route Strongroom serves, one engine per file:
//   transit.h  /v1/{mount}/...        keys, encrypt, decrypt, rewrap, ...
//   transit_import.h  /v1/{mount}/wrapping_key, keys/{key}/import[_version]  (BYOK)
//   token.h    /v1/auth/token/...     token lookup and renewal
//   sys.h      /v1/sys/...            health
// Shared JSON and reply shapes are in json.h. The server registers Routes() behind the
// access gate (server/access/routes.cc lists each route's operation and resource).
#pragma once

#include <functional>
#include <vector>

#include "kms/keyring.h"
#include "kms/transit.h"
#include "server/http/vault/json.h"
#include "server/http/vault/sys.h"
#include "server/http/vault/token.h"
#include "server/http/vault/transit.h"
#include "server/http/vault/transit_import.h"
#include "strongroom/v1/system.pb.h"

namespace strongroom::server::vault {

class VaultApi {
 public:
  // None of the pointers is owned; all must outlive the routes. Thread-safe.
  VaultApi(kms::Transit* transit, VaultTokenBackend* tokens, std::function<v1::Status()> status,
           kms::Keyring* keyring)
      : transit_(transit), token_(tokens), sys_(std::move(status)), transit_import_(keyring) {}

  // Every route of every engine.
  std::vector<VaultRoute> Routes() const;

 private:
  TransitApi transit_;
  TokenApi token_;
  SysApi sys_;
  TransitImportApi transit_import_;
};

}  // namespace strongroom::server::vault
