#include "server/http/server.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace strongroom::server {
namespace {

constexpr size_t kConnectionThreads = 128;

bool IsPattern(absl::string_view path) { return path.find('{') != absl::string_view::npos; }

// Matches `path` against a Handle() pattern, filling *params on success.
bool MatchPattern(absl::string_view pattern, absl::string_view path,
                  std::map<std::string, std::string>* params) {
  std::vector<absl::string_view> want = absl::StrSplit(pattern, '/');
  std::vector<absl::string_view> have = absl::StrSplit(path, '/');
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < want.size(); ++i) {
    absl::string_view w = want[i];
    const bool param = w.size() >= 2 && w.front() == '{' && w.back() == '}';
    if (param && i + 1 == want.size() && absl::EndsWith(w, "...}")) {
      if (i >= have.size()) return false;
      std::string rest = absl::StrJoin(have.begin() + i, have.end(), "/");
      if (rest.empty()) return false;
      found[std::string(w.substr(1, w.size() - 5))] = std::move(rest);
      *params = std::move(found);
      return true;
    }
    if (i >= have.size()) return false;
    if (param) {
      if (have[i].empty()) return false;
      found[std::string(w.substr(1, w.size() - 2))] = std::string(have[i]);
    } else if (w != have[i]) {
      return false;
    }
  }
  if (want.size() != have.size()) return false;
  *params = std::move(found);
  return true;
}

// The client's certificate chain (leaf first) as PEM; empty if it sent none.
std::string PeerChainPem(const SSL* ssl) {
  if (ssl == nullptr) return "";
  // Server side the chain includes the leaf; a resumed session keeps only the leaf.
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  if (chain != nullptr && sk_X509_num(chain) > 0) {
    for (int i = 0; i < sk_X509_num(chain); ++i) PEM_write_bio_X509(bio, sk_X509_value(chain, i));
  } else {
    PEM_write_bio_X509(bio, leaf);
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, n > 0 ? n : 0);
  BIO_free(bio);
  return pem;
}

}  // namespace

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kResourceExhausted:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 403;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

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
    // Ask for a client certificate but accept any (or none): the access gate verifies it
    // against the client CAs and answers with a reason instead of a failed handshake.
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    static const unsigned char kSessionContext[] = "strongroom-http";
    SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof(kSessionContext) - 1);
    return true;
  });
  if (!server->is_valid()) {
    return absl::FailedPreconditionError(error.empty() ? "cannot set up TLS" : error);
  }
  // Small request/response exchanges (OCSP, transit) must not wait out delayed ACKs.
  server->set_tcp_nodelay(true);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(server)));
}

std::unique_ptr<HttpServer> HttpServer::CreatePlain() {
  auto server = std::make_unique<httplib::Server>();
  server->set_tcp_nodelay(true);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(server)));
}

void internal::InstallRouter(const HttpRouter* router, httplib::Server* server) {
  auto handler = [router](const httplib::Request& req, httplib::Response& res) {
    HttpRequest request;
    request.method = req.method;
    request.path = req.path;
    request.body = req.body;
    for (const auto& [k, v] : req.params) request.params.emplace(k, v);
    for (const auto& [k, v] : req.headers) request.headers.emplace(absl::AsciiStrToLower(k), v);
    request.client_cert_chain_pem = PeerChainPem(req.ssl);
    request.peer = req.remote_addr.find(':') != std::string::npos
                       ? absl::StrCat("ipv6:[", req.remote_addr, "]:", req.remote_port)
                       : absl::StrCat("ipv4:", req.remote_addr, ":", req.remote_port);
    HttpResponse response = router->Route(std::move(request));
    res.status = response.status;
    for (const auto& [name, value] : response.headers) res.set_header(name, value);
    res.set_content(std::move(response.body), response.content_type.c_str());
  };
  server->Get(".*", handler);
  server->Post(".*", handler);
  server->Put(".*", handler);
  server->Delete(".*", handler);
  server->set_payload_max_length(size_t{16} << 20);
}

HttpServer::HttpServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {
  internal::InstallRouter(&router_, server_.get());
  // A keep-alive connection holds a pool thread while it is open (cpp-httplib serves a
  // connection per thread), so the pool bounds concurrent clients, not CPU use.
  server_->new_task_queue = [] { return new httplib::ThreadPool(kConnectionThreads); };
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(10, 0);
}

HttpServer::~HttpServer() { Stop(); }

void HttpRouter::Handle(const std::string& method, const std::string& path, HttpHandler handler) {
  if (!IsPattern(path)) {
    routes_[{path, method}] = std::move(handler);
    return;
  }
  for (Pattern& p : patterns_) {
    if (p.pattern == path && p.method == method) {
      p.handler = std::move(handler);
      return;
    }
  }
  patterns_.push_back({path, method, std::move(handler)});
}

HttpResponse HttpRouter::Route(HttpRequest request) const {
  auto it = routes_.find({request.path, request.method});
  if (it != routes_.end()) return it->second(request);
  std::set<std::string> allowed;
  for (auto r = routes_.lower_bound({request.path, ""});
       r != routes_.end() && r->first.first == request.path; ++r) {
    allowed.insert(r->first.second);
  }
  if (allowed.empty()) {
    for (const Pattern& p : patterns_) {
      std::map<std::string, std::string> params;
      if (!MatchPattern(p.pattern, request.path, &params)) continue;
      if (p.method == request.method) {
        request.path_params = std::move(params);
        return p.handler(request);
      }
      allowed.insert(p.method);
    }
  }
  HttpResponse response;
  if (allowed.empty()) {
    response.status = 404;
    response.body = "not found\n";
  } else {
    response.status = 405;
    response.body = absl::StrCat("method not allowed; use ", absl::StrJoin(allowed, ", "), "\n");
    response.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
  }
  if (!unrouted_) return response;
  constexpr size_t kMaxPath = 256;
  request.path_params = {{"path", request.path.substr(0, kMaxPath)}};
  return unrouted_(request, std::move(response));
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
