// Package registrytest runs real OCI registries in tests: go-containerregistry's
// registry implementation in httptest servers, with composable handler
// wrappers that make it behave like production registries do (blobs scoped
// per repository with cross-repository mounts, authentication, injected
// faults) and that count what crosses the wire. It also writes images in the
// archive formats slipway receives (Dagger's OCI tarball, docker save).
package registrytest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Handler returns a fresh in-memory registry with referrers support, logging
// nothing.
func Handler() http.Handler {
	return registry.New(
		registry.Logger(log.New(io.Discard, "", 0)),
		registry.WithReferrersSupport(true),
	)
}

// Serve starts h on a loopback httptest server closed at the end of the test
// and returns the registry host ("127.0.0.1:port").
func Serve(tb testing.TB, h http.Handler) string {
	tb.Helper()
	s := httptest.NewServer(h)
	tb.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// New starts a fresh registry (Handler) and returns its host.
func New(tb testing.TB) string {
	tb.Helper()
	return Serve(tb, Handler())
}

// splitBlobPath splits "/v2/<repo>/blobs/<rest>" into repo and rest.
func splitBlobPath(p string) (repo, rest string, ok bool) {
	if !strings.HasPrefix(p, "/v2/") {
		return "", "", false
	}
	i := strings.LastIndex(p, "/blobs/")
	if i < 0 {
		return "", "", false
	}
	return p[len("/v2/"):i], p[i+len("/blobs/"):], true
}

// splitManifestPath splits "/v2/<repo>/manifests/<ref>".
func splitManifestPath(p string) (repo, ref string, ok bool) {
	if !strings.HasPrefix(p, "/v2/") {
		return "", "", false
	}
	i := strings.LastIndex(p, "/manifests/")
	if i < 0 {
		return "", "", false
	}
	return p[len("/v2/"):i], p[i+len("/manifests/"):], true
}

// statusRecorder remembers the status written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func writeRegistryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"errors":[{"code":"`+code+`","message":"`+msg+`"}]}`)
}
