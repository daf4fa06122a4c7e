// Pkcs11Module: a loaded PKCS#11 library and the single prologue through which every
// call to it goes.
//
// Load() dlopens the module, fetches its function list and initialises it for
// multi-threaded use (CKF_OS_LOCKING_OK). Call it through SR_P11(module, C_Xxx, args...):
// the prologue consults the fault injector, calls the function and maps the CK_RV to an
// absl::Status whose message is "C_Xxx: CKR_NAME" and whose payload carries the CK_RV
// (RvOf). Thread-safe, except Reinitialize(), which callers must serialise against every
// other call (SessionPool does).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "hsm/fault_injector.h"
#include "hsm/pkcs11.h"

namespace strongroom::hsm {

// OK for CKR_OK; otherwise Status(CkRvCode(rv), "<function>: <CKR_NAME>") with the CK_RV
// as payload.
absl::Status StatusFromRv(const char* function, CK_RV rv);

// The CK_RV carried by a status from the prologue; CKR_OK if there is none.
CK_RV RvOf(const absl::Status& status);

// CallObserver: told about every call through the prologue (for metrics). OnCall runs on
// the calling thread right after the function returns, with the CK_RV the caller sees
// (including injected faults); it must be thread-safe, quick and must not call the module.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  virtual void OnCall(const char* function, CK_RV rv, absl::Duration elapsed) = 0;
};

class Pkcs11Module {
 public:
  // NOT_FOUND if `path` does not exist, FAILED_PRECONDITION if it is not a loadable
  // PKCS#11 module, the mapped CK_RV if C_Initialize fails. Messages name the path.
  static absl::StatusOr<std::unique_ptr<Pkcs11Module>> Load(const std::string& path);
  ~Pkcs11Module();
  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

  const std::string& path() const { return path_; }
  CK_FUNCTION_LIST* functions() const { return functions_; }
  FaultInjector& faults() { return faults_; }

  // Sets (or, with nullptr, clears) the observer of every later call. Not owned; it must
  // stay valid until it is cleared or the module is destroyed.
  void SetObserver(CallObserver* observer) { observer_.store(observer, std::memory_order_release); }

  // The call prologue; use SR_P11 rather than calling it directly.
  template <typename Fn, typename... Args>
  absl::Status Call(const char* name, Fn fn, Args... args) {
    CallObserver* observer = observer_.load(std::memory_order_acquire);
    absl::Time start = observer != nullptr ? absl::Now() : absl::InfinitePast();
    CK_RV rv = faults_.Intercept(name);
    if (rv == CKR_OK) rv = fn(args...);
    if (observer != nullptr) observer->OnCall(name, rv, absl::Now() - start);
    return StatusFromRv(name, rv);
  }

  // C_Finalize then C_Initialize: every session and login of this process is dropped, and
  // the module rescans its slots (how a token that went away is found again).
  absl::Status Reinitialize();

 private:
  Pkcs11Module(std::string path, void* handle, CK_FUNCTION_LIST* functions)
      : path_(std::move(path)), handle_(handle), functions_(functions) {}
  absl::Status Initialize();

  std::string path_;
  void* handle_;
  CK_FUNCTION_LIST* functions_;
  bool initialized_ = false;
  FaultInjector faults_;
  std::atomic<CallObserver*> observer_{nullptr};
};

}  // namespace strongroom::hsm

// SR_P11(module, C_Encrypt, session, ...) calls module.functions()->C_Encrypt(session, ...)
// through the prologue and evaluates to an absl::Status.
#define SR_P11(module, fn, ...) (module).Call(#fn, (module).functions()->fn, __VA_ARGS__)
