// Package monorepo computes what the pipeline needs to know about the
// repository before running anything: each service's input digest (a hash
// of every file that can change its image or its tests) and the commit being
// built. The input digest is computed from content alone, so it is the same
// on a laptop and in any CI, on a fresh clone or after a force-push, and an
// image already built from the same inputs can be found and reused.
package monorepo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/slipwayci/slipway/internal/config"
)

// DigestVersion changes whenever the way inputs are hashed or images are
// built changes, so that old digests stop matching.
const DigestVersion = "slipway-input-v1"

// Ignored names are never part of a service's inputs: VCS metadata, local
// dependency and tool caches, editor droppings.
var Ignored = []string{".git", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache", ".venv", ".DS_Store", ".idea", ".vscode"}

// Inputs describes what went into one service's input digest.
type Inputs struct {
	// Digest is "sha256:<hex>".
	Digest string `json:"digest"`
	// Files is how many files were hashed.
	Files int `json:"files"`
	// Paths are the roots that were hashed (the service directory first).
	Paths []string `json:"paths"`
	// BaseImages are the images the service's Dockerfile builds from, each
	// at the digest it resolved to when the plan was made, sorted by
	// reference. They are part of Digest: a base tag that moves to a new
	// image changes the digest of every service built on it.
	BaseImages []BaseImage `json:"baseImages,omitempty"`
	// Platforms are the platforms the image is built for, when set.
	Platforms []string `json:"platforms,omitempty"`
}

// BaseImage is one resolved base image of a service.
type BaseImage struct {
	// Ref is the FROM reference as written (after ARG substitution).
	Ref string `json:"ref"`
	// Digest is "sha256:<hex>", the image (or index) the reference named.
	Digest string `json:"digest"`
	// Platform, when set, says Digest is the reference's image for that
	// target platform of a multi-platform build ("linux/arm64").
	Platform string `json:"platform,omitempty"`
}

// key is what sorts and identifies b: the reference, then its platform.
func (b BaseImage) key() string {
	if b.Platform == "" {
		return b.Ref
	}
	return b.Ref + " " + b.Platform
}

// WithBaseImages folds the resolved base images into the input digest.
// The result depends only on the file digest and the set of (reference,
// digest) pairs, not on their order. Calling it with no base images still
// changes the digest, so that a service built FROM scratch alone cannot
// collide with a digest computed before base images were resolved.
func (in Inputs) WithBaseImages(bases []BaseImage) Inputs {
	sorted := append([]BaseImage(nil), bases...)
	sort.Slice(sorted, func(i, j int) bool {
		if ki, kj := sorted[i].key(), sorted[j].key(); ki != kj {
			return ki < kj
		}
		return sorted[i].Digest < sorted[j].Digest
	})
	h := sha256.New()
	fmt.Fprintf(h, "%s bases\n%s\n", DigestVersion, in.Digest)
	var out []BaseImage
	for i, b := range sorted {
		if i > 0 && b == sorted[i-1] {
			continue
		}
		out = append(out, b)
		fmt.Fprintf(h, "from %s %s\n", b.Digest, b.key())
	}
	in.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	in.BaseImages = out
	return in
}

// WithPlatforms folds the platforms an image is built for into the digest
// (in the given order: the first is the one tests run on). None leaves the
// digest as it was, so single-platform services keep their input digests.
func (in Inputs) WithPlatforms(platforms []string) Inputs {
	if len(platforms) == 0 {
		return in
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s platforms\n%s\n%s\n", DigestVersion, in.Digest, strings.Join(platforms, ","))
	in.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	in.Platforms = append([]string(nil), platforms...)
	return in
}

// Short returns the first 12 hex digits of the digest, for logs.
func (in Inputs) Short() string {
	h := strings.TrimPrefix(in.Digest, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// InputDigest hashes the service directory, its build context when that
// lies elsewhere (the repository root, say: everything the build can
// COPY), the project's shared paths, the service's own shared paths and
// the service's effective configuration.
// Paths that do not exist are an error naming the service (they were
// validated by config, so this means the tree changed underneath).
func InputDigest(fsys fs.FS, proj config.Project, svc config.Service) (Inputs, error) {
	roots := []string{svc.Dir}
	if svc.Context != "" && !config.Within(svc.Context, svc.Dir) {
		roots = append(roots, svc.Context)
	}
	roots = append(roots, proj.Shared...)
	roots = append(roots, svc.Shared...)
	roots = dedupe(roots)

	type entry struct {
		path string
		mode string
		sum  string
	}
	var entries []entry
	for _, root := range roots {
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if isIgnored(d.Name()) && p != root {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := "f"
			switch {
			case info.Mode()&fs.ModeSymlink != 0:
				mode = "l"
			case info.Mode()&0o111 != 0:
				mode = "x"
			}
			sum, err := fileSum(fsys, p)
			if err != nil {
				return err
			}
			entries = append(entries, entry{p, mode, sum})
			return nil
		})
		if err != nil {
			return Inputs{}, fmt.Errorf("service %s: hashing inputs under %s: %w", svc.Name, root, err)
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].path < entries[j].path })

	h := sha256.New()
	fmt.Fprintf(h, "%s\n", DigestVersion)
	// The configuration that shapes the build and the tests is an input too;
	// deployment targets and smoke settings are not (they do not change the
	// image), so editing them does not trigger a rebuild.
	shape := struct {
		Language, Dockerfile, Target, Image string
		BuildArgs                           map[string]string
		Test                                config.Test
		Dependencies                        []config.Dependency
	}{svc.Language, svc.Dockerfile, svc.Target, svc.Image, svc.BuildArgs, svc.Test, svc.Dependencies}
	cfgJSON, err := json.Marshal(shape)
	if err != nil {
		return Inputs{}, err
	}
	fmt.Fprintf(h, "config %s\n", cfgJSON)
	// Where the build reads from shapes the image too; the service
	// directory, the default, adds nothing, so that existing digests hold.
	if svc.Context != "" && svc.Context != svc.Dir {
		fmt.Fprintf(h, "context %s\n", svc.Context)
	}
	// Which build secrets the build mounts (never their values).
	if len(svc.BuildSecrets) > 0 {
		fmt.Fprintf(h, "build-secrets %s\n", strings.Join(svc.BuildSecrets, ","))
	}
	// So does the project-wide environment of setup, tests and builds.
	if len(proj.Env) > 0 || len(proj.Setup) > 0 {
		project, err := json.Marshal(struct {
			Env   map[string]string
			Setup []string
		}{proj.Env, proj.Setup})
		if err != nil {
			return Inputs{}, err
		}
		fmt.Fprintf(h, "project %s\n", project)
	}
	// Whether tests and builds trust extra CAs, and which files hold them
	// (a rotated certificate builds the same image: its content is left
	// out).
	if len(proj.CACertificates) > 0 {
		fmt.Fprintf(h, "ca-certificates %s\n", strings.Join(proj.CACertificates, ","))
	}
	last := ""
	files := 0
	for _, e := range entries {
		if e.path == last { // a file under two overlapping roots counts once
			continue
		}
		last = e.path
		files++
		fmt.Fprintf(h, "%s %s %s\n", e.mode, e.sum, e.path)
	}
	return Inputs{Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Files: files, Paths: roots}, nil
}

func fileSum(fsys fs.FS, p string) (string, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func isIgnored(name string) bool {
	for _, i := range Ignored {
		if name == i {
			return true
		}
	}
	return strings.HasSuffix(name, ".pyc")
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range in {
		p = path.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// IsIgnored reports whether a file or directory name is never part of a
// service's inputs (Ignored, and compiled Python files).
func IsIgnored(name string) bool { return isIgnored(name) }

// Dedupe cleans paths and drops repeats, keeping the first of each.
func Dedupe(in []string) []string { return dedupe(in) }
