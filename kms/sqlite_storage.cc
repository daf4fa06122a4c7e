#include "kms/sqlite_storage.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace strongroom::kms {
namespace {

constexpr int kBusyTimeoutMs = 5000;

// PRAGMA application_id of a Strongroom storage database ("SRKS"), set by migration 1. It
// lets Open tell our databases apart from other SQLite files.
constexpr int64_t kApplicationId = 0x53524B53;

// One schema migration: applied in its own transaction, after which PRAGMA user_version
// is `version`. Append new steps at the end; never edit a step that has shipped.
struct Migration {
  uint32_t version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
      CREATE TABLE entries (
        key BLOB NOT NULL PRIMARY KEY CHECK (typeof(key) = 'blob' AND length(key) > 0),
        value BLOB NOT NULL CHECK (typeof(value) = 'blob'),
        revision INTEGER NOT NULL CHECK (revision > 0)
      );
      -- The last revision handed out. Kept apart from entries so that deletes never make
      -- it go backwards.
      CREATE TABLE revision_counter (
        id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        last_revision INTEGER NOT NULL CHECK (last_revision >= 0)
      );
      INSERT INTO revision_counter (id, last_revision) VALUES (1, 0);
      PRAGMA application_id = 1397902163;
    )sql"},
};
static_assert(kApplicationId == 1397902163, "migration 1 writes kApplicationId literally");

constexpr bool MigrationsAreContiguous() {
  for (size_t i = 0; i < std::size(kMigrations); ++i) {
    if (kMigrations[i].version != i + 1) return false;
  }
  return true;
}
static_assert(MigrationsAreContiguous(), "migration versions must be 1, 2, 3, ...");

constexpr uint32_t kLatestSchemaVersion = std::size(kMigrations);

// Maps a SQLite result code to a status. The message names the path, the operation and
// SQLite's generic description of the code, never anything from the data.
absl::Status SqliteStatus(int rc, absl::string_view path, absl::string_view operation) {
  std::string message = absl::StrCat("sqlite storage ", path, ": ", operation,
                                     " failed: ", sqlite3_errstr(rc), " (code ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      return absl::UnavailableError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_TOOBIG:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

// Binds `bytes` as a BLOB without copying; the caller keeps them alive until the statement
// is reset. Empty input still binds a zero-length BLOB, never NULL.
int BindBytes(sqlite3_stmt* stmt, int index, absl::string_view bytes) {
  static constexpr char kEmpty[1] = {0};
  const char* data = bytes.empty() ? kEmpty : bytes.data();
  return sqlite3_bind_blob64(stmt, index, data, bytes.size(), SQLITE_STATIC);
}

// Reads a BLOB column. The schema guarantees BLOB storage, so no conversion (and thus no
// allocation that could fail) happens here; a zero-length BLOB comes back as nullptr.
std::string ColumnBytes(sqlite3_stmt* stmt, int column) {
  const void* data = sqlite3_column_blob(stmt, column);
  const int size = sqlite3_column_bytes(stmt, column);
  if (data == nullptr || size <= 0) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

// Resets a cached statement and drops its bindings when leaving scope, so it never holds a
// read transaction open or points at caller memory.
class ScopedReset {
 public:
  explicit ScopedReset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ScopedReset(const ScopedReset&) = delete;
  ScopedReset& operator=(const ScopedReset&) = delete;
  ~ScopedReset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_;
};

// Smallest byte string greater than every string that starts with `prefix`, or nullopt if
// there is none (prefix empty or all 0xFF bytes).
std::optional<std::string> PrefixUpperBound(absl::string_view prefix) {
  std::string upper(prefix);
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xFF) upper.pop_back();
  if (upper.empty()) return std::nullopt;
  upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
  return upper;
}

std::string QuoteKey(absl::string_view key) {
  return absl::StrCat("\"", absl::CHexEscape(key), "\"");
}

std::string DescribeRevision(int64_t revision) {
  return revision == WriteBatch::kMustNotExist ? "absent" : absl::StrCat("revision ", revision);
}

std::string ErrnoMessage(int error) {
  char buffer[256];
  // GNU strerror_r returns a pointer that may or may not be `buffer`.
  return std::string(strerror_r(error, buffer, sizeof(buffer)));
}

std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates the database file with mode 0600 if it does not exist yet, and makes its
// directory entry durable. An existing file is left as it is.
absl::Status CreateFileIfMissing(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat(
        "sqlite storage ", path, ": cannot create database file: ", ErrnoMessage(errno)));
  }
  // The umask may have removed bits we need; it can never have added any.
  const bool chmod_ok = fchmod(fd, 0600) == 0;
  const int chmod_errno = errno;
  close(fd);
  if (!chmod_ok) {
    return absl::UnavailableError(
        absl::StrCat("sqlite storage ", path,
                     ": cannot set mode 0600 on database file: ", ErrnoMessage(chmod_errno)));
  }
  const std::string dir = ParentDirectory(path);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 || fsync(dir_fd) != 0) {
    const int sync_errno = errno;
    if (dir_fd >= 0) close(dir_fd);
    return absl::UnavailableError(absl::StrCat("sqlite storage ", path, ": cannot sync directory ",
                                               dir, ": ", ErrnoMessage(sync_errno)));
  }
  close(dir_fd);
  return absl::OkStatus();
}

// Runs `sql` (one statement returning a single integer row) on `db`. Stores the SQLite
// result code of a failure in `*error_code` if that is not null.
absl::StatusOr<int64_t> QueryInt(sqlite3* db, const std::string& path, const char* sql,
                                 absl::string_view operation, int* error_code = nullptr) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, &sqlite3_finalize);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt.get());
  if (error_code != nullptr) *error_code = rc;
  if (rc != SQLITE_ROW) {
    if (rc == SQLITE_DONE) {
      return absl::InternalError(
          absl::StrCat("sqlite storage ", path, ": ", operation, " returned no row"));
    }
    return SqliteStatus(rc, path, operation);
  }
  return sqlite3_column_int64(stmt.get(), 0);
}

// Runs `sql` (statements returning no rows of interest) on `db`.
absl::Status Exec(sqlite3* db, const std::string& path, const char* sql,
                  absl::string_view operation) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, path, operation);
  return absl::OkStatus();
}

absl::Status NotStrongroomDatabase(const std::string& path, absl::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("sqlite storage ", path,
                   ": refusing to open, not a Strongroom storage database (", why, ")"));
}

// Checks that `path` holds a Strongroom database (or a new, empty one) that this build can
// handle. Read-only, so a foreign file is left untouched.
absl::Status CheckDatabaseIdentity(sqlite3* db, const std::string& path) {
  int error_code = SQLITE_OK;
  absl::StatusOr<int64_t> application_id =
      QueryInt(db, path, "PRAGMA application_id", "reading the application id", &error_code);
  if (!application_id.ok()) {
    if ((error_code & 0xff) == SQLITE_NOTADB) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sqlite storage ", path, ": refusing to open, the file is not a SQLite database"));
    }
    return application_id.status();
  }
  absl::StatusOr<int64_t> version =
      QueryInt(db, path, "PRAGMA user_version", "reading the schema version");
  if (!version.ok()) return version.status();
  absl::StatusOr<int64_t> objects =
      QueryInt(db, path, "SELECT count(*) FROM sqlite_schema", "reading the schema");
  if (!objects.ok()) return objects.status();

  if (*application_id != kApplicationId) {
    if (*application_id != 0) {
      return NotStrongroomDatabase(path, absl::StrFormat("application_id is 0x%08x",
                                                         static_cast<uint32_t>(*application_id)));
    }
    if (*version != 0 || *objects != 0) {
      return NotStrongroomDatabase(path, "it already holds an unknown schema");
    }
    return absl::OkStatus();  // A new, empty database.
  }
  if (*version < 0) {
    return NotStrongroomDatabase(path, absl::StrCat("schema version ", *version));
  }
  if (*version > kLatestSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("sqlite storage ", path, ": refusing to open, schema version ", *version,
                     " is newer than the newest this build knows (", kLatestSchemaVersion,
                     "); run a newer Strongroom"));
  }
  return absl::OkStatus();
}

// Applies every migration newer than the database's schema version, each in its own
// transaction. Returns the resulting schema version.
absl::StatusOr<uint32_t> Migrate(sqlite3* db, const std::string& path) {
  for (const Migration& migration : kMigrations) {
    const std::string name = absl::StrCat("migration to schema version ", migration.version);
    // IMMEDIATE takes the write lock first, so two processes opening a new database at the
    // same time serialize here and the second one sees the first one's work.
    absl::Status status = Exec(db, path, "BEGIN IMMEDIATE", name);
    if (!status.ok()) return status;
    absl::StatusOr<int64_t> current = QueryInt(db, path, "PRAGMA user_version", name);
    if (current.ok() && *current > kLatestSchemaVersion) {
      current = absl::FailedPreconditionError(
          absl::StrCat("sqlite storage ", path, ": schema version ", *current,
                       " is newer than the newest this build knows (", kLatestSchemaVersion, ")"));
    }
    if (current.ok() && *current < migration.version) {
      status = Exec(db, path, migration.sql, name);
      if (status.ok()) {
        const std::string set_version = absl::StrCat("PRAGMA user_version = ", migration.version);
        status = Exec(db, path, set_version.c_str(), name);
      }
    } else if (!current.ok()) {
      status = current.status();
    }
    if (status.ok()) status = Exec(db, path, "COMMIT", name);
    if (!status.ok()) {
      if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return status;
    }
  }
  absl::StatusOr<int64_t> version =
      QueryInt(db, path, "PRAGMA user_version", "reading the schema version");
  if (!version.ok()) return version.status();
  return static_cast<uint32_t>(*version);
}

}  // namespace

void SqliteStorage::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

void SqliteStorage::StmtFinalizer::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

uint32_t SqliteStorage::LatestSchemaVersion() { return kLatestSchemaVersion; }

absl::StatusOr<std::unique_ptr<SqliteStorage>> SqliteStorage::Open(const std::string& path) {
  if (path.empty() || path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("sqlite storage: the database path is empty or has a NUL");
  }
  absl::Status status = CreateFileIfMissing(path);
  if (!status.ok()) return status;

  // SQLite would read "file:..." as a URI and ":memory:" as an in-memory database; a
  // leading "./" makes it take any relative path literally.
  const std::string sqlite_path = path[0] == '/' ? path : absl::StrCat("./", path);
  sqlite3* raw_db = nullptr;
  int rc =
      sqlite3_open_v2(sqlite_path.c_str(), &raw_db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
  DbPtr db(raw_db);  // Must be closed even when the open failed.
  if (rc != SQLITE_OK) return SqliteStatus(rc, path, "opening the database");
  sqlite3_extended_result_codes(db.get(), 1);
  rc = sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  if (rc != SQLITE_OK) return SqliteStatus(rc, path, "setting the busy timeout");

  status = CheckDatabaseIdentity(db.get(), path);
  if (!status.ok()) return status;

  {
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v2(db.get(), "PRAGMA journal_mode = WAL", -1, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt.get());
    if (rc != SQLITE_ROW) return SqliteStatus(rc, path, "enabling WAL journal mode");
    const unsigned char* mode = sqlite3_column_text(stmt.get(), 0);
    if (mode == nullptr || std::strcmp(reinterpret_cast<const char*>(mode), "wal") != 0) {
      return absl::UnavailableError(absl::StrCat(
          "sqlite storage ", path, ": the file system does not support WAL journal mode"));
    }
  }
  status = Exec(db.get(), path, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                "configuring the connection");
  if (!status.ok()) return status;

  absl::StatusOr<uint32_t> version = Migrate(db.get(), path);
  if (!version.ok()) return version.status();

  Statements stmts;
  const std::pair<StmtPtr*, const char*> sql[] = {
      {&stmts.begin_immediate, "BEGIN IMMEDIATE"},
      {&stmts.commit, "COMMIT"},
      {&stmts.rollback, "ROLLBACK"},
      {&stmts.get, "SELECT value, revision FROM entries WHERE key = ?1"},
      {&stmts.get_revision, "SELECT revision FROM entries WHERE key = ?1"},
      {&stmts.list_bounded,
       "SELECT key, value, revision FROM entries WHERE key > ?1 AND key >= ?2 AND key < ?3 "
       "ORDER BY key LIMIT ?4"},
      {&stmts.list_unbounded,
       "SELECT key, value, revision FROM entries WHERE key > ?1 AND key >= ?2 "
       "ORDER BY key LIMIT ?4"},
      {&stmts.read_counter, "SELECT last_revision FROM revision_counter WHERE id = 1"},
      {&stmts.write_counter, "UPDATE revision_counter SET last_revision = ?1 WHERE id = 1"},
      {&stmts.upsert,
       "INSERT INTO entries (key, value, revision) VALUES (?1, ?2, ?3) "
       "ON CONFLICT (key) DO UPDATE SET value = excluded.value, revision = excluded.revision"},
      {&stmts.remove, "DELETE FROM entries WHERE key = ?1"},
  };
  for (const auto& [target, text] : sql) {
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v3(db.get(), text, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    target->reset(raw);
    if (rc != SQLITE_OK) return SqliteStatus(rc, path, "preparing statements");
  }
  return std::unique_ptr<SqliteStorage>(
      new SqliteStorage(path, std::move(db), std::move(stmts), *version));
}

SqliteStorage::SqliteStorage(std::string path, DbPtr db, Statements statements,
                             uint32_t schema_version)
    : path_(std::move(path)),
      schema_version_(schema_version),
      db_(std::move(db)),
      stmts_(std::move(statements)) {}

SqliteStorage::~SqliteStorage() = default;

absl::Status SqliteStorage::Error(int rc, absl::string_view operation) const {
  return SqliteStatus(rc, path_, operation);
}

absl::StatusOr<std::optional<Entry>> SqliteStorage::Get(absl::string_view key) {
  absl::MutexLock lock(&mu_);
  sqlite3_stmt* stmt = stmts_.get.get();
  ScopedReset reset(stmt);
  int rc = BindBytes(stmt, 1, key);
  if (rc != SQLITE_OK) return Error(rc, "get");
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::optional<Entry>();
  if (rc != SQLITE_ROW) return Error(rc, "get");
  Entry entry;
  entry.key = std::string(key);
  entry.value = ColumnBytes(stmt, 0);
  entry.revision = sqlite3_column_int64(stmt, 1);
  return std::optional<Entry>(std::move(entry));
}

absl::StatusOr<std::vector<Entry>> SqliteStorage::List(absl::string_view prefix,
                                                       absl::string_view start_after,
                                                       size_t limit) {
  const std::optional<std::string> upper = PrefixUpperBound(prefix);
  // LIMIT -1 means no limit in SQLite.
  const int64_t sql_limit =
      limit == 0 || limit > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
          ? -1
          : static_cast<int64_t>(limit);

  absl::MutexLock lock(&mu_);
  sqlite3_stmt* stmt = upper ? stmts_.list_bounded.get() : stmts_.list_unbounded.get();
  ScopedReset reset(stmt);
  int rc = BindBytes(stmt, 1, start_after);
  if (rc == SQLITE_OK) rc = BindBytes(stmt, 2, prefix);
  if (rc == SQLITE_OK && upper) rc = BindBytes(stmt, 3, *upper);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 4, sql_limit);
  if (rc != SQLITE_OK) return Error(rc, "list");

  std::vector<Entry> entries;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    Entry entry;
    entry.key = ColumnBytes(stmt, 0);
    entry.value = ColumnBytes(stmt, 1);
    entry.revision = sqlite3_column_int64(stmt, 2);
    entries.push_back(std::move(entry));
  }
  if (rc != SQLITE_DONE) return Error(rc, "list");
  return entries;
}

absl::Status SqliteStorage::Commit(const WriteBatch& batch) {
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.key.empty()) {
      return absl::InvalidArgumentError("sqlite storage: commit: empty key");
    }
    if (op.expected_revision < WriteBatch::kAnyRevision) {
      return absl::InvalidArgumentError(
          absl::StrCat("sqlite storage: commit: invalid expected revision ", op.expected_revision,
                       " for key ", QuoteKey(op.key)));
    }
  }
  if (batch.empty()) return absl::OkStatus();
  if (absl::Status s = CheckSingleWriterLease(batch, "sqlite storage"); !s.ok()) return s;

  absl::MutexLock lock(&mu_);
  // A transaction left open by a failed rollback would make BEGIN fail forever.
  if (!sqlite3_get_autocommit(db_.get())) RollbackLocked();
  absl::Status status = StepDone(stmts_.begin_immediate.get(), "commit: begin transaction");
  if (!status.ok()) {
    RollbackLocked();
    return status;
  }
  status = CommitLocked(batch);
  if (!status.ok()) RollbackLocked();
  return status;
}

absl::Status SqliteStorage::CommitLocked(const WriteBatch& batch) {
  // Check every expectation against the state before the batch, before writing anything.
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.expected_revision == WriteBatch::kAnyRevision) continue;
    sqlite3_stmt* stmt = stmts_.get_revision.get();
    ScopedReset reset(stmt);
    int rc = BindBytes(stmt, 1, op.key);
    if (rc != SQLITE_OK) return Error(rc, "commit: revision check");
    rc = sqlite3_step(stmt);
    int64_t current = WriteBatch::kMustNotExist;
    if (rc == SQLITE_ROW) {
      current = sqlite3_column_int64(stmt, 0);
    } else if (rc != SQLITE_DONE) {
      return Error(rc, "commit: revision check");
    }
    if (current != op.expected_revision) {
      return absl::AbortedError(absl::StrCat(
          "sqlite storage: commit: revision check failed for key ", QuoteKey(op.key), ": expected ",
          DescribeRevision(op.expected_revision), ", found ", DescribeRevision(current)));
    }
  }

  // Every entry the batch writes gets the next revision.
  int64_t revision = 0;
  {
    sqlite3_stmt* stmt = stmts_.read_counter.get();
    ScopedReset reset(stmt);
    const int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
      if (rc == SQLITE_DONE) {
        return absl::InternalError(
            absl::StrCat("sqlite storage ", path_, ": commit: the revision counter is missing"));
      }
      return Error(rc, "commit: reading the revision counter");
    }
    const int64_t last = sqlite3_column_int64(stmt, 0);
    if (last < 0 || last == std::numeric_limits<int64_t>::max()) {
      return absl::InternalError(
          absl::StrCat("sqlite storage ", path_, ": commit: revision counter out of range"));
    }
    revision = last + 1;
  }
  {
    sqlite3_stmt* stmt = stmts_.write_counter.get();
    ScopedReset reset(stmt);
    const int rc = sqlite3_bind_int64(stmt, 1, revision);
    if (rc != SQLITE_OK) return Error(rc, "commit: advancing the revision counter");
    absl::Status status = StepDone(stmt, "commit: advancing the revision counter");
    if (!status.ok()) return status;
  }

  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.kind == WriteBatch::Op::Kind::kPut) {
      sqlite3_stmt* stmt = stmts_.upsert.get();
      ScopedReset reset(stmt);
      int rc = BindBytes(stmt, 1, op.key);
      if (rc == SQLITE_OK) rc = BindBytes(stmt, 2, op.value);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 3, revision);
      if (rc != SQLITE_OK) return Error(rc, "commit: put");
      absl::Status status = StepDone(stmt, "commit: put");
      if (!status.ok()) return status;
    } else {
      sqlite3_stmt* stmt = stmts_.remove.get();
      ScopedReset reset(stmt);
      const int rc = BindBytes(stmt, 1, op.key);
      if (rc != SQLITE_OK) return Error(rc, "commit: delete");
      absl::Status status = StepDone(stmt, "commit: delete");
      if (!status.ok()) return status;
    }
  }
  return StepDone(stmts_.commit.get(), "commit");
}

void SqliteStorage::RollbackLocked() {
  // SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR, ...).
  if (sqlite3_get_autocommit(db_.get())) return;
  sqlite3_stmt* stmt = stmts_.rollback.get();
  sqlite3_step(stmt);
  sqlite3_reset(stmt);
}

absl::Status SqliteStorage::StepDone(sqlite3_stmt* stmt, absl::string_view operation) {
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE) return absl::OkStatus();
  if (rc == SQLITE_ROW) {
    return absl::InternalError(
        absl::StrCat("sqlite storage ", path_, ": ", operation, " unexpectedly returned rows"));
  }
  return Error(rc, operation);
}

}  // namespace strongroom::kms
