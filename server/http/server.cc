#include "server/http/server.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <list>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "hsm/openssl_ptr.h"
#include "server/worker_pool.h"

namespace strongroom::server {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

using Parser = http::request_parser<http::string_body>;

// After a response that ends the connection, the unread rest of the request is read and
// dropped for this long (and at most this much), so that closing with unread data does not
// reset the connection before the client has read the response.
constexpr absl::Duration kLinger = absl::Seconds(2);
constexpr size_t kLingerBytes = size_t{1} << 20;
constexpr size_t kReadChunk = 16 << 10;

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(d);
}

// A request the server answers itself, before or instead of routing it.
struct Refusal {
  int status;
  std::string message;  // fixed text: never echoes the request
};

HttpResponse ErrorResponse(const Refusal& refusal) {
  return JsonError(refusal.status, refusal.message);
}

// The refusal for a parse failure; Beast's messages name the problem, never the input.
Refusal RefusalOf(beast::error_code ec) {
  if (ec == http::error::header_limit) return {431, "request headers too large"};
  if (ec == http::error::body_limit) return {413, "request body too large"};
  // The connection's buffer is full: past the header, only a chunk line (its extensions)
  // or the trailer can fill it.
  if (ec == http::error::buffer_overflow) {
    return {400, "malformed request: chunk extensions or trailer fields too large"};
  }
  return {400, absl::StrCat("malformed request: ", ec.message())};
}

// obs-fold (RFC 9112 5.2): Beast joins a folded line to the previous field, so a front end
// and this server could read different headers; it is refused from the raw bytes, before
// they are parsed.
const Refusal kObsFold{
    400, "malformed request: obs-fold (a header line starting with a space or tab) is not accepted"};

enum class HeaderScan { kIncomplete, kComplete, kFolded };

// Scans the lines of the header section at the start of `bytes` from *scanned (0 at first:
// the request line; then where the last call stopped, so that a header arriving in pieces
// is scanned once), advancing it past each whole line: kFolded at a field line that starts
// with a space or tab, kComplete at the empty line that ends the section.
HeaderScan ScanHeaderLines(absl::string_view bytes, size_t* scanned) {
  for (;;) {
    const size_t start = *scanned;
    const size_t end = bytes.find('\n', start);
    if (end == absl::string_view::npos) return HeaderScan::kIncomplete;
    *scanned = end + 1;
    if (start == 0) continue;  // the request line
    absl::string_view line = bytes.substr(start, end - start);
    if (line.empty() || line == "\r") return HeaderScan::kComplete;
    if (line.front() == ' ' || line.front() == '\t') return HeaderScan::kFolded;
  }
}

// For the audit record of a request refused before its header section was parsed: gives a
// parser that has seen nothing the request line at the start of `raw`, never the fields.
void ParseRequestLine(Parser& parser, absl::string_view raw) {
  const size_t end = raw.find('\n');
  if (parser.got_some() || end == absl::string_view::npos) return;
  beast::error_code ignored;
  parser.put(net::buffer(raw.data(), end + 1), ignored);
}

// Checks a parsed header before any of its body is read.
std::optional<Refusal> CheckHeader(const Parser& parser) {
  const auto& h = parser.get();
  // RFC 9112 3.2: one Host (none only in HTTP/1.0).
  const size_t hosts = h.count(http::field::host);
  if (hosts > 1 || (hosts == 0 && h.version() >= 11)) {
    return Refusal{400, "malformed request: a request needs exactly one Host header"};
  }
  // Transfer codings: chunked alone. A last coding other than chunked leaves the length
  // unknown (RFC 9112 6.3: 400), so its body would be read as the next request; other
  // codings are not implemented (501).
  auto coding = h.find(http::field::transfer_encoding);
  if (coding != h.end() &&
      !absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(absl::string_view(
                                  coding->value().data(), coding->value().size())),
                              "chunked")) {
    if (!parser.chunked()) return Refusal{400, "malformed request: Transfer-Encoding must end with chunked"};
    return Refusal{501, "Transfer-Encoding other than chunked is not supported"};
  }
  auto expect = h.find(http::field::expect);
  if (expect != h.end() && !absl::EqualsIgnoreCase(absl::string_view(expect->value().data(),
                                                                     expect->value().size()),
                                                   "100-continue")) {
    return Refusal{417, "Expect: only 100-continue is supported"};
  }
  // Decoding would multiply the body past its limit; no client of this API compresses.
  auto encoding = h.find(http::field::content_encoding);
  if (encoding != h.end() && !absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(
                                 absl::string_view(encoding->value().data(),
                                                   encoding->value().size())),
                             "identity")) {
    return Refusal{415, "Content-Encoding is not supported"};
  }
  absl::string_view target(h.target().data(), h.target().size());
  if (!absl::StartsWith(target, "/")) return Refusal{400, "malformed request: bad target"};
  return std::nullopt;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding (and '+' as space in query components); malformed escapes stay as they are.
std::string PercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

// Method, target, headers and (when read) body of a parsed message; peer and certificate
// are the connection's.
template <class Fields>
HttpRequest RequestOf(const http::request_header<Fields>& h) {
  HttpRequest request;
  request.method = std::string(h.method_string());
  absl::string_view target(h.target().data(), h.target().size());
  size_t q = target.find('?');
  request.path = PercentDecode(target.substr(0, q), /*plus_is_space=*/false);
  if (q != absl::string_view::npos) {
    for (absl::string_view pair : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      request.params.emplace(PercentDecode(kv.first, true), PercentDecode(kv.second, true));
    }
  }
  for (const auto& field : h) {
    request.headers.emplace(
        absl::AsciiStrToLower(absl::string_view(field.name_string().data(), field.name_string().size())),
        std::string(field.value()));
  }
  return request;
}

absl::string_view MethodLabel(absl::string_view method) {
  for (absl::string_view known : {"GET", "POST", "PUT", "DELETE", "LIST", "HEAD", "PATCH", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "OTHER";
}

http::response<http::string_body> WireOf(HttpResponse response, bool keep_alive, bool head) {
  http::response<http::string_body> res;
  res.version(11);
  res.result(static_cast<unsigned>(response.status));
  res.set(http::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) res.insert(name, value);
  res.body() = std::move(response.body);
  res.prepare_payload();
  if (head) res.body().clear();  // Content-Length stays that of the GET
  res.keep_alive(keep_alive);
  return res;
}

// The client's certificate chain (leaf first) as PEM; empty if it sent none.
std::string PeerChainPem(const SSL* ssl) {
  if (ssl == nullptr) return "";
  // Server side, SSL_get_peer_cert_chain holds what the client sent after its leaf (and a
  // resumed session nothing): the leaf comes first, from SSL_get0_peer_certificate.
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr) return "";
  hsm::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return "";
  PEM_write_bio_X509(bio.get(), leaf);
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    if (X509_cmp(sk_X509_value(chain, i), leaf) != 0) {
      PEM_write_bio_X509(bio.get(), sk_X509_value(chain, i));
    }
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n > 0 ? n : 0);
}

std::string PeerName(const tcp::socket& socket) {
  beast::error_code ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  return ep.address().is_v6()
             ? absl::StrCat("ipv6:[", ep.address().to_string(), "]:", ep.port())
             : absl::StrCat("ipv4:", ep.address().to_string(), ":", ep.port());
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Ends the connection if it is waiting for a request; otherwise after its response.
  virtual void Drain() = 0;
  // Ends the connection now.
  virtual void Abort() = 0;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const HttpServerOptions& options, std::unique_ptr<ssl::context> tls)
      : options(options), tls(std::move(tls)) {}

  void Observe(absl::string_view method, absl::string_view route, int status, absl::Time start) {
    if (observer) observer(HttpExchange{MethodLabel(method), route, status, absl::Now() - start});
  }

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);

  // Session registry, for draining.
  std::list<std::weak_ptr<SessionBase>>::iterator Register(std::weak_ptr<SessionBase> s) {
    absl::MutexLock lock(&mu);
    return sessions.insert(sessions.end(), std::move(s));
  }
  void Unregister(std::list<std::weak_ptr<SessionBase>>::iterator it) {
    absl::MutexLock lock(&mu);
    sessions.erase(it);
    if (sessions.empty()) drained.SignalAll();
  }

  // Requests handed to the router and not yet replied to: Stop() waits for them, since an
  // asynchronous reply may come after the workers are done.
  void Begin() {
    absl::MutexLock lock(&mu);
    ++routing;
  }
  void End() {
    absl::MutexLock lock(&mu);
    if (--routing == 0) replied.SignalAll();
  }

  // Hands a reply (from any thread) to the I/O threads. The audit log's writer completes
  // many requests at once: they are queued and taken in one post per batch (the first
  // reply queued posts the batch), and each `write` runs on the I/O thread that takes it,
  // inside its session's strand when that is free, instead of one wake-up per reply.
  void Complete(absl::AnyInvocable<void() &&> write) {
    bool first;
    {
      absl::MutexLock lock(&completed_mu);
      first = completed.empty();
      completed.push_back(std::move(write));
    }
    if (first) net::post(ioc, [this] { RunCompleted(); });
  }
  void RunCompleted() {
    std::vector<absl::AnyInvocable<void() &&>> batch;
    {
      absl::MutexLock lock(&completed_mu);
      batch.swap(completed);
    }
    for (auto& write : batch) std::move(write)();
  }

  const HttpServerOptions options;
  HttpRouter router;
  std::function<void(const HttpExchange&)> observer;
  std::unique_ptr<ssl::context> tls;  // null: plain HTTP
  std::unique_ptr<WorkerPool> workers;
  std::atomic<bool> draining{false};
  std::atomic<int> connections{0};  // served (not refused) connections open
  std::atomic<int> refusing{0};     // connections being refused past max_connections
  absl::Mutex mu;
  std::list<std::weak_ptr<SessionBase>> sessions ABSL_GUARDED_BY(mu);
  absl::CondVar drained;  // sessions became empty
  int routing ABSL_GUARDED_BY(mu) = 0;
  absl::CondVar replied;  // routing became 0
  absl::Mutex completed_mu;
  // Replies waiting for an I/O thread (Complete); each holds its session.
  std::vector<absl::AnyInvocable<void() &&>> completed ABSL_GUARDED_BY(completed_mu);
  int port = 0;
  bool started = false;
  bool stopped = false;
  // Last, so that the handlers it destroys (and their sessions) find the above alive.
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
};

namespace {

template <bool kTls>
class Session : public SessionBase, public std::enable_shared_from_this<Session<kTls>> {
 public:
  using Stream =
      std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  Session(HttpServer::Impl* server, tcp::socket socket, bool refuse)
      : server_(server),
        peer_(PeerName(socket)),
        stream_(MakeStream(std::move(socket), server)),
        refuse_(refuse) {
    (refuse_ ? server_->refusing : server_->connections).fetch_add(1);
  }
  ~Session() override {
    (refuse_ ? server_->refusing : server_->connections).fetch_sub(1);
    server_->Unregister(registration_);
  }

  void Start() {
    registration_ = server_->Register(this->weak_from_this());
    if constexpr (kTls) {
      Lowest().expires_after(Chrono(server_->options.header_timeout));
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                self->OnHandshake(ec);
                              });
    } else {
      Begin();
    }
  }

  void Drain() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->idle_) self->Lowest().cancel();
    });
  }

  void Abort() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Close(); });
  }

 private:
  static Stream MakeStream(tcp::socket socket, HttpServer::Impl* server) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *server->tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void OnHandshake(beast::error_code ec) {
    if (ec == beast::error::timeout) return Expired();
    if (ec) return Close();
    if constexpr (kTls) cert_pem_ = PeerChainPem(stream_.native_handle());
    Begin();
  }

  void Begin() {
    if (!refuse_) return ReadNext();
    // Past max_connections: a clear answer, without reading the request.
    start_ = absl::Now();
    Refuse({503, "too many connections; retry later"}, "refused");
  }

  void ReadNext() {
    if (server_->draining.load()) return Close();
    if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is waiting
    idle_ = true;
    Lowest().expires_after(Chrono(server_->options.idle_timeout));
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->idle_ = false;
                              // Idle after its requests: the usual end of a keep-alive
                              // connection. Idle before any: a connection that never asked.
                              if (ec == beast::error::timeout && !self->served_) {
                                return self->Expired();
                              }
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    start_ = absl::Now();
    parser_.emplace();
    parser_->header_limit(server_->options.max_header_bytes);
    parser_->body_limit(server_->options.max_body_bytes);
    // One deadline for the whole header, however slowly it trickles in.
    Lowest().expires_after(Chrono(server_->options.header_timeout));
    header_scanned_ = 0;
    ReadHeaderBytes();
  }

  // Reads until the buffer holds the whole header section (or max_header_bytes of it, which
  // the parser then refuses), refusing obs-fold, then parses it.
  void ReadHeaderBytes() {
    const size_t limit = server_->options.max_header_bytes;
    const absl::string_view bytes(static_cast<const char*>(buffer_.data().data()),
                                  std::min<size_t>(buffer_.size(), limit));
    const HeaderScan scan = ScanHeaderLines(bytes, &header_scanned_);
    if (scan == HeaderScan::kFolded) return Refuse(kObsFold);
    if (scan == HeaderScan::kIncomplete && buffer_.size() < limit) {
      stream_.async_read_some(buffer_.prepare(kReadChunk),
                              [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                                if (ec) return self->OnReadError(ec);
                                self->buffer_.commit(n);
                                self->ReadHeaderBytes();
                              });
      return;
    }
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              self->OnHeader(ec);
                            });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    if (std::optional<Refusal> refusal = CheckHeader(*parser_)) return Refuse(*refusal);
    // The header section, taken now: trailer fields, which the parser adds to the same
    // fields, are not headers and never reach a handler.
    header_ = RequestOf(parser_->get());
    if (parser_->is_done()) return Dispatch();
    const auto& h = parser_->get();
    auto expect = h.find(http::field::expect);
    if (expect != h.end() && absl::EqualsIgnoreCase(std::string(expect->value()), "100-continue")) {
      continue_.emplace(http::status::continue_, 11);
      Lowest().expires_after(Chrono(server_->options.write_timeout));
      http::async_write(stream_, *continue_,
                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    Lowest().expires_after(Chrono(server_->options.body_timeout));
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->Dispatch();
                     });
  }

  // Parse errors are answered; deadlines are audited; transport errors and closes end the
  // connection.
  void OnReadError(beast::error_code ec) {
    if (ec == beast::error::timeout) return Expired();
    if (ec.category() == beast::error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Refuse(RefusalOf(ec));
    }
    Close();
  }

  // A deadline closed the connection (the stream closes it on expiry) before a request was
  // read whole: no answer can be sent, but the refusal is audited and counted like any.
  void Expired() {
    Refuse({408, "request not received in time"}, HttpRouter::kUnrouted, /*answer=*/false);
  }

  // Refuses the request being read (or the connection, before any) through the router's
  // unrouted handler, so that it is audited, on a worker; `route` labels it in the metrics.
  // The refusal is sent unless `answer` is false (the connection is gone); either way the
  // connection ends.
  void Refuse(const Refusal& refusal, absl::string_view route = HttpRouter::kUnrouted,
              bool answer = true) {
    close_ = true;  // the rest of the request is not read: it must not be parsed
    HttpRequest request;
    // What was parsed of it (the request line at least, unless that was what failed).
    if (header_.has_value()) {
      request = *std::move(header_);
      header_.reset();
    } else if (parser_.has_value()) {
      ParseRequestLine(*parser_, absl::string_view(static_cast<const char*>(buffer_.data().data()),
                                                   buffer_.size()));
      request = RequestOf(parser_->get());
    }
    request.peer = peer_;
    request.client_cert_chain_pem = cert_pem_;
    request.headers.erase("content-length");
    server_->workers->Run([self = this->shared_from_this(), request = std::move(request),
                           refusal = ErrorResponse(refusal), route, answer]() mutable {
      const std::string method = request.method;
      HttpResponse response = self->server_->router.Refuse(std::move(request), std::move(refusal));
      self->server_->Observe(method, route, response.status, self->start_);
      net::post(self->stream_.get_executor(), [self, answer, response = std::move(response)]() mutable {
        if (!answer) return self->Close();
        self->Write(std::move(response));
      });
    });
  }

  void Dispatch() {
    served_ = true;
    http::request<http::string_body> message = parser_->release();
    parser_.reset();
    keep_alive_ = message.keep_alive();
    head_ = message.method() == http::verb::head;
    HttpRequest request = *std::move(header_);
    header_.reset();
    request.body = std::move(message.body());
    request.peer = peer_;
    request.client_cert_chain_pem = cert_pem_;
    server_->Begin();
    // Matched here; run here if the route's handler never blocks, else on a worker.
    HttpRouter::Found found = server_->router.Find(request);
    const bool inline_ = found.runs == HandlerRuns::kInline;
    auto run = [self = this->shared_from_this(), found = std::move(found),
                request = std::move(request)]() mutable {
      std::string method = request.method;
      // An asynchronous handler frees this thread at once and replies later from its own
      // (the audit log's writer, for gated routes).
      self->server_->router.Run(
          std::move(found), std::move(request),
          [self, method = std::move(method)](absl::string_view route,
                                             HttpResponse response) mutable {
            HttpServer::Impl* server = self->server_;
            server->Observe(method, route, response.status, self->start_);
            server->Complete([self = std::move(self), response = std::move(response)]() mutable {
              auto executor = self->stream_.get_executor();
              net::dispatch(executor, [self = std::move(self),
                                       response = std::move(response)]() mutable {
                self->Write(std::move(response));
              });
            });
            server->End();
          });
    };
    if (inline_) {
      run();
    } else {
      server_->workers->Run(std::move(run));
    }
  }

  void Write(HttpResponse response) {
    const bool keep_alive = keep_alive_ && !close_ && !server_->draining.load();
    response_ = WireOf(std::move(response), keep_alive, head_);
    head_ = false;
    Lowest().expires_after(Chrono(server_->options.write_timeout));
    http::async_write(stream_, response_,
                      [self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (!keep_alive) return self->Linger();
                        self->ReadNext();
                      });
  }

  // Ends the connection after a final response: close_notify, then the unread rest of the
  // request is dropped (bounded in time and bytes) before the socket closes.
  void Linger() {
    Lowest().expires_after(Chrono(kLinger));
    if constexpr (kTls) {
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        self->DropInput();
      });
    } else {
      DropInput();
    }
  }

  void DropInput() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec || dropped_ >= kLingerBytes) return Close();
    Lowest().async_read_some(net::buffer(scratch_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                               self->dropped_ += n;
                               if (ec) return self->Close();
                               self->DropInput();
                             });
  }

  void Close() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().close();
  }

  HttpServer::Impl* const server_;
  const std::string peer_;
  Stream stream_;
  const bool refuse_;
  std::list<std::weak_ptr<SessionBase>>::iterator registration_;
  std::string cert_pem_;
  // Bounded: past the header (which header_limit bounds), what waits in it unparsed is a
  // chunk line or the trailer, and those are refused once they fill it.
  beast::flat_buffer buffer_{server_->options.max_header_bytes + kReadChunk};
  std::optional<Parser> parser_;
  std::optional<HttpRequest> header_;  // the request being read, as its header section gave it
  size_t header_scanned_ = 0;  // how much of its header section ReadHeaderBytes has scanned
  std::optional<http::response<http::empty_body>> continue_;
  http::response<http::string_body> response_;
  absl::Time start_ = absl::Now();  // when the request being read (or the connection) began
  bool idle_ = false;
  bool served_ = false;  // a request was read whole on this connection
  bool keep_alive_ = false;
  bool head_ = false;
  bool close_ = false;
  size_t dropped_ = 0;
  std::array<char, 4096> scratch_;
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
  if (ec) {
    // Out of descriptors or memory: accepting again at once would spin; retry shortly.
    auto timer = std::make_shared<net::steady_timer>(acceptor->get_executor());
    timer->expires_after(std::chrono::milliseconds(50));
    timer->async_wait([this, timer](beast::error_code wait) {
      if (!wait && acceptor->is_open()) Accept();
    });
    return;
  }
  {
    socket.set_option(tcp::no_delay(true), ec);  // small exchanges must not wait out ACKs
    const bool refuse = connections.load() >= options.max_connections;
    // Refusals are bounded too: past them the connection is closed at once.
    if (refuse && refusing.load() >= std::max(16, options.max_connections / 16)) {
      socket.close(ec);
    } else if (tls != nullptr) {
      std::make_shared<Session<true>>(this, std::move(socket), refuse)->Start();
    } else {
      std::make_shared<Session<false>>(this, std::move(socket), refuse)->Start();
    }
  }
  Accept();
}

namespace internal {

void ServeBytes(const HttpRouter& router, const HttpServerOptions& options,
                absl::string_view input, std::string* output) {
  auto send = [output](HttpResponse response, bool keep_alive, bool head) {
    std::ostringstream out;
    out << WireOf(std::move(response), keep_alive, head);
    *output += out.str();
  };
  while (!input.empty()) {
    Parser parser;
    parser.header_limit(options.max_header_bytes);
    parser.body_limit(options.max_body_bytes);
    std::optional<HttpRequest> header;  // the header section, once checked
    std::optional<Refusal> refusal;
    size_t scanned = 0;
    if (ScanHeaderLines(input.substr(0, options.max_header_bytes), &scanned) ==
        HeaderScan::kFolded) {
      ParseRequestLine(parser, input);
      refusal = kObsFold;
    }
    while (!refusal.has_value()) {
      if (parser.is_header_done() && !header.has_value()) {
        refusal = CheckHeader(parser);
        if (!refusal.has_value()) header = RequestOf(parser.get());
        continue;
      }
      if (parser.is_done()) break;
      if (input.empty()) return;  // the client went away mid-request
      beast::error_code ec;
      size_t used = parser.put(net::buffer(input.data(), input.size()), ec);
      input.remove_prefix(used);
      if (ec == http::error::need_more && input.empty()) return;  // the client went away
      if (ec && ec != http::error::need_more) {
        refusal = RefusalOf(ec);
      } else if (used == 0) {
        return;  // no progress: the parser needs bytes that will never come
      }
    }
    if (refusal.has_value()) {
      HttpRequest request;
      request = RequestOf(parser.get());
      send(router.Refuse(std::move(request), ErrorResponse(*refusal)), false, false);
      return;
    }
    http::request<http::string_body> message = parser.release();
    HttpRequest request = *std::move(header);
    request.body = std::move(message.body());
    request.peer = "ipv4:127.0.0.1:40112";
    send(router.Route(std::move(request)), message.keep_alive(),
         message.method() == http::verb::head);
    if (!message.keep_alive()) return;
  }
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(const std::string& cert_file,
                                                               const std::string& key_file,
                                                               const HttpServerOptions& options) {
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = tls->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return absl::FailedPreconditionError(absl::StrCat("cannot use TLS certificate ", cert_file));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot use TLS key ", key_file, " with certificate ", cert_file));
  }
  // Ask for a client certificate but accept any (or none): the access gate verifies it
  // against the client CAs and answers with a reason instead of a failed handshake.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  static const unsigned char kSessionContext[] = "strongroom-http";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  return std::unique_ptr<HttpServer>(
      new HttpServer(std::make_unique<Impl>(options, std::move(tls))));
}

std::unique_ptr<HttpServer> HttpServer::CreatePlain(const HttpServerOptions& options) {
  return std::unique_ptr<HttpServer>(new HttpServer(std::make_unique<Impl>(options, nullptr)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(const std::string& method, const std::string& path, HttpHandler handler) {
  impl_->router.Handle(method, path, std::move(handler));
}

void HttpServer::HandleAsync(const std::string& method, const std::string& path,
                             AsyncHttpHandler handler, HandlerRuns runs) {
  impl_->router.HandleAsync(method, path, std::move(handler), runs);
}

void HttpServer::HandleUnrouted(HttpRouter::UnroutedHandler handler) {
  impl_->router.HandleUnrouted(std::move(handler));
}

void HttpServer::SetObserver(std::function<void(const HttpExchange&)> observer) {
  impl_->observer = std::move(observer);
}

int HttpServer::port() const { return impl_->port; }

int HttpServer::connections() const { return impl_->connections.load() + impl_->refusing.load(); }

size_t HttpServer::queued_requests() const { return impl_->workers->queued(); }

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
  beast::error_code ec;
  net::ip::address ip = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) {
    tcp::resolver resolver(impl_->ioc);
    auto results = resolver.resolve(host, "", ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("bad HTTP address ", address));
    }
    ip = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  Impl& impl = *impl_;
  impl.acceptor.emplace(net::make_strand(impl.ioc));
  impl.acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl.acceptor->bind(endpoint, ec);
  if (!ec) impl.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    impl.acceptor.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, " (address in use or not local?)"));
  }
  impl.port = impl.acceptor->local_endpoint().port();
  impl.workers = std::make_unique<WorkerPool>(std::max(1, impl.options.worker_threads));
  impl.started = true;
  impl.Accept();
  for (int i = 0; i < std::max(1, impl.options.io_threads); ++i) {
    impl.threads.emplace_back([&impl] {
      pthread_setname_np(pthread_self(), "sr-http-io");
      impl.ioc.run();
    });
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  Impl& impl = *impl_;
  if (!impl.started || impl.stopped) return;
  impl.stopped = true;
  impl.draining.store(true);
  net::post(impl.acceptor->get_executor(), [&impl] {
    beast::error_code ec;
    impl.acceptor->close(ec);
  });
  const absl::Time deadline = absl::Now() + impl.options.drain_timeout;
  std::vector<std::shared_ptr<SessionBase>> open;
  {
    absl::MutexLock lock(&impl.mu);
    for (const auto& weak : impl.sessions) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  // Idle connections close now; the others after their response or at their deadline.
  for (auto& s : open) s->Drain();
  open.clear();
  {
    absl::MutexLock lock(&impl.mu);
    while (!impl.sessions.empty() && !impl.drained.WaitWithDeadline(&impl.mu, deadline)) {
    }
    for (const auto& weak : impl.sessions) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  // Past the bound, whatever is left is closed (their handlers may still be running).
  for (auto& s : open) s->Abort();
  open.clear();
  {
    absl::MutexLock lock(&impl.mu);
    if (!impl.sessions.empty()) impl.drained.WaitWithTimeout(&impl.mu, absl::Milliseconds(200));
  }
  impl.ioc.stop();
  for (std::thread& t : impl.threads) t.join();
  impl.threads.clear();
  impl.workers.reset();  // finishes the handlers in progress
  // Their replies may still be on their way (an audit record being made durable): the
  // sessions they post to must not outlive the server.
  {
    absl::MutexLock lock(&impl.mu);
    while (impl.routing > 0) impl.replied.Wait(&impl.mu);
  }
  // Replies that came after the I/O threads stopped: their sessions go now, while the
  // io_context they belong to is alive.
  std::vector<absl::AnyInvocable<void() &&>> unsent;
  absl::MutexLock lock(&impl.completed_mu);
  unsent.swap(impl.completed);
}

}  // namespace strongroom::server
