#include "tools/bench/pki_phase.h"

#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "hsm/openssl_ptr.h"
#include "hsm/provider.h"
#include "pki/certificate_builder.h"
#include "pki/crl_builder.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "tests/testing/http_wire.h"
#include "tests/testing/process.h"
#include "tools/bench/common.h"

namespace strongroom::bench {
namespace {

hsm::X509Ptr ParsePem(const std::string& pem) {
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return hsm::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
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

}  // namespace

PkiPhaseResult RunPkiPhase(const PkiPhaseSetup& setup) {
  const double seconds = setup.seconds;
  const int clients = setup.clients;
  const int crl_entries = setup.crl_entries;
  hsm::Pkcs11Module& m = *setup.module;
  const std::string issuer_name = "bench-root";
  PkiPhaseResult result;
  result.raw_threads = static_cast<int>(setup.sessions.size());
  result.clients = clients;
  result.crl_entries = crl_entries;
  // Raw ECDSA P-256 C_SignInit + C_Sign over a 32-byte digest, one session per thread.
  if (!setup.hsm->GenerateKeyPair("bench-raw-ec", hsm::KeyPairType::kEcP256).ok())
    Die("cannot create the raw ECDSA key pair");
  CK_OBJECT_HANDLE ec_key = CK_INVALID_HANDLE;
  {
    std::string label = "bench-raw-ec";
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_LABEL, label.data(), label.size()}};
    CK_ULONG n = 0;
    (void)SR_P11(m, C_FindObjectsInit, setup.sessions[0], tmpl, 2);
    (void)SR_P11(m, C_FindObjects, setup.sessions[0], &ec_key, 1, &n);
    (void)SR_P11(m, C_FindObjectsFinal, setup.sessions[0]);
    if (n != 1) Die("cannot find the raw ECDSA private key");
  }
  uint8_t digest[32];
  RAND_bytes(digest, sizeof(digest));
  result.raw_ecdsa = Run("raw_ecdsa", static_cast<int>(setup.sessions.size()), seconds, false, [&](int t) {
    CK_MECHANISM mech = {CKM_ECDSA, nullptr, 0};
    uint8_t sig[64];
    CK_ULONG len = sizeof(sig);
    if (!SR_P11(m, C_SignInit, setup.sessions[t], &mech, ec_key).ok()) return 0;
    if (!SR_P11(m, C_Sign, setup.sessions[t], digest, sizeof(digest), sig, &len).ok()) return 0;
    return 1;
  });

  // A root issuer in the HSM and two roles: one that stores what it signs, one that does not.
  std::vector<std::unique_ptr<v1::Pki::Stub>> pki_stubs;
  for (int i = 0; i < clients; ++i) pki_stubs.push_back(v1::Pki::NewStub(setup.channels[i]));
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
  // The issuance floor, in one thread: the CSR's signature verified (as every CA must) and one
  // raw HSM signature of a digest on the same token, timed apart in CPU time.
  {
    hsm::BioPtr bio(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
    hsm::X509ReqPtr csr(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    if (csr == nullptr) Die("cannot parse the bench CSR");
    auto thread_cpu_us = [] {
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
    };
    const double span_us = std::min(seconds, 4.0) * 1e6 / 2;
    int verified = 0, signed_ = 0;
    double begin = thread_cpu_us(), verify_us = 0, sign_us = 0;
    while ((verify_us = thread_cpu_us() - begin) < span_us) {
      EVP_PKEY* key = X509_REQ_get0_pubkey(csr.get());
      if (key == nullptr || X509_REQ_verify(csr.get(), key) != 1) Die("the bench CSR does not verify");
      ++verified;
    }
    CK_MECHANISM mech = {CKM_ECDSA, nullptr, 0};
    begin = thread_cpu_us();
    while ((sign_us = thread_cpu_us() - begin) < span_us) {
      uint8_t sig[64];
      CK_ULONG len = sizeof(sig);
      if (!SR_P11(m, C_SignInit, setup.sessions[0], &mech, ec_key).ok() ||
          !SR_P11(m, C_Sign, setup.sessions[0], digest, sizeof(digest), sig, &len).ok())
        Die("raw C_Sign failed");
      ++signed_;
    }
    result.floor_verify_us = verify_us / verified;
    result.floor_sign_us = sign_us / signed_;
    result.floor_us = result.floor_verify_us + result.floor_sign_us;
    result.cores = static_cast<int>(std::thread::hardware_concurrency());
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
  auto cfssl = CfsslPeer::Start(setup.dir + "/cfssl");
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
  // The same CSR through the Vault-compatible HTTP API (pki/sign/:role, the no_store role)
  // with a token: the same kind of client as cfssl's, over TLS.
  std::string vault_token;
  {
    grpc::ClientContext ctx;
    v1::CreateTokenRequest req;
    req.add_policies("bench");
    v1::CreateTokenResponse token_response;
    grpc::Status s = v1::Auth::NewStub(setup.channels[0])->CreateToken(&ctx, req, &token_response);
    if (!s.ok()) Die("CreateToken: " + s.error_message());
    vault_token = token_response.token();
  }
  const std::string vault_request = testing::HttpRequestBytes(
      "POST", "/v1/pki/sign/bench-nostore",
      absl::StrCat("{\"csr\":", JsonString(csr_pem), ",\"common_name\":\"svc.bench.example\"}"),
      absl::StrCat("X-Vault-Token: ", vault_token, "\r\nContent-Type: application/json\r\n"));
  std::vector<std::unique_ptr<testing::HttpWire>> vault_clients(clients);
  auto vault_sign = [&](int t) -> int {
    return HttpCall(setup.http_port, /*tls=*/true, vault_request, &vault_clients[t],
                    [](const testing::WireResponse& r) {
                      return r.status == 200 && absl::StrContains(r.body, "BEGIN CERTIFICATE");
                    });
  };
  for (int t = 0; t < clients; ++t) {
    if (vault_sign(t) == 0) Die("Vault pki/sign failed before the measurement");
  }
  // Alternating rounds, so that a noisy machine slows all four alike.
  constexpr int kPkiRounds = 3;
  Sample cfssl_sample, nostore_sample, store_sample, vault_sample;
  for (int round = 0; round < kPkiRounds; ++round) {
    RunInto("cfssl sign", clients, seconds / kPkiRounds, true, cfssl_sign, &cfssl_sample);
    RunInto(
        "sign_nostore", clients, seconds / kPkiRounds, true,
        [&](int t) {
          v1::SignedCertificate c;
          return sign(t, "bench-nostore", &c).ok() ? 1 : 0;
        },
        &nostore_sample);
    RunInto("vault sign", clients, seconds / kPkiRounds, true, vault_sign, &vault_sample);
    RunInto(
        "sign_store", clients, seconds / kPkiRounds, true,
        [&](int t) {
          v1::SignedCertificate c;
          return sign(t, "bench-store", &c).ok() ? 1 : 0;
        },
        &store_sample);
  }
  result.cfssl_r = cfssl_sample.Summary();
  result.sign_nostore = nostore_sample.Summary();
  result.sign_store = store_sample.Summary();
  result.vault_sign = vault_sample.Summary();
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
  const int http_port = setup.http_port;
  const std::string ocsp_path = absl::StrCat("/v1/pki/", issuer_name, "/ocsp");
  std::vector<std::unique_ptr<testing::HttpWire>> http_clients(clients);
  // A successful OCSP response.
  auto ocsp_ok = [](const testing::WireResponse& r) {
    if (r.status != 200 || r.body.size() < 100) return false;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(r.body.data());
    hsm::OcspResponsePtr resp(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(r.body.size())));
    return resp != nullptr && OCSP_response_status(resp.get()) == OCSP_RESPONSE_STATUS_SUCCESSFUL;
  };
  auto ocsp_post = [&](int t, const std::string& der) -> int {
    const std::string request = testing::HttpRequestBytes(
        "POST", ocsp_path, der, "Content-Type: application/ocsp-request\r\n");
    return HttpCall(http_port, /*tls=*/true, request, &http_clients[t], ocsp_ok);
  };
  auto ocsp = [&](int t) { return ocsp_post(t, ocsp_der); };
  auto ocsp_nonce = [&](int t) { return ocsp_post(t, ocsp_nonce_der); };
  for (int t = 0; t < clients; ++t) {
    if (ocsp(t) == 0 || ocsp_nonce(t) == 0) Die("OCSP request failed before the measurement");
  }
  // The same over plain HTTP on the PKI documents listener (the URL put in certificates):
  // POST, the GET form (base64 in the path, RFC 6960 A.1) and POST with a nonce.
  if (setup.documents_port == 0) Die("strongroomd has no plain-HTTP PKI documents listener");
  std::string get_path = ocsp_path + "/";
  for (char c : absl::Base64Escape(ocsp_der)) {
    if (c == '+') get_path += "%2B";
    else if (c == '/') get_path += "%2F";
    else if (c == '=') get_path += "%3D";
    else get_path += c;
  }
  const std::string plain_post = testing::HttpRequestBytes(
      "POST", ocsp_path, ocsp_der, "Content-Type: application/ocsp-request\r\n");
  const std::string plain_nonce = testing::HttpRequestBytes(
      "POST", ocsp_path, ocsp_nonce_der, "Content-Type: application/ocsp-request\r\n");
  const std::string plain_get = testing::HttpRequestBytes("GET", get_path, "", "");
  std::vector<std::unique_ptr<testing::HttpWire>> plain_clients(clients);
  auto plain = [&](int t, const std::string& request) {
    return HttpCall(setup.documents_port, /*tls=*/false, request, &plain_clients[t], ocsp_ok);
  };
  auto ocsp_plain_post = [&](int t) { return plain(t, plain_post); };
  auto ocsp_plain_get = [&](int t) { return plain(t, plain_get); };
  auto ocsp_plain_nonce = [&](int t) { return plain(t, plain_nonce); };
  for (int t = 0; t < clients; ++t) {
    if (ocsp_plain_post(t) == 0 || ocsp_plain_get(t) == 0 || ocsp_plain_nonce(t) == 0)
      Die("plain-HTTP OCSP request failed before the measurement");
  }
  result.ocsp_r = Run("ocsp_r", clients, seconds, true, ocsp);
  result.ocsp_plain_post = Run("ocsp_plain_post", clients, seconds, true, ocsp_plain_post);
  result.ocsp_plain_get = Run("ocsp_plain_get", clients, seconds, true, ocsp_plain_get);
  result.ocsp_nonce_r = Run("ocsp_nonce_r", clients, seconds, true, ocsp_nonce);
  result.ocsp_plain_nonce = Run("ocsp_plain_nonce", clients, seconds, true, ocsp_plain_nonce);

  // CRL: crl_entries synthetic entries, signed by the issuer's HSM key via the provider.
  auto provider = hsm::HsmProvider::Load(setup.hsm);
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
  result.crl_seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  if (!crl.ok()) Die(absl::StrCat("BuildCrl: ", crl.status().message()));
  return result;
}

void PrintPkiPhase(const PkiPhaseResult& r) {
  std::printf("PKI (SoftHSM token, ECDSA P-256 issuer)\n");
  Print(absl::StrFormat("raw PKCS#11 C_SignInit + C_Sign ECDSA, %d threads", r.raw_threads),
        r.raw_ecdsa, "ops/s");
  Print(absl::StrFormat("cfssl serve /api/v1/cfssl/sign (HTTP), %d clients", r.clients), r.cfssl_r,
        "certs/s");
  Print(absl::StrFormat("SignCertificate no_store (gRPC mTLS), %d clients", r.clients),
        r.sign_nostore, "certs/s");
  Print(absl::StrFormat("SignCertificate stored (gRPC mTLS), %d clients", r.clients), r.sign_store,
        "certs/s");
  Print(absl::StrFormat("Vault pki/sign no_store (HTTPS token), %d clients", r.clients), r.vault_sign,
        "certs/s");
  Ratio("SignCertificate no_store / cfssl", r.sign_nostore.ops_per_second / r.cfssl_r.ops_per_second,
        1.5);
  Ratio("SignCertificate stored / cfssl", r.sign_store.ops_per_second / r.cfssl_r.ops_per_second,
        1.0);
  Ratio("Vault pki/sign no_store (HTTPS) / cfssl",
        r.vault_sign.ops_per_second / r.cfssl_r.ops_per_second);
  Ratio("SignCertificate no_store / raw ECDSA",
        r.sign_nostore.ops_per_second / r.raw_ecdsa.ops_per_second);
  Ratio("SignCertificate stored / raw ECDSA",
        r.sign_store.ops_per_second / r.raw_ecdsa.ops_per_second);
  std::printf("  %-52s %12.0f us   cfssl %.0f us\n", "busy machine CPU per certificate (no_store)",
              r.sign_nostore.cpu_us_per_op, r.cfssl_r.cpu_us_per_op);
  std::printf("  %-52s %12.0f us   (CSR verify %.0f + raw C_Sign %.0f)\n",
              "issuance floor, one thread's CPU per certificate", r.floor_us, r.floor_verify_us,
              r.floor_sign_us);
  const double ceiling = r.floor_us > 0 ? r.cores * 1e6 / r.floor_us : 0;
  std::printf("  %-52s %12.0f certs/s\n",
              absl::StrFormat("ceiling at the floor, %d cores", r.cores).c_str(), ceiling);
  Ratio("ceiling at the floor / cfssl", ceiling / r.cfssl_r.ops_per_second);
  Ratio("SignCertificate no_store / ceiling", r.sign_nostore.ops_per_second / ceiling);
  Print(absl::StrFormat("OCSP POST over HTTPS keep-alive, no nonce, %d clients", r.clients),
        r.ocsp_r, "resp/s");
  std::printf("  %-52s %12s   (target >= 10,000 resp/s: %s)\n", "OCSP without nonce (HTTPS)",
              "", r.ocsp_r.ops_per_second >= 10000 ? "met" : "MISSED");
  Print(absl::StrFormat("OCSP POST over plain HTTP, no nonce, %d clients", r.clients),
        r.ocsp_plain_post, "resp/s");
  Print(absl::StrFormat("OCSP GET over plain HTTP, no nonce, %d clients", r.clients),
        r.ocsp_plain_get, "resp/s");
  Print(absl::StrFormat("OCSP POST over HTTPS keep-alive, nonce, %d clients", r.clients),
        r.ocsp_nonce_r, "resp/s");
  Print(absl::StrFormat("OCSP POST over plain HTTP, nonce, %d clients", r.clients),
        r.ocsp_plain_nonce, "resp/s");
  std::printf("  %-52s %12.3f s   (target < 2 s: %s)\n",
              absl::StrFormat("BuildCrl, %d entries, HSM-signed", r.crl_entries).c_str(),
              r.crl_seconds, r.crl_seconds < 2 ? "met" : "MISSED");
}

}  // namespace strongroom::bench
