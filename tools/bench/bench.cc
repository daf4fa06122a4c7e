// strongroom-bench: Strongroom's throughput beside the physical limits of this machine,
// all measured in one run so the ratios hold on a noisy machine.
//
//   transport  bare gRPC echo over the same TLS and threading  vs  unary Encrypt 64 B, both
//              at several numbers of calls in flight, in alternating rounds
//   crypto     in-process AES-256-GCM 64 B seals (all cores)   vs  batched Encrypt/Decrypt
//   HSM        raw PKCS#11 C_EncryptInit+C_Encrypt on the token vs  HSM-resident Encrypt
//   PKI        cfssl serve's /api/v1/cfssl/sign (P-256 CA key in a file, nothing stored,
//              started from Debian's golang-cfssl)  vs  SignCertificate no_store and stored,
//              in alternating rounds, beside raw PKCS#11 ECDSA P-256 C_Sign on the token;
//              OCSP responses over HTTPS with and without a nonce; CRL build with 100,000
//              entries (HSM-signed)
//   http       wrk (Debian's) against HTTPS encrypt and GET /v1/sys/health (through the gate
//              and the durable audit log)  vs  nginx on the same certificate and TLS
//              versions returning a fixed body of the same size, and gRPC Encrypt, at 8,
//              64 and 256 kept-alive connections
//   acme       complete ACME orders/s (http-01 answered by the bench, N accounts in
//              parallel) beside SignCertificate over gRPC under the same role, and their ratio
//              (tools/bench/acme_phase.h)
//   cluster    (only when named in --phases) 1 strongroomd on SQLite beside 1, 2 and 3 on
//              PostgreSQL, key write latency, cross-node propagation and a failover
//              (tools/bench/cluster_phase.h)
//
// It starts strongroomd in-process on a fresh SoftHSM token under a temporary folder and
// talks to it over TLS on loopback. Usage: strongroom-bench [--seconds S] [--clients N]
// [--in-flight 16,64,256] [--phases transport,crypto,hsm,pki,http,acme]
// [--http-connections 8,64,256] [--acme-accounts N]
#include <grpcpp/grpcpp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "hsm/hsm.h"
#include "hsm/openssl_ptr.h"
#include "hsm/pkcs11_module.h"
#include "hsm/provider.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/crypto/aead.h"
#include "pki/certificate_builder.h"
#include "pki/crl_builder.h"
#include "server/audit/audit_log.h"
#include "server/audit/hsm_audit_keys.h"
#include "server/config.h"
#include "server/strongroomd.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "tests/testing/http_wire.h"
#include "tests/testing/process.h"
#include "tools/bench/acme_phase.h"
#include "tools/bench/cluster_phase.h"
#include "tools/bench/echo.grpc.pb.h"
#include "tools/bench/load.h"

namespace strongroom::bench {
namespace {

// The physical limit of a unary call here: gRPC's callback API, as strongroomd serves.
class EchoService final : public Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context, const EchoMessage* request,
                                 EchoMessage* reply) override {
    // Reply with as many bytes as a 64-byte plaintext's ciphertext string has.
    reply->set_payload(std::string(request->payload().size() + 45, 'e'));
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

hsm::X509Ptr ParsePem(const std::string& pem) {
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return hsm::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// One request on a kept-alive HTTPS connection (opened, or reopened after the server closed
// it, as a client library does); 1 if `ok` accepts the response.
int HttpCall(int port, bool tls, const std::string& request,
             std::unique_ptr<testing::HttpWire>* wire,
             const std::function<bool(const testing::WireResponse&)>& ok) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (*wire == nullptr) {
      auto connected = testing::HttpWire::Connect(port, tls);
      if (!connected.ok()) return 0;
      *wire = *std::move(connected);
    }
    absl::StatusOr<testing::WireResponse> response =
        (*wire)->Send(request).ok() ? (*wire)->Read()
                                    : absl::StatusOr<testing::WireResponse>(
                                          absl::UnavailableError("send"));
    if (!response.ok()) {
      wire->reset();
      continue;
    }
    if (response->close) wire->reset();
    return ok(*response) ? 1 : 0;
  }
  return 0;
}

// wrk's figures for one run: requests/s and p50/p99 latency (0 when wrk failed or saw
// non-2xx answers).
struct WrkResult {
  double requests_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

double WrkMs(const std::string& out, absl::string_view label) {
  size_t at = out.find(absl::StrCat("\n", label));
  if (at == std::string::npos) return 0;
  std::istringstream in(out.substr(at + label.size() + 1));
  double v = 0;
  std::string unit;
  in >> v;
  char c;
  while (in.get(c) && std::isalpha(static_cast<unsigned char>(c))) unit += c;
  return unit == "us" ? v / 1000 : unit == "s" ? v * 1000 : v;
}

// Runs Debian's wrk (2 threads) with `connections` kept-alive connections for `seconds`.
WrkResult Wrk(const std::string& url, const std::string& script, int connections, int seconds) {
  std::string command = absl::StrCat("wrk -t2 -c", connections, " -d", seconds, "s --latency ",
                                     script.empty() ? "" : absl::StrCat("-s ", script, " "), url,
                                     " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  WrkResult r;
  if (absl::StrContains(out, "Non-2xx") || absl::StrContains(out, "Socket errors")) {
    std::fprintf(stderr, "strongroom-bench: wrk %s:\n%s\n", url.c_str(), out.c_str());
    if (absl::StrContains(out, "Non-2xx")) return r;
  }
  size_t at = out.find("Requests/sec:");
  if (at == std::string::npos) return r;
  r.requests_per_second = std::strtod(out.c_str() + at + 13, nullptr);
  r.p50_ms = WrkMs(out, "     50%");
  r.p99_ms = WrkMs(out, "     99%");
  return r;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "strongroom-bench: %s\n", what.c_str());
  std::exit(1);
}

// `n` TLS channels, one connection each; with a client certificate (mTLS) when
// `client` is set, else with `token` as a bearer token when that is set.
struct ClientCredentials {
  std::string cert_pem;
  std::string key_pem;
  std::string token;
};

std::vector<std::shared_ptr<grpc::Channel>> Channels(const std::string& addr, const std::string& ca,
                                                     int n, const ClientCredentials& client = {}) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca;
  ssl.pem_cert_chain = client.cert_pem;
  ssl.pem_private_key = client.key_pem;
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(ssl);
  if (!client.token.empty()) {
    credentials =
        grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(client.token));
  }
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per client
    args.SetInt("strongroom.bench.client", i);
    out.push_back(grpc::CreateCustomChannel(addr, credentials, args));
  }
  return out;
}

// As the bench's clients: a client certificate for spiffe://bench/app from Strongroom's own
// CA (issuer "bench-clients", trusted through auth.client_ca_issuers), made with the
// bootstrap root token, which is then revoked.
ClientCredentials BenchIdentity(const std::string& addr, const std::string& ca,
                                const std::string& root_token) {
  auto root = Channels(addr, ca, 1, {"", "", root_token})[0];
  auto pki = v1::Pki::NewStub(root);
  auto check = [](const grpc::Status& s, const char* what) {
    if (!s.ok()) Die(absl::StrCat(what, ": ", s.error_message()));
  };
  {
    grpc::ClientContext ctx;
    v1::CreateRootIssuerRequest req;
    req.set_issuer_name("bench-clients");
    req.set_common_name("Strongroom Bench Clients");
    v1::Issuer out;
    check(pki->CreateRootIssuer(&ctx, req, &out), "CreateRootIssuer");
  }
  {
    grpc::ClientContext ctx;
    v1::Role role, out;
    role.set_name("bench-client");
    role.set_issuer_name("bench-clients");
    role.add_allowed_uri_sans("spiffe://bench/*");
    role.set_client_flag(true);
    role.mutable_ttl()->set_seconds(3600);
    check(pki->PutRole(&ctx, role, &out), "PutRole");
  }
  ClientCredentials identity;
  {
    grpc::ClientContext ctx;
    v1::IssueCertificateRequest req;
    req.set_role("bench-client");
    req.add_uri_sans("spiffe://bench/app");
    v1::IssuedCertificate out;
    check(pki->IssueCertificate(&ctx, req, &out), "IssueCertificate");
    identity.cert_pem = out.certificate_pem();
    identity.key_pem = out.private_key_pem();
  }
  grpc::ClientContext ctx;
  v1::RevokeTokenResponse revoked;
  check(v1::Auth::NewStub(root)->RevokeSelf(&ctx, v1::RevokeSelfRequest(), &revoked), "RevokeSelf");
  return identity;
}

// Cloudflare's cfssl (Debian's golang-cfssl) as the yardstick CA: `cfssl serve` on loopback
// with an ECDSA P-256 CA key in a file, plain HTTP, nothing stored. Started in `dir` and
// stopped (SIGTERM, then waited for) by the destructor.
class CfsslPeer {
 public:
  static std::unique_ptr<CfsslPeer> Start(const std::string& dir) {
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) Die("cannot create " + dir);
    {
      std::ofstream csr(dir + "/ca-csr.json");
      csr << R"({"CN":"cfssl Bench Root","key":{"algo":"ecdsa","size":256}})";
    }
    // genkey -initca prints JSON; cfssljson -bare writes ca.pem and ca-key.pem from it.
    const std::string init = absl::StrCat("cd '", dir,
                                          "' && cfssl genkey -initca ca-csr.json 2>genkey.log"
                                          " | cfssljson -bare ca");
    if (std::system(init.c_str()) != 0) Die("cfssl genkey -initca failed (see " + dir + ")");
    auto peer = std::unique_ptr<CfsslPeer>(new CfsslPeer);
    peer->port_ = FreePort();
    const std::string port = std::to_string(peer->port_);
    const std::string ca = dir + "/ca.pem", key = dir + "/ca-key.pem", log = dir + "/serve.log";
    std::vector<const char*> argv = {"cfssl",   "serve",       "-address", "127.0.0.1",
                                     "-port",   port.c_str(),  "-ca",      ca.c_str(),
                                     "-ca-key", key.c_str(),   "-loglevel", "2",
                                     nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawnp(&peer->pid_, "cfssl", &actions, nullptr,
                          const_cast<char* const*>(argv.data()), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) Die("cannot start cfssl serve (is golang-cfssl installed?)");
    return peer;
  }
  ~CfsslPeer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }

 private:
  CfsslPeer() = default;
  static int FreePort() {
    const int port = testing::FreeLoopbackPort();
    if (port == 0) Die("cannot find a free port for cfssl");
    return port;
  }
  pid_t pid_ = -1;
  int port_ = 0;
};

// `text` as a JSON string literal (PEM needs only '\n', '"' and '\\' escaped).
std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

void Print(const std::string& what, const Result& r, const char* unit) {
  std::printf("  %-52s %12.0f %s", what.c_str(), r.ops_per_second, unit);
  if (r.p50_ms > 0) std::printf("   p50 %.3f ms  p99 %.3f ms", r.p50_ms, r.p99_ms);
  std::printf("\n");
}

// Prints a ratio, and whether it meets `target` when there is one (target > 0).
void Ratio(const std::string& what, double ratio, double target = 0) {
  std::printf("  %-52s %12.2f", what.c_str(), ratio);
  if (target > 0)
    std::printf("   (target >= %.2f: %s)", target, ratio >= target ? "met" : "MISSED");
  std::printf("\n");
}

int Main(int argc, char** argv) {
  CLI::App app{"strongroom-bench: Strongroom beside this machine's limits"};
  double seconds = 3;
  int clients = 8;
  int batch_clients = 4;
  int batch = 1000;
  app.add_option("--seconds", seconds, "length of each measurement");
  app.add_option("--clients", clients,
                 "connections for unary calls; concurrent HTTP, audit and SignCertificate clients");
  std::vector<int> in_flight = {16, 64, 256};
  app.add_option("--in-flight", in_flight, "unary calls kept in flight, one measurement each")
      ->delimiter(',');
  app.add_option("--batch-clients", batch_clients,
                 "batched requests in flight; threads of the raw PKCS#11 measurements");
  app.add_option("--batch", batch, "items per batched request");
  int hsm_batch_items = 0;  // 0: the same as --batch
  app.add_option("--hsm-batch", hsm_batch_items, "items per HSM-resident Encrypt request");
  std::string phases = "transport,crypto,hsm,pki,http,acme";
  app.add_option("--phases", phases,
                 "measurements to run: transport, crypto (= aes + batch), hsm, pki, http (wrk "
                 "against the HTTPS API and nginx), acme (complete ACME orders beside "
                 "SignCertificate); to profile one. Not by default: cluster "
                 "(strongroomd processes on SQLite and PostgreSQL, a failover; needs root)");
  std::vector<int> http_connections = {8, 64, 256};
  app.add_option("--http-connections", http_connections,
                 "wrk connections for the http phase, one measurement each")
      ->delimiter(',');
  int acme_accounts = 8;
  app.add_option("--acme-accounts", acme_accounts,
                 "ACME accounts ordering in parallel in the acme phase (and SignCertificate "
                 "clients beside them)");
  int crl_entries = 100000;
  app.add_option("--crl-entries", crl_entries, "revoked entries in the CRL build measurement");
  CLI11_PARSE(app, argc, argv);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (hsm_batch_items <= 0) hsm_batch_items = batch;

  setenv("TEST_TMPDIR", "/tmp", 0);
  if (absl::StrContains(phases, "cluster")) {
    RunClusterPhase({seconds, clients, batch});
    if (phases == "cluster") return 0;
  }

  // A fresh token and state folder.
  auto token = hsm::testing::SoftHsmToken::Create("bench");
  if (!token.ok()) {
    std::fprintf(stderr, "strongroom-bench: %s\n", std::string(token.status().message()).c_str());
    return 1;
  }
  auto config = server::LoadConfig("");
  config->set_state_dir(token->dir + "/state");
  config->mutable_hsm()->set_token_label(token->label);
  config->mutable_hsm()->set_pin_file(token->pin_file);
  config->mutable_storage()->mutable_sqlite()->set_path(token->dir + "/state/strongroom.db");
  config->mutable_grpc()->set_address("127.0.0.1:0");
  config->mutable_http()->set_address("127.0.0.1:0");
  config->mutable_pki()->mutable_plain_http()->set_address("127.0.0.1:0");  // not the default 7402
  config->mutable_grpc()->mutable_tls()->set_cert_file(token->dir + "/state/tls/server.crt");
  config->mutable_grpc()->mutable_tls()->set_key_file(token->dir + "/state/tls/server.key");
  // Access as in production: the clients are an mTLS identity bound to a policy, and every
  // request is audited (durably, before the reply).
  {
    v1::AuthConfig& auth = *config->mutable_auth();
    auth.add_client_ca_issuers("bench-clients");
    v1::Policy* policy = auth.add_policies();
    policy->set_name("bench");
    v1::PolicyRule* rule = policy->add_rules();
    rule->set_resource("*");
    rule->add_operations("*");
    v1::IdentityBinding* binding = auth.add_identities();
    binding->set_identity("spiffe://bench/*");
    binding->add_policies("bench");
    config->mutable_audit()->set_path(token->dir + "/state/audit/audit.log");
  }
  // ACME: http-01 validations go to the bench's own responder; the request limits sit
  // above the load, so that the phase measures the protocol and not the limiter.
  const int acme_http01_port = absl::StrContains(phases, "acme") ? testing::FreeLoopbackPort() : 0;
  if (acme_http01_port != 0) {
    v1::AcmeConfig& acme = *config->mutable_pki()->mutable_acme();
    (*acme.mutable_validation_overrides())["*"] = absl::StrCat("127.0.0.1:", acme_http01_port);
    acme.set_account_requests_per_second(1000000);
    acme.set_source_requests_per_second(1000000);
    acme.set_max_orders_per_account(10000);
  }
  if (absl::Status s = hsm::InitSecureHeap(config->secure_heap_bytes()); !s.ok()) return 1;
  auto server = server::Strongroomd::Start(*config);
  if (!server.ok()) {
    std::fprintf(stderr, "strongroom-bench: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::string ca = ReadFile(config->grpc().tls().cert_file());
  std::string addr = absl::StrCat("127.0.0.1:", (*server)->port());
  // The bench's own handle on the token (raw PKCS#11 rates, the audit measurement). PKCS#11
  // login is per process, so it stays open until the end: closing it would log the server
  // out too.
  std::unique_ptr<hsm::Hsm> bench_hsm;
  if (auto opened = hsm::Hsm::Open(token->Options()); opened.ok()) {
    bench_hsm = *std::move(opened);
  } else {
    Die(absl::StrCat("cannot open the token: ", opened.status().message()));
  }

  EchoService echo;
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back({ReadFile(config->grpc().tls().key_file()), ca});
  int echo_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &echo_port);
  builder.RegisterService(&echo);
  std::unique_ptr<grpc::Server> echo_server = builder.BuildAndStart();

  const ClientCredentials identity = BenchIdentity(
      addr, ca,
      std::string(
          absl::StripTrailingAsciiWhitespace(ReadFile(config->state_dir() + "/root-token"))));
  auto transit_channels = Channels(addr, ca, std::max(clients, batch_clients), identity);
  std::vector<std::unique_ptr<v1::Transit::Stub>> stubs;
  for (auto& ch : transit_channels) stubs.push_back(v1::Transit::NewStub(ch));
  auto echo_channels = Channels(absl::StrCat("127.0.0.1:", echo_port), ca, clients);
  std::vector<std::unique_ptr<Echo::Stub>> echo_stubs;
  for (auto& ch : echo_channels) echo_stubs.push_back(Echo::NewStub(ch));

  auto create = [&](const std::string& name, v1::Residency residency) {
    grpc::ClientContext ctx;
    v1::CreateKeyRequest req;
    req.set_name(name);
    req.set_residency(residency);
    v1::Key key;
    grpc::Status s = stubs[0]->CreateKey(&ctx, req, &key);
    if (!s.ok()) {
      std::fprintf(stderr, "strongroom-bench: CreateKey: %s\n", s.error_message().c_str());
      std::exit(1);
    }
  };
  create("bench-aes", v1::WRAPPED);
  create("bench-hsm", v1::HSM);
  const std::string plaintext(64, 'p');

  auto encrypt_request = [&](const std::string& key, int items) {
    v1::EncryptRequest req;
    req.set_key_name(key);
    for (int i = 0; i < items; ++i) req.add_items()->set_plaintext(plaintext);
    return req;
  };
  auto encrypt = [&](int t, const v1::EncryptRequest& req) -> int {
    grpc::ClientContext ctx;
    v1::EncryptResponse resp;
    grpc::Status s = stubs[t]->Encrypt(&ctx, req, &resp);
    if (!s.ok() || resp.results(0).has_error()) {
      std::fprintf(stderr, "strongroom-bench: Encrypt: %s\n",
                   s.ok() ? resp.results(0).error().message().c_str() : s.error_message().c_str());
      return 0;
    }
    return resp.results_size();
  };
  // Warm up connections and key caches.
  for (int t = 0; t < static_cast<int>(stubs.size()); ++t)
    encrypt(t, encrypt_request("bench-aes", 1));

  std::printf(
      "strongroom-bench: %d cores, %.0f s per measurement, %d unary clients, "
      "%d batch clients x %d items of 64 B\n\n",
      cores, seconds, clients, batch_clients, batch);

  auto want = [&](absl::string_view phase) { return absl::StrContains(phases, phase); };
  Result http_enc, audit_r, aes, batch_enc, batch_dec, raw, hsm_r;

  // 1. Transport: echo vs unary Encrypt, each at several concurrencies in alternating
  // rounds (so a noisy neighbour slows both alike); a rate is the best over them.
  EchoMessage ping;
  ping.set_payload(plaintext);
  v1::EncryptRequest one = encrypt_request("bench-aes", 1);
  constexpr int kRounds = 5;
  std::vector<std::pair<Result, Result>> sweep;  // (echo, Encrypt) per in-flight level
  Result echo_r, unary;
  if (want("transport")) {
    for (int n : in_flight) {
      Sample echo_sample, encrypt_sample;
      for (int round = 0; round < kRounds; ++round) {
        RunInFlight<EchoMessage>(
            "echo", n, seconds / kRounds,
            [&](int i, grpc::ClientContext* context, EchoMessage* reply,
                std::function<void(grpc::Status)> done) {
              echo_stubs[i % echo_stubs.size()]->async()->Echo(context, &ping, reply,
                                                               std::move(done));
            },
            &echo_sample);
        RunInFlight<v1::EncryptResponse>(
            "Encrypt", n, seconds / kRounds,
            [&](int i, grpc::ClientContext* context, v1::EncryptResponse* reply,
                std::function<void(grpc::Status)> done) {
              stubs[i % clients]->async()->Encrypt(context, &one, reply, std::move(done));
            },
            &encrypt_sample);
      }
      sweep.emplace_back(echo_sample.Summary(), encrypt_sample.Summary());
      if (sweep.back().first.ops_per_second > echo_r.ops_per_second) echo_r = sweep.back().first;
      if (sweep.back().second.ops_per_second > unary.ops_per_second) unary = sweep.back().second;
    }
  }

  // The same encryption through the Vault-compatible HTTP API, with a token.
  if (want("transport")) {
    grpc::ClientContext ctx;
    v1::CreateTokenRequest req;
    req.add_policies("bench");
    v1::CreateTokenResponse token_response;
    grpc::Status s =
        v1::Auth::NewStub(transit_channels[0])->CreateToken(&ctx, req, &token_response);
    if (!s.ok()) Die("CreateToken: " + s.error_message());
    const std::string request = testing::HttpRequestBytes(
        "POST", "/v1/transit/encrypt/bench-aes",
        absl::StrCat("{\"plaintext\":\"", absl::Base64Escape(plaintext), "\"}"),
        absl::StrCat("X-Vault-Token: ", token_response.token(),
                     "\r\nContent-Type: application/json\r\n"));
    const int http_port = (*server)->http_port();
    std::vector<std::unique_ptr<testing::HttpWire>> vault_clients(clients);
    auto post = [&](int t) -> int {
      return HttpCall(http_port, /*tls=*/true, request, &vault_clients[t],
                       [](const testing::WireResponse& r) {
                         return r.status == 200 && absl::StrContains(r.body, "vault:v1:");
                       });
    };
    for (int t = 0; t < clients; ++t) {
      if (post(t) == 0) Die("HTTP encrypt failed before the measurement");
    }
    http_enc = Run("http_enc", clients, seconds, true, post);

    // The audit log alone: appends/s with group commit (one write + fdatasync per batch),
    // as many appending threads as clients, signed checkpoints by an HSM key.
    auto signer = server::audit::HsmAuditSigner::Create(bench_hsm.get());
    if (!signer.ok()) Die("cannot create the audit signing key");
    server::audit::AuditLogOptions options;
    options.path = token->dir + "/bench-audit/audit.log";
    options.node_id = "bench";
    auto log = server::audit::AuditLog::Open(options, signer->get());
    if (!log.ok()) Die(absl::StrCat("AuditLog: ", log.status().message()));
    server::audit::AuditEvent event;
    event.request_id = "0123456789ab-00000001";
    event.identity = "spiffe://bench/app";
    event.peer = "ipv4:127.0.0.1:40000";
    event.operation = "encrypt";
    event.resource = "transit/keys/bench-aes";
    event.key_version = 1;
    event.code = "OK";
    audit_r = Run("audit_r", clients, seconds, true, [&](int) {
      server::audit::AuditEvent e = event;
      e.time = absl::Now();
      return (*log)->Append(e).ok() ? 1 : 0;
    });
  }

  // 2. Crypto: in-process AES-256-GCM vs batched Encrypt / Decrypt.
  uint8_t key[32], nonce[12];
  RAND_bytes(key, sizeof(key));
  RAND_bytes(nonce, sizeof(nonce));
  if (want("crypto") || want("aes"))
    aes = Run("aes", cores, seconds, false, [&](int) {
      std::string out;
      constexpr int kPerCall = 256;
      for (int i = 0; i < kPerCall; ++i) {
        out.clear();
        if (!kms::crypto::AeadSeal(kms::crypto::AeadAlgorithm::kAes256Gcm, key, nonce, "",
                                   plaintext, &out)
                 .ok()) {
          return 0;
        }
      }
      return kPerCall;
    });
  v1::EncryptRequest many = encrypt_request("bench-aes", batch);
  if (want("crypto") || want("batch")) {
    batch_enc = RunBatches<v1::EncryptResponse>(
        "batched Encrypt", batch_clients, seconds, batch,
        [&](int i, grpc::ClientContext* context, v1::EncryptResponse* reply,
            std::function<void(grpc::Status)> done) {
          stubs[i % stubs.size()]->async()->Encrypt(context, &many, reply, std::move(done));
        });
  }
  v1::DecryptRequest dec_req;
  {
    grpc::ClientContext ctx;
    v1::EncryptResponse resp;
    stubs[0]->Encrypt(&ctx, many, &resp);
    dec_req.set_key_name("bench-aes");
    for (const auto& r : resp.results()) dec_req.add_items()->set_ciphertext(r.ciphertext());
  }
  if (want("crypto") || want("batch")) {
    batch_dec = RunBatches<v1::DecryptResponse>(
        "batched Decrypt", batch_clients, seconds, batch,
        [&](int i, grpc::ClientContext* context, v1::DecryptResponse* reply,
            std::function<void(grpc::Status)> done) {
          stubs[i % stubs.size()]->async()->Decrypt(context, &dec_req, reply, std::move(done));
        });
  }

  // 3. HSM: raw PKCS#11 vs HSM-resident Encrypt (batched, so the HSM is the bound).
  auto module = hsm::Pkcs11Module::Load(hsm::testing::kSoftHsmModule);
  if (!module.ok() || !bench_hsm->GenerateAesKey("bench-raw").ok()) {
    std::fprintf(stderr, "strongroom-bench: cannot set up the raw PKCS#11 measurement\n");
    return 1;
  }
  hsm::Pkcs11Module& m = **module;
  CK_SLOT_ID slot = *hsm::FindTokenSlot(m, token->label);
  std::vector<CK_SESSION_HANDLE> sessions(batch_clients);
  CK_OBJECT_HANDLE raw_key = CK_INVALID_HANDLE;
  for (auto& s : sessions) {
    (void)SR_P11(m, C_OpenSession, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
  }
  {
    std::string label = "bench-raw";
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, label.data(), label.size()}};
    CK_ULONG n = 0;
    (void)SR_P11(m, C_FindObjectsInit, sessions[0], tmpl, 2);
    (void)SR_P11(m, C_FindObjects, sessions[0], &raw_key, 1, &n);
    (void)SR_P11(m, C_FindObjectsFinal, sessions[0]);
  }
  if (want("hsm"))
    raw = Run("raw", batch_clients, seconds, false, [&](int t) {
      CK_GCM_PARAMS params = {nonce, 12, 96, nullptr, 0, 128};
      CK_MECHANISM mech = {CKM_AES_GCM, &params, sizeof(params)};
      uint8_t out[64 + 16];
      CK_ULONG len = sizeof(out);
      if (!SR_P11(m, C_EncryptInit, sessions[t], &mech, raw_key).ok()) return 0;
      if (!SR_P11(m, C_Encrypt, sessions[t],
                  const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(plaintext.data())),
                  plaintext.size(), out, &len)
               .ok()) {
        return 0;
      }
      return 1;
    });
  v1::EncryptRequest hsm_batch = encrypt_request("bench-hsm", hsm_batch_items);
  if (want("hsm")) {
    hsm_r =
        Run("hsm_r", batch_clients, seconds, false, [&](int t) { return encrypt(t, hsm_batch); });
  }

  // 4. PKI: raw PKCS#11 ECDSA P-256 vs SignCertificate; OCSP over HTTPS; CRL build.
  Result raw_ecdsa, cfssl_r, sign_nostore, sign_store, ocsp_r, ocsp_nonce_r;
  double crl_seconds = 0;
  std::string issuer_name = "bench-root";
  if (want("pki")) {
    // Raw ECDSA P-256 C_SignInit + C_Sign over a 32-byte digest, one session per thread.
    if (!bench_hsm->GenerateKeyPair("bench-raw-ec", hsm::KeyPairType::kEcP256).ok())
      Die("cannot create the raw ECDSA key pair");
    CK_OBJECT_HANDLE ec_key = CK_INVALID_HANDLE;
    {
      std::string label = "bench-raw-ec";
      CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
      CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                             {CKA_LABEL, label.data(), label.size()}};
      CK_ULONG n = 0;
      (void)SR_P11(m, C_FindObjectsInit, sessions[0], tmpl, 2);
      (void)SR_P11(m, C_FindObjects, sessions[0], &ec_key, 1, &n);
      (void)SR_P11(m, C_FindObjectsFinal, sessions[0]);
      if (n != 1) Die("cannot find the raw ECDSA private key");
    }
    uint8_t digest[32];
    RAND_bytes(digest, sizeof(digest));
    raw_ecdsa = Run("raw_ecdsa", batch_clients, seconds, false, [&](int t) {
      CK_MECHANISM mech = {CKM_ECDSA, nullptr, 0};
      uint8_t sig[64];
      CK_ULONG len = sizeof(sig);
      if (!SR_P11(m, C_SignInit, sessions[t], &mech, ec_key).ok()) return 0;
      if (!SR_P11(m, C_Sign, sessions[t], digest, sizeof(digest), sig, &len).ok()) return 0;
      return 1;
    });

    // A root issuer in the HSM and two roles: one that stores what it signs, one that does not.
    std::vector<std::unique_ptr<v1::Pki::Stub>> pki_stubs;
    for (int i = 0; i < clients; ++i) pki_stubs.push_back(v1::Pki::NewStub(transit_channels[i]));
    v1::Issuer issuer;
    {
      grpc::ClientContext ctx;
      v1::CreateRootIssuerRequest req;
      req.set_issuer_name(issuer_name);
      req.set_common_name("Strongroom Bench Root");
      req.set_key_type(v1::EC_P256);
      req.mutable_ttl()->set_seconds(86400 * 30);
      grpc::Status s = pki_stubs[0]->CreateRootIssuer(&ctx, req, &issuer);
      if (!s.ok()) Die("CreateRootIssuer: " + s.error_message());
    }
    for (bool no_store : {true, false}) {
      grpc::ClientContext ctx;
      v1::Role role, out;
      role.set_name(no_store ? "bench-nostore" : "bench-store");
      role.set_issuer_name(issuer_name);
      role.add_allowed_domains("bench.example");
      role.set_allow_subdomains(true);
      role.set_server_flag(true);
      role.set_key_type(v1::EC_P256);
      role.mutable_ttl()->set_seconds(3600);
      role.set_no_store(no_store);
      grpc::Status s = pki_stubs[0]->PutRole(&ctx, role, &out);
      if (!s.ok()) Die("PutRole: " + s.error_message());
    }
    // One software P-256 CSR for svc.bench.example.
    std::string csr_pem;
    {
      auto key = pki::GenerateSoftwareKey(v1::EC_P256);
      if (!key.ok()) Die("GenerateSoftwareKey failed");
      pki::Signer self{key->get(), nullptr, nullptr};
      auto csr = pki::BuildCsr("svc.bench.example", key->get(), self);
      if (!csr.ok()) Die(absl::StrCat("BuildCsr: ", csr.status().message()));
      hsm::BioPtr bio(BIO_new(BIO_s_mem()));
      PEM_write_bio_X509_REQ(bio.get(), csr->get());
      char* data = nullptr;
      long len = BIO_get_mem_data(bio.get(), &data);
      csr_pem.assign(data, len);
    }
    auto sign = [&](int t, const std::string& role, v1::SignedCertificate* out) {
      grpc::ClientContext ctx;
      v1::SignCertificateRequest req;
      req.set_role(role);
      req.set_csr_pem(csr_pem);
      req.set_common_name("svc.bench.example");
      return pki_stubs[t]->SignCertificate(&ctx, req, out);
    };
    v1::SignedCertificate stored;
    if (grpc::Status s = sign(0, "bench-store", &stored); !s.ok())
      Die("SignCertificate: " + s.error_message());
    for (int t = 0; t < clients; ++t) {  // warm up every connection
      v1::SignedCertificate c;
      if (grpc::Status s = sign(t, "bench-nostore", &c); !s.ok())
        Die("SignCertificate: " + s.error_message());
    }
    // cfssl signs the same CSR for the same name through its HTTP API, one keep-alive
    // connection per client thread, as many threads as Strongroom's clients.
    auto cfssl = CfsslPeer::Start(token->dir + "/cfssl");
    const std::string cfssl_body = absl::StrCat(
        "{\"certificate_request\":", JsonString(csr_pem), ",\"hosts\":[\"svc.bench.example\"]}");
    std::vector<std::unique_ptr<testing::HttpWire>> cfssl_clients(clients);
    const std::string cfssl_request = testing::HttpRequestBytes(
        "POST", "/api/v1/cfssl/sign", cfssl_body, "Content-Type: application/json\r\n");
    auto cfssl_sign = [&](int t) -> int {
      return HttpCall(cfssl->port(), /*tls=*/false, cfssl_request, &cfssl_clients[t],
                      [](const testing::WireResponse& r) {
                        return r.status == 200 && absl::StrContains(r.body, "\"success\":true") &&
                               absl::StrContains(r.body, "BEGIN CERTIFICATE");
                      });
    };
    {  // cfssl needs a moment to listen; then warm up every connection.
      int tries = 0;
      while (cfssl_sign(0) == 0) {
        if (++tries == 100) Die("cfssl serve does not answer /api/v1/cfssl/sign");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      for (int t = 0; t < clients; ++t) {
        if (cfssl_sign(t) == 0) Die("cfssl sign failed before the measurement");
      }
    }
    // Alternating rounds, so that a noisy machine slows all three alike.
    constexpr int kPkiRounds = 3;
    Sample cfssl_sample, nostore_sample, store_sample;
    for (int round = 0; round < kPkiRounds; ++round) {
      RunInto("cfssl sign", clients, seconds / kPkiRounds, true, cfssl_sign, &cfssl_sample);
      RunInto(
          "sign_nostore", clients, seconds / kPkiRounds, true,
          [&](int t) {
            v1::SignedCertificate c;
            return sign(t, "bench-nostore", &c).ok() ? 1 : 0;
          },
          &nostore_sample);
      RunInto(
          "sign_store", clients, seconds / kPkiRounds, true,
          [&](int t) {
            v1::SignedCertificate c;
            return sign(t, "bench-store", &c).ok() ? 1 : 0;
          },
          &store_sample);
    }
    cfssl_r = cfssl_sample.Summary();
    sign_nostore = nostore_sample.Summary();
    sign_store = store_sample.Summary();
    cfssl.reset();

    // OCSP, POSTed over keep-alive HTTPS.
    hsm::X509Ptr leaf = ParsePem(stored.certificate_pem());
    hsm::X509Ptr root = ParsePem(issuer.certificate_pem());
    if (leaf == nullptr || root == nullptr) Die("cannot parse the issued certificates");
    // Two DER requests for the stored certificate, without a nonce (RFC 5019, what browsers
    // send) and with a 16-byte nonce, which the responder must echo in a fresh signature.
    auto ocsp_request = [&](bool nonce) {
      hsm::OcspRequestPtr req(OCSP_REQUEST_new());
      OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), leaf.get(), root.get());
      if (req == nullptr || id == nullptr || OCSP_request_add0_id(req.get(), id) == nullptr ||
          (nonce && OCSP_request_add1_nonce(req.get(), nullptr, 16) != 1))
        Die("cannot build the OCSP request");
      unsigned char* der = nullptr;
      int len = i2d_OCSP_REQUEST(req.get(), &der);
      std::string out(reinterpret_cast<char*>(der), len);
      OPENSSL_free(der);
      return out;
    };
    const std::string ocsp_der = ocsp_request(false), ocsp_nonce_der = ocsp_request(true);
    const int http_port = (*server)->http_port();
    const std::string ocsp_path = absl::StrCat("/v1/pki/", issuer_name, "/ocsp");
    std::vector<std::unique_ptr<testing::HttpWire>> http_clients(clients);
    auto ocsp_post = [&](int t, const std::string& der) -> int {
      const std::string request = testing::HttpRequestBytes(
          "POST", ocsp_path, der, "Content-Type: application/ocsp-request\r\n");
      return HttpCall(http_port, /*tls=*/true, request, &http_clients[t],
                       [](const testing::WireResponse& r) {
                         if (r.status != 200 || r.body.size() < 100) return false;
                         const unsigned char* p =
                             reinterpret_cast<const unsigned char*>(r.body.data());
                         OCSP_RESPONSE* resp =
                             d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(r.body.size()));
                         bool ok = resp != nullptr &&
                                   OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL;
                         OCSP_RESPONSE_free(resp);
                         return ok;
                       });
    };
    auto ocsp = [&](int t) { return ocsp_post(t, ocsp_der); };
    auto ocsp_nonce = [&](int t) { return ocsp_post(t, ocsp_nonce_der); };
    for (int t = 0; t < clients; ++t) {
      if (ocsp(t) == 0 || ocsp_nonce(t) == 0) Die("OCSP request failed before the measurement");
    }
    ocsp_r = Run("ocsp_r", clients, seconds, true, ocsp);
    ocsp_nonce_r = Run("ocsp_nonce_r", clients, seconds, true, ocsp_nonce);

    // CRL: crl_entries synthetic entries, signed by the issuer's HSM key via the provider.
    auto provider = hsm::HsmProvider::Load(bench_hsm.get());
    if (!provider.ok()) Die(absl::StrCat("HsmProvider: ", provider.status().message()));
    auto issuer_key = (*provider)->LoadPrivateKey(issuer.key_uri());
    if (!issuer_key.ok()) Die(absl::StrCat("LoadPrivateKey: ", issuer_key.status().message()));
    std::vector<pki::RevokedCertificate> revoked(crl_entries);
    const absl::Time now = absl::Now();
    for (int i = 0; i < crl_entries; ++i) {
      uint8_t serial[16];
      RAND_bytes(serial, sizeof(serial));
      serial[0] = (serial[0] & 0x7f) | 0x10;  // positive, no leading zero
      revoked[i].serial_number = absl::BytesToHexString(
          absl::string_view(reinterpret_cast<const char*>(serial), sizeof(serial)));
      revoked[i].revocation_time = now - absl::Seconds(i);
    }
    pki::Signer crl_signer{issuer_key->get(), (*provider)->libctx(), root.get()};
    pki::CrlParams params{now, now + absl::Hours(24), 1};
    auto begin = Clock::now();
    auto crl = pki::BuildCrl(params, revoked, crl_signer);
    crl_seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    if (!crl.ok()) Die(absl::StrCat("BuildCrl: ", crl.status().message()));
  }

  // 5. The HTTP server: wrk against HTTPS encrypt and a fixed-body route through the gate
  // (GET /v1/sys/health: public, audited durably), nginx with the same certificate and TLS
  // versions answering a fixed body of the encrypt reply's size, and gRPC Encrypt with the
  // same number of calls in flight, at each number of connections.
  struct HttpRow {
    int connections;
    WrkResult encrypt, health, nginx;
    Result grpc;
  };
  std::vector<HttpRow> http_rows;
  if (want("http")) {
    grpc::ClientContext ctx;
    v1::CreateTokenRequest req;
    req.add_policies("bench");
    v1::CreateTokenResponse token_response;
    grpc::Status s =
        v1::Auth::NewStub(transit_channels[0])->CreateToken(&ctx, req, &token_response);
    if (!s.ok()) Die("CreateToken: " + s.error_message());
    const std::string dir = token->dir + "/http-bench";
    mkdir(dir.c_str(), 0700);
    const std::string body =
        absl::StrCat("{\"plaintext\":\"", absl::Base64Escape(plaintext), "\"}");
    const std::string script = dir + "/encrypt.lua";  // the token stays out of argv
    {
      std::ofstream lua(script);
      lua << "wrk.method = \"POST\"\nwrk.body = '" << body
          << "'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
          << "wrk.headers[\"X-Vault-Token\"] = \"" << token_response.token() << "\"\n";
    }
    chmod(script.c_str(), 0600);
    const int http_port = (*server)->http_port();
    std::unique_ptr<testing::HttpWire> wire;
    std::string reply;
    HttpCall(http_port, /*tls=*/true,
              testing::HttpRequestBytes("POST", "/v1/transit/encrypt/bench-aes", body,
                                        absl::StrCat("X-Vault-Token: ", token_response.token(),
                                                     "\r\nContent-Type: application/json\r\n")),
              &wire, [&reply](const testing::WireResponse& r) {
                reply = r.body;
                return r.status == 200;
              });
    if (reply.empty()) Die("HTTP encrypt failed before the measurement");
    const int nginx_port = testing::FreeLoopbackPort();
    {
      std::ofstream conf(dir + "/nginx.conf");
      conf << "daemon off;\nworker_processes " << cores << ";\npid " << dir
           << "/nginx.pid;\nerror_log " << dir << "/nginx-error.log;\n"
           << "events { worker_connections 4096; }\nhttp {\n  access_log off;\n"
           << "  client_body_temp_path " << dir << ";\n  keepalive_requests 100000000;\n"
           << "  server {\n    listen 127.0.0.1:" << nginx_port << " ssl;\n"
           << "    ssl_certificate " << config->grpc().tls().cert_file() << ";\n"
           << "    ssl_certificate_key " << config->grpc().tls().key_file() << ";\n"
           << "    ssl_protocols TLSv1.2 TLSv1.3;\n"
           << "    location / { default_type application/json; return 200 '"
           << std::string(reply.size(), 'x') << "'; }\n  }\n}\n";
    }
    pid_t nginx = fork();
    if (nginx == 0) {
      execlp("nginx", "nginx", "-p", dir.c_str(), "-c", (dir + "/nginx.conf").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 100; ++i) {  // until it listens
      auto probe = testing::HttpWire::Connect(nginx_port, /*tls=*/true);
      if (probe.ok()) break;
      usleep(50 * 1000);
    }
    const std::string base = absl::StrCat("https://127.0.0.1:", http_port);
    const std::string nginx_url = absl::StrCat("https://127.0.0.1:", nginx_port, "/");
    const int wrk_seconds = std::max(1, static_cast<int>(seconds));
    for (int c : http_connections) {
      HttpRow row;
      row.connections = c;
      row.encrypt = Wrk(base + "/v1/transit/encrypt/bench-aes", script, c, wrk_seconds);
      row.health = Wrk(base + "/v1/sys/health", "", c, wrk_seconds);
      row.nginx = Wrk(nginx_url, "", c, wrk_seconds);
      v1::EncryptRequest one = encrypt_request("bench-aes", 1);
      Sample sample;
      RunInFlight<v1::EncryptResponse>(
          "Encrypt", c, wrk_seconds,
          [&](int i, grpc::ClientContext* context, v1::EncryptResponse* reply,
              std::function<void(grpc::Status)> done) {
            stubs[i % clients]->async()->Encrypt(context, &one, reply, std::move(done));
          },
          &sample);
      row.grpc = sample.Summary();
      http_rows.push_back(row);
    }
    kill(nginx, SIGTERM);  // the nginx this bench started, by its pid
    waitpid(nginx, nullptr, 0);
  }

  if (want("transport")) {
    std::printf(
        "Transport (unary, 64 B, TLS on loopback, %d connections; calls in flight through the "
        "callback API)\n",
        clients);
    std::printf("  %-9s %28s   %-52s\n", "in flight", "bare gRPC echo",
                "Encrypt (mTLS identity + policy + durable audit)");
    for (size_t i = 0; i < sweep.size(); ++i) {
      const Result& e = sweep[i].first;
      const Result& u = sweep[i].second;
      std::printf(
          "  %9d %9.0f ops/s p50 %6.3f ms %4.0f us CPU   %9.0f ops/s p50 %6.3f ms %4.0f us CPU\n",
          in_flight[i], e.ops_per_second, e.p50_ms, e.cpu_us_per_op, u.ops_per_second, u.p50_ms,
          u.cpu_us_per_op);
    }
    Print("Vault API POST /v1/transit/encrypt (HTTPS, token)", http_enc, "ops/s");
    Print(absl::StrFormat("audit log appends alone (group commit, %d threads)", clients), audit_r,
          "lines/s");
    Ratio("Encrypt / echo (best rate of each)", unary.ops_per_second / echo_r.ops_per_second, 0.75);
    if (!sweep.empty()) {
      Ratio(absl::StrFormat("HTTP encrypt (%d clients) / gRPC Encrypt (%d in flight)", clients,
                            in_flight[0]),
            http_enc.ops_per_second / sweep[0].second.ops_per_second);
    }
    std::printf("\n");
  }
  if (want("crypto") || want("batch") || want("aes")) {
    std::printf("Crypto (64 B items)\n");
    Print(absl::StrFormat("in-process AES-256-GCM seal, %d threads", cores), aes, "ops/s");
    Print(absl::StrFormat("batched Encrypt, %d in flight x %d items", batch_clients, batch),
          batch_enc, "items/s");
    Print(absl::StrFormat("batched Decrypt, %d in flight x %d items", batch_clients, batch),
          batch_dec, "items/s");
    Ratio("batched Encrypt / in-process AES-GCM", batch_enc.ops_per_second / aes.ops_per_second);
    Ratio("batched Decrypt / in-process AES-GCM", batch_dec.ops_per_second / aes.ops_per_second);
    std::printf("  %-52s %12s   (target >= 1,000,000 items/s: %s)\n", "batched Encrypt absolute",
                "", batch_enc.ops_per_second >= 1e6 ? "met" : "MISSED");
    std::printf("\n");
  }
  if (want("hsm")) {
    std::printf("HSM (SoftHSM token, AES-256-GCM 64 B, %d threads)\n", batch_clients);
    Print("raw PKCS#11 C_EncryptInit + C_Encrypt", raw, "ops/s");
    Print(absl::StrFormat("HSM-resident Encrypt, batches of %d", hsm_batch_items), hsm_r,
          "items/s");
    Ratio("HSM-resident Encrypt / raw PKCS#11", hsm_r.ops_per_second / raw.ops_per_second, 0.8);
    std::printf("\n");
  }
  if (want("pki")) {
    std::printf("PKI (SoftHSM token, ECDSA P-256 issuer)\n");
    Print(absl::StrFormat("raw PKCS#11 C_SignInit + C_Sign ECDSA, %d threads", batch_clients),
          raw_ecdsa, "ops/s");
    Print(absl::StrFormat("cfssl serve /api/v1/cfssl/sign (HTTP), %d clients", clients), cfssl_r,
          "certs/s");
    Print(absl::StrFormat("SignCertificate no_store (gRPC mTLS), %d clients", clients),
          sign_nostore, "certs/s");
    Print(absl::StrFormat("SignCertificate stored (gRPC mTLS), %d clients", clients), sign_store,
          "certs/s");
    Ratio("SignCertificate no_store / cfssl", sign_nostore.ops_per_second / cfssl_r.ops_per_second,
          1.5);
    Ratio("SignCertificate stored / cfssl", sign_store.ops_per_second / cfssl_r.ops_per_second,
          1.0);
    Ratio("SignCertificate no_store / raw ECDSA",
          sign_nostore.ops_per_second / raw_ecdsa.ops_per_second);
    Ratio("SignCertificate stored / raw ECDSA",
          sign_store.ops_per_second / raw_ecdsa.ops_per_second);
    std::printf("  %-52s %12.0f us   cfssl %.0f us\n", "busy machine CPU per certificate (no_store)",
                sign_nostore.cpu_us_per_op, cfssl_r.cpu_us_per_op);
    Print(absl::StrFormat("OCSP POST over HTTPS keep-alive, no nonce, %d clients", clients),
          ocsp_r, "resp/s");
    std::printf("  %-52s %12s   (target >= 10,000 resp/s: %s)\n", "OCSP without nonce absolute",
                "", ocsp_r.ops_per_second >= 10000 ? "met" : "MISSED");
    Print(absl::StrFormat("OCSP POST over HTTPS keep-alive, nonce, %d clients", clients),
          ocsp_nonce_r, "resp/s");
    std::printf("  %-52s %12.3f s   (target < 2 s: %s)\n",
                absl::StrFormat("BuildCrl, %d entries, HSM-signed", crl_entries).c_str(),
                crl_seconds, crl_seconds < 2 ? "met" : "MISSED");
  }

  if (want("http")) {
    std::printf("\nHTTP server (wrk, 2 threads, TLS on loopback, keep-alive; 64 B encrypt)\n");
    std::printf("  %5s %24s %24s %24s %24s\n", "conns", "gRPC Encrypt (in flight)",
                "HTTPS encrypt", "HTTPS sys/health (gate)", "nginx fixed body");
    for (const HttpRow& r : http_rows) {
      std::printf("  %5d %11.0f/s p99 %5.1fms %11.0f/s p99 %5.1fms %11.0f/s p99 %5.1fms %11.0f/s "
                  "p99 %5.1fms\n",
                  r.connections, r.grpc.ops_per_second, r.grpc.p99_ms,
                  r.encrypt.requests_per_second, r.encrypt.p99_ms, r.health.requests_per_second,
                  r.health.p99_ms, r.nginx.requests_per_second, r.nginx.p99_ms);
    }
    for (const HttpRow& r : http_rows) {
      Ratio(absl::StrFormat("HTTPS encrypt / gRPC Encrypt, %d connections", r.connections),
            r.encrypt.requests_per_second / std::max(1.0, r.grpc.ops_per_second), 0.8);
      Ratio(absl::StrFormat("HTTPS fixed body via gate / nginx, %d connections", r.connections),
            r.health.requests_per_second / std::max(1.0, r.nginx.requests_per_second), 0.5);
    }
  }

  if (want("acme")) {
    if (acme_http01_port == 0) Die("acme: no free loopback port for the http-01 responder");
    RunAcmePhase({seconds, acme_accounts, (*server)->http_port(), acme_http01_port,
                  transit_channels});
  }

  for (auto& s : sessions) (void)SR_P11(m, C_CloseSession, s);
  echo_server->Shutdown();
  (*server)->Shutdown();
  return 0;
}

}  // namespace
}  // namespace strongroom::bench

int main(int argc, char** argv) { return strongroom::bench::Main(argc, argv); }
