package prep

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// CASIA-FASD: train_release/ and test_release/ hold one folder per subject (1..20, 1..30),
// each with twelve videos: 1, 2, HR_1 live; 3, 4, HR_2 warped photo (print); 5, 6, HR_3 cut
// photo; 7, 8, HR_4 video replay (low, normal, high quality).
var casiaTypes = map[string][2]string{
	"1": {"", ""}, "2": {"", ""}, "HR_1": {"", ""},
	"3": {Print, "warped_photo"}, "4": {Print, "warped_photo"}, "HR_2": {Print, "warped_photo"},
	"5": {Cut, "cut_photo"}, "6": {Cut, "cut_photo"}, "HR_3": {Cut, "cut_photo"},
	"7": {Replay, "video"}, "8": {Replay, "video"}, "HR_4": {Replay, "video"},
}

var casiaOrder = []string{"1", "2", "HR_1", "3", "4", "HR_2", "5", "6", "HR_3", "7", "8", "HR_4"}

// WalkCASIA lists CASIA-FASD under root. A subject folder lacking one of the twelve videos
// yields that video anyway (prep reports it missing); an unknown .avi is an error.
func WalkCASIA(root string, _ WalkOptions) ([]Video, error) {
	var out []Video
	for _, s := range []struct{ dir, split string }{{"train_release", Train}, {"test_release", Test}} {
		dir := filepath.Join(root, s.dir)
		es, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("CASIA-FASD: %w (expected %s/ with one folder per subject)", err, s.dir)
		}
		var subjects []int
		for _, e := range es {
			if n, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() && n > 0 {
				subjects = append(subjects, n)
			}
		}
		if len(subjects) == 0 {
			return nil, fmt.Errorf("CASIA-FASD: %s holds no subject folders (1, 2, ...)", dir)
		}
		sort.Ints(subjects)
		for _, n := range subjects {
			sub := filepath.Join(dir, strconv.Itoa(n))
			names, err := listDir(sub, "a CASIA-FASD subject folder", ".avi")
			if err != nil {
				return nil, err
			}
			for _, f := range names {
				if _, ok := casiaTypes[stem(f)]; !ok {
					return nil, fmt.Errorf("CASIA-FASD: %s: not one of the twelve video names (1..8, HR_1..HR_4)", filepath.Join(sub, f))
				}
			}
			for _, name := range casiaOrder {
				t := casiaTypes[name]
				out = append(out, Video{
					Src: filepath.Join(sub, name+".avi"), ID: fmt.Sprintf("%d/%s", n, name), Split: s.split,
					Live: t[0] == "", Attack: t[0], Medium: t[1], Subject: n,
				})
			}
		}
	}
	return out, nil
}
