package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/wire"
)

// execResult is the outcome of a command run to completion.
type execResult struct {
	ctr    *dagger.Container
	exit   int
	stdout string
	stderr string
}

// exec runs args in c and returns its exit code and output without failing
// on a non-zero exit, so that the caller can report what went wrong.
func exec(ctx context.Context, c *dagger.Container, args []string) (*execResult, error) {
	c = c.WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	c, err := c.Sync(ctx)
	if err != nil {
		return nil, err
	}
	code, err := c.ExitCode(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.Stdout(ctx)
	if err != nil {
		return nil, err
	}
	errOut, err := c.Stderr(ctx)
	if err != nil {
		return nil, err
	}
	return &execResult{ctr: c, exit: code, stdout: out, stderr: errOut}, nil
}

// execChecked is exec for worker commands: a non-zero exit is an error
// carrying the worker's own message (which names the service, file or
// reference).
func execChecked(ctx context.Context, c *dagger.Container, args []string) (*execResult, error) {
	r, err := exec(ctx, c, args)
	if err != nil {
		return nil, err
	}
	if r.exit != 0 {
		return r, r.failure()
	}
	return r, nil
}

// failure is the worker's own message for a non-zero exit.
func (r *execResult) failure() error {
	msg := strings.TrimSpace(r.stderr)
	if msg == "" {
		msg = strings.TrimSpace(r.stdout)
	}
	if msg == "" {
		msg = fmt.Sprintf("the worker exited %d", r.exit)
	}
	return fmt.Errorf("%s", msg)
}

// onExit says how runWorker treats a non-zero exit.
type onExit bool

const (
	// exitFails: a non-zero exit is an error (the worker's message).
	exitFails onExit = false
	// exitIsVerdict: the worker writes its result also when it exits
	// non-zero (a refusal, a failed gate); the result is returned with the
	// exit code, and only a missing result is an error.
	exitIsVerdict onExit = true
)

// runWorker runs the worker command args in c, which writes its JSON result
// to wire.ResultFile, and decodes that result with parse. It is the one
// way the module reads what the worker did.
func runWorker[T any](ctx context.Context, c *dagger.Container, args []string, v onExit, parse func([]byte) (*T, error)) (*T, *execResult, error) {
	r, err := exec(ctx, c, args)
	if err != nil {
		return nil, nil, err
	}
	if r.exit != 0 && v == exitFails {
		return nil, r, r.failure()
	}
	b, err := r.ctr.File(wire.ResultFile).Contents(ctx)
	if err != nil {
		if r.exit != 0 {
			return nil, r, r.failure()
		}
		return nil, r, fmt.Errorf("the worker wrote no result (%s): %w", args[1], err)
	}
	out, err := parse([]byte(b))
	if err != nil {
		return nil, r, fmt.Errorf("reading the worker's %s result: %w", args[1], err)
	}
	return out, r, nil
}

// decodeJSON is runWorker's parse for results that are plain JSON.
func decodeJSON[T any](b []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// fresh marks a step with a new run identifier, so that the engine runs it
// again instead of answering from its cache: every step that writes
// somewhere (a push, a signature, a GitOps commit) or reads something that
// changes (a registry, a repository) is fresh.
func fresh(c *dagger.Container) *dagger.Container {
	return c.WithEnvVariable(wire.EnvRun, runID())
}

// runID is a fresh identifier per step.
func runID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return hex.EncodeToString(b)
}

// progress prints one line of progress; the engine shows it live.
func progress(format string, args ...any) {
	fmt.Printf("slipway: "+format+"\n", args...)
}

// outputLines is how much of a failed step's output an error carries.
const outputLines = 40

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// explain adds to an error from the engine the last lines of what the
// failing process printed (the engine's own message names only its command
// and exit code).
func explain(err error) error {
	var ee *dagger.ExecError
	if !errors.As(err, &ee) {
		return err
	}
	out := strings.TrimSpace(ee.Stdout + "\n" + ee.Stderr)
	if out == "" {
		return err
	}
	return fmt.Errorf("%w\n%s", err, lastLines(out, outputLines))
}
