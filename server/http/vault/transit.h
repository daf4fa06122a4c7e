// TransitApi: Vault's transit engine over HTTP, a translation layer between Vault's JSON
// shapes and status codes and the transit engine (strongroom.v1 transit messages). Every
// write route answers POST and PUT (Vault's Go client writes with PUT, others with POST).
//
// Keys (transit.cc):
//   GET            /v1/{mount}/keys/{key}           Vault's key read shape, public keys of
//                                                   asymmetric versions (+ "residency")
//   POST|PUT       /v1/{mount}/keys/{key}           create: type, derived,
//                                                   convergent_encryption, auto_rotate_period,
//                                                   residency "hsm"|"wrapped"; exportable and
//                                                   allow_plaintext_backup refused
//   DELETE         /v1/{mount}/keys/{key}           204; 400 unless deletion_allowed
//   LIST           /v1/{mount}/keys                 data.keys (also GET ?list=true): the
//                                                   keys the caller may read (listing.h);
//                                                   404 when there are none, as Vault
//   POST|PUT       /v1/{mount}/keys/{key}/config    min_decryption_version,
//                                                   min_encryption_version, deletion_allowed,
//                                                   auto_rotate_period
//   POST|PUT       /v1/{mount}/keys/{key}/rotate
//   POST|PUT       /v1/{mount}/keys/{key}/trim      min_available_version
//   GET            /v1/{mount}/export/{type}/{key}[/{version}], GET /v1/{mount}/backup/{key},
//   POST|PUT       /v1/{mount}/restore[/{key}]      always 400: keys never leave the HSM
//                                                   boundary
// Encryption (transit_crypt.cc): encrypt, decrypt, rewrap (single or batch_input, context,
// associated_data, key_version, partial_failure_response_code) and
// datakey/{plaintext|wrapped}/{key} (bits, context, key_version).
// Signing (transit_sign.cc): sign/{key}[/{hash}], verify/{key}[/{hash}] (signatures or
// HMACs), hmac/{key}[/{hash}], single or batch_input; signature_algorithm pss|pkcs1v15,
// marshaling_algorithm asn1|jws, prehashed.
// Utilities (transit_util.cc): random[/{source|bytes|format}[/{bytes|format}]] (at most
// 128 KiB; source "platform" = OpenSSL's DRBG, "seal" = the HSM's RNG, "all" = both XORed),
// hash[/{algorithm}] (sha2-*, sha3-*; input at most 1 MiB).
//
// Authentication, authorization and audit are the access gate's, which wraps every handler
// (server/access/routes.cc). Errors are Vault's {"errors":["..."]} with Vault's codes: bad
// input 400 (including, like Vault, an unknown key on the operations: "encryption key not
// found"), reading an unknown key 404 with an empty errors list, permission denied 403,
// sealed/unavailable 503, anything else 500. Batches answer per item in
// batch_results[i].error. Plaintext, keys and tokens never appear in an error.
//
// Differences from Vault, by design: no upsert (encrypting with an unknown key does not
// create it), keys are never exportable, no caller-chosen nonce, hashes for sign and hmac are
// SHA-2 256/384/512, key types are those of the engine. Creating an existing key answers 200
// with the key and a warning, as Vault does.
#pragma once

#include <utility>
#include <vector>

#include "hsm/hsm.h"
#include "kms/transit.h"
#include "server/http/server.h"
#include "server/http/vault/json.h"

namespace strongroom::server::vault {

class TransitApi {
 public:
  // Neither pointer is owned; both must outlive the routes. `hsm` is the RNG of
  // random/seal; `policies` decides which keys a listing shows its caller. Thread-safe.
  TransitApi(kms::Transit* transit, hsm::Hsm* hsm, PolicySource policies)
      : transit_(transit), hsm_(hsm), policies_(std::move(policies)) {}

  std::vector<VaultRoute> Routes() const;

  // Keys (transit.cc).
  HttpResponse ReadKey(const HttpRequest& request) const;
  HttpResponse CreateKey(const HttpRequest& request) const;
  HttpResponse DeleteKey(const HttpRequest& request) const;
  HttpResponse ListKeys(const HttpRequest& request) const;
  HttpResponse ConfigureKey(const HttpRequest& request) const;
  HttpResponse RotateKey(const HttpRequest& request) const;
  HttpResponse TrimKey(const HttpRequest& request) const;
  HttpResponse RefuseExport(const HttpRequest& request) const;
  // Encryption (transit_crypt.cc).
  HttpResponse Encrypt(const HttpRequest& request) const;
  HttpResponse Decrypt(const HttpRequest& request) const;
  HttpResponse Rewrap(const HttpRequest& request) const;
  HttpResponse DataKey(const HttpRequest& request) const;
  // Signing (transit_sign.cc).
  HttpResponse Sign(const HttpRequest& request) const;
  HttpResponse Verify(const HttpRequest& request) const;
  HttpResponse Hmac(const HttpRequest& request) const;
  // Utilities (transit_util.cc).
  HttpResponse Random(const HttpRequest& request) const;
  HttpResponse Hash(const HttpRequest& request) const;

 private:
  HttpResponse VerifyHmac(const HttpRequest& request, const google::protobuf::Struct& body) const;

  kms::Transit* const transit_;
  hsm::Hsm* const hsm_;
  const PolicySource policies_;
};

}  // namespace strongroom::server::vault
