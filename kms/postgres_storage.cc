#include "kms/postgres_storage.h"

#include "kms/postgres_change_feed.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace strongroom::kms {
namespace {

// Key of the advisory lock that serializes migrations across nodes ("SRKS").
constexpr int64_t kMigrationLock = 0x53524B53;
// Largest password file read.
constexpr size_t kMaxPasswordFile = 4096;
// How long an outcome-unknown COMMIT is resolved before giving up.
constexpr absl::Duration kResolveTimeout = absl::Seconds(30);
// Commit ids older than this are pruned (resolution takes seconds).
constexpr uint64_t kPruneEveryCommits = 1024;

// One schema migration; after it strongroom_schema.version is `version`. Append new steps
// at the end; never edit a step that has shipped.
struct Migration {
  uint32_t version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
      CREATE SEQUENCE strongroom_revision AS bigint MINVALUE 1;
      CREATE TABLE strongroom_entries (
        key bytea NOT NULL PRIMARY KEY CHECK (length(key) > 0),
        value bytea NOT NULL,
        revision bigint NOT NULL CHECK (revision > 0)
      );
      -- One row per committed batch (revision > 0) or per fence written while resolving an
      -- outcome-unknown COMMIT (revision 0). Pruned after an hour.
      CREATE TABLE strongroom_commits (
        id bytea NOT NULL PRIMARY KEY,
        revision bigint NOT NULL CHECK (revision >= 0),
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX strongroom_commits_created_at ON strongroom_commits (created_at);
    )sql"},
    {2, R"sql(
      -- Every change of an entry notifies the listening nodes (see PgChangeFeed): payload
      -- "<revision> <hex key>", revision 0 for a deletion, "*" for a key too long to fit.
      CREATE FUNCTION strongroom_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        payload text;
      BEGIN
        IF TG_OP = 'DELETE' THEN
          payload := '0 ' || encode(OLD.key, 'hex');
        ELSE
          payload := NEW.revision::text || ' ' || encode(NEW.key, 'hex');
        END IF;
        IF octet_length(payload) > 7900 THEN
          payload := '*';
        END IF;
        PERFORM pg_notify('strongroom_changes', payload);
        RETURN NULL;
      END $$;
      CREATE TRIGGER strongroom_entries_changed AFTER INSERT OR UPDATE OR DELETE
        ON strongroom_entries FOR EACH ROW EXECUTE FUNCTION strongroom_notify_change();
      -- Leases for background work: one holder at a time, on the database clock; the epoch
      -- grows with every change of holder.
      CREATE TABLE strongroom_leases (
        name text NOT NULL PRIMARY KEY,
        holder text NOT NULL,
        epoch bigint NOT NULL,
        expires_at timestamptz NOT NULL
      );
      -- One row per node, refreshed by its heartbeat.
      CREATE TABLE strongroom_nodes (
        node_id text NOT NULL PRIMARY KEY,
        server text NOT NULL,
        seen_at timestamptz NOT NULL
      );
    )sql"},
};

constexpr bool MigrationsAreContiguous() {
  for (size_t i = 0; i < std::size(kMigrations); ++i) {
    if (kMigrations[i].version != i + 1) return false;
  }
  return true;
}
static_assert(MigrationsAreContiguous(), "migration versions must be 1, 2, 3, ...");

constexpr uint32_t kLatestSchemaVersion = std::size(kMigrations);

const std::vector<PgStatement>& Statements() {
  static const std::vector<PgStatement>* const statements = new std::vector<PgStatement>{
      {"get", "SELECT value, revision FROM strongroom_entries WHERE key = $1"},
      {"get_revision", "SELECT revision FROM strongroom_entries WHERE key = $1"},
      {"lock_revision", "SELECT revision FROM strongroom_entries WHERE key = $1 FOR UPDATE"},
      {"list_bounded",
       "SELECT key, value, revision FROM strongroom_entries WHERE key > $1 AND key >= $2 "
       "AND key < $3 ORDER BY key LIMIT $4"},
      {"list_unbounded",
       "SELECT key, value, revision FROM strongroom_entries WHERE key > $1 AND key >= $2 "
       "ORDER BY key LIMIT $3"},
      {"begin_batch",
       "INSERT INTO strongroom_commits (id, revision) "
       "VALUES ($1, nextval('strongroom_revision')) RETURNING revision"},
      {"put_any",
       "INSERT INTO strongroom_entries (key, value, revision) VALUES ($1, $2, $3) "
       "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, revision = EXCLUDED.revision"},
      {"put_new",
       "INSERT INTO strongroom_entries (key, value, revision) VALUES ($1, $2, $3) "
       "ON CONFLICT (key) DO NOTHING"},
      {"put_cas",
       "UPDATE strongroom_entries SET value = $2, revision = $3 WHERE key = $1 AND revision = $4"},
      {"delete_any", "DELETE FROM strongroom_entries WHERE key = $1"},
      {"delete_cas", "DELETE FROM strongroom_entries WHERE key = $1 AND revision = $2"},
      {"fence_commit",
       "INSERT INTO strongroom_commits (id, revision) VALUES ($1, 0) ON CONFLICT (id) DO NOTHING"},
      // Free, expired or ours: take it (a new holder bumps the epoch); else leave it.
      {"acquire_lease",
       "INSERT INTO strongroom_leases AS l (name, holder, epoch, expires_at) "
       "VALUES ($1, $2, 1, now() + $3::bigint * interval '1 millisecond') "
       "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
       "epoch = CASE WHEN l.holder = EXCLUDED.holder THEN l.epoch ELSE l.epoch + 1 END, "
       "expires_at = EXCLUDED.expires_at "
       "WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()"},
      {"read_lease", "SELECT holder, epoch FROM strongroom_leases WHERE name = $1"},
      // A batch's lease requirement: the share lock makes a takeover (acquire_lease) wait
      // for this transaction, so the batch lands before the takeover or not at all.
      {"check_lease",
       "SELECT 1 FROM strongroom_leases WHERE name = $1 AND holder = $2 AND epoch = $3 "
       "FOR SHARE"},
      {"heartbeat",
       "INSERT INTO strongroom_nodes (node_id, server, seen_at) VALUES ($1, $2, now()) "
       "ON CONFLICT (node_id) DO UPDATE SET server = EXCLUDED.server, seen_at = now()"},
      {"live_nodes",
       "SELECT node_id, server, (extract(epoch FROM now() - seen_at) * 1000)::bigint "
       "FROM strongroom_nodes WHERE seen_at > now() - $1::bigint * interval '1 millisecond' "
       "ORDER BY node_id LIMIT 1000"},
      {"prune_commits",
       "DELETE FROM strongroom_commits WHERE created_at < now() - interval '1 hour'"},
  };
  return *statements;
}

std::string QuoteKey(absl::string_view key) {
  return absl::StrCat("\"", absl::CHexEscape(key), "\"");
}

std::string DescribeRevision(int64_t revision) {
  return revision == WriteBatch::kMustNotExist ? "absent" : absl::StrCat("revision ", revision);
}

// Smallest byte string greater than every string that starts with `prefix`, or nullopt if
// there is none (prefix empty or all 0xFF bytes).
std::optional<std::string> PrefixUpperBound(absl::string_view prefix) {
  std::string upper(prefix);
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xFF) upper.pop_back();
  if (upper.empty()) return std::nullopt;
  upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
  return upper;
}

// Reads the password file, refusing one that others may read or that we do not own.
absl::StatusOr<hsm::SecretData> ReadPasswordFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "postgres storage: cannot open the password file ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("postgres storage: the password file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("postgres storage: the password file ", path,
                     " must be owned by this user with mode 0600 or stricter"));
  }
  hsm::SecretData buffer(kMaxPasswordFile + 1);
  size_t size = 0;
  while (size < buffer.size()) {
    const ssize_t got = read(fd, buffer.MutableSecret().data() + size, buffer.size() - size);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    size += static_cast<size_t>(got);
  }
  close(fd);
  if (size > kMaxPasswordFile) {
    return absl::FailedPreconditionError(absl::StrCat("postgres storage: the password file ", path,
                                                      " is longer than ", kMaxPasswordFile));
  }
  const uint8_t* bytes = buffer.RevealSecret().data();
  if (size > 0 && bytes[size - 1] == '\n') --size;
  if (size > 0 && bytes[size - 1] == '\r') --size;
  if (size == 0 || std::memchr(bytes, '\0', size) != nullptr ||
      std::memchr(bytes, '\n', size) != nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("postgres storage: the password file ", path,
                                                      " must hold one non-empty line"));
  }
  buffer.Truncate(size);
  return buffer;
}

absl::StatusOr<int64_t> TextInt(const PgResult& result, absl::string_view operation) {
  int64_t value = 0;
  if (result.rows() != 1 || !absl::SimpleAtoi(result.Bytes(0, 0), &value)) {
    return absl::InternalError(
        absl::StrCat("postgres storage: ", operation, ": unexpected result"));
  }
  return value;
}

// Applies every pending migration in one transaction under the migration lock and returns
// the resulting schema version.
absl::StatusOr<uint32_t> Migrate(PgConnection& conn, const std::string& description) {
  absl::StatusOr<PgResult> result = conn.Run("BEGIN", "migration: begin");
  if (!result.ok()) return result.status();
  auto fail = [&conn](absl::Status status) {
    if (!conn.broken()) conn.Run("ROLLBACK", "migration: rollback").IgnoreError();
    return status;
  };
  const std::string lock = absl::StrCat("SELECT pg_advisory_xact_lock(", kMigrationLock, ")");
  for (const char* sql :
       {lock.c_str(),
        "CREATE TABLE IF NOT EXISTS strongroom_schema ("
        "  id integer NOT NULL PRIMARY KEY CHECK (id = 1),"
        "  version integer NOT NULL CHECK (version >= 0))",
        "INSERT INTO strongroom_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"}) {
    result = conn.Run(sql, "migration: schema table");
    if (!result.ok()) return fail(result.status());
  }
  result = conn.Run("SELECT version FROM strongroom_schema", "migration: reading the version");
  if (!result.ok()) return fail(result.status());
  absl::StatusOr<int64_t> current = TextInt(*result, "reading the schema version");
  if (!current.ok()) return fail(current.status());
  if (*current > kLatestSchemaVersion) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("postgres storage (", description, "): refusing to open, schema version ",
                     *current, " is newer than the newest this build knows (", kLatestSchemaVersion,
                     "); run a newer Strongroom")));
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version <= *current) continue;
    const std::string name = absl::StrCat("migration to schema version ", migration.version);
    result = conn.Run(migration.sql, name);
    if (!result.ok()) return fail(result.status());
    const std::string set_version =
        absl::StrCat("UPDATE strongroom_schema SET version = ", migration.version);
    result = conn.Run(set_version.c_str(), name);
    if (!result.ok()) return fail(result.status());
  }
  result = conn.Run("COMMIT", "migration: commit");
  if (!result.ok()) return result.status();
  return std::max<uint32_t>(static_cast<uint32_t>(*current), kLatestSchemaVersion);
}

// Runs `attempt` with a pooled connection; when it fails because a reused connection had
// gone stale (the server restarted or failed over), drops the idle connections and tries
// once more on a fresh one.
template <typename T, typename F>
absl::StatusOr<T> WithConnection(PgConnectionPool& pool, F attempt) {
  for (int round = 0;; ++round) {
    absl::StatusOr<PgConnectionPool::Lease> lease = pool.Acquire();
    if (!lease.ok()) return lease.status();
    absl::StatusOr<T> result = attempt(**lease);
    if (result.ok() || round > 0 || !lease->reused() || !IsConnectionLoss(result.status())) {
      return result;
    }
    pool.DiscardIdle();
  }
}

}  // namespace

uint32_t PostgresStorage::LatestSchemaVersion() { return kLatestSchemaVersion; }

absl::StatusOr<std::unique_ptr<PostgresStorage>> PostgresStorage::Open(
    const PostgresStorageOptions& options) {
  PgSettings settings;
  absl::StatusOr<std::string> description = DescribeConnInfo(options.conninfo);
  if (!description.ok()) return description.status();
  settings.conninfo = options.conninfo;
  settings.description = *description;
  if (!options.password_file.empty()) {
    absl::StatusOr<hsm::SecretData> password = ReadPasswordFile(options.password_file);
    if (!password.ok()) return password.status();
    settings.password = std::move(*password);
  }
  uint32_t version = 0;
  {
    // Migrations run before the pool exists: its connections prepare statements on the
    // tables the migrations create.
    absl::StatusOr<std::unique_ptr<PgConnection>> conn = PgConnection::Connect(settings, {});
    if (!conn.ok()) return conn.status();
    absl::StatusOr<uint32_t> migrated = Migrate(**conn, settings.description);
    if (!migrated.ok()) return migrated.status();
    version = *migrated;
  }
  auto pool = std::make_unique<PgConnectionPool>(std::move(settings), Statements(),
                                                 options.pool_size, options.acquire_timeout);
  return std::unique_ptr<PostgresStorage>(new PostgresStorage(std::move(pool), version));
}

PostgresStorage::PostgresStorage(std::unique_ptr<PgConnectionPool> pool, uint32_t schema_version)
    : pool_(std::move(pool)), schema_version_(schema_version) {}

PostgresStorage::~PostgresStorage() = default;

absl::StatusOr<LeaseState> PostgresStorage::AcquireLease(absl::string_view name,
                                                         absl::string_view holder,
                                                         absl::Duration ttl) {
  const std::vector<PgParam> take = {std::string(name), std::string(holder),
                                     PgInt64Param(absl::ToInt64Milliseconds(ttl))};
  return WithConnection<LeaseState>(*pool_, [&](PgConnection& conn) -> absl::StatusOr<LeaseState> {
    absl::StatusOr<PgResult> taken = conn.Execute("acquire_lease", take, "lease");
    if (!taken.ok()) return taken.status();
    absl::StatusOr<PgResult> read = conn.Execute("read_lease", {std::string(name)}, "lease");
    if (!read.ok()) return read.status();
    if (read->rows() != 1) return absl::InternalError("postgres storage: lease: no lease row");
    LeaseState state{read->Bytes(0, 0), read->Int64(0, 1), false};
    state.held = taken->AffectedRows() == 1 && state.holder == holder;
    return state;
  });
}

absl::StatusOr<std::vector<NodeSeen>> PostgresStorage::Heartbeat(absl::string_view node_id,
                                                                 absl::string_view detail,
                                                                 absl::Duration window) {
  return WithConnection<std::vector<NodeSeen>>(
      *pool_, [&](PgConnection& conn) -> absl::StatusOr<std::vector<NodeSeen>> {
        absl::StatusOr<PgResult> beat = conn.Execute(
            "heartbeat", {std::string(node_id), std::string(detail)}, "heartbeat");
        if (!beat.ok()) return beat.status();
        absl::StatusOr<PgResult> live = conn.Execute(
            "live_nodes", {PgInt64Param(absl::ToInt64Milliseconds(window))}, "live nodes");
        if (!live.ok()) return live.status();
        std::vector<NodeSeen> nodes;
        for (int row = 0; row < live->rows(); ++row) {
          nodes.push_back(
              {live->Bytes(row, 0), live->Bytes(row, 1), absl::Milliseconds(live->Int64(row, 2))});
        }
        return nodes;
      });
}

std::string PostgresStorage::Server() {
  absl::StatusOr<std::string> server = WithConnection<std::string>(
      *pool_, [](PgConnection& conn) -> absl::StatusOr<std::string> { return conn.Server(); });
  return server.ok() ? *server : absl::StrCat("unreachable (", Location(), ")");
}

absl::StatusOr<std::unique_ptr<ChangeFeed>> PostgresStorage::Watch() {
  return std::make_unique<PgChangeFeed>(pool_->settings());
}

absl::StatusOr<std::optional<Entry>> PostgresStorage::Get(absl::string_view key) {
  const std::string key_bytes(key);
  return WithConnection<std::optional<Entry>>(
      *pool_, [&](PgConnection& conn) -> absl::StatusOr<std::optional<Entry>> {
        absl::StatusOr<PgResult> result = conn.Execute("get", {key_bytes}, "get");
        if (!result.ok()) return result.status();
        if (result->rows() == 0) return std::optional<Entry>();
        Entry entry;
        entry.key = key_bytes;
        entry.value = result->Bytes(0, 0);
        entry.revision = result->Int64(0, 1);
        return std::optional<Entry>(std::move(entry));
      });
}

absl::StatusOr<std::vector<Entry>> PostgresStorage::List(absl::string_view prefix,
                                                         absl::string_view start_after,
                                                         size_t limit) {
  const std::optional<std::string> upper = PrefixUpperBound(prefix);
  // LIMIT NULL means no limit.
  const PgParam sql_limit =
      limit == 0 || limit > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
          ? PgParam()
          : PgInt64Param(static_cast<int64_t>(limit));
  std::vector<PgParam> params = {std::string(start_after), std::string(prefix)};
  if (upper) params.push_back(*upper);
  params.push_back(sql_limit);
  return WithConnection<std::vector<Entry>>(
      *pool_, [&](PgConnection& conn) -> absl::StatusOr<std::vector<Entry>> {
        absl::StatusOr<PgResult> result =
            conn.Execute(upper ? "list_bounded" : "list_unbounded", params, "list");
        if (!result.ok()) return result.status();
        std::vector<Entry> entries;
        entries.reserve(result->rows());
        for (int row = 0; row < result->rows(); ++row) {
          entries.push_back({result->Bytes(row, 0), result->Bytes(row, 1), result->Int64(row, 2)});
        }
        return entries;
      });
}

absl::Status PostgresStorage::Commit(const WriteBatch& batch) {
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.key.empty()) {
      return absl::InvalidArgumentError("postgres storage: commit: empty key");
    }
    if (op.expected_revision < WriteBatch::kAnyRevision) {
      return absl::InvalidArgumentError(
          absl::StrCat("postgres storage: commit: invalid expected revision ", op.expected_revision,
                       " for key ", QuoteKey(op.key)));
    }
  }
  if (batch.empty()) return absl::OkStatus();

  std::string commit_id(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(commit_id.data()), commit_id.size()) != 1) {
    return absl::InternalError("postgres storage: commit: no random bytes for the commit id");
  }
  for (int round = 0;; ++round) {
    absl::StatusOr<PgConnectionPool::Lease> lease = pool_->Acquire();
    if (!lease.ok()) return lease.status();
    bool commit_sent = false;
    absl::Status status = CommitOnce(**lease, batch, commit_id, &commit_sent);
    if (status.ok()) {
      if (++commits_ % kPruneEveryCommits == 0) {
        (*lease)->Execute("prune_commits", {}, "pruning commit ids").IgnoreError();
      }
      return status;
    }
    if (!IsConnectionLoss(status)) return status;
    if (commit_sent) return ResolveOutcome(commit_id);
    // Lost before COMMIT: the server rolled the transaction back, so it is safe to retry.
    if (round > 0 || !lease->reused()) return status;
    pool_->DiscardIdle();
  }
}

absl::Status PostgresStorage::CommitOnce(PgConnection& conn, const WriteBatch& batch,
                                         const std::string& commit_id, bool* commit_sent) {
  absl::StatusOr<PgResult> result = conn.Run("BEGIN", "commit: begin");
  if (!result.ok()) return result.status();
  auto fail = [&conn](absl::Status status) {
    if (!conn.broken()) conn.Run("ROLLBACK", "commit: rollback").IgnoreError();
    return status;
  };
  result = conn.Execute("begin_batch", {commit_id}, "commit: taking a revision");
  if (!result.ok()) return fail(result.status());
  const int64_t revision = result->Int64(0, 0);
  const PgParam revision_param = PgInt64Param(revision);

  // The revision each checked key had before the batch, once the first op on it has
  // verified it (later ops on the same key compare against it, as the contract says).
  std::map<std::string, int64_t> before;
  std::set<std::string> written;
  // A key whose first op is unchecked but a later op checks it: lock and read it first.
  {
    std::set<std::string> seen;
    for (const WriteBatch::Op& op : batch.ops()) {
      if (op.expected_revision != WriteBatch::kAnyRevision && seen.count(op.key) &&
          !before.count(op.key)) {
        result = conn.Execute("lock_revision", {op.key}, "commit: revision check");
        if (!result.ok()) return fail(result.status());
        before[op.key] = result->rows() == 0 ? WriteBatch::kMustNotExist : result->Int64(0, 0);
      }
      if (op.expected_revision == WriteBatch::kAnyRevision) seen.insert(op.key);
    }
  }
  auto mismatch = [&](const WriteBatch::Op& op) -> absl::Status {
    int64_t found = WriteBatch::kMustNotExist;
    auto known = before.find(op.key);
    if (known != before.end()) {
      found = known->second;
    } else {
      absl::StatusOr<PgResult> current =
          conn.Execute("get_revision", {op.key}, "commit: revision check");
      if (!current.ok()) return current.status();
      if (current->rows() > 0) found = current->Int64(0, 0);
    }
    return absl::AbortedError(absl::StrCat(
        "postgres storage: commit: revision check failed for key ", QuoteKey(op.key), ": expected ",
        DescribeRevision(op.expected_revision), ", found ", DescribeRevision(found)));
  };

  for (const WriteBatch::Op& op : batch.ops()) {
    const bool put = op.kind == WriteBatch::Op::Kind::kPut;
    const int64_t expected = op.expected_revision;
    auto known = before.find(op.key);
    if (expected != WriteBatch::kAnyRevision && known == before.end()) {
      // First op on this key and it is checked: the statement itself is the check.
      if (put && expected == WriteBatch::kMustNotExist) {
        result = conn.Execute("put_new", {op.key, op.value, revision_param}, "commit: put");
      } else if (put) {
        result = conn.Execute("put_cas", {op.key, op.value, revision_param, PgInt64Param(expected)},
                              "commit: put");
      } else if (expected == WriteBatch::kMustNotExist) {
        result = conn.Execute("get_revision", {op.key}, "commit: revision check");
      } else {
        result = conn.Execute("delete_cas", {op.key, PgInt64Param(expected)}, "commit: delete");
      }
      if (!result.ok()) return fail(result.status());
      const bool held = put || expected != WriteBatch::kMustNotExist ? result->AffectedRows() == 1
                                                                     : result->rows() == 0;
      if (!held) return fail(mismatch(op));
      before[op.key] = expected;
      written.insert(op.key);
      continue;
    }
    if (expected != WriteBatch::kAnyRevision && known->second != expected) {
      return fail(mismatch(op));
    }
    if (put) {
      // A key checked absent that nothing in this batch wrote yet may be created by a
      // concurrent batch meanwhile (absent rows cannot be locked): insert, never overwrite.
      const bool create = known != before.end() && known->second == WriteBatch::kMustNotExist &&
                          !written.count(op.key);
      result = conn.Execute(create ? "put_new" : "put_any", {op.key, op.value, revision_param},
                            "commit: put");
      if (!result.ok()) return fail(result.status());
      if (create && result->AffectedRows() != 1) return fail(mismatch(op));
    } else {
      result = conn.Execute("delete_any", {op.key}, "commit: delete");
      if (!result.ok()) return fail(result.status());
    }
    written.insert(op.key);
  }

  // Last, so the lease row stays locked only for the COMMIT.
  if (const std::optional<LeaseFence>& lease = batch.lease(); lease.has_value()) {
    result = conn.Execute("check_lease",
                          {lease->name, lease->holder, PgInt64Param(lease->epoch)},
                          "commit: lease check");
    if (!result.ok()) return fail(result.status());
    if (result->rows() != 1) {
      return fail(absl::FailedPreconditionError(absl::StrCat(
          "postgres storage: commit: lease \"", lease->name, "\" is no longer held by \"",
          lease->holder, "\" at epoch ", lease->epoch)));
    }
  }

  *commit_sent = true;
  result = conn.Run("COMMIT", "commit");
  if (!result.ok()) return result.status();
  // COMMIT of a transaction the server had already aborted answers ROLLBACK.
  if (result->CommandTag() != "COMMIT") {
    return absl::InternalError("postgres storage: commit: the server rolled the batch back");
  }
  return absl::OkStatus();
}

absl::Status PostgresStorage::ResolveOutcome(const std::string& commit_id) {
  // The fence conflicts with the batch's own row: it waits for a COMMIT still in flight,
  // inserts nothing if that COMMIT took effect, and if it did not, the fence row makes sure
  // it never will (the batch's transaction can no longer insert its id).
  pool_->DiscardIdle();
  const absl::Time deadline = absl::Now() + kResolveTimeout;
  absl::Status last;
  while (absl::Now() < deadline) {
    absl::StatusOr<PgConnectionPool::Lease> lease = pool_->Acquire();
    if (lease.ok()) {
      absl::StatusOr<PgResult> fence =
          (*lease)->Execute("fence_commit", {commit_id}, "commit: resolving the outcome");
      if (fence.ok()) {
        if (fence->AffectedRows() == 0) return absl::OkStatus();
        return absl::UnavailableError(absl::StrCat(
            "postgres storage (", pool_->settings().description,
            "): commit failed: the connection was lost during COMMIT and the batch was not "
            "applied"));
      }
      last = fence.status();
      if (!IsConnectionLoss(last)) break;
    } else {
      last = lease.status();
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  return absl::UnavailableError(absl::StrCat(
      "postgres storage (", pool_->settings().description,
      "): commit outcome unknown: the connection was lost during COMMIT and the outcome "
      "could not be read back (",
      last.message(), "); the batch may or may not have been applied"));
}

}  // namespace strongroom::kms
