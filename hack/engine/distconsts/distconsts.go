// Package distconsts is slipway's stand-in for Dagger's unpublished
// github.com/dagger/dagger/engine/distconsts module. The constant names are the
// ones the Dagger v0.19.10 sources refer to; the values describe the host-process
// engine that hack/engine.sh runs (no engine container, no registry.dagger.io).
//
// The paths under /usr/local/lib/slipway-engine are compiled into the engine:
// hack/engine.sh lays them out before it starts the engine.
package distconsts

const (
	// HarnessLibDir holds the files the engine expects at fixed paths.
	HarnessLibDir = "/usr/local/lib/slipway-engine"

	// RuncPath is the OCI runtime the engine's worker runs (Debian's runc).
	RuncPath = "/usr/sbin/runc"

	// DaggerInitPath is the static init binary bind-mounted into every container.
	DaggerInitPath = HarnessLibDir + "/dagger-init"

	// EngineContainerBuiltinContentDir is the OCI layout holding the SDK runtime
	// images the engine loads by digest (see GoSDKManifestDigestEnvName).
	EngineContainerBuiltinContentDir = HarnessLibDir + "/builtin"

	// EngineCustomCACertsDir is where the engine looks for extra CA
	// certificates to install into containers. The harness leaves it empty.
	EngineCustomCACertsDir = HarnessLibDir + "/ca-certificates"

	// EngineDefaultStateDir is the engine's state root when --root is not given.
	EngineDefaultStateDir = "/var/lib/slipway-engine"

	// DefaultEngineSockAddr is the engine's listen address when --addr is not given.
	DefaultEngineSockAddr = "unix:///run/slipway-engine/engine.sock"

	// EngineContainerName names the engine when a client would start one as a container.
	EngineContainerName = "slipway-engine"

	// GoSDKManifestDigestEnvName is the engine environment variable holding the
	// manifest digest of the Go SDK runtime image in the builtin content store.
	GoSDKManifestDigestEnvName = "DAGGER_GO_SDK_MANIFEST_DIGEST"
	// PythonSDKManifestDigestEnvName is the Python twin of GoSDKManifestDigestEnvName.
	PythonSDKManifestDigestEnvName = "DAGGER_PYTHON_SDK_MANIFEST_DIGEST"
	// TypescriptSDKManifestDigestEnvName is the TypeScript twin of GoSDKManifestDigestEnvName.
	TypescriptSDKManifestDigestEnvName = "DAGGER_TYPESCRIPT_SDK_MANIFEST_DIGEST"

	// OCIVersionAnnotation is the manifest annotation carrying an engine image's version.
	OCIVersionAnnotation = "org.opencontainers.image.version"

	// AlpineVersion is the tag of the alpine image the engine names (for
	// example for terminals); the harness mirrors alpine:3.22 locally.
	AlpineVersion = "3.22"
	// AlpineImage is the alpine image reference the engine names.
	AlpineImage = "alpine:" + AlpineVersion

	// GolangVersion is the tag version of the Go image the engine names.
	GolangVersion = "1.25"
	// GolangImage is the Go image reference the engine names.
	GolangImage = "golang:" + GolangVersion + "-alpine"

	// BusyboxVersion is the tag of the busybox image the engine names.
	BusyboxVersion = "1.37"
	// BusyboxImage is the busybox image reference the engine names.
	BusyboxImage = "busybox:" + BusyboxVersion
)
