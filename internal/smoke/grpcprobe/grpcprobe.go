// Package grpcprobe is the smoke test of gRPC services: the standard health
// service (grpc.health.v1.Health/Check) must answer SERVING. It is apart
// from package smoke so that only the worker links gRPC: the module imports
// smoke and must stay light to load.
package grpcprobe

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/slipwayci/slipway/internal/smoke"
)

// Run waits until the gRPC server at addr (host:port) says service ("" for
// the server as a whole) is SERVING, over plain-text HTTP/2 as between
// containers of one test.
func Run(ctx context.Context, addr, service string, timeout time.Duration) (smoke.Result, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return smoke.Result{}, fmt.Errorf("gRPC target %s: %w", addr, err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	what := fmt.Sprintf("gRPC health check of %q at %s", service, addr)
	return smoke.Poll(ctx, what, timeout, 0, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := client.Check(actx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			return err
		}
		if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("status %s", st)
		}
		return nil
	})
}
