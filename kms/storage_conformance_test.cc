// The Storage contract (kms/storage.h), run against every backend: SQLite and PostgreSQL.
// Backend-specific behaviour (files, permissions, connection handling) is tested beside each
// backend; what is here must hold for all of them.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kms/storage.h"
#include "tests/testing/storage_backends.h"

namespace strongroom::kms {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;

Entry MustGet(Storage& storage, absl::string_view key) {
  absl::StatusOr<std::optional<Entry>> entry = storage.Get(key);
  EXPECT_TRUE(entry.ok()) << entry.status();
  EXPECT_TRUE(entry.ok() && entry->has_value()) << "missing key " << key;
  return entry.ok() && entry->has_value() ? **entry : Entry{};
}

bool Exists(Storage& storage, absl::string_view key) {
  absl::StatusOr<std::optional<Entry>> entry = storage.Get(key);
  EXPECT_TRUE(entry.ok()) << entry.status();
  return entry.ok() && entry->has_value();
}

std::vector<std::string> Keys(const std::vector<Entry>& entries) {
  std::vector<std::string> keys;
  for (const Entry& entry : entries) keys.push_back(entry.key);
  return keys;
}

std::vector<std::string> ListKeys(Storage& storage, absl::string_view prefix,
                                  absl::string_view start_after, size_t limit) {
  absl::StatusOr<std::vector<Entry>> entries = storage.List(prefix, start_after, limit);
  EXPECT_TRUE(entries.ok()) << entries.status();
  return entries.ok() ? Keys(*entries) : std::vector<std::string>{};
}

// Parameter: the backend name. Each test gets a fresh, empty database.
class StorageContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    backend_ = testing::MakeStorageBackend(GetParam());
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    absl::Status status = backend_->NewDatabase(info->name());
    ASSERT_TRUE(status.ok()) << status;
  }

  // Opens another Storage on this test's database; fails the test if it cannot.
  std::unique_ptr<Storage> OpenStorage() {
    absl::StatusOr<std::unique_ptr<Storage>> storage = backend_->Open();
    EXPECT_TRUE(storage.ok()) << storage.status();
    return storage.ok() ? std::move(*storage) : nullptr;
  }

  std::unique_ptr<testing::StorageBackend> backend_;
};

class StorageListTest : public StorageContractTest {
 protected:
  void SetUp() override {
    StorageContractTest::SetUp();
    if (HasFatalFailure()) return;
    storage_ = OpenStorage();
    ASSERT_NE(storage_, nullptr);
    WriteBatch batch;
    // Inserted out of order; List must sort by unsigned bytes.
    for (const std::string& key : std::vector<std::string>{
             "b", "a/2", "\xff\xff", "a", "a\xff\xffz", "a/3", "a\xff", "a\x80",
             std::string("a\xff\x00", 3), "a/1", "\xff", "a\xff\xff"}) {
      batch.Put(key, absl::StrCat("value of ", key));
    }
    ASSERT_TRUE(storage_->Commit(batch).ok());
  }

  std::unique_ptr<Storage> storage_;
};

TEST_P(StorageContractTest, PutGetDeleteRoundTrip) {
  std::unique_ptr<Storage> storage = OpenStorage();
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->Backend(), GetParam());

  absl::StatusOr<std::optional<Entry>> missing = storage->Get("sys/kek");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->has_value());

  const std::string binary_value("\x00\x01\xff\x00wrapped", 11);
  const std::string binary_key("bin/\x00\xff", 6);
  ASSERT_TRUE(storage
                  ->Commit(WriteBatch()
                               .Put("sys/kek", "wrapped-kek")
                               .Put(binary_key, binary_value)
                               .Put("empty", ""))
                  .ok());
  Entry kek = MustGet(*storage, "sys/kek");
  EXPECT_EQ(kek.key, "sys/kek");
  EXPECT_EQ(kek.value, "wrapped-kek");
  EXPECT_GT(kek.revision, 0);
  EXPECT_EQ(MustGet(*storage, binary_key).value, binary_value);
  EXPECT_FALSE(Exists(*storage, "bin/"));  // The NUL byte is part of the key.
  EXPECT_EQ(MustGet(*storage, "empty").value, "");

  ASSERT_TRUE(storage->Commit(WriteBatch().Put("sys/kek", "rewrapped")).ok());
  EXPECT_EQ(MustGet(*storage, "sys/kek").value, "rewrapped");

  ASSERT_TRUE(storage->Commit(WriteBatch().Delete("sys/kek")).ok());
  EXPECT_FALSE(Exists(*storage, "sys/kek"));
  EXPECT_TRUE(Exists(*storage, binary_key));

  // Deleting a missing key without a revision check is not an error.
  EXPECT_TRUE(storage->Commit(WriteBatch().Delete("sys/kek")).ok());
  EXPECT_TRUE(storage->Commit(WriteBatch()).ok());
}

TEST_P(StorageContractTest, RejectsInvalidOps) {
  std::unique_ptr<Storage> storage = OpenStorage();
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->Commit(WriteBatch().Put("", "v")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(storage->Commit(WriteBatch().Put("a", "v").Put("b", "v", -2)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Exists(*storage, "a"));
}

TEST_P(StorageContractTest, RevisionsGrowAndNeverGoBackwards) {
  int64_t last = 0;
  {
    std::unique_ptr<Storage> storage = OpenStorage();
    ASSERT_NE(storage, nullptr);
    ASSERT_TRUE(storage->Commit(WriteBatch().Put("a", "1")).ok());
    const int64_t first = MustGet(*storage, "a").revision;
    ASSERT_TRUE(storage->Commit(WriteBatch().Put("b", "1").Put("c", "1")).ok());
    const int64_t second = MustGet(*storage, "b").revision;
    EXPECT_GT(second, first);
    EXPECT_EQ(MustGet(*storage, "c").revision, second);  // One revision per commit.
    EXPECT_EQ(MustGet(*storage, "a").revision, first);   // Untouched entries keep theirs.

    // Deleting the newest entries must not hand their revision out again.
    ASSERT_TRUE(storage->Commit(WriteBatch().Delete("b").Delete("c")).ok());
    ASSERT_TRUE(storage->Commit(WriteBatch().Put("b", "2")).ok());
    last = MustGet(*storage, "b").revision;
    EXPECT_GT(last, second);
    ASSERT_TRUE(storage->Commit(WriteBatch().Delete("b")).ok());
  }
  std::unique_ptr<Storage> reopened = OpenStorage();
  ASSERT_NE(reopened, nullptr);
  ASSERT_TRUE(reopened->Commit(WriteBatch().Put("d", "1")).ok());
  EXPECT_GT(MustGet(*reopened, "d").revision, last);
}

TEST_P(StorageContractTest, CompareAndSet) {
  std::unique_ptr<Storage> storage = OpenStorage();
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->Commit(WriteBatch().Put("k", "v1")).ok());
  const int64_t rev1 = MustGet(*storage, "k").revision;

  ASSERT_TRUE(storage->Commit(WriteBatch().Put("k", "v2", rev1)).ok());
  const Entry v2 = MustGet(*storage, "k");
  EXPECT_EQ(v2.value, "v2");

  // A stale revision is refused and names the key, but not the value.
  absl::Status stale = storage->Commit(WriteBatch().Put("k", "secret-v3", rev1));
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_THAT(stale.message(), HasSubstr("\"k\""));
  EXPECT_THAT(stale.message(), Not(HasSubstr("secret")));
  EXPECT_EQ(MustGet(*storage, "k").value, "v2");

  // Deletes are checked too.
  EXPECT_EQ(storage->Commit(WriteBatch().Delete("k", rev1)).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(Exists(*storage, "k"));
  EXPECT_EQ(storage->Commit(WriteBatch().Delete("absent", 5)).code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(storage->Commit(WriteBatch().Delete("k", v2.revision)).ok());
  EXPECT_FALSE(Exists(*storage, "k"));
}

TEST_P(StorageContractTest, FailedCheckAppliesNothingOfTheBatch) {
  std::unique_ptr<Storage> storage = OpenStorage();
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->Commit(WriteBatch().Put("x", "x1").Put("y", "y1")).ok());
  const Entry x = MustGet(*storage, "x");
  const Entry y = MustGet(*storage, "y");

  absl::Status status = storage->Commit(WriteBatch()
                                            .Put("x", "x2", x.revision)  // Would succeed.
                                            .Put("new", "n1")            // Would succeed.
                                            .Delete("y", y.revision + 100));
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_THAT(status.message(), HasSubstr("\"y\""));
  const Entry x_after = MustGet(*storage, "x");
  EXPECT_EQ(x_after.value, "x1");
  EXPECT_EQ(x_after.revision, x.revision);
  EXPECT_TRUE(Exists(*storage, "y"));
  EXPECT_FALSE(Exists(*storage, "new"));

  // The connection is usable after the rollback.
  ASSERT_TRUE(storage->Commit(WriteBatch().Put("x", "x2", x.revision)).ok());
  EXPECT_EQ(MustGet(*storage, "x").value, "x2");
}

TEST_P(StorageContractTest, ChecksUseTheStateBeforeTheBatch) {
  std::unique_ptr<Storage> storage = OpenStorage();
  ASSERT_NE(storage, nullptr);
  // Both ops are checked against "k absent"; the second put wins.
  ASSERT_TRUE(storage
                  ->Commit(WriteBatch()
                               .Put("k", "first", WriteBatch::kMustNotExist)
                               .Put("k", "second", WriteBatch::kMustNotExist))
                  .ok());
  EXPECT_EQ(MustGet(*storage, "k").value, "second");
}

TEST_P(StorageContractTest, MustNotExist) {
  std::unique_ptr<Storage> storage = OpenStorage();
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->Commit(WriteBatch().Put("k", "v1", WriteBatch::kMustNotExist)).ok());
  absl::Status again = storage->Commit(WriteBatch().Put("k", "v2", WriteBatch::kMustNotExist));
  EXPECT_EQ(again.code(), absl::StatusCode::kAborted) << again;
  EXPECT_THAT(again.message(), HasSubstr("\"k\""));
  EXPECT_EQ(MustGet(*storage, "k").value, "v1");

  EXPECT_EQ(storage->Commit(WriteBatch().Delete("k", WriteBatch::kMustNotExist)).code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(storage->Commit(WriteBatch().Delete("other", WriteBatch::kMustNotExist)).ok());
}

TEST_P(StorageListTest, Prefix) {
  EXPECT_THAT(ListKeys(*storage_, "a/", "", 0), ElementsAreArray({"a/1", "a/2", "a/3"}));
  EXPECT_THAT(ListKeys(*storage_, "a/2", "", 0), ElementsAreArray({"a/2"}));
  EXPECT_THAT(ListKeys(*storage_, "c", "", 0), ElementsAreArray(std::vector<std::string>{}));
  EXPECT_THAT(ListKeys(*storage_, "a", "", 0),
              ElementsAreArray({std::string("a"), std::string("a/1"), std::string("a/2"),
                                std::string("a/3"), std::string("a\x80"), std::string("a\xff"),
                                std::string("a\xff\x00", 3), std::string("a\xff\xff"),
                                std::string("a\xff\xffz")}));

  absl::StatusOr<std::vector<Entry>> entries = storage_->List("a/1", "", 0);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].value, "value of a/1");
  EXPECT_GT((*entries)[0].revision, 0);
}

TEST_P(StorageListTest, PrefixEndingInFF) {
  EXPECT_THAT(ListKeys(*storage_, "a\xff", "", 0),
              ElementsAreArray({std::string("a\xff"), std::string("a\xff\x00", 3),
                                std::string("a\xff\xff"), std::string("a\xff\xffz")}));
  EXPECT_THAT(ListKeys(*storage_, "a\xff\xff", "", 0),
              ElementsAreArray({"a\xff\xff", "a\xff\xffz"}));
  EXPECT_THAT(ListKeys(*storage_, "\xff", "", 0), ElementsAreArray({"\xff", "\xff\xff"}));
  EXPECT_THAT(ListKeys(*storage_, "\xff\xff", "", 0), ElementsAreArray({"\xff\xff"}));
  EXPECT_THAT(ListKeys(*storage_, "\xff\xff\xff", "", 0),
              ElementsAreArray(std::vector<std::string>{}));
}

TEST_P(StorageListTest, EmptyPrefixListsEverythingInByteOrder) {
  EXPECT_THAT(ListKeys(*storage_, "", "", 0),
              ElementsAreArray({std::string("a"), std::string("a/1"), std::string("a/2"),
                                std::string("a/3"), std::string("a\x80"), std::string("a\xff"),
                                std::string("a\xff\x00", 3), std::string("a\xff\xff"),
                                std::string("a\xff\xffz"), std::string("b"), std::string("\xff"),
                                std::string("\xff\xff")}));
  EXPECT_THAT(ListKeys(*storage_, "", "b", 0), ElementsAreArray({"\xff", "\xff\xff"}));
}

TEST_P(StorageListTest, StartAfterAndLimit) {
  EXPECT_THAT(ListKeys(*storage_, "a/", "", 2), ElementsAreArray({"a/1", "a/2"}));
  EXPECT_THAT(ListKeys(*storage_, "a/", "a/2", 2), ElementsAreArray({"a/3"}));
  EXPECT_THAT(ListKeys(*storage_, "a/", "a/3", 2), ElementsAreArray(std::vector<std::string>{}));
  // start_after before the prefix, or between keys.
  EXPECT_THAT(ListKeys(*storage_, "a/", "0", 0), ElementsAreArray({"a/1", "a/2", "a/3"}));
  EXPECT_THAT(ListKeys(*storage_, "a/", "a/15", 0), ElementsAreArray({"a/2", "a/3"}));
  EXPECT_THAT(ListKeys(*storage_, "a/", "z", 0), ElementsAreArray(std::vector<std::string>{}));
  EXPECT_THAT(ListKeys(*storage_, "a/", "", 100), ElementsAreArray({"a/1", "a/2", "a/3"}));

  // Paging through everything with a small limit yields every key exactly once.
  std::vector<std::string> paged;
  std::string cursor;
  for (int pages = 0; pages < 100; ++pages) {
    std::vector<std::string> page = ListKeys(*storage_, "", cursor, 5);
    ASSERT_LE(page.size(), 5u);
    if (page.empty()) break;
    paged.insert(paged.end(), page.begin(), page.end());
    cursor = page.back();
  }
  EXPECT_EQ(paged, ListKeys(*storage_, "", "", 0));
  EXPECT_EQ(paged.size(), 12u);
}

TEST_P(StorageContractTest, ReopenKeepsData) {
  int64_t revision = 0;
  {
    std::unique_ptr<Storage> storage = OpenStorage();
    ASSERT_NE(storage, nullptr);
    ASSERT_TRUE(storage->Commit(WriteBatch().Put("transit/keys/payments", "blob")).ok());
    revision = MustGet(*storage, "transit/keys/payments").revision;
  }
  std::unique_ptr<Storage> reopened = OpenStorage();
  ASSERT_NE(reopened, nullptr);
  EXPECT_GE(reopened->SchemaVersion(), 1u);
  const Entry entry = MustGet(*reopened, "transit/keys/payments");
  EXPECT_EQ(entry.value, "blob");
  EXPECT_EQ(entry.revision, revision);
}

TEST_P(StorageContractTest, TwoObjectsOnOneDatabaseSeeEachOther) {
  std::unique_ptr<Storage> first = OpenStorage();
  std::unique_ptr<Storage> second = OpenStorage();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->Commit(WriteBatch().Put("k", "v", WriteBatch::kMustNotExist)).ok());
  EXPECT_EQ(MustGet(*second, "k").value, "v");
  EXPECT_EQ(second->Commit(WriteBatch().Put("k", "w", WriteBatch::kMustNotExist)).code(),
            absl::StatusCode::kAborted);
}

// An unchecked op followed by a checked one on the same key: the check still sees the
// state before the batch.
TEST_P(StorageContractTest, LaterCheckOnAKeyTheBatchAlreadyWrote) {
  std::unique_ptr<Storage> storage = OpenStorage();
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->Commit(WriteBatch().Put("k", "v1")).ok());
  const int64_t rev1 = MustGet(*storage, "k").revision;
  ASSERT_TRUE(storage->Commit(WriteBatch().Put("k", "v2").Put("k", "v3", rev1)).ok());
  EXPECT_EQ(MustGet(*storage, "k").value, "v3");
  const int64_t rev2 = MustGet(*storage, "k").revision;
  absl::Status status = storage->Commit(WriteBatch().Delete("k").Put("k", "v4", rev2 + 1000));
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_EQ(MustGet(*storage, "k").value, "v3");
}

// Increments one counter with compare-and-set from many threads, across two Storage objects
// (two SQLite connections, or two PostgreSQL connection pools, contend as well).
TEST_P(StorageContractTest, ConcurrentCompareAndSetIncrements) {
  constexpr int kThreads = 8;
  constexpr int kIncrementsPerThread = 40;
  std::unique_ptr<Storage> storages[2] = {OpenStorage(), OpenStorage()};
  ASSERT_NE(storages[0], nullptr);
  ASSERT_NE(storages[1], nullptr);

  std::vector<std::thread> threads;
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Storage& storage = *storages[t % 2];
      for (int done = 0; done < kIncrementsPerThread;) {
        absl::StatusOr<std::optional<Entry>> current = storage.Get("counter");
        if (!current.ok()) {
          errors[t] = current.status().ToString();
          return;
        }
        int64_t value = 0;
        int64_t expected = WriteBatch::kMustNotExist;
        if (current->has_value()) {
          if (!absl::SimpleAtoi((*current)->value, &value)) {
            errors[t] = "bad counter value";
            return;
          }
          expected = (*current)->revision;
        }
        absl::Status status =
            storage.Commit(WriteBatch().Put("counter", absl::StrCat(value + 1), expected));
        if (status.ok()) {
          ++done;
        } else if (!absl::IsAborted(status)) {
          errors[t] = status.ToString();
          return;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;

  const Entry counter = MustGet(*storages[0], "counter");
  EXPECT_EQ(counter.value, absl::StrCat(kThreads * kIncrementsPerThread));
}

// A batch that requires the lease as it was granted commits; one that requires another
// epoch (the lease as a holder had it before a takeover) applies nothing.
TEST_P(StorageContractTest, LeaseRequirementFencesTheBatch) {
  std::unique_ptr<Storage> storage = OpenStorage();
  ASSERT_NE(storage, nullptr);
  absl::StatusOr<LeaseState> lease =
      storage->AcquireLease("background", "node-a", absl::Seconds(30));
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(lease->held);
  const LeaseFence held{"background", "node-a", lease->epoch};
  ASSERT_TRUE(storage->Commit(WriteBatch().Put("job", "1").RequireLease(held)).ok());
  EXPECT_EQ(MustGet(*storage, "job").value, "1");

  for (const LeaseFence& stale : {LeaseFence{"background", "node-a", lease->epoch + 1},
                                  LeaseFence{"background", "node-a", lease->epoch - 1}}) {
    absl::Status status =
        storage->Commit(WriteBatch().Put("job", "2").Put("other", "x").RequireLease(stale));
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_THAT(status.message(), HasSubstr("background"));
    EXPECT_EQ(MustGet(*storage, "job").value, "1");
    EXPECT_FALSE(Exists(*storage, "other"));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageContractTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Backends, StorageListTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace strongroom::kms
