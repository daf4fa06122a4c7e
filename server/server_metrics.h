// ServerMetrics: strongroomd's metrics — gRPC requests (through a server interceptor) and
// those shed under overload, HTTP requests (from HttpServer's observer), PKCS#11 calls (as the HSM's CallObserver), audit writes (from
// the access gate), certificates issued and revoked (from the Pki calls' outcomes) and
// state gauges evaluated at scrape time.
//
// Kept together so each hook in the rest of the server is one line. Families are
// registered in the constructor; the registry, and everything passed to
// RegisterStateGauges, must outlive this object and every scrape. Thread-safe.
#pragma once

#include <grpcpp/support/status.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hsm/pkcs11_module.h"
#include "server/metrics.h"

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}

namespace strongroom::hsm {
class Hsm;
}
namespace strongroom::kms {
class Barrier;
class Keyring;
}  // namespace strongroom::kms
namespace strongroom::pki {
class Ca;
}

namespace strongroom::server {

class ServerMetrics : public hsm::CallObserver {
 public:
  explicit ServerMetrics(MetricsRegistry* registry);

  // A factory for ServerBuilder::experimental().SetInterceptorCreators; each call's
  // interceptor records its outcome here. Calls of methods no service has are counted under
  // service="" method="(unknown)", whatever name the caller gave.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

  // `full_method` is "/package.Service/Method", a string that lives as long as this object.
  void RecordRpc(absl::string_view full_method, grpc::StatusCode code, absl::Duration elapsed);
  void OnCall(const char* function, CK_RV rv, absl::Duration elapsed) override;
  // One HTTP response: `route` is the pattern that took the request (a bounded set: the
  // registered routes, "unrouted", "refused"), `method` a common method or "OTHER". Both
  // strings must live as long as this object (HttpServer's observer passes its own), since
  // each thread caches the series by their address.
  void RecordHttp(absl::string_view method, absl::string_view route, int status,
                  absl::Duration elapsed);
  // One gRPC request shed under overload (access::GrpcGate).
  void RecordShed();
  // One audit record's durable write (including the wait for its group commit).
  void RecordAuditWrite(absl::Duration elapsed, bool ok);

  // A cache, table or queue with a bound: at every scrape `size()` is exported as
  // strongroom_bounded_entries{structure} beside `capacity` as
  // strongroom_bounded_capacity{structure}. What `size` reads must outlive this object.
  void RegisterBounded(const std::string& structure, double capacity, std::function<double()> size);

  // The scrape-time gauges: seal state, HSM, KEK, transit keys and encryption counts,
  // CRL ages, build info and start time.
  void RegisterStateGauges(hsm::Hsm* hsm, kms::Barrier* barrier, kms::Keyring* keyring,
                           pki::Ca* ca, absl::Time start_time);

 private:
  struct Series {
    Counter* requests;
    Histogram* duration;
    Counter* certificates;  // issued or revoked, when the call is such a Pki call
  };
  struct HttpSeries {
    Counter* requests;
    Histogram* duration;
  };
  // The series one RPC outcome updates (a family lookup; RecordRpc caches it per thread).
  Series Lookup(absl::string_view full_method, grpc::StatusCode code);

  struct Bounded {
    std::string structure;
    double capacity;
    std::function<double()> size;
  };

  const uint64_t instance_;
  MetricsRegistry* const registry_;
  Family<Counter>* const grpc_requests_;
  Family<Histogram>* const grpc_duration_;
  Family<Counter>* const hsm_calls_;
  Family<Histogram>* const hsm_duration_;
  Family<Counter>* const certificates_issued_;
  Family<Counter>* const certificates_revoked_;
  Counter* const grpc_shed_;
  Family<Counter>* const http_requests_;
  Family<Histogram>* const http_duration_;
  Family<Counter>* const audit_writes_;
  Counter* const audit_ok_;
  Counter* const audit_failed_;
  Histogram* const audit_duration_;
  absl::Mutex bounded_mu_;
  std::vector<Bounded> bounded_ ABSL_GUARDED_BY(bounded_mu_);
};

}  // namespace strongroom::server
