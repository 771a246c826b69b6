package testout

import (
	"os"
	"path/filepath"
	"testing"
)

// The samples in testdata are real outputs of the runners (go test,
// python -m unittest, node --test with its TAP and spec reporters); the
// pytest lines are pytest's summary format.
func TestCountAndJudge(t *testing.T) {
	type want struct {
		counts *Counts
		exit   int
		status string
	}
	cases := map[string]want{
		"go-plain.txt":         {nil, 0, Passed},
		"go-v-fail.txt":        {&Counts{"go test", 3, 1, 1}, 1, Failed},
		"go-notests.txt":       {&Counts{"go test", 0, 0, 0}, 0, NotConfigured},
		"go-norun.txt":         {&Counts{"go test", 0, 0, 0}, 0, NotConfigured},
		"go-plain-fail.txt":    {nil, 1, Failed},
		"py-unittest-fail.txt": {&Counts{"unittest", 2, 2, 1}, 1, Failed},
		"py-unittest-ok.txt":   {&Counts{"unittest", 2, 0, 1}, 0, Passed},
		"py-unittest-none.txt": {&Counts{"unittest", 0, 0, 0}, 0, NotConfigured},
		"node-tap-fail.txt":    {&Counts{"node --test", 1, 1, 1}, 1, Failed},
		"node-spec-fail.txt":   {&Counts{"node --test", 1, 1, 1}, 1, Failed},
		"node-none.txt":        {&Counts{"node --test", 0, 0, 0}, 0, NotConfigured},
	}
	for file, w := range cases {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		c, ok := Count(string(b))
		switch {
		case w.counts == nil && ok:
			t.Errorf("%s: Count = %+v, want no counts", file, c)
		case w.counts != nil && (!ok || c != *w.counts):
			t.Errorf("%s: Count = %+v (%v), want %+v", file, c, ok, *w.counts)
		}
		o := Judge(w.exit, string(b))
		if o.Status != w.status {
			t.Errorf("%s: Judge(%d) = %+v, want %s", file, w.exit, o, w.status)
		}
		if (o.Counts == nil) != (w.counts == nil) {
			t.Errorf("%s: Judge counts = %+v", file, o.Counts)
		}
		if o.Status != Passed && o.Reason == "" {
			t.Errorf("%s: %s without a reason", file, o.Status)
		}
	}
}

func TestCountPytest(t *testing.T) {
	cases := map[string]struct {
		out    string
		counts Counts
		status string
	}{
		"mixed": {"tests/test_app.py ..sF                         [100%]\n" +
			"=========================== short test summary info ============================\n" +
			"FAILED tests/test_app.py::test_add - assert 1 == 2\n" +
			"=============== 1 failed, 2 passed, 1 skipped, 1 error in 0.12s ================", Counts{"pytest", 2, 2, 1}, Failed},
		"quiet":     {"....\n4 passed in 0.03s", Counts{"pytest", 4, 0, 0}, Passed},
		"warnings":  {"==== 3 passed, 1 xfailed, 2 warnings in 1.01s ====", Counts{"pytest", 4, 0, 0}, Passed},
		"none":      {"collected 0 items\n\n============================ no tests ran in 0.01s =============================", Counts{"pytest", 0, 0, 0}, NotConfigured},
		"all skip":  {"========================= 3 skipped in 0.02s =========================", Counts{"pytest", 0, 0, 3}, Skipped},
		"deselects": {"=== 5 deselected in 0.01s ===", Counts{"pytest", 0, 0, 0}, NotConfigured},
	}
	for name, tc := range cases {
		c, ok := Count(tc.out)
		if !ok || c != tc.counts {
			t.Errorf("%s: Count = %+v (%v), want %+v", name, c, ok, tc.counts)
		}
		exit := 0
		if tc.status == Failed {
			exit = 1
		}
		if o := Judge(exit, tc.out); o.Status != tc.status {
			t.Errorf("%s: Judge = %+v, want %s", name, o, tc.status)
		}
	}
}

// A runner that reports failures while exiting 0 is not trusted to have
// passed; output nobody can count passes on the exit status alone.
func TestJudgeEdges(t *testing.T) {
	if o := Judge(0, "# tests 2\n# pass 1\n# fail 1\n"); o.Status != Failed {
		t.Errorf("failures with exit 0: %+v", o)
	}
	if o := Judge(0, "custom runner: all good\n"); o.Status != Passed || o.Counts != nil {
		t.Errorf("uncountable output: %+v", o)
	}
	if o := Judge(2, ""); o.Status != Failed || o.Reason != "the command exited 2" {
		t.Errorf("exit 2: %+v", o)
	}
}
