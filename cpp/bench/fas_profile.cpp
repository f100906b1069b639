// fas_profile: where the time of ANRL's training step goes, and the fused AdaNorm op against
// the composition. Developer tool (built as build/fas_profile; not part of the shim).
//
//   fas_profile step [--size 64] [--batch 2] [--width 1] [--steps 6] [--threads 2]
//                    [--impl fused|composite|both] [--profile]
//     times whole trainer steps (K = 3 domains, Adam), median ms/step and img/s; with
//     --impl both the two implementations alternate step by step. --profile adds a table of
//     self CPU time by kind of operation (rows) and step phase (columns), per step, from
//     libtorch's RecordFunction hooks (the ones its autograd profiler uses).
//   fas_profile adanorm [--size 64] [--channels 128] [--batch 6] [--iters 30] [--threads 2]
//                       [--dtype float|double] [--impl fused|composite [--min-time 3]]
//     forward + backward of one AdaNorm + ReLU block (train mode), fused vs composite,
//     alternating; with --impl only that one, timed for --min-time seconds after a warm-up,
//     printed as a JSON line with images_per_s (a side of `make bench`).
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "adanorm.h"
#include "method.h"
#include "trainer.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::map<std::string, std::string> kv;
  bool has(const std::string& k) const { return kv.count(k) > 0; }
  std::string str(const std::string& k, const std::string& d) const { return has(k) ? kv.at(k) : d; }
  int integer(const std::string& k, int d) const { return has(k) ? std::stoi(kv.at(k)) : d; }
  double number(const std::string& k, double d) const { return has(k) ? std::stod(kv.at(k)) : d; }
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument " + k);
    k = k.substr(2);
    if (k == "profile") {
      a.kv[k] = "1";
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument("--" + k + " needs a value");
    a.kv[k] = argv[++i];
  }
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// CPU time of the whole process (all threads): steadier than wall time on a busy machine.
double cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// ---- the profile table --------------------------------------------------------------------

// The kind of an operation by its name and the autograd node it runs under (if any).
std::string category(const std::string& op, const std::string& node) {
  auto has = [&](const std::string& s, const char* p) { return s.find(p) != std::string::npos; };
  if (op.rfind("autograd::engine::evaluate_function", 0) == 0) return "autograd engine";
  if (op == "aten::empty" || op == "aten::empty_strided" || op == "aten::empty_like" || op == "aten::zeros" ||
      op == "aten::zeros_like" || op == "aten::ones_like" || op == "aten::resize_" || op == "aten::zero_" ||
      op == "aten::fill_" || op == "aten::full")
    return "allocation + fill";
  if (op == "aten::copy_" || op == "aten::to" || op == "aten::_to_copy" || op == "aten::contiguous" ||
      op == "aten::clone" || op == "aten::cat" || op == "aten::stack" || op == "aten::detach")
    return "copies";
  if (op == "fas::optimizer_update") return "optimizer kernel";
  if (op == "fas::all_finite") return "finiteness checks";
  const std::string& n = node.empty() ? op : node;
  const bool bwd = !node.empty();
  const bool dbl = has(n, "BackwardBackward");
  // fas::conv2d_meta (conv.cpp): ConvFn's backward builds ConvDataGradFn and ConvWeightGradFn.
  if (has(n, "ConvDataGradFn") || has(n, "ConvWeightGradFn")) return "conv double-bwd";
  if (has(n, "onvolution") || has(n, "conv2d") || has(n, "ConvFn"))
    return dbl ? "conv double-bwd" : bwd ? "conv bwd" : "conv fwd";
  if (has(n, "AdaNorm") || has(n, "fas::adanorm")) return bwd ? "fused adanorm bwd" : "fused adanorm fwd";
  if (has(n, "atch_norm") || has(n, "nstance_norm") || has(n, "BatchNorm"))
    return dbl ? "norm double-bwd" : bwd ? "norm bwd" : "norm fwd";
  if (has(n, "pool")) return bwd ? "pooling bwd" : "pooling fwd";
  return bwd ? "other bwd (elementwise, losses)" : "other fwd (elementwise, losses)";
}

struct Table {
  std::map<std::string, std::map<std::string, double>> us;  // category -> phase -> us
  std::vector<std::string> phases;
  void add(const std::string& cat, const std::string& phase, double v) {
    us[cat][phase] += v;
    if (std::find(phases.begin(), phases.end(), phase) == phases.end()) phases.push_back(phase);
  }
};

// Self CPU time of every operation (process CPU time, so that other processes on a busy
// machine do not count), attributed to the innermost autograd node and phase ("phase:..."
// user scope) around it, from RecordFunction callbacks on the main thread.
struct Frame {
  std::string name;
  double start, child;
  std::string node, phase;
};
thread_local std::vector<Frame> tl_stack;
Table* g_table = nullptr;
std::thread::id g_main;

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  if (std::this_thread::get_id() != g_main) return nullptr;
  const std::string name = fn.name();
  Frame f{name, cpu_ms() * 1000, 0, tl_stack.empty() ? "" : tl_stack.back().node,
          tl_stack.empty() ? "(outside)" : tl_stack.back().phase};
  if (name.rfind("phase:", 0) == 0) f.phase = name.substr(6);
  const std::string engine = "autograd::engine::evaluate_function: ";
  if (name.rfind(engine, 0) == 0) f.node = name.substr(engine.size());
  tl_stack.push_back(f);
  return nullptr;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext*) {
  if (std::this_thread::get_id() != g_main || tl_stack.empty()) return;
  Frame f = tl_stack.back();
  tl_stack.pop_back();
  const double total = cpu_ms() * 1000 - f.start;
  if (!tl_stack.empty()) tl_stack.back().child += total;
  if (f.name.rfind("phase:", 0) == 0) return;  // its self time is the loss bookkeeping
  g_table->add(category(f.name, f.node), f.phase, total - f.child);
}

struct Profiler {
  explicit Profiler(Table* t) {
    g_table = t;
    g_main = std::this_thread::get_id();
    handle = at::addGlobalCallback(at::RecordFunctionCallback(on_start, on_end));
  }
  ~Profiler() { at::removeCallback(handle); }
  at::CallbackHandle handle;
};

void print_table(const Table& t, int steps) {
  std::vector<std::string> cols = {"meta_train_forward", "inner_grad", "meta_test_forward", "backward", "optimizer"};
  for (const auto& p : t.phases)
    if (std::find(cols.begin(), cols.end(), p) == cols.end()) cols.push_back(p);
  double all = 0;
  std::map<std::string, double> col_total;
  for (const auto& r : t.us)
    for (const auto& c : r.second) all += c.second, col_total[c.first] += c.second;
  std::printf("| CPU ms per step | total | %% |");
  for (const auto& c : cols) std::printf(" %s |", c.c_str());
  std::printf("\n|---|---:|---:|");
  for (size_t i = 0; i < cols.size(); ++i) std::printf("---:|");
  std::printf("\n");
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& r : t.us) {
    double s = 0;
    for (const auto& c : r.second) s += c.second;
    rows.emplace_back(-s, r.first);
  }
  std::sort(rows.begin(), rows.end());
  for (const auto& row : rows) {
    const auto& r = t.us.at(row.second);
    std::printf("| %s | %.1f | %.0f |", row.second.c_str(), -row.first / 1000 / steps, 100 * -row.first / all);
    for (const auto& c : cols) {
      auto it = r.find(c);
      std::printf(" %.1f |", it == r.end() ? 0.0 : it->second / 1000 / steps);
    }
    std::printf("\n");
  }
  std::printf("| **all** | %.1f | 100 |", all / 1000 / steps);
  for (const auto& c : cols) std::printf(" %.1f |", col_total[c] / 1000 / steps);
  std::printf("\n");
}

// ---- step ---------------------------------------------------------------------------------

struct StepBench {
  std::unique_ptr<fas::Trainer> trainer;
  fas::Batch batch;
};

StepBench make_step(const std::string& impl, int size, int b, double width) {
  fas::ModelSpec spec;
  spec.size = size;
  spec.options = at::TensorOptions().dtype(at::kFloat);
  spec.seed = 1;
  std::shared_ptr<fas::Method> m =
      fas::make_method("anrl", spec, {{"width", std::to_string(width)}, {"adanorm_impl", impl}});
  StepBench s;
  s.trainer = std::make_unique<fas::Trainer>(m, m->objective({{"num_domains", "3"}}), fas::OptimConfig{}, 2);
  const int64_t k = 3, n = 2 * b, f = size / 8;
  at::manual_seed(0);
  s.batch["images"] = at::randn({k, n, 6, size, size});
  s.batch["depth"] = at::rand({k, n, f, f});
  s.batch["labels"] = at::cat({at::zeros({k, b}, at::kLong), at::ones({k, b}, at::kLong)}, 1);
  return s;
}

int cmd_step(const Args& a) {
  const int size = a.integer("size", 64), b = a.integer("batch", 2), steps = a.integer("steps", 6);
  const double width = a.number("width", 1);
  const std::string which = a.str("impl", "both");
  std::vector<std::string> impls = which == "both" ? std::vector<std::string>{"fused", "composite"}
                                                   : std::vector<std::string>{which};
  std::vector<StepBench> benches;
  for (const auto& i : impls) benches.push_back(make_step(i, size, b, width));
  for (auto& s : benches) s.trainer->step(s.batch, 1e-4);  // warm-up
  std::vector<std::vector<double>> ms(impls.size()), cpu(impls.size());
  Table table;
  for (int it = 0; it < steps; ++it)
    for (size_t i = 0; i < impls.size(); ++i) {
      std::unique_ptr<Profiler> prof;
      if (a.has("profile")) prof = std::make_unique<Profiler>(&table);
      const auto t0 = Clock::now();
      const double c0 = cpu_ms();
      benches[i].trainer->step(benches[i].batch, 1e-4);
      ms[i].push_back(ms_since(t0));
      cpu[i].push_back(cpu_ms() - c0);
    }
  const int imgs = 3 * 2 * b;
  for (size_t i = 0; i < impls.size(); ++i)
    std::printf("meta step S=%d B=%d width=%g threads=%d adanorm_impl=%s: median %.1f ms/step wall (%.2f img/s), "
                "%.1f ms CPU (%d steps)\n",
                size, b, width, at::get_num_threads(), impls[i].c_str(), median(ms[i]), imgs * 1000 / median(ms[i]),
                median(cpu[i]), steps);
  if (impls.size() == 2) {
    std::vector<double> r, rc;
    for (int it = 0; it < steps; ++it) r.push_back(ms[1][it] / ms[0][it]), rc.push_back(cpu[1][it] / cpu[0][it]);
    std::printf("ratio composite/fused: median %.3f wall, %.3f CPU\n", median(r), median(rc));
  }
  if (a.has("profile")) print_table(table, steps * static_cast<int>(impls.size()));
  return 0;
}

// ---- adanorm ------------------------------------------------------------------------------

int cmd_adanorm(const Args& a) {
  const int64_t s = a.integer("size", 64), c = a.integer("channels", 128), n = a.integer("batch", 6);
  const int iters = a.integer("iters", 30);
  const auto dt = a.str("dtype", "float") == "double" ? at::kDouble : at::kFloat;
  const auto o = at::TensorOptions().dtype(dt);
  at::manual_seed(0);
  at::Tensor x = at::randn({n, c, s, s}, o).requires_grad_();
  at::Tensor g = at::rand({n, c}, o).requires_grad_();
  auto param = [&](double v) { return (at::full({c}, v, o) + 0.1 * at::randn({c}, o)).requires_grad_(); };
  fas::NormParams p{param(1), param(0), at::zeros({c}, o), at::ones({c}, o), at::zeros({}, at::kLong), param(1),
                    param(0)};
  at::Tensor dy = at::randn({n, c, s, s}, o);
  std::vector<at::Tensor> inputs = {x, g, p.bn_weight, p.bn_bias, p.in_weight, p.in_bias};
  auto once = [&](fas::AdaNormImpl impl) {
    const auto t0 = Clock::now();
    at::Tensor y = fas::adanorm_relu(x, p, g, true, impl);
    torch::autograd::grad({y}, inputs, {dy});
    return ms_since(t0);
  };
  if (a.has("impl")) {  // one side of `make bench`: one warm-up, then calls until --min-time
    const fas::AdaNormImpl impl = fas::parse_adanorm_impl(a.str("impl", ""));
    const double min_ms = 1000 * a.number("min-time", 3);
    once(impl);
    double total = 0;
    int calls = 0;
    while (calls == 0 || total < min_ms) total += once(impl), ++calls;
    std::printf("{\"side\": \"%s\", \"calls\": %d, \"seconds\": %.6f, \"images_per_s\": %.6f, \"threads\": %d}\n",
                fas::adanorm_impl_name(impl), calls, total / 1000, calls * n * 1000 / total, at::get_num_threads());
    return 0;
  }
  once(fas::AdaNormImpl::Fused);
  once(fas::AdaNormImpl::Composite);
  std::vector<double> f, cm, r;
  for (int i = 0; i < iters; ++i) {
    f.push_back(once(fas::AdaNormImpl::Fused));
    cm.push_back(once(fas::AdaNormImpl::Composite));
    r.push_back(cm.back() / f.back());
  }
  std::printf("adanorm+relu fwd+bwd N=%ld C=%ld S=%ld %s threads=%d: fused %.3f ms, composite %.3f ms, ratio %.2f\n",
              static_cast<long>(n), static_cast<long>(c), static_cast<long>(s), dt == at::kFloat ? "float" : "double",
              at::get_num_threads(), median(f), median(cm), median(r));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw std::invalid_argument("usage: fas_profile step|adanorm [--flag value ...]");
    const std::string cmd = argv[1];
    Args a = parse(argc, argv);
    at::set_num_threads(a.integer("threads", 2));
    if (cmd == "step") return cmd_step(a);
    if (cmd == "adanorm") return cmd_adanorm(a);
    throw std::invalid_argument("unknown command " + cmd);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fas_profile: %s\n", e.what());
    return 2;
  }
}
