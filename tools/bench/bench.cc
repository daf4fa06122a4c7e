// strongroom-bench: Strongroom's throughput beside the physical limits of this machine,
// all measured in one run so the ratios hold on a noisy machine.
//
//   transport  bare gRPC echo over the same TLS and threading  vs  unary Encrypt 64 B, both
//              at several numbers of calls in flight, in alternating rounds
//   crypto     in-process AES-256-GCM 64 B seals (all cores)   vs  batched Encrypt/Decrypt
//   HSM        raw PKCS#11 C_EncryptInit+C_Encrypt on the token vs  HSM-resident Encrypt
//   PKI        cfssl serve's /api/v1/cfssl/sign (P-256 CA key in a file, nothing stored,
//              started from Debian's golang-cfssl)  vs  SignCertificate no_store and stored
//              and the Vault pki/sign endpoint, in alternating rounds, beside raw PKCS#11
//              ECDSA P-256 C_Sign on the token; OCSP responses over HTTPS with and without a
//              nonce; CRL build with 100,000 entries (HSM-signed) (tools/bench/pki_phase.h)
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
#include <openssl/rand.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
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
#include "hsm/pkcs11_module.h"
#include "hsm/testing/softhsm_token.h"
#include "kms/crypto/aead.h"
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
#include "tools/bench/common.h"
#include "tools/bench/echo.grpc.pb.h"
#include "tools/bench/http_phase.h"
#include "tools/bench/load.h"
#include "tools/bench/pki_phase.h"

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

  // 4. PKI: cfssl beside SignCertificate and the Vault pki/sign endpoint, OCSP, a CRL
  // (tools/bench/pki_phase.h).
  PkiPhaseResult pki;
  if (want("pki")) {
    pki = RunPkiPhase({transit_channels, (*server)->http_port(), (*server)->pki_documents_port(),
                       bench_hsm.get(), &m, sessions, token->dir, seconds, clients, crl_entries});
  }

  // 5. The HTTP server: wrk against HTTPS encrypt and GET /v1/sys/health beside nginx and
  // gRPC Encrypt (tools/bench/http_phase.h).
  std::vector<HttpPhaseRow> http_rows;
  if (want("http")) {
    HttpPhaseOptions options;
    options.http_port = (*server)->http_port();
    options.dir = token->dir + "/http-bench";
    options.cert_file = config->grpc().tls().cert_file();
    options.key_file = config->grpc().tls().key_file();
    options.channel = transit_channels[0];
    options.plaintext = plaintext;
    options.connections = http_connections;
    options.seconds = static_cast<int>(seconds);
    options.cores = cores;
    options.grpc_encrypt = [&](int in_flight, int wrk_seconds) {
      Sample sample;
      RunInFlight<v1::EncryptResponse>(
          "Encrypt", in_flight, wrk_seconds,
          [&](int i, grpc::ClientContext* context, v1::EncryptResponse* reply,
              std::function<void(grpc::Status)> done) {
            stubs[i % clients]->async()->Encrypt(context, &one, reply, std::move(done));
          },
          &sample);
      return sample.Summary();
    };
    http_rows = RunHttpPhase(options);
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
  if (want("pki")) PrintPkiPhase(pki);

  if (want("http")) PrintHttpPhase(http_rows);

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
