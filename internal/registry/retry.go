package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// RetryPolicy says which failures are retried, how often and for how long.
//
// Retried: HTTP 429 and 503 (the registry says it did not process the
// request), other 5xx and 408, connection resets, refused connections,
// unexpected EOFs and timeouts. Never retried: 400, 401, 403, 404 and every
// other 4xx, which fail at once.
//
// A request that cannot be safely repeated (starting or feeding a blob
// upload) is repeated only on 429/503 or when the connection could not be
// opened; any other failure of a blob upload restarts that blob's upload as
// a whole, which first asks the registry whether the blob already landed, so
// nothing is uploaded twice.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts per request, the first included.
	// 1 disables retries.
	MaxAttempts int
	// BaseDelay is the wait before the first retry; each further wait
	// doubles, up to MaxDelay.
	BaseDelay time.Duration
	// MaxDelay caps one computed wait (a Retry-After header may ask for a
	// longer one: it is honoured if it fits in MaxElapsed).
	MaxDelay time.Duration
	// MaxElapsed bounds the time spent on one request, retries included: no
	// retry starts after it. 0 means no bound beyond MaxAttempts.
	MaxElapsed time.Duration
	// Jitter is the fraction (0 to 1) by which a wait is randomly stretched
	// or shrunk, so that many clients do not retry in lockstep.
	Jitter float64
}

// DefaultRetryPolicy is used when no WithRetry option is given: 5 attempts,
// waits of 0.5 s, 1 s, 2 s, 4 s (±20 %), at most 2 minutes per request.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts: 5,
		BaseDelay:   500 * time.Millisecond,
		MaxDelay:    10 * time.Second,
		MaxElapsed:  2 * time.Minute,
		Jitter:      0.2,
	}
}

// NoRetry is a policy that makes exactly one attempt per request.
func NoRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 1}
}

// Validate reports a policy that cannot be applied.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("retry policy: MaxAttempts is %d, must be at least 1", p.MaxAttempts)
	case p.MaxAttempts > 100:
		return fmt.Errorf("retry policy: MaxAttempts is %d, must be at most 100", p.MaxAttempts)
	case p.BaseDelay < 0, p.MaxDelay < 0, p.MaxElapsed < 0:
		return errors.New("retry policy: delays must not be negative")
	case p.MaxAttempts > 1 && p.BaseDelay == 0:
		return errors.New("retry policy: BaseDelay must be positive when retries are enabled")
	case p.MaxDelay != 0 && p.MaxDelay < p.BaseDelay:
		return fmt.Errorf("retry policy: MaxDelay %s is below BaseDelay %s", p.MaxDelay, p.BaseDelay)
	case p.Jitter < 0 || p.Jitter > 1:
		return fmt.Errorf("retry policy: Jitter is %g, must be within [0, 1]", p.Jitter)
	}
	return nil
}

// delay is the computed wait before retry number n (1 for the first retry),
// jitter included, before any Retry-After.
func (p RetryPolicy) delay(n int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < n; i++ {
		d *= 2
		if p.MaxDelay > 0 && d >= p.MaxDelay {
			d = p.MaxDelay
			break
		}
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
	}
	if p.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + p.Jitter*(2*rand.Float64()-1)))
	}
	return d
}

// backoff is the same policy expressed for go-containerregistry's
// operation-level retries (a whole blob upload, a manifest commit). A blob
// upload is three requests that cannot be repeated one by one (start, feed,
// commit), so a whole upload fails far more often than a single request
// under the same fault rate (at 30 % per request, two uploads in three):
// uploads get four times the attempts of a request, each restarting from the
// "is the blob already there?" check, so nothing is uploaded twice. The
// delay is constant (twice the base delay, at most MaxDelay): the backoff
// go-containerregistry uses stops retrying altogether once a growing delay
// reaches its cap, which would silently cut the attempts short.
func (p RetryPolicy) backoff() remote.Backoff {
	d := 2 * p.BaseDelay
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
	}
	return remote.Backoff{
		Duration: d,
		Factor:   1,
		Jitter:   p.Jitter,
		Steps:    p.MaxAttempts * uploadAttemptFactor,
	}
}

// uploadAttemptFactor multiplies MaxAttempts for whole-upload restarts.
const uploadAttemptFactor = 4

// RetryError is returned when a request failed with retryable errors until
// the policy gave up. It is wrapped in an *Error of kind ErrUnavailable.
type RetryError struct {
	// Method and Path identify the request (the query string is left out).
	Method, Path string
	// Attempts is the number of attempts made.
	Attempts int
	// Elapsed is the time from the first attempt to giving up.
	Elapsed time.Duration
	// Status is the HTTP status of the last attempt, 0 if it failed without
	// a response.
	Status int
	// Reason says why retrying stopped.
	Reason string
	// Err is the network error of the last attempt, if any.
	Err error
}

// Error implements error.
func (e *RetryError) Error() string {
	last := ""
	switch {
	case e.Status != 0:
		last = fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	case e.Err != nil:
		last = e.Err.Error()
	}
	return fmt.Sprintf("%s %s: gave up after %d attempts in %s (%s); last failure: %s",
		e.Method, e.Path, e.Attempts, e.Elapsed.Round(time.Millisecond), e.Reason, last)
}

// Unwrap returns the network error of the last attempt.
func (e *RetryError) Unwrap() error { return e.Err }

// retryTransport retries requests according to a RetryPolicy. It sits below
// go-containerregistry's authentication and is the only place where single
// HTTP requests are repeated.
type retryTransport struct {
	inner  http.RoundTripper
	policy RetryPolicy
	log    *slog.Logger
	// sleep waits for d or until ctx is done; replaced in tests.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

func newRetryTransport(inner http.RoundTripper, p RetryPolicy, log *slog.Logger) *retryTransport {
	return &retryTransport{inner: inner, policy: p, log: log, sleep: sleepCtx, now: time.Now}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	start := t.now()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	idempotent := isIdempotent(req)
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			r = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("%s %s: rewinding the request body for a retry: %w", req.Method, req.URL.Path, err)
				}
				r.Body = body
			}
		}
		resp, err := t.inner.RoundTrip(r)

		var (
			retry      bool
			retryAfter time.Duration
			status     int
		)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, err
			}
			// A request that never left this machine can always be sent
			// again; one that may have reached the registry only if
			// repeating it is harmless.
			retry = replayable && isRetryableNetError(err) && (idempotent || isDialError(err))
		default:
			status = resp.StatusCode
			switch {
			case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
				retry = replayable
				retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), t.now())
			case status == http.StatusRequestTimeout || status >= 500:
				retry = replayable && idempotent
			}
		}
		if !retry {
			if err != nil {
				return nil, &roundTripError{err}
			}
			return resp, nil
		}

		fail := &RetryError{Method: req.Method, Path: req.URL.Path, Attempts: attempt, Status: status, Err: err}
		if attempt >= t.policy.MaxAttempts {
			drain(resp)
			fail.Elapsed = t.now().Sub(start)
			fail.Reason = "attempts exhausted"
			return nil, &roundTripError{fail}
		}
		wait := t.policy.delay(attempt)
		if retryAfter > wait {
			wait = retryAfter
		}
		elapsed := t.now().Sub(start)
		if t.policy.MaxElapsed > 0 && elapsed+wait > t.policy.MaxElapsed {
			drain(resp)
			fail.Elapsed = elapsed
			if retryAfter > 0 && retryAfter == wait {
				fail.Reason = fmt.Sprintf("the registry asked to wait %s, beyond the retry time budget of %s", retryAfter, t.policy.MaxElapsed)
			} else {
				fail.Reason = fmt.Sprintf("retry time budget of %s spent", t.policy.MaxElapsed)
			}
			return nil, &roundTripError{fail}
		}
		drain(resp)
		if t.log != nil {
			last := ""
			if err != nil {
				last = err.Error()
			} else {
				last = fmt.Sprintf("HTTP %d", status)
			}
			t.log.LogAttrs(ctx, slog.LevelWarn, "registry request failed, retrying",
				slog.String("method", req.Method), slog.String("host", req.URL.Host),
				slog.String("path", req.URL.Path), slog.Int("attempt", attempt),
				slog.String("failure", last), slog.Duration("wait", wait))
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// roundTripError marks an error as returned by retryTransport itself: the
// retry decision for this request has been made. go-containerregistry wraps
// its own retry transport around ours and consults the same predicate; it
// receives this type unwrapped and, seeing it, does not retry again. Its
// operation-level retries (a whole blob upload) receive it wrapped in a
// *url.Error and decide on the cause.
type roundTripError struct{ err error }

func (e *roundTripError) Error() string { return e.err.Error() }
func (e *roundTripError) Unwrap() error { return e.err }

// retryPredicate decides go-containerregistry's retries; see roundTripError.
func retryPredicate(err error) bool {
	if err == nil {
		return false
	}
	if _, direct := err.(*roundTripError); direct {
		return false
	}
	var exhausted *RetryError
	if errors.As(err, &exhausted) {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		code := terr.StatusCode
		return terr.Temporary() || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
	}
	return isRetryableNetError(err)
}

func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete:
		return true
	case http.MethodPut:
		// Committing a blob upload consumes the upload session: repeating
		// it fails even when the first one succeeded. Manifest PUTs are
		// idempotent (same bytes, same digest).
		return !strings.Contains(req.URL.Path, "/blobs/uploads/")
	}
	return false
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isRetryableNetError reports network failures worth another attempt.
func isRetryableNetError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// net/http reports a server closing a kept-alive connection this way.
	return strings.Contains(err.Error(), "server closed idle connection") ||
		strings.Contains(err.Error(), "connection reset by peer")
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func drain(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
