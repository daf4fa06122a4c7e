#include "kms/group_commit.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "kms/sqlite_storage.h"
#include "kms/testing/controlled_storage.h"

namespace strongroom::kms {
namespace {

using ::strongroom::kms::testing::ControlledStorage;

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = getenv("TEST_TMPDIR");
    path_ = absl::StrCat(dir != nullptr ? dir : "/tmp", "/group-commit-", getpid(), "-",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".db");
    auto opened = SqliteStorage::Open(path_);
    ASSERT_TRUE(opened.ok()) << opened.status();
    storage_ = *std::move(opened);
  }

  // The value under `key` after closing the database and opening it again.
  std::vector<std::optional<Entry>> Reopened(const std::vector<std::string>& keys) {
    storage_.reset();
    auto reopened = SqliteStorage::Open(path_);
    EXPECT_TRUE(reopened.ok()) << reopened.status();
    std::vector<std::optional<Entry>> out;
    for (const std::string& key : keys) {
      auto entry = (*reopened)->Get(key);
      EXPECT_TRUE(entry.ok()) << entry.status();
      out.push_back(entry.ok() ? *entry : std::nullopt);
    }
    return out;
  }

  // Holds the first commit (one batch), queues `n` more batches behind it from `n`
  // threads, releases it; returns each batch's status (index 0 is the held one).
  std::vector<absl::Status> HeldThenQueued(ControlledStorage* controlled, GroupCommit* group,
                                           std::vector<WriteBatch>* batches) {
    controlled->hold_first_ = true;
    std::vector<absl::Status> status(batches->size());
    std::vector<std::thread> threads;
    threads.emplace_back([&] { status[0] = group->Commit((*batches)[0]); });
    controlled->first_entered_.WaitForNotification();
    for (size_t i = 1; i < batches->size(); ++i) {
      threads.emplace_back([&, i] { status[i] = group->Commit((*batches)[i]); });
    }
    // The writer is inside the held commit, so the others can only queue.
    while (group->queued() < batches->size() - 1) absl::SleepFor(absl::Milliseconds(1));
    controlled->release_first_.Notify();
    for (std::thread& t : threads) t.join();
    return status;
  }

  std::string path_;
  std::unique_ptr<SqliteStorage> storage_;
};

TEST_F(GroupCommitTest, ConcurrentWritersShareCommitsAndAllAreDurable) {
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::string> keys;
  {
    GroupCommit group(storage_.get());
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          WriteBatch batch;
          batch.Put(absl::StrCat("pki/certs/", t, "-", i), absl::StrCat("v", t, "-", i),
                    WriteBatch::kMustNotExist);
          if (!group.Commit(batch).ok()) ++failures;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
  }
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) keys.push_back(absl::StrCat("pki/certs/", t, "-", i));
  }
  std::vector<std::optional<Entry>> found = Reopened(keys);
  for (size_t k = 0; k < keys.size(); ++k) {
    ASSERT_TRUE(found[k].has_value()) << keys[k];
    EXPECT_EQ(found[k]->value, "v" + keys[k].substr(strlen("pki/certs/")));
  }
}

TEST_F(GroupCommitTest, QueuedBatchesGoInOneCommit) {
  ControlledStorage controlled(storage_.get());
  GroupCommit group(&controlled);
  std::vector<WriteBatch> batches(6);
  std::vector<std::string> keys;
  for (size_t i = 0; i < batches.size(); ++i) {
    keys.push_back(absl::StrCat("k", i));
    batches[i].Put(keys.back(), "v", WriteBatch::kMustNotExist);
  }
  for (const absl::Status& s : HeldThenQueued(&controlled, &group, &batches)) {
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(group.storage_commits(), 2u);  // the held one, then the five queued behind it
  for (const auto& entry : Reopened(keys)) EXPECT_TRUE(entry.has_value());
}

TEST_F(GroupCommitTest, AFailedCommitFailsExactlyTheCallersInIt) {
  ControlledStorage controlled(storage_.get());
  controlled.fail_call_ = 2;  // the group queued behind the held first commit
  GroupCommit group(&controlled);
  std::vector<WriteBatch> batches(5);
  std::vector<std::string> keys;
  for (size_t i = 0; i < batches.size(); ++i) {
    keys.push_back(absl::StrCat("k", i));
    batches[i].Put(keys.back(), "v", WriteBatch::kMustNotExist);
  }
  std::vector<absl::Status> status = HeldThenQueued(&controlled, &group, &batches);
  EXPECT_TRUE(status[0].ok()) << status[0];
  for (size_t i = 1; i < status.size(); ++i) {
    EXPECT_TRUE(absl::IsUnavailable(status[i])) << i << ": " << status[i];
  }
  // A later commit goes through again.
  WriteBatch later;
  later.Put("later", "v");
  EXPECT_TRUE(group.Commit(later).ok());
  keys.push_back("later");
  std::vector<std::optional<Entry>> found = Reopened(keys);
  EXPECT_TRUE(found[0].has_value());
  for (size_t i = 1; i < batches.size(); ++i) EXPECT_FALSE(found[i].has_value()) << keys[i];
  EXPECT_TRUE(found.back().has_value());
}

TEST_F(GroupCommitTest, ARevisionConflictFailsOnlyItsOwnCaller) {
  WriteBatch existing;
  existing.Put("taken", "old");
  ASSERT_TRUE(storage_->Commit(existing).ok());
  ControlledStorage controlled(storage_.get());
  GroupCommit group(&controlled);
  std::vector<WriteBatch> batches(4);
  batches[0].Put("first", "v");
  batches[1].Put("a", "v", WriteBatch::kMustNotExist);
  batches[2].Put("taken", "new", WriteBatch::kMustNotExist);  // conflicts
  batches[3].Put("b", "v", WriteBatch::kMustNotExist);
  std::vector<absl::Status> status = HeldThenQueued(&controlled, &group, &batches);
  EXPECT_TRUE(status[0].ok());
  EXPECT_TRUE(status[1].ok()) << status[1];
  EXPECT_TRUE(absl::IsAborted(status[2])) << status[2];
  EXPECT_TRUE(status[3].ok()) << status[3];
  std::vector<std::optional<Entry>> found = Reopened({"a", "taken", "b"});
  EXPECT_TRUE(found[0].has_value());
  EXPECT_EQ(found[1]->value, "old");
  EXPECT_TRUE(found[2].has_value());
}

// One failed check among many queued batches splits the group in halves rather than
// committing every batch on its own: 33 batches cost at most 2 + 2*log2(32) commits.
TEST_F(GroupCommitTest, ARevisionConflictKeepsTheRestGrouped) {
  WriteBatch existing;
  existing.Put("taken", "old");
  ASSERT_TRUE(storage_->Commit(existing).ok());
  ControlledStorage controlled(storage_.get());
  GroupCommit group(&controlled);
  std::vector<WriteBatch> batches(33);
  std::vector<std::string> keys;
  for (size_t i = 0; i < batches.size(); ++i) {
    keys.push_back(i == 17 ? "taken" : absl::StrCat("k", i));
    batches[i].Put(keys.back(), "new", WriteBatch::kMustNotExist);
  }
  std::vector<absl::Status> status = HeldThenQueued(&controlled, &group, &batches);
  for (size_t i = 0; i < status.size(); ++i) {
    EXPECT_EQ(absl::IsAborted(status[i]), i == 17) << i << ": " << status[i];
    if (i != 17) EXPECT_TRUE(status[i].ok()) << i << ": " << status[i];
  }
  EXPECT_LE(group.storage_commits(), 2u + 2u * 5u);
  std::vector<std::optional<Entry>> found = Reopened(keys);
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(found[i].has_value()) << keys[i];
    EXPECT_EQ(found[i]->value, i == 17 ? "old" : "new") << keys[i];
  }
}

TEST_F(GroupCommitTest, BatchesOnTheSameKeyAreNeverMerged) {
  ControlledStorage controlled(storage_.get());
  GroupCommit group(&controlled);
  std::vector<WriteBatch> batches(3);
  batches[0].Put("first", "v");
  batches[1].Put("same", "one", WriteBatch::kMustNotExist);
  batches[2].Put("same", "two", WriteBatch::kMustNotExist);
  std::vector<absl::Status> status = HeldThenQueued(&controlled, &group, &batches);
  EXPECT_TRUE(status[0].ok());
  // Merged, both checks would have seen "same" missing and the second would overwrite.
  EXPECT_TRUE(status[1].ok()) << status[1];
  EXPECT_TRUE(absl::IsAborted(status[2])) << status[2];
  EXPECT_EQ(Reopened({"same"})[0]->value, "one");
}

// A merged batch could not carry a batch's lease requirement: such a batch commits alone,
// and fails alone when its lease does not hold.
TEST_F(GroupCommitTest, BatchesThatRequireALeaseAreNeverMerged) {
  ControlledStorage controlled(storage_.get());
  GroupCommit group(&controlled);
  std::vector<WriteBatch> batches(4);
  batches[0].Put("first", "v");
  batches[1].Put("plain", "v");
  batches[2].Put("fenced", "v").RequireLease({"background", "n", kSingleWriterLeaseEpoch + 1});
  batches[3].Put("after", "v");
  std::vector<absl::Status> status = HeldThenQueued(&controlled, &group, &batches);
  EXPECT_TRUE(status[0].ok()) << status[0];
  EXPECT_TRUE(status[1].ok()) << status[1];
  EXPECT_EQ(status[2].code(), absl::StatusCode::kFailedPrecondition) << status[2];
  EXPECT_TRUE(status[3].ok()) << status[3];
  std::vector<std::optional<Entry>> found = Reopened({"plain", "fenced", "after"});
  EXPECT_TRUE(found[0].has_value());
  EXPECT_FALSE(found[1].has_value());
  EXPECT_TRUE(found[2].has_value());
}

}  // namespace
}  // namespace strongroom::kms
