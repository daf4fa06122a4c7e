// PgConnection, PgResult, PgConnectionPool: the one C++ wrapper around libpq.
//
// PgResult owns a PGresult. PgConnection owns a PGconn opened with a connection string
// (which may name several hosts and target_session_attrs) and a password held in
// SecretData; on every (re)connect it prepares the statements it was given, so callers
// run them by name. All parameters and results are binary: bytea as raw bytes, int8 as
// 8 big-endian bytes (PgInt64Param / PgResult::Int64).
//
// Errors never carry libpq's own message text (it can echo the connection string):
// connection failures are UNAVAILABLE with a fixed reason and the server list from the
// parsed connection string (no password); server errors carry the SQLSTATE and the
// server's primary message. SQLSTATE classes map: 08 connection exception, 57P0x
// shutdown, 53 insufficient resources, 25006 read-only transaction (a standby) ->
// UNAVAILABLE; 40001/40P01 serialization failure or deadlock -> ABORTED; others INTERNAL.
// A connection whose socket broke reports broken() and the pool discards it.
// A connection that has run LISTEN receives notifications with AwaitNotifications.
//
// PgConnectionPool hands out at most `max_size` connections; Acquire() reuses an idle one
// or connects a new one, waiting up to `acquire_timeout` when all are leased. Thread-safe;
// a PgConnection itself is used by one thread at a time (the lease holder).
#pragma once

#include <postgresql/libpq-fe.h>

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
#include "absl/time/time.h"
#include "hsm/secret_data.h"

namespace strongroom::kms {

// How to reach the database.
struct PgSettings {
  // libpq connection string without a password ("host=a,b dbname=x target_session_attrs=...").
  std::string conninfo;
  // Password, or empty to let libpq use its passfile.
  hsm::SecretData password;
  // Included in every error message; names the servers, never the password.
  std::string description;
};

// Checks `conninfo` (libpq syntax; no password keyword) and returns a description of the
// servers it names ("host=a,b port=5432 dbname=x user=y").
absl::StatusOr<std::string> DescribeConnInfo(absl::string_view conninfo);

// A prepared statement: its name and SQL with $1.. parameters.
struct PgStatement {
  const char* name;
  const char* sql;
};

// A parameter: bytes sent in binary format; nullopt is SQL NULL.
using PgParam = std::optional<std::string>;
PgParam PgInt64Param(int64_t value);

// A NOTIFY received on a listening connection.
struct PgNotification {
  std::string channel;
  std::string payload;
};

class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result) {}
  int rows() const { return PQntuples(result_.get()); }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column); }
  std::string Bytes(int row, int column) const;
  // An int8 (or int4) column; 0 when it is NULL.
  int64_t Int64(int row, int column) const;
  // Rows changed by INSERT/UPDATE/DELETE.
  int64_t AffectedRows() const;
  std::string CommandTag() const { return PQcmdStatus(result_.get()); }

 private:
  struct Clear {
    void operator()(PGresult* result) const { PQclear(result); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

class PgConnection {
 public:
  // Connects and prepares `statements`. UNAVAILABLE when no server accepts the connection.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(
      const PgSettings& settings, const std::vector<PgStatement>& statements);

  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs prepared statement `name`. `operation` names it in errors.
  absl::StatusOr<PgResult> Execute(const char* name, const std::vector<PgParam>& params,
                                   absl::string_view operation);
  // Runs SQL text without parameters (BEGIN, COMMIT, migrations: several statements).
  absl::StatusOr<PgResult> Run(const char* sql, absl::string_view operation);

  // True once the connection to the server is lost; it cannot be used again.
  bool broken() const { return PQstatus(conn_.get()) != CONNECTION_OK; }
  // True if the connection is healthy and outside any transaction (an error path that
  // could not roll back leaves one that is not).
  bool reusable() const { return !broken() && PQtransactionStatus(conn_.get()) == PQTRANS_IDLE; }
  // The server this connection reached, "host:port".
  std::string Server() const;
  // The server process id of this session (names its own channels).
  int BackendPid() const { return PQbackendPID(conn_.get()); }
  // Notifications received so far, waiting up to `timeout` for the first when there are
  // none. UNAVAILABLE when the connection is lost.
  absl::StatusOr<std::vector<PgNotification>> AwaitNotifications(absl::Duration timeout);

 private:
  struct Finish {
    void operator()(PGconn* conn) const { PQfinish(conn); }
  };
  PgConnection(PGconn* conn, const PgSettings& settings)
      : conn_(conn), description_(settings.description) {}
  absl::StatusOr<PgResult> Check(PGresult* result, absl::string_view operation);

  std::unique_ptr<PGconn, Finish> conn_;
  std::string description_;
  std::vector<PgStatement> statements_;
};

// True for a status that reports a lost or refused connection (the operation may be
// retried on another connection when it was not a COMMIT).
bool IsConnectionLoss(const absl::Status& status);

class PgConnectionPool {
 public:
  PgConnectionPool(PgSettings settings, std::vector<PgStatement> statements, size_t max_size,
                   absl::Duration acquire_timeout);
  ~PgConnectionPool();

  // A leased connection, returned to the pool when destroyed (discarded if broken).
  class Lease {
   public:
    Lease(Lease&& other) noexcept
        : pool_(other.pool_), conn_(std::move(other.conn_)), reused_(other.reused_) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection* operator->() const { return conn_.get(); }
    PgConnection& operator*() const { return *conn_; }
    // True if the connection was idle in the pool (it may have gone stale meanwhile).
    bool reused() const { return reused_; }

   private:
    friend class PgConnectionPool;
    Lease(PgConnectionPool* pool, std::unique_ptr<PgConnection> conn, bool reused)
        : pool_(pool), conn_(std::move(conn)), reused_(reused) {}
    PgConnectionPool* pool_;
    std::unique_ptr<PgConnection> conn_;
    bool reused_;
  };

  absl::StatusOr<Lease> Acquire();
  // Closes every idle connection (after a lost connection they are most likely stale too).
  void DiscardIdle();
  const PgSettings& settings() const { return settings_; }

 private:
  void Release(std::unique_ptr<PgConnection> conn);

  const PgSettings settings_;
  const std::vector<PgStatement> statements_;
  const size_t max_size_;
  const absl::Duration acquire_timeout_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;  // idle + leased + being connected
};

}  // namespace strongroom::kms
