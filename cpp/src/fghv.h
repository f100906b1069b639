// FGHV behind the method seam (docs/fghv.md): Feature Generation and Hypothesis Verification
// (Liu et al., AAAI 2022), our reconstruction of it (/work/shared/spec/fghv.md; the paper's
// code was never released). The shared backbone (plain BatchNorm, or AdaNorm as a switch)
// and an embedder give a feature f; two feature generation networks (FGN) turn standard
// normal latents into hypotheses of live-face and of attack features; a face is verified
// against them in feature space (correlations) and in latent space (how far the latents must
// move to explain f).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backbone.h"
#include "method.h"
#include "step.h"

namespace fas {

enum class DeltaKL { AfterMinusBefore, RealMinusAttack };
enum class RccLoss { BCE, Hinge };

// The model settings (docs/fghv.md, "Settings"): the network and the test-time verification.
struct FghvConfig {
  int size = 256;      // input S, a multiple of 8, >= 32
  double width = 1.0;  // channel multiplier of backbone, embedder and depth head (f has round(512 w) dims)
  bool adanorm = false;          // AdaNorm blocks in the backbone (ANRL's) instead of BatchNorm
  Gate gate = Gate::OneLayer;    // AdaNorm gate (only with adanorm)
  AdaNormImpl adanorm_impl = kDefaultAdaNormImpl;  // how AdaNorm is computed (only with adanorm)
  int latent_dim = 128;          // z in R^latent_dim
  int hypotheses = 16;           // N hypotheses per FGN
  double tau = 0.1;              // temperature of the relative correlation
  bool cls_head = false;         // an extra linear classifier on f ("Embedder.fc"), for the CE loss
  int draws = 8;                 // M draws of the hypotheses for the space score
  int latent_steps = 20;         // T Adam steps of the test-time latent optimisation
  double latent_lr = 0.05;       // their learning rate
  DeltaKL delta_kl = DeltaKL::AfterMinusBefore;
  double lambda = 0;             // s = space - lambda * delta_kl (fitted on source validation data)
};

// The slope of the map from the fused liveness score s to the attack score,
// attack = sigmoid(kScoreSlope * (1/2 - s)).
constexpr double kScoreSlope = 8;

// A feature generation network, "<prefix>": fc1 (latent -> hidden), bn1, LeakyReLU(0.2), fc2
// (hidden -> hidden), bn2, LeakyReLU(0.2), fc3 (hidden -> out); the output rows L2-normalised.
class FeatureGenerator {
 public:
  FeatureGenerator(ParamStore& store, std::string prefix, int latent, int hidden, int out);
  // z: R x latent -> R x out unit vectors. train: the BN layers normalise with the statistics
  // of the R rows (R >= 2) and update their running statistics. frozen: the parameters are
  // detached (the test-time latent optimisation differentiates with respect to z only).
  at::Tensor forward(const ParamStore& store, const at::Tensor& z, bool train, const TensorMap* fast,
                     bool frozen) const;
  // PyTorch's defaults: Linear weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BN weight 1,
  // bias 0, running mean 0, running variance 1, counter 0.
  void init(ParamStore& store, at::Generator& gen) const;
  const std::string& prefix() const { return prefix_; }
  int latent() const { return latent_; }

 private:
  std::string prefix_;
  int latent_, hidden_, out_;
};

// "Embedder.": ANRL's Classifier without its fc: plain conv blocks C -> 128 -> 256 -> 512
// (scaled) with 2x2 max-pools after the first two, then the global average pool: f, N x D.
// With the classification head, "Embedder.fc" (D -> 2) gives logits.
class Embedder {
 public:
  Embedder(ParamStore& store, int in_channels, double width, bool cls_head);
  at::Tensor forward(const ParamStore& store, const at::Tensor& feat, bool train, const TensorMap* fast) const;
  at::Tensor logits(const ParamStore& store, const at::Tensor& f, const TensorMap* fast) const;
  int dim() const { return dim_; }

 private:
  std::vector<ConvBlock> blocks_;
  int dim_;
  bool cls_head_;
};

struct FghvOutput {
  at::Tensor feature;  // N x D
  at::Tensor depth;    // N x F x F
  at::Tensor logits;   // N x 2 with the classification head, else undefined
};

// The test-time verification of a batch (docs/fghv.md, "Scores"); every tensor has one row
// per sample.
struct Verification {
  at::Tensor corr_real, corr_attack;  // n x M x N: cos(f, g_mk), cos(f, h_mk)
  at::Tensor space_score;             // n: p_live averaged over the M draws
  at::Tensor corr_spread;             // n: Var_k cos(f, g_mk) averaged over the M draws
  at::Tensor kl_before;               // n: KL of the Gaussian fitted to the initial real latents
  at::Tensor kl_real, kl_attack;      // n: the same after the latent optimisation
  at::Tensor delta_kl;                // n: kl_real - kl_before, or kl_real - kl_attack
  at::Tensor fused_score;             // n: space_score - lambda * delta_kl (liveness)
  at::Tensor attack_score;            // n: sigmoid(8 (1/2 - fused_score)), double
};

// The latent optimisation of one FGN: T Adam steps (lr, betas 0.9/0.999, eps 1e-8) on the
// latents z (n x N x latent, from z0) maximising mean_k cos(fhat_i, G(z_ik)) per sample, with
// every network frozen. objective: n x (T + 1), the mean cosine before each step and after
// the last.
struct LatentFit {
  at::Tensor z, objective;
};
LatentFit fit_latents(const ParamStore& store, const FeatureGenerator& g, const at::Tensor& fhat,
                      const at::Tensor& z0, int steps, double lr);

// KL(N(mu, diag sigma^2) || N(0, I)) of the diagonal Gaussian fitted (maximum likelihood) to
// the N latents of each sample: z n x N x d -> n.
at::Tensor gaussian_kl(const at::Tensor& z);

class FghvMethod : public Method {
 public:
  FghvMethod(const ModelSpec& spec, const Settings& settings);

  std::string name() const override { return "fghv"; }
  ParamStore& store() override { return store_; }
  int size() const override { return cfg_.size; }
  Settings settings() const override;
  NamedTensors forward(const at::Tensor& x, bool train, const std::vector<std::string>& names,
                       uint64_t seed) override;
  std::vector<std::string> output_names() const override;
  // The attack score sigmoid(8 (1/2 - s)) of the fused liveness score s (docs/fghv.md).
  at::Tensor score(const at::Tensor& x, uint64_t seed) override;
  std::unique_ptr<Objective> objective(const Settings& training) override;

  const FghvConfig& config() const { return cfg_; }
  // Feature, depth map (and logits) of x; train: batch statistics.
  FghvOutput net(const at::Tensor& x, bool train, const TensorMap* fast = nullptr);
  const FeatureGenerator& real_fgn() const { return real_; }
  const FeatureGenerator& attack_fgn() const { return attack_; }
  // The test-time verification; the space part needs the M draws, the distribution part the
  // latent optimisation (each computed only when asked for; the draws are the same either way).
  Verification verify(const at::Tensor& x, uint64_t seed, bool space, bool distribution);
  // The parameters a meta step adapts: "gates" (the backbone's AdaNorm gates), "embedder",
  // "fgn" (both generators), "all"; "auto" = gates with AdaNorm, else embedder.
  std::vector<std::string> meta_param_names(const std::string& which) const;

 private:
  Verification verify_feature(const at::Tensor& feature, uint64_t seed, bool space, bool distribution);

  FghvConfig cfg_;
  ParamStore store_;
  Backbone backbone_;
  Embedder embedder_;
  DepthHead depth_;
  FeatureGenerator real_, attack_;
};

// Training settings (docs/fghv.md, "The training step").
struct FghvTrainConfig {
  int num_domains = 3;
  RccLoss rcc = RccLoss::BCE;
  double rcc_margin = 0.5;  // hinge variant
  double w_rcc = 1, w_var = 0.1, w_ddc = 0.1, w_depth = 0.1, w_cls = 0;
  bool meta = false;
  int metasize = 2;
  double meta_step_size = 1e-4;
  std::string meta_params = "auto";
  bool first_order = false;
};
FghvTrainConfig fghv_train_config(const Settings& training);

// One phase of a step (all domains of a plain step; the meta-train or meta-test domains of a
// meta step): the weighted loss with its graph and the unweighted terms.
struct FghvPhase {
  at::Tensor loss;
  at::Tensor rcc, var, ddc, depth, cls, acc;  // cls undefined without the head
};

// Batch: "images" K x 2B x 6 x S x S, "depth" K x 2B x F x F, "labels" K x 2B (per domain B
// live = 0 then B attack = 1), optionally "domain_order" [K] (meta: the first metasize
// domains are meta-train; plain: the order of the domain forwards). No extra training state:
// the latents are fresh every step, drawn from the trainer's generator.
class FghvObjective : public Objective {
 public:
  FghvObjective(FghvMethod& m, const FghvTrainConfig& cfg);
  StepLoss loss(const Batch& b, at::Generator& gen) override;
  NamedTensors state() override { return {}; }
  // The loss of one phase over domains (indices into b) with hypotheses from the latents zr,
  // za (N x latent each), every forward in training mode, with optional fast weights.
  FghvPhase phase(const std::vector<DomainBatch>& b, const std::vector<int>& domains, const at::Tensor& zr,
                  const at::Tensor& za, const TensorMap* fast);
  // theta' = detach(theta) - alpha * d train_loss / d theta over the meta parameters
  // (second order unless first_order).
  TensorMap fast_weights(const at::Tensor& train_loss);
  const FghvTrainConfig& config() const { return cfg_; }

 private:
  FghvMethod& m_;
  FghvTrainConfig cfg_;
  std::vector<std::string> meta_names_;
};

}  // namespace fas
