// HttpServer: an event-driven HTTP/1.1 listener (Boost.Beast on Asio), over TLS or plain
// TCP, that hands every request to an HttpRouter (router.h).
//
// Callers register handlers before Start(); Start() binds (port 0 picks a free port, see
// port()) and serves until Stop(). A few I/O threads run every connection's TLS and
// parsing; handlers, which may block (HSM), run on the server's own worker pool, except
// those registered HandlerRuns::kInline (router.h: they never block), which run on the I/O
// thread that read the request; an asynchronous handler (router.h) releases its thread when
// it returns and its reply is written whenever it comes (e.g. once its audit record is
// durable). Handlers run concurrently and must be thread-safe.
//
// The edge, for every connection: keep-alive without a request cap; pipelined requests
// answered in order; a request refused before its body is read (400, 413, 415, 431)
// ends the connection, so unread bytes are never parsed as a request; one body limit for
// every framing (413); header, body, idle and write deadlines; at most max_connections
// connections (more get 503 and are closed). Requests the server refuses itself go through
// the router's unrouted handler like unrouted ones, so they are audited; so do connections
// refused past max_connections, and connections a deadline closes before a request was read
// whole (408, not sent: the connection is gone), except a keep-alive connection idle after
// its requests. Each costs its client a TLS handshake and a connection slot (held for a
// deadline, or one of a bounded number of refusals), so their audit lines are bounded like
// requests' and are not rate-limited. Stop() drains:
// no new connections or requests, the requests in progress are answered, and it returns
// within the drain bound whatever clients do.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/http/router.h"

namespace strongroom::server {

struct HttpServerOptions {
  int io_threads = 2;
  int worker_threads = 64;         // run handlers (which wait on the HSM and the audit log)
  int max_connections = 1024;      // open at once; past it, 503 and close
  uint64_t max_body_bytes = uint64_t{16} << 20;
  uint32_t max_header_bytes = 16 << 10;  // request line and headers
  absl::Duration header_timeout = absl::Seconds(10);  // first byte to end of headers
  absl::Duration body_timeout = absl::Seconds(30);    // end of headers to end of body
  absl::Duration idle_timeout = absl::Seconds(60);    // between requests on a connection
  absl::Duration write_timeout = absl::Seconds(30);   // one response
  absl::Duration drain_timeout = absl::Seconds(10);   // Stop()
};

// One answered (or refused) request, for metrics. `route` is the pattern that took it,
// HttpRouter::kUnrouted, or "refused" for connections refused past max_connections;
// `method` is the request's method when it is a common one, else "OTHER". Both point to
// strings of the server's own that live as long as it (an observer may key on them).
struct HttpExchange {
  absl::string_view method;
  absl::string_view route;
  int status;
  absl::Duration elapsed;
};

namespace internal {
// Parses `input` as the bytes a client sent on one connection and dispatches each request
// it holds to `router` as HttpServer does (the same checks and refusals), appending the
// responses to *output; returns when the input is used up or the connection would close.
// HttpServer's parsing without a socket, for the HTTP fuzzer. Handlers run inline.
void ServeBytes(const HttpRouter& router, const HttpServerOptions& options,
                absl::string_view input, std::string* output);
}  // namespace internal

class HttpServer {
 public:
  // An HTTPS server. FAILED_PRECONDITION naming the file if the certificate or key cannot
  // be used. The TLS handshake asks for a client certificate but accepts any or none.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(
      const std::string& cert_file, const std::string& key_file,
      const HttpServerOptions& options = HttpServerOptions());
  // A plain-HTTP server (no TLS), e.g. for public PKI documents.
  static std::unique_ptr<HttpServer> CreatePlain(
      const HttpServerOptions& options = HttpServerOptions());
  ~HttpServer();  // Stops.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // HttpRouter::Handle and HandleUnrouted; call before Start().
  void Handle(const std::string& method, const std::string& path, HttpHandler handler);
  void HandleAsync(const std::string& method, const std::string& path, AsyncHttpHandler handler,
                   HandlerRuns runs = HandlerRuns::kWorker);
  void HandleUnrouted(HttpRouter::UnroutedHandler handler);
  // Called once per response sent (from worker or I/O threads); call before Start().
  void SetObserver(std::function<void(const HttpExchange&)> observer);

  // Binds host:port (host may be bracketed IPv6) and starts serving. UNAVAILABLE if the
  // address cannot be bound.
  absl::Status Start(const std::string& address);
  int port() const;
  // Connections open (at most options.max_connections, plus those being refused) and
  // requests queued for a handler worker (at most one per connection), for metrics.
  int connections() const;
  size_t queued_requests() const;
  // Drains (see above) within options.drain_timeout, then closes every connection, joins
  // the threads and waits for the replies of requests already handed to handlers (those
  // must come: an asynchronous handler always replies). Idempotent.
  void Stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strongroom::server
