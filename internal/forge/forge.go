// Package forge opens, updates and closes the pull requests slipway keeps
// for environments in pull-request mode, through the REST API of the forge
// that hosts the GitOps repository: GitHub (github.com or GitHub
// Enterprise Server) or Gitea (and Forgejo, which speaks the same API). It
// uses only what slipway needs: list open pull requests by head branch,
// create one, update one (title, body, base, state).
package forge

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
	"strconv"
	"strings"
	"time"
)

// Kind is a forge's API dialect.
type Kind string

// The forges slipway speaks to.
const (
	GitHub Kind = "github"
	Gitea  Kind = "gitea"
)

// ParseKind reads a kind ("" is GitHub).
func ParseKind(s string) (Kind, error) {
	switch Kind(strings.ToLower(s)) {
	case "", GitHub:
		return GitHub, nil
	case Gitea, "forgejo":
		return Gitea, nil
	}
	return "", fmt.Errorf("forge %q: want github or gitea (Forgejo speaks Gitea's API)", s)
}

// name is the forge's name in messages.
func (k Kind) name() string {
	if k == Gitea {
		return "Gitea"
	}
	return "GitHub"
}

// DefaultBaseURL is the API root of github.com. GitHub Enterprise Server's
// is https://<host>/api/v3, Gitea's https://<host>/api/v1.
const DefaultBaseURL = "https://api.github.com"

// APIBase is the API root to use for a repository on a forge of kind k
// when none is configured: github.com's for GitHub, and for Gitea
// https://<host of the clone URL>/api/v1.
func APIBase(k Kind, repoURL string) (string, error) {
	if k != Gitea {
		return DefaultBaseURL, nil
	}
	host := ""
	switch {
	case strings.Contains(repoURL, "://"):
		u, err := url.Parse(repoURL)
		if err != nil {
			return "", fmt.Errorf("gitops repository %q: %w", repoURL, err)
		}
		scheme := u.Scheme
		if scheme != "http" {
			scheme = "https"
		}
		host = scheme + "://" + u.Host
		if u.Scheme == "ssh" {
			host = "https://" + u.Hostname()
		}
	default: // git@host:owner/name
		at := strings.IndexByte(repoURL, '@')
		colon := strings.IndexByte(repoURL, ':')
		if colon < 0 {
			return "", fmt.Errorf("gitops repository %q: cannot tell the Gitea host: set gitops.forgeAPI", repoURL)
		}
		host = "https://" + repoURL[at+1:colon]
	}
	return host + "/api/v1", nil
}

// Sentinel errors.
var (
	// ErrUnauthorized means the token was refused (HTTP 401 or 403).
	ErrUnauthorized = errors.New("the forge refused the token")
	// ErrInvalidRepository means the owner/name is malformed.
	ErrInvalidRepository = errors.New("invalid repository")
)

// APIError is a non-success answer of the API.
type APIError struct {
	Forge   string
	Method  string
	Path    string
	Status  int
	Message string
}

// Error renders the forge, method, path, status and the forge's message.
func (e *APIError) Error() string {
	return fmt.Sprintf("%s API %s %s: HTTP %d: %s", e.Forge, e.Method, e.Path, e.Status, e.Message)
}

// Unwrap maps 401 and 403 to ErrUnauthorized.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return ErrUnauthorized
	}
	return nil
}

// API is a forge's REST API at one root with one token: every request
// slipway makes to it (pull requests here, package versions in
// internal/ghpackages) gets the forge's headers, idempotent ones are
// retried on 5xx answers and transport errors, and a refusal is an
// *APIError.
type API struct {
	kind   Kind
	base   *url.URL
	token  string
	http   *http.Client
	tries  int
	settle time.Duration
}

// Option configures an API.
type Option func(*API) error

// WithBaseURL sets the API root, e.g. https://ghe.example.com/api/v3 or
// https://gitea.example.com/api/v1.
func WithBaseURL(u string) Option {
	return func(a *API) error {
		p, err := url.Parse(strings.TrimSuffix(u, "/"))
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("%s API base URL %q: want http(s)://host[/path]", a.kind.name(), u)
		}
		a.base = p
		return nil
	}
}

// WithHTTPClient sets the HTTP client (timeouts, proxies, test servers).
func WithHTTPClient(h *http.Client) Option {
	return func(a *API) error {
		if h == nil {
			return errors.New("nil HTTP client")
		}
		a.http = h
		return nil
	}
}

// WithRetries sets how many times idempotent requests (list, update,
// delete) are tried on a 5xx answer or a transport error, and the first
// pause between tries (doubled each time). Default 3 tries, 500ms.
func WithRetries(tries int, pause time.Duration) Option {
	return func(a *API) error {
		if tries < 1 || pause < 0 {
			return fmt.Errorf("retries: want tries >= 1 and pause >= 0, got %d, %s", tries, pause)
		}
		a.tries, a.settle = tries, pause
		return nil
	}
}

// NewAPI returns the API of a forge of the given kind, authenticating with
// token (never logged). Its root is github.com's unless WithBaseURL says
// otherwise.
func NewAPI(kind Kind, token string, opts ...Option) (*API, error) {
	if kind != GitHub && kind != Gitea {
		return nil, fmt.Errorf("forge %q: want github or gitea", kind)
	}
	if token == "" {
		return nil, fmt.Errorf("%s token is empty", kind.name())
	}
	a := &API{kind: kind, token: token, http: &http.Client{Timeout: 60 * time.Second}, tries: 3, settle: 500 * time.Millisecond}
	if err := WithBaseURL(DefaultBaseURL)(a); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Client talks to one repository's pull requests.
type Client struct {
	*API
	owner string
	repo  string
}

var repoRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// New returns a client for the pull requests of the repository
// "owner/name" on a forge of the given kind (see NewAPI).
func New(kind Kind, repository, token string, opts ...Option) (*Client, error) {
	if !repoRE.MatchString(repository) {
		return nil, fmt.Errorf("%w: %q (want owner/name)", ErrInvalidRepository, repository)
	}
	api, err := NewAPI(kind, token, opts...)
	if err != nil {
		return nil, err
	}
	owner, name, _ := strings.Cut(repository, "/")
	return &Client{API: api, owner: owner, repo: strings.TrimSuffix(name, ".git")}, nil
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

// PullRequest is a pull request as the forge describes it.
type PullRequest struct {
	Number int    `json:"number"`
	URL    string `json:"html_url"`
	State  string `json:"state"`
	Title  string `json:"title"`
	Head   struct {
		Ref string `json:"ref"`
	} `json:"head"`
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
		if !errors.As(err, &ae) || (ae.Status != http.StatusUnprocessableEntity && ae.Status != http.StatusConflict) {
			return created, err
		}
		// 422 (GitHub) or 409 (Gitea): perhaps another run opened it
		// between our list and create.
		again, ferr := c.find(ctx, pr.Head)
		if ferr != nil {
			return nil, ferr
		}
		if again == nil {
			return nil, err
		}
		existing = again
	}
	return c.update(ctx, existing.Number, map[string]any{"title": pr.Title, "body": pr.Body, "base": pr.Base})
}

// ClosePullRequest closes the open pull request of the head branch, with
// a comment-free state change, and returns it; nil when none is open.
func (c *Client) ClosePullRequest(ctx context.Context, head string) (*PullRequest, error) {
	existing, err := c.find(ctx, head)
	if err != nil || existing == nil {
		return nil, err
	}
	return c.update(ctx, existing.Number, map[string]any{"state": "closed"})
}

// find returns the open pull request whose head is the branch, or nil.
// GitHub filters by head; Gitea lists open pull requests page by page.
func (c *Client) find(ctx context.Context, head string) (*PullRequest, error) {
	if c.kind == GitHub {
		q := url.Values{"state": {"open"}, "head": {c.owner + ":" + head}, "per_page": {"10"}}
		var prs []PullRequest
		if err := c.Do(ctx, http.MethodGet, c.path("pulls")+"?"+q.Encode(), nil, &prs, true); err != nil {
			return nil, err
		}
		if len(prs) == 0 {
			return nil, nil
		}
		return &prs[0], nil
	}
	const limit, maxPages = 50, 20
	for page := 1; page <= maxPages; page++ {
		q := url.Values{"state": {"open"}, "limit": {strconv.Itoa(limit)}, "page": {strconv.Itoa(page)}}
		var prs []PullRequest
		if err := c.Do(ctx, http.MethodGet, c.path("pulls")+"?"+q.Encode(), nil, &prs, true); err != nil {
			return nil, err
		}
		for i := range prs {
			if prs[i].Head.Ref == head {
				return &prs[i], nil
			}
		}
		// A server may cap pages below the limit asked for
		// (MAX_RESPONSE_ITEMS): only an empty page is the end.
		if len(prs) == 0 {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("%s API: more than %d open pull requests: cannot find the one of %s", c.kind.name(), limit*maxPages, head)
}

func (c *Client) create(ctx context.Context, pr NewPullRequest) (*PullRequest, error) {
	body := map[string]any{"title": pr.Title, "head": pr.Head, "base": pr.Base, "body": pr.Body}
	if c.kind == GitHub {
		body["maintainer_can_modify"] = false
	}
	var out PullRequest
	if err := c.Do(ctx, http.MethodPost, c.path("pulls"), body, &out, false); err != nil {
		return nil, err
	}
	out.Created = true
	return &out, nil
}

func (c *Client) update(ctx context.Context, number int, body map[string]any) (*PullRequest, error) {
	var out PullRequest
	if err := c.Do(ctx, http.MethodPatch, c.path(fmt.Sprintf("pulls/%d", number)), body, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) path(p string) string {
	return fmt.Sprintf("/repos/%s/%s/%s", url.PathEscape(c.owner), url.PathEscape(c.repo), p)
}

// Do sends one request to path (below the API root) with in as its JSON
// body (nil: none) and decodes the answer into out (nil: ignored). Only
// idempotent requests are retried.
func (c *API) Do(ctx context.Context, method, path string, in, out any, idempotent bool) error {
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
				return fmt.Errorf("%s API %s %s: %w (after %v)", c.kind.name(), method, display, ctx.Err(), last)
			case <-time.After(pause):
			}
			pause *= 2
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		if c.kind == GitHub {
			req.Header.Set("Authorization", "Bearer "+c.token)
			req.Header.Set("Accept", "application/vnd.github+json")
			req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		} else {
			req.Header.Set("Authorization", "token "+c.token)
			req.Header.Set("Accept", "application/json")
		}
		req.Header.Set("User-Agent", "slipway")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			// net/http errors carry the URL, never the header with the token.
			last = fmt.Errorf("%s API %s %s: %w", c.kind.name(), method, display, err)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			last = fmt.Errorf("%s API %s %s: reading the answer: %w", c.kind.name(), method, display, err)
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
			last = &APIError{Forge: c.kind.name(), Method: method, Path: display, Status: resp.StatusCode, Message: text}
			if resp.StatusCode >= 500 {
				continue
			}
			return last
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s API %s %s: decoding the answer: %w", c.kind.name(), method, display, err)
			}
		}
		return nil
	}
	return last
}
