// ControlledStorage: a real Storage behind a wrapper whose commits a test can hold and fail.
//
// Reads and commits go to the wrapped Storage, except: with hold_first_ set, the first
// Commit notifies first_entered_ and waits for release_first_ (so that other writers
// queue behind it); the Commit numbered fail_call_ (1-based), and every Commit while
// fail_all_ is set, returns UNAVAILABLE without touching the wrapped Storage, as a full
// disk would. Set the controls before the commits they affect; thread-safe otherwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "kms/storage.h"

namespace strongroom::kms::testing {

class ControlledStorage final : public Storage {
 public:
  // `real` is not owned and outlives the wrapper.
  explicit ControlledStorage(Storage* real) : real_(real) {}

  absl::StatusOr<std::optional<Entry>> Get(absl::string_view key) override {
    return real_->Get(key);
  }
  absl::StatusOr<std::vector<Entry>> List(absl::string_view prefix, absl::string_view start_after,
                                          size_t limit) override {
    return real_->List(prefix, start_after, limit);
  }
  absl::Status Commit(const WriteBatch& batch) override {
    const int call = ++calls_;
    if (call == 1 && hold_first_) {
      first_entered_.Notify();
      release_first_.WaitForNotification();
    }
    if (call == fail_call_ || fail_all_.load()) {
      return absl::UnavailableError("disk full (injected)");
    }
    return real_->Commit(batch);
  }
  std::string Backend() const override { return real_->Backend(); }
  std::string Location() const override { return real_->Location(); }
  uint32_t SchemaVersion() const override { return real_->SchemaVersion(); }

  bool hold_first_ = false;
  int fail_call_ = 0;
  std::atomic<bool> fail_all_{false};
  absl::Notification first_entered_;
  absl::Notification release_first_;

 private:
  Storage* const real_;
  std::atomic<int> calls_{0};
};

}  // namespace strongroom::kms::testing
