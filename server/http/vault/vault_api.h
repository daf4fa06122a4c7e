// VaultApi: every Vault-compatible HTTP route Strongroom serves, one engine per file:
//   transit.h  /v1/{mount}/...        keys, encrypt/decrypt/rewrap, datakey, sign/verify,
//                                     hmac, random, hash
//   transit_import.h  /v1/{mount}/wrapping_key, keys/{key}/import[_version]  (BYOK)
//   token.h    /v1/auth/token/...     token create, lookup, renew, revoke
//   jwt_login.h  /v1/auth/jwt/login, /v1/auth/kubernetes/login  (workload identity)
//   sys.h      /v1/sys/...            health, seal status, seal, unseal, mounts
//   pki.h      /v1/pki/...            Vault's PKI engine over pki::Ca
// Shared JSON and reply shapes are in json.h. The server registers Routes() behind the
// access gate (server/access/routes.cc lists each route's operation and resource).
#pragma once

#include <vector>

#include "hsm/hsm.h"
#include "kms/keyring.h"
#include "kms/transit.h"
#include "server/http/vault/json.h"
#include "server/http/vault/jwt_login.h"
#include "server/http/vault/pki.h"
#include "server/http/vault/sys.h"
#include "server/http/vault/token.h"
#include "server/http/vault/transit.h"
#include "server/http/vault/transit_import.h"

namespace strongroom::server::vault {

class VaultApi {
 public:
  // None of the pointers is owned; all must outlive the routes. Thread-safe.
  VaultApi(kms::Transit* transit, hsm::Hsm* hsm, kms::Keyring* keyring,
           access::TokenStore* tokens, PolicySource policies, SysBackend* system,
           pki::Ca* ca = nullptr, std::string pki_mount = "pki",
           access::jwt::JwtLogin* jwt_login = nullptr,
           std::shared_ptr<const pki::OcspResponder> ocsp = nullptr)
      : transit_(transit, hsm, policies),
        transit_import_(keyring),
        token_(tokens, policies),
        jwt_login_(jwt_login),
        sys_(system),
        pki_(ca, policies, std::move(pki_mount), std::move(ocsp)) {}

  // Every route of every engine.
  std::vector<VaultRoute> Routes() const;
  // The name of `route` in server/access/routes.cc: "METHOD pattern", PKI routes under their
  // default mount (PkiApi::TablePattern).
  std::string RouteName(const VaultRoute& route) const {
    return route.method + " " + pki_.TablePattern(route.pattern);
  }

 private:
  TransitApi transit_;
  TransitImportApi transit_import_;
  TokenApi token_;
  JwtLoginApi jwt_login_;
  SysApi sys_;
  PkiApi pki_;
};

}  // namespace strongroom::server::vault
