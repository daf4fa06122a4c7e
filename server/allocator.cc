#include "server/allocator.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace strongroom::server {

int ArenaCap(unsigned cores) { return std::max(2, static_cast<int>(cores)); }

AllocatorSettings ConfigureAllocator() {
  AllocatorSettings settings;
#if defined(__SANITIZE_ADDRESS__)
  return settings;
#else
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    settings.arena_cap = ArenaCap(std::thread::hardware_concurrency());
    mallopt(M_ARENA_MAX, settings.arena_cap);
  }
  // Setting either threshold also stops glibc from raising them as large blocks are freed.
  settings.thresholds_fixed = mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes) == 1 &&
                              mallopt(M_TRIM_THRESHOLD, kMmapThresholdBytes) == 1;
  return settings;
#endif
}

std::optional<std::string> TunablesWithoutThreadCaches(const char* current) {
  const std::string off = absl::StrCat(kThreadCacheTunable, "=0");
  if (current == nullptr || *current == '\0') return off;
  for (absl::string_view setting : absl::StrSplit(current, ':')) {
    if (absl::StartsWith(setting, absl::StrCat(kThreadCacheTunable, "="))) return std::nullopt;
  }
  return absl::StrCat(current, ":", off);
}

void ExecWithoutThreadCaches(char** argv) {
#if defined(__SANITIZE_ADDRESS__)
  (void)argv;
#else
  const char* current = std::getenv("GLIBC_TUNABLES");
  const std::string previous = current == nullptr ? "" : current;
  std::optional<std::string> tunables = TunablesWithoutThreadCaches(current);
  if (!tunables.has_value()) return;
  if (setenv("GLIBC_TUNABLES", tunables->c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Not re-executed: run on as before, with the environment as it was.
  if (current == nullptr) {
    unsetenv("GLIBC_TUNABLES");
  } else {
    setenv("GLIBC_TUNABLES", previous.c_str(), 1);
  }
#endif
}

}  // namespace strongroom::server
