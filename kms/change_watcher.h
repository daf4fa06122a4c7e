// ChangeWatcher: keeps this process's caches of stored records fresh across processes
// that share one Storage, and says whether they are.
//
// Caches (the keyring's key snapshots, the barrier's KEK and material, token verdicts, ...)
// Subscribe a key prefix. A thread reads the storage's ChangeFeed (see storage.h): each
// change is handed to the caches whose prefix it matches; after the feed lost its
// connection, and every `reconcile_every`, every cache re-checks all it holds (on_resync).
// Once a batch is applied, the feed's confirmation makes the caches fresh as of that
// moment. fresh() is false when the last confirmation is older than `bound`: a cache must
// then not vouch for anything on its own (read storage instead, and fail if storage
// fails), so a node that cannot confirm freshness never serves a revoked token or a
// retired key version from memory. On a store with one writer (Watch() gives no feed) the
// caches are always fresh and no thread runs. Thread-safe; fresh() is one atomic load.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "kms/storage.h"

namespace strongroom::kms {

struct ChangeWatcherOptions {
  // Longest time a cache may go without a confirmation that it is current.
  absl::Duration bound = absl::Seconds(1);
  // Every this often, every cache re-checks all it holds even without a lost connection.
  absl::Duration reconcile_every = absl::Seconds(60);
};

class ChangeWatcher {
 public:
  // `storage` must outlive the watcher.
  ChangeWatcher(Storage* storage, ChangeWatcherOptions options);
  ~ChangeWatcher();  // stops the thread
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  // Registers a cache: `on_change` for every change of a key starting with `prefix`
  // (it must drop or reload what it holds of that key, and not fail), `on_resync` to
  // re-check everything it holds (an error means "not done": it is called again before the
  // caches count as fresh). Call before Start.
  void Subscribe(std::string prefix, std::function<void(const Change&)> on_change,
                 std::function<absl::Status()> on_resync);

  // Opens the storage's feed and starts the thread (none for a single-writer store).
  // Returns the error of opening the feed.
  absl::Status Start();

  // Whether the caches are confirmed current within the bound.
  bool fresh() const;
  // False for a store with a single writer.
  bool shared() const { return shared_.load(std::memory_order_acquire); }
  // Time since the last confirmation (zero for a single-writer store).
  absl::Duration Age() const;
  // The last error of the feed, empty once it works again (for status reports).
  std::string last_error() const;
  const ChangeWatcherOptions& options() const { return options_; }

 private:
  struct Subscription {
    std::string prefix;
    std::function<void(const Change&)> on_change;
    std::function<absl::Status()> on_resync;
  };
  void Run();
  // Applies one batch; returns whether every cache took it (resyncs included).
  bool Apply(const ChangeFeed::Batch& batch, bool resync);

  Storage* const storage_;
  const ChangeWatcherOptions options_;
  std::vector<Subscription> subscriptions_;  // fixed once started
  std::unique_ptr<ChangeFeed> feed_;
  std::atomic<bool> shared_{false};
  std::atomic<int64_t> confirmed_unix_nanos_{0};
  absl::Notification stop_;
  std::thread thread_;
  mutable absl::Mutex error_mu_;
  std::string last_error_ ABSL_GUARDED_BY(error_mu_);
};

}  // namespace strongroom::kms
