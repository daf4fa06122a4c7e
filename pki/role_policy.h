// Role policy: strict checks of an issuance request against a strongroom.v1.Role.
//
// Names (PERMISSION_DENIED when well-formed but not allowed, INVALID_ARGUMENT when malformed;
// every message names the field, the value, the role and the rule):
// - The common name (if any) and every DNS SAN must be a host name (LDH labels, at most
//   253 characters; no wildcards) allowed by one of:
//   * allow_localhost: "localhost" and "localhost.localdomain";
//   * allow_bare_domains: the name equals an allowed_domains entry;
//   * allow_subdomains: the name ends in "." + an allowed_domains entry, at any depth
//     (like Vault: "a.b.example.com" is a subdomain of "example.com");
//   * allow_glob_domains: an allowed_domains entry containing '*' matches the name, where
//     '*' stands for one or more characters within a single label ("*.example.com" matches
//     "www.example.com" but not "a.b.example.com" or "example.com"). Without
//     allow_glob_domains a '*' in allowed_domains is literal and matches nothing.
//   Comparison is ASCII case-insensitive; a trailing '.' on the request is refused.
// - IP SANs need allow_ip_sans and must be textual IPv4 or IPv6 addresses.
// - URI SANs must match one of allowed_uri_sans, where '*' matches any run of characters
//   (including '/'), e.g. "spiffe://prod.example/ns/*/sa/*".
// - At least one name must be requested. A common name that is an IPv4 or IPv6 address is
//   checked as an IP SAN (allow_ip_sans).
// - Roles with server_flag never issue a certificate without a subjectAltName
//   (INVALID_ARGUMENT): TLS clients match host names against the SAN only (RFC 6125), so
//   such a certificate would be refused by all of them.
//
// Names carried: CertificateNames puts the common name in the SAN as well (see below), so
// callers run it before CheckNames and check what the certificate will carry.
//
// TTL: a zero requested ttl means role.ttl, or 30 days if that is unset; either way capped by
// role.max_ttl if set. A requested ttl above role.max_ttl is refused (INVALID_ARGUMENT), not
// silently cut. The granted ttl is then cut so the certificate never outlives the issuer
// (issuer_not_after); FAILED_PRECONDITION if the issuer has already expired.
//
// Stateless and thread-safe.
#pragma once

#include <openssl/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pki/name_request.h"
#include "strongroom/v1/pki.pb.h"

namespace strongroom::pki {

inline constexpr absl::Duration kDefaultLeafTtl = absl::Hours(24 * 30);
inline constexpr int kMinimumRsaBits = 2048;

// CertificateNames returns `requested` with its common name also in the SAN: as an IP SAN
// if it is an address, else as a DNS SAN; not added when the SAN already holds it (host
// names compared ASCII case-insensitively, addresses as addresses), nor when
// `exclude_cn_from_sans` (the request's) or role.exclude_cn_from_sans is set. Checks
// nothing: CheckNames then judges every name.
NameRequest CertificateNames(const v1::Role& role, NameRequest requested,
                             bool exclude_cn_from_sans);

// CheckNames checks every requested name against `role` (see above).
absl::Status CheckNames(const v1::Role& role, const NameRequest& names);

// GrantTtl returns the validity period to grant for `requested_ttl` (see above).
absl::StatusOr<absl::Duration> GrantTtl(const v1::Role& role, absl::Duration requested_ttl,
                                        absl::Time issuer_not_after, absl::Time now);

// CheckRequest runs CheckNames then GrantTtl; on success stores the ttl in *granted_ttl.
absl::Status CheckRequest(const v1::Role& role, const NameRequest& names,
                          absl::Duration requested_ttl, absl::Time issuer_not_after, absl::Time now,
                          absl::Duration* granted_ttl);

// CheckCsrKey accepts EC P-256 or P-384 keys, and RSA keys of at least
// max(2048, role.key_bits) and at most 8192 bits, whatever role.key_type (which governs only
// keys Strongroom generates). INVALID_ARGUMENT naming the key and the limit otherwise.
absl::Status CheckCsrKey(const v1::Role& role, EVP_PKEY* key);

// Syntax helpers, exposed for the builders and tests.
bool IsValidHostname(absl::string_view name);
bool IsValidIpAddress(absl::string_view ip);
// Whether `text` matches `pattern`, where '*' matches any run of characters, possibly
// empty. If `within_label`, both must have the same number of '.'-separated labels and
// '*' matches one or more characters inside one label.
bool GlobMatch(absl::string_view pattern, absl::string_view text, bool within_label);

}  // namespace strongroom::pki
