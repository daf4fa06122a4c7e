// AuditLog against real files: the line format, checkpoints, restart, rotation under
// concurrent appenders and a real full disk. Every log written is checked with
// VerifyAuditLogs.
#include "server/audit/audit_log.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/audit/audit_verify.h"
#include "server/audit/testing/log_files.h"
#include "server/audit/testing/software_signer.h"

namespace strongroom::server::audit {
namespace {

using testing::FreshDir;
using ::testing::HasSubstr;
using testing::LogFiles;
using ::testing::MatchesRegex;
using testing::ReadLines;
using testing::SampleEvent;
using testing::SoftwareSigner;

AuditLogOptions Options(const std::string& path) {
  AuditLogOptions options;
  options.path = path;
  options.node_id = "node-a";
  options.checkpoint_interval = absl::Hours(1);  // only on close unless a test says otherwise
  return options;
}

std::unique_ptr<AuditLog> OpenLog(const AuditLogOptions& options, AuditSigner* signer) {
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options, signer);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

// Opens the log, appends SampleEvent(first) to SampleEvent(first + count - 1), closes it.
void WriteEvents(const AuditLogOptions& options, AuditSigner* signer, int first, int count) {
  std::unique_ptr<AuditLog> log = OpenLog(options, signer);
  ASSERT_NE(log, nullptr);
  for (int i = first; i < first + count; ++i) ASSERT_TRUE(log->Append(SampleEvent(i)).ok());
}

// The one chain (node "node-a") the files verify as.
ChainReport VerifyOk(const std::vector<std::string>& files, const std::string& pem = "") {
  VerifyReport report;
  absl::Status verified = VerifyAuditLogs(files, pem, &report);
  EXPECT_TRUE(verified.ok()) << verified;
  if (report.chains.size() != 1) {
    ADD_FAILURE() << report.chains.size() << " chains";
    return ChainReport();
  }
  EXPECT_EQ(report.chains[0].node, "node-a");
  return report.chains[0];
}

int CountRequests(const std::vector<std::string>& files) {
  int requests = 0;
  for (const std::string& file : files) {
    for (const std::string& line : ReadLines(file)) {
      requests += absl::StrContains(line, "\"type\":\"request\"");
    }
  }
  return requests;
}

TEST(AuditLogTest, LinesFollowTheFormat) {
  std::string path = FreshDir("lines") + "/audit/audit.log";
  SoftwareSigner signer;
  AuditEvent event = SampleEvent(1);
  event.time = absl::FromUnixMicros(1795041098123456);
  event.identity = "quote\" backslash\\ newline\n tab\t bell\x07 \xc3\xa9 bad\xff";
  event.http_status = 403;
  event.code = "PERMISSION_DENIED";
  event.error = "no policy allows transit.encrypt";
  event.token_hmac = "00ff";
  {
    std::unique_ptr<AuditLog> log = OpenLog(Options(path), &signer);
    ASSERT_TRUE(log->Append(event).ok());
    EXPECT_TRUE(log->health().ok());
  }
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(stat(path.substr(0, path.rfind('/')).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);

  std::vector<std::string> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 3);
  EXPECT_THAT(lines[0],
              MatchesRegex(absl::StrCat(
                  R"re(\{"seq":1,"prev":"0{64}","node":"node-a","type":"header","time":")re",
                  R"re([0-9-]{10}T[0-9:]{8}\.[0-9]{6}Z","public_key":"[A-Za-z0-9+/=]+"\})re")));
  EXPECT_THAT(lines[1], MatchesRegex(R"re(\{"seq":2,"prev":"[0-9a-f]{64}","node":"node-a",.*)re"));
  EXPECT_THAT(lines[1], HasSubstr(R"("type":"request","time":"2026-11-18T22:31:38.123456Z",)"
                                  R"("request_id":"req-1",)"
                                  R"("identity":"quote\" backslash\\ newline\n tab\t bell\u0007 )"
                                  "\xc3\xa9"
                                  R"( bad\ufffd","peer":"ipv4:127.0.0.1:50000",)"
                                  R"("operation":"transit.encrypt","resource":"transit/keys/k1",)"
                                  R"("key_version":3,"code":"PERMISSION_DENIED","http_status":403,)"
                                  R"("latency_us":251,"error":"no policy allows transit.encrypt",)"
                                  R"("token_hmac":"00ff"})"));
  EXPECT_THAT(lines[2], MatchesRegex(R"re(\{"seq":3,"prev":"[0-9a-f]{64}","node":"node-a","type":"checkpoint",)re"
                                     R"re("time":"[^"]+","sig":"[A-Za-z0-9+/=]+"\})re"));
  ChainReport report = VerifyOk({path});
  EXPECT_EQ(report.lines, 3);
  EXPECT_EQ(report.checkpoints, 1);
  EXPECT_EQ(report.uncovered_lines, 0);

  // An independent JSON parser accepts every line.
  std::string command = absl::StrCat(
      "python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1], \"rb\")]' '", path,
      "'");
  EXPECT_EQ(std::system(command.c_str()), 0);
}

TEST(AuditLogTest, RoundTripVerifies) {
  std::string path = FreshDir("roundtrip") + "/audit.log";
  SoftwareSigner signer;
  WriteEvents(Options(path), &signer, 0, 100);
  ChainReport report = VerifyOk({path}, signer.public_key_pem());
  EXPECT_EQ(report.files, 1);
  EXPECT_EQ(report.lines, 102);  // header, 100 requests, checkpoint
  EXPECT_EQ(report.first_seq, 1);
  EXPECT_EQ(report.last_seq, 102);
  EXPECT_EQ(report.last_checkpoint_seq, 102);
  EXPECT_EQ(report.uncovered_lines, 0);
}

TEST(AuditLogTest, CheckpointsOnlyOnCloseWithinTheInterval) {
  std::string path = FreshDir("interval") + "/audit.log";
  SoftwareSigner signer;
  std::unique_ptr<AuditLog> log = OpenLog(Options(path), &signer);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(log->Append(SampleEvent(i)).ok());
  ChainReport report = VerifyOk({path});
  EXPECT_EQ(report.checkpoints, 0);
  EXPECT_EQ(report.uncovered_lines, 4);
  log.reset();
  report = VerifyOk({path});
  EXPECT_EQ(report.checkpoints, 1);
  EXPECT_EQ(report.uncovered_lines, 0);
}

TEST(AuditLogTest, ZeroIntervalCheckpointsEveryBatch) {
  std::string path = FreshDir("every") + "/audit.log";
  SoftwareSigner signer;
  AuditLogOptions options = Options(path);
  options.checkpoint_interval = absl::ZeroDuration();
  std::unique_ptr<AuditLog> log = OpenLog(options, &signer);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(log->Append(SampleEvent(i)).ok());
  ChainReport report = VerifyOk({path});
  EXPECT_EQ(report.lines, 7);  // header, then request + checkpoint three times
  EXPECT_EQ(report.checkpoints, 3);
  EXPECT_EQ(report.uncovered_lines, 0);
}

TEST(AuditLogTest, IdleLogGetsItsTailSignedWithinTheInterval) {
  std::string path = FreshDir("idle") + "/audit.log";
  SoftwareSigner signer;
  AuditLogOptions options = Options(path);
  options.checkpoint_interval = absl::Milliseconds(200);
  std::unique_ptr<AuditLog> log = OpenLog(options, &signer);
  ASSERT_TRUE(log->Append(SampleEvent(1)).ok());
  // The writer wakes by itself; wait for its checkpoint, bounded.
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  ChainReport report;
  while (absl::Now() < deadline) {
    report = VerifyOk({path});
    if (report.checkpoints > 0) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(report.checkpoints, 1);
  EXPECT_EQ(report.uncovered_lines, 0);
}

TEST(AuditLogTest, RestartContinuesTheChain) {
  std::string path = FreshDir("restart") + "/audit.log";
  SoftwareSigner signer;
  WriteEvents(Options(path), &signer, 0, 3);
  WriteEvents(Options(path), &signer, 3, 3);
  ChainReport report = VerifyOk({path});
  EXPECT_EQ(report.lines, 9);  // header, 3, checkpoint, 3, checkpoint
  EXPECT_EQ(report.last_seq, 9);
  EXPECT_EQ(report.checkpoints, 2);
}

TEST(AuditLogTest, PartialLineFromACrashIsTruncatedOnReopen) {
  std::string path = FreshDir("partial") + "/audit.log";
  SoftwareSigner signer;
  WriteEvents(Options(path), &signer, 0, 3);
  FILE* file = std::fopen(path.c_str(), "a");
  ASSERT_NE(file, nullptr);
  std::fputs("{\"seq\":6,\"prev\":\"12ab", file);  // cut off mid-write, never acknowledged
  std::fclose(file);
  WriteEvents(Options(path), &signer, 9, 1);
  std::vector<std::string> lines = ReadLines(path);
  ChainReport report = VerifyOk({path});
  EXPECT_EQ(report.lines, 7);
  EXPECT_THAT(lines[5], HasSubstr("\"seq\":6,"));
  EXPECT_THAT(lines[5], HasSubstr("\"request_id\":\"req-9\""));
}

TEST(AuditLogTest, RotationBySizeUnderConcurrentAppendersKeepsEveryLineOnce) {
  std::string path = FreshDir("rotation") + "/audit.log";
  SoftwareSigner signer;
  AuditLogOptions options = Options(path);
  options.max_file_bytes = 4096;
  constexpr int kThreads = 8, kPerThread = 250;
  {
    std::unique_ptr<AuditLog> log = OpenLog(options, &signer);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          if (!log->Append(SampleEvent(t * kPerThread + i)).ok()) ++failures;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(failures, 0);
  }
  std::vector<std::string> files = LogFiles(path);
  EXPECT_GT(files.size(), 10);
  ChainReport report = VerifyOk(files, signer.public_key_pem());
  EXPECT_EQ(report.files, files.size());
  EXPECT_EQ(CountRequests(files), kThreads * kPerThread);
  EXPECT_EQ(report.uncovered_lines, 0);
  // Each rotated file ends with a checkpoint; each later header names the file before it.
  for (size_t i = 0; i + 1 < files.size(); ++i) {
    EXPECT_THAT(ReadLines(files[i]).back(), HasSubstr("\"type\":\"checkpoint\""));
    std::string name = files[i].substr(files[i].rfind('/') + 1);
    EXPECT_THAT(ReadLines(files[i + 1]).front(),
                HasSubstr(absl::StrCat("\"previous_file\":\"", name, "\"")));
    EXPECT_THAT(name, MatchesRegex(R"(audit\.log\.[0-9]{8}T[0-9]{6}Z\.[0-9]+)"));
  }
}

TEST(AuditLogTest, RotationByAge) {
  std::string path = FreshDir("age") + "/audit.log";
  SoftwareSigner signer;
  AuditLogOptions options = Options(path);
  options.max_file_age = absl::ZeroDuration();  // every batch finds the file due
  WriteEvents(options, &signer, 0, 3);
  std::vector<std::string> files = LogFiles(path);
  EXPECT_EQ(files.size(), 3);
  VerifyOk(files);
  EXPECT_EQ(CountRequests(files), 3);
}

TEST(AuditLogTest, MissingCurrentFileContinuesTheNewestRotatedFile) {
  std::string path = FreshDir("lost-current") + "/audit.log";
  SoftwareSigner signer;
  AuditLogOptions options = Options(path);
  options.max_file_age = absl::ZeroDuration();
  WriteEvents(options, &signer, 0, 2);
  // A crash between renaming the old file and writing the new header.
  ASSERT_EQ(unlink(path.c_str()), 0);
  WriteEvents(Options(path), &signer, 5, 1);
  std::vector<std::string> files = LogFiles(path);
  ASSERT_EQ(files.size(), 2);
  VerifyOk(files);
}

TEST(AuditLogTest, NewSigningKeyStartsANewFile) {
  std::string path = FreshDir("new-key") + "/audit.log";
  SoftwareSigner old_signer, new_signer;
  WriteEvents(Options(path), &old_signer, 1, 1);
  WriteEvents(Options(path), &new_signer, 2, 1);
  std::vector<std::string> files = LogFiles(path);
  ASSERT_EQ(files.size(), 2);
  VerifyOk({files[0]}, old_signer.public_key_pem());
  ChainReport report = VerifyOk({files[1]}, new_signer.public_key_pem());
  EXPECT_EQ(report.first_seq, 4);  // continues the first file's three lines
}

TEST(AuditLogTest, EveryLineNamesTheNode) {
  std::string path = FreshDir("node-id") + "/audit.log";
  SoftwareSigner signer;
  WriteEvents(Options(path), &signer, 0, 3);
  std::vector<std::string> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 5);  // header, 3 requests, checkpoint
  for (const std::string& line : lines) {
    EXPECT_THAT(line, MatchesRegex(R"(\{"seq":[0-9]+,"prev":"[0-9a-f]{64}","node":"node-a",.*)"));
  }

  AuditLogOptions no_node = Options(path);
  no_node.node_id.clear();
  EXPECT_EQ(AuditLog::Open(no_node, &signer).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AuditLogTest, AnotherNodesLogIsNotContinued) {
  std::string path = FreshDir("other-node") + "/audit.log";
  SoftwareSigner signer;
  WriteEvents(Options(path), &signer, 0, 2);
  AuditLogOptions other = Options(path);
  other.node_id = "node-b";
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(other, &signer);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(log.status().message(), HasSubstr("written by node \"node-a\", not by this node "
                                                "\"node-b\": give every node its own audit.path"));
  // Nor when only its rotated files remain.
  AuditLogOptions rotating = Options(path);
  rotating.max_file_age = absl::ZeroDuration();
  WriteEvents(rotating, &signer, 2, 1);
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_EQ(AuditLog::Open(other, &signer).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // node-a's chain is untouched (the refused open left an empty current file, which would
  // continue the rotated files).
  std::vector<std::string> rotated = LogFiles(path);
  rotated.erase(std::remove(rotated.begin(), rotated.end(), path), rotated.end());
  VerifyOk(rotated);
}

// Signs like SoftwareSigner until `fail` is set.
class FlakySigner : public AuditSigner {
 public:
  absl::StatusOr<std::string> SignDigest(absl::string_view digest) override {
    if (fail) return absl::UnavailableError("HSM gone");
    return signer_.SignDigest(digest);
  }
  const std::string& public_key_der() const override { return signer_.public_key_der(); }
  std::string public_key_pem() const { return signer_.public_key_pem(); }
  bool fail = false;

 private:
  SoftwareSigner signer_;
};

TEST(AuditLogTest, SigningFailureKeepsRequestsAndRetriesTheCheckpoint) {
  std::string path = FreshDir("sign-fails") + "/audit.log";
  FlakySigner signer;
  AuditLogOptions options = Options(path);
  options.max_file_age = absl::ZeroDuration();  // a checkpoint before every later batch
  std::unique_ptr<AuditLog> log = OpenLog(options, &signer);
  ASSERT_TRUE(log->Append(SampleEvent(1)).ok());
  signer.fail = true;
  ASSERT_TRUE(log->Append(SampleEvent(2)).ok());  // durable, only not signed
  EXPECT_EQ(log->health().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(log->health().message(), HasSubstr("cannot sign checkpoint: HSM gone"));
  signer.fail = false;
  ASSERT_TRUE(log->Append(SampleEvent(3)).ok());
  EXPECT_TRUE(log->health().ok()) << log->health();
  log.reset();
  std::vector<std::string> files = LogFiles(path);
  ChainReport report = VerifyOk(files, signer.public_key_pem());
  EXPECT_EQ(report.checkpoints, 2);  // the first file's was never signed
  EXPECT_EQ(report.uncovered_lines, 0);
  EXPECT_EQ(CountRequests(files), 3);
}

TEST(AuditLogTest, AppendAsyncCallsBackOnceItsLineIsInTheFile) {
  std::string path = FreshDir("async") + "/audit.log";
  SoftwareSigner signer;
  std::unique_ptr<AuditLog> log = OpenLog(Options(path), &signer);
  constexpr int kLines = 200;
  absl::Mutex mu;
  int called = 0;
  int found = 0;
  for (int i = 0; i < kLines; ++i) {
    const std::string id = SampleEvent(i).request_id;
    log->AppendAsync(SampleEvent(i), [&, id](absl::Status status) {
      EXPECT_TRUE(status.ok()) << status;
      bool in_file = false;  // the callback runs only after the write and fdatasync
      for (const std::string& line : ReadLines(path)) {
        in_file = in_file || absl::StrContains(line, absl::StrCat("\"request_id\":\"", id, "\""));
      }
      absl::MutexLock lock(&mu);
      ++called;
      found += in_file;
    });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n == kLines; }, &called));
    EXPECT_EQ(found, kLines);
  }
  log.reset();
  VerifyOk({path});
  EXPECT_EQ(CountRequests({path}), kLines);
}

// A line appended kWritten is in the file, in chain order, before its callback runs, and
// stays there when the process is killed before any fdatasync: a child process appends
// written-level lines only, reports each callback, and is killed with SIGKILL.
TEST(AuditLogTest, WrittenLevelCallsBackOnceItsLineIsInTheFileAndSurvivesKill) {
  std::string path = FreshDir("written") + "/audit.log";
  constexpr int kLines = 50;
  SoftwareSigner signer;  // before the fork: the child signs with the same key
  int reports[2];
  ASSERT_EQ(pipe(reports), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(reports[0]);
    absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(Options(path), &signer);
    if (!log.ok()) _exit(2);
    for (int i = 0; i < kLines; ++i) {
      const std::string id = SampleEvent(i).request_id;
      (*log)->AppendAsync(
          SampleEvent(i),
          [&, id](absl::Status status) {
            bool in_file = false;
            for (const std::string& line : ReadLines(path)) {
              in_file = in_file || absl::StrContains(line, absl::StrCat("\"request_id\":\"", id, "\""));
            }
            char report = status.ok() && in_file ? 'y' : 'n';
            if (write(reports[1], &report, 1) != 1) _exit(3);
          },
          Durability::kWritten);
    }
    pause();  // killed while the log is open: no close, no final checkpoint or sync
    _exit(0);
  }
  close(reports[1]);
  std::string seen;
  char report;
  while (seen.size() < kLines && read(reports[0], &report, 1) == 1) seen.push_back(report);
  close(reports[0]);
  kill(child, SIGKILL);  // the child this test forked
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(seen, std::string(kLines, 'y'));
  EXPECT_EQ(CountRequests({path}), kLines);
  ChainReport report_after = VerifyOk({path});
  EXPECT_EQ(report_after.uncovered_lines, kLines + 1);  // the header too: it was killed
  // Reopening continues the chain after the written lines.
  WriteEvents(Options(path), &signer, kLines, 3);
  VerifyOk({path});
  EXPECT_EQ(CountRequests({path}), kLines + 3);
}

// Written-level and durable lines interleaved from many threads form one chain, and close
// leaves every line covered by the final checkpoint.
TEST(AuditLogTest, WrittenAndDurableLinesShareOneChain) {
  std::string path = FreshDir("mixed") + "/audit.log";
  SoftwareSigner signer;
  constexpr int kThreads = 8, kPerThread = 100;
  {
    std::unique_ptr<AuditLog> log = OpenLog(Options(path), &signer);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          absl::Notification done;
          log->AppendAsync(
              SampleEvent(t * kPerThread + i),
              [&](absl::Status status) {
                ok += status.ok();
                done.Notify();
              },
              t % 2 == 0 ? Durability::kWritten : Durability::kDurable);
          done.WaitForNotification();
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(ok.load(), kThreads * kPerThread);
  }
  ChainReport report = VerifyOk({path});
  EXPECT_EQ(CountRequests({path}), kThreads * kPerThread);
  EXPECT_EQ(report.uncovered_lines, 0);
}

TEST(AuditLogTest, CloseWritesAndCallsBackWhatIsStillQueued) {
  std::string path = FreshDir("close-queued") + "/audit.log";
  SoftwareSigner signer;
  std::atomic<int> ok{0};
  {
    std::unique_ptr<AuditLog> log = OpenLog(Options(path), &signer);
    for (int i = 0; i < 100; ++i) {
      log->AppendAsync(SampleEvent(i), [&ok](absl::Status status) { ok += status.ok(); });
    }
  }
  EXPECT_EQ(ok.load(), 100);
  ChainReport report = VerifyOk({path});
  EXPECT_EQ(CountRequests({path}), 100);
  EXPECT_EQ(report.uncovered_lines, 0);
}

// Fills a small tmpfs in a private mount namespace (or, where mounting is refused, lowers
// RLIMIT_FSIZE) so that the log's writes really fail, then frees the space.
TEST(AuditLogTest, FullDiskFailsCleanlyAndRecovers) {
  std::string dir = FreshDir("full");
  bool tmpfs = unshare(CLONE_NEWNS) == 0 &&
               mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
               mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=64k,mode=0700") == 0;
  std::printf("full disk by %s\n", tmpfs ? "a 64k tmpfs (ENOSPC)" : "RLIMIT_FSIZE (EFBIG)");
  std::string path = dir + "/audit.log";
  std::string filler = dir + "/filler";
  SoftwareSigner signer;
  std::unique_ptr<AuditLog> log = OpenLog(Options(path), &signer);
  int appended = 0;
  for (; appended < 3; ++appended) ASSERT_TRUE(log->Append(SampleEvent(appended)).ok());

  rlimit saved{};
  if (tmpfs) {
    int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    char block[4096] = {};
    while (write(fd, block, sizeof(block)) > 0) {
    }
    EXPECT_EQ(errno, ENOSPC);
    close(fd);
  } else {
    signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    rlimit low = saved;
    low.rlim_cur = st.st_size + 100;  // the next line is written in part, then refused
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &low), 0);
  }
  // The file's last page may still have room for a few lines.
  absl::Status failed;
  for (int i = 0; i < 200 && failed.ok(); ++i) {
    failed = log->Append(SampleEvent(100 + i));
    if (failed.ok()) ++appended;
  }
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  EXPECT_THAT(failed.message(), HasSubstr("audit log unavailable: write"));
  EXPECT_EQ(log->health().code(), absl::StatusCode::kUnavailable);
  std::string contents;
  for (const std::string& line : ReadLines(path)) contents += line + "\n";
  FILE* file = std::fopen(path.c_str(), "rb");
  ASSERT_NE(file, nullptr);
  std::fseek(file, 0, SEEK_END);
  EXPECT_EQ(std::ftell(file), static_cast<long>(contents.size()));  // ends with a newline
  std::fclose(file);
  VerifyOk({path});

  if (tmpfs) {
    ASSERT_EQ(unlink(filler.c_str()), 0);
  } else {
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  }
  ASSERT_TRUE(log->Append(SampleEvent(500)).ok());
  ++appended;
  EXPECT_TRUE(log->health().ok()) << log->health();
  log.reset();
  ChainReport report = VerifyOk({path});
  EXPECT_EQ(CountRequests({path}), appended);
  EXPECT_EQ(report.uncovered_lines, 0);
  if (tmpfs) {
    EXPECT_EQ(umount(dir.c_str()), 0);
  }
}

}  // namespace
}  // namespace strongroom::server::audit
