package gitops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/slipwayci/slipway/internal/gitops/edit"
)

// Current is the image one service runs in one environment, as the
// environment's manifests say.
type Current struct {
	Service string `json:"service"`
	// File is the repository-relative path of the file holding the image.
	File string `json:"file"`
	// Key names where in the file, e.g. images[name=orders].
	Key string `json:"key"`
	// Image is the image as written: repository, tag and digest (each may
	// be empty when the file does not say, e.g. a kustomize entry with no
	// newName keeps the entry's name).
	Image edit.Image `json:"image"`
}

// probeDigest is written (in memory only) to locate an image with the
// editors; its Result.Old is the image the file holds.
var probeDigest = "sha256:" + strings.Repeat("0", 64)

// ReadImages reads, from a checkout of the GitOps repository at dir, the
// image each of services runs in environment env, using the same layout
// and locating rules as PlanUpdate (so what is read is exactly what an
// update would replace). Nothing is written. A missing file, entry or key is
// an error naming the environment, service, file and key (wrapping
// fs.ErrNotExist or edit.ErrNotFound); kustomize targets with Create set are
// read as if it were not.
func ReadImages(dir string, layout Layout, env string, services []string) (map[string]Current, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	if _, err := layout.Env(env); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the GitOps checkout: %w", err)
	}
	defer root.Close()
	files := map[string][]byte{}
	out := make(map[string]Current, len(services))
	for _, svc := range services {
		r, err := layout.Resolve(env, svc)
		if err != nil {
			return nil, err
		}
		r.Create = false
		located := func(err error) error { return &LocatedError{Environment: env, Service: svc, File: r.File, Err: err} }
		src, ok := files[r.File]
		if !ok {
			src, err = root.ReadFile(r.File)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, located(fmt.Errorf("%w (key %s)", fs.ErrNotExist, r.Key()))
			}
			if err != nil {
				return nil, located(err)
			}
			files[r.File] = src
		}
		res, err := r.apply(src, edit.Image{Digest: probeDigest})
		if err != nil {
			return nil, located(fmt.Errorf("reading %s: %w", r.Key(), err))
		}
		out[svc] = Current{Service: svc, File: r.File, Key: r.Key(), Image: res.Old}
	}
	return out, nil
}
