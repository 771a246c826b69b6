package retention

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/slipwayci/slipway/internal/registry"
)

func (o *Options) validate() error {
	var errs []error
	if o.Config == nil {
		errs = append(errs, errors.New("no configuration"))
	}
	if o.Registry == nil {
		errs = append(errs, errors.New("no registry client"))
	}
	if o.RegistryAddress == "" && o.Config != nil {
		o.RegistryAddress = o.Config.Project.Registry.Address
	}
	if o.RegistryAddress == "" {
		errs = append(errs, errors.New("no registry address: pass one or set registry.address in slipway.yaml"))
	}
	if o.RepoURL == "" {
		errs = append(errs, errors.New("no GitOps repository: without it nothing tells which images the environments run"))
	}
	if o.Keep < 0 {
		errs = append(errs, fmt.Errorf("keep %d: must be 0 or more", o.Keep))
	}
	if o.OlderThan <= 0 {
		errs = append(errs, fmt.Errorf("older than %s: must be positive", o.OlderThan))
	}
	if o.Jobs < 0 || o.Jobs > 64 {
		errs = append(errs, fmt.Errorf("jobs %d: outside [1, 64]", o.Jobs))
	}
	if o.Jobs == 0 {
		o.Jobs = 8
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}

// Plan decides, for every service's repository, which digests are kept and
// which are deleted with their tags, signatures and attestations. It reads
// the GitOps repository and the registry and writes nothing. Any failure to
// read what the environments run, or to tell what a tag names, fails the
// whole plan: a plan that is not sure keeps nothing safe.
func Plan(ctx context.Context, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	services, err := selectServices(o.Config, o.Services)
	if err != nil {
		return nil, err
	}
	refs, err := readReferences(ctx, o)
	if err != nil {
		return nil, err
	}
	res := &Result{
		Project:      o.Config.Project.Name,
		Registry:     o.RegistryAddress,
		Now:          o.Now,
		OlderThan:    o.OlderThan,
		Keep:         o.Keep,
		GitOpsCommit: refs.commit,
		Notes:        refs.notes,
	}
	for _, svc := range services {
		name := o.Config.Project.ImageRepository(o.RegistryAddress, svc)
		p := &repoPlan{o: &o, refs: refs, service: svc.Name, name: name}
		repo, err := p.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		res.Repositories = append(res.Repositories, *repo)
		res.Notes = append(res.Notes, p.notes...)
	}
	return res, nil
}

// repoPlan plans one repository.
type repoPlan struct {
	o       *Options
	refs    *references
	service string
	name    string
	notes   []string
}

type artifactTag struct {
	tag, subject string
	kind         TagKind
}

func (p *repoPlan) run(ctx context.Context) (*Repository, error) {
	c := p.o.Registry
	repo := &Repository{Service: p.service, Name: p.name}
	tags, err := c.ListTags(ctx, p.name)
	if err != nil {
		return nil, err
	}
	var named []string
	var artifacts []artifactTag
	for _, t := range tags {
		kind, _, subject := Classify(t)
		if kind.Artifact() {
			artifacts = append(artifacts, artifactTag{t, subject, kind})
		} else {
			named = append(named, t)
		}
	}

	// What every tag names. A tag deleted meanwhile is left out.
	digests := make([]string, len(named))
	err = p.each(ctx, len(named), func(ctx context.Context, i int) error {
		d, err := c.Resolve(ctx, p.name+":"+named[i])
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		digests[i] = d.DigestStr()
		return nil
	})
	if err != nil {
		return nil, err
	}
	images := map[string]*Image{}
	get := func(d string) *Image {
		im := images[d]
		if im == nil {
			im = &Image{Digest: d}
			images[d] = im
		}
		return im
	}
	for i, t := range named {
		if digests[i] != "" {
			im := get(digests[i])
			im.Tags = append(im.Tags, t)
		}
	}

	// Signatures and attestations go with their subject; a subject with
	// no tag left is an image too (a prune interrupted after its tags were
	// deleted), and one that is gone makes them orphans.
	var untagged []string
	for _, a := range artifacts {
		if images[a.subject] == nil && !contains(untagged, a.subject) {
			untagged = append(untagged, a.subject)
		}
	}
	exists := make([]bool, len(untagged))
	err = p.each(ctx, len(untagged), func(ctx context.Context, i int) error {
		ok, err := c.Exists(ctx, p.name+"@"+untagged[i])
		exists[i] = ok
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, d := range untagged {
		if exists[i] {
			get(d)
		}
	}

	// What each image is and when it was built.
	list := make([]*Image, 0, len(images))
	for _, im := range images {
		list = append(list, im)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Digest < list[j].Digest })
	gone := make([]bool, len(list))
	err = p.each(ctx, len(list), func(ctx context.Context, i int) error {
		err := p.describe(ctx, list[i])
		if errors.Is(err, registry.ErrNotFound) {
			gone[i] = true
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	kept := list[:0]
	for i, im := range list {
		if gone[i] {
			delete(images, im.Digest)
			continue
		}
		kept = append(kept, im)
	}
	list = kept

	for _, a := range artifacts {
		art := Artifact{Tag: a.tag, Kind: a.kind.String(), Subject: a.subject}
		if im := images[a.subject]; im != nil {
			im.Artifacts = append(im.Artifacts, art)
		} else {
			repo.Orphans = append(repo.Orphans, art)
		}
	}

	p.decide(list)

	// The artifacts' own manifests are deleted after their tags: find
	// their digests for what is deleted.
	var todo []*Artifact
	for _, im := range list {
		if !im.Keep {
			for i := range im.Artifacts {
				todo = append(todo, &im.Artifacts[i])
			}
		}
	}
	for i := range repo.Orphans {
		todo = append(todo, &repo.Orphans[i])
	}
	err = p.each(ctx, len(todo), func(ctx context.Context, i int) error {
		d, err := c.Resolve(ctx, p.name+":"+todo[i].Tag)
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		todo[i].Digest = d.DigestStr()
		return nil
	})
	if err != nil {
		return nil, err
	}

	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.After(b.Created)
		}
		return a.Digest < b.Digest
	})
	for _, im := range list {
		sort.Strings(im.Tags)
		repo.Images = append(repo.Images, *im)
	}
	return repo, nil
}

// each runs fn for 0..n-1 with at most Jobs at once, stopping at the first
// error.
func (p *repoPlan) each(ctx context.Context, n int, fn func(context.Context, int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.o.Jobs)
	for i := 0; i < n; i++ {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}

// describe reads the image's manifest (and config): whether it is an
// index, its platform manifests, and when it was built.
func (p *repoPlan) describe(ctx context.Context, im *Image) error {
	c := p.o.Registry
	ref := p.name + "@" + im.Digest
	d, err := c.ParseDigest(ref)
	if err != nil {
		return err
	}
	desc, err := remote.Get(d, c.RemoteOptions(ctx)...)
	if err != nil {
		return registry.Classify("reading", ref, err)
	}
	var ann map[string]string
	var img v1.Image
	switch {
	case desc.MediaType.IsIndex():
		im.Index = true
		idx, err := desc.ImageIndex()
		if err != nil {
			return registry.Classify("reading", ref, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return registry.Classify("reading", ref, err)
		}
		ann = m.Annotations
		for _, child := range m.Manifests {
			if !child.MediaType.IsImage() && !child.MediaType.IsIndex() {
				continue
			}
			im.Children = append(im.Children, child.Digest.String())
			if img == nil && child.MediaType.IsImage() {
				if img, err = idx.Image(child.Digest); err != nil {
					return registry.Classify("reading", p.name+"@"+child.Digest.String(), err)
				}
			}
		}
	case desc.MediaType.IsImage():
		if img, err = desc.Image(); err != nil {
			return registry.Classify("reading", ref, err)
		}
		m, err := img.Manifest()
		if err != nil {
			return registry.Classify("reading", ref, err)
		}
		ann = m.Annotations
	default:
		// Not an image (an artifact of another kind): its age is unknown.
	}
	var when time.Time
	from := ""
	if img != nil {
		cf, err := img.ConfigFile()
		if err != nil {
			return registry.Classify("reading the config of", ref, err)
		}
		if t, ok := parseTime(cf.Config.Labels[CreatedLabel]); ok {
			when, from = t, "label"
		} else if t, ok := parseTime(ann[CreatedLabel]); ok {
			when, from = t, "annotation"
		} else if t := cf.Created.Time; t.Unix() > 0 {
			when, from = t.UTC(), "config"
		}
	} else if t, ok := parseTime(ann[CreatedLabel]); ok {
		when, from = t, "annotation"
	}
	// A sortable tag newer than the build time means a later build gave
	// the image a new name: it counts as that recent.
	for _, t := range im.Tags {
		if k, at, _ := Classify(t); k == SortableTag && at.After(when) {
			when, from = at, "tag"
		}
	}
	im.Created, im.CreatedFrom = when, from
	return nil
}

func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Unix() <= 0 {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// decide marks every image kept or deleted, with every reason to keep it.
func (p *repoPlan) decide(list []*Image) {
	o := p.o
	// The newest Keep images with a known age.
	dated := make([]*Image, 0, len(list))
	for _, im := range list {
		if !im.Created.IsZero() {
			dated = append(dated, im)
		}
	}
	sort.Slice(dated, func(i, j int) bool {
		if !dated[i].Created.Equal(dated[j].Created) {
			return dated[i].Created.After(dated[j].Created)
		}
		return dated[i].Digest < dated[j].Digest
	})
	newest := map[string]int{}
	for i, im := range dated {
		if i >= o.Keep {
			break
		}
		newest[im.Digest] = i + 1
	}
	reason := func(im *Image, why string) { im.Reasons = append(im.Reasons, why) }
	for _, im := range list {
		for _, why := range p.refs.digests[im.Digest] {
			reason(im, why)
		}
		for _, child := range im.Children {
			for _, why := range p.refs.digests[child] {
				reason(im, fmt.Sprintf("its platform image %s %s", shortDigest(child), why))
			}
		}
		for _, t := range im.Tags {
			for _, why := range p.refs.tags[p.service][t] {
				reason(im, why)
			}
		}
		var other []string
		for _, t := range im.Tags {
			if k, _, _ := Classify(t); k == Other {
				other = append(other, t)
			}
		}
		if len(other) > 0 {
			reason(im, fmt.Sprintf("also tagged %s, which prune does not manage", strings.Join(other, ", ")))
		}
		if n, ok := newest[im.Digest]; ok {
			reason(im, fmt.Sprintf("among the newest %d (number %d)", o.Keep, n))
		}
		switch age := o.Now.Sub(im.Created); {
		case im.Created.IsZero():
			reason(im, "its age is unknown (no created label, annotation, config time or sortable tag)")
			p.notes = append(p.notes, fmt.Sprintf("%s@%s: its age is unknown, so it is kept; label images with %s", p.name, shortDigest(im.Digest), CreatedLabel))
		case age < o.OlderThan:
			reason(im, fmt.Sprintf("built %s ago, younger than %s", roundAge(age), o.OlderThan))
		}
		im.Keep = len(im.Reasons) > 0
	}
	// A platform manifest of a kept index is kept with it; repeat for
	// nested indexes.
	for changed := true; changed; {
		changed = false
		byDigest := map[string]*Image{}
		for _, im := range list {
			byDigest[im.Digest] = im
		}
		for _, im := range list {
			if !im.Keep {
				continue
			}
			for _, child := range im.Children {
				if ch := byDigest[child]; ch != nil && !ch.Keep {
					reason(ch, "platform image of kept index "+shortDigest(im.Digest))
					ch.Keep, changed = true, true
				}
			}
		}
	}
	// An index is deleted with the platform manifests that nothing kept
	// shares.
	shared := map[string]bool{}
	for _, im := range list {
		if im.Keep {
			shared[im.Digest] = true
			for _, child := range im.Children {
				shared[child] = true
			}
		}
	}
	for _, im := range list {
		if im.Keep {
			continue
		}
		for _, child := range im.Children {
			if !shared[child] && len(p.refs.digests[child]) == 0 {
				im.DeleteChildren = append(im.DeleteChildren, child)
			}
		}
	}
}

// roundAge renders an age for people: "3d4h", "5h", "12m".
func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return d.Round(time.Second).String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
