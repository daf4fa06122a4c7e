// The "vault:v<N>:<base64>" envelope of ciphertexts, signatures and HMACs.
//
// N is the key version (decimal, 1 to 2^32-1, no sign or leading zeros); the payload is
// standard padded base64 (for ciphertexts: nonce || ciphertext || tag). Parsing is strict
// and its errors are INVALID_ARGUMENT naming `field` and what is wrong, never the payload.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strongroom::kms {

struct Envelope {
  uint32_t version;
  std::string payload;  // decoded bytes
};

// Appends "vault:v<version>:" and the base64 of `payload` to *out.
void AppendEnvelope(uint32_t version, absl::string_view payload, std::string* out);
std::string FormatEnvelope(uint32_t version, absl::string_view payload);

absl::StatusOr<Envelope> ParseEnvelope(absl::string_view text, absl::string_view field);

}  // namespace strongroom::kms
