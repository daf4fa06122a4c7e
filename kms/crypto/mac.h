// Message digests and HMAC over HashAlgorithm (SHA-256, SHA-384, SHA-512).
//
// Thread-safe and lock-free: each thread keeps one reusable OpenSSL context per hash, so
// the HMAC key state of a thread's last call stays in that context until its next call or
// thread exit (cleansed when freed). Outputs are appended to the caller's string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "hsm/hash_algorithm.h"

namespace strongroom::kms::crypto {

// The hashes of the software primitives (digests, HMAC, signatures): the HSM's enum, from a
// header that links neither PKCS#11 nor OpenSSL.
using hsm::DigestSize;
using hsm::HashAlgorithm;

// Digest appends the digest of `data` under `hash` to *out. INTERNAL if OpenSSL fails;
// *out is then left as it was.
absl::Status Digest(HashAlgorithm hash, absl::string_view data, std::string* out);
// The same into `out`, which must be exactly DigestSize(hash) bytes (INVALID_ARGUMENT
// otherwise): no allocation.
absl::Status Digest(HashAlgorithm hash, absl::string_view data, absl::Span<uint8_t> out);

// HmacCompute appends the full-length HMAC-`hash` tag of `data` under `key` to *out.
// INVALID_ARGUMENT for an empty key (always a bug in this service), INTERNAL if OpenSSL
// fails; on error *out is left as it was.
absl::Status HmacCompute(HashAlgorithm hash, absl::Span<const uint8_t> key, absl::string_view data,
                         std::string* out);

// HmacVerify reports whether `tag` is the full-length HMAC-`hash` tag of `data` under
// `key`, compared in constant time. Truncated tags, empty keys and internal failures all
// give false.
bool HmacVerify(HashAlgorithm hash, absl::Span<const uint8_t> key, absl::string_view data,
                absl::string_view tag);

}  // namespace strongroom::kms::crypto
