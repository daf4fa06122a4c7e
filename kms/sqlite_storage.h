// SqliteStorage: the embedded Storage backend, one SQLite database file.
//
// Contract: implements Storage (see storage.h). The database runs in WAL mode with
// synchronous=FULL, so a Commit that returned OK survives a process kill or power loss.
// Open creates the file (mode 0600, the parent directory must exist) and applies any
// pending schema migrations; it refuses, naming the path, a file that is not a Strongroom
// SQLite database or whose schema version is newer than this build knows.
//
// Failures: environmental faults (disk full, I/O error, database locked past the 5 s busy
// timeout, read-only or unopenable file) are UNAVAILABLE; a failed revision check is
// ABORTED naming the key; a corrupt database is DATA_LOSS; anything else SQLite reports is
// INTERNAL. A failed Commit applies nothing. Error messages never contain values.
//
// Thread safety: every method may be called from many threads. All calls share a single
// connection serialized by a mutex; several SqliteStorage objects or processes may open
// the same file (writers then take turns through SQLite's locks and the busy timeout).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "kms/storage.h"

namespace strongroom::kms {

class SqliteStorage final : public Storage {
 public:
  // Schema version written by the newest migration this build knows.
  static uint32_t LatestSchemaVersion();

  // Opens (creating if missing) the database at `path` and migrates it to the latest
  // schema version. INVALID_ARGUMENT for an empty path, FAILED_PRECONDITION for a file
  // that is not a Strongroom database or has a newer schema, UNAVAILABLE for I/O faults.
  static absl::StatusOr<std::unique_ptr<SqliteStorage>> Open(const std::string& path);

  SqliteStorage(const SqliteStorage&) = delete;
  SqliteStorage& operator=(const SqliteStorage&) = delete;
  ~SqliteStorage() override;

  absl::StatusOr<std::optional<Entry>> Get(absl::string_view key) override;
  absl::StatusOr<std::vector<Entry>> List(absl::string_view prefix, absl::string_view start_after,
                                          size_t limit) override;
  absl::Status Commit(const WriteBatch& batch) override;

  std::string Backend() const override { return "sqlite"; }
  std::string Location() const override { return path_; }
  uint32_t SchemaVersion() const override { return schema_version_; }

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };
  using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
  using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

  // Prepared statements, cached for the lifetime of the connection. Declared after db_ so
  // they are finalized before it is closed.
  struct Statements {
    StmtPtr begin_immediate;
    StmtPtr commit;
    StmtPtr rollback;
    StmtPtr get;
    StmtPtr get_revision;
    StmtPtr list_bounded;    // prefix has an upper bound
    StmtPtr list_unbounded;  // prefix is empty or all 0xFF bytes
    StmtPtr read_counter;
    StmtPtr write_counter;
    StmtPtr upsert;
    StmtPtr remove;
  };

  SqliteStorage(std::string path, DbPtr db, Statements statements, uint32_t schema_version);

  // Body of Commit inside the open transaction; the caller rolls back on error.
  absl::Status CommitLocked(const WriteBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rolls back the open transaction, if SQLite has not already done so.
  void RollbackLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs a statement that returns no rows (BEGIN, COMMIT, writes).
  absl::Status StepDone(sqlite3_stmt* stmt, absl::string_view operation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(int rc, absl::string_view operation) const;

  const std::string path_;
  const uint32_t schema_version_;
  absl::Mutex mu_;
  DbPtr db_ ABSL_GUARDED_BY(mu_);
  Statements stmts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strongroom::kms
