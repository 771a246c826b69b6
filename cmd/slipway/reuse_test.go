package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/reuse"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/wire"
)

// withSigningKey gives the worker a signing key (as the module does) and
// returns a signer for it; the public key is derived from it.
func (w *worker) withSigningKey() *signing.Signer {
	w.t.Helper()
	kp, err := signing.GenerateKeyPair([]byte("ci-pw"))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Setenv(wire.EnvSigningKey, string(kp.PrivateKeyPEM))
	w.t.Setenv(wire.EnvSigningPassword, "ci-pw")
	w.t.Setenv(wire.EnvSigningPublicKey, "")
	s, err := signing.LoadSigner(kp.PrivateKeyPEM, []byte("ci-pw"), signing.WithRegistry(w.reg))
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// plant pushes an image labelled with inputDigest under its input tag and
// returns its digest reference.
func (w *worker) plant(seed int64, inputDigest string) string {
	w.t.Helper()
	img := registrytest.Image(w.t, registrytest.ImageSpec{Seed: seed, Layers: 1, LayerSize: 256, Labels: map[string]string{registry.InputDigestLabel: inputDigest}})
	tag, _ := registry.InputTag(inputDigest)
	d, err := w.reg.PushImage(context.Background(), img, w.host+"/shop/orders:"+tag)
	if err != nil {
		w.t.Fatal(err)
	}
	return d.String()
}

// exec runs a worker command and returns its exit code, the JSON it wrote
// to --out and its logs.
func (w *worker) exec(args ...string) (int, []byte, string) {
	w.t.Helper()
	out := filepath.Join(w.dir, "result.json")
	os.Remove(out)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append(args, "--out", out), &stdout, &stderr)
	b, _ := os.ReadFile(out)
	return code, b, stdout.String() + stderr.String()
}

// The worker side of build avoidance: the state is read once into a
// snapshot, reuse-check and retag refuse what is not proven and write
// nothing for it, retag tags what is.
func TestWorkerReuse(t *testing.T) {
	w := newWorker(t)
	ci := w.withSigningKey()
	ctx := context.Background()
	repo := w.host + "/shop/orders"
	input := "sha256:" + strings.Repeat("d", 64)

	good := w.plant(1, input)
	if _, err := ci.Sign(ctx, good, map[string]string{signing.AnnotationService: "orders"}); err != nil {
		t.Fatal(err)
	}
	unsigned := w.plant(2, input)
	denied := w.plant(3, input)
	if _, err := ci.Sign(ctx, denied, map[string]string{signing.AnnotationService: "orders"}); err != nil {
		t.Fatal(err)
	}
	deniedDigest := denied[strings.Index(denied, "@")+1:]

	// Reject one digest, then take the run's snapshot of the state.
	if code, _, logs := w.run("reject", "--digest", deniedDigest, "--reason", "bad build"); code != 0 {
		t.Fatalf("reject: %s", logs)
	}
	code, snap, logs := w.exec("state-snapshot", "--source", w.root, "--throwaway", w.throwaway)
	if code != 0 || !strings.Contains(string(snap), deniedDigest) || !strings.Contains(logs, "1 denylisted") {
		t.Fatalf("state-snapshot: exit %d\n%s\n%s", code, snap, logs)
	}
	stateFile := filepath.Join(w.dir, "state.json")
	os.WriteFile(stateFile, snap, 0o644)

	check := func(ref string) reuseCheckResult {
		t.Helper()
		code, b, logs := w.exec("reuse-check", "--ref", ref, "--service", "orders", "--state", stateFile)
		var res reuseCheckResult
		if code != 0 || json.Unmarshal(b, &res) != nil {
			t.Fatalf("reuse-check %s: exit %d\n%s\n%s", ref, code, b, logs)
		}
		return res
	}
	if res := check(good); !res.Reusable || !res.Verified {
		t.Errorf("good image: %+v", res)
	}
	// With --export the reusable image is written out for the scan.
	archive := filepath.Join(w.dir, "image.tar")
	if code, b, logs := w.exec("reuse-check", "--ref", good, "--service", "orders", "--state", stateFile, "--export", archive); code != 0 {
		t.Fatalf("reuse-check --export: %s\n%s", b, logs)
	}
	img, _, cleanup, err := registry.OpenArchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); "sha256:"+d.Hex != good[strings.Index(good, "@")+1:] {
		t.Errorf("exported %s, want %s", d, good)
	}
	cleanup()
	if res := check(unsigned); res.Reusable || res.Refused == nil || res.Refused.Reason != reuse.Unsigned || !strings.HasPrefix(res.Note, "orders: input-digest image sha256:") {
		t.Errorf("unsigned image: %+v", res)
	}
	if res := check(denied); res.Reusable || res.Refused == nil || res.Refused.Reason != reuse.Denylisted || !strings.Contains(res.Refused.Error(), "bad build") {
		t.Errorf("denylisted image: %+v", res)
	}

	retag := func(ref string) (publishResult, []string) {
		t.Helper()
		code, b, logs := w.exec("retag", "--ref", ref, "--repo", repo, "--service", "orders", "--commit", commitA,
			"--input-digest", input, "--tag", commitA, "--state", stateFile)
		var res publishResult
		if code != 0 || json.Unmarshal(b, &res) != nil {
			t.Fatalf("retag %s: exit %d\n%s\n%s", ref, code, b, logs)
		}
		tags, _ := w.reg.ListTags(ctx, repo)
		return res, tags
	}
	before, _ := w.reg.ListTags(ctx, repo)
	for _, ref := range []string{unsigned, denied} {
		res, tags := retag(ref)
		if res.ReuseRefused == nil || res.Service != nil {
			t.Errorf("retag %s: %+v", ref, res)
		}
		if strings.Join(tags, ",") != strings.Join(before, ",") {
			t.Errorf("retag of a refused image changed the tags: %v -> %v", before, tags)
		}
	}
	res, _ := retag(good)
	if res.ReuseRefused != nil || res.Service == nil || res.Digest != good[strings.Index(good, "@")+1:] {
		t.Fatalf("retag of the good image: %+v", res)
	}
	if d, err := w.reg.Resolve(ctx, repo+":"+commitA); err != nil || d.String() != good {
		t.Errorf("%s:%s = %v %v, want %s", repo, commitA, d, err, good)
	}
}

// images checks every digest's signature against the configured key.
func TestWorkerImagesVerifies(t *testing.T) {
	w := newWorker(t)
	ci := w.withSigningKey()
	ctx := context.Background()
	repo := w.host + "/shop/orders"
	push := func(seed int64, tag string) string {
		img := registrytest.Image(t, registrytest.ImageSpec{Seed: seed, Layers: 1, LayerSize: 128})
		d, err := w.reg.PushImage(ctx, img, repo+":"+tag)
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if _, err := ci.Sign(ctx, push(1, "good"), map[string]string{signing.AnnotationService: "orders"}); err != nil {
		t.Fatal(err)
	}
	push(2, "unsigned")
	kp, _ := signing.GenerateKeyPair([]byte("x"))
	other, _ := signing.LoadSigner(kp.PrivateKeyPEM, []byte("x"), signing.WithRegistry(w.reg))
	if _, err := other.Sign(ctx, push(3, "foreign"), map[string]string{signing.AnnotationService: "orders"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.Sign(ctx, push(4, "catalog"), map[string]string{signing.AnnotationService: "catalog"}); err != nil {
		t.Fatal(err)
	}
	list := func() map[string]imageTag {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(ctx, []string{"images", "--repo", "orders=" + repo, "--json"}, &stdout, &stderr); code != 0 {
			t.Fatalf("images: %s", stderr.String())
		}
		var all []repoImages
		if err := json.Unmarshal(stdout.Bytes(), &all); err != nil || len(all) != 1 {
			t.Fatalf("images JSON: %v\n%s", err, stdout.String())
		}
		out := map[string]imageTag{}
		for _, it := range all[0].Tags {
			out[it.Tag] = it
		}
		return out
	}
	got := list()
	for tag, want := range map[string]string{"good": sigVerified, "unsigned": sigUnsigned, "foreign": sigInvalid, "catalog": sigInvalid} {
		if got[tag].Signature != want {
			t.Errorf("%s: signature %q (%s), want %q", tag, got[tag].Signature, got[tag].SignatureDetail, want)
		}
	}
	if !got["foreign"].SignatureTag || !strings.Contains(got["catalog"].SignatureDetail, "catalog") {
		t.Errorf("details: %+v", got)
	}
	// Without a key nothing is claimed.
	t.Setenv(wire.EnvSigningKey, "")
	for tag, it := range list() {
		if it.Signature != sigUnverified {
			t.Errorf("without a key %s reads %q", tag, it.Signature)
		}
	}
}
