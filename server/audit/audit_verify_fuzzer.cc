// Fuzzes the audit log verifier (`strongroom audit verify`): VerifyAuditLogs reads the input
// as an audit log file and checks every line's syntax (the flat JSON line parser), the seq
// and hash chain, headers, public keys and checkpoint signatures. A file that does not pass
// must be DATA_LOSS naming the file and line; the report holds at most one chain (one file,
// one node) and never counts past the input.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "server/audit/audit_verify.h"

namespace {

// A file of our own to write each input to (under $TEST_TMPDIR, or /tmp).
const std::string& LogPath() {
  static const std::string* const path = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/audit_fuzzer.XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) std::abort();
    return new std::string(dir + "/audit.log");
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(LogPath(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) std::abort();
  }
  strongroom::server::audit::VerifyReport report;
  absl::Status status = strongroom::server::audit::VerifyAuditLogs({LogPath()}, "", &report);
  const uint64_t newlines = std::count(data, data + size, '\n');
  if (report.chains.size() > 1 ||
      (report.chains.size() == 1 && (report.chains[0].lines > newlines + 1 ||
                                     report.chains[0].checkpoints > report.chains[0].lines))) {
    std::fprintf(stderr, "report has %zu chains, %llu lines, %llu checkpoints in %llu newlines\n",
                 report.chains.size(),
                 static_cast<unsigned long long>(report.chains.empty() ? 0 : report.chains[0].lines),
                 static_cast<unsigned long long>(report.chains.empty() ? 0
                                                                       : report.chains[0].checkpoints),
                 static_cast<unsigned long long>(newlines));
    std::abort();
  }
  if (!status.ok() && (status.code() != absl::StatusCode::kDataLoss ||
                       !absl::StartsWith(status.message(), LogPath()))) {
    std::fprintf(stderr, "unexpected error: %s\n", status.ToString().c_str());
    std::abort();
  }
  return 0;
}
