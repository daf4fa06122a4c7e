// Tests ChallengeValidator against real loopback servers started in the test process: an
// HTTP server (Beast), a TLS server (OpenSSL, certificates built here) and a DNS responder.
#include "server/acme/challenge_validator.h"

#include <openssl/sha.h>
#include <openssl/ssl.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::server::acme {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using ::testing::HasSubstr;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;

constexpr char kToken[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
constexpr char kKeyAuthorization[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

std::string Sha256(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof(digest));
}

// An HTTP/1.1 server on 127.0.0.1 answering each request with `respond`, one connection at
// a time, recording the request targets and Host headers.
class HttpServer {
 public:
  using Respond = std::function<void(const std::string& target, http::response<http::string_body>*)>;

  explicit HttpServer(Respond respond)
      : respond_(std::move(respond)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Run(); });
  }
  ~HttpServer() {
    stopping_ = true;
    tcp::socket wake(io_);
    boost::system::error_code ec;
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  void Run() {
    for (;;) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopping_) return;
      if (ec) continue;
      beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(socket, buffer, request, ec);
      if (ec) continue;
      const std::string target(request.target());
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen_.push_back(absl::StrCat(std::string(request[http::field::host]), " ", target));
      }
      http::response<http::string_body> response{http::status::ok, 11};
      respond_(target, &response);
      response.prepare_payload();
      http::write(socket, response, ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  Respond respond_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<std::string> seen_;
  std::thread thread_;
};

class ValidatorTest : public ::testing::Test {
 protected:
  ValidationOutcome Validate(ChallengeType type, const std::string& identifier,
                             bool is_ip = false, std::string key_authorization = kKeyAuthorization) {
    ChallengeValidator validator(options_);
    return validator.Validate({type, identifier, is_ip, kToken, std::move(key_authorization)});
  }

  ValidatorOptions options_;
};

// ---------------------------------------------------------------------------------------------
// http-01

class Http01Test : public ValidatorTest {
 protected:
  void Serve(HttpServer::Respond respond) {
    server_ = std::make_unique<HttpServer>(std::move(respond));
    options_.overrides["app.example.test"] = absl::StrCat("127.0.0.1:", server_->port());
  }
  std::unique_ptr<HttpServer> server_;
};

const std::string kChallengePath = absl::StrCat("/.well-known/acme-challenge/", kToken);

TEST_F(Http01Test, ValidWhenTheBodyIsTheKeyAuthorization) {
  Serve([](const std::string& target, http::response<http::string_body>* response) {
    if (target == kChallengePath) {
      response->body() = absl::StrCat(kKeyAuthorization, "\r\n");  // trailing space allowed
    } else {
      response->result(http::status::not_found);
    }
  });
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "App.Example.Test");
  EXPECT_TRUE(outcome.valid) << outcome.problem_type << ": " << outcome.detail;
  EXPECT_THAT(server_->seen(), ::testing::ElementsAre(absl::StrCat(
                                   "app.example.test:", server_->port(), " ", kChallengePath)));
}

TEST_F(Http01Test, AnotherBodyIsAnIncorrectResponse) {
  Serve([](const std::string&, http::response<http::string_body>* response) {
    response->body() = absl::StrCat(kKeyAuthorization, "x");
  });
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "app.example.test");
  EXPECT_FALSE(outcome.valid);
  EXPECT_EQ(outcome.problem_type, "incorrectResponse");
  EXPECT_THAT(outcome.detail, ::testing::Not(HasSubstr(kKeyAuthorization)));
}

TEST_F(Http01Test, NotFoundIsUnauthorized) {
  Serve([](const std::string&, http::response<http::string_body>* response) {
    response->result(http::status::not_found);
    response->body() = kKeyAuthorization;
  });
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "app.example.test");
  EXPECT_FALSE(outcome.valid);
  EXPECT_EQ(outcome.problem_type, "unauthorized");
  EXPECT_THAT(outcome.detail, HasSubstr("HTTP 404"));
}

TEST_F(Http01Test, ABodyOverTheBoundIsRefused) {
  options_.max_body = 1024;
  Serve([](const std::string&, http::response<http::string_body>* response) {
    response->body() = absl::StrCat(kKeyAuthorization, std::string(4096, ' '));
  });
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "app.example.test");
  EXPECT_FALSE(outcome.valid);
  EXPECT_EQ(outcome.problem_type, "unauthorized");
  EXPECT_THAT(outcome.detail, HasSubstr("larger than 1024 bytes"));
}

TEST_F(Http01Test, RedirectsOnTheSameHostAreFollowed) {
  Serve([](const std::string& target, http::response<http::string_body>* response) {
    if (target == kChallengePath) {
      response->result(http::status::found);
      response->set(http::field::location, "/moved?x=1");
    } else if (target == "/moved?x=1") {
      response->result(http::status::permanent_redirect);
      response->set(http::field::location, "http://APP.example.test/final#frag");
    } else {
      response->body() = kKeyAuthorization;
    }
  });
  // The absolute redirect names no port: it goes to the http-01 port, which the override's
  // port replaces.
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "app.example.test");
  EXPECT_TRUE(outcome.valid) << outcome.problem_type << ": " << outcome.detail;
  ASSERT_EQ(server_->seen().size(), 3u);
  EXPECT_THAT(server_->seen()[2], HasSubstr(" /final"));
}

TEST_F(Http01Test, RedirectsOffTheHostAreRefused) {
  for (const char* location :
       {"http://evil.example.test/x", "http://user@app.example.test/x", "//evil.example.test/x",
        "ftp://app.example.test/x", "http://app.example.test:1/x", "relative/path"}) {
    Serve([location](const std::string&, http::response<http::string_body>* response) {
      response->result(http::status::moved_permanently);
      response->set(http::field::location, location);
    });
    ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "app.example.test");
    EXPECT_FALSE(outcome.valid) << location;
    EXPECT_EQ(outcome.problem_type, "connection") << location;
    EXPECT_EQ(server_->seen().size(), 1u) << location;
  }
}

TEST_F(Http01Test, RedirectLoopsEnd) {
  Serve([](const std::string&, http::response<http::string_body>* response) {
    response->result(http::status::found);
    response->set(http::field::location, "/again");
  });
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "app.example.test");
  EXPECT_FALSE(outcome.valid);
  EXPECT_THAT(outcome.detail, HasSubstr("redirects"));
  EXPECT_EQ(server_->seen().size(), 6u);
}

TEST_F(Http01Test, ASilentServerTimesOut) {
  asio::io_context io;
  tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});  // never accepts
  options_.timeout = absl::Milliseconds(300);
  options_.overrides["*"] = absl::StrCat("127.0.0.1:", silent.local_endpoint().port());
  const absl::Time start = absl::Now();
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "app.example.test");
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_FALSE(outcome.valid);
  EXPECT_EQ(outcome.problem_type, "connection");
  EXPECT_THAT(outcome.detail, HasSubstr("timed out"));
}

TEST_F(Http01Test, ARefusedConnectionIsAConnectionProblem) {
  int port;
  {
    asio::io_context io;
    tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = closed.local_endpoint().port();
  }
  options_.overrides["*"] = absl::StrCat("127.0.0.1:", port);
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "app.example.test");
  EXPECT_FALSE(outcome.valid);
  EXPECT_EQ(outcome.problem_type, "connection");
}

TEST_F(Http01Test, IpIdentifiersUseTheLiteral) {
  Serve([](const std::string&, http::response<http::string_body>* response) {
    response->body() = kKeyAuthorization;
  });
  options_.overrides.clear();
  options_.http01_port = server_->port();
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "127.0.0.1", /*is_ip=*/true);
  EXPECT_TRUE(outcome.valid) << outcome.problem_type << ": " << outcome.detail;
  EXPECT_THAT(server_->seen()[0], HasSubstr(absl::StrCat("127.0.0.1:", server_->port(), " /")));
}

// ---------------------------------------------------------------------------------------------
// tls-alpn-01

// How the test TLS server answers: its certificate's subjectAltNames ("DNS:..."/"IP:..."),
// the acmeIdentifier extension's digest ("" for none) and criticality, and whether it
// selects acme-tls/1.
struct TlsAnswer {
  std::string san;
  std::string digest;
  bool critical = true;
  bool select_alpn = true;
  int identifier_extensions = 1;
};

hsm::X509Ptr MakeCertificate(EVP_PKEY* key, const TlsAnswer& answer) {
  hsm::X509Ptr certificate(X509_new());
  X509_set_version(certificate.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 3600);
  X509_NAME* subject = X509_get_subject_name(certificate.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("acme"), -1, -1, 0);
  X509_set_issuer_name(certificate.get(), subject);
  X509_set_pubkey(certificate.get(), key);
  if (!answer.san.empty()) {
    hsm::X509ExtensionPtr san(
        X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, answer.san.c_str()));
    X509_add_ext(certificate.get(), san.get(), -1);
  }
  if (!answer.digest.empty()) {
    hsm::Asn1ObjectPtr oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
    const std::string der = absl::StrCat(std::string("\x04\x20", 2), answer.digest);
    hsm::Asn1StringPtr value(ASN1_OCTET_STRING_new());
    ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>(der.data()),
                          der.size());
    for (int i = 0; i < answer.identifier_extensions; ++i) {
      hsm::X509ExtensionPtr extension(
          X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), answer.critical, value.get()));
      X509_add_ext(certificate.get(), extension.get(), -1);
    }
  }
  X509_sign(certificate.get(), key, EVP_sha256());
  return certificate;
}

// A TLS server on 127.0.0.1 that completes one handshake per connection with the answer's
// certificate and records the SNI it was sent.
class TlsServer {
 public:
  explicit TlsServer(const TlsAnswer& answer)
      : answer_(answer),
        tls_(asio::ssl::context::tls_server),
        acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    key_.reset(EVP_EC_gen("P-256"));
    certificate_ = MakeCertificate(key_.get(), answer_);
    SSL_CTX_use_certificate(tls_.native_handle(), certificate_.get());
    SSL_CTX_use_PrivateKey(tls_.native_handle(), key_.get());
    SSL_CTX_set_alpn_select_cb(tls_.native_handle(), &TlsServer::SelectAlpn, this);
    SSL_CTX_set_tlsext_servername_callback(tls_.native_handle(), &TlsServer::RecordSni);
    SSL_CTX_set_tlsext_servername_arg(tls_.native_handle(), this);
    thread_ = std::thread([this] { Run(); });
  }
  ~TlsServer() {
    stopping_ = true;
    tcp::socket wake(io_);
    boost::system::error_code ec;
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  int port() const { return acceptor_.local_endpoint().port(); }
  std::string sni() {
    std::lock_guard<std::mutex> lock(mu_);
    return sni_;
  }

 private:
  static int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_length,
                        const unsigned char* in, unsigned int in_length, void* self) {
    if (!static_cast<TlsServer*>(self)->answer_.select_alpn) return SSL_TLSEXT_ERR_NOACK;
    if (in_length < 11 || std::string(reinterpret_cast<const char*>(in), 11) != "\x0a" "acme-tls/1") {
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = in + 1;
    *out_length = 10;
    return SSL_TLSEXT_ERR_OK;
  }

  // Runs on the ClientHello, so before the client can finish its handshake.
  static int RecordSni(SSL* ssl, int*, void* self) {
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    TlsServer* server = static_cast<TlsServer*>(self);
    std::lock_guard<std::mutex> lock(server->mu_);
    server->sni_ = name != nullptr ? name : "";
    return SSL_TLSEXT_ERR_OK;
  }

  void Run() {
    for (;;) {
      asio::ssl::stream<tcp::socket> stream(io_, tls_);
      boost::system::error_code ec;
      acceptor_.accept(stream.next_layer(), ec);
      if (stopping_) return;
      if (ec) continue;
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) stream.shutdown(ec);
    }
  }

  TlsAnswer answer_;
  hsm::EvpPkeyPtr key_;
  hsm::X509Ptr certificate_;
  asio::io_context io_;
  asio::ssl::context tls_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::string sni_;
  std::thread thread_;
};

class TlsAlpn01Test : public ValidatorTest {
 protected:
  ValidationOutcome Answer(const TlsAnswer& answer, const std::string& identifier = "app.example.test",
                           bool is_ip = false) {
    server_ = std::make_unique<TlsServer>(answer);
    options_.overrides["*"] = absl::StrCat("127.0.0.1:", server_->port());
    return Validate(ChallengeType::kTlsAlpn01, identifier, is_ip);
  }
  std::unique_ptr<TlsServer> server_;
};

TEST_F(TlsAlpn01Test, ValidWithTheRightCertificate) {
  ValidationOutcome outcome = Answer({"DNS:app.example.test", Sha256(kKeyAuthorization)});
  EXPECT_TRUE(outcome.valid) << outcome.problem_type << ": " << outcome.detail;
  EXPECT_EQ(server_->sni(), "app.example.test");
}

TEST_F(TlsAlpn01Test, IpIdentifiersUseTheReverseNameAndAnIpSan) {
  ValidationOutcome outcome =
      Answer({"IP:127.0.0.1", Sha256(kKeyAuthorization)}, "127.0.0.1", /*is_ip=*/true);
  EXPECT_TRUE(outcome.valid) << outcome.problem_type << ": " << outcome.detail;
  EXPECT_EQ(server_->sni(), "1.0.0.127.in-addr.arpa");
  outcome = Answer({"DNS:127.0.0.1", Sha256(kKeyAuthorization)}, "127.0.0.1", /*is_ip=*/true);
  EXPECT_EQ(outcome.problem_type, "incorrectResponse");
}

TEST_F(TlsAlpn01Test, WrongCertificatesAreIncorrectResponses) {
  const std::string digest = Sha256(kKeyAuthorization);
  struct Case {
    TlsAnswer answer;
    const char* problem;
  } cases[] = {
      {{"DNS:app.example.test", Sha256("other")}, "not the SHA-256"},
      {{"DNS:app.example.test", digest, /*critical=*/false}, "not critical"},
      {{"DNS:app.example.test,DNS:other.test", digest}, "exactly one subjectAltName"},
      {{"DNS:other.test", digest}, "not the identifier's name"},
      {{"", digest}, "exactly one subjectAltName"},
      {{"DNS:app.example.test", ""}, "no acmeIdentifier"},
      {{"DNS:app.example.test", digest, true, true, 2}, "more than one acmeIdentifier"},
  };
  for (const Case& c : cases) {
    ValidationOutcome outcome = Answer(c.answer);
    EXPECT_FALSE(outcome.valid) << c.problem;
    EXPECT_EQ(outcome.problem_type, "incorrectResponse") << c.problem;
    EXPECT_THAT(outcome.detail, HasSubstr(c.problem));
  }
}

TEST_F(TlsAlpn01Test, WithoutAcmeTlsAlpnItIsATlsProblem) {
  ValidationOutcome outcome =
      Answer({"DNS:app.example.test", Sha256(kKeyAuthorization), true, /*select_alpn=*/false});
  EXPECT_FALSE(outcome.valid);
  EXPECT_EQ(outcome.problem_type, "tls");
  EXPECT_THAT(outcome.detail, HasSubstr("acme-tls/1"));
}

TEST_F(TlsAlpn01Test, APlainHttpServerIsATlsProblem) {
  HttpServer plain([](const std::string&, http::response<http::string_body>*) {});
  options_.overrides["*"] = absl::StrCat("127.0.0.1:", plain.port());
  ValidationOutcome outcome = Validate(ChallengeType::kTlsAlpn01, "app.example.test");
  EXPECT_FALSE(outcome.valid);
  EXPECT_EQ(outcome.problem_type, "tls");
}

// ---------------------------------------------------------------------------------------------
// dns-01 and name resolution

struct DnsRecord {
  std::string owner;
  uint16_t type;
  std::string data;  // wire rdata
};

struct DnsAnswer {
  int rcode = 0;
  std::vector<DnsRecord> records;
  bool silent = false;
  bool stray_first = false;  // send a datagram with another id before the answer
};

std::string WireName(absl::string_view name) {
  std::string out;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    out.push_back(static_cast<char>(label.size()));
    absl::StrAppend(&out, label);
  }
  out.push_back('\0');
  return out;
}

std::string U16(uint16_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; }

std::string Txt(absl::string_view value) {
  return absl::StrCat(std::string(1, static_cast<char>(value.size())), value);
}

// A DNS responder on 127.0.0.1 (UDP) answering every query with `answer(name, type)`.
class DnsResponder {
 public:
  using Answer = std::function<DnsAnswer(const std::string& name, uint16_t type)>;

  explicit DnsResponder(Answer answer)
      : answer_(std::move(answer)), socket_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Run(); });
  }
  ~DnsResponder() {
    stopping_ = true;
    udp::socket wake(io_, udp::v4());
    wake.send_to(asio::buffer("x", 1), socket_.local_endpoint());
    thread_.join();
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", socket_.local_endpoint().port()); }

 private:
  void Run() {
    for (;;) {
      char query[512];
      udp::endpoint peer;
      boost::system::error_code ec;
      const size_t n = socket_.receive_from(asio::buffer(query), peer, 0, ec);
      if (stopping_) return;
      if (ec || n < 17) continue;
      // Question: name from offset 12 up to its zero byte, then type and class.
      std::string name;
      size_t at = 12;
      while (at < n && query[at] != 0) {
        const size_t length = static_cast<uint8_t>(query[at]);
        if (!name.empty()) name.push_back('.');
        name.append(query + at + 1, length);
        at += 1 + length;
      }
      const std::string question(query + 12, at + 5 - 12);
      const uint16_t type = (static_cast<uint8_t>(query[at + 1]) << 8) | static_cast<uint8_t>(query[at + 2]);
      const DnsAnswer answer = answer_(name, type);
      if (answer.silent) continue;
      std::string records;
      for (const DnsRecord& record : answer.records) {
        absl::StrAppend(&records, WireName(record.owner), U16(record.type), U16(1),
                        U16(0), U16(60), U16(record.data.size()), record.data);
      }
      const std::string id(query, 2);
      auto message = [&](const std::string& with_id) {
        return absl::StrCat(with_id, U16(0x8180 | answer.rcode), U16(1),
                            U16(answer.records.size()), U16(0), U16(0), question, records);
      };
      if (answer.stray_first) {
        const std::string stray = message(std::string{static_cast<char>(~id[0]), id[1]});
        socket_.send_to(asio::buffer(stray), peer, 0, ec);
      }
      const std::string reply = message(id);
      socket_.send_to(asio::buffer(reply), peer, 0, ec);
    }
  }

  Answer answer_;
  asio::io_context io_;
  udp::socket socket_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

class Dns01Test : public ValidatorTest {
 protected:
  void Respond(DnsResponder::Answer answer) {
    responder_ = std::make_unique<DnsResponder>(std::move(answer));
    options_.dns_resolver = responder_->address();
  }
  std::unique_ptr<DnsResponder> responder_;
};

// base64url(SHA-256(kKeyAuthorization)), computed independently of the validator.
std::string ExpectedTxt() {
  std::string encoded;
  absl::WebSafeBase64Escape(Sha256(kKeyAuthorization), &encoded);
  return encoded;
}

TEST_F(Dns01Test, ValidWhenATxtRecordIsTheDigest) {
  Respond([](const std::string& name, uint16_t type) {
    DnsAnswer answer;
    if (name == "_acme-challenge.app.example.test" && type == 16) {
      answer.records = {{name, 16, Txt("unrelated")}, {name, 16, Txt(ExpectedTxt())}};
    } else {
      answer.rcode = 3;
    }
    return answer;
  });
  ValidationOutcome outcome = Validate(ChallengeType::kDns01, "app.example.test");
  EXPECT_TRUE(outcome.valid) << outcome.problem_type << ": " << outcome.detail;
  // A wildcard order's authorization is validated for its base name.
  outcome = Validate(ChallengeType::kDns01, "*.app.example.test");
  EXPECT_TRUE(outcome.valid) << outcome.problem_type << ": " << outcome.detail;
}

TEST_F(Dns01Test, CnamesInTheAnswerAreFollowedAndStraysIgnored) {
  Respond([](const std::string& name, uint16_t) {
    DnsAnswer answer;
    answer.stray_first = true;
    answer.records = {{name, 5, WireName("delegated.example.test")},
                      {"delegated.example.test", 16,
                       absl::StrCat(Txt(ExpectedTxt().substr(0, 10)), Txt(ExpectedTxt().substr(10)))}};
    return answer;
  });
  ValidationOutcome outcome = Validate(ChallengeType::kDns01, "app.example.test");
  EXPECT_TRUE(outcome.valid) << outcome.problem_type << ": " << outcome.detail;
}

TEST_F(Dns01Test, AnotherValueIsAnIncorrectResponse) {
  Respond([](const std::string& name, uint16_t) {
    DnsAnswer answer;
    answer.records = {{name, 16, Txt("not-the-digest")}};
    return answer;
  });
  ValidationOutcome outcome = Validate(ChallengeType::kDns01, "app.example.test");
  EXPECT_FALSE(outcome.valid);
  EXPECT_EQ(outcome.problem_type, "incorrectResponse");
}

TEST_F(Dns01Test, NoRecordIsUnauthorizedAndAResolverFailureADnsProblem) {
  Respond([](const std::string&, uint16_t) { return DnsAnswer{3}; });
  ValidationOutcome outcome = Validate(ChallengeType::kDns01, "app.example.test");
  EXPECT_EQ(outcome.problem_type, "unauthorized");
  EXPECT_THAT(outcome.detail, HasSubstr("does not exist"));
  Respond([](const std::string&, uint16_t) { return DnsAnswer{2}; });
  outcome = Validate(ChallengeType::kDns01, "app.example.test");
  EXPECT_EQ(outcome.problem_type, "dns");
}

TEST_F(Dns01Test, ASilentResolverTimesOut) {
  Respond([](const std::string&, uint16_t) {
    DnsAnswer answer;
    answer.silent = true;
    return answer;
  });
  options_.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  ValidationOutcome outcome = Validate(ChallengeType::kDns01, "app.example.test");
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(outcome.problem_type, "dns");
  EXPECT_THAT(outcome.detail, HasSubstr("timed out"));
}

TEST_F(Dns01Test, HttpNamesWithoutOverrideAreResolvedByTheResolver) {
  HttpServer server([](const std::string&, http::response<http::string_body>* response) {
    response->body() = kKeyAuthorization;
  });
  Respond([](const std::string& name, uint16_t type) {
    DnsAnswer answer;
    if (name == "app.example.test" && type == 1) {
      answer.records = {{name, 1, std::string("\x7f\x00\x00\x01", 4)}};
    }
    return answer;
  });
  options_.http01_port = server.port();
  ValidationOutcome outcome = Validate(ChallengeType::kHttp01, "app.example.test");
  EXPECT_TRUE(outcome.valid) << outcome.problem_type << ": " << outcome.detail;
  outcome = Validate(ChallengeType::kHttp01, "missing.example.test");
  EXPECT_EQ(outcome.problem_type, "dns");
}

TEST_F(ValidatorTest, MalformedRequestsFailBeforeAnyTraffic) {
  options_.overrides["*"] = "127.0.0.1:1";
  EXPECT_EQ(Validate(ChallengeType::kHttp01, "*.example.test").problem_type, "malformed");
  EXPECT_EQ(Validate(ChallengeType::kHttp01, "bad_name.test").problem_type, "malformed");
  EXPECT_EQ(Validate(ChallengeType::kHttp01, "a..test").problem_type, "malformed");
  EXPECT_EQ(Validate(ChallengeType::kHttp01, "300.1.1.1", true).problem_type, "malformed");
  EXPECT_EQ(Validate(ChallengeType::kDns01, "127.0.0.1", true).problem_type, "malformed");
  EXPECT_EQ(Validate(ChallengeType::kHttp01, "a.test", false, "other.thumb").problem_type,
            "malformed");
  ChallengeValidator validator(options_);
  EXPECT_EQ(validator.Validate({ChallengeType::kHttp01, "a.test", false, "../x", "../x.t"})
                .problem_type,
            "malformed");
}

TEST(CheckValidatorOptionsTest, RefusesWhatValidateCannotUse) {
  ValidatorOptions options;
  EXPECT_TRUE(CheckValidatorOptions(options).ok());
  options.overrides = {{"*", "127.0.0.1:5002"}, {"a.test", "::1"}, {"b.test", "[::1]:80"}};
  options.dns_resolver = "127.0.0.1:5353";
  EXPECT_TRUE(CheckValidatorOptions(options).ok());
  for (const char* bad : {"host.test:80", "127.0.0.1:0", "127.0.0.1:x", "[::1", ""}) {
    ValidatorOptions o;
    o.overrides["a.test"] = bad;
    EXPECT_FALSE(CheckValidatorOptions(o).ok()) << bad;
  }
  ValidatorOptions o;
  o.dns_resolver = "dns.test:53";
  EXPECT_FALSE(CheckValidatorOptions(o).ok());
  o = {};
  o.timeout = absl::ZeroDuration();
  EXPECT_FALSE(CheckValidatorOptions(o).ok());
}

}  // namespace
}  // namespace strongroom::server::acme
