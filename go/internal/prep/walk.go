// Package prep turns the public face anti-spoofing data sets, as their owners distribute
// them, into what `fas train` reads: one walker per data set applies its official protocol
// (which video is in which split, live or which attack), ffmpeg extracts the sampled frames,
// the face is found and cropped with the training rule (go/internal/face), and the crops,
// their depth targets and the list files are written (LMDB through dataset.Pack).
package prep

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Splits written by prep, in list-file names: <domain>_<split>_<live|attack>.txt.
const (
	Train = "train"
	Val   = "val"
	Test  = "test"
)

// Attack types recorded as attack=TYPE (a common vocabulary over the four data sets; the
// data set's own finer name is kept in Video.Medium).
const (
	Print  = "print"  // a printed photo (OULU print 1/2, CASIA warped photo, Replay print, MSU printed photo)
	Cut    = "cut"    // a printed photo with the eyes cut out (CASIA)
	Replay = "replay" // a photo or video shown on a screen
)

// Video is one recording of a data set and where the protocol puts it.
type Video struct {
	Src     string `json:"src"`                      // the video file
	ID      string `json:"id"`                       // slash-separated id within the split, unique: the frames' directory
	Split   string `json:"split"`                    // Train, Val or Test
	Live    bool   `json:"live"`                     // bona fide
	Attack  string `json:"attack,omitempty"`         // "" for live, else Print, Cut or Replay
	Medium  string `json:"medium,omitempty"`         // the data set's own name of the attack (e.g. "highdef", "ipad_video")
	Subject int    `json:"subject"`                  // the person
	Faces   string `json:"face_locations,omitempty"` // Replay-Attack face-locations file, "" when absent
}

// Walker lists the videos of one data set under its root directory.
type Walker func(root string, o WalkOptions) ([]Video, error)

// WalkOptions select among a data set's official protocols.
type WalkOptions struct {
	Protocol string // OULU-NPU: "", "1", "2", "3-K" or "4-K" (K = 1..6); others: ""
}

// Walkers are the data sets prep knows, by their --dataset names.
var Walkers = map[string]Walker{"oulu": WalkOULU, "casia": WalkCASIA, "replay": WalkReplay, "msu": WalkMSU}

// Names lists the data set names, sorted.
func Names() []string {
	var n []string
	for k := range Walkers {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// listDir returns the names in dir with one of exts (lower-cased comparison), sorted; a
// missing dir is an error naming what the layout expects.
func listDir(dir, what string, exts ...string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (expected %s)", dir, err, what)
	}
	var out []string
	for _, e := range es {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		for _, x := range exts {
			if !e.IsDir() && ext == x {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func stem(name string) string { return strings.TrimSuffix(name, filepath.Ext(name)) }
