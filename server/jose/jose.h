// JOSE for the edge (RFC 7515 JWS, RFC 7517 JWK, RFC 7518 algorithms, RFC 7638 thumbprints,
// RFC 8037 Ed25519): the one place that turns untrusted JSON Web Keys and signatures into
// OpenSSL verifications, shared by ACME (flattened JWS from account keys) and the JWT/OIDC
// auth method (compact JWS from platform issuers). Public keys only: a JWK holding private
// members is refused. Verification only: this code never signs.
//
// Algorithms: RS256/384/512, PS256/384/512, ES256/ES384/ES512 (raw R||S signatures of the
// curve's size, RFC 7518 3.4), EdDSA (Ed25519). "none", HS* and anything else are refused by
// name, before any key is looked at. A key accepts only the algorithms of its type and size
// (ES256 needs P-256, ...); RSA keys must have 2048 to 8192 bit moduli.
//
// Every input is bounded before it is parsed (kMaxJoseInput); errors are INVALID_ARGUMENT
// naming the problem without quoting the input. Thread-safe: PublicJwk is immutable.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::server::jose {

// The largest JWS, JWK or JWKS document accepted (bytes of JSON or compact text).
constexpr size_t kMaxJoseInput = 64 << 10;

// base64url without padding (RFC 7515 section 2). Decoding refuses padding, '+', '/',
// whitespace and non-canonical trailing bits.
std::string Base64UrlEncode(absl::string_view data);
bool Base64UrlDecode(absl::string_view in, std::string* out);

enum class Algorithm { kRs256, kRs384, kRs512, kPs256, kPs384, kPs512, kEs256, kEs384, kEs512, kEdDsa };

// "RS256" ... "EdDSA" (case-sensitive, as RFC 7518 writes them). INVALID_ARGUMENT for
// "none", every HS* and unknown names, saying which.
absl::StatusOr<Algorithm> ParseAlgorithm(absl::string_view name);
absl::string_view AlgorithmName(Algorithm alg);

// A public key from a JWK (kty RSA, EC with P-256/P-384/P-521, OKP with Ed25519), from PEM
// SubjectPublicKeyInfo, or from an OpenSSL key's public half.
class PublicJwk {
 public:
  static absl::StatusOr<PublicJwk> FromStruct(const google::protobuf::Struct& jwk);
  static absl::StatusOr<PublicJwk> FromJson(absl::string_view json);
  static absl::StatusOr<PublicJwk> FromPem(absl::string_view pem);
  static absl::StatusOr<PublicJwk> FromEvpPkey(EVP_PKEY* key);

  // RFC 7638 thumbprint (SHA-256 of the required members in canonical JSON), base64url.
  const std::string& thumbprint() const { return thumbprint_; }
  // The required public members in canonical JSON (RFC 7638 form): to store an account key
  // and to rebuild it with FromJson.
  const std::string& canonical_json() const { return canonical_json_; }
  // The JWK's "kid", "" if it had none (and always "" from PEM or EVP_PKEY).
  const std::string& kid() const { return kid_; }
  // The JWK's "alg", "" if it had none; Accepts() refuses any other algorithm when set.
  const std::string& alg() const { return alg_; }
  EVP_PKEY* pkey() const { return pkey_.get(); }

  // Whether `alg` fits this key's type and size (and its "alg" member, if any).
  bool Accepts(Algorithm alg) const;
  // Whether `signature` is `alg`'s signature of `signing_input` under this key. False for
  // an algorithm the key does not accept and for every malformed signature; never throws.
  bool Verify(Algorithm alg, absl::string_view signing_input, absl::string_view signature) const;
  // Whether both hold the same public key (compares thumbprints).
  bool SameKey(const PublicJwk& other) const { return thumbprint_ == other.thumbprint_; }

 private:
  PublicJwk() = default;
  int kind_ = 0;                // RSA, EC or Ed25519 (jose.cc)
  size_t coordinate_size_ = 0;  // EC: bytes per coordinate, which names the curve
  std::shared_ptr<EVP_PKEY> pkey_;
  std::string thumbprint_;
  std::string canonical_json_;
  std::string kid_;
  std::string alg_;
};

// A JWK Set {"keys":[...]} (RFC 7517 section 5). Members with an unsupported "kty" or
// "crv", or with "use" other than "sig", are skipped as the RFC allows; a supported member
// that is malformed (or private) fails the whole set. At most 100 keys.
absl::StatusOr<std::vector<PublicJwk>> ParseJwks(absl::string_view json);

// A JWS taken apart, signature not yet checked: header and payload decoded, the bytes the
// signature covers (ASCII(BASE64URL(header) "." BASE64URL(payload))) and the signature.
struct Jws {
  google::protobuf::Struct header;   // the protected header, parsed
  std::string payload;               // decoded; empty for an ACME POST-as-GET
  bool payload_empty = false;        // the encoded payload was "" (ACME POST-as-GET)
  std::string signing_input;
  std::string signature;             // decoded
  Algorithm alg = Algorithm::kEs256; // from the header's "alg", already refused if unusable
};

// Compact serialization (a JWT: three base64url parts joined by '.'). INVALID_ARGUMENT if
// over kMaxJoseInput, not three parts, not base64url, a header that is not a JSON object,
// no usable "alg", or a "crit" header.
absl::StatusOr<Jws> ParseCompact(absl::string_view token);

// Flattened JSON serialization (RFC 7515 7.2.2, as ACME sends it): an object with exactly
// "protected", "payload" and "signature" strings (an unprotected "header" is refused, as RFC
// 8555 6.2 requires). Same refusals as ParseCompact.
absl::StatusOr<Jws> ParseFlattened(absl::string_view json);

}  // namespace strongroom::server::jose
