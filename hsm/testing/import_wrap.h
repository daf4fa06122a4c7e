// WrapForImport: wraps a key in Vault's BYOK import format with OpenSSL, as an importer
// outside Strongroom would: RSA-OAEP(public key, ephemeral AES-256 key) || AES-KWP
// (RFC 5649) of the target key under the ephemeral key. Test-only; the product never
// wraps for import (it only unwraps, inside the HSM).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/hsm.h"

namespace strongroom::hsm::testing {

// `public_key_der` is a DER SubjectPublicKeyInfo of an RSA key; `ephemeral_key` 32 bytes
// (other sizes are allowed, to test refusals).
absl::StatusOr<std::string> WrapForImport(absl::string_view public_key_der, OaepHash hash,
                                          absl::string_view ephemeral_key,
                                          absl::string_view target_key);

}  // namespace strongroom::hsm::testing
