package buildsecrets

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	got, err := Parse("# build secrets\nNPM_TOKEN=npm-abc=def\nexport PIP_TOKEN = 'pip xyz'\n\nEMPTY=\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["NPM_TOKEN"] != "npm-abc=def" || got["PIP_TOKEN"] != "pip xyz" || got["EMPTY"] != "" {
		t.Errorf("Parse = %q", got)
	}
	for text, want := range map[string]string{
		"A=1\nnot a pair of secret-value\n": "line 2 is not NAME=value",
		"A=1\nA=secret-value\n":             "A is given twice (line 2)",
		"1A=secret-value\n":                 "line 1 is not NAME=value",
	} {
		_, err := Parse(text)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret-value") {
			t.Errorf("Parse(%q): %v (want %q, and no value)", text, err, want)
		}
	}
	if m := Missing(map[string]string{"A": "x"}, []string{"B", "A", "C"}); strings.Join(m, ",") != "B,C" {
		t.Errorf("Missing = %v", m)
	}
}
