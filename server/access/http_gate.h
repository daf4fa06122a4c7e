// GateHttp: an HTTP route's handler behind the Gate.
//
// Credentials: the token in X-Vault-Token (Vault clients) or "Authorization: Bearer", and
// the client certificate the TLS handshake received, if any (optional mTLS, verified by
// the gate as for gRPC).
// The resource is the route's template filled from the path parameters. A parameter the
// path does not have names an object Vault's API addresses in the body (pki/revoke's
// serial_number, root/generate's issuer_name): it is the body's top-level JSON string field
// of that name, or, written "{name:fallback}", `fallback` when the body has none (or an
// empty one). The handler finds such values in path_params, so that it acts on exactly the
// object the policy check and the audit record named. Refusals answer
// in Vault's shape, {"errors":["..."]}: 403 for missing, invalid or insufficient
// credentials (as Vault does), 503 when the audit log cannot record the request (the
// handler's response is then withheld).
#pragma once

#include <map>
#include <string>

#include "server/access/gate.h"
#include "server/http/server.h"

namespace strongroom::server::access {

HttpHandler GateHttp(Gate* gate, const Route& route, HttpHandler handler);

// The resource `route` names for `request` (as above); the values of parameters the path
// does not have are added to `from_body`, for the handler's path_params.
std::string HttpResource(const Route& route, const HttpRequest& request,
                         std::map<std::string, std::string>* from_body);

// {"errors":["<message>"]} with `status`.
HttpResponse JsonError(int status, absl::string_view message);

}  // namespace strongroom::server::access
