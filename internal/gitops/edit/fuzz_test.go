package edit

import (
	"os"
	"path/filepath"
	"testing"
)

// seeds adds every testdata input of the kind to the fuzz corpus.
func seeds(f *testing.F, kind string, add func([]byte)) {
	files, err := filepath.Glob(filepath.Join("testdata", kind, "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", kind, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// checkFuzz asserts the editor's contract on any input: the splices explain
// every changed byte, and editing the output again changes nothing.
func checkFuzz(t *testing.T, src []byte, res Result, err error, again func([]byte) (Result, error)) {
	if err != nil {
		if res.Data != nil || res.Changed {
			t.Fatalf("error %v with a result", err)
		}
		return
	}
	checkSplices(t, src, res)
	if !res.Changed {
		if len(res.Edits) != 0 || string(res.Data) != string(src) {
			t.Fatal("unchanged result with edits or different data")
		}
		return
	}
	res2, err := again(res.Data)
	if err != nil {
		t.Fatalf("editing the output again failed: %v\ninput:\n%s\noutput:\n%s", err, src, res.Data)
	}
	if res2.Changed {
		t.Fatalf("editing the output again changed it:\n%s\n→\n%s", res.Data, res2.Data)
	}
}

func FuzzKustomize(f *testing.F) {
	seeds(f, "kustomize", func(b []byte) {
		f.Add(b, "api", "v2", false)
		f.Add(b, "api", "", true)
	})
	f.Fuzz(func(t *testing.T, src []byte, name, tag string, create bool) {
		img := Image{Name: "reg.example.com/shop/" + "api", Tag: tag, Digest: d1}
		run := func(b []byte) (Result, error) { return Kustomize(b, name, img, KustomizeOptions{Create: create}) }
		res, err := run(src)
		checkFuzz(t, src, res, err, run)
	})
}

func FuzzHelmValues(f *testing.F) {
	seeds(f, "helm", func(b []byte) {
		f.Add(b, "api.image", "1.0.0", false)
		f.Add(b, "image", "1.0.0", true)
	})
	f.Fuzz(func(t *testing.T, src []byte, path, tag string, inTag bool) {
		img := Image{Name: "reg.example.com/shop/api", Tag: tag, Digest: d1}
		run := func(b []byte) (Result, error) { return HelmValues(b, path, img, HelmKeys{DigestInTag: inTag}) }
		res, err := run(src)
		checkFuzz(t, src, res, err, run)
	})
}

func FuzzManifest(f *testing.F) {
	seeds(f, "manifest", func(b []byte) {
		f.Add(b, "", "registry.example.com/shop/api", "1.0.0")
		f.Add(b, "agent", "", "2")
	})
	f.Fuzz(func(t *testing.T, src []byte, container, image, tag string) {
		m := Match{Container: container}
		if image != "" {
			m.Images = []string{image}
		}
		img := Image{Tag: tag, Digest: d1}
		run := func(b []byte) (Result, error) { return Manifest(b, m, img) }
		res, err := run(src)
		checkFuzz(t, src, res, err, run)
	})
}
