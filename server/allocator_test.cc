#include "server/allocator.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "gtest/gtest.h"

namespace strongroom::server {
namespace {

TEST(TunablesWithoutThreadCachesTest, AddsTheSettingAndKeepsTheOperatorsOwn) {
  EXPECT_EQ(TunablesWithoutThreadCaches(nullptr), "glibc.malloc.tcache_count=0");
  EXPECT_EQ(TunablesWithoutThreadCaches(""), "glibc.malloc.tcache_count=0");
  EXPECT_EQ(TunablesWithoutThreadCaches("glibc.malloc.check=3"),
            "glibc.malloc.check=3:glibc.malloc.tcache_count=0");
  // Already set (by the operator, or by the exec itself): nothing to do, so no exec loop.
  EXPECT_EQ(TunablesWithoutThreadCaches("glibc.malloc.tcache_count=7"), std::nullopt);
  EXPECT_EQ(TunablesWithoutThreadCaches("glibc.malloc.check=3:glibc.malloc.tcache_count=0"),
            std::nullopt);
  // A longer name that merely starts alike is another tunable.
  EXPECT_EQ(TunablesWithoutThreadCaches("glibc.malloc.tcache_count_x=1"),
            "glibc.malloc.tcache_count_x=1:glibc.malloc.tcache_count=0");
}

TEST(ArenaCapTest, OnePerCoreAndAtLeastTwo) {
  EXPECT_EQ(ArenaCap(0), 2);  // hardware_concurrency() may not know
  EXPECT_EQ(ArenaCap(1), 2);
  EXPECT_EQ(ArenaCap(2), 2);
  EXPECT_EQ(ArenaCap(16), 16);
}

// The number of arenas glibc has made, read from malloc_info's XML ("<heap nr=...>").
int ArenaCount() {
  char* text = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&text, &size);
  malloc_info(0, out);
  fclose(out);
  std::string xml(text, size);
  free(text);
  int heaps = 0;
  for (size_t at = xml.find("<heap nr="); at != std::string::npos;
       at = xml.find("<heap nr=", at + 1)) {
    ++heaps;
  }
  return heaps;
}

// Many threads allocating at once: without the cap glibc gives each its own arena (up to
// 8 per core); with it, at most ArenaCap(cores) exist, the main arena included.
TEST(ConfigureAllocatorTest, CapsArenasUnderConcurrentThreads) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "a sanitizer's allocator is not glibc's";
#endif
  ASSERT_EQ(getenv("MALLOC_ARENA_MAX"), nullptr) << "the test needs glibc's default";
  AllocatorSettings settings = ConfigureAllocator();
  const int cap = ArenaCap(std::thread::hardware_concurrency());
  EXPECT_EQ(settings.arena_cap, cap);
  EXPECT_TRUE(settings.thresholds_fixed);

  constexpr int kThreads = 24;
  absl::Barrier all_allocated(kThreads + 1);
  absl::Barrier counted(kThreads + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      std::vector<std::string> held;
      for (int j = 0; j < 64; ++j) held.emplace_back(1024, 'x');
      all_allocated.Block();
      counted.Block();
    });
  }
  all_allocated.Block();
  EXPECT_LE(ArenaCount(), cap);
  counted.Block();
  for (std::thread& t : threads) t.join();
}

TEST(ConfigureAllocatorTest, LeavesTheOperatorsArenaSettingAlone) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "a sanitizer's allocator is not glibc's";
#endif
  setenv("MALLOC_ARENA_MAX", "3", 1);
  EXPECT_EQ(ConfigureAllocator().arena_cap, 0);
  unsetenv("MALLOC_ARENA_MAX");
}

}  // namespace
}  // namespace strongroom::server
