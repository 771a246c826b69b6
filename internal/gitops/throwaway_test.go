package gitops

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

func TestSeedThrowawayThenUpdateInProcess(t *testing.T) {
	UseInProcessFileTransport()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "repo.git")
	src := fstest.MapFS{
		"deploy/overlays/dev/kustomization.yaml": {Data: []byte("images:\n  - name: orders # the API\n    newName: example.com/orders\n    newTag: bootstrap\n")},
		"deploy/base/kustomization.yaml":         {Data: []byte("resources: []\n")},
		"services/orders/main.go":                {Data: []byte("package main\n")},
	}
	created, err := SeedThrowaway(ctx, dir, "main", src, "deploy", "slipway", "slipway@example.com")
	if err != nil || !created {
		t.Fatalf("SeedThrowaway = %v, %v", created, err)
	}
	if again, err := SeedThrowaway(ctx, dir, "main", src, "deploy", "x", "y"); err != nil || again {
		t.Fatalf("second SeedThrowaway = %v, %v; want an untouched repository", again, err)
	}
	bare, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := bare.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := bare.CommitObject(head.Hash())
	tree, _ := c.Tree()
	if _, err := tree.File("services/orders/main.go"); err == nil {
		t.Error("files outside the seed root were committed")
	}
	if _, err := tree.File("deploy/overlays/dev/kustomization.yaml"); err != nil {
		t.Fatalf("seed file missing: %v", err)
	}

	// The in-process transport serves clone and push without a git binary.
	repo, err := Clone(ctx, dir, WithAuthor("slipway", "slipway@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	digest := "sha256:" + strings.Repeat("ab", 32)
	res, err := repo.Update(ctx, Layout{}, Request{Environment: "dev", SourceCommit: strings.Repeat("1", 40),
		Changes: []Change{{Service: "orders", Image: "registry:5000/shop/orders", Digest: digest}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || !res.Pushed || !strings.Contains(res.Diff, digest) {
		t.Fatalf("update = %+v", res)
	}
	bare, err = git.PlainOpen(dir) // reopen: the push wrote a new pack
	if err != nil {
		t.Fatal(err)
	}
	head2, _ := bare.Reference(plumbing.NewBranchReferenceName("main"), true)
	if head2.Hash() == head.Hash() {
		t.Fatal("the bare repository did not receive the commit")
	}
	c2, err := bare.CommitObject(head2.Hash())
	if err != nil {
		t.Fatal(err)
	}
	f, _ := c2.File("deploy/overlays/dev/kustomization.yaml")
	body, _ := f.Contents()
	if !strings.Contains(body, "- name: orders # the API") || !strings.Contains(body, "digest: "+digest) {
		t.Fatalf("committed file:\n%s", body)
	}
}
