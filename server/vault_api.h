// VaultApi: the Vault-compatible transit HTTP API, a pure translation layer between Vault's
// JSON shapes and status codes and the transit engine (strongroom.v1 transit messages).
//
// Serves what Vault/OpenBao `seal "transit"` and ordinary transit clients call:
//   POST|PUT /v1/{mount}/encrypt/{key}      plaintext/context/associated_data/key_version or
//                                           batch_input -> data.ciphertext, data.key_version /
//                                           data.batch_results
//   POST|PUT /v1/{mount}/decrypt/{key}      ciphertext/context/associated_data or batch_input
//                                           -> data.plaintext / data.batch_results
//   POST|PUT /v1/{mount}/rewrap/{key}       ciphertext/context/key_version or batch_input
//   GET      /v1/{mount}/keys/{key}         Vault's key read shape (+ "residency")
//   POST|PUT /v1/{mount}/keys/{key}         create: type, derived, convergent_encryption,
//                                           auto_rotate_period, and Strongroom's "residency":
//                                           "hsm" | "wrapped" (default)
//   POST|PUT /v1/{mount}/keys/{key}/rotate
//   GET      /v1/sys/health                 200 unsealed, 503 sealed (sealedcode/activecode
//                                           query parameters honoured, others ignored)
//   GET      /v1/auth/token/lookup-self
//   POST|PUT /v1/auth/token/renew-self      increment: seconds or "1h"
// Vault's own clients (the Go api package, hence the transit seal) write with PUT, others
// with POST, so every write route answers both.
//
// Authentication, authorization and audit are the access gate's, which wraps every handler;
// handlers only read request.principal (the token routes need it). Errors are Vault's
// {"errors":["..."]} with Vault's codes: bad input 400 (including, like Vault, an unknown key
// on encrypt/decrypt/rewrap/rotate: "encryption key not found" / "key not found"), key read of
// an unknown key 404 with an empty errors list, permission denied 403, sealed/unavailable 503,
// anything else 500. Batches answer per item in batch_results[i].error; like Vault the status
// is 400 if any item failed on its input (500 if only internal failures), unless the request
// sets partial_failure_response_code and at least one item succeeded. Plaintext never appears
// in an error; the token itself is never echoed (no "id" / "client_token").
//
// Differences from Vault, by design: no upsert (encrypting with an unknown key does not create
// it), keys are never exportable, no nonce input, key types are those of the engine. Creating
// an existing key answers 200 with the key and a warning, as Vault does.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kms/transit.h"
#include "server/access/principal.h"
#include "server/http_server.h"
#include "strongroom/v1/auth.pb.h"
#include "strongroom/v1/system.pb.h"

namespace strongroom::server {

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

struct VaultRoute {
  std::string method;
  std::string pattern;
  HttpHandler handler;
};

class VaultApi {
 public:
  // `status` reports the system status (sealed, version); called once per health request.
  // None of the pointers is owned; all must outlive the routes. Thread-safe.
  VaultApi(kms::Transit* transit, VaultTokenBackend* tokens, std::function<v1::Status()> status);

  // Every route, patterns in HttpRouter syntax, e.g. {"POST", "/v1/{mount}/encrypt/{key}", ...}.
  std::vector<VaultRoute> Routes() const;

  HttpResponse Encrypt(const HttpRequest& request) const;
  HttpResponse Decrypt(const HttpRequest& request) const;
  HttpResponse Rewrap(const HttpRequest& request) const;
  HttpResponse ReadKey(const HttpRequest& request) const;
  HttpResponse CreateKey(const HttpRequest& request) const;
  HttpResponse RotateKey(const HttpRequest& request) const;
  HttpResponse Health(const HttpRequest& request) const;
  HttpResponse LookupSelf(const HttpRequest& request) const;
  HttpResponse RenewSelf(const HttpRequest& request) const;

 private:
  kms::Transit* const transit_;
  VaultTokenBackend* const tokens_;
  const std::function<v1::Status()> status_;
};

}  // namespace strongroom::server
