package method

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// minifasnet is Silent-Face's MiniFASNet (../shared/spec/minifasnet.md; docs/readme
// 82-minifasnet.md): the published pretrained networks MiniFASNetV2 and MiniFASNetV1SE,
// inference only. Model settings variant and classes; input 3 planes B, G, R, raw 0..255.
// Its weights come from `fas import silentface`, never from a config, so the config-driven
// parts (training settings, batches) refuse.
type minifasnet struct{}

// The MiniFASNet variants (model setting "variant").
const (
	MiniFASNetV2   = "MiniFASNetV2"
	MiniFASNetV1SE = "MiniFASNetV1SE"
)

func (minifasnet) Name() string { return "minifasnet" }

// ModelSettings: the default network (the config has no MiniFASNet section).
func (minifasnet) ModelSettings(*config.Config) shim.Settings {
	return shim.Settings{{Key: "variant", Value: MiniFASNetV2}}
}

func (minifasnet) TrainSettings(*config.Config, int) shim.Settings { return nil }

func (minifasnet) Batch(*dataset.TrainBatch) []shim.View { return nil }

func (minifasnet) BatchFromFile(*safetensors.File, string) ([]shim.View, shim.Settings, int, error) {
	return nil, nil, 0, fmt.Errorf("minifasnet is inference only (the published Silent-Face weights): it takes no training batch")
}

func (minifasnet) ProgressKeys() []string { return nil }

func (minifasnet) Feature() string { return "logits" }

// Recognizes the authors' state dict by its final depthwise layer.
func (minifasnet) Recognizes(ts []safetensors.Tensor) bool {
	return find(ts, "conv_6_dw.conv.weight") != nil && find(ts, "prob.weight") != nil
}

// DescribeWeights: variant (V1SE has SE modules, V2 none) and classes (rows of prob.weight)
// from the metadata or the tensors; a recorded variant must agree with the tensors.
func (m minifasnet) DescribeWeights(md map[string]string, ts []safetensors.Tensor) (shim.Settings, []string, error) {
	var inferred []string
	got, err := InferMiniFASVariant(ts)
	if err != nil {
		return nil, nil, err
	}
	variant, ok := md["variant"]
	if !ok {
		variant, inferred = got, append(inferred, "variant")
	} else if variant != got {
		return nil, nil, fmt.Errorf("metadata variant=%s but the tensors are a %s", variant, got)
	}
	classes, ok := md["classes"]
	if !ok {
		p := find(ts, "prob.weight")
		classes, inferred = strconv.FormatInt(p.Shape[0], 10), append(inferred, "classes")
	}
	return shim.Settings{{Key: "variant", Value: variant}, {Key: "classes", Value: classes}}, inferred, nil
}

// InferMiniFASVariant names the MiniFASNet variant of a state dict (names without
// "module."), or says why it is not one.
func InferMiniFASVariant(ts []safetensors.Tensor) (string, error) {
	if !(minifasnet{}).Recognizes(ts) {
		return "", fmt.Errorf("not a MiniFASNet state dict: no tensors conv_6_dw.conv.weight and prob.weight (is it a Silent-Face anti-spoofing model?)")
	}
	for i := range ts {
		if strings.Contains(ts[i].Name, ".se_module.") {
			return MiniFASNetV1SE, nil
		}
	}
	return MiniFASNetV2, nil
}

// SummaryGroup: the stage (conv1, conv_23, conv_3, ..., linear, bn, prob).
func (minifasnet) SummaryGroup(name string) string { return strings.SplitN(name, ".", 2)[0] }
