package method

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// DomainBatch lends a domain-balanced training batch to the shim as the named tensors the
// methods that train on K source domains share (anrl, fghv): images K x 2B x 6 x S x S,
// depth K x 2B x F x F and labels K x 2B (per domain B live = 0 then B attack = 1). No copy.
func DomainBatch(b *dataset.TrainBatch) []shim.View {
	k, n, s, f := int64(b.K), int64(2*b.B), int64(b.S), int64(b.S/8)
	return []shim.View{
		shim.F32("images", []int64{k, n, 6, s, s}, b.Images),
		shim.F32("depth", []int64{k, n, f, f}, b.Depth),
		shim.I64("labels", []int64{k, n}, b.Labels),
	}
}

// DomainBatchFromFile reads images (K x 2B x 6 x S x S), depth (K x 2B x F x F) and labels
// (K x 2B, I64), and optionally domain_order (K, I64), from a batch file. It returns the
// views, the training setting num_domains = K the shapes imply, and the input size S.
func DomainBatchFromFile(f *safetensors.File, path string) ([]shim.View, shim.Settings, int, error) {
	get := func(name string, ndim int) (*safetensors.Tensor, error) {
		t, ok := f.Get(name)
		if !ok {
			return nil, fmt.Errorf("%s: no tensor %q (want images, depth, labels)", path, name)
		}
		if len(t.Shape) != ndim {
			return nil, fmt.Errorf("%s: %s has shape %v, want %d dimensions", path, name, t.Shape, ndim)
		}
		return t, nil
	}
	im, err := get("images", 5)
	if err != nil {
		return nil, nil, 0, err
	}
	k, n, s := im.Shape[0], im.Shape[1], im.Shape[3]
	if k < 2 || k > 64 || n < 2 || n%2 != 0 || im.Shape[2] != 6 || im.Shape[4] != s || s%8 != 0 || s < 32 {
		return nil, nil, 0, fmt.Errorf("%s: images have shape %v, want K x 2B x 6 x S x S (2 <= K <= 64, B >= 1, S a multiple of 8, >= 32)", path, im.Shape)
	}
	dp, err := get("depth", 4)
	if err != nil {
		return nil, nil, 0, err
	}
	if want := []int64{k, n, s / 8, s / 8}; !reflect.DeepEqual(dp.Shape, want) {
		return nil, nil, 0, fmt.Errorf("%s: depth has shape %v, want %v (K x 2B x S/8 x S/8)", path, dp.Shape, want)
	}
	lb, err := get("labels", 2)
	if err != nil {
		return nil, nil, 0, err
	}
	if want := []int64{k, n}; !reflect.DeepEqual(lb.Shape, want) || lb.DType != safetensors.I64 {
		return nil, nil, 0, fmt.Errorf("%s: labels are %s %v, want I64 %v", path, lb.DType, lb.Shape, want)
	}
	var views []shim.View
	for _, t := range []*safetensors.Tensor{im, dp, lb} {
		v, err := shim.FromFile(t)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		views = append(views, v)
	}
	if o, ok := f.Get("domain_order"); ok {
		v, err := shim.FromFile(o)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		views = append(views, v)
	}
	return views, shim.Settings{{Key: "num_domains", Value: strconv.FormatInt(k, 10)}}, int(s), nil
}
