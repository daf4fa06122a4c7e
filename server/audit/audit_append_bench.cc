// audit_append_bench [DIR]: appends/s of AuditLog with 1, 8 and 32 appending threads, each
// Append durable (fdatasync) before it returns. Writes under DIR (default $TMPDIR or /tmp).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/audit/audit_log.h"
#include "server/audit/testing/log_files.h"
#include "server/audit/testing/software_signer.h"

namespace strongroom::server::audit {
namespace {

constexpr absl::Duration kRunTime = absl::Seconds(3);

double AppendsPerSecond(const std::string& dir, int threads) {
  testing::SoftwareSigner signer;
  AuditLogOptions options;
  options.path = absl::StrCat(dir, "/bench-", threads, "/audit.log");
  options.node_id = "bench";
  if (std::system(absl::StrCat("rm -rf '", dir, "/bench-", threads, "'").c_str()) != 0)
    std::exit(1);
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options, &signer);
  if (!log.ok()) {
    std::fprintf(stderr, "%s\n", log.status().ToString().c_str());
    std::exit(1);
  }
  std::vector<uint64_t> counts(threads);
  absl::Time start = absl::Now(), end = start + kRunTime;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      AuditEvent event = testing::SampleEvent(t);
      while (absl::Now() < end) {
        if (!(*log)->Append(event).ok()) std::abort();
        ++counts[t];
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  uint64_t total = 0;
  for (uint64_t count : counts) total += count;
  return total / seconds;
}

}  // namespace
}  // namespace strongroom::server::audit

int main(int argc, char** argv) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = argc > 1 ? argv[1] : (tmp != nullptr ? tmp : "/tmp");
  for (int threads : {1, 8, 32}) {
    std::printf("%2d threads: %8.0f appends/s\n", threads,
                strongroom::server::audit::AppendsPerSecond(dir, threads));
  }
  return 0;
}
