#include "hsm/fault_injector.h"

namespace strongroom::hsm {

void FaultInjector::Fail(absl::string_view function, CK_RV rv, int times) {
  absl::MutexLock lock(&mu_);
  rules_.push_back({std::string(function), rv, times});
  armed_.store(true, std::memory_order_release);
}

void FaultInjector::Clear() {
  absl::MutexLock lock(&mu_);
  rules_.clear();
  armed_.store(false, std::memory_order_release);
}

CK_RV FaultInjector::Intercept(const char* function) {
  if (!armed_.load(std::memory_order_relaxed)) return CKR_OK;
  absl::MutexLock lock(&mu_);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (it->function != "*" && it->function != function) continue;
    CK_RV rv = it->rv;
    if (it->remaining > 0 && --it->remaining == 0) rules_.erase(it);
    armed_.store(!rules_.empty(), std::memory_order_release);
    return rv;
  }
  return CKR_OK;
}

}  // namespace strongroom::hsm
