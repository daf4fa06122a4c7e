// HttpServer at its edge, over real sockets (TLS unless said otherwise): keep-alive,
// pipelining, framing errors that end the connection, limits, deadlines, the connection
// bound, handlers off the I/O threads (except those registered never to block), slow
// clients beside a normal one, the drain.
#include "server/http/server.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/http_wire.h"
#include "tests/testing/process.h"

namespace strongroom::server {
namespace {

using ::testing::HasSubstr;
using testing::HttpRequestBytes;
using testing::HttpWire;
using testing::WireResponse;

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = getenv("TEST_TMPDIR");
    cert_ = dir + "/cert.pem";
    key_ = dir + "/key.pem";
    auto r = testing::RunCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", key_, "-out",
                                  cert_, "-days", "1", "-subj", "/CN=127.0.0.1"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  // Starts a server with a few routes; `tls` false for the plain-HTTP variant.
  void Start(HttpServerOptions options = HttpServerOptions(), bool tls = true) {
    tls_ = tls;
    if (tls) {
      auto server = HttpServer::Create(cert_, key_, options);
      ASSERT_TRUE(server.ok()) << server.status();
      server_ = *std::move(server);
    } else {
      server_ = HttpServer::CreatePlain(options);
    }
    server_->Handle("POST", "/echo", [](const HttpRequest& r) {
      HttpResponse response;
      response.body = r.body;
      return response;
    });
    server_->Handle("GET", "/n/{id}", [](const HttpRequest& r) {
      HttpResponse response;
      response.body = r.path_params.at("id");
      return response;
    });
    // The request's token headers, as an access gate would read them.
    server_->Handle("POST", "/token", [](const HttpRequest& r) {
      HttpResponse response;
      auto it = r.headers.find("x-vault-token");
      response.body = it == r.headers.end() ? "none" : it->second;
      return response;
    });
    server_->Handle("LIST", "/keys", [](const HttpRequest&) {
      HttpResponse response;
      response.body = "listed";
      return response;
    });
    server_->Handle("GET", "/block", [this](const HttpRequest&) {
      release_.WaitForNotificationWithTimeout(absl::Seconds(30));
      return HttpResponse{};
    });
    server_->HandleUnrouted([this](const HttpRequest& r, HttpResponse answer) {
      absl::MutexLock lock(&mu_);
      unrouted_.push_back(absl::StrCat(r.method, " ", answer.status));
      return answer;
    });
    server_->SetObserver([this](const HttpExchange& e) {
      absl::MutexLock lock(&mu_);
      observed_.push_back(absl::StrCat(e.method, " ", e.route, " ", e.status));
    });
    ASSERT_TRUE(server_->Start("127.0.0.1:0").ok());
  }

  void Release() {
    absl::MutexLock lock(&mu_);
    if (!release_.HasBeenNotified()) release_.Notify();
  }

  void TearDown() override {
    Release();
    if (server_ != nullptr) server_->Stop();
  }

  std::unique_ptr<HttpWire> Connect() {
    auto wire = HttpWire::Connect(server_->port(), tls_);
    EXPECT_TRUE(wire.ok()) << wire.status();
    return wire.ok() ? *std::move(wire) : nullptr;
  }

  WireResponse Exchange(HttpWire& wire, const std::string& bytes) {
    EXPECT_TRUE(wire.Send(bytes).ok());
    auto response = wire.Read();
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : WireResponse{};
  }

  std::vector<std::string> Unrouted() {
    absl::MutexLock lock(&mu_);
    return unrouted_;
  }
  std::vector<std::string> Observed() {
    absl::MutexLock lock(&mu_);
    return observed_;
  }

  static std::string cert_, key_;
  bool tls_ = true;
  std::unique_ptr<HttpServer> server_;
  absl::Notification release_;
  absl::Mutex mu_;
  std::vector<std::string> unrouted_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> observed_ ABSL_GUARDED_BY(mu_);
};

std::string HttpServerTest::cert_;
std::string HttpServerTest::key_;

TEST_F(HttpServerTest, KeepAliveHasNoSmallCap) {
  Start();
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  for (int i = 0; i < 200; ++i) {
    WireResponse r = Exchange(*wire, HttpRequestBytes("POST", "/echo", absl::StrCat("m", i)));
    ASSERT_EQ(r.status, 200) << i;
    ASSERT_EQ(r.body, absl::StrCat("m", i));
    ASSERT_FALSE(r.close) << i;
  }
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Start();
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  // One write: one TLS record with three requests.
  ASSERT_TRUE(wire->Send(absl::StrCat(HttpRequestBytes("POST", "/echo", "first"),
                                      HttpRequestBytes("GET", "/n/second"),
                                      HttpRequestBytes("POST", "/echo", "third")))
                  .ok());
  for (const char* want : {"first", "second", "third"}) {
    auto r = wire->Read();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, want);
  }
}

TEST_F(HttpServerTest, LiteralListVerbIsDeliveredAndUnknownMethodsGet405WithAllow) {
  Start();
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  WireResponse listed = Exchange(*wire, HttpRequestBytes("LIST", "/keys"));
  EXPECT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body, "listed");
  WireResponse other = Exchange(*wire, HttpRequestBytes("FROB", "/keys"));
  EXPECT_EQ(other.status, 405);
  EXPECT_EQ(other.Header("allow"), "LIST");
  // Still in sync.
  EXPECT_EQ(Exchange(*wire, HttpRequestBytes("GET", "/n/7")).body, "7");
}

TEST_F(HttpServerTest, AMalformedRequestEndsTheConnectionSoItsBodyIsNeverARequest) {
  Start();
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  // The body, were it parsed after the refusal, would be a request of its own.
  const std::string smuggled = HttpRequestBytes("GET", "/n/smuggled");
  ASSERT_TRUE(wire->Send(absl::StrCat("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ",
                                      smuggled.size(), "\r\nContent-Length: 3\r\n\r\n", smuggled))
                  .ok());
  auto r = wire->Read();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(r->close);
  EXPECT_THAT(r->body, HasSubstr("Content-Length"));
  EXPECT_TRUE(wire->ClosedWithin(absl::Seconds(5)));
  // Audited (through the unrouted handler) and observed; the smuggled GET never ran.
  EXPECT_THAT(Unrouted(), ::testing::ElementsAre("POST 400"));
  for (const std::string& o : Observed()) EXPECT_THAT(o, ::testing::Not(HasSubstr("/n/")));
}

// RFC 9112 6.3: a request whose last transfer coding is not chunked has no knowable length.
// Read as bodiless, its body would be parsed as the next request (a front end that honours
// the coding sees one request, this server two); codings other than chunked are not
// supported. Either way the request is refused and the connection ends.
TEST_F(HttpServerTest, TransferCodingsOtherThanALoneChunkedAreRefused) {
  Start();
  const std::string smuggled = HttpRequestBytes("GET", "/n/smuggled");
  for (const char* coding : {"chunked, identity", "gzip", "identity, chunked", "gzip, chunked"}) {
    SCOPED_TRACE(coding);
    auto wire = Connect();
    ASSERT_NE(wire, nullptr);
    ASSERT_TRUE(wire->Send(absl::StrCat("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ",
                                        coding, "\r\n\r\n", absl::Hex(smuggled.size()),
                                        "\r\n", smuggled, "\r\n0\r\n\r\n"))
                    .ok());
    auto r = wire->Read();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->status == 400 || r->status == 501) << r->status;
    EXPECT_TRUE(r->close);
    EXPECT_THAT(r->body, HasSubstr("Transfer-Encoding"));
    EXPECT_TRUE(wire->ClosedWithin(absl::Seconds(5)));
  }
  for (const std::string& o : Observed()) EXPECT_THAT(o, ::testing::Not(HasSubstr("/n/")));
  for (const std::string& o : Observed()) EXPECT_THAT(o, ::testing::Not(HasSubstr(" 200")));
  // A lone chunked (any case) is the one framing besides Content-Length.
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  WireResponse ok = Exchange(*wire, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                    "Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "ok");
}

// Trailer fields are not header fields (RFC 9110 6.5.1): a credential sent after a chunked
// body, where a front end that checks headers does not look, never reaches a handler.
TEST_F(HttpServerTest, TrailerFieldsNeverBecomeHeaders) {
  Start();
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  WireResponse r = Exchange(*wire, "POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                   "chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Vault-Token: "
                                   "trailer-token\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "none");
  // The header's own token is the one seen, whatever the trailer says.
  WireResponse both = Exchange(*wire, "POST /token HTTP/1.1\r\nHost: x\r\nX-Vault-Token: "
                                      "header-token\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "0\r\nX-Vault-Token: trailer-token\r\n\r\n");
  EXPECT_EQ(both.status, 200);
  EXPECT_EQ(both.body, "header-token");
}

// Chunk extensions and trailers are read into the connection's buffer, which is bounded:
// a chunk line that never ends is refused at once, not held until the body deadline.
TEST_F(HttpServerTest, ChunkExtensionsAndTrailersAreBounded) {
  signal(SIGPIPE, SIG_IGN);  // a TLS write to a closed connection
  Start();
  for (const std::string& head :
       {std::string("1;"), std::string("1\r\nx\r\n0\r\nX-Big: ")}) {
    auto wire = Connect();
    ASSERT_NE(wire, nullptr);
    ASSERT_TRUE(wire->Send(absl::StrCat("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                        "chunked\r\n\r\n", head))
                    .ok());
    // 512 KiB, which an unbounded buffer would hold whole, waiting for the line's end; a
    // send after the refusal may fail (the server lingers over 1 MiB at most).
    for (int i = 0; i < 8 && wire->Send(std::string(64 << 10, 'a')).ok(); ++i) {
    }
    auto r = wire->Read(absl::Seconds(5));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("too large"));
  }
}

// A request names its host once (RFC 9112 3.2): a front end and this server must not each
// pick a different one of two.
TEST_F(HttpServerTest, ARequestNeedsExactlyOneHost) {
  Start();
  {
    auto wire = Connect();
    ASSERT_NE(wire, nullptr);
    WireResponse r = Exchange(*wire, HttpRequestBytes("POST", "/token", "{}", "Host: y\r\n"));
    EXPECT_EQ(r.status, 400);
    EXPECT_TRUE(r.close);
  }
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  WireResponse missing = Exchange(*wire, "POST /token HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(missing.status, 400);
  EXPECT_THAT(missing.body, HasSubstr("Host"));
}

// obs-fold (RFC 9112 5.2): a header line that starts with a space or tab continues the
// previous field. A front end that reads it as a field of its own (or drops it) and this
// server (whose parser would join it to the previous value) would disagree on the headers,
// e.g. on the token; it is refused with 400 before any handler runs, however the bytes
// arrive, and the connection ends.
TEST_F(HttpServerTest, ObsFoldIsRefusedBeforeTheRequestIsHandled) {
  Start();
  const std::vector<std::string> folded = {
      "POST /token HTTP/1.1\r\nHost: x\r\nX-Vault-Token: a\r\n b\r\nContent-Length: 0\r\n\r\n",
      "POST /token HTTP/1.1\r\nHost: x\r\nX-Vault-Token: a\r\n\tb\r\nContent-Length: 0\r\n\r\n",
      "POST /token HTTP/1.1\r\n X-Vault-Token: a\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
  };
  for (const std::string& bytes : folded) {
    // Whole, and a byte at a time (the fold in a later read than its field).
    for (bool trickle : {false, true}) {
      SCOPED_TRACE(absl::StrCat(bytes, trickle ? " (trickled)" : ""));
      auto wire = Connect();
      ASSERT_NE(wire, nullptr);
      if (trickle) {
        for (char c : bytes) ASSERT_TRUE(wire->Send(std::string(1, c)).ok());
      } else {
        ASSERT_TRUE(wire->Send(bytes).ok());
      }
      auto r = wire->Read();
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, 400);
      EXPECT_EQ(r->Header("content-type"), "application/json");
      EXPECT_THAT(r->body, HasSubstr("obs-fold"));
      EXPECT_TRUE(r->close);
      EXPECT_TRUE(wire->ClosedWithin(absl::Seconds(5)));
    }
  }
  for (const std::string& o : Observed()) EXPECT_THAT(o, ::testing::Not(HasSubstr("/token")));
  // Each refusal is audited, with its request line.
  EXPECT_EQ(Unrouted(), std::vector<std::string>(2 * folded.size(), "POST 400"));
  // Spaces inside a value, and a request trickled a byte at a time, are fine.
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  for (char c : std::string("POST /token HTTP/1.1\r\nHost: x\r\nX-Vault-Token:  a b \r\n"
                            "Content-Length: 0\r\n\r\n")) {
    ASSERT_TRUE(wire->Send(std::string(1, c)).ok());
  }
  auto r = wire->Read();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "a b");
  // Pipelined behind a good request on the same connection: the good one is answered, the
  // folded one refused.
  ASSERT_TRUE(wire->Send(absl::StrCat(HttpRequestBytes("GET", "/n/1"), folded[0])).ok());
  r = wire->Read();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "1");
  r = wire->Read();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
}

// ServeBytes (the fuzzer's path) refuses obs-fold the same way.
TEST(ServeBytes, ObsFoldIsRefusedBeforeTheRequestIsHandled) {
  HttpRouter router;
  int handled = 0;
  router.Handle("POST", "/token", [&handled](const HttpRequest&) {
    ++handled;
    return HttpResponse{};
  });
  std::string output;
  internal::ServeBytes(router, HttpServerOptions(),
                       "POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                       "POST /token HTTP/1.1\r\nHost: x\r\nX-Vault-Token: a\r\n\tb\r\n"
                       "Content-Length: 0\r\n\r\n",
                       &output);
  EXPECT_EQ(handled, 1);
  EXPECT_THAT(output, HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(output, HasSubstr("obs-fold"));
}

TEST_F(HttpServerTest, ContentEncodingIsRefusedNotInflated) {
  Start();
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  WireResponse r = Exchange(*wire, HttpRequestBytes("POST", "/echo", std::string(100, 'x'),
                                                    "Content-Encoding: gzip\r\n"));
  EXPECT_EQ(r.status, 415);
  EXPECT_TRUE(r.close);
  EXPECT_THAT(r.body, HasSubstr("\"errors\""));
}

TEST_F(HttpServerTest, OneBodyLimitForEveryFraming) {
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  Start(options);
  {  // Content-Length: refused from the header, before the body is read.
    auto wire = Connect();
    ASSERT_NE(wire, nullptr);
    ASSERT_TRUE(wire->Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n").ok());
    auto r = wire->Read();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(r->close);
  }
  {  // Chunked: refused when the chunks pass the limit.
    auto wire = Connect();
    ASSERT_NE(wire, nullptr);
    std::string chunks = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 20; ++i) absl::StrAppend(&chunks, "64\r\n", std::string(100, 'y'), "\r\n");
    absl::StrAppend(&chunks, "0\r\n\r\n");
    auto r = (wire->Send(chunks).ok(), wire->Read());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(r->close);
  }
  {  // Within the limit, chunked works.
    auto wire = Connect();
    ASSERT_NE(wire, nullptr);
    WireResponse r = Exchange(
        *wire, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "abcde");
  }
  {  // No framing: a request body is empty (RFC 9112 6.3); the rest is not a request.
    auto wire = Connect();
    ASSERT_NE(wire, nullptr);
    ASSERT_TRUE(
        wire->Send(absl::StrCat("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n", std::string(5000, 'z'),
                                "\r\n\r\n"))
            .ok());
    auto first = wire->Read();
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(first->body, "");
    auto second = wire->Read();
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(second->status, 400);  // "zzz..." is no request line
    EXPECT_TRUE(second->close);
  }
}

TEST_F(HttpServerTest, HeadersPastTheLimitAre431) {
  Start();
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  WireResponse r = Exchange(
      *wire, HttpRequestBytes("GET", "/n/1", "", absl::StrCat("X-Big: ", std::string(20000, 'a'), "\r\n")));
  EXPECT_EQ(r.status, 431);
  EXPECT_TRUE(r.close);
}

TEST_F(HttpServerTest, HeaderBodyAndIdleDeadlinesCloseSlowConnections) {
  HttpServerOptions options;
  options.header_timeout = absl::Milliseconds(500);
  options.body_timeout = absl::Milliseconds(500);
  options.idle_timeout = absl::Milliseconds(500);
  Start(options);
  auto idle = Connect();
  auto header = Connect();
  auto body = Connect();
  ASSERT_TRUE(header->Send("GET /n/1 HTTP/1.1\r\nHost:").ok());
  ASSERT_TRUE(body->Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc").ok());
  const absl::Time start = absl::Now();
  // Trickling does not extend the header deadline.
  for (int i = 0; i < 3; ++i) {
    absl::SleepFor(absl::Milliseconds(150));
    (void)header->Send(" x");
  }
  EXPECT_TRUE(idle->ClosedWithin(absl::Seconds(5)));
  EXPECT_TRUE(header->ClosedWithin(absl::Seconds(5)));
  EXPECT_TRUE(body->ClosedWithin(absl::Seconds(5)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  // None of them got a request read whole, so each is refused through the unrouted handler
  // (audited), with the method when its request line was parsed.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_THAT(Unrouted(), ::testing::UnorderedElementsAre("POST 408", "GET 408", " 408"));
  EXPECT_THAT(Observed(), ::testing::Contains("POST unrouted 408"));
}

TEST_F(HttpServerTest, AKeepAliveConnectionIdleAfterItsRequestsClosesWithoutARefusal) {
  HttpServerOptions options;
  options.idle_timeout = absl::Milliseconds(300);
  Start(options);
  auto wire = Connect();
  EXPECT_EQ(Exchange(*wire, HttpRequestBytes("GET", "/n/1")).status, 200);
  EXPECT_TRUE(wire->ClosedWithin(absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_THAT(Unrouted(), ::testing::IsEmpty());
}

TEST_F(HttpServerTest, ConnectionsPastTheBoundAreRefusedWith503) {
  HttpServerOptions options;
  options.max_connections = 3;
  Start(options);
  std::vector<std::unique_ptr<HttpWire>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(Connect());
    ASSERT_EQ(Exchange(*held.back(), HttpRequestBytes("GET", "/n/1")).status, 200);
  }
  auto extra = Connect();
  ASSERT_NE(extra, nullptr);
  auto r = extra->Read();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(r->close);
  EXPECT_THAT(Observed(), ::testing::Contains("OTHER refused 503"));
  // The refusal went through the unrouted handler (audited), before any request was read.
  EXPECT_THAT(Unrouted(), ::testing::ElementsAre(" 503"));
  // Once one closes, a new connection is served.
  held.pop_back();
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  int status = 0;
  while (status != 200 && absl::Now() < deadline) {
    auto again = Connect();
    auto response = (again->Send(HttpRequestBytes("GET", "/n/2")).ok(), again->Read());
    status = response.ok() ? response->status : 0;
  }
  EXPECT_EQ(status, 200);
}

TEST_F(HttpServerTest, BlockingHandlersDoNotHoldTheIoThreads) {
  HttpServerOptions options;
  options.io_threads = 1;
  options.worker_threads = 4;
  Start(options);
  auto blocked = Connect();
  ASSERT_TRUE(blocked->Send(HttpRequestBytes("GET", "/block")).ok());
  auto other = Connect();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(Exchange(*other, HttpRequestBytes("GET", "/n/free")).body, "free");
  Release();
  auto r = blocked->Read();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, AsynchronousHandlersHoldNoWorkerWhileTheirReplyIsPending) {
  HttpServerOptions options;
  options.worker_threads = 2;
  absl::Mutex pending_mu;
  std::vector<absl::AnyInvocable<void()>> pending;  // the replies, not yet sent
  auto created = HttpServer::Create(cert_, key_, options);
  ASSERT_TRUE(created.ok()) << created.status();
  server_ = *std::move(created);
  server_->HandleAsync("POST", "/later", [&](HttpRequest request, HttpReply reply) {
    absl::MutexLock lock(&pending_mu);
    pending.push_back([reply = std::move(reply), body = std::move(request.body)]() mutable {
      HttpResponse response;
      response.body = body;
      reply(std::move(response));
    });
  });
  ASSERT_TRUE(server_->Start("127.0.0.1:0").ok());
  // Ten requests outstanding at once on a pool of two workers.
  constexpr int kClients = 10;
  std::vector<std::unique_ptr<HttpWire>> wires;
  for (int i = 0; i < kClients; ++i) {
    wires.push_back(Connect());
    ASSERT_TRUE(wires.back()->Send(HttpRequestBytes("POST", "/later", absl::StrCat("r", i))).ok());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (;;) {
    absl::MutexLock lock(&pending_mu);
    if (pending.size() == kClients || absl::Now() > deadline) break;
    pending_mu.Unlock();
    absl::SleepFor(absl::Milliseconds(10));
    pending_mu.Lock();
  }
  std::vector<absl::AnyInvocable<void()>> replies;
  {
    absl::MutexLock lock(&pending_mu);
    ASSERT_EQ(pending.size(), kClients);
    replies.swap(pending);
  }
  // Replied from this thread, not a worker's.
  for (auto& reply : replies) reply();
  for (int i = 0; i < kClients; ++i) {
    auto r = wires[i]->Read();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, absl::StrCat("r", i));
  }
}

// The name of the calling thread (the server names its I/O threads and its workers).
std::string ThreadName() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

TEST_F(HttpServerTest, OnlyInlineRoutesRunOnTheIoThreadAndRepliesKeepTheirOrder) {
  HttpServerOptions options;
  options.worker_threads = 2;
  auto created = HttpServer::Create(cert_, key_, options);
  ASSERT_TRUE(created.ok()) << created.status();
  server_ = *std::move(created);
  auto named = [](HttpRequest request, HttpReply reply) {
    HttpResponse response;
    response.body = absl::StrCat(request.path, " ", ThreadName());
    reply(std::move(response));
  };
  server_->HandleAsync("GET", "/inline", named, HandlerRuns::kInline);
  server_->HandleAsync("GET", "/inline/{id}", named, HandlerRuns::kInline);
  server_->HandleAsync("GET", "/worker", named);  // the default: it may block
  server_->Handle("GET", "/sync", [](const HttpRequest& r) {
    HttpResponse response;
    response.body = absl::StrCat(r.path, " ", ThreadName());
    return response;
  });
  ASSERT_TRUE(server_->Start("127.0.0.1:0").ok());
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  // Pipelined in one write, inline and worker routes interleaved: answered in order.
  const std::vector<std::string> paths = {"/worker", "/inline", "/sync", "/inline/7", "/worker"};
  std::string bytes;
  for (const std::string& path : paths) bytes += HttpRequestBytes("GET", path);
  ASSERT_TRUE(wire->Send(bytes).ok());
  const std::vector<std::string> want = {"/worker sr-worker", "/inline sr-http-io",
                                         "/sync sr-worker", "/inline/7 sr-http-io",
                                         "/worker sr-worker"};
  for (const std::string& expected : want) {
    auto r = wire->Read();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, expected);
  }
}

TEST_F(HttpServerTest, ABlockedWorkerRouteDoesNotDelayAnInlineRoute) {
  HttpServerOptions options;
  options.worker_threads = 1;
  auto created = HttpServer::Create(cert_, key_, options);
  ASSERT_TRUE(created.ok()) << created.status();
  server_ = *std::move(created);
  server_->Handle("GET", "/block", [this](const HttpRequest&) {
    release_.WaitForNotificationWithTimeout(absl::Seconds(30));
    return HttpResponse{};
  });
  server_->HandleAsync("GET", "/health", [](HttpRequest, HttpReply reply) {
    HttpResponse response;
    response.body = "ok";
    reply(std::move(response));
  }, HandlerRuns::kInline);
  ASSERT_TRUE(server_->Start("127.0.0.1:0").ok());
  auto blocked = Connect();
  ASSERT_NE(blocked, nullptr);
  ASSERT_TRUE(blocked->Send(HttpRequestBytes("GET", "/block")).ok());
  absl::SleepFor(absl::Milliseconds(100));  // the only worker is now held
  auto other = Connect();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(Exchange(*other, HttpRequestBytes("GET", "/health")).body, "ok");
  Release();
  auto r = blocked->Read();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, TwoHundredTricklingConnectionsDoNotSlowANormalClient) {
  Start();
  auto normal = Connect();
  ASSERT_NE(normal, nullptr);
  absl::Duration baseline = absl::InfiniteDuration();
  for (int i = 0; i < 20; ++i) {
    absl::Time t = absl::Now();
    ASSERT_EQ(Exchange(*normal, HttpRequestBytes("GET", "/n/1")).status, 200);
    baseline = std::min(baseline, absl::Now() - t);
  }
  std::vector<std::unique_ptr<HttpWire>> slow;
  for (int i = 0; i < 200; ++i) {
    slow.push_back(Connect());
    ASSERT_NE(slow.back(), nullptr);
    ASSERT_TRUE(slow.back()->Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").ok());
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop.load()) {
      for (auto& s : slow) (void)s->Send("x");
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  absl::Duration worst = absl::ZeroDuration();
  for (int i = 0; i < 50; ++i) {
    absl::Time t = absl::Now();
    WireResponse r = Exchange(*normal, HttpRequestBytes("GET", "/n/1"));
    worst = std::max(worst, absl::Now() - t);
    ASSERT_EQ(r.status, 200);
  }
  stop.store(true);
  trickle.join();
  // Generous: a loaded 2-core CI machine; a starved client would wait out seconds.
  EXPECT_LT(worst, absl::Milliseconds(500)) << "baseline " << baseline;
}

TEST_F(HttpServerTest, StopDrainsWithinItsBoundWhateverClientsDo) {
  HttpServerOptions options;
  options.drain_timeout = absl::Seconds(1);
  options.header_timeout = absl::Seconds(60);
  options.body_timeout = absl::Seconds(60);
  Start(options);
  auto idle = Connect();
  ASSERT_EQ(Exchange(*idle, HttpRequestBytes("GET", "/n/1")).status, 200);
  auto slow = Connect();
  ASSERT_TRUE(slow->Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab").ok());
  auto blocked = Connect();
  ASSERT_TRUE(blocked->Send(HttpRequestBytes("GET", "/block")).ok());
  absl::SleepFor(absl::Milliseconds(100));  // let the handler start
  std::thread release([this] {
    absl::SleepFor(absl::Milliseconds(300));
    Release();
  });
  const absl::Time start = absl::Now();
  server_->Stop();
  const absl::Duration took = absl::Now() - start;
  release.join();
  EXPECT_LT(took, absl::Seconds(3));
  // The request in progress was answered, and told the connection ends.
  auto r = blocked->Read(absl::Seconds(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->close);
  EXPECT_TRUE(idle->ClosedWithin(absl::Seconds(1)));
  EXPECT_TRUE(slow->ClosedWithin(absl::Seconds(1)));
}

TEST_F(HttpServerTest, PlainHttpServesTheSameWay) {
  Start(HttpServerOptions(), /*tls=*/false);
  auto wire = Connect();
  ASSERT_NE(wire, nullptr);
  ASSERT_TRUE(wire->Send(absl::StrCat(HttpRequestBytes("POST", "/echo", "a"),
                                      HttpRequestBytes("GET", "/n/b")))
                  .ok());
  auto a = wire->Read();
  auto b = wire->Read();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->body, "a");
  EXPECT_EQ(b->body, "b");
}

}  // namespace
}  // namespace strongroom::server
