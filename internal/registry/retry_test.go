package registry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted answers requests from a list of steps, one per request, then
// 200 OK. A step is a status code, or -1 to reset the connection.
type scripted struct {
	mu     sync.Mutex
	steps  []int
	header http.Header
	seen   int
	bodies []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, _ := io.ReadAll(r.Body)
	s.bodies = append(s.bodies, string(b))
	step := http.StatusOK
	if s.seen < len(s.steps) {
		step = s.steps[s.seen]
	}
	s.seen++
	s.mu.Unlock()
	if step == -1 {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
		return
	}
	for k, v := range s.header {
		w.Header()[k] = v
	}
	w.WriteHeader(step)
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (f *fakeClock) sleep(_ context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func newTestTransport(p RetryPolicy) (*retryTransport, *fakeClock) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	t := newRetryTransport(&http.Transport{DisableKeepAlives: true}, p, nil)
	t.sleep = clk.sleep
	t.now = clk.Now
	return t, clk
}

var testPolicy = RetryPolicy{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, MaxElapsed: time.Minute}

func do(t *testing.T, rt http.RoundTripper, method, url, body string) (*http.Response, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	return resp, err
}

func TestRetryOn5xx429AndResetThenSucceeds(t *testing.T) {
	srv := &scripted{steps: []int{503, 429, -1, 500, 200}}
	s := httptest.NewServer(srv)
	defer s.Close()
	rt, clk := newTestTransport(testPolicy)
	resp, err := do(t, rt, http.MethodPut, s.URL+"/v2/app/manifests/v1", `{"m":1}`)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("got %v %v", resp, err)
	}
	if srv.count() != 5 {
		t.Errorf("%d attempts, want 5", srv.count())
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	if len(clk.sleeps) != len(want) {
		t.Fatalf("waits %v, want %v", clk.sleeps, want)
	}
	for i := range want {
		if clk.sleeps[i] != want[i] {
			t.Errorf("wait %d = %s, want %s (exponential, no jitter)", i, clk.sleeps[i], want[i])
		}
	}
	for i, b := range srv.bodies {
		if b != `{"m":1}` && i != 2 { // the reset attempt may not read the body
			t.Errorf("attempt %d sent body %q, want the original body again", i, b)
		}
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	srv := &scripted{steps: []int{429}, header: http.Header{"Retry-After": {"7"}}}
	s := httptest.NewServer(srv)
	defer s.Close()
	rt, clk := newTestTransport(testPolicy)
	if _, err := do(t, rt, http.MethodGet, s.URL+"/v2/", ""); err != nil {
		t.Fatal(err)
	}
	if len(clk.sleeps) != 1 || clk.sleeps[0] != 7*time.Second {
		t.Fatalf("waits %v, want [7s] from Retry-After", clk.sleeps)
	}
}

func TestRetryAfterBeyondBudgetGivesUpAtOnce(t *testing.T) {
	srv := &scripted{steps: []int{503}, header: http.Header{"Retry-After": {"3600"}}}
	s := httptest.NewServer(srv)
	defer s.Close()
	rt, clk := newTestTransport(testPolicy)
	_, err := do(t, rt, http.MethodGet, s.URL+"/v2/app/manifests/v1", "")
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 1 || !strings.Contains(re.Reason, "asked to wait 1h0m0s") {
		t.Fatalf("got %v, want a RetryError after 1 attempt saying the registry asked to wait an hour", err)
	}
	if len(clk.sleeps) != 0 {
		t.Errorf("slept %v before giving up", clk.sleeps)
	}
	if got := Classify("resolving", "r/app:v1", err); !errors.Is(got, ErrUnavailable) {
		t.Errorf("Classify: %v, want ErrUnavailable", got)
	}
}

func TestRetryStopsAtMaxAttempts(t *testing.T) {
	srv := &scripted{steps: []int{502, 502, 502, 502, 502, 502, 502}}
	s := httptest.NewServer(srv)
	defer s.Close()
	rt, _ := newTestTransport(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond})
	_, err := do(t, rt, http.MethodHead, s.URL+"/v2/app/manifests/v1", "")
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 3 || re.Status != 502 {
		t.Fatalf("got %v, want RetryError after 3 attempts, last 502", err)
	}
	if srv.count() != 3 {
		t.Errorf("%d requests, want 3", srv.count())
	}
	if !strings.Contains(err.Error(), "HEAD /v2/app/manifests/v1") || !strings.Contains(err.Error(), "502") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func TestRetryTimeBudget(t *testing.T) {
	srv := &scripted{steps: []int{503, 503, 503, 503, 503, 503, 503, 503, 503}}
	s := httptest.NewServer(srv)
	defer s.Close()
	rt, _ := newTestTransport(RetryPolicy{MaxAttempts: 50, BaseDelay: time.Second, MaxDelay: 4 * time.Second, MaxElapsed: 10 * time.Second})
	_, err := do(t, rt, http.MethodGet, s.URL+"/v2/", "")
	var re *RetryError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "budget") {
		t.Fatalf("got %v, want the time budget to stop retries", err)
	}
	// waits 1+2+4 = 7 s; the next (4 s) would pass 10 s.
	if srv.count() != 4 {
		t.Errorf("%d attempts, want 4", srv.count())
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 405, 409} {
		srv := &scripted{steps: []int{code, code}}
		s := httptest.NewServer(srv)
		rt, clk := newTestTransport(testPolicy)
		resp, err := do(t, rt, http.MethodGet, s.URL+"/v2/app/manifests/v1", "")
		s.Close()
		if err != nil || resp.StatusCode != code {
			t.Errorf("%d: got %v %v", code, resp, err)
		}
		if srv.count() != 1 || len(clk.sleeps) != 0 {
			t.Errorf("%d: %d attempts, want 1", code, srv.count())
		}
	}
}

func TestUploadRequestsAreNotRepeatedBlindly(t *testing.T) {
	// A reset or a 500 on a PATCH may have reached the registry: the
	// transport leaves the decision to the upload-level retry.
	for _, step := range []int{-1, 500} {
		srv := &scripted{steps: []int{step}}
		s := httptest.NewServer(srv)
		rt, _ := newTestTransport(testPolicy)
		_, err := do(t, rt, http.MethodPatch, s.URL+"/v2/app/blobs/uploads/123", "layer-bytes")
		s.Close()
		if srv.count() != 1 {
			t.Errorf("step %d: %d attempts, want 1", step, srv.count())
		}
		if step == -1 && (err == nil || !retryPredicate(&wrapped{err})) {
			t.Errorf("reset on PATCH: %v should be retried by the upload-level retry", err)
		}
	}
	// 429 and 503 mean "not processed": even an upload request is repeated.
	srv := &scripted{steps: []int{429, 503}}
	s := httptest.NewServer(srv)
	defer s.Close()
	rt, _ := newTestTransport(testPolicy)
	resp, err := do(t, rt, http.MethodPost, s.URL+"/v2/app/blobs/uploads/", "")
	if err != nil || resp.StatusCode != 200 || srv.count() != 3 {
		t.Errorf("POST after 429, 503: %v %v after %d attempts", resp, err, srv.count())
	}
	// Committing an upload (PUT ...?digest=) is not idempotent either.
	srv2 := &scripted{steps: []int{502}}
	s2 := httptest.NewServer(srv2)
	defer s2.Close()
	if resp, _ := do(t, rt, http.MethodPut, s2.URL+"/v2/app/blobs/uploads/1?digest=sha256:00", ""); resp == nil || resp.StatusCode != 502 || srv2.count() != 1 {
		t.Errorf("upload commit after 502 was repeated")
	}
}

// wrapped stands for the *url.Error net/http puts around transport errors.
type wrapped struct{ err error }

func (w *wrapped) Error() string { return w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func TestRetryPredicateLeavesDecidedRequestsAlone(t *testing.T) {
	base := &roundTripError{io.ErrUnexpectedEOF}
	if retryPredicate(base) {
		t.Error("go-containerregistry's transport-level retry would repeat a request our transport already decided on")
	}
	if !retryPredicate(&wrapped{base}) {
		t.Error("an upload-level retry should restart after a network failure")
	}
	if retryPredicate(&wrapped{&roundTripError{&RetryError{Attempts: 5}}}) {
		t.Error("an exhausted request must not be retried again at the upload level")
	}
	if retryPredicate(&wrapped{context.Canceled}) {
		t.Error("a cancelled context was retried")
	}
}

func TestRetryStopsWhenContextIsCancelled(t *testing.T) {
	srv := &scripted{steps: []int{503, 503, 503}}
	s := httptest.NewServer(srv)
	defer s.Close()
	rt := newRetryTransport(http.DefaultTransport, RetryPolicy{MaxAttempts: 5, BaseDelay: time.Hour, MaxDelay: time.Hour}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v2/", nil)
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
	if srv.count() != 1 {
		t.Errorf("%d attempts", srv.count())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Wed, 01 Jan 2025 00:00:10 GMT": 10 * time.Second,
		"Tue, 31 Dec 2024 23:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestJitterStaysInBounds(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: 8 * time.Second, Jitter: 0.2}
	for i := 0; i < 200; i++ {
		for n, base := range map[int]time.Duration{1: time.Second, 3: 4 * time.Second, 6: 8 * time.Second} {
			d := p.delay(n)
			if d < time.Duration(float64(base)*0.8) || d > time.Duration(float64(base)*1.2) {
				t.Fatalf("delay(%d) = %s, want within 20%% of %s", n, d, base)
			}
		}
	}
}
