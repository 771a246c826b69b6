package main

import (
	"fmt"

	"github.com/slipwayci/slipway/ci/internal/dagger"
	"github.com/slipwayci/slipway/internal/wire"
)

// embeddedHost is the host name the embedded registry is bound as, and
// embeddedAddress the address images in it are named by.
const (
	embeddedHost    = "registry"
	embeddedPort    = 5000
	embeddedAddress = "registry:5000"
)

// registryTarget is where this run's images go.
type registryTarget struct {
	// address used in image references (host[:port][/namespace]).
	address string
	// host to bind service under, when the registry is a Dagger service.
	host string
	// service is the embedded registry, or nil for an external one.
	service *dagger.Service
	// insecure lists hosts reached over plain HTTP.
	insecure []string
}

// EmbeddedRegistry is the registry used when none is configured: a real
// OCI registry (go-containerregistry's, persisted in a cache volume) run as
// a Dagger service. Expose it on your machine to look inside:
// `dagger call embedded-registry up --ports 5000:5000`.
func (m *Slipway) EmbeddedRegistry() *dagger.Service {
	return m.Worker().
		WithMountedCache(wire.RegistryDir, dag.CacheVolume("slipway-embedded-registry")).
		WithExposedPort(embeddedPort).
		AsService(dagger.ContainerAsServiceOpts{Args: []string{
			wire.WorkerBin, "registry", "--addr", fmt.Sprintf(":%d", embeddedPort), "--dir", wire.RegistryDir,
		}})
}

// target resolves the registry of this run: the --registry argument, else
// slipway.yaml's registry.address, else the embedded registry.
func (m *Slipway) target(configured string, insecure []string) *registryTarget {
	addr := m.Registry
	if addr == "" {
		addr = configured
	}
	if addr == "" {
		return &registryTarget{address: embeddedAddress, host: embeddedHost, service: m.EmbeddedRegistry(), insecure: []string{embeddedAddress}}
	}
	return &registryTarget{address: addr, insecure: insecure}
}

func (r *registryTarget) embedded() bool { return r.service != nil }

// insecureArgs renders the --insecure flags of the worker.
func (r *registryTarget) insecureArgs() []string {
	var out []string
	for _, h := range r.insecure {
		out = append(out, "--insecure", h)
	}
	return out
}
