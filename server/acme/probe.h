// Pieces shared by the challenge probes (internal to //server/acme:challenge_validator):
// where a probe connects, the one deadline that bounds a whole validation, and the way a
// probe waits for one asynchronous Asio operation on its own io_context.
//
// Every probe runs on a fresh io_context owned by the Validate call, so probes share no
// state and Validate stays thread-safe. Each network operation is started with the
// validation's deadline on its stream; Await runs the io_context until that one operation
// completes (or times out, which completes it with beast::error::timeout).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/error_code.hpp>

#include "absl/strings/string_view.h"
#include "server/acme/challenge_validator.h"

namespace strongroom::server::acme::probe {

using Clock = std::chrono::steady_clock;

// Where a probe connects: the identifier's addresses (from an override, the IP literal or
// DNS), tried in order, and the port an override named (0: the challenge's default port).
struct Target {
  std::vector<boost::asio::ip::address> addresses;
  uint16_t port = 0;
};

struct Context {
  const ValidatorOptions& options;
  Clock::time_point deadline;
  boost::asio::io_context& io;
};

inline ValidationOutcome Fail(std::string problem_type, std::string detail) {
  return ValidationOutcome{false, std::move(problem_type), std::move(detail)};
}

inline ValidationOutcome Pass() { return ValidationOutcome{true, "", ""}; }

// Await starts one asynchronous operation with `initiate(handler)` and runs `io` until
// that handler ran; returns the operation's error code. The operation itself must be
// bounded (a stream with an expiry, or a timer that cancels it).
template <typename Initiate>
boost::system::error_code Await(boost::asio::io_context& io, Initiate&& initiate) {
  boost::system::error_code result = boost::asio::error::would_block;
  bool done = false;
  initiate([&result, &done](boost::system::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  io.restart();
  while (!done && io.run_one() > 0) {
  }
  return result;
}

// Connect bounds `stream` by the validation's deadline and connects it to the first of the
// target's addresses that answers on `port`.
boost::system::error_code Connect(const Context& context, const Target& target, uint16_t port,
                                  boost::beast::tcp_stream& stream);

// Equal compares a peer's answer with the expected value in time independent of where
// they differ.
bool Equal(absl::string_view a, absl::string_view b);

// Describe names a network error for a detail: "timed out" or Asio's message.
std::string Describe(const boost::system::error_code& ec);

// ResolverEndpoint is options.dns_resolver, or the first nameserver of /etc/resolv.conf
// (port 53 unless given); nullopt when neither names an IP address.
std::optional<boost::asio::ip::udp::endpoint> ResolverEndpoint(const ValidatorOptions& options);

// The probes, one per challenge type. `name` is the identifier as validated (lower case,
// no wildcard); `target` is empty for dns-01.
ValidationOutcome Http01(const Context& context, const Target& target,
                         const ValidationRequest& request, const std::string& name);
ValidationOutcome TlsAlpn01(const Context& context, const Target& target,
                            const ValidationRequest& request, const std::string& name);
ValidationOutcome Dns01(const Context& context, const ValidationRequest& request,
                        const std::string& name);

}  // namespace strongroom::server::acme::probe
