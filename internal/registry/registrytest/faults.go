package registrytest

import (
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is a kind of injected failure.
type Fault int

// The injected failures. Each happens before the registry sees the request,
// as when a load balancer or proxy in front of a registry fails.
const (
	// Unavailable answers 503 Service Unavailable.
	Unavailable Fault = iota
	// TooManyRequests answers 429 with a Retry-After header.
	TooManyRequests
	// Reset closes the TCP connection with a RST, without an answer.
	Reset
	// Slow holds the request for FaultConfig.SlowDelay, then answers it
	// normally: a registry under load. Not among the default kinds.
	Slow
)

func (f Fault) String() string {
	switch f {
	case Unavailable:
		return "503"
	case TooManyRequests:
		return "429"
	case Reset:
		return "reset"
	case Slow:
		return "slow"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// FaultConfig configures Faults.
type FaultConfig struct {
	// Rate is the fraction of requests failed (0 to 1).
	Rate float64
	// Kinds are the faults to choose from, uniformly; all three if empty.
	Kinds []Fault
	// RetryAfter is the Retry-After value sent with 429, in seconds.
	RetryAfter int
	// SlowDelay is how long a Slow fault holds a request; 0 means 2s.
	SlowDelay time.Duration
	// MaxConsecutive bounds how many times in a row the same request
	// (method and path, upload session ids folded together) is failed, so
	// that a client with enough retries always gets through: the loop is
	// bounded. 0 means 3.
	MaxConsecutive int
	// Seed makes the sequence of decisions reproducible.
	Seed uint64
}

// Injector fails a fraction of requests before passing the others to the
// registry behind it, and counts what it did.
type Injector struct {
	next http.Handler
	cfg  FaultConfig

	mu      sync.Mutex
	rng     *rand.Rand
	streak  map[string]int
	byKind  map[Fault]int
	total   atomic.Int64
	enabled atomic.Bool
}

// Faults wraps next in an Injector.
func Faults(next http.Handler, cfg FaultConfig) *Injector {
	if len(cfg.Kinds) == 0 {
		cfg.Kinds = []Fault{Unavailable, TooManyRequests, Reset}
	}
	if cfg.MaxConsecutive == 0 {
		cfg.MaxConsecutive = 3
	}
	if cfg.SlowDelay == 0 {
		cfg.SlowDelay = 2 * time.Second
	}
	in := &Injector{
		next:   next,
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)),
		streak: map[string]int{},
		byKind: map[Fault]int{},
	}
	in.enabled.Store(true)
	return in
}

// SetEnabled turns injection on or off (on at start).
func (in *Injector) SetEnabled(on bool) { in.enabled.Store(on) }

// Injected returns how many faults of each kind were injected.
func (in *Injector) Injected() map[Fault]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[Fault]int, len(in.byKind))
	for k, v := range in.byKind {
		out[k] = v
	}
	return out
}

// Requests returns how many requests reached the injector.
func (in *Injector) Requests() int64 { return in.total.Load() }

// requestKey folds upload session ids so that restarting an upload counts as
// the same request for MaxConsecutive.
func requestKey(r *http.Request) string {
	p := r.URL.Path
	if i := strings.Index(p, "/blobs/uploads/"); i >= 0 {
		p = p[:i] + "/blobs/uploads/*"
	}
	return r.Method + " " + p
}

func (in *Injector) decide(r *http.Request) (Fault, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	key := requestKey(r)
	if in.rng.Float64() >= in.cfg.Rate || in.streak[key] >= in.cfg.MaxConsecutive {
		in.streak[key] = 0
		return 0, false
	}
	in.streak[key]++
	f := in.cfg.Kinds[in.rng.IntN(len(in.cfg.Kinds))]
	in.byKind[f]++
	return f, true
}

// ServeHTTP implements http.Handler.
func (in *Injector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.total.Add(1)
	if !in.enabled.Load() {
		in.next.ServeHTTP(w, r)
		return
	}
	f, fail := in.decide(r)
	if !fail {
		in.next.ServeHTTP(w, r)
		return
	}
	switch f {
	case Slow:
		select {
		case <-time.After(in.cfg.SlowDelay):
		case <-r.Context().Done():
			return
		}
		in.next.ServeHTTP(w, r)
	case Unavailable:
		writeRegistryError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "injected fault")
	case TooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(in.cfg.RetryAfter))
		writeRegistryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "injected fault")
	case Reset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", "cannot hijack")
			return
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST
		}
		_ = conn.Close()
	}
}
