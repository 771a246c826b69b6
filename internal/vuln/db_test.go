package vuln

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/scancmd"
)

// osvServer serves an OSV bucket laid out as osv.dev's (/<Ecosystem>/all.zip)
// from files in src, with ETags and Last-Modified, and counts full downloads.
type osvServer struct {
	*httptest.Server
	mu        sync.Mutex
	downloads map[string]int
	modified  time.Time
}

func newOSVServer(t *testing.T, src string) *osvServer {
	s := &osvServer{downloads: map[string]int{}, modified: time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		eco, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/all.zip")
		b, err := os.ReadFile(filepath.Join(src, "osv-scalibr", eco, "all.zip"))
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256(b))
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		s.mu.Lock()
		s.downloads[eco]++
		s.mu.Unlock()
		w.Header().Set("Last-Modified", s.modified.Format(http.TimeFormat))
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestFetchOSVKeepsACurrentDatabaseInItsCache(t *testing.T) {
	src := t.TempDir()
	writeOSVDB(t, src, testDB(t))
	srv := newOSVServer(t, src)
	cache := t.TempDir()
	now := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	ecos := []string{"Debian", "Go"}

	db := FetchOSV(context.Background(), srv.Client(), srv.URL, cache, ecos, now)
	if !db.Available || db.Source != "downloaded" || db.Reason != "" {
		t.Fatalf("first fetch: %+v", db)
	}
	if !db.UpdatedAt.Equal(srv.modified) || db.Age(now) != "2 days old" {
		t.Errorf("updated %s, age %q; want the server's Last-Modified %s, 2 days old", db.UpdatedAt, db.Age(now), srv.modified)
	}
	for _, eco := range ecos {
		want, _ := os.ReadFile(filepath.Join(src, "osv-scalibr", eco, "all.zip"))
		got, err := os.ReadFile(OSVFile(cache, eco))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: the cached file differs from the served one (err %v)", eco, err)
		}
	}

	// A second run downloads nothing: the ETags still match.
	again := FetchOSV(context.Background(), srv.Client(), srv.URL, cache, ecos, now.Add(time.Hour))
	if !again.Available || again.Fingerprint != db.Fingerprint || srv.downloads["Go"] != 1 || srv.downloads["Debian"] != 1 {
		t.Errorf("refresh of a current cache: %+v, downloads %v", again, srv.downloads)
	}

	// The database moves on: the file is downloaded again and the
	// fingerprint changes (so the engine cannot reuse an older scan).
	records := testDB(t)
	records["Go"] = records["Go"][:1]
	writeOSVDB(t, src, records)
	moved := FetchOSV(context.Background(), srv.Client(), srv.URL, cache, ecos, now.Add(2*time.Hour))
	if !moved.Available || moved.Fingerprint == db.Fingerprint || srv.downloads["Go"] != 2 {
		t.Errorf("after the database changed: %+v, downloads %v", moved, srv.downloads)
	}

	// The server is gone: the cached copy is used, and the result says so.
	srv.Close()
	offline := FetchOSV(context.Background(), http.DefaultClient, srv.URL, cache, ecos, now.Add(3*time.Hour))
	if !offline.Available || offline.Source != "cache" || !strings.Contains(offline.Reason, "refreshing it failed: Debian:") {
		t.Errorf("offline with a cache: %+v", offline)
	}
	if d := offline.Describe(now); !strings.Contains(d, "an earlier run's download") || !strings.Contains(d, "2 days old") {
		t.Errorf("Describe = %q", d)
	}
}

func TestFetchOSVWithoutNetworkOrCacheHasNoDatabase(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	db := FetchOSV(context.Background(), http.DefaultClient, url, t.TempDir(), scancmd.OSVEcosystems, time.Now())
	if db.Available {
		t.Fatalf("a database without network or cache: %+v", db)
	}
	// Once the server cannot be reached, the other ecosystems are not
	// waited for.
	for _, want := range []string{"no earlier download is cached (Alpine, Debian, Go, PyPI, npm)", "Alpine: Get", "connection refused", "Debian, Go, PyPI, npm: not tried after Alpine failed"} {
		if !strings.Contains(db.Reason, want) {
			t.Errorf("reason %q lacks %q", db.Reason, want)
		}
	}
	// Another ecosystem missing on the server makes it unavailable too:
	// a partial database would pass images it never looked at.
	src := t.TempDir()
	writeOSVDB(t, src, testDB(t))
	partial := newOSVServer(t, src)
	if db := FetchOSV(context.Background(), partial.Client(), partial.URL, t.TempDir(), []string{"Go", "Alpine"}, time.Now()); db.Available || !strings.Contains(db.Reason, "(Alpine)") || !strings.Contains(db.Reason, "404") {
		t.Errorf("partial database: %+v", db)
	}
}

// TestOSVScannerReadsTheFetchedDatabase scans the seeded image with the real
// osv-scanner, offline, against the directory FetchOSV filled.
func TestOSVScannerReadsTheFetchedDatabase(t *testing.T) {
	src := t.TempDir()
	writeOSVDB(t, src, testDB(t))
	srv := newOSVServer(t, src)
	cache := t.TempDir()
	if db := FetchOSV(context.Background(), srv.Client(), srv.URL, cache, []string{"Debian", "Go"}, time.Now()); !db.Available {
		t.Fatalf("fetch: %+v", db)
	}
	out, errOut, code := runOSVScanner(t, cache, scannableImage(t, seededImage(t)), "json")
	if code != 1 {
		t.Fatalf("osv-scanner exit %d, want 1\n%s", code, errOut)
	}
	findings, err := ParseOSVScanner(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != 4 {
		t.Errorf("%d findings against the fetched database, want the 4 seeded ones:\n%s", len(findings), dump(findings))
	}
}

func TestDescribeGivenDatabases(t *testing.T) {
	empty := DescribeOSV(t.TempDir())
	if empty.Available || !strings.Contains(empty.Reason, "osv-scalibr/<Ecosystem>/all.zip") {
		t.Errorf("an empty --vuln-db: %+v", empty)
	}
	dir := t.TempDir()
	writeOSVDB(t, dir, testDB(t))
	old := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(OSVFile(dir, "Debian"), old, old)
	db := DescribeOSV(dir)
	if !db.Available || strings.Join(db.Ecosystems, ",") != "Debian,Go" || !db.UpdatedAt.Equal(old) || db.Source != "--vuln-db" {
		t.Errorf("DescribeOSV = %+v", db)
	}

	trivy := t.TempDir()
	if d := DescribeTrivy(trivy, "--vuln-db", ""); d.Available || !strings.Contains(d.Reason, "--vuln-db has no db/trivy.db") {
		t.Errorf("an empty Trivy --vuln-db: %+v", d)
	}
	if d := DescribeTrivy(trivy, "downloaded", "FATAL dial tcp: lookup mirror.gcr.io: no such host"); d.Available || !strings.Contains(d.Reason, "no earlier download is cached: FATAL dial tcp") {
		t.Errorf("a failed Trivy download: %+v", d)
	}
	os.MkdirAll(filepath.Join(trivy, "db"), 0o755)
	os.WriteFile(filepath.Join(trivy, "db", "trivy.db"), []byte("bolt"), 0o644)
	os.WriteFile(filepath.Join(trivy, "db", "metadata.json"), []byte(`{"Version":2,"UpdatedAt":"2026-12-04T06:00:00Z","NextUpdate":"2026-12-05T06:00:00Z"}`), 0o644)
	d := DescribeTrivy(trivy, "downloaded", "lookup mirror.gcr.io: no such host")
	if !d.Available || d.Source != "cache" || !d.UpdatedAt.Equal(time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)) || d.Fingerprint == "" {
		t.Errorf("a cached Trivy database whose refresh failed: %+v", d)
	}
	if got := d.Describe(time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)); !strings.Contains(got, "updated 2026-12-04 06:00 UTC (2 days old)") {
		t.Errorf("Describe = %q", got)
	}
}
