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
