#include "server/access/jwt/https_get.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace strongroom::server::access::jwt {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Url {
  std::string host;  // without brackets
  std::string port = "443";
  std::string target = "/";
};

absl::StatusOr<Url> ParseUrl(absl::string_view url) {
  constexpr absl::string_view kScheme = "https://";
  if (!absl::StartsWith(url, kScheme) || url.size() > 2048) {
    return absl::InvalidArgumentError("not an https:// URL (of at most 2048 characters)");
  }
  absl::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  Url out;
  if (slash != absl::string_view::npos) out.target = std::string(rest.substr(slash));
  if (authority.find('@') != absl::string_view::npos) {
    return absl::InvalidArgumentError("URL with user information");
  }
  absl::string_view host = authority;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("bad IPv6 host");
    host = authority.substr(1, close - 1);
    absl::string_view tail = authority.substr(close + 1);
    if (!tail.empty()) {
      if (tail[0] != ':') return absl::InvalidArgumentError("bad port");
      out.port = std::string(tail.substr(1));
    }
  } else if (size_t colon = authority.rfind(':'); colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    out.port = std::string(authority.substr(colon + 1));
  }
  int port = 0;
  if (host.empty() || !absl::SimpleAtoi(out.port, &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError("URL without a host or with a bad port");
  }
  out.host = std::string(host);
  if (size_t hash = out.target.find('#'); hash != std::string::npos) out.target.resize(hash);
  return out;
}

}  // namespace

absl::StatusOr<std::string> HttpsGet(absl::string_view url_text, const std::string& ca_file,
                                     absl::Duration timeout, size_t max_bytes) {
  absl::StatusOr<Url> url = ParseUrl(url_text);
  if (!url.ok()) return url.status();

  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                  asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  tls.set_verify_mode(asio::ssl::verify_peer);
  beast::error_code ec;
  if (ca_file.empty()) {
    tls.set_default_verify_paths(ec);
  } else {
    tls.load_verify_file(ca_file, ec);
  }
  if (ec) return absl::FailedPreconditionError(absl::StrCat("ca_file ", ca_file, ": unreadable"));

  asio::io_context io;
  beast::ssl_stream<beast::tcp_stream> stream(io, tls);
  SSL* ssl = stream.native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  beast::error_code addr_ec;
  asio::ip::make_address(url->host, addr_ec);
  if (!addr_ec) {
    X509_VERIFY_PARAM_set1_ip_asc(param, url->host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, url->host.c_str(), 0);
    SSL_set_tlsext_host_name(ssl, url->host.c_str());
  }

  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  tcp::resolver resolver(io);
  http::request<http::empty_body> request(http::verb::get, url->target, 11);
  request.set(http::field::host, url->host);
  request.set(http::field::accept, "application/json");
  request.set(http::field::user_agent, "strongroomd");
  request.set(http::field::connection, "close");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(16 << 10);
  parser.body_limit(max_bytes);

  std::optional<absl::Status> result;
  auto fail = [&result](absl::string_view step, const beast::error_code& e) {
    if (!result) result = absl::UnavailableError(absl::StrCat(step, ": ", e.message()));
  };
  resolver.async_resolve(url->host, url->port, [&](beast::error_code e,
                                                   tcp::resolver::results_type endpoints) {
    if (e) return fail("resolve", e);
    beast::get_lowest_layer(stream).expires_at(deadline);
    beast::get_lowest_layer(stream).async_connect(endpoints, [&](beast::error_code e,
                                                                 const tcp::endpoint&) {
      if (e) return fail("connect", e);
      stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) {
        if (e) return fail("TLS handshake", e);
        http::async_write(stream, request, [&](beast::error_code e, size_t) {
          if (e) return fail("request", e);
          http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) {
            if (e) return fail("reply", e);
            result = absl::OkStatus();
          });
        });
      });
    });
  });
  io.run_until(deadline);
  if (!result) return absl::UnavailableError("timed out");
  if (!result->ok()) return *result;
  const unsigned status = parser.get().result_int();
  if (status != 200) return absl::UnavailableError(absl::StrCat("HTTP status ", status));
  return parser.release().body();
}

}  // namespace strongroom::server::access::jwt
