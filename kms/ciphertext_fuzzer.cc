// Fuzzes ParseEnvelope, the parser of every "vault:v<N>:<base64>" a client sends (transit
// ciphertexts, signatures, HMACs; the Vault API and the KMS plugin pass theirs through it).
// Beyond memory safety it checks the documented strictness: whatever parses has exactly one
// encoding, so formatting it again gives back the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "kms/ciphertext.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<strongroom::kms::Envelope> envelope =
      strongroom::kms::ParseEnvelope(text, "ciphertext");
  if (!envelope.ok()) {
    if (envelope.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  if (envelope->version == 0) std::abort();
  if (strongroom::kms::FormatEnvelope(envelope->version, envelope->payload) != text) std::abort();
  return 0;
}
