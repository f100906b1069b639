package prep

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// LMDB is the database prep writes under its output directory (dataset.lmdb of the configs).
const LMDB = "data.lmdb"

// ListName is the list file of domain, split and kind ("live", "attack" or "noface") that
// prep writes, relative to its output directory (the configs' dataset.root):
// lists/<domain>_<split>_<kind>.txt.
func ListName(domain, split, kind string) string {
	return "lists/" + domain + "_" + split + "_" + kind + ".txt"
}

// DepthRule is the rule from the image keys of domain to their depth maps' keys
// ({from: "<domain>/", to: "<domain>_depth/"} in a config), as DepthKey applies it.
func DepthRule(domain string) (from, to string) { return domain + "/", domain + "_depth/" }

// writeOutputs writes lists/<domain>_<split>_{live,attack,noface}.txt and the manifest,
// each atomically, from the records of this and earlier runs.
func writeOutputs(o Options, dir string, videos []Video, valIDs []int, recs []*Record, fails []Failure) (*Manifest, error) {
	from, to := DepthRule(o.Domain)
	m := &Manifest{Settings: o.Settings, DepthKey: from + "=" + to,
		Splits: map[string]*SplitSummary{}, ValIDs: valIDs, Failures: fails}
	lists := map[string]*strings.Builder{}
	add := func(name, line string) {
		b, ok := lists[name]
		if !ok {
			b = &strings.Builder{}
			lists[name] = b
		}
		b.WriteString(line)
	}
	var order []string
	addLists := func(split string) {
		heads := map[string]string{"live": "", "attack": ""}
		if split != "all" {
			heads["noface"] = "# sampled frames in which no face was found: video frame-index (0-based)\n"
		}
		for _, kind := range []string{"live", "attack", "noface"} {
			if head, ok := heads[kind]; ok {
				order = append(order, ListName(o.Domain, split, kind))
				add(ListName(o.Domain, split, kind), head)
			}
		}
	}
	if o.AllList {
		addLists("all")
	}
	for i, v := range videos {
		s, ok := m.Splits[v.Split]
		if !ok {
			s = &SplitSummary{}
			m.Splits[v.Split] = s
			addLists(v.Split)
		}
		s.Videos++
		r := recs[i]
		if r == nil {
			continue
		}
		s.Done++
		s.NoFaceFrames += len(r.NoFace)
		if len(r.Frames) == 0 {
			s.NoFaceVideos++
			m.NoFace = append(m.NoFace, v.Src)
		}
		for _, f := range r.NoFace {
			add(ListName(o.Domain, v.Split, "noface"), fmt.Sprintf("%s %d\n", v.Src, f))
		}
		inList, inAll := indexSet(o.listFrames(v.Split, r.N)), indexSet(o.allFrames(v.Split, r.N))
		for _, f := range r.Frames {
			if f.By == AnnotBox {
				s.AnnotBox++
			}
			line, kind := listLine(f, 0, ""), "live"
			if !v.Live {
				line, kind = listLine(f, 1, v.Attack), "attack"
			}
			if inList[f.Index] {
				s.Frames++
				add(ListName(o.Domain, v.Split, kind), line)
			}
			if inAll[f.Index] {
				add(ListName(o.Domain, "all", kind), line)
			}
		}
	}
	for _, f := range fails {
		if f.Why == "missing" {
			m.Splits[f.Video.Split].Missing++
		} else {
			m.Splits[f.Video.Split].Unreadable++
		}
	}
	for _, name := range order {
		if err := writeAtomic(filepath.Join(o.Out, filepath.FromSlash(name)), []byte(lists[name].String())); err != nil {
			return nil, err
		}
		m.Lists = append(m.Lists, name)
	}
	return m, writeJSON(filepath.Join(dir, "manifest.json"), m)
}

// listLine is `key label [10 landmarks] [attack=TYPE]` (dataset.ParseList's format).
func listLine(f Frame, label int, attack string) string {
	var b strings.Builder
	b.WriteString(f.Key + " " + strconv.Itoa(label))
	if f.Landmarks != nil {
		for _, x := range f.Landmarks {
			b.WriteString(" " + strconv.FormatFloat(x, 'f', 2, 64))
		}
	}
	if attack != "" {
		b.WriteString(" attack=" + attack)
	}
	b.WriteString("\n")
	return b.String()
}

func indexSet(idx []int) map[int]bool {
	m := make(map[int]bool, len(idx))
	for _, i := range idx {
		m[i] = true
	}
	return m
}
