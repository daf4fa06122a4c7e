#include "kms/sqlite_storage.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strongroom::kms {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;

// A fresh database path under $TEST_TMPDIR, unique per test.
std::string TempDbPath(absl::string_view name = "storage.db") {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string dir =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", info->test_suite_name(), ".", info->name());
  mkdir(dir.c_str(), 0700);
  std::string path = absl::StrCat(dir, "/", name);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::remove(absl::StrCat(path, suffix).c_str());
  }
  return path;
}

std::unique_ptr<SqliteStorage> MustOpen(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteStorage>> storage = SqliteStorage::Open(path);
  EXPECT_TRUE(storage.ok()) << storage.status();
  return storage.ok() ? std::move(*storage) : nullptr;
}

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

// Runs a statement through a connection of its own, outside SqliteStorage.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, &sqlite3_close_v2);
  ASSERT_EQ(rc, SQLITE_OK) << sqlite3_errstr(rc);
  rc = sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, nullptr);
  ASSERT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db.get());
}

std::string RawQueryText(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, &sqlite3_close_v2);
  if (rc != SQLITE_OK) return absl::StrCat("open failed: ", sqlite3_errstr(rc));
  sqlite3_stmt* raw_stmt = nullptr;
  rc = sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &raw_stmt, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw_stmt, &sqlite3_finalize);
  if (rc != SQLITE_OK || sqlite3_step(stmt.get()) != SQLITE_ROW) {
    return absl::StrCat("query failed: ", sqlite3_errmsg(db.get()));
  }
  const unsigned char* text = sqlite3_column_text(stmt.get(), 0);
  return text != nullptr ? reinterpret_cast<const char*>(text) : "";
}

TEST(SqliteStorageTest, PutGetDeleteRoundTrip) {
  std::unique_ptr<SqliteStorage> storage = MustOpen(TempDbPath());
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->Backend(), "sqlite");

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

TEST(SqliteStorageTest, RejectsInvalidOps) {
  std::unique_ptr<SqliteStorage> storage = MustOpen(TempDbPath());
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->Commit(WriteBatch().Put("", "v")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(storage->Commit(WriteBatch().Put("a", "v").Put("b", "v", -2)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Exists(*storage, "a"));
}

TEST(SqliteStorageTest, RevisionsGrowAndNeverGoBackwards) {
  const std::string path = TempDbPath();
  int64_t last = 0;
  {
    std::unique_ptr<SqliteStorage> storage = MustOpen(path);
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
  std::unique_ptr<SqliteStorage> reopened = MustOpen(path);
  ASSERT_NE(reopened, nullptr);
  ASSERT_TRUE(reopened->Commit(WriteBatch().Put("d", "1")).ok());
  EXPECT_GT(MustGet(*reopened, "d").revision, last);
}

TEST(SqliteStorageTest, CompareAndSet) {
  std::unique_ptr<SqliteStorage> storage = MustOpen(TempDbPath());
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

TEST(SqliteStorageTest, FailedCheckAppliesNothingOfTheBatch) {
  std::unique_ptr<SqliteStorage> storage = MustOpen(TempDbPath());
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

TEST(SqliteStorageTest, ChecksUseTheStateBeforeTheBatch) {
  std::unique_ptr<SqliteStorage> storage = MustOpen(TempDbPath());
  ASSERT_NE(storage, nullptr);
  // Both ops are checked against "k absent"; the second put wins.
  ASSERT_TRUE(storage
                  ->Commit(WriteBatch()
                               .Put("k", "first", WriteBatch::kMustNotExist)
                               .Put("k", "second", WriteBatch::kMustNotExist))
                  .ok());
  EXPECT_EQ(MustGet(*storage, "k").value, "second");
}

TEST(SqliteStorageTest, MustNotExist) {
  std::unique_ptr<SqliteStorage> storage = MustOpen(TempDbPath());
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

class SqliteStorageListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = MustOpen(TempDbPath());
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

  std::unique_ptr<SqliteStorage> storage_;
};

TEST_F(SqliteStorageListTest, Prefix) {
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

TEST_F(SqliteStorageListTest, PrefixEndingInFF) {
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

TEST_F(SqliteStorageListTest, EmptyPrefixListsEverythingInByteOrder) {
  EXPECT_THAT(ListKeys(*storage_, "", "", 0),
              ElementsAreArray({std::string("a"), std::string("a/1"), std::string("a/2"),
                                std::string("a/3"), std::string("a\x80"), std::string("a\xff"),
                                std::string("a\xff\x00", 3), std::string("a\xff\xff"),
                                std::string("a\xff\xffz"), std::string("b"), std::string("\xff"),
                                std::string("\xff\xff")}));
  EXPECT_THAT(ListKeys(*storage_, "", "b", 0), ElementsAreArray({"\xff", "\xff\xff"}));
}

TEST_F(SqliteStorageListTest, StartAfterAndLimit) {
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

TEST(SqliteStorageTest, ReopenKeepsDataAndSchemaVersion) {
  const std::string path = TempDbPath();
  int64_t revision = 0;
  {
    std::unique_ptr<SqliteStorage> storage = MustOpen(path);
    ASSERT_NE(storage, nullptr);
    EXPECT_EQ(storage->SchemaVersion(), SqliteStorage::LatestSchemaVersion());
    EXPECT_EQ(storage->Location(), path);
    ASSERT_TRUE(storage->Commit(WriteBatch().Put("transit/keys/payments", "blob")).ok());
    revision = MustGet(*storage, "transit/keys/payments").revision;
  }
  EXPECT_EQ(RawQueryText(path, "PRAGMA user_version"),
            absl::StrCat(SqliteStorage::LatestSchemaVersion()));
  EXPECT_EQ(RawQueryText(path, "PRAGMA journal_mode"), "wal");

  std::unique_ptr<SqliteStorage> reopened = MustOpen(path);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->SchemaVersion(), SqliteStorage::LatestSchemaVersion());
  const Entry entry = MustGet(*reopened, "transit/keys/payments");
  EXPECT_EQ(entry.value, "blob");
  EXPECT_EQ(entry.revision, revision);
}

TEST(SqliteStorageTest, TwoObjectsOnOneFileSeeEachOther) {
  const std::string path = TempDbPath();
  std::unique_ptr<SqliteStorage> first = MustOpen(path);
  std::unique_ptr<SqliteStorage> second = MustOpen(path);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->Commit(WriteBatch().Put("k", "v", WriteBatch::kMustNotExist)).ok());
  EXPECT_EQ(MustGet(*second, "k").value, "v");
  EXPECT_EQ(second->Commit(WriteBatch().Put("k", "w", WriteBatch::kMustNotExist)).code(),
            absl::StatusCode::kAborted);
}

TEST(SqliteStorageTest, RefusesFileThatIsNotADatabase) {
  const std::string path = TempDbPath();
  const std::string contents(4096, 'x');
  {
    std::ofstream out(path, std::ios::binary);
    out << contents;
  }
  absl::StatusOr<std::unique_ptr<SqliteStorage>> storage = SqliteStorage::Open(path);
  ASSERT_FALSE(storage.ok());
  EXPECT_EQ(storage.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(storage.status().message(), HasSubstr(path));
  EXPECT_THAT(storage.status().message(), HasSubstr("not a SQLite database"));

  // The file is left untouched.
  std::ifstream in(path, std::ios::binary);
  std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, contents);
}

TEST(SqliteStorageTest, RefusesForeignSqliteDatabase) {
  const std::string path = TempDbPath();
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, &sqlite3_close_v2);
    ASSERT_EQ(sqlite3_exec(db.get(), "CREATE TABLE other (x)", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  absl::StatusOr<std::unique_ptr<SqliteStorage>> storage = SqliteStorage::Open(path);
  ASSERT_FALSE(storage.ok());
  EXPECT_EQ(storage.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(storage.status().message(), HasSubstr(path));
  EXPECT_THAT(storage.status().message(), HasSubstr("not a Strongroom"));
}

TEST(SqliteStorageTest, RefusesNewerSchemaVersion) {
  const std::string path = TempDbPath();
  {
    std::unique_ptr<SqliteStorage> storage = MustOpen(path);
    ASSERT_NE(storage, nullptr);
    ASSERT_TRUE(storage->Commit(WriteBatch().Put("k", "v")).ok());
  }
  const uint32_t future = SqliteStorage::LatestSchemaVersion() + 1;
  RawExec(path, absl::StrCat("PRAGMA user_version = ", future));

  absl::StatusOr<std::unique_ptr<SqliteStorage>> storage = SqliteStorage::Open(path);
  ASSERT_FALSE(storage.ok());
  EXPECT_EQ(storage.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(storage.status().message(), HasSubstr(path));
  EXPECT_THAT(storage.status().message(), HasSubstr(absl::StrCat("schema version ", future)));
  EXPECT_THAT(storage.status().message(), HasSubstr("newer"));
}

TEST(SqliteStorageTest, MissingDirectoryFailsNamingThePath) {
  const std::string path = TempDbPath("no/such/dir/storage.db");
  absl::StatusOr<std::unique_ptr<SqliteStorage>> storage = SqliteStorage::Open(path);
  ASSERT_FALSE(storage.ok());
  EXPECT_EQ(storage.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(storage.status().message(), HasSubstr(path));

  EXPECT_EQ(SqliteStorage::Open("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SqliteStorageTest, DatabaseFilesAreOwnerOnly) {
  const std::string path = TempDbPath();
  // Even a umask that strips the owner's write bit must not leave the file unusable, and a
  // permissive one must not widen it.
  for (mode_t mask : {mode_t{0277}, mode_t{0000}}) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove(absl::StrCat(path, suffix).c_str());
    }
    const mode_t old_mask = umask(mask);
    absl::StatusOr<std::unique_ptr<SqliteStorage>> storage = SqliteStorage::Open(path);
    umask(old_mask);
    ASSERT_TRUE(storage.ok()) << storage.status();
    ASSERT_TRUE((*storage)->Commit(WriteBatch().Put("k", "v")).ok());
    for (const char* suffix : {"", "-wal", "-shm"}) {
      struct stat st;
      ASSERT_EQ(stat(absl::StrCat(path, suffix).c_str(), &st), 0) << suffix;
      EXPECT_EQ(st.st_mode & 07777, 0600) << "umask " << mask << " file " << path << suffix;
    }
  }
}

// Increments one counter with compare-and-set from many threads, across two SqliteStorage
// objects (so two SQLite connections contend for the write lock as well).
TEST(SqliteStorageTest, ConcurrentCompareAndSetIncrements) {
  constexpr int kThreads = 8;
  constexpr int kIncrementsPerThread = 40;
  const std::string path = TempDbPath();
  std::unique_ptr<SqliteStorage> storages[2] = {MustOpen(path), MustOpen(path)};
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

}  // namespace
}  // namespace strongroom::kms
