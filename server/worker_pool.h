// WorkerPool: a fixed set of threads that run queued tasks in order of arrival.
//
// The gRPC services hand each request to it so that work which may block (HSM calls,
// storage writes) never holds gRPC's own few callback threads. A task is woken for only
// when a worker is idle; under load workers take the next task without sleeping.
// The queue itself has no bound: callers bound what they queue (access::GrpcGate sheds
// calls beyond grpc.max_pending_requests before they reach Run()).
// Thread-safe. The destructor runs every queued task, then joins the workers.
#pragma once

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace strongroom::server {

class WorkerPool {
 public:
  // `threads` >= 1.
  explicit WorkerPool(int threads);
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Run(absl::AnyInvocable<void() &&> task);
  // Tasks queued and not yet taken by a worker (for metrics).
  size_t queued() const;

 private:
  void Work();

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace strongroom::server
