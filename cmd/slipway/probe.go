package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/slipwayci/slipway/internal/smoke"
	"github.com/slipwayci/slipway/internal/smoke/grpcprobe"
)

func init() {
	register("probe", "smoke-test a running service: readiness, then declared requests", runProbe)
}

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("probe", stderr)
	url := fs.String("url", "", "readiness URL (http; required)")
	protocol := fs.String("protocol", "http", "http, grpc (grpc.health.v1 must answer SERVING) or tcp (the port must accept a connection)")
	addr := fs.String("addr", "", "host:port to probe (grpc and tcp; required for them)")
	grpcService := fs.String("grpc-service", "", "grpc: the service name to ask the health service about (default: the server)")
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
	switch *protocol {
	case "grpc", "tcp":
		if *addr == "" {
			return fmt.Errorf("%w: -addr is required with -protocol %s", errUsage, *protocol)
		}
		var res smoke.Result
		var err error
		if *protocol == "grpc" {
			res, err = grpcprobe.Run(ctx, *addr, *grpcService, *timeout)
		} else {
			res, err = smoke.RunTCP(ctx, *addr, *timeout)
		}
		for _, l := range res.Lines {
			fmt.Fprintln(stdout, l)
		}
		return err
	case "http":
	default:
		return fmt.Errorf("%w: -protocol %q: want http, grpc or tcp", errUsage, *protocol)
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
