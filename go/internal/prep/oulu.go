package prep

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// OULU-NPU: Train_files/, Dev_files/, Test_files/ hold Phone_Session_User_Access.avi
// (access 1 live, 2-3 print, 4-5 replay). Without a protocol every video of each folder is
// taken; Protocol N reads Protocols/Protocol_N/{Train,Dev,Test}.txt (Protocols 3 and 4 have
// six folds: {Train,Dev,Test}_K.txt), lines "+1,1_1_01_1" (+1 live; -1 attack, and -2 for
// the replay attacks of some test files).
var ouluName = regexp.MustCompile(`^([1-6])_([1-3])_([0-9]{2})_([1-5])$`)

var ouluSplits = []struct{ dir, proto, split string }{
	{"Train_files", "Train", Train}, {"Dev_files", "Dev", Val}, {"Test_files", "Test", Test},
}

// WalkOULU lists OULU-NPU under root with o.Protocol.
func WalkOULU(root string, o WalkOptions) ([]Video, error) {
	var out []Video
	for _, s := range ouluSplits {
		dir := filepath.Join(root, s.dir)
		var names []string
		var err error
		if o.Protocol == "" {
			names, err = listDir(dir, "OULU-NPU's "+s.dir+"/ with Phone_Session_User_Access.avi videos", ".avi")
			for i := range names {
				names[i] = stem(names[i])
			}
		} else {
			names, err = ouluProtocol(root, o.Protocol, s.proto)
		}
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			v, err := ouluVideo(dir, n, s.split)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func ouluVideo(dir, name, split string) (Video, error) {
	m := ouluName.FindStringSubmatch(name)
	if m == nil {
		return Video{}, fmt.Errorf("%s: not an OULU-NPU name Phone_Session_User_Access (e.g. 1_1_01_1)", filepath.Join(dir, name+".avi"))
	}
	user, _ := strconv.Atoi(m[3])
	v := Video{Src: filepath.Join(dir, name+".avi"), ID: name, Split: split, Live: m[4] == "1", Subject: user}
	switch m[4] {
	case "2", "3":
		v.Attack, v.Medium = Print, "print"+strconv.Itoa(int(m[4][0]-'1'))
	case "4", "5":
		v.Attack, v.Medium = Replay, "replay"+strconv.Itoa(int(m[4][0]-'3'))
	}
	return v, nil
}

// ouluProtocol reads the video names of one split of a protocol ("1", "2", "3-K", "4-K"),
// checking each line's label against the name's access type.
func ouluProtocol(root, protocol, split string) ([]string, error) {
	n, fold, _ := strings.Cut(protocol, "-")
	file := split + ".txt"
	switch {
	case (n == "1" || n == "2") && fold == "":
	case (n == "3" || n == "4") && len(fold) == 1 && fold >= "1" && fold <= "6":
		file = split + "_" + fold + ".txt"
	default:
		return nil, fmt.Errorf("OULU-NPU protocol %q: want 1, 2, 3-K or 4-K with K = 1..6", protocol)
	}
	path := filepath.Join(root, "Protocols", "Protocol_"+n, file)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("OULU-NPU protocol %s: %w", protocol, err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			continue
		}
		label, name, ok := strings.Cut(t, ",")
		name = strings.TrimSpace(name)
		m := ouluName.FindStringSubmatch(name)
		if !ok || (label != "+1" && label != "-1" && label != "-2") || m == nil {
			return nil, fmt.Errorf("%s:%d: %q: want +1|-1|-2,Phone_Session_User_Access", path, line, t)
		}
		if (label == "+1") != (m[4] == "1") {
			return nil, fmt.Errorf("%s:%d: label %s disagrees with access type %s of %s (1 = live)", path, line, label, m[4], name)
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no videos listed", path)
	}
	return names, nil
}
