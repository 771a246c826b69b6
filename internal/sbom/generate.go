package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/slipwayci/slipway/internal/registry"
)

// Size limits of the metadata files read into memory.
const (
	maxDatabase = 64 << 20 // dpkg status, apk installed
	maxManifest = 8 << 20  // METADATA, PKG-INFO, package.json, os-release
)

// FromArchive writes the BOM of the image in an archive file: an OCI
// layout packed as a tar (Dagger's asTarball), optionally gzip-compressed,
// or a `docker save` tarball. For an archive holding an index, the BOM
// lists the packages of every platform's image.
func FromArchive(ctx context.Context, file string, opts ...Option) (*BOM, error) {
	img, idx, cleanup, err := registry.OpenArchive(file)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if idx == nil {
		cfg, err := newConfig(opts)
		if err != nil {
			return nil, err
		}
		if !cfg.asIndex {
			return FromImage(ctx, img, opts...)
		}
		if idx, err = registry.IndexOf(img); err != nil {
			return nil, err
		}
	}
	return FromIndex(ctx, idx, opts...)
}

// FromImage writes the BOM of img.
func FromImage(ctx context.Context, img v1.Image, opts ...Option) (*BOM, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	arch := ""
	if cf, err := img.ConfigFile(); err == nil && cf != nil {
		arch = cf.Architecture
		if cfg.platform != "" && !platformIs(*cf.Platform(), cfg.platform) {
			return nil, fmt.Errorf("the image is %s/%s, not %s", cf.OS, cf.Architecture, cfg.platform)
		}
	}
	return generate(ctx, cfg, d, arch, []v1.Image{img})
}

// FromIndex writes a single BOM of a multi-platform index: the packages of
// all its images, described as the index's digest.
func FromIndex(ctx context.Context, idx v1.ImageIndex, opts ...Option) (*BOM, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	d, err := idx.Digest()
	if err != nil {
		return nil, fmt.Errorf("index digest: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the index: %w", err)
	}
	if cfg.platform != "" {
		for _, m := range im.Manifests {
			if m.MediaType.IsImage() && m.Platform != nil && platformIs(*m.Platform, cfg.platform) {
				img, err := idx.Image(m.Digest)
				if err != nil {
					return nil, fmt.Errorf("reading the %s image of the index: %w", cfg.platform, err)
				}
				return generate(ctx, cfg, m.Digest, m.Platform.Architecture, []v1.Image{img})
			}
		}
		return nil, fmt.Errorf("the index %s holds no %s image", d, cfg.platform)
	}
	var imgs []v1.Image
	for _, m := range im.Manifests {
		if !m.MediaType.IsImage() {
			continue
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading image %s of the index: %w", m.Digest, err)
		}
		imgs = append(imgs, img)
	}
	return generate(ctx, cfg, d, "", imgs)
}

func generate(ctx context.Context, cfg *config, digest v1.Hash, arch string, imgs []v1.Image) (*BOM, error) {
	if cfg.digest != "" && cfg.digest != digest.String() {
		return nil, fmt.Errorf("image name %s@%s names another digest than the archive's %s", cfg.repo, cfg.digest, digest)
	}
	sp, err := newSpool(cfg.tempDir)
	if err != nil {
		return nil, fmt.Errorf("spooling executables: %w", err)
	}
	defer sp.close()
	var all []*found
	for _, img := range imgs {
		c := &collector{spool: sp}
		if err := flatten(ctx, img, c.visit); err != nil {
			return nil, err
		}
		all = append(all, c.components()...)
	}
	return assemble(cfg, digest, arch, all), nil
}

// found is one component found at one place, with what it depends on.
type found struct {
	c         Component
	location  string
	dependsOn []string
}

// collector gathers what one image's files say.
type collector struct {
	spool *spool

	osRelease, libOSRelease map[string]string
	debianVersion           string
	alpineRelease           string

	deb    []located[debPackage]
	apk    []located[apkPackage]
	python []located[pyDist]
	npm    []located[npmPackage]
	golang []located[goInfo]
}

type located[T any] struct {
	v        T
	location string
}

func (c *collector) visit(name string, h *tar.Header, r io.Reader) error {
	if h.Typeflag != tar.TypeReg {
		return nil
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	loc := "/" + name
	switch {
	case name == "etc/os-release":
		b, err := readFile(name, r, maxManifest)
		if err != nil {
			return err
		}
		c.osRelease = parseOSRelease(b)
	case name == "usr/lib/os-release":
		b, err := readFile(name, r, maxManifest)
		if err != nil {
			return err
		}
		c.libOSRelease = parseOSRelease(b)
	case name == "etc/debian_version":
		b, err := readFile(name, r, maxManifest)
		if err != nil {
			return err
		}
		c.debianVersion = strings.TrimSpace(string(b))
	case name == "etc/alpine-release":
		b, err := readFile(name, r, maxManifest)
		if err != nil {
			return err
		}
		c.alpineRelease = strings.TrimSpace(string(b))
	case name == "var/lib/dpkg/status" || (dir == "var/lib/dpkg/status.d" && !strings.HasSuffix(base, ".md5sums")):
		b, err := readFile(name, r, maxDatabase)
		if err != nil {
			return err
		}
		pkgs, err := parseDpkgStatus(b)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, loc, err)
		}
		for _, p := range pkgs {
			c.deb = append(c.deb, located[debPackage]{p, loc})
		}
	case name == "lib/apk/db/installed":
		b, err := readFile(name, r, maxDatabase)
		if err != nil {
			return err
		}
		pkgs, err := parseApkInstalled(b)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, loc, err)
		}
		for _, p := range pkgs {
			c.apk = append(c.apk, located[apkPackage]{p, loc})
		}
	case (base == "METADATA" && strings.HasSuffix(dir, ".dist-info")) ||
		(base == "PKG-INFO" && strings.HasSuffix(dir, ".egg-info")) ||
		strings.HasSuffix(base, ".egg-info"):
		b, err := readFile(name, r, maxManifest)
		if err != nil {
			return err
		}
		d, err := parsePythonMetadata(b)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, loc, err)
		}
		c.python = append(c.python, located[pyDist]{d, loc})
	case base == "package.json" && isNodeModule(dir):
		b, err := readFile(name, r, maxManifest)
		if err != nil {
			return err
		}
		p, ok, err := parsePackageJSON(b)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, loc, err)
		}
		if ok {
			c.npm = append(c.npm, located[npmPackage]{p, loc})
		}
	case h.Mode&0o111 != 0 && h.Size > 64:
		head := make([]byte, 4)
		if _, err := io.ReadFull(r, head); err != nil {
			return fmt.Errorf("reading %s: %w", loc, err)
		}
		if !bytes.Equal(head, []byte("\x7fELF")) {
			return nil
		}
		info, ok, err := c.spool.goBinary(head, r)
		if err != nil {
			return fmt.Errorf("%w: %s: reading its Go build information: %v", ErrMalformed, loc, err)
		}
		if ok {
			c.golang = append(c.golang, located[goInfo]{goInfoOf(info), loc})
		}
	}
	return nil
}

// readFile reads a metadata file of the image, refusing one larger than
// limit.
func readFile(name string, r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading /%s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: /%s is larger than %d bytes", ErrMalformed, name, limit)
	}
	return b, nil
}

// osInfo is the distribution the image is based on.
func (c *collector) osInfo() (id, version string) {
	rel := c.osRelease
	if rel == nil {
		rel = c.libOSRelease
	}
	id, version = rel["ID"], rel["VERSION_ID"]
	switch {
	case id == "" && c.debianVersion != "":
		id = "debian"
	case id == "" && c.alpineRelease != "":
		id = "alpine"
	}
	if version == "" {
		switch id {
		case "debian":
			version = c.debianVersion
		case "alpine":
			version = c.alpineRelease
		}
	}
	return id, version
}

// components turns what was collected into components.
func (c *collector) components() []*found {
	var out []*found
	osID, osVersion := c.osInfo()
	if osID != "" {
		out = append(out, &found{c: Component{
			BOMRef: "os:" + osID + "@" + osVersion, Type: "operating-system", Name: osID, Version: osVersion,
		}})
	}
	debNS, debDistro := "debian", ""
	if osID != "" && osID != "alpine" {
		debNS = osID
	}
	if osID == debNS && osVersion != "" {
		major, _, _ := strings.Cut(osVersion, ".")
		debDistro = debNS + "-" + major
	}
	for _, p := range c.deb {
		q := map[string]string{"arch": p.v.arch, "distro": debDistro}
		if p.v.source != "" && p.v.source != p.v.name {
			q["upstream"] = p.v.source
		}
		u := purl{typ: "deb", namespace: debNS, name: p.v.name, version: p.v.version, qualifiers: q}.String()
		out = append(out, &found{c: Component{BOMRef: u, Type: "library", Name: p.v.name, Version: p.v.version, PURL: u}, location: p.location})
	}
	apkDistro := ""
	if osID == "alpine" && osVersion != "" {
		apkDistro = "alpine-" + osVersion
	}
	for _, p := range c.apk {
		q := map[string]string{"arch": p.v.arch, "distro": apkDistro}
		if p.v.origin != "" && p.v.origin != p.v.name {
			q["upstream"] = p.v.origin
		}
		u := purl{typ: "apk", namespace: "alpine", name: p.v.name, version: p.v.version, qualifiers: q}.String()
		out = append(out, &found{c: Component{BOMRef: u, Type: "library", Name: p.v.name, Version: p.v.version, PURL: u, Licenses: licenses(p.v.license)}, location: p.location})
	}
	for _, p := range c.python {
		u := purl{typ: "pypi", name: pypiName(p.v.name), version: p.v.version}.String()
		out = append(out, &found{c: Component{BOMRef: u, Type: "library", Name: p.v.name, Version: p.v.version, PURL: u, Licenses: licenses(p.v.license)}, location: p.location})
	}
	for _, p := range c.npm {
		u := npmPURL(p.v.name, p.v.version).String()
		out = append(out, &found{c: Component{BOMRef: u, Type: "library", Name: p.v.name, Version: p.v.version, PURL: u, Licenses: licenses(p.v.license)}, location: p.location})
	}
	for _, b := range c.golang {
		out = append(out, b.v.components(b.location)...)
	}
	return out
}

// assemble merges the components found (one per bom-ref, every location
// kept) and writes the document.
func assemble(cfg *config, digest v1.Hash, arch string, all []*found) *BOM {
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].c.BOMRef != all[j].c.BOMRef {
			return all[i].c.BOMRef < all[j].c.BOMRef
		}
		return all[i].location < all[j].location
	})
	var comps []Component
	deps := map[string]map[string]bool{}
	for i := 0; i < len(all); {
		j := i
		c := all[i].c
		locs := map[string]bool{}
		for ; j < len(all) && all[j].c.BOMRef == c.BOMRef; j++ {
			if all[j].location != "" {
				locs[all[j].location] = true
			}
			for _, d := range all[j].dependsOn {
				if deps[c.BOMRef] == nil {
					deps[c.BOMRef] = map[string]bool{}
				}
				deps[c.BOMRef][d] = true
			}
		}
		if len(locs) > 0 {
			c.Evidence = &Evidence{}
			for _, l := range sortedKeys(locs) {
				c.Evidence.Occurrences = append(c.Evidence.Occurrences, Occurrence{Location: l})
			}
		}
		comps = append(comps, c)
		i = j
	}
	var dependencies []Dependency
	for _, ref := range sortedKeys(deps) {
		dependencies = append(dependencies, Dependency{Ref: ref, DependsOn: sortedKeys(deps[ref])})
	}
	if comps == nil {
		comps = []Component{}
	}
	img := imageComponent(cfg, digest, arch)
	tool := Component{Type: "application", Name: "slipway", Version: cfg.toolVersion}
	bom := &BOM{
		BOMFormat:    "CycloneDX",
		SpecVersion:  SpecVersion,
		SerialNumber: serialNumber(digest.String(), img.Name, cfg),
		Version:      1,
		Metadata:     Metadata{Tools: &Tools{Components: []Component{tool}}, Component: &img},
		Components:   comps,
		Dependencies: dependencies,
	}
	if !cfg.timestamp.IsZero() {
		bom.Metadata.Timestamp = cfg.timestamp.Format("2006-01-02T15:04:05Z")
	}
	return bom
}

// imageComponent describes the image: a container component whose version
// is the manifest digest, with a pkg:oci URL when the image is named.
func imageComponent(cfg *config, digest v1.Hash, arch string) Component {
	c := Component{Type: "container", Name: digest.String(), Version: digest.String(), BOMRef: digest.String()}
	if cfg.repo == nil {
		return c
	}
	repo := cfg.repo
	c.Name = repo.Name()
	q := map[string]string{"repository_url": repo.Name(), "arch": arch, "tag": cfg.tag}
	c.PURL = purl{typ: "oci", name: path.Base(repo.RepositoryStr()), version: digest.String(), qualifiers: q}.String()
	c.BOMRef = c.PURL
	return c
}

// serialNumber is a urn:uuid (version 5 layout) derived from what the BOM
// is about, so the same input gives the same document.
func serialNumber(digest, name string, cfg *config) string {
	h := sha256.Sum256([]byte("slipway sbom\x00" + digest + "\x00" + name + "\x00" + cfg.timestamp.String()))
	u := h[:16]
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// platformIs reports whether p is the platform written as want
// ("linux/arm64"; arm64's variant v8 is the same platform).
func platformIs(p v1.Platform, want string) bool { return registry.PlatformString(p) == want }
