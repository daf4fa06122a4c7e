// SecretData: the only type that holds key material, PINs and plaintext beyond one call.
//
// Its bytes live in the OpenSSL secure heap (mlock'ed, excluded from core dumps) when the
// process has initialised one (InitSecureHeap), else in ordinary memory; either way they
// are cleansed with OPENSSL_cleanse before release. Bytes are read only through
// RevealSecret(), so every read can be found with grep. Equality is constant-time.
// Not thread-safe for concurrent mutation; const access from many threads is fine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace strongroom::hsm {

class SecretData {
 public:
  SecretData() = default;
  // Allocates `size` zeroed bytes.
  explicit SecretData(size_t size);
  // Copies `bytes`; the caller remains responsible for cleansing its own copy.
  static SecretData Copy(absl::Span<const uint8_t> bytes);
  static SecretData Copy(absl::string_view bytes);

  SecretData(const SecretData&) = delete;
  SecretData& operator=(const SecretData&) = delete;
  SecretData(SecretData&& other) noexcept;
  SecretData& operator=(SecretData&& other) noexcept;
  ~SecretData();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The secret bytes. Every call site is a place where a secret is used.
  absl::Span<const uint8_t> RevealSecret() const { return {data_, size_}; }
  absl::Span<uint8_t> MutableSecret() { return {data_, size_}; }
  absl::string_view RevealSecretAsString() const {
    return {reinterpret_cast<const char*>(data_), size_};
  }

  // Constant-time in the length of the shorter operand; sizes are not secret.
  bool Equals(const SecretData& other) const;

  // Shrinks the visible size (e.g. after reading fewer bytes than allocated).
  void Truncate(size_t size);

 private:
  void Release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Cleanses the whole buffer of `*s` (its capacity, not only its size) with OPENSSL_cleanse
// and empties it; the buffer stays allocated, so a reused string keeps its capacity. The
// one way to wipe a secret that has to pass through a std::string (a protobuf field, an
// I/O buffer); a secret held beyond the call belongs in SecretData.
void CleanseString(std::string* s);

// Initialises OpenSSL's secure heap of `bytes` (a power of two is used, rounded up) so
// that SecretData lives in locked memory. Returns FAILED_PRECONDITION if the heap cannot
// be created or locked. Call once, early in main().
absl::Status InitSecureHeap(size_t bytes);

// Disables core dumps and ptrace attachment by other unprivileged processes, so secrets
// in memory cannot leak through a crash dump.
absl::Status DisableCoreDumps();

}  // namespace strongroom::hsm
