#include "fghv.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>

#include "adanorm.h"
#include "net.h"

namespace fas {

namespace {

constexpr double kLeak = 0.2;
constexpr double kNormFloor = 1e-12;  // rows are divided by max(|x|, this)
constexpr double kVarFloor = 1e-12;   // variances of the fitted Gaussians

at::Tensor unit_rows(const at::Tensor& x) { return x / x.norm(2, {-1}, /*keepdim=*/true).clamp_min(kNormFloor); }

at::Tensor scalar(const at::Tensor& t) { return t.detach().to(at::kDouble).reshape({}); }

const char* delta_kl_name(DeltaKL d) {
  return d == DeltaKL::AfterMinusBefore ? "after_minus_before" : "real_minus_attack";
}

DeltaKL parse_delta_kl(const std::string& s) {
  if (s == "after_minus_before") return DeltaKL::AfterMinusBefore;
  if (s == "real_minus_attack") return DeltaKL::RealMinusAttack;
  throw std::invalid_argument("fghv model: delta_kl \"" + s + "\" (want after_minus_before or real_minus_attack)");
}

// Draws standard normal values from gen on the CPU in the model's dtype, then moves them to
// its device: the same seed gives the same latents on every device.
at::Tensor draw_normal(at::Generator& gen, at::IntArrayRef sizes, const at::TensorOptions& opts) {
  // (normal_ takes the generator's lock itself.)
  at::Tensor z = at::empty(sizes, at::TensorOptions().dtype(opts.dtype()).device(at::kCPU)).normal_(0, 1, gen);
  return z.to(opts.device());
}

FghvConfig read_config(const ModelSpec& spec, const Settings& settings) {
  SettingsReader r(settings, "fghv model");
  FghvConfig c;
  c.size = spec.size;
  c.width = r.number("width", 1.0);
  c.adanorm = r.flag("adanorm", false);
  const std::string gate = r.text("gate", "");
  if (!gate.empty() && !c.adanorm)
    throw std::invalid_argument("fghv model: gate applies only with adanorm = true");
  c.gate = parse_gate(gate.empty() ? "1layer" : gate);
  const std::string impl = r.text("adanorm_impl", "");
  if (!impl.empty() && !c.adanorm)
    throw std::invalid_argument("fghv model: adanorm_impl applies only with adanorm = true");
  c.adanorm_impl = impl.empty() ? kDefaultAdaNormImpl : parse_adanorm_impl(impl);
  if (c.adanorm && c.adanorm_impl == AdaNormImpl::Fused && !fused_adanorm_supported(spec.options.device()))
    throw std::invalid_argument("fghv model: adanorm_impl fused has no kernel for device " +
                                spec.options.device().str() + " in this build (use composite)");
  c.latent_dim = static_cast<int>(r.integer("latent_dim", c.latent_dim));
  c.hypotheses = static_cast<int>(r.integer("hypotheses", c.hypotheses));
  c.tau = r.number("tau", c.tau);
  c.cls_head = r.flag("cls_head", false);
  c.draws = static_cast<int>(r.integer("draws", c.draws));
  c.latent_steps = static_cast<int>(r.integer("latent_steps", c.latent_steps));
  c.latent_lr = r.number("latent_lr", c.latent_lr);
  c.delta_kl = parse_delta_kl(r.text("delta_kl", "after_minus_before"));
  c.lambda = r.number("lambda", 0);
  r.finish();
  NetConfig nc{c.size, c.width, c.gate};
  validate(nc);  // size and width, as ANRL's
  auto bad = [](const std::string& what) { throw std::invalid_argument("fghv model: " + what); };
  if (c.latent_dim < 1 || c.latent_dim > 65536) bad("latent_dim " + std::to_string(c.latent_dim) + " must be in 1..65536");
  if (c.hypotheses < 2 || c.hypotheses > 65536)
    bad("hypotheses " + std::to_string(c.hypotheses) + " must be in 2..65536 (the generators' BatchNorm needs 2)");
  if (!(c.tau > 0)) bad("tau " + format_number(c.tau) + " must be > 0");
  if (c.draws < 1 || c.draws > 65536) bad("draws " + std::to_string(c.draws) + " must be in 1..65536");
  if (c.latent_steps < 0 || c.latent_steps > 100000)
    bad("latent_steps " + std::to_string(c.latent_steps) + " must be in 0..100000");
  if (!(c.latent_lr >= 0)) bad("latent_lr " + format_number(c.latent_lr) + " must be >= 0");
  return c;
}

}  // namespace

// ---- FeatureGenerator ---------------------------------------------------------------------

FeatureGenerator::FeatureGenerator(ParamStore& s, std::string prefix, int latent, int hidden, int out)
    : prefix_(std::move(prefix)), latent_(latent), hidden_(hidden), out_(out) {
  const auto ft = s.options().dtype().toScalarType();
  const int dims[3][2] = {{latent, hidden}, {hidden, hidden}, {hidden, out}};
  for (int i = 0; i < 3; ++i) {
    const std::string fc = prefix_ + "fc" + std::to_string(i + 1) + ".";
    s.add(fc + "weight", {dims[i][1], dims[i][0]}, true, ft);
    s.add(fc + "bias", {dims[i][1]}, true, ft);
    if (i == 2) break;
    const std::string bn = prefix_ + "bn" + std::to_string(i + 1) + ".";
    s.add(bn + "weight", {dims[i][1]}, true, ft);
    s.add(bn + "bias", {dims[i][1]}, true, ft);
    s.add(bn + "running_mean", {dims[i][1]}, false, ft);
    s.add(bn + "running_var", {dims[i][1]}, false, ft);
    s.add(bn + "num_batches_tracked", {}, false, at::kLong);
  }
}

at::Tensor FeatureGenerator::forward(const ParamStore& s, const at::Tensor& z, bool train, const TensorMap* fast,
                                     bool frozen) const {
  auto p = [&](const std::string& n) { return frozen ? s.param(prefix_ + n, fast).detach() : s.param(prefix_ + n, fast); };
  at::Tensor y = z;
  for (int i = 1; i <= 3; ++i) {
    const std::string k = std::to_string(i);
    y = at::linear(y, p("fc" + k + ".weight"), p("fc" + k + ".bias"));
    if (i == 3) break;
    const std::string bn = prefix_ + "bn" + k + ".";
    NormParams np{p("bn" + k + ".weight"), p("bn" + k + ".bias"), s.get(bn + "running_mean"), s.get(bn + "running_var"),
                  s.get(bn + "num_batches_tracked"), {}, {}};
    y = at::leaky_relu(batch_norm(y, np, train), kLeak);
  }
  return unit_rows(y);
}

void FeatureGenerator::init(ParamStore& s, at::Generator& gen) const {
  at::NoGradGuard no_grad;
  auto cpu = at::TensorOptions().dtype(s.options().dtype()).device(at::kCPU);
  for (int i = 1; i <= 3; ++i) {
    const std::string fc = prefix_ + "fc" + std::to_string(i) + ".";
    at::Tensor& w = s.get(fc + "weight");
    const double b = 1.0 / std::sqrt(static_cast<double>(w.size(1)));
    w.copy_(at::empty(w.sizes(), cpu).uniform_(-b, b, gen));
    at::Tensor& bias = s.get(fc + "bias");
    bias.copy_(at::empty(bias.sizes(), cpu).uniform_(-b, b, gen));
  }
  for (int i = 1; i <= 2; ++i) {
    const std::string bn = prefix_ + "bn" + std::to_string(i) + ".";
    s.get(bn + "weight").fill_(1);
    s.get(bn + "bias").fill_(0);
    s.get(bn + "running_mean").fill_(0);
    s.get(bn + "running_var").fill_(1);
    s.get(bn + "num_batches_tracked").fill_(0);
  }
}

// ---- Embedder -----------------------------------------------------------------------------

Embedder::Embedder(ParamStore& s, int in, double width, bool cls_head) : cls_head_(cls_head) {
  auto ch = [&](int c) { return scaled_channels(c, width); };
  const int dims[3][2] = {{in, ch(128)}, {ch(128), ch(256)}, {ch(256), ch(512)}};
  for (int b = 0; b < 3; ++b)
    blocks_.push_back(add_conv_block(s, "Embedder.conv_block" + std::to_string(b + 1) + ".", dims[b][0], dims[b][1],
                                     false, Gate::OneLayer));
  dim_ = ch(512);
  if (cls_head_) {
    const auto ft = s.options().dtype().toScalarType();
    s.add("Embedder.fc.weight", {2, dim_}, true, ft);
    s.add("Embedder.fc.bias", {2}, true, ft);
  }
}

at::Tensor Embedder::forward(const ParamStore& s, const at::Tensor& feat, bool train, const TensorMap* fast) const {
  at::Tensor y = at::max_pool2d(conv_block(s, blocks_[0], feat, train, fast), 2);
  y = at::max_pool2d(conv_block(s, blocks_[1], y, train, fast), 2);
  return conv_block(s, blocks_[2], y, train, fast).mean({2, 3});
}

at::Tensor Embedder::logits(const ParamStore& s, const at::Tensor& f, const TensorMap* fast) const {
  if (!cls_head_) return {};
  return at::linear(f, s.param("Embedder.fc.weight", fast), s.param("Embedder.fc.bias", fast));
}

// ---- scores -------------------------------------------------------------------------------

at::Tensor gaussian_kl(const at::Tensor& z) {
  at::Tensor mu = z.mean(1);
  at::Tensor var = (z - mu.unsqueeze(1)).pow(2).mean(1).clamp_min(kVarFloor);
  return 0.5 * (var + mu.pow(2) - 1 - var.log()).sum(1);
}

LatentFit fit_latents(const ParamStore& s, const FeatureGenerator& g, const at::Tensor& fhat, const at::Tensor& z0,
                      int steps, double lr) {
  const int64_t n = z0.size(0), k = z0.size(1), d = z0.size(2);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  at::AutoGradMode grad_mode(true);
  at::Tensor z = z0.detach().clone().requires_grad_(true);
  at::Tensor m = at::zeros_like(z0), v = at::zeros_like(z0);
  at::Tensor f = fhat.detach().unsqueeze(1);  // n x 1 x D
  std::vector<at::Tensor> trace;
  for (int t = 0; t <= steps; ++t) {
    at::Tensor h = g.forward(s, z.view({n * k, d}), /*train=*/false, nullptr, /*frozen=*/true).view({n, k, -1});
    at::Tensor obj = (h * f).sum(2).mean(1);  // n: mean_k cos(f, G(z_k))
    trace.push_back(obj.detach());
    if (t == steps) break;
    at::Tensor grad = torch::autograd::grad({-obj.sum()}, {z})[0];
    at::NoGradGuard no_grad;
    m.mul_(b1).add_(grad, 1 - b1);
    v.mul_(b2).addcmul_(grad, grad, 1 - b2);
    const double c1 = 1 - std::pow(b1, t + 1), c2 = 1 - std::pow(b2, t + 1);
    z.sub_((m / c1) / ((v / c2).sqrt() + eps) * lr);
  }
  return {z.detach(), at::stack(trace, 1)};
}

// ---- FghvMethod ---------------------------------------------------------------------------

FghvMethod::FghvMethod(const ModelSpec& spec, const Settings& settings)
    : cfg_(read_config(spec, settings)),
      store_(spec.options),
      backbone_(store_, {cfg_.width, cfg_.adanorm, cfg_.gate, cfg_.adanorm_impl}),
      embedder_(store_, backbone_.channels(), cfg_.width, cfg_.cls_head),
      depth_(store_, backbone_.channels(), cfg_.width),
      real_(store_, "RealFGN.", cfg_.latent_dim, embedder_.dim(), embedder_.dim()),
      attack_(store_, "AttackFGN.", cfg_.latent_dim, embedder_.dim(), embedder_.dim()) {
  // The backbone, embedder and depth head take ANRL's initialisation from seed; the
  // generators PyTorch's defaults from a generator seeded with seed + 1.
  init_reference(store_, spec.seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(spec.seed + 1);
  real_.init(store_, gen);
  attack_.init(store_, gen);
}

Settings FghvMethod::settings() const {
  Settings s = {{"width", format_number(cfg_.width)}, {"adanorm", cfg_.adanorm ? "true" : "false"}};
  if (cfg_.adanorm) {
    s.emplace_back("gate", gate_name(cfg_.gate));
    s.emplace_back("adanorm_impl", adanorm_impl_name(cfg_.adanorm_impl));
  }
  s.insert(s.end(), {{"latent_dim", std::to_string(cfg_.latent_dim)},
                     {"hypotheses", std::to_string(cfg_.hypotheses)},
                     {"tau", format_number(cfg_.tau)},
                     {"cls_head", cfg_.cls_head ? "true" : "false"},
                     {"draws", std::to_string(cfg_.draws)},
                     {"latent_steps", std::to_string(cfg_.latent_steps)},
                     {"latent_lr", format_number(cfg_.latent_lr)},
                     {"delta_kl", delta_kl_name(cfg_.delta_kl)},
                     {"lambda", format_number(cfg_.lambda)}});
  return s;
}

std::vector<std::string> FghvMethod::output_names() const {
  std::vector<std::string> out = {"feature", "depth"};
  if (cfg_.cls_head) out.push_back("logits");
  out.insert(out.end(), {"corr_real", "corr_attack", "space_score", "corr_spread", "kl_before", "kl_real",
                         "kl_attack", "delta_kl", "fused_score"});
  return out;
}

FghvOutput FghvMethod::net(const at::Tensor& x, bool train, const TensorMap* fast) {
  check_input(x, train);
  at::Tensor feat = backbone_.forward(store_, x, train, fast);
  FghvOutput o;
  o.feature = embedder_.forward(store_, feat, train, fast);
  o.depth = depth_.forward(store_, feat, train, fast);
  o.logits = embedder_.logits(store_, o.feature, fast);
  return o;
}

Verification FghvMethod::verify(const at::Tensor& x, uint64_t seed, bool space, bool distribution) {
  at::NoGradGuard no_grad;
  return verify_feature(net(x, /*train=*/false).feature, seed, space, distribution);
}

Verification FghvMethod::verify_feature(const at::Tensor& feature, uint64_t seed, bool space, bool distribution) {
  at::NoGradGuard no_grad;
  const at::Tensor fhat = unit_rows(feature.detach());
  const int64_t n = feature.size(0), k = cfg_.hypotheses, d = cfg_.latent_dim, m = cfg_.draws;
  const at::TensorOptions opts = store_.options().requires_grad(false);
  // Every draw in a fixed order, whatever is computed: the same seed, the same latents.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor zs_real = draw_normal(gen, {m * k, d}, opts), zs_attack = draw_normal(gen, {m * k, d}, opts);
  const at::Tensor z0_real = draw_normal(gen, {n, k, d}, opts), z0_attack = draw_normal(gen, {n, k, d}, opts);
  Verification v;
  if (space) {
    at::Tensor g = real_.forward(store_, zs_real, false, nullptr, true).view({m, k, -1});
    at::Tensor h = attack_.forward(store_, zs_attack, false, nullptr, true).view({m, k, -1});
    v.corr_real = at::matmul(g, fhat.t()).permute({2, 0, 1}).contiguous();  // n x M x N
    v.corr_attack = at::matmul(h, fhat.t()).permute({2, 0, 1}).contiguous();
    at::Tensor ell = at::logsumexp(v.corr_real / cfg_.tau, 2) - at::logsumexp(v.corr_attack / cfg_.tau, 2);
    v.space_score = at::sigmoid(ell).mean(1);
    v.corr_spread = v.corr_real.var(2, /*unbiased=*/false).mean(1);
  }
  if (distribution) {
    LatentFit fr = fit_latents(store_, real_, fhat, z0_real, cfg_.latent_steps, cfg_.latent_lr);
    LatentFit fa = fit_latents(store_, attack_, fhat, z0_attack, cfg_.latent_steps, cfg_.latent_lr);
    v.kl_before = gaussian_kl(z0_real);
    v.kl_real = gaussian_kl(fr.z);
    v.kl_attack = gaussian_kl(fa.z);
    v.delta_kl = cfg_.delta_kl == DeltaKL::AfterMinusBefore ? v.kl_real - v.kl_before : v.kl_real - v.kl_attack;
  }
  if (space && distribution) {
    v.fused_score = v.space_score - cfg_.lambda * v.delta_kl;
    v.attack_score = at::sigmoid(kScoreSlope * (0.5 - v.fused_score.to(at::kDouble)));
  }
  return v;
}

NamedTensors FghvMethod::forward(const at::Tensor& x, bool train, const std::vector<std::string>& names,
                                 uint64_t seed) {
  const std::vector<std::string> all = output_names();
  const std::vector<std::string>& want = names.empty() ? all : names;
  const std::set<std::string> net_outputs = {"feature", "depth", "logits"};
  const std::set<std::string> space_outputs = {"corr_real", "corr_attack", "space_score", "corr_spread", "fused_score"};
  const std::set<std::string> dist_outputs = {"kl_before", "kl_real", "kl_attack", "delta_kl", "fused_score"};
  bool space = false, dist = false;
  for (const auto& n : want) {
    bool known = false;
    for (const auto& a : all) known = known || a == n;
    if (!known) {
      std::string list;
      for (const auto& a : all) list += (list.empty() ? "" : ", ") + a;
      throw std::invalid_argument("fghv has no output \"" + n + "\" (outputs: " + list + ")");
    }
    space = space || space_outputs.count(n);
    dist = dist || dist_outputs.count(n);
  }
  if (train) {
    if (!names.empty() && (space || dist))
      throw std::invalid_argument("fghv: the verification outputs (corr_*, space_score, corr_spread, kl_*, delta_kl, "
                                  "fused_score) are test-time outputs of an eval-mode forward");
    FghvOutput o = net(x, true);
    NamedTensors out;
    for (const auto& n : want)
      if (n == "feature") out.emplace_back(n, o.feature);
      else if (n == "depth") out.emplace_back(n, o.depth);
      else if (n == "logits") out.emplace_back(n, o.logits);
    return out;
  }
  at::NoGradGuard no_grad;
  FghvOutput o = net(x, false);
  Verification v;
  if (space || dist) v = verify_feature(o.feature, seed, space, dist);
  NamedTensors out;
  for (const auto& n : want) {
    at::Tensor t;
    if (n == "feature") t = o.feature;
    else if (n == "depth") t = o.depth;
    else if (n == "logits") t = o.logits;
    else if (n == "corr_real") t = v.corr_real;
    else if (n == "corr_attack") t = v.corr_attack;
    else if (n == "space_score") t = v.space_score;
    else if (n == "corr_spread") t = v.corr_spread;
    else if (n == "kl_before") t = v.kl_before;
    else if (n == "kl_real") t = v.kl_real;
    else if (n == "kl_attack") t = v.kl_attack;
    else if (n == "delta_kl") t = v.delta_kl;
    else if (n == "fused_score") t = v.fused_score;
    out.emplace_back(n, t);
  }
  return out;
}

at::Tensor FghvMethod::score(const at::Tensor& x, uint64_t seed) {
  return verify(x, seed, true, true).attack_score.to(at::kCPU);
}

std::vector<std::string> FghvMethod::meta_param_names(const std::string& which) const {
  std::string w = which;
  if (w == "auto") w = cfg_.adanorm ? "gates" : "embedder";
  std::vector<std::string> out;
  if (w == "gates") {
    out = backbone_.gate_param_names(store_);
    if (out.empty()) throw std::invalid_argument("fghv training: meta_params gates needs a model with adanorm = true");
    return out;
  }
  auto starts = [](const std::string& s, const char* p) { return s.rfind(p, 0) == 0; };
  for (const auto& e : store_.entries()) {
    if (!e.is_param) continue;
    if ((w == "embedder" && starts(e.name, "Embedder.")) ||
        (w == "fgn" && (starts(e.name, "RealFGN.") || starts(e.name, "AttackFGN."))) || w == "all")
      out.push_back(e.name);
  }
  if (w != "embedder" && w != "fgn" && w != "all")
    throw std::invalid_argument("fghv training: meta_params \"" + which + "\" (want auto, gates, embedder, fgn or all)");
  return out;
}

// ---- training -----------------------------------------------------------------------------

FghvTrainConfig fghv_train_config(const Settings& training) {
  SettingsReader r(training, "fghv training");
  FghvTrainConfig c;
  const int64_t k = r.integer("num_domains", 0);
  if (k < 2 || k > 64) throw std::invalid_argument("fghv training: num_domains " + std::to_string(k) + " must be in 2..64");
  c.num_domains = static_cast<int>(k);
  const std::string rcc = r.text("rcc", "bce");
  if (rcc == "bce") c.rcc = RccLoss::BCE;
  else if (rcc == "hinge") c.rcc = RccLoss::Hinge;
  else throw std::invalid_argument("fghv training: rcc \"" + rcc + "\" (want bce or hinge)");
  c.rcc_margin = r.number("rcc_margin", c.rcc_margin);
  c.w_rcc = r.number("w_rcc", c.w_rcc);
  c.w_var = r.number("w_var", c.w_var);
  c.w_ddc = r.number("w_ddc", c.w_ddc);
  c.w_depth = r.number("w_depth", c.w_depth);
  c.w_cls = r.number("w_cls", c.w_cls);
  c.meta = r.flag("meta", false);
  c.metasize = static_cast<int>(r.integer("metasize", k <= 2 ? 1 : 2));
  c.meta_step_size = r.number("meta_step_size", c.meta_step_size);
  c.meta_params = r.text("meta_params", "auto");
  c.first_order = r.flag("first_order", false);
  r.finish();
  if (c.meta && (c.metasize < 1 || c.metasize >= c.num_domains))
    throw std::invalid_argument("fghv training: metasize " + std::to_string(c.metasize) + " must be in 1.." +
                                std::to_string(c.num_domains - 1) + " for " + std::to_string(c.num_domains) + " domains");
  if (c.meta_step_size < 0) throw std::invalid_argument("fghv training: meta_step_size must be >= 0");
  if (c.rcc_margin < 0) throw std::invalid_argument("fghv training: rcc_margin must be >= 0");
  return c;
}

std::unique_ptr<Objective> FghvMethod::objective(const Settings& training) {
  FghvTrainConfig c = fghv_train_config(training);
  if (c.w_cls != 0 && !cfg_.cls_head)
    throw std::invalid_argument("fghv training: w_cls = " + format_number(c.w_cls) +
                                " needs the classification head (model setting cls_head = true)");
  return std::make_unique<FghvObjective>(*this, c);
}

FghvObjective::FghvObjective(FghvMethod& m, const FghvTrainConfig& cfg) : m_(m), cfg_(cfg) {
  if (cfg_.meta) meta_names_ = m_.meta_param_names(cfg_.meta_params);
  else if (cfg_.meta_params != "auto") m_.meta_param_names(cfg_.meta_params);  // still a valid name
}

FghvPhase FghvObjective::phase(const std::vector<DomainBatch>& b, const std::vector<int>& domains,
                               const at::Tensor& zr, const at::Tensor& za, const TensorMap* fast) {
  ParamStore& s = m_.store();
  const FghvConfig& mc = m_.config();
  const at::Tensor g = m_.real_fgn().forward(s, zr, /*train=*/true, fast, false);    // N x D
  const at::Tensor h = m_.attack_fgn().forward(s, za, /*train=*/true, fast, false);  // N x D
  std::vector<at::Tensor> feats, depths, targets, labels, logits;
  for (int d : domains) {
    FghvOutput o = m_.net(b[d].images, /*train=*/true, fast);  // one forward per domain, as ANRL's
    feats.push_back(o.feature);
    depths.push_back(o.depth);
    targets.push_back(b[d].depth);
    labels.push_back(b[d].labels);
    if (o.logits.defined()) logits.push_back(o.logits);
  }
  const at::Tensor f = unit_rows(at::cat(feats));
  const at::Tensor y = at::cat(labels);
  const at::Tensor live = (y == 0).to(f.dtype());
  const at::Tensor cg = at::mm(f, g.t()), ch = at::mm(f, h.t());  // n x N cosines
  const at::Tensor ell = at::logsumexp(cg / mc.tau, 1) - at::logsumexp(ch / mc.tau, 1);  // log-odds of p_live
  FghvPhase p;
  if (cfg_.rcc == RccLoss::BCE) {
    p.rcc = (live * at::softplus(-ell) + (1 - live) * at::softplus(ell)).mean();
  } else {
    const at::Tensor gap = cg.mean(1) - ch.mean(1);
    p.rcc = (live * at::relu(cfg_.rcc_margin - gap) + (1 - live) * at::relu(cfg_.rcc_margin + gap)).mean();
  }
  const at::Tensor per = cg.var(1, /*unbiased=*/false) + (1 - cg.mean(1));
  p.var = (per * live).sum() / live.sum();
  const int64_t n = g.size(0);
  const at::Tensor gg = at::mm(g, g.t());
  p.ddc = at::mm(g, h.t()).mean() - (gg.sum() - gg.diagonal().sum()) / static_cast<double>(n * (n - 1));
  p.depth = at::mse_loss(at::cat(depths), at::cat(targets));
  p.loss = cfg_.w_rcc * p.rcc + cfg_.w_var * p.var + cfg_.w_ddc * p.ddc + cfg_.w_depth * p.depth;
  if (!logits.empty()) {
    p.cls = at::nll_loss(at::log_softmax(at::cat(logits), 1), y);
    p.loss = p.loss + cfg_.w_cls * p.cls;
  }
  p.acc = ((ell.detach() > 0).to(f.dtype()) == live).to(f.dtype()).mean();
  return p;
}

TensorMap FghvObjective::fast_weights(const at::Tensor& train_loss) {
  ParamStore& s = m_.store();
  std::vector<at::Tensor> theta;
  for (const auto& n : meta_names_) theta.push_back(s.get(n));
  std::vector<at::Tensor> g = torch::autograd::grad({train_loss}, theta, {}, /*retain_graph=*/true,
                                                    /*create_graph=*/!cfg_.first_order, /*allow_unused=*/true);
  TensorMap fast;
  for (size_t i = 0; i < meta_names_.size(); ++i) {
    at::Tensor gi = g[i].defined() ? g[i] : at::zeros_like(theta[i]);
    if (cfg_.first_order) gi = gi.detach();
    fast[meta_names_[i]] = theta[i].detach() - cfg_.meta_step_size * gi;
  }
  return fast;
}

namespace {

void add_phase(NamedTensors* out, const std::string& prefix, const FghvPhase& p, bool with_loss) {
  auto name = [&](const char* n) { return prefix.empty() ? std::string(n) : prefix + "/" + n; };
  out->emplace_back(name("rcc"), scalar(p.rcc));
  out->emplace_back(name("var"), scalar(p.var));
  out->emplace_back(name("ddc"), scalar(p.ddc));
  out->emplace_back(name("depth"), scalar(p.depth));
  if (p.cls.defined()) out->emplace_back(name("cls"), scalar(p.cls));
  out->emplace_back(name("acc"), scalar(p.acc));
  if (with_loss) out->emplace_back(name("loss"), scalar(p.loss));
}

}  // namespace

StepLoss FghvObjective::loss(const Batch& b, at::Generator& gen) {
  const int k = cfg_.num_domains;
  const FghvConfig& mc = m_.config();
  DomainsBatch db = split_domains(b, k, mc.size, "fghv");
  std::vector<int> order = db.order;
  if (order.empty()) {
    if (cfg_.meta) {
      order = draw_order(k, gen);
    } else {
      for (int i = 0; i < k; ++i) order.push_back(i);
    }
  }
  const at::TensorOptions opts = m_.store().options().requires_grad(false);
  const at::Tensor zr = draw_normal(gen, {mc.hypotheses, mc.latent_dim}, opts);
  const at::Tensor za = draw_normal(gen, {mc.hypotheses, mc.latent_dim}, opts);
  StepLoss out;
  if (!cfg_.meta) {
    FghvPhase p = phase(db.domains, order, zr, za, nullptr);
    out.total = p.loss;
    out.stats.emplace_back("loss", scalar(p.loss));
    add_phase(&out.stats, "", p, false);
  } else {
    const std::vector<int> tr(order.begin(), order.begin() + cfg_.metasize), te(order.begin() + cfg_.metasize, order.end());
    FghvPhase ptr = phase(db.domains, tr, zr, za, nullptr);
    TensorMap fast = fast_weights(ptr.loss);
    FghvPhase pte = phase(db.domains, te, zr, za, &fast);
    out.total = ptr.loss + pte.loss;
    out.stats.emplace_back("loss", scalar(out.total));
    add_phase(&out.stats, "meta_train", ptr, true);
    add_phase(&out.stats, "meta_test", pte, true);
  }
  at::Tensor ord = at::empty({k}, at::kLong);
  for (int i = 0; i < k; ++i) ord[i] = order[i];
  out.info.emplace_back("domain_order", ord);
  return out;
}

void register_fghv(std::map<std::string, MethodFactory>& registry) {
  registry["fghv"] = [](const ModelSpec& spec, const Settings& s) -> std::unique_ptr<Method> {
    return std::make_unique<FghvMethod>(spec, s);
  };
}

}  // namespace fas
