// RunAcmePhase: strongroom-bench's `acme` phase. Complete ACME orders per second against
// the bench's strongroomd (newOrder -> http-01 answered by the bench itself -> validated ->
// finalize with a fresh P-256 CSR -> certificate download; tools/bench/acme_client.h), with
// `accounts` accounts ordering in parallel, beside SignCertificate over gRPC under the same
// role (certificates stored, as ACME's are) at the same concurrency, in alternating rounds;
// it prints both with p50/p99 per order or call, their ratio (the protocol's overhead) and
// the HTTP requests per order. The server must have been started with
// pki.acme.validation_overrides "*" -> 127.0.0.1:`http01_port` and request limits above
// the load. Exits the process (1) with a message if the setup or any order fails.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <vector>

namespace strongroom::bench {

struct AcmePhaseOptions {
  double seconds = 3;  // each measurement, split into rounds
  int accounts = 8;    // ACME accounts ordering in parallel; SignCertificate clients likewise
  int https_port = 0;  // strongroomd's HTTPS listener
  int http01_port = 0;
  // gRPC channels with rights to create an issuer and a role and to sign (one per client,
  // reused round-robin when there are fewer than `accounts`).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
};

void RunAcmePhase(const AcmePhaseOptions& options);

}  // namespace strongroom::bench
