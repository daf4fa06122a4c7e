// Fuzzes the Vault API's request bodies: the JSON parsing, Vault's lenient field typing,
// batches and base64 inputs of encrypt, decrypt, rewrap and key creation, through the real
// routes (VaultApi::Routes on an HttpRouter) over the real transit engine (FuzzTransit).
// The first byte picks the route (bits 0-1) and key (bits 2-3), the rest is the body. Bad
// input must never get a 5xx (those mean the server failed), and every answer is JSON.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/http/server.h"
#include "server/testing/fuzz_transit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using strongroom::server::HttpRequest;
  using strongroom::server::HttpResponse;
  if (size == 0) return 0;
  static const char* const kOps[] = {"encrypt", "decrypt", "rewrap", "keys"};
  static const char* const kKeys[] = {"aes", "derived", "hsm", "missing"};
  const int op = data[0] % 4;
  HttpRequest request;
  request.method = "POST";
  // Key creation reads the whole body first; the name it then fails on (a leading '.')
  // spares the fuzzer a key generation, several seconds for RSA-4096, per input.
  request.path = std::string("/v1/transit/") + kOps[op] + "/" +
                 (op == 3 ? ".fuzz" : kKeys[(data[0] / 4) % 4]);
  request.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  HttpResponse response = strongroom::server::testing::FuzzVaultRouter().Route(request);
  if (response.status >= 500) {
    std::fprintf(stderr, "%s answered %d: %s\n", request.path.c_str(), response.status,
                 response.body.c_str());
    std::abort();
  }
  google::protobuf::Struct json;
  if (!google::protobuf::util::JsonStringToMessage(response.body, &json).ok()) {
    std::fprintf(stderr, "%s answered non-JSON: %s\n", request.path.c_str(),
                 response.body.c_str());
    std::abort();
  }
  return 0;
}
