// Package wire is the hand-off between the Dagger module (ci/) and the
// worker it runs in a container (cmd/slipway): the environment variables
// the worker reads, where the module puts the worker's inputs and finds its
// results, and the JSON types of those results that the module reads.
//
// Both sides import it, so a name or a field is spelled once. It imports
// nothing heavy (only internal/report, itself plain Go), because every
// package the module imports is compiled on every fresh engine.
package wire

import (
	"encoding/json"

	"github.com/slipwayci/slipway/internal/report"
)

// Environment variables of the worker. Secrets travel only in these (set by
// the module from Dagger secrets), never in flags.
const (
	EnvRegistryUsername = "SLIPWAY_REGISTRY_USERNAME"
	EnvRegistryPassword = "SLIPWAY_REGISTRY_PASSWORD"
	EnvSigningKey       = "SLIPWAY_SIGNING_KEY"
	EnvSigningPassword  = "SLIPWAY_SIGNING_PASSWORD"
	EnvSigningPublicKey = "SLIPWAY_SIGNING_PUBLIC_KEY"
	EnvGitopsToken      = "SLIPWAY_GITOPS_TOKEN"
	EnvGitopsSSHKey     = "SLIPWAY_GITOPS_SSH_KEY"
	EnvGitopsKnownHosts = "SLIPWAY_GITOPS_KNOWN_HOSTS"
	// EnvKubeconfig is the kubeconfig verify and the promotion gates read
	// clusters with.
	EnvKubeconfig = "SLIPWAY_KUBECONFIG"
	// EnvOIDCToken is an OIDC token (audience sigstore) to sign keylessly
	// with; EnvOIDCRequestURL and EnvOIDCRequestToken are GitHub Actions'
	// token request endpoint and its bearer token, with which the worker
	// requests a fresh one when it needs a certificate.
	EnvOIDCToken        = "SLIPWAY_OIDC_TOKEN"
	EnvOIDCRequestURL   = "SLIPWAY_OIDC_REQUEST_URL"
	EnvOIDCRequestToken = "SLIPWAY_OIDC_REQUEST_TOKEN"
	// EnvKeyless holds the project's keyless settings (Keyless, as JSON).
	EnvKeyless = "SLIPWAY_KEYLESS"
	// EnvRun is a fresh identifier per call of a module function, set on
	// every side-effecting step so that the engine never answers a push, a
	// signature or a GitOps write from its cache. Publishing records it.
	EnvRun = "SLIPWAY_RUN"
	// EnvInContainer tells the worker it runs inside the module's container.
	EnvInContainer = "SLIPWAY_IN_CONTAINER"
	// EnvVulnDB is the fingerprint of the vulnerability database a scan
	// runs against: a scan is reused from the engine's cache only against
	// the same database.
	EnvVulnDB = "SLIPWAY_VULN_DB"
)

// Paths inside the worker container.
const (
	// WorkerBin is the worker binary.
	WorkerBin = "/usr/local/bin/slipway"
	// WorkDir is the worker's working directory; inputs and results live
	// here.
	WorkDir = "/work"
	// SourceDir is where the repository being built is mounted.
	SourceDir = WorkDir + "/src"
	// StateFile is the run's snapshot of the GitOps state file (pins and
	// denylist), read once per ci run (state-snapshot) and given to every
	// publishing step.
	StateFile = WorkDir + "/state.json"
	// ChangesFile holds the []Change a deploy writes.
	ChangesFile = WorkDir + "/changes.json"
	// ResultFile is where a worker command writes its JSON result (a plan,
	// a deployment, a report, a publishing result, a decision).
	ResultFile = WorkDir + "/result.json"
	// ImageTarball is an image handed to the worker as an OCI tarball.
	ImageTarball = WorkDir + "/image.tar"
	// VulnDBDir is where a release verb's re-scan finds the vulnerability
	// database.
	VulnDBDir = "/var/lib/slipway-vuln-db"
	// RegistryDir is the embedded registry's storage.
	RegistryDir = "/var/lib/slipway-registry"
)

// Change is one image to write into an environment: by digest, or by a tag
// that the worker resolves to its digest first. The tag written next to the
// digest is Tag, or the deploy's source commit when Tag is empty. The module
// writes a list of them to ChangesFile for `slipway deploy`.
type Change struct {
	Service    string `json:"service"`
	Repository string `json:"repository"`
	Digest     string `json:"digest,omitempty"`
	Tag        string `json:"tag,omitempty"`
	// Image, when set, is the repository written into the manifests
	// instead of Repository, where the image is checked: a dry run
	// publishes into the embedded registry but shows the diff a real run
	// would make, with the configured registry's names.
	Image string `json:"image,omitempty"`
}

// ScanVerdict is the part of scan-report's decision the module acts on.
// The worker's decision (and the vulnerability predicate made from it)
// carries more: the policy, every finding, what was ignored.
type ScanVerdict struct {
	// Pass is true when nothing blocks.
	Pass bool `json:"pass"`
	// Counts counts every finding by severity, ignored ones included.
	Counts map[string]int `json:"counts"`
	// BlockedIDs are the IDs of the blocking findings.
	BlockedIDs []string `json:"blockedIds"`
	// Summary is the human-readable decision.
	Summary string `json:"summary,omitempty"`
	// Stale are the unexpired ignore entries that matched no finding.
	Stale []StaleIgnore `json:"stale,omitempty"`
}

// StaleIgnore is an ignore entry that matched no finding: where it is.
type StaleIgnore struct {
	ID   string `json:"id"`
	File string `json:"file"`
	Line int    `json:"line"`
}

// ReuseCheck is reuse-check's verdict on an image found by its input
// digest, taken before it is scanned and tagged.
type ReuseCheck struct {
	Reusable bool `json:"reusable"`
	// Note is the run report's note about a refusal.
	Note string `json:"note,omitempty"`
	// Verified is false when no signing key was configured: only the
	// denylist was checked.
	Verified bool `json:"verified"`
}

// PublishResult is what publish and retag write: the service's publishing
// result, or (retag) why the image was not reused, and then no service.
type PublishResult struct {
	*report.Service
	// ReuseNote is the run report's note about a refused reuse.
	ReuseNote string `json:"reuseNote,omitempty"`
}

// ReportFile is where the last report of a kind is kept in the reports
// cache volume: one per project (so that projects sharing an engine never
// read each other's), and, for project "" (a run that failed before its
// configuration was read), one for the engine.
func ReportFile(dir, project string, kind report.Kind) string {
	if project == "" {
		return dir + "/last-" + string(kind) + ".json"
	}
	safe := []byte(project)
	for i, c := range safe {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			safe[i] = '_'
		}
	}
	return dir + "/last-" + string(safe) + "-" + string(kind) + ".json"
}

// Keyless is slipway.yaml's keyless signing settings, handed to the worker:
// the Sigstore documents (their JSON, not their paths) and the accepted
// signer identities, project-wide and per environment (each identity as in
// slipway.yaml: issuer, issuerRegexp, subject, subjectRegexp, repository,
// ref, workflow).
type Keyless struct {
	// Format is signing.format: "bundle" or "classic".
	Format        string `json:"format,omitempty"`
	SigningConfig string `json:"signingConfig,omitempty"`
	TrustedRoot   string `json:"trustedRoot,omitempty"`
	IgnoreSCT     bool   `json:"ignoreSCT,omitempty"`
	// Identities are signing.identities; SignedBy an environment's own.
	Identities json.RawMessage            `json:"identities,omitempty"`
	SignedBy   map[string]json.RawMessage `json:"signedBy,omitempty"`
}
