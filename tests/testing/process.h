// Process: a child process for end-to-end tests, with its stdout and stderr captured.
//
// Start() forks and execs argv (the current environment plus `env` overrides); a reader
// thread collects the combined output so the child never blocks on a full pipe.
// WaitForOutput() blocks until a string appears (or the child exits, or a deadline
// passes) — synchronisation on events, not sleeps. The destructor SIGKILLs a child that
// is still running. Test-only.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace strongroom::testing {

class Process {
 public:
  Process() = default;
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Returns false (with the reason in output()) if the child cannot be started.
  bool Start(const std::vector<std::string>& argv,
             const std::map<std::string, std::string>& env = {});
  // True once `needle` has appeared in the output; false if the child exited first or
  // `timeout` passed.
  bool WaitForOutput(const std::string& needle, absl::Duration timeout = absl::Seconds(30));
  // True if the child closed its output (normally: exited) within `timeout`.
  bool WaitForClose(absl::Duration timeout);
  void Signal(int sig);
  // Waits for exit; returns the exit code, or 128+signal if killed by a signal.
  int Wait();
  std::string output() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::thread reader_;
  mutable absl::Mutex mu_;
  std::string output_ ABSL_GUARDED_BY(mu_);
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
};

// Runs argv to completion (bounded by `timeout`, then SIGKILL); returns {exit code, output}.
struct RunResult {
  int exit_code;
  std::string output;
};
RunResult RunCommand(const std::vector<std::string>& argv,
                     const std::map<std::string, std::string>& env = {},
                     absl::Duration timeout = absl::Seconds(60));

// Absolute path of a runfile given its workspace-relative path ("server/strongroomd").
std::string Runfile(const std::string& path);

// A TCP port on 127.0.0.1 that nothing listened on a moment ago (bound to port 0, then
// released), for peers that cannot bind port 0 and report it; 0 if none could be found.
int FreeLoopbackPort();

}  // namespace strongroom::testing
