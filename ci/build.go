package main

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/buildsecrets"
	"github.com/slipwayci/slipway/internal/plan"
)

// Build builds one service's image from its Dockerfile (multi-stage builds
// and .dockerignore honoured), labelled with the commit, creation time,
// version, title, source and the service's input digest. It returns the
// container, so calls chain: `dagger call build --service orders terminal`.
func (m *Slipway) Build(
	ctx context.Context,
	// The service to build.
	service string,
) (*dagger.Container, error) {
	p, s, err := m.oneService(ctx, service)
	if err != nil {
		return nil, err
	}
	return m.build(p, s), nil
}

// buildContext is s's build context without slipway's own files: no
// service.yaml of a service inside it, and at the repository root no
// slipway.yaml or .slipway/, so editing them never ships in an image.
func (m *Slipway) buildContext(p *plan.Plan, s plan.Service) *dagger.Directory {
	return m.Source.Directory(s.Context).Filter(dagger.DirectoryFilterOpts{Exclude: p.ContextExcludes(s)})
}

// build is the lazy image of s; nothing runs until it is used.
func (m *Slipway) build(p *plan.Plan, s plan.Service) *dagger.Container {
	return m.buildStage(p, s, s.Target)
}

// buildStage builds one stage of s's Dockerfile (the last when target is
// ""), with s's context and build arguments, labelled as s's image.
func (m *Slipway) buildStage(p *plan.Plan, s plan.Service, target string) *dagger.Container {
	var args []dagger.BuildArg
	keys := make([]string, 0, len(s.EffectiveBuildArgs))
	for k := range s.EffectiveBuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, dagger.BuildArg{Name: k, Value: s.EffectiveBuildArgs[k]})
	}
	dir, dockerfile := m.buildContext(p, s), plan.ContextPath(s.Context, path.Join(s.Dir, s.Dockerfile))
	if s.BuildDockerfile != "" {
		// slipway.yaml's env reaches every stage, declared or not.
		dir = dir.WithNewFile(plan.GeneratedDockerfile, s.BuildDockerfile).WithNewFile(".dockerignore", s.BuildDockerignore)
		dockerfile = plan.GeneratedDockerfile
	}
	c := dir.DockerBuild(dagger.DirectoryDockerBuildOpts{
		Dockerfile: dockerfile,
		Target:     target,
		BuildArgs:  args,
		Secrets:    knownBuildSecrets(s.BuildSecrets),
	})
	labels := p.Labels(s)
	lk := make([]string, 0, len(labels))
	for k := range labels {
		lk = append(lk, k)
	}
	sort.Strings(lk)
	for _, k := range lk {
		c = c.WithLabel(k, labels[k])
	}
	// The same facts as manifest annotations, for registries and tools that
	// read annotations rather than the config.
	for _, k := range []string{"org.opencontainers.image.revision", "org.opencontainers.image.created", "org.opencontainers.image.title", "org.opencontainers.image.source"} {
		c = c.WithAnnotation(k, labels[k])
	}
	return c
}

// The build secrets of one call, read from --build-secrets once.
var (
	buildSecretsOnce sync.Once
	buildSecretsMu   sync.Mutex
	buildSecretsByID map[string]*dagger.Secret
	buildSecretsErr  error
)

// checkBuildSecrets reads --build-secrets (once per call) and fails, naming
// the service and the ids, when s's build.secrets asks for one it lacks.
// Every path that builds an image calls it first.
func (m *Slipway) checkBuildSecrets(ctx context.Context, s plan.Service) error {
	if len(s.BuildSecrets) == 0 {
		return nil
	}
	buildSecretsOnce.Do(func() {
		byID := map[string]*dagger.Secret{}
		if m.BuildSecrets != nil {
			text, err := m.BuildSecrets.Plaintext(ctx)
			if err != nil {
				buildSecretsErr = fmt.Errorf("reading --build-secrets: %w", err)
				return
			}
			values, err := buildsecrets.Parse(text)
			if err != nil {
				buildSecretsErr = err
				return
			}
			for id, v := range values {
				byID[id] = dag.SetSecret(id, v)
			}
		}
		buildSecretsMu.Lock()
		buildSecretsByID = byID
		buildSecretsMu.Unlock()
	})
	if buildSecretsErr != nil {
		return buildSecretsErr
	}
	buildSecretsMu.Lock()
	defer buildSecretsMu.Unlock()
	var missing []string
	for _, id := range s.BuildSecrets {
		if buildSecretsByID[id] == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("service %s: build.secrets lists %s, which --build-secrets does not hold (pass --build-secrets file://… or env://… with NAME=value lines)",
			s.Name, strings.Join(missing, ", "))
	}
	return nil
}

// knownBuildSecrets are the secrets for ids that checkBuildSecrets found.
func knownBuildSecrets(ids []string) []*dagger.Secret {
	buildSecretsMu.Lock()
	defer buildSecretsMu.Unlock()
	var out []*dagger.Secret
	for _, id := range ids {
		if sec := buildSecretsByID[id]; sec != nil {
			out = append(out, sec)
		}
	}
	return out
}
