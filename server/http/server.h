// HttpServer: an HTTPS (or plain HTTP) listener with a small router, over cpp-httplib.
//
// Callers register handlers by method and path before Start(); Start() binds
// (port 0 picks a free port, see port()) and serves on a background thread pool until
// Stop(), which stops accepting, lets the requests in progress finish and joins. TLS uses
// the PEM certificate chain and key files given to Create(); the key is read by OpenSSL and
// never copied into a std::string here. Paths are exact or patterns with "{name}" segments
// (see Handle). Unknown paths get 404, a known path with another method 405. Handlers run
// concurrently on pool threads and must be thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace httplib {
class Server;
class SSLServer;
}

namespace strongroom::server {

namespace access {
struct Principal;
}

struct HttpRequest {
  std::string method;
  std::string path;
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
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// HttpStatusOf: the HTTP status of a failed call, the one map for every HTTP route (Vault's
// conventions): 400 for bad input or state (INVALID_ARGUMENT, FAILED_PRECONDITION,
// OUT_OF_RANGE, ALREADY_EXISTS, RESOURCE_EXHAUSTED), 403 for UNAUTHENTICATED and
// PERMISSION_DENIED, 404 for NOT_FOUND, 503 for UNAVAILABLE, else 500.
int HttpStatusOf(absl::StatusCode code);

// HttpRouter: dispatch by method and path (exact, or a pattern; see Handle). Not
// thread-safe while routes are added; Route() is const and may run concurrently after.
class HttpRouter {
 public:
  // Routes `method` ("GET", "POST", "PUT", "DELETE") requests for `path` to `handler`; a
  // second handler for the same method and path replaces the first.
  // `path` is exact unless it has segments "{name}" (matching one non-empty segment) or a
  // last segment "{name...}" (matching the non-empty rest of the path, '/' included); the
  // matched values are in HttpRequest::path_params. Exact routes win over patterns;
  // patterns are tried in registration order.
  void Handle(const std::string& method, const std::string& path, HttpHandler handler);
  // Requests no route takes go to `handler` with the router's answer (404, or 405 naming
  // the allowed methods) and path_params {"path": the path, cut at 256 bytes}; it returns
  // what to send. Without one, that answer goes out as it is.
  using UnroutedHandler = std::function<HttpResponse(const HttpRequest&, HttpResponse answer)>;
  void HandleUnrouted(UnroutedHandler handler) { unrouted_ = std::move(handler); }
  // The handler's response; for an unrouted request, the 404/405 answer (through the
  // unrouted handler when there is one).
  HttpResponse Route(HttpRequest request) const;

 private:
  struct Pattern {
    std::string pattern;
    std::string method;
    HttpHandler handler;
  };
  std::map<std::pair<std::string, std::string>, HttpHandler> routes_;  // (path, method)
  std::vector<Pattern> patterns_;
  UnroutedHandler unrouted_;
};

namespace internal {
// Routes every request `server` parses to `router` and sets the request limits HttpServer
// serves with. HttpServer's own wiring, exposed for the HTTP fuzzer, which feeds raw bytes
// to cpp-httplib's parser without a socket. `router` must outlive `server`.
void InstallRouter(const HttpRouter* router, httplib::Server* server);
}  // namespace internal

class HttpServer {
 public:
  // FAILED_PRECONDITION naming the file if the certificate or key cannot be used.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(const std::string& cert_file,
                                                            const std::string& key_file);
  // A plain-TCP (no TLS) listener, otherwise the same; requests carry no client
  // certificate. For public documents only (pki.plain_http).
  static std::unique_ptr<HttpServer> CreatePlain();
  ~HttpServer();  // Stops.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // HttpRouter::Handle and HandleUnrouted; call before Start().
  void Handle(const std::string& method, const std::string& path, HttpHandler handler) {
    router_.Handle(method, path, std::move(handler));
  }
  void HandleUnrouted(HttpRouter::UnroutedHandler handler) {
    router_.HandleUnrouted(std::move(handler));
  }

  // Binds host:port (host may be bracketed IPv6) and starts serving. UNAVAILABLE if the
  // address cannot be bound.
  absl::Status Start(const std::string& address);
  int port() const { return port_; }
  // Stops accepting and waits for requests in progress. Idempotent.
  void Stop();

 private:
  explicit HttpServer(std::unique_ptr<httplib::Server> server);

  std::unique_ptr<httplib::Server> server_;
  HttpRouter router_;
  std::thread thread_;
  std::atomic<bool> exited_{false};
  int port_ = 0;
};

}  // namespace strongroom::server
