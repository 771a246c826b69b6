// Package registry pushes, resolves, tags, copies and deletes container
// images in OCI registries, with chosen retries and typed errors. It is the
// plain-Go core under slipway's publish and promote stages and never imports
// Dagger.
//
// A Client is built once per run with New and its With* options (credentials,
// insecure hosts, retry policy, transport, logger), which are validated then.
// Every method takes a context first and returns errors that wrap one of the
// sentinel errors (ErrNotFound, ErrUnauthorized, ...) inside an *Error that
// names the operation and the reference.
//
// Build avoidance: an image built for a service input digest is published
// with the tag InputTag(digest) and carries the config label InputDigestLabel;
// FindByInputDigest finds it again and trusts it only if the label matches.
package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Client talks to OCI registries. It is safe for concurrent use.
type Client struct {
	keys      *keychain
	insecure  map[string]bool
	policy    RetryPolicy
	transport http.RoundTripper // the retrying transport
	log       *slog.Logger
	progress  func(Progress)
	userAgent string
	jobs      int
}

// Progress reports bytes written during a push or copy.
type Progress struct {
	// Ref is the reference being written.
	Ref string
	// Complete and Total are byte counts; Total is the sum of the sizes of
	// all blobs and manifests to write, including those already present.
	Complete, Total int64
}

// Option configures a Client; see New.
type Option func(*config) error

type config struct {
	explicit  map[string]authn.AuthConfig
	docker    map[string]authn.AuthConfig
	insecure  map[string]bool
	policy    RetryPolicy
	transport http.RoundTripper
	log       *slog.Logger
	progress  func(Progress)
	userAgent string
	jobs      int
}

// WithBasicAuth uses username and password for registry host (for example
// "ghcr.io" or "127.0.0.1:5000"; "docker.io" means Docker Hub). The password
// may be a personal access token, as GitHub's registry expects with the
// workflow's GITHUB_TOKEN. Credentials are never logged.
func WithBasicAuth(host, username, password string) Option {
	return func(c *config) error {
		if host == "" {
			return fmt.Errorf("WithBasicAuth: empty registry host")
		}
		if username == "" || password == "" {
			return fmt.Errorf("WithBasicAuth for %s: username and password must both be non-empty", host)
		}
		c.explicit[normalizeHost(host)] = authn.AuthConfig{Username: username, Password: password}
		return nil
	}
}

// WithToken sends token to registry host as a bearer token on every request
// (a registry access token obtained elsewhere). For registries that take a
// token as a password (GitHub's ghcr.io, GitLab), use WithBasicAuth instead.
func WithToken(host, token string) Option {
	return func(c *config) error {
		if host == "" {
			return fmt.Errorf("WithToken: empty registry host")
		}
		if token == "" {
			return fmt.Errorf("WithToken for %s: empty token", host)
		}
		c.explicit[normalizeHost(host)] = authn.AuthConfig{RegistryToken: token}
		return nil
	}
}

// WithDockerConfig reads credentials from a Docker config file (the
// "auths" entries of config.json, with "auth" or username/password,
// identitytoken or registrytoken). Credential helpers are not run. Explicit
// WithBasicAuth/WithToken credentials win for the same host.
func WithDockerConfig(path string) Option {
	return func(c *config) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading docker config: %w", err)
		}
		m, err := parseDockerConfig(path, data)
		if err != nil {
			return err
		}
		for h, a := range m {
			c.docker[h] = a
		}
		return nil
	}
}

// WithDockerConfigJSON is WithDockerConfig for a config held in memory (for
// example read from a secret).
func WithDockerConfigJSON(data []byte) Option {
	return func(c *config) error {
		m, err := parseDockerConfig("(in memory)", data)
		if err != nil {
			return err
		}
		for h, a := range m {
			c.docker[h] = a
		}
		return nil
	}
}

// WithInsecure allows plain HTTP to the named registry hosts. Loopback
// addresses, "localhost", "*.local" and private (RFC 1918) addresses already
// fall back to plain HTTP when HTTPS is not offered; every other host is
// spoken to over HTTPS only unless named here.
func WithInsecure(hosts ...string) Option {
	return func(c *config) error {
		for _, h := range hosts {
			if strings.TrimSpace(h) == "" {
				return fmt.Errorf("WithInsecure: empty host")
			}
			c.insecure[normalizeHost(h)] = true
		}
		return nil
	}
}

// WithRetry sets the retry policy (see RetryPolicy). The policy is validated
// when the Client is built.
func WithRetry(p RetryPolicy) Option {
	return func(c *config) error {
		if err := p.Validate(); err != nil {
			return err
		}
		c.policy = p
		return nil
	}
}

// WithTransport sets the HTTP transport under the retries and the
// authentication (for tests, proxies or custom TLS). The default is a clone
// of http.DefaultTransport with bounded connect, TLS and response-header
// timeouts.
func WithTransport(t http.RoundTripper) Option {
	return func(c *config) error {
		if t == nil {
			return fmt.Errorf("WithTransport: nil transport")
		}
		c.transport = t
		return nil
	}
}

// WithLogger logs retries and decisions (never credentials) to l.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("WithLogger: nil logger")
		}
		c.log = l
		return nil
	}
}

// WithProgress calls fn as pushes and copies write bytes. fn is called from
// one goroutine per operation and must not block for long.
func WithProgress(fn func(Progress)) Option {
	return func(c *config) error {
		c.progress = fn
		return nil
	}
}

// WithUserAgent sets the User-Agent sent to registries.
func WithUserAgent(ua string) Option {
	return func(c *config) error {
		c.userAgent = ua
		return nil
	}
}

// WithJobs sets how many blobs are uploaded concurrently per push (default 4).
func WithJobs(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("WithJobs: %d is outside [1, 64]", n)
		}
		c.jobs = n
		return nil
	}
}

// New builds a Client. Options are applied in order and validated once.
func New(opts ...Option) (*Client, error) {
	c := &config{
		explicit:  map[string]authn.AuthConfig{},
		docker:    map[string]authn.AuthConfig{},
		insecure:  map[string]bool{},
		policy:    DefaultRetryPolicy(),
		userAgent: "slipway",
		jobs:      4,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("configuring the registry client: %w", err)
		}
	}
	base := c.transport
	if base == nil {
		base = defaultTransport()
	}
	log := c.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		keys:      &keychain{explicit: c.explicit, docker: c.docker},
		insecure:  c.insecure,
		policy:    c.policy,
		transport: newRetryTransport(base, c.policy, log),
		log:       log,
		progress:  c.progress,
		userAgent: c.userAgent,
		jobs:      c.jobs,
	}, nil
}

func defaultTransport() http.RoundTripper {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   50,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}
}

// RetryPolicy returns the client's retry policy.
func (c *Client) RetryPolicy() RetryPolicy { return c.policy }

// Logger returns the client's logger (a discarding one if none was set).
func (c *Client) Logger() *slog.Logger { return c.log }

// RemoteOptions returns go-containerregistry options carrying the client's
// credentials, transport, retries and ctx. Sibling packages (signing) use
// them so that their registry traffic behaves exactly like the client's.
func (c *Client) RemoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.keys),
		remote.WithTransport(c.transport),
		// Single requests are retried by our transport; these govern
		// go-containerregistry's restarts of whole blob uploads and manifest
		// commits, with the same policy.
		remote.WithRetryBackoff(c.policy.backoff()),
		remote.WithRetryPredicate(retryPredicate),
		remote.WithRetryStatusCodes(),
		remote.WithUserAgent(c.userAgent),
		remote.WithJobs(c.jobs),
	}
}

// NameOptions returns the name options under which the client parses
// references (plain HTTP for the hosts given to WithInsecure).
func (c *Client) NameOptions(ref string) []name.Option {
	if len(c.insecure) == 0 {
		return nil
	}
	host := ref
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	if c.insecure[normalizeHost(host)] {
		return []name.Option{name.Insecure}
	}
	return nil
}

// ParseReference parses a tag or digest reference ("host/repo:tag",
// "host/repo@sha256:..."); a reference without either means ":latest".
func (c *Client) ParseReference(s string) (name.Reference, error) {
	r, err := name.ParseReference(s, c.NameOptions(s)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadReference, s, err)
	}
	return r, nil
}

// ParseDigest parses a digest reference ("host/repo@sha256:..."), refusing
// tags.
func (c *Client) ParseDigest(s string) (name.Digest, error) {
	d, err := name.NewDigest(s, c.NameOptions(s)...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("%w: %q is not a digest reference (repo@sha256:...): %v", ErrBadReference, s, err)
	}
	return d, nil
}

// ParseRepository parses a repository name ("host/repo"), refusing tags and
// digests.
func (c *Client) ParseRepository(s string) (name.Repository, error) {
	if strings.Contains(s, "@") || strings.Contains(s[strings.LastIndexByte(s, '/')+1:], ":") {
		return name.Repository{}, fmt.Errorf("%w: %q is not a repository name (it has a tag or digest)", ErrBadReference, s)
	}
	r, err := name.NewRepository(s, c.NameOptions(s)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w: %q: %v", ErrBadReference, s, err)
	}
	return r, nil
}

// progressOptions adds a progress channel feeding c.progress for ref, and
// returns a function to call when the operation is over.
func (c *Client) progressOptions(ref string) ([]remote.Option, func()) {
	if c.progress == nil {
		return nil, func() {}
	}
	ch := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			c.progress(Progress{Ref: ref, Complete: u.Complete, Total: u.Total})
		}
	}()
	// go-containerregistry closes the channel when the write ends.
	return []remote.Option{remote.WithProgress(ch)}, func() { <-done }
}
