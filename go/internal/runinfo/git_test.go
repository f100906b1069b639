package runinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com",
		"-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestGitState(t *testing.T) {
	dir := t.TempDir()
	runGit(t, dir, "init", "-q")
	if g := GitState(dir); g.Commit != "" || g.Error == "" {
		t.Errorf("repository without commits: %+v, want an error and no commit", g)
	}
	os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644)
	runGit(t, dir, "add", "a.go")
	runGit(t, dir, "commit", "-q", "-m", "first")

	// The commit as git stores it in the branch ref, read without git.
	ref, err := os.ReadFile(filepath.Join(dir, ".git", "refs", "heads", "main"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(ref))
	g := GitState(dir)
	if g.Commit != want || g.Dirty || g.Error != "" {
		t.Errorf("clean tree: %+v, want commit %s, clean", g, want)
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "new.go"), []byte("package sub\n"), 0o644)
	if g := GitState(sub); g.Commit != want || !g.Dirty {
		t.Errorf("untracked file, asked from a subdirectory: %+v, want dirty", g)
	}
	os.RemoveAll(sub)
	os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a // changed\n"), 0o644)
	if g := GitState(dir); !g.Dirty {
		t.Errorf("modified file: %+v, want dirty", g)
	}
	if g := GitState(t.TempDir()); g.Commit != "" || !strings.Contains(g.Error, "git") {
		t.Errorf("not a repository: %+v", g)
	}
}
