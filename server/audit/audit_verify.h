// VerifyAuditLogs: checks audit log files written by AuditLog (format in audit_log.h), of
// one node or of several (each node of a cluster writes its own chain).
//
// The files are grouped by the node named in their first line, and each node's files are
// put in chain order by the seq of that line, whatever order they are given in. For each
// node it checks that every line is a well-formed line of the format written by that node,
// that seq is consecutive and every "prev" is the hash of the line before it (across the
// node's files), and that every checkpoint signature verifies with the header's public key.
// With a pinned key, every header must carry that key; without one, every header of a node
// must carry the key of that node's first file. Lines after a node's last checkpoint are
// not yet signed: they are counted in the report, not failed. A node's first file may
// continue earlier files that are not given. Depends only on absl and OpenSSL.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace strongroom::server::audit {

// One node's chain.
struct ChainReport {
  std::string node;
  uint64_t files = 0;
  uint64_t lines = 0;
  uint64_t checkpoints = 0;
  uint64_t first_seq = 0;  // 1 unless earlier files were not given
  uint64_t last_seq = 0;
  uint64_t last_checkpoint_seq = 0;  // 0 if none; it signs every line before it
  uint64_t uncovered_lines = 0;      // lines after the last checkpoint
};

struct VerifyReport {
  std::vector<ChainReport> chains;  // one per node, by node id
};

// OK if every check passes. DATA_LOSS "<file>:<line>: <problem>" for the first line that
// fails (nodes in id order); INVALID_ARGUMENT for an unreadable pinned key or no files; NOT_FOUND or
// PERMISSION_DENIED naming a file that cannot be read. `report` is filled as far as the
// files were read.
absl::Status VerifyAuditLogs(const std::vector<std::string>& files,
                             const std::string& public_key_pem_or_empty, VerifyReport* report);

}  // namespace strongroom::server::audit
