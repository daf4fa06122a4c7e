// GateHttp: an HTTP route's handler behind the Gate.
//
// Credentials: the token in X-Vault-Token (Vault clients) or "Authorization: Bearer", and
// the client certificate the TLS handshake received, if any (optional mTLS, verified by
// the gate as for gRPC).
// The resource is the route's template filled from the path parameters and, for routes
// that name their object in the body (Vault's auth/token/lookup-accessor, pki/revoke's
// serial_number), from `params`; the handler finds those values in path_params too, so it
// acts on exactly the object the policy check and the audit record named. Refusals answer
// in Vault's shape, {"errors":["..."]}: 403 for missing, invalid or insufficient
// credentials (as Vault does), 503 when the audit log cannot record the request (the
// handler's response is then withheld): no response leaves before its audit record is
// durable.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "server/access/gate.h"
#include "server/http/server.h"

namespace strongroom::server::access {

// Values for the route's resource template that are not path parameters, read from the
// request. It runs before authentication, so it must be cheap and bounded. On error the
// values are left empty and a caller admitted on the resource so formed gets a 400 with the
// error's message (never the handler); others get their refusal, as ever.
using HttpResourceParams =
    std::function<absl::StatusOr<std::map<std::string, std::string>>(const HttpRequest&)>;

// The gated handler for HttpServer::HandleAsync: `handler` runs on the calling (worker)
// thread, the audit record is written asynchronously (group-committed with every other
// request in flight), and the reply goes out once it is durable. The request is the
// gate's own: the principal and resource values are set in it, never in a copy.
AsyncHttpHandler GateHttpAsync(Gate* gate, const Route& route, HttpHandler handler,
                               HttpResourceParams params = nullptr);

// GateHttpAsync for a listener that takes no credentials (the plain-HTTP one for public
// PKI documents): the token headers and any client certificate are never read, so the
// request is admitted (and audited) as anonymous; a route that is not public is refused.
AsyncHttpHandler GateHttpWithoutCredentialsAsync(Gate* gate, const Route& route,
                                                 HttpHandler handler);

// Where an HttpServer runs the gated handler of `route`: inline on its I/O thread
// (HandlerRuns::kInline) only if the route never blocks (routes.h), is public, so that the
// gate examines no credentials (no token store, no HSM), and takes no resource params;
// otherwise on a worker.
HandlerRuns RunsOf(const Route& route, const HttpResourceParams& params = nullptr);

// The synchronous forms, for HttpServer::Handle and direct calls: they wait for the audit
// record on the calling thread, and copy the request (a const one cannot carry the
// principal). Servers register the asynchronous forms.
HttpHandler GateHttp(Gate* gate, const Route& route, HttpHandler handler,
                     HttpResourceParams params = nullptr);
HttpHandler GateHttpWithoutCredentials(Gate* gate, const Route& route, HttpHandler handler);

}  // namespace strongroom::server::access
