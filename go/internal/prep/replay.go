package prep

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Idiap Replay-Attack: train/, devel/, test/ each hold real/*.mov and attack/{fixed,hand}/*.mov,
// names client001_session01_webcam_authenticate_adverse_1.mov and
// attack_{highdef,mobile,print}_client001_session01_..._{photo,video}_{adverse,controlled}.mov.
// The face-locations package (face-locations/<split>/<same path>.face, one line
// "frame x y width height" per frame) is used when present under root.
var (
	replayClient = regexp.MustCompile(`client0*([0-9]+)_`)
	replayAttack = regexp.MustCompile(`^attack_(highdef|mobile|print)_`)
)

// WalkReplay lists Replay-Attack under root (the enrollment videos are not part of the
// anti-spoofing protocol and are not read).
func WalkReplay(root string, _ WalkOptions) ([]Video, error) {
	var out []Video
	for _, s := range []struct{ dir, split string }{{"train", Train}, {"devel", Val}, {"test", Test}} {
		n := 0
		for _, sub := range []string{"real", "attack/fixed", "attack/hand"} {
			dir := filepath.Join(root, s.dir, filepath.FromSlash(sub))
			names, err := listDir(dir, "Replay-Attack's "+s.dir+"/{real,attack/fixed,attack/hand}/ with .mov videos", ".mov")
			if err != nil {
				return nil, err
			}
			vs, err := replayVideos(root, s.dir, sub, names, s.split)
			if err != nil {
				return nil, err
			}
			out, n = append(out, vs...), n+len(vs)
		}
		missing, err := replayOrphans(root, s.dir, s.split)
		if err != nil {
			return nil, err
		}
		out = append(out, missing...)
		if n == 0 {
			return nil, fmt.Errorf("Replay-Attack: %s holds no videos", filepath.Join(root, s.dir))
		}
	}
	return out, nil
}

func replayVideos(root, split, sub string, names []string, as string) ([]Video, error) {
	var out []Video
	for _, f := range names {
		v, err := replayVideo(root, split, sub+"/"+stem(f), as)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func replayVideo(root, split, id, as string) (Video, error) {
	src := filepath.Join(root, split, filepath.FromSlash(id)+".mov")
	name := filepath.Base(id)
	c := replayClient.FindStringSubmatch(name)
	if c == nil {
		return Video{}, fmt.Errorf("Replay-Attack: %s: no clientNNN_ in the name", src)
	}
	client, _ := strconv.Atoi(c[1])
	v := Video{Src: src, ID: id, Split: as, Live: strings.HasPrefix(id, "real/"), Subject: client}
	if !v.Live {
		m := replayAttack.FindStringSubmatch(name)
		if m == nil {
			return Video{}, fmt.Errorf("Replay-Attack: %s: an attack video not named attack_{highdef,mobile,print}_...", src)
		}
		v.Attack, v.Medium = Replay, m[1]
		if m[1] == "print" {
			v.Attack = Print
		}
	}
	if f := filepath.Join(root, "face-locations", split, filepath.FromSlash(id)+".face"); exists(f) {
		v.Faces = f
	}
	return v, nil
}

// replayOrphans are the videos a face-locations file names that are not there: missing.
func replayOrphans(root, split, as string) ([]Video, error) {
	var out []Video
	for _, sub := range []string{"real", "attack/fixed", "attack/hand"} {
		dir := filepath.Join(root, "face-locations", split, filepath.FromSlash(sub))
		if !exists(dir) {
			continue
		}
		names, err := listDir(dir, "face-locations files", ".face")
		if err != nil {
			return nil, err
		}
		for _, f := range names {
			id := sub + "/" + stem(f)
			if exists(filepath.Join(root, split, filepath.FromSlash(id)+".mov")) {
				continue
			}
			v, err := replayVideo(root, split, id, as)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
