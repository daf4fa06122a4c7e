#include "tests/testing/storage_backends.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kms/postgres_storage.h"
#include "kms/sqlite_storage.h"

namespace strongroom::testing {
namespace {

// `label` with every character outside [a-z0-9] replaced by '_' (a file or database name).
std::string CleanLabel(const std::string& label) {
  std::string clean;
  for (char c : label) clean.push_back(absl::ascii_isalnum(c) ? absl::ascii_tolower(c) : '_');
  return clean.substr(0, 40);
}

class SqliteBackend final : public StorageBackend {
 public:
  std::string name() const override { return "sqlite"; }
  absl::Status NewDatabase(const std::string& label) override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string dir =
        absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/sqlite-", CleanLabel(label));
    mkdir(dir.c_str(), 0700);
    path_ = absl::StrCat(dir, "/storage.db");
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::remove(absl::StrCat(path_, suffix).c_str());
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<kms::Storage>> Open() override {
    absl::StatusOr<std::unique_ptr<kms::SqliteStorage>> storage = kms::SqliteStorage::Open(path_);
    if (!storage.ok()) return storage.status();
    return std::unique_ptr<kms::Storage>(std::move(*storage));
  }
  std::vector<std::string> WriterArgs() const override { return {"sqlite", path_}; }

 private:
  std::string path_;
};

class PostgresBackend final : public StorageBackend {
 public:
  std::string name() const override { return "postgres"; }
  absl::Status NewDatabase(const std::string& label) override {
    std::string error;
    cluster_ = SharedPostgresCluster(&error);
    if (cluster_ == nullptr) return absl::FailedPreconditionError(error);
    absl::StatusOr<std::string> database = cluster_->CreateDatabase(CleanLabel(label));
    if (!database.ok()) return database.status();
    database_ = *database;
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<kms::Storage>> Open() override {
    kms::PostgresStorageOptions options;
    options.conninfo = cluster_->ConnInfo(database_);
    options.password_file = cluster_->PasswordFile();
    absl::StatusOr<std::unique_ptr<kms::PostgresStorage>> storage =
        kms::PostgresStorage::Open(options);
    if (!storage.ok()) return storage.status();
    return std::unique_ptr<kms::Storage>(std::move(*storage));
  }
  std::vector<std::string> WriterArgs() const override {
    return {"postgres", cluster_->ConnInfo(database_), cluster_->PasswordFile()};
  }

 private:
  PostgresCluster* cluster_ = nullptr;
  std::string database_;
};

}  // namespace

std::unique_ptr<StorageBackend> MakeStorageBackend(const std::string& name) {
  if (name == "postgres") return std::make_unique<PostgresBackend>();
  return std::make_unique<SqliteBackend>();
}

PostgresCluster* SharedPostgresCluster(std::string* error) {
  static absl::Mutex mu(absl::kConstInit);
  static PostgresCluster* cluster = nullptr;
  static std::string* start_error = nullptr;
  absl::MutexLock lock(&mu);
  if (cluster == nullptr && start_error == nullptr) {
    absl::StatusOr<std::unique_ptr<PostgresCluster>> started =
        PostgresCluster::Start({.name = "shared-pg"});
    if (started.ok()) {
      cluster = started->release();
      // Stopped at exit; the cluster's watchdog covers an abnormal exit.
      std::atexit([] { delete cluster; });
    } else {
      start_error = new std::string(started.status().ToString());
    }
  }
  if (cluster == nullptr && error != nullptr) *error = *start_error;
  return cluster;
}

}  // namespace strongroom::testing
