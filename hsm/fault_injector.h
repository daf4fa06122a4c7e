// FaultInjector: makes chosen PKCS#11 calls fail, for tests of outage handling.
//
// Pkcs11Module consults it in its call prologue; when nothing is armed the cost is one
// relaxed atomic load. Thread-safe.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "hsm/pkcs11.h"

namespace strongroom::hsm {

class FaultInjector {
 public:
  // Makes the next `times` calls of `function` ("C_Encrypt", or "*" for every function)
  // return `rv` without reaching the module; times < 0 means until Clear().
  void Fail(absl::string_view function, CK_RV rv, int times = -1);
  // Removes every armed fault.
  void Clear();
  // The CK_RV to return instead of calling `function`, or CKR_OK to call it.
  CK_RV Intercept(const char* function);

 private:
  struct Rule {
    std::string function;
    CK_RV rv;
    int remaining;
  };
  std::atomic<bool> armed_{false};
  absl::Mutex mu_;
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strongroom::hsm
