package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/scancmd"
)

func vulnDB(t *testing.T, args ...string) (int, scancmd.DB, string) {
	t.Helper()
	var o, e bytes.Buffer
	code := run(context.Background(), append([]string{"vuln-db"}, args...), &o, &e)
	var db scancmd.DB
	if code == 0 {
		if err := json.Unmarshal(o.Bytes(), &db); err != nil {
			t.Fatalf("vuln-db output is not JSON: %v\n%s", err, o.String())
		}
	}
	return code, db, e.String()
}

func TestVulnDBCommand(t *testing.T) {
	// A --vuln-db without osv-scanner's layout is described as unavailable.
	code, db, _ := vulnDB(t, "--scanner", "osv-scanner", "--dir", t.TempDir(), "--given")
	if code != 0 || db.Available || !strings.Contains(db.Reason, "osv-scalibr/<Ecosystem>/all.zip") {
		t.Errorf("empty --vuln-db: exit %d, %+v", code, db)
	}

	// Downloading from a server that serves one ecosystem: the database
	// holds it, and the age comes from the server's Last-Modified.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/Go/all.zip" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Last-Modified", "Tue, 01 Dec 2026 06:00:00 GMT")
		w.Write([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	}))
	defer srv.Close()
	cache := t.TempDir()
	code, db, stderr := vulnDB(t, "--scanner", "osv-scanner", "--dir", cache, "--fetch", "--url", srv.URL, "--ecosystem", "Go")
	if code != 0 || !db.Available || db.Source != "downloaded" || db.UpdatedAt.Format("2006-01-02") != "2026-12-01" {
		t.Errorf("download: exit %d, %+v\n%s", code, db, stderr)
	}
	if _, err := os.Stat(filepath.Join(cache, "osv-scalibr", "Go", "all.zip")); err != nil {
		t.Errorf("the file is not where osv-scanner --local-db-path reads it: %v", err)
	}
	if !strings.Contains(stderr, "vuln-db: vulnerability database: osv-scanner, downloaded by this run, updated 2026-12-01") {
		t.Errorf("stderr: %s", stderr)
	}

	// Trivy's cache after a failed download.
	code, db, _ = vulnDB(t, "--scanner", "trivy", "--dir", t.TempDir(), "--refresh-error", "lookup mirror.gcr.io: no such host")
	if code != 0 || db.Available || !strings.Contains(db.Reason, "no such host") {
		t.Errorf("trivy without a database: exit %d, %+v", code, db)
	}

	// Usage errors.
	for _, args := range [][]string{{"--dir", "x"}, {"--scanner", "grype", "--dir", "x"}, {"--scanner", "osv-scanner", "--dir", "x"}} {
		if code, _, _ := vulnDB(t, args...); code != 2 {
			t.Errorf("vuln-db %v: exit %d, want 2", args, code)
		}
	}
}
