// storage_crash_writer: the victim process of storage_crash_test.
//
// Usage: storage_crash_writer sqlite DB_PATH
//        storage_crash_writer postgres CONNINFO PASSWORD_FILE
//
// Opens that storage and, forever, commits record "crash/<n>" (n zero-padded,
// resuming after the highest record already stored) with a deterministic value, printing
// "<n>\n" to stdout and flushing only after Commit returned OK: each such line is the
// acknowledgement that the record is durable. Exits non-zero on the first error.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "kms/postgres_storage.h"
#include "kms/sqlite_storage.h"
#include "kms/storage.h"
#include "tests/testing/crash_records.h"

namespace {

constexpr absl::string_view kPrefix = "crash/";

using ::strongroom::testing::CrashKey;
using ::strongroom::testing::CrashValue;

absl::StatusOr<std::unique_ptr<strongroom::kms::Storage>> OpenStorage(int argc, char** argv) {
  const std::string backend = argv[1];
  if (backend == "sqlite" && argc == 3) {
    absl::StatusOr<std::unique_ptr<strongroom::kms::SqliteStorage>> storage =
        strongroom::kms::SqliteStorage::Open(argv[2]);
    if (!storage.ok()) return storage.status();
    return std::unique_ptr<strongroom::kms::Storage>(std::move(*storage));
  }
  if (backend == "postgres" && argc == 4) {
    strongroom::kms::PostgresStorageOptions options;
    options.conninfo = argv[2];
    options.password_file = argv[3];
    absl::StatusOr<std::unique_ptr<strongroom::kms::PostgresStorage>> storage =
        strongroom::kms::PostgresStorage::Open(options);
    if (!storage.ok()) return storage.status();
    return std::unique_ptr<strongroom::kms::Storage>(std::move(*storage));
  }
  return absl::InvalidArgumentError(
      "usage: storage_crash_writer sqlite DB_PATH | postgres CONNINFO PASSWORD_FILE");
}

int Run(int argc, char** argv) {
  absl::StatusOr<std::unique_ptr<strongroom::kms::Storage>> storage = OpenStorage(argc, argv);
  if (!storage.ok()) {
    std::fprintf(stderr, "storage_crash_writer: %s\n", storage.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::vector<strongroom::kms::Entry>> existing = (*storage)->List(kPrefix, "", 0);
  if (!existing.ok()) {
    std::fprintf(stderr, "storage_crash_writer: %s\n", existing.status().ToString().c_str());
    return 1;
  }
  int64_t next = 0;
  if (!existing->empty()) {
    absl::string_view last = existing->back().key;
    last.remove_prefix(kPrefix.size());
    if (!absl::SimpleAtoi(last, &next)) {
      std::fprintf(stderr, "storage_crash_writer: unexpected key in the database\n");
      return 1;
    }
    ++next;
  }
  for (;; ++next) {
    const absl::Status status = (*storage)->Commit(strongroom::kms::WriteBatch().Put(
        CrashKey(next), CrashValue(next), strongroom::kms::WriteBatch::kMustNotExist));
    if (!status.ok()) {
      std::fprintf(stderr, "storage_crash_writer: record %" PRId64 ": %s\n", next,
                   status.ToString().c_str());
      return 1;
    }
    if (std::printf("%" PRId64 "\n", next) < 0 || std::fflush(stdout) != 0) return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s sqlite DB_PATH | postgres CONNINFO PASSWORD_FILE\n", argv[0]);
    return 2;
  }
  return Run(argc, argv);
}
