// Package retention keeps a registry clean: it finds the images slipway
// published that nothing needs any more and deletes them, with their cosign
// signatures and attestations.
//
// Plan reads, for every service's repository, the build tags slipway
// writes (the full commit SHA, "<branch>-<sha7>-<yyyymmddhhmmss>" and
// "input-<hex>"), groups them by the digest they name and decides for each
// digest whether it is kept or deleted. A digest is kept when any of these
// holds, and every reason that holds is recorded:
//
//   - an environment of the GitOps repository runs it (its manifests name
//     the digest, or a tag that names it);
//   - the slipway state pins it in some environment;
//   - it is written anywhere else in the GitOps repository, on any branch
//     (an open promotion pull request, a hand-written manifest);
//   - it also carries a tag slipway does not manage ("latest", "v1.2.3", an
//     environment tag such as "prod");
//   - it is among the newest Keep digests of the repository;
//   - it is younger than OlderThan;
//   - its age cannot be told.
//
// Everything else is deleted: its tags, its signature and attestation tags
// ("sha256-<hex>.sig", ".att", ".sbom", and the referrers tag schema's
// "sha256-<hex>") and their manifests, the manifest
// itself by digest and, for a multi-platform index, its platform manifests
// that nothing kept shares. Signature and attestation tags whose subject no
// longer exists (orphans) are deleted too.
//
// Plan writes nothing; Apply deletes what a plan says, in a safe order, and
// stops at the first registry that refuses deletions with a message saying
// what to change. The package never imports Dagger.
package retention

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/registry"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrDeletionRefused: the registry does not allow deleting (deletion is
	// disabled, HTTP 405 / UNSUPPORTED) or the credentials may not delete
	// (HTTP 401/403). Apply stops deleting on that registry.
	ErrDeletionRefused = errors.New("the registry refuses deletion")
	// ErrIncomplete: some deletions failed for other reasons (the registry
	// kept failing, a manifest could not be deleted); the rest went ahead.
	ErrIncomplete = errors.New("some deletions failed")
)

// CreatedLabel is the OCI label slipway sets to the build time.
const CreatedLabel = "org.opencontainers.image.created"

// TagKind says what a tag is to retention.
type TagKind int

// The kinds of tags.
const (
	// Other: a tag slipway does not manage ("latest", "v1.2.3", "prod").
	// A digest carrying one is never deleted.
	Other TagKind = iota
	// CommitTag: the full commit SHA the image was built from.
	CommitTag
	// SortableTag: "<branch>-<sha7>-<yyyymmddhhmmss>".
	SortableTag
	// InputTag: "input-<32 hex>", the build-avoidance tag.
	InputTag
	// SignatureTag: "sha256-<64 hex>.sig", a cosign signature.
	SignatureTag
	// AttestationTag: "sha256-<64 hex>.att", cosign attestations.
	AttestationTag
	// SBOMTag: "sha256-<64 hex>.sbom", an SBOM attached by cosign.
	SBOMTag
	// ReferrersTag: "sha256-<64 hex>", the referrers tag schema's index of
	// the manifests referring to that digest (Sigstore bundles, where the
	// registry has no referrers API).
	ReferrersTag
)

// String names the kind.
func (k TagKind) String() string {
	switch k {
	case CommitTag:
		return "commit"
	case SortableTag:
		return "sortable"
	case InputTag:
		return "input"
	case SignatureTag:
		return "signature"
	case AttestationTag:
		return "attestation"
	case SBOMTag:
		return "sbom"
	case ReferrersTag:
		return "referrers"
	}
	return "other"
}

// Build reports whether the kind is one of the build tags slipway writes.
func (k TagKind) Build() bool { return k == CommitTag || k == SortableTag || k == InputTag }

// Artifact reports whether the kind is a cosign signature, attestation or
// SBOM tag (named after the digest it is about).
func (k TagKind) Artifact() bool {
	return k == SignatureTag || k == AttestationTag || k == SBOMTag || k == ReferrersTag
}

var (
	commitRE   = regexp.MustCompile(`^[0-9a-f]{40}(?:[0-9a-f]{24})?$`)
	sortableRE = regexp.MustCompile(`^[a-z0-9._-]+-[0-9a-f]{7}-([0-9]{14})$`)
	inputRE    = regexp.MustCompile(`^input-[0-9a-f]{32}$`)
	artifactRE = regexp.MustCompile(`^sha256-([0-9a-f]{64})(?:\.(sig|att|sbom))?$`)
	digestRE   = regexp.MustCompile(`sha256:[0-9a-f]{64}`)
)

// Classify says what kind of tag t is. For a sortable tag it also returns
// the time in it; for a signature, attestation or SBOM tag, the digest
// ("sha256:<hex>") it is about.
func Classify(t string) (kind TagKind, at time.Time, subject string) {
	switch {
	case commitRE.MatchString(t):
		return CommitTag, time.Time{}, ""
	case inputRE.MatchString(t):
		return InputTag, time.Time{}, ""
	}
	if m := artifactRE.FindStringSubmatch(t); m != nil {
		k := SignatureTag
		switch m[2] {
		case "":
			k = ReferrersTag
		case "att":
			k = AttestationTag
		case "sbom":
			k = SBOMTag
		}
		return k, time.Time{}, "sha256:" + m[1]
	}
	if m := sortableRE.FindStringSubmatch(t); m != nil {
		if ts, err := time.Parse("20060102150405", m[1]); err == nil {
			return SortableTag, ts.UTC(), ""
		}
	}
	return Other, time.Time{}, ""
}

// Options say what Plan looks at and what it keeps.
type Options struct {
	// Config is the repository's configuration (services, environments,
	// GitOps layout). Required.
	Config *config.Config
	// Registry is the client every registry request goes through.
	// Required.
	Registry *registry.Client
	// RegistryAddress is the registry (and namespace) the services'
	// repositories are under, e.g. "ghcr.io/acme". Default:
	// registry.address in slipway.yaml; one of them is required.
	RegistryAddress string
	// RepoURL is the GitOps repository (URL or local path). Required: a
	// plan that cannot see what the environments run keeps nothing safe.
	RepoURL string
	// GitOptions carry the GitOps repository's credentials.
	GitOptions []gitops.Option
	// Services limits the plan to these services (default: every service).
	Services []string
	// Keep is how many of the newest digests of each repository are kept
	// whatever else holds. 0 keeps none for being recent.
	Keep int
	// OlderThan is the age under which a digest is kept. It must be
	// positive: a digest built a moment ago may be on its way to an
	// environment.
	OlderThan time.Duration
	// Now is the time ages are measured from (default: time.Now()).
	Now time.Time
	// Jobs bounds concurrent registry requests per repository (default 8).
	Jobs int
}

// Result is a plan: what would be deleted and what is kept, and why.
type Result struct {
	// Project is the project's name (slipway.yaml).
	Project string `json:"project"`
	// Registry is the registry address the repositories are under.
	Registry string `json:"registry"`
	// Now, OlderThan and Keep are the plan's inputs.
	Now       time.Time     `json:"now"`
	OlderThan time.Duration `json:"olderThanNs"`
	Keep      int           `json:"keep"`
	// GitOpsCommit is the commit of the GitOps branch the references were
	// read from.
	GitOpsCommit string `json:"gitopsCommit,omitempty"`
	// Repositories, one per service, in service order.
	Repositories []Repository `json:"repositories"`
	// Notes are things a person should know (an environment that does not
	// run a service, an image whose age is unknown).
	Notes []string `json:"notes,omitempty"`
}

// Repository is one service's repository.
type Repository struct {
	Service string `json:"service"`
	// Name is the repository, "host/path".
	Name string `json:"name"`
	// Images are every digest a tag of the repository names (and the
	// untagged subjects of signatures), newest first.
	Images []Image `json:"images"`
	// Orphans are signature, attestation and SBOM tags whose subject is
	// gone; they are deleted.
	Orphans []Artifact `json:"orphans,omitempty"`
}

// Image is one digest of a repository.
type Image struct {
	Digest string `json:"digest"`
	// Tags naming the digest, sorted.
	Tags []string `json:"tags,omitempty"`
	// Created is when the image was built (or last given a sortable tag);
	// zero when unknown. CreatedFrom says where it was read: "label",
	// "annotation", "config" or "tag".
	Created     time.Time `json:"created,omitzero"`
	CreatedFrom string    `json:"createdFrom,omitempty"`
	// Index is set for a multi-platform image index; Children are its
	// platform manifests.
	Index    bool     `json:"index,omitempty"`
	Children []string `json:"children,omitempty"`
	// Artifacts are the image's signature, attestation and SBOM tags.
	Artifacts []Artifact `json:"artifacts,omitempty"`
	// Keep is false for an image to delete.
	Keep bool `json:"keep"`
	// Reasons say why the image is kept (every reason that holds).
	Reasons []string `json:"reasons,omitempty"`
	// DeleteChildren are the platform manifests deleted with the index
	// (those no kept image shares).
	DeleteChildren []string `json:"deleteChildren,omitempty"`
}

// Artifact is a signature, attestation or SBOM tag.
type Artifact struct {
	Tag  string `json:"tag"`
	Kind string `json:"kind"`
	// Subject is the digest the artifact is about.
	Subject string `json:"subject"`
	// Digest is the artifact manifest's own digest, deleted after its tag.
	Digest string `json:"digest,omitempty"`
}

// Delete returns the images to delete.
func (r Repository) Delete() []Image {
	var out []Image
	for _, im := range r.Images {
		if !im.Keep {
			out = append(out, im)
		}
	}
	return out
}

// Counts returns how many images are kept and deleted, and how many
// orphaned artifacts are deleted, over every repository.
func (r *Result) Counts() (kept, deleted, orphans int) {
	for _, repo := range r.Repositories {
		for _, im := range repo.Images {
			if im.Keep {
				kept++
			} else {
				deleted++
			}
		}
		orphans += len(repo.Orphans)
	}
	return kept, deleted, orphans
}

func shortDigest(d string) string {
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) > 12 {
		return "sha256:" + h[:12]
	}
	return d
}
