// Package layer writes image layers (gzipped tar files) from directory trees
// and from small in-memory file lists, and caches them on disk so that a warm
// run only reopens files it wrote before.
package layer

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// Entry is one file, directory or symlink of an in-memory layer.
type Entry struct {
	// Path inside the image, without a leading slash ("etc/passwd").
	Path string
	// Mode holds the permission bits and fs.ModeDir or fs.ModeSymlink.
	Mode fs.FileMode
	// UID and GID of the owner.
	UID, GID int
	// Data is the content of a regular file.
	Data []byte
	// Source is a host file whose content is copied (instead of Data).
	Source string
	// Target of a symlink.
	Target string
}

// Tree is a directory of the host copied into the layer.
type Tree struct {
	// Dir on the host.
	Dir string
	// Prefix inside the image ("usr/local/go").
	Prefix string
	// RootOwned forces every entry to uid/gid 0; otherwise owners are kept.
	RootOwned bool
	// Skip reports whether a path (relative to Dir, slash-separated) is left out;
	// skipping a directory skips its contents.
	Skip func(rel string, d fs.DirEntry) bool
	// Overlay converts overlayfs upper-dir markers (0/0 character devices and
	// opaque directories) into OCI whiteouts.
	Overlay bool
}

// Spec describes one layer: trees first, then entries (later ones win in
// the image, as tar order does).
type Spec struct {
	Trees   []Tree
	Entries []Entry
}

// epoch is the modification time of in-memory entries, fixed so that their
// layers are reproducible.
var epoch = time.Unix(0, 0).UTC()

// Cached returns the layer cached at file, writing it from spec first when the
// file does not exist yet. The digest and diff ID are kept next to the file so
// that a warm run does not rehash large layers.
func Cached(file string, spec Spec) (v1.Layer, error) {
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, fmt.Errorf("creating layer cache directory: %w", err)
		}
		tmp := file + ".tmp"
		if err := write(tmp, spec); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("writing layer %s: %w", filepath.Base(file), err)
		}
		if err := os.Rename(tmp, file); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	} else {
		// Mark the layer as used, for Prune.
		now := time.Now()
		os.Chtimes(file, now, now)
	}
	return open(file)
}

// Prune removes cached layers (and their digest files) under dir that were
// not used for longer than maxAge, and returns how many it removed.
func Prune(dir string, maxAge time.Duration) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".tar.gz") {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < maxAge {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil {
			return n, err
		}
		os.Remove(p + ".json")
		n++
	}
	return n, nil
}

type sums struct {
	Digest v1.Hash `json:"digest"`
	DiffID v1.Hash `json:"diffID"`
	Size   int64   `json:"size"`
}

// open returns the layer in file, with digests read from (or written to) its
// side file.
func open(file string) (v1.Layer, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	side := file + ".json"
	var s sums
	if b, err := os.ReadFile(side); err == nil && json.Unmarshal(b, &s) == nil && s.Size > 0 {
		if st, err := os.Stat(file); err == nil && st.Size() == s.Size {
			return &knownLayer{file: file, sums: s}, nil
		}
	}
	l, err := tarball.LayerFromOpener(opener, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("opening layer %s: %w", file, err)
	}
	if s.Digest, err = l.Digest(); err != nil {
		return nil, fmt.Errorf("hashing layer %s: %w", file, err)
	}
	if s.DiffID, err = l.DiffID(); err != nil {
		return nil, fmt.Errorf("hashing layer %s: %w", file, err)
	}
	if s.Size, err = l.Size(); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(side, b, 0o644); err != nil {
		return nil, err
	}
	return &knownLayer{file: file, sums: s}, nil
}

// knownLayer is a gzipped layer file whose digests are already known.
type knownLayer struct {
	file string
	sums sums
}

var _ v1.Layer = (*knownLayer)(nil)

func (l *knownLayer) Digest() (v1.Hash, error) { return l.sums.Digest, nil }
func (l *knownLayer) DiffID() (v1.Hash, error) { return l.sums.DiffID, nil }
func (l *knownLayer) Size() (int64, error)     { return l.sums.Size, nil }
func (l *knownLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}
func (l *knownLayer) Compressed() (io.ReadCloser, error) { return os.Open(l.file) }
func (l *knownLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.file)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading layer %s: %w", l.file, err)
	}
	return &readCloser{Reader: zr, close: f.Close}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

func write(file string, spec Spec) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	w := &writer{tw: tw, dirs: map[string]bool{}, links: map[inode]string{}}
	for _, t := range spec.Trees {
		if err := w.tree(t); err != nil {
			return fmt.Errorf("adding %s: %w", t.Dir, err)
		}
	}
	for _, e := range spec.Entries {
		if err := w.entry(e); err != nil {
			return fmt.Errorf("adding %s: %w", e.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

type inode struct{ dev, ino uint64 }

type writer struct {
	tw    *tar.Writer
	dirs  map[string]bool
	links map[inode]string
}

// parents writes missing parent directories of name (root-owned, 0755).
func (w *writer) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." || dir == "/" || w.dirs[dir] {
		return nil
	}
	if err := w.parents(dir); err != nil {
		return err
	}
	w.dirs[dir] = true
	return w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
}

func (w *writer) entry(e Entry) error {
	name := strings.TrimPrefix(path.Clean("/"+e.Path), "/")
	if err := w.parents(name); err != nil {
		return err
	}
	h := &tar.Header{Name: name, Mode: tarMode(e.Mode), Uid: e.UID, Gid: e.GID, ModTime: epoch, Format: tar.FormatPAX}
	switch {
	case e.Mode.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
		w.dirs[name] = true
		return w.tw.WriteHeader(h)
	case e.Mode&fs.ModeSymlink != 0:
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
		return w.tw.WriteHeader(h)
	}
	h.Typeflag = tar.TypeReg
	if e.Source != "" {
		f, err := os.Open(e.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		h.Size = st.Size()
		if err := w.tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = io.Copy(w.tw, f)
		return err
	}
	h.Size = int64(len(e.Data))
	if err := w.tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := w.tw.Write(e.Data)
	return err
}

// tarMode converts permission and special bits to tar's numeric mode.
func tarMode(m fs.FileMode) int64 {
	v := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

func (w *writer) tree(t Tree) error {
	prefix := strings.Trim(path.Clean("/"+t.Prefix), "/")
	return filepath.WalkDir(t.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(t.Dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." && t.Skip != nil && t.Skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := path.Join(prefix, rel)
		if name == "." || name == "" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, _ := info.Sys().(*syscall.Stat_t)
		h := &tar.Header{Name: name, Mode: tarMode(info.Mode()), ModTime: info.ModTime(), Format: tar.FormatPAX}
		if st != nil && !t.RootOwned {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		if err := w.parents(name); err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
			w.dirs[name] = true
			if err := w.tw.WriteHeader(h); err != nil {
				return err
			}
			if t.Overlay && isOpaque(p) {
				return w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(name, ".wh..wh..opq"), ModTime: epoch, Format: tar.FormatPAX})
			}
			return nil
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname = tar.TypeSymlink, target
			return w.tw.WriteHeader(h)
		case mode&fs.ModeCharDevice != 0 && t.Overlay && st != nil && st.Rdev == 0:
			// overlayfs whiteout: the file was deleted in this layer.
			return w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(path.Dir(name), ".wh."+path.Base(name)), ModTime: epoch, Format: tar.FormatPAX})
		case mode.IsRegular():
			if st != nil && st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino}
				if first, ok := w.links[key]; ok {
					h.Typeflag, h.Linkname = tar.TypeLink, first
					return w.tw.WriteHeader(h)
				}
				w.links[key] = name
			}
			h.Typeflag, h.Size = tar.TypeReg, info.Size()
			if err := w.tw.WriteHeader(h); err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.CopyN(w.tw, f, info.Size()); err != nil {
				return fmt.Errorf("copying %s: %w", p, err)
			}
			return nil
		default:
			// Devices, sockets and pipes do not belong in an image layer.
			return nil
		}
	})
}

// isOpaque reports whether an overlayfs upper directory hides the lower one.
func isOpaque(dir string) bool {
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		n, err := syscall.Getxattr(dir, attr, buf)
		if err == nil && n > 0 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// SortEntries orders entries by path so that parents come first.
func SortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Path < es[j].Path })
}
