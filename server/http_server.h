// HttpServer: an HTTPS listener with a small router, over cpp-httplib.
//
// Callers register handlers by method and exact path before Start(); Start() binds
// (port 0 picks a free port, see port()) and serves on a background thread pool until
// Stop(), which stops accepting, lets the requests in progress finish and joins. TLS uses
// the PEM certificate chain and key files given to Create(); the key is read by OpenSSL and
// never copied into a std::string here. Unknown paths get 404, a known path with another
// method 405. Handlers run concurrently on pool threads and must be thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace httplib {
class SSLServer;
}

namespace strongroom::server {

struct HttpRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> params;  // query parameters
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  // FAILED_PRECONDITION naming the file if the certificate or key cannot be used.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(const std::string& cert_file,
                                                            const std::string& key_file);
  ~HttpServer();  // Stops.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes `method` ("GET", "POST", "PUT", "DELETE") requests for exactly `path` to
  // `handler`. Call before Start(); a second handler for the same route replaces the first.
  void Handle(const std::string& method, const std::string& path, HttpHandler handler);

  // Binds host:port (host may be bracketed IPv6) and starts serving. UNAVAILABLE if the
  // address cannot be bound.
  absl::Status Start(const std::string& address);
  int port() const { return port_; }
  // Stops accepting and waits for requests in progress. Idempotent.
  void Stop();

 private:
  explicit HttpServer(std::unique_ptr<httplib::SSLServer> server);
  HttpResponse Route(const HttpRequest& request) const;

  std::unique_ptr<httplib::SSLServer> server_;
  std::map<std::pair<std::string, std::string>, HttpHandler> routes_;  // (path, method)
  std::thread thread_;
  std::atomic<bool> exited_{false};
  int port_ = 0;
};

}  // namespace strongroom::server
