package sbom

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// visitFunc sees one entry of the image's flattened filesystem: name is
// the cleaned path without a leading slash, r its content (regular files).
type visitFunc func(name string, h *tar.Header, r io.Reader) error

// flatten walks the filesystem img presents to a container: layers from the
// top down, each entry visited once (the uppermost copy), entries removed
// by a whiteout (.wh.NAME) or hidden by an opaque directory (.wh..wh..opq)
// or by a non-directory in an upper layer skipped. Layers are streamed:
// only the set of paths seen so far is kept. Directories are not visited.
func flatten(ctx context.Context, img v1.Image, visit visitFunc) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("listing the image's layers: %w", err)
	}
	seen := map[string]bool{}   // non-directories already visited (or hidden)
	hidden := map[string]bool{} // paths removed, with everything below them
	opaque := map[string]bool{} // directories whose lower content is hidden
	for i := len(layers) - 1; i >= 0; i-- {
		if err := walkLayer(ctx, layers[i], i, seen, hidden, opaque, visit); err != nil {
			return err
		}
	}
	return nil
}

func walkLayer(ctx context.Context, l v1.Layer, index int, seen, hidden, opaque map[string]bool, visit visitFunc) error {
	what := fmt.Sprintf("layer %d", index+1)
	if d, err := l.Digest(); err == nil {
		what = fmt.Sprintf("layer %d (%s)", index+1, d)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	defer rc.Close()
	// What this layer removes applies to the layers below it only.
	var hides, opaques []string
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		name := cleanPath(h.Name)
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == opaqueWhiteout:
			opaques = append(opaques, dir)
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			hides = append(hides, path.Join(dir, base[len(whiteoutPrefix):]))
			continue
		}
		if seen[name] || isHidden(name, hidden, opaque) {
			continue
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		seen[name] = true
		hides = append(hides, name) // a file hides a lower directory of the same name
		if err := visit(name, h, tr); err != nil {
			return err
		}
	}
	for _, p := range hides {
		hidden[p] = true
	}
	for _, p := range opaques {
		opaque[p] = true
	}
	return nil
}

// isHidden says whether name, or a directory above it, was removed by an
// upper layer.
func isHidden(name string, hidden, opaque map[string]bool) bool {
	if hidden[name] {
		return true
	}
	for p := name; ; {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return opaque[""]
		}
		p = p[:i]
		if hidden[p] || opaque[p] {
			return true
		}
	}
}

// cleanPath turns a tar entry name into a slash-separated path relative to
// the root ("" for the root itself).
func cleanPath(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}
