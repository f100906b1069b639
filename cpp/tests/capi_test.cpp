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
#include "check.h"

namespace {

using fas_test::check;
using fas_test::expect;
using fas_test::failures;

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

// Settings live as long as the config that points at them (static storage here).
const fas_setting kSmall[] = {{"width", "0.25"}, {"gate", "1layer"}};

fas_model_config small_config() {
  fas_model_config c{};
  c.method = "anrl";
  c.size = 32;
  c.dtype = FAS_F32;
  c.device = nullptr;
  c.seed = 1;
  c.settings = kSmall;
  c.num_settings = 2;
  return c;
}

// An eval-mode (train = 0) or train-mode forward's logits; empty on failure (status kept).
std::vector<float> logits_of(fas_model* m, const std::vector<float>& x, int64_t n, int64_t s, int train,
                             fas_code* code = nullptr) {
  const char* names[] = {"logits"};
  fas_tensor_list* l = nullptr;
  fas_status* st = fas_model_forward(m, x.data(), n, s, train, 0, names, 1, &l);
  if (code) *code = fas_status_code(st);
  fas_status_free(st);
  if (!l) return {};
  fas_tensor_info ti;
  const void* data = nullptr;
  fas_status_free(fas_tensor_list_get(l, 0, &ti, &data));
  std::vector<float> out(static_cast<const float*>(data), static_cast<const float*>(data) + ti.nbytes / 4);
  fas_tensor_list_free(l);
  return out;
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
      {"width 0", [](fas_model_config& c) { static const fas_setting s[] = {{"width", "0"}}; c.settings = s; c.num_settings = 1; }},
      {"width NaN", [](fas_model_config& c) { static const fas_setting s[] = {{"width", "nan"}}; c.settings = s; c.num_settings = 1; }},
      {"width text", [](fas_model_config& c) { static const fas_setting s[] = {{"width", "0.25x"}}; c.settings = s; c.num_settings = 1; }},
      {"gate", [](fas_model_config& c) { static const fas_setting s[] = {{"gate", "9layer"}}; c.settings = s; c.num_settings = 1; }},
      {"unknown setting", [](fas_model_config& c) { static const fas_setting s[] = {{"widht", "1"}}; c.settings = s; c.num_settings = 1; }},
      {"setting twice", [](fas_model_config& c) { static const fas_setting s[] = {{"width", "1"}, {"width", "2"}}; c.settings = s; c.num_settings = 2; }},
      {"NULL settings", [](fas_model_config& c) { c.settings = nullptr; c.num_settings = 2; }},
      {"threads -1", [](fas_model_config& c) { c.threads = -1; }},
      {"method NULL", [](fas_model_config& c) { c.method = nullptr; }},
      {"method fghv2", [](fas_model_config& c) { c.method = "fghv2"; }},
      {"fghv with anrl's gate but no adanorm", [](fas_model_config& c) { c.method = "fghv"; }},
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
  check(info.size == 32 && std::string(info.method) == "anrl" && std::string(info.device) == "cpu" &&
            info.num_settings == 3 && info.num_outputs == 3,
        "info fields");
  fas_setting_info si;
  expect(fas_model_get_setting(m, 0, &si), FAS_OK, "get_setting 0");
  check(std::string(si.key) == "width" && std::string(si.value) == "0.25", "setting width = 0.25");
  expect(fas_model_get_setting(m, 1, &si), FAS_OK, "get_setting 1");
  check(std::string(si.key) == "gate" && std::string(si.value) == "1layer", "setting gate = 1layer");
  expect(fas_model_get_setting(m, 2, &si), FAS_OK, "get_setting 2");
  check(std::string(si.key) == "adanorm_impl" && std::string(si.value) == "fused", "setting adanorm_impl = fused");
  expect(fas_model_get_setting(m, 3, &si), FAS_ERR_NOT_FOUND, "get_setting out of range");
  char oname[FAS_MAX_NAME];
  expect(fas_model_get_output_name(m, 2, oname), FAS_OK, "output name 2");
  check(std::string(oname) == "features", "output 2 is features");
  expect(fas_model_get_info(nullptr, &info), FAS_ERR_INVALID_ARGUMENT, "get_info(NULL model)");
  expect(fas_model_get_info(m, nullptr), FAS_ERR_INVALID_ARGUMENT, "get_info(NULL out)");

  const int64_t n = 2, s = 32, F = 4, C = 3 * 32;
  std::vector<float> x = input(n, s, 1);
  fas_tensor_list* outs = nullptr;
  expect(fas_model_forward(m, x.data(), n, s, 0, 0, nullptr, 0, &outs), FAS_OK, "eval forward, every output");
  check(fas_tensor_list_len(outs) == 3, "three outputs");
  const int64_t want_shapes[3][4] = {{n, 2, 0, 0}, {n, F, F, 0}, {n, C, F, F}};
  const char* want_names[3] = {"logits", "depth", "features"};
  for (int i = 0; i < 3; ++i) {
    fas_tensor_info ti;
    const void* d = nullptr;
    fas_status_free(fas_tensor_list_get(outs, i, &ti, &d));
    bool ok = std::string(ti.name) == want_names[i] && ti.dtype == FAS_F32;
    for (int k = 0; k < ti.ndim; ++k) ok = ok && ti.shape[k] == want_shapes[i][k];
    check(ok && std::isfinite(static_cast<const float*>(d)[0]), std::string("output ") + want_names[i]);
  }
  fas_tensor_list_free(outs);
  const std::vector<float> logits = logits_of(m, x, n, s, 0);
  check(logits.size() == 4, "logits alone");
  const char* bad_name[] = {"logit"};
  expect(fas_model_forward(m, x.data(), n, s, 0, 0, bad_name, 1, &outs), FAS_ERR_INVALID_ARGUMENT, "unknown output",
         "no output \"logit\"");
  std::vector<double> scores(n);
  expect(fas_model_score(m, x.data(), n, s, 0, scores.data()), FAS_OK, "score");
  for (int i = 0; i < n; ++i)
    check(std::fabs(scores[i] - 1 / (1 + std::exp(double(logits[2 * i]) - double(logits[2 * i + 1])))) < 1e-15,
          "score " + std::to_string(i) + " = softmax(logits)[1]");
  expect(fas_model_score(m, x.data(), n, s, 0, nullptr), FAS_ERR_INVALID_ARGUMENT, "score(NULL out)");
  {  // batch-invariant scores: each input of a batch of 5 scores bit for bit as it does alone
    const int64_t nb = 5, per = 6 * s * s;
    std::vector<float> xb = input(nb, s, 7);
    std::vector<double> batch(nb), one(1), plain(nb);
    expect(fas_model_score_flags(m, xb.data(), nb, s, 0, FAS_SCORE_BATCH_INVARIANT, batch.data()), FAS_OK,
           "invariant score");
    expect(fas_model_score_flags(m, xb.data(), nb, s, 0, 0, plain.data()), FAS_OK, "score, no flags");
    bool same = true, close = true;
    for (int64_t i = 0; i < nb; ++i) {
      expect(fas_model_score_flags(m, xb.data() + i * per, 1, s, 0, FAS_SCORE_BATCH_INVARIANT, one.data()), FAS_OK,
             "invariant score of one");
      same = same && std::memcmp(&one[0], &batch[i], sizeof(double)) == 0;
      close = close && std::fabs(plain[i] - batch[i]) < 1e-5;
    }
    check(same, "invariant scores of a batch equal the scores of its inputs alone, bit for bit");
    check(close, "invariant scores agree with the fast kernels' to 1e-5");
    expect(fas_model_score_flags(m, xb.data(), nb, s, 0, 2, batch.data()), FAS_ERR_INVALID_ARGUMENT,
           "unknown score flag", "unknown bits");
  }
  expect(fas_model_forward(nullptr, x.data(), n, s, 0, 0, nullptr, 0, &outs), FAS_ERR_INVALID_ARGUMENT,
         "forward(NULL model)");
  expect(fas_model_forward(m, nullptr, n, s, 0, 0, nullptr, 0, &outs), FAS_ERR_INVALID_ARGUMENT, "forward(NULL input)");
  expect(fas_model_forward(m, x.data(), 0, s, 0, 0, nullptr, 0, &outs), FAS_ERR_INVALID_ARGUMENT, "forward n = 0");
  expect(fas_model_forward(m, x.data(), 1, 20, 0, 0, nullptr, 0, &outs), FAS_ERR_INVALID_ARGUMENT, "forward s = 20",
         "multiple of 8");
  expect(fas_model_forward(m, x.data(), 1, s, 1, 0, nullptr, 0, &outs), FAS_ERR_INVALID_ARGUMENT,
         "train forward n = 1", "at least 2");
  std::vector<float> bad = x;
  bad[100] = std::nanf("");
  expect(fas_model_forward(m, bad.data(), n, s, 0, 0, nullptr, 0, &outs), FAS_ERR_NONFINITE, "NaN input", "1 NaN");
  expect(fas_model_score(m, bad.data(), n, s, 0, scores.data()), FAS_ERR_NONFINITE, "NaN input scored", "1 NaN");

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
  std::vector<float> logits2 = logits_of(m2, x, n, s, 0);
  check(logits2 != logits, "seeds differ");
  expect(fas_model_import(m2, views.data(), static_cast<int64_t>(views.size())), FAS_OK, "import");
  logits2 = logits_of(m2, x, n, s, 0);
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
  logits2 = logits_of(m2, x, n, s, 0);
  check(logits2 == logits, "failed imports left the model unchanged");
  expect(fas_model_export(nullptr, &l), FAS_ERR_INVALID_ARGUMENT, "export NULL model");

  fas_tensor_list_free(l);
  fas_tensor_list_free(nullptr);
  fas_model_free(m2);
  fas_model_free(m);
}

// A K x 2B batch as named views over vectors that outlive the call.
struct BatchData {
  int64_t k = 3, b = 1, s = 32;
  std::vector<float> images, depth;
  std::vector<int64_t> labels;
  std::vector<int64_t> ishape, dshape, lshape;
  std::vector<fas_tensor_view> views;
  BatchData() {
    const int64_t n = 2 * b, f = s / 8;
    images = input(k * n, s, 0.5f);
    depth.assign(static_cast<size_t>(k * n * f * f), 0.25f);
    for (int64_t d = 0; d < k; ++d)
      for (int64_t i = 0; i < n; ++i) labels.push_back(i < b ? 0 : 1);
    ishape = {k, n, 6, s, s};
    dshape = {k, n, f, f};
    lshape = {k, n};
    views = {{"images", FAS_F32, 5, ishape.data(), images.data()},
             {"depth", FAS_F32, 4, dshape.data(), depth.data()},
             {"labels", FAS_I64, 2, lshape.data(), labels.data()}};
  }
};

void test_trainer() {
  check(fas_abi_version() == FAS_ABI_VERSION, "ABI version matches the header");
  fas_model_config c = small_config();
  fas_model* m = nullptr;
  expect(fas_model_new(&c, &m), FAS_OK, "model for the trainer");
  const fas_setting ts[] = {{"num_domains", "3"}, {"metasize", "2"}};
  fas_train_config tc{};
  tc.optimizer = FAS_OPT_ADAM;
  tc.beta1 = 0.9;
  tc.beta2 = 0.999;
  tc.eps = 1e-8;
  tc.seed = 5;
  tc.settings = ts;
  tc.num_settings = 2;
  fas_trainer* t = nullptr;
  expect(fas_trainer_new(m, &tc, &t), FAS_OK, "trainer_new");
  const fas_setting bad_ts[] = {{"num_domains", "3"}, {"metasise", "2"}};
  fas_train_config bad = tc;
  bad.settings = bad_ts;
  fas_trainer* t2 = nullptr;
  expect(fas_trainer_new(m, &bad, &t2), FAS_ERR_INVALID_ARGUMENT, "unknown training setting", "metasise");
  bad.num_settings = 0;
  expect(fas_trainer_new(m, &bad, &t2), FAS_ERR_INVALID_ARGUMENT, "num_domains required", "num_domains");

  BatchData bd;
  fas_tensor_list* r = nullptr;
  expect(fas_trainer_epoch_begin(t, 1), FAS_OK, "epoch_begin");
  expect(fas_trainer_epoch_begin(t, 0), FAS_ERR_INVALID_ARGUMENT, "epoch_begin(0)");
  expect(fas_trainer_step(t, bd.views.data(), 3, 1e-3, &r), FAS_OK, "step");
  std::vector<std::string> names;
  int64_t step = -1;
  for (int64_t i = 0; i < fas_tensor_list_len(r); ++i) {
    fas_tensor_info ti;
    const void* d = nullptr;
    fas_status_free(fas_tensor_list_get(r, i, &ti, &d));
    names.push_back(ti.name);
    if (names.back() == "step") step = *static_cast<const int64_t*>(d);
  }
  fas_tensor_list_free(r);
  check(names.size() == 1 + 6 + 6 + 1 + 1 && names[0] == "loss" && names[1] == "meta_train/cls" &&
            names[7] == "meta_test/cls" && names[13] == "domain_order" && names[14] == "step",
        "step result names");
  check(step == 1, "step counter 1");
  std::vector<fas_tensor_view> v = bd.views;
  v[0].name = "imagez";
  expect(fas_trainer_step(t, v.data(), 3, 1e-3, &r), FAS_ERR_INVALID_ARGUMENT, "batch without images", "no tensor \"images\"");
  v = bd.views;
  v.push_back(v[2]);
  v.back().name = "extra";
  expect(fas_trainer_step(t, v.data(), 4, 1e-3, &r), FAS_ERR_INVALID_ARGUMENT, "unknown batch tensor", "extra");
  BatchData nan;
  nan.images[7] = std::nanf("");
  expect(fas_trainer_step(t, nan.views.data(), 3, 1e-3, &r), FAS_ERR_NONFINITE, "NaN image", "batch images");
  expect(fas_trainer_step(t, bd.views.data(), 3, std::nan(""), &r), FAS_ERR_INVALID_ARGUMENT, "NaN lr");
  expect(fas_trainer_step(t, bd.views.data(), 3, 1e-3, &r), FAS_OK, "step after failures");
  for (int64_t i = 0; i < fas_tensor_list_len(r); ++i) {
    fas_tensor_info ti;
    const void* d = nullptr;
    fas_status_free(fas_tensor_list_get(r, i, &ti, &d));
    if (std::string(ti.name) == "step") check(*static_cast<const int64_t*>(d) == 2, "failed steps did not count");
  }
  fas_tensor_list_free(r);
  fas_model_free(m);  // the trainer keeps the model alive
  expect(fas_trainer_step(t, bd.views.data(), 3, 1e-3, &r), FAS_OK, "step after the model handle is freed");
  fas_tensor_list_free(r);
  fas_trainer_free(t);
}

// FGHV through the C ABI: its forward with a seed gives the parts its score combines; the
// same seed, the same values; the latent optimisation runs inside the ABI's no-grad calls.
void test_fghv() {
  const fas_setting s[] = {{"width", "0.125"}, {"latent_dim", "8"}, {"hypotheses", "4"}, {"latent_steps", "3"}};
  fas_model_config c = small_config();
  c.method = "fghv";
  c.settings = s;
  c.num_settings = 4;
  fas_model* m = nullptr;
  expect(fas_model_new(&c, &m), FAS_OK, "fghv model");
  const int64_t n = 3, sz = 32;
  std::vector<float> x(n * 6 * sz * sz);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * static_cast<double>(i));
  auto forward = [&](uint64_t seed, std::vector<float>* fused, std::vector<float>* dkl) {
    const char* names[] = {"fused_score", "delta_kl"};
    fas_tensor_list* l = nullptr;
    expect(fas_model_forward(m, x.data(), n, sz, 0, seed, names, 2, &l), FAS_OK, "fghv forward");
    for (int64_t i = 0; i < 2; ++i) {
      fas_tensor_info ti;
      const void* d = nullptr;
      fas_status_free(fas_tensor_list_get(l, i, &ti, &d));
      std::vector<float>* dst = i == 0 ? fused : dkl;
      dst->assign(static_cast<const float*>(d), static_cast<const float*>(d) + n);
    }
    fas_tensor_list_free(l);
  };
  std::vector<float> f1, d1, f2, d2, f3, d3;
  forward(7, &f1, &d1);
  forward(7, &f2, &d2);
  forward(8, &f3, &d3);
  check(f1 == f2 && d1 == d2 && d1 != d3, "fghv forward: the same for a seed, other latents for another");
  double sc[3];
  expect(fas_model_score(m, x.data(), n, sz, 7, sc), FAS_OK, "fghv score");
  bool ok = true;
  for (int i = 0; i < n; ++i) ok = ok && std::abs(sc[i] - 1 / (1 + std::exp(-8 * (0.5 - f1[i])))) < 1e-6;
  check(ok, "fghv score = sigmoid(8 (1/2 - fused_score)) of the forward with the same seed");
  fas_model_free(m);
  const fas_setting bad[] = {{"hypotheses", "1"}};
  c.settings = bad;
  c.num_settings = 1;
  expect(fas_model_new(&c, &m), FAS_ERR_INVALID_ARGUMENT, "fghv hypotheses 1", "hypotheses");
}

// MiniFASNet through the C ABI: 3 input planes, the forward flags, inference only.
void test_minifasnet() {
  const fas_setting st[] = {{"variant", "MiniFASNetV1SE"}};
  fas_model_config c{};
  c.method = "minifasnet";
  c.size = 80;
  c.dtype = FAS_F32;
  c.seed = 3;
  c.threads = 2;
  c.settings = st;
  c.num_settings = 1;
  fas_model* m = nullptr;
  expect(fas_model_new(&c, &m), FAS_OK, "minifasnet model_new");
  fas_model_info info;
  expect(fas_model_get_info(m, &info), FAS_OK, "minifasnet get_info");
  check(info.channels == 3 && info.num_outputs == 2 && info.size == 80, "minifasnet: 3 planes, logits and probs");
  const int64_t n = 3, s = 80;
  std::vector<float> x(static_cast<size_t>(n * 3 * s * s));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 256);
  const char* names[] = {"probs"};
  fas_tensor_list* all = nullptr;
  expect(fas_model_forward_flags(m, x.data(), n, s, 0, FAS_SCORE_BATCH_INVARIANT, names, 1, &all), FAS_OK,
         "forward_flags batch-invariant");
  fas_tensor_info ti;
  const void* pa = nullptr;
  expect(fas_tensor_list_get(all, 0, &ti, &pa), FAS_OK, "probs of the batch");
  check(ti.ndim == 2 && ti.shape[0] == n && ti.shape[1] == 3, "probs n x 3");
  for (int64_t i = 0; i < n; ++i) {
    fas_tensor_list* one = nullptr;
    expect(fas_model_forward_flags(m, x.data() + i * 3 * s * s, 1, s, 0, FAS_SCORE_BATCH_INVARIANT, names, 1, &one),
           FAS_OK, "forward_flags of one");
    const void* po = nullptr;
    expect(fas_tensor_list_get(one, 0, &ti, &po), FAS_OK, "probs of one");
    check(std::memcmp(po, static_cast<const float*>(pa) + 3 * i, 3 * sizeof(float)) == 0,
          "batch-invariant probs of input " + std::to_string(i) + " equal its own");
    fas_tensor_list_free(one);
  }
  fas_tensor_list_free(all);
  fas_tensor_list* out = nullptr;
  expect(fas_model_forward_flags(m, x.data(), n, s, 0, 4u, names, 1, &out), FAS_ERR_INVALID_ARGUMENT,
         "forward_flags unknown bits", "unknown bits");
  expect(fas_model_forward(m, x.data(), n, s, 1, 0, names, 1, &out), FAS_ERR_INVALID_ARGUMENT,
         "minifasnet training-mode forward", "inference only");
  fas_train_config tc{};
  tc.optimizer = FAS_OPT_SGD;
  fas_trainer* t = nullptr;
  expect(fas_trainer_new(m, &tc, &t), FAS_ERR_INVALID_ARGUMENT, "minifasnet trainer", "inference only");
  const fas_setting bad[] = {{"variant", "MiniFASNetV3"}};
  c.settings = bad;
  fas_model* m2 = nullptr;
  expect(fas_model_new(&c, &m2), FAS_ERR_INVALID_ARGUMENT, "unknown variant", "want MiniFASNetV2 or MiniFASNetV1SE");
  fas_model_free(m);
}

}  // namespace

// Inputs as views (ABI 6): an F32 view is fas_model_forward / fas_model_score bit for bit, an
// F64 model keeps F64 input and answers in F64, and bad views fail with a status.
void test_view_inputs() {
  const int64_t n = 2, s = 32, shape[4] = {n, 6, s, s};
  std::vector<float> x = input(n, s, 3);
  std::vector<double> xd(x.begin(), x.end());
  for (size_t i = 0; i < xd.size(); ++i) xd[i] += 1e-12 * static_cast<double>(i % 7);  // not an F32 value
  fas_model_config c = small_config();
  fas_model* m = nullptr;
  expect(fas_model_new(&c, &m), FAS_OK, "model_new F32");
  const fas_tensor_view v32{"input", FAS_F32, 4, shape, x.data()};
  fas_tensor_list *a = nullptr, *b = nullptr;
  expect(fas_model_forward(m, x.data(), n, s, 0, 0, nullptr, 0, &a), FAS_OK, "forward");
  expect(fas_model_forward_view(m, &v32, 0, 0, nullptr, 0, &b), FAS_OK, "forward_view F32");
  bool same = fas_tensor_list_len(a) == 3 && fas_tensor_list_len(b) == 3;
  for (int64_t i = 0; same && i < 3; ++i) {
    fas_tensor_info ia, ib;
    const void *da = nullptr, *db = nullptr;
    fas_status_free(fas_tensor_list_get(a, i, &ia, &da));
    fas_status_free(fas_tensor_list_get(b, i, &ib, &db));
    same = ib.dtype == FAS_F32 && ia.nbytes == ib.nbytes && std::memcmp(da, db, ia.nbytes) == 0;
  }
  check(same, "an F32 view forwards bit for bit as the float pointer");
  fas_tensor_list_free(a);
  fas_tensor_list_free(b);
  std::vector<double> s1(n), s2(n);
  expect(fas_model_score(m, x.data(), n, s, 0, s1.data()), FAS_OK, "score");
  expect(fas_model_score_view(m, &v32, 0, 0, s2.data()), FAS_OK, "score_view F32");
  check(std::memcmp(s1.data(), s2.data(), n * sizeof(double)) == 0, "an F32 view scores bit for bit as the float pointer");
  const int64_t bad_shape[3] = {n, 6, s};
  std::vector<int64_t> ints(n * 6 * s * s);
  const fas_tensor_view bad_ndim{"input", FAS_F32, 3, bad_shape, x.data()};
  const fas_tensor_view bad_type{"input", FAS_I64, 4, shape, ints.data()};
  const int64_t small_shape[4] = {1, 6, 16, 16};
  const fas_tensor_view bad_size{"input", FAS_F32, 4, small_shape, x.data()};
  expect(fas_model_forward_view(m, &bad_ndim, 0, 0, nullptr, 0, &a), FAS_ERR_INVALID_ARGUMENT, "view of 3 dims", "want N x 6 x S x S");
  expect(fas_model_forward_view(m, &bad_type, 0, 0, nullptr, 0, &a), FAS_ERR_INVALID_ARGUMENT, "I64 view", "input is I64, want F32 or F64");
  expect(fas_model_forward_view(m, &bad_size, 0, 0, nullptr, 0, &a), FAS_ERR_INVALID_ARGUMENT, "16 px view", "multiple of 8");
  expect(fas_model_forward_view(m, nullptr, 0, 0, nullptr, 0, &a), FAS_ERR_INVALID_ARGUMENT, "NULL view");
  expect(fas_model_score_view(m, &bad_type, 0, 0, s2.data()), FAS_ERR_INVALID_ARGUMENT, "I64 view scored", "want F32 or F64");
  fas_model_free(m);

  c.dtype = FAS_F64;
  expect(fas_model_new(&c, &m), FAS_OK, "model_new F64");
  const fas_tensor_view v64{"input", FAS_F64, 4, shape, xd.data()};
  const char* names[] = {"logits"};
  fas_tensor_list *l64 = nullptr, *l32 = nullptr;
  expect(fas_model_forward_view(m, &v64, 0, 0, names, 1, &l64), FAS_OK, "forward_view F64");
  expect(fas_model_forward_view(m, &v32, 0, 0, names, 1, &l32), FAS_OK, "forward_view F32 on an F64 model");
  fas_tensor_info i64, i32;
  const void *d64 = nullptr, *d32 = nullptr;
  fas_status_free(fas_tensor_list_get(l64, 0, &i64, &d64));
  fas_status_free(fas_tensor_list_get(l32, 0, &i32, &d32));
  check(i64.dtype == FAS_F64 && i32.dtype == FAS_F64, "an F64 model answers in F64");
  const double* p64 = static_cast<const double*>(d64);
  const double* p32 = static_cast<const double*>(d32);
  double diff = 0;
  for (int k = 0; k < 2 * n; ++k) diff = std::fmax(diff, std::fabs(p64[k] - p32[k]));
  char moved[64];
  std::snprintf(moved, sizeof moved, "%.3g", diff);
  check(diff > 0 && diff < 1e-9, std::string("the F64 input reaches the network unrounded (logits move by ") + moved + ")");
  std::vector<double> sc(n);
  expect(fas_model_score_view(m, &v64, 0, 0, sc.data()), FAS_OK, "score_view F64");
  for (int i = 0; i < n; ++i)
    check(std::fabs(sc[i] - 1 / (1 + std::exp(p64[2 * i] - p64[2 * i + 1]))) < 1e-15, "F64 score " + std::to_string(i) + " = softmax of the F64 logits");
  fas_tensor_list_free(l64);
  fas_tensor_list_free(l32);
  xd[5] = std::nan("");
  expect(fas_model_forward_view(m, &v64, 0, 0, names, 1, &l64), FAS_ERR_NONFINITE, "NaN in an F64 view", "1 NaN");
  fas_model_free(m);
}

int main() {
  test_guard();
  test_library();
  test_model_new();
  test_model_calls();
  test_view_inputs();
  test_trainer();
  test_fghv();
  test_minifasnet();
  std::printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
