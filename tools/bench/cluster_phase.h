// RunClusterPhase: strongroom-bench's `cluster` phase. Real strongroomd processes (the
// runfile server/strongroomd) on one SoftHSM token: 1 node on SQLite, and 1, 2 and 3 nodes on
// a throwaway PostgreSQL 15 primary with a synchronous streaming standby
// (tests/testing/postgres_cluster.h, so it needs root to run PostgreSQL as `postgres`). With
// the same clients spread over the nodes it prints, for each setup:
//   - unary and batched Encrypt (ops/s, p50/p99, CPU per request or item of the strongroomd
//     processes (/proc/<pid>/stat), of PostgreSQL's postmaster and its children, and of the
//     whole machine: the nodes, PostgreSQL and the clients share this machine's cores);
//   - CreateKey and RotateKey latency (p50/p99) on each backend;
//   - on 3 nodes, the time until another node honours a rotation (its Encrypt uses the new
//     version) and a token revocation (it refuses the token), p50/p99, polled every 10 ms up
//     to a bound, with the count that were not honoured within it;
//   - a failover: kill -9 the primary's postmaster and promote the standby under a write
//     load on every node: seconds without service (the longest gap between consecutive
//     acknowledgements across the clients), requests failed, acknowledged keys lost.
// Exits the process (1) with a message if a setup cannot be brought up or a call fails
// outside the failover.
#pragma once

namespace strongroom::bench {

struct ClusterPhaseOptions {
  double seconds = 3;  // each throughput measurement
  int clients = 8;     // calls in flight, spread over the nodes
  int batch = 100;     // items per batched Encrypt
};

void RunClusterPhase(const ClusterPhaseOptions& options);

}  // namespace strongroom::bench
