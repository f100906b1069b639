package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DataPath resolves a path of the dataset section (lmdb, list files) against dataset.root.
func (c *Config) DataPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dataset.Root, p)
}

// CheckPaths verifies that the data the config names exists: the root and LMDB, and every
// list file as a regular file. Load does not call it, so that a config can be shown and
// validated on a machine without the data.
func (c *Config) CheckPaths() error {
	var errs []error
	check := func(key, p string, wantDir bool) {
		full := c.DataPath(p)
		st, err := os.Stat(full)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("config: key %s: %w", key, err))
		case wantDir && !st.IsDir():
			errs = append(errs, fmt.Errorf("config: key %s: %s is not a directory", key, full))
		case !wantDir && !st.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("config: key %s: %s is not a regular file", key, full))
		}
	}
	check("dataset.root", c.Dataset.Root, true)
	if st, err := os.Stat(c.DataPath(c.Dataset.LMDB)); err != nil {
		errs = append(errs, fmt.Errorf("config: key dataset.lmdb: %w", err))
	} else if st.IsDir() {
		// An LMDB environment directory holds data.mdb; a NoSubdir one is the file itself.
		check("dataset.lmdb", filepath.Join(c.DataPath(c.Dataset.LMDB), "data.mdb"), false)
	}
	for _, split := range []struct {
		key   string
		lists []DomainList
	}{{"dataset.train", c.Dataset.Train}, {"dataset.val", c.Dataset.Val}, {"dataset.test", c.Dataset.Test}} {
		for i, d := range split.lists {
			check(fmt.Sprintf("%s[%d].live", split.key, i), d.Live, false)
			check(fmt.Sprintf("%s[%d].attack", split.key, i), d.Attack, false)
		}
	}
	return errors.Join(errs...)
}
