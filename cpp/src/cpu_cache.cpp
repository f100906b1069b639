#include "cpu_cache.h"

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace fas {

namespace {

constexpr size_t kAlign = 64;              // libtorch's CPU alignment
constexpr size_t kGranule = size_t(1) << 16;  // large sizes round up to 64 KiB

// Large blocks are rounded up and reused when at most 1/8 larger than asked, so a forward
// or step that allocates the same shapes every time finds its blocks again; free blocks
// are evicted oldest first when the limit is reached. One mutex: the allocations it sees
// are a few thousand per step, each far cheaper than the kernels that use them.
class CpuCache final : public c10::Allocator {
 public:
  explicit CpuCache(size_t limit) : limit_(limit) {}

  // libtorch 1.13 declares allocate const, later 2.x releases non-const: one of these overrides.
  c10::DataPtr allocate(size_t n) const { return const_cast<CpuCache*>(this)->take(n); }
  c10::DataPtr allocate(size_t n) { return take(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &release_ptr; }
  // Pure virtual in later 2.x releases (a plain member before).
  void copy_data(void* dest, const void* src, std::size_t count) const {
    if (count) std::memcpy(dest, src, count);
  }

  static void release_ptr(void* p);
  void give_back(void* p);
  void release_all();
  size_t set_limit(size_t bytes);
  CpuCacheStats stats();

 private:
  struct Free {
    void* p;
    size_t size;
  };
  c10::DataPtr take(size_t n);
  void* fresh(size_t size);
  void evict_to(size_t bytes);  // with mu_ held

  std::mutex mu_;
  size_t limit_, cached_ = 0, live_bytes_ = 0, hits_ = 0, misses_ = 0, evictions_ = 0;
  std::unordered_map<void*, size_t> live_;           // large blocks in use: their sizes
  std::list<Free> order_;                            // free blocks, oldest first
  std::multimap<size_t, std::list<Free>::iterator> by_size_;
};

CpuCache* g_cache = nullptr;

void* CpuCache::fresh(size_t size) {
  void* p = nullptr;
  if (posix_memalign(&p, kAlign, size) != 0) p = nullptr;
  return p;
}

c10::DataPtr CpuCache::take(size_t n) {
  const c10::Device cpu(c10::DeviceType::CPU);
  if (n == 0) return {nullptr, nullptr, &release_ptr, cpu};
  if (n < kCpuCacheMinBlock) {
    void* p = fresh(n);
    TORCH_CHECK(p, "fasgo CPU allocator: not enough memory: tried to allocate ", n, " bytes");
    return {p, p, &release_ptr, cpu};
  }
  const size_t size = (n + kGranule - 1) / kGranule * kGranule;
  std::unique_lock<std::mutex> lock(mu_);
  auto it = by_size_.lower_bound(size);
  void* p = nullptr;
  size_t got = size;
  if (it != by_size_.end() && it->first <= size + size / 8) {
    p = it->second->p, got = it->first;
    cached_ -= got;
    order_.erase(it->second);
    by_size_.erase(it);
    ++hits_;
  } else {
    ++misses_;
    lock.unlock();
    p = fresh(size);
    lock.lock();
    if (!p) {  // what the cache holds may be what is missing
      evict_to(0);
      lock.unlock();
      p = fresh(size);
      lock.lock();
    }
    TORCH_CHECK(p, "fasgo CPU allocator: not enough memory: tried to allocate ", n, " bytes");
  }
  live_[p] = got;
  live_bytes_ += got;
  return {p, p, &release_ptr, cpu};
}

void CpuCache::release_ptr(void* p) {
  if (p) g_cache->give_back(p);
}

void CpuCache::give_back(void* p) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) {  // a small block, or one from the allocator before this one
    std::free(p);
    return;
  }
  const size_t size = it->second;
  live_.erase(it);
  live_bytes_ -= size;
  if (size > limit_) {
    std::free(p);
    return;
  }
  evict_to(limit_ - size);
  order_.push_back({p, size});
  by_size_.emplace(size, std::prev(order_.end()));
  cached_ += size;
}

void CpuCache::evict_to(size_t bytes) {
  while (cached_ > bytes && !order_.empty()) {
    const Free f = order_.front();
    auto range = by_size_.equal_range(f.size);
    for (auto it = range.first; it != range.second; ++it)
      if (it->second == order_.begin()) {
        by_size_.erase(it);
        break;
      }
    order_.pop_front();
    cached_ -= f.size;
    ++evictions_;
    std::free(f.p);
  }
}

void CpuCache::release_all() {
  std::lock_guard<std::mutex> lock(mu_);
  evict_to(0);
}

size_t CpuCache::set_limit(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t old = limit_;
  limit_ = bytes;
  evict_to(bytes);
  return old;
}

CpuCacheStats CpuCache::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  CpuCacheStats s;
  s.installed = true;
  s.limit_bytes = limit_, s.cached_bytes = cached_, s.cached_blocks = order_.size(), s.live_bytes = live_bytes_;
  s.hits = hits_, s.misses = misses_, s.evictions = evictions_;
  return s;
}

}  // namespace

size_t cpu_cache_limit(const char* v) {
  if (v) {
    char* end = nullptr;
    const unsigned long long mib = std::strtoull(v, &end, 10);
    TORCH_CHECK(*v && *end == '\0' && v[0] >= '0' && v[0] <= '9' && mib < (1ull << 40),
                "FASGO_CPU_CACHE_MIB=", v, ": want a whole number of MiB (0 turns the cache off)");
    return static_cast<size_t>(mib) << 20;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 4 : size_t(1) << 30;
}

void install_cpu_cache() {
  static std::once_flag once;
  std::call_once(once, [] {
    const size_t limit = cpu_cache_limit(std::getenv("FASGO_CPU_CACHE_MIB"));
    if (limit == 0) return;
    g_cache = new CpuCache(limit);  // never freed: tensors may outlive every model
    c10::SetCPUAllocator(g_cache, /*priority=*/10);
  });
}

CpuCacheStats cpu_cache_stats() { return g_cache ? g_cache->stats() : CpuCacheStats{}; }

void cpu_cache_release() {
  if (g_cache) g_cache->release_all();
}

size_t cpu_cache_set_limit(size_t bytes) { return g_cache ? g_cache->set_limit(bytes) : 0; }

}  // namespace fas
