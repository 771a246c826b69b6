// Package github opens and updates pull requests through the GitHub REST
// API (github.com or GitHub Enterprise Server), using only the three
// endpoints slipway needs: list pull requests by head branch, create one,
// update one.
package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// DefaultBaseURL is the API root of github.com. GitHub Enterprise Server's
// is https://<host>/api/v3.
const DefaultBaseURL = "https://api.github.com"

// Sentinel errors.
var (
	// ErrUnauthorized means the token was refused (HTTP 401 or 403).
	ErrUnauthorized = errors.New("GitHub refused the token")
	// ErrInvalidRepository means the owner/name is malformed.
	ErrInvalidRepository = errors.New("invalid GitHub repository")
)

// APIError is a non-success answer of the API.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Message string
}

// Error renders the method, path, status and GitHub's message.
func (e *APIError) Error() string {
	return fmt.Sprintf("GitHub API %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// Unwrap maps 401 and 403 to ErrUnauthorized.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return ErrUnauthorized
	}
	return nil
}

// Client talks to one repository's pull requests.
type Client struct {
	base   *url.URL
	token  string
	owner  string
	repo   string
	http   *http.Client
	tries  int
	settle time.Duration
}

// Option configures a Client.
type Option func(*Client) error

// WithBaseURL sets the API root, e.g. https://ghe.example.com/api/v3.
func WithBaseURL(u string) Option {
	return func(c *Client) error {
		p, err := url.Parse(strings.TrimSuffix(u, "/"))
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("GitHub API base URL %q: want http(s)://host[/path]", u)
		}
		c.base = p
		return nil
	}
}

// WithHTTPClient sets the HTTP client (timeouts, proxies, test servers).
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) error {
		if h == nil {
			return errors.New("nil HTTP client")
		}
		c.http = h
		return nil
	}
}

// WithRetries sets how many times idempotent requests (list, update) are
// tried on a 5xx answer or a transport error, and the first pause between
// tries (doubled each time). Default 3 tries, 500ms.
func WithRetries(tries int, pause time.Duration) Option {
	return func(c *Client) error {
		if tries < 1 || pause < 0 {
			return fmt.Errorf("retries: want tries >= 1 and pause >= 0, got %d, %s", tries, pause)
		}
		c.tries, c.settle = tries, pause
		return nil
	}
}

var repoRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// New returns a client for the repository "owner/name", authenticating
// with token (sent as a bearer token, never logged).
func New(repository, token string, opts ...Option) (*Client, error) {
	if !repoRE.MatchString(repository) {
		return nil, fmt.Errorf("%w: %q (want owner/name)", ErrInvalidRepository, repository)
	}
	if token == "" {
		return nil, errors.New("GitHub token is empty")
	}
	owner, name, _ := strings.Cut(repository, "/")
	c := &Client{token: token, owner: owner, repo: strings.TrimSuffix(name, ".git"), http: http.DefaultClient, tries: 3, settle: 500 * time.Millisecond}
	if err := WithBaseURL(DefaultBaseURL)(c); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// RepositoryFromURL extracts "owner/name" from a clone URL such as
// https://github.com/owner/name.git or git@github.com:owner/name.git.
func RepositoryFromURL(u string) (string, error) {
	s := u
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
		if j := strings.IndexByte(s, '/'); j >= 0 {
			s = s[j+1:]
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSuffix(strings.Trim(s, "/"), ".git")
	parts := strings.Split(s, "/")
	if len(parts) < 2 {
		return "", fmt.Errorf("%w: cannot find owner/name in %q", ErrInvalidRepository, u)
	}
	r := parts[len(parts)-2] + "/" + parts[len(parts)-1]
	if !repoRE.MatchString(r) {
		return "", fmt.Errorf("%w: cannot find owner/name in %q", ErrInvalidRepository, u)
	}
	return r, nil
}

// NewPullRequest is what to open.
type NewPullRequest struct {
	// Head is the branch holding the changes (in the same repository).
	Head string
	// Base is the branch to merge into.
	Base  string
	Title string
	Body  string
}

// PullRequest is an open pull request.
type PullRequest struct {
	Number int    `json:"number"`
	URL    string `json:"html_url"`
	State  string `json:"state"`
	Title  string `json:"title"`
	// Created is true when this call opened it, false when it updated an
	// existing one.
	Created bool `json:"-"`
}

// EnsurePullRequest opens a pull request from pr.Head into pr.Base, or,
// when one is already open for that head branch, updates its title, body
// and base instead of opening a second one.
func (c *Client) EnsurePullRequest(ctx context.Context, pr NewPullRequest) (*PullRequest, error) {
	if pr.Head == "" || pr.Base == "" {
		return nil, errors.New("pull request needs a head and a base branch")
	}
	existing, err := c.find(ctx, pr.Head)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		created, err := c.create(ctx, pr)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity {
			return created, err
		}
		// 422: perhaps another run opened it between our list and create.
		again, ferr := c.find(ctx, pr.Head)
		if ferr != nil {
			return nil, ferr
		}
		if again == nil {
			return nil, err
		}
		existing = again
	}
	return c.update(ctx, existing.Number, pr)
}

func (c *Client) find(ctx context.Context, head string) (*PullRequest, error) {
	q := url.Values{"state": {"open"}, "head": {c.owner + ":" + head}, "per_page": {"10"}}
	var prs []PullRequest
	if err := c.do(ctx, http.MethodGet, c.path("pulls")+"?"+q.Encode(), nil, &prs, true); err != nil {
		return nil, err
	}
	if len(prs) == 0 {
		return nil, nil
	}
	return &prs[0], nil
}

func (c *Client) create(ctx context.Context, pr NewPullRequest) (*PullRequest, error) {
	body := map[string]any{"title": pr.Title, "head": pr.Head, "base": pr.Base, "body": pr.Body, "maintainer_can_modify": false}
	var out PullRequest
	if err := c.do(ctx, http.MethodPost, c.path("pulls"), body, &out, false); err != nil {
		return nil, err
	}
	out.Created = true
	return &out, nil
}

func (c *Client) update(ctx context.Context, number int, pr NewPullRequest) (*PullRequest, error) {
	body := map[string]any{"title": pr.Title, "body": pr.Body, "base": pr.Base}
	var out PullRequest
	if err := c.do(ctx, http.MethodPatch, c.path(fmt.Sprintf("pulls/%d", number)), body, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) path(p string) string {
	return fmt.Sprintf("/repos/%s/%s/%s", url.PathEscape(c.owner), url.PathEscape(c.repo), p)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any, idempotent bool) error {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return err
		}
	}
	display, _, _ := strings.Cut(path, "?")
	tries := 1
	if idempotent {
		tries = c.tries
	}
	pause := c.settle
	var last error
	for try := 1; try <= tries; try++ {
		if try > 1 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("GitHub API %s %s: %w (after %v)", method, display, ctx.Err(), last)
			case <-time.After(pause):
			}
			pause *= 2
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		req.Header.Set("User-Agent", "slipway")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			// net/http errors carry the URL, never the header with the token.
			last = fmt.Errorf("GitHub API %s %s: %w", method, display, err)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			last = fmt.Errorf("GitHub API %s %s: reading the answer: %w", method, display, err)
			continue
		}
		if resp.StatusCode >= 300 {
			var msg struct {
				Message string `json:"message"`
				Errors  []struct {
					Message string `json:"message"`
				} `json:"errors"`
			}
			_ = json.Unmarshal(data, &msg)
			text := msg.Message
			for _, e := range msg.Errors {
				if e.Message != "" {
					text += "; " + e.Message
				}
			}
			if text == "" {
				text = http.StatusText(resp.StatusCode)
			}
			last = &APIError{Method: method, Path: display, Status: resp.StatusCode, Message: text}
			if resp.StatusCode >= 500 {
				continue
			}
			return last
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("GitHub API %s %s: decoding the answer: %w", method, display, err)
			}
		}
		return nil
	}
	return last
}
