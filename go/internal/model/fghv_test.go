package model

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// FGHV weights round-trip through safetensors under their names; a state dict without any
// metadata (as PyTorch writes it) is recognised as FGHV by its tensor names and its network
// inferred from the shapes; SetSettings stores a fitted lambda in weights and state files.
func TestFGHVWeights(t *testing.T) {
	dir := t.TempDir()
	m, err := shim.NewModel(shim.Config{Method: "fghv", Size: 32, Seed: 5, Threads: 1, Settings: shim.Settings{
		{Key: "width", Value: "0.125"}, {Key: "adanorm", Value: "true"}, {Key: "gate", Value: "2layer"},
		{Key: "latent_dim", Value: "8"}, {Key: "cls_head", Value: "true"}, {Key: "latent_steps", Value: "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ts, err := m.Export()
	if err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "bare.safetensors")
	if err := safetensors.Write(bare, ts, nil); err != nil {
		t.Fatal(err)
	}
	m2, meta, err := Load(bare, Options{Size: 32, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if meta.Method != "fghv" || meta.Setting("width") != "0.125" || meta.Setting("gate") != "2layer" ||
		meta.Setting("latent_dim") != "8" || meta.Setting("cls_head") != "true" ||
		!strings.Contains(strings.Join(meta.Inferred, ","), "method,size,width,adanorm,gate,latent_dim,cls_head") {
		t.Errorf("a bare FGHV state dict describes %+v", meta)
	}
	ts2, err := m2.Export()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		if ts[i].Name != ts2[i].Name || string(ts[i].Data) != string(ts2[i].Data) {
			t.Fatalf("tensor %d (%s) does not round-trip", i, ts[i].Name)
		}
	}
	// A fitted lambda joins the recorded settings; the file still loads, with it.
	w := filepath.Join(dir, "w.safetensors")
	if err := Save(m, w, nil); err != nil {
		t.Fatal(err)
	}
	if err := SetSettings(w, shim.Settings{{Key: "lambda", Value: "0.125"}}); err != nil {
		t.Fatal(err)
	}
	m3, meta3, err := Load(w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m3.Close()
	if meta3.Setting("lambda") != "0.125" || meta3.Setting("latent_steps") != "2" {
		t.Errorf("after SetSettings: %s", meta3.Settings)
	}
	if err := SetSettings(w, shim.Settings{{Key: "lamda", Value: "1"}}); err == nil || !strings.Contains(err.Error(), "lamda=1 is not a model setting") {
		t.Errorf("an unknown setting was stored: %v", err)
	}
	if _, meta4, err := Load(w, Options{}); err != nil || meta4.Setting("lambda") != "0.125" {
		t.Errorf("a refused SetSettings changed the file: %v %+v", err, meta4)
	}
}
