// Gate: the one path every request takes: authenticate, authorize, run, audit.
//
// Admit() turns the presented credentials into a Principal (a token wins over a client
// certificate; a presented certificate must be trusted either way), checks the route's
// operation on the resource (in the engines' form: CanonicalResource in routes.h, so the
// check, the engine and the audit record name the same object) against the current
// PolicySet, and hands back a Call. The
// caller runs the request only if call.status() is OK, then calls RecordAsync() (or
// Record()), which writes the audit record (durably, group-committed; or only written, for
// the routes whose reply_after allows it) and says when it is; only then may the caller answer, and if that failed it must answer UNAVAILABLE
// instead of the result (fail closed).
// Refusals are audited too. While the audit log is failing, requests are refused
// before they run; each refusal retries the log, so service resumes once it can write.
//
// Policies and client CAs are swapped atomically by Reload() (SIGHUP); requests in
// flight finish with the set they started with. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/access/client_certs.h"
#include "server/access/policy.h"
#include "server/access/principal.h"
#include "server/access/routes.h"
#include "server/audit/audit_log.h"

namespace strongroom::server::audit {
class AuditHasher;
}  // namespace strongroom::server::audit

namespace strongroom::server::access {

class TokenStore;

// What a caller presented.
struct Credentials {
  std::string peer;                  // "ipv4:127.0.0.1:40112", "unix:..."
  std::string cert_chain_pem;  // client certificate chain, leaf first; empty if none
  absl::string_view token;           // bearer token; empty if none
  // The request carried a token more than once (two headers or metadata entries): refused,
  // since a front end and the gate could each take a different one.
  bool repeated_token = false;
  bool local_socket = false;         // the KMS plugin's unix socket
};

class Gate {
 public:
  // One request between Admit() and Record().
  class Call {
   public:
    const absl::Status& status() const { return status_; }
    const Principal& principal() const { return principal_; }
    const std::string& request_id() const { return request_id_; }
    const std::string& resource() const { return resource_; }
    // The policy set the request was checked against.
    const PolicySet& policies() const { return *policies_; }
    // For login routes (public: they carry their own credential): who the login proved the
    // caller to be, recorded as the audit record's identity.
    void set_identity(std::string identity) { principal_.identity = std::move(identity); }
    // What the request acted on beyond its resource, for the audit record (AuditEvent::detail).
    void set_detail(std::string detail) { detail_ = std::move(detail); }
    // The answer was signed before the request (a pre-signed OCSP response): on a route whose
    // reply_after allows it, the reply waits only for its audit line to be written.
    void set_answer_presigned(bool presigned) { answer_presigned_ = presigned; }

   private:
    friend class Gate;
    const Route* route_ = nullptr;
    absl::Time start_;
    std::string request_id_;
    std::string peer_;
    std::string resource_;
    std::string token_hmac_;
    std::string detail_;
    bool answer_presigned_ = false;
    Principal principal_;
    std::shared_ptr<const PolicySet> policies_;
    absl::Status status_;
  };

  // Sees the duration and success of each audit write (metrics).
  using AuditObserver = std::function<void(absl::Duration elapsed, bool ok)>;

  // The objects passed in must outlive the Gate. `hasher` may be null (no token_hmac in
  // audit records of refused tokens); so may `observer`. The token_hmac of a refused token
  // is HSM work paid from the token store's refusal budget (RefusalBudget), as its check is.
  Gate(std::shared_ptr<const PolicySet> policies, std::unique_ptr<ClientCertVerifier> certs,
       TokenStore* tokens, audit::AuditLog* audit, audit::AuditHasher* hasher,
       AuditObserver observer = nullptr);
  ~Gate();

  void Reload(std::shared_ptr<const PolicySet> policies, std::unique_ptr<ClientCertVerifier> certs);
  // The current policy set, for checks a handler makes after admission about objects only
  // the engine knows (pki::CallerRights over HTTP, listings filtered by `read`, the policies
  // a token minted over HTTP may hold). A reload between admission and such a check applies
  // the newer set.
  std::shared_ptr<const PolicySet> policies() const;
  // The current client-certificate verifier's counters and table sizes (for metrics).
  ClientCertVerifier::Stats cert_stats() const;

  Call Admit(const Credentials& credentials, const Route& route, std::string resource);
  // Audits the call with its outcome (for a refused call, its refusal) and the key version
  // and HTTP status when known; `done` gets OK once the record is durable (or only written,
  // for a route whose reply_after says so: routes.h), UNAVAILABLE if it could not be made so. `done` runs on the audit log's writer thread (quick, no
  // waiting); the call need not outlive this function.
  void RecordAsync(const Call& call, const absl::Status& result, uint32_t key_version,
                   int http_status, absl::AnyInvocable<void(absl::Status)> done);
  // The same, waiting for the outcome.
  absl::Status Record(const Call& call, const absl::Status& result, uint32_t key_version = 0,
                      int http_status = 0);

 private:
  // The audit record of `call`.
  static audit::AuditEvent Event(const Call& call, const absl::Status& outcome,
                                 uint32_t key_version, int http_status);
  absl::StatusOr<Principal> Authenticate(const Credentials& credentials, ClientCertVerifier& certs,
                                         Call& call);

  mutable absl::Mutex mu_;
  std::shared_ptr<const PolicySet> policies_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<ClientCertVerifier> certs_ ABSL_GUARDED_BY(mu_);
  TokenStore* const tokens_;
  audit::AuditLog* const audit_;
  audit::AuditHasher* const hasher_;
  const AuditObserver observer_;
  const std::string boot_id_;
  std::atomic<uint64_t> next_request_{1};
};

}  // namespace strongroom::server::access
