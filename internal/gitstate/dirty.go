// Package gitstate reads what git itself records about a working tree, without
// git and without the object database: which files under given paths differ
// from the commit checked out. It is the worker's (the module never imports
// it: its git libraries would weigh on every module load).
package gitstate

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/format/index"

	"github.com/slipwayci/slipway/internal/monorepo"
)

// Dirty trees.
//
// A commit SHA names an image only if the image was built from that commit.
// DirtyFiles finds what in a service's inputs differs from the commit,
// reading git's own bookkeeping (.git/index) and the files, without git and
// without the object database (which pipelines usually do not upload):
//
//   - a tracked file whose content differs from the index (modified);
//   - a tracked file that is gone (deleted);
//   - a file git does not track and does not ignore (untracked);
//   - a directory whose part of the index changed since the last commit or
//     checkout (staged): git keeps, in the index's cache-tree extension, the
//     tree of every directory as of the last commit, checkout or reset, and
//     forgets it (marks it invalid) for every directory above a path that is
//     staged afterwards.
//
// Content is compared as git compares it: the blob hash of the file's bytes.
// Files git rewrites on checkout (clean/smudge filters such as Git LFS, or
// end-of-line conversion) are first compared by size and modification time
// against the index, as git does, and hashed only when those differ.

// DirtyFiles lists the changes under roots (paths relative to the repository
// root fsys, e.g. a service directory and its shared paths), sorted by path.
// Names in Ignored are skipped as they are by InputDigest. It returns
// ErrNoIndex when fsys carries no .git/index.
func DirtyFiles(fsys fs.FS, roots []string) ([]monorepo.Change, error) {
	raw, err := fs.ReadFile(fsys, ".git/index")
	if err != nil {
		return nil, monorepo.ErrNoIndex
	}
	if err := checkObjectFormat(fsys); err != nil {
		return nil, err
	}
	idx := &index.Index{}
	if err := index.NewDecoder(bytes.NewReader(raw)).Decode(idx); err != nil {
		return nil, fmt.Errorf(".git/index: %w", err)
	}
	idxTime := indexTime(fsys)
	roots = monorepo.Dedupe(roots)
	under := func(p string) bool {
		for _, r := range roots {
			if r == "." || p == r || strings.HasPrefix(p, r+"/") {
				return true
			}
		}
		return false
	}
	tracked := map[string]*index.Entry{}
	var out []monorepo.Change
	for _, e := range idx.Entries {
		if !under(e.Name) || hasIgnoredPart(e.Name) {
			continue
		}
		if e.Stage != 0 { // an unresolved merge
			if _, seen := tracked[e.Name]; !seen {
				out = append(out, monorepo.Change{Path: e.Name, State: monorepo.Modified})
			}
			tracked[e.Name] = e
			continue
		}
		tracked[e.Name] = e
		if e.Mode == filemode.Submodule || e.SkipWorktree {
			continue
		}
		if e.IntentToAdd {
			out = append(out, monorepo.Change{Path: e.Name, State: monorepo.Staged})
			continue
		}
		changed, gone, err := differs(fsys, e, idxTime)
		if err != nil {
			return nil, err
		}
		switch {
		case gone:
			out = append(out, monorepo.Change{Path: e.Name, State: monorepo.Deleted})
		case changed:
			out = append(out, monorepo.Change{Path: e.Name, State: monorepo.Modified})
		}
	}
	ign := newIgnorer(fsys)
	for _, root := range roots {
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == root {
					return fs.SkipDir
				}
				return err
			}
			if p != root && monorepo.IsIgnored(d.Name()) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if p != root && ign.ignored(p, true) {
					return fs.SkipDir
				}
				return nil
			}
			if _, ok := tracked[p]; !ok && !ign.ignored(p, false) {
				out = append(out, monorepo.Change{Path: p, State: monorepo.Untracked})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("looking for uncommitted files under %s: %w", root, err)
		}
	}
	ct, err := cacheTree(raw)
	if err != nil {
		return nil, fmt.Errorf(".git/index: %w", err)
	}
	for _, r := range roots {
		if ct.staged(r) {
			out = append(out, monorepo.Change{Path: r, State: monorepo.Staged})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].State < out[j].State
	})
	return dedupeChanges(out), nil
}

// differs compares one tracked file with its index entry.
func differs(fsys fs.FS, e *index.Entry, idxTime int64) (changed, gone bool, err error) {
	info, err := fs.Lstat(fsys, e.Name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, true, nil
		}
		return false, false, err
	}
	var content []byte
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		if e.Mode != filemode.Symlink {
			return true, false, nil
		}
		target, err := fs.ReadLink(fsys, e.Name)
		if err != nil {
			return false, false, err
		}
		content = []byte(target)
	case info.Mode().IsRegular():
		exec := info.Mode()&0o111 != 0
		if (e.Mode == filemode.Executable) != exec || (e.Mode != filemode.Executable && e.Mode != filemode.Regular && e.Mode != filemode.Deprecated) {
			return true, false, nil
		}
		// git's own shortcut: same size and modification time as when the
		// file was staged, and not modified in the same second the index
		// was written ("racily clean"), means unchanged.
		mt := info.ModTime()
		if int64(uint32(info.Size())) == int64(e.Size) && mt.Unix() == e.ModifiedAt.Unix() &&
			mt.Nanosecond() == e.ModifiedAt.Nanosecond() && mt.Unix() < idxTime {
			return false, false, nil
		}
		content, err = fs.ReadFile(fsys, e.Name)
		if err != nil {
			return false, false, err
		}
	default:
		return true, false, nil
	}
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return !bytes.Equal(h.Sum(nil), e.Hash[:]), false, nil
}

// indexTime is the index file's modification time in Unix seconds, or the
// far future when unknown (then no stat shortcut is taken).
func indexTime(fsys fs.FS) int64 {
	info, err := fs.Stat(fsys, ".git/index")
	if err != nil || info.ModTime().IsZero() {
		return 1<<62 - 1
	}
	return info.ModTime().Unix()
}

// checkObjectFormat refuses SHA-256 repositories, whose index this reader
// does not decode.
func checkObjectFormat(fsys fs.FS) error {
	cfg, err := fs.ReadFile(fsys, ".git/config")
	if err != nil {
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(cfg))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "objectformat") && strings.TrimSpace(v) != "sha1" {
			return fmt.Errorf(".git/config: objectformat %s: only SHA-1 repositories can be checked for uncommitted changes", strings.TrimSpace(v))
		}
	}
	return nil
}

// treeState maps each directory the index's cache tree knows ("." is the
// root) to whether its recorded tree is still valid.
type treeState map[string]bool

// cacheTree reads git's cache-tree extension ("TREE") of the raw index: a
// pre-order list of directories, each with its entry count (-1 when
// invalid), its number of sub-trees and, when valid, its tree hash. (It is
// read here because decoders that keep only valid entries lose the shape.)
func cacheTree(raw []byte) (treeState, error) {
	data, err := indexExtension(raw, "TREE")
	if err != nil || data == nil {
		return treeState{}, err
	}
	st := treeState{}
	var walk func(prefix string) error
	walk = func(prefix string) error {
		nul := bytes.IndexByte(data, 0)
		nl := bytes.IndexByte(data, '\n')
		if nul < 0 || nl < nul {
			return errors.New("malformed cache tree")
		}
		name := string(data[:nul])
		f := strings.Fields(string(data[nul+1 : nl]))
		if len(f) != 2 {
			return errors.New("malformed cache tree")
		}
		count, err1 := strconv.Atoi(f[0])
		subs, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || subs < 0 {
			return errors.New("malformed cache tree")
		}
		data = data[nl+1:]
		if count >= 0 {
			if len(data) < sha1.Size {
				return errors.New("malformed cache tree")
			}
			data = data[sha1.Size:]
		}
		p := path.Join(prefix, name)
		st[p] = count >= 0
		for k := 0; k < subs; k++ {
			if err := walk(p); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk("."); err != nil {
		return nil, err
	}
	return st, nil
}

// indexExtension returns the data of the extension sig of a version 2, 3
// or 4 index, or nil when it has none.
func indexExtension(raw []byte, sig string) ([]byte, error) {
	bad := errors.New("malformed index")
	if len(raw) < 12+sha1.Size || string(raw[:4]) != "DIRC" {
		return nil, bad
	}
	version := binary.BigEndian.Uint32(raw[4:8])
	n := int(binary.BigEndian.Uint32(raw[8:12]))
	end := len(raw) - sha1.Size
	off := 12
	for i := 0; i < n; i++ {
		const fixed = 40 + sha1.Size // stat data, object name
		if off+fixed+2 > end {
			return nil, bad
		}
		flags := binary.BigEndian.Uint16(raw[off+fixed:])
		q := off + fixed + 2
		if version >= 3 && flags&0x4000 != 0 {
			q += 2
		}
		if version == 4 {
			for q < end && raw[q]&0x80 != 0 { // the prefix length to strip (varint)
				q++
			}
			q++
		}
		nul := bytes.IndexByte(raw[q:end], 0)
		if nul < 0 {
			return nil, bad
		}
		q += nul + 1
		if version != 4 { // padded with NULs to a multiple of 8
			q = off + (q-1-off+8)&^7
		}
		off = q
	}
	for off+8 <= end {
		size := int(binary.BigEndian.Uint32(raw[off+4:]))
		if off+8+size > end || size < 0 {
			return nil, bad
		}
		if string(raw[off:off+4]) == sig {
			return raw[off+8 : off+8+size], nil
		}
		off += 8 + size
	}
	return nil, nil
}

// staged reports whether something under dir was staged since the last
// commit, checkout or reset: dir's tree, or one below it, is marked invalid;
// or git keeps no tree for dir and the nearest directory above it that it
// does keep is invalid (a directory staged as new has no tree yet). With no
// cache tree at all, everything counts as staged (git writes one on every
// commit and checkout).
func (st treeState) staged(dir string) bool {
	if len(st) == 0 {
		return true
	}
	dir = path.Clean(dir)
	if valid, ok := st[dir]; ok {
		if !valid {
			return true
		}
		for p, v := range st {
			if !v && (dir == "." || strings.HasPrefix(p, dir+"/")) {
				return true
			}
		}
		return false
	}
	for a := path.Dir(dir); ; a = path.Dir(a) {
		if valid, ok := st[a]; ok {
			return !valid
		}
		if a == "." {
			return true
		}
	}
}

func hasIgnoredPart(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if monorepo.IsIgnored(part) {
			return true
		}
	}
	return false
}

func dedupeChanges(in []monorepo.Change) []monorepo.Change {
	var out []monorepo.Change
	for i, c := range in {
		if i > 0 && c == in[i-1] {
			continue
		}
		out = append(out, c)
	}
	return out
}

// ignorer answers git's ignore rules from .git/info/exclude and the
// .gitignore files of the tree (not the user's global excludes file, which
// a pipeline cannot see).
type ignorer struct {
	fsys  fs.FS
	cache map[string][]gitignore.Pattern
}

func newIgnorer(fsys fs.FS) *ignorer {
	return &ignorer{fsys: fsys, cache: map[string][]gitignore.Pattern{}}
}

func (g *ignorer) patterns(dir string) []gitignore.Pattern {
	if ps, ok := g.cache[dir]; ok {
		return ps
	}
	var ps []gitignore.Pattern
	var domain []string
	if dir != "." {
		domain = strings.Split(dir, "/")
	}
	files := []string{path.Join(dir, ".gitignore")}
	if dir == "." {
		files = append([]string{".git/info/exclude"}, files...)
	}
	for _, f := range files {
		b, err := fs.ReadFile(g.fsys, f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimRight(line, "\r")
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			ps = append(ps, gitignore.ParsePattern(line, domain))
		}
	}
	g.cache[dir] = ps
	return ps
}

// ignored applies the patterns of every directory from the root down to p's
// parent; later (deeper) patterns win, as in git.
func (g *ignorer) ignored(p string, isDir bool) bool {
	parts := strings.Split(p, "/")
	var all []gitignore.Pattern
	dir := "."
	all = append(all, g.patterns(dir)...)
	for i := 0; i < len(parts)-1; i++ {
		dir = path.Join(parts[:i+1]...)
		all = append(all, g.patterns(dir)...)
	}
	return gitignore.NewMatcher(all).Match(parts, isDir)
}
