// Package sigstoretest runs a private Sigstore stack for tests: an OIDC
// issuer of the project's own that mints GitHub-Actions-shaped ID tokens,
// and the real Fulcio, Rekor v2 and timestamp authority built from their
// pinned modules (hack/tools), with a trusted root and a signing config
// generated for them on each start.
package sigstoretest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Audience is the audience Fulcio accepts.
const Audience = "sigstore"

// Workflow describes the GitHub Actions run a token speaks for. Claims
// derives every claim GitHub sets from it.
type Workflow struct {
	// Repository is "owner/name".
	Repository string
	// File is the workflow's path in the repository, e.g.
	// ".github/workflows/ci.yml".
	File string
	// Ref is the git ref the run is for, e.g. "refs/heads/main".
	Ref string
	// SHA is the commit (40 hex digits; a fixed one when empty).
	SHA string
	// Event is the triggering event ("push" when empty).
	Event string
}

// Claims returns the token claims GitHub Actions puts in a workflow's ID
// token (docs.github.com, "About security hardening with OpenID
// Connect"), less iss, aud and the times, which Token sets.
func (w Workflow) Claims() map[string]any {
	sha := w.SHA
	if sha == "" {
		sha = strings.Repeat("5", 40)
	}
	event := w.Event
	if event == "" {
		event = "push"
	}
	owner, _, _ := strings.Cut(w.Repository, "/")
	workflowRef := w.Repository + "/" + w.File + "@" + w.Ref
	refType := "branch"
	if strings.HasPrefix(w.Ref, "refs/tags/") {
		refType = "tag"
	}
	name := w.File[strings.LastIndex(w.File, "/")+1:]
	return map[string]any{
		"sub":                   "repo:" + w.Repository + ":ref:" + w.Ref,
		"repository":            w.Repository,
		"repository_id":         "424242",
		"repository_owner":      owner,
		"repository_owner_id":   "4242",
		"repository_visibility": "private",
		"actor":                 owner,
		"actor_id":              "4242",
		"workflow":              strings.TrimSuffix(strings.TrimSuffix(name, ".yml"), ".yaml"),
		"workflow_ref":          workflowRef,
		"workflow_sha":          sha,
		"job_workflow_ref":      workflowRef,
		"job_workflow_sha":      sha,
		"ref":                   w.Ref,
		"ref_type":              refType,
		"sha":                   sha,
		"event_name":            event,
		"run_id":                "1000001",
		"run_number":            "7",
		"run_attempt":           "1",
		"runner_environment":    "github-hosted",
		"head_ref":              "",
		"base_ref":              "",
	}
}

// Issuer is an OIDC provider: discovery document, JWKS, RS256 ID tokens,
// and GitHub Actions' token request endpoint (/token?audience=…, with
// "Authorization: bearer <RequestToken>", answering {"value": "<jwt>"}).
type Issuer struct {
	// URL is the issuer ("iss") and where discovery is served.
	URL string
	// RequestToken guards the token request endpoint, as
	// ACTIONS_ID_TOKEN_REQUEST_TOKEN does.
	RequestToken string

	key    *rsa.PrivateKey
	kid    string
	signer jose.Signer
	srv    *http.Server
	ln     net.Listener

	mu       sync.Mutex
	workflow Workflow
	issued   int
}

// StartIssuer serves an issuer on addr ("127.0.0.1:0", or an address the
// engine's containers reach). The token endpoint issues tokens for w.
func StartIssuer(addr string, w Workflow) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	reqTok := make([]byte, 16)
	if _, err := rand.Read(reqTok); err != nil {
		ln.Close()
		return nil, err
	}
	i := &Issuer{
		URL:          "http://" + ln.Addr().String(),
		RequestToken: fmt.Sprintf("%x", reqTok),
		key:          key,
		kid:          "slipway-test-1",
		ln:           ln,
		workflow:     w,
	}
	i.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", i.kid))
	if err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("GET /jwks", i.jwks)
	mux.HandleFunc("GET /token", i.tokenRequest)
	i.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go i.srv.Serve(ln) //nolint:errcheck // ends with Close
	return i, nil
}

// Close stops the server.
func (i *Issuer) Close() error { return i.srv.Close() }

// SetWorkflow changes the run the token endpoint speaks for.
func (i *Issuer) SetWorkflow(w Workflow) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.workflow = w
}

// Issued is how many tokens the issuer has minted.
func (i *Issuer) Issued() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.issued
}

// TokenRequestURL is the value of ACTIONS_ID_TOKEN_REQUEST_URL for this
// issuer.
func (i *Issuer) TokenRequestURL() string { return i.URL + "/token" }

// Token mints an ID token for w with audience aud, valid for ttl from now
// (a negative ttl gives an expired token).
func (i *Issuer) Token(w Workflow, aud string, ttl time.Duration) (string, error) {
	claims := w.Claims()
	now := time.Now()
	claims["iss"] = i.URL
	claims["aud"] = aud
	claims["iat"] = now.Add(-time.Minute).Unix()
	claims["nbf"] = now.Add(-time.Minute).Unix()
	claims["exp"] = now.Add(ttl).Unix()
	jti := make([]byte, 8)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims["jti"] = fmt.Sprintf("%x", jti)
	tok, err := jwt.Signed(i.signer).Claims(claims).Serialize()
	if err != nil {
		return "", err
	}
	i.mu.Lock()
	i.issued++
	i.mu.Unlock()
	return tok, nil
}

func (i *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                i.URL,
		"jwks_uri":                              i.URL + "/jwks",
		"authorization_endpoint":                i.URL + "/authorize",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public", "pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "sha", "workflow", "workflow_ref", "job_workflow_ref", "event_name"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &i.key.PublicKey, KeyID: i.kid, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

// tokenRequest answers as GitHub's ACTIONS_ID_TOKEN_REQUEST_URL does.
func (i *Issuer) tokenRequest(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "bearer") || tok != i.RequestToken {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		aud = "https://github.com/" + i.currentWorkflow().Repository
	}
	jwt, err := i.Token(i.currentWorkflow(), aud, 5*time.Minute)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]string{"value": jwt})
}

func (i *Issuer) currentWorkflow() Workflow {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.workflow
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b) //nolint:errcheck // the client went away
}
