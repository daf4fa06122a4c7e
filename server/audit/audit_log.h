// AuditLog: the tamper-evident audit log, one JSON line per request, hash-chained and
// periodically signed.
//
// Format (one JSON object a line, members in this order, no whitespace; "?" = only if set):
//   every line:  "seq" (1, 2, ... consecutive across rotated files), "prev" (lowercase hex
//                SHA-256 of the previous line's bytes without its newline; 64 zeros before
//                the very first line), "node" (the writing node's id: each node of a cluster
//                keeps its own chain), "type"
//   header:      "time", "public_key" (base64 SPKI of the checkpoint key),
//                "previous_file"? (name of the rotated file this one continues)
//   request:     "time", "request_id", "identity", "peer", "operation", "resource",
//                "key_version", "code", "http_status"?, "latency_us", "error"?, "token_hmac"?
//   checkpoint:  "time", "sig": base64 DER ECDSA over SHA-256("strongroom-audit-checkpoint\0"
//                || seq as 8 bytes big-endian || the 32 bytes of prev); through the chain it
//                commits to every earlier line, including those of earlier files.
// Times are RFC 3339 UTC with microseconds. Every file starts with a header. A checkpoint is
// written once checkpoint_interval has passed since the last one if requests came since (so
// the tail is signed within an interval, and an idle log gets none), before rotation and on
// close. Rotated files are renamed <path>.<UTC time YYYYMMDDTHHMMSSZ>.<first seq>; a file
// may exceed max_file_bytes by at most one batch of lines.
//
// Two levels of acknowledgement (Durability): a line is "written" once it is in the file, in
// chain order (it survives the process being killed, not the machine losing power), and
// "durable" once fdatasync'd. A batch holding any line appended kDurable (or a header or a
// checkpoint) is fdatasync'd before any of its callbacks run; a batch of kWritten lines only
// is not, and is made durable with the next durable batch or at the latest with the next
// timed checkpoint (checkpoint_interval), and on close.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/audit/internal/line_format.h"

namespace strongroom::server::audit {

// One request as the audit log records it. Never put a secret in any field.
struct AuditEvent {
  absl::Time time;
  std::string request_id;
  std::string identity;
  std::string peer;
  std::string operation;
  std::string resource;
  uint32_t key_version = 0;
  std::string code;     // gRPC status code name: "OK", "PERMISSION_DENIED", ...
  int http_status = 0;  // set for HTTP routes
  absl::Duration latency;
  std::string error;       // status message on failure (never secret)
  std::string token_hmac;  // optional hex HMAC-SHA256 for correlation, may be empty
  std::string detail;      // optional: what the request acted on beyond `resource` (never secret)
};

// When AppendAsync's callback may run: once the line is written to the file (kWritten), or
// once it is also fdatasync'd (kDurable). Callers choose kWritten only for requests that
// touch no key, token or state and reveal nothing secret (see access::Route).
enum class Durability { kDurable, kWritten };

// AuditSigner: signs checkpoint digests. Implementations must be thread-compatible; the
// log calls them from one thread at a time.
class AuditSigner {
 public:
  virtual ~AuditSigner() = default;
  // DER ECDSA-Sig-Value over `sha256_digest` (32 bytes).
  virtual absl::StatusOr<std::string> SignDigest(absl::string_view sha256_digest) = 0;
  // The DER SubjectPublicKeyInfo that verifies the signatures.
  virtual const std::string& public_key_der() const = 0;
};

struct AuditLogOptions {
  std::string path;
  // The id of the node that writes this log, put in every line. Required (the server's
  // config checks its form).
  std::string node_id;
  uint64_t max_file_bytes = uint64_t{64} << 20;
  absl::Duration max_file_age = absl::Hours(24);
  absl::Duration checkpoint_interval = absl::Seconds(10);
};

class AuditLog {
 public:
  // Opens the log at options.path, creating its directory (0700) and file (0600) if
  // missing. An existing file is continued: a trailing partial line (never acknowledged)
  // is truncated away and the chain resumes from its last complete line; an empty file
  // continues the newest rotated file beside it. A file whose header names another public
  // key than `signer`'s is rotated first. `signer` must outlive the log. Errors name the
  // path and the failing system call; DATA_LOSS if the file's first or last complete line
  // is not an audit line (the operator moves it aside); FAILED_PRECONDITION if the log being
  // continued was written by another node id (two nodes must not share one log);
  // INVALID_ARGUMENT for a bad path or node id.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const AuditLogOptions& options,
                                                        AuditSigner* signer);
  // Writes what is queued (running its callbacks) and a final signed checkpoint, then
  // closes the file. No Append may be running or start.
  ~AuditLog();

  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Called once the event's line is written or durable, as asked (OK), or could not be
  // made so (UNAVAILABLE "audit log unavailable: <reason>"). Runs on the log's writer
  // thread: it must be quick and must not wait for the log.
  using AppendCallback = absl::AnyInvocable<void(absl::Status)>;

  // Queues the event's line; `done` runs once it is written or durable as `level` asks.
  // Lines queued while a batch is being written are group-committed by the writer thread
  // in the next batch: one write, and one fdatasync if any of them is kDurable. If that
  // fails, every line of the batch gets UNAVAILABLE, the file is truncated back to the end
  // of the previous batch (lines already acknowledged stay) and the chain continues from
  // there; the next batch tries again. Thread-safe.
  void AppendAsync(const AuditEvent& event, AppendCallback done,
                   Durability level = Durability::kDurable);
  // AppendAsync, waiting for the outcome.
  absl::Status Append(const AuditEvent& event);

  // OK, or UNAVAILABLE while the last write (or checkpoint signature) failed.
  absl::Status health() const;
  // Lines queued and not yet taken by the writer (for metrics). No bound of its own: every
  // line is a request admitted by a bounded listener, waiting for its record.
  size_t queued() const;

 private:
  AuditLog(const AuditLogOptions& options, AuditSigner* signer);

  // Open's work on the file: create or recover it, before any commit can run.
  absl::Status Start();
  // Finds the last complete line of fd_, truncating a partial one; sets the chain state.
  absl::Status Recover();
  // Sets the chain state from the last line of the newest rotated file, if there is one.
  absl::Status RecoverFromRotated();
  // Continues the chain after the line `line` (seq `seq`, type `type`) of a file on disk.
  void ResumeChain(uint64_t seq, absl::string_view type, absl::string_view line);

  // When a timed checkpoint is next due (reads file state: call on the writer thread, or
  // before it starts).
  absl::Time CheckpointDue() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The writer thread: commits what is queued, batch after batch, and timed checkpoints
  // while no requests arrive; on stopping, drains the queue first.
  void WriterLoop();
  // Writes `bodies` (request bodies, one per line) and a checkpoint if one is due,
  // rotating first if the file is due for it; fdatasyncs if `sync` (or a checkpoint went in).
  absl::Status WriteBatch(absl::string_view bodies, bool sync);
  // Makes sure fd_ is an open file that starts with a header.
  absl::Status EnsureFile();
  // Renames the file to its rotated name (after a checkpoint if `checkpoint_first`) and
  // closes it; the next EnsureFile starts the new one.
  absl::Status Rotate(bool checkpoint_first);
  // Starts a group of lines in out_, chained to the last written line.
  void BeginLines();
  // Appends to out_ the line {"seq":..,"prev":..,<body>} and advances the pending chain.
  void AppendLine(absl::string_view body);
  // Appends a checkpoint line; false (and the line left out) if signing failed.
  bool AppendCheckpoint(absl::Time now);
  // Writes out_ and, if `sync` or out_ holds a checkpoint, fdatasyncs (covering lines
  // written earlier without it); on success the pending chain state becomes the written
  // one, on failure the file is truncated back and the pending state dropped.
  absl::Status Commit(bool sync = true);
  // Writes a checkpoint by itself (close, rotation); signing failures are only reported
  // through health().
  absl::Status WriteCheckpoint();
  absl::Status Unavailable(absl::string_view operation, int err) const;

  const AuditLogOptions options_;
  AuditSigner* const signer_;
  const std::string public_key_b64_;
  const std::string node_member_;  // ,"node":"<id>" as it appears in every line

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;                   // writer: lines queued, or stopping
  std::string queue_ ABSL_GUARDED_BY(mu_);  // request bodies, each ending in '\n'
  std::vector<AppendCallback> callbacks_ ABSL_GUARDED_BY(mu_);  // one per queued line
  size_t queued_durable_ ABSL_GUARDED_BY(mu_) = 0;  // queued lines appended kDurable
  absl::Time checkpoint_due_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status write_status_ ABSL_GUARDED_BY(mu_);
  absl::Status sign_status_ ABSL_GUARDED_BY(mu_);
  std::thread writer_;

  // File and chain state: Open and the destructor use it while the writer thread is not
  // running, the writer thread otherwise.
  int fd_ = -1;
  uint64_t file_bytes_ = 0;      // written (acknowledged) length of the file
  bool unsynced_ = false;        // lines written since the last fdatasync
  bool dirty_ = false;           // bytes beyond file_bytes_ may remain from a failed write
  uint64_t file_first_seq_ = 0;  // seq of the header
  absl::Time file_start_;        // time of the header
  std::string previous_file_;    // for the next header; empty for a fresh chain
  uint64_t next_seq_ = 1;
  internal::Sha256 prev_{};          // chain hash of the last written line
  uint64_t uncovered_lines_ = 0;     // written lines after the last checkpoint
  uint64_t uncovered_requests_ = 0;  // of which requests
  absl::Time last_checkpoint_;       // of the last checkpoint attempt
  // Lines formatted but not yet written, and the chain state after them.
  std::string out_;
  uint64_t pending_seq_ = 1;
  internal::Sha256 pending_prev_{};
  uint64_t pending_lines_ = 0;
  uint64_t pending_requests_ = 0;
  bool pending_checkpoint_ = false;
};

}  // namespace strongroom::server::audit
