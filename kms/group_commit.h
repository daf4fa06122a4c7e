// GroupCommit: many writers' WriteBatches committed to a Storage in shared durable commits.
//
// Commit(batch) queues the batch and blocks until it is durable or has failed. One writer
// thread takes every batch queued at that moment (up to max_group_ops operations, and never
// two batches that touch the same key, so each batch's revision checks still see the state
// before it, nor a batch that requires a lease with any other) and applies them in one
// Storage::Commit: a burst of writers pays one durable commit instead of one each. Nothing
// is acknowledged before its group's Commit returned OK.
// A failed group fails exactly the callers in it, each with the Commit's error; except that
// after ABORTED (a revision check failed, so nothing was applied) the group is split in
// halves, each committed the same way, so only the writer whose check failed sees ABORTED,
// and k failed checks among n batches cost about 2k*log2(n) commits rather than n (a burst
// of racing compare-and-sets, such as replayed ACME nonces, keeps most of its grouping).
//
// For writes whose callers wait for durability anyway (the PKI's certificate inventory);
// reads go to the Storage directly. Thread-safe. The destructor commits what is queued,
// then joins the writer; Commit calls racing with the destructor are undefined.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "kms/storage.h"

namespace strongroom::kms {

class GroupCommit {
 public:
  // `storage` is not owned and outlives this object.
  explicit GroupCommit(Storage* storage, size_t max_group_ops = 4096);
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;
  ~GroupCommit();

  // Applies `batch` atomically and durably, as Storage::Commit does, in a group with the
  // batches queued beside it. Returns once it is durable, or with its group's error.
  absl::Status Commit(const WriteBatch& batch);

  // Batches queued and not yet taken by the writer (for metrics and tests).
  size_t queued() const;
  // Storage::Commit calls made so far, retries after ABORTED included.
  uint64_t storage_commits() const;

 private:
  struct Pending {
    const WriteBatch* batch;
    absl::Status status;
    bool done = false;
  };

  void WriterLoop();
  // Commits `group` (taken off the queue), sets each one's status; the Storage::Commit
  // calls it made.
  uint64_t CommitGroup(absl::Span<Pending* const> group);
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Storage* const storage_;
  const size_t max_group_ops_;
  mutable absl::Mutex mu_;
  std::deque<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t storage_commits_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread writer_;
};

}  // namespace strongroom::kms
