package vuln

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipwayci/slipway/internal/config"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseIgnoreFile(t *testing.T) {
	l, err := ParseIgnoreFile(".slipway/vuln-ignore.yaml", readTestdata(t, "ignore/valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 3 {
		t.Fatalf("%d entries: %+v", len(l), l)
	}
	e := l[1]
	if e.ID != "go-2099-0001" || e.Package != "stdlib" || e.Expires != "2099-01-10" || e.Line != 6 || e.File != ".slipway/vuln-ignore.yaml" ||
		e.Reason != "net/http: the service sits behind a proxy that normalises requests" {
		t.Errorf("entry 1: %+v", e)
	}
	if e.Where() != ".slipway/vuln-ignore.yaml:6" {
		t.Errorf("Where() = %s", e.Where())
	}
	// Applies through the whole of its last day, UTC.
	last := time.Date(2099, 1, 10, 23, 59, 59, 0, time.UTC)
	if e.Expired(last) || !e.Expired(last.Add(time.Second)) {
		t.Errorf("expiry: ExpiresAt %s", e.ExpiresAt())
	}
	// Any alias, any case; the package must match when given.
	f := Finding{ID: "CVE-2099-2001", Aliases: []string{"GO-2099-0001"}, Package: "stdlib"}
	if !e.Matches(f) {
		t.Error("entry does not match its finding by alias")
	}
	f.Package = "golang.org/x/net"
	if e.Matches(f) {
		t.Error("entry matches a finding in another package")
	}
	if !l[0].Matches(Finding{ID: "CVE-2099-1001", Package: "zlib"}) || !l[0].Matches(Finding{ID: "CVE-2099-1001", Package: "zlib1g"}) {
		t.Error("an entry without a package must match the ID in any package")
	}

	for _, empty := range []string{"", "# nothing\n", "ignores:\n", "ignores: []\n", "---\n"} {
		l, err := ParseIgnoreFile("x.yaml", []byte(empty))
		if err != nil || len(l) != 0 {
			t.Errorf("%q: %v %+v", empty, err, l)
		}
	}
}

func TestParseIgnoreFileErrorsNameFileLineAndField(t *testing.T) {
	_, err := ParseIgnoreFile("services/api/vuln-ignore.yaml", readTestdata(t, "ignore/bad.yaml"))
	var errs config.Errors
	if !errors.As(err, &errs) || !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("error %v is not config.Errors", err)
	}
	want := []string{
		"services/api/vuln-ignore.yaml:2: ignores[0].reason: is required",
		`services/api/vuln-ignore.yaml:6: ignores[1].expires: "31/01/2099" is not a date written YYYY-MM-DD`,
		"services/api/vuln-ignore.yaml:10: ignores[2].severity: unknown field (an entry has id, reason, expires and optionally package)",
		"services/api/vuln-ignore.yaml:11: ignores[3].id: is required",
		`services/api/vuln-ignore.yaml:12: ignores[3].expires: "2099-02-30" is not a date written YYYY-MM-DD`,
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for name, tc := range map[string]struct{ in, want string }{
		"top-level list":        {"- id: CVE-1\n", "x.yaml:1: must be a mapping with an ignores: list"},
		"unknown top field":     {"ignore:\n  - id: CVE-1\n", "x.yaml:1: ignore: unknown field (the file has one field, ignores)"},
		"ignores not a list":    {"ignores: CVE-1\n", "x.yaml:1: ignores: must be a list of entries"},
		"entry not a mapping":   {"ignores:\n  - CVE-1\n", "x.yaml:2: ignores[0]: must be a mapping with id, reason and expires"},
		"missing expires":       {"ignores:\n  - id: CVE-1\n    reason: r\n", "x.yaml:2: ignores[0].expires: is required"},
		"blank reason":          {"ignores:\n  - id: CVE-1\n    reason: '  '\n    expires: 2099-01-01\n", "x.yaml:3: ignores[0].reason: is required"},
		"timestamp not a date":  {"ignores:\n  - id: CVE-1\n    reason: r\n    expires: 2099-01-01T00:00:00Z\n", `x.yaml:4: ignores[0].expires: "2099-01-01T00:00:00Z" is not a date`},
		"list as a value":       {"ignores:\n  - id: [CVE-1, CVE-2]\n    reason: r\n    expires: 2099-01-01\n", "x.yaml:2: ignores[0].id: must be a single value"},
		"id with spaces":        {"ignores:\n  - id: CVE 1\n    reason: r\n    expires: 2099-01-01\n", `x.yaml:2: ignores[0].id: "CVE 1" is not a vulnerability ID`},
		"empty package":         {"ignores:\n  - id: CVE-1\n    reason: r\n    expires: 2099-01-01\n    package: ''\n", "x.yaml:5: ignores[0].package: must not be empty"},
		"duplicate entry":       {"ignores:\n  - {id: CVE-1, reason: r, expires: 2099-01-01}\n  - {id: cve-1, reason: r, expires: 2099-02-01}\n", "x.yaml:3: ignores[1].id: cve-1 is already ignored at line 2"},
		"syntax error":          {"ignores:\n  - id: CVE-1\n   reason: r\n", "x.yaml:1: did not find expected"},
		"two documents":         {"ignores: []\n---\nignores: []\n", "x.yaml:2: holds more than one YAML document"},
		"alias instead of text": {"ignores:\n  - id: &a CVE-1\n    reason: *a\n    expires: 2099-01-01\n", "x.yaml:3: ignores[0].reason: must be a single value"},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := ParseIgnoreFile("x.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("parsed: %+v", l)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q; want it to start with %q", err, tc.want)
			}
		})
	}
}

func TestLoadIgnores(t *testing.T) {
	cfg := config.Project{Scan: config.Scan{IgnoreFile: ".slipway/vuln-ignore.yaml"}}
	svc := config.Service{Name: "api", Dir: "services/api"}
	files := IgnoreFiles(cfg, svc)
	if strings.Join(files, " ") != ".slipway/vuln-ignore.yaml services/api/vuln-ignore.yaml" {
		t.Fatalf("IgnoreFiles = %v", files)
	}
	repo := "ignores:\n  - {id: CVE-1, reason: repo-wide, expires: 2099-01-01}\n"
	own := "ignores:\n  - {id: CVE-2, reason: api only, expires: 2099-01-01}\n"
	fsys := fstest.MapFS{
		".slipway/vuln-ignore.yaml":       {Data: []byte(repo)},
		"services/api/vuln-ignore.yaml":   {Data: []byte(own)},
		"services/web/vuln-ignore.yaml":   {Data: []byte("ignores:\n  - {id: CVE-3}\n")},
		"services/other/vuln-ignore.yaml": {Data: []byte("nope: 1\n")},
	}
	l, err := LoadIgnores(fsys, files...)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || l[0].File != ".slipway/vuln-ignore.yaml" || l[1].File != "services/api/vuln-ignore.yaml" || l[1].Reason != "api only" {
		t.Errorf("loaded %+v", l)
	}
	// Absent files are fine.
	if l, err := LoadIgnores(fsys, ".slipway/vuln-ignore.yaml", "services/none/vuln-ignore.yaml"); err != nil || len(l) != 1 {
		t.Errorf("with an absent service file: %v %+v", err, l)
	}
	// Problems in several files are reported together, each naming its file.
	_, err = LoadIgnores(fsys, "services/web/vuln-ignore.yaml", "services/other/vuln-ignore.yaml")
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{"services/web/vuln-ignore.yaml:2: ignores[0].reason: is required", "services/web/vuln-ignore.yaml:2: ignores[0].expires: is required", "services/other/vuln-ignore.yaml:1: nope: unknown field"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	// A directory where the file should be is an error, not "absent".
	fsys["dir/vuln-ignore.yaml/x"] = &fstest.MapFile{Data: []byte("x")}
	if _, err := LoadIgnores(fsys, "dir/vuln-ignore.yaml"); err == nil || !strings.Contains(err.Error(), "dir/vuln-ignore.yaml") {
		t.Errorf("directory as ignore file: %v", err)
	}
}

func TestNewIgnoreEntry(t *testing.T) {
	e, err := NewIgnoreEntry("CVE-1", "accepted", "2099-01-01", "zlib")
	if err != nil || e.ID != "CVE-1" || e.Package != "zlib" || e.ExpiresAt() != time.Date(2099, 1, 2, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("%+v %v", e, err)
	}
	if _, err := NewIgnoreEntry("CVE-1", "", "2099-01-01", ""); err == nil || !strings.Contains(err.Error(), "reason: is required") {
		t.Errorf("empty reason: %v", err)
	}
	if _, err := NewIgnoreEntry("CVE-1", "r", "tomorrow", ""); err == nil || !strings.Contains(err.Error(), "expires") {
		t.Errorf("bad date: %v", err)
	}
}
