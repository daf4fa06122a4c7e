#include "kms/crypto/aead.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::kms::crypto {
namespace {

// EVP_*Update take an int length: longer inputs are fed in chunks of this size.
constexpr size_t kMaxChunk = size_t{1} << 30;

int Index(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::kAes128Gcm:
      return 0;
    case AeadAlgorithm::kAes256Gcm:
      return 1;
    case AeadAlgorithm::kChaCha20Poly1305:
      return 2;
  }
  abort();  // Not a valid enumerator: a broken invariant.
}

const char* Name(AeadAlgorithm algorithm) {
  static constexpr const char* kNames[] = {"AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305"};
  return kNames[Index(algorithm)];
}

// The provider implementation, fetched once per process and intentionally never freed.
const EVP_CIPHER* Cipher(AeadAlgorithm algorithm) {
  static const EVP_CIPHER* const kAes128Gcm = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static const EVP_CIPHER* const kAes256Gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static const EVP_CIPHER* const kChaCha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  switch (algorithm) {
    case AeadAlgorithm::kAes128Gcm:
      return kAes128Gcm;
    case AeadAlgorithm::kAes256Gcm:
      return kAes256Gcm;
    case AeadAlgorithm::kChaCha20Poly1305:
      return kChaCha;
  }
  return nullptr;
}

// A new context for `algorithm` in one direction, keyed with `key` unless it is null;
// null if OpenSSL fails.
hsm::EvpCipherCtxPtr NewContext(AeadAlgorithm algorithm, bool encrypt, const uint8_t* key) {
  const EVP_CIPHER* cipher = Cipher(algorithm);
  if (cipher == nullptr) return nullptr;
  hsm::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return nullptr;
  const int ok = encrypt ? EVP_EncryptInit_ex2(ctx.get(), cipher, key, nullptr, nullptr)
                         : EVP_DecryptInit_ex2(ctx.get(), cipher, key, nullptr, nullptr);
  return ok == 1 ? std::move(ctx) : nullptr;
}

// This thread's context for `algorithm` in one direction, bound to the cipher on first
// use; each call then only re-keys it (EVP_*Init_ex2 with a null cipher), which reuses
// the provider context without allocating.
EVP_CIPHER_CTX* ThreadContext(AeadAlgorithm algorithm, bool encrypt) {
  thread_local hsm::EvpCipherCtxPtr contexts[3][2];
  hsm::EvpCipherCtxPtr& slot = contexts[Index(algorithm)][encrypt ? 1 : 0];
  if (slot == nullptr) slot = NewContext(algorithm, encrypt, /*key=*/nullptr);
  return slot.get();
}

// Whether `s` points into the buffer of `out` (which a resize may move).
bool Aliases(absl::string_view s, const std::string& out) {
  if (s.empty()) return false;
  const char* begin = out.data();
  const char* end = begin + out.capacity();
  return !std::less<const char*>()(s.data(), begin) && std::less<const char*>()(s.data(), end);
}

bool AddAad(EVP_CIPHER_CTX* ctx, absl::string_view aad) {
  const auto* p = reinterpret_cast<const uint8_t*>(aad.data());
  size_t remaining = aad.size();
  while (remaining > 0) {
    const size_t n = std::min(remaining, kMaxChunk);
    int outl = 0;
    if (EVP_CipherUpdate(ctx, nullptr, &outl, p, static_cast<int>(n)) != 1) return false;
    p += n;
    remaining -= n;
  }
  return true;
}

// Runs `in` through the cipher into `dst` (in.size() bytes; stream modes).
bool Process(EVP_CIPHER_CTX* ctx, absl::string_view in, uint8_t* dst) {
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  size_t remaining = in.size();
  while (remaining > 0) {
    const size_t n = std::min(remaining, kMaxChunk);
    int outl = 0;
    if (EVP_CipherUpdate(ctx, dst, &outl, p, static_cast<int>(n)) != 1 ||
        static_cast<size_t>(outl) != n) {
      return false;
    }
    p += n;
    dst += n;
    remaining -= n;
  }
  return true;
}

uint8_t* Tail(std::string* out, size_t offset) {
  return reinterpret_cast<uint8_t*>(&(*out)[0]) + offset;
}

absl::Status DecryptionFailed() {
  ERR_clear_error();
  return absl::InvalidArgumentError("decryption failed");
}

}  // namespace

size_t AeadKeySize(AeadAlgorithm algorithm) {
  return algorithm == AeadAlgorithm::kAes128Gcm ? 16 : 32;
}

namespace {

absl::Status BadKeySize(AeadAlgorithm algorithm, size_t size) {
  return absl::InvalidArgumentError(absl::StrCat("key for ", Name(algorithm), " must be ",
                                                 AeadKeySize(algorithm), " bytes, got ", size));
}

// Seals with `ctx`, which holds `algorithm`; `key` is loaded first unless null (the
// context already holds it).
absl::Status SealWith(AeadAlgorithm algorithm, EVP_CIPHER_CTX* ctx, const uint8_t* key,
                      absl::Span<const uint8_t> nonce, absl::string_view aad,
                      absl::string_view plaintext, std::string* out) {
  if (out == nullptr) return absl::InvalidArgumentError("out must not be null");
  if (nonce.size() != kAeadNonceSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("nonce must be ", kAeadNonceSize, " bytes, got ", nonce.size()));
  }
  if (Aliases(plaintext, *out) || Aliases(aad, *out)) {
    return absl::InvalidArgumentError("plaintext and aad must not point into *out");
  }
  if (ctx == nullptr) {
    ERR_clear_error();
    return absl::InternalError(absl::StrCat("cannot set up ", Name(algorithm), " in OpenSSL"));
  }
  const size_t old_size = out->size();
  out->resize(old_size + plaintext.size() + kAeadTagSize);
  uint8_t* dst = Tail(out, old_size);
  uint8_t final_block[EVP_MAX_BLOCK_LENGTH];
  int final_len = 0;
  OSSL_PARAM get_tag[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                                            dst + plaintext.size(), kAeadTagSize),
                          OSSL_PARAM_construct_end()};
  if (EVP_EncryptInit_ex2(ctx, nullptr, key, nonce.data(), nullptr) != 1 || !AddAad(ctx, aad) ||
      !Process(ctx, plaintext, dst) || EVP_EncryptFinal_ex(ctx, final_block, &final_len) != 1 ||
      final_len != 0 || EVP_CIPHER_CTX_get_params(ctx, get_tag) != 1) {
    ERR_clear_error();
    out->resize(old_size);
    return absl::InternalError(absl::StrCat(Name(algorithm), " encryption failed in OpenSSL"));
  }
  return absl::OkStatus();
}

// Opens with `ctx` as SealWith seals.
absl::Status OpenWith(EVP_CIPHER_CTX* ctx, const uint8_t* key, absl::Span<const uint8_t> nonce,
                      absl::string_view aad, absl::string_view ciphertext_and_tag,
                      std::string* out) {
  if (ctx == nullptr || out == nullptr || nonce.size() != kAeadNonceSize ||
      ciphertext_and_tag.size() < kAeadTagSize || Aliases(ciphertext_and_tag, *out) ||
      Aliases(aad, *out)) {
    return DecryptionFailed();
  }
  const size_t ciphertext_size = ciphertext_and_tag.size() - kAeadTagSize;
  const absl::string_view ciphertext = ciphertext_and_tag.substr(0, ciphertext_size);
  // The provider copies the tag; OSSL_PARAM just has no const variant.
  OSSL_PARAM set_tag[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_CIPHER_PARAM_AEAD_TAG,
          const_cast<char*>(ciphertext_and_tag.data() + ciphertext_size), kAeadTagSize),
      OSSL_PARAM_construct_end()};
  if (EVP_DecryptInit_ex2(ctx, nullptr, key, nonce.data(), nullptr) != 1 ||
      EVP_CIPHER_CTX_set_params(ctx, set_tag) != 1 || !AddAad(ctx, aad)) {
    return DecryptionFailed();
  }
  const size_t old_size = out->size();
  out->resize(old_size + ciphertext_size);
  uint8_t* dst = Tail(out, old_size);
  uint8_t final_block[EVP_MAX_BLOCK_LENGTH];
  int final_len = 0;
  if (!Process(ctx, ciphertext, dst) || EVP_DecryptFinal_ex(ctx, final_block, &final_len) != 1 ||
      final_len != 0) {
    // Unauthenticated plaintext must not outlive the call.
    OPENSSL_cleanse(dst, ciphertext_size);
    out->resize(old_size);
    return DecryptionFailed();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AeadSeal(AeadAlgorithm algorithm, absl::Span<const uint8_t> key,
                      absl::Span<const uint8_t> nonce, absl::string_view aad,
                      absl::string_view plaintext, std::string* out) {
  if (key.size() != AeadKeySize(algorithm)) return BadKeySize(algorithm, key.size());
  return SealWith(algorithm, ThreadContext(algorithm, /*encrypt=*/true), key.data(), nonce, aad,
                  plaintext, out);
}

absl::Status AeadOpen(AeadAlgorithm algorithm, absl::Span<const uint8_t> key,
                      absl::Span<const uint8_t> nonce, absl::string_view aad,
                      absl::string_view ciphertext_and_tag, std::string* out) {
  if (key.size() != AeadKeySize(algorithm)) return DecryptionFailed();
  return OpenWith(ThreadContext(algorithm, /*encrypt=*/false), key.data(), nonce, aad,
                  ciphertext_and_tag, out);
}

absl::StatusOr<AeadContext> AeadContext::Create(AeadAlgorithm algorithm,
                                                absl::Span<const uint8_t> key) {
  if (key.size() != AeadKeySize(algorithm)) return BadKeySize(algorithm, key.size());
  hsm::EvpCipherCtxPtr ctx = NewContext(algorithm, /*encrypt=*/true, key.data());
  if (ctx == nullptr) {
    ERR_clear_error();
    return absl::InternalError(absl::StrCat("cannot set up ", Name(algorithm), " in OpenSSL"));
  }
  return AeadContext(algorithm, std::move(ctx));
}

absl::Status AeadContext::Seal(absl::Span<const uint8_t> nonce, absl::string_view aad,
                               absl::string_view plaintext, std::string* out) {
  return SealWith(algorithm_, ctx_.get(), /*key=*/nullptr, nonce, aad, plaintext, out);
}

absl::Status AeadContext::Open(absl::Span<const uint8_t> nonce, absl::string_view aad,
                               absl::string_view ciphertext_and_tag, std::string* out) {
  return OpenWith(ctx_.get(), /*key=*/nullptr, nonce, aad, ciphertext_and_tag, out);
}

}  // namespace strongroom::kms::crypto
