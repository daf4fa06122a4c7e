// strongroom-soak: a bounded, mixed and partly hostile load against a real strongroomd for a
// configured time, then proof that nothing acknowledged was lost and that the process came
// back to a steady footprint.
//
// It starts strongroomd (the runfile server/strongroomd) on a fresh SoftHSM token under a
// temporary folder, with gRPC and HTTPS on loopback, and runs --workers threads, each doing a
// weighted mix of: unary and batched Encrypt over gRPC and over HTTPS (the Vault API), decrypt
// checks of earlier ciphertexts, key creation and rotation, token create/use/renew/revoke,
// certificate issuance and revocation, OCSP (POST) and CRL fetches, and bad input (malformed
// JSON, unknown tokens over both transports, a body over the limit); --slow-clients threads
// hold connections that send half a request head and never finish it. Every acknowledged write
// (ciphertext, rotation, token, certificate, revocation) goes into a ledger. A sampler records
// the server's RSS, fds, threads, HSM sessions and bounded-structure entries (/metrics) and
// state-folder size every --sample-seconds; after the load it idles --idle-seconds and samples
// again.
//
// It then checks: every ciphertext decrypts to its plaintext, every key is at least at the
// version its rotations returned, live tokens look up and revoked or expired ones do not, every issued
// certificate is on record (revoked ones as revoked, and on the CRL), the server exits 0 on
// SIGTERM and `strongroom audit verify` accepts the whole audit chain, every rotated file
// included (--audit-file-bytes is small so the log rotates under load). Growth: after the idle time,
// RSS must be within --max-rss-growth of the sample taken --warmup-seconds into the load, and
// fds and threads within a small slack of it. Exit status 0 only if all of that holds and no
// request had an outcome other than the one expected.
//
// Usage: bazel run -c opt //tools/soak:strongroom-soak -- --seconds 600 [--workers 4] ...
// (under `bazel run` or `bazel test` the runfiles are found from the working folder).
#include <grpcpp/grpcpp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "hsm/openssl_ptr.h"
#include "hsm/testing/softhsm_token.h"
#include "strongroom/v1/auth.grpc.pb.h"
#include "strongroom/v1/pki.grpc.pb.h"
#include "strongroom/v1/transit.grpc.pb.h"
#include "tests/testing/http_wire.h"
#include "tests/testing/process.h"
#include "tests/testing/strongroomd.h"
#include "tools/soak/sampler.h"

namespace strongroom::soak {
namespace {

using testing::HttpWire;
using testing::WireResponse;

struct Options {
  double seconds = 600;
  double warmup_seconds = 60;
  double idle_seconds = 60;
  double sample_seconds = 5;
  int workers = 4;
  int slow_clients = 2;
  double max_rss_growth = 0.20;
  int fd_slack = 16;
  int thread_slack = 8;
  int max_keys = 32;
  uint64_t audit_file_bytes = 1 << 20;  // small, so that the audit log rotates under load
};

// A protobuf Timestamp as absl::Time; unset (a token without expiry) is the infinite future.
absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

constexpr char kPolicy[] = "soak-app";  // what soak tokens hold: encrypt/decrypt on soak-*
constexpr char kRole[] = "soak";
constexpr int kBatch = 16;

// What the server did with each request, as the soak expected it (served or refused) or not.
class Tally {
 public:
  void Served() { served_.fetch_add(1, std::memory_order_relaxed); }
  void Refused() { refused_.fetch_add(1, std::memory_order_relaxed); }
  void Error(const std::string& what) {
    if (errors_.fetch_add(1) < 30) std::fprintf(stderr, "soak: unexpected: %s\n", what.c_str());
  }
  uint64_t served() const { return served_.load(); }
  uint64_t refused() const { return refused_.load(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  std::atomic<uint64_t> served_{0}, refused_{0}, errors_{0};
};

struct Sealed {
  std::string key, plaintext, ciphertext;
};
struct TokenRecord {
  std::string accessor;
  bool revoked = false;
  absl::Time expires = absl::InfiniteFuture();  // as the last create or renewal returned
};
struct CertRecord {
  std::string serial, pem;
  bool revoked = false;
  bool claimed = false;  // a worker is revoking it
};

// Every write the server acknowledged, to be found again at the end.
class Ledger {
 public:
  void Seal(Sealed s) {
    absl::MutexLock lock(&mu_);
    sealed_.push_back(std::move(s));
  }
  void Rotated(const std::string& key, uint32_t version) {
    absl::MutexLock lock(&mu_);
    uint32_t& v = versions_[key];
    v = std::max(v, version);
  }
  size_t Token(const std::string& accessor, absl::Time expires) {
    absl::MutexLock lock(&mu_);
    tokens_.push_back({accessor, false, expires});
    return tokens_.size() - 1;
  }
  void TokenRenewed(size_t i, absl::Time expires) {
    absl::MutexLock lock(&mu_);
    tokens_[i].expires = expires;
  }
  void TokenRevoked(size_t i) {
    absl::MutexLock lock(&mu_);
    tokens_[i].revoked = true;
  }
  void Cert(const std::string& serial, const std::string& pem) {
    absl::MutexLock lock(&mu_);
    certs_.push_back({serial, pem, false});
  }
  void CertRevoked(size_t i) {
    absl::MutexLock lock(&mu_);
    certs_[i].revoked = true;
  }
  // A random earlier ciphertext, if any.
  bool AnySealed(std::mt19937_64& rng, Sealed* out) {
    absl::MutexLock lock(&mu_);
    if (sealed_.empty()) return false;
    *out = sealed_[rng() % sealed_.size()];
    return true;
  }
  // A random certificate's index, or -1.
  int AnyCert(std::mt19937_64& rng, CertRecord* out) {
    absl::MutexLock lock(&mu_);
    if (certs_.empty()) return -1;
    size_t i = rng() % certs_.size();
    *out = certs_[i];
    return static_cast<int>(i);
  }
  // A random certificate no worker has revoked or is revoking, now claimed; or -1.
  int ClaimForRevocation(std::mt19937_64& rng, CertRecord* out) {
    absl::MutexLock lock(&mu_);
    if (certs_.empty()) return -1;
    size_t i = rng() % certs_.size();
    if (certs_[i].claimed) return -1;
    certs_[i].claimed = true;
    *out = certs_[i];
    return static_cast<int>(i);
  }
  // Whether a worker revoked or is revoking certificate `i`.
  bool CertMayBeRevoked(size_t i) {
    absl::MutexLock lock(&mu_);
    return certs_[i].revoked || certs_[i].claimed;
  }
  std::vector<Sealed> sealed() {
    absl::MutexLock lock(&mu_);
    return sealed_;
  }
  std::map<std::string, uint32_t> versions() {
    absl::MutexLock lock(&mu_);
    return versions_;
  }
  std::vector<TokenRecord> tokens() {
    absl::MutexLock lock(&mu_);
    return tokens_;
  }
  std::vector<CertRecord> certs() {
    absl::MutexLock lock(&mu_);
    return certs_;
  }

 private:
  absl::Mutex mu_;
  std::vector<Sealed> sealed_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint32_t> versions_ ABSL_GUARDED_BY(mu_);
  std::vector<TokenRecord> tokens_ ABSL_GUARDED_BY(mu_);
  std::vector<CertRecord> certs_ ABSL_GUARDED_BY(mu_);
};

// The string values of every "field":"..." in a JSON body, in order (values without escapes:
// base64, ciphertexts, serials).
std::vector<std::string> JsonStrings(const std::string& body, const std::string& field) {
  std::vector<std::string> out;
  const std::string marker = absl::StrCat("\"", field, "\":\"");
  for (size_t at = body.find(marker); at != std::string::npos; at = body.find(marker, at)) {
    at += marker.size();
    size_t end = body.find('"', at);
    if (end == std::string::npos) break;
    out.push_back(body.substr(at, end - at));
    at = end;
  }
  return out;
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string GrpcError(const char* what, const grpc::Status& s) {
  return absl::StrCat(what, ": ", s.error_code(), " ", s.error_message());
}

// One unary call with a 60 s deadline, with `token` as its credentials unless empty.
template <typename Stub, typename Request, typename Response>
grpc::Status Call(Stub& stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                  const Request& request, Response* response, const std::string& token = "") {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  if (!token.empty()) ctx.set_credentials(grpc::AccessTokenCredentials(token));
  return (stub.*method)(&ctx, request, response);
}

// A serial as compared here: lower-case hex without separators or leading zeros (the server
// spells serials in hex; the CRL holds integers).
std::string NormalSerial(std::string serial) {
  serial = absl::AsciiStrToLower(serial);
  serial.erase(std::remove(serial.begin(), serial.end(), ':'), serial.end());
  size_t first = serial.find_first_not_of('0');
  return first == std::string::npos ? "0" : serial.substr(first);
}

std::string SerialOf(const ASN1_INTEGER* serial) {
  hsm::BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  char* hex = BN_bn2hex(bn.get());
  std::string s = NormalSerial(hex);
  OPENSSL_free(hex);
  return s;
}

hsm::X509Ptr ParsePem(const std::string& pem) {
  hsm::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return hsm::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

class Soak {
 public:
  Soak(const Options& options, std::string state_dir, int grpc_port, int http_port,
       std::string root_token)
      : options_(options),
        state_dir_(std::move(state_dir)),
        http_port_(http_port),
        root_token_(std::move(root_token)),
        root_(testing::ServerChannel(state_dir_, grpc_port, root_token_)),
        anonymous_(testing::ServerChannel(state_dir_, grpc_port)),
        transit_(v1::Transit::NewStub(root_)),
        auth_(v1::Auth::NewStub(root_)),
        pki_(v1::Pki::NewStub(root_)),
        transit_as_token_(v1::Transit::NewStub(anonymous_)),
        auth_as_token_(v1::Auth::NewStub(anonymous_)) {}

  // Keys soak-0..3, the issuer "default" (what the HTTP OCSP and CRL routes serve) and a role.
  bool Setup() {
    for (int i = 0; i < 4; ++i) {
      if (!CreateKey(absl::StrCat("soak-", i))) return false;
    }
    keys_ = 4;
    v1::CreateRootIssuerRequest root;
    root.set_issuer_name("default");
    root.set_common_name("Soak Root");
    root.set_key_type(v1::EC_P256);
    v1::Issuer issuer;
    grpc::Status s = Call(*pki_, &v1::Pki::Stub::CreateRootIssuer, root, &issuer);
    if (!s.ok()) return Fail(GrpcError("CreateRootIssuer", s));
    issuer_ = ParsePem(issuer.certificate_pem());
    if (issuer_ == nullptr) return Fail("issuer certificate does not parse");
    v1::Role role, stored;
    role.set_name(kRole);
    role.set_issuer_name("default");
    role.add_allowed_domains("soak.example");
    role.set_allow_subdomains(true);
    role.set_server_flag(true);
    role.set_key_type(v1::EC_P256);
    role.mutable_ttl()->set_seconds(3600);
    s = Call(*pki_, &v1::Pki::Stub::PutRole, role, &stored);
    if (!s.ok()) return Fail(GrpcError("PutRole", s));
    return true;
  }

  void Worker(int id, const std::atomic<bool>& stop) {
    std::mt19937_64 rng(id * 7919 + 1);
    std::unique_ptr<HttpWire> wire;
    while (!stop.load(std::memory_order_relaxed)) {
      int r = static_cast<int>(rng() % 100);
      if (r < 22) GrpcEncrypt(rng, 1);
      else if (r < 30) GrpcEncrypt(rng, kBatch);
      else if (r < 38) GrpcDecryptCheck(rng);
      else if (r < 48) HttpEncrypt(rng, wire, 1);
      else if (r < 53) HttpEncrypt(rng, wire, kBatch);
      else if (r < 57) HttpDecryptCheck(rng, wire);
      else if (r < 59) Rotate(rng);
      else if (r < 60) NewKey();
      else if (r < 66) TokenLifecycle(rng);
      else if (r < 70) IssueCertificate(rng);
      else if (r < 72) RevokeCertificate(rng);
      else if (r < 76) Ocsp(rng, wire);
      else if (r < 78) Crl(wire);
      else if (r < 84) MalformedJson(wire);
      else if (r < 88) HttpBadToken(rng, wire);
      else if (r < 92) GrpcBadToken(rng);
      else if (r < 94) Oversized();
      else GrpcEncrypt(rng, 1);
    }
  }

  // Holds a connection that sends half a request head; the server must drop it within its
  // header deadline (10 s) plus slack.
  void SlowClient(const std::atomic<bool>& stop) {
    while (!stop.load(std::memory_order_relaxed)) {
      auto wire = HttpWire::Connect(http_port_, /*tls=*/true);
      if (!wire.ok()) {
        tally_.Error(absl::StrCat("slow client connect: ", wire.status().ToString()));
        absl::SleepFor(absl::Seconds(1));
        continue;
      }
      if (!(*wire)->Send("POST /v1/transit/encrypt/soak-0 HTTP/1.1\r\nHost: 127.0.0.1\r\n").ok()) {
        tally_.Error("slow client send");
        continue;
      }
      if ((*wire)->ClosedWithin(absl::Seconds(30))) {
        tally_.Refused();
      } else {
        tally_.Error("a slow client's connection was held past 30 s");
      }
    }
  }

  // HSM sessions in use, from /metrics; -1 if not readable.
  // From /metrics: the HSM sessions open and the entries of every bounded structure
  // (strongroom_bounded_entries, summed); both stay -1 if the scrape fails.
  void ScrapeMetrics(Sample* sample) {
    std::unique_ptr<HttpWire> wire;
    auto reply = Http(wire, "GET", "/metrics", root_token_, "");
    if (!reply.ok() || reply->status != 200) return;
    double bounded = 0;
    for (absl::string_view line : absl::StrSplit(reply->body, '\n')) {
      size_t space = line.rfind(' ');
      double value = 0;
      if (space == absl::string_view::npos || !absl::SimpleAtod(line.substr(space + 1), &value)) {
        continue;
      }
      if (absl::StartsWith(line, "strongroom_hsm_sessions_open ")) {
        sample->hsm_sessions = static_cast<int>(value);
      } else if (absl::StartsWith(line, "strongroom_bounded_entries{")) {
        bounded += value;
      }
    }
    sample->bounded_entries = static_cast<int64_t>(bounded);
  }

  // Checks every acknowledged write; prints what is missing. True if nothing is.
  bool Verify() {
    bool ok = true;
    ok &= VerifyCiphertexts();
    ok &= VerifyKeys();
    ok &= VerifyTokens();
    ok &= VerifyCertificates();
    return ok;
  }

  Tally& tally() { return tally_; }

 private:
  bool Fail(const std::string& what) {
    std::fprintf(stderr, "soak: %s\n", what.c_str());
    return false;
  }

  std::string AnyKey(std::mt19937_64& rng) {
    return absl::StrCat("soak-", rng() % keys_.load());
  }

  bool CreateKey(const std::string& name) {
    v1::CreateKeyRequest request;
    request.set_name(name);
    v1::Key key;
    grpc::Status s = Call(*transit_, &v1::Transit::Stub::CreateKey, request, &key);
    if (!s.ok()) {
      tally_.Error(GrpcError("CreateKey", s));
      return false;
    }
    tally_.Served();
    ledger_.Rotated(name, key.latest_version());
    return true;
  }

  void NewKey() {
    absl::MutexLock lock(&key_mu_);  // names are handed out in order; keys_ counts created ones
    int next = keys_.load();
    if (next >= options_.max_keys) return;
    if (CreateKey(absl::StrCat("soak-", next))) keys_.store(next + 1);
  }

  // Encrypts `items` plaintexts on a random key (as `token` unless empty, else as root);
  // records each ciphertext.
  void GrpcEncrypt(std::mt19937_64& rng, int items, const std::string& token = "") {
    v1::EncryptRequest request;
    request.set_key_name(AnyKey(rng));
    for (int i = 0; i < items; ++i) {
      request.add_items()->set_plaintext(RandomBytes(rng, 16 + rng() % 240));
    }
    v1::EncryptResponse response;
    grpc::Status s = Call(token.empty() ? *transit_ : *transit_as_token_, &v1::Transit::Stub::Encrypt,
                          request, &response, token);
    if (!s.ok() || response.results_size() != items) {
      return tally_.Error(GrpcError("Encrypt", s));
    }
    for (int i = 0; i < items; ++i) {
      if (response.results(i).has_error()) {
        return tally_.Error(absl::StrCat("Encrypt item: ", response.results(i).error().message()));
      }
      ledger_.Seal({request.key_name(), request.items(i).plaintext(), response.results(i).ciphertext()});
    }
    tally_.Served();
  }

  // Decrypts the ciphertexts of `batch` (all on one key); false with the reason if any does not
  // come back as its plaintext.
  bool GrpcDecrypt(const std::vector<Sealed>& batch, std::string* why) {
    v1::DecryptRequest request;
    request.set_key_name(batch[0].key);
    for (const Sealed& s : batch) request.add_items()->set_ciphertext(s.ciphertext);
    v1::DecryptResponse response;
    grpc::Status s = Call(*transit_, &v1::Transit::Stub::Decrypt, request, &response);
    if (!s.ok() || response.results_size() != static_cast<int>(batch.size())) {
      *why = GrpcError("Decrypt", s);
      return false;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (response.results(i).has_error() || response.results(i).plaintext() != batch[i].plaintext) {
        *why = absl::StrCat("ciphertext ", batch[i].ciphertext.substr(0, 24), "... on ", batch[i].key,
                            " does not decrypt to its plaintext: ",
                            response.results(i).error().message());
        return false;
      }
    }
    return true;
  }

  void GrpcDecryptCheck(std::mt19937_64& rng) {
    Sealed sealed;
    if (!ledger_.AnySealed(rng, &sealed)) return;
    std::string why;
    if (GrpcDecrypt({sealed}, &why)) {
      tally_.Served();
    } else {
      tally_.Error(why);
    }
  }

  // One request on the worker's keep-alive connection (opened, or reopened once if the server
  // closed it).
  absl::StatusOr<WireResponse> Http(std::unique_ptr<HttpWire>& wire, const std::string& method,
                                    const std::string& path, const std::string& token,
                                    const std::string& body,
                                    const std::string& content_type = "application/json") {
    std::string extra = absl::StrCat("Content-Type: ", content_type, "\r\n");
    if (!token.empty()) absl::StrAppend(&extra, "X-Vault-Token: ", token, "\r\n");
    const std::string bytes = testing::HttpRequestBytes(method, path, body, extra);
    absl::Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (wire == nullptr) {
        auto connected = HttpWire::Connect(http_port_, /*tls=*/true);
        if (!connected.ok()) return connected.status();
        wire = *std::move(connected);
      }
      last = wire->Send(bytes);
      if (last.ok()) {
        auto reply = wire->Read(absl::Seconds(60));
        if (reply.ok()) {
          if (reply->close) wire.reset();
          return reply;
        }
        last = reply.status();
      }
      wire.reset();
    }
    return last;
  }

  void HttpEncrypt(std::mt19937_64& rng, std::unique_ptr<HttpWire>& wire, int items) {
    const std::string key = AnyKey(rng);
    std::vector<std::string> plaintexts;
    std::vector<std::string> fields;
    for (int i = 0; i < items; ++i) {
      plaintexts.push_back(RandomBytes(rng, 16 + rng() % 240));
      fields.push_back(absl::StrCat("{\"plaintext\":\"", absl::Base64Escape(plaintexts.back()), "\"}"));
    }
    const std::string body = items == 1 ? fields[0]
                                        : absl::StrCat("{\"batch_input\":[", absl::StrJoin(fields, ","), "]}");
    auto reply = Http(wire, "POST", "/v1/transit/encrypt/" + key, root_token_, body);
    if (!reply.ok() || reply->status != 200) {
      return tally_.Error(absl::StrCat("HTTPS encrypt: ", reply.ok() ? reply->body : reply.status().ToString()));
    }
    std::vector<std::string> ciphertexts = JsonStrings(reply->body, "ciphertext");
    if (ciphertexts.size() != plaintexts.size()) {
      return tally_.Error(absl::StrCat("HTTPS encrypt: ", ciphertexts.size(), " ciphertexts for ", items));
    }
    for (int i = 0; i < items; ++i) ledger_.Seal({key, plaintexts[i], ciphertexts[i]});
    tally_.Served();
  }

  void HttpDecryptCheck(std::mt19937_64& rng, std::unique_ptr<HttpWire>& wire) {
    Sealed sealed;
    if (!ledger_.AnySealed(rng, &sealed)) return;
    auto reply = Http(wire, "POST", "/v1/transit/decrypt/" + sealed.key, root_token_,
                      absl::StrCat("{\"ciphertext\":\"", sealed.ciphertext, "\"}"));
    std::vector<std::string> plaintext;
    if (reply.ok()) plaintext = JsonStrings(reply->body, "plaintext");
    std::string decoded;
    if (!reply.ok() || reply->status != 200 || plaintext.size() != 1 ||
        !absl::Base64Unescape(plaintext[0], &decoded) || decoded != sealed.plaintext) {
      return tally_.Error(absl::StrCat("HTTPS decrypt of an acknowledged ciphertext on ", sealed.key, ": ",
                                       reply.ok() ? reply->body : reply.status().ToString()));
    }
    tally_.Served();
  }

  void Rotate(std::mt19937_64& rng) {
    v1::RotateKeyRequest request;
    request.set_name(AnyKey(rng));
    v1::Key key;
    grpc::Status s = Call(*transit_, &v1::Transit::Stub::RotateKey, request, &key);
    if (!s.ok()) return tally_.Error(GrpcError("RotateKey", s));
    ledger_.Rotated(request.name(), key.latest_version());
    tally_.Served();
  }

  // Create a token, use it, renew it; revoke half (by accessor or by itself) and check that a
  // revoked token is refused at once.
  void TokenLifecycle(std::mt19937_64& rng) {
    v1::CreateTokenRequest create;
    create.add_policies(kPolicy);
    create.mutable_ttl()->set_seconds(3600);
    create.set_display_name("soak");
    v1::CreateTokenResponse created;
    grpc::Status s = Call(*auth_, &v1::Auth::Stub::CreateToken, create, &created);
    if (!s.ok()) return tally_.Error(GrpcError("CreateToken", s));
    tally_.Served();
    const size_t index =
        ledger_.Token(created.info().accessor(), TimeOf(created.info().expire_time()));
    GrpcEncrypt(rng, 1, created.token());

    v1::RenewSelfRequest renew;
    renew.mutable_increment()->set_seconds(1800);
    v1::TokenInfo info;
    s = Call(*auth_as_token_, &v1::Auth::Stub::RenewSelf, renew, &info, created.token());
    if (!s.ok()) return tally_.Error(GrpcError("RenewSelf", s));
    ledger_.TokenRenewed(index, TimeOf(info.expire_time()));
    tally_.Served();

    if (rng() % 2 == 0) return;
    v1::RevokeTokenResponse revoked;
    if (rng() % 2 == 0) {
      v1::RevokeTokenRequest revoke;
      revoke.set_accessor(created.info().accessor());
      s = Call(*auth_, &v1::Auth::Stub::RevokeToken, revoke, &revoked);
    } else {
      s = Call(*auth_as_token_, &v1::Auth::Stub::RevokeSelf, v1::RevokeSelfRequest(), &revoked,
               created.token());
    }
    if (!s.ok()) return tally_.Error(GrpcError("RevokeToken", s));
    ledger_.TokenRevoked(index);
    tally_.Served();
    ExpectRefused(rng, created.token(), "a revoked token");
  }

  // A gRPC Encrypt with `token` must be refused (UNAUTHENTICATED or PERMISSION_DENIED).
  void ExpectRefused(std::mt19937_64& rng, const std::string& token, const char* what) {
    v1::EncryptRequest request;
    request.set_key_name(AnyKey(rng));
    request.add_items()->set_plaintext("x");
    v1::EncryptResponse response;
    grpc::Status s = Call(*transit_as_token_, &v1::Transit::Stub::Encrypt, request, &response, token);
    if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
        s.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      tally_.Refused();
    } else {
      tally_.Error(absl::StrCat(what, " was not refused: ", GrpcError("Encrypt", s)));
    }
  }

  void GrpcBadToken(std::mt19937_64& rng) {
    ExpectRefused(rng, absl::StrCat("s.", absl::BytesToHexString(RandomBytes(rng, 12))),
                  "an unknown token");
  }

  void IssueCertificate(std::mt19937_64& rng) {
    v1::IssueCertificateRequest request;
    request.set_role(kRole);
    request.set_common_name(absl::StrCat("w", rng() % 1000000, ".soak.example"));
    request.mutable_ttl()->set_seconds(3600);
    v1::IssuedCertificate issued;
    grpc::Status s = Call(*pki_, &v1::Pki::Stub::IssueCertificate, request, &issued);
    if (!s.ok()) return tally_.Error(GrpcError("IssueCertificate", s));
    ledger_.Cert(issued.serial_number(), issued.certificate_pem());
    tally_.Served();
  }

  void RevokeCertificate(std::mt19937_64& rng) {
    CertRecord cert;
    int index = ledger_.ClaimForRevocation(rng, &cert);
    if (index < 0) return;
    v1::RevokeCertificateRequest request;
    request.set_serial_number(cert.serial);
    v1::RevokeCertificateResponse response;
    grpc::Status s = Call(*pki_, &v1::Pki::Stub::RevokeCertificate, request, &response);
    if (!s.ok()) return tally_.Error(GrpcError("RevokeCertificate", s));
    ledger_.CertRevoked(index);
    tally_.Served();
  }

  // POSTs an OCSP request for a recorded certificate; its status must match the ledger (a
  // revocation acknowledged before the request is "revoked"; none acknowledged or under way
  // by the answer is "good").
  void Ocsp(std::mt19937_64& rng, std::unique_ptr<HttpWire>& wire) {
    CertRecord cert;
    int index = ledger_.AnyCert(rng, &cert);
    if (index < 0) return;
    hsm::X509Ptr leaf = ParsePem(cert.pem);
    if (leaf == nullptr) return tally_.Error("an issued certificate does not parse");
    hsm::OcspCertIdPtr id(OCSP_cert_to_id(EVP_sha1(), leaf.get(), issuer_.get()));
    hsm::OcspRequestPtr request(OCSP_REQUEST_new());
    OCSP_request_add0_id(request.get(), OCSP_CERTID_dup(id.get()));
    unsigned char* der = nullptr;
    int length = i2d_OCSP_REQUEST(request.get(), &der);
    std::string body(reinterpret_cast<char*>(der), length);
    OPENSSL_free(der);
    auto reply = Http(wire, "POST", "/v1/pki/ocsp", "", body, "application/ocsp-request");
    if (!reply.ok() || reply->status != 200) {
      return tally_.Error(absl::StrCat("OCSP: ", reply.ok() ? reply->body : reply.status().ToString()));
    }
    const bool revoked_after = ledger_.CertMayBeRevoked(index);
    const unsigned char* p = reinterpret_cast<const unsigned char*>(reply->body.data());
    hsm::OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(reply->body.size())));
    if (response == nullptr || OCSP_response_status(response.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
      return tally_.Error("OCSP: not a successful response");
    }
    hsm::OcspBasicRespPtr basic(OCSP_response_get1_basic(response.get()));
    int status = -1, reason = 0;
    if (basic == nullptr || OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, nullptr,
                                                  nullptr, nullptr) != 1) {
      return tally_.Error("OCSP: no status for the certificate asked about");
    }
    if ((cert.revoked && status != V_OCSP_CERTSTATUS_REVOKED) ||
        (!revoked_after && status != V_OCSP_CERTSTATUS_GOOD)) {
      return tally_.Error(absl::StrCat("OCSP: certificate ", cert.serial, " status ", status,
                                       ", ledger says ", cert.revoked ? "revoked" : "good"));
    }
    tally_.Served();
  }

  // The serials on the default issuer's CRL (DER over HTTPS), or an error.
  absl::StatusOr<std::set<std::string>> CrlSerials(std::unique_ptr<HttpWire>& wire) {
    auto reply = Http(wire, "GET", "/v1/pki/crl", "", "");
    if (!reply.ok()) return reply.status();
    if (reply->status != 200) return absl::InternalError(absl::StrCat("CRL: HTTP ", reply->status));
    const unsigned char* p = reinterpret_cast<const unsigned char*>(reply->body.data());
    hsm::X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(reply->body.size())));
    if (crl == nullptr) return absl::InternalError("CRL: does not parse");
    hsm::EvpPkeyPtr key(X509_get_pubkey(issuer_.get()));
    if (X509_CRL_verify(crl.get(), key.get()) != 1) return absl::InternalError("CRL: bad signature");
    std::set<std::string> serials;
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
      serials.insert(SerialOf(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i))));
    }
    return serials;
  }

  void Crl(std::unique_ptr<HttpWire>& wire) {
    auto serials = CrlSerials(wire);
    if (!serials.ok()) return tally_.Error(serials.status().ToString());
    tally_.Served();
  }

  void MalformedJson(std::unique_ptr<HttpWire>& wire) {
    auto reply = Http(wire, "POST", "/v1/transit/encrypt/soak-0", root_token_, "{\"plaintext\":");
    if (reply.ok() && reply->status == 400) return tally_.Refused();
    tally_.Error(absl::StrCat("malformed JSON: ", reply.ok() ? absl::StrCat(reply->status) : reply.status().ToString()));
  }

  void HttpBadToken(std::mt19937_64& rng, std::unique_ptr<HttpWire>& wire) {
    auto reply = Http(wire, "POST", "/v1/transit/encrypt/soak-0",
                      absl::StrCat("s.", absl::BytesToHexString(RandomBytes(rng, 12))),
                      "{\"plaintext\":\"eA==\"}");
    if (reply.ok() && reply->status == 403) return tally_.Refused();
    tally_.Error(absl::StrCat("unknown token over HTTPS: ",
                              reply.ok() ? absl::StrCat(reply->status) : reply.status().ToString()));
  }

  // A head announcing a body over the 16 MiB limit: 413 before any body is sent.
  void Oversized() {
    auto wire = HttpWire::Connect(http_port_, /*tls=*/true);
    if (!wire.ok()) return tally_.Error(absl::StrCat("connect: ", wire.status().ToString()));
    absl::Status sent = (*wire)->Send(
        "POST /v1/transit/encrypt/soak-0 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
        "application/json\r\nContent-Length: 20000000\r\n\r\n{\"plaintext\":\"");
    auto reply = (*wire)->Read(absl::Seconds(30));
    if (sent.ok() && reply.ok() && reply->status == 413) return tally_.Refused();
    tally_.Error(absl::StrCat("oversized body: ", reply.ok() ? absl::StrCat(reply->status) : reply.status().ToString()));
  }

  bool VerifyCiphertexts() {
    std::map<std::string, std::vector<Sealed>> by_key;
    std::vector<Sealed> all = ledger_.sealed();
    for (Sealed& s : all) by_key[s.key].push_back(std::move(s));
    size_t lost = 0;
    for (auto& [key, sealed] : by_key) {
      for (size_t i = 0; i < sealed.size(); i += 256) {
        std::vector<Sealed> batch(sealed.begin() + i, sealed.begin() + std::min(sealed.size(), i + 256));
        std::string why;
        if (!GrpcDecrypt(batch, &why)) {
          // Item by item, to count exactly what is lost.
          for (const Sealed& one : batch) {
            if (!GrpcDecrypt({one}, &why)) {
              if (++lost <= 10) std::fprintf(stderr, "soak: LOST: %s\n", why.c_str());
            }
          }
        }
      }
    }
    std::printf("ciphertexts: %zu acknowledged, %zu do not decrypt\n", all.size(), lost);
    return lost == 0;
  }

  bool VerifyKeys() {
    size_t bad = 0;
    auto versions = ledger_.versions();
    for (const auto& [name, version] : versions) {
      v1::GetKeyRequest request;
      request.set_name(name);
      v1::Key key;
      grpc::Status s = Call(*transit_, &v1::Transit::Stub::GetKey, request, &key);
      if (!s.ok() || key.latest_version() < version) {
        ++bad;
        std::fprintf(stderr, "soak: LOST: key %s at version %u, a rotation returned %u (%s)\n",
                     name.c_str(), key.latest_version(), version, s.error_message().c_str());
      }
    }
    std::printf("keys: %zu, %zu behind an acknowledged rotation\n", versions.size(), bad);
    return bad == 0;
  }

  // Live tokens look up; revoked ones, and those past the expiry their last renewal
  // returned (runs longer than the renewal), do not.
  bool VerifyTokens() {
    size_t bad = 0, revoked = 0, expired = 0;
    auto tokens = ledger_.tokens();
    for (const TokenRecord& token : tokens) {
      v1::LookupTokenRequest request;
      request.set_accessor(token.accessor);
      v1::TokenInfo info;
      const absl::Time before = absl::Now();
      grpc::Status s = Call(*auth_, &v1::Auth::Stub::LookupToken, request, &info);
      revoked += token.revoked;
      const bool gone = !token.revoked && token.expires <= before;
      expired += gone;
      if (!token.revoked && !gone && token.expires <= absl::Now()) continue;  // expired meanwhile
      if (s.ok() == (token.revoked || gone)) {
        if (++bad <= 10) {
          std::fprintf(stderr, "soak: LOST: token %s is %s, the server %s\n", token.accessor.c_str(),
                       token.revoked ? "revoked" : gone ? "expired" : "live",
                       s.ok() ? "still has it" : s.error_message().c_str());
        }
      }
    }
    std::printf("tokens: %zu created, %zu revoked, %zu expired, %zu not as acknowledged\n",
                tokens.size(), revoked, expired, bad);
    return bad == 0;
  }

  bool VerifyCertificates() {
    std::unique_ptr<HttpWire> wire;
    auto crl = CrlSerials(wire);
    if (!crl.ok()) return Fail(crl.status().ToString());
    size_t bad = 0, revoked = 0;
    auto certs = ledger_.certs();
    for (const CertRecord& cert : certs) {
      v1::GetCertificateRequest request;
      request.set_serial_number(cert.serial);
      v1::CertificateRecord record;
      grpc::Status s = Call(*pki_, &v1::Pki::Stub::GetCertificate, request, &record);
      revoked += cert.revoked;
      const bool on_crl = crl->count(NormalSerial(cert.serial)) > 0;
      if (!s.ok() || record.has_revocation_time() != cert.revoked || on_crl != cert.revoked) {
        if (++bad <= 10) {
          std::fprintf(stderr, "soak: LOST: certificate %s (%s): %s, on the CRL: %d\n", cert.serial.c_str(),
                       cert.revoked ? "revoked" : "live", s.ok() ? "record differs" : s.error_message().c_str(),
                       on_crl);
        }
      }
    }
    std::printf("certificates: %zu issued, %zu revoked, %zu not as acknowledged\n", certs.size(), revoked, bad);
    return bad == 0;
  }

  const Options options_;
  const std::string state_dir_;
  const int http_port_;
  const std::string root_token_;
  std::shared_ptr<grpc::Channel> root_, anonymous_;  // root_ carries the root token
  std::unique_ptr<v1::Transit::Stub> transit_;
  std::unique_ptr<v1::Auth::Stub> auth_;
  std::unique_ptr<v1::Pki::Stub> pki_;
  // For calls with a token of their own.
  std::unique_ptr<v1::Transit::Stub> transit_as_token_;
  std::unique_ptr<v1::Auth::Stub> auth_as_token_;
  hsm::X509Ptr issuer_;
  absl::Mutex key_mu_;
  std::atomic<int> keys_{0};
  Ledger ledger_;
  Tally tally_;
};

std::string Config(const hsm::testing::SoftHsmToken& token, const std::string& state_dir,
                   uint64_t audit_file_bytes) {
  return absl::StrCat("state_dir: ", state_dir, "\nhsm:\n  token_label: ", token.label,
                      "\n  pin_file: ", token.pin_file,
                      "\ngrpc:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:0\n",
                      "auth:\n  policies:\n    - name: ", kPolicy,
                      "\n      rules:\n        - resource: transit/keys/soak-*\n",
                      "          operations: [encrypt, decrypt]\n",
                      "audit:\n  max_file_bytes: ", audit_file_bytes, "\n");
}

// The value of `"name": <integer>` in the CLI's JSON summary; -1 if absent.
long long JsonInteger(const std::string& json, absl::string_view name) {
  const std::string key = absl::StrCat("\"", name, "\": ");
  size_t at = json.find(key);
  if (at == std::string::npos) return -1;
  long long value = -1;
  size_t end = json.find_first_not_of("0123456789", at + key.size());
  if (!absl::SimpleAtoi(json.substr(at + key.size(), end - at - key.size()), &value)) return -1;
  return value;
}

// `strongroom audit verify` over every file of the chain, current and rotated: the chain must
// start at seq 1 (no file missing at its start), take in every file given, be signed to its
// last line (the server closed it with a checkpoint), and have rotated at least once (the
// soak's max_file_bytes is small so that rotation is exercised).
bool VerifyAuditChain(const std::string& audit_dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(audit_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == "audit.log" || absl::StartsWith(name, "audit.log.")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> args = {testing::Runfile("tools/cli/strongroom"), "--json", "audit",
                                   "verify", "--public-key", audit_dir + "/audit-signing.pub.pem"};
  args.insert(args.end(), files.begin(), files.end());
  testing::RunResult verify = testing::RunCommand(args, {}, absl::Minutes(10));
  const long long chain_files = JsonInteger(verify.output, "files");
  const long long first_seq = JsonInteger(verify.output, "firstSeq");
  const long long last_seq = JsonInteger(verify.output, "lastSeq");
  const long long uncovered = JsonInteger(verify.output, "uncoveredLines");
  std::printf("audit verify: exit %d: %zu files, seq %lld to %lld, %lld lines unsigned\n",
              verify.exit_code, files.size(), first_seq, last_seq, uncovered);
  bool ok = verify.exit_code == 0 && chain_files == static_cast<long long>(files.size()) &&
            first_seq == 1 && uncovered == 0;
  if (!ok) std::printf("FAIL: the audit chain does not verify whole:\n%s\n", verify.output.c_str());
  if (files.size() < 2) {
    std::printf("FAIL: the audit log never rotated (audit.max_file_bytes is set low for that)\n");
    ok = false;
  }
  return ok;
}

int Run(const Options& options) {
  auto token = hsm::testing::SoftHsmToken::Create("soak");
  if (!token.ok()) {
    std::fprintf(stderr, "soak: SoftHSM token: %s\n", token.status().ToString().c_str());
    return 1;
  }
  const std::string state_dir = token->dir + "/state";
  const std::string config = token->dir + "/strongroom.yaml";
  if (!hsm::testing::WriteFile(config, Config(*token, state_dir, options.audit_file_bytes), 0600).ok()) return 1;
  testing::Process server;
  testing::StrongroomdPorts ports = testing::StartStrongroomd(server, config, /*http=*/true);
  if (ports.grpc == 0 || ports.http == 0) {
    std::fprintf(stderr, "soak: strongroomd did not come up:\n%s\n", server.output().c_str());
    return 1;
  }
  Soak soak(options, state_dir, ports.grpc, ports.http, testing::RootToken(state_dir));
  if (!soak.Setup()) return 1;

  std::printf("soak: %.0f s of load with %d workers and %d slow clients, then %.0f s idle\n",
              options.seconds, options.workers, options.slow_clients, options.idle_seconds);
  std::fflush(stdout);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < options.workers; ++i) threads.emplace_back([&, i] { soak.Worker(i, stop); });
  for (int i = 0; i < options.slow_clients; ++i) threads.emplace_back([&] { soak.SlowClient(stop); });

  std::vector<Sample> samples;
  const absl::Time start = absl::Now();
  bool stopped = false;
  while (true) {
    Sample sample;
    sample.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (!stopped && sample.seconds >= options.seconds) {
      stop = true;
      for (auto& t : threads) t.join();
      stopped = true;
      std::printf("soak: load over at %.0f s; idle\n", sample.seconds);
      std::fflush(stdout);
    }
    if (!SampleProcess(server.pid(), state_dir, &sample)) {
      std::fprintf(stderr, "soak: strongroomd is gone:\n%s\n", server.output().c_str());
      return 1;
    }
    soak.ScrapeMetrics(&sample);
    sample.served = soak.tally().served();
    sample.refused = soak.tally().refused();
    samples.push_back(sample);
    if (samples.size() > 1 && static_cast<int>(sample.seconds / 60) !=
                                  static_cast<int>(samples[samples.size() - 2].seconds / 60)) {
      std::printf("soak: %.0f s: RSS %.1f MB, %d fds, %d threads, %d HSM sessions, %lld bounded "
                  "entries, %llu served, %llu refused, %llu unexpected\n",
                  sample.seconds, sample.rss_mb, sample.fds, sample.threads, sample.hsm_sessions,
                  static_cast<long long>(sample.bounded_entries),
                  static_cast<unsigned long long>(sample.served),
                  static_cast<unsigned long long>(sample.refused),
                  static_cast<unsigned long long>(soak.tally().errors()));
      std::fflush(stdout);
    }
    if (sample.seconds >= options.seconds + options.idle_seconds) break;
    absl::SleepFor(absl::Seconds(options.sample_seconds));
  }

  // The first sample at or after the end of the warm-up is the reference for growth.
  const Sample* reference = &samples.front();
  for (const Sample& s : samples) {
    reference = &s;
    if (s.seconds >= options.warmup_seconds) break;
  }
  const Sample& last = samples.back();
  std::vector<Sample> load;
  for (const Sample& s : samples) {
    if (s.seconds >= options.warmup_seconds && s.seconds <= options.seconds) load.push_back(s);
  }
  std::printf("\nper minute (load, then %.0f s idle):\n", options.idle_seconds);
  PrintTable(samples);
  std::printf("slopes over the load after the warm-up: RSS %.2f MB/min, fds %.2f/min, threads %.2f/min\n",
              SlopePerMinute(load, [](const Sample& s) { return s.rss_mb; }),
              SlopePerMinute(load, [](const Sample& s) { return s.fds; }),
              SlopePerMinute(load, [](const Sample& s) { return s.threads; }));

  bool ok = true;
  const double growth = last.rss_mb / reference->rss_mb - 1;
  std::printf("RSS after %.0f s of load: %.1f MB; after the idle time: %.1f MB (%+.1f%%, limit %+.0f%%)\n",
              reference->seconds, reference->rss_mb, last.rss_mb, growth * 100, options.max_rss_growth * 100);
  if (growth > options.max_rss_growth) {
    std::printf("FAIL: RSS did not come back within the limit\n");
    ok = false;
  }
  if (last.fds > reference->fds + options.fd_slack) {
    std::printf("FAIL: fds grew from %d to %d\n", reference->fds, last.fds);
    ok = false;
  }
  if (last.threads > reference->threads + options.thread_slack) {
    std::printf("FAIL: threads grew from %d to %d\n", reference->threads, last.threads);
    ok = false;
  }

  ok &= soak.Verify();
  server.Signal(SIGTERM);
  int exit_code = server.Wait();
  if (exit_code != 0) {
    std::printf("FAIL: strongroomd exited with %d\n", exit_code);
    ok = false;
  }
  ok &= VerifyAuditChain(state_dir + "/audit");

  std::printf("requests: %llu served, %llu refused as expected, %llu unexpected outcomes\n",
              static_cast<unsigned long long>(soak.tally().served()),
              static_cast<unsigned long long>(soak.tally().refused()),
              static_cast<unsigned long long>(soak.tally().errors()));
  if (soak.tally().errors() > 0) ok = false;
  std::printf("soak: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace strongroom::soak

int main(int argc, char** argv) {
  strongroom::soak::Options options;
  CLI::App app("strongroom-soak: a bounded mixed load against a real strongroomd");
  app.add_option("--seconds", options.seconds, "seconds of load");
  app.add_option("--warmup-seconds", options.warmup_seconds, "load before the reference sample");
  app.add_option("--idle-seconds", options.idle_seconds, "idle time after the load");
  app.add_option("--sample-seconds", options.sample_seconds, "time between samples");
  app.add_option("--workers", options.workers, "threads sending the mixed load");
  app.add_option("--slow-clients", options.slow_clients, "connections that never finish their head");
  app.add_option("--max-rss-growth", options.max_rss_growth, "allowed RSS growth after the idle time");
  app.add_option("--max-keys", options.max_keys, "transit keys the load may create");
  app.add_option("--audit-file-bytes", options.audit_file_bytes,
                 "the server's audit.max_file_bytes (rotation size)");
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);
  return strongroom::soak::Run(options);
}
