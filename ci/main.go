// slipway is the whole CI/CD pipeline of a monorepo of containerized
// microservices: it tests every service in containers (with its declared
// dependencies such as Postgres bound as services), builds multi-stage images
// tagged with the full commit SHA, smoke-tests, scans, signs and attests
// them, pushes them, writes the new digests into a GitOps repository, and
// promotes already-built images from one environment to the next.
//
// Run `dagger call ci` in a repository laid out like this one: with no
// registry or GitOps repository given it uses an embedded registry and a
// throwaway GitOps repository, so the first run needs no credentials.
package main

import (
	"github.com/slipwayci/slipway/ci/internal/dagger"
)

// Slipway is the pipeline of one repository.
type Slipway struct {
	// The repository being built.
	Source *dagger.Directory
	// keyless is this call's keyless settings for the worker (wire.Keyless
	// as JSON), read from slipway.yaml when the call resolves its plan.
	keyless string
	// +private
	WorkerSource *dagger.Directory
	// +private
	ScannerSource *dagger.Directory
	// +private
	VulnDB *dagger.Directory
	// +private
	ScannerImage string

	// Registry address (host[:port][/namespace]); empty means the embedded registry.
	// +private
	Registry string
	// Registry user name.
	// +private
	RegistryUsername string
	// +private
	RegistryPassword *dagger.Secret

	// GitOps repository URL; empty means the throwaway repository seeded from deploy/.
	// +private
	GitopsRepo string
	// GitOps branch.
	// +private
	GitopsBranch string
	// +private
	GitopsToken *dagger.Secret
	// +private
	GitopsSSHKey *dagger.Secret
	// +private
	GitopsKnownHosts *dagger.Secret

	// +private
	SigningKey *dagger.Secret
	// +private
	SigningPassword *dagger.Secret
	// +private
	OidcToken *dagger.Secret
	// +private
	OidcRequestURL string
	// +private
	OidcRequestToken *dagger.Secret

	// Commit being built (full SHA); empty means read from the source's .git.
	// +private
	Commit string
	// Branch being built; empty means read from the source's .git.
	// +private
	Branch string

	// URL of the source repository, recorded in provenance.
	// +private
	SourceURL string

	// Image the slipway worker is compiled in.
	// +private
	GoImage string
	// Base image the slipway worker runs on when compiled from source.
	// +private
	WorkerBaseImage string
	// +private
	WorkerImageRef string
	// +private
	WorkerFromSource bool
	// +private
	BuildSecrets *dagger.Secret

	// The caller runs in CI: the throwaway GitOps repository is refused
	// unless GitopsThrowaway.
	// +private
	InCI bool
	// +private
	GitopsThrowaway bool
	// +private
	Kubeconfig *dagger.Secret
}

func New(
	// The repository to build: slipway.yaml, services/ and deploy/.
	// +defaultPath="/"
	// +ignore=["**/node_modules", "**/__pycache__", "**/.venv", "bin", ".slipway-out", ".git/objects", ".git/logs", ".git/lfs"]
	source *dagger.Directory,
	// slipway's own source, from which its worker is compiled (leave unset).
	// +defaultPath="/"
	// +ignore=["*", "!go.mod", "!go.sum", "!cmd", "!internal"]
	workerSource *dagger.Directory,
	// The pinned osv-scanner module the scanner is compiled from (leave unset).
	// +defaultPath="/hack/tools/osv-scanner"
	scannerSource *dagger.Directory,
	// Offline vulnerability database for the scanner of slipway.yaml's
	// scan.scanner: for osv-scanner a directory laid out as
	// osv-scalibr/<Ecosystem>/all.zip, for trivy Trivy's cache directory
	// (db/trivy.db and db/metadata.json). With it, ci scans every built image
	// before it is pushed and gates it on the first environment's policy.
	// Without it, osv-scanner does not scan (the report says so) and Trivy
	// downloads its own database into a cache volume.
	// +optional
	vulnDb *dagger.Directory,
	// Scanner image: for osv-scanner, used instead of compiling osv-scanner
	// v2.5.0 from source (it must hold /usr/local/bin/osv-scanner); for trivy,
	// used instead of aquasec/trivy:0.70.0 (trivy on its PATH, at
	// /usr/local/bin/trivy).
	// +optional
	scannerImage string,
	// Registry address, e.g. ghcr.io/acme or registry.example.com:5000.
	// Default: registry.address in slipway.yaml, else the embedded registry.
	// +optional
	registry string,
	// User name for the registry (for GHCR: your GitHub user or "x-access-token").
	// +optional
	registryUsername string,
	// Password or token for the registry.
	// +optional
	registryPassword *dagger.Secret,
	// GitOps repository URL (https://, ssh:// or git@host:path).
	// Default: gitops.repo in slipway.yaml, else a throwaway repository seeded from deploy/.
	// +optional
	gitopsRepo string,
	// Branch of the GitOps repository. Default: gitops.branch in slipway.yaml (main).
	// +optional
	gitopsBranch string,
	// Token for an https GitOps repository (and for opening pull requests on GitHub).
	// +optional
	gitopsToken *dagger.Secret,
	// SSH private key for an ssh GitOps repository.
	// +optional
	gitopsSshKey *dagger.Secret,
	// known_hosts lines for the ssh GitOps host (required with --gitops-ssh-key).
	// +optional
	gitopsKnownHosts *dagger.Secret,
	// cosign private key (PEM, encrypted). Without it images are published unsigned,
	// and environments that require signatures refuse them.
	// +optional
	signingKey *dagger.Secret,
	// Password of the cosign private key.
	// +optional
	signingPassword *dagger.Secret,
	// OIDC token (audience sigstore) to sign keylessly with, instead of a
	// key: Fulcio certifies a key for the token's identity for this run.
	// Tokens expire within minutes: in GitHub Actions prefer
	// --oidc-request-url and --oidc-request-token.
	// +optional
	oidcToken *dagger.Secret,
	// GitHub Actions' token request endpoint (ACTIONS_ID_TOKEN_REQUEST_URL,
	// set when the job has `permissions: id-token: write`): with
	// --oidc-request-token, images are signed keylessly, a fresh token
	// being requested when a certificate is needed.
	// +optional
	oidcRequestUrl string,
	// The bearer token of that endpoint (ACTIONS_ID_TOKEN_REQUEST_TOKEN).
	// +optional
	oidcRequestToken *dagger.Secret,
	// Commit to build, full 40-character SHA. Default: read from the source's .git.
	// +optional
	commit string,
	// Branch being built. Default: read from the source's .git.
	// +optional
	branch string,
	// URL of the source repository, recorded in the SLSA provenance of every
	// image (e.g. https://github.com/acme/shop). Default: file:///<project name>.
	// +optional
	sourceUrl string,
	// Go toolchain image the worker is compiled in.
	// +optional
	// +default="golang:1.26-alpine"
	goImage string,
	// Base image of the worker container when the worker is compiled from
	// source (and of the scanner compiled from source).
	// +optional
	// +default="alpine:3.22"
	workerBaseImage string,
	// Prebuilt worker image to run instead of compiling the worker
	// (repository:tag or @sha256:…; made by worker-image). It is used only
	// if it was built from exactly this module's source (its
	// dev.slipway.worker-source label), pinned by digest for the call.
	// Default: the image ci/worker.lock records for this source, else the
	// worker is compiled from source.
	// +optional
	workerImage string,
	// Always compile the worker from this module's source (forks, offline
	// use, or to check a prebuilt image against its source).
	// +optional
	workerFromSource bool,
	// Build secrets, one NAME=value per line (e.g. file://build.env or
	// env://BUILD_SECRETS): a service whose build.secrets lists NAME gets
	// it in its Dockerfile as RUN --mount=type=secret,id=NAME. The values
	// never reach an image layer, the configuration or the report.
	// +optional
	buildSecrets *dagger.Secret,
	// Running in CI: ci, deploy, promote, rollback, pin, unpin and reject
	// then refuse to write into the throwaway GitOps repository (which no
	// cluster reads: a green run that deployed nothing) unless
	// --gitops-throwaway is given. Functions cannot read the caller's
	// environment: pass --in-ci=${CI:-false} (GitHub Actions and most CI
	// systems set CI=true).
	// +optional
	inCi bool,
	// Write into the throwaway GitOps repository even with --in-ci (a CI
	// job that only tries the pipeline out).
	// +optional
	gitopsThrowaway bool,
	// kubeconfig with read access to the environments' clusters (each
	// environment's cluster.context picks its own), for verify, --verify
	// and the promotion gates minSoak. e.g. file://$HOME/.kube/config.
	// Client certificates or tokens only (no exec plugins): in CI, a
	// ServiceAccount token (docs/verification.md).
	// +optional
	kubeconfig *dagger.Secret,
) *Slipway {
	return &Slipway{
		Source:           source,
		WorkerSource:     workerSource,
		ScannerSource:    scannerSource,
		VulnDB:           vulnDb,
		ScannerImage:     scannerImage,
		Registry:         registry,
		RegistryUsername: registryUsername,
		RegistryPassword: registryPassword,
		GitopsRepo:       gitopsRepo,
		GitopsBranch:     gitopsBranch,
		GitopsToken:      gitopsToken,
		GitopsSSHKey:     gitopsSshKey,
		GitopsKnownHosts: gitopsKnownHosts,
		SigningKey:       signingKey,
		SigningPassword:  signingPassword,
		OidcToken:        oidcToken,
		OidcRequestURL:   oidcRequestUrl,
		OidcRequestToken: oidcRequestToken,
		Commit:           commit,
		Branch:           branch,
		SourceURL:        sourceUrl,
		GoImage:          goImage,
		WorkerBaseImage:  workerBaseImage,
		WorkerImageRef:   workerImage,
		WorkerFromSource: workerFromSource,
		BuildSecrets:     buildSecrets,
		InCI:             inCi,
		GitopsThrowaway:  gitopsThrowaway,
		Kubeconfig:       kubeconfig,
	}
}
