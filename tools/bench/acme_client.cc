#include "tools/bench/acme_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace strongroom::bench {
namespace {

constexpr absl::string_view kChallengePath = "/.well-known/acme-challenge/";
constexpr int kMaxPolls = 200;

std::string B64u(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

// JSON string literal for the few values the client sends (URLs, nonces, names, base64url).
std::string Quote(absl::string_view s) { return absl::StrCat("\"", absl::CEscape(s), "\""); }

// The path of an absolute URL the server gave ("https://host/path" -> "/path").
std::string PathOf(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

absl::StatusOr<google::protobuf::Struct> ParseJson(const std::string& body, const char* what) {
  google::protobuf::Struct out;
  if (!google::protobuf::util::JsonStringToMessage(body, &out).ok()) {
    return absl::InternalError(absl::StrCat(what, ": not a JSON object: ", body.substr(0, 200)));
  }
  return out;
}

std::string Field(const google::protobuf::Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? "" : it->second.string_value();
}

absl::Status Failed(const char* step, const testing::WireResponse& r) {
  return absl::InternalError(absl::StrCat(step, ": HTTP ", r.status, " ", r.body.substr(0, 300)));
}

// A fresh P-256 key pair.
hsm::EvpPkeyPtr NewP256() { return hsm::EvpPkeyPtr(EVP_EC_gen("P-256")); }

}  // namespace

absl::StatusOr<std::string> NewCsrDer(const std::string& dns_name) {
  hsm::EvpPkeyPtr key = NewP256();
  hsm::X509ReqPtr req(X509_REQ_new());
  if (key == nullptr || req == nullptr) return absl::InternalError("csr: out of memory");
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(dns_name.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key.get());
  hsm::X509ExtensionStackPtr exts(sk_X509_EXTENSION_new_null());
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name,
                                            absl::StrCat("DNS:", dns_name).c_str());
  if (exts == nullptr || san == nullptr) return absl::InternalError("csr: cannot build the SAN");
  sk_X509_EXTENSION_push(exts.get(), san);
  if (X509_REQ_add_extensions(req.get(), exts.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return absl::InternalError("csr: cannot sign");
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) return absl::InternalError("csr: cannot encode");
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

// ---- Http01Responder ----

absl::StatusOr<std::unique_ptr<Http01Responder>> Http01Responder::Start(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError("http-01 responder: no socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("http-01 responder: cannot listen on ", port));
  }
  std::unique_ptr<Http01Responder> responder(new Http01Responder(fd));
  responder->thread_ = std::thread(&Http01Responder::Serve, responder.get());
  return responder;
}

Http01Responder::Http01Responder(int fd) : fd_(fd) {}

Http01Responder::~Http01Responder() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  close(fd_);
}

void Http01Responder::Answer(const std::string& token, const std::string& key_authorization) {
  absl::MutexLock lock(&mu_);
  answers_[token] = key_authorization;
}

void Http01Responder::Forget(const std::string& token) {
  absl::MutexLock lock(&mu_);
  answers_.erase(token);
}

void Http01Responder::Serve() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;  // wakes up to see whether it should stop
    const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    Reply(conn);
    close(conn);
  }
}

void Http01Responder::Reply(int conn) {
  // The request head, bounded in size and time (the validator sends a small GET at once).
  std::string head;
  char buf[2048];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
    pollfd p{conn, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) return;
    const ssize_t n = read(conn, buf, sizeof(buf));
    if (n <= 0) return;
    head.append(buf, static_cast<size_t>(n));
  }
  std::string body;
  int status = 404;
  const size_t start = head.find(' ');
  const size_t end = start == std::string::npos ? start : head.find(' ', start + 1);
  if (end != std::string::npos) {
    const std::string path = head.substr(start + 1, end - start - 1);
    if (absl::StartsWith(path, kChallengePath)) {
      absl::MutexLock lock(&mu_);
      auto it = answers_.find(path.substr(kChallengePath.size()));
      if (it != answers_.end()) {
        body = it->second;
        status = 200;
      }
    }
  }
  const std::string reply =
      absl::StrCat("HTTP/1.1 ", status, status == 200 ? " OK" : " Not Found",
                   "\r\nContent-Type: application/octet-stream\r\nContent-Length: ", body.size(),
                   "\r\nConnection: close\r\n\r\n", body);
  size_t sent = 0;
  while (sent < reply.size()) {
    const ssize_t n = write(conn, reply.data() + sent, reply.size() - sent);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// ---- AcmeClient ----

AcmeClient::AcmeClient(int port, hsm::EvpPkeyPtr key, Http01Responder* responder)
    : port_(port), key_(std::move(key)), responder_(responder) {}

absl::StatusOr<std::unique_ptr<AcmeClient>> AcmeClient::Create(int https_port,
                                                               const std::string& directory_path,
                                                               Http01Responder* responder) {
  hsm::EvpPkeyPtr key = NewP256();
  if (key == nullptr) return absl::InternalError("cannot generate a P-256 key");
  std::unique_ptr<AcmeClient> client(new AcmeClient(https_port, std::move(key), responder));
  // The JWK: the point's coordinates, 32 bytes each.
  unsigned char x[32], y[32];
  hsm::BignumPtr bx, by;
  {
    BIGNUM* raw_x = nullptr;
    BIGNUM* raw_y = nullptr;
    EVP_PKEY_get_bn_param(client->key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, &raw_x);
    EVP_PKEY_get_bn_param(client->key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &raw_y);
    bx.reset(raw_x);
    by.reset(raw_y);
  }
  if (bx == nullptr || by == nullptr || BN_bn2binpad(bx.get(), x, 32) != 32 ||
      BN_bn2binpad(by.get(), y, 32) != 32) {
    return absl::InternalError("cannot read the account key's point");
  }
  client->jwk_ = absl::StrCat(R"({"crv":"P-256","kty":"EC","x":")",
                              B64u(absl::string_view(reinterpret_cast<char*>(x), 32)), R"(","y":")",
                              B64u(absl::string_view(reinterpret_cast<char*>(y), 32)), "\"}");
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(client->jwk_.data()), client->jwk_.size(), digest);
  client->thumbprint_ = B64u(absl::string_view(reinterpret_cast<char*>(digest), sizeof(digest)));

  absl::StatusOr<testing::WireResponse> dir =
      client->Send(testing::HttpRequestBytes("GET", directory_path));
  if (!dir.ok()) return dir.status();
  if (dir->status != 200) return Failed("directory", *dir);
  absl::StatusOr<google::protobuf::Struct> urls = ParseJson(dir->body, "directory");
  if (!urls.ok()) return urls.status();
  client->new_nonce_url_ = Field(*urls, "newNonce");
  client->new_account_url_ = Field(*urls, "newAccount");
  client->new_order_url_ = Field(*urls, "newOrder");
  absl::StatusOr<testing::WireResponse> nonce =
      client->Send(testing::HttpRequestBytes("GET", PathOf(client->new_nonce_url_)));
  if (!nonce.ok()) return nonce.status();
  absl::StatusOr<testing::WireResponse> account =
      client->Post(client->new_account_url_, R"({"termsOfServiceAgreed":true})");
  if (!account.ok()) return account.status();
  if (account->status != 201) return Failed("newAccount", *account);
  client->kid_ = account->Header("location");
  if (client->kid_.empty()) return absl::InternalError("newAccount: no Location");
  return client;
}

absl::StatusOr<testing::WireResponse> AcmeClient::Send(const std::string& request) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (wire_ == nullptr) {
      absl::StatusOr<std::unique_ptr<testing::HttpWire>> connected =
          testing::HttpWire::Connect(port_, /*tls=*/true);
      if (!connected.ok()) return connected.status();
      wire_ = *std::move(connected);
    }
    ++requests_;
    absl::StatusOr<testing::WireResponse> response =
        wire_->Send(request).ok() ? wire_->Read() : absl::UnavailableError("send failed");
    if (!response.ok()) {  // the server closed an idle connection: reconnect once
      wire_.reset();
      continue;
    }
    if (response->close) wire_.reset();
    if (std::string nonce = response->Header("replay-nonce"); !nonce.empty()) nonce_ = nonce;
    return response;
  }
  return absl::UnavailableError("the ACME server does not answer");
}

std::string AcmeClient::Jws(const std::string& url, const std::string& payload) {
  const std::string header = absl::StrCat(
      R"({"alg":"ES256",)",
      kid_.empty() ? absl::StrCat(R"("jwk":)", jwk_) : absl::StrCat(R"("kid":)", Quote(kid_)),
      R"(,"nonce":)", Quote(nonce_), R"(,"url":)", Quote(url), "}");
  const std::string protected_b64 = B64u(header);
  const std::string payload_b64 = payload.empty() ? "" : B64u(payload);
  const std::string input = absl::StrCat(protected_b64, ".", payload_b64);
  // ES256: ECDSA over SHA-256, the signature as R || S of 32 bytes each.
  std::string signature;
  hsm::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t der_len = 0;
  if (ctx != nullptr &&
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
      EVP_DigestSign(ctx.get(), nullptr, &der_len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1) {
    std::vector<unsigned char> der(der_len);
    if (EVP_DigestSign(ctx.get(), der.data(), &der_len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1) {
      const unsigned char* p = der.data();
      hsm::EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
      unsigned char rs[64];
      if (sig != nullptr && BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), rs, 32) == 32 &&
          BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), rs + 32, 32) == 32) {
        signature.assign(reinterpret_cast<char*>(rs), sizeof(rs));
      }
    }
  }
  // A signing failure sends an empty signature, which the server refuses (and the order
  // fails with its problem).
  return absl::StrCat(R"({"protected":")", protected_b64, R"(","payload":")", payload_b64,
                      R"(","signature":")", B64u(signature), "\"}");
}

absl::StatusOr<testing::WireResponse> AcmeClient::Post(const std::string& url,
                                                       const std::string& payload) {
  absl::StatusOr<testing::WireResponse> response;
  for (int attempt = 0; attempt < 2; ++attempt) {
    response = Send(testing::HttpRequestBytes("POST", PathOf(url), Jws(url, payload),
                                              "Content-Type: application/jose+json\r\n"));
    if (!response.ok() || response->status != 400 ||
        !absl::StrContains(response->body, "urn:ietf:params:acme:error:badNonce")) {
      break;
    }
  }
  return response;
}

absl::StatusOr<std::string> AcmeClient::PollUntilSettled(const std::string& url, const char* what) {
  for (int poll = 0; poll < kMaxPolls; ++poll) {
    absl::StatusOr<testing::WireResponse> r = Post(url, "");
    if (!r.ok()) return r.status();
    if (r->status != 200) return Failed(what, *r);
    absl::StatusOr<google::protobuf::Struct> object = ParseJson(r->body, what);
    if (!object.ok()) return object.status();
    const std::string status = Field(*object, "status");
    if (status != "pending" && status != "processing") return r->body;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the client's poll interval
  }
  return absl::DeadlineExceededError(
      absl::StrCat(what, ": still pending after ", kMaxPolls, " polls"));
}

absl::StatusOr<std::string> AcmeClient::Order(const std::string& dns_name) {
  absl::StatusOr<testing::WireResponse> created =
      Post(new_order_url_,
           absl::StrCat(R"({"identifiers":[{"type":"dns","value":)", Quote(dns_name), "}]}"));
  if (!created.ok()) return created.status();
  if (created->status != 201) return Failed("newOrder", *created);
  const std::string order_url = created->Header("location");
  absl::StatusOr<google::protobuf::Struct> order = ParseJson(created->body, "newOrder");
  if (!order.ok()) return order.status();
  const auto& authzs = order->fields().at("authorizations").list_value().values();
  if (order_url.empty() || authzs.size() != 1) {
    return absl::InternalError("newOrder: expected a Location and one authorization");
  }
  const std::string authz_url = authzs[0].string_value();
  const std::string finalize_url = Field(*order, "finalize");

  // The http-01 challenge, answered by the responder while it is validated.
  absl::StatusOr<testing::WireResponse> authz_reply = Post(authz_url, "");
  if (!authz_reply.ok()) return authz_reply.status();
  if (authz_reply->status != 200) return Failed("authorization", *authz_reply);
  absl::StatusOr<google::protobuf::Struct> authz = ParseJson(authz_reply->body, "authorization");
  if (!authz.ok()) return authz.status();
  std::string challenge_url, token;
  for (const auto& c : authz->fields().at("challenges").list_value().values()) {
    if (Field(c.struct_value(), "type") == "http-01") {
      challenge_url = Field(c.struct_value(), "url");
      token = Field(c.struct_value(), "token");
    }
  }
  if (challenge_url.empty() || token.empty()) {
    return absl::InternalError("authorization: no http-01 challenge");
  }
  responder_->Answer(token, absl::StrCat(token, ".", thumbprint_));
  absl::StatusOr<testing::WireResponse> answered = Post(challenge_url, "{}");
  absl::StatusOr<std::string> validated = answered.ok() && answered->status == 200
                                              ? PollUntilSettled(authz_url, "authorization")
                                              : absl::StatusOr<std::string>("");
  responder_->Forget(token);
  if (!answered.ok()) return answered.status();
  if (answered->status != 200) return Failed("challenge", *answered);
  if (!validated.ok()) return validated.status();
  if (!absl::StrContains(*validated, R"("status":"valid")")) {
    return absl::InternalError(absl::StrCat("authorization not valid: ", *validated));
  }

  absl::StatusOr<std::string> ready = PollUntilSettled(order_url, "order");
  if (!ready.ok()) return ready.status();
  absl::StatusOr<std::string> csr = NewCsrDer(dns_name);
  if (!csr.ok()) return csr.status();
  absl::StatusOr<testing::WireResponse> finalized =
      Post(finalize_url, absl::StrCat(R"({"csr":)", Quote(B64u(*csr)), "}"));
  if (!finalized.ok()) return finalized.status();
  if (finalized->status != 200) return Failed("finalize", *finalized);
  absl::StatusOr<std::string> done = PollUntilSettled(order_url, "order");
  if (!done.ok()) return done.status();
  absl::StatusOr<google::protobuf::Struct> final_order = ParseJson(*done, "order");
  if (!final_order.ok()) return final_order.status();
  const std::string certificate_url = Field(*final_order, "certificate");
  if (Field(*final_order, "status") != "valid" || certificate_url.empty()) {
    return absl::InternalError(absl::StrCat("order not valid: ", *done));
  }
  absl::StatusOr<testing::WireResponse> chain = Post(certificate_url, "");
  if (!chain.ok()) return chain.status();
  if (chain->status != 200 || !absl::StrContains(chain->body, "-----BEGIN CERTIFICATE-----")) {
    return Failed("certificate", *chain);
  }
  return chain->body;
}

}  // namespace strongroom::bench
