// ChangeWatcher on both backends. PostgreSQL: two storages on one database stand for two
// nodes; a commit through one reaches the other's subscriber within the bound, freshness
// lapses while the database is down (so caches stop vouching) and comes back, with a full
// re-check, when it returns. SQLite: a single writer, always fresh, no feed.
#include "kms/change_watcher.h"

#include <atomic>
#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "kms/postgres_storage.h"
#include "kms/storage.h"
#include "tests/testing/postgres_cluster.h"
#include "tests/testing/storage_backends.h"

namespace strongroom::kms {
namespace {

constexpr absl::Duration kBound = absl::Milliseconds(400);

// What one subscriber saw.
struct Seen {
  absl::Mutex mu;
  std::set<std::string> keys ABSL_GUARDED_BY(mu);
  std::atomic<int> resyncs{0};
  bool Has(const std::string& key) {
    absl::MutexLock lock(&mu);
    return keys.count(key) > 0;
  }
};

void SubscribeTo(ChangeWatcher& watcher, const std::string& prefix, Seen& seen) {
  watcher.Subscribe(
      prefix,
      [&seen](const Change& change) {
        absl::MutexLock lock(&seen.mu);
        seen.keys.insert(absl::StrCat(change.key, "@", change.revision == 0 ? "deleted" : "put"));
      },
      [&seen] {
        seen.resyncs.fetch_add(1);
        return absl::OkStatus();
      });
}

// Waits up to `limit` for `condition`; the time it took, or InfiniteDuration.
template <typename F>
absl::Duration Await(F condition, absl::Duration limit = absl::Seconds(15)) {
  const absl::Time start = absl::Now();
  while (absl::Now() - start < limit) {
    if (condition()) return absl::Now() - start;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return absl::InfiniteDuration();
}

TEST(ChangeWatcherTest, SqliteIsOneWriterAndAlwaysFresh) {
  auto backend = testing::MakeStorageBackend("sqlite");
  ASSERT_TRUE(backend->NewDatabase("watch").ok());
  auto storage = backend->Open();
  ASSERT_TRUE(storage.ok()) << storage.status();
  ChangeWatcher watcher(storage->get(), {.bound = kBound});
  Seen seen;
  SubscribeTo(watcher, "k/", seen);
  ASSERT_TRUE(watcher.Start().ok());
  EXPECT_FALSE(watcher.shared());
  EXPECT_TRUE(watcher.fresh());
  EXPECT_EQ(watcher.Age(), absl::ZeroDuration());
}

TEST(ChangeWatcherTest, PostgresChangesReachTheOtherNodeAndFreshnessLapsesWhileDown) {
  std::string error;
  testing::PostgresCluster* cluster = testing::SharedPostgresCluster(&error);
  ASSERT_NE(cluster, nullptr) << error;
  absl::StatusOr<std::string> db = cluster->CreateDatabase("watch");
  ASSERT_TRUE(db.ok()) << db.status();
  PostgresStorageOptions options;
  options.conninfo = absl::StrCat(cluster->ConnInfo(*db), " connect_timeout=2");
  options.password_file = cluster->PasswordFile();
  auto writer = PostgresStorage::Open(options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  auto reader = PostgresStorage::Open(options);
  ASSERT_TRUE(reader.ok()) << reader.status();

  ChangeWatcher watcher(reader->get(), {.bound = kBound});
  Seen seen, other;
  SubscribeTo(watcher, "k/", seen);
  SubscribeTo(watcher, "other/", other);
  ASSERT_TRUE(watcher.Start().ok());
  EXPECT_TRUE(watcher.shared());
  ASSERT_NE(Await([&] { return watcher.fresh(); }), absl::InfiniteDuration())
      << watcher.last_error();
  EXPECT_GE(seen.resyncs.load(), 1);  // the first connection re-checks everything

  // A put and a delete through the other storage reach this subscriber within the bound.
  const absl::Time committed = absl::Now();
  ASSERT_TRUE((*writer)->Commit(WriteBatch().Put("k/a", "1")).ok());
  absl::Duration took = Await([&] { return seen.Has("k/a@put"); });
  EXPECT_LE(took, kBound) << "a change took " << took;
  ASSERT_TRUE((*writer)->Commit(WriteBatch().Delete("k/a")).ok());
  EXPECT_NE(Await([&] { return seen.Has("k/a@deleted"); }), absl::InfiniteDuration());
  EXPECT_FALSE(other.Has("k/a@put"));
  // Once fresh again after the commit, the confirmation covers it.
  ASSERT_NE(Await([&] { return watcher.fresh() && watcher.Age() < absl::Now() - committed; }),
            absl::InfiniteDuration());

  // Database gone (SIGKILL: it stops answering at once): freshness lapses within the bound
  // plus one confirmation period.
  const int resyncs = seen.resyncs.load();
  const absl::Time stopping = absl::Now();
  ASSERT_TRUE(cluster->Kill().ok());
  ASSERT_NE(Await([&] { return !watcher.fresh(); }), absl::InfiniteDuration());
  const absl::Duration lapse = absl::Now() - stopping;
  // The last confirmation came at most one period (bound / 4) before the stop.
  EXPECT_LE(lapse, kBound + kBound / 2) << "stale caches were trusted for " << lapse;
  absl::SleepFor(kBound);
  EXPECT_FALSE(watcher.fresh());
  EXPECT_FALSE(watcher.last_error().empty());

  // Back: a full re-check, then fresh again without a restart.
  ASSERT_TRUE(cluster->Restart().ok());
  ASSERT_NE(Await([&] { return watcher.fresh(); }), absl::InfiniteDuration())
      << watcher.last_error();
  EXPECT_GT(seen.resyncs.load(), resyncs);
  EXPECT_GT(other.resyncs.load(), 0);
  std::printf(
      "change watcher: a change reached the other node in %s; caches stopped vouching %s "
      "after the database was killed (bound %s)\n",
      absl::FormatDuration(took).c_str(), absl::FormatDuration(lapse).c_str(),
      absl::FormatDuration(kBound).c_str());
}

}  // namespace
}  // namespace strongroom::kms
