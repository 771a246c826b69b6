package monorepo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
)

// ErrNoGit means the source carries no git metadata to read the commit from.
var ErrNoGit = errors.New("no git metadata in the source (pass the commit explicitly)")

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ValidCommit reports whether s is a full 40-character commit SHA. Short
// SHAs are refused as tags: seven characters have collided in real
// registries.
func ValidCommit(s string) bool { return fullSHA.MatchString(s) }

// Head reads the commit and branch checked out in the repository rooted at
// fsys from .git/HEAD, loose refs and packed-refs, without running git. A
// detached HEAD returns an empty branch. In a worktree or submodule, where
// .git is a file, ErrNoGit is returned.
func Head(fsys fs.FS) (commit, branch string, err error) {
	head, err := fs.ReadFile(fsys, ".git/HEAD")
	if err != nil {
		return "", "", ErrNoGit
	}
	h := strings.TrimSpace(string(head))
	ref, ok := strings.CutPrefix(h, "ref: ")
	if !ok {
		if !ValidCommit(h) {
			return "", "", fmt.Errorf(".git/HEAD: %q is neither a ref nor a commit", h)
		}
		return h, "", nil
	}
	branch = strings.TrimPrefix(ref, "refs/heads/")
	if b, err := fs.ReadFile(fsys, path.Join(".git", ref)); err == nil {
		c := strings.TrimSpace(string(b))
		if !ValidCommit(c) {
			return "", "", fmt.Errorf(".git/%s: %q is not a commit", ref, c)
		}
		return c, branch, nil
	}
	packed, err := fs.ReadFile(fsys, ".git/packed-refs")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", branch, fmt.Errorf("branch %s has no commit yet (.git/%s missing)", branch, ref)
		}
		return "", "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(packed))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[1] == ref && ValidCommit(f[0]) {
			return f[0], branch, nil
		}
	}
	return "", branch, fmt.Errorf("branch %s: no commit found in .git/%s or .git/packed-refs", branch, ref)
}
