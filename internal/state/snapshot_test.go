package state

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A snapshot carries the file as read, so that later steps of a run see
// exactly the denylist the run started with.
func TestSnapshotRoundTrip(t *testing.T) {
	bad := "sha256:" + strings.Repeat("b", 64)
	src := "# kept comment\nversion: 1\npins: []\ndenylist:\n  - digest: " + bad + "\n    reason: leaked a token\n    by: alice\n    at: 2026-01-02T03:04:05Z\n"
	s, err := Parse("deploy/slipway-state.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s.Snapshot("abc123"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(file, b, 0o644)
	back, err := ReadSnapshot(file)
	if err != nil {
		t.Fatal(err)
	}
	why, ok := back.DenyReason(bad)
	if !ok || why != bad+" is denylisted in deploy/slipway-state.yaml (leaked a token, by alice, at 2026-01-02T03:04:05Z)" {
		t.Fatalf("DenyReason = %q, %v", why, ok)
	}
	if _, ok := back.DenyReason("sha256:" + strings.Repeat("c", 64)); ok {
		t.Fatal("a digest not on the list is denied")
	}
	// An empty state file (none yet) denies nothing; a snapshot without a
	// file name or with a broken file is an error, not an empty list.
	empty, _ := Parse("deploy/slipway-state.yaml", nil)
	b, _ = json.Marshal(empty.Snapshot(""))
	os.WriteFile(file, b, 0o644)
	if st, err := ReadSnapshot(file); err != nil || len(st.Denylist()) != 0 {
		t.Fatalf("empty: %v, %v", st, err)
	}
	for _, bad := range []string{`{"content":""}`, `{"file":"deploy/slipway-state.yaml","content":"denylist: [oops"}`, `not json`} {
		os.WriteFile(file, []byte(bad), 0o644)
		if _, err := ReadSnapshot(file); err == nil {
			t.Errorf("ReadSnapshot(%s) succeeded", bad)
		}
	}
}
