#include "hsm/secret_data.h"

#include <openssl/crypto.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace strongroom::hsm {

SecretData::SecretData(size_t size) : size_(size), capacity_(size) {
  if (size == 0) return;
  data_ = static_cast<uint8_t*>(OPENSSL_secure_zalloc(size));
  if (data_ == nullptr) abort();  // Out of memory: a broken invariant, not bad input.
}

SecretData SecretData::Copy(absl::Span<const uint8_t> bytes) {
  SecretData s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

SecretData SecretData::Copy(absl::string_view bytes) {
  return Copy(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

SecretData::SecretData(SecretData&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

SecretData& SecretData::operator=(SecretData&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

SecretData::~SecretData() { Release(); }

void SecretData::Release() {
  if (data_ != nullptr) OPENSSL_secure_clear_free(data_, capacity_);
  data_ = nullptr;
  size_ = capacity_ = 0;
}

bool SecretData::Equals(const SecretData& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_, other.data_, size_) == 0;
}

void SecretData::Truncate(size_t size) {
  if (size >= size_) return;
  OPENSSL_cleanse(data_ + size, size_ - size);
  size_ = size;
}

void CleanseString(std::string* s) {
  s->resize(s->capacity());  // makes the bytes past size() part of the string: all of them
  OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

absl::Status InitSecureHeap(size_t bytes) {
  if (CRYPTO_secure_malloc_initialized()) return absl::OkStatus();
  size_t heap = 4096;
  while (heap < bytes) heap <<= 1;
  int rc = CRYPTO_secure_malloc_init(heap, 16);
  if (rc == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the OpenSSL secure heap of ", heap, " bytes"));
  }
  if (rc == 2) {
    CRYPTO_secure_malloc_done();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot lock ", heap,
                     " bytes of memory for secrets (mlock failed: raise RLIMIT_MEMLOCK or grant "
                     "CAP_IPC_LOCK, or lower secure_heap_bytes)"));
  }
  return absl::OkStatus();
}

absl::Status DisableCoreDumps() {
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) {
    return absl::InternalError(absl::StrCat("setrlimit(RLIMIT_CORE): ", std::strerror(errno)));
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return absl::InternalError(absl::StrCat("prctl(PR_SET_DUMPABLE): ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace strongroom::hsm
