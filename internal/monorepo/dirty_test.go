package monorepo

import "testing"

func TestDescribeChanges(t *testing.T) {
	got := DescribeChanges([]Change{{"a", Modified}, {"b", Untracked}, {"c", Deleted}}, 2)
	want := "  modified  a\n  untracked b\n  … and 1 more\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
