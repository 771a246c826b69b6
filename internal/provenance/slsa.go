package provenance

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// BuildType is the SLSA buildType of images slipway builds. Its
// externalParameters are service, repository, ref, commit, dockerfile,
// target, platform, buildArgs and dirty (only when true); its internalParameters the service's
// inputDigest (see docs/scanning.md, "SLSA provenance").
const BuildType = "https://github.com/slipwayci/slipway/blob/main/docs/scanning.md#slsa-build-type-v1"

// Build describes one image build for its SLSA provenance.
type Build struct {
	// BuilderID identifies the build platform that ran slipway (required,
	// an absolute URI), e.g. the CI workflow
	// "https://github.com/acme/mono/.github/workflows/ci.yml@refs/heads/main".
	BuilderID string
	// BuilderVersion records versions of the builder's parts, e.g.
	// {"slipway": "v0.3.0", "dagger": "v0.19.10"}.
	BuilderVersion map[string]string
	// Service is the service's name in the monorepo (required).
	Service string
	// Repository is the source repository URL (required), e.g.
	// "https://github.com/acme/mono"; it is recorded as "git+<url>".
	Repository string
	// Ref is the git ref built, e.g. "refs/heads/main" (optional).
	Ref string
	// Commit is the full commit SHA built (required, 40 or 64 hex).
	Commit string
	// Dockerfile is the Dockerfile's path relative to the repository root
	// (required).
	Dockerfile string
	// Target is the Dockerfile stage built, if any.
	Target string
	// Platform is the image's platform, e.g. "linux/amd64" (optional).
	Platform string
	// BuildArgs are the Dockerfile build arguments (never secrets).
	BuildArgs map[string]string
	// InputDigest is the service's input digest (optional).
	InputDigest string
	// Dirty records that the source had uncommitted changes: the image was
	// built from Commit plus those changes (recorded as
	// externalParameters.dirty).
	Dirty bool
	// BaseImages are the resolved base images (see ImageDependency).
	BaseImages []ResourceDescriptor
	// InvocationID identifies the pipeline run (optional).
	InvocationID string
	// StartedOn and FinishedOn bound the build (optional).
	StartedOn, FinishedOn time.Time
}

// slsaPredicate is the SLSA provenance v1 predicate.
type slsaPredicate struct {
	BuildDefinition struct {
		BuildType            string               `json:"buildType"`
		ExternalParameters   map[string]any       `json:"externalParameters"`
		InternalParameters   map[string]any       `json:"internalParameters,omitempty"`
		ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct {
			ID      string            `json:"id"`
			Version map[string]string `json:"version,omitempty"`
		} `json:"builder"`
		Metadata *struct {
			InvocationID string  `json:"invocationId,omitempty"`
			StartedOn    *string `json:"startedOn,omitempty"`
			FinishedOn   *string `json:"finishedOn,omitempty"`
		} `json:"metadata,omitempty"`
	} `json:"runDetails"`
}

// SLSA returns the SLSA provenance v1 predicate of the build, checked: a
// missing required field, a builder ID that is not a URI, a commit that is
// not a full SHA, a Dockerfile path leaving the repository, a base image
// without a sha256 digest, or a build argument that looks like a secret is
// an error wrapping ErrInvalid.
//
// resolvedDependencies hold the source (git+<repository>@<ref> with its
// gitCommit digest) first, then the base images sorted by URI.
func SLSA(b Build) ([]byte, error) {
	b.Repository = RepositoryURL(b.Repository)
	if err := b.check(); err != nil {
		return nil, err
	}
	var p slsaPredicate
	p.BuildDefinition.BuildType = BuildType
	ext := map[string]any{
		"service":    b.Service,
		"repository": b.Repository,
		"commit":     b.Commit,
		"dockerfile": b.Dockerfile,
	}
	if b.Ref != "" {
		ext["ref"] = b.Ref
	}
	if b.Target != "" {
		ext["target"] = b.Target
	}
	if b.Platform != "" {
		ext["platform"] = b.Platform
	}
	if len(b.BuildArgs) > 0 {
		ext["buildArgs"] = b.BuildArgs
	}
	if b.Dirty {
		ext["dirty"] = true
	}
	p.BuildDefinition.ExternalParameters = ext
	if b.InputDigest != "" {
		p.BuildDefinition.InternalParameters = map[string]any{"inputDigest": b.InputDigest}
	}
	src := "git+" + b.Repository
	if b.Ref != "" {
		src += "@" + b.Ref
	}
	deps := []ResourceDescriptor{{URI: src, Digest: map[string]string{"gitCommit": b.Commit}}}
	bases := append([]ResourceDescriptor(nil), b.BaseImages...)
	sort.SliceStable(bases, func(i, j int) bool {
		if bases[i].URI != bases[j].URI {
			return bases[i].URI < bases[j].URI
		}
		return bases[i].Digest["sha256"] < bases[j].Digest["sha256"]
	})
	p.BuildDefinition.ResolvedDependencies = append(deps, bases...)
	p.RunDetails.Builder.ID = b.BuilderID
	if len(b.BuilderVersion) > 0 {
		p.RunDetails.Builder.Version = b.BuilderVersion
	}
	if b.InvocationID != "" || !b.StartedOn.IsZero() || !b.FinishedOn.IsZero() {
		p.RunDetails.Metadata = &struct {
			InvocationID string  `json:"invocationId,omitempty"`
			StartedOn    *string `json:"startedOn,omitempty"`
			FinishedOn   *string `json:"finishedOn,omitempty"`
		}{b.InvocationID, timeUTC(b.StartedOn), timeUTC(b.FinishedOn)}
	}
	return marshal(p)
}

func (b Build) check() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"BuilderID", b.BuilderID}, {"Service", b.Service}, {"Repository", b.Repository},
		{"Commit", b.Commit}, {"Dockerfile", b.Dockerfile},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: SLSA provenance needs %s", ErrInvalid, strings.Join(missing, ", "))
	}
	if err := absURI("builder ID", b.BuilderID); err != nil {
		return err
	}
	if err := absURI("repository", b.Repository); err != nil {
		return err
	}
	if u, err := url.Parse(b.Repository); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return fmt.Errorf("%w: the repository URL carries a password; credentials never go into provenance", ErrInvalid)
		}
	}
	if !gitSHA.MatchString(b.Commit) {
		return fmt.Errorf("%w: commit %q is not a full git SHA (40 or 64 lower-case hex)", ErrInvalid, b.Commit)
	}
	if path.IsAbs(b.Dockerfile) || path.Clean(b.Dockerfile) != b.Dockerfile || strings.HasPrefix(b.Dockerfile, "../") || b.Dockerfile == ".." {
		return fmt.Errorf("%w: dockerfile %q must be a clean path relative to the repository root", ErrInvalid, b.Dockerfile)
	}
	if b.InputDigest != "" && !sha256Hex.MatchString(b.InputDigest) {
		return fmt.Errorf("%w: input digest %q is not sha256:<64 hex>", ErrInvalid, b.InputDigest)
	}
	for k := range b.BuildArgs {
		if looksSecret(k) {
			return fmt.Errorf("%w: build argument %s looks like a secret; secrets never go into build arguments or provenance", ErrInvalid, k)
		}
	}
	for i, d := range b.BaseImages {
		if d.URI == "" {
			return fmt.Errorf("%w: base image %d has no URI", ErrInvalid, i)
		}
		if h := d.Digest["sha256"]; !sha256Hex.MatchString("sha256:" + h) {
			return fmt.Errorf("%w: base image %s has no sha256 digest", ErrInvalid, d.URI)
		}
	}
	return nil
}

// looksSecret reports whether a variable name suggests a credential.
func looksSecret(k string) bool {
	u := strings.ToUpper(k)
	for _, w := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE_KEY", "API_KEY", "APIKEY", "CREDENTIAL"} {
		if strings.Contains(u, w) {
			return true
		}
	}
	return false
}

// scpLike matches git's scp-like syntax, user@host:path.
var scpLike = regexp.MustCompile(`^([A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):([^/].*)$`)

// RepositoryURL returns a repository address as a URL: git's scp-like
// "git@github.com:acme/mono.git" becomes "ssh://git@github.com/acme/mono.git";
// anything else is returned unchanged.
func RepositoryURL(repo string) string {
	repo = strings.TrimSpace(repo)
	if strings.Contains(repo, "://") {
		return repo
	}
	if m := scpLike.FindStringSubmatch(repo); m != nil {
		return "ssh://" + m[1] + m[2] + "/" + m[3]
	}
	return repo
}
