// HttpRequest, HttpResponse, HttpHandler and HttpRouter: what an HTTP route's handler sees
// and returns, and the dispatch by method and path that HttpServer (server.h) runs for
// every request it parses.
//
// Patterns: exact paths, "{name}" segments and a last "{name...}" segment. When several
// patterns match a path for the request's method, the most specific wins: segments are
// compared left to right and a literal beats "{name}", which beats "{name...}"; equally
// specific patterns win in registration order. Any method string is routable ("LIST" too).
// Unrouted requests get 404, or 405 with Allow when the path is routed for other methods,
// as Vault's JSON errors (JsonErrors below) that echo nothing of the request.
//
// A handler is synchronous (HttpHandler: returns the response) or asynchronous
// (AsyncHttpHandler: owns the request and completes by calling its reply once, from any
// thread, e.g. once the audit record of the request is durable), so that requests waiting
// on something other than their own work hold no thread.
//
// Where a handler runs (HandlerRuns): on the server's worker pool (the default: it may
// block), or inline on the I/O thread that read the request, for handlers that never block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace strongroom::server {

namespace access {
struct Principal;
}

struct HttpRequest {
  std::string method;
  std::string path;  // percent-decoded, without the query
  std::multimap<std::string, std::string> params;  // query parameters
  // Request headers, names lower-cased.
  std::multimap<std::string, std::string> headers;
  std::string peer;  // "ipv4:127.0.0.1:40112" / "ipv6:[::1]:40112", as gRPC names peers
  // The client certificate chain (leaf first, PEM) the TLS handshake received, unverified;
  // empty if the client sent none. The access gate decides whether to trust it.
  std::string client_cert_chain_pem;
  // Set by the access gate before a protected route's handler runs.
  const access::Principal* principal = nullptr;
  // Values of the route pattern's "{name}" segments (URL-decoded, as the path).
  std::map<std::string, std::string> path_params;
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra response headers (e.g. Allow, Cache-Control, ETag), sent as given. Content-Type,
  // Content-Length and the framing headers are the server's and must not appear here.
  std::vector<std::pair<std::string, std::string>> headers;
  // For the audit record: the key version the request used, when it used one.
  uint32_t key_version = 0;
  // For the audit record of a login route: who the login proved the caller to be.
  std::string audit_identity;
  // For the audit record: what the request acted on beyond its route's resource (an ACME
  // request's account, order and names), "" if nothing. Never secret.
  std::string audit_detail;
  // The body was signed before this request (a pre-signed OCSP response), so on a route that
  // allows it (access::ReplyAfter::kWrittenIfPresigned) the reply need not wait for durable.
  bool presigned = false;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Takes an asynchronous handler's response: called exactly once, from any thread, quickly
// (it must not wait).
using HttpReply = absl::AnyInvocable<void(HttpResponse)>;
// The request is the handler's own (moved to it: it may fill principal and path_params in
// place); it calls `reply` exactly once, during the call or later.
using AsyncHttpHandler = std::function<void(HttpRequest request, HttpReply reply)>;

// Where HttpServer runs a route's handler. kWorker: on its worker pool, so the handler may
// block (HSM, storage, waiting for its audit record). kInline: on the I/O thread that read
// the request, saving a hand-off per request; only for a handler that never blocks (no HSM,
// storage or network call, no lock held by anything that blocks, no waiting for another
// thread; it replies later through `reply`), since a blocked I/O thread stalls every
// connection it serves. The route table says which routes those are (access::Route).
enum class HandlerRuns { kWorker, kInline };

// HttpStatusOf: the HTTP status of a failed call, the one map for every HTTP route (Vault's
// conventions): 400 for bad input or state (INVALID_ARGUMENT, FAILED_PRECONDITION,
// OUT_OF_RANGE, ALREADY_EXISTS, RESOURCE_EXHAUSTED), 403 for UNAUTHENTICATED and
// PERMISSION_DENIED, 404 for NOT_FOUND, 503 for UNAVAILABLE, else 500.
int HttpStatusOf(absl::StatusCode code);

// Vault's error reply, the one builder of an error body on the HTTP side (routes, the access
// gate, the router's 404/405 and the server's own refusals): `status`, application/json,
// {"errors":["<message>", ...]} and a newline; the messages are escaped as JSON strings.
HttpResponse JsonErrors(int status, const std::vector<std::string>& errors);
HttpResponse JsonError(int status, absl::string_view message);

// HttpRouter: dispatch by method and path (exact, or a pattern; see Handle). Not
// thread-safe while routes are added; Route() is const and may run concurrently after.
class HttpRouter {
 public:
  // The route label of requests no route takes (metrics).
  static constexpr absl::string_view kUnrouted = "unrouted";

  // Routes `method` (any token: "GET", "POST", "LIST", ...) requests for `path` to
  // `handler`; a second handler for the same method and path replaces the first.
  // `path` is exact unless it has segments "{name}" (matching one non-empty segment) or a
  // last segment "{name...}" (matching the non-empty rest of the path, '/' included); the
  // matched values are in HttpRequest::path_params. Precedence: see the file comment.
  void Handle(const std::string& method, const std::string& path, HttpHandler handler);
  // The same for an asynchronous handler, run where `runs` says.
  void HandleAsync(const std::string& method, const std::string& path, AsyncHttpHandler handler,
                   HandlerRuns runs = HandlerRuns::kWorker);
  // Requests no route takes go to `handler` with the router's answer (404, or 405 naming
  // the allowed methods) and path_params {"path": the path, cut at 256 bytes}; it returns
  // what to send. Without one, that answer goes out as it is. The server also sends the
  // requests it refuses itself (malformed, too large, ...) here, with its refusal.
  using UnroutedHandler = std::function<HttpResponse(const HttpRequest&, HttpResponse answer)>;
  void HandleUnrouted(UnroutedHandler handler) { unrouted_ = std::move(handler); }
  // The handler's response; for an unrouted request, the 404/405 answer (through the
  // unrouted handler when there is one). If `route` is given it receives the pattern that
  // took the request, or kUnrouted.
  HttpResponse Route(HttpRequest request, std::string* route = nullptr) const;
  // Route() in two steps that do not wait for an asynchronous handler, so that the caller
  // can choose the thread of the second: Find matches the request (setting its path_params)
  // without running anything, and Run runs what it found; `done` gets the pattern that took
  // the request (or kUnrouted; the router's own string) and the response, on the thread the
  // handler replies from. An unrouted request runs the unrouted handler, which may block.
  using Done = absl::AnyInvocable<void(absl::string_view route, HttpResponse response)>;
  struct Found {
    absl::string_view route;  // the pattern (the router's own string), or kUnrouted
    const AsyncHttpHandler* handler = nullptr;  // null: unrouted
    HandlerRuns runs = HandlerRuns::kWorker;
    HttpResponse answer;  // unrouted: the 404 or 405
  };
  Found Find(HttpRequest& request) const;
  void Run(Found found, HttpRequest request, Done done) const;
  // `answer` (a refusal the server decided on) through the unrouted handler.
  HttpResponse Refuse(HttpRequest request, HttpResponse answer) const;

 private:
  struct Entry {
    AsyncHttpHandler handler;
    HandlerRuns runs;
  };
  struct Pattern {
    std::string pattern;
    std::string method;
    Entry entry;
    std::vector<std::string> segments;  // pattern split on '/'
  };
  std::map<std::pair<std::string, std::string>, Entry> routes_;  // (path, method)
  std::vector<Pattern> patterns_;  // in registration order
  UnroutedHandler unrouted_;
};

}  // namespace strongroom::server
