package main

import (
	"github.com/slipwayci/slipway/ci/internal/dagger"
)

// Paths inside the worker container.
const (
	toolBin  = "/usr/local/bin/slipway"
	workDir  = "/work"
	srcMount = "/work/src"
)

// Tool returns the slipway worker: the plain-Go half of the pipeline (plan,
// registry, signing, GitOps), compiled from this module's own source.
func (m *Slipway) Tool() *dagger.Container {
	bin := m.goBuild(m.ToolSource, "./cmd/slipway")
	return dag.Container().From(m.ToolImage).
		WithFile(toolBin, bin).
		WithWorkdir(workDir).
		WithEnvVariable("SLIPWAY_IN_CONTAINER", "1")
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

// worker is the tool with this run's registry and credentials wired in.
// Secrets travel as secret environment variables only.
func (m *Slipway) worker(reg *registryTarget) *dagger.Container {
	c := m.Tool()
	if reg.service != nil {
		c = c.WithServiceBinding(reg.host, reg.service)
	}
	if m.RegistryUsername != "" {
		c = c.WithEnvVariable("SLIPWAY_REGISTRY_USERNAME", m.RegistryUsername)
	}
	if m.RegistryPassword != nil {
		c = c.WithSecretVariable("SLIPWAY_REGISTRY_PASSWORD", m.RegistryPassword)
	}
	if m.SigningKey != nil {
		c = c.WithSecretVariable("SLIPWAY_SIGNING_KEY", m.SigningKey)
	}
	if m.SigningPassword != nil {
		c = c.WithSecretVariable("SLIPWAY_SIGNING_PASSWORD", m.SigningPassword)
	}
	if m.GitopsToken != nil {
		c = c.WithSecretVariable("SLIPWAY_GITOPS_TOKEN", m.GitopsToken)
	}
	if m.GitopsSSHKey != nil {
		c = c.WithSecretVariable("SLIPWAY_GITOPS_SSH_KEY", m.GitopsSSHKey)
	}
	if m.GitopsKnownHosts != nil {
		c = c.WithSecretVariable("SLIPWAY_GITOPS_KNOWN_HOSTS", m.GitopsKnownHosts)
	}
	return c
}
