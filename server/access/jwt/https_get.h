// HttpsGet: one HTTPS GET of a small document (a JWK Set, an OIDC discovery document) for
// the JWT auth method's key sources.
//
// Only "https://host[:port]/path" URLs. The server's certificate must chain to `ca_file`
// (a PEM bundle; empty: the system's default CAs) and name the URL's host (DNS name or IP
// address). The whole exchange (resolve, connect, handshake, request, reply) is bounded by
// `timeout`, the reply body by `max_bytes` and its headers by 16 KiB; redirects are not
// followed. Errors: INVALID_ARGUMENT for a bad URL, UNAVAILABLE naming the step that failed
// (or the HTTP status that is not 200), FAILED_PRECONDITION for an unreadable ca_file.
// Blocks the calling thread; thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace strongroom::server::access::jwt {

absl::StatusOr<std::string> HttpsGet(absl::string_view url, const std::string& ca_file,
                                     absl::Duration timeout, size_t max_bytes);

}  // namespace strongroom::server::access::jwt
