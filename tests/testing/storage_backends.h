// Storage backends for tests that run one contract against every implementation.
//
// A StorageBackend hands out empty databases (NewDatabase) and opens Storage objects on the
// current one (Open; several may be open at once, like several nodes or processes). The
// SQLite backend uses a fresh file under $TEST_TMPDIR; the PostgreSQL backend starts one
// throwaway cluster per test binary (PostgresCluster, stopped at exit) and creates a
// fresh database in it for each NewDatabase. WriterArgs() gives the arguments with which
// a child process (tests/storage_crash_writer) opens the same database. Test-only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kms/storage.h"
#include "tests/testing/postgres_cluster.h"

namespace strongroom::testing {

class StorageBackend {
 public:
  virtual ~StorageBackend() = default;
  virtual std::string name() const = 0;
  // Switches to a new, empty database named after `label`.
  virtual absl::Status NewDatabase(const std::string& label) = 0;
  virtual absl::StatusOr<std::unique_ptr<kms::Storage>> Open() = 0;
  // Command-line arguments naming the current database for storage_crash_writer.
  virtual std::vector<std::string> WriterArgs() const = 0;
};

// "sqlite" or "postgres".
std::unique_ptr<StorageBackend> MakeStorageBackend(const std::string& name);

// The PostgreSQL cluster shared by every postgres backend of this test binary, started on
// first use; nullptr (with the reason in *error) if it cannot start.
PostgresCluster* SharedPostgresCluster(std::string* error);

}  // namespace strongroom::testing
