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
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/slipwayci/slipway/internal/gates"
	"github.com/slipwayci/slipway/internal/promote"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/signing"
)

func init() {
	register("images", "list what the registry holds for repositories: tags, digests, signatures (JSON)", runImages)
	register("gitops-export", "check out the throwaway GitOps repository into a directory", runGitopsExport)
}

// imageTag is one tag of a repository and what it points at.
type imageTag struct {
	Tag    string `json:"tag"`
	Digest string `json:"digest"`
	// Signature is the digest's signature checked against the configured
	// key: "verified", "invalid" (signatures exist, none verifies for this
	// digest and service), "unsigned", or "unverified" when no key is
	// configured (then SignatureTag says whether a .sig tag exists).
	Signature string `json:"signature"`
	// SignatureDetail says why a signature is invalid.
	SignatureDetail string `json:"signatureDetail,omitempty"`
	// SignatureTag is set when a cosign .sig tag exists for the digest.
	SignatureTag bool `json:"signatureTag"`
	// Verifications describe the newest signed verification record per
	// environment ("verified in staging 3h ago"), for a verified image.
	Verifications []string `json:"verifications,omitempty"`
}

// Signature states of `images`.
const (
	sigVerified   = "verified"
	sigInvalid    = "invalid"
	sigUnsigned   = "unsigned"
	sigUnverified = "unverified"
)

// signatureOf checks the signature of repo@digest for service (any service
// when ""), against v; nil v checks nothing.
func signatureOf(ctx context.Context, v *signing.Verifier, repo, digest, service string) (string, string, error) {
	if v == nil {
		return sigUnverified, "", nil
	}
	var want map[string]string
	if service != "" {
		want = map[string]string{signing.AnnotationService: service}
	}
	_, err := v.Verify(ctx, repo+"@"+digest, want)
	switch {
	case err == nil:
		return sigVerified, "", nil
	case errors.Is(err, signing.ErrUnsigned):
		return sigUnsigned, "", nil
	case errors.Is(err, signing.ErrNotVerifiable):
		return sigUnverified, err.Error(), nil
	case errors.Is(err, signing.ErrSignatureInvalid), errors.Is(err, signing.ErrClaimMismatch), errors.Is(err, signing.ErrAnnotationMismatch):
		return sigInvalid, err.Error(), nil
	}
	return "", "", err
}

// repoImages is what a repository holds.
type repoImages struct {
	Repository string     `json:"repository"`
	Tags       []imageTag `json:"tags"`
}

func runImages(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("images", stderr)
	var repos, insecure listFlag
	fs.Var(&repos, "repo", "repository to list, or SERVICE=REPOSITORY to also check that signatures name the service (repeatable)")
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	jsonOut := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	services := map[string]string{}
	for i, r := range repos {
		if svc, repo, ok := strings.Cut(r, "="); ok {
			repos[i], services[repo] = repo, svc
		}
	}
	c, err := newRegistry(insecure, repos...)
	if err != nil {
		return err
	}
	verifier, err := newVerifier(c, "")
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
		checked := map[string][2]string{}
		verified := map[string][]string{}
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
			dg := d.DigestStr()
			st, ok := checked[dg]
			if !ok {
				state, detail, err := signatureOf(ctx, verifier, repo, dg, services[repo])
				if err != nil {
					return err
				}
				st = [2]string{state, detail}
				checked[dg] = st
				if state == sigVerified {
					// Records that do not verify are not shown.
					recs, _ := promote.VerificationRecords(ctx, verifier, repo+"@"+dg, services[repo], dg)
					verified[dg] = gates.DescribeAll(recs, time.Now())
				}
			}
			ri.Tags = append(ri.Tags, imageTag{Tag: t, Digest: dg, Signature: st[0], SignatureDetail: st[1], SignatureTag: sigs[dg], Verifications: verified[dg]})
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
	if verifier == nil {
		fmt.Fprintln(stdout, "signatures: not verified (no signing key, public key or signer identity given); .sig tags are shown as they are")
	} else {
		fmt.Fprintln(stdout, "signatures: verified against the configured key and signer identities (bound to the digest and, per repository, the service)")
	}
	for _, ri := range all {
		fmt.Fprintf(stdout, "%s\n", ri.Repository)
		if len(ri.Tags) == 0 {
			fmt.Fprintln(stdout, "  (no images)")
		}
		for _, t := range ri.Tags {
			sig := t.Signature
			if sig == sigUnverified {
				sig = "unverified (no key)"
				if t.SignatureTag {
					sig += ", .sig tag present"
				}
			}
			if len(t.Verifications) > 0 {
				sig += "; " + strings.Join(t.Verifications, ", ")
			}
			fmt.Fprintf(stdout, "  %-48s %s  %s\n", t.Tag, t.Digest[:19], sig)
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
