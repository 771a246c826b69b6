package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/promote"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testutil"
	"github.com/slipwayci/slipway/internal/wire"
)

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	regUser = "ci"
	regPass = "s3cret-registry-password"
)

type worker struct {
	t         *testing.T
	root      string
	throwaway string
	host      string
	reg       *registry.Client
	signer    *signing.Signer
	dir       string
}

// newWorker sets up what the module gives the worker: a registry that
// wants credentials (passed in the environment), the public key, and a
// throwaway GitOps repository.
func newWorker(t *testing.T) *worker {
	t.Helper()
	host := registrytest.Serve(t, registrytest.BasicAuth(registrytest.Handler(), regUser, regPass))
	reg, err := registry.New(registry.WithBasicAuth(host, regUser, regPass))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := signing.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.LoadSigner(kp.PrivateKeyPEM, []byte("pw"), signing.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(wire.EnvRegistryUsername, regUser)
	t.Setenv(wire.EnvRegistryPassword, regPass)
	t.Setenv(wire.EnvSigningPublicKey, string(kp.PublicKeyPEM))
	t.Setenv(wire.EnvSigningKey, "")
	t.Setenv("GITHUB_ACTOR", "release-manager")
	dir := t.TempDir()
	return &worker{t: t, root: testutil.RepoRoot(t), throwaway: filepath.Join(dir, "gitops.git"), host: host, reg: reg, signer: s, dir: dir}
}

// image publishes a signed, attested image of service built at commit.
func (w *worker) image(service string, seed int64, commit string) string {
	w.t.Helper()
	ctx := context.Background()
	img := registrytest.Image(w.t, registrytest.ImageSpec{Seed: seed, Layers: 1, LayerSize: 1024})
	d, err := w.reg.PushImage(ctx, img, w.host+"/shop/"+service+":"+commit)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.signer.Sign(ctx, d.String(), map[string]string{signing.AnnotationService: service, signing.AnnotationSourceCommit: commit}); err != nil {
		w.t.Fatal(err)
	}
	for _, kind := range []string{"slsa", "sbom", "vuln", "test"} {
		if _, err := w.signer.Attest(ctx, d.String(), promote.AttestationPredicates[kind][0], []byte(`{}`)); err != nil {
			w.t.Fatal(err)
		}
	}
	return d.DigestStr()
}

// run runs the worker with the GitOps flags and returns its exit code and
// the report it wrote.
func (w *worker) run(args ...string) (int, *report.Report, string) {
	w.t.Helper()
	out := filepath.Join(w.dir, "out.json")
	os.Remove(out)
	args = append(args, "--source", w.root, "--throwaway", w.throwaway, "--out", out)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	logs := stdout.String() + stderr.String()
	if strings.Contains(logs, regPass) {
		w.t.Fatalf("the registry password reached the output:\n%s", logs)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return code, nil, logs
	}
	if strings.Contains(string(b), regPass) {
		w.t.Fatal("the registry password reached the report")
	}
	rep, err := report.Parse(b)
	if err != nil {
		w.t.Fatal(err)
	}
	return code, rep, logs
}

func (w *worker) deployDev(commit string, digests map[string]string) {
	w.t.Helper()
	var changes []map[string]string
	for s, d := range digests {
		changes = append(changes, map[string]string{"service": s, "repository": w.host + "/shop/" + s, "digest": d, "tag": commit})
	}
	b, _ := json.Marshal(changes)
	file := filepath.Join(w.dir, "changes.json")
	os.WriteFile(file, b, 0o644)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"deploy", "--env", "dev", "--changes", file, "--commit", commit, "--source", w.root, "--throwaway", w.throwaway}, &stdout, &stderr); code != 0 {
		w.t.Fatalf("deploy: %d: %s", code, stderr.String())
	}
}

func TestWorkerPromoteRollbackPinReject(t *testing.T) {
	w := newWorker(t)
	v1 := map[string]string{}
	for i, s := range []string{"catalog", "notify", "orders"} {
		v1[s] = w.image(s, int64(i+1), commitA)
	}
	w.deployDev(commitA, v1)

	// Dry run, then the real promotion, then a no-op.
	code, rep, logs := w.run("promote", "--from", "dev", "--to", "staging", "--dry-run")
	if code != 0 || !rep.DryRun || !strings.Contains(rep.Deployments[0].Diff, v1["orders"]) || !strings.Contains(logs, "--- gitops diff (staging) ---") {
		t.Fatalf("dry run: %d %+v\n%s", code, rep, logs)
	}
	code, rep, logs = w.run("promote", "--from", "dev", "--to", "staging")
	if code != 0 || rep.Kind != "promote" || rep.Count(report.Promoted) != 3 || rep.Deployments[0].Commit == "" {
		t.Fatalf("promote: %d %+v\n%s", code, rep, logs)
	}
	code, rep, _ = w.run("promote", "--from", "dev", "--to", "staging")
	if code != 0 || rep.Count(report.Unchanged) != 3 {
		t.Fatalf("re-promote: %d %+v", code, rep)
	}

	// A refusal exits 1 and still writes its report.
	code, rep, logs = w.run("promote", "--from", "staging", "--to", "prod", "--service", "billing")
	if code != 1 || rep == nil || rep.OK() || !strings.Contains(logs, `unknown service "billing"`) {
		t.Fatalf("refusal: %d %+v\n%s", code, rep, logs)
	}
	if code, _, _ := w.run("promote", "--from", "dev"); code != 2 {
		t.Fatalf("missing -to: exit %d, want 2", code)
	}

	// New orders, promoted; then roll staging back to commit A and pin it.
	w.deployDev(commitB, map[string]string{"orders": w.image("orders", 9, commitB)})
	if code, rep, logs := w.run("promote", "--from", "dev", "--to", "staging", "--service", "orders"); code != 0 || rep.Count(report.Promoted) != 1 {
		t.Fatalf("promote B: %d %+v\n%s", code, rep, logs)
	}
	code, rep, logs = w.run("rollback", "--env", "staging", "--service", "orders", "--to", commitA[:8], "--reason", "500s")
	if code != 0 || rep.Kind != "rollback" || status(rep, "orders").Digest != v1["orders"] {
		t.Fatalf("rollback: %d %+v\n%s", code, rep, logs)
	}
	code, rep, logs = w.run("promote", "--from", "dev", "--to", "staging", "--service", "orders")
	if code != 1 || !strings.Contains(logs, "orders is pinned in staging to "+v1["orders"]+" (500s, by release-manager") {
		t.Fatalf("promote over the pin: %d\n%s", code, logs)
	}
	if code, rep, _ = w.run("unpin", "--env", "staging", "--service", "orders"); code != 0 || rep.Kind != "unpin" || !rep.Deployments[0].Changed {
		t.Fatalf("unpin: %d %+v", code, rep)
	}
	if code, rep, _ = w.run("pin", "--env", "staging", "--service", "orders", "--reason", "freeze"); code != 0 || !rep.Deployments[0].Changed {
		t.Fatalf("pin: %d %+v", code, rep)
	}
	if code, _, _ = w.run("reject", "--digest", v1["catalog"]); code != 2 {
		t.Fatalf("reject without a reason: exit %d, want 2", code)
	}
	code, rep, logs = w.run("reject", "--digest", v1["catalog"], "--reason", "CVE-2025-0001")
	if code != 0 || rep.Kind != "reject" || !strings.Contains(logs, "catalog in dev still runs it") {
		t.Fatalf("reject: %d %+v\n%s", code, rep, logs)
	}
}

func status(r *report.Report, service string) report.Service {
	for _, s := range r.Services {
		if s.Name == service {
			return s
		}
	}
	return report.Service{}
}
