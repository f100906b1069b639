package synth

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/config"
)

// TestConfigsLoad writes the leave-one-domain-out configs and loads each with the config
// package: they use the current key layout, and differ from the built-in defaults only in
// the data, the image size and the small-CPU training settings.
func TestConfigsLoad(t *testing.T) {
	for _, domains := range []int{3, 4} {
		dir := t.TempDir()
		o := DefaultOptions()
		o.Domains, o.Size = domains, 48
		if err := writeConfigs(dir, o, sha256.New()); err != nil {
			t.Fatal(err)
		}
		for target := 0; target < domains; target++ {
			file := filepath.Join(dir, "configs", ProtocolName(target)+".yaml")
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, old := range []string{"loss_2", "loss_3", "params: {in_ch", "AdapNorm"} {
				if strings.Contains(string(text), old) {
					t.Errorf("%s still uses the old key %s", file, old)
				}
			}
			got, err := config.Load(file, nil, nil)
			if err != nil {
				t.Fatalf("%d domains, %s: %v", domains, file, err)
			}
			if len(got.Dataset.Train) != domains-1 || got.Dataset.Test[0].Name != domainName(target) {
				t.Errorf("%s: sources %+v, test %+v", file, got.Dataset.Train, got.Dataset.Test)
			}
			want := config.Default()
			want.Dataset, want.Run = got.Dataset, got.Run
			want.Transform.ImageSize = 48
			want.Model.Width = 0.25
			want.Train.Epochs, want.Train.BatchSize = 5, 4
			want.ANRL.Metasize = min(2, domains-2) // one meta-test domain at least
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s differs from the defaults beyond data and small-CPU settings:\n got %+v\nwant %+v", file, got, want)
			}
		}
	}
}
