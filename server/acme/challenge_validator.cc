#include "server/acme/challenge_validator.h"

#include <chrono>
#include <fstream>
#include <optional>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/beast/core/error.hpp>
#include <openssl/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/acme/dns_client.h"
#include "server/acme/probe.h"

namespace strongroom::server::acme {
namespace {

namespace asio = boost::asio;

constexpr size_t kMaxToken = 256;
constexpr size_t kMaxKeyAuthorization = 512;
constexpr size_t kMaxResolvConf = 64 << 10;

struct HostPort {
  asio::ip::address address;
  uint16_t port = 0;  // 0: none given
};

// ParseHostPort reads "ip", "ip:port", "v6" or "[v6]:port".
std::optional<HostPort> ParseHostPort(absl::string_view text) {
  HostPort result;
  absl::string_view host = text;
  absl::string_view port;
  if (absl::ConsumePrefix(&host, "[")) {
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    port = host.substr(close + 1);
    host = host.substr(0, close);
    if (!port.empty() && !absl::ConsumePrefix(&port, ":")) return std::nullopt;
    if (port.empty() && text.back() != ']') return std::nullopt;
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    const size_t colon = host.find(':');
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  boost::system::error_code ec;
  result.address = asio::ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  if (!port.empty() || absl::EndsWith(text, ":")) {
    int value;
    if (!absl::SimpleAtoi(port, &value) || value < 1 || value > 65535) return std::nullopt;
    result.port = static_cast<uint16_t>(value);
  }
  return result;
}

// HostName accepts lower-case-able host names: labels of letters, digits and '-', not
// starting or ending with '-', at most 63 bytes each and 253 in all.
bool IsHostName(absl::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') return false;
    }
  }
  return true;
}

bool IsBase64Url(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return !text.empty();
}

}  // namespace

namespace probe {

boost::system::error_code Connect(const Context& context, const Target& target, uint16_t port,
                                  boost::beast::tcp_stream& stream) {
  stream.expires_at(context.deadline);
  std::vector<asio::ip::tcp::endpoint> endpoints;
  for (const asio::ip::address& address : target.addresses) endpoints.emplace_back(address, port);
  return Await(context.io, [&](auto handler) {
    stream.async_connect(endpoints, std::move(handler));
  });
}

bool Equal(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Describe(const boost::system::error_code& ec) {
  if (ec == boost::beast::error::timeout || ec == boost::asio::error::timed_out) {
    return "timed out";
  }
  return ec.message();
}

std::optional<asio::ip::udp::endpoint> ResolverEndpoint(const ValidatorOptions& options) {
  std::string text = options.dns_resolver;
  if (text.empty()) {
    std::ifstream file("/etc/resolv.conf");
    std::string line;
    size_t read = 0;
    while (text.empty() && read < kMaxResolvConf && std::getline(file, line)) {
      read += line.size() + 1;
      std::vector<absl::string_view> words =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (words.size() >= 2 && words[0] == "nameserver") text = std::string(words[1]);
    }
  }
  std::optional<HostPort> host = ParseHostPort(text);
  if (!host) return std::nullopt;
  return asio::ip::udp::endpoint(host->address, host->port != 0 ? host->port : 53);
}

}  // namespace probe

absl::Status CheckValidatorOptions(const ValidatorOptions& options) {
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("ACME validation timeout must be positive");
  }
  for (int port : {options.http01_port, options.tls_alpn01_port}) {
    if (port < 1 || port > 65535) {
      return absl::InvalidArgumentError("ACME validation ports must be in 1..65535");
    }
  }
  if (!options.dns_resolver.empty() && !ParseHostPort(options.dns_resolver)) {
    return absl::InvalidArgumentError("ACME dns_resolver must be an IP address with an optional port");
  }
  for (const auto& [name, address] : options.overrides) {
    boost::system::error_code ec;
    asio::ip::make_address(name, ec);
    if (name != "*" && ec && !IsHostName(absl::AsciiStrToLower(name))) {
      return absl::InvalidArgumentError(
          absl::StrCat("ACME validation override key \"", name, "\" is not a host name"));
    }
    if (!ParseHostPort(address)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ACME validation override for \"", name, "\" must be an IP address with an optional port"));
    }
  }
  return absl::OkStatus();
}

ChallengeValidator::ChallengeValidator(ValidatorOptions options) : options_(std::move(options)) {}

ValidationOutcome ChallengeValidator::Validate(const ValidationRequest& request) const {
  const auto deadline = probe::Clock::now() + absl::ToChronoNanoseconds(options_.timeout);

  if (request.token.size() > kMaxToken || !IsBase64Url(request.token)) {
    return probe::Fail("malformed", "challenge token is not base64url of a bounded size");
  }
  if (request.key_authorization.size() > kMaxKeyAuthorization ||
      !absl::StartsWith(request.key_authorization, absl::StrCat(request.token, ".")) ||
      !IsBase64Url(absl::string_view(request.key_authorization).substr(request.token.size() + 1))) {
    return probe::Fail("malformed", "key authorization is not the token and a thumbprint");
  }

  std::string name = absl::AsciiStrToLower(request.identifier);
  std::optional<asio::ip::address> literal;
  if (request.identifier_is_ip) {
    boost::system::error_code ec;
    literal = asio::ip::make_address(name, ec);
    if (ec) return probe::Fail("malformed", "identifier is not an IP address");
    if (request.type == ChallengeType::kDns01) {
      return probe::Fail("malformed", "dns-01 cannot validate an IP address (RFC 8738)");
    }
    name = literal->to_string();
  } else {
    if (absl::StartsWith(name, "*.")) {
      if (request.type != ChallengeType::kDns01) {
        return probe::Fail("malformed", "a wildcard name can only be validated by dns-01");
      }
      name.erase(0, 2);
    }
    if (!IsHostName(name)) return probe::Fail("malformed", "identifier is not a host name");
  }

  asio::io_context io;
  const probe::Context context{options_, deadline, io};
  if (request.type == ChallengeType::kDns01) return probe::Dns01(context, request, name);

  probe::Target target;
  auto override = options_.overrides.find(name);
  if (override == options_.overrides.end()) override = options_.overrides.find("*");
  if (override != options_.overrides.end()) {
    std::optional<HostPort> fixed = ParseHostPort(override->second);
    if (!fixed) return probe::Fail("connection", "validation override is not an IP address");
    target.addresses.push_back(fixed->address);
    target.port = fixed->port;
  } else if (literal) {
    target.addresses.push_back(*literal);
  } else {
    std::optional<asio::ip::udp::endpoint> resolver = probe::ResolverEndpoint(options_);
    if (!resolver) return probe::Fail("dns", "no DNS resolver configured");
    absl::Status last;
    for (DnsType type : {kDnsA, kDnsAaaa}) {
      absl::StatusOr<std::vector<std::string>> records = QueryDns(*resolver, name, type, deadline);
      if (!records.ok()) {
        last = records.status();
        continue;
      }
      for (const std::string& bytes : *records) {
        if (bytes.size() == 4) {
          asio::ip::address_v4::bytes_type v4;
          std::copy(bytes.begin(), bytes.end(), v4.begin());
          target.addresses.push_back(asio::ip::make_address_v4(v4));
        } else {
          asio::ip::address_v6::bytes_type v6;
          std::copy(bytes.begin(), bytes.end(), v6.begin());
          target.addresses.push_back(asio::ip::make_address_v6(v6));
        }
      }
    }
    if (target.addresses.empty()) {
      return probe::Fail("dns", absl::StrCat("no address for ", name, ": ", last.message()));
    }
  }
  return request.type == ChallengeType::kHttp01 ? probe::Http01(context, target, request, name)
                                                : probe::TlsAlpn01(context, target, request, name);
}

}  // namespace strongroom::server::acme
