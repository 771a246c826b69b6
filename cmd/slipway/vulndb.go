package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/slipwayci/slipway/internal/scancmd"
	"github.com/slipwayci/slipway/internal/vuln"
)

func init() {
	register("vuln-db", "describe (and for osv-scanner, download into a cache) the vulnerability database a scan uses (JSON)", runVulnDB)
}

func runVulnDB(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("vuln-db", stderr)
	scanner := fs.String("scanner", "", "osv-scanner or trivy (required)")
	dir := fs.String("dir", "", "the database directory (required)")
	fetch := fs.Bool("fetch", false, "osv-scanner: download the ecosystems' files into -dir (a cache), keeping current copies")
	url := fs.String("url", scancmd.OSVDBURL, "osv-scanner: where <Ecosystem>/all.zip are downloaded from")
	given := fs.Bool("given", false, "the directory is --vuln-db (as opposed to the cache slipway keeps)")
	refreshErr := fs.String("refresh-error", "", "trivy: why this run's download of the database failed")
	out := fs.String("out", "", "write the JSON description here instead of stdout")
	var ecosystems listFlag
	fs.Var(&ecosystems, "ecosystem", "osv-scanner: an ecosystem to download (repeatable; default: "+fmt.Sprint(scancmd.OSVEcosystems)+")")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || (*scanner != scancmd.OSV && *scanner != scancmd.Trivy) {
		return fmt.Errorf("%w: -dir and -scanner (%s or %s) are required", errUsage, scancmd.OSV, scancmd.Trivy)
	}
	if len(ecosystems) == 0 {
		ecosystems = scancmd.OSVEcosystems
	}
	var db scancmd.DB
	switch {
	case *scanner == scancmd.Trivy && *given:
		db = vuln.DescribeTrivy(*dir, "--vuln-db", "")
	case *scanner == scancmd.Trivy:
		db = vuln.DescribeTrivy(*dir, "downloaded", *refreshErr)
	case *given:
		db = vuln.DescribeOSV(*dir)
	case *fetch:
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return err
		}
		// Fail fast where there is no network; a slow but working
		// download may take minutes (Debian's file is large).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: 20 * time.Second}).DialContext
		tr.TLSHandshakeTimeout = 20 * time.Second
		tr.ResponseHeaderTimeout = time.Minute
		start := time.Now()
		db = vuln.FetchOSV(ctx, &http.Client{Transport: tr, Timeout: 30 * time.Minute}, *url, *dir, ecosystems, time.Now())
		fmt.Fprintf(stderr, "vuln-db: osv-scanner database %s in %s\n", map[bool]string{true: "ready", false: "unavailable"}[db.Available], time.Since(start).Round(time.Millisecond))
	default:
		return fmt.Errorf("%w: osv-scanner needs -given or -fetch", errUsage)
	}
	fmt.Fprintln(stderr, "vuln-db: "+db.Describe(time.Now()))
	b, err := json.MarshalIndent(db, "", "  ")
	if err != nil {
		return err
	}
	return writeOut(*out, stdout, append(b, '\n'))
}
