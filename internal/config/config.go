// Package config loads and validates slipway's configuration: the project
// file slipway.yaml at the repository root and one optional service.yaml per
// service directory. Every error names the file, the field and, where known,
// the line, and loading fails before any container runs.
package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/cabundle"

	"go.yaml.in/yaml/v3"
)

// ProjectFile is the name of the project configuration file at the root.
const ProjectFile = "slipway.yaml"

// ServiceFile is the name of the optional per-service configuration file.
const ServiceFile = "service.yaml"

// Config is the whole, validated configuration of a repository.
type Config struct {
	// Project is slipway.yaml with defaults applied.
	Project Project `json:"project"`
	// Services are the discovered services, sorted by name.
	Services []Service `json:"services"`
	// Skipped are the directories the services globs matched that are not
	// services, each with the reason.
	Skipped []Skipped `json:"skipped,omitempty"`
}

// Skipped is a directory a services glob matched that is not a service.
type Skipped struct {
	Dir    string `json:"dir"`
	Reason string `json:"reason"`
}

// Project is the content of slipway.yaml.
type Project struct {
	// Version of the configuration format; only 1 exists.
	Version int `yaml:"version" json:"version"`
	// Name of the project, used in labels, commit messages and reports.
	Name string `yaml:"name" json:"name"`
	// Services are globs of the service directories, relative to the root
	// (path.Match syntax in each segment, e.g. "services/*", "src/*",
	// "apps/api"). Default: services/*, src/* and apps/*.
	Services []string `yaml:"services" json:"services"`
	// ServicesDir is the older form of Services: "dir" means "dir/*".
	ServicesDir string `yaml:"servicesDir" json:"servicesDir,omitempty"`
	// DefaultServices records that Services was not written (the default
	// globs apply, and a glob with no match is not an error).
	DefaultServices bool `yaml:"-" json:"defaultServices,omitempty"`
	// servicesFromDir records that Services was made from ServicesDir.
	servicesFromDir bool
	// Shared lists paths (files or directories, relative to the root) that
	// every service depends on: a change there affects every service.
	Shared []string `yaml:"shared" json:"shared"`
	// Parallelism bounds how many services are processed at once.
	Parallelism int `yaml:"parallelism" json:"parallelism"`
	// Registry says where images go.
	Registry Registry `yaml:"registry" json:"registry"`
	// Environments, in promotion order (e.g. dev, staging, prod).
	Environments []Environment `yaml:"environments" json:"environments"`
	// GitOps says where deployments are written.
	GitOps GitOps `yaml:"gitops" json:"gitops"`
	// Scan configures the vulnerability scanner.
	Scan Scan `yaml:"scan" json:"scan"`
	// Images is the policy every built image must meet before it runs.
	Images Images `yaml:"images" json:"images"`
	// Signing configures keyless signing and the keyless signers images
	// are accepted from.
	Signing Signing `yaml:"signing" json:"signing"`
	// Env is given to every service's setup and dependency step, tests
	// (test.env overrides it) and build (as build arguments, declared in
	// the Dockerfile or not; build.args overrides it): package proxies and
	// indexes such as GOPROXY, PIP_INDEX_URL or npm_config_registry. No
	// secrets here.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// CACertificates are PEM files in the repository (a corporate root, a
	// package mirror's CA) that every setup step, dependency step, test and
	// build trusts besides the image's own roots: through the variables
	// the common tools read (SSL_CERT_FILE, PIP_CERT, NODE_EXTRA_CA_CERTS,
	// …, see internal/cabundle), and in builds as a secret mount on every
	// RUN step, so the certificates never land in an image.
	CACertificates []string `yaml:"caCertificates" json:"caCertificates,omitempty"`
	// CABundle is the certificates CACertificates name, read when the
	// configuration is loaded (PEM, each once); the plan carries it from
	// the worker to the module.
	CABundle string `yaml:"-" json:"caBundle,omitempty"`
	// Setup are shell commands run in every test container before the
	// dependency step (OS packages a native dependency needs, say).
	Setup []string `yaml:"setup" json:"setup,omitempty"`
	// ServiceConfig configures services in slipway.yaml instead of a
	// service.yaml in their directory: the service directory, then what
	// its service.yaml would say. A repository adopts slipway with this
	// one file.
	ServiceConfig map[string]yaml.Node `yaml:"serviceConfig" json:"-"`
}

// BuildArgs are the build arguments of s: the variables that point tools
// at caCertificates' bundle, then the project's env, then the service's
// own build arguments over them.
func (p Project) BuildArgs(s Service) map[string]string {
	if len(p.Env) == 0 && p.CABundle == "" {
		return s.BuildArgs
	}
	out := p.caEnv()
	for k, v := range p.Env {
		out[k] = v
	}
	for k, v := range s.BuildArgs {
		out[k] = v
	}
	return out
}

// TestEnv is the environment of s's tests: the project's env, then the
// service's test.env over it.
func (p Project) TestEnv(s Service) map[string]string {
	out := p.caEnv()
	for k, v := range p.Env {
		out[k] = v
	}
	for k, v := range s.Test.Env {
		out[k] = v
	}
	return out
}

// caEnv is, when caCertificates are set, the variables that point tools at
// their bundle; env and a service's own variables override them.
func (p Project) caEnv() map[string]string {
	if p.CABundle == "" {
		return map[string]string{}
	}
	return cabundle.Env()
}

// SetupCommands are the commands run before s's dependency step: the
// project's setup, then the service's test.setup.
func (p Project) SetupCommands(s Service) []string {
	return append(append([]string(nil), p.Setup...), s.Test.Setup...)
}

// Signing is the keyless part of signing (a key pair needs no
// configuration: it is passed to the module as secrets).
type Signing struct {
	// Format is how a key pair's signatures and attestations are stored:
	// "bundle" (the default: Sigstore bundles as OCI referrers, cosign v3's
	// format) or "classic" (the ".sig" and ".att" tags that verifiers on
	// cosign v2 read). Keyless signatures are always bundles.
	Format string `yaml:"format" json:"format,omitempty"`
	// Keyless locates the Sigstore instance keyless signatures are made
	// with and verified against. Default: the public-good instance.
	Keyless Keyless `yaml:"keyless" json:"keyless"`
	// Identities are the keyless signers whose images are reused and
	// deployed (typically the CI workflow on the main branch), and
	// promoted to environments that do not list their own (signedBy).
	Identities []Identity `yaml:"identities" json:"identities,omitempty"`
}

// Keyless locates a Sigstore instance.
type Keyless struct {
	// SigningConfig is a Sigstore signing config (JSON, v0.2) in the
	// repository naming Fulcio, Rekor and the timestamp authorities.
	// Default: the public-good instance's.
	SigningConfig string `yaml:"signingConfig" json:"signingConfig,omitempty"`
	// TrustedRoot is a Sigstore trusted root (JSON) in the repository that
	// keyless signatures are verified against. Default: the public-good
	// instance's.
	TrustedRoot string `yaml:"trustedRoot" json:"trustedRoot,omitempty"`
	// InsecureIgnoreSCT skips the certificate transparency check: only for
	// a private Fulcio that logs to no CT log.
	InsecureIgnoreSCT bool `yaml:"insecureIgnoreSCT" json:"insecureIgnoreSCT,omitempty"`
	// SigningConfigJSON and TrustedRootJSON are those files' contents,
	// read when the configuration is loaded.
	SigningConfigJSON string `yaml:"-" json:"signingConfigJSON,omitempty"`
	TrustedRootJSON   string `yaml:"-" json:"trustedRootJSON,omitempty"`
}

// Identity is a keyless signer: the OIDC issuer and certificate identity
// of the signing certificate (exactly or by a regular expression matching
// the whole value), optionally narrowed by GitHub Actions claims.
type Identity struct {
	Issuer        string `yaml:"issuer" json:"issuer,omitempty"`
	IssuerRegexp  string `yaml:"issuerRegexp" json:"issuerRegexp,omitempty"`
	Subject       string `yaml:"subject" json:"subject,omitempty"`
	SubjectRegexp string `yaml:"subjectRegexp" json:"subjectRegexp,omitempty"`
	// Repository is "owner/name"; Ref a git ref such as refs/heads/main;
	// Workflow the workflow file, e.g. .github/workflows/ci.yml.
	Repository string `yaml:"repository" json:"repository,omitempty"`
	Ref        string `yaml:"ref" json:"ref,omitempty"`
	Workflow   string `yaml:"workflow" json:"workflow,omitempty"`
}

// SignersFor are the keyless identities environment env accepts: its own
// signedBy, else signing.identities.
func (p Project) SignersFor(env string) []Identity {
	for _, e := range p.Environments {
		if e.Name == env && len(e.SignedBy) > 0 {
			return e.SignedBy
		}
	}
	return p.Signing.Identities
}

// Images is the image policy: besides a non-root user and the declared
// port exposed (always checked), the labels every image must carry.
type Images struct {
	// RequiredLabels are label keys every built image must carry with a
	// non-empty value (set them with LABEL in the Dockerfile), e.g.
	// org.opencontainers.image.licenses. slipway's own OCI labels are
	// always checked.
	RequiredLabels []string `yaml:"requiredLabels" json:"requiredLabels,omitempty"`
	// Platforms are the platforms every image is built for ("linux/amd64",
	// "linux/arm64"); with more than one, each service publishes one image
	// index. Empty: the engine's own platform, one image. A service's
	// build.platforms replaces it.
	Platforms []string `yaml:"platforms" json:"platforms,omitempty"`
}

// Registry is the image registry configuration.
type Registry struct {
	// Address is the registry host (and optional namespace), e.g.
	// "ghcr.io/acme". Empty means the embedded registry the module runs
	// itself, which needs no credentials.
	Address string `yaml:"address" json:"address"`
	// Prefix is put between the address and the service's image name.
	Prefix string `yaml:"prefix" json:"prefix"`
	// Insecure lists registry hosts reached over plain HTTP.
	Insecure []string `yaml:"insecure" json:"insecure"`
}

// Environment is one deployment target.
type Environment struct {
	// Name, e.g. "dev". Lower-case letters, digits and dashes.
	Name string `yaml:"name" json:"name"`
	// Deploy on every `ci` run (typically only the first environment);
	// the others are reached by promotion.
	AutoDeploy bool `yaml:"autoDeploy" json:"autoDeploy"`
	// RequireSignature refuses to deploy or promote unsigned images here.
	RequireSignature bool `yaml:"requireSignature" json:"requireSignature"`
	// SignedBy are the keyless signers accepted here, instead of
	// signing.identities (e.g. only the release workflow for prod).
	SignedBy []Identity `yaml:"signedBy" json:"signedBy,omitempty"`
	// RequireAttestations lists predicate kinds that must be attested and
	// verify before an image may be promoted here: slsa, sbom, vuln, test.
	RequireAttestations []string `yaml:"requireAttestations" json:"requireAttestations"`
	// Policy is the vulnerability gate applied for this environment.
	Policy Policy `yaml:"policy" json:"policy"`
	// MaxScanAge bounds the age of the attested vulnerability scan an
	// image needs to be promoted or rolled back here when requireAttestations
	// lists vuln and no re-scan runs (e.g. "168h"); 0, the default, sets
	// no limit.
	MaxScanAge Duration `yaml:"maxScanAge" json:"maxScanAge,omitempty"`
	// Mode is how GitOps changes land: "commit" (default) or "pull-request".
	Mode string `yaml:"mode" json:"mode"`
	// Directory holds the environment's manifests, relative to gitops.path
	// ("." for gitops.path itself). Default: gitops.overlay with {env}
	// replaced by the name.
	Directory string `yaml:"directory" json:"directory,omitempty"`
	// Cluster is where the environment runs, for verify and the promotion
	// gates: read only, never written (nil: slipway does not look).
	Cluster *Cluster `yaml:"cluster" json:"cluster,omitempty"`
	// RequireVerifiedIn lists environments whose cluster must have been
	// seen running an image (a signed verification record, `verify`)
	// before it may be promoted here.
	RequireVerifiedIn []string `yaml:"requireVerifiedIn" json:"requireVerifiedIn,omitempty"`
	// MinSoak is how long an image must have run verified in the
	// environment it is promoted from (e.g. "2h"); at promote time it must
	// still be what that environment runs, checked afresh in its cluster.
	MinSoak Duration `yaml:"minSoak" json:"minSoak,omitempty"`
	// RequireApproval asks, before an image is promoted here, for a signed
	// approval of its digest for this environment (`approve`) by one of
	// Approvers.
	RequireApproval bool `yaml:"requireApproval" json:"requireApproval,omitempty"`
	// Approvers are who may approve: cosign public keys (files in the
	// repository) and keyless identities.
	Approvers Approvers `yaml:"approvers" json:"approvers,omitempty"`
	// FailOnSet records that policy.failOn was written in slipway.yaml (or
	// comes from the built-in environments), rather than defaulted.
	FailOnSet bool `yaml:"-" json:"failOnSet,omitempty"`
}

// Cluster is how slipway reads an environment's cluster. The kubeconfig
// itself is a secret given to the module (--kubeconfig); Context picks
// this environment's cluster in it.
type Cluster struct {
	// Context is the kubeconfig context (default: its current-context).
	Context string `yaml:"context" json:"context,omitempty"`
	// Controller applies the GitOps repository: flux, argocd or none
	// (slipway then only reads the workloads).
	Controller string `yaml:"controller" json:"controller"`
	// Objects are the controller's objects that apply this environment,
	// "namespace/name": Flux Kustomizations or Argo CD Applications.
	Objects []string `yaml:"objects" json:"objects,omitempty"`
	// Namespaces hold the environment's workloads (empty: every namespace,
	// which needs a ClusterRole).
	Namespaces []string `yaml:"namespaces" json:"namespaces,omitempty"`
	// Timeout bounds one verification (default 10m).
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Probes run once a service has rolled out, against the environment's
	// own endpoints.
	Probes []ClusterProbe `yaml:"probes" json:"probes,omitempty"`
}

// ClusterProbe is one post-deploy probe: exactly one of HTTP, GRPC and
// TCP.
type ClusterProbe struct {
	Service string `yaml:"service" json:"service"`
	// HTTP is a URL that must answer Status (default: any 2xx).
	HTTP   string `yaml:"http" json:"http,omitempty"`
	Status int    `yaml:"status" json:"status,omitempty"`
	// GRPC is host:port of a gRPC health service that must say SERVING.
	GRPC string `yaml:"grpc" json:"grpc,omitempty"`
	// TCP is host:port that must accept a connection.
	TCP string `yaml:"tcp" json:"tcp,omitempty"`
}

// Approvers may approve promotions into an environment.
type Approvers struct {
	// Keys are cosign public keys (PEM files, relative to the repository
	// root).
	Keys []string `yaml:"keys" json:"keys,omitempty"`
	// Identities are keyless signers (Fulcio certificates).
	Identities []Identity `yaml:"identities" json:"identities,omitempty"`
}

// ClusterControllers are the values of cluster.controller.
var ClusterControllers = []string{"flux", "argocd", "none"}

// DefaultVerifyTimeout bounds a verification when cluster.timeout is unset.
const DefaultVerifyTimeout = 10 * time.Minute

// VerifyTimeout is the environment's verification timeout.
func (c *Cluster) VerifyTimeout() time.Duration {
	if c == nil || c.Timeout <= 0 {
		return DefaultVerifyTimeout
	}
	return c.Timeout.D()
}

// ScanRequirement says why an environment asks for a vulnerability scan, or
// "" when it does not. An environment asks for one when it requires the
// vuln attestation, or when its policy.failOn is written in slipway.yaml
// (or is one of the built-in environments') with a severity: it states
// which findings must block. failOn: NONE (report only) asks for none, and
// neither does a failOn left to its default: such an environment takes an
// image that could not be scanned, and the run report says "not scanned".
func (e Environment) ScanRequirement() string {
	for _, a := range e.RequireAttestations {
		if a == "vuln" {
			return fmt.Sprintf("environment %s requires the vuln attestation (requireAttestations)", e.Name)
		}
	}
	if e.FailOnSet && e.Policy.FailOn != "NONE" {
		return fmt.Sprintf("environment %s's policy blocks %s findings (policy.failOn: %s)", e.Name, e.Policy.FailOn, e.Policy.FailOn)
	}
	return ""
}

// ScanRequirements are the ScanRequirement of every auto-deployed
// environment that asks for a scan: the environments ci deploys to, whose
// gate a run without a vulnerability database fails.
func (p Project) ScanRequirements() []string {
	var out []string
	for _, e := range p.Environments {
		if r := e.ScanRequirement(); e.AutoDeploy && r != "" {
			out = append(out, r)
		}
	}
	return out
}

// Policy is a per-environment vulnerability gate.
type Policy struct {
	// FailOn is the lowest severity that blocks: CRITICAL, HIGH, MEDIUM,
	// LOW, or NONE to only report.
	FailOn string `yaml:"failOn" json:"failOn"`
	// FixableOnly blocks only on findings that have a fixed version.
	FixableOnly bool `yaml:"fixableOnly" json:"fixableOnly"`
	// Strict fails when an ignore entry matches nothing (a stale ignore).
	Strict bool `yaml:"strict" json:"strict"`
}

// GitOps is the manifest repository configuration.
type GitOps struct {
	// Repo is the URL of the GitOps repository (https://, ssh:// or
	// git@host:path). Empty means a throwaway repository seeded from Path.
	Repo string `yaml:"repo" json:"repo"`
	// Branch to commit to (default main).
	Branch string `yaml:"branch" json:"branch"`
	// Path is the directory, inside the GitOps repository (or, for the
	// throwaway default, inside this repository), holding the manifests.
	Path string `yaml:"path" json:"path"`
	// Overlay is the directory pattern of one environment, relative to Path;
	// "{env}" is replaced by the environment name.
	Overlay string `yaml:"overlay" json:"overlay"`
	// AuthorName and AuthorEmail sign GitOps commits.
	AuthorName  string `yaml:"authorName" json:"authorName"`
	AuthorEmail string `yaml:"authorEmail" json:"authorEmail"`
	// GitHubAPI is the REST API base URL used to open pull requests
	// (default https://api.github.com; set it for GitHub Enterprise).
	GitHubAPI string `yaml:"githubAPI" json:"githubAPI"`
	// Forge is what hosts the repository, for pull requests: github
	// (default) or gitea (Gitea and Forgejo).
	Forge string `yaml:"forge" json:"forge,omitempty"`
	// ForgeAPI is a Gitea's REST API base URL (default
	// https://<host of repo>/api/v1); for GitHub, githubAPI.
	ForgeAPI string `yaml:"forgeAPI" json:"forgeAPI,omitempty"`
	// PullRequestBranch is the branch each pull-request environment's one
	// pull request comes from; {env} is the environment (default
	// slipway/{env}).
	PullRequestBranch string `yaml:"pullRequestBranch" json:"pullRequestBranch,omitempty"`
}

// Scan configures vulnerability scanning.
type Scan struct {
	// Scanner is "osv-scanner" (default) or "trivy".
	Scanner string `yaml:"scanner" json:"scanner"`
	// IgnoreFile is the repository-wide ignore list.
	IgnoreFile string `yaml:"ignoreFile" json:"ignoreFile"`
}

// Service is one service: its service.yaml (if any) merged with what was
// detected from its directory.
type Service struct {
	// Name of the service; defaults to its directory name.
	Name string `yaml:"name" json:"name"`
	// Dir is the service directory relative to the repository root.
	Dir string `yaml:"-" json:"dir"`
	// File is the service.yaml path relative to the root, or "" when the
	// service was detected without one.
	File string `yaml:"-" json:"file,omitempty"`
	// Language is go, python, node, java, dotnet, rust or docker (any
	// other Dockerfile).
	Language string `yaml:"language" json:"language"`
	// Build says how the image is built; its fields are merged into
	// Dockerfile, Target, BuildArgs and Context.
	Build Build `yaml:"build" json:"-"`
	// Dockerfile path relative to the service directory (build.dockerfile,
	// or the older dockerfile).
	Dockerfile string `yaml:"dockerfile" json:"dockerfile"`
	// Target is an optional Dockerfile stage to build.
	Target string `yaml:"target" json:"target,omitempty"`
	// BuildArgs are passed to the Dockerfile build (no secrets here).
	BuildArgs map[string]string `yaml:"buildArgs" json:"buildArgs,omitempty"`
	// Context is the build context, relative to the repository root: the
	// service directory unless build.context says otherwise, or the
	// directory of a Dockerfile found below the service directory.
	Context string `yaml:"-" json:"context"`
	// BuildSecrets are the ids of the build secrets the service's build
	// mounts (build.secrets).
	BuildSecrets []string `yaml:"-" json:"buildSecrets,omitempty"`
	// Platforms are build.platforms as written (Project.PlatformsFor
	// gives the ones that apply).
	Platforms []string `yaml:"-" json:"platforms,omitempty"`
	// Workdir is where the tests run, relative to the repository root: the
	// service directory, or the directory of a Dockerfile found below it
	// when the language was recognised there.
	Workdir string `yaml:"-" json:"workdir"`
	// Image is the repository name under the registry prefix.
	Image string `yaml:"image" json:"image"`
	// Port the service listens on.
	Port int `yaml:"port" json:"port"`
	// Shared lists extra paths (relative to the root) this service depends on.
	Shared []string `yaml:"shared" json:"shared,omitempty"`
	// Test says how to test the service.
	Test Test `yaml:"test" json:"test"`
	// Dependencies are services started next to integration and smoke tests.
	Dependencies []Dependency `yaml:"dependencies" json:"dependencies,omitempty"`
	// Env is the runtime environment for the smoke test (no secrets).
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// Smoke configures the post-build smoke test.
	Smoke Smoke `yaml:"smoke" json:"smoke"`
	// Deploy says where the service is deployed.
	Deploy Deploy `yaml:"deploy" json:"deploy"`
	// unitSet records that test.unit was written in service.yaml.
	unitSet bool
}

// Build is the build block of service.yaml.
type Build struct {
	// Context is the build context, relative to the repository root (may
	// be "." or a directory above the service, to COPY shared code).
	Context string `yaml:"context"`
	// Dockerfile is the Dockerfile's path relative to the service
	// directory; it must lie inside the context.
	Dockerfile string `yaml:"dockerfile"`
	// Target is the Dockerfile stage to build.
	Target string `yaml:"target"`
	// Args are build arguments (no secrets here).
	Args map[string]string `yaml:"args"`
	// Secrets are the ids of the build secrets the Dockerfile mounts
	// (RUN --mount=type=secret,id=ID); their values come from the module's
	// --build-secrets, never from configuration.
	Secrets []string `yaml:"secrets"`
	// Platforms replaces slipway.yaml's images.platforms for this service.
	Platforms []string `yaml:"platforms"`
}

// Test says how a service is tested.
type Test struct {
	// Image to run tests in; defaults by language.
	Image string `yaml:"image" json:"image"`
	// Unit is the unit test command, run by `sh -c` in the service
	// directory; defaults by language.
	Unit string `yaml:"unit" json:"unit"`
	// Integration is the integration test command, run with Dependencies
	// bound; empty means none.
	Integration string `yaml:"integration" json:"integration,omitempty"`
	// Target is a stage of the service's Dockerfile that runs its tests:
	// the stage is built (with the build's context and arguments) and must
	// succeed. It takes the place of the unit test command, for any
	// language.
	Target string `yaml:"target" json:"target,omitempty"`
	// Env for both test commands (no secrets); over slipway.yaml's env.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// Setup are shell commands run before the dependency step, after
	// slipway.yaml's setup (e.g. "apk add --no-cache make g++").
	Setup []string `yaml:"setup" json:"setup,omitempty"`
	// Skip disables tests for this service (reported as skipped).
	Skip bool `yaml:"skip" json:"skip,omitempty"`
}

// Dependency is a service run next to the tests, e.g. Postgres.
type Dependency struct {
	// Name is the hostname the service is reachable at.
	Name string `yaml:"name" json:"name"`
	// Image to run.
	Image string `yaml:"image" json:"image"`
	// Port it listens on.
	Port int `yaml:"port" json:"port"`
	// Env of the dependency container.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
}

// Smoke is the smoke test run against a freshly built image.
type Smoke struct {
	// Skip disables the smoke test.
	Skip bool `yaml:"skip" json:"skip,omitempty"`
	// Protocol of the readiness probe: http (default: GET Path), grpc
	// (the standard grpc.health.v1 service must answer SERVING for
	// GRPCService) or tcp (the port must accept a connection).
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	// GRPCService is the service name asked of the gRPC health service
	// ("" for the server as a whole).
	GRPCService string `yaml:"grpcService" json:"grpcService,omitempty"`
	// Path of the readiness endpoint (default /health/ready).
	Path string `yaml:"path" json:"path"`
	// ExpectStatus is the expected HTTP status; 0 means any 2xx.
	ExpectStatus int `yaml:"expectStatus" json:"expectStatus,omitempty"`
	// Timeout bounds the whole smoke test (default 60s).
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Requests are further requests that must answer as declared.
	Requests []SmokeRequest `yaml:"requests" json:"requests,omitempty"`
}

// SmokeRequest is one declared request of a smoke test.
type SmokeRequest struct {
	Method string `yaml:"method" json:"method"`
	Path   string `yaml:"path" json:"path"`
	Status int    `yaml:"status" json:"status"`
}

// Deploy says where a service is deployed in the GitOps repository.
type Deploy struct {
	// Skip means the service is built and published but never deployed.
	Skip bool `yaml:"skip" json:"skip,omitempty"`
	// Environments restricts deployment to these environments (default all).
	Environments []string `yaml:"environments" json:"environments,omitempty"`
	// Kind of manifest edit: kustomize (default), helm or manifest.
	Kind string `yaml:"kind" json:"kind"`
	// File, relative to the environment directory, that holds the image
	// (default kustomization.yaml); with a leading /, relative to the
	// GitOps repository's root instead (a Helm chart's values.yaml beside
	// the manifests).
	File string `yaml:"file" json:"file"`
	// Key is the dotted path of the image block for helm values.
	Key string `yaml:"key" json:"key,omitempty"`
	// ImageName is the image name as written in the manifests (default:
	// the service's image name).
	ImageName string `yaml:"imageName" json:"imageName"`
	// Create adds the service's entry to a kustomization's images list
	// when it is missing, instead of failing.
	Create bool `yaml:"create" json:"create,omitempty"`
}

// Duration is a time.Duration written as "30s", "2m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// EnvironmentNames lists the environments in promotion order.
func (cfg *Config) EnvironmentNames() []string {
	out := make([]string, len(cfg.Project.Environments))
	for i, e := range cfg.Project.Environments {
		out[i] = e.Name
	}
	return out
}

// Environment returns the named environment.
func (cfg *Config) Environment(name string) (Environment, error) {
	for _, e := range cfg.Project.Environments {
		if e.Name == name {
			return e, nil
		}
	}
	return Environment{}, fmt.Errorf("%s: environments: unknown environment %q (declared: %s)", ProjectFile, name, strings.Join(cfg.EnvironmentNames(), ", "))
}

// Service returns the named service.
func (cfg *Config) Service(name string) (Service, error) {
	for _, s := range cfg.Services {
		if s.Name == name {
			return s, nil
		}
	}
	var names []string
	for _, s := range cfg.Services {
		names = append(names, s.Name)
	}
	return Service{}, fmt.Errorf("unknown service %q (found in %s: %s)", name, strings.Join(cfg.Project.Services, ", "), strings.Join(names, ", "))
}

// DeploysTo reports whether the service is deployed to the environment.
func (s Service) DeploysTo(env string) bool {
	if s.Deploy.Skip {
		return false
	}
	return len(s.Deploy.Environments) == 0 || contains(s.Deploy.Environments, env)
}

// ImageRepository is the full repository of the service's image under the
// given registry address (which may be the embedded registry's address).
func (p Project) ImageRepository(address string, s Service) string {
	parts := []string{strings.TrimSuffix(address, "/")}
	if p.Registry.Prefix != "" {
		parts = append(parts, p.Registry.Prefix)
	}
	parts = append(parts, s.Image)
	return strings.Join(parts, "/")
}

// UnmarshalYAML reads durations such as "30s" or "2m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 2m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes durations as "30s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalText writes durations as "30s" in JSON.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads durations as "30s" from JSON.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
