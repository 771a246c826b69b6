package pins

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/testutil"
)

// daggerVersion finds the Dagger versions a line names: module requirements
// (github.com/dagger/dagger, dagger.io/dagger, with a space or @), the
// engineVersion of a dagger.json, DAGGER_VERSION settings, the `version:` of
// the Dagger GitHub action, and prose such as "Dagger v0.19.10",
// "dagger CLI v0.19.10" or "dagger=v0.19.10". Only full X.Y.Z versions
// count: "the v0.21 line" is prose about another release, not a pin.
var daggerVersion = []*regexp.Regexp{
	regexp.MustCompile(`(?:github\.com/dagger/dagger|dagger\.io/dagger)[ @]v(\d+\.\d+\.\d+)\b`),
	regexp.MustCompile(`"engineVersion":\s*"v?(\d+\.\d+\.\d+)"`),
	regexp.MustCompile(`DAGGER_VERSION[=:]\s*"?v?(\d+\.\d+\.\d+)\b`),
	regexp.MustCompile(`(?i)\bdagger(?:\s+cli)?\s+\**v(\d+\.\d+\.\d+)\b`),
	regexp.MustCompile(`(?i)\bdagger=v(\d+\.\d+\.\d+)\b`),
	regexp.MustCompile(`(?i)dagger-v(\d+\.\d+\.\d+)-`),
}

// actionVersion is the version: input of a step using the Dagger action.
var actionVersion = regexp.MustCompile(`^\s*version:\s*"?v?(\d+\.\d+\.\d+)"?\s*(?:#.*)?$`)

func pinned(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "dagger.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mod struct {
		EngineVersion string `json:"engineVersion"`
	}
	if err := json.Unmarshal(b, &mod); err != nil {
		t.Fatalf("dagger.json: %v", err)
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(mod.EngineVersion) {
		t.Fatalf("dagger.json: engineVersion %q is not vX.Y.Z", mod.EngineVersion)
	}
	return strings.TrimPrefix(mod.EngineVersion, "v")
}

// mentions returns "file:line: vX" for every Dagger version in text that is
// not want.
func mentions(file, text, want string) []string {
	var out []string
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		var got []string
		for _, re := range daggerVersion {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				got = append(got, m[1])
			}
		}
		// The version: of a Dagger action step (a few lines below its uses:).
		if m := actionVersion.FindStringSubmatch(line); m != nil {
			for j := i - 1; j >= 0 && j >= i-6; j-- {
				if strings.Contains(lines[j], "dagger/dagger-for-github") {
					got = append(got, m[1])
					break
				}
			}
		}
		seen := map[string]bool{}
		for _, v := range got {
			if v != want && !seen[v] {
				seen[v] = true
				out = append(out, file+":"+strconv.Itoa(i+1)+": Dagger v"+v)
			}
		}
	}
	return out
}

// checkerTests hold other versions on purpose, as input for the checks
// that must refuse them.
var checkerTests = map[string]bool{
	"internal/pins/pins_test.go":           true,
	"internal/workflows/workflows_test.go": true,
}

// TestOneDaggerPin: no tracked file names a Dagger version other than
// dagger.json's engineVersion.
func TestOneDaggerPin(t *testing.T) {
	root := testutil.RepoRoot(t)
	want := pinned(t, root)
	cmd := exec.Command("git", "ls-files", "-co", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a git checkout)", err)
	}
	files := 0
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f == "" || strings.HasSuffix(f, ".sum") || checkerTests[f] {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil || !strings.Contains(strings.ToLower(string(b)), "dagger") {
			continue
		}
		files++
		for _, m := range mentions(f, string(b), want) {
			t.Errorf("%s, but dagger.json pins v%s: name the pinned version (or none)", m, want)
		}
	}
	if files == 0 {
		t.Fatal("no file mentions Dagger: the check read nothing")
	}
}

// TestMentions makes sure the check finds what it must refuse and lets
// through what it must not.
func TestMentions(t *testing.T) {
	text := strings.Join([]string{
		`	github.com/dagger/dagger v0.19.7`,
		`	dagger.io/dagger v0.19.10 // indirect`,
		`	github.com/dagger/dagger/engine/distconsts v0.19.9 // indirect`,
		`var sdk = "dagger.io/dagger@v0.18.0"`,
		`  "engineVersion": "v0.20.1",`,
		`  DAGGER_VERSION: "0.19.7"`,
		`DAGGER_VERSION="v0.19.10"`,
		`Prerequisites: the dagger CLI v0.21.3 (the module's engineVersion)`,
		`a Dagger **v0.19.2** engine`,
		`--builder-version dagger=v0.19.1`,
		`$SLIPWAY_CACHE/engine/dagger-v0.18.5-<key>/`,
		`v0.20 and later need modules the proxy does not serve; the v0.21.x line`,
		`      - uses: dagger/dagger-for-github@v8.2.0`,
		`        with:`,
		`          version: "0.19.3"`,
		`          version: "1.2.3"`,
	}, "\n")
	got := mentions("f", text, "0.19.10")
	want := []string{
		"f:1: Dagger v0.19.7", "f:4: Dagger v0.18.0", "f:5: Dagger v0.20.1", "f:6: Dagger v0.19.7",
		"f:8: Dagger v0.21.3", "f:9: Dagger v0.19.2", "f:10: Dagger v0.19.1", "f:11: Dagger v0.18.5",
		"f:15: Dagger v0.19.3", "f:16: Dagger v1.2.3",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mentions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
