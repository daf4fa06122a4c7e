// aead_bench: single-thread throughput of AeadSeal and AeadOpen for 64-byte messages with
// AES-256-GCM, ~1 s each. Plain std::chrono, no benchmark library. Also counts OpenSSL
// heap allocations in the measured loops (expected: 0 per operation).
#include <openssl/crypto.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kms/crypto/aead.h"

namespace {

using strongroom::kms::crypto::AeadAlgorithm;
using Clock = std::chrono::steady_clock;

constexpr AeadAlgorithm kAlg = AeadAlgorithm::kAes256Gcm;

std::atomic<uint64_t> openssl_allocations{0};

void* CountingMalloc(size_t n, const char*, int) {
  openssl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n);
}
void* CountingRealloc(void* p, size_t n, const char*, int) {
  openssl_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::realloc(p, n);
}
void PlainFree(void* p, const char*, int) { std::free(p); }

// Calls `op` in batches until ~1 s has passed; returns ops/s and sets *allocations to the
// OpenSSL allocations per op during the measurement.
template <typename Op>
double Measure(Op op, double* allocations) {
  for (int i = 0; i < 10000; ++i) op(i);  // Warm-up: contexts, caches, CPU clock.
  const uint64_t allocations_before = openssl_allocations.load();
  uint64_t ops = 0;
  const auto start = Clock::now();
  auto now = start;
  do {
    for (int i = 0; i < 4096; ++i) op(i);
    ops += 4096;
    now = Clock::now();
  } while (now - start < std::chrono::seconds(1));
  *allocations = static_cast<double>(openssl_allocations.load() - allocations_before) / ops;
  return ops / std::chrono::duration<double>(now - start).count();
}

}  // namespace

int main() {
  // Must precede any OpenSSL allocation.
  if (CRYPTO_set_mem_functions(CountingMalloc, CountingRealloc, PlainFree) != 1) {
    std::fprintf(stderr, "aead_bench: cannot hook OpenSSL allocations\n");
  }
  double seal_allocations = 0, open_allocations = 0;
  uint8_t key[32];
  uint8_t nonce[12] = {0};
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  const std::string aad = "strongroom/transit/bench";
  const std::string plaintext(64, 'p');
  std::string out;
  out.reserve(256);
  bool failed = false;

  const double seal = Measure(
      [&](int i) {
        nonce[0] = static_cast<uint8_t>(i);
        out.clear();
        failed |= !strongroom::kms::crypto::AeadSeal(kAlg, key, nonce, aad, plaintext, &out).ok();
      },
      &seal_allocations);
  nonce[0] = 0;
  std::string sealed;
  failed |= !strongroom::kms::crypto::AeadSeal(kAlg, key, nonce, aad, plaintext, &sealed).ok();
  const double open = Measure(
      [&](int) {
        out.clear();
        failed |= !strongroom::kms::crypto::AeadOpen(kAlg, key, nonce, aad, sealed, &out).ok();
      },
      &open_allocations);
  if (failed || out != plaintext) {
    std::fprintf(stderr, "aead_bench: an operation failed\n");
    return 1;
  }
  std::printf("AES-256-GCM, 64-byte messages, 1 thread\n");
  std::printf("AeadSeal: %.0f ops/s (%.0f ns/op, %.3f OpenSSL allocations/op)\n", seal, 1e9 / seal,
              seal_allocations);
  std::printf("AeadOpen: %.0f ops/s (%.0f ns/op, %.3f OpenSSL allocations/op)\n", open, 1e9 / open,
              open_allocations);
  return 0;
}
