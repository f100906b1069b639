// The caching CPU allocator: large blocks come back to the next allocation of (about) their
// size, small ones and those of the allocator before it are freed as before, the limit
// evicts oldest first, raw_allocate works (oneDNN's scratch buffers use it), threads share
// it safely, a model's close empties it, and a repeated forward allocates no new large block.
#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>

#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "cpu_cache.h"
#include "fas/fas.h"

namespace {

using fas_test::check;
using fas_test::expect;
using fas_test::failures;

constexpr int64_t MiB = 1 << 20;

at::Tensor block(int64_t bytes) { return at::empty({bytes}, at::kByte); }

void test_limit_parsing() {
  check(fas::cpu_cache_limit("0") == 0, "FASGO_CPU_CACHE_MIB=0: off");
  check(fas::cpu_cache_limit("16") == 16 * MiB, "FASGO_CPU_CACHE_MIB=16: 16 MiB");
  check(fas::cpu_cache_limit(nullptr) > 0, "unset: a quarter of physical memory");
  for (const char* bad : {"", "abc", "-1", "12x", " 3", "99999999999999999999"}) {
    std::string msg;
    try {
      fas::cpu_cache_limit(bad);
    } catch (const c10::Error& e) {
      msg = e.what();
    }
    check(msg.find("FASGO_CPU_CACHE_MIB=") != std::string::npos, std::string("rejects \"") + bad + "\"");
  }
}

void test_reuse() {
  const auto s0 = fas::cpu_cache_stats();
  at::Tensor a = block(4 * MiB);
  void* pa = a.data_ptr();
  a.reset();
  check(fas::cpu_cache_stats().cached_bytes == s0.cached_bytes + 4 * MiB, "a freed 4 MiB block is cached");
  at::Tensor b = block(4 * MiB);
  check(b.data_ptr() == pa, "the next 4 MiB allocation gets it back");
  check(fas::cpu_cache_stats().hits == s0.hits + 1, "counted as a hit");
  b.reset();
  at::Tensor c = block(4 * MiB - 100 * 1024);  // up to 1/8 smaller still fits
  check(c.data_ptr() == pa, "a slightly smaller allocation reuses it");
  c.reset();
  at::Tensor d = block(3 * MiB);  // 4 MiB would waste a third
  check(d.data_ptr() != pa, "a much smaller allocation does not");
  at::Tensor small = block(1000);
  const size_t cached = fas::cpu_cache_stats().cached_bytes;
  small.reset();
  check(fas::cpu_cache_stats().cached_bytes == cached, "small blocks are not cached");
  d.reset();
  fas::cpu_cache_release();
  const auto s1 = fas::cpu_cache_stats();
  check(s1.cached_bytes == 0 && s1.cached_blocks == 0, "release frees every cached block");
}

void test_limit() {
  fas::cpu_cache_release();
  const size_t old = fas::cpu_cache_set_limit(9 * MiB);
  const auto s0 = fas::cpu_cache_stats();
  at::Tensor x = block(4 * MiB), y = block(4 * MiB), z = block(4 * MiB);
  void *px = x.data_ptr(), *py = y.data_ptr(), *pz = z.data_ptr();
  x.reset(), y.reset(), z.reset();
  const auto s1 = fas::cpu_cache_stats();
  check(s1.cached_bytes == 8 * MiB && s1.cached_blocks == 2, "at most the limit is kept");
  check(s1.evictions == s0.evictions + 1, "one eviction");
  at::Tensor u = block(4 * MiB), v = block(4 * MiB);
  std::set<void*> got{u.data_ptr(), v.data_ptr()}, want{py, pz};
  check(got == want && !got.count(px), "the oldest block went first");
  u.reset(), v.reset();
  at::Tensor big = block(12 * MiB);
  big.reset();
  check(fas::cpu_cache_stats().cached_bytes <= 9 * MiB, "a block over the limit is freed, not kept");
  fas::cpu_cache_set_limit(old);
  fas::cpu_cache_release();
}

void test_raw() {
  c10::Allocator* a = c10::GetCPUAllocator();
  check(a->raw_deleter() != nullptr, "raw_deleter is set");
  void* p = a->raw_allocate(5 * MiB);
  static_cast<char*>(p)[5 * MiB - 1] = 1;
  a->raw_deallocate(p);
  check(fas::cpu_cache_stats().cached_bytes >= 5 * MiB, "a raw block comes back to the cache");
  void* q = a->raw_allocate(5 * MiB);
  check(q == p, "and is reused");
  a->raw_deallocate(q);
  fas::cpu_cache_release();
}

// Each thread fills its blocks with its own value and checks them after other threads ran.
void test_threads() {
  const size_t live0 = fas::cpu_cache_stats().live_bytes;
  std::vector<int> bad(4, 0);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([t, &bad] {
      for (int i = 0; i < 150; ++i) {
        const int64_t n = MiB / 2 + ((i * 7919 + t * 104729) % (6 * MiB));
        at::Tensor a = block(n).fill_(t + 1), b = block(n / 2 + MiB).fill_(t + 11);
        if (!a.eq(t + 1).all().item<bool>() || !b.eq(t + 11).all().item<bool>()) ++bad[t];
      }
    });
  for (auto& t : ts) t.join();
  check(bad == std::vector<int>(4, 0), "4 threads: every block kept its own contents");
  check(fas::cpu_cache_stats().live_bytes == live0, "every large block came back");
}

// A model's repeated forward finds every large block in the cache; its close empties it.
void test_model() {
  fas_setting width{"width", "0.5"};
  fas_model_config c{};
  c.method = "anrl", c.size = 64, c.seed = 1, c.threads = 2, c.settings = &width, c.num_settings = 1;
  fas_model* m = nullptr;
  expect(fas_model_new(&c, &m), FAS_OK, "model_new");
  if (!m) return;
  std::vector<float> x(4 * 6 * 64 * 64, 0.25f);
  std::vector<double> scores(4);
  expect(fas_model_score(m, x.data(), 4, 64, 0, scores.data()), FAS_OK, "first score");
  const auto s0 = fas::cpu_cache_stats();
  expect(fas_model_score(m, x.data(), 4, 64, 0, scores.data()), FAS_OK, "second score");
  const auto s1 = fas::cpu_cache_stats();
  check(s1.misses == s0.misses && s1.hits > s0.hits,
        "the second forward reused its large blocks: " + std::to_string(s1.hits - s0.hits) + " hits, " +
            std::to_string(s1.misses - s0.misses) + " misses");
  check(s1.cached_bytes > 0, "they are cached between calls");
  fas_model_free(m);
  check(fas::cpu_cache_stats().cached_bytes == 0, "closing the model empties the cache");
}

}  // namespace

int main() {
  at::Tensor before = block(3 * MiB).fill_(7);  // from libtorch's own allocator
  check(!fas::cpu_cache_stats().installed, "not installed before the first model");
  fas::install_cpu_cache();
  fas::install_cpu_cache();  // once
  const auto s = fas::cpu_cache_stats();
  check(s.installed && s.limit_bytes == fas::cpu_cache_limit(std::getenv("FASGO_CPU_CACHE_MIB")), "installed");
  check(before.eq(7).all().item<bool>(), "an earlier tensor is intact");
  const size_t cached = fas::cpu_cache_stats().cached_bytes;
  before.reset();  // freed by its own deleter
  check(fas::cpu_cache_stats().cached_bytes == cached, "an earlier allocator's block is not cached");
  test_limit_parsing();
  test_reuse();
  test_limit();
  test_raw();
  test_threads();
  test_model();
  std::printf("%s: %d failures\n", __FILE__, failures);
  return failures ? 1 : 0;
}
