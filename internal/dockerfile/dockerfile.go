// Package dockerfile reads what slipway needs of a Dockerfile before any
// build: its instructions as logical lines (continuations joined, comments
// and blank lines dropped) and the ports its last stage EXPOSEs. Both the
// configuration (a service's default port) and the planner (base images)
// read Dockerfiles through it. After a failed build it also finds the RUN
// step that failed and writes the Dockerfile that replays it (step.go).
package dockerfile

import (
	"strconv"
	"strings"
)

// Line is one instruction with the lines it starts and ends on (1-based).
type Line struct {
	Text string
	Line int
	End  int
}

// Lines joins continued lines and drops comments and blank lines.
func Lines(s string) []Line {
	var out []Line
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(raw)
		if strings.HasPrefix(t, "#") && cur.Len() == 0 {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(t, `\`) {
			cur.WriteString(strings.TrimSuffix(t, `\`) + " ")
			continue
		}
		cur.WriteString(t)
		if l := strings.TrimSpace(cur.String()); l != "" {
			out = append(out, Line{l, start, i + 1})
		}
		cur.Reset()
	}
	if l := strings.TrimSpace(cur.String()); l != "" {
		out = append(out, Line{l, start, strings.Count(s, "\n") + 1})
	}
	return out
}

// ExposedPorts are the TCP ports the last stage EXPOSEs, in order, each
// once ("8080", "8080/tcp"; UDP ports, ranges and ports given by a
// variable are left out).
func ExposedPorts(text string) []int {
	var ports []int
	seen := map[int]bool{}
	for _, l := range Lines(text) {
		f := strings.Fields(l.Text)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			ports, seen = nil, map[int]bool{}
		case "EXPOSE":
			for _, p := range f[1:] {
				num, proto, _ := strings.Cut(p, "/")
				n, err := strconv.Atoi(num)
				if err != nil || n < 1 || n > 65535 || (proto != "" && !strings.EqualFold(proto, "tcp")) || seen[n] {
					continue
				}
				seen[n] = true
				ports = append(ports, n)
			}
		}
	}
	return ports
}
