// Fuzzes ParseDnsResponse with responses to a fixed TXT and A question: it must return an
// answer or an error, never crash, loop or read out of bounds.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "server/acme/dns_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view message(reinterpret_cast<const char*>(data), size);
  const uint16_t id = size >= 2 ? static_cast<uint16_t>((data[0] << 8) | data[1]) : 0;
  using strongroom::server::acme::ParseDnsResponse;
  (void)ParseDnsResponse(message, id, "_acme-challenge.a.test", strongroom::server::acme::kDnsTxt);
  (void)ParseDnsResponse(message, id, "a.test", strongroom::server::acme::kDnsA);
  return 0;
}
