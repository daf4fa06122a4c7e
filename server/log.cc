#include "server/log.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace strongroom::server {

void Log(LogLevel level, absl::string_view message) {
  static absl::Mutex mu(absl::kConstInit);
  const char* name = level == LogLevel::kInfo      ? "INFO"
                     : level == LogLevel::kWarning ? "WARN"
                                                   : "ERROR";
  std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
                   name, " ", message, "\n");
  absl::MutexLock lock(&mu);
  fwrite(line.data(), 1, line.size(), stderr);
  fflush(stderr);
}

}  // namespace strongroom::server
