package archcheck

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildHello cross-compiles a tiny Go program for arch into dir/name.
func buildHello(t *testing.T, dir, name, arch string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), src)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for %s: %v\n%s", arch, err, out)
	}
}

func write(t *testing.T, root, p, body string, mode os.FileMode) {
	t.Helper()
	host := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(host, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	root := t.TempDir()
	buildHello(t, filepath.Join(root, "app"), "orders-amd64", "amd64")
	buildHello(t, filepath.Join(root, "usr/bin"), "python3.11", "arm64")
	// /usr/local/bin/python -> /usr/bin/python3 -> python3.11, absolute
	// targets resolving inside the image.
	if err := os.Symlink("python3.11", filepath.Join(root, "usr/bin/python3")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "usr/local/bin"), 0o755)
	if err := os.Symlink("/usr/bin/python3", filepath.Join(root, "usr/local/bin/python")); err != nil {
		t.Fatal(err)
	}
	write(t, root, "srv/run.py", "#!/usr/bin/env -S python\nprint('hi')\n", 0o755)
	buildHello(t, filepath.Join(root, "usr/bin"), "env", "arm64")
	write(t, root, "srv/notes.txt", "hello\n", 0o755)
	// A symlink that climbs out of the image must stay inside it.
	if err := os.Symlink("../../../../../../etc/passwd", filepath.Join(root, "srv/escape")); err != nil {
		t.Fatal(err)
	}

	ok := []struct {
		name string
		img  Image
		want string
	}{
		{"PATH lookup through symlinks", Image{Root: root, Platform: "linux/arm64", Cmd: []string{"python", "-m", "app"}, Env: []string{"PATH=/usr/local/bin:/usr/bin"}},
			"/usr/local/bin/python: arm64 (aarch64) executable"},
		{"script through env", Image{Root: root, Platform: "linux/arm64", Entrypoint: []string{"/srv/run.py"}},
			"/srv/run.py -> /usr/local/bin/python: arm64 (aarch64) executable"},
		{"amd64 binary on amd64", Image{Root: root, Platform: "linux/amd64", OS: "linux", Architecture: "amd64", Entrypoint: []string{"./orders-amd64"}, WorkingDir: "/app"},
			"/app/orders-amd64: x86-64 executable"},
	}
	for _, c := range ok {
		got, err := Check(c.img)
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}

	bad := []struct {
		name string
		img  Image
		want string
	}{
		{"GOARCH=amd64 in an arm64 image", Image{Root: root, Platform: "linux/arm64", Entrypoint: []string{"/app/orders-amd64"}},
			"/app/orders-amd64 is an x86-64 executable (the Dockerfile sets GOARCH"},
		{"config says amd64", Image{Root: root, Platform: "linux/arm64", OS: "linux", Architecture: "amd64", Entrypoint: []string{"/app/orders-amd64"}},
			"the image configuration says linux/amd64"},
		{"interpreter of the wrong architecture", Image{Root: root, Platform: "linux/amd64", Entrypoint: []string{"/srv/run.py"}},
			"/usr/local/bin/python is an arm64 (aarch64) executable (started through /srv/run.py)"},
		{"missing program", Image{Root: root, Platform: "linux/arm64", Cmd: []string{"/app/none"}},
			"/app/none, which does not exist in the image"},
		{"not on PATH", Image{Root: root, Platform: "linux/arm64", Cmd: []string{"node"}},
			`"node", which is not an executable on its PATH`},
		{"not a program", Image{Root: root, Platform: "linux/arm64", Cmd: []string{"/srv/notes.txt"}},
			"neither an ELF executable nor a script"},
		{"escape stays inside", Image{Root: root, Platform: "linux/arm64", Cmd: []string{"/srv/escape"}},
			"does not exist in the image"},
		{"nothing to start", Image{Root: root, Platform: "linux/arm64"},
			"no ENTRYPOINT or CMD"},
	}
	for _, c := range bad {
		_, err := Check(c.img)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v; want an error containing %q", c.name, err, c.want)
		}
	}
	if _, err := Check(bad[0].img); !errors.Is(err, ErrWrongArchitecture) {
		t.Errorf("a wrong architecture is not ErrWrongArchitecture: %v", err)
	}
}
