// GateHttp: an HTTP route's handler behind the Gate.
//
// Credentials: the token in X-Vault-Token (Vault clients) or "Authorization: Bearer", and
// the client certificate the TLS handshake received, if any (optional mTLS, verified by
// the gate as for gRPC).
// The resource is the route's template filled from the path parameters. Refusals answer
// in Vault's shape, {"errors":["..."]}: 403 for missing, invalid or insufficient
// credentials (as Vault does), 503 when the audit log cannot record the request (the
// handler's response is then withheld).
#pragma once

#include "server/access/gate.h"
#include "server/http/server.h"

namespace strongroom::server::access {

HttpHandler GateHttp(Gate* gate, const Route& route, HttpHandler handler);

// GateHttp for a listener that takes no credentials (the plain-HTTP one for public PKI
// documents): the token headers and any client certificate are never read, so the
// request is admitted (and audited) as anonymous; a route that is not public is refused.
HttpHandler GateHttpWithoutCredentials(Gate* gate, const Route& route, HttpHandler handler);

// {"errors":["<message>"]} with `status`.
HttpResponse JsonError(int status, absl::string_view message);

}  // namespace strongroom::server::access
