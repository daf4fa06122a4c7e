// Untrusted JOSE input: JWTs, ACME's flattened JWS, JWKs and JWK Sets. Whatever parses is
// also verified against a key from the same input, so the verification path sees it too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/jose/jose.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strongroom::server::jose;
  std::string input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Jws> compact = ParseCompact(input);
  absl::StatusOr<Jws> flattened = ParseFlattened(input);
  absl::StatusOr<std::vector<PublicJwk>> set = ParseJwks(input);
  absl::StatusOr<PublicJwk> key = PublicJwk::FromJson(input);
  for (const absl::StatusOr<Jws>* jws : {&compact, &flattened}) {
    if (!jws->ok()) continue;
    absl::StatusOr<PublicJwk> embedded = PublicJwk::FromJson(std::string((*jws)->payload));
    if (embedded.ok()) embedded->Verify((*jws)->alg, (*jws)->signing_input, (*jws)->signature);
  }
  if (set.ok()) {
    for (const PublicJwk& k : *set) (void)k.Verify(Algorithm::kEs256, input, input);
  }
  if (key.ok()) {
    for (Algorithm alg : {Algorithm::kRs256, Algorithm::kPs256, Algorithm::kEs256,
                          Algorithm::kEs384, Algorithm::kEs512, Algorithm::kEdDsa}) {
      (void)key->Verify(alg, input, input);
    }
  }
  return 0;
}
