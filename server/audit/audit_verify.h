// VerifyAuditLogs: checks audit log files written by AuditLog (format in audit_log.h).
//
// Checks that every line is a well-formed line of the format, that seq is consecutive and
// every "prev" is the hash of the line before it (across the files, given oldest first),
// and that every checkpoint signature verifies with the header's public key. With a pinned
// key, every header must carry that key; without one, every header must carry the first
// file's key. Lines after the last checkpoint are not yet signed: they are counted in the
// report, not failed. The first file may continue earlier files that are not given.
// Depends only on absl and OpenSSL. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace strongroom::server::audit {

struct VerifyReport {
  uint64_t files = 0;
  uint64_t lines = 0;
  uint64_t checkpoints = 0;
  uint64_t first_seq = 0;  // 1 unless earlier files were not given
  uint64_t last_seq = 0;
  uint64_t last_checkpoint_seq = 0;  // 0 if none; it signs every line before it
  uint64_t uncovered_lines = 0;      // lines after the last checkpoint
};

// OK if every check passes. DATA_LOSS "<file>:<line>: <problem>" for the first line that
// fails; INVALID_ARGUMENT for an unreadable pinned key or no files; NOT_FOUND or
// PERMISSION_DENIED naming a file that cannot be read. `report` is filled as far as the
// files were read.
absl::Status VerifyAuditLogs(const std::vector<std::string>& files,
                             const std::string& public_key_pem_or_empty, VerifyReport* report);

}  // namespace strongroom::server::audit
