// Package config holds the typed configuration of a fasgo run: the schema with its defaults,
// layered loading (defaults < YAML file < FAS_ environment variables < --set flags) through
// koanf, and validation that names the offending key and where its value came from.
//
// Shared settings (data, transform, backbone width, optimizer, schedule, loop) have their own
// sections; the settings of one method live under that method's section (anrl: ...). Keys of
// the older TFace-style layout (loss_2, model.params, train.metasize, ...) fail with a message
// that names their new key (see moved.go).
package config

// Config is the whole resolved configuration. The koanf tags are the YAML keys.
type Config struct {
	Seed      int64     `koanf:"seed"`
	Method    string    `koanf:"method"` // anrl | fghv
	Run       Run       `koanf:"run"`
	Dataset   Dataset   `koanf:"dataset"`
	Transform Transform `koanf:"transform"`
	Model     Model     `koanf:"model"`
	Optimizer Optimizer `koanf:"optimizer"`
	Scheduler Scheduler `koanf:"scheduler"`
	Train     Train     `koanf:"train"`
	Val       Batch     `koanf:"val"`
	Test      Batch     `koanf:"test"`
	Eval      Eval      `koanf:"eval"`
	ANRL      ANRL      `koanf:"anrl"`
	FGHV      FGHV      `koanf:"fghv"`
}

// Run says where and how a run executes; none of it changes the numbers a run computes
// except threads (through floating-point reduction order) and device.
type Run struct {
	Name     string `koanf:"name"`     // run directory name; "" = <method>-<protocol>-<timestamp>
	Protocol string `koanf:"protocol"` // protocol label; "" = the config file's base name
	Dir      string `koanf:"dir"`      // parent of run directories, relative to the working directory
	Threads  int    `koanf:"threads"`  // CPU threads for the native core; 0 = all cores
	Device   string `koanf:"device"`   // cpu | cuda | cuda:N
	Dist     Dist   `koanf:"dist"`     // how the ranks of a distributed run talk
}

// Dist configures the process group of a run of several ranks (c10d). None of it changes
// what a run computes.
type Dist struct {
	Backend   string  `koanf:"backend"`   // auto | gloo | nccl
	Timeout   float64 `koanf:"timeout"`   // seconds for the store and every collective
	Interface string  `koanf:"interface"` // Gloo: bind to this network interface ("" = by host name)
	Hostname  string  `koanf:"hostname"`  // Gloo: bind to this address or host name
}

// Dataset names the LMDB, the list files and how depth keys derive from image keys.
type Dataset struct {
	Name                string       `koanf:"name"`
	Root                string       `koanf:"root"` // absolute after Load
	LMDB                string       `koanf:"lmdb"` // relative to Root
	DepthRule           []DepthRule  `koanf:"depth_rule"`
	CropFaceFrom5Points bool         `koanf:"crop_face_from_5points"`
	Margin              float64      `koanf:"margin"`
	BadData             string       `koanf:"bad_data"` // fail | skip
	Train               []DomainList `koanf:"train"`    // source domains (K >= 2)
	Val                 []DomainList `koanf:"val"`      // held-out source data
	Test                []DomainList `koanf:"test"`     // unseen target domain(s)
}

// DepthRule is one substring replacement from an image key to its depth key ({from, to}:
// the first matching one applies once), or a named preset ({preset: tface}: the TFace
// reference's rule, see dataset.DepthPreset). `depth_rule: tface` is short for
// `depth_rule: [{preset: tface}]`.
type DepthRule struct {
	From   string `koanf:"from"`
	To     string `koanf:"to"`
	Preset string `koanf:"preset"`
}

// DomainList is one domain's pair of list files (paths relative to Dataset.Root).
type DomainList struct {
	Name   string `koanf:"name"`
	Live   string `koanf:"live"`
	Attack string `koanf:"attack"`
}

// Transform is the input pipeline: resize, normalization and training augmentation.
type Transform struct {
	ImageSize  int       `koanf:"image_size"`
	Mean       []float64 `koanf:"mean"`
	Std        []float64 `koanf:"std"`
	HSVJitterP float64   `koanf:"hsv_jitter_p"`
	FlipP      float64   `koanf:"flip_p"`
}

// Model is the shared backbone.
type Model struct {
	Width float64 `koanf:"width"` // channel multiplier, (0, 16]; 1 = the paper's network
	// AdaNormImpl computes ANRL's AdaNorm blocks (anrl; fghv with fghv.backbone.adanorm): fused
	// (one op, docs/readme/22-speed.md) | composite (ATen's batch_norm and instance_norm).
	// Equal to rounding; a choice of speed, not of network (default fused).
	AdaNormImpl string `koanf:"adanorm_impl"`
}

// ANRL is the method section of ANRL (spec: adaptive BN/IN gate, meta-learning).
type ANRL struct {
	Gate                string  `koanf:"gate"`                  // 1layer | 2layer | clamp | bn | in (constant 1 / 0: BN-only, IN-only; default 1layer)
	Meta                bool    `koanf:"meta"`                  // false = plain supervised step on all sources (default true)
	Metasize            int     `koanf:"metasize"`              // meta-train domains per step, 1..K-1 (default 2)
	MetaStepSize        float64 `koanf:"meta_step_size"`        // alpha, > 0 (default 1e-4)
	FirstOrder          bool    `koanf:"first_order"`           // only with meta
	TextbookFastWeights bool    `koanf:"textbook_fast_weights"` // only with meta
	FreezeBN            bool    `koanf:"freeze_bn"`             // BatchNorm in eval mode while training
	// BatchGrouping is how a phase's samples are grouped into forwards: domain (each domain
	// its own forward, the paper) | tface (the released code's mix_pos_neg + domain_select).
	BatchGrouping string   `koanf:"batch_grouping"`
	Loss          ANRLLoss `koanf:"loss"`
	// CenterMomentum m of the EMA domain centers: center <- m·center + (1-m)·batch mean.
	CenterMomentum float64 `koanf:"center_momentum"` // [0, 1), default 0.9
	CenterReset    string  `koanf:"center_reset"`    // epoch | never (default epoch)
}

// ANRLLoss weighs ANRL's four losses.
type ANRLLoss struct {
	Cls    float64 `koanf:"cls"`    // classification (cross-entropy), default 1
	Depth  float64 `koanf:"depth"`  // depth map (MSE), default 0.1
	Domain float64 `koanf:"domain"` // inter-domain compatible (domain centers), default 0.001
	Discri float64 `koanf:"discri"` // inter-class separable, default 0.001
}

// FGHV is the method section of FGHV (docs/fghv.md): feature generation and hypothesis
// verification, our reconstruction of the paper, every open choice a key.
type FGHV struct {
	Backbone   FGHVBackbone `koanf:"backbone"`
	LatentDim  int          `koanf:"latent_dim"` // dimensions of the latents z (default 128)
	Hypotheses int          `koanf:"hypotheses"` // N hypotheses per generator (default 16)
	Tau        float64      `koanf:"tau"`        // temperature of the relative correlation (default 0.1)
	RCC        string       `koanf:"rcc"`        // relative correlation constraint: bce | hinge (default bce)
	RCCMargin  float64      `koanf:"rcc_margin"` // margin of the hinge variant on mean cosines (default 0.5)
	Loss       FGHVLoss     `koanf:"loss"`
	Meta       bool         `koanf:"meta"`           // ANRL-style meta-learning around the step (default false)
	Metasize   int          `koanf:"metasize"`       // meta-train domains per step, 1..K-1 (default 2)
	MetaStep   float64      `koanf:"meta_step_size"` // alpha of the inner update (default 1e-4)
	MetaParams string       `koanf:"meta_params"`    // auto | gates | embedder | fgn | all (default auto)
	FirstOrder bool         `koanf:"first_order"`    // only with meta
	Test       FGHVTest     `koanf:"test"`
	// Lambda weighs the distribution score: s = space - lambda * delta_kl. With FitLambda it is
	// fitted on the validation (source) lists after training and stored with the weights;
	// otherwise this value is the model's.
	Lambda    float64 `koanf:"lambda"`     // default 0
	FitLambda bool    `koanf:"fit_lambda"` // default true
}

// FGHVBackbone is FGHV's choice of normalisation in the shared backbone.
type FGHVBackbone struct {
	AdaNorm bool   `koanf:"adanorm"` // ANRL's AdaNorm blocks instead of BatchNorm (default false)
	Gate    string `koanf:"gate"`    // AdaNorm gate: 1layer | 2layer | clamp (only with adanorm)
}

// FGHVLoss weighs FGHV's losses.
type FGHVLoss struct {
	RCC   float64 `koanf:"rcc"`   // relative correlation constraint, default 1
	Var   float64 `koanf:"var"`   // variance constraint, default 0.1
	DDC   float64 `koanf:"ddc"`   // distribution discrimination constraint, default 0.1
	Depth float64 `koanf:"depth"` // depth map (MSE), default 0.1
	Cls   float64 `koanf:"cls"`   // cross-entropy of a linear head on f; > 0 adds the head (default 0)
}

// FGHVTest is FGHV's test-time verification.
type FGHVTest struct {
	Draws       int     `koanf:"draws"`        // M draws of the hypotheses for the space score (default 8)
	LatentSteps int     `koanf:"latent_steps"` // T Adam steps on the latents (default 20)
	LatentLR    float64 `koanf:"latent_lr"`    // their learning rate (default 0.05)
	DeltaKL     string  `koanf:"delta_kl"`     // after_minus_before | real_minus_attack
}

// Optimizer is Adam (AdamW with decoupled_weight_decay) or SGD.
type Optimizer struct {
	Name   string          `koanf:"name"`
	Params OptimizerParams `koanf:"params"`
}

// OptimizerParams follow PyTorch's argument names.
type OptimizerParams struct {
	LR                   float64   `koanf:"lr"`
	WeightDecay          float64   `koanf:"weight_decay"`
	Momentum             float64   `koanf:"momentum"` // SGD only
	Nesterov             bool      `koanf:"nesterov"` // SGD only
	Betas                []float64 `koanf:"betas"`    // Adam only
	Eps                  float64   `koanf:"eps"`      // Adam only
	DecoupledWeightDecay bool      `koanf:"decoupled_weight_decay"`
}

// Scheduler is the learning-rate schedule (see package schedule).
type Scheduler struct {
	Name   string          `koanf:"name"` // StepLR | Cosine | None
	Params SchedulerParams `koanf:"params"`
}

// SchedulerParams of every schedule; each applies to the schedules its comment names.
type SchedulerParams struct {
	DecayT       int     `koanf:"decay_t"`       // StepLR: epochs between decays
	DecayRate    float64 `koanf:"decay_rate"`    // StepLR: factor per decay
	MinLR        float64 `koanf:"min_lr"`        // Cosine: the lr at the last epoch
	WarmupEpochs float64 `koanf:"warmup_epochs"` // all: linear warmup length (per step)
}

// Train is the training loop shared by the methods.
type Train struct {
	Epochs          int    `koanf:"epochs"`
	BatchSize       int    `koanf:"batch_size"` // B: live and attack samples per domain per step
	PrintInterval   int    `koanf:"print_interval"`
	SelectMetric    string `koanf:"select_metric"`    // a metrics.Select name, on the val lists
	CheckpointEvery int    `koanf:"checkpoint_every"` // steps; 0 = once per epoch
	// AverageState averages the BN running statistics and the method's extra state (ANRL's
	// domain centers) over the ranks every step; false keeps them per rank, as the reference.
	AverageState bool `koanf:"average_state"`
}

// Batch is the batch size of an evaluation pass.
type Batch struct {
	BatchSize int `koanf:"batch_size"`
}

// Eval chooses what an evaluation reports.
type Eval struct {
	Protocols  []string  `koanf:"protocols"`   // paper (threshold from the test set) | realistic (from val)
	VideoLevel bool      `koanf:"video_level"` // average frame scores per video before the metrics
	TPRAtFPR   []float64 `koanf:"tpr_at_fpr"`  // FPR targets for TPR@FPR
}

// Default returns the built-in defaults: the reference's values, and for what the reference
// left open the values its sibling IADG code uses. It has no data lists, so it does not
// validate on its own.
func Default() *Config {
	return &Config{
		Seed:   1234,
		Method: "anrl",
		Run:    Run{Dir: "runs", Device: "cpu", Dist: Dist{Backend: "auto", Timeout: 180}},
		Dataset: Dataset{
			Name:      "DG_Dataset",
			Root:      ".",
			LMDB:      "data.lmdb",
			DepthRule: []DepthRule{},
			Margin:    2,
			BadData:   "fail",
			Train:     []DomainList{},
			Val:       []DomainList{},
			Test:      []DomainList{},
		},
		Transform: Transform{
			ImageSize:  256,
			Mean:       []float64{0.5, 0.5, 0.5},
			Std:        []float64{0.5, 0.5, 0.5},
			HSVJitterP: 0.1,
			FlipP:      0.5,
		},
		Model: Model{Width: 1, AdaNormImpl: "fused"},
		Optimizer: Optimizer{Name: "Adam", Params: OptimizerParams{
			LR: 1e-4, WeightDecay: 1e-5, Betas: []float64{0.9, 0.999}, Eps: 1e-8,
		}},
		Scheduler: Scheduler{Name: "StepLR", Params: SchedulerParams{DecayT: 10, DecayRate: 0.1}},
		Train:     Train{Epochs: 50, BatchSize: 5, PrintInterval: 10, SelectMetric: "auc"},
		Val:       Batch{BatchSize: 64},
		Test:      Batch{BatchSize: 64},
		Eval: Eval{
			Protocols:  []string{"paper", "realistic"},
			VideoLevel: true,
			TPRAtFPR:   []float64{0.01, 0.001},
		},
		ANRL: ANRL{
			Gate: "1layer", Meta: true, Metasize: 2, MetaStepSize: 1e-4,
			Loss:           ANRLLoss{Cls: 1, Depth: 0.1, Domain: 0.001, Discri: 0.001},
			CenterMomentum: 0.9, CenterReset: "epoch", BatchGrouping: "domain",
		},
		FGHV: FGHV{
			Backbone:  FGHVBackbone{AdaNorm: false, Gate: "1layer"},
			LatentDim: 128, Hypotheses: 16, Tau: 0.1, RCC: "bce", RCCMargin: 0.5,
			Loss: FGHVLoss{RCC: 1, Var: 0.1, DDC: 0.1, Depth: 0.1, Cls: 0},
			Meta: false, Metasize: 2, MetaStep: 1e-4, MetaParams: "auto",
			Test:      FGHVTest{Draws: 8, LatentSteps: 20, LatentLR: 0.05, DeltaKL: "after_minus_before"},
			Lambda:    0,
			FitLambda: true,
		},
	}
}
