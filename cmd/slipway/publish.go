package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/publish"
)

func init() {
	register("publish", "push an image tarball by digest, sign it, then tag it (JSON result)", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runPublish(ctx, "publish", args, stdout, stderr)
	})
	register("retag", "give an existing image (by digest) this commit's tags, signing it first", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runPublish(ctx, "retag", args, stdout, stderr)
	})
}

func runPublish(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(name, stderr)
	tarball := fs.String("tarball", "", "OCI or docker-save tarball of the image (publish)")
	ref := fs.String("ref", "", "digest reference of the existing image (retag)")
	repo := fs.String("repo", "", "repository to publish to, e.g. ghcr.io/acme/orders")
	service := fs.String("service", "", "service name (recorded in the signature)")
	commit := fs.String("commit", "", "source commit (recorded in the signature)")
	inputDigest := fs.String("input-digest", "", "the service's input digest (adds the input tag)")
	out := fs.String("out", "", "write the JSON result here instead of stdout")
	var tags, insecure, preds listFlag
	fs.Var(&tags, "tag", "tag to give the image (repeatable)")
	fs.Func("predicate", "KIND=FILE: attest this predicate (slsa, sbom, vuln, test) after signing, before tagging (repeatable)", func(v string) error {
		preds = append(preds, v)
		return nil
	})
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *repo == "" || *service == "" {
		return fmt.Errorf("%w: -repo and -service are required", errUsage)
	}
	c, err := newRegistry(insecure, *repo, *ref)
	if err != nil {
		return err
	}
	signer, err := newSigner(c)
	if err != nil {
		return err
	}
	o := publish.Options{Registry: c, Signer: signer, Service: *service, Commit: *commit, RunID: os.Getenv(envRunID), InputDigest: *inputDigest, Tags: tags}
	for _, kv := range preds {
		kindName, file, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%w: -predicate %q: want KIND=FILE", errUsage, kv)
		}
		k, err := provenance.KindOf(kindName)
		if err != nil {
			return fmt.Errorf("%w: -predicate %s: %v", errUsage, kv, err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if err := provenance.Check(k.Name, b); err != nil {
			return fmt.Errorf("-predicate %s: %w", kv, err)
		}
		if signer == nil {
			fmt.Fprintf(stderr, "no signing key: %s predicate not attested\n", k.Name)
			continue
		}
		o.Attestations = append(o.Attestations, publish.Predicate{Type: k.PredicateType, Body: b})
	}
	var res any
	switch name {
	case "publish":
		if *tarball == "" {
			return fmt.Errorf("%w: -tarball is required", errUsage)
		}
		r, err := publish.Tarball(ctx, *tarball, *repo, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "published %s@%s signed=%t tags=%v\n", r.Repository, r.Digest, r.Signature != "", r.Tags)
		res = r
	default:
		if *ref == "" {
			return fmt.Errorf("%w: -ref is required", errUsage)
		}
		r, err := publish.Existing(ctx, *ref, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "reused %s@%s signed=%t tags=%v\n", r.Repository, r.Digest, r.Signature != "", r.Tags)
		res = r
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeOut(*out, stdout, append(b, '\n'))
}
