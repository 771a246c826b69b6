package smoke

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadyAfterWarmUpThenRequests(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health/ready":
			if calls.Add(1) < 3 {
				http.Error(w, `{"status":"starting"}`, http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("ok"))
		case "/orders":
			if r.URL.RawQuery != "limit=1" {
				http.Error(w, "bad query", 400)
				return
			}
			w.Write([]byte("[]"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Check{
		URL: srv.URL + "/health/ready", Timeout: 10 * time.Second, Interval: 10 * time.Millisecond,
		Requests: []Request{{"GET", "/orders?limit=1", 200}, {"GET", "/missing", 404}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 3 || len(res.Lines) != 3 {
		t.Fatalf("result = %+v", res)
	}
}

func TestNotReadyShowsLastAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"status":"not ready","error":"dial tcp postgres:5432: connection refused"}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := Run(context.Background(), Check{URL: srv.URL + "/health/ready", Timeout: 200 * time.Millisecond, Interval: 20 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "last answer: HTTP 503") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
}

func TestNothingListening(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := Run(context.Background(), Check{URL: url + "/health/ready", Timeout: 200 * time.Millisecond, Interval: 20 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not answer within") {
		t.Fatalf("err = %v", err)
	}
}

func TestExactStatusAndFailingRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" {
			w.WriteHeader(204)
			return
		}
		http.Error(w, "boom", 500)
	}))
	defer srv.Close()
	_, err := Run(context.Background(), Check{URL: srv.URL + "/ready", Status: 204, Timeout: time.Second,
		Requests: []Request{{"POST", "/x", 201}}})
	if err == nil || !strings.Contains(err.Error(), "POST /x answered 500, want 201: HTTP 500 boom") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Run(context.Background(), Check{URL: srv.URL + "/ready", Status: 200, Timeout: 100 * time.Millisecond, Interval: 10 * time.Millisecond}); err == nil {
		t.Fatal("204 accepted where 200 was required")
	}
}

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest("get /orders 200")
	if err != nil || r != (Request{"GET", "/orders", 200}) {
		t.Fatalf("ParseRequest = %+v, %v", r, err)
	}
	for _, bad := range []string{"GET /x", "GET x 200", "GET /x abc", "GET /x 999"} {
		if _, err := ParseRequest(bad); err == nil {
			t.Errorf("ParseRequest(%q) accepted", bad)
		}
	}
}

func TestRunTCP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	res, err := RunTCP(context.Background(), addr, 5*time.Second)
	if err != nil || !strings.Contains(res.Lines[0], "ready: TCP connect to "+addr) {
		t.Fatalf("RunTCP: %v %+v", err, res)
	}
	lis.Close()
	if _, err := RunTCP(context.Background(), addr, 1200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "TCP connect to "+addr+" did not succeed within 1.2s") {
		t.Errorf("a closed port: %v", err)
	}
}
