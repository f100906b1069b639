// The C ABI: the exception guard maps every C++ exception to its status code, and every
// call rejects bad arguments (NULL pointers, bad configs, wrong shapes, NaN input) with a
// status instead of crashing.
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "capi_util.h"
#include "fas/fas.h"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

// Checks that s has the code (and a message containing needle), then frees it.
void expect(fas_status* s, fas_code code, const std::string& what, const char* needle = "") {
  const fas_code got = fas_status_code(s);
  const std::string msg = fas_status_message(s);
  check(got == code && msg.find(needle) != std::string::npos,
        what + " -> code " + std::to_string(got) + " \"" + msg.substr(0, 160) + "\"");
  fas_status_free(s);
}

void test_guard() {
  expect(fas::guard([] {}), FAS_OK, "guard: success is NULL");
  expect(fas::guard([] { throw fas::NonFiniteError("nan loss"); }), FAS_ERR_NONFINITE,
         "guard: NonFiniteError", "nan loss");
  expect(fas::guard([] { TORCH_CHECK(false, "torch says no"); }), FAS_ERR_TORCH,
         "guard: c10::Error", "torch says no");
  expect(fas::guard([] { (void)(at::ones({2}) + at::ones({3})); }), FAS_ERR_TORCH,
         "guard: a failing ATen op");
  expect(fas::guard([] { TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory."); }),
         FAS_ERR_OUT_OF_MEMORY, "guard: c10::OutOfMemoryError");
  expect(fas::guard([] { throw std::bad_alloc(); }), FAS_ERR_OUT_OF_MEMORY, "guard: bad_alloc");
  expect(fas::guard([] { throw std::invalid_argument("bad x"); }), FAS_ERR_INVALID_ARGUMENT,
         "guard: invalid_argument", "bad x");
  expect(fas::guard([] { throw std::out_of_range("no y"); }), FAS_ERR_NOT_FOUND,
         "guard: out_of_range", "no y");
  expect(fas::guard([] { throw std::runtime_error("boom"); }), FAS_ERR_INTERNAL,
         "guard: runtime_error", "boom");
  expect(fas::guard([] { throw 42; }), FAS_ERR_INTERNAL, "guard: a thrown int", "unknown");
  check(fas_status_code(nullptr) == FAS_OK && std::string(fas_status_message(nullptr)).empty(),
        "NULL status reads as success");
  fas_status_free(nullptr);
  fas_status_free(fas::static_oom_status());  // must not delete the static one
  check(fas_status_code(fas::static_oom_status()) == FAS_ERR_OUT_OF_MEMORY, "static OOM status");
}

void test_library() {
  fas_version_info v;
  expect(fas_version(&v), FAS_OK, "version");
  check(std::string(v.torch_version).rfind("1.", 0) == 0 || std::string(v.torch_version).rfind("2.", 0) == 0,
        std::string("torch version ") + v.torch_version);
  check(v.num_threads >= 1 && v.cuda_device_count >= 0, "thread and device counts");
  expect(fas_version(nullptr), FAS_ERR_INVALID_ARGUMENT, "version(NULL)");
  expect(fas_set_num_threads(0), FAS_ERR_INVALID_ARGUMENT, "set_num_threads(0)");
  expect(fas_set_num_threads(1), FAS_OK, "set_num_threads(1)");
  fas_version(&v);
  check(v.num_threads == 1, "threads now 1");
}

fas_model_config small_config() {
  fas_model_config c{};
  c.method = "anrl";
  c.size = 32;
  c.width = 0.25;
  c.gate = "1layer";
  c.dtype = FAS_F32;
  c.device = nullptr;
  c.seed = 1;
  return c;
}

void test_model_new() {
  fas_model* m = reinterpret_cast<fas_model*>(0x1);
  expect(fas_model_new(nullptr, &m), FAS_ERR_INVALID_ARGUMENT, "model_new(NULL config)");
  check(m == nullptr, "out pointer cleared on failure");
  fas_model_config c = small_config();
  expect(fas_model_new(&c, nullptr), FAS_ERR_INVALID_ARGUMENT, "model_new(NULL out)");
  struct Bad {
    const char* what;
    void (*mut)(fas_model_config&);
  } bad[] = {
      {"size 36", [](fas_model_config& c) { c.size = 36; }},
      {"size 24", [](fas_model_config& c) { c.size = 24; }},
      {"width 0", [](fas_model_config& c) { c.width = 0; }},
      {"width NaN", [](fas_model_config& c) { c.width = std::nan(""); }},
      {"gate", [](fas_model_config& c) { c.gate = "9layer"; }},
      {"method NULL", [](fas_model_config& c) { c.method = nullptr; }},
      {"method fghv", [](fas_model_config& c) { c.method = "fghv"; }},
      {"dtype I64", [](fas_model_config& c) { c.dtype = FAS_I64; }},
      {"dtype 17", [](fas_model_config& c) { c.dtype = 17; }},
      {"device tpu", [](fas_model_config& c) { c.device = "tpu"; }},
      {"device cuda:99", [](fas_model_config& c) { c.device = "cuda:99"; }},
      {"device cuda:", [](fas_model_config& c) { c.device = "cuda:"; }},
  };
  for (const auto& b : bad) {
    fas_model_config cc = small_config();
    b.mut(cc);
    fas_model* mm = nullptr;
    expect(fas_model_new(&cc, &mm), FAS_ERR_INVALID_ARGUMENT, std::string("model_new bad ") + b.what);
    check(mm == nullptr, std::string("no model for bad ") + b.what);
  }
  fas_model_free(nullptr);
}

std::vector<float> input(int64_t n, int64_t s, float scale) {
  std::vector<float> x(static_cast<size_t>(n * 6 * s * s));
  for (size_t i = 0; i < x.size(); ++i) x[i] = scale * std::sin(0.37f * static_cast<float>(i));
  return x;
}

void test_model_calls() {
  fas_model_config c = small_config();
  fas_model* m = nullptr;
  expect(fas_model_new(&c, &m), FAS_OK, "model_new");
  fas_model_info info;
  expect(fas_model_get_info(m, &info), FAS_OK, "get_info");
  check(info.size == 32 && info.feature_channels == 3 * 32 && std::string(info.gate) == "1layer" &&
            std::string(info.device) == "cpu",
        "info fields");
  expect(fas_model_get_info(nullptr, &info), FAS_ERR_INVALID_ARGUMENT, "get_info(NULL model)");
  expect(fas_model_get_info(m, nullptr), FAS_ERR_INVALID_ARGUMENT, "get_info(NULL out)");

  const int64_t n = 2, s = 32, F = 4, C = info.feature_channels;
  std::vector<float> x = input(n, s, 1), logits(n * 2), depth(n * F * F), feat(n * C * F * F);
  expect(fas_model_forward(m, x.data(), n, s, 0, logits.data(), depth.data(), feat.data()), FAS_OK,
         "eval forward");
  check(std::isfinite(logits[0]) && std::isfinite(depth[0]) && std::isfinite(feat[0]), "finite outputs");
  expect(fas_model_forward(m, x.data(), n, s, 0, nullptr, nullptr, nullptr), FAS_OK,
         "forward with every output skipped");
  expect(fas_model_forward(nullptr, x.data(), n, s, 0, logits.data(), nullptr, nullptr),
         FAS_ERR_INVALID_ARGUMENT, "forward(NULL model)");
  expect(fas_model_forward(m, nullptr, n, s, 0, logits.data(), nullptr, nullptr),
         FAS_ERR_INVALID_ARGUMENT, "forward(NULL input)");
  expect(fas_model_forward(m, x.data(), 0, s, 0, logits.data(), nullptr, nullptr),
         FAS_ERR_INVALID_ARGUMENT, "forward n = 0");
  expect(fas_model_forward(m, x.data(), 1, 20, 0, logits.data(), nullptr, nullptr),
         FAS_ERR_INVALID_ARGUMENT, "forward s = 20", "multiple of 8");
  expect(fas_model_forward(m, x.data(), 1, s, 1, logits.data(), nullptr, nullptr),
         FAS_ERR_INVALID_ARGUMENT, "train forward n = 1", "at least 2");
  std::vector<float> bad = x;
  bad[100] = std::nanf("");
  expect(fas_model_forward(m, bad.data(), n, s, 0, logits.data(), nullptr, nullptr),
         FAS_ERR_NONFINITE, "NaN input", "1 NaN");

  // Export, then import into a model with another seed: outputs become identical.
  fas_tensor_list* l = nullptr;
  expect(fas_model_export(m, &l), FAS_OK, "export");
  check(fas_tensor_list_len(l) == info.num_tensors, "list has every tensor");
  std::vector<fas_tensor_view> views;
  std::vector<std::vector<int64_t>> shapes;
  for (int64_t i = 0; i < fas_tensor_list_len(l); ++i) {
    fas_tensor_info ti;
    const void* data = nullptr;
    expect(fas_tensor_list_get(l, i, &ti, &data), FAS_OK, "list_get " + std::to_string(i));
    shapes.emplace_back(ti.shape, ti.shape + ti.ndim);
  }
  for (int64_t i = 0; i < fas_tensor_list_len(l); ++i) {
    fas_tensor_info ti;
    const void* data = nullptr;
    fas_status_free(fas_tensor_list_get(l, i, &ti, &data));
    views.push_back({l->items[i].name.c_str(), ti.dtype, ti.ndim, shapes[i].data(), data});
  }
  fas_tensor_info ti;
  expect(fas_tensor_list_get(l, -1, &ti, nullptr), FAS_ERR_NOT_FOUND, "list_get(-1)");
  expect(fas_tensor_list_get(l, fas_tensor_list_len(l), &ti, nullptr), FAS_ERR_NOT_FOUND, "list_get(len)");
  expect(fas_tensor_list_get(nullptr, 0, &ti, nullptr), FAS_ERR_INVALID_ARGUMENT, "list_get(NULL)");
  check(fas_tensor_list_len(nullptr) == 0, "len(NULL) = 0");

  fas_model_config c2 = small_config();
  c2.seed = 2;
  fas_model* m2 = nullptr;
  expect(fas_model_new(&c2, &m2), FAS_OK, "second model");
  std::vector<float> logits2(n * 2);
  fas_status_free(fas_model_forward(m2, x.data(), n, s, 0, logits2.data(), nullptr, nullptr));
  check(logits2 != logits, "seeds differ");
  expect(fas_model_import(m2, views.data(), static_cast<int64_t>(views.size())), FAS_OK, "import");
  fas_status_free(fas_model_forward(m2, x.data(), n, s, 0, logits2.data(), nullptr, nullptr));
  check(std::memcmp(logits2.data(), logits.data(), logits.size() * sizeof(float)) == 0,
        "imported model reproduces logits bit for bit");

  // Bad views, each rejected without touching the model.
  std::vector<fas_tensor_view> v2 = views;
  v2[0].name = nullptr;
  expect(fas_model_import(m2, v2.data(), v2.size()), FAS_ERR_INVALID_ARGUMENT, "import NULL name");
  v2 = views;
  v2[1].ndim = 9;
  expect(fas_model_import(m2, v2.data(), v2.size()), FAS_ERR_INVALID_ARGUMENT, "import ndim 9");
  v2 = views;
  v2[1].data = nullptr;
  expect(fas_model_import(m2, v2.data(), v2.size()), FAS_ERR_INVALID_ARGUMENT, "import NULL data");
  v2 = views;
  v2[2].dtype = 99;
  expect(fas_model_import(m2, v2.data(), v2.size()), FAS_ERR_INVALID_ARGUMENT, "import dtype 99");
  expect(fas_model_import(m2, nullptr, 3), FAS_ERR_INVALID_ARGUMENT, "import NULL array");
  expect(fas_model_import(m2, views.data(), -1), FAS_ERR_INVALID_ARGUMENT, "import n = -1");
  expect(fas_model_import(m2, views.data(), views.size() - 1), FAS_ERR_INVALID_ARGUMENT,
         "import one short", "1 missing");
  expect(fas_model_import(nullptr, views.data(), views.size()), FAS_ERR_INVALID_ARGUMENT,
         "import NULL model");
  fas_status_free(fas_model_forward(m2, x.data(), n, s, 0, logits2.data(), nullptr, nullptr));
  check(logits2 == logits, "failed imports left the model unchanged");
  expect(fas_model_export(nullptr, &l), FAS_ERR_INVALID_ARGUMENT, "export NULL model");

  fas_tensor_list_free(l);
  fas_tensor_list_free(nullptr);
  fas_model_free(m2);
  fas_model_free(m);
}

}  // namespace

int main() {
  test_guard();
  test_library();
  test_model_new();
  test_model_calls();
  std::printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
