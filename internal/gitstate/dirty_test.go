package gitstate

import (
	"errors"
	"github.com/slipwayci/slipway/internal/monorepo"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// gitRepo is a real repository made with the git CLI in a temporary
// directory: one service with a shared library beside it.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	r := &gitRepo{t, t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.write("services/api/main.go", "package main\n")
	r.write("services/api/Dockerfile", "FROM scratch\n")
	r.write("services/web/index.js", "1\n")
	r.write("libs/common/x.go", "package common\n")
	r.write(".gitignore", "*.log\nservices/api/dist/\n")
	r.git("add", "-A")
	r.git("commit", "-qm", "first")
	return r
}

func (r *gitRepo) git(args ...string) {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	cmd.Dir = r.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func (r *gitRepo) write(rel, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *gitRepo) dirty(roots ...string) []monorepo.Change {
	r.t.Helper()
	got, err := DirtyFiles(os.DirFS(r.dir), roots)
	if err != nil {
		r.t.Fatal(err)
	}
	return got
}

func TestDirtyFiles(t *testing.T) {
	api := []string{"services/api", "libs/common"}
	for _, tc := range []struct {
		name string
		do   func(r *gitRepo)
		want []monorepo.Change
	}{
		{"clean", func(r *gitRepo) {}, nil},
		{"modified", func(r *gitRepo) { r.write("services/api/main.go", "package main // x\n") },
			[]monorepo.Change{{Path: "services/api/main.go", State: monorepo.Modified}}},
		{"modified in a shared path", func(r *gitRepo) { r.write("libs/common/x.go", "package common // y\n") },
			[]monorepo.Change{{Path: "libs/common/x.go", State: monorepo.Modified}}},
		{"another service's change is not ours", func(r *gitRepo) { r.write("services/web/index.js", "2\n") }, nil},
		{"deleted", func(r *gitRepo) { os.Remove(filepath.Join(r.dir, "services/api/Dockerfile")) },
			[]monorepo.Change{{Path: "services/api/Dockerfile", State: monorepo.Deleted}}},
		{"untracked", func(r *gitRepo) { r.write("services/api/new.go", "package main\n") },
			[]monorepo.Change{{Path: "services/api/new.go", State: monorepo.Untracked}}},
		{"ignored files are not changes", func(r *gitRepo) {
			r.write("services/api/debug.log", "x\n")
			r.write("services/api/dist/app", "x\n")
			r.write("services/api/node_modules/m/index.js", "x\n")
		}, nil},
		{"touched but identical", func(r *gitRepo) {
			later := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(r.dir, "services/api/main.go"), later, later)
		}, nil},
		{"executable bit", func(r *gitRepo) { os.Chmod(filepath.Join(r.dir, "services/api/main.go"), 0o755) },
			[]monorepo.Change{{Path: "services/api/main.go", State: monorepo.Modified}}},
		{"staged modification", func(r *gitRepo) {
			r.write("services/api/main.go", "package main // staged\n")
			r.git("add", "services/api/main.go")
		}, []monorepo.Change{{Path: "services/api", State: monorepo.Staged}}},
		{"staged new directory", func(r *gitRepo) {
			r.write("services/api/internal/h.go", "package internal\n")
			r.git("add", "services/api/internal/h.go")
		}, []monorepo.Change{{Path: "services/api", State: monorepo.Staged}}},
		{"staged deletion", func(r *gitRepo) { r.git("rm", "-q", "services/api/Dockerfile") },
			[]monorepo.Change{{Path: "services/api", State: monorepo.Staged}}},
		{"staged elsewhere", func(r *gitRepo) {
			r.write("services/web/index.js", "3\n")
			r.git("add", "services/web/index.js")
		}, nil},
		{"intent to add", func(r *gitRepo) {
			r.write("services/api/later.go", "package main\n")
			r.git("add", "-N", "services/api/later.go")
		}, []monorepo.Change{{Path: "services/api", State: monorepo.Staged}, {Path: "services/api/later.go", State: monorepo.Staged}}},
		{"index version 4", func(r *gitRepo) {
			r.git("update-index", "--index-version", "4")
			r.write("services/api/main.go", "package main // v4\n")
			r.write("services/web/index.js", "5\n")
			r.git("add", "services/web/index.js")
		}, []monorepo.Change{{Path: "services/api/main.go", State: monorepo.Modified}}},
		{"committed again", func(r *gitRepo) {
			r.write("services/api/main.go", "package main // two\n")
			r.git("add", "-A")
			r.git("commit", "-qm", "second")
		}, nil},
		{"another branch checked out", func(r *gitRepo) {
			r.git("checkout", "-qb", "other")
			r.write("services/api/main.go", "package main // other\n")
			r.git("commit", "-qam", "other")
			r.git("checkout", "-q", "main")
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newGitRepo(t)
			tc.do(r)
			if got := r.dirty(api...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DirtyFiles = %v, want %v", got, tc.want)
			}
		})
	}
}

// A fresh clone, as a CI runner checks out, is clean.
func TestDirtyFilesFreshClone(t *testing.T) {
	r := newGitRepo(t)
	dst := filepath.Join(t.TempDir(), "clone")
	cmd := exec.Command("git", "clone", "-q", r.dir, dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	got, err := DirtyFiles(os.DirFS(dst), []string{"services/api", "services/web", "libs/common", "."})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("fresh clone: %v", got)
	}
}

// A whole-tree root sees every change at once.
func TestDirtyFilesWholeTree(t *testing.T) {
	r := newGitRepo(t)
	r.write("services/web/index.js", "4\n")
	r.write("README.md", "new\n")
	want := []monorepo.Change{{Path: "README.md", State: monorepo.Untracked}, {Path: "services/web/index.js", State: monorepo.Modified}}
	if got := r.dirty("."); !reflect.DeepEqual(got, want) {
		t.Errorf("DirtyFiles(.) = %v, want %v", got, want)
	}
}

func TestDirtyFilesNoIndex(t *testing.T) {
	if _, err := DirtyFiles(os.DirFS(t.TempDir()), []string{"."}); !errors.Is(err, monorepo.ErrNoIndex) {
		t.Errorf("err = %v, want ErrNoIndex", err)
	}
}
