package metrics

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// CSVHeader is the header line WriteCSV writes and ReadCSV accepts.
const CSVHeader = "video_id,label,score,attack_type"

// ReadCSVFile reads frame (or video) scores from a CSV file; see ReadCSV.
func ReadCSVFile(path string) ([]FrameScore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadCSV(f, path)
}

// ReadCSV reads rows of `video_id,label,score[,attack_type]`. Label is 0 (live) or 1
// (attack), score the attack score. A first line whose label and score are both not numbers
// is a header. Blank lines and lines starting with '#' are skipped. name prefixes errors,
// which give the line: "scores.csv:12: ...".
func ReadCSV(r io.Reader, name string) ([]FrameScore, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	var out []FrameScore
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		at := fmt.Sprintf("%s:%d", name, line)
		if first && isHeader(rec) {
			continue
		}
		fs, err := parseRow(rec, at)
		if err != nil {
			return nil, err
		}
		out = append(out, fs)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no score rows", name)
	}
	return out, nil
}

func isHeader(rec []string) bool {
	if len(rec) < 3 {
		return false
	}
	_, errL := strconv.Atoi(strings.TrimSpace(rec[1]))
	_, errS := strconv.ParseFloat(strings.TrimSpace(rec[2]), 64)
	return errL != nil && errS != nil
}

func parseRow(rec []string, at string) (FrameScore, error) {
	if len(rec) != 3 && len(rec) != 4 {
		return FrameScore{}, fmt.Errorf("%s: %d columns, want video_id,label,score[,attack_type]", at, len(rec))
	}
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	fs := FrameScore{Video: rec[0], Where: at}
	if fs.Video == "" {
		return fs, fmt.Errorf("%s: empty video_id", at)
	}
	switch rec[1] {
	case "0":
		fs.Label = LabelLive
	case "1":
		fs.Label = LabelAttack
	default:
		return fs, fmt.Errorf("%s: label %q is neither 0 (live) nor 1 (attack)", at, rec[1])
	}
	s, err := strconv.ParseFloat(rec[2], 64)
	if err != nil {
		return fs, fmt.Errorf("%s: score %q is not a number", at, rec[2])
	}
	fs.Score = s
	if len(rec) == 4 {
		fs.AttackType = rec[3]
	}
	return fs, checkFrame(fs, 0)
}

// WriteCSV writes one row per unit in the format ReadCSV reads back exactly (scores in the
// shortest form that round-trips).
func WriteCSV(w io.Writer, vs []VideoScore) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(strings.Split(CSVHeader, ",")); err != nil {
		return err
	}
	for _, v := range vs {
		rec := []string{v.Video, strconv.Itoa(v.Label), strconv.FormatFloat(v.Score, 'g', -1, 64), v.AttackType}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// EvaluateCSV is `fas metrics`: it reads scores (see ReadCSV), averages frames per video
// unless frameLevel, and evaluates them; with thresholdFrom (held-out source-domain scores,
// same format and level) it adds the realistic protocol. It returns the units evaluated too.
func EvaluateCSV(scoresPath, thresholdFrom string, frameLevel bool) (*Report, []VideoScore, error) {
	test, err := readUnits(scoresPath, frameLevel)
	if err != nil {
		return nil, nil, err
	}
	var thr *Threshold
	if thresholdFrom != "" {
		src, err := readUnits(thresholdFrom, frameLevel)
		if err != nil {
			return nil, nil, err
		}
		if thr, err = EERThreshold(src, thresholdFrom); err != nil {
			return nil, nil, err
		}
	}
	level := "video"
	if frameLevel {
		level = "frame"
	}
	res, err := Evaluate(test, level, thr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", scoresPath, err)
	}
	return res, test, nil
}

func readUnits(path string, frameLevel bool) ([]VideoScore, error) {
	frames, err := ReadCSVFile(path)
	if err != nil {
		return nil, err
	}
	if frameLevel {
		return Frames(frames)
	}
	return Videos(frames)
}
