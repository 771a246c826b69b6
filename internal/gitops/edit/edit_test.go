package edit

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const (
	d0 = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

type goldenCase struct {
	name    string // testdata/<name>.yaml → testdata/<name>.golden
	run     func([]byte) (Result, error)
	changed bool  // expected Result.Changed
	err     error // expected sentinel, nil for success
}

func kust(name string, img Image, create bool) func([]byte) (Result, error) {
	return func(b []byte) (Result, error) { return Kustomize(b, name, img, KustomizeOptions{Create: create}) }
}

func helm(path string, img Image, keys HelmKeys) func([]byte) (Result, error) {
	return func(b []byte) (Result, error) { return HelmValues(b, path, img, keys) }
}

func manifest(m Match, img Image) func([]byte) (Result, error) {
	return func(b []byte) (Result, error) { return Manifest(b, m, img) }
}

var goldenCases = []goldenCase{
	{name: "kustomize/comments", run: kust("api", Image{Name: "registry.example.com/shop/api", Tag: "1.0.0", Digest: d1}, false), changed: true},
	{name: "kustomize/add-digest", run: kust("api", Image{Tag: "v2", Digest: d1}, false), changed: true},
	{name: "kustomize/flow", run: kust("api", Image{Name: "reg/api2", Tag: "v2", Digest: d1}, false), changed: true},
	{name: "kustomize/anchors", run: kust("api", Image{Tag: "v2", Digest: d1}, false), changed: true},
	{name: "kustomize/crlf", run: kust("api", Image{Tag: "v2", Digest: d1}, false), changed: true},
	{name: "kustomize/create-entry", run: kust("api", Image{Name: "registry.example.com/shop/api", Tag: "v2", Digest: d1}, true), changed: true},
	{name: "kustomize/create-list", run: kust("api", Image{Tag: "1.10", Digest: d1}, true), changed: true},
	{name: "kustomize/missing", run: kust("api", Image{Tag: "v2", Digest: d1}, false), err: ErrNotFound},
	{name: "kustomize/noop", run: kust("api", Image{Name: "reg.example.com/shop/api", Tag: "1.2.3", Digest: d2}, false)},
	{name: "kustomize/remove-tag", run: kust("api", Image{Digest: d1}, false), changed: true},
	{name: "kustomize/shared", run: kust("api", Image{Tag: "v2", Digest: d1}, false), err: ErrShared},
	{name: "kustomize/malformed", run: kust("api", Image{Tag: "v2", Digest: d1}, false), err: ErrMalformed},
	{name: "kustomize/multidoc", run: kust("api", Image{Tag: "v2", Digest: d1}, false), changed: true},
	{name: "kustomize/empty-value", run: kust("api", Image{Tag: "v2", Digest: d1}, false), changed: true},

	{name: "helm/nested", run: helm("api.image", Image{Name: "registry.example.com/shop/api", Tag: "1.0.0", Digest: d1}, HelmKeys{}), changed: true},
	{name: "helm/string", run: helm("api.image", Image{Tag: "1.0.0", Digest: d1}, HelmKeys{}), changed: true},
	{name: "helm/digest-in-tag", run: helm("image", Image{Tag: "1.0.0", Digest: d1}, HelmKeys{DigestInTag: true}), changed: true},
	{name: "helm/insert-digest", run: helm("image", Image{Name: "registry.example.com/shop/api", Tag: "1.0.0", Digest: d1}, HelmKeys{}), changed: true},
	{name: "helm/custom-keys", run: helm("app.image", Image{Name: "registry.example.com/shop/api", Tag: "1.0.0", Digest: d1}, HelmKeys{Repository: "name", Tag: "version", Digest: "sha", SkipRepository: true}), changed: true},
	{name: "helm/alias", run: helm("api.image", Image{Tag: "1.0.0", Digest: d1}, HelmKeys{}), err: ErrShared},
	{name: "helm/missing", run: helm("api.image", Image{Tag: "1.0.0", Digest: d1}, HelmKeys{}), err: ErrNotFound},
	{name: "helm/tag-alias", run: helm("api.image", Image{Tag: "1.0.0", Digest: d1}, HelmKeys{}), changed: true},

	{name: "manifest/multidoc", run: manifest(Match{Images: []string{"registry.example.com/shop/api"}}, Image{Tag: "1.0.0", Digest: d1}), changed: true},
	{name: "manifest/kinds", run: manifest(Match{Container: "agent"}, Image{Name: "registry.example.com/shop/agent2", Tag: "2", Digest: d1}), changed: true},
	{name: "manifest/crlf", run: manifest(Match{Images: []string{"registry.example.com/shop/web"}}, Image{Tag: "2", Digest: d1}), changed: true},
	{name: "manifest/shared", run: manifest(Match{Images: []string{"registry.example.com/shop/api"}}, Image{Tag: "2", Digest: d1}), err: ErrShared},
	{name: "manifest/missing", run: manifest(Match{Images: []string{"registry.example.com/shop/api"}}, Image{Tag: "2", Digest: d1}), err: ErrNotFound},
	{name: "manifest/malformed", run: manifest(Match{Images: []string{"registry.example.com/shop/api"}}, Image{Tag: "2", Digest: d1}), err: ErrMalformed},
}

// TestGolden runs every editor on its testdata inputs and compares the
// output (or the error message) with the golden file.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", tc.name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			orig := bytes.Clone(src)
			res, err := tc.run(src)
			if !bytes.Equal(src, orig) {
				t.Fatal("the editor modified its input slice")
			}
			var got []byte
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error = %v, want %v", err, tc.err)
				}
				got = []byte("error: " + err.Error() + "\n")
			} else {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if res.Changed != tc.changed {
					t.Fatalf("Changed = %v, want %v", res.Changed, tc.changed)
				}
				if !res.Changed && !bytes.Equal(res.Data, src) {
					t.Fatal("unchanged result differs from the input")
				}
				checkSplices(t, src, res)
				got = res.Data
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

// checkSplices asserts that the reported splices, applied to src, give
// exactly res.Data: every byte outside them is unchanged.
func checkSplices(t testing.TB, src []byte, res Result) {
	t.Helper()
	var out []byte
	pos := 0
	for _, e := range res.Edits {
		if e.Offset < pos || e.Offset+e.Len > len(src) {
			t.Fatalf("splice %+v out of order or range", e)
		}
		if string(src[e.Offset:e.Offset+e.Len]) != e.Old {
			t.Fatalf("splice %+v: Old does not match the input", e)
		}
		out = append(out, src[pos:e.Offset]...)
		out = append(out, e.New...)
		pos = e.Offset + e.Len
	}
	out = append(out, src[pos:]...)
	if !bytes.Equal(out, res.Data) {
		t.Fatalf("splices do not reproduce the output:\n%s\nvs\n%s", out, res.Data)
	}
}

func TestOldImage(t *testing.T) {
	src := []byte("images:\n- name: api\n  newName: reg/api\n  newTag: v1\n  digest: " + d0 + "\n")
	res, err := Kustomize(src, "api", Image{Tag: "v2", Digest: d1}, KustomizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Image{Name: "reg/api", Tag: "v1", Digest: d0}); res.Old != want {
		t.Fatalf("Old = %+v, want %+v", res.Old, want)
	}
	res, err = HelmValues([]byte("image: {repository: reg/api, tag: 'v1@"+d0+"'}\n"), "image", Image{Tag: "v2", Digest: d1}, HelmKeys{DigestInTag: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Image{Name: "reg/api", Tag: "v1", Digest: d0}); res.Old != want {
		t.Fatalf("helm Old = %+v, want %+v", res.Old, want)
	}
}

func TestInvalidImage(t *testing.T) {
	src := []byte("images:\n- name: api\n")
	for _, img := range []Image{
		{Tag: "v1"},                           // no digest
		{Tag: "v1", Digest: "sha256:abc"},     // short digest
		{Name: "Reg/API", Digest: d1},         // upper case repository
		{Tag: "-bad", Digest: d1},             // tag starting with a dash
		{Tag: "v1\n  evil: true", Digest: d1}, // injection attempt
		{Name: "reg/api\" x", Digest: d1},     // quote in the name
		{Name: "reg/api", Tag: "v 1", Digest: d1},
	} {
		_, err := Kustomize(src, "api", img, KustomizeOptions{})
		if !errors.Is(err, ErrInvalidImage) {
			t.Errorf("%+v: error = %v, want ErrInvalidImage", img, err)
		}
	}
}

func TestErrorNamesKey(t *testing.T) {
	_, err := HelmValues([]byte("api:\n  image:\n    repository: x\n"), "api.img", Image{Tag: "1", Digest: d1}, HelmKeys{})
	var e *Error
	if !errors.As(err, &e) || e.Key != "api.img" || !errors.Is(err, ErrNotFound) {
		t.Fatalf("error = %#v", err)
	}
	_, err = Kustomize([]byte("images:\n- name: web\n"), "api", Image{Digest: d1}, KustomizeOptions{})
	if err == nil || !strings.Contains(err.Error(), "images[name=api]") {
		t.Fatalf("error = %v, want it to name images[name=api]", err)
	}
}

func TestParseImage(t *testing.T) {
	for ref, want := range map[string]Image{
		"api":                          {Name: "api"},
		"reg:5000/a/b":                 {Name: "reg:5000/a/b"},
		"reg:5000/a/b:v1":              {Name: "reg:5000/a/b", Tag: "v1"},
		"reg/a:v1@" + d1:               {Name: "reg/a", Tag: "v1", Digest: d1},
		"reg/a@" + d1:                  {Name: "reg/a", Digest: d1},
		"[::1]:5000/a:1.0-rc@" + d2:    {Name: "[::1]:5000/a", Tag: "1.0-rc", Digest: d2},
		"registry.example.com/shop/ap": {Name: "registry.example.com/shop/ap"},
	} {
		if got := ParseImage(ref); got != want {
			t.Errorf("ParseImage(%q) = %+v, want %+v", ref, got, want)
		}
		if got := ParseImage(ref).String(); got != ref {
			t.Errorf("String() = %q, want %q", got, ref)
		}
	}
}

func TestMatchByPath(t *testing.T) {
	m := Match{Images: []string{"registry:5000/shop/orders"}, Paths: []string{"orders"}}
	for image, want := range map[string]bool{
		"orders:1": true, "prod.example.com/shop/orders@sha256:1": true, "ghcr.io/acme/orders": true,
		"prod.example.com/shop/orders-worker": false, "prod.example.com/myorders": false,
	} {
		if got := m.matches("c", image); got != want {
			t.Errorf("%s matches %v, want %v", image, got, want)
		}
	}
}
