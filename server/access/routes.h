// The route table: every gRPC method and HTTP route, with the operation it performs and
// the resource it acts on. The access gate looks each request up here; routes_test
// proves that every method of every served service and every HTTP route is listed.
//
// Route names: gRPC methods by full name ("/strongroom.v1.Transit/Encrypt"), HTTP routes
// as "METHOD pattern" in HttpRouter syntax ("POST /v1/{mount}/encrypt/{key}").
// Resource templates name resources as policies see them ("transit/keys/{key_name}");
// "{x}" is filled from the request field x (gRPC) or the path parameter x (HTTP; or, for
// routes that name their object in the body, the value the route's resource params read
// from it: see access::GateHttp).
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/access/operations.h"
#include "server/audit/audit_log.h"

namespace strongroom::server::access {

// When a route's reply may leave, by its audit line (audit_log.h, Durability).
enum class ReplyAfter {
  kDurable,  // once the line is durable (fdatasync'd): every route not named below
  // Once it is written to the log file: public routes that sign nothing at request time,
  // touch no key, token or state and reveal nothing secret (health, seal status, the public
  // CA and CRL documents).
  kWritten,
  // Written if the handler answered with a document signed before the request (a pre-signed
  // OCSP response: HttpResponse::presigned), durable if it signed one for it (OCSP).
  kWrittenIfPresigned,
};

struct Route {
  absl::string_view name;
  Operation operation;
  absl::string_view resource;
  ReplyAfter reply_after = ReplyAfter::kDurable;
  // The route's handler reads memory only: it never waits on the HSM, storage, the network
  // or another thread. A public HTTP route so marked runs on the HTTP server's I/O thread
  // instead of a worker (access::RunsOf, http_gate.h).
  bool never_blocks = false;
};

// For the route table.
inline constexpr ReplyAfter kWhenWritten = ReplyAfter::kWritten;
inline constexpr ReplyAfter kWhenPresigned = ReplyAfter::kWrittenIfPresigned;
inline constexpr bool kNeverBlocks = true;

// The level the audit line of a `route` request reaches before its reply leaves; `presigned`:
// the handler's answer was signed before the request.
audit::Durability ReplyDurability(const Route& route, bool presigned);

// The route of a gRPC call to a method no service has: answered UNIMPLEMENTED, and
// audited like every call. Its resource is "grpc" + the method's full name.
inline constexpr absl::string_view kUnknownGrpcMethod = "gRPC unknown method";

// The route of an HTTP request no route takes (404 or 405 from the router), audited like
// every request. Its resource is "http" + the path.
inline constexpr absl::string_view kUnroutedHttp = "HTTP unrouted request";

// GET /metrics served to anyone, when http.metrics_unauthenticated says so; otherwise
// "GET /metrics" needs `read` on "sys/metrics".
inline constexpr absl::string_view kOpenMetrics = "GET /metrics (http.metrics_unauthenticated)";

// The route called `name`; nullptr if there is none.
const Route* FindRoute(absl::string_view name);
absl::Span<const Route> AllRoutes();

// `resource` in the form the engines act on, so that policies (and the audit log) see the
// object the engine will touch however the request spells it: the gate applies it to every
// request's resource before the policy check. "pki/certs/<serial>" gets the canonical serial
// (pki/serial.h: any case, ':' or '-' between bytes, leading zeros); a serial the engine
// would refuse stays as it is (and is refused there). Every other resource names its object
// by the exact string its engine uses (key, role and issuer names are case-sensitive and
// strictly checked, token accessors must be lowercase hex), so it is returned unchanged.
std::string CanonicalResource(std::string resource);

// `resource_template` with each "{x}" replaced by lookup(x).
template <typename Lookup>
std::string ExpandResource(absl::string_view resource_template, const Lookup& lookup) {
  std::string out;
  out.reserve(resource_template.size() + 32);
  size_t pos = 0;
  while (pos < resource_template.size()) {
    size_t open = resource_template.find('{', pos);
    if (open == absl::string_view::npos) break;
    size_t close = resource_template.find('}', open);
    if (close == absl::string_view::npos) break;
    out.append(resource_template.data() + pos, open - pos);
    out += lookup(resource_template.substr(open + 1, close - open - 1));
    pos = close + 1;
  }
  out.append(resource_template.data() + pos, resource_template.size() - pos);
  return out;
}

}  // namespace strongroom::server::access
