package layer

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// entries reads a layer's tar stream into a map from name to header and content.
func entries(t *testing.T, file string) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	l, err := Cached(file, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hs, data := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := hs[h.Name]; dup {
			t.Errorf("entry %s written twice", h.Name)
		}
		hs[h.Name] = h
		b, _ := io.ReadAll(tr)
		data[h.Name] = string(b)
	}
}

func TestCachedWritesTreesAndEntries(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "bin"), 0o755)
	os.WriteFile(filepath.Join(src, "bin", "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.Link(filepath.Join(src, "bin", "tool"), filepath.Join(src, "bin", "tool2"))
	os.Symlink("tool", filepath.Join(src, "bin", "link"))
	os.WriteFile(filepath.Join(src, "skipped"), []byte("x"), 0o644)

	file := filepath.Join(t.TempDir(), "l.tar.gz")
	spec := Spec{
		Trees: []Tree{{Dir: src, Prefix: "usr/local", RootOwned: true,
			Skip: func(rel string, _ fs.DirEntry) bool { return rel == "skipped" }}},
		Entries: []Entry{
			{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/root:/bin/sh\n")},
			{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
			{Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, Target: "/bin/busybox"},
		},
	}
	l, err := Cached(file, spec)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := l.Digest()
	hs, data := entries(t, file)

	for _, dir := range []string{"usr/", "usr/local/", "usr/local/bin/", "etc/", "bin/"} {
		if h := hs[dir]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("missing parent directory %s", dir)
		}
	}
	if data["usr/local/bin/tool"] != "#!/bin/sh\n" || hs["usr/local/bin/tool"].Mode != 0o755 {
		t.Errorf("usr/local/bin/tool: %+v %q", hs["usr/local/bin/tool"], data["usr/local/bin/tool"])
	}
	if h := hs["usr/local/bin/tool2"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "usr/local/bin/tool" {
		t.Errorf("hard link not kept: %+v", h)
	}
	if h := hs["usr/local/bin/link"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "tool" {
		t.Errorf("symlink not kept: %+v", h)
	}
	if _, ok := hs["usr/local/skipped"]; ok {
		t.Error("Skip did not leave usr/local/skipped out")
	}
	if h := hs["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp/ mode: %+v", h)
	}
	if data["etc/passwd"] == "" || hs["bin/sh"].Linkname != "/bin/busybox" {
		t.Error("in-memory entries missing")
	}

	// A second call reuses the file (and its recorded digests).
	l2, err := Cached(file, Spec{Entries: []Entry{{Path: "other", Mode: 0o644}}})
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := l2.Digest(); d2 != d1 {
		t.Errorf("cached layer digest changed: %s then %s", d1, d2)
	}
	if hs2, _ := entries(t, file); hs2["other"] != nil {
		t.Error("cached layer file was rewritten from the second spec")
	}
	if _, err := os.Stat(file + ".json"); err != nil {
		t.Errorf("digests not recorded next to the layer: %v", err)
	}
}

func TestOverlayMarkersBecomeWhiteouts(t *testing.T) {
	upper := t.TempDir()
	if err := syscall.Mknod(filepath.Join(upper, "gone"), syscall.S_IFCHR, 0); err != nil {
		t.Skipf("cannot make an overlay whiteout here (needs root): %v", err)
	}
	opq := filepath.Join(upper, "replaced")
	os.Mkdir(opq, 0o755)
	os.WriteFile(filepath.Join(opq, "new"), []byte("n"), 0o644)
	if err := syscall.Setxattr(opq, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Skipf("cannot set trusted xattrs here: %v", err)
	}
	file := filepath.Join(t.TempDir(), "l.tar.gz")
	if _, err := Cached(file, Spec{Trees: []Tree{{Dir: upper, Overlay: true}}}); err != nil {
		t.Fatal(err)
	}
	hs, _ := entries(t, file)
	for _, want := range []string{".wh.gone", "replaced/.wh..wh..opq", "replaced/new"} {
		if _, ok := hs[want]; !ok {
			t.Errorf("missing %s in %v", want, keys(hs))
		}
	}
	if _, ok := hs["gone"]; ok {
		t.Error("the whiteout device itself was written")
	}
}

func keys(m map[string]*tar.Header) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
