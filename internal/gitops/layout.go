package gitops

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/slipwayci/slipway/internal/gitops/edit"
)

// Kind is how a service's image is written into its file.
type Kind string

// The kinds of targets.
const (
	// Kustomize edits an `images:` entry of a kustomization.
	Kustomize Kind = "kustomize"
	// Helm edits a Helm values file at a dotted path.
	Helm Kind = "helm"
	// Manifest edits container images in plain Kubernetes manifests.
	Manifest Kind = "manifest"
)

// Defaults of the conventional layout: a kustomize base and one overlay per
// environment, each overlay's kustomization.yaml holding an `images:` list.
const (
	DefaultDirectory = "deploy/overlays/{env}"
	DefaultBranch    = "main"
	DefaultKustomize = "kustomization.yaml"
	DefaultValues    = "values.yaml"
)

// DefaultEnvironments are the environments of a layout that names none.
var DefaultEnvironments = []string{"dev", "staging", "prod"}

// Layout says where each environment lives in the GitOps repository and in
// which file and key each service's image is written. The zero value is the
// conventional layout: environments dev, staging and prod under
// deploy/overlays/<env>/, every service an `images:` entry named after it in
// that overlay's kustomization.yaml, commits to main.
type Layout struct {
	// Directory is the directory of every environment that sets none;
	// "{env}" stands for the environment's name. Default
	// "deploy/overlays/{env}".
	Directory string `yaml:"directory,omitempty" json:"directory,omitempty"`
	// Branch is the branch environments commit to unless they set one.
	// Default "main".
	Branch string `yaml:"branch,omitempty" json:"branch,omitempty"`
	// Services are the targets of services in every environment, by service
	// name. A service listed nowhere is a kustomize entry named after it.
	Services map[string]Target `yaml:"services,omitempty" json:"services,omitempty"`
	// Environments by name. Default: dev, staging and prod with no settings.
	Environments map[string]Environment `yaml:"environments,omitempty" json:"environments,omitempty"`
	// PullRequestBranch is the branch of each pull-request environment's
	// pull request; {env} is the environment. Default
	// DefaultPullRequestBranch.
	PullRequestBranch string `yaml:"pullRequestBranch,omitempty" json:"pullRequestBranch,omitempty"`
}

// Environment is one deployment environment of the GitOps repository.
type Environment struct {
	// Directory holds the environment's files, relative to the repository
	// root. Default: the layout's Directory with {env} replaced.
	Directory string `yaml:"directory,omitempty" json:"directory,omitempty"`
	// Branch is the branch the environment's commits (or pull requests) go
	// to. Default: the layout's Branch.
	Branch string `yaml:"branch,omitempty" json:"branch,omitempty"`
	// PullRequest opens (or updates) the environment's one pull request,
	// from the layout's PullRequestBranch, instead of pushing to Branch.
	PullRequest bool `yaml:"pullRequest,omitempty" json:"pullRequest,omitempty"`
	// Services override the layout's targets field by field for this
	// environment.
	Services map[string]Target `yaml:"services,omitempty" json:"services,omitempty"`
}

// Target says where one service's image is written.
type Target struct {
	// Kind is kustomize (default), helm or manifest.
	Kind Kind `yaml:"kind,omitempty" json:"kind,omitempty"`
	// File is relative to the environment's directory, or to the
	// repository root when it starts with "/"; "{env}" stands for the
	// environment's name. Default kustomization.yaml for kustomize and
	// values.yaml for helm; required for manifest.
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// Image is, for kustomize, the `name` of the images entry and, for
	// manifest, the repository of the containers to update (containers
	// already holding the new repository match too). Default: the service
	// name.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// Container selects manifest containers by name instead of by image.
	Container string `yaml:"container,omitempty" json:"container,omitempty"`
	// Create adds a missing kustomize images entry instead of failing.
	Create bool `yaml:"create,omitempty" json:"create,omitempty"`
	// Path is the dotted path of the image in a Helm values file, e.g.
	// "image" or "api.image"; required for helm.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// RepositoryKey, TagKey and DigestKey name the keys of a Helm image
	// mapping. Defaults repository, tag, digest.
	RepositoryKey string `yaml:"repositoryKey,omitempty" json:"repositoryKey,omitempty"`
	TagKey        string `yaml:"tagKey,omitempty" json:"tagKey,omitempty"`
	DigestKey     string `yaml:"digestKey,omitempty" json:"digestKey,omitempty"`
	// DigestInTag writes tag@digest into the Helm tag key (no digest key).
	DigestInTag bool `yaml:"digestInTag,omitempty" json:"digestInTag,omitempty"`
	// SkipRepository leaves the Helm repository key alone.
	SkipRepository bool `yaml:"skipRepository,omitempty" json:"skipRepository,omitempty"`
}

// Sentinel errors of the layout.
var (
	// ErrInvalidLayout is wrapped by every Validate error.
	ErrInvalidLayout = errors.New("invalid GitOps layout")
	// ErrUnknownEnvironment means the environment is not in the layout.
	ErrUnknownEnvironment = errors.New("unknown environment")
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$`)

// WithDefaults returns the layout with every default filled in.
func (l Layout) WithDefaults() Layout {
	if l.Directory == "" {
		l.Directory = DefaultDirectory
	}
	if l.Branch == "" {
		l.Branch = DefaultBranch
	}
	if len(l.Environments) == 0 {
		l.Environments = map[string]Environment{}
		for _, e := range DefaultEnvironments {
			l.Environments[e] = Environment{}
		}
	}
	return l
}

// EnvironmentNames returns the environments of the layout, sorted.
func (l Layout) EnvironmentNames() []string {
	l = l.WithDefaults()
	names := make([]string, 0, len(l.Environments))
	for n := range l.Environments {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Validate checks the layout and returns every problem found, each naming
// its field (e.g. `environments.prod.services.api.path`), joined and
// wrapping ErrInvalidLayout.
func (l Layout) Validate() error {
	l = l.WithDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidLayout, field, fmt.Sprintf(format, args...)))
	}
	if err := checkRel(strings.ReplaceAll(l.Directory, "{env}", "env")); err != "" {
		bad("directory", "%s", err)
	}
	if !validBranch(l.Branch) {
		bad("branch", "%q is not a valid branch name", l.Branch)
	}
	if l.PullRequestBranch != "" && (!strings.Contains(l.PullRequestBranch, "{env}") || !validBranch(strings.ReplaceAll(l.PullRequestBranch, "{env}", "env"))) {
		bad("pullRequestBranch", "%q is not a branch name pattern with {env}", l.PullRequestBranch)
	}
	for _, svc := range sortedKeys(l.Services) {
		if !nameRE.MatchString(svc) {
			bad("services."+svc, "service names are lower-case letters, digits, '.', '_' and '-'")
		}
		// Targets are checked merged with each environment below; check the
		// shared ones alone too so a bad default is reported once.
		validateTarget("services."+svc, svc, l.Services[svc], bad)
	}
	for _, env := range sortedKeys(l.Environments) {
		e := l.Environments[env]
		field := "environments." + env
		if !nameRE.MatchString(env) {
			bad(field, "environment names are lower-case letters, digits, '.', '_' and '-'")
		}
		if e.Directory != "" {
			if err := checkRel(e.Directory); err != "" {
				bad(field+".directory", "%s", err)
			}
		}
		if e.Branch != "" && !validBranch(e.Branch) {
			bad(field+".branch", "%q is not a valid branch name", e.Branch)
		}
		for _, svc := range sortedKeys(e.Services) {
			if !nameRE.MatchString(svc) {
				bad(field+".services."+svc, "service names are lower-case letters, digits, '.', '_' and '-'")
			}
			validateTarget(field+".services."+svc, svc, merge(l.Services[svc], e.Services[svc]), bad)
		}
	}
	return errors.Join(errs...)
}

func validateTarget(field, svc string, t Target, bad func(field, format string, args ...any)) {
	t = t.withDefaults(svc)
	switch t.Kind {
	case Kustomize:
	case Helm:
		if t.Path == "" {
			bad(field+".path", "required for kind helm")
		} else if slices.Contains(strings.Split(t.Path, "."), "") {
			bad(field+".path", "%q has an empty segment", t.Path)
		}
	case Manifest:
		if t.File == "" {
			bad(field+".file", "required for kind manifest")
		}
	default:
		bad(field+".kind", "%q is not one of kustomize, helm, manifest", t.Kind)
	}
	if t.File != "" {
		if err := checkRel(strings.ReplaceAll(strings.TrimPrefix(t.File, "/"), "{env}", "env")); err != "" {
			bad(field+".file", "%s", err)
		}
	}
	if t.Kind != Helm && (t.RepositoryKey != "" || t.TagKey != "" || t.DigestKey != "" || t.DigestInTag || t.SkipRepository) {
		bad(field+".kind", "repositoryKey, tagKey, digestKey, digestInTag and skipRepository apply to kind helm only")
	}
	if t.Create && t.Kind != Kustomize {
		bad(field+".create", "applies to kind kustomize only")
	}
	if t.Container != "" && t.Kind != Manifest {
		bad(field+".container", "applies to kind manifest only")
	}
}

// checkRel returns a complaint when p is not a clean relative path inside
// the repository.
func checkRel(p string) string {
	switch {
	case p == "":
		return "empty path"
	case strings.Contains(p, "\\"):
		return fmt.Sprintf("%q: use forward slashes", p)
	case path.IsAbs(p):
		return fmt.Sprintf("%q must be relative to the repository root", p)
	case path.Clean(p) != p:
		return fmt.Sprintf("%q is not clean (want %q)", p, path.Clean(p))
	case p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Sprintf("%q leaves the repository", p)
	case p == ".git" || strings.HasPrefix(p, ".git/") || strings.Contains(p, "/.git/"):
		return fmt.Sprintf("%q is inside .git", p)
	}
	return ""
}

var branchRE = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

func validBranch(b string) bool {
	return branchRE.MatchString(b) && !strings.Contains(b, "..") && !strings.HasPrefix(b, "/") &&
		!strings.HasSuffix(b, "/") && !strings.HasSuffix(b, ".lock") && !strings.HasPrefix(b, "-") && !strings.Contains(b, "//")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// merge lays the fields set in o over t.
func merge(t, o Target) Target {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	if o.Kind != "" {
		t.Kind = o.Kind
	}
	set(&t.File, o.File)
	set(&t.Image, o.Image)
	set(&t.Container, o.Container)
	set(&t.Path, o.Path)
	set(&t.RepositoryKey, o.RepositoryKey)
	set(&t.TagKey, o.TagKey)
	set(&t.DigestKey, o.DigestKey)
	t.Create = t.Create || o.Create
	t.DigestInTag = t.DigestInTag || o.DigestInTag
	t.SkipRepository = t.SkipRepository || o.SkipRepository
	return t
}

func (t Target) withDefaults(svc string) Target {
	if t.Kind == "" {
		t.Kind = Kustomize
	}
	if t.Image == "" {
		t.Image = svc
	}
	if t.File == "" {
		switch t.Kind {
		case Kustomize:
			t.File = DefaultKustomize
		case Helm:
			t.File = DefaultValues
		}
	}
	return t
}

// Resolved is a service's target in one environment with every default
// applied; File is relative to the repository root.
type Resolved struct {
	Environment string
	Service     string
	Target
}

// Key describes where in the file the image lives, for messages.
func (r Resolved) Key() string {
	switch r.Kind {
	case Helm:
		return r.Path
	case Manifest:
		if r.Container != "" {
			return "containers[name=" + r.Container + "].image"
		}
		return "containers[image=" + r.Image + "].image"
	}
	return "images[name=" + r.Image + "]"
}

// Env returns the named environment with its defaults applied, and its
// directory and branch.
func (l Layout) Env(name string) (Environment, error) {
	l = l.WithDefaults()
	e, ok := l.Environments[name]
	if !ok {
		return Environment{}, fmt.Errorf("environments.%s: %w (the layout has %s)", name, ErrUnknownEnvironment, strings.Join(l.EnvironmentNames(), ", "))
	}
	if e.Directory == "" {
		e.Directory = strings.ReplaceAll(l.Directory, "{env}", name)
	}
	if e.Branch == "" {
		e.Branch = l.Branch
	}
	return e, nil
}

// Resolve returns where service svc's image is written in environment env.
func (l Layout) Resolve(env, svc string) (Resolved, error) {
	e, err := l.Env(env)
	if err != nil {
		return Resolved{}, err
	}
	t := merge(l.Services[svc], e.Services[svc]).withDefaults(svc)
	t.File = strings.ReplaceAll(t.File, "{env}", env)
	if rooted, ok := strings.CutPrefix(t.File, "/"); ok {
		t.File = rooted
	} else {
		t.File = path.Join(e.Directory, t.File)
	}
	return Resolved{Environment: env, Service: svc, Target: t}, nil
}

// apply runs the target's editor on src.
func (r Resolved) apply(src []byte, img edit.Image) (edit.Result, error) {
	switch r.Kind {
	case Helm:
		return edit.HelmValues(src, r.Path, img, edit.HelmKeys{
			Repository: r.RepositoryKey, Tag: r.TagKey, Digest: r.DigestKey,
			DigestInTag: r.DigestInTag, SkipRepository: r.SkipRepository,
		})
	case Manifest:
		m := edit.Match{Container: r.Container}
		if r.Container == "" {
			m.Images = []string{r.Image}
			if img.Name != "" && img.Name != r.Image {
				m.Images = append(m.Images, img.Name)
				// The service's image on another registry (or under
				// another namespace) is still the service's.
				m.Paths = []string{path.Base(img.Name)}
			}
		}
		return edit.Manifest(src, m, img)
	}
	return edit.Kustomize(src, r.Image, img, edit.KustomizeOptions{Create: r.Create})
}
