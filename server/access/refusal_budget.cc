#include "server/access/refusal_budget.h"

#include <algorithm>
#include <string>

namespace strongroom::server::access {

RefusalBudget::RefusalBudget(double per_second, size_t max_suspects)
    : refusals_(per_second, per_second),
      first_checks_(per_second, per_second),
      max_suspects_(max_suspects) {}

absl::StatusOr<RefusalBudget::Ticket> RefusalBudget::Admit(absl::string_view accessor,
                                                           absl::Time now) {
  Ticket ticket;
  ticket.suspect = IsSuspect(accessor, now);
  if (ticket.suspect) {
    if (!refusals_.TryTake(now)) {
      MarkSuspect(accessor, now);
      return absl::UnavailableError(
          "token not checked: too many refused attempts with its accessor; try again later");
    }
    return ticket;
  }
  if (!first_checks_.TryTake(now)) {
    return absl::UnavailableError(
        "token not checked: too many unverified tokens presented; try again later");
  }
  ticket.first_check = true;
  return ticket;
}

void RefusalBudget::Settle(absl::string_view accessor, absl::Time now, const Ticket& ticket,
                           bool genuine) {
  if (genuine) {
    if (ticket.first_check) first_checks_.Refund();
    absl::MutexLock lock(&mu_);
    suspects_.erase(accessor);
    return;
  }
  // The first refusal is paid afterwards (it may leave the budget empty).
  if (!ticket.suspect) refusals_.TryTake(now);
  MarkSuspect(accessor, now);
}

bool RefusalBudget::IsSuspect(absl::string_view accessor, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (suspects_.size() >= max_suspects_) {
    absl::erase_if(suspects_,
                   [now](const auto& entry) { return now - entry.second >= kSuspectFor; });
    if (suspects_.size() >= max_suspects_) return true;
  }
  auto it = suspects_.find(accessor);
  return it != suspects_.end() && now - it->second < kSuspectFor;
}

void RefusalBudget::MarkSuspect(absl::string_view accessor, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (suspects_.size() >= max_suspects_ && !suspects_.contains(accessor)) {
    absl::erase_if(suspects_,
                   [now](const auto& entry) { return now - entry.second >= kSuspectFor; });
    // Still full: IsSuspect() holds for every accessor until entries age out.
    if (suspects_.size() >= max_suspects_) return;
  }
  absl::Time& last = suspects_[std::string(accessor)];
  last = std::max(last, now);
}

size_t RefusalBudget::suspects() const {
  absl::MutexLock lock(&mu_);
  return suspects_.size();
}

}  // namespace strongroom::server::access
