// Package plan decides what a pipeline run does before anything runs: which
// services exist, their input digests, and which of them already have an
// image built from exactly those inputs (build avoidance). The result is a
// JSON document the Dagger module reads, so the decision is made by plain,
// tested Go and is the same on a laptop and in CI.
package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/monorepo"
)

// Plan is the outcome of planning one run.
type Plan struct {
	// Project is slipway.yaml with defaults applied.
	Project config.Project `json:"project"`
	// Commit is the full SHA being built.
	Commit string `json:"commit"`
	// Branch is the branch being built ("" when detached).
	Branch string `json:"branch,omitempty"`
	// Registry is the registry address images go to.
	Registry string `json:"registry"`
	// Created is the run's timestamp, written into image labels.
	Created time.Time `json:"created"`
	// Services, sorted by name.
	Services []Service `json:"services"`
	// Skipped are the directories the services globs matched that are not
	// services, with the reason.
	Skipped []config.Skipped `json:"skipped,omitempty"`
	// Uncommitted lists what in the selected services' inputs differs from
	// the commit (Options.CheckDirty): modified, deleted, untracked or
	// staged paths, sorted.
	Uncommitted []monorepo.Change `json:"uncommitted,omitempty"`
	// DirtyUnchecked says why uncommitted changes could not be looked for
	// ("" when they were, or when no check was asked).
	DirtyUnchecked string `json:"dirtyUnchecked,omitempty"`
	// Dirty is set when the run publishes despite uncommitted changes
	// (Options.AllowDirty): every tag then ends in DirtySuffix, never the
	// bare commit SHA, and the provenance records it.
	Dirty bool `json:"dirty,omitempty"`
}

// DirtySuffix ends every tag of an image built from a tree with uncommitted
// changes.
const DirtySuffix = "-dirty"

// Service is one service in the plan.
type Service struct {
	config.Service
	// Inputs is the service's input digest and what went into it.
	Inputs monorepo.Inputs `json:"inputs"`
	// Repository is the image repository, e.g. "registry:5000/shop/orders".
	Repository string `json:"repository"`
	// Existing is the digest reference of an image already built from the
	// same inputs ("" when none was found): the service is not affected and
	// is neither rebuilt nor retested.
	Existing string `json:"existing,omitempty"`
	// Selected is false when the run was restricted to other services.
	Selected bool `json:"selected"`
	// BaseImages are the images the Dockerfile builds from (see
	// BaseImages), recorded with their digests in the SLSA provenance.
	BaseImages []string `json:"baseImages,omitempty"`
	// From are the same base images with the line of their FROM, so that
	// a base image that cannot be resolved is named by file and line.
	From []From `json:"from,omitempty"`
	// EffectiveBuildArgs are the build's arguments: slipway.yaml's env,
	// then the service's own over it.
	EffectiveBuildArgs map[string]string `json:"effectiveBuildArgs,omitempty"`
	// BuildDockerfile is, when slipway.yaml sets env, the Dockerfile to
	// build instead (GeneratedDockerfile: every env name declared as an
	// ARG in every stage), and BuildDockerignore the context's
	// .dockerignore for building any generated Dockerfile: it keeps that
	// file (and a .dockerignore slipway had to create) out of COPY.
	BuildDockerfile   string `json:"buildDockerfile,omitempty"`
	BuildDockerignore string `json:"buildDockerignore,omitempty"`
	// Platforms are the platforms the image is built for, canonical
	// ("linux/amd64"): --platforms, else build.platforms, else
	// images.platforms. Empty: the engine's own platform, one image; set:
	// one image index of an image per platform, even for one platform.
	Platforms []string `json:"platforms,omitempty"`
	// RunsOnTarget says the Dockerfile runs commands on the target
	// platform (see RunsOnTarget): a foreign platform's build is emulated.
	RunsOnTarget bool `json:"runsOnTarget,omitempty"`
}

// MultiPlatform reports whether s publishes an image index.
func (s Service) MultiPlatform() bool { return len(s.Platforms) > 0 }

// Affected reports whether the service must be tested and built.
func (s Service) Affected() bool { return s.Selected && s.Existing == "" }

// Finder looks up an image already published for an input digest.
type Finder interface {
	// FindByInputDigest returns the digest reference of an image in repo
	// built from inputDigest, or found=false.
	FindByInputDigest(ctx context.Context, repo, inputDigest string) (ref string, found bool, err error)
}

// Options steer Make.
type Options struct {
	// Commit overrides the commit read from .git (required without .git).
	Commit string
	// Branch overrides the branch read from .git.
	Branch string
	// Registry is the registry address; it overrides slipway.yaml's.
	Registry string
	// DefaultRegistry is the address used when neither Registry nor
	// slipway.yaml names one (the module's embedded registry).
	DefaultRegistry string
	// Services restricts the run to these services (default: all).
	Services []string
	// Finder, when set, is asked for existing images (build avoidance).
	Finder Finder
	// Force rebuilds selected services even when an image exists.
	Force bool
	// Now is the run's timestamp (default time.Now).
	Now time.Time
	// CheckDirty, when set, lists what under the selected services' input
	// paths differs from the commit (gitstate.DirtyFiles: git's index); the
	// plan records it in Plan.Uncommitted. It returns monorepo.ErrNoIndex
	// when the source carries no git index. (A function, so that this
	// package, which the module imports, does not pull in git libraries.)
	CheckDirty func(fsys fs.FS, roots []string) ([]monorepo.Change, error)
	// AllowDirty marks a plan with uncommitted changes Dirty instead of
	// leaving the refusal to the caller (see Plan.DirtyError).
	AllowDirty bool
	// Shard restricts the run to the services this shard owns (zero: all).
	Shard Shard
	// Platforms, when set, replaces every service's platforms (--platforms;
	// canonical, see config.ParsePlatforms).
	Platforms []string
	// BaseDigests maps each base image reference (a FROM after ARG
	// substitution, as BaseImages returns it) to the digest it resolves to
	// now. When it is not nil, every base image is folded into its
	// service's input digest, and one that is neither pinned by digest nor
	// in the map is an error naming the service, the Dockerfile and the
	// line. When it is nil (a plan that only reads the configuration),
	// input digests leave base images out and must not be used for build
	// avoidance.
	BaseDigests map[string]string
}

// ResolveBaseImages returns the resolved base images of one service, or an
// error naming the service, its Dockerfile and the FROM line of the first
// reference that is neither pinned by digest ("@sha256:…", used as it is)
// nor in digests.
func ResolveBaseImages(service, dockerfile string, from []From, digests map[string]string) ([]monorepo.BaseImage, error) {
	out := make([]monorepo.BaseImage, 0, len(from))
	for _, f := range from {
		d := Pinned(f.Ref)
		if d == "" {
			d = digests[f.Ref]
		}
		if !validDigest(d) {
			what := "was not resolved to a digest"
			if d != "" {
				what = fmt.Sprintf("resolved to %q, which is not a sha256 digest", d)
			}
			return nil, fmt.Errorf("service %s: %s:%d: FROM %s: the base image %s (input digests include every base image's digest; the module resolves them through the engine and passes --base-digest %s=sha256:…)", service, dockerfile, f.Line, f.Ref, what, f.Ref)
		}
		out = append(out, monorepo.BaseImage{Ref: f.Ref, Digest: d})
	}
	return out, nil
}

func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Make loads the configuration from fsys and computes the plan.
func Make(ctx context.Context, fsys fs.FS, opts Options) (*Plan, error) {
	cfg, err := config.LoadFS(fsys)
	if err != nil {
		return nil, err
	}
	commit, branch := opts.Commit, opts.Branch
	if commit == "" {
		c, b, err := monorepo.Head(fsys)
		if err != nil {
			return nil, fmt.Errorf("reading the commit to build: %w", err)
		}
		commit = c
		if branch == "" {
			branch = b
		}
	}
	if !monorepo.ValidCommit(commit) {
		return nil, fmt.Errorf("commit %q is not a full 40-character SHA (short SHAs collide as image tags)", commit)
	}
	registry := opts.Registry
	if registry == "" {
		registry = cfg.Project.Registry.Address
	}
	if registry == "" {
		registry = opts.DefaultRegistry
	}
	if registry == "" {
		return nil, fmt.Errorf("no registry address: set registry.address in %s or pass one", config.ProjectFile)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	p := &Plan{Project: cfg.Project, Commit: commit, Branch: branch, Registry: registry, Created: now.UTC().Truncate(time.Second), Skipped: cfg.Skipped}

	selected := map[string]bool{}
	for _, name := range opts.Services {
		if _, err := cfg.Service(name); err != nil {
			return nil, err
		}
		selected[name] = true
	}
	for _, s := range cfg.Services {
		in, err := monorepo.InputDigest(fsys, cfg.Project, s)
		if err != nil {
			return nil, err
		}
		ps := Service{
			Service:    s,
			Inputs:     in,
			Repository: cfg.Project.ImageRepository(registry, s),
			Selected:   (len(selected) == 0 || selected[s.Name]) && (opts.Shard.N == 0 || opts.Shard.Owns(s.Name)),
		}
		df := path.Join(s.Dir, s.Dockerfile)
		b, err := fs.ReadFile(fsys, df)
		if err != nil {
			return nil, fmt.Errorf("service %s: reading %s: %w", s.Name, df, err)
		}
		ps.EffectiveBuildArgs = cfg.Project.BuildArgs(s)
		ps.From = FromLines(string(b), ps.EffectiveBuildArgs)
		ps.RunsOnTarget = RunsOnTarget(string(b))
		if project := cfg.Project.BuildArgs(config.Service{}); len(project) > 0 {
			names := make([]string, 0, len(project))
			for k := range project {
				names = append(names, k)
			}
			sort.Strings(names)
			ps.BuildDockerfile = DeclareArgs(string(b), names)
			if cfg.Project.CABundle != "" {
				ps.BuildDockerfile = MountOnEveryRun(ps.BuildDockerfile, CAMounts)
			}
		}
		// A generated Dockerfile (the one above, or the one that replays a
		// failed step) stays out of COPY, and so does a .dockerignore that
		// slipway has to create.
		ignore, err := fs.ReadFile(fsys, path.Join(s.Context, ".dockerignore"))
		switch {
		case err == nil:
			ps.BuildDockerignore = strings.TrimRight(string(ignore), "\n") + "\n" + GeneratedDockerfile + "\n"
		case errors.Is(err, fs.ErrNotExist):
			ps.BuildDockerignore = GeneratedDockerfile + "\n.dockerignore\n"
		default:
			return nil, fmt.Errorf("service %s: reading %s: %w", s.Name, path.Join(s.Context, ".dockerignore"), err)
		}
		for _, f := range ps.From {
			ps.BaseImages = append(ps.BaseImages, f.Ref)
		}
		ps.Platforms = cfg.Project.PlatformsFor(s)
		if len(opts.Platforms) > 0 {
			ps.Platforms = opts.Platforms
		}
		// What the image is built for is an input: another platform list
		// is another image (index).
		in = in.WithPlatforms(ps.Platforms)
		ps.Inputs = in
		if opts.BaseDigests != nil {
			bases, err := ResolveBaseImages(s.Name, df, ps.From, opts.BaseDigests)
			if err != nil {
				return nil, err
			}
			// A multi-platform image is built on each target platform's
			// variant of its base images: each one's digest is an input.
			for _, pl := range ps.Platforms {
				for _, f := range ps.From {
					if d := opts.BaseDigests[BasePlatformKey(f.Ref, pl)]; f.Target && Pinned(f.Ref) == "" && validDigest(d) {
						bases = append(bases, monorepo.BaseImage{Ref: f.Ref, Digest: d, Platform: pl})
					}
				}
			}
			in = in.WithBaseImages(bases)
			ps.Inputs = in
		}
		if ps.Selected && opts.Finder != nil && !opts.Force {
			ref, found, err := opts.Finder.FindByInputDigest(ctx, ps.Repository, in.Digest)
			if err != nil {
				return nil, fmt.Errorf("service %s: looking for an image built from inputs %s in %s: %w", s.Name, in.Short(), ps.Repository, err)
			}
			if found {
				ps.Existing = ref
			}
		}
		p.Services = append(p.Services, ps)
		if opts.CheckDirty != nil && ps.Selected && p.DirtyUnchecked == "" {
			changes, err := opts.CheckDirty(fsys, in.Paths)
			switch {
			case errors.Is(err, monorepo.ErrNoIndex):
				p.DirtyUnchecked = "the source carries no git index (.git/index), so uncommitted changes cannot be looked for"
			case err != nil:
				return nil, fmt.Errorf("service %s: looking for uncommitted changes: %w", s.Name, err)
			default:
				p.Uncommitted = append(p.Uncommitted, changes...)
			}
		}
	}
	p.Uncommitted = uniqueChanges(p.Uncommitted)
	if len(p.Uncommitted) > 0 && opts.AllowDirty {
		p.Dirty = true
	}
	sort.Slice(p.Services, func(i, j int) bool { return p.Services[i].Name < p.Services[j].Name })
	return p, nil
}

// Service returns the named service of the plan.
func (p *Plan) Service(name string) (Service, bool) {
	for _, s := range p.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Tags returns the tags a freshly built image of s receives: the full commit
// SHA and, on a branch, a sortable "<branch>-<short sha>-<timestamp>"; from
// a dirty tree both end in DirtySuffix.
func (p *Plan) Tags() []string {
	tags := []string{p.CommitTag()}
	if p.Branch != "" {
		tags = append(tags, SortableTag(p.Branch, p.Commit, p.Created)+p.suffix())
	}
	return tags
}

// CommitTag is the tag naming this run's commit: the full SHA, or the SHA
// and DirtySuffix for a dirty tree. It is also what signatures record as the
// source commit, so a dirty build is never taken for the commit's own.
func (p *Plan) CommitTag() string { return p.Commit + p.suffix() }

func (p *Plan) suffix() string {
	if p.Dirty {
		return DirtySuffix
	}
	return ""
}

// DirtyError is the refusal of a run over uncommitted changes, naming them
// (nil when the tree is clean or the run was allowed to be dirty).
func (p *Plan) DirtyError() error {
	if len(p.Uncommitted) == 0 || p.Dirty {
		return nil
	}
	return fmt.Errorf("uncommitted changes in the inputs of the services to publish; commit them, or pass --allow-dirty "+
		"to publish under %s%s tags (never the bare commit SHA):\n%s", p.Commit, DirtySuffix,
		strings.TrimRight(monorepo.DescribeChanges(p.Uncommitted, 20), "\n"))
}

func uniqueChanges(in []monorepo.Change) []monorepo.Change {
	sort.Slice(in, func(i, j int) bool {
		if in[i].Path != in[j].Path {
			return in[i].Path < in[j].Path
		}
		return in[i].State < in[j].State
	})
	var out []monorepo.Change
	for i, c := range in {
		if i == 0 || c != in[i-1] {
			out = append(out, c)
		}
	}
	return out
}

// SortableTag is "<branch>-<sha7>-<yyyymmddhhmmss>" with the branch reduced
// to the characters a tag allows.
func SortableTag(branch, commit string, t time.Time) string {
	var b strings.Builder
	for _, r := range strings.ToLower(branch) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	br := strings.Trim(b.String(), "-.")
	if len(br) > 80 {
		br = br[:80]
	}
	if br == "" {
		br = "branch"
	}
	return fmt.Sprintf("%s-%s-%s", br, commit[:7], t.UTC().Format("20060102150405"))
}

// Labels are the OCI labels of a freshly built image of s.
func (p *Plan) Labels(s Service) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.revision": p.Commit,
		"org.opencontainers.image.created":  p.Created.Format(time.RFC3339),
		"org.opencontainers.image.version":  p.Commit,
		"org.opencontainers.image.title":    s.Name,
		"org.opencontainers.image.source":   p.Project.Name + "/" + s.Dir,
		InputDigestLabel:                    s.Inputs.Digest,
		"dev.slipway.service":               s.Name,
	}
	if p.Branch != "" {
		l["dev.slipway.branch"] = p.Branch
	}
	if p.Dirty {
		l[DirtyLabel] = "true"
	}
	return l
}

// DirtyLabel marks an image built from a tree with uncommitted changes.
const DirtyLabel = "dev.slipway.dirty"

// InputDigestLabel is the image label that records the service input digest.
const InputDigestLabel = "dev.slipway.input-digest"

// JSON renders the plan.
func (p *Plan) JSON() ([]byte, error) { return json.MarshalIndent(p, "", "  ") }

// AutoDeployEnvironments are the environments ci deploys every green
// build to, in promotion order.
func (p *Plan) AutoDeployEnvironments() []string {
	var out []string
	for _, e := range p.Project.Environments {
		if e.AutoDeploy {
			out = append(out, e.Name)
		}
	}
	return out
}

// Parse reads a plan rendered by JSON.
func Parse(b []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("reading the plan: %w", err)
	}
	return &p, nil
}

// RequiredLabels are the label keys every image of s must carry: the ones
// slipway sets itself and the project's images.requiredLabels, sorted.
func (p *Plan) RequiredLabels(s Service) []string {
	keys := map[string]bool{}
	for k := range p.Labels(s) {
		keys[k] = true
	}
	for _, k := range p.Project.Images.RequiredLabels {
		keys[k] = true
	}
	out := make([]string, 0, len(keys))
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ContextPath is the repository path p as seen from inside the build
// context ctx (which holds it: config checks that).
func ContextPath(ctx, p string) string {
	if ctx == "." || ctx == "" {
		return p
	}
	return strings.TrimPrefix(p, ctx+"/")
}

// ContextExcludes are the paths, relative to s's build context, of
// slipway's own files inside it: the service.yaml of every service whose
// directory lies in the context, and slipway.yaml and .slipway/ when the
// context is the repository root. They never reach a build, so editing
// them never ships in an image.
func (p *Plan) ContextExcludes(s Service) []string {
	var out []string
	for _, o := range p.Services {
		if o.File != "" && config.Within(o.File, s.Context) {
			out = append(out, ContextPath(s.Context, o.File))
		}
	}
	if s.Context == "." {
		out = append(out, config.ProjectFile, ".slipway")
	}
	sort.Strings(out)
	return out
}
