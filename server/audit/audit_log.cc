#include "server/audit/audit_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace strongroom::server::audit {
namespace {

using internal::Sha256;

constexpr size_t kReadChunk = 64 << 10;

std::string Errno(int err) { return std::strerror(err); }

std::string Dirname(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Creates `dir` and any missing parents with mode 0700.
absl::Status MakeDirectories(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("audit log directory ", dir, " exists and is not a directory"));
  }
  if (dir != "/" && dir != ".") {
    absl::Status parent = MakeDirectories(Dirname(dir));
    if (!parent.ok()) return parent;
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(
        absl::StrCat("cannot create audit log directory ", dir, ": ", Errno(errno)));
  }
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string& dir) {
  ScopedFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || fsync(fd.get()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("audit log unavailable: fsync directory ", dir, ": ", Errno(errno)));
  }
  return absl::OkStatus();
}

absl::Status ReadAt(int fd, uint64_t offset, size_t n, const std::string& path, std::string* out) {
  out->resize(n);
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, out->data() + done, n - done, offset + done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot read audit log ", path, ": ",
                                                 r == 0 ? "file shrank" : Errno(errno)));
    }
    done += r;
  }
  return absl::OkStatus();
}

// The complete lines of a file: their length, and the first and last of them.
struct FileLines {
  uint64_t complete_bytes = 0;  // up to and including the last '\n'
  std::string first;
  std::string last;
};

absl::StatusOr<FileLines> ScanLines(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot stat audit log ", path, ": ", Errno(errno)));
  }
  // Read backwards until the tail holds the last two newlines (or the whole file).
  uint64_t start = st.st_size;
  std::string tail, chunk;
  auto newlines = [&] { return std::count(tail.begin(), tail.end(), '\n'); };
  while (start > 0 && newlines() < 2) {
    size_t n = std::min<uint64_t>(start, kReadChunk);
    start -= n;
    absl::Status read = ReadAt(fd, start, n, path, &chunk);
    if (!read.ok()) return read;
    tail.insert(0, chunk);
  }
  FileLines lines;
  size_t end = tail.rfind('\n');
  if (end == std::string::npos) return lines;
  lines.complete_bytes = start + end + 1;
  size_t begin = end == 0 ? std::string::npos : tail.rfind('\n', end - 1);
  begin = begin == std::string::npos ? 0 : begin + 1;
  lines.last = tail.substr(begin, end - begin);
  // The first line: the header, short.
  std::string head;
  for (uint64_t offset = 0;; offset += kReadChunk) {
    size_t n = std::min<uint64_t>(lines.complete_bytes - offset, kReadChunk);
    absl::Status read = ReadAt(fd, offset, n, path, &chunk);
    if (!read.ok()) return read;
    head += chunk;
    size_t newline = head.find('\n');
    if (newline != std::string::npos) {
      lines.first = head.substr(0, newline);
      return lines;
    }
  }
}

// The members of a line that recovery needs.
struct LineSummary {
  uint64_t seq = 0;
  std::string type;
  absl::Time time;
  std::string public_key;  // headers only
  std::string node;
};

absl::StatusOr<LineSummary> Summarize(absl::string_view line, const std::string& path,
                                      absl::string_view which) {
  absl::StatusOr<std::vector<internal::Field>> fields = internal::ParseLine(line);
  LineSummary summary;
  bool have_seq = false, have_time = false;
  if (fields.ok()) {
    for (const internal::Field& field : *fields) {
      if (field.name == "seq" && field.is_number) {
        summary.seq = field.number;
        have_seq = true;
      } else if (field.name == "type") {
        summary.type = field.text;
      } else if (field.name == "time") {
        have_time = internal::ParseTime(field.text, &summary.time);
      } else if (field.name == "public_key") {
        summary.public_key = field.text;
      } else if (field.name == "node") {
        summary.node = field.text;
      }
    }
  }
  if (!have_seq || !have_time || summary.type.empty()) {
    return absl::DataLossError(absl::StrCat("audit log ", path, ": the ", which,
                                            " line is not an audit line; move the file aside"));
  }
  return summary;
}

// FAILED_PRECONDITION unless `line` (of the log at `path`) was written by `node_id`.
absl::Status CheckNode(const LineSummary& line, absl::string_view node_id,
                       const std::string& path) {
  if (line.node == node_id) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "audit log ", path, " was written by node \"", absl::CHexEscape(line.node),
      "\", not by this node \"", node_id,
      "\": give every node its own audit.path (or set node_id back)"));
}

void AppendRequestBody(const AuditEvent& event, std::string* out) {
  out->append("\"type\":\"request\",\"time\":\"");
  internal::AppendTime(event.time, out);
  out->push_back('"');
  internal::AppendStringMember("request_id", event.request_id, out);
  internal::AppendStringMember("identity", event.identity, out);
  internal::AppendStringMember("peer", event.peer, out);
  internal::AppendStringMember("operation", event.operation, out);
  internal::AppendStringMember("resource", event.resource, out);
  absl::StrAppend(out, ",\"key_version\":", event.key_version);
  internal::AppendStringMember("code", event.code, out);
  if (event.http_status > 0) absl::StrAppend(out, ",\"http_status\":", event.http_status);
  absl::StrAppend(
      out, ",\"latency_us\":", std::max<int64_t>(0, absl::ToInt64Microseconds(event.latency)));
  if (!event.error.empty()) internal::AppendStringMember("error", event.error, out);
  if (!event.token_hmac.empty()) internal::AppendStringMember("token_hmac", event.token_hmac, out);
  if (!event.detail.empty()) internal::AppendStringMember("detail", event.detail, out);
}

}  // namespace

AuditLog::AuditLog(const AuditLogOptions& options, AuditSigner* signer)
    : options_(options),
      signer_(signer),
      public_key_b64_(absl::Base64Escape(signer->public_key_der())),
      node_member_([&options] {
        std::string member;
        internal::AppendStringMember("node", options.node_id, &member);
        return member;
      }()) {}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditLogOptions& options,
                                                         AuditSigner* signer) {
  if (options.path.empty() || options.path.back() == '/') {
    return absl::InvalidArgumentError("audit log path must name a file");
  }
  if (options.node_id.empty()) return absl::InvalidArgumentError("audit log node id is empty");
  auto log = absl::WrapUnique(new AuditLog(options, signer));
  absl::Status started = log->Start();
  if (!started.ok()) {
    if (log->fd_ >= 0) close(log->fd_);
    log->fd_ = -1;
    return started;
  }
  {
    absl::MutexLock lock(&log->mu_);
    log->checkpoint_due_ = log->CheckpointDue();
  }
  log->writer_ = std::thread(&AuditLog::WriterLoop, log.get());
  return log;
}

AuditLog::~AuditLog() {
  if (writer_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      work_cv_.Signal();
    }
    writer_.join();
  }
  if (fd_ < 0) return;
  if (uncovered_lines_ > 0 && file_bytes_ > 0) WriteCheckpoint().IgnoreError();  // nobody to tell
  if (unsynced_) fdatasync(fd_);  // the checkpoint could not be signed: sync what was written
  close(fd_);
}

absl::Status AuditLog::Start() {
  absl::Status dir = MakeDirectories(Dirname(options_.path));
  if (!dir.ok()) return dir;
  fd_ = open(options_.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open audit log ", options_.path, ": ", Errno(errno)));
  }
  last_checkpoint_ = absl::Now();
  absl::Status recovered = Recover();
  if (!recovered.ok()) return recovered;
  if (fd_ >= 0 && file_bytes_ == 0) {  // a new or empty file, not one rotated just now
    absl::Status chained = RecoverFromRotated();
    if (!chained.ok()) return chained;
    absl::Status synced = SyncDirectory(Dirname(options_.path));
    if (!synced.ok()) return synced;
  }
  return EnsureFile();
}

absl::Status AuditLog::Recover() {
  absl::StatusOr<FileLines> lines = ScanLines(fd_, options_.path);
  if (!lines.ok()) return lines.status();
  struct stat st;
  if (fstat(fd_, &st) != 0) return Unavailable("stat", errno);
  if (static_cast<uint64_t>(st.st_size) != lines->complete_bytes) {
    // A partial last line: its write was never acknowledged.
    if (ftruncate(fd_, lines->complete_bytes) != 0 || fdatasync(fd_) != 0) {
      return Unavailable("truncate partial line of", errno);
    }
  }
  file_bytes_ = lines->complete_bytes;
  if (file_bytes_ == 0) return absl::OkStatus();

  absl::StatusOr<LineSummary> header = Summarize(lines->first, options_.path, "first");
  if (!header.ok()) return header.status();
  absl::StatusOr<LineSummary> last = Summarize(lines->last, options_.path, "last");
  if (!last.ok()) return last.status();
  if (header->type != "header") {
    return absl::DataLossError(absl::StrCat(
        "audit log ", options_.path, ": the first line is not a header; move the file aside"));
  }
  if (absl::Status ours = CheckNode(*last, options_.node_id, options_.path); !ours.ok()) {
    return ours;
  }
  file_first_seq_ = header->seq;
  file_start_ = header->time;
  ResumeChain(last->seq, last->type, lines->last);
  if (header->public_key != public_key_b64_) {
    // Later checkpoints verify with another key: they go in a new file. This file's tail
    // stays covered through the chain by the new file's first checkpoint.
    absl::Status rotated = Rotate(/*checkpoint_first=*/false);
    if (!rotated.ok()) return rotated;
  }
  return absl::OkStatus();
}

absl::Status AuditLog::RecoverFromRotated() {
  std::string dir = Dirname(options_.path);
  std::string prefix = Basename(options_.path) + ".";
  std::optional<uint64_t> newest_seq;
  std::string newest;
  DIR* listing = opendir(dir.c_str());
  if (listing == nullptr) return Unavailable("list the directory of", errno);
  while (const dirent* entry = readdir(listing)) {
    absl::string_view name = entry->d_name;
    if (!absl::StartsWith(name, prefix)) continue;
    uint64_t first_seq;
    if (!absl::SimpleAtoi(name.substr(name.rfind('.') + 1), &first_seq)) continue;
    if (!newest_seq.has_value() || first_seq > *newest_seq) {
      newest_seq = first_seq;
      newest = std::string(name);
    }
  }
  closedir(listing);
  if (!newest_seq.has_value()) return absl::OkStatus();  // a fresh chain

  std::string path = absl::StrCat(dir, "/", newest);
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open rotated audit log ", path, ": ", Errno(errno)));
  }
  absl::StatusOr<FileLines> lines = ScanLines(fd.get(), path);
  if (!lines.ok()) return lines.status();
  absl::StatusOr<LineSummary> last = Summarize(lines->last, path, "last");
  if (!last.ok()) return last.status();
  if (absl::Status ours = CheckNode(*last, options_.node_id, path); !ours.ok()) return ours;
  ResumeChain(last->seq, last->type, lines->last);
  previous_file_ = newest;
  return absl::OkStatus();
}

void AuditLog::ResumeChain(uint64_t seq, absl::string_view type, absl::string_view line) {
  next_seq_ = seq + 1;
  prev_ = internal::Sha256Of(line);
  // At least the last line is uncovered unless it is a checkpoint.
  uncovered_lines_ = type == "checkpoint" ? 0 : 1;
  uncovered_requests_ = type == "request" ? 1 : 0;
}

void AuditLog::AppendAsync(const AuditEvent& event, AppendCallback done, Durability level) {
  thread_local std::string body;  // reused: no allocation per call once warm
  body.clear();
  AppendRequestBody(event, &body);
  body.push_back('\n');
  absl::MutexLock lock(&mu_);
  queue_.append(body);
  callbacks_.push_back(std::move(done));
  if (level == Durability::kDurable) ++queued_durable_;
  if (callbacks_.size() == 1) work_cv_.Signal();  // the writer may be waiting for work
}

absl::Status AuditLog::Append(const AuditEvent& event) {
  struct Outcome {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::Status status ABSL_GUARDED_BY(mu);
  } outcome;
  AppendAsync(event, [&outcome](absl::Status status) {
    absl::MutexLock lock(&outcome.mu);
    outcome.status = std::move(status);
    outcome.done = true;
  });
  absl::MutexLock lock(&outcome.mu);
  outcome.mu.Await(absl::Condition(&outcome.done));
  return outcome.status;
}

void AuditLog::WriterLoop() {
  pthread_setname_np(pthread_self(), "sr-audit");  // as `top -H` and perf show it
  absl::MutexLock lock(&mu_);
  while (true) {
    while (callbacks_.empty() && !stopping_ && absl::Now() < checkpoint_due_) {
      work_cv_.WaitWithDeadline(&mu_, checkpoint_due_);
    }
    if (callbacks_.empty() && stopping_) return;
    // Lines queued (or a checkpoint due): commit them as one batch, synced if any of them
    // asked for it (or, when none came, for the checkpoint).
    std::string bodies;
    bodies.swap(queue_);
    std::vector<AppendCallback> callbacks;
    callbacks.swap(callbacks_);
    const bool sync = queued_durable_ > 0 || callbacks.empty();
    queued_durable_ = 0;
    mu_.Unlock();
    absl::Status status = WriteBatch(bodies, sync);
    mu_.Lock();
    write_status_ = status;
    checkpoint_due_ = CheckpointDue();
    // Health first, so a request admitted after a failed batch's reply is refused.
    mu_.Unlock();
    for (AppendCallback& done : callbacks) std::move(done)(status);
    mu_.Lock();
  }
}

absl::Time AuditLog::CheckpointDue() const {
  // A timed checkpoint is due once requests went uncovered for checkpoint_interval. After
  // a signing failure it waits for the next requests instead.
  return uncovered_requests_ > 0 && sign_status_.ok()
             ? last_checkpoint_ + options_.checkpoint_interval
             : absl::InfiniteFuture();
}

absl::Status AuditLog::health() const {
  absl::MutexLock lock(&mu_);
  return write_status_.ok() ? sign_status_ : write_status_;
}

size_t AuditLog::queued() const {
  absl::MutexLock lock(&mu_);
  return callbacks_.size();
}

absl::Status AuditLog::WriteBatch(absl::string_view bodies, bool sync) {
  absl::Time now = absl::Now();
  bool has_events = next_seq_ > file_first_seq_ + 1;
  if (fd_ >= 0 && has_events &&
      (file_bytes_ >= options_.max_file_bytes || now - file_start_ >= options_.max_file_age)) {
    absl::Status rotated = Rotate(/*checkpoint_first=*/true);
    if (!rotated.ok()) return rotated;
  }
  absl::Status file = EnsureFile();
  if (!file.ok()) return file;

  BeginLines();
  while (!bodies.empty()) {
    size_t end = bodies.find('\n');
    AppendLine(bodies.substr(0, end));
    ++pending_requests_;
    bodies.remove_prefix(end + 1);
  }
  if (uncovered_requests_ + pending_requests_ > 0 &&
      now - last_checkpoint_ >= options_.checkpoint_interval) {
    AppendCheckpoint(now);
  }
  return Commit(sync);
}

absl::Status AuditLog::EnsureFile() {
  if (fd_ < 0) {
    fd_ = open(options_.path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd_ < 0) return Unavailable("create", errno);
    file_bytes_ = 0;
    absl::Status synced = SyncDirectory(Dirname(options_.path));
    if (!synced.ok()) return synced;
  }
  if (file_bytes_ > 0) return absl::OkStatus();
  absl::Time now = absl::Now();
  BeginLines();
  std::string body = "\"type\":\"header\",\"time\":\"";
  internal::AppendTime(now, &body);
  absl::StrAppend(&body, "\",\"public_key\":\"", public_key_b64_, "\"");
  if (!previous_file_.empty()) internal::AppendStringMember("previous_file", previous_file_, &body);
  AppendLine(body);
  absl::Status written = Commit();
  if (!written.ok()) return written;
  file_first_seq_ = next_seq_ - 1;
  file_start_ = now;
  return absl::OkStatus();
}

absl::Status AuditLog::Rotate(bool checkpoint_first) {
  if (checkpoint_first && uncovered_lines_ > 0) {
    absl::Status checkpoint = WriteCheckpoint();
    if (!checkpoint.ok()) return checkpoint;
  }
  std::string rotated = absl::StrCat(
      options_.path, ".", absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()), ".",
      file_first_seq_);
  if (rename(options_.path.c_str(), rotated.c_str()) != 0) return Unavailable("rotate", errno);
  previous_file_ = Basename(rotated);
  close(fd_);
  fd_ = -1;
  file_bytes_ = 0;
  dirty_ = false;
  return SyncDirectory(Dirname(options_.path));
}

void AuditLog::BeginLines() {
  out_.clear();
  pending_seq_ = next_seq_;
  pending_prev_ = prev_;
  pending_lines_ = 0;
  pending_requests_ = 0;
  pending_checkpoint_ = false;
}

void AuditLog::AppendLine(absl::string_view body) {
  size_t start = out_.size();
  absl::StrAppend(&out_, "{\"seq\":", pending_seq_, ",\"prev\":\"");
  internal::AppendHex(pending_prev_, &out_);
  out_.push_back('"');
  out_.append(node_member_);
  out_.push_back(',');
  out_.append(body.data(), body.size());
  out_.push_back('}');
  pending_prev_ = internal::Sha256Of(absl::string_view(out_).substr(start));
  out_.push_back('\n');
  ++pending_seq_;
  ++pending_lines_;
}

bool AuditLog::AppendCheckpoint(absl::Time now) {
  last_checkpoint_ = now;  // success or not, the next attempt is an interval away
  Sha256 digest = internal::CheckpointDigest(pending_seq_, pending_prev_);
  absl::StatusOr<std::string> sig = signer_->SignDigest(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  {
    absl::MutexLock lock(&mu_);
    sign_status_ =
        sig.ok() ? absl::OkStatus()
                 : absl::UnavailableError(absl::StrCat(
                       "audit log unavailable: cannot sign checkpoint: ", sig.status().message()));
  }
  if (!sig.ok()) return false;  // retried with the next batch
  std::string body = "\"type\":\"checkpoint\",\"time\":\"";
  internal::AppendTime(now, &body);
  absl::StrAppend(&body, "\",\"sig\":\"", absl::Base64Escape(*sig), "\"");
  AppendLine(body);
  pending_checkpoint_ = true;
  return true;
}

absl::Status AuditLog::WriteCheckpoint() {
  BeginLines();
  if (!AppendCheckpoint(absl::Now())) return absl::OkStatus();  // see health()
  return Commit();
}

absl::Status AuditLog::Commit(bool sync) {
  sync = sync || pending_checkpoint_;
  if (out_.empty() && !(sync && unsynced_)) return absl::OkStatus();
  if (dirty_) {
    if (ftruncate(fd_, file_bytes_) != 0) return Unavailable("truncate", errno);
    dirty_ = false;
  }
  absl::string_view rest = out_;
  while (!rest.empty()) {
    ssize_t n = write(fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      dirty_ = true;
      if (ftruncate(fd_, file_bytes_) == 0) dirty_ = false;
      return Unavailable("write", err);
    }
    rest.remove_prefix(n);
  }
  if (sync && fdatasync(fd_) != 0) {
    int err = errno;
    // The lines may or may not be on disk; they were never acknowledged, so remove them.
    // Earlier lines acknowledged as written stay.
    dirty_ = ftruncate(fd_, file_bytes_) != 0 || fdatasync(fd_) != 0;
    return Unavailable("fdatasync", err);
  }
  unsynced_ = !sync;
  file_bytes_ += out_.size();
  next_seq_ = pending_seq_;
  prev_ = pending_prev_;
  if (pending_checkpoint_) {  // always the last line of its group
    uncovered_lines_ = 0;
    uncovered_requests_ = 0;
  } else {
    uncovered_lines_ += pending_lines_;
    uncovered_requests_ += pending_requests_;
  }
  return absl::OkStatus();
}

absl::Status AuditLog::Unavailable(absl::string_view operation, int err) const {
  return absl::UnavailableError(
      absl::StrCat("audit log unavailable: ", operation, " ", options_.path, ": ", Errno(err)));
}

}  // namespace strongroom::server::audit
