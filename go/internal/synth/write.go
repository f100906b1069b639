package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// ManifestName is the file in a generated data set that records how it was made.
const ManifestName = "synth.json"

// Write generates the benchmark as a data set directory (docs/design.md "Data set
// directory"): DIR/data.lmdb, DIR/lists, DIR/configs, plus DIR/synth.json. It builds
// everything in a temporary sibling directory and renames it into place at the end, so
// an interrupted run never leaves a partial data set at dir. dir must not exist or be
// empty; with replace set, a directory that an earlier Write made (it holds
// synth.json) is replaced.
func Write(ctx context.Context, dir string, o Options, replace bool, progress func(done, total int)) (*Summary, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := checkTarget(dir, replace); err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	tmp, err := safetensors.MkdirTemp(parent, ".synth-tmp-") // 0755, not MkdirTemp's 0700: it becomes dir
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	env, err := lmdb.Open(filepath.Join(tmp, "data.lmdb"), lmdb.Options{})
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	sum, err := Generate(ctx, tmp, o, env, progress)
	if cerr := env.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("synth: closing the LMDB: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, ManifestName), append(js, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	if _, err := os.Stat(dir); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("synth: replacing %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return sum, nil
}

// checkTarget refuses to overwrite anything but an empty directory or, with replace,
// an earlier synth output.
func checkTarget(dir string, replace bool) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("synth: --out %s exists and is not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if len(ents) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
		return fmt.Errorf("synth: --out %s is not empty and was not made by fas synth (no %s); choose another directory", dir, ManifestName)
	}
	if !replace {
		return fmt.Errorf("synth: --out %s already holds a synthetic data set; pass --force to replace it", dir)
	}
	return nil
}
