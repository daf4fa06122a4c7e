// TokenBucket: at most `per_second` takes per second on average, `burst` at once.
//
// Bounds work an unauthenticated caller can make the server do (e.g. HSM operations for
// refused credentials). Time is passed in, so tests need no clock. Thread-safe.
#pragma once

#include <algorithm>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace strongroom::server::access {

class TokenBucket {
 public:
  // Starts full. With a burst below 1 nothing is ever taken.
  TokenBucket(double per_second, double burst)
      : per_second_(per_second), burst_(burst), tokens_(burst) {}

  // True, and one token fewer, if one is left at `now`; false otherwise.
  bool TryTake(absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (now > refilled_) {
      tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - refilled_) * per_second_);
      refilled_ = now;
    }
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

  // Gives back one taken token whose work turned out not to need paying for (up to the burst).
  void Refund() {
    absl::MutexLock lock(&mu_);
    tokens_ = std::min(burst_, tokens_ + 1);
  }

 private:
  const double per_second_;
  const double burst_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time refilled_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace strongroom::server::access
