package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/plan"
	"github.com/slipwayci/slipway/internal/wire"
)

// Worker returns the slipway worker: the plain-Go half of the pipeline
// (plan, registry, signing, GitOps), which the module runs in this
// container for every step that talks to a registry, a signing key or a git
// server. It runs from the prebuilt worker image made from exactly this
// module's source when one can be pulled (see WorkerImage), pinned by
// digest for the whole call, and is compiled from source otherwise, or with
// --worker-from-source.
func (m *Slipway) Worker() *dagger.Container {
	workerOnce.Do(func() { workerCtr = m.resolveWorker(context.Background()) })
	return workerCtr
}

// The worker is resolved once per function call (each call is its own
// process).
var (
	workerOnce sync.Once
	workerCtr  *dagger.Container
)

// workerLock records the prebuilt workers the project's release workflow
// published: one line per worker source, "<source digest> <image>@sha256:…".
// A worker is pulled only by a digest recorded here (or given with
// --worker-image): a tag alone would let whoever can push to that
// repository run code that holds the signing key.
//
//go:embed worker.lock
var workerLock string

// workerSourceLabel records, in a prebuilt worker image, the digest of the
// source it was compiled from.
const workerSourceLabel = "dev.slipway.worker-source"

// resolveWorker picks the worker container for this call.
func (m *Slipway) resolveWorker(ctx context.Context) *dagger.Container {
	if m.WorkerFromSource {
		return m.workerFromSource()
	}
	c := m.prebuilt(ctx, "worker", m.WorkerSource, m.WorkerImageRef, m.workerFromSource)
	return c.WithWorkdir(wire.WorkDir).WithEnvVariable(wire.EnvInContainer, "1")
}

// prebuilt returns the prebuilt image of what (the worker, the scanner)
// made from exactly src: explicit when given, else the one ci/worker.lock
// records for src's digest; pinned by digest, and only if its
// dev.slipway.worker-source label is src's digest. Otherwise it returns
// build(), the image compiled from source, and says why.
func (m *Slipway) prebuilt(ctx context.Context, what string, src *dagger.Directory, explicit string, build func() *dagger.Container) *dagger.Container {
	digest, err := m.sourceDigest(ctx, src)
	if err != nil {
		progress("%s: cannot digest its source (%v): compiling it", what, err)
		return build()
	}
	ref := explicit
	if ref == "" {
		if ref = lockedWorker(workerLock, digest); ref == "" {
			progress("%s: no prebuilt image recorded for source %s (ci/worker.lock): compiling it from source", what, digest[:19])
			return build()
		}
	}
	c := dag.Container().From(ref)
	label, err := c.Label(ctx, workerSourceLabel)
	switch {
	case err != nil:
		progress("%s: cannot pull %s (%s): compiling it from source", what, ref, firstLine(err.Error()))
		return build()
	case label != digest:
		// Never run an image made from other source: the worker holds the
		// signing key, the scanner decides what is published.
		progress("%s: %s was built from other source (%q; this module's: %s): compiling it from source", what, ref, label, digest)
		return build()
	}
	pinned, err := c.ImageRef(ctx)
	if err != nil {
		progress("%s: resolving %s: %s: compiling it from source", what, ref, firstLine(err.Error()))
		return build()
	}
	progress("%s: prebuilt %s", what, pinned)
	return dag.Container().From(pinned)
}

// lockedWorker finds the image recorded in lock for the source digest src
// ("" when none). Only digest references count.
func lockedWorker(lock, src string) string {
	for _, line := range strings.Split(lock, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") && f[0] == src && strings.Contains(f[1], "@sha256:") {
			return f[1]
		}
	}
	return ""
}

// workerRef is the prebuilt worker's reference for a source digest.
func workerRef(repo, sourceDigest string) string {
	hex := strings.TrimPrefix(sourceDigest, "sha256:")
	if len(hex) > 16 {
		hex = hex[:16]
	}
	return repo + ":src-" + hex
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// workerSourceDigest is the source digest of the worker.
func (m *Slipway) workerSourceDigest(ctx context.Context) (string, error) {
	return m.sourceDigest(ctx, m.WorkerSource)
}

// sourceDigest is a sha256 over the names and contents of the files of src
// a Go build uses (tests and test data left out), computed the same way
// wherever it runs.
func (m *Slipway) sourceDigest(ctx context.Context, src *dagger.Directory) (string, error) {
	out, err := dag.Container().From(m.WorkerBaseImage).
		WithDirectory("/src", src).
		WithWorkdir("/src").
		WithExec([]string{"sh", "-c", "find . -type f ! -name '*_test.go' ! -path '*/testdata/*' | LC_ALL=C sort | " +
			"while read -r f; do echo \"$f\"; sha256sum < \"$f\"; done | sha256sum | cut -d' ' -f1"}).
		Stdout(ctx)
	if err != nil {
		return "", err
	}
	out = strings.TrimSpace(out)
	if len(out) != 64 {
		return "", fmt.Errorf("unexpected digest %q", out)
	}
	return "sha256:" + out, nil
}

// workerFromSource compiles the worker from this module's own source.
func (m *Slipway) workerFromSource() *dagger.Container {
	bin := m.goBuild(m.WorkerSource, "./cmd/slipway")
	return dag.Container().From(m.WorkerBaseImage).
		WithFile(wire.WorkerBin, bin).
		WithWorkdir(wire.WorkDir).
		WithEnvVariable(wire.EnvInContainer, "1")
}

// WorkerImage is the worker compiled from this module's source, labelled
// with its source digest: what the release workflow publishes so that
// fresh CI runners pull it instead of compiling it:
// `dagger call worker-image publish --address "$(dagger call worker-ref)"`.
func (m *Slipway) WorkerImage(ctx context.Context) (*dagger.Container, error) {
	src, err := m.workerSourceDigest(ctx)
	if err != nil {
		return nil, err
	}
	return m.workerFromSource().
		WithLabel(workerSourceLabel, src).
		WithLabel("org.opencontainers.image.title", "slipway-worker").
		WithLabel("org.opencontainers.image.description", "The slipway worker (plan, registry, signing, GitOps), compiled from source "+src).
		WithEntrypoint([]string{wire.WorkerBin}), nil
}

// WorkerRef prints a tag for the prebuilt worker of this module's source in
// a repository ("<repository>:src-<16 hex digits of the source digest>"),
// and the source digest, as the release workflow records them in
// ci/worker.lock; with --scanner, the same for the osv-scanner image.
func (m *Slipway) WorkerRef(
	ctx context.Context,
	// Repository of prebuilt images.
	// +optional
	// +default="ghcr.io/slipwayci/slipway-worker"
	repository string,
	// Print the prebuilt osv-scanner's tag and source digest instead.
	// +optional
	scanner bool,
) (string, error) {
	src := m.WorkerSource
	if scanner {
		src = m.ScannerSource
	}
	d, err := m.sourceDigest(ctx, src)
	if err != nil {
		return "", err
	}
	return workerRef(repository, d) + " " + d + "\n", nil
}

// goBuild compiles the Go package pkg of the module in src into a static
// binary, with the Go module and build caches in namespaced cache volumes.
func (m *Slipway) goBuild(src *dagger.Directory, pkg string) *dagger.File {
	return dag.Container().From(m.GoImage).
		WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOFLAGS", "-mod=mod -trimpath").
		WithEnvVariable("GOCACHE", "/root/.cache/go-build").
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("slipway-go-build")).
		WithMountedCache("/go/pkg/mod", dag.CacheVolume("slipway-go-mod")).
		WithEnvVariable("GOMODCACHE", "/go/pkg/mod").
		WithDirectory("/src", src).
		WithWorkdir("/src").
		WithExec([]string{"go", "build", "-ldflags=-s -w", "-o", "/out/bin", pkg}).
		File("/out/bin")
}

// workerFor is the worker with this run's registry and credentials wired
// in. Secrets travel as secret environment variables only.
func (m *Slipway) workerFor(reg *registryTarget) *dagger.Container {
	c := m.Worker()
	if reg.service != nil {
		c = c.WithServiceBinding(reg.host, reg.service)
	}
	if m.RegistryUsername != "" {
		c = c.WithEnvVariable(wire.EnvRegistryUsername, m.RegistryUsername)
	}
	if m.OidcRequestURL != "" {
		c = c.WithEnvVariable(wire.EnvOIDCRequestURL, m.OidcRequestURL)
	}
	if m.keyless != "" {
		c = c.WithEnvVariable(wire.EnvKeyless, m.keyless)
	}
	for _, s := range []struct {
		name   string
		secret *dagger.Secret
	}{
		{wire.EnvRegistryPassword, m.RegistryPassword},
		{wire.EnvSigningKey, m.SigningKey},
		{wire.EnvSigningPassword, m.SigningPassword},
		{wire.EnvOIDCToken, m.OidcToken},
		{wire.EnvOIDCRequestToken, m.OidcRequestToken},
		{wire.EnvGitopsToken, m.GitopsToken},
		{wire.EnvGitopsSSHKey, m.GitopsSSHKey},
		{wire.EnvGitopsKnownHosts, m.GitopsKnownHosts},
	} {
		if s.secret != nil {
			c = c.WithSecretVariable(s.name, s.secret)
		}
	}
	return c
}

// signs reports whether this run signs images: with a key, or keylessly.
func (m *Slipway) signs() bool {
	return m.SigningKey != nil || m.OidcToken != nil || m.OidcRequestToken != nil
}

// keylessSettings is slipway.yaml's signing configuration as the worker
// takes it (wire.Keyless as JSON); "" when there is none.
func keylessSettings(p *plan.Plan) (string, error) {
	s := p.Project.Signing
	k := wire.Keyless{Format: s.Format, SigningConfig: s.Keyless.SigningConfigJSON, TrustedRoot: s.Keyless.TrustedRootJSON, IgnoreSCT: s.Keyless.InsecureIgnoreSCT}
	var err error
	if len(s.Identities) > 0 {
		if k.Identities, err = json.Marshal(s.Identities); err != nil {
			return "", err
		}
	}
	for _, e := range p.Project.Environments {
		if len(e.SignedBy) == 0 {
			continue
		}
		if k.SignedBy == nil {
			k.SignedBy = map[string]json.RawMessage{}
		}
		if k.SignedBy[e.Name], err = json.Marshal(e.SignedBy); err != nil {
			return "", err
		}
	}
	if k.SigningConfig == "" && k.TrustedRoot == "" && k.Identities == nil && k.SignedBy == nil && k.Format == "" {
		return "", nil
	}
	b, err := json.Marshal(k)
	return string(b), err
}
