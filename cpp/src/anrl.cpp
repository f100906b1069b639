#include "anrl.h"

#include <cmath>
#include <stdexcept>

namespace fas {

namespace {

at::Tensor scalar(double v) { return at::scalar_tensor(v, at::kDouble); }

void add_phase(NamedTensors* out, const std::string& prefix, const PhaseStats& p) {
  const std::pair<const char*, double> v[] = {{"cls", p.cls},       {"depth", p.depth}, {"domain", p.domain},
                                              {"discri", p.discri}, {"acc", p.acc},     {"loss", p.loss}};
  for (const auto& x : v) out->emplace_back(prefix + "/" + x.first, scalar(x.second));
}

}  // namespace

AnrlMethod::AnrlMethod(const ModelSpec& spec, const Settings& settings) {
  SettingsReader r(settings, "anrl model");
  NetConfig nc;
  nc.size = spec.size;
  nc.width = r.number("width", 1.0);
  nc.gate = parse_gate(r.text("gate", "1layer"));
  nc.adanorm_impl = parse_adanorm_impl(r.text("adanorm_impl", adanorm_impl_name(kDefaultAdaNormImpl)));
  r.finish();
  if (nc.adanorm_impl == AdaNormImpl::Fused && !fused_adanorm_supported(spec.options.device()))
    throw std::invalid_argument("anrl model: adanorm_impl fused has no kernel for device " +
                                spec.options.device().str() + " in this build (use composite)");
  net_ = std::make_unique<AnrlNet>(nc, spec.options);
  net_->init(spec.seed);
}

Settings AnrlMethod::settings() const {
  return {{"width", format_number(net_->config().width)},
          {"gate", gate_name(net_->config().gate)},
          {"adanorm_impl", adanorm_impl_name(net_->config().adanorm_impl)}};
}

NamedTensors AnrlMethod::forward(const at::Tensor& x, bool train, const std::vector<std::string>& names,
                                 uint64_t /*seed: deterministic*/) {
  NetOutput o = net_->forward(x, train);
  NamedTensors all = {{"logits", o.logits}, {"depth", o.depth}, {"features", o.features}};
  return select_outputs("anrl", all, names);
}

at::Tensor AnrlMethod::score(const at::Tensor& x, uint64_t /*seed: the score is deterministic*/) {
  at::Tensor l = net_->forward(x, false).logits.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t n = l.size(0);
  at::Tensor out = at::empty({n}, at::kDouble);
  const double* p = l.data_ptr<double>();
  double* o = out.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) o[i] = 1 / (1 + std::exp(p[2 * i] - p[2 * i + 1]));
  return out;
}

StepConfig anrl_step_config(const Settings& training, bool* reset_each_epoch) {
  SettingsReader r(training, "anrl training");
  StepConfig c;
  const int64_t k = r.integer("num_domains", 0);
  if (k < 2 || k > 64) throw std::invalid_argument("anrl training: num_domains " + std::to_string(k) + " must be in 2..64");
  c.num_domains = static_cast<int>(k);
  c.metasize = static_cast<int>(r.integer("metasize", k <= 2 ? 1 : 2));
  c.meta = r.flag("meta", true);
  c.meta_step_size = r.number("meta_step_size", c.meta_step_size);
  c.w_cls = r.number("w_cls", c.w_cls);
  c.w_depth = r.number("w_depth", c.w_depth);
  c.w_domain = r.number("w_domain", c.w_domain);
  c.w_discri = r.number("w_discri", c.w_discri);
  c.center_momentum = r.number("center_momentum", c.center_momentum);
  c.first_order = r.flag("first_order", false);
  c.textbook_fast_weights = r.flag("textbook_fast_weights", false);
  c.freeze_bn = r.flag("freeze_bn", false);
  const std::string grouping = r.text("batch_grouping", "domain");
  if (grouping != "domain" && grouping != "tface")
    throw std::invalid_argument("anrl training: batch_grouping \"" + grouping + "\" (want domain or tface)");
  c.tface_grouping = grouping == "tface";
  const std::string reset = r.text("center_reset", "epoch");
  if (reset != "epoch" && reset != "never")
    throw std::invalid_argument("anrl training: center_reset \"" + reset + "\" (want epoch or never)");
  *reset_each_epoch = reset == "epoch";
  r.finish();
  validate(c);
  return c;
}

std::unique_ptr<Objective> AnrlMethod::objective(const Settings& training) {
  bool reset = true;
  StepConfig c = anrl_step_config(training, &reset);
  if (c.meta && net_->meta_param_names().empty())
    throw std::invalid_argument("anrl training: meta-learning adapts the gates, and this network's constant gates have "
                                "none (use a learnt gate or meta: false)");
  return std::make_unique<AnrlObjective>(*net_, c, reset);
}

AnrlObjective::AnrlObjective(AnrlNet& net, const StepConfig& cfg, bool reset_each_epoch)
    : net_(net), step_(net, cfg), reset_each_epoch_(reset_each_epoch) {}

NamedTensors AnrlObjective::state() { return {{"centers.real", step_.center_real()}, {"centers.fake", step_.center_fake()}}; }

void AnrlObjective::epoch_begin(int64_t) {
  if (reset_each_epoch_) step_.reset_centers();
}

// The batch geometry is checked here, once, for every caller of the C API.
StepLoss AnrlObjective::loss(const Batch& b, at::Generator& gen) {
  const int k = step_.config().num_domains;
  DomainsBatch db = split_domains(b, k, net_.config().size, "anrl");
  std::vector<DomainBatch>& domains = db.domains;
  std::vector<int> order = db.order.empty() ? draw_order(k, gen) : db.order;
  MetaLoss l = step_.loss(domains, order);
  StepLoss out;
  out.total = l.total;
  out.stats.emplace_back("loss", scalar(l.meta_train.loss + l.meta_test.loss));
  add_phase(&out.stats, "meta_train", l.meta_train);
  if (step_.config().meta) add_phase(&out.stats, "meta_test", l.meta_test);
  at::Tensor ord = at::empty({k}, at::kLong);
  for (int i = 0; i < k; ++i) ord[i] = order[i];
  out.info.emplace_back("domain_order", ord);
  return out;
}

void register_anrl(std::map<std::string, MethodFactory>& registry) {
  registry["anrl"] = [](const ModelSpec& spec, const Settings& s) -> std::unique_ptr<Method> {
    return std::make_unique<AnrlMethod>(spec, s);
  };
}

}  // namespace fas
