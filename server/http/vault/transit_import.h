// TransitImportApi: Vault's transit BYOK import over HTTP, a translation layer over the
// keyring's import (kms/keyring.h), which unwraps inside the HSM.
//
//   GET      /v1/{mount}/wrapping_key              data.public_key: the RSA-4096 wrapping
//                                                  key (PEM SubjectPublicKeyInfo), created in
//                                                  the HSM on first read
//   POST|PUT /v1/{mount}/keys/{key}/import         ciphertext (base64 of RSA-OAEP(ephemeral
//                                                  AES-256 key) || AES-KWP(target key)),
//                                                  type (aes256-gcm96 default), hash_function
//                                                  (SHA1..SHA512, SHA256 default),
//                                                  allow_rotation, derived, auto_rotate_period,
//                                                  and Strongroom's residency "wrapped"
//                                                  (default) | "hsm" -> 204
//   POST|PUT /v1/{mount}/keys/{key}/import_version ciphertext, hash_function -> 204
//
// Errors are Vault's {"errors":[...]}: 400 for input that does not unwrap, is not a key of
// the type, or asks for what Strongroom never does (exportable, plaintext backup, a public
// key alone, updating a given version); 404 for import_version of an unknown key; 503
// while sealed. Messages name the field and the stage that failed, never key bytes.
// Differences from Vault: the OAEP hash must be one the HSM implements (SoftHSM 2.6: SHA1
// only; others answer 400 naming hash_function), and HSM residency takes aes256-gcm only.
// Authentication, authorization and audit are the access gate's. Thread-safe.
#pragma once

#include <vector>

#include "kms/keyring.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"

namespace strongroom::server::vault {

class TransitImportApi {
 public:
  // `keyring` is not owned and must outlive the routes.
  explicit TransitImportApi(kms::Keyring* keyring) : keyring_(keyring) {}

  std::vector<VaultRoute> Routes() const;

  HttpResponse WrappingKey(const HttpRequest& request) const;
  HttpResponse Import(const HttpRequest& request) const;
  HttpResponse ImportVersion(const HttpRequest& request) const;

 private:
  kms::Keyring* const keyring_;
};

}  // namespace strongroom::server::vault
