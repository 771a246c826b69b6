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
	"github.com/slipwayci/slipway/internal/dockerfile"
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
	c, err := m.build(p, s).Sync(ctx)
	if err != nil {
		return nil, m.buildFailed(ctx, p, s, err)
	}
	return c, nil
}

// buildFailed is the error of a failed build of s's image: the service, its
// Dockerfile and context, and what the failing step printed.
func (m *Slipway) buildFailed(ctx context.Context, p *plan.Plan, s plan.Service, err error) error {
	return m.buildFailedFor(ctx, p, s, "", err)
}

// buildFailedFor is buildFailed for one platform of a multi-platform
// image ("": the engine's own).
func (m *Slipway) buildFailedFor(ctx context.Context, p *plan.Plan, s plan.Service, platform string, err error) error {
	what := s.Name
	if platform != "" {
		what += " for " + platform
	}
	return fmt.Errorf("building %s from %s (context %s): %w", what, path.Join(s.Dir, s.Dockerfile), s.Context, m.failedStep(ctx, p, s, platform, err))
}

// buildContext is s's build context without slipway's own files: no
// service.yaml of a service inside it, and at the repository root no
// slipway.yaml or .slipway/, so editing them never ships in an image.
func (m *Slipway) buildContext(p *plan.Plan, s plan.Service) *dagger.Directory {
	return m.Source.Directory(s.Context).Filter(dagger.DirectoryFilterOpts{Exclude: p.ContextExcludes(s)})
}

// build is the lazy image of s; nothing runs until it is used.
func (m *Slipway) build(p *plan.Plan, s plan.Service) *dagger.Container {
	return m.buildStageFor(p, s, s.Target, "")
}

// buildStage builds one stage of s's Dockerfile (the last when target is
// ""), with s's context and build arguments, labelled as s's image.
func (m *Slipway) buildStage(p *plan.Plan, s plan.Service, target string) *dagger.Container {
	return m.buildStageFor(p, s, target, "")
}

// buildStageFor is buildStage for one platform ("": the engine's own). The
// Dockerfile frontend sets TARGETPLATFORM, TARGETOS, TARGETARCH,
// TARGETVARIANT and BUILDPLATFORM as BuildKit does, so a stage
// FROM --platform=$BUILDPLATFORM cross-compiles natively and the others
// run on the target platform (emulated when it is not the engine's).
func (m *Slipway) buildStageFor(p *plan.Plan, s plan.Service, target, platform string) *dagger.Container {
	c := m.dockerBuild(p, s, s.BuildDockerfile, target, platform)
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

// dockerBuild builds s's context with the given Dockerfile text in place
// of s's own (none: s's own), s's build arguments and build secrets.
func (m *Slipway) dockerBuild(p *plan.Plan, s plan.Service, dockerfileText, target, platform string) *dagger.Container {
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
	if dockerfileText != "" {
		dir = dir.WithNewFile(plan.GeneratedDockerfile, dockerfileText).WithNewFile(".dockerignore", s.BuildDockerignore)
		dockerfile = plan.GeneratedDockerfile
	}
	return dir.DockerBuild(dagger.DirectoryDockerBuildOpts{
		Dockerfile: dockerfile,
		Target:     target,
		BuildArgs:  args,
		Secrets:    append(knownBuildSecrets(s.BuildSecrets), buildCA()...),
		Platform:   dagger.Platform(platform),
	})
}

// stepLog is where a replayed build step writes what it printed.
const stepLog = "/tmp/.slipway-failed-step.log"

// failedStep explains a failed build of s (target "": the image) with what
// the failing RUN step printed: the engine's error names only the step's
// command and exit code, so the Dockerfile is cut after that step, the step
// is replayed writing its output to a file (every earlier step is a cache
// hit), and the file is read. Errors that name no RUN step, and steps that
// cannot be replayed (exec form, heredoc), are returned as they are.
func (m *Slipway) failedStep(ctx context.Context, p *plan.Plan, s plan.Service, platform string, err error) error {
	err = explain(err)
	process, _, ok := dockerfile.FailedProcess(err.Error())
	if !ok {
		return err
	}
	own, rerr := m.Source.File(path.Join(s.Dir, s.Dockerfile)).Contents(ctx)
	if rerr != nil {
		return err
	}
	replay, step, ok := dockerfile.ReplayStep(own, process, stepLog)
	if ok && s.BuildDockerfile != "" {
		// The step is named by its line in the service's Dockerfile, and
		// replayed from the one slipway generated from it.
		replay, _, ok = dockerfile.ReplayStep(s.BuildDockerfile, process, stepLog)
	}
	if !ok {
		return err
	}
	out, rerr := m.dockerBuild(p, s, replay, "", platform).File(stepLog).Contents(ctx)
	if rerr != nil || strings.TrimSpace(out) == "" {
		return err
	}
	// A step may print a build secret it mounts: never into a report.
	out = redactBuildSecrets(out)
	return fmt.Errorf("%w\nthe step at %s:%d printed (replayed to read its output):\n%s", err, path.Join(s.Dir, s.Dockerfile), step.Line, lastLines(out, outputLines))
}

// The build secrets of one call, read from --build-secrets once.
var (
	buildSecretsOnce sync.Once
	buildSecretsMu   sync.Mutex
	buildSecretsByID map[string]*dagger.Secret
	buildSecretsErr  error
	// buildSecretValues are the values, to redact from step output.
	buildSecretValues []string
)

// redactBuildSecrets replaces every build secret's value in s.
func redactBuildSecrets(s string) string {
	buildSecretsMu.Lock()
	defer buildSecretsMu.Unlock()
	for _, v := range buildSecretValues {
		if strings.TrimSpace(v) != "" {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}

// checkBuildSecrets reads --build-secrets (once per call) and fails, naming
// the service and the ids, when s's build.secrets asks for one it lacks;
// it also makes the caCertificates bundle that builds mount. Every path
// that builds an image calls it first.
func (m *Slipway) checkBuildSecrets(ctx context.Context, p *plan.Plan, s plan.Service) error {
	m.prepareBuildCA(ctx, p)
	if len(s.BuildSecrets) == 0 {
		return nil
	}
	buildSecretsOnce.Do(func() {
		byID := map[string]*dagger.Secret{}
		var secretValues []string
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
				secretValues = append(secretValues, v)
			}
		}
		buildSecretsMu.Lock()
		buildSecretsByID, buildSecretValues = byID, secretValues
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
