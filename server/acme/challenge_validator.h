// ChallengeValidator checks one ACME challenge against the network: http-01 (RFC 8555 section
// 8.3), tls-alpn-01 (RFC 8737, with IP identifiers per RFC 8738) and dns-01 (RFC 8555 section
// 8.4). The validation queue (validation_queue.h) calls Validate() once per challenge the
// client asks to be checked and turns the outcome into the challenge's and authorization's
// status and error.
//
// Every probe is hostile input: the whole validation (resolve, connect, TLS, request, every
// redirect, last byte) is bounded by options.timeout; an http-01 body is bounded by
// options.max_body, DNS answers by a fixed size. A failed validation returns !valid with an
// RFC 8555 problem type suffix and a detail that names what was wrong without quoting large
// peer data. Validate never throws and never crashes on peer input.
//
// Thread-safe: Validate is const and keeps no state between calls; it blocks the calling
// thread for at most options.timeout (plus scheduling slack).
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace strongroom::server::acme {

enum class ChallengeType { kHttp01, kTlsAlpn01, kDns01 };

struct ValidationRequest {
  ChallengeType type = ChallengeType::kHttp01;
  std::string identifier;         // DNS name or IP address literal, as in the order
  bool identifier_is_ip = false;
  std::string token;              // the challenge token (base64url)
  std::string key_authorization;  // token "." account JWK thumbprint
};

struct ValidationOutcome {
  bool valid = false;
  // RFC 8555 section 6.7 suffix when !valid ("urn:ietf:params:acme:error:" + this):
  // "connection", "incorrectResponse", "dns", "tls", "unauthorized", "malformed".
  std::string problem_type;
  std::string detail;  // for the operator and the client; never quotes large bodies
};

struct ValidatorOptions {
  absl::Duration timeout = absl::Seconds(10);  // whole validation, connect to last byte
  size_t max_body = 8 << 10;                   // http-01 response body bound
  int http01_port = 80;
  int tls_alpn01_port = 443;
  std::string dns_resolver;  // "host:port"; "" -> first nameserver of /etc/resolv.conf
  // Names whose validation goes to a fixed address instead of DNS (tests, closed networks):
  // identifier or "*" -> "ip:port" (the port overrides the challenge's default port).
  std::map<std::string, std::string> overrides;
};

// CheckValidatorOptions refuses options Validate could not use (for the configuration
// loader): a timeout that is not positive, ports outside 1..65535, a dns_resolver or an
// override value that is not an IP literal with an optional port ("ip", "ip:port",
// "[v6]:port"), an override key that is neither "*" nor a host name or IP literal.
absl::Status CheckValidatorOptions(const ValidatorOptions& options);

class ChallengeValidator {
 public:
  explicit ChallengeValidator(ValidatorOptions options);

  // Validate checks `request` against the network. Blocking, bounded by options.timeout.
  // A request that cannot be valid (identifier or token not well formed, key authorization
  // not starting with the token, dns-01 for an IP address, a wildcard name for http-01 or
  // tls-alpn-01) fails with "malformed" before any network traffic; a wildcard name
  // ("*.example.com") is validated by dns-01 as its base name. Names without an override
  // are resolved (A, then AAAA) by the same resolver dns-01 asks.
  ValidationOutcome Validate(const ValidationRequest& request) const;

 private:
  ValidatorOptions options_;
};

}  // namespace strongroom::server::acme
