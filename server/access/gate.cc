#include "server/access/gate.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/access/token_store.h"
#include "server/audit/audit_log.h"
#include "server/audit/hsm_audit_keys.h"

namespace strongroom::server::access {
namespace {

std::string RandomBootId() {
  uint8_t bytes[6];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return "000000000000";
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

}  // namespace

Gate::Gate(std::shared_ptr<const PolicySet> policies, std::unique_ptr<ClientCertVerifier> certs,
           TokenStore* tokens, audit::AuditLog* audit, audit::AuditHasher* hasher,
           AuditObserver observer)
    : policies_(std::move(policies)),
      certs_(std::move(certs)),
      tokens_(tokens),
      audit_(audit),
      hasher_(hasher),
      observer_(std::move(observer)),
      boot_id_(RandomBootId()) {}

Gate::~Gate() = default;

void Gate::Reload(std::shared_ptr<const PolicySet> policies,
                  std::unique_ptr<ClientCertVerifier> certs) {
  absl::MutexLock lock(&mu_);
  policies_ = std::move(policies);
  certs_ = std::move(certs);
}

absl::StatusOr<Principal> Gate::Authenticate(const Credentials& credentials,
                                             ClientCertVerifier& certs, Call& call) {
  Principal principal;
  if (credentials.local_socket) {
    principal.kind = Principal::Kind::kLocalSocket;
    principal.identity = "unix:kms-plugin";
    return principal;
  }
  if (credentials.repeated_token) {
    return absl::UnauthenticatedError("a token was presented more than once");
  }
  const absl::Time now = absl::Now();
  if (!credentials.cert_chain_pem.empty()) {
    absl::StatusOr<std::string> identity = certs.Identity(credentials.cert_chain_pem, now);
    if (!identity.ok()) return identity.status();
    principal.kind = Principal::Kind::kCertificate;
    principal.identity = *std::move(identity);
  }
  if (!credentials.token.empty()) {
    // HSM work for refused tokens, in the store and here, is paid from its refusal budget.
    absl::StatusOr<v1::TokenInfo> info = tokens_->Authenticate(credentials.token, now);
    if (!info.ok()) {
      // Correlate repeated attempts with one token without recording it; each is an HSM
      // operation, so only as many as the budget allows.
      if (hasher_ != nullptr && tokens_->TakeAuditHmac(now)) {
        absl::StatusOr<std::string> mac = hasher_->HexHmac(credentials.token);
        if (mac.ok()) call.token_hmac_ = *std::move(mac);
      }
      return info.status();
    }
    principal.kind = Principal::Kind::kToken;
    principal.identity = absl::StrCat("token:", info->accessor());
    principal.token_accessor = info->accessor();
    principal.policies.assign(info->policies().begin(), info->policies().end());
  }
  return principal;
}

std::shared_ptr<const PolicySet> Gate::policies() const {
  absl::ReaderMutexLock lock(&mu_);
  return policies_;
}

ClientCertVerifier::Stats Gate::cert_stats() const {
  absl::MutexLock lock(&mu_);
  return certs_->stats();
}

Gate::Call Gate::Admit(const Credentials& credentials, const Route& route, std::string resource) {
  Call call;
  call.route_ = &route;
  call.start_ = absl::Now();
  call.request_id_ = absl::StrFormat("%s-%08x", boot_id_, next_request_.fetch_add(1));
  call.peer_ = credentials.peer;
  call.resource_ = CanonicalResource(std::move(resource));
  std::shared_ptr<ClientCertVerifier> certs;
  {
    absl::ReaderMutexLock lock(&mu_);
    call.policies_ = policies_;
    certs = certs_;
  }
  if (route.operation == Operation::kPublic) {
    // Anyone may call; presented credentials are not examined.
    call.status_ = audit_->health();
    return call;
  }
  absl::StatusOr<Principal> principal = Authenticate(credentials, *certs, call);
  if (!principal.ok()) {
    call.status_ = principal.status();
    return call;
  }
  call.principal_ = *std::move(principal);
  call.status_ = call.policies_->Check(call.principal_, route.operation, call.resource_);
  if (call.status_.ok()) call.status_ = audit_->health();
  return call;
}

audit::AuditEvent Gate::Event(const Call& call, const absl::Status& outcome, uint32_t key_version,
                              int http_status) {
  const absl::Status& result = call.status_.ok() ? outcome : call.status_;
  audit::AuditEvent event;
  event.time = call.start_;
  event.request_id = call.request_id_;
  event.identity = call.principal_.identity;
  event.peer = call.peer_;
  event.operation = std::string(OperationName(call.route_->operation));
  event.resource = call.resource_;
  event.key_version = key_version;
  event.code = absl::StatusCodeToString(result.code());
  event.http_status = http_status;
  event.latency = absl::Now() - call.start_;
  if (!result.ok()) event.error = std::string(result.message());
  event.token_hmac = call.token_hmac_;
  event.detail = call.detail_;
  return event;
}

void Gate::RecordAsync(const Call& call, const absl::Status& outcome, uint32_t key_version,
                       int http_status, absl::AnyInvocable<void(absl::Status)> done) {
  const absl::Time begin = absl::Now();
  audit_->AppendAsync(
      Event(call, outcome, key_version, http_status),
      [this, begin, done = std::move(done)](absl::Status written) mutable {
        if (observer_) observer_(absl::Now() - begin, written.ok());
        std::move(done)(std::move(written));
      },
      ReplyDurability(*call.route_, call.answer_presigned_));
}

absl::Status Gate::Record(const Call& call, const absl::Status& outcome, uint32_t key_version,
                          int http_status) {
  const absl::Time begin = absl::Now();
  absl::Status written = audit_->Append(Event(call, outcome, key_version, http_status));
  if (observer_) observer_(absl::Now() - begin, written.ok());
  return written;
}

}  // namespace strongroom::server::access
