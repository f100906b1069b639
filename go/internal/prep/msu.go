package prep

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// MSU-MFSD: scene01/real/ and scene01/attack/ hold real_client002_{android,laptop}_SD_scene01
// and attack_client002_{android,laptop}_{SD,HR}_{ipad_video,iphone_video,printed_photo}_scene01
// videos (.mp4 or .mov); the official client split is train_sub_list.txt / test_sub_list.txt
// (one client number a line) in root.
var (
	msuName   = regexp.MustCompile(`^(real|attack)_client0*([0-9]+)_`)
	msuMedium = regexp.MustCompile(`_(ipad_video|iphone_video|printed_photo)_`)
)

// WalkMSU lists MSU-MFSD under root. A listed client without any video is reported missing;
// a video whose client is in neither list is an error.
func WalkMSU(root string, _ WalkOptions) ([]Video, error) {
	split := map[int]string{}
	for _, l := range []struct{ file, split string }{{"train_sub_list.txt", Train}, {"test_sub_list.txt", Test}} {
		clients, err := readClients(filepath.Join(root, l.file))
		if err != nil {
			return nil, err
		}
		for _, c := range clients {
			if prev, dup := split[c]; dup {
				return nil, fmt.Errorf("MSU-MFSD: client %d is in both the %s and the %s list", c, prev, l.split)
			}
			split[c] = l.split
		}
	}
	seen := map[int]bool{}
	var out []Video
	for _, sub := range []string{"real", "attack"} {
		dir := filepath.Join(root, "scene01", sub)
		names, err := listDir(dir, "MSU-MFSD's scene01/{real,attack}/ with .mp4/.mov videos", ".mp4", ".mov")
		if err != nil {
			return nil, err
		}
		for _, f := range names {
			v, err := msuVideo(filepath.Join(dir, f), sub, split)
			if err != nil {
				return nil, err
			}
			seen[v.Subject] = true
			out = append(out, v)
		}
	}
	clients := make([]int, 0, len(split))
	for c := range split {
		clients = append(clients, c)
	}
	sort.Ints(clients)
	for _, l := range []string{Train, Test} {
		for _, c := range clients {
			if s := split[c]; s == l && !seen[c] {
				out = append(out, Video{Src: filepath.Join(root, "scene01", "real", fmt.Sprintf("real_client%03d_*", c)),
					ID: fmt.Sprintf("real/client%03d", c), Split: s, Live: true, Subject: c})
			}
		}
	}
	return out, nil
}

func msuVideo(src, sub string, split map[int]string) (Video, error) {
	name := stem(filepath.Base(src))
	m := msuName.FindStringSubmatch(name)
	if m == nil || m[1] != sub {
		return Video{}, fmt.Errorf("MSU-MFSD: %s: want %s_clientNNN_... in scene01/%s", src, sub, sub)
	}
	c, _ := strconv.Atoi(m[2])
	s, ok := split[c]
	if !ok {
		return Video{}, fmt.Errorf("MSU-MFSD: %s: client %d is in neither train_sub_list.txt nor test_sub_list.txt", src, c)
	}
	v := Video{Src: src, ID: sub + "/" + name, Split: s, Live: sub == "real", Subject: c}
	if !v.Live {
		md := msuMedium.FindStringSubmatch(name + "_")
		if md == nil {
			return Video{}, fmt.Errorf("MSU-MFSD: %s: attack medium not ipad_video, iphone_video or printed_photo", src)
		}
		v.Attack, v.Medium = Replay, md[1]
		if md[1] == "printed_photo" {
			v.Attack = Print
		}
	}
	return v, nil
}

func readClients(path string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("MSU-MFSD: %w (the official client split)", err)
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			continue
		}
		n, err := strconv.Atoi(t)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s:%d: %q is not a client number", path, line, t)
		}
		out = append(out, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no clients listed", path)
	}
	return out, nil
}
