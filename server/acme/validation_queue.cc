#include "server/acme/validation_queue.h"

#include <algorithm>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace strongroom::server::acme {
namespace {

// Compare-and-set attempts to write one outcome (each lost race re-reads the record).
constexpr int kWriteAttempts = 5;

ChallengeRecord* FindChallenge(AuthorizationRecord* authz, absl::string_view type) {
  for (ChallengeRecord& c : *authz->mutable_challenges()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

void ApplyOutcome(const ValidationOutcome& outcome, absl::Time now, AuthorizationRecord* authz,
                  ChallengeRecord* challenge) {
  challenge->clear_processing_since();
  if (outcome.valid) {
    challenge->set_status("valid");
    challenge->set_validated(absl::ToUnixSeconds(now));
    authz->set_status("valid");
  } else {
    challenge->set_status("invalid");
    challenge->set_error_type(outcome.problem_type);
    challenge->set_error_detail(outcome.detail);
    authz->set_status("invalid");
  }
}

}  // namespace

ValidationQueue::ValidationQueue(AcmeStore* store, const ChallengeValidator* validator,
                                 int workers, size_t capacity, absl::Duration validation_timeout)
    : store_(store),
      validator_(validator),
      capacity_(capacity),
      stale_after_(std::max(absl::Seconds(30), 3 * validation_timeout)),
      pool_(std::make_unique<WorkerPool>(workers)) {}

ValidationQueue::~ValidationQueue() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  pool_.reset();  // queued tasks return at once; running ones finish
}

ValidationQueue::Submitted ValidationQueue::Submit(const std::string& authz_id,
                                                   const std::string& type) {
  std::string key = absl::StrCat(authz_id, "/", type);
  {
    absl::MutexLock lock(&mu_);
    if (in_flight_.contains(key)) return Submitted::kAlready;
    if (stopping_ || in_flight_.size() >= capacity_) return Submitted::kFull;
    in_flight_.insert(key);
  }
  pool_->Run([this, authz_id, type, key = std::move(key)] {
    absl::Cleanup done = [this, &key] {
      absl::MutexLock lock(&mu_);
      in_flight_.erase(key);
    };
    Validate(authz_id, type);
  });
  return Submitted::kQueued;
}

bool ValidationQueue::Stale(const ChallengeRecord& challenge, absl::Time now) const {
  return challenge.status() == "processing" &&
         absl::FromUnixSeconds(challenge.processing_since()) + stale_after_ < now;
}

size_t ValidationQueue::size() const {
  absl::MutexLock lock(&mu_);
  return in_flight_.size();
}

void ValidationQueue::Validate(const std::string& authz_id, const std::string& type) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
  }
  absl::StatusOr<std::optional<Stored<AuthorizationRecord>>> authz =
      store_->GetAuthorization(authz_id);
  if (!authz.ok() || !authz->has_value()) return;  // a poll finds it stale and retries
  AuthorizationRecord& record = (*authz)->record;
  ChallengeRecord* challenge = FindChallenge(&record, type);
  if (challenge == nullptr || challenge->status() != "processing") return;

  ValidationOutcome outcome;
  absl::StatusOr<std::optional<Stored<AccountRecord>>> account =
      store_->GetAccount(record.account_id());
  if (!account.ok()) return;
  if (record.expires() < absl::ToUnixSeconds(absl::Now())) {
    outcome = {false, "unauthorized", "the authorization expired before validation"};
  } else if (!account->has_value() || (*account)->record.status() != "valid") {
    outcome = {false, "unauthorized", "the account is no longer valid"};
  } else {
    ValidationRequest request;
    request.type = type == "http-01"       ? ChallengeType::kHttp01
                   : type == "tls-alpn-01" ? ChallengeType::kTlsAlpn01
                                           : ChallengeType::kDns01;
    request.identifier = record.identifier().value();
    request.identifier_is_ip = record.identifier().type() == "ip";
    request.token = challenge->token();
    request.key_authorization =
        absl::StrCat(challenge->token(), ".", (*account)->record.thumbprint());
    outcome = validator_->Validate(request);
  }
  int64_t revision = (*authz)->revision;
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    ApplyOutcome(outcome, absl::Now(), &record, challenge);
    absl::Status s = store_->UpdateAuthorization(record, revision);
    if (!absl::IsAborted(s)) return;  // written, or a storage fault: stale later, retried
    authz = store_->GetAuthorization(authz_id);
    if (!authz.ok() || !authz->has_value()) return;
    record = (*authz)->record;
    revision = (*authz)->revision;
    challenge = FindChallenge(&record, type);
    if (challenge == nullptr || challenge->status() != "processing") return;  // decided
  }
}

}  // namespace strongroom::server::acme
