#include "kms/crypto/mac.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/strings/str_cat.h"
#include "hsm/openssl_ptr.h"

namespace strongroom::kms::crypto {
namespace {

int Index(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha256:
      return 0;
    case HashAlgorithm::kSha384:
      return 1;
    case HashAlgorithm::kSha512:
      return 2;
  }
  abort();  // Not a valid enumerator: a broken invariant.
}

const char* Name(HashAlgorithm hash) {
  static constexpr const char* kNames[] = {"SHA256", "SHA384", "SHA512"};
  return kNames[Index(hash)];
}

// Provider implementations, fetched once per process and intentionally never freed.
const EVP_MD* Md(HashAlgorithm hash) {
  static const EVP_MD* const kMds[] = {EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                       EVP_MD_fetch(nullptr, "SHA384", nullptr),
                                       EVP_MD_fetch(nullptr, "SHA512", nullptr)};
  return kMds[Index(hash)];
}

EVP_MAC* HmacMethod() {
  static EVP_MAC* const kHmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return kHmac;
}

EVP_MD_CTX* ThreadDigestContext(HashAlgorithm hash) {
  thread_local hsm::EvpMdCtxPtr contexts[3];
  hsm::EvpMdCtxPtr& slot = contexts[Index(hash)];
  if (slot == nullptr) slot.reset(EVP_MD_CTX_new());
  return slot.get();
}

// This thread's HMAC context for `hash`, with the digest bound on first use.
EVP_MAC_CTX* ThreadHmacContext(HashAlgorithm hash) {
  thread_local hsm::EvpMacCtxPtr contexts[3];
  hsm::EvpMacCtxPtr& slot = contexts[Index(hash)];
  if (slot != nullptr) return slot.get();
  if (HmacMethod() == nullptr) return nullptr;
  hsm::EvpMacCtxPtr ctx(EVP_MAC_CTX_new(HmacMethod()));
  if (ctx == nullptr) return nullptr;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(Name(hash)), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(ctx.get(), params) != 1) return nullptr;
  slot = std::move(ctx);
  return slot.get();
}

// Writes the tag (DigestSize(hash) bytes) to `tag`. The key must not be empty: with a
// null or empty key EVP_MAC_init would silently reuse the context's previous key.
bool ComputeInto(HashAlgorithm hash, absl::Span<const uint8_t> key, absl::string_view data,
                 uint8_t* tag) {
  EVP_MAC_CTX* ctx = ThreadHmacContext(hash);
  size_t tag_len = 0;
  const size_t size = DigestSize(hash);
  if (ctx == nullptr || key.empty() || EVP_MAC_init(ctx, key.data(), key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const uint8_t*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, tag, &tag_len, size) != 1 || tag_len != size) {
    ERR_clear_error();
    return false;
  }
  return true;
}

}  // namespace

absl::Status Digest(HashAlgorithm hash, absl::string_view data, absl::Span<uint8_t> out) {
  const size_t size = DigestSize(hash);
  if (out.size() != size) {
    return absl::InvalidArgumentError(
        absl::StrCat("digest buffer must be ", size, " bytes, got ", out.size()));
  }
  EVP_MD_CTX* ctx = ThreadDigestContext(hash);
  unsigned int len = 0;
  if (ctx == nullptr || Md(hash) == nullptr || EVP_DigestInit_ex2(ctx, Md(hash), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != size) {
    ERR_clear_error();
    return absl::InternalError(absl::StrCat(Name(hash), " failed in OpenSSL"));
  }
  return absl::OkStatus();
}

absl::Status Digest(HashAlgorithm hash, absl::string_view data, std::string* out) {
  if (out == nullptr) return absl::InvalidArgumentError("out must not be null");
  const size_t old_size = out->size();
  out->resize(old_size + DigestSize(hash));
  absl::Status s =
      Digest(hash, data,
             absl::MakeSpan(reinterpret_cast<uint8_t*>(&(*out)[old_size]), out->size() - old_size));
  if (!s.ok()) out->resize(old_size);
  return s;
}

absl::Status HmacCompute(HashAlgorithm hash, absl::Span<const uint8_t> key, absl::string_view data,
                         std::string* out) {
  if (out == nullptr) return absl::InvalidArgumentError("out must not be null");
  if (key.empty()) return absl::InvalidArgumentError("HMAC key must not be empty");
  const size_t old_size = out->size();
  out->resize(old_size + DigestSize(hash));
  if (!ComputeInto(hash, key, data, reinterpret_cast<uint8_t*>(&(*out)[old_size]))) {
    out->resize(old_size);
    return absl::InternalError(absl::StrCat("HMAC-", Name(hash), " failed in OpenSSL"));
  }
  return absl::OkStatus();
}

bool HmacVerify(HashAlgorithm hash, absl::Span<const uint8_t> key, absl::string_view data,
                absl::string_view tag) {
  const size_t size = DigestSize(hash);
  if (tag.size() != size) return false;
  uint8_t expected[EVP_MAX_MD_SIZE];
  const bool ok =
      ComputeInto(hash, key, data, expected) && CRYPTO_memcmp(expected, tag.data(), size) == 0;
  OPENSSL_cleanse(expected, sizeof(expected));
  return ok;
}

}  // namespace strongroom::kms::crypto
