// HKDF-SHA-256 (RFC 5869), extract-then-expand.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "hsm/secret_data.h"

namespace strongroom::kms::crypto {

inline constexpr size_t kHkdfSha256MaxLength = 255 * 32;

// HkdfSha256 derives `length` bytes from `ikm` with `salt` (empty means the RFC 5869
// default, a string of zeros) and `info`. Returns INVALID_ARGUMENT if `length` is 0 or
// greater than kHkdfSha256MaxLength (8160), INTERNAL if OpenSSL fails. The output is
// written straight into the returned SecretData. Thread-safe.
absl::StatusOr<hsm::SecretData> HkdfSha256(absl::Span<const uint8_t> ikm, absl::string_view salt,
                                           absl::string_view info, size_t length);

}  // namespace strongroom::kms::crypto
