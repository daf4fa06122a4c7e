#include "server/server_metrics.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "hsm/ck_rv.h"
#include "pki/ca.h"
#include "hsm/hsm.h"
#include "kms/barrier.h"
#include "kms/keyring.h"
#include "server/system_service.h"

namespace strongroom::server {
namespace {

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

// Distinguishes ServerMetrics objects in the per-thread series caches (an address could
// be reused by a later object).
uint64_t NextInstance() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

// The label of calls to methods no service has (UnknownGrpcMethods): their names are the
// caller's, so each would add series without bound, and gRPC keeps them in per-call memory
// (the per-thread cache below is keyed by the name's address).
constexpr char kUnknownMethod[] = "(unknown)";

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(ServerMetrics* metrics, const char* method)
      : metrics_(metrics), method_(method != nullptr ? method : ""), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->RecordRpc(method_, methods->GetSendStatus().error_code(), absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  ServerMetrics* const metrics_;
  const char* const method_;  // a registered method's name (gRPC's) or kUnknownMethod
  const absl::Time start_;
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(ServerMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Only the generic service (unknown methods) runs calls in this kind of context.
    const bool unknown =
        dynamic_cast<grpc::GenericCallbackServerContext*>(info->server_context()) != nullptr;
    return new MetricsInterceptor(metrics_, unknown ? kUnknownMethod : info->method());
  }

 private:
  ServerMetrics* const metrics_;
};

}  // namespace

ServerMetrics::ServerMetrics(MetricsRegistry* registry)
    : instance_(NextInstance()),
      registry_(registry),
      grpc_requests_(registry->AddCounter("strongroom_grpc_requests_total",
                                          "gRPC requests completed, by final status code.",
                                          {"service", "method", "code"})),
      grpc_duration_(registry->AddHistogram("strongroom_grpc_request_duration_seconds",
                                            "Time from the start of a gRPC call to its status.",
                                            {"service", "method"}, LatencyBuckets())),
      hsm_calls_(registry->AddCounter(
          "strongroom_hsm_calls_total",
          "PKCS#11 calls, by function and result (ok or the CKR_ name).", {"function", "result"})),
      hsm_duration_(registry->AddHistogram("strongroom_hsm_call_duration_seconds",
                                           "Duration of PKCS#11 calls.", {"function"},
                                           LatencyBuckets())),
      certificates_issued_(registry->AddCounter(
          "strongroom_pki_certificates_issued_total",
          "Certificates signed (IssueCertificate, SignCertificate, SignIntermediate).", {})),
      certificates_revoked_(registry->AddCounter("strongroom_pki_certificates_revoked_total",
                                                 "Certificates revoked.", {})),
      grpc_shed_(registry
                     ->AddCounter("strongroom_grpc_requests_shed_total",
                                  "gRPC requests refused at once because grpc.max_pending_requests "
                                  "were already pending (answered RESOURCE_EXHAUSTED).",
                                  {})
                     ->Get()),
      http_requests_(registry->AddCounter(
          "strongroom_http_requests_total",
          "HTTP requests answered, by route pattern, method and status code (refused and "
          "unrouted ones included).",
          {"route", "method", "code"})),
      http_duration_(registry->AddHistogram(
          "strongroom_http_request_duration_seconds",
          "Time from an HTTP request's first byte to its response being ready.",
          {"route", "method"}, LatencyBuckets())),
      audit_writes_(registry->AddCounter("strongroom_audit_writes_total",
                                         "Audit records written durably (ok) or not (failed).",
                                         {"result"})),
      audit_ok_(audit_writes_->WithLabels({"ok"})),
      audit_failed_(audit_writes_->WithLabels({"failed"})),
      audit_duration_(registry
                          ->AddHistogram("strongroom_audit_write_duration_seconds",
                                         "Time for an audit record to become durable (group "
                                         "commit included).",
                                         {}, LatencyBuckets())
                          ->Get()) {
  registry->AddGaugeCallback(
      "strongroom_bounded_entries",
      "Entries in each bounded cache, table or queue (beside strongroom_bounded_capacity).",
      {"structure"}, [this](GaugeSink& sink) {
        absl::MutexLock lock(&bounded_mu_);
        for (const Bounded& b : bounded_) sink.Add({b.structure}, b.size());
      });
  registry->AddGaugeCallback("strongroom_bounded_capacity",
                             "The bound of each cache, table or queue in strongroom_bounded_entries.",
                             {"structure"}, [this](GaugeSink& sink) {
                               absl::MutexLock lock(&bounded_mu_);
                               for (const Bounded& b : bounded_) sink.Add({b.structure}, b.capacity);
                             });
}

void ServerMetrics::RegisterBounded(const std::string& structure, double capacity,
                                    std::function<double()> size) {
  absl::MutexLock lock(&bounded_mu_);
  bounded_.push_back({structure, capacity, std::move(size)});
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServerMetrics::InterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

void ServerMetrics::RecordRpc(absl::string_view full_method, grpc::StatusCode code,
                              absl::Duration elapsed) {
  // The hot path: each thread keeps the series it has used, keyed by the method name's
  // address (gRPC's, stable for the server's life) and the code, so a call costs two
  // atomic updates after the first. The family lookup (a reader lock) happens once per
  // thread and series.
  using Key = std::tuple<uint64_t, const char*, size_t, int>;
  thread_local absl::flat_hash_map<Key, Series> cache;
  const Key key{instance_, full_method.data(), full_method.size(), static_cast<int>(code)};
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, Lookup(full_method, code)).first;
  it->second.requests->Increment();
  it->second.duration->Observe(absl::ToDoubleSeconds(elapsed));
  if (it->second.certificates != nullptr) it->second.certificates->Increment();
}

ServerMetrics::Series ServerMetrics::Lookup(absl::string_view full_method,
                                            grpc::StatusCode code) {
  absl::string_view m = full_method;
  if (!m.empty() && m.front() == '/') m.remove_prefix(1);
  size_t slash = m.find('/');
  std::string service(slash == absl::string_view::npos ? "" : m.substr(0, slash));
  std::string method(slash == absl::string_view::npos ? m : m.substr(slash + 1));
  Series series{grpc_requests_->WithLabels({service, method, CodeName(code)}),
                grpc_duration_->WithLabels({service, method}), nullptr};
  if (code == grpc::StatusCode::OK && service == "strongroom.v1.Pki") {
    if (method == "IssueCertificate" || method == "SignCertificate" ||
        method == "SignIntermediate") {
      series.certificates = certificates_issued_->Get();
    } else if (method == "RevokeCertificate") {
      series.certificates = certificates_revoked_->Get();
    }
  }
  return series;
}

void ServerMetrics::OnCall(const char* function, CK_RV rv, absl::Duration elapsed) {
  hsm_calls_->WithLabels({function, rv == CKR_OK ? "ok" : hsm::CkRvName(rv)})->Increment();
  hsm_duration_->WithLabels({function})->Observe(absl::ToDoubleSeconds(elapsed));
}

void ServerMetrics::RecordHttp(absl::string_view method, absl::string_view route, int status,
                               absl::Duration elapsed) {
  // As RecordRpc: each thread keeps the series it has used, keyed by the addresses of the
  // route and method strings (the server's own, stable for its life) and the status.
  using Key = std::tuple<uint64_t, const char*, size_t, const char*, size_t, int>;
  thread_local absl::flat_hash_map<Key, HttpSeries> cache;
  const Key key{instance_, route.data(), route.size(), method.data(), method.size(), status};
  auto it = cache.find(key);
  if (it == cache.end()) {
    const std::string m(method), r(route);
    it = cache
             .emplace(key, HttpSeries{http_requests_->WithLabels({r, m, absl::StrCat(status)}),
                                      http_duration_->WithLabels({r, m})})
             .first;
  }
  it->second.requests->Increment();
  it->second.duration->Observe(absl::ToDoubleSeconds(elapsed));
}

void ServerMetrics::RecordShed() { grpc_shed_->Increment(); }

void ServerMetrics::RecordAuditWrite(absl::Duration elapsed, bool ok) {
  (ok ? audit_ok_ : audit_failed_)->Increment();
  audit_duration_->Observe(absl::ToDoubleSeconds(elapsed));
}

void ServerMetrics::RegisterStateGauges(hsm::Hsm* hsm, kms::Barrier* barrier, kms::Keyring* keyring,
                                        pki::Ca* ca, absl::Time start_time) {
  MetricsRegistry& r = *registry_;
  r.AddGaugeCallback("strongroom_pki_crl_age_seconds",
                     "Seconds since the thisUpdate of each issuer's current CRL.", {"issuer"},
                     [ca](GaugeSink& sink) {
                       absl::StatusOr<std::vector<std::pair<std::string, absl::Time>>> crls =
                           ca->StoredCrlTimes();
                       if (!crls.ok()) return;
                       const absl::Time now = absl::Now();
                       for (const auto& [issuer, this_update] : *crls) {
                         sink.Add({issuer}, absl::ToDoubleSeconds(now - this_update));
                       }
                     });
  r.AddGaugeCallback("strongroom_sealed", "1 while the barrier is sealed, else 0.",
                     [barrier] { return barrier->sealed() ? 1.0 : 0.0; });
  r.AddGaugeCallback("strongroom_hsm_available", "1 while the HSM token answers, else 0.",
                     [hsm] { return hsm->health().ok() ? 1.0 : 0.0; });
  r.AddGaugeCallback("strongroom_hsm_sessions_in_use", "PKCS#11 sessions leased from the pool.",
                     [hsm] { return static_cast<double>(hsm->sessions_in_use()); });
  r.AddGaugeCallback("strongroom_hsm_sessions_open",
                     "PKCS#11 sessions open, leased or idle (at most hsm.max_sessions).",
                     [hsm] { return static_cast<double>(hsm->sessions_open()); });
  r.AddGaugeCallback("strongroom_kek_version",
                     "Version of the key-encryption key in use (0 while sealed).",
                     [barrier] { return static_cast<double>(barrier->state().kek_version); });
  r.AddGaugeCallback("strongroom_transit_keys", "Transit keys loaded since the last unseal.",
                     [keyring] { return static_cast<double>(keyring->Snapshots().size()); });
  r.AddGaugeCallback("strongroom_transit_key_versions",
                     "Available versions of each loaded transit key.", {"key"},
                     [keyring](GaugeSink& sink) {
                       for (const auto& key : keyring->Snapshots()) {
                         sink.Add({key->name()}, key->record().versions_size());
                       }
                     });
  r.AddGaugeCallback(
      "strongroom_transit_version_encryptions",
      "Encryptions reserved by each version of each loaded encryption key: an upper bound on "
      "those made, compared with strongroom_transit_version_encryption_limit.",
      {"key", "version"}, [keyring](GaugeSink& sink) {
        for (const auto& key : keyring->Snapshots()) {
          if (!kms::IsAead(key->type())) continue;
          for (const kms::TransitVersionRecord& v : key->record().versions()) {
            sink.Add({key->name(), absl::StrCat(v.version())},
                     static_cast<double>(v.encryptions_reserved()));
          }
        }
      });
  r.AddGaugeCallback(
      "strongroom_transit_version_encryption_limit",
      "Encryptions a key version may make before the key rotates itself.",
      [keyring] { return static_cast<double>(keyring->options().max_encryptions_per_version); });
  r.AddGaugeCallback("strongroom_build_info", "Always 1; the version label names the build.",
                     {"version"}, [](GaugeSink& sink) { sink.Add({kVersion}, 1); });
  const double start = absl::ToDoubleSeconds(start_time - absl::UnixEpoch());
  r.AddGaugeCallback("strongroom_start_time_seconds", "When strongroomd started, in Unix time.",
                     [start] { return start; });
}

}  // namespace strongroom::server
