// Kills a process that is committing to a Storage (SQLite, PostgreSQL) with SIGKILL at
// random points and checks that the database reopens cleanly with every acknowledged
// record intact.
//
// The writer (storage_crash_writer) prints "<n>\n" after each Commit of record crash/<n>
// returned OK. Reading those lines from a pipe is the only synchronisation.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "kms/sqlite_storage.h"
#include "kms/storage.h"
#include "tests/testing/crash_records.h"
#include "tests/testing/storage_backends.h"

namespace strongroom::kms {
namespace {

constexpr int kRounds = 5;
constexpr int kMinAcksPerRound = 200;
constexpr int kMaxExtraAcksPerRound = 200;
// Upper bound on the wait for one acknowledgement; only reached if the writer hangs.
constexpr std::chrono::seconds kAckTimeout(15);

using ::strongroom::testing::CrashKey;
using ::strongroom::testing::CrashValue;

std::string WriterPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir != nullptr) {
    std::string path = absl::StrCat(srcdir, "/strongroom/tests/storage_crash_writer");
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "tests/storage_crash_writer";
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("wait status ", status);
}

// The writer process and the read end of its stdout. Killed and reaped on destruction, so
// a failing assertion never leaves it running.
class WriterProcess {
 public:
  static absl::StatusOr<std::unique_ptr<WriterProcess>> Start(
      const std::vector<std::string>& args) {
    const std::string binary = WriterPath();
    std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
    const pid_t pid = fork();
    if (pid < 0) {
      const int fork_errno = errno;
      close(fds[0]);
      close(fds[1]);
      return absl::ErrnoToStatus(fork_errno, "fork");
    }
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec. dup2 clears FD_CLOEXEC.
      if (dup2(fds[1], STDOUT_FILENO) < 0) _exit(126);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    return std::unique_ptr<WriterProcess>(new WriterProcess(pid, fds[0]));
  }

  WriterProcess(const WriterProcess&) = delete;
  WriterProcess& operator=(const WriterProcess&) = delete;
  ~WriterProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Reap();
    }
    close(fd_);
  }

  // Returns the next line of the writer's stdout, without the newline, or nullopt at end of
  // file. Fails if no full line arrives within `timeout`.
  absl::StatusOr<std::optional<std::string>> ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return std::optional<std::string>(std::move(line));
      }
      if (eof_) {
        if (!buffer_.empty()) return absl::DataLossError("writer output ends mid-line");
        return std::optional<std::string>();
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return absl::DeadlineExceededError("no acknowledgement in time");
      pollfd pfd = {fd_, POLLIN, 0};
      const int ready = poll(&pfd, 1, static_cast<int>(left.count()));
      if (ready < 0) {
        if (errno == EINTR) continue;
        return absl::ErrnoToStatus(errno, "poll");
      }
      if (ready == 0) continue;
      char chunk[4096];
      const ssize_t got = read(fd_, chunk, sizeof(chunk));
      if (got < 0) {
        if (errno == EINTR) continue;
        return absl::ErrnoToStatus(errno, "read");
      }
      if (got == 0) eof_ = true;
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }

  // Sends SIGKILL and returns the wait status.
  int KillAndReap() {
    kill(pid_, SIGKILL);
    return Reap();
  }

  // Waits for the writer to exit (after it closed its stdout) and returns the wait status.
  int Reap() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  WriterProcess(pid_t pid, int fd) : pid_(pid), fd_(fd) {}

  pid_t pid_;
  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

std::string IntegrityCheck(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, &sqlite3_close_v2);
  if (rc != SQLITE_OK) return absl::StrCat("open: ", sqlite3_errstr(rc));
  sqlite3_stmt* raw_stmt = nullptr;
  rc = sqlite3_prepare_v2(db.get(), "PRAGMA integrity_check", -1, &raw_stmt, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw_stmt, &sqlite3_finalize);
  if (rc != SQLITE_OK) return absl::StrCat("prepare: ", sqlite3_errmsg(db.get()));
  std::string result;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt.get(), 0);
    absl::StrAppend(&result, result.empty() ? "" : "\n",
                    text != nullptr ? reinterpret_cast<const char*>(text) : "(null)");
  }
  if (rc != SQLITE_DONE) return absl::StrCat("step: ", sqlite3_errmsg(db.get()));
  return result;
}

class StorageCrashTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StorageCrashTest, AcknowledgedCommitsSurviveSigkill) {
  ASSERT_NE(std::getenv("TEST_TMPDIR"), nullptr) << "run under bazel test";
  std::unique_ptr<testing::StorageBackend> backend = testing::MakeStorageBackend(GetParam());
  absl::Status created = backend->NewDatabase("crash");
  ASSERT_TRUE(created.ok()) << created;
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE(absl::StrCat("random seed ", seed));

  int64_t next = 0;  // Number of records stored so far: crash/0 .. crash/<next - 1>.
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    absl::StatusOr<std::unique_ptr<WriterProcess>> writer =
        WriterProcess::Start(backend->WriterArgs());
    ASSERT_TRUE(writer.ok()) << writer.status();

    // Read acknowledgements; each must be the next record number.
    const int wanted = kMinAcksPerRound + static_cast<int>(rng() % kMaxExtraAcksPerRound);
    int64_t acknowledged = -1;
    for (int acks = 0; acks < wanted; ++acks) {
      absl::StatusOr<std::optional<std::string>> line = (*writer)->ReadLine(kAckTimeout);
      ASSERT_TRUE(line.ok()) << line.status();
      ASSERT_TRUE(line->has_value())
          << "writer stopped after " << acks
          << " acknowledgements: " << DescribeWaitStatus((*writer)->Reap());
      int64_t n = -1;
      ASSERT_TRUE(absl::SimpleAtoi(**line, &n)) << "bad acknowledgement " << **line;
      ASSERT_EQ(n, next + acks) << "acknowledgements must resume at the first missing record";
      acknowledged = n;
    }

    // The writer is in the middle of its next Commit by now. A random sub-millisecond delay
    // spreads the kill over the phases of that Commit (it synchronises nothing).
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 1000));
    const int wait_status = (*writer)->KillAndReap();
    ASSERT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL)
        << "writer " << DescribeWaitStatus(wait_status);
    // Acknowledgements written before the kill but not read yet count too.
    for (;;) {
      absl::StatusOr<std::optional<std::string>> line =
          (*writer)->ReadLine(std::chrono::milliseconds(kAckTimeout));
      ASSERT_TRUE(line.ok()) << line.status();
      if (!line->has_value()) break;
      int64_t n = -1;
      ASSERT_TRUE(absl::SimpleAtoi(**line, &n)) << "bad acknowledgement " << **line;
      ASSERT_EQ(n, acknowledged + 1);
      acknowledged = n;
    }
    writer->reset();

    // Reopen: clean open, intact file, every acknowledged record present and correct.
    absl::StatusOr<std::unique_ptr<Storage>> storage = backend->Open();
    ASSERT_TRUE(storage.ok()) << storage.status();
    if (GetParam() == "sqlite") EXPECT_EQ(IntegrityCheck(backend->WriterArgs()[1]), "ok");
    absl::StatusOr<std::vector<Entry>> entries = (*storage)->List("crash/", "", 0);
    ASSERT_TRUE(entries.ok()) << entries.status();
    const int64_t stored = static_cast<int64_t>(entries->size());
    // Every acknowledged record, plus at most the one whose acknowledgement the kill cut off.
    ASSERT_GE(stored, acknowledged + 1);
    ASSERT_LE(stored, acknowledged + 2);
    for (int64_t i = 0; i < stored; ++i) {
      const Entry& entry = (*entries)[i];
      ASSERT_EQ(entry.key, CrashKey(i));
      ASSERT_EQ(entry.value, CrashValue(i)) << entry.key;
      ASSERT_GT(entry.revision, 0) << entry.key;
    }
    std::printf("round %d: %d acknowledgements read before the kill, %lld records stored\n", round,
                wanted, static_cast<long long>(stored));
    next = stored;
  }
  EXPECT_GE(next, kRounds * kMinAcksPerRound);
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageCrashTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace strongroom::kms
