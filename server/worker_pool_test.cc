#include "server/worker_pool.h"

#include <atomic>
#include <memory>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace strongroom::server {
namespace {

TEST(WorkerPoolTest, ABlockedTaskDoesNotHoldUpTheNext) {
  WorkerPool pool(2);
  absl::Notification released, done;
  pool.Run([&] {
    // Blocks until the second task runs: only possible on another thread.
    if (released.WaitForNotificationWithTimeout(absl::Seconds(10))) done.Notify();
  });
  pool.Run([&] { released.Notify(); });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST(WorkerPoolTest, DestructorRunsEveryQueuedTask) {
  std::atomic<int> ran{0};
  absl::Notification release;
  {
    WorkerPool pool(1);
    pool.Run([&] { release.WaitForNotification(); });
    for (int i = 0; i < 100; ++i) pool.Run([&] { ran.fetch_add(1); });
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 100);
}

TEST(WorkerPoolTest, TasksMayOwnMoveOnlyState) {
  absl::Notification done;
  int seen = 0;
  {
    WorkerPool pool(3);
    auto value = std::make_unique<int>(42);
    pool.Run([value = std::move(value), &seen, &done] {
      seen = *value;
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  }
  EXPECT_EQ(seen, 42);
}

}  // namespace
}  // namespace strongroom::server
