// SessionPool: logged-in PKCS#11 sessions on one token, leased to callers, with
// reconnection after an outage.
//
// Create() finds the token by label, opens an anchor session and logs in with the PIN
// read from the PIN file (the PIN is held only during login). Run(fn) leases a session,
// calls fn(session) and returns the lease; at most max_sessions are open, and callers
// wait for a free one (CKR_SESSION_COUNT from the module also means "wait"). When fn or
// the lease fails with a fault of the token, its sessions or the library, the pool
// reinitialises the module, finds the token again, logs in and retries fn once; while
// the token stays away, calls fail fast with UNAVAILABLE and reconnection is tried at
// most once a second. A refused PIN stops automatic retries until Login() is called,
// so a wrong PIN cannot lock the token. Logout() closes everything (seal); Login()
// reopens (unseal). Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hsm/pkcs11.h"
#include "hsm/pkcs11_module.h"

namespace strongroom::hsm {

struct SessionPoolOptions {
  std::string token_label;
  std::string pin_file;
  size_t max_sessions = 16;
  // How long Run waits for a free session before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(30);
  // Least time between two automatic reconnection attempts while the token is away.
  absl::Duration reconnect_interval = absl::Seconds(1);
};

class SessionPool {
 public:
  using Fn = std::function<absl::Status(CK_SESSION_HANDLE)>;

  static absl::StatusOr<std::unique_ptr<SessionPool>> Create(Pkcs11Module* module,
                                                             SessionPoolOptions options);
  ~SessionPool();

  // Runs fn with a logged-in read/write session (see the class comment for retries).
  // fn must not keep the handle. FAILED_PRECONDITION while logged out.
  absl::Status Run(const Fn& fn);

  // Closes every session and logs out. Idempotent.
  void Logout();
  // Finds the token, logs in and reopens the pool; clears a refused-PIN stop. Idempotent.
  absl::Status Login();

  // Changes whenever the module was reinitialised: object handles of an older
  // generation are stale. Lock-free, so callable from inside Run.
  uint64_t generation() const;
  // OK if the last interaction with the token succeeded, else the error that keeps it away.
  absl::Status health() const;
  size_t sessions_in_use() const;
  // Sessions open (leased and idle), at most max_sessions.
  size_t sessions_open() const;

 private:
  SessionPool(Pkcs11Module* module, SessionPoolOptions options)
      : module_(module), options_(std::move(options)) {}

  absl::Status ConnectLocked(bool reinitialize) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);
  void CloseAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);
  absl::Status Reconnect(uint64_t seen_generation);
  // OK while connected, else the error that explains the state.
  absl::Status StateErrorLocked() const ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  absl::StatusOr<CK_SESSION_HANDLE> Acquire() ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  void Release(CK_SESSION_HANDLE session, bool healthy) ABSL_SHARED_LOCKS_REQUIRED(state_mu_);
  // Sets *reconnect when the failure calls for reconnecting.
  absl::Status RunOnce(const Fn& fn, uint64_t* generation, bool* reconnect);

  Pkcs11Module* const module_;
  const SessionPoolOptions options_;

  // Readers: every Run. Writer: connect, reconnect, login, logout (no session is leased).
  mutable absl::Mutex state_mu_;
  enum class State { kConnected, kBroken, kLoggedOut, kPinRefused };
  State state_ ABSL_GUARDED_BY(state_mu_) = State::kBroken;
  absl::Status last_error_ ABSL_GUARDED_BY(state_mu_);
  absl::Time last_attempt_ ABSL_GUARDED_BY(state_mu_) = absl::InfinitePast();
  // Written under state_mu_ held exclusively; readable without it (also from inside Run).
  std::atomic<uint64_t> generation_{0};
  std::atomic<CK_SLOT_ID> slot_{0};
  // Holds the login: closing a token's last session logs it out.
  CK_SESSION_HANDLE anchor_ ABSL_GUARDED_BY(state_mu_) = CK_INVALID_HANDLE;

  mutable absl::Mutex pool_mu_ ABSL_ACQUIRED_AFTER(state_mu_);
  std::vector<CK_SESSION_HANDLE> idle_ ABSL_GUARDED_BY(pool_mu_);
  size_t open_ ABSL_GUARDED_BY(pool_mu_) = 0;  // leased + idle
  size_t leased_ ABSL_GUARDED_BY(pool_mu_) = 0;
  size_t limit_ ABSL_GUARDED_BY(pool_mu_) = 0;  // lowered on CKR_SESSION_COUNT
};

// Finds the slot holding the initialised token labelled `label` (NOT_FOUND lists the
// labels that are present).
absl::StatusOr<CK_SLOT_ID> FindTokenSlot(Pkcs11Module& module, const std::string& label);

// Pads or truncates `s` to a blank-padded PKCS#11 label/ID field of `n` bytes, and back.
std::string PadField(const std::string& s, size_t n);
std::string TrimField(const unsigned char* field, size_t n);

}  // namespace strongroom::hsm
