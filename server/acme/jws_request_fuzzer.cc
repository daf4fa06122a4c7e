// Untrusted ACME request bodies through the checks every ACME POST passes (jws_request.h):
// the flattened JWS, its protected header (jwk or kid, url, nonce), the account lookup and the
// payload's JSON, over a real SQLite store. The same bytes are also tried as a payload.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kms/sqlite_storage.h"
#include "server/acme/acme_store.h"
#include "server/acme/jws_request.h"

namespace {

using namespace strongroom::server::acme;

struct Env {
  Env() {
    char dir[] = "/tmp/jws_request_fuzzer.XXXXXX";
    if (mkdtemp(dir) == nullptr) abort();
    auto opened = strongroom::kms::SqliteStorage::Open(std::string(dir) + "/acme.db");
    if (!opened.ok()) abort();
    storage = *std::move(opened);
    store = std::make_unique<AcmeStore>(storage.get(), AcmeStoreOptions{});
  }
  std::unique_ptr<strongroom::kms::SqliteStorage> storage;
  std::unique_ptr<AcmeStore> store;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Env* env = new Env();
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  for (KeyKind kind : {KeyKind::kAccount, KeyKind::kJwk, KeyKind::kEither}) {
    JwsRequest request;
    (void)VerifyJwsRequest(body, "https://acme.test/v1/pki/acme/new-order",
                           "https://acme.test/v1/pki/acme/account/", kind, env->store.get(), now,
                           &request);
  }
  google::protobuf::Struct payload;
  (void)ParsePayload(body, "payload", &payload);
  return 0;
}
