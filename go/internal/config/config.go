// Package config holds the typed configuration of a fasgo run: the schema with its defaults,
// layered loading (defaults < YAML file < FAS_ environment variables < --set flags) through
// koanf, and validation that names the offending key and where its value came from.
//
// Key names follow the TFace ANRL reference where it has one (loss_2, AdapNorm,
// meta_step_size, ...), so reference configs translate line by line.
package config

// Config is the whole resolved configuration. The koanf tags are the YAML keys.
type Config struct {
	Seed      int64      `koanf:"seed"`
	Method    string     `koanf:"method"`
	Run       Run        `koanf:"run"`
	Dataset   Dataset    `koanf:"dataset"`
	Transform Transform  `koanf:"transform"`
	Model     Model      `koanf:"model"`
	Loss      Loss       `koanf:"loss"`
	Loss2     Loss       `koanf:"loss_2"`
	Loss3     CenterLoss `koanf:"loss_3"`
	Optimizer Optimizer  `koanf:"optimizer"`
	Scheduler Scheduler  `koanf:"scheduler"`
	Train     Train      `koanf:"train"`
	Val       Batch      `koanf:"val"`
	Test      Batch      `koanf:"test"`
	Eval      Eval       `koanf:"eval"`
}

// Run says where and how a run executes; none of it changes the numbers a run computes
// except threads (through floating-point reduction order) and device.
type Run struct {
	Name     string `koanf:"name"`     // run directory name; "" = <method>-<protocol>-<timestamp>
	Protocol string `koanf:"protocol"` // protocol label; "" = the config file's base name
	Dir      string `koanf:"dir"`      // parent of run directories, relative to the working directory
	Threads  int    `koanf:"threads"`  // CPU threads for the native core; 0 = all cores
	Device   string `koanf:"device"`   // cpu | cuda | cuda:N
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

// DepthRule is one substring replacement from an image key to its depth key.
type DepthRule struct {
	From string `koanf:"from"`
	To   string `koanf:"to"`
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

// Model wraps the network parameters as the reference nests them.
type Model struct {
	Params ModelParams `koanf:"params"`
}

// ModelParams are the ANRL network's constructor arguments.
type ModelParams struct {
	InCh          int     `koanf:"in_ch"`
	MidCh         int     `koanf:"mid_ch"`
	AdapNorm      bool    `koanf:"AdapNorm"`
	AttentionFlag string  `koanf:"AdapNorm_attention_flag"` // 1layer | 2layer | clamp
	ModelInitial  string  `koanf:"model_initial"`
	Width         float64 `koanf:"width"` // channel multiplier; 1 = the paper's network
}

// Loss is a named loss with a weight.
type Loss struct {
	Name   string  `koanf:"name"`
	Weight float64 `koanf:"weight"`
}

// CenterLoss weighs the two domain-center losses of ANRL.
type CenterLoss struct {
	Name         string  `koanf:"name"`
	DomainWeight float64 `koanf:"domain_weight"`
	DiscriWeight float64 `koanf:"discri_weight"`
	// CenterMomentum m of the EMA domain centers: center <- m·center + (1-m)·batch mean.
	CenterMomentum float64 `koanf:"center_momentum"`
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

// Train is the training loop.
type Train struct {
	Epochs              int     `koanf:"epochs"`
	BatchSize           int     `koanf:"batch_size"` // B: live and attack samples per domain per step
	Metasize            int     `koanf:"metasize"`   // meta-train domains per step; the rest are meta-test
	MetaStepSize        float64 `koanf:"meta_step_size"`
	PrintInterval       int     `koanf:"print_interval"`
	Meta                bool    `koanf:"meta"`                  // false = plain supervised step on all sources
	FirstOrder          bool    `koanf:"first_order"`           // drop the second-order path through g
	TextbookFastWeights bool    `koanf:"textbook_fast_weights"` // fast weights keep the direct path to θ_A
	CenterReset         string  `koanf:"center_reset"`          // epoch | never
	SelectMetric        string  `koanf:"select_metric"`         // auc | eer | hter on the val lists
	CheckpointEvery     int     `koanf:"checkpoint_every"`      // steps; 0 = once per epoch
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
		Run:    Run{Dir: "runs", Device: "cpu"},
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
		Model: Model{Params: ModelParams{
			InCh: 6, MidCh: 384, AdapNorm: true, AttentionFlag: "1layer",
			ModelInitial: "kaiming", Width: 1,
		}},
		Loss:  Loss{Name: "CrossEntropyLoss", Weight: 1},
		Loss2: Loss{Name: "MSELoss", Weight: 0.1},
		Loss3: CenterLoss{Name: "EuclideanLoss", DomainWeight: 0.001, DiscriWeight: 0.001, CenterMomentum: 0.9},
		Optimizer: Optimizer{Name: "Adam", Params: OptimizerParams{
			LR: 1e-4, WeightDecay: 1e-5, Betas: []float64{0.9, 0.999}, Eps: 1e-8,
		}},
		Scheduler: Scheduler{Name: "StepLR", Params: SchedulerParams{DecayT: 10, DecayRate: 0.1}},
		Train: Train{
			Epochs: 50, BatchSize: 5, Metasize: 2, MetaStepSize: 1e-4, PrintInterval: 10,
			Meta: true, CenterReset: "epoch", SelectMetric: "auc",
		},
		Val:  Batch{BatchSize: 64},
		Test: Batch{BatchSize: 64},
		Eval: Eval{
			Protocols:  []string{"paper", "realistic"},
			VideoLevel: true,
			TPRAtFPR:   []float64{0.01, 0.001},
		},
	}
}
