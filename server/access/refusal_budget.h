// RefusalBudget: bounds the HSM work that tokens not yet known to be genuine can cost.
//
// Checking a token that is not verified in a cache takes an HMAC in the HSM. Two budgets of
// `per_second` HMACs per second (that many at once) pay for it:
//  - refusals: the check of a token whose accessor is under attack (a wrong secret was shown
//    for it within kSuspectFor), the first refusal of each accessor, and the token_hmac of a
//    refused token's audit record (TakeAuditHmac);
//  - first checks: the check of any other token not verified before, given back when the
//    token proves genuine, so only wrong secrets spend it.
// So wrong secrets cost at most both bursts plus both rates times the elapsed time in HSM
// work, however many accessors the caller knows. An empty budget refuses the check
// UNAVAILABLE (retryable), before any HSM work. Accessors under attack are remembered in a
// table of at most `max_suspects` entries; while it is full every accessor counts as one.
//
// Thread-safe. Time is passed in, so tests need no clock.
#pragma once

#include <cstddef>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/access/token_bucket.h"

namespace strongroom::server::access {

class RefusalBudget {
 public:
  // How long an accessor stays under attack after its last refused attempt.
  static constexpr absl::Duration kSuspectFor = absl::Seconds(60);

  RefusalBudget(double per_second, size_t max_suspects);

  // What a check drew, for Settle.
  struct Ticket {
    bool suspect = false;      // paid from the refusal budget
    bool first_check = false;  // paid from the first-check budget
  };
  // Before the HSM check of a token with `accessor` that was not verified before: draws from
  // the budget it needs, or UNAVAILABLE (naming the reason, never the token) if it is empty.
  absl::StatusOr<Ticket> Admit(absl::string_view accessor, absl::Time now);
  // After that check: a genuine token gives a first check back and clears its accessor; a
  // wrong one marks its accessor under attack (its first refusal is paid now).
  void Settle(absl::string_view accessor, absl::Time now, const Ticket& ticket, bool genuine);

  // One HMAC for a refused token's audit record, if the refusal budget allows it.
  bool TakeAuditHmac(absl::Time now) { return refusals_.TryTake(now); }

  // Entries in the table of accessors under attack (for metrics).
  size_t suspects() const;

 private:
  // Whether `accessor` had a refused attempt within kSuspectFor of `now` (always true while
  // the table is full).
  bool IsSuspect(absl::string_view accessor, absl::Time now);
  void MarkSuspect(absl::string_view accessor, absl::Time now);

  TokenBucket refusals_;
  TokenBucket first_checks_;
  const size_t max_suspects_;
  mutable absl::Mutex mu_;
  // Accessors under attack: the time of their last refused attempt.
  absl::flat_hash_map<std::string, absl::Time> suspects_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strongroom::server::access
