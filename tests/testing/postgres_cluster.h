// PostgresCluster: a throwaway PostgreSQL 15 cluster for tests, on a loopback port.
//
// Start() runs initdb and pg_ctl (Debian's /usr/lib/postgresql/15/bin) as the unprivileged
// `postgres` user, because PostgreSQL refuses to run as root, in a directory under
// $TEST_TMPDIR (granting `postgres` search permission on its ancestors where it lacks it).
// The cluster listens on 127.0.0.1 only, on a free port, with no Unix socket; the superuser
// "sr" authenticates with SCRAM and a random password that only PasswordFile() (mode 0600,
// owned by the test) holds, and the database "strongroom" exists.
//
// Nothing is left running: the destructor stops the server, and a watchdog process (in a
// session of its own, so Bazel's process-group kill on a timeout does not take it first)
// stops it with `pg_ctl stop -m immediate` when the test process dies without doing so
// (crash, abort, SIGKILL). Test-only; no assertions here, errors are returned.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace strongroom::testing {

class PostgresCluster {
 public:
  struct Options {
    // Directory name under $TEST_TMPDIR; must be unique within the test binary.
    std::string name = "pg";
    // Extra "-c name=value" settings for the server.
    std::vector<std::string> settings;
  };

  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(const Options& options);
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start() { return Start(Options{}); }
  // Starts a streaming-replication standby of `primary` (pg_basebackup -R), with the same
  // superuser and password, named `options.name` as its replication application_name (for
  // synchronous_standby_names). It follows the primary until Promote().
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> StartStandby(
      const PostgresCluster& primary, const Options& options);

  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;
  ~PostgresCluster();

  int port() const { return port_; }
  // libpq connection string for `database` without the password.
  std::string ConnInfo(const std::string& database = "strongroom") const;
  // A 0600 file holding the password of "sr" (the whole file is the password).
  const std::string& PasswordFile() const { return password_file_; }

  // Stops the server (fast shutdown) and waits for it; OK if it is not running.
  absl::Status Stop();
  // SIGKILLs the postmaster (its backends exit on their own), as a crash would.
  absl::Status Kill();
  // Starts the stopped (or killed) server again on the same port and data.
  absl::Status Restart();
  // Promotes a standby to primary (pg_promote) and waits until it accepts writes.
  absl::Status Promote();

  // Runs `sql` as the superuser on `database` (a fresh connection) and returns the first
  // column of the first row ("" if none).
  absl::StatusOr<std::string> Query(const std::string& sql,
                                    const std::string& database = "strongroom") const;
  // Creates a fresh database and returns its name.
  absl::StatusOr<std::string> CreateDatabase(const std::string& prefix);

 private:
  PostgresCluster(std::string dir, std::vector<std::string> settings);
  absl::Status StartServer();
  // Creates dir_ (owned by postgres, reachable), the password files and picks up `password`.
  absl::Status Prepare(const std::string& password);
  // Picks a free port and starts the server there (a few attempts).
  absl::Status StartOnFreePort();
  void StartWatchdog();
  void StopWatchdog();

  const std::string dir_;
  const std::vector<std::string> settings_;
  std::string password_file_;
  std::string password_;
  int port_ = 0;
  pid_t watchdog_pid_ = -1;
  int watchdog_fd_ = -1;  // write end; the watchdog acts when it reads EOF
  int databases_created_ = 0;
};

}  // namespace strongroom::testing
