package vuln

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/scancmd"
)

// osvMetaFile records, next to the ecosystem files ci downloaded, what each
// download was (so that a refresh asks only for a newer file).
const osvMetaFile = "slipway-osv.json"

type osvFile struct {
	ETag         string    `json:"etag,omitempty"`
	LastModified time.Time `json:"lastModified,omitempty"`
	FetchedAt    time.Time `json:"fetchedAt"`
	Size         int64     `json:"size"`
}

// OSVFile is where osv-scanner's offline mode (--local-db-path dir) reads
// an ecosystem's records.
func OSVFile(dir, ecosystem string) string {
	return filepath.Join(dir, "osv-scalibr", ecosystem, "all.zip")
}

// FetchOSV keeps an offline OSV database in dir (a cache kept between runs):
// for each ecosystem it downloads <base>/<Ecosystem>/all.zip unless the copy
// in dir is still current (ETag). When a download fails, the copy from an
// earlier run is used and the result says so; an ecosystem with neither
// makes the database unavailable. It never returns a database that lacks an
// ecosystem it was asked for.
func FetchOSV(ctx context.Context, client *http.Client, base, dir string, ecosystems []string, now time.Time) scancmd.DB {
	db := scancmd.DB{Scanner: scancmd.OSV, URI: base}
	meta := map[string]osvFile{}
	if b, err := os.ReadFile(filepath.Join(dir, osvMetaFile)); err == nil {
		_ = json.Unmarshal(b, &meta) // a damaged record only costs a download
	}
	var failed, missing, skipped []string
	unreachable := "" // the server could not be reached for this ecosystem: do not wait for it again
	for _, eco := range ecosystems {
		var f osvFile
		var err error
		if unreachable != "" {
			skipped = append(skipped, eco)
			err = errors.New("not tried")
		} else {
			f, err = fetchOne(ctx, client, strings.TrimRight(base, "/")+"/"+eco+"/all.zip", OSVFile(dir, eco), meta[eco], now)
			var he httpError
			if err != nil && !errors.As(err, &he) {
				unreachable = eco
			}
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", eco, err))
			}
		}
		if err != nil {
			if _, serr := os.Stat(OSVFile(dir, eco)); serr != nil {
				missing = append(missing, eco)
				continue
			}
		} else {
			meta[eco] = f
		}
	}
	if len(skipped) > 0 {
		failed = append(failed, fmt.Sprintf("%s: not tried after %s failed", strings.Join(skipped, ", "), unreachable))
	}
	if b, err := json.MarshalIndent(meta, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(dir, osvMetaFile), append(b, '\n'), 0o644)
	}
	switch {
	case len(missing) > 0:
		db.Reason = fmt.Sprintf("downloading the OSV database from %s failed and no earlier download is cached (%s): %s",
			base, strings.Join(missing, ", "), strings.Join(failed, "; "))
		return db
	case len(failed) > 0:
		db.Source = "cache"
		db.Reason = "refreshing it failed: " + strings.Join(failed, "; ")
	default:
		db.Source = "downloaded"
	}
	db.Available = true
	db.Ecosystems = append([]string(nil), ecosystems...)
	h := sha256.New()
	for _, eco := range ecosystems {
		f := meta[eco]
		date := f.LastModified
		if date.IsZero() {
			date = f.FetchedAt
		}
		if date.IsZero() {
			if st, err := os.Stat(OSVFile(dir, eco)); err == nil {
				date = st.ModTime().UTC()
			}
		}
		if db.UpdatedAt.IsZero() || (!date.IsZero() && date.Before(db.UpdatedAt)) {
			db.UpdatedAt = date
		}
		fmt.Fprintf(h, "%s %s %d %s\n", eco, f.ETag, f.Size, date.Format(time.RFC3339Nano))
	}
	db.Fingerprint = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return db
}

// httpError is a server's answer that is not the file: the server was
// reached, so the other ecosystems are still worth asking for.
type httpError string

func (e httpError) Error() string { return string(e) }

// fetchOne downloads url into file unless prev (the record of the copy in
// file) is still current.
func fetchOne(ctx context.Context, client *http.Client, url, file string, prev osvFile, now time.Time) (osvFile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return osvFile{}, err
	}
	_, statErr := os.Stat(file)
	if statErr == nil && prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	resp, err := client.Do(req)
	if err != nil {
		return osvFile{}, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && statErr == nil:
		return prev, nil
	case resp.StatusCode != http.StatusOK:
		return osvFile{}, httpError(fmt.Sprintf("GET %s: %s", url, resp.Status))
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return osvFile{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".all.zip-*")
	if err != nil {
		return osvFile{}, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return osvFile{}, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return osvFile{}, fmt.Errorf("GET %s: got %d of %d bytes", url, n, resp.ContentLength)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return osvFile{}, err
	}
	f := osvFile{ETag: resp.Header.Get("ETag"), FetchedAt: now.UTC(), Size: n}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		f.LastModified = t.UTC()
	}
	return f, nil
}

// DescribeOSV describes an offline OSV database given as a directory
// (--vuln-db): the ecosystems it holds and the date of its oldest file.
func DescribeOSV(dir string) scancmd.DB {
	db := scancmd.DB{Scanner: scancmd.OSV, Source: "--vuln-db", URI: "file:///vuln-db"}
	files, _ := filepath.Glob(filepath.Join(dir, "osv-scalibr", "*", "all.zip"))
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		eco := filepath.Base(filepath.Dir(f))
		db.Ecosystems = append(db.Ecosystems, eco)
		if t := st.ModTime().UTC(); db.UpdatedAt.IsZero() || t.Before(db.UpdatedAt) {
			db.UpdatedAt = t
		}
		fmt.Fprintf(h, "%s %d %s\n", eco, st.Size(), st.ModTime().UTC().Format(time.RFC3339Nano))
	}
	if len(db.Ecosystems) == 0 {
		db.Reason = "--vuln-db holds no osv-scalibr/<Ecosystem>/all.zip (with scan.scanner: osv-scanner it is osv-scanner's offline database; docs/scanning.md#offline-databases)"
		return db
	}
	db.Available = true
	db.Fingerprint = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return db
}

// DescribeTrivy describes Trivy's cache directory dir (db/trivy.db and
// db/metadata.json). source is "--vuln-db", or "downloaded" / "cache" for
// the cache ci keeps; refreshErr is the failure of this run's download, if
// any.
func DescribeTrivy(dir, source, refreshErr string) scancmd.DB {
	db := scancmd.DB{Scanner: scancmd.Trivy, Source: source, URI: scancmd.TrivyDBURI}
	if source == "--vuln-db" {
		db.URI = "file:///vuln-db"
	}
	st, err := os.Stat(filepath.Join(dir, "db", "trivy.db"))
	if err != nil {
		switch {
		case source == "--vuln-db":
			db.Reason = "--vuln-db has no db/trivy.db: with scan.scanner: trivy it is Trivy's cache directory (db/trivy.db and db/metadata.json; docs/scanning.md)"
		case refreshErr != "":
			db.Reason = "downloading Trivy's database failed and no earlier download is cached: " + refreshErr
		default:
			db.Reason = "Trivy's cache holds no db/trivy.db"
		}
		return db
	}
	db.Available = true
	if refreshErr != "" && source != "--vuln-db" {
		db.Source, db.Reason = "cache", "refreshing it failed: "+refreshErr
	}
	h := sha256.New()
	fmt.Fprintf(h, "trivy.db %d %s\n", st.Size(), st.ModTime().UTC().Format(time.RFC3339Nano))
	if b, err := os.ReadFile(filepath.Join(dir, "db", "metadata.json")); err == nil {
		h.Write(b)
		var m struct{ UpdatedAt time.Time }
		if json.Unmarshal(b, &m) == nil && !m.UpdatedAt.IsZero() {
			db.UpdatedAt = m.UpdatedAt.UTC()
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		db.Reason = strings.TrimPrefix(db.Reason+"; ", "; ") + "reading db/metadata.json: " + err.Error()
	}
	db.Fingerprint = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return db
}
