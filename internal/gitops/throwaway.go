package gitops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// UseInProcessFileTransport serves file:// and plain-path remotes with
// go-git's in-process server instead of running git-upload-pack and
// git-receive-pack, so that a container with no git binary can clone from
// and push to a local bare repository (the throwaway GitOps repository).
func UseInProcessFileTransport() {
	client.InstallProtocol("file", server.DefaultServer)
}

// SeedThrowaway makes sure a bare repository exists at dir with branch
// holding the files of fsys under root, laid out at the same path (so the
// layout used for a real GitOps repository works unchanged). An existing
// repository is left as it is: successive runs see each other's commits. It
// reports whether the repository was created.
func SeedThrowaway(ctx context.Context, dir, branch string, fsys fs.FS, root, authorName, authorEmail string) (bool, error) {
	if _, err := git.PlainOpen(dir); err == nil {
		return false, nil
	} else if !errors.Is(err, git.ErrRepositoryNotExists) {
		return false, fmt.Errorf("opening the throwaway GitOps repository %s: %w", dir, err)
	}
	if _, err := fs.Stat(fsys, root); err != nil {
		return false, fmt.Errorf("seeding the throwaway GitOps repository: %s: %w", root, err)
	}
	tmp, err := os.MkdirTemp("", "slipway-seed-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	work, err := git.PlainInitWithOptions(tmp, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)}})
	if err != nil {
		return false, err
	}
	err = fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return false, fmt.Errorf("seeding the throwaway GitOps repository from %s: %w", root, err)
	}
	wt, err := work.Worktree()
	if err != nil {
		return false, err
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return false, err
	}
	sig := &object.Signature{Name: authorName, Email: authorEmail, When: time.Now()}
	if _, err := wt.Commit("Seed the throwaway GitOps repository from "+root, &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		return false, err
	}
	if _, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)}}); err != nil {
		return false, fmt.Errorf("creating the throwaway GitOps repository %s: %w", dir, err)
	}
	if _, err := work.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{dir}}); err != nil {
		return false, err
	}
	ref := plumbing.NewBranchReferenceName(branch)
	if err := work.PushContext(ctx, &git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{config.RefSpec(ref + ":" + ref)}}); err != nil {
		os.RemoveAll(dir)
		return false, fmt.Errorf("pushing the seed commit to %s: %w", dir, err)
	}
	return true, nil
}
