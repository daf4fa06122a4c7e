#include "kms/storage.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>

#include "absl/time/clock.h"

namespace strongroom::kms {

void CasBackOff(int attempt) {
  uint8_t jitter = 0;
  RAND_bytes(&jitter, 1);  // on failure: no jitter, still a pause
  absl::SleepFor(absl::Microseconds((50 << std::min(attempt, 6)) * (1 + jitter % 4) / 4));
}

}  // namespace strongroom::kms
