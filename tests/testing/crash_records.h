// The records storage_crash_writer commits and storage_crash_test checks: record n is
// stored under CrashKey(n) with the deterministic CrashValue(n) (256-512 bytes).
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"

namespace strongroom::testing {

inline std::string CrashKey(int64_t n) { return absl::StrFormat("crash/%010d", n); }

inline std::string CrashValue(int64_t n) {
  std::string value = absl::StrFormat("record %d:", n);
  const size_t size = 256 + static_cast<size_t>(n % 257);
  uint64_t state = static_cast<uint64_t>(n) * 0x9E3779B97F4A7C15ull + 1;
  while (value.size() < size) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    value.push_back(static_cast<char>(state >> 56));
  }
  return value;
}

}  // namespace strongroom::testing
