package pyref

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The Silent-Face-Anti-Spoofing material (../shared/silentface beside the repository: the
// published weights and sample images; never committed, CI has it).
const (
	SilentFaceV2   = "2.7_80x80_MiniFASNetV2.pth"
	SilentFaceV1SE = "4_0_0_80x80_MiniFASNetV1SE.pth"
)

// SilentFace is the directory of the Silent-Face material, or skips the test with the
// reason when it is absent (a user's clone has no ../shared).
func SilentFace(t testing.TB) string {
	t.Helper()
	dir, err := FindSilentFace(t)
	if err != nil {
		t.Skip(err)
	}
	return dir
}

// FindSilentFace is SilentFace for tests that also run without the material.
func FindSilentFace(t testing.TB) (string, error) {
	t.Helper()
	dir := filepath.Join(filepath.Dir(Root(t)), "shared", "silentface")
	if _, err := os.Stat(filepath.Join(dir, SilentFaceV2)); err != nil {
		return "", fmt.Errorf("the Silent-Face weights are not at %s (../shared/silentface beside the repository; CI has them): %w", dir, err)
	}
	return dir, nil
}
