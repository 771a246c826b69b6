package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipwayci/slipway/ci/internal/dagger"
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

// mustExec is exec for worker commands: a non-zero exit is an error carrying
// the worker's own message (which names the service, file or reference).
func mustExec(ctx context.Context, c *dagger.Container, args []string) (*execResult, error) {
	r, err := exec(ctx, c, args)
	if err != nil {
		return nil, err
	}
	if r.exit != 0 {
		msg := strings.TrimSpace(r.stderr)
		if msg == "" {
			msg = strings.TrimSpace(r.stdout)
		}
		return r, fmt.Errorf("%s", msg)
	}
	return r, nil
}

// progress prints one line of progress; the engine shows it live.
func progress(format string, args ...any) {
	fmt.Printf("slipway: "+format+"\n", args...)
}
