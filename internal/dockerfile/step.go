package dockerfile

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// A failed RUN step is reported by the engine as its process and exit code
// only ("process \"/bin/sh -c make\" did not complete successfully: exit
// code: 2"); what it printed goes to the progress log, not to the error.
// FailedProcess and ReplayStep let the caller get that output back: the
// Dockerfile is cut after the failing step, the step's output is written to
// a file and its failure no longer stops the build, and the caller builds
// that Dockerfile (every earlier step is a cache hit) and reads the file.

var failedProcess = regexp.MustCompile(`process ("(?:[^"\\]|\\.)*") did not complete successfully: exit code: (\d+)`)

// FailedProcess is the command line and exit code of the RUN step an
// engine error names, if it names one.
func FailedProcess(msg string) (process string, code int, ok bool) {
	m := failedProcess.FindStringSubmatch(msg)
	if m == nil {
		return "", 0, false
	}
	p, err := strconv.Unquote(m[1])
	if err != nil {
		return "", 0, false
	}
	code, _ = strconv.Atoi(m[2])
	return p, code, true
}

// Step is a RUN instruction found by ReplayStep.
type Step struct {
	// Line is where the instruction starts in the Dockerfile (1-based).
	Line int
	// Command is the instruction's command, as written.
	Command string
}

// ReplayStep finds the shell-form RUN instruction whose command is the
// failed process (the shell's "-c" argument, compared with whitespace
// runs collapsed, as the engine joins continued lines), and returns the
// Dockerfile cut after it, the step rewritten to write everything it prints
// and its exit status to logPath and then succeed. The last stage of the
// result is the step's own. It returns ok false for a step it cannot
// replay safely: an exec-form RUN or a heredoc.
func ReplayStep(text, process, logPath string) (replay string, step Step, ok bool) {
	want := collapse(process)
	physical := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for _, l := range Lines(text) {
		flags, cmd, isRun := runParts(l.Text)
		if !isRun || cmd == "" || strings.HasPrefix(cmd, "[") || strings.Contains(cmd, "<<") {
			if isRun && strings.HasPrefix(cmd, "[") && execForm(cmd) == want {
				return "", Step{l.Line, cmd}, false
			}
			continue
		}
		c := collapse(cmd)
		if want != c && !strings.HasSuffix(want, " -c "+c) {
			continue
		}
		var b strings.Builder
		for _, p := range physical[:l.Line-1] {
			b.WriteString(p + "\n")
		}
		b.WriteString("RUN ")
		for _, f := range flags {
			b.WriteString(f + " ")
		}
		q := strconv.Quote(logPath)
		b.WriteString("( " + cmd + " ) > " + q + " 2>&1; echo \"(exit status $?)\" >> " + q + "\n")
		return b.String(), Step{l.Line, c}, true
	}
	return "", Step{}, false
}

// runParts splits a RUN instruction into its flags (--mount=…, --network=…)
// and its command.
func runParts(instr string) (flags []string, cmd string, ok bool) {
	f := strings.Fields(instr)
	if len(f) == 0 || !strings.EqualFold(f[0], "RUN") {
		return nil, "", false
	}
	rest := strings.TrimSpace(instr[len(f[0]):])
	for strings.HasPrefix(rest, "--") {
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			return append(flags, rest), "", true
		}
		flags = append(flags, rest[:end])
		rest = strings.TrimSpace(rest[end:])
	}
	return flags, rest, true
}

// execForm is an exec-form command as the engine prints it: the arguments
// joined by spaces.
func execForm(cmd string) string {
	var args []string
	if json.Unmarshal([]byte(cmd), &args) != nil {
		return ""
	}
	return collapse(strings.Join(args, " "))
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }
