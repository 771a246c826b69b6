package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/wire"
)

func init() {
	register("sign", "sign an image already in the registry, by digest (JSON result)", runSign)
}

func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sign", stderr)
	ref := fs.String("ref", "", "digest reference of the image, repo@sha256:... (required)")
	service := fs.String("service", "", "service the image belongs to (recorded in the signature)")
	commit := fs.String("commit", "", "source commit (recorded in the signature)")
	out := fs.String("out", "", "write the JSON result here instead of stdout")
	var insecure listFlag
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ref == "" {
		return fmt.Errorf("%w: -ref is required", errUsage)
	}
	c, err := newRegistry(insecure, *ref)
	if err != nil {
		return err
	}
	if _, err := c.ParseDigest(*ref); err != nil {
		return fmt.Errorf("%w: -ref: %v", errUsage, err)
	}
	signer, err := newSigner(c)
	if err != nil {
		return err
	}
	if signer == nil {
		return fmt.Errorf("no signer: pass --signing-key (and --signing-password), or an OIDC token (--oidc-token, or --oidc-request-url and --oidc-request-token), to the module")
	}
	ann := map[string]string{signing.AnnotationRunID: os.Getenv(wire.EnvRun)}
	if *service != "" {
		ann[signing.AnnotationService] = *service
	}
	if *commit != "" {
		ann[signing.AnnotationSourceCommit] = *commit
	}
	res, err := signer.Sign(ctx, *ref, ann)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "signed %s (signature %s)\n", res.Digest, res.Ref)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeOut(*out, stdout, append(b, '\n'))
}
