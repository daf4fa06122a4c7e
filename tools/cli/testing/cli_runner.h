// Runs the real `strongroom` binary (a data dependency of the test) for CLI tests.
// Test-only.
#pragma once

#include <string>
#include <vector>

namespace strongroom::cli::testing {

struct CliResult {
  int exit_code = -1;  // 128 + signal if killed
  std::string out;
  std::string err;
};

// The runfiles path of tools/cli/strongroom.
std::string CliPath();
// Runs the CLI with `args`, feeding `input` on stdin; bounded in time.
CliResult RunBinary(const std::vector<std::string>& args, const std::string& input);
std::string ReadFile(const std::string& path);
// A folder `name` under $TEST_TMPDIR (created if missing).
std::string TestDir(const std::string& name);

}  // namespace strongroom::cli::testing
