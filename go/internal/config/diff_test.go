package config

import (
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	file := writeFile(t, t.TempDir(), "d.yaml", minimal)
	a := mustLoad(t, file, nil, nil)
	if d := Diff(a, mustLoad(t, file, nil, nil)); len(d) != 0 {
		t.Errorf("identical configs differ: %v", d)
	}
	if d := ExperimentChanges(a, a); len(d) != 0 {
		t.Errorf("a config differs from itself: %v", d)
	}
	b := mustLoad(t, file, []string{
		"optimizer.params.lr=0.001",
		"train.batch_size=8",
		"anrl.loss.depth=0.2",
		"transform.mean=[0.4, 0.5, 0.6]",
		"dataset.test=[{name: d, live: t.txt, attack: u.txt}, {name: e, live: v.txt, attack: w.txt}]",
		"eval.tpr_at_fpr=[]",
		"run.threads=3", "run.name=again", "run.dir=elsewhere", "run.device=cuda",
	}, nil)
	// dataset.train[1].live cannot be --set (list elements are replaced as a whole); change
	// it by hand, as a resumed run's stored config may differ.
	b.Dataset.Train = append([]DomainList(nil), b.Dataset.Train...)
	b.Dataset.Train[1].Live = "lists/other.txt"
	run := []Change{
		{"run.name", `""`, "again"},
		{"run.dir", "runs", "elsewhere"},
		{"run.threads", "0", "3"},
		{"run.device", "cpu", "cuda"},
	}
	experiment := []Change{
		{"dataset.train[1].live", "lists/b_train_live.txt", "lists/other.txt"},
		{"dataset.test", "[{name: d, live: lists/d_test_live.txt, attack: lists/d_test_attack.txt}]",
			"[{name: d, live: t.txt, attack: u.txt}, {name: e, live: v.txt, attack: w.txt}]"},
		{"transform.mean", "[0.5, 0.5, 0.5]", "[0.4, 0.5, 0.6]"},
		{"optimizer.params.lr", "0.0001", "0.001"},
		{"train.batch_size", "5", "8"},
		{"eval.tpr_at_fpr", "[0.01, 0.001]", "[]"},
		{"anrl.loss.depth", "0.1", "0.2"},
	}
	if got, want := Diff(a, b), append(append([]Change{}, run...), experiment...); !reflect.DeepEqual(got, want) {
		t.Errorf("Diff =\n%v\nwant (schema order)\n%v", got, want)
	}
	if got := ExperimentChanges(a, b); !reflect.DeepEqual(got, experiment) {
		t.Errorf("ExperimentChanges =\n%v\nwant\n%v", got, experiment)
	}
	// Only run.* keys changed: the same experiment.
	c := mustLoad(t, file, []string{"run.threads=3", "run.name=x", "run.dir=y", "run.protocol=z"}, nil)
	if d := Diff(a, c); len(d) != 4 {
		t.Errorf("Diff = %v, want the 4 run keys", d)
	}
	if d := ExperimentChanges(a, c); len(d) != 0 {
		t.Errorf("ExperimentChanges = %v, want none for run.* keys", d)
	}
	// A nil list and an empty one are the same value.
	d := *a
	d.Eval.TPRAtFPR = nil
	e := *a
	e.Eval.TPRAtFPR = []float64{}
	if got := Diff(&d, &e); len(got) != 0 {
		t.Errorf("nil and empty lists differ: %v", got)
	}
}
