// A caching CPU allocator for libtorch: large blocks freed by one forward or step are kept
// and handed to the next, instead of going back to the kernel and being faulted in again.
#pragma once

#include <cstddef>

namespace fas {

// Blocks from this size up are cached; smaller ones are malloc's (its arenas keep them).
constexpr size_t kCpuCacheMinBlock = size_t(1) << 20;

// Installs the allocator as libtorch's CPU allocator, process-wide and once (every later call
// is a no-op). The cache holds at most `FASGO_CPU_CACHE_MIB` MiB of free blocks (default: a
// quarter of physical memory; 0 leaves libtorch's own allocator in place).
void install_cpu_cache();

struct CpuCacheStats {
  bool installed = false;
  size_t limit_bytes = 0;   // the most free bytes it keeps
  size_t cached_bytes = 0;  // free bytes held now
  size_t cached_blocks = 0;
  size_t live_bytes = 0;  // large blocks in use
  size_t hits = 0, misses = 0, evictions = 0;
};
CpuCacheStats cpu_cache_stats();

// Frees every cached block (a model's close calls it: the others refill what they use).
void cpu_cache_release();

// The limit a FASGO_CPU_CACHE_MIB value asks for, in bytes (nullptr: the default); throws
// c10::Error naming the variable for anything but a whole number.
size_t cpu_cache_limit(const char* mib);

// For tests: sets the limit (bytes) and frees what is over it; returns the previous limit.
size_t cpu_cache_set_limit(size_t bytes);

}  // namespace fas
