// End to end: the gRPC edge of the real strongroomd under hostile or heavy use.
//
// Malformed requests (bad protobuf, invalid UTF-8 in a string field) are INVALID_ARGUMENT
// and audited; every reply to a request inside the documented limits is sent, and a reply
// too large to send is refused with RESOURCE_EXHAUSTED and audited as such, never as OK;
// an overload is shed at once with RESOURCE_EXHAUSTED, audited and counted, instead of
// queueing without bound; SIGTERM ends the process within drain_seconds (plus a fixed
// teardown grace) whatever slow clients do.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "tests/testing/http_wire.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"

namespace strongroom {
namespace {

using ::testing::HasSubstr;
using testing::Process;
using testing::ReadAll;
using testing::RunCommand;

class EdgeE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (token_ != nullptr) return;  // One token for the whole binary.
    auto token = hsm::testing::SoftHsmToken::Create("edge");
    ASSERT_TRUE(token.ok()) << token.status();
    token_ = new hsm::testing::SoftHsmToken(*std::move(token));
  }

  // Starts strongroomd with `grpc_extra` YAML lines under grpc: and `top_extra` at the top
  // level; with the HTTP listener if `http`.
  void StartServer(const std::string& grpc_extra = "", const std::string& top_extra = "",
                   bool http = false) {
    static int n = 0;
    state_ = absl::StrCat(token_->dir, "/state", ++n);
    const std::string config = absl::StrCat(token_->dir, "/edge", n, ".yaml");
    std::string yaml = absl::StrCat(
        "state_dir: ", state_, "\nhsm:\n  token_label: ", token_->label,
        "\n  pin_file: ", token_->pin_file, "\ngrpc:\n  address: 127.0.0.1:0\n", grpc_extra,
        top_extra, http ? "http:\n  address: 127.0.0.1:0\n" : "http:\n  enabled: false\n");
    ASSERT_TRUE(hsm::testing::WriteFile(config, yaml, 0600).ok());
    server_ = std::make_unique<Process>();
    ports_ = testing::StartStrongroomd(*server_, config, http);
    ASSERT_NE(ports_.grpc, 0) << server_->output();
    channel_ = Channel();
    stub_ = v1::Transit::NewStub(channel_);
  }

  // A channel with the root token that takes replies of any size; with `own_connection`,
  // on a connection of its own (a connection may carry at most max_pending_requests
  // concurrent calls).
  std::shared_ptr<grpc::Channel> Channel(bool own_connection = false) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadAll(testing::ServerCert(state_));
    auto creds = grpc::CompositeChannelCredentials(
        grpc::SslCredentials(ssl), grpc::AccessTokenCredentials(testing::RootToken(state_)));
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    if (own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", ports_.grpc), creds, args);
  }

  void CreateKey(const std::string& name) {
    grpc::ClientContext ctx;
    v1::CreateKeyRequest request;
    request.set_name(name);
    v1::Key key;
    grpc::Status s = stub_->CreateKey(&ctx, request, &key);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // The audit lines (after the server has stopped, so that every record is in the file).
  std::vector<std::string> AuditLines() {
    return absl::StrSplit(ReadAll(state_ + "/audit/audit.log"), '\n', absl::SkipEmpty());
  }

  // The audit line of request `id`, or "".
  std::string AuditLineOf(const std::string& id) {
    for (const std::string& line : AuditLines()) {
      if (absl::StrContains(line, absl::StrCat("\"request_id\":\"", id, "\""))) return line;
    }
    return "";
  }

  void Stop() {
    server_->Signal(SIGTERM);
    ASSERT_EQ(server_->Wait(), 0) << server_->output();
  }

  static std::string RequestId(const grpc::ClientContext& ctx) {
    auto it = ctx.GetServerTrailingMetadata().find("x-request-id");
    if (it == ctx.GetServerTrailingMetadata().end()) return "";
    return std::string(it->second.data(), it->second.size());
  }

  static hsm::testing::SoftHsmToken* token_;
  std::string state_;
  testing::StrongroomdPorts ports_;
  std::unique_ptr<Process> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Transit::Stub> stub_;
};
hsm::testing::SoftHsmToken* EdgeE2eTest::token_ = nullptr;

// A unary call with raw request bytes, as a broken or hostile client sends them.
grpc::Status RawCall(grpc::Channel* channel, const std::string& method, const std::string& bytes,
                     grpc::ClientContext* ctx) {
  grpc::GenericStub stub(channel->shared_from_this());
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), reply;
  absl::Mutex mu;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(ctx, method, grpc::StubOptions(), &request, &reply, [&](grpc::Status s) {
    absl::MutexLock lock(&mu);
    status = std::move(s);
    done = true;
  });
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(&done));
  return status;
}

TEST_F(EdgeE2eTest, MalformedRequestsAreInvalidArgumentAndAudited) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_NO_FATAL_FAILURE(CreateKey("k"));
  // EncryptRequest: key_name (1) "k", then a field whose length runs past the end.
  const std::string truncated("\x0a\x01k\x1a\x7f\x01", 6);
  // key_name = "\xc3\x28": proto3 strings must be UTF-8.
  const std::string bad_utf8("\x0a\x02\xc3\x28", 4);
  std::vector<std::string> ids;
  for (const std::string& bytes : {truncated, bad_utf8, std::string("\xff\xff\xff\xff", 4)}) {
    grpc::ClientContext ctx;
    grpc::Status s = RawCall(channel_.get(), "/strongroom.v1.Transit/Encrypt", bytes, &ctx);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("strongroom.v1.EncryptRequest"));
    ids.push_back(RequestId(ctx));
    EXPECT_NE(ids.back(), "") << "no x-request-id: not through the gate";
  }
  // Another service, another message type.
  {
    grpc::ClientContext ctx;
    grpc::Status s = RawCall(channel_.get(), "/strongroom.v1.Transit/CreateKey",
                             std::string("\x0a\x03\xe0\x80\x80", 5), &ctx);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    ids.push_back(RequestId(ctx));
  }
  // The server still serves.
  {
    grpc::ClientContext ctx;
    v1::EncryptRequest request;
    request.set_key_name("k");
    request.add_items()->set_plaintext("hello");
    v1::EncryptResponse response;
    EXPECT_TRUE(stub_->Encrypt(&ctx, request, &response).ok());
  }
  ASSERT_NO_FATAL_FAILURE(Stop());
  for (const std::string& id : ids) {
    if (id.empty()) continue;
    EXPECT_THAT(AuditLineOf(id), HasSubstr("\"code\":\"INVALID_ARGUMENT\"")) << id;
  }
}

// 15 items of 1 MiB (every documented limit kept) encrypt to ~20 MiB of base64: the
// reply limit is derived from the request limit so that it is sent.
TEST_F(EdgeE2eTest, RepliesToRequestsInsideTheLimitsAreSent) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_NO_FATAL_FAILURE(CreateKey("big"));
  const size_t kMiB = size_t{1} << 20;
  v1::EncryptRequest encrypt;
  encrypt.set_key_name("big");
  for (int i = 0; i < 15; ++i) encrypt.add_items()->set_plaintext(std::string(kMiB, 'a' + i));
  v1::EncryptResponse encrypted;
  grpc::ClientContext encrypt_ctx;
  grpc::Status s = stub_->Encrypt(&encrypt_ctx, encrypt, &encrypted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(encrypted.results_size(), 15);
  const std::string encrypt_id = RequestId(encrypt_ctx);

  // Rewrap and Decrypt shapes: as many ciphertexts as fit in one request.
  {
    grpc::ClientContext ctx;
    v1::RotateKeyRequest rotate;
    rotate.set_name("big");
    v1::Key key;
    ASSERT_TRUE(stub_->RotateKey(&ctx, rotate, &key).ok());
  }
  v1::RewrapRequest rewrap;
  rewrap.set_key_name("big");
  for (int i = 0; i < 11; ++i) {
    rewrap.add_items()->set_ciphertext(encrypted.results(i).ciphertext());
  }
  ASSERT_LT(rewrap.ByteSizeLong(), 16 * kMiB);
  v1::RewrapResponse rewrapped;
  grpc::ClientContext rewrap_ctx;
  s = stub_->Rewrap(&rewrap_ctx, rewrap, &rewrapped);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(rewrapped.results_size(), 11);
  EXPECT_GT(rewrapped.ByteSizeLong(), rewrap.ByteSizeLong());

  v1::DecryptRequest decrypt;
  decrypt.set_key_name("big");
  for (int i = 0; i < 11; ++i) {
    decrypt.add_items()->set_ciphertext(rewrapped.results(i).ciphertext());
  }
  v1::DecryptResponse decrypted;
  grpc::ClientContext decrypt_ctx;
  s = stub_->Decrypt(&decrypt_ctx, decrypt, &decrypted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(decrypted.results_size(), 11);
  for (int i = 0; i < 11; ++i) {
    EXPECT_EQ(decrypted.results(i).plaintext(), encrypt.items(i).plaintext()) << i;
  }

  v1::GenerateDataKeyRequest datakey;
  datakey.set_key_name("big");
  v1::GenerateDataKeyResponse key;
  grpc::ClientContext datakey_ctx;
  s = stub_->GenerateDataKey(&datakey_ctx, datakey, &key);
  EXPECT_TRUE(s.ok()) << s.error_message();

  ASSERT_NO_FATAL_FAILURE(Stop());
  for (const std::string& id : {encrypt_id, RequestId(rewrap_ctx), RequestId(decrypt_ctx),
                                RequestId(datakey_ctx)}) {
    EXPECT_THAT(AuditLineOf(id), HasSubstr("\"code\":\"OK\"")) << id;
  }
}

// A reply whose size the request does not bound (a listing) and that is over the reply
// limit: RESOURCE_EXHAUSTED, and audited as that, not as OK.
TEST_F(EdgeE2eTest, AReplyTooLargeToSendIsRefusedAndAuditedAsRefused) {
  // Reply limit: 1024 + 1024/3 + 1 item's overhead + the fixed envelope (a few tens of KiB).
  ASSERT_NO_FATAL_FAILURE(
      StartServer("  max_message_bytes: 1024\n", "transit:\n  max_batch_items: 1\n"));
  const std::string prefix(120, 'n');
  for (int i = 0; i < 400; ++i) ASSERT_NO_FATAL_FAILURE(CreateKey(absl::StrCat(prefix, i)));
  v1::ListKeysRequest list;
  list.set_page_size(1000);
  v1::ListKeysResponse listed;
  grpc::ClientContext ctx;
  grpc::Status s = stub_->ListKeys(&ctx, list, &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("grpc.max_message_bytes"));
  // A page that fits is sent.
  list.set_page_size(10);
  grpc::ClientContext small_ctx;
  s = stub_->ListKeys(&small_ctx, list, &listed);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(listed.names_size(), 10);
  ASSERT_NO_FATAL_FAILURE(Stop());
  int refused = 0;
  for (const std::string& line : AuditLines()) {
    if (!absl::StrContains(line, "\"resource\":\"transit/keys\",")) continue;
    if (absl::StrContains(line, "\"code\":\"RESOURCE_EXHAUSTED\"")) ++refused;
  }
  EXPECT_EQ(refused, 1) << "the oversized ListKeys must be audited as RESOURCE_EXHAUSTED";
}

// Holds SQLite's write lock on `db` until `release` exists, so that a request that writes
// storage holds its worker (for up to the storage's busy timeout).
constexpr char kHoldWriteLock[] = R"py(
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
db.execute('COMMIT')
print('released', flush=True)
)py";

// One worker, at most 2 requests pending: with the worker held, 2 of 10 concurrent calls
// (on 10 connections) are taken and the other 8 are refused at once, audited, and counted.
TEST_F(EdgeE2eTest, AnOverloadIsShedAtOnceAuditedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer("  worker_threads: 1\n  max_pending_requests: 2\n", "", /*http=*/true));
  Process locker;
  const std::string release = state_ + "/release-lock";
  ASSERT_TRUE(locker.Start({"python3", "-c", kHoldWriteLock, state_ + "/strongroom.db", release}));
  ASSERT_TRUE(locker.WaitForOutput("locked")) << locker.output();

  constexpr int kCalls = 10;
  struct Outcome {
    std::unique_ptr<v1::Transit::Stub> stub;
    grpc::ClientContext ctx;
    v1::CreateKeyRequest request;
    v1::Key key;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Outcome>> calls;
  absl::Mutex mu;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::make_unique<Outcome>());
    Outcome* c = calls.back().get();
    c->request.set_name(absl::StrCat("shed", i));
    c->stub = v1::Transit::NewStub(Channel(/*own_connection=*/true));
    c->stub->async()->CreateKey(&c->ctx, &c->request, &c->key, [c, &mu, &done](grpc::Status s) {
      absl::MutexLock lock(&mu);
      c->status = std::move(s);
      ++done;
    });
  }
  {
    // The shed calls are answered while the two taken ones still wait for storage.
    absl::MutexLock lock(&mu);
    auto eight_done = [&done] { return done >= kCalls - 2; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&eight_done), absl::Seconds(4)));
  }
  ASSERT_TRUE(hsm::testing::WriteFile(release, "", 0600).ok());
  ASSERT_TRUE(locker.WaitForOutput("released")) << locker.output();
  {
    absl::MutexLock lock(&mu);
    auto all_done = [&done] { return done == kCalls; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(30)));
  }
  int shed = 0;
  for (const auto& c : calls) {
    if (c->status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) continue;
    ++shed;
    EXPECT_THAT(c->status.error_message(), HasSubstr("grpc.max_pending_requests"));
  }
  EXPECT_EQ(shed, kCalls - 2);

  testing::RunResult metrics = RunCommand(
      {"curl", "-sS", "--max-time", "10", "--cacert", testing::ServerCert(state_), "-H",
       absl::StrCat("X-Vault-Token: ", testing::RootToken(state_)), "--resolve",
       absl::StrCat("localhost:", ports_.http, ":127.0.0.1"),
       absl::StrCat("https://localhost:", ports_.http, "/metrics")});
  EXPECT_THAT(metrics.output, HasSubstr(absl::StrCat("strongroom_grpc_requests_shed_total ",
                                                     kCalls - 2, "\n")))
      << metrics.output;

  ASSERT_NO_FATAL_FAILURE(Stop());
  int audited = 0;
  for (const std::string& line : AuditLines()) {
    if (absl::StrContains(line, "\"resource\":\"transit/keys/shed") &&
        absl::StrContains(line, "\"code\":\"RESOURCE_EXHAUSTED\"")) {
      ++audited;
    }
  }
  EXPECT_EQ(audited, kCalls - 2);
}

// Slow clients: a gRPC health Watch stream that never ends and an HTTPS request whose
// headers arrive one byte every 200 ms, for longer than the test.
constexpr char kSlowClients[] = R"py(
import socket, ssl, sys, time, grpc
grpc_port, http_port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
creds = grpc.ssl_channel_credentials(open(ca, 'rb').read())
ch = grpc.secure_channel('127.0.0.1:' + grpc_port, creds,
                         options=[('grpc.ssl_target_name_override', 'localhost')])
watch = ch.unary_stream('/grpc.health.v1.Health/Watch')(b'')
next(watch)
ctx = ssl.create_default_context(cafile=ca)
raw = socket.create_connection(('127.0.0.1', http_port))
tls = ctx.wrap_socket(raw, server_hostname='localhost')
tls.sendall(b'GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: ')
print('ready', flush=True)
for _ in range(600):
    tls.sendall(b'a')
    time.sleep(0.2)
)py";

// The HTTPS edge of the real server: what it refuses itself (conflicting Content-Length,
// Content-Encoding, an oversized body), what no route takes, and the LIST verb are all
// answered, audited and counted in the HTTP metrics; the connection after a routed answer
// stays usable and a refused one is closed.
TEST_F(EdgeE2eTest, HttpRefusalsAndUnroutedRequestsAreAuditedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(StartServer("", "", /*http=*/true));
  const std::string token = testing::RootToken(state_);
  auto connect = [&] {
    auto wire = testing::HttpWire::Connect(ports_.http, /*tls=*/true);
    EXPECT_TRUE(wire.ok()) << wire.status();
    return wire.ok() ? *std::move(wire) : nullptr;
  };
  auto exchange = [](testing::HttpWire& wire, const std::string& bytes) {
    EXPECT_TRUE(wire.Send(bytes).ok());
    auto r = wire.Read();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : testing::WireResponse{};
  };
  {
    auto wire = connect();
    ASSERT_NE(wire, nullptr);
    testing::WireResponse gz = exchange(
        *wire, testing::HttpRequestBytes("POST", "/v1/transit/encrypt/k", std::string(64, 'x'),
                                         "Content-Encoding: gzip\r\n"));
    EXPECT_EQ(gz.status, 415);
    EXPECT_THAT(gz.body, HasSubstr("{\"errors\":["));
    EXPECT_TRUE(wire->ClosedWithin(absl::Seconds(5)));
  }
  {
    auto wire = connect();
    ASSERT_NE(wire, nullptr);
    testing::WireResponse dup = exchange(
        *wire, "POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
               "Content-Length: 40\r\n\r\n{}");
    EXPECT_EQ(dup.status, 400);
    EXPECT_TRUE(wire->ClosedWithin(absl::Seconds(5)));
  }
  {
    // obs-fold: refused before any route (or the gate) sees the token it would extend.
    auto wire = connect();
    ASSERT_NE(wire, nullptr);
    testing::WireResponse folded = exchange(
        *wire, absl::StrCat("GET /v1/auth/token/lookup-self HTTP/1.1\r\nHost: x\r\n"
                            "X-Vault-Token: ", token, "\r\n x\r\n\r\n"));
    EXPECT_EQ(folded.status, 400);
    EXPECT_EQ(folded.Header("content-type"), "application/json");
    EXPECT_THAT(folded.body, HasSubstr("obs-fold"));
    EXPECT_TRUE(wire->ClosedWithin(absl::Seconds(5)));
  }
  {
    auto wire = connect();
    ASSERT_NE(wire, nullptr);
    testing::WireResponse big = exchange(
        *wire, "POST /v1/transit/encrypt/k HTTP/1.1\r\nHost: x\r\nContent-Length: 16777217\r\n\r\n");
    EXPECT_EQ(big.status, 413);
  }
  {
    auto wire = connect();
    ASSERT_NE(wire, nullptr);
    testing::WireResponse nowhere = exchange(*wire, testing::HttpRequestBytes("GET", "/v1/nowhere"));
    EXPECT_EQ(nowhere.status, 404);
    EXPECT_EQ(nowhere.Header("content-type"), "application/json");
    EXPECT_EQ(nowhere.body, "{\"errors\":[\"unsupported path\"]}\n");
    testing::WireResponse frob = exchange(*wire, testing::HttpRequestBytes("FROB", "/v1/sys/health"));
    EXPECT_EQ(frob.status, 405);
    EXPECT_EQ(frob.Header("content-type"), "application/json");
    EXPECT_THAT(frob.body, HasSubstr("{\"errors\":[\"unsupported operation; allowed: GET"));
    EXPECT_THAT(frob.Header("allow"), HasSubstr("GET"));
    testing::WireResponse listed = exchange(
        *wire, testing::HttpRequestBytes("LIST", "/v1/transit/keys", "",
                                         absl::StrCat("X-Vault-Token: ", token, "\r\n")));
    EXPECT_NE(listed.status, 405);  // delivered to a route, not refused by the server
    testing::WireResponse metrics = exchange(
        *wire, testing::HttpRequestBytes("GET", "/metrics", "",
                                         absl::StrCat("X-Vault-Token: ", token, "\r\n")));
    ASSERT_EQ(metrics.status, 200);
    for (const char* code : {"415", "400", "413", "404"}) {
      EXPECT_THAT(metrics.body,
                  HasSubstr(absl::StrCat("strongroom_http_requests_total{route=\"unrouted\",",
                                         "method=\"", std::string(code) == "404" ? "GET" : "POST",
                                         "\",code=\"", code, "\"} 1")));
    }
    for (const char* counted : {"method=\"GET\",code=\"400\"} 1", "method=\"OTHER\",code=\"405\"} 1"}) {
      EXPECT_THAT(metrics.body, HasSubstr(absl::StrCat(
                                    "strongroom_http_requests_total{route=\"unrouted\",", counted)));
    }
    EXPECT_THAT(metrics.body, HasSubstr("strongroom_http_request_duration_seconds_bucket{"));
  }
  Stop();
  std::string audit = absl::StrJoin(AuditLines(), "\n");
  for (const char* status : {"\"http_status\":415", "\"http_status\":400",
                             "\"http_status\":413", "\"http_status\":404"}) {
    EXPECT_THAT(audit, HasSubstr(status));
  }
  EXPECT_THAT(audit, HasSubstr("\"resource\":\"http/v1/transit/encrypt/k\""));
  EXPECT_THAT(audit, ::testing::Not(HasSubstr(token)));
}

// GET /v1/sys/health is answered once its audit line is written (not waiting for fdatasync,
// server/access/routes.h): a reply never precedes its line, which is in the file as each
// reply arrives and stays there when the process is killed with SIGKILL.
TEST_F(EdgeE2eTest, HealthRepliesNeverPrecedeTheirAuditLine) {
  ASSERT_NO_FATAL_FAILURE(StartServer("", "", /*http=*/true));
  auto health_lines = [&] {
    int n = 0;
    for (const std::string& line : AuditLines()) {
      n += absl::StrContains(line, "\"resource\":\"sys/health\"") &&
           absl::StrContains(line, "\"http_status\":200");
    }
    return n;
  };
  auto wire = testing::HttpWire::Connect(ports_.http, /*tls=*/true);
  ASSERT_TRUE(wire.ok()) << wire.status();
  constexpr int kRequests = 40;
  for (int i = 1; i <= kRequests; ++i) {
    ASSERT_TRUE((*wire)->Send(testing::HttpRequestBytes("GET", "/v1/sys/health")).ok());
    auto reply = (*wire)->Read();
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_EQ(reply->status, 200);
    ASSERT_GE(health_lines(), i) << "reply " << i << " came before its audit line";
  }
  server_->Signal(SIGKILL);  // the strongroomd this test started
  server_->Wait();
  EXPECT_EQ(health_lines(), kRequests);
}

TEST_F(EdgeE2eTest, SigtermEndsTheProcessWithinTheBoundWhateverSlowClientsDo) {
  ASSERT_NO_FATAL_FAILURE(StartServer("  drain_seconds: 1\n", "", /*http=*/true));
  Process clients;
  ASSERT_TRUE(clients.Start({"python3", "-c", kSlowClients, absl::StrCat(ports_.grpc),
                             absl::StrCat(ports_.http), testing::ServerCert(state_)}));
  ASSERT_TRUE(clients.WaitForOutput("ready")) << clients.output();
  const absl::Time start = absl::Now();
  server_->Signal(SIGTERM);
  // drain_seconds (1) + the fixed teardown grace (10) + scheduling slack.
  const bool closed = server_->WaitForClose(absl::Seconds(1 + 10 + 3));
  EXPECT_TRUE(closed) << server_->output();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1 + 10 + 3));
  if (!closed) server_->Signal(SIGKILL);
  server_->Wait();
}

}  // namespace
}  // namespace strongroom
