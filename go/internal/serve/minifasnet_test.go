package serve

import (
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/silentface"
	"github.com/fasgo/fasgo/go/liveness"
)

// fas serve with a Silent-Face ensemble (a directory from `fas import silentface`; one
// member keeps the test short, the two-member ensemble is the liveness package's test) and
// fasgo's face finder: the JSON names the family, the class and the members, and a
// request's threshold replaces the argmax rule.
func TestServeMiniFASNetEnsemble(t *testing.T) {
	data := pyref.SilentFace(t)
	dir := t.TempDir()
	if _, err := silentface.ImportEnsemble([]string{filepath.Join(data, pyref.SilentFaceV2)}, dir, silentface.Options{}); err != nil {
		t.Fatal(err)
	}
	log, _ := testLogger(t)
	r := start(t, New(log, Options{}), openDetector(dir, liveness.WithThreads(2)))
	r.waitReady(t)
	var ready struct {
		Family  string `json:"family"`
		Members []any  `json:"members"`
		Source  string `json:"threshold_source"`
	}
	if err := json.Unmarshal(get(t, r.url+"/readyz").body, &ready); err != nil || ready.Family != "minifasnet" ||
		len(ready.Members) != 1 || ready.Source != liveness.ThresholdRule {
		t.Errorf("readyz %+v %v", ready, err)
	}
	for _, c := range []struct{ file, query, decision, class, source string }{
		{"image_T1.jpg", "", "live", "real", liveness.ThresholdRule},
		{"image_F2.jpg", "", "attack", "", liveness.ThresholdRule},
		{"image_T1.jpg", "?threshold=0", "attack", "real", liveness.ThresholdCall},
	} {
		b, err := os.ReadFile(filepath.Join(data, c.file))
		if err != nil {
			t.Fatal(err)
		}
		res := decode(t, post(t, r.url+"/v1/liveness"+c.query, "image/jpeg", b))
		if res.Decision != c.decision || (c.class != "" && res.Class != c.class) || res.ThresholdSource != c.source ||
			res.Family != "minifasnet" || res.Method != "minifasnet" || len(res.Members) != 1 || res.Liveness == nil {
			t.Errorf("%s%s: %+v", c.file, c.query, res)
			continue
		}
		real := 0.0
		for _, m := range res.Members {
			real += m.Probs[1]
			if m.Crop.Width <= 0 || m.Scale <= 0 || m.Variant == "" {
				t.Errorf("%s: member %+v", c.file, m)
			}
		}
		if math.Abs(*res.Liveness-real) > 1e-12 {
			t.Errorf("%s: liveness %v, the members' mean real probability %v", c.file, *res.Liveness, real)
		}
	}
	if got := post(t, r.url+"/v1/liveness", "image/jpeg", []byte("nope")); got.code != http.StatusBadRequest {
		t.Errorf("bad image: %d %s", got.code, got.body)
	}
}
