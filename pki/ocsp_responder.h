// OCSP responder (RFC 6960) for the issuers of a Ca, over OpenSSL's OCSP_* API.
//
// A request is a DER OCSPRequest (the POST body, or the base64 of the GET form). Every
// single request whose CertID (SHA-1 or SHA-256 issuer name and key hashes) names the
// issuer is answered good (known serial, not revoked), revoked (with its revocation time,
// and its reason unless unspecified) or unknown (unknown serial, another issuer's CertID, another hash); a nonce
// extension is echoed. thisUpdate is now, nextUpdate now + validity. The BasicOCSPResponse
// is signed by the issuer's own (HSM) key, responder ID by key hash, no certificates.
// Errors are OCSP responses too (the HTTP status stays 200): malformedRequest for requests
// that do not parse, unauthorized for unknown issuers or issuers without a certificate,
// tryLater while sealed, internalError otherwise.
//
// Pre-signed responses (RFC 5019): a minimal request (one CertID, no nonce nor any other
// extension, no requestor name or signature: what RFC 5019 clients send) for a good
// certificate is answered with the response signed earlier for the same request, until half
// of that response's validity has passed; then it is signed afresh. Its status is read from
// storage again whenever Ca::current_trust_epoch() has moved since it was last read (any
// revocation or issuer change, here or reported by the change feed) or is not current
// (sealed, feed not fresh): a revoked certificate is answered revoked (freshly signed) from
// the moment the revocation is committed, and its pre-signed response is dropped. Requests
// with a nonce, for several certificates or with other extensions get a fresh signature.
// Responses past their refresh time are dropped as new ones are kept (and when counted); at
// most kMaxPresigned are kept, the oldest dropped first. They are held by the SHA-256 of the
// issuer name and the request's bytes (so a response is served for another request only
// with a SHA-256 collision): each costs its DER, a 96-byte table slot and a 48-byte queue
// item. The DER is kept in a pool of the responder's own, so these long-lived blocks do not
// pin pages of the general heap, where requests' short-lived buffers come and go (the pool
// keeps what the most responses held at once took, and reuses it as they are replaced).
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory_resource>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pki/ca.h"
#include "pki/signer.h"

namespace strongroom::pki {

// The status of `serial_hex` (lowercase hex, no leading zeros) under the responding issuer.
using OcspStatusLookup =
    std::function<absl::StatusOr<Ca::CertificateStatus>(const std::string& serial_hex)>;

// The DER OCSPResponse to DER `request` for the issuer `issuer` (key and certificate both
// required), at `now`. A lookup error gives tryLater (UNAVAILABLE) or internalError.
std::string BuildOcspResponse(absl::string_view request, const Signer& issuer,
                              const OcspStatusLookup& lookup, absl::Time now,
                              absl::Duration validity);

// A DER OCSPResponse with no body and `status` (OCSP_RESPONSE_STATUS_*, not SUCCESSFUL).
std::string OcspErrorResponse(int status);

// What OcspResponder answers: the DER OCSPResponse, and whether it was signed before the
// request (served from the pre-signed responses: nothing was signed for this request, so it
// may leave once its audit line is written; server/access/routes.h ReplyAfter).
struct OcspAnswer {
  std::string response;
  bool presigned = false;
  // For the audit record (AuditEvent::detail): "ocsp=presigned" or "ocsp=answered".
  const char* audit_detail() const { return presigned ? "ocsp=presigned" : "ocsp=answered"; }
};

class OcspResponder {
 public:
  static constexpr size_t kMaxPresigned = 100000;
  using Clock = std::function<absl::Time()>;

  // `ca` is not owned and outlives the responder. `clock` gives the time and `capacity`
  // bounds the pre-signed responses (tests).
  explicit OcspResponder(Ca* ca, absl::Duration validity = absl::Hours(1),
                         Clock clock = [] { return absl::Now(); },
                         size_t capacity = kMaxPresigned)
      : ca_(ca), validity_(validity), clock_(std::move(clock)), capacity_(capacity) {}

  // The DER OCSPResponse to DER `request` for issuer `issuer_name`.
  OcspAnswer Respond(absl::string_view issuer_name, absl::string_view request) const;
  // The GET form: `encoded` is the base64 (standard or URL-safe, padding optional) DER
  // request, already URL-decoded.
  OcspAnswer RespondToGet(absl::string_view issuer_name, absl::string_view encoded) const;
  // Pre-signed responses held now that are not yet due for refresh (at most the capacity,
  // kMaxPresigned by default), for the bounds metric.
  size_t presigned_count() const;

 private:
  // SHA-256 of the issuer name's length and bytes and the minimal request's DER.
  using Key = std::array<uint8_t, 32>;
  struct Presigned {
    std::pmr::string response;  // DER OCSPResponse, in pool_
    absl::Time refresh_at;
    // Ca::current_trust_epoch() read before the status was last read good; nullopt: none.
    std::optional<uint64_t> epoch;
  };

  // Drops the entries due for refresh at `now`, and the oldest beyond `keep`.
  void Sweep(absl::Time now, size_t keep) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Ca* const ca_;
  const absl::Duration validity_;
  const Clock clock_;
  const size_t capacity_;
  // By Key, each a good certificate's response; and their keys in the order they were
  // signed (so by refresh time), with that time.
  mutable absl::Mutex mu_;
  mutable std::pmr::unsynchronized_pool_resource pool_ ABSL_GUARDED_BY(mu_);
  mutable absl::flat_hash_map<Key, Presigned> presigned_ ABSL_GUARDED_BY(mu_);
  mutable std::deque<std::pair<absl::Time, Key>> order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strongroom::pki
