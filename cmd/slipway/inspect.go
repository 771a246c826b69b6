package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/slipwayci/slipway/internal/registry"
)

func init() {
	register("images", "list what the registry holds for repositories: tags, digests, signatures (JSON)", runImages)
	register("gitops-export", "check out the throwaway GitOps repository into a directory", runGitopsExport)
}

// imageTag is one tag of a repository and what it points at.
type imageTag struct {
	Tag    string `json:"tag"`
	Digest string `json:"digest"`
	Signed bool   `json:"signed"`
}

// repoImages is what a repository holds.
type repoImages struct {
	Repository string     `json:"repository"`
	Tags       []imageTag `json:"tags"`
}

func runImages(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("images", stderr)
	var repos, insecure listFlag
	fs.Var(&repos, "repo", "repository to list (repeatable)")
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	jsonOut := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := newRegistry(insecure, repos...)
	if err != nil {
		return err
	}
	var all []repoImages
	for _, repo := range repos {
		tags, err := c.ListTags(ctx, repo)
		if err != nil {
			return err
		}
		ri := repoImages{Repository: repo, Tags: []imageTag{}}
		sigs := map[string]bool{}
		for _, t := range tags {
			if strings.HasPrefix(t, "sha256-") && strings.HasSuffix(t, ".sig") {
				sigs["sha256:"+strings.TrimSuffix(strings.TrimPrefix(t, "sha256-"), ".sig")] = true
			}
		}
		for _, t := range tags {
			if strings.HasPrefix(t, "sha256-") {
				continue // cosign signatures and attestations
			}
			d, err := c.Resolve(ctx, repo+":"+t)
			if err != nil {
				if errors.Is(err, registry.ErrNotFound) {
					continue
				}
				return err
			}
			ri.Tags = append(ri.Tags, imageTag{Tag: t, Digest: d.DigestStr(), Signed: sigs[d.DigestStr()]})
		}
		sort.Slice(ri.Tags, func(i, j int) bool { return ri.Tags[i].Tag < ri.Tags[j].Tag })
		all = append(all, ri)
	}
	if *jsonOut {
		b, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			return err
		}
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	for _, ri := range all {
		fmt.Fprintf(stdout, "%s\n", ri.Repository)
		if len(ri.Tags) == 0 {
			fmt.Fprintln(stdout, "  (no images)")
		}
		for _, t := range ri.Tags {
			signed := "unsigned"
			if t.Signed {
				signed = "signed"
			}
			fmt.Fprintf(stdout, "  %-48s %s  %s\n", t.Tag, t.Digest[:19], signed)
		}
	}
	return nil
}

func runGitopsExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gitops-export", stderr)
	g := addGitopsFlags(fs)
	to := fs.String("to", "", "directory to check the repository out into (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("%w: -to is required", errUsage)
	}
	cfg, url, _, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*to, 0o755); err != nil {
		return err
	}
	_, err = git.PlainCloneContext(ctx, *to, false, &git.CloneOptions{URL: url, ReferenceName: refName(cfg.Project.GitOps.Branch)})
	if err != nil {
		return fmt.Errorf("checking out %s: %w", url, err)
	}
	return nil
}

func refName(branch string) plumbing.ReferenceName { return plumbing.NewBranchReferenceName(branch) }
