package dockerfile

import (
	"strings"
	"testing"
)

func TestFailedProcess(t *testing.T) {
	msg := `failed to solve: process "/bin/sh -c echo \"a b\" && exit 3" did not complete successfully: exit code: 3`
	p, code, ok := FailedProcess(msg)
	if !ok || p != `/bin/sh -c echo "a b" && exit 3` || code != 3 {
		t.Errorf("FailedProcess = %q %d %v", p, code, ok)
	}
	if _, _, ok := FailedProcess("failed to resolve source metadata for docker.io/library/nope:1"); ok {
		t.Error("FailedProcess found a step in an error that names none")
	}
}

func TestReplayStep(t *testing.T) {
	text := "# syntax=docker/dockerfile:1\n" +
		"FROM golang AS build\n" +
		"RUN --mount=type=cache,target=/root/.cache go mod download\n" +
		"RUN make \\\n" +
		"      all  \\\n" +
		"    && echo done\n" +
		"FROM scratch\n" +
		"COPY --from=build /out /out\n"
	// The engine joins continued lines without the backslashes and keeps
	// the whitespace; a SHELL instruction changes the prefix.
	replay, step, ok := ReplayStep(text, "/bin/bash -o pipefail -c make       all      && echo done", "/tmp/step.log")
	if !ok || step.Line != 4 || step.Command != "make all && echo done" {
		t.Fatalf("ReplayStep: ok %v, step %+v", ok, step)
	}
	want := "# syntax=docker/dockerfile:1\nFROM golang AS build\nRUN --mount=type=cache,target=/root/.cache go mod download\n" +
		`RUN ( make  all   && echo done ) > "/tmp/step.log" 2>&1; echo "(exit status $?)" >> "/tmp/step.log"` + "\n"
	if replay != want {
		t.Errorf("replay:\n%s\nwant:\n%s", replay, want)
	}
	// Flags stay on the replayed step.
	replay, step, ok = ReplayStep(text, "/bin/sh -c go mod download", "/tmp/l")
	if !ok || step.Line != 3 || !strings.HasSuffix(replay, "RUN --mount=type=cache,target=/root/.cache ( go mod download ) > \"/tmp/l\" 2>&1; echo \"(exit status $?)\" >> \"/tmp/l\"\n") {
		t.Errorf("replay with flags (ok %v, %+v):\n%s", ok, step, replay)
	}
	// Exec form and heredocs are not replayed; an unknown step is not found.
	if _, step, ok := ReplayStep("FROM x\nRUN [\"make\", \"all\"]\n", "make all", "/tmp/l"); ok || step.Line != 2 {
		t.Errorf("exec form: ok %v, %+v", ok, step)
	}
	if _, _, ok := ReplayStep("FROM x\nRUN <<EOF\nmake\nEOF\n", "/bin/sh -c make", "/tmp/l"); ok {
		t.Error("a heredoc was replayed")
	}
	if _, _, ok := ReplayStep(text, "/bin/sh -c make install", "/tmp/l"); ok {
		t.Error("a step the Dockerfile does not have was found")
	}
}
