package e2e

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The tests reach registries from the host, some through a tunnel the
// dagger CLI holds open (exposeRegistry). A registry or tunnel that stops
// answering must fail the test that asked, with the reference, instead of
// hanging the whole run: every request of crane and remote gets an answer
// within registryTimeout or an error.
const registryTimeout = 90 * time.Second

func init() {
	if t, ok := remote.DefaultTransport.(*http.Transport); ok {
		t = t.Clone()
		t.ResponseHeaderTimeout = registryTimeout
		remote.DefaultTransport = t
	}
}

// untagged reports whether the registry says ref does not exist (an
// answer of 404). Any other failure to ask fails the test: a registry that
// cannot be reached does not prove that nothing was tagged.
func untagged(t *testing.T, ref string) bool {
	t.Helper()
	_, err := crane.Digest(ref)
	if err == nil {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return true
	}
	t.Fatalf("asking the registry for %s: %v", ref, err)
	return false
}
