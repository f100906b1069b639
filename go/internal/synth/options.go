package synth

import "fmt"

// Options size a generated benchmark.
type Options struct {
	Domains          int    `json:"domains"`            // capture domains (>= 3: leave-one-out needs two source domains)
	Subjects         int    `json:"subjects"`           // per domain, split 60/20/20 into train/val/test
	VideosPerSubject int    `json:"videos_per_subject"` // live videos per subject; as many attack videos
	Frames           int    `json:"frames"`             // frames per video
	Size             int    `json:"size"`               // output image side S
	Seed             uint64 `json:"seed"`               // same seed, same bytes
	Workers          int    `json:"-"`                  // render goroutines; 0 = GOMAXPROCS (no effect on output)
}

// DefaultOptions is the benchmark `fas synth` writes without flags.
func DefaultOptions() Options {
	return Options{Domains: 4, Subjects: 40, VideosPerSubject: 2, Frames: 4, Size: 64, Seed: 1}
}

func (o Options) validate() error {
	check := func(name string, v, lo, hi int, why string) error {
		if v < lo || v > hi {
			return fmt.Errorf("synth: %s = %d is out of range [%d, %d]%s", name, v, lo, hi, why)
		}
		return nil
	}
	for _, err := range []error{
		check("domains", o.Domains, 3, 64, " (leave-one-domain-out trains on at least two source domains)"),
		check("subjects", o.Subjects, 3, 999, " (each domain needs a train, a val and a test subject)"),
		check("videos-per-subject", o.VideosPerSubject, 1, 49, ""),
		check("frames", o.Frames, 1, 99, ""),
		check("size", o.Size, 16, 1024, ""),
		check("workers", o.Workers, 0, 1024, ""),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
