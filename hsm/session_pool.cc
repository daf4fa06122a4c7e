#include "hsm/session_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hsm/ck_rv.h"
#include "hsm/pin_file.h"

namespace strongroom::hsm {

std::string PadField(const std::string& s, size_t n) {
  std::string out = s.substr(0, n);
  out.resize(n, ' ');
  return out;
}

std::string TrimField(const unsigned char* field, size_t n) {
  std::string s(reinterpret_cast<const char*>(field), n);
  size_t end = s.find_last_not_of(std::string(" \0", 2));
  return end == std::string::npos ? "" : s.substr(0, end + 1);
}

absl::StatusOr<CK_SLOT_ID> FindTokenSlot(Pkcs11Module& module, const std::string& label) {
  CK_ULONG count = 0;
  if (auto s = SR_P11(module, C_GetSlotList, CK_TRUE, nullptr, &count); !s.ok()) return s;
  std::vector<CK_SLOT_ID> slots(count);
  if (count > 0) {
    if (auto s = SR_P11(module, C_GetSlotList, CK_TRUE, slots.data(), &count); !s.ok()) return s;
    slots.resize(count);
  }
  std::vector<std::string> seen;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    if (!SR_P11(module, C_GetTokenInfo, slot, &info).ok()) continue;
    if (!(info.flags & CKF_TOKEN_INITIALIZED)) continue;
    std::string token = TrimField(info.label, sizeof(info.label));
    if (token == label) return slot;
    seen.push_back(absl::StrCat("'", token, "'"));
  }
  return absl::NotFoundError(absl::StrCat(
      "no initialised token labelled '", label, "' in PKCS#11 module ", module.path(),
      seen.empty() ? " (it has no initialised tokens)"
                   : absl::StrCat(" (tokens present: ", absl::StrJoin(seen, ", "), ")")));
}

absl::StatusOr<std::unique_ptr<SessionPool>> SessionPool::Create(Pkcs11Module* module,
                                                                 SessionPoolOptions options) {
  if (options.max_sessions == 0) options.max_sessions = 1;
  std::unique_ptr<SessionPool> pool(new SessionPool(module, std::move(options)));
  absl::WriterMutexLock lock(&pool->state_mu_);
  if (absl::Status s = pool->ConnectLocked(/*reinitialize=*/false); !s.ok()) return s;
  return pool;
}

SessionPool::~SessionPool() {
  absl::WriterMutexLock lock(&state_mu_);
  CloseAllLocked();
}

void SessionPool::CloseAllLocked() {
  absl::MutexLock lock(&pool_mu_);
  for (CK_SESSION_HANDLE h : idle_) (void)SR_P11(*module_, C_CloseSession, h);
  idle_.clear();
  open_ = 0;
  if (anchor_ != CK_INVALID_HANDLE) {
    (void)SR_P11(*module_, C_Logout, anchor_);
    (void)SR_P11(*module_, C_CloseSession, anchor_);
    anchor_ = CK_INVALID_HANDLE;
  }
}

absl::Status SessionPool::ConnectLocked(bool reinitialize) {
  last_attempt_ = absl::Now();
  CloseAllLocked();
  ++generation_;
  auto fail = [&](const absl::Status& s, State state) {
    if (anchor_ != CK_INVALID_HANDLE) {
      (void)SR_P11(*module_, C_CloseSession, anchor_);
      anchor_ = CK_INVALID_HANDLE;
    }
    state_ = state;
    last_error_ = absl::Status(
        s.code(), absl::StrCat("HSM token '", options_.token_label, "': ", s.message()));
    return last_error_;
  };
  if (reinitialize) {
    if (absl::Status s = module_->Reinitialize(); !s.ok()) return fail(s, State::kBroken);
  }
  absl::StatusOr<CK_SLOT_ID> slot = FindTokenSlot(*module_, options_.token_label);
  if (!slot.ok()) return fail(slot.status(), State::kBroken);
  slot_ = *slot;
  if (absl::Status s = SR_P11(*module_, C_OpenSession, *slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                              nullptr, nullptr, &anchor_);
      !s.ok()) {
    anchor_ = CK_INVALID_HANDLE;
    return fail(s, State::kBroken);
  }
  absl::StatusOr<SecretData> pin = ReadPinFile(options_.pin_file);
  if (!pin.ok()) return fail(pin.status(), State::kPinRefused);
  auto bytes = pin->RevealSecret();
  absl::Status login = SR_P11(*module_, C_Login, anchor_, CKU_USER,
                              const_cast<CK_UTF8CHAR*>(bytes.data()), bytes.size());
  if (!login.ok() && RvOf(login) != CKR_USER_ALREADY_LOGGED_IN) {
    return fail(
        absl::Status(login.code(), absl::StrCat("login failed: ", login.message())),
        login.code() == absl::StatusCode::kPermissionDenied ? State::kPinRefused : State::kBroken);
  }
  {
    absl::MutexLock lock(&pool_mu_);
    limit_ = options_.max_sessions;
  }
  state_ = State::kConnected;
  last_error_ = absl::OkStatus();
  return absl::OkStatus();
}

absl::Status SessionPool::Reconnect(uint64_t seen_generation) {
  absl::WriterMutexLock lock(&state_mu_);
  if (state_ == State::kConnected) {
    if (generation_ != seen_generation) return absl::OkStatus();  // Someone else did it.
  } else if (state_ != State::kBroken ||
             absl::Now() - last_attempt_ < options_.reconnect_interval) {
    return StateErrorLocked();
  }
  return ConnectLocked(/*reinitialize=*/true);
}

absl::StatusOr<CK_SESSION_HANDLE> SessionPool::Acquire() {
  absl::Time deadline = absl::Now() + options_.acquire_timeout;
  absl::MutexLock lock(&pool_mu_);
  while (true) {
    if (!idle_.empty()) {
      CK_SESSION_HANDLE h = idle_.back();
      idle_.pop_back();
      ++leased_;
      return h;
    }
    if (open_ < limit_) {
      ++open_;  // Reserve the place while the module opens the session.
      CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
      pool_mu_.Unlock();
      absl::Status s = SR_P11(*module_, C_OpenSession, slot_.load(),
                              CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h);
      pool_mu_.Lock();
      if (s.ok()) {
        ++leased_;
        return h;
      }
      --open_;
      if (RvOf(s) != CKR_SESSION_COUNT) return s;
      // The token has fewer sessions than configured: use what we have.
      limit_ = std::max<size_t>(open_, 1);
      if (open_ == 0) return s;
    }
    auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool_mu_) {
      return !idle_.empty() || open_ < limit_;
    };
    if (!pool_mu_.AwaitWithDeadline(absl::Condition(&free), deadline)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "no free HSM session within ", absl::FormatDuration(options_.acquire_timeout), " (",
          open_, " open, max_sessions ", options_.max_sessions, ")"));
    }
  }
}

void SessionPool::Release(CK_SESSION_HANDLE session, bool healthy) {
  absl::MutexLock lock(&pool_mu_);
  --leased_;
  if (healthy) {
    idle_.push_back(session);
    return;
  }
  // A failed operation may leave the session mid-operation; a fresh one is cheap.
  (void)SR_P11(*module_, C_CloseSession, session);
  --open_;
}

absl::Status SessionPool::RunOnce(const Fn& fn, uint64_t* generation, bool* reconnect) {
  absl::ReaderMutexLock lock(&state_mu_);
  *generation = generation_.load();
  *reconnect = false;
  if (state_ != State::kConnected) {
    *reconnect = state_ == State::kBroken;
    return StateErrorLocked();
  }
  absl::StatusOr<CK_SESSION_HANDLE> session = Acquire();
  if (!session.ok()) {
    *reconnect = IsTokenFault(RvOf(session.status()));
    return session.status();
  }
  absl::Status s = fn(*session);
  Release(*session, s.ok());
  *reconnect = IsTokenFault(RvOf(s));
  return s;
}

absl::Status SessionPool::Run(const Fn& fn) {
  uint64_t generation;
  bool reconnect;
  absl::Status s = RunOnce(fn, &generation, &reconnect);
  if (!reconnect) return s;
  if (absl::Status r = Reconnect(generation); !r.ok()) return r;
  return RunOnce(fn, &generation, &reconnect);
}

void SessionPool::Logout() {
  absl::WriterMutexLock lock(&state_mu_);
  CloseAllLocked();
  state_ = State::kLoggedOut;
  last_error_ = absl::OkStatus();
}

absl::Status SessionPool::Login() {
  absl::WriterMutexLock lock(&state_mu_);
  if (state_ == State::kConnected) return absl::OkStatus();
  return ConnectLocked(/*reinitialize=*/state_ == State::kBroken);
}

uint64_t SessionPool::generation() const { return generation_.load(); }

absl::Status SessionPool::StateErrorLocked() const {
  switch (state_) {
    case State::kConnected:
      return absl::OkStatus();
    case State::kLoggedOut:
      return absl::FailedPreconditionError("HSM sessions are logged out (sealed)");
    case State::kBroken:
    case State::kPinRefused:
      break;
  }
  return last_error_;
}

absl::Status SessionPool::health() const {
  absl::ReaderMutexLock lock(&state_mu_);
  return StateErrorLocked();
}

size_t SessionPool::sessions_in_use() const {
  absl::MutexLock lock(&pool_mu_);
  return leased_;
}

size_t SessionPool::sessions_open() const {
  absl::MutexLock lock(&pool_mu_);
  return open_;
}

}  // namespace strongroom::hsm
