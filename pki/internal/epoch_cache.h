// EpochCache: records read from storage (roles, issuers loaded for signing), reused while a
// change counter — an epoch — has not moved since they were read, so the issuance path does
// not read and parse them on every call.
//
// Whoever commits a change to a cached kind of record advances its epoch after the commit
// (and a kms::ChangeWatcher does so for other nodes' commits), and a value is kept with the
// epoch read before it was loaded: a value is never served once a change to it is committed
// here or reported by the feed. While the watcher cannot confirm that caches are current
// (ChangeWatcher::fresh() false), every Get loads from storage and nothing is kept.
// Only successful loads are kept. At most `capacity` entries (all dropped when it is
// reached). Thread-safe; Watch before use.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "kms/change_watcher.h"

namespace strongroom::pki::internal {

template <typename V>
class EpochCache {
 public:
  // `epoch` is not owned and outlives the cache.
  EpochCache(const std::atomic<uint64_t>* epoch, size_t capacity)
      : epoch_(epoch), capacity_(capacity) {}

  // Makes Get load from storage whenever `watcher` is not fresh. Call once, before use.
  void Watch(const kms::ChangeWatcher* watcher) { watcher_ = watcher; }

  // The value for `key`: the kept one if the epoch has not moved since it was loaded, else
  // load()'s (kept if it succeeds and the caches are current).
  absl::StatusOr<V> Get(absl::string_view key, const std::function<absl::StatusOr<V>()>& load)
      ABSL_LOCKS_EXCLUDED(mu_) {
    if (watcher_ != nullptr && !watcher_->fresh()) return load();
    const uint64_t epoch = epoch_->load(std::memory_order_acquire);
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second.first == epoch) return it->second.second;
    }
    absl::StatusOr<V> loaded = load();
    if (!loaded.ok()) return loaded;
    absl::MutexLock lock(&mu_);
    if (entries_.size() >= capacity_) entries_.clear();
    entries_.insert_or_assign(std::string(key), std::make_pair(epoch, *loaded));
    return loaded;
  }

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::ReaderMutexLock lock(&mu_);
    return entries_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  const std::atomic<uint64_t>* const epoch_;
  const size_t capacity_;
  const kms::ChangeWatcher* watcher_ = nullptr;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::pair<uint64_t, V>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strongroom::pki::internal
