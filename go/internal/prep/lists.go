package prep

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// writeOutputs writes lists/<domain>_<split>_{live,attack,noface}.txt and the manifest,
// each atomically, from the records of this and earlier runs.
func writeOutputs(o Options, dir string, videos []Video, recs []*Record, fails []Failure) (*Manifest, error) {
	m := &Manifest{Settings: o.Settings, DepthKey: o.Domain + "/=" + o.Domain + "_depth/",
		Splits: map[string]*SplitSummary{}, Failures: fails}
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
		base := o.Domain + "_" + split + "_"
		order = append(order, base+"live.txt", base+"attack.txt")
		add(base+"live.txt", "")
		add(base+"attack.txt", "")
		if split != "all" {
			order = append(order, base+"noface.txt")
			add(base+"noface.txt", "# sampled frames in which no face was found: video frame-index (0-based)\n")
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
		base := o.Domain + "_" + v.Split + "_"
		for _, f := range r.NoFace {
			add(base+"noface.txt", fmt.Sprintf("%s %d\n", v.Src, f))
		}
		inList, inAll := indexSet(o.listFrames(v.Split, r.N)), indexSet(o.allFrames(v.Split, r.N))
		for _, f := range r.Frames {
			if f.By == AnnotBox {
				s.AnnotBox++
			}
			line, kind := listLine(f, 0, ""), "live.txt"
			if !v.Live {
				line, kind = listLine(f, 1, v.Attack), "attack.txt"
			}
			if inList[f.Index] {
				s.Frames++
				add(base+kind, line)
			}
			if inAll[f.Index] {
				add(o.Domain+"_all_"+kind, line)
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
		if err := writeAtomic(filepath.Join(o.Out, "lists", name), []byte(lists[name].String())); err != nil {
			return nil, err
		}
		m.Lists = append(m.Lists, "lists/"+name)
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
