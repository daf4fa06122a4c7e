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
// is applied; a batch whose lease requirement (WriteBatch::RequireLease) does not hold is
// FAILED_PRECONDITION and nothing of it is applied. A networked backend that loses its
// connection during COMMIT reads the outcome back; only if it cannot, it returns
// UNAVAILABLE saying "outcome unknown" (the batch may then have been applied).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

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

// LeaseFence: a lease as one holder was granted it (see Storage::AcquireLease). A batch
// that requires it commits only while the lease still has that holder and epoch, so the
// writes of a holder that lost the lease (paused or cut off past its ttl while another node
// took over) never land after the takeover.
struct LeaseFence {
  std::string name;
  std::string holder;
  int64_t epoch = 0;
};

// The epoch a single-writer store grants every holder (see Storage::AcquireLease).
inline constexpr int64_t kSingleWriterLeaseEpoch = 1;

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
  // Commit applies the batch only if `fence` still holds, checked in the same transaction
  // (FAILED_PRECONDITION otherwise). Background jobs write under the lease they run by.
  WriteBatch& RequireLease(LeaseFence fence) {
    lease_ = std::move(fence);
    return *this;
  }
  const std::vector<Op>& ops() const { return ops_; }
  const std::optional<LeaseFence>& lease() const { return lease_; }
  bool empty() const { return ops_.empty(); }

 private:
  std::vector<Op> ops_;
  std::optional<LeaseFence> lease_;
};

// The lease check of a single-writer store, which grants every lease at
// kSingleWriterLeaseEpoch: OK unless `batch` requires another epoch. `backend` prefixes
// the error.
absl::Status CheckSingleWriterLease(const WriteBatch& batch, absl::string_view backend);

// One committed change seen by a ChangeFeed: the key and its new revision (0: deleted).
struct Change {
  std::string key;
  int64_t revision = 0;
};

// ChangeFeed: what other processes commit to a shared Storage, for cache invalidation.
// Next() returns the changes delivered since the previous call. It waits up to `max_wait`
// for one; when `max_wait` passes without any, it confirms with the database that nothing
// is missing and sets confirmed_as_of: every change committed before that moment has been
// returned by this or an earlier call. After the feed lost its connection (or on the first
// call) it returns `resync`: changes may have been missed, so every cache must be checked
// again in full. Errors (database unreachable) are UNAVAILABLE; the next call retries.
// One thread calls Next.
class ChangeFeed {
 public:
  struct Batch {
    std::vector<Change> changes;
    bool resync = false;
    absl::Time confirmed_as_of = absl::InfinitePast();  // InfinitePast: not confirmed
  };
  virtual ~ChangeFeed() = default;
  virtual absl::StatusOr<Batch> Next(absl::Duration max_wait) = 0;
};

// A lease for background work (see Storage::AcquireLease).
struct LeaseState {
  std::string holder;   // who holds it after the call
  int64_t epoch = 0;    // grows with every change of holder
  bool held = false;    // whether the caller holds it
};

// A node that heartbeats into the store (see Storage::Heartbeat).
struct NodeSeen {
  std::string node_id;
  std::string detail;          // what the node reported (its address)
  absl::Duration since_seen;   // on the store's clock
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

  // A feed of changes committed by other processes, or nullptr when this process is the
  // only writer (an embedded store): then what a process caches as it commits is always
  // fresh.
  virtual absl::StatusOr<std::unique_ptr<ChangeFeed>> Watch() { return nullptr; }

  // Takes or renews lease `name` for `holder` for `ttl`, on the store's clock: granted when
  // it is free, expired or already `holder`'s; a new holder gets the next epoch. Returns the
  // state after the call. Leases only spare work (one node runs background jobs);
  // correctness comes from compare-and-set; a holder's background writes also require
  // the lease (WriteBatch::RequireLease with its holder and epoch). A single-writer store
  // grants it always, at kSingleWriterLeaseEpoch.
  virtual absl::StatusOr<LeaseState> AcquireLease(absl::string_view name,
                                                  absl::string_view holder, absl::Duration ttl) {
    (void)ttl;
    (void)name;
    return LeaseState{std::string(holder), kSingleWriterLeaseEpoch, true};
  }
  // Records that node `node_id` (reporting `detail`) is alive now, and returns every node
  // seen within `window`, itself included. A single-writer store knows only the caller.
  virtual absl::StatusOr<std::vector<NodeSeen>> Heartbeat(absl::string_view node_id,
                                                          absl::string_view detail,
                                                          absl::Duration window) {
    (void)window;
    return std::vector<NodeSeen>{{std::string(node_id), std::string(detail), absl::ZeroDuration()}};
  }
  // The database server this process is connected to ("host:port"), or Location().
  virtual std::string Server() { return Location(); }
};

}  // namespace strongroom::kms
