package retention

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/gitops/edit"
	"github.com/slipwayci/slipway/internal/state"
)

// maxScanBytes bounds the files searched for digests: manifests are small,
// anything larger is not one.
const maxScanBytes = 4 << 20

// references is what the GitOps repository says is in use.
type references struct {
	// commit is the tip of the GitOps branch.
	commit string
	// digests maps a digest to why it is in use.
	digests map[string][]string
	// tags maps service → tag → why, for environments that name an image
	// by tag only.
	tags  map[string]map[string][]string
	notes []string
}

func (r *references) add(digest, why string) {
	for _, w := range r.digests[digest] {
		if w == why {
			return
		}
	}
	r.digests[digest] = append(r.digests[digest], why)
}

// readReferences clones the GitOps repository and reads every digest it
// uses: what each environment runs (on the environment's branch), the
// state file's pins, and any digest written in any file on any branch (the
// state file's denylist excepted).
func readReferences(ctx context.Context, o Options) (*references, error) {
	cfg := o.Config
	repo, err := gitops.Clone(ctx, o.RepoURL, o.GitOptions...)
	if err != nil {
		return nil, fmt.Errorf("reading what the environments run: %w", err)
	}
	defer repo.Close()
	layout := deploy.Layout(cfg)
	main := cfg.Project.GitOps.Branch
	byBranch := map[string][]string{main: nil}
	for _, env := range layout.EnvironmentNames() {
		e, err := layout.Env(env)
		if err != nil {
			return nil, err
		}
		byBranch[e.Branch] = append(byBranch[e.Branch], env)
	}
	branches := make([]string, 0, len(byBranch))
	for b := range byBranch {
		branches = append(branches, b)
	}
	sort.Slice(branches, func(i, j int) bool {
		if (branches[i] == main) != (branches[j] == main) {
			return branches[i] == main
		}
		return branches[i] < branches[j]
	})
	refs := &references{digests: map[string][]string{}, tags: map[string]map[string][]string{}}
	stateFile := state.Path(cfg)
	// seen are the (branch, file, digest) already explained by what an
	// environment runs, so that the scan below does not repeat them.
	seen := map[string]bool{}
	for _, branch := range branches {
		tip, err := repo.Checkout(ctx, branch)
		if err != nil {
			return nil, fmt.Errorf("reading what the environments run: %w", err)
		}
		if branch == main {
			refs.commit = tip
			st, err := state.Read(repo.Dir(), stateFile)
			if err != nil {
				return nil, err
			}
			for _, p := range st.Pins() {
				refs.add(p.Digest, fmt.Sprintf("pinned in %s (%s)", p.Environment, stateFile))
			}
		}
		for _, env := range byBranch[branch] {
			for _, svc := range cfg.Services {
				if !svc.DeploysTo(env) {
					continue
				}
				m, err := gitops.ReadImages(repo.Dir(), layout, env, []string{svc.Name})
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, edit.ErrNotFound) {
					refs.notes = append(refs.notes, fmt.Sprintf("environment %s does not name an image for %s: %v", env, svc.Name, err))
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("reading what %s runs: %w", env, err)
				}
				cur := m[svc.Name]
				why := fmt.Sprintf("runs in %s (%s)", env, cur.File)
				switch {
				case cur.Image.Digest != "":
					refs.add(cur.Image.Digest, why)
					seen[branch+"\x00"+cur.File+"\x00"+cur.Image.Digest] = true
				case cur.Image.Tag != "":
					if refs.tags[svc.Name] == nil {
						refs.tags[svc.Name] = map[string][]string{}
					}
					refs.tags[svc.Name][cur.Image.Tag] = append(refs.tags[svc.Name][cur.Image.Tag], why+" by tag")
				}
			}
		}
	}
	if err := scanBranches(repo.Dir(), main, stateFile, seen, refs); err != nil {
		return nil, err
	}
	return refs, nil
}

// scanBranches adds every digest written in any file of any branch of the
// clone at dir (the main branch first), except in the state file, where
// denylisted digests are written.
func scanBranches(dir, main, stateFile string, seen map[string]bool, refs *references) error {
	gr, err := git.PlainOpen(dir)
	if err != nil {
		return fmt.Errorf("opening the GitOps clone: %w", err)
	}
	iter, err := gr.References()
	if err != nil {
		return fmt.Errorf("listing the GitOps branches: %w", err)
	}
	tips := map[string]plumbing.Hash{}
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() != plumbing.HashReference || !r.Name().IsRemote() {
			return nil
		}
		b := strings.TrimPrefix(r.Name().String(), "refs/remotes/origin/")
		if b == r.Name().String() || b == "HEAD" {
			return nil
		}
		tips[b] = r.Hash()
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing the GitOps branches: %w", err)
	}
	names := make([]string, 0, len(tips))
	for b := range tips {
		names = append(names, b)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == main) != (names[j] == main) {
			return names[i] == main
		}
		return names[i] < names[j]
	})
	for _, b := range names {
		c, err := gr.CommitObject(tips[b])
		if err != nil {
			return fmt.Errorf("reading branch %s of the GitOps repository: %w", b, err)
		}
		tree, err := c.Tree()
		if err != nil {
			return fmt.Errorf("reading branch %s of the GitOps repository: %w", b, err)
		}
		// One reason per digest and branch is enough to explain a keep;
		// digests already in use on an earlier branch need no more.
		found := map[string]bool{}
		err = tree.Files().ForEach(func(f *object.File) error {
			if f.Name == stateFile || f.Size > maxScanBytes {
				return nil
			}
			if bin, err := f.IsBinary(); err != nil || bin {
				return err
			}
			text, err := f.Contents()
			if err != nil {
				return err
			}
			for _, d := range digestRE.FindAllString(text, -1) {
				if found[d] || seen[b+"\x00"+f.Name+"\x00"+d] {
					continue
				}
				found[d] = true
				if b != main && len(refs.digests[d]) > 0 {
					continue
				}
				refs.add(d, fmt.Sprintf("written in %s on branch %s", f.Name, b))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("searching branch %s of the GitOps repository: %w", b, err)
		}
	}
	return nil
}

// selectServices returns the services to plan, in configuration order.
func selectServices(cfg *config.Config, names []string) ([]config.Service, error) {
	if len(names) == 0 {
		return cfg.Services, nil
	}
	var out []config.Service
	seen := map[string]bool{}
	for _, n := range names {
		s, err := cfg.Service(n)
		if err != nil {
			return nil, err
		}
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
