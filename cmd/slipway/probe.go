package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/slipwayci/slipway/internal/smoke"
)

func init() {
	register("probe", "smoke-test a running service: readiness, then declared requests", runProbe)
}

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("probe", stderr)
	url := fs.String("url", "", "readiness URL (required)")
	status := fs.Int("status", 0, "expected readiness status (default: any 2xx)")
	timeout := fs.Duration("timeout", time.Minute, "deadline for the whole probe")
	var requests listFlag
	fs.Func("request", `a further request, "METHOD /path STATUS" (repeatable)`, func(v string) error {
		requests = append(requests, v)
		return nil
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	if *url == "" {
		return fmt.Errorf("%w: -url is required", errUsage)
	}
	check := smoke.Check{URL: *url, Status: *status, Timeout: *timeout}
	for _, r := range requests {
		rq, err := smoke.ParseRequest(r)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		check.Requests = append(check.Requests, rq)
	}
	res, err := smoke.Run(ctx, check)
	for _, l := range res.Lines {
		fmt.Fprintln(stdout, l)
	}
	return err
}
