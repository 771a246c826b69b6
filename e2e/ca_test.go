package e2e

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/slipwayci/slipway/internal/cabundle"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/testutil"
)

// TestModuleCACertificates: greeter needs a Go module that only a package
// mirror serves, over TLS with a certificate that a private CA signed (a
// corporate root no image trusts), on the engine's bridge. Without
// caCertificates its dependency step fails in Go's own words; with them
// the same commit's tests and Docker build both download through the
// mirror, and the certificate is in no layer of the image.
func TestModuleCACertificates(t *testing.T) {
	ip := bridgeAddr(t)
	ca := testutil.NewCA(t, "slipway e2e corporate root")
	const mod = "corp.example/greeting"
	version := fmt.Sprintf("v1.%d.0", time.Now().UnixNano()) // never in a module cache yet
	mirror := newModuleMirror(t, mod, version, "package greeting\n\n// Word is what the greeter says.\nfunc Word() string { return \"hello\" }\n")
	srv := httptest.NewUnstartedServer(mirror)
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.TLS = ca.ServerTLS(t, ip)
	srv.StartTLS()
	defer srv.Close()

	r := newSlipwayRunOf(t, filepath.Join(testutil.RepoRoot(t), "e2e", "testdata", "layouts"))
	r.edit("slipway.yaml", func(s string) string {
		return strings.Replace(s, "env:\n", fmt.Sprintf("env:\n  GOPROXY: %s\n  GONOSUMDB: corp.example\n", srv.URL), 1)
	})
	r.edit("src/greeter/src/go.mod", func(s string) string { return s + "\nrequire " + mod + " " + version + "\n" })
	if err := os.WriteFile(filepath.Join(r.fixture, "src/greeter/src/go.sum"), []byte(mirror.goSum), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.fixture, "src/greeter/src/word.go"), []byte("package main\n\nimport corp \""+mod+"\"\n\nvar word = corp.Word()\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Its final stage runs a step too, which counts the certificates it is
	// given: the bundle must reach it, and stay out of the image.
	r.edit("src/greeter/src/Dockerfile", func(s string) string {
		return strings.Replace(s, "FROM scratch\n", "FROM busybox:1.37\nRUN grep -c 'BEGIN CERTIFICATE' \"$SSL_CERT_FILE\" > /ca-count\n", 1)
	})
	r.commit("greeter needs a module from the corporate mirror")

	out, err := r.call("ci", "--service", "greeter")
	if err == nil {
		t.Fatalf("ci passed although no image trusts the mirror's CA:\n%s", tail(out, 30))
	}
	g := byName(r.lastReport())["greeter"]
	if g.Status != report.Failed || g.Stage != "dependencies" || !strings.Contains(g.Error, "x509: certificate signed by unknown authority") {
		t.Fatalf("without caCertificates: greeter %s at %q: %s\n%s", g.Status, g.Stage, g.Error, tail(out, 30))
	}
	if n := mirror.zips.Load(); n != 0 {
		t.Fatalf("the mirror served %d module zips to clients that do not trust it", n)
	}

	if err := os.MkdirAll(filepath.Join(r.fixture, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.fixture, "certs/corp-root.pem"), []byte(ca.PEM), 0o644); err != nil {
		t.Fatal(err)
	}
	r.edit("slipway.yaml", func(s string) string { return s + "\ncaCertificates: [certs/corp-root.pem]\n" })
	r.commit("trust the corporate root")
	r.mustCall("ci", "--service", "greeter")
	rep := r.lastReport()
	if g := byName(rep)["greeter"]; g.Status != report.Built || g.UnitTests != "passed" || !rep.OK() {
		t.Fatalf("with caCertificates:\n%s", rep.Text())
	}
	// The tests' dependency step and the Docker build (its own module
	// cache) each downloaded the module through the mirror.
	if n := mirror.zips.Load(); n < 2 {
		t.Errorf("the mirror served %d module zips, want one to the tests and one to the build", n)
	}

	// Neither the certificate nor the bundle's mount point is in the image.
	tarball := filepath.Join(t.TempDir(), "greeter.tar")
	r.mustCall("build", "--service", "greeter", "export", "--path", tarball)
	img, err := crane.Load(tarball)
	if err != nil {
		t.Fatalf("reading greeter's image: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cf.Config.Env {
		if strings.HasPrefix(e, "SSL_CERT_FILE=") || strings.HasPrefix(e, "APT_CONFIG=") {
			t.Errorf("greeter's image configuration sets %s", e)
		}
	}
	var fsys bytes.Buffer
	if err := crane.Export(img, &fsys); err != nil {
		t.Fatal(err)
	}
	body := strings.Split(strings.TrimSpace(ca.PEM), "\n")[1] // a line of the certificate's base64
	if fsys.Len() == 0 || !bytes.Contains(fsys.Bytes(), []byte("greeter")) || bytes.Contains(fsys.Bytes(), []byte(body)) {
		t.Errorf("greeter's image (%d bytes of files) holds the CA certificate, or is not the image", fsys.Len())
	}
	tr := tar.NewReader(&fsys)
	count := ""
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		name := strings.TrimPrefix(h.Name, "./")
		if strings.HasPrefix(name, strings.TrimPrefix(path.Dir(cabundle.BundlePath), "/")) {
			t.Errorf("greeter's image holds %s", name)
		}
		if name == "ca-count" {
			b, _ := io.ReadAll(tr)
			count = strings.TrimSpace(string(b))
		}
	}
	// The busybox image's own roots, and the corporate one.
	if n, err := strconv.Atoi(count); err != nil || n < 2 {
		t.Errorf("the final stage's RUN step saw %q certificates in $SSL_CERT_FILE", count)
	}
}

// moduleMirror is a Go module proxy serving one module version.
type moduleMirror struct {
	prefix, version string
	mod, zip        []byte
	goSum           string
	zips            atomic.Int64
}

func newModuleMirror(t *testing.T, path, version, source string) *moduleMirror {
	t.Helper()
	m := &moduleMirror{prefix: "/" + path + "/@v/", version: version, mod: []byte("module " + path + "\n\ngo 1.22\n")}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range map[string][]byte{"go.mod": m.mod, "greeting.go": []byte(source)} {
		w, err := zw.Create(path + "@" + version + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	m.zip = buf.Bytes()
	zipFile := filepath.Join(t.TempDir(), "module.zip")
	if err := os.WriteFile(zipFile, m.zip, 0o644); err != nil {
		t.Fatal(err)
	}
	zh, err := dirhash.HashZip(zipFile, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	mh, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(m.mod)), nil })
	if err != nil {
		t.Fatal(err)
	}
	m.goSum = fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, version, zh, path, version, mh)
	return m
}

func (m *moduleMirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case m.prefix + m.version + ".info":
		fmt.Fprintf(w, `{"Version":%q,"Time":"2026-01-01T00:00:00Z"}`, m.version)
	case m.prefix + m.version + ".mod":
		w.Write(m.mod)
	case m.prefix + m.version + ".zip":
		m.zips.Add(1)
		w.Write(m.zip)
	default:
		http.NotFound(w, r)
	}
}
