package shim

import (
	"fmt"
	"testing"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
)

// BenchmarkFaceFind times one search (detector and landmarks) on the test photos, and on a
// phone-sized 4032x3024 photo at the default MaxSide and unscaled.
func BenchmarkFaceFind(b *testing.B) {
	requireFaceB(b)
	fd, err := NewFaceFinder("")
	if err != nil {
		b.Fatal(err)
	}
	defer fd.Close()
	bare, err := NewFaceFinder(NoLandmarks)
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	photo := func(name string) *imgproc.Image {
		img, err := imgproc.DecodeOriented(pyref.ReadPhoto(b, name))
		if err != nil {
			b.Fatal(err)
		}
		return img.(*imgproc.Image)
	}
	grace := photo(pyref.GraceHopper)
	var phone imgproc.Image
	var rs imgproc.Resizer
	rs.Linear(grace, 4032, 3024, &phone)
	cases := []struct {
		name string
		fd   *FaceFinder
		img  *imgproc.Image
		o    FindOptions
	}{
		{"grace_512", fd, grace, FindOptions{}},
		{"grace_512_no_landmarks", bare, grace, FindOptions{}},
		{"grace_512_upsample1", fd, grace, FindOptions{Upsample: 1}},
		{"astronaut_512", fd, photo(pyref.Astronaut), FindOptions{}},
		{"iceblock_640x427", fd, photo(pyref.IceBlock), FindOptions{}},
		{"coffee_600x400", fd, photo(pyref.Coffee), FindOptions{}},
		{"phone_4032x3024_maxside1280", fd, &phone, FindOptions{}},
		{"phone_4032x3024_unscaled", fd, &phone, FindOptions{MaxSide: -1}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := c.fd.FindWith(c.img, c.o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
		})
	}
}

// BenchmarkFaceFinderNew times loading a finder with the default landmark model.
func BenchmarkFaceFinderNew(b *testing.B) {
	requireFaceB(b)
	for i := 0; i < b.N; i++ {
		fd, err := NewFaceFinder("")
		if err != nil {
			b.Fatal(err)
		}
		fd.Close()
	}
}

func requireFaceB(b *testing.B) {
	if FaceBackend() == "" {
		b.Fatal(fmt.Errorf("the shim was built without face detection: run `make deps` (libdlib-dev) and rebuild"))
	}
}
