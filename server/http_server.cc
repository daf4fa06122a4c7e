#include "server/http_server.h"

#include <httplib.h>
#include <openssl/ssl.h>

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace strongroom::server {

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const std::string& cert_file,
                                                               const std::string& key_file) {
  std::string error;
  auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, cert_file.c_str()) != 1) {
      error = absl::StrCat("cannot use TLS certificate ", cert_file);
      return false;
    }
    if (SSL_CTX_use_PrivateKey_file(&ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(&ctx) != 1) {
      error = absl::StrCat("cannot use TLS key ", key_file, " with certificate ", cert_file);
      return false;
    }
    return true;
  });
  if (!server->is_valid()) {
    return absl::FailedPreconditionError(error.empty() ? "cannot set up TLS" : error);
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(server)));
}

HttpServer::HttpServer(std::unique_ptr<httplib::SSLServer> server) : server_(std::move(server)) {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    HttpRequest request;
    request.method = req.method;
    request.path = req.path;
    request.body = req.body;
    for (const auto& [k, v] : req.params) request.params.emplace(k, v);
    HttpResponse response = Route(request);
    res.status = response.status;
    res.set_content(std::move(response.body), response.content_type.c_str());
  };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->Put(".*", handler);
  server_->Delete(".*", handler);
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(10, 0);
  server_->set_payload_max_length(size_t{16} << 20);
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(const std::string& method, const std::string& path, HttpHandler handler) {
  routes_[{path, method}] = std::move(handler);
}

HttpResponse HttpServer::Route(const HttpRequest& request) const {
  auto it = routes_.find({request.path, request.method});
  if (it != routes_.end()) return it->second(request);
  std::set<std::string> allowed;
  for (auto r = routes_.lower_bound({request.path, ""});
       r != routes_.end() && r->first.first == request.path; ++r) {
    allowed.insert(r->first.second);
  }
  HttpResponse response;
  if (allowed.empty()) {
    response.status = 404;
    response.body = "not found\n";
  } else {
    response.status = 405;
    response.body = absl::StrCat("method not allowed; use ", absl::StrJoin(allowed, ", "), "\n");
  }
  return response;
}

absl::Status HttpServer::Start(const std::string& address) {
  size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP address ", address));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  bool bound =
      port == 0 ? (port = server_->bind_to_any_port(host)) > 0 : server_->bind_to_port(host, port);
  if (!bound) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, " (address in use or not local?)"));
  }
  port_ = port;
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    exited_.store(true);
  });
  // stop() is a no-op until the loop runs, so Stop() must not race ahead of it.
  while (!server_->is_running() && !exited_.load()) std::this_thread::yield();
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace strongroom::server
