// PostgresStorage: the Storage backend on PostgreSQL, for several strongroomd nodes.
//
// Contract: implements Storage (see storage.h) on a PostgreSQL 15 database reached through
// a libpq connection string, which may name several hosts ("host=a,b
// target_session_attrs=read-write": after a failover the next connection finds the new
// primary by itself). The password comes from a file (mode 0600 or stricter, owned by this
// process's user; the whole file, one trailing newline stripped) or from libpq's passfile;
// a connection string holding a password is refused. No error or log line carries the
// password or libpq's own messages (see postgres_connection.h).
//
// Open applies pending versioned schema migrations (one transaction under an advisory
// lock, so nodes starting together migrate once) and refuses a newer schema. Rows hold what
// SQLite rows hold: opaque values (wrapped key material, never plaintext) and revisions.
//
// Commit runs one transaction per batch: an ordinary put or delete for ops without a
// check, `UPDATE/DELETE ... WHERE revision = $expected` and `INSERT ... ON CONFLICT DO
// NOTHING` for checked ones; zero rows is ABORTED naming the key, and nothing applies.
// Revisions come from one sequence, so they grow across all nodes. Every transaction also
// records a random commit id; when the connection is lost during COMMIT the outcome is
// resolved, not guessed: on a new connection the same id is inserted as a fence, which
// waits for a COMMIT still in flight and fails only if that COMMIT took effect. A batch
// whose outcome cannot be resolved within 30 s is UNAVAILABLE saying "outcome unknown" —
// the one case where a failed Commit may have been applied.
//
// Failures: an unreachable database (at Open or later) is UNAVAILABLE naming the servers;
// later calls reconnect by themselves. Reads and not-yet-committed batches that hit a
// stale pooled connection are retried once on a fresh one. Thread-safe: calls share a
// bounded pool of connections.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kms/postgres_connection.h"
#include "kms/storage.h"

namespace strongroom::kms {

struct PostgresStorageOptions {
  // libpq connection string, without a password.
  std::string conninfo;
  // File holding the password; empty to rely on libpq (passfile, PGPASSFILE).
  std::string password_file;
  // Most connections held at once, and how long a call waits for one.
  size_t pool_size = 8;
  absl::Duration acquire_timeout = absl::Seconds(10);
};

class PostgresStorage final : public Storage {
 public:
  static uint32_t LatestSchemaVersion();

  // Connects and migrates. INVALID_ARGUMENT for a bad connection string or one holding a
  // password, FAILED_PRECONDITION for a password file readable by others or a newer
  // schema, UNAVAILABLE when no server accepts the connection.
  static absl::StatusOr<std::unique_ptr<PostgresStorage>> Open(
      const PostgresStorageOptions& options);

  PostgresStorage(const PostgresStorage&) = delete;
  PostgresStorage& operator=(const PostgresStorage&) = delete;
  ~PostgresStorage() override;

  absl::StatusOr<std::optional<Entry>> Get(absl::string_view key) override;
  absl::StatusOr<std::vector<Entry>> List(absl::string_view prefix, absl::string_view start_after,
                                          size_t limit) override;
  absl::Status Commit(const WriteBatch& batch) override;

  std::string Backend() const override { return "postgres"; }
  std::string Location() const override { return pool_->settings().description; }
  uint32_t SchemaVersion() const override { return schema_version_; }
  // A PgChangeFeed (see postgres_change_feed.h) on its own connection.
  absl::StatusOr<std::unique_ptr<ChangeFeed>> Watch() override;
  // Leases and heartbeats are rows (strongroom_leases, strongroom_nodes) on the database's
  // clock (now()), each changed by one statement.
  absl::StatusOr<LeaseState> AcquireLease(absl::string_view name, absl::string_view holder,
                                          absl::Duration ttl) override;
  absl::StatusOr<std::vector<NodeSeen>> Heartbeat(absl::string_view node_id,
                                                  absl::string_view detail,
                                                  absl::Duration window) override;
  std::string Server() override;

 private:
  PostgresStorage(std::unique_ptr<PgConnectionPool> pool, uint32_t schema_version);

  // One attempt at the batch on `conn`. Sets *commit_sent once COMMIT has been sent.
  absl::Status CommitOnce(PgConnection& conn, const WriteBatch& batch, const std::string& commit_id,
                          bool* commit_sent);
  // Decides whether the transaction recorded as `commit_id` committed (see above).
  absl::Status ResolveOutcome(const std::string& commit_id);

  const std::unique_ptr<PgConnectionPool> pool_;
  const uint32_t schema_version_;
  std::atomic<uint64_t> commits_{0};
};

}  // namespace strongroom::kms
