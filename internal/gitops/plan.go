package gitops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/slipwayci/slipway/internal/gitops/edit"
)

// Change is one service's new image for an environment.
type Change struct {
	// Service is the service's name in the layout.
	Service string `json:"service"`
	// Image is the repository the image was pushed to. Empty keeps the
	// repository already in the file.
	Image string `json:"image,omitempty"`
	// Tag is the image's tag (slipway tags with the full commit SHA).
	Tag string `json:"tag,omitempty"`
	// Digest pins the image: sha256:<64 hex>. Required.
	Digest string `json:"digest"`
}

func (c Change) image() edit.Image { return edit.Image{Name: c.Image, Tag: c.Tag, Digest: c.Digest} }

// ServiceUpdate is what a plan does to one service.
type ServiceUpdate struct {
	Service string `json:"service"`
	// File is the repository-relative path of the file holding the image.
	File string `json:"file"`
	// Key names where in the file, e.g. images[name=api].
	Key string `json:"key"`
	// Old is the image before the update, as the file said it; New the
	// image written.
	Old edit.Image `json:"old"`
	New edit.Image `json:"new"`
	// Changed is false when the file already held New.
	Changed bool `json:"changed"`
}

// FileUpdate is one file a plan rewrites.
type FileUpdate struct {
	Path   string `json:"path"`
	Before []byte `json:"-"`
	After  []byte `json:"-"`
}

// Plan is the set of edits that point an environment at new images,
// computed without writing anything.
type Plan struct {
	Environment string          `json:"environment"`
	Branch      string          `json:"branch"`
	PullRequest bool            `json:"pullRequest"`
	Services    []ServiceUpdate `json:"services"`
	Files       []FileUpdate    `json:"-"`
	// Note is an extra paragraph for the commit message and pull request.
	Note string `json:"note,omitempty"`
}

// Changed reports whether the plan rewrites any file.
func (p *Plan) Changed() bool { return len(p.Files) > 0 }

// Diff is the unified diff of every file the plan rewrites, in path order.
func (p *Plan) Diff() string {
	var b strings.Builder
	for _, f := range p.Files {
		b.WriteString(UnifiedDiff(f.Path, f.Before, f.After))
	}
	return b.String()
}

// ChangedServices returns the services whose image the plan changes.
func (p *Plan) ChangedServices() []ServiceUpdate {
	var out []ServiceUpdate
	for _, s := range p.Services {
		if s.Changed {
			out = append(out, s)
		}
	}
	return out
}

// ErrInvalidChange means a Change is incomplete or malformed.
var ErrInvalidChange = errors.New("invalid change")

// PlanUpdate computes, from the files under dir (a checkout of the GitOps
// repository), the edits that point environment env at the changed images.
// It reads only and fails on the first problem, naming the environment,
// service, file and key; nothing is written.
func PlanUpdate(dir string, layout Layout, env string, changes []Change) (*Plan, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	e, err := layout.Env(env)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, c := range changes {
		if c.Service == "" {
			return nil, fmt.Errorf("changes[%d]: %w: no service", i, ErrInvalidChange)
		}
		if seen[c.Service] {
			return nil, fmt.Errorf("changes[%d]: %w: service %s listed twice", i, ErrInvalidChange, c.Service)
		}
		seen[c.Service] = true
		if err := c.image().Validate(); err != nil {
			return nil, fmt.Errorf("changes[%d] (service %s): %w: %w", i, c.Service, ErrInvalidChange, err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the GitOps checkout: %w", err)
	}
	defer root.Close()
	p := &Plan{Environment: env, Branch: e.Branch, PullRequest: e.PullRequest}
	before := map[string][]byte{}
	after := map[string][]byte{}
	for _, c := range changes {
		r, err := layout.Resolve(env, c.Service)
		if err != nil {
			return nil, err
		}
		located := func(err error) error {
			return &LocatedError{Environment: env, Service: c.Service, File: r.File, Err: err}
		}
		src, ok := after[r.File]
		if !ok {
			src, err = root.ReadFile(r.File)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, located(fmt.Errorf("%w (key %s)", fs.ErrNotExist, r.Key()))
			}
			if err != nil {
				return nil, located(err)
			}
			before[r.File] = src
		}
		res, err := r.apply(src, c.image())
		if err != nil {
			return nil, located(err)
		}
		nw := c.image()
		if nw.Name == "" {
			nw.Name = res.Old.Name
		}
		if res.Old.Digest == nw.Digest && res.Old.Name == nw.Name {
			// The environment already runs this very image: its line stays
			// as it is, whatever tag the new commit gave the digest, so
			// that an unchanged service is never redeployed.
			p.Services = append(p.Services, ServiceUpdate{Service: c.Service, File: r.File, Key: r.Key(), Old: res.Old, New: res.Old})
			after[r.File] = src
			continue
		}
		p.Services = append(p.Services, ServiceUpdate{
			Service: c.Service, File: r.File, Key: r.Key(),
			Old: res.Old, New: nw, Changed: res.Changed,
		})
		after[r.File] = res.Data
	}
	slices.SortFunc(p.Services, func(a, b ServiceUpdate) int { return strings.Compare(a.Service, b.Service) })
	for _, f := range sortedKeys(after) {
		if string(after[f]) != string(before[f]) {
			p.Files = append(p.Files, FileUpdate{Path: f, Before: before[f], After: after[f]})
		}
	}
	return p, nil
}

// Apply writes the plan's files under dir, each through a temporary file
// renamed into place, keeping the file's mode.
func (p *Plan) Apply(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("opening the GitOps checkout: %w", err)
	}
	defer root.Close()
	for _, f := range p.Files {
		perm := fs.FileMode(0o644)
		st, err := root.Stat(f.Path)
		switch {
		case err == nil:
			perm = st.Mode().Perm()
		case errors.Is(err, fs.ErrNotExist):
			// A new file (a state file written for the first time).
			if err := root.MkdirAll(path.Dir(f.Path), 0o755); err != nil {
				return fmt.Errorf("writing %s: %w", f.Path, err)
			}
		default:
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		tmp := path.Join(path.Dir(f.Path), ".slipway-"+path.Base(f.Path)+".tmp")
		if err := root.WriteFile(tmp, f.After, perm); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
		if err := root.Rename(tmp, f.Path); err != nil {
			_ = root.Remove(tmp)
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	return nil
}

// services lists the plan's changed service names.
func (p *Plan) serviceNames() []string {
	var names []string
	for _, s := range p.ChangedServices() {
		names = append(names, s.Service)
	}
	slices.Sort(names)
	return names
}
