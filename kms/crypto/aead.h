// AEAD primitives for wrapped transit keys: AES-128-GCM, AES-256-GCM and
// ChaCha20-Poly1305 (RFC 8439), all with 96-bit nonces and 128-bit tags.
//
// AeadSeal and AeadOpen take the key bytes from the caller and use them for one call. For
// speed, each thread keeps one OpenSSL cipher context per algorithm and direction and
// re-keys it on every call: the expanded key of the last call therefore stays in that
// thread's context until the next call or thread exit (it is cleansed when freed). They
// are thread-safe, take no locks and do not allocate beyond growing *out.
//
// AeadContext sets a key up once for many items (a batch), so each costs only its nonce
// and data: the key schedule lives in the context until it is destroyed (cleansed).
//
// Nonce uniqueness per key is the caller's responsibility.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::kms::crypto {

enum class AeadAlgorithm { kAes128Gcm, kAes256Gcm, kChaCha20Poly1305 };

inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;

// AeadKeySize returns the key size in bytes of `algorithm` (16 or 32).
size_t AeadKeySize(AeadAlgorithm algorithm);

// AeadSeal encrypts `plaintext` and authenticates it together with `aad`, and appends
// ciphertext || tag (plaintext.size() + kAeadTagSize bytes) to *out. An empty and an
// absent (default-constructed) `aad` are the same thing. `plaintext` and `aad` must not
// point into *out. Returns INVALID_ARGUMENT naming the field for a wrong key or nonce size
// or aliased inputs, INTERNAL if OpenSSL fails; on error *out is left as it was.
absl::Status AeadSeal(AeadAlgorithm algorithm, absl::Span<const uint8_t> key,
                      absl::Span<const uint8_t> nonce, absl::string_view aad,
                      absl::string_view plaintext, std::string* out);

// AeadOpen verifies and decrypts `ciphertext_and_tag` (as produced by AeadSeal) and
// appends the plaintext to *out. Any failure (wrong key or nonce size, input shorter than
// the tag, input aliasing *out, wrong tag) is INVALID_ARGUMENT "decryption failed", and
// *out is left as it was (plaintext already written is cleansed before shrinking back).
absl::Status AeadOpen(AeadAlgorithm algorithm, absl::Span<const uint8_t> key,
                      absl::Span<const uint8_t> nonce, absl::string_view aad,
                      absl::string_view ciphertext_and_tag, std::string* out);

// One key of one algorithm, set up for AeadSeal/AeadOpen-equivalent calls without being
// set up again each time. Not thread-safe (one per thread or request); movable.
class AeadContext {
 public:
  // INVALID_ARGUMENT for a wrong key size, INTERNAL if OpenSSL fails.
  static absl::StatusOr<AeadContext> Create(AeadAlgorithm algorithm, absl::Span<const uint8_t> key);

  // As AeadSeal and AeadOpen with this context's algorithm and key.
  absl::Status Seal(absl::Span<const uint8_t> nonce, absl::string_view aad,
                    absl::string_view plaintext, std::string* out);
  absl::Status Open(absl::Span<const uint8_t> nonce, absl::string_view aad,
                    absl::string_view ciphertext_and_tag, std::string* out);

 private:
  AeadContext(AeadAlgorithm algorithm, hsm::EvpCipherCtxPtr ctx)
      : algorithm_(algorithm), ctx_(std::move(ctx)) {}

  AeadAlgorithm algorithm_;
  hsm::EvpCipherCtxPtr ctx_;
};

}  // namespace strongroom::kms::crypto
