#include "server/acme/dns_client.h"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace strongroom::server::acme {
namespace {

constexpr int kMaxStrayDatagrams = 16;

namespace asio = boost::asio;
using boost::system::error_code;

}  // namespace

absl::StatusOr<std::vector<std::string>> QueryDns(const asio::ip::udp::endpoint& resolver,
                                                  absl::string_view name, DnsType type,
                                                  std::chrono::steady_clock::time_point deadline) {
  uint16_t id;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof(id)) != 1) {
    return absl::InternalError("no randomness for a DNS query id");
  }
  absl::StatusOr<std::string> query = BuildDnsQuery(id, name, type);
  if (!query.ok()) return query.status();

  asio::io_context io;
  asio::ip::udp::socket socket(io);
  asio::steady_timer timer(io, deadline);
  error_code ec;
  socket.open(resolver.protocol(), ec);
  if (!ec) socket.connect(resolver, ec);  // the kernel then drops datagrams from elsewhere
  if (!ec) socket.send(asio::buffer(*query), 0, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("DNS query not sent: ", ec.message()));

  bool timed_out = false;
  timer.async_wait([&](error_code wait_error) {
    if (wait_error) return;
    timed_out = true;
    socket.cancel();
  });
  std::array<char, kMaxDnsMessage + 1> buffer;
  absl::Status unrelated;
  for (int stray = 0; stray <= kMaxStrayDatagrams; ++stray) {
    std::optional<size_t> received;
    error_code receive_error;
    socket.async_receive(asio::buffer(buffer), [&](error_code e, size_t n) {
      receive_error = e;
      received = n;
    });
    io.restart();
    while (!received && io.run_one() > 0) {
    }
    if (timed_out) return absl::UnavailableError("DNS query timed out");
    if (receive_error) {
      return absl::UnavailableError(absl::StrCat("DNS answer not received: ", receive_error.message()));
    }
    absl::StatusOr<std::vector<std::string>> answer =
        ParseDnsResponse(absl::string_view(buffer.data(), *received), id, name, type);
    if (answer.ok() || !absl::IsInvalidArgument(answer.status())) return answer;
    // A datagram that is not the answer to this query (spoofed or late) is ignored; if no
    // answer comes, the last such datagram's problem is the error.
    unrelated = answer.status();
  }
  return unrelated;
}

}  // namespace strongroom::server::acme
