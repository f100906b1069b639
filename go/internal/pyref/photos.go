package pyref

import (
	"os"
	"path/filepath"
	"testing"
)

// Photos are the real photos of the face-detection tests, extracted from Debian packages by
// scripts/testdata.sh (run by `make deps`) into build/testdata/faces, or into
// $FASGO_TESTDATA/faces when that is set (not FAS_: those variables are config keys).
const (
	GraceHopper = "grace_hopper_512x512.jpg"            // facedetect: one face
	Astronaut   = "astronaut.png"                       // python3-skimage: one face
	IceBlock    = "640px-IceBlockNearJoekullsarlon.jpg" // facedetect: no face
	Coffee      = "coffee.png"                          // python3-skimage: no face
)

// Photo is the path of one of the test photos; a missing one fails the test with
// "run `make deps`".
func Photo(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("FASGO_TESTDATA")
	if dir == "" {
		dir = filepath.Join(Root(t), "build", "testdata")
	}
	p := filepath.Join(dir, "faces", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test photo %s is missing: run `make deps` (scripts/testdata.sh extracts it from a Debian package): %v", name, err)
	}
	return p
}

// ReadPhoto returns the bytes of a test photo.
func ReadPhoto(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Photo(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
