// SQLite-specific behaviour: files, permissions, identity and schema checks. The Storage
// contract itself is tested for every backend in storage_conformance_test.cc.
#include "kms/sqlite_storage.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace strongroom::kms {
namespace {

using ::testing::HasSubstr;

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

}  // namespace
}  // namespace strongroom::kms
