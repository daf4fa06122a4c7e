// VerifyJwsRequest: the checks every ACME POST passes before its handler acts (RFC 8555
// section 6.2-6.5), in this order: the body is a flattened JWS within kMaxJoseInput whose
// algorithm the server supports (else badSignatureAlgorithm) and whose protected header has
// exactly one of "jwk" and "kid" (malformed), the kind the endpoint wants (malformed); the
// header's "url" equals the request URL (unauthorized); a "kid" names an existing account
// (accountDoesNotExist) that is valid (unauthorized); the signature verifies under that key
// (unauthorized); the "nonce" is one this server issued, unexpired and unused, and is
// consumed (badNonce). The payload is then empty (POST-as-GET) or a JSON object within the
// JSON depth bound (malformed).
#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "server/acme/acme_store.h"
#include "server/acme/problem.h"
#include "server/jose/jose.h"

namespace strongroom::server::acme {

// Which key an endpoint accepts.
enum class KeyKind {
  kAccount,  // "kid": an existing account's URL
  kJwk,      // "jwk": an embedded key (newAccount)
  kEither,   // revokeCert: the account, or the certificate's own key
};

struct JwsRequest {
  bool post_as_get = false;         // the payload was empty
  google::protobuf::Struct payload;  // parsed, when not POST-as-GET
  std::string raw_payload;           // as signed (keyChange's inner JWS)
  std::optional<jose::PublicJwk> key;  // the key that signed
  std::optional<Stored<AccountRecord>> account;  // with kAccount, and kEither by kid
};

// `body` is the HTTP body; `url` the absolute URL of this request; `account_url_prefix` the
// URL accounts of this directory have before their id ("https://host/.../acme/account/").
// On failure returns the problem to answer with.
std::optional<Problem> VerifyJwsRequest(absl::string_view body, const std::string& url,
                                        const std::string& account_url_prefix, KeyKind kind,
                                        AcmeStore* store, absl::Time now, JwsRequest* out);

// The JSON object in `text` (bounded depth) into `out`; malformed naming `what` otherwise.
std::optional<Problem> ParsePayload(absl::string_view text, absl::string_view what,
                                    google::protobuf::Struct* out);

}  // namespace strongroom::server::acme
