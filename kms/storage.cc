#include "kms/storage.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace strongroom::kms {

void CasBackOff(int attempt) {
  uint8_t jitter = 0;
  RAND_bytes(&jitter, 1);  // on failure: no jitter, still a pause
  absl::SleepFor(absl::Microseconds((50 << std::min(attempt, 6)) * (1 + jitter % 4) / 4));
}

absl::Status CheckSingleWriterLease(const WriteBatch& batch, absl::string_view backend) {
  if (!batch.lease().has_value() || batch.lease()->epoch == kSingleWriterLeaseEpoch) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      backend, ": commit: lease \"", batch.lease()->name, "\" is not held at epoch ",
      batch.lease()->epoch, " (this store grants epoch ", kSingleWriterLeaseEpoch, ")"));
}

}  // namespace strongroom::kms
