// Fuzzes the HTTP listener with raw request bytes: HttpServer's parsing (Beast's request
// parser with the server's limits and checks: framing, header and body limits,
// Content-Encoding, target) and the refusals and dispatch it makes, through HttpRouter to
// the Vault API routes over the real transit engine (internal::ServeBytes, the server's
// path without a socket). As on a connection, the input may hold several requests.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/http/server.h"
#include "server/testing/fuzz_transit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const strongroom::server::HttpServerOptions options;
  std::string output;
  strongroom::server::internal::ServeBytes(
      strongroom::server::testing::FuzzVaultRouter(), options,
      absl::string_view(reinterpret_cast<const char*>(data), size), &output);
  return 0;
}
