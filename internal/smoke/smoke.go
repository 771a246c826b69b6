// Package smoke asks a freshly started service whether it is healthy: it
// polls a readiness URL until it answers as expected or a deadline passes,
// then checks a short list of declared requests. A failure carries the last
// response seen, so the report shows what the service said.
package smoke

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Request is one declared request and the status it must answer with.
type Request struct {
	Method string
	Path   string
	Status int
}

// ParseRequest reads "GET /orders 200".
func ParseRequest(s string) (Request, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return Request{}, fmt.Errorf("request %q: want \"METHOD /path STATUS\"", s)
	}
	st, err := strconv.Atoi(f[2])
	if err != nil || st < 100 || st > 599 {
		return Request{}, fmt.Errorf("request %q: %q is not an HTTP status", s, f[2])
	}
	if !strings.HasPrefix(f[1], "/") {
		return Request{}, fmt.Errorf("request %q: path must start with /", s)
	}
	return Request{Method: strings.ToUpper(f[0]), Path: f[1], Status: st}, nil
}

// Check is what to probe.
type Check struct {
	// URL of the readiness endpoint.
	URL string
	// Status expected from it; 0 means any 2xx.
	Status int
	// Timeout for the whole check.
	Timeout time.Duration
	// Interval between readiness attempts (default 500ms).
	Interval time.Duration
	// Requests checked once the service is ready.
	Requests []Request
	// Client to use (default: 5s timeout per request).
	Client *http.Client
}

// Result describes a successful check.
type Result struct {
	Attempts int
	Ready    time.Duration
	Lines    []string
}

func (c Check) ok(status int) bool {
	if c.Status == 0 {
		return status/100 == 2
	}
	return status == c.Status
}

type response struct {
	status int
	body   string
}

func (r response) String() string {
	return fmt.Sprintf("HTTP %d %s", r.status, strings.TrimSpace(r.body))
}

func get(ctx context.Context, client *http.Client, method, u string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return response{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return response{status: resp.StatusCode, body: string(b)}, nil
}

// Run performs the check.
func Run(ctx context.Context, c Check) (Result, error) {
	if c.Timeout <= 0 {
		c.Timeout = time.Minute
	}
	if c.Interval <= 0 {
		c.Interval = 500 * time.Millisecond
	}
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	base, err := url.Parse(c.URL)
	if err != nil {
		return Result{}, fmt.Errorf("readiness URL %q: %w", c.URL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	start := time.Now()
	var res Result
	var last response
	var lastErr error
	want := "2xx"
	if c.Status != 0 {
		want = strconv.Itoa(c.Status)
	}
	for {
		res.Attempts++
		r, err := get(ctx, client, http.MethodGet, c.URL)
		if err == nil && c.ok(r.status) {
			res.Ready = time.Since(start)
			res.Lines = append(res.Lines, fmt.Sprintf("ready: GET %s -> %d after %s (%d attempts)", base.Path, r.status, res.Ready.Round(time.Millisecond), res.Attempts))
			break
		}
		if err == nil {
			last, lastErr = r, nil
		} else if ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr == nil && last.status != 0 {
				return res, fmt.Errorf("readiness GET %s did not answer %s within %s; last answer: %s", base.Path, want, c.Timeout, last)
			}
			return res, fmt.Errorf("readiness GET %s did not answer within %s: %v", base.Path, c.Timeout, lastErr)
		case <-time.After(c.Interval):
		}
	}
	for _, rq := range c.Requests {
		u := *base
		u.Path, u.RawQuery = rq.Path, ""
		if i := strings.IndexByte(rq.Path, '?'); i >= 0 {
			u.Path, u.RawQuery = rq.Path[:i], rq.Path[i+1:]
		}
		r, err := get(ctx, client, rq.Method, u.String())
		if err != nil {
			return res, fmt.Errorf("%s %s: %w", rq.Method, rq.Path, err)
		}
		if r.status != rq.Status {
			return res, fmt.Errorf("%s %s answered %d, want %d: %s", rq.Method, rq.Path, r.status, rq.Status, r)
		}
		res.Lines = append(res.Lines, fmt.Sprintf("%s %s -> %d", rq.Method, rq.Path, r.status))
	}
	return res, nil
}

// Poll calls attempt until it succeeds or timeout passes, every interval,
// and says how long it took; the error names what was asked and carries
// attempt's last error. It is the readiness loop of every protocol.
func Poll(ctx context.Context, what string, timeout, interval time.Duration, attempt func(context.Context) error) (Result, error) {
	if timeout <= 0 {
		timeout = time.Minute
	}
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var res Result
	var lastErr error
	for {
		res.Attempts++
		err := attempt(ctx)
		if err == nil {
			res.Ready = time.Since(start)
			res.Lines = append(res.Lines, fmt.Sprintf("ready: %s after %s (%d attempts)", what, res.Ready.Round(time.Millisecond), res.Attempts))
			return res, nil
		}
		if ctx.Err() == nil || lastErr == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%s did not succeed within %s: %v", what, timeout, lastErr)
		case <-time.After(interval):
		}
	}
}

// RunTCP waits until addr (host:port) accepts a TCP connection.
func RunTCP(ctx context.Context, addr string, timeout time.Duration) (Result, error) {
	var d net.Dialer
	return Poll(ctx, "TCP connect to "+addr, timeout, 0, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := d.DialContext(actx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}
