package pyref

import (
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
	dir := filepath.Join(filepath.Dir(Root(t)), "shared", "silentface")
	if _, err := os.Stat(filepath.Join(dir, SilentFaceV2)); err != nil {
		t.Skipf("the Silent-Face weights are not at %s (../shared/silentface beside the repository; CI has them): %v", dir, err)
	}
	return dir
}
