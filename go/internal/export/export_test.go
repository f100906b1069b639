package export

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func small(t *testing.T) *shim.Model {
	m, err := shim.NewModel(shim.Config{Method: "anrl", Size: 32, Seed: 2, Threads: 1, Settings: shim.Settings{{Key: "width", Value: "0.25"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestWriteReadRoundTrip(t *testing.T) {
	m := small(t)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	a, b := 0.1, 0.2 // a threshold whose shortest decimal has 17 digits
	in := Spec{Input: InputRGBHSV, Mean: [3]float64{0.485, 0.456, 0.406}, Std: [3]float64{0.229, 0.224, 0.225},
		Crop: Crop5Points, Margin: 1.5, Threshold: &Threshold{Value: a + b, From: "val", Protocol: "p", Level: "video",
			EER: 0.125, Live: 10, Attacks: 12, Recomputed: true},
		FasVersion: "9.9", GitCommit: "abc", GitCommitFrom: "here", ExporterCommit: "def", ConfigSHA256: "00ff",
		Source: "ckpt", PreprocessFrom: "cfg", Step: "7", Epoch: "2"}
	if err := Write(m, path, in); err != nil {
		t.Fatal(err)
	}
	f, out, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := m.Export()
	in.Method, in.Size, in.Settings, in.ModelVersion = "anrl", 32, m.Info().Settings, Digest(ts)
	if !reflect.DeepEqual(in, out) {
		t.Errorf("read back\n%+v\nwant\n%+v", out, in)
	}
	if out.Threshold.Value != a+b || f.Metadata[KeyThreshold] != "0.30000000000000004" {
		t.Errorf("threshold not exact: %q", f.Metadata[KeyThreshold])
	}
	if f.Metadata["width"] != "0.25" || f.Metadata["gate"] != "1layer" || f.Metadata[KeyFormat] != "fasgo" {
		t.Errorf("not an ordinary weights file: %v", f.Metadata)
	}
}

func TestDigest(t *testing.T) {
	m := small(t)
	ts, _ := m.Export()
	d := Digest(ts)
	rev := append([]safetensors.Tensor{}, ts...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if Digest(rev) != d || !strings.HasPrefix(d, "sha256:") || len(d) != len("sha256:")+16 {
		t.Errorf("digest %s depends on order or has the wrong form", d)
	}
	ch := append([]safetensors.Tensor{}, ts...)
	ch[3].Data = append([]byte{}, ch[3].Data...)
	ch[3].Data[len(ch[3].Data)-1] ^= 0x80
	ren := append([]safetensors.Tensor{}, ts...)
	ren[0].Name += "x"
	if Digest(ch) == d || Digest(ren) == d {
		t.Error("changed bytes or names keep the digest")
	}
}

func TestInvalid(t *testing.T) {
	m := small(t)
	dir := t.TempDir()
	bad := Spec{Input: "rgb", Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.5, 0, 0.5}, Crop: "oval",
		Threshold: &Threshold{Value: 0.5}}
	err := Write(m, filepath.Join(dir, "x.safetensors"), bad)
	for _, want := range []string{`input layout "rgb"`, "std must be positive", `crop rule "oval"`, "provenance"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("invalid spec: %v (want %q)", err, want)
		}
	}
	// A setting called like an export key would be shadowed: refused.
	m2, err := shim.NewModel(shim.Config{Method: "anrl", Size: 32, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, err := (&Spec{Method: "anrl", Size: 32, Input: InputRGBHSV, Std: [3]float64{1, 1, 1}, Crop: CropNone,
		Settings: shim.Settings{{Key: KeyCrop, Value: "x"}}}).Metadata(nil); err == nil || !strings.Contains(err.Error(), "clashes") {
		t.Errorf("clashing setting: %v", err)
	}
	// Not an export at all.
	ts, _ := m.Export()
	plain := filepath.Join(dir, "plain.safetensors")
	if err := safetensors.Write(plain, ts, map[string]string{"format": "fasgo"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(plain); !errors.Is(err, ErrNotExported) {
		t.Errorf("plain weights: %v", err)
	}
	if err := safetensors.Write(plain, ts, map[string]string{KeyExport: "fasgo-liveness/9"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(plain); !errors.Is(err, ErrNotExported) || !strings.Contains(err.Error(), "fasgo-liveness/9") {
		t.Errorf("another format version: %v", err)
	}
}
