// RunHttpPhase: strongroom-bench's `http` phase. wrk (Debian's, 2 threads, TLS on loopback,
// keep-alive) against the in-process strongroomd's HTTPS API, at each number of connections:
//   - POST /v1/transit/encrypt (64 B, a token of the "bench" policy, durable audit);
//   - GET /v1/sys/health, a fixed body through the gate, audited (answered once its audit
//     line is written: server/access/routes.h);
//   - nginx (Debian's) on the same certificate and TLS versions returning a fixed body of
//     the encrypt reply's size;
//   - gRPC Encrypt with as many calls in flight, measured by the caller's function;
// with the CPU per request of each (HttpPhaseRow).
// PrintHttpPhase prints the table and the ratios issue 13 sets goals for. Exits the process
// (1) with a message if the token or the first HTTPS encrypt fails.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tools/bench/load.h"

namespace strongroom::bench {

struct HttpPhaseOptions {
  int http_port = 0;  // the server's HTTPS listener
  std::string dir;    // a scratch folder, created: the wrk script (with the token) and nginx's files
  std::string cert_file;  // the server's TLS certificate and key, which nginx serves too
  std::string key_file;
  // To the same server, as an identity that may create tokens with the "bench" policy.
  std::shared_ptr<grpc::Channel> channel;
  std::string plaintext;  // what HTTPS encrypt sends
  std::vector<int> connections = {8, 64, 256};
  int seconds = 5;  // each measurement
  int cores = 2;    // nginx worker processes
  // gRPC Encrypt of the same plaintext with `in_flight` calls in flight for `seconds`.
  std::function<Result(int in_flight, int seconds)> grpc_encrypt;
};

// wrk's figures for one run: requests/s and p50/p99 latency (0 when wrk failed or saw
// non-2xx answers), and how many requests it completed.
struct WrkResult {
  double requests_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double requests = 0;
};

// Each measurement also reports the CPU its processes used per request: this process (the
// server, and for gRPC its client too), wrk, and nginx's processes, so that other work on
// a shared machine does not count. Both sides of each ratio are measured this way.
struct HttpPhaseRow {
  int connections = 0;
  WrkResult encrypt, health, nginx;
  Result grpc;
  double encrypt_cpu_us = 0, health_cpu_us = 0, nginx_cpu_us = 0, grpc_cpu_us = 0;
};

std::vector<HttpPhaseRow> RunHttpPhase(const HttpPhaseOptions& options);
void PrintHttpPhase(const std::vector<HttpPhaseRow>& rows);

}  // namespace strongroom::bench
