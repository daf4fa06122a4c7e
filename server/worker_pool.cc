#include "server/worker_pool.h"

#include <pthread.h>

#include <utility>

namespace strongroom::server {

WorkerPool::WorkerPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back(&WorkerPool::Work, this);
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    work_cv_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Run(absl::AnyInvocable<void() &&> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
  if (idle_ > 0) work_cv_.Signal();
}

void WorkerPool::Work() {
  pthread_setname_np(pthread_self(), "sr-worker");  // as `top -H` and perf show it
  absl::MutexLock lock(&mu_);
  while (true) {
    while (tasks_.empty() && !stopping_) {
      ++idle_;
      work_cv_.Wait(&mu_);
      --idle_;
    }
    if (tasks_.empty()) return;  // stopping, and nothing left to run
    absl::AnyInvocable<void()&&> task = std::move(tasks_.front());
    tasks_.pop_front();
    mu_.Unlock();
    std::move(task)();
    mu_.Lock();
  }
}

size_t WorkerPool::queued() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size();
}

}  // namespace strongroom::server
