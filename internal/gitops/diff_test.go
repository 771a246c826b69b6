package gitops

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnifiedDiffFormat(t *testing.T) {
	before := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n"
	after := "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nL\nm\n"
	want := `--- a/f.yaml
+++ b/f.yaml
@@ -1,5 +1,5 @@
 a
-b
+B
 c
 d
 e
@@ -9,4 +9,5 @@
 i
 j
 k
-l
+L
+m
`
	if got := UnifiedDiff("f.yaml", []byte(before), []byte(after)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := UnifiedDiff("f", []byte("x\n"), []byte("x\n")); got != "" {
		t.Fatalf("equal inputs gave %q", got)
	}
	got := UnifiedDiff("f", []byte("x\ny"), []byte("x\nz"))
	if !strings.Contains(got, "-y\n\\ No newline at end of file\n+z\n\\ No newline at end of file\n") {
		t.Fatalf("missing no-newline markers:\n%s", got)
	}
}

// TestUnifiedDiffApplies checks the diffs against git itself: `git apply`
// must turn each before into its after.
func TestUnifiedDiffApplies(t *testing.T) {
	cases := [][2]string{
		{"", "new\nfile\n"},
		{"old\n", ""},
		{"a\nb\n", "a\nb\nc"},
		{"a\nb", "a\nb\n"},
		{"x\r\ny\r\n", "x\r\nY\r\n"},
	}
	// Longer inputs with scattered edits.
	var long, longer []string
	for i := 0; i < 60; i++ {
		long = append(long, fmt.Sprintf("line %d", i))
		switch {
		case i%17 == 3:
			longer = append(longer, fmt.Sprintf("changed %d", i), "inserted")
		case i%13 == 5:
		default:
			longer = append(longer, fmt.Sprintf("line %d", i))
		}
	}
	cases = append(cases, [2]string{strings.Join(long, "\n") + "\n", strings.Join(longer, "\n") + "\n"})
	for i, c := range cases {
		dir := t.TempDir()
		runGit(t, dir, "init", "-q")
		p := filepath.Join(dir, "f.txt")
		if err := os.WriteFile(p, []byte(c[0]), 0o644); err != nil {
			t.Fatal(err)
		}
		d := UnifiedDiff("f.txt", []byte(c[0]), []byte(c[1]))
		if err := os.WriteFile(filepath.Join(dir, "p.diff"), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("git", "apply", "--unidiff-zero", "p.diff")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("case %d: git apply: %v\n%s\ndiff:\n%s", i, err, out, d)
		}
		got, _ := os.ReadFile(p)
		if string(got) != c[1] {
			t.Fatalf("case %d: applied diff gave %q, want %q", i, got, c[1])
		}
	}
}
