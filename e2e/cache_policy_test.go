package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// TestSideEffectsRepeat: the engine caches function results keyed on their
// inputs, so a side-effecting function that is not `+cache="never"` would
// silently return its first result when called again with the same
// arguments. Each of publish, deploy, promote and prune is called twice,
// identically, with the world changed in between: the second call must see
// the change and act on it.
func TestSideEffectsRepeat(t *testing.T) {
	r := newSlipwayRun(t)
	r.mustCall("ci")
	head := r.git("rev-parse", "HEAD")
	built := byName(r.lastReport())
	reg := r.exposeRegistry()
	repo := func(service string) string {
		return strings.Replace(built[service].Repository, "registry:5000", reg, 1)
	}

	// publish: the commit tag deleted between two identical calls comes back.
	r.mustCall("publish")
	if err := crane.Delete(repo("orders") + ":" + head); err != nil {
		t.Fatal(err)
	}
	r.mustCall("publish")
	if d, err := crane.Digest(repo("orders") + ":" + head); err != nil || d != built["orders"].Digest {
		t.Errorf("the second identical publish did not tag orders again: %s (%v)", d, err)
	}

	// deploy: a digest rejected between two identical calls is held back.
	first := r.mustCall("deploy", "--env", "staging")
	r.mustCall("reject", "--digest", built["notify"].Digest, "--reason", "cache policy test")
	second, err := r.call("deploy", "--env", "staging")
	if second == first || !strings.Contains(second, "denylist") {
		t.Errorf("the second identical deploy did not see the rejection (err=%v):\n%s", err, tail(second, 30))
	}

	// promote: the same promotion, refused once the digest is rejected.
	r.mustCall("promote", "--from", "staging", "--to", "prod", "--service", "catalog")
	r.mustCall("reject", "--digest", built["catalog"].Digest, "--reason", "cache policy test")
	if out, err := r.call("promote", "--from", "staging", "--to", "prod", "--service", "catalog"); err == nil && !strings.Contains(out, "denylist") {
		t.Errorf("the second identical promote did not see the rejection:\n%s", tail(out, 30))
	}

	// prune: an image pushed between two identical dry runs is listed.
	r.mustCall("prune", "--older-than", "1ns", "--keep", "0")
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := crane.Push(img, repo("orders")+":stray"); err != nil {
		t.Fatal(err)
	}
	if out := r.mustCall("prune", "--older-than", "1ns", "--keep", "0"); !strings.Contains(out, d.String()) {
		t.Errorf("the second identical prune does not list the image pushed in between (%s):\n%s", d, tail(out, 40))
	}
}
