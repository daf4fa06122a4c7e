// RequestLog: the requests of one kind a fake service received, in arrival order, for the
// CLI's tests to check what the command sent. Thread-safe (gRPC handlers run concurrently).
#pragma once

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace strongroom::cli::testing {

template <typename Request>
class RequestLog {
 public:
  void Add(const Request& request) {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
  }
  std::vector<Request> Get() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strongroom::cli::testing
