// Storage: the durable, transactional record store under the key hierarchy.
//
// A Storage maps string keys ("transit/keys/payments", "sys/kek") to opaque values, each
// with a revision that grows on every write. Higher layers encode their records as protos
// and never store plaintext key material: values hold key material only after the barrier
// has wrapped it with the KEK. Implementations: SqliteStorage (embedded default) and
// PostgresStorage (several nodes on one database).
//
// Durability: once Commit returns OK the batch survives a process kill or power loss.
// Atomicity: a batch is applied whole or not at all. Concurrency: every method is safe to
// call from many threads; Commit with expected revisions gives compare-and-set.
//
// Errors: storage faults (disk full, I/O error, locked database past the timeout, database
// unreachable) are UNAVAILABLE; a failed revision check is ABORTED and nothing of the batch
// is applied. A networked backend that loses its connection during COMMIT reads the
// outcome back; only if it cannot, it returns UNAVAILABLE saying "outcome unknown" (the
// batch may then have been applied).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strongroom::kms {

// Before compare-and-set attempt `attempt` (0-based) is retried after an ABORTED Commit:
// a short pause that grows with `attempt` (up to ~3 ms) and is jittered, so writers
// racing on one record stop colliding in lockstep.
void CasBackOff(int attempt);

// Entry is one stored record.
struct Entry {
  std::string key;
  std::string value;
  int64_t revision = 0;  // > 0 for a stored entry
};

// WriteBatch is an ordered list of puts and deletes applied atomically by Commit.
class WriteBatch {
 public:
  // Means "the key must not exist" when passed as expected_revision.
  static constexpr int64_t kMustNotExist = 0;
  // Means "no revision check" when passed as expected_revision.
  static constexpr int64_t kAnyRevision = -1;

  struct Op {
    enum class Kind { kPut, kDelete };
    Kind kind;
    std::string key;
    std::string value;          // kPut only
    int64_t expected_revision;  // kAnyRevision, kMustNotExist or an exact revision
  };

  WriteBatch& Put(absl::string_view key, absl::string_view value,
                  int64_t expected_revision = kAnyRevision) {
    ops_.push_back({Op::Kind::kPut, std::string(key), std::string(value), expected_revision});
    return *this;
  }
  WriteBatch& Delete(absl::string_view key, int64_t expected_revision = kAnyRevision) {
    ops_.push_back({Op::Kind::kDelete, std::string(key), "", expected_revision});
    return *this;
  }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }

 private:
  std::vector<Op> ops_;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Returns the entry under `key`, or nullopt if there is none.
  virtual absl::StatusOr<std::optional<Entry>> Get(absl::string_view key) = 0;

  // Returns up to `limit` entries whose keys start with `prefix` and sort strictly after
  // `start_after` (byte order), in key order. limit 0 means no limit.
  virtual absl::StatusOr<std::vector<Entry>> List(absl::string_view prefix,
                                                  absl::string_view start_after, size_t limit) = 0;

  // Applies `batch` atomically and durably. Each op's expected_revision is checked against
  // the state before the batch; on any mismatch returns ABORTED naming the key and applies
  // nothing. Deleting a missing key with kAnyRevision is not an error.
  virtual absl::Status Commit(const WriteBatch& batch) = 0;

  // Short description for status reports: backend name and location ("sqlite", path).
  virtual std::string Backend() const = 0;
  virtual std::string Location() const = 0;
  virtual uint32_t SchemaVersion() const = 0;
};

}  // namespace strongroom::kms
