// ConfigureAllocator: bounds glibc malloc's footprint for a long-running server.
//
// glibc gives busy threads arenas of their own (up to 8 per core) and raises its mmap
// threshold each time a large block is freed, so a burst of big request buffers ends up
// spread over many arena heaps it cannot hand back. ConfigureAllocator, called once at
// start-up before any thread is started, caps the arenas at ArenaCap(cores) and fixes the
// mmap and trim thresholds at kMmapThresholdBytes, so blocks of that size and more are
// mapped and unmapped on their own and free tops of heaps are returned. The operator's
// own MALLOC_ARENA_MAX (glibc's environment setting) wins over the cap. It changes nothing
// under a sanitizer, whose allocator is not glibc's. Not thread-safe (start-up only).
//
// glibc also keeps a cache of freed blocks in every thread (tcache), which no trim returns;
// with a server's ~150 threads those caches held most of the growth the soak measured.
// They can only be turned off before the process starts (the glibc.malloc.tcache_count
// tunable), so ExecWithoutThreadCaches, the first call of main(), execs the program again
// with it set, unless GLIBC_TUNABLES already names it (the operator's choice, or the
// re-executed process).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace strongroom::server {

inline constexpr size_t kMmapThresholdBytes = 256 * 1024;

// The arena cap for a machine with `cores` cores: one arena per core, at least two.
int ArenaCap(unsigned cores);

// What ConfigureAllocator did: the arena cap in force (0 when it left glibc's own setting,
// i.e. MALLOC_ARENA_MAX is set or the allocator is a sanitizer's).
struct AllocatorSettings {
  int arena_cap = 0;
  bool thresholds_fixed = false;
};

AllocatorSettings ConfigureAllocator();

inline constexpr char kThreadCacheTunable[] = "glibc.malloc.tcache_count";

// The GLIBC_TUNABLES value that turns thread caches off, keeping the other tunables of
// `current` (nullptr: unset); nullopt if `current` already sets kThreadCacheTunable.
std::optional<std::string> TunablesWithoutThreadCaches(const char* current);

// Execs /proc/self/exe with `argv` and TunablesWithoutThreadCaches(getenv GLIBC_TUNABLES);
// returns if there is nothing to do, under a sanitizer, or if the exec fails (the process
// then runs on with thread caches). Call first in main(), before any thread exists.
void ExecWithoutThreadCaches(char** argv);

}  // namespace strongroom::server
