package grpcprobe

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// A real gRPC server with the standard health service: the probe waits for
// SERVING, and names the status it last saw when it never comes.
func TestRunAgainstARealHealthServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	h := health.NewServer()
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(lis)
	defer srv.Stop()
	h.SetServingStatus("shop.Cart", healthpb.HealthCheckResponse_NOT_SERVING)
	go func() {
		time.Sleep(700 * time.Millisecond)
		h.SetServingStatus("shop.Cart", healthpb.HealthCheckResponse_SERVING)
	}()
	res, err := Run(context.Background(), lis.Addr().String(), "shop.Cart", 10*time.Second)
	if err != nil || res.Attempts < 2 || !strings.Contains(res.Lines[0], `ready: gRPC health check of "shop.Cart"`) {
		t.Fatalf("Run: %v, %+v", err, res)
	}
	h.SetServingStatus("shop.Cart", healthpb.HealthCheckResponse_NOT_SERVING)
	// Long enough for the first answer on a loaded machine (a first
	// attempt cut short by the deadline is reported as the deadline).
	_, err = Run(context.Background(), lis.Addr().String(), "shop.Cart", 4*time.Second)
	if err == nil || !strings.Contains(err.Error(), "did not succeed within 4s: status NOT_SERVING") {
		t.Errorf("a service that stays NOT_SERVING: %v", err)
	}
	_, err = Run(context.Background(), lis.Addr().String(), "shop.Unknown", time.Second)
	if err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("an unknown service: %v", err)
	}
}
