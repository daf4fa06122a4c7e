// HashAlgorithm: the SHA-2 hashes Strongroom signs, MACs and digests with, one enum for the
// HSM (hsm.h) and the software primitives (kms/crypto), with no PKCS#11 or OpenSSL
// dependency, so that code hashing only in software need not link either.
#pragma once

#include <cstddef>

namespace strongroom::hsm {

enum class HashAlgorithm { kSha256, kSha384, kSha512 };

// The digest length of `hash` in bytes (32, 48 or 64).
constexpr size_t DigestSize(HashAlgorithm hash) {
  switch (hash) {
    case HashAlgorithm::kSha384:
      return 48;
    case HashAlgorithm::kSha512:
      return 64;
    case HashAlgorithm::kSha256:
      break;
  }
  return 32;
}

}  // namespace strongroom::hsm
