#include "server/allocator.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

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

}  // namespace strongroom::server
