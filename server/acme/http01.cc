// The http-01 probe (RFC 8555 section 8.3): GET /.well-known/acme-challenge/<token> over plain
// HTTP; redirects are followed at most kMaxRedirects times and only to the same host, over
// http (the http-01 port) or https (the tls-alpn-01 port, certificate not checked, as the key
// authorization is the proof); the body, bounded by max_body, must be the key authorization
// apart from trailing whitespace.
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/acme/probe.h"

namespace strongroom::server::acme::probe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

constexpr int kMaxRedirects = 5;
constexpr size_t kMaxHeader = 8 << 10;
constexpr size_t kMaxPath = 2048;

struct Location {
  bool https = false;
  std::string path;
};

std::string UrlHost(const std::string& name) {
  return absl::StrContains(name, ':') ? absl::StrCat("[", name, "]") : name;
}

std::string Url(const Location& at, const std::string& name) {
  return absl::StrCat(at.https ? "https://" : "http://", UrlHost(name), at.path);
}

uint16_t PortFor(const Context& context, const Target& target, bool https) {
  if (https) return static_cast<uint16_t>(context.options.tls_alpn01_port);
  return target.port != 0 ? target.port : static_cast<uint16_t>(context.options.http01_port);
}

// NextLocation reads a redirect's Location; nullopt with `problem` set when it may not be
// followed (another host, another port, another scheme, userinfo, an unusual path).
std::optional<Location> NextLocation(absl::string_view location, const Location& from,
                                     const std::string& name, uint16_t http_port,
                                     uint16_t https_port, std::string* problem) {
  Location next{from.https, ""};
  absl::string_view rest = location;
  const bool absolute = absl::StartsWithIgnoreCase(rest, "http://") ||
                        absl::StartsWithIgnoreCase(rest, "https://");
  if (absolute) {
    next.https = absl::StartsWithIgnoreCase(rest, "https://");
    rest.remove_prefix(next.https ? 8 : 7);
    const size_t end = rest.find_first_of("/?#");
    absl::string_view authority = rest.substr(0, end);
    rest = end == absl::string_view::npos ? absl::string_view() : rest.substr(end);
    if (absl::StrContains(authority, '@')) {
      *problem = "redirect carries user information";
      return std::nullopt;
    }
    absl::string_view host = authority;
    absl::string_view port;
    if (absl::ConsumePrefix(&host, "[")) {
      const size_t close = host.find(']');
      if (close == absl::string_view::npos) {
        *problem = "redirect has a malformed host";
        return std::nullopt;
      }
      port = host.substr(close + 1);
      host = host.substr(0, close);
      if (!port.empty() && !absl::ConsumePrefix(&port, ":")) {
        *problem = "redirect has a malformed host";
        return std::nullopt;
      }
    } else if (const size_t colon = host.find(':'); colon != absl::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    error_code ec;
    const asio::ip::address address = asio::ip::make_address(std::string(host), ec);
    const std::string host_name = ec ? absl::AsciiStrToLower(host) : address.to_string();
    if (host_name != name) {
      *problem = "redirect leads to another host";
      return std::nullopt;
    }
    if (!port.empty()) {
      int value;
      if (!absl::SimpleAtoi(port, &value) || value != (next.https ? https_port : http_port)) {
        *problem = "redirect leads to another port";
        return std::nullopt;
      }
    }
  } else if (!absl::StartsWith(rest, "/") || absl::StartsWith(rest, "//")) {
    *problem = "redirect is neither an http(s) URL nor an absolute path";
    return std::nullopt;
  }
  rest = rest.substr(0, rest.find('#'));
  if (rest.empty()) rest = "/";
  if (rest.front() != '/' || rest.size() > kMaxPath) {
    *problem = "redirect path is not a bounded absolute path";
    return std::nullopt;
  }
  for (char c : rest) {
    if (c <= ' ' || c > '~') {
      *problem = "redirect path has unusual bytes";
      return std::nullopt;
    }
  }
  next.path = std::string(rest);
  return next;
}

error_code Handshake(const Context&, beast::tcp_stream&) { return {}; }

error_code Handshake(const Context& context, beast::ssl_stream<beast::tcp_stream>& stream) {
  return Await(context.io, [&](auto handler) {
    stream.async_handshake(asio::ssl::stream_base::client, std::move(handler));
  });
}

// Fetch makes one GET on `stream`; on success `response` holds it. On failure returns the
// outcome to report.
template <typename Stream>
std::optional<ValidationOutcome> Fetch(const Context& context, const Target& target,
                                       Stream& stream, const std::string& name,
                                       const Location& at, uint16_t port,
                                       http::response<http::string_body>* response) {
  const std::string url = Url(at, name);
  error_code ec = Connect(context, target, port, beast::get_lowest_layer(stream));
  if (ec) return Fail("connection", absl::StrCat("connecting for ", url, ": ", Describe(ec)));
  if (ec = Handshake(context, stream); ec) {
    return Fail("tls", absl::StrCat("TLS handshake for ", url, ": ", Describe(ec)));
  }

  http::request<http::empty_body> request{http::verb::get, at.path, 11};
  const uint16_t default_port = at.https ? 443 : 80;
  request.set(http::field::host, port == default_port
                                     ? UrlHost(name)
                                     : absl::StrCat(UrlHost(name), ":", port));
  request.set(http::field::user_agent, "strongroom-acme-validator");
  request.set(http::field::accept, "*/*");
  request.set(http::field::connection, "close");
  ec = Await(context.io, [&](auto handler) {
    http::async_write(stream, request, std::move(handler));
  });
  if (ec) return Fail("connection", absl::StrCat("sending GET ", url, ": ", Describe(ec)));

  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeader);
  parser.body_limit(context.options.max_body);
  beast::flat_buffer buffer(kMaxHeader + context.options.max_body);
  ec = Await(context.io, [&](auto handler) {
    http::async_read(stream, buffer, parser, std::move(handler));
  });
  if (ec == http::error::body_limit) {
    return Fail("unauthorized", absl::StrCat("response from ", url, " is larger than ",
                                             context.options.max_body, " bytes"));
  }
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    return Fail("unauthorized",
                absl::StrCat("response header from ", url, " is larger than ", kMaxHeader, " bytes"));
  }
  if (ec) return Fail("connection", absl::StrCat("reading the response from ", url, ": ", Describe(ec)));
  *response = parser.release();
  return std::nullopt;
}

}  // namespace

ValidationOutcome Http01(const Context& context, const Target& target,
                         const ValidationRequest& request, const std::string& name) {
  Location at{false, absl::StrCat("/.well-known/acme-challenge/", request.token)};
  for (int redirects = 0;; ++redirects) {
    const uint16_t port = PortFor(context, target, at.https);
    http::response<http::string_body> response;
    std::optional<ValidationOutcome> failure;
    if (at.https) {
      asio::ssl::context tls(asio::ssl::context::tls_client);
      SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
      tls.set_verify_mode(asio::ssl::verify_none);
      beast::ssl_stream<beast::tcp_stream> stream(context.io, tls);
      if (!request.identifier_is_ip) {
        SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
      }
      failure = Fetch(context, target, stream, name, at, port, &response);
    } else {
      beast::tcp_stream stream(context.io);
      failure = Fetch(context, target, stream, name, at, port, &response);
    }
    if (failure) return *failure;

    const unsigned status = response.result_int();
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      if (redirects == kMaxRedirects) {
        return Fail("connection", absl::StrCat("more than ", kMaxRedirects, " redirects from ",
                                               Url(at, name)));
      }
      std::string problem = "redirect has no Location";
      std::optional<Location> next;
      if (auto location = response.find(http::field::location); location != response.end()) {
        const beast::string_view value = location->value();
        next = NextLocation(absl::string_view(value.data(), value.size()), at, name, PortFor(context, target, false),
                            PortFor(context, target, true), &problem);
      }
      if (!next) return Fail("connection", absl::StrCat(problem, " (from ", Url(at, name), ")"));
      at = *std::move(next);
      continue;
    }
    if (status != 200) {
      return Fail("unauthorized", absl::StrCat("GET ", Url(at, name), " answered HTTP ", status));
    }
    absl::string_view body = absl::StripTrailingAsciiWhitespace(response.body());
    if (!Equal(body, request.key_authorization)) {
      return Fail("incorrectResponse",
                  absl::StrCat("the body from ", Url(at, name), " (", response.body().size(),
                               " bytes) is not the key authorization"));
    }
    return Pass();
  }
}

}  // namespace strongroom::server::acme::probe
