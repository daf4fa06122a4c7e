// Failover: three storage nodes (PostgresStorage, as strongroomd opens it) write under load
// to a primary with a synchronous streaming standby; the primary's postmaster is killed
// with SIGKILL and the standby promoted (pg_promote). The nodes find the new primary by
// themselves (two hosts in the connection string, target_session_attrs=read-write) and
// every write they acknowledged is on it.
//
// The detector can fail: with an asynchronous standby that falls behind before the kill,
// the same check reports acknowledged writes as lost (AsynchronousStandbyLosesWrites).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kms/postgres_storage.h"
#include "tests/testing/postgres_cluster.h"

namespace strongroom::kms {
namespace {

using ::strongroom::testing::PostgresCluster;

constexpr int kNodes = 3;

std::string ValueFor(const std::string& key) { return absl::StrCat("value of ", key); }

// One node's writer: commits failover/node<i>/<n> with kMustNotExist, records each key
// whose Commit returned OK (acknowledged) and when.
struct Node {
  std::unique_ptr<PostgresStorage> storage;
  absl::Mutex mu;
  std::vector<std::string> acknowledged ABSL_GUARDED_BY(mu);
  std::vector<absl::Time> ack_times ABSL_GUARDED_BY(mu);
  int failed ABSL_GUARDED_BY(mu) = 0;
  int outcome_unknown ABSL_GUARDED_BY(mu) = 0;

  size_t acks() {
    absl::MutexLock lock(&mu);
    return acknowledged.size();
  }
};

void WriteUntil(Node& node, int index, const std::atomic<bool>& stop) {
  int64_t n = 0;
  while (!stop.load()) {
    const std::string key = absl::StrFormat("failover/node%d/%08d", index, n);
    absl::Status status =
        node.storage->Commit(WriteBatch().Put(key, ValueFor(key), WriteBatch::kMustNotExist));
    {
      absl::MutexLock lock(&node.mu);
      if (status.ok()) {
        node.acknowledged.push_back(key);
        node.ack_times.push_back(absl::Now());
        ++n;
        continue;
      }
      ++node.failed;
      // Never reuse a key whose write may have landed.
      if (absl::IsAborted(status)) ++n;
      if (absl::StrContains(status.message(), "outcome unknown")) {
        ++node.outcome_unknown;
        ++n;
      }
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

PostgresStorageOptions OptionsFor(const PostgresCluster& primary, const PostgresCluster& standby) {
  PostgresStorageOptions options;
  options.conninfo =
      absl::StrCat("host=127.0.0.1,127.0.0.1 port=", primary.port(), ",", standby.port(),
                   " user=sr dbname=strongroom target_session_attrs=read-write "
                   "connect_timeout=2");
  options.password_file = primary.PasswordFile();
  options.pool_size = 4;
  return options;
}

struct Outcome {
  size_t acknowledged = 0;
  std::vector<std::string> lost;
  int failed = 0;
  int outcome_unknown = 0;
  absl::Duration outage;
};

// Runs the nodes, calls `fail_over` (which returns when the primary died) once each has 50
// acknowledgements, keeps writing
// until each has `after` more (or 90 s pass), then checks every acknowledged key on
// `survivor`.
Outcome RunFailover(const PostgresCluster& primary, const PostgresCluster& standby,
                    const PostgresCluster& survivor, const std::function<absl::Time()>& fail_over) {
  Outcome outcome;
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < kNodes; ++i) {
    auto node = std::make_unique<Node>();
    absl::StatusOr<std::unique_ptr<PostgresStorage>> storage =
        PostgresStorage::Open(OptionsFor(primary, standby));
    EXPECT_TRUE(storage.ok()) << storage.status();
    if (!storage.ok()) return outcome;
    node->storage = std::move(*storage);
    nodes.push_back(std::move(node));
  }
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] { WriteUntil(*nodes[i], i, stop); });
  }
  auto wait_for = [&](const std::vector<size_t>& targets) {
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    for (int i = 0; i < kNodes; ++i) {
      while (nodes[i]->acks() < targets[i] && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
  };
  wait_for(std::vector<size_t>(kNodes, 50));
  const absl::Time killed_at = fail_over();
  std::vector<size_t> targets;
  for (auto& node : nodes) targets.push_back(node->acks() + 50);
  wait_for(targets);
  stop = true;
  for (std::thread& thread : threads) thread.join();

  // The outage: from the primary's death to the first acknowledgement after it.
  absl::Time first_after = absl::InfiniteFuture();
  for (auto& node : nodes) {
    absl::MutexLock lock(&node->mu);
    for (absl::Time t : node->ack_times) {
      if (t >= killed_at) first_after = std::min(first_after, t);
    }
    outcome.failed += node->failed;
    outcome.outcome_unknown += node->outcome_unknown;
  }
  outcome.outage = first_after - killed_at;

  PostgresStorageOptions options;
  options.conninfo = survivor.ConnInfo();
  options.password_file = survivor.PasswordFile();
  absl::StatusOr<std::unique_ptr<PostgresStorage>> check = PostgresStorage::Open(options);
  EXPECT_TRUE(check.ok()) << check.status();
  if (!check.ok()) return outcome;
  for (auto& node : nodes) {
    absl::MutexLock lock(&node->mu);
    for (const std::string& key : node->acknowledged) {
      ++outcome.acknowledged;
      absl::StatusOr<std::optional<Entry>> entry = (*check)->Get(key);
      EXPECT_TRUE(entry.ok()) << entry.status();
      if (!entry.ok() || !entry->has_value() || (*entry)->value != ValueFor(key)) {
        outcome.lost.push_back(key);
      }
    }
  }
  return outcome;
}

absl::Status WaitForSyncStandby(PostgresCluster& primary, const std::string& state) {
  for (int i = 0; i < 300; ++i) {
    absl::StatusOr<std::string> found =
        primary.Query(absl::StrCat("SELECT count(*) FROM pg_stat_replication WHERE sync_state = '",
                                   state, "' AND state = 'streaming'"));
    if (found.ok() && *found == "1") return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("no ", state, " standby streaming"));
}

TEST(PostgresFailoverTest, SynchronousStandbyKeepsEveryAcknowledgedWrite) {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> primary =
      PostgresCluster::Start({.name = "primary"});
  ASSERT_TRUE(primary.ok()) << primary.status();
  absl::StatusOr<std::unique_ptr<PostgresCluster>> standby =
      PostgresCluster::StartStandby(**primary, {.name = "standby1"});
  ASSERT_TRUE(standby.ok()) << standby.status();
  ASSERT_TRUE((*primary)->Query("ALTER SYSTEM SET synchronous_standby_names = 'standby1'").ok());
  ASSERT_TRUE((*primary)->Query("SELECT pg_reload_conf()").ok());
  ASSERT_TRUE(WaitForSyncStandby(**primary, "sync").ok());

  Outcome outcome = RunFailover(**primary, **standby, **standby, [&] {
    EXPECT_TRUE((*primary)->Kill().ok());
    const absl::Time killed_at = absl::Now();
    EXPECT_TRUE((*standby)->Promote().ok());
    return killed_at;
  });
  std::printf(
      "synchronous standby: %zu writes acknowledged, %zu lost, %d requests failed "
      "(%d with outcome unknown), %.2f s from the kill to the next acknowledged write\n",
      outcome.acknowledged, outcome.lost.size(), outcome.failed, outcome.outcome_unknown,
      absl::ToDoubleSeconds(outcome.outage));
  EXPECT_GE(outcome.acknowledged, static_cast<size_t>(kNodes * 100));
  EXPECT_THAT(outcome.lost, ::testing::IsEmpty());
  EXPECT_EQ(outcome.outcome_unknown, 0);
}

// The negative control: the standby is asynchronous and stopped while the primary keeps
// acknowledging, then the primary dies and the stale standby is promoted. The detector
// must report the acknowledged writes it never received.
TEST(PostgresFailoverTest, AsynchronousStandbyLosesWrites) {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> primary =
      PostgresCluster::Start({.name = "async-primary"});
  ASSERT_TRUE(primary.ok()) << primary.status();
  absl::StatusOr<std::unique_ptr<PostgresCluster>> standby =
      PostgresCluster::StartStandby(**primary, {.name = "async_standby"});
  ASSERT_TRUE(standby.ok()) << standby.status();
  ASSERT_TRUE(WaitForSyncStandby(**primary, "async").ok());

  Outcome outcome = RunFailover(**primary, **standby, **standby, [&] {
    EXPECT_TRUE((*standby)->Stop().ok());
    absl::SleepFor(absl::Milliseconds(500));  // the primary acknowledges alone meanwhile
    EXPECT_TRUE((*primary)->Kill().ok());
    const absl::Time killed_at = absl::Now();
    EXPECT_TRUE((*standby)->Restart().ok());
    EXPECT_TRUE((*standby)->Promote().ok());
    return killed_at;
  });
  std::printf("asynchronous standby: %zu writes acknowledged, %zu lost\n", outcome.acknowledged,
              outcome.lost.size());
  EXPECT_GT(outcome.lost.size(), 0u) << "the detector missed writes lost with the async standby";
}

}  // namespace
}  // namespace strongroom::kms
