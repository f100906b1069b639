// Package modecheck checks in tests that written files and directories got the usual modes
// (0644 and 0755 under umask 022).
package modecheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Tree reports every entry under root (root included) whose mode is not 0644 for a file or
// 0755 for a directory, and returns how many entries it saw.
func Tree(t testing.TB, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o644)
		if d.IsDir() {
			want = 0o755
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
