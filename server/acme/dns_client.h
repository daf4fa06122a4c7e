// QueryDns asks one resolver one question over UDP (the validators' stub resolver; no
// caching, no retries over TCP) and returns ParseDnsResponse's answer.
//
// Bounded: a random query id, answers accepted only from the resolver's address and port,
// at most kMaxDnsMessage bytes per datagram, at most 16 stray datagrams ignored, and the
// whole exchange ends at `deadline` (UNAVAILABLE "DNS query timed out"). Thread-safe: each
// call owns its socket and io_context.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/acme/dns_message.h"

namespace strongroom::server::acme {

absl::StatusOr<std::vector<std::string>> QueryDns(const boost::asio::ip::udp::endpoint& resolver,
                                                  absl::string_view name, DnsType type,
                                                  std::chrono::steady_clock::time_point deadline);

}  // namespace strongroom::server::acme
