package main

import (
	"context"
	"sync"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/cabundle"
	"github.com/slipwayci/slipway/internal/plan"
)

// slipway.yaml's caCertificates, in tests and builds. The bundle given to
// a tool replaces its own roots (SSL_CERT_FILE, PIP_CERT, …), so it holds
// the image's system roots as well as the project's certificates.

// systemBundle is the CA bundle of c's filesystem, or "" when it has none.
func systemBundle(ctx context.Context, c *dagger.Container) (where, bundle string) {
	for _, p := range cabundle.SystemBundles {
		if b, err := c.File(p).Contents(ctx); err == nil {
			return p, b
		}
	}
	return "", ""
}

// withCACertificates gives a test container (image: the image it runs)
// the project's certificates: the image's own bundle with them added,
// mounted where the variables of cabundle.Env point and over the image's
// bundle (test containers never ship), and apt's configuration for it.
func withCACertificates(ctx context.Context, c *dagger.Container, p *plan.Plan, image string) *dagger.Container {
	if p.Project.CABundle == "" {
		return c
	}
	where, own := systemBundle(ctx, dag.Container().From(image))
	files := dag.Directory().
		WithNewFile("ca-certificates.crt", cabundle.Merge(own, p.Project.CABundle)).
		WithNewFile("apt.conf", cabundle.AptConf)
	bundle := files.File("ca-certificates.crt")
	c = c.WithMountedFile(cabundle.BundlePath, bundle).WithMountedFile(cabundle.AptConfPath, files.File("apt.conf"))
	if where != "" {
		c = c.WithMountedFile(where, bundle)
	}
	return c
}

// The bundle of one call's builds, made once.
var (
	buildCAOnce    sync.Once
	buildCAMu      sync.Mutex
	buildCASecrets []*dagger.Secret
)

// prepareBuildCA makes the secrets that every RUN step of a build mounts
// when slipway.yaml sets caCertificates (plan.CAMounts): the system roots
// of every base image the selected services build from, the project's
// certificates, and apt's configuration. One bundle serves every build of
// the call, since a secret is named by its id.
func (m *Slipway) prepareBuildCA(ctx context.Context, p *plan.Plan) {
	if p.Project.CABundle == "" {
		return
	}
	buildCAOnce.Do(func() {
		var bundles []string
		seen := map[string]bool{}
		for _, s := range p.Services {
			if !s.Selected {
				continue
			}
			for _, ref := range s.BaseImages {
				if !seen[ref] {
					seen[ref] = true
					_, b := systemBundle(ctx, dag.Container().From(ref))
					bundles = append(bundles, b)
				}
			}
		}
		bundle := cabundle.Merge(append(bundles, p.Project.CABundle)...)
		buildCAMu.Lock()
		buildCASecrets = []*dagger.Secret{dag.SetSecret(cabundle.BundleSecret, bundle), dag.SetSecret(cabundle.AptConfSecret, cabundle.AptConf)}
		buildCAMu.Unlock()
	})
}

// buildCA are the secrets prepareBuildCA made (none before it ran).
func buildCA() []*dagger.Secret {
	buildCAMu.Lock()
	defer buildCAMu.Unlock()
	return buildCASecrets
}
