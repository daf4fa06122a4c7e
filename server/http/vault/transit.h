// TransitApi: Vault's transit engine over HTTP, a pure translation layer between Vault's
// JSON shapes and status codes and the transit engine (strongroom.v1 transit messages).
//
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
// Vault's own clients (the Go api package, hence the transit seal) write with PUT, others
// with POST, so every write route answers both.
//
// Authentication, authorization and audit are the access gate's, which wraps every handler.
// Errors are Vault's {"errors":["..."]} with Vault's codes: bad input 400 (including, like
// Vault, an unknown key on encrypt/decrypt/rewrap/rotate: "encryption key not found" / "key
// not found"), key read of an unknown key 404 with an empty errors list, permission denied
// 403, sealed/unavailable 503, anything else 500. Batches answer per item in
// batch_results[i].error; like Vault the status is 400 if any item failed on its input (500
// if only internal failures), unless the request sets partial_failure_response_code and at
// least one item succeeded. Plaintext never appears in an error.
//
// Differences from Vault, by design: no upsert (encrypting with an unknown key does not create
// it), keys are never exportable, no nonce input, key types are those of the engine. Creating
// an existing key answers 200 with the key and a warning, as Vault does.
#pragma once

#include <vector>

#include "kms/transit.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"

namespace strongroom::server::vault {

class TransitApi {
 public:
  // `transit` is not owned and must outlive the routes. Thread-safe.
  explicit TransitApi(kms::Transit* transit) : transit_(transit) {}

  std::vector<VaultRoute> Routes() const;

  HttpResponse Encrypt(const HttpRequest& request) const;
  HttpResponse Decrypt(const HttpRequest& request) const;
  HttpResponse Rewrap(const HttpRequest& request) const;
  HttpResponse ReadKey(const HttpRequest& request) const;
  HttpResponse CreateKey(const HttpRequest& request) const;
  HttpResponse RotateKey(const HttpRequest& request) const;

 private:
  kms::Transit* const transit_;
};

}  // namespace strongroom::server::vault
