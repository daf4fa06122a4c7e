#include "kms/change_watcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace strongroom::kms {

ChangeWatcher::ChangeWatcher(Storage* storage, ChangeWatcherOptions options)
    : storage_(storage), options_(options) {}

ChangeWatcher::~ChangeWatcher() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void ChangeWatcher::Subscribe(std::string prefix, std::function<void(const Change&)> on_change,
                              std::function<absl::Status()> on_resync) {
  subscriptions_.push_back({std::move(prefix), std::move(on_change), std::move(on_resync)});
}

absl::Status ChangeWatcher::Start() {
  absl::StatusOr<std::unique_ptr<ChangeFeed>> feed = storage_->Watch();
  if (!feed.ok()) return feed.status();
  if (*feed == nullptr) return absl::OkStatus();  // one writer: always fresh
  feed_ = *std::move(feed);
  shared_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

bool ChangeWatcher::fresh() const { return Age() <= options_.bound; }

absl::Duration ChangeWatcher::Age() const {
  if (!shared()) return absl::ZeroDuration();
  const int64_t confirmed = confirmed_unix_nanos_.load(std::memory_order_acquire);
  if (confirmed == 0) return absl::InfiniteDuration();
  return absl::Now() - absl::FromUnixNanos(confirmed);
}

std::string ChangeWatcher::last_error() const {
  absl::MutexLock lock(&error_mu_);
  return last_error_;
}

bool ChangeWatcher::Apply(const ChangeFeed::Batch& batch, bool resync) {
  for (const Change& change : batch.changes) {
    for (const Subscription& s : subscriptions_) {
      if (absl::StartsWith(change.key, s.prefix)) s.on_change(change);
    }
  }
  if (!resync) return true;
  bool all = true;
  for (const Subscription& s : subscriptions_) {
    absl::Status status = s.on_resync();
    if (!status.ok()) {
      absl::MutexLock lock(&error_mu_);
      last_error_ = absl::StrCat("re-checking caches: ", status.message());
      all = false;
    }
  }
  return all;
}

void ChangeWatcher::Run() {
  // The feed confirms at least this often, so a confirmation is never older than the bound
  // while the database answers.
  const absl::Duration interval = std::max(options_.bound / 4, absl::Milliseconds(10));
  bool resync_pending = true;
  absl::Time next_reconcile = absl::Now() + options_.reconcile_every;
  while (!stop_.HasBeenNotified()) {
    absl::StatusOr<ChangeFeed::Batch> batch = feed_->Next(interval);
    if (!batch.ok()) {
      {
        absl::MutexLock lock(&error_mu_);
        last_error_ = std::string(batch.status().message());
      }
      resync_pending = true;
      stop_.WaitForNotificationWithTimeout(interval);
      continue;
    }
    if (absl::Now() >= next_reconcile) {
      resync_pending = true;
      next_reconcile = absl::Now() + options_.reconcile_every;
    }
    resync_pending = !Apply(*batch, resync_pending || batch->resync);
    if (resync_pending || batch->confirmed_as_of == absl::InfinitePast()) continue;
    {
      absl::MutexLock lock(&error_mu_);
      last_error_.clear();
    }
    confirmed_unix_nanos_.store(absl::ToUnixNanos(batch->confirmed_as_of),
                                std::memory_order_release);
  }
}

}  // namespace strongroom::kms
