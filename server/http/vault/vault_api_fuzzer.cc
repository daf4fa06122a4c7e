// Fuzzes the Vault API's request bodies: the JSON parsing, Vault's lenient field typing,
// batches and base64 inputs of every transit route that takes a body without changing key
// state (encrypt, decrypt, rewrap, key creation, datakey, sign, verify, hmac, random, hash),
// through the real routes (VaultApi::Routes on an HttpRouter) over the real transit engine
// (FuzzTransit). The first byte picks the route (low 4 bits) and the key (high 4 bits), the
// rest is the body. Bad input must never get a 5xx (those mean the server failed), and every
// answer is JSON.
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
  // "{k}" is replaced by the key's name. Key creation reads the whole body first; the name
  // it then fails on (a leading '.') spares the fuzzer a key generation per input.
  static const char* const kOps[] = {"encrypt/{k}",
                                     "decrypt/{k}",
                                     "rewrap/{k}",
                                     "keys/.fuzz",
                                     "datakey/plaintext/{k}",
                                     "datakey/wrapped/{k}",
                                     "sign/{k}",
                                     "sign/{k}/sha2-384",
                                     "verify/{k}",
                                     "verify/{k}/sha2-512",
                                     "hmac/{k}",
                                     "hmac/{k}/sha2-512",
                                     "random",
                                     "random/all",
                                     "hash",
                                     "hash/sha3-256"};
  static const char* const kKeys[] = {"aes", "derived", "hsm", "ec", "missing"};
  std::string op = kOps[data[0] % 16];
  if (size_t k = op.find("{k}"); k != std::string::npos) {
    op.replace(k, 3, kKeys[(data[0] / 16) % 5]);
  }
  HttpRequest request;
  request.method = "POST";
  request.path = "/v1/transit/" + op;
  request.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  HttpResponse response = strongroom::server::testing::FuzzVaultRouter().Route(request);
  if (response.status >= 500) {
    std::fprintf(stderr, "%s answered %d: %s\n", request.path.c_str(), response.status,
                 response.body.c_str());
    std::abort();
  }
  google::protobuf::Struct json;
  if (!google::protobuf::util::JsonStringToMessage(response.body, &json).ok()) {
    std::fprintf(stderr, "%s answered non-JSON: %s\n", request.path.c_str(), response.body.c_str());
    std::abort();
  }
  return 0;
}
