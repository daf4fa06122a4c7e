// ValidationQueue: ACME challenge validation off the request path.
//
// The challenge POST moves a challenge to "processing" (with processing_since) in storage
// and Submit()s it here; a worker of a fixed pool then runs ChallengeValidator on it and
// writes the outcome (challenge and authorization valid, or invalid with the problem) by
// compare-and-set, only if the challenge is still processing. Clients poll the
// authorization or the challenge for the result.
//
// Bounds: `workers` validations at once; at most `capacity` queued or running on this node
// (Submit answers kFull past it; the caller refuses the request); one entry per
// challenge (a second Submit of one in flight answers kAlready).
// Across nodes and restarts the state is in storage: a challenge left processing by a node
// that stopped is found stale (Stale()) by whichever node a client polls and submitted
// again; two nodes validating one challenge are harmless, the first outcome written wins.
// Thread-safe. The destructor drops what is queued (it stays processing in storage, stale
// later) and waits for running validations.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/acme/acme_store.h"
#include "server/acme/challenge_validator.h"
#include "server/worker_pool.h"

namespace strongroom::server::acme {

class ValidationQueue {
 public:
  // `store` and `validator` are not owned and outlive the queue. `workers` >= 1.
  ValidationQueue(AcmeStore* store, const ChallengeValidator* validator, int workers,
                  size_t capacity, absl::Duration validation_timeout);
  ~ValidationQueue();

  enum class Submitted { kQueued, kAlready, kFull };
  // Queues the validation of challenge `type` of authorization `authz_id`.
  Submitted Submit(const std::string& authz_id, const std::string& type)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Whether `challenge` has been processing for so long that the node that took it must
  // have stopped (three validation timeouts, at least 30 s).
  bool Stale(const ChallengeRecord& challenge, absl::Time now) const;

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t capacity() const { return capacity_; }

 private:
  void Validate(const std::string& authz_id, const std::string& type);

  AcmeStore* const store_;
  const ChallengeValidator* const validator_;
  const size_t capacity_;
  const absl::Duration stale_after_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> in_flight_ ABSL_GUARDED_BY(mu_);  // "<authz>/<type>"
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<WorkerPool> pool_;  // last: its tasks use the members above
};

}  // namespace strongroom::server::acme
