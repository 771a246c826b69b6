// Package kube is a small read-only client of the Kubernetes API: enough
// to read workloads, pods, their logs and the GitOps controllers' objects
// over plain HTTPS, configured from a kubeconfig. It deliberately does not
// use client-go, whose size the module cannot afford to compile.
//
// Errors say which request failed and why, in the words an operator needs:
// a refused request names the RBAC verb, resource and namespace it lacks.
package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds each request of a new Client.
const DefaultTimeout = 10 * time.Second

// maxBody bounds a response body read into memory.
const maxBody = 256 << 20

// Client reads from one Kubernetes API server. It is safe for concurrent
// use. Make one with ParseKubeconfig or LoadKubeconfig.
type Client struct {
	// Server is the API server's base URL, without a trailing slash.
	Server string
	// Context is the kubeconfig context the client was made from.
	Context string
	// Namespace is the context's default namespace ("" when it sets none).
	Namespace string
	// Timeout bounds each request (DefaultTimeout unless changed).
	Timeout time.Duration

	http               *http.Client
	token, tokenFile   string
	username, password string
}

var (
	// ErrNotFound is matched (errors.Is) by the error of a request for an
	// object, or a kind of object, the server does not have.
	ErrNotFound = errors.New("not found")
	// ErrForbidden is matched by the error of a request the server refused:
	// the credentials lack the RBAC permission (HTTP 403) or were not
	// accepted at all (HTTP 401, which also matches ErrUnauthorized).
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthorized is matched by the error of a request whose
	// credentials the server did not accept (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
)

// APIError is a response of the API server other than success.
type APIError struct {
	// Verb is the RBAC verb of the request: get, list.
	Verb string
	// Path is the request's path (without query).
	Path string
	// StatusCode is the HTTP status.
	StatusCode int
	// Reason is the Status object's reason ("Forbidden", "NotFound", ...),
	// when the server sent one.
	Reason string
	// Message is the server's message.
	Message string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kube: %s %s: ", e.Verb, e.Path)
	switch e.StatusCode {
	case http.StatusUnauthorized:
		b.WriteString("unauthorized (HTTP 401): the API server did not accept the credentials (an expired or revoked token, or a client certificate it does not trust)")
	case http.StatusForbidden:
		b.WriteString("forbidden (HTTP 403)")
	case http.StatusNotFound:
		b.WriteString("not found (HTTP 404)")
	default:
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if e.Reason != "" {
			fmt.Fprintf(&b, " %s", e.Reason)
		}
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.StatusCode == http.StatusForbidden {
		if hint := rbacHint(e.Verb, e.Path); hint != "" {
			fmt.Fprintf(&b, " (%s)", hint)
		}
	}
	return b.String()
}

// Is matches ErrNotFound, ErrForbidden and ErrUnauthorized by status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	}
	return false
}

// rbacHint says which RBAC rule a refused request needs, read from its
// path: "the pipeline's identity needs RBAC verb \"list\" on \"deployments\"
// (API group \"apps\") in namespace \"shop\"".
func rbacHint(verb, path string) string {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	var group string
	switch {
	case len(seg) >= 2 && seg[0] == "api":
		seg = seg[2:]
	case len(seg) >= 3 && seg[0] == "apis":
		group, seg = seg[1], seg[3:]
	default:
		return ""
	}
	ns := ""
	if len(seg) >= 2 && seg[0] == "namespaces" {
		ns, seg = seg[1], seg[2:]
		if len(seg) == 0 {
			// The namespace object itself.
			seg = []string{"namespaces", ns}
			ns = ""
		}
	}
	if len(seg) == 0 {
		return ""
	}
	resource := seg[0]
	if len(seg) >= 3 {
		resource += "/" + seg[2]
	}
	g := `the core API group ("")`
	if group != "" {
		g = fmt.Sprintf("API group %q", group)
	}
	where := "cluster-wide"
	if ns != "" {
		where = fmt.Sprintf("in namespace %q", ns)
	}
	return fmt.Sprintf("the credentials need RBAC verb %q on %q in %s, %s", verb, resource, g, where)
}

// status is the Status object an API server answers errors with.
type status struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// Get reads the object at path (e.g. "/apis/apps/v1/namespaces/shop/deployments/orders",
// see Resource.Path) into out, decoded from JSON.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	body, err := c.do(ctx, "get", path, nil, "application/json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("kube: get %s: decoding the answer: %w", path, err)
	}
	return nil
}

// ListOptions narrow a List.
type ListOptions struct {
	// LabelSelector, e.g. "app=orders,tier in (web)" (see
	// LabelSelector.String).
	LabelSelector string
	// FieldSelector, e.g. "status.phase=Running".
	FieldSelector string
}

// listPage is one page of a list answer.
type listPage struct {
	Metadata struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// listPageSize is how many items List asks for at once.
const listPageSize = 500

// List reads the collection at path (e.g. "/apis/apps/v1/namespaces/shop/deployments",
// or without the namespace for every namespace) into out, a pointer to a
// struct with an Items slice (DeploymentList, PodList, ...). It follows the
// server's pages, each request within the client's timeout.
func (c *Client) List(ctx context.Context, path string, opts ListOptions, out any) error {
	var items []json.RawMessage
	cont := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(listPageSize)}}
		if opts.LabelSelector != "" {
			q.Set("labelSelector", opts.LabelSelector)
		}
		if opts.FieldSelector != "" {
			q.Set("fieldSelector", opts.FieldSelector)
		}
		if cont != "" {
			q.Set("continue", cont)
		}
		body, err := c.do(ctx, "list", path, q, "application/json")
		if err != nil {
			return err
		}
		var page listPage
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("kube: list %s: decoding the answer: %w", path, err)
		}
		items = append(items, page.Items...)
		if cont = page.Metadata.Continue; cont == "" {
			break
		}
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	all, err := json.Marshal(struct {
		Items []json.RawMessage `json:"items"`
	}{items})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(all, out); err != nil {
		return fmt.Errorf("kube: list %s: decoding the answer: %w", path, err)
	}
	return nil
}

// maxLogBytes bounds the log text read.
const maxLogBytes = 256 << 10

// Logs returns the last tailLines lines (all when tailLines <= 0) of the
// log of the running (or last) instance of a pod's container.
func (c *Client) Logs(ctx context.Context, namespace, pod, container string, tailLines int) (string, error) {
	return c.logs(ctx, namespace, pod, container, tailLines, false)
}

// PreviousLogs is Logs of the container's previous instance: what a
// container in CrashLoopBackOff printed before it last exited.
func (c *Client) PreviousLogs(ctx context.Context, namespace, pod, container string, tailLines int) (string, error) {
	return c.logs(ctx, namespace, pod, container, tailLines, true)
}

func (c *Client) logs(ctx context.Context, namespace, pod, container string, tailLines int, previous bool) (string, error) {
	q := url.Values{"limitBytes": {strconv.Itoa(maxLogBytes)}}
	if container != "" {
		q.Set("container", container)
	}
	if tailLines > 0 {
		q.Set("tailLines", strconv.Itoa(tailLines))
	}
	if previous {
		q.Set("previous", "true")
	}
	body, err := c.do(ctx, "get", Pods.Path(namespace, pod)+"/log", q, "text/plain, */*")
	if err != nil {
		return "", err
	}
	return string(body), nil
}

// do sends one GET request and returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, verb, path string, q url.Values, accept string) ([]byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := c.Server + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("kube: %s %s: %w", verb, path, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "slipway")
	switch {
	case c.tokenFile != "":
		tok, err := c.readTokenFile()
		if err != nil {
			return nil, fmt.Errorf("kube: %s %s: reading the token: %w", verb, path, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.username != "" || c.password != "":
		req.SetBasicAuth(c.username, c.password)
	}
	hc := c.http
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, fmt.Errorf("kube: %s %s: no answer within %s: %w", verb, path, timeout, err)
		}
		return nil, fmt.Errorf("kube: %s %s: %w", verb, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("kube: %s %s: reading the answer: %w", verb, path, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("kube: %s %s: the answer is larger than %d MiB", verb, path, maxBody>>20)
	}
	if resp.StatusCode/100 == 2 {
		return body, nil
	}
	apiErr := &APIError{Verb: verb, Path: path, StatusCode: resp.StatusCode}
	var st status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		apiErr.Reason, apiErr.Message = st.Reason, st.Message
	} else {
		apiErr.Message = strings.TrimSpace(string(bytes.ToValidUTF8(truncate(body, 512), []byte("?"))))
	}
	return nil, apiErr
}

// readTokenFile reads the bearer token afresh: a projected ServiceAccount
// token is rotated in place.
func (c *Client) readTokenFile() (string, error) {
	b, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", c.tokenFile)
	}
	return tok, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
