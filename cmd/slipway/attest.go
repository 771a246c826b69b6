package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/wire"
)

func init() {
	register("attest", "sign predicates (slsa, sbom, vuln, test) as attestations of an image digest (JSON result)", runAttest)
	register("provenance", "write the SLSA provenance v1 predicate of a service's image build", runProvenance)
	register("test-result", "write the in-toto test-result predicate of a service's tests", runTestResult)
}

// attestation is one attestation written by the attest command.
type attestation struct {
	Kind          string `json:"kind"`
	PredicateType string `json:"predicateType"`
	// CosignType is what `cosign verify-attestation --type` takes.
	CosignType string `json:"cosignType"`
	// Ref is the tag holding the image's attestations.
	Ref string `json:"ref"`
	// Existing is true when the same attestation was already there.
	Existing bool `json:"existing"`
}

type attestResult struct {
	Digest       string        `json:"digest"`
	Attestations []attestation `json:"attestations"`
}

// kindFile is one predicate to attest.
type kindFile struct {
	kind provenance.Kind
	file string
}

func runAttest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("attest", stderr)
	ref := fs.String("ref", "", "digest reference of the image, repo@sha256:... (required)")
	typ := fs.String("type", "", "kind of the predicate given with -predicate FILE: slsa, sbom, vuln or test")
	out := fs.String("out", "", "write the JSON result here instead of stdout")
	var preds, insecure listFlag
	fs.Var(&preds, "predicate", "predicate file (with -type), or KIND=FILE; repeatable to attest several at once")
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ref == "" || len(preds) == 0 {
		return fmt.Errorf("%w: -ref and -predicate are required", errUsage)
	}
	var todo []kindFile
	for _, p := range preds {
		kindName, file, ok := strings.Cut(p, "=")
		if !ok {
			if *typ == "" {
				return fmt.Errorf("%w: -predicate %s needs -type (or write it KIND=FILE)", errUsage, p)
			}
			kindName, file = *typ, p
		}
		k, err := provenance.KindOf(kindName)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		todo = append(todo, kindFile{k, file})
	}
	// Read and check every predicate before the key is loaded or anything
	// is written: a bad one attests nothing.
	bodies := make([][]byte, len(todo))
	for i, t := range todo {
		b, err := os.ReadFile(t.file)
		if err != nil {
			return fmt.Errorf("reading the %s predicate: %w", t.kind.Name, err)
		}
		if err := provenance.Check(t.kind.Name, b); err != nil {
			return fmt.Errorf("%s: %w", t.file, err)
		}
		bodies[i] = b
	}
	c, err := newRegistry(insecure, *ref)
	if err != nil {
		return err
	}
	signer, err := newSigner(c)
	if err != nil {
		return err
	}
	if signer == nil {
		return fmt.Errorf("no signer: attestations need the cosign key pair (the module's --signing-key and --signing-password) or an OIDC token (--oidc-token, or --oidc-request-url and --oidc-request-token)")
	}
	res := attestResult{Digest: *ref}
	for i, t := range todo {
		r, err := signer.Attest(ctx, *ref, t.kind.PredicateType, bodies[i])
		if err != nil {
			return err
		}
		res.Digest = r.Digest
		res.Attestations = append(res.Attestations, attestation{
			Kind: t.kind.Name, PredicateType: t.kind.PredicateType, CosignType: t.kind.CosignType,
			Ref: r.Ref, Existing: r.Existing,
		})
		state := "attested"
		if r.Existing {
			state = "already attested"
		}
		fmt.Fprintf(stderr, "%s %s: %s (%s)\n", state, r.Digest, t.kind.Name, r.Ref)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeOut(*out, stdout, append(b, '\n'))
}

// keyValues is a repeatable KEY=VALUE flag.
type keyValues []string

func (k *keyValues) String() string { return strings.Join(*k, ",") }

func (k *keyValues) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*k = append(*k, v)
	return nil
}

func (k keyValues) mapOf() map[string]string {
	if len(k) == 0 {
		return nil
	}
	m := make(map[string]string, len(k))
	for _, kv := range k {
		key, v, _ := strings.Cut(kv, "=")
		m[key] = v
	}
	return m
}

func optionalTime(flagName, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return parseTime(flagName, v)
}

func runProvenance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("provenance", stderr)
	source := fs.String("source", ".", "repository root (slipway.yaml, services/)")
	service := fs.String("service", "", "service whose image was built (required)")
	commit := fs.String("commit", "", "full commit SHA built (required)")
	repository := fs.String("repository", "", "source repository URL (required)")
	ref := fs.String("ref", "", "git ref built, e.g. refs/heads/main")
	builderID := fs.String("builder-id", "", "URI of the build platform, e.g. the CI workflow (required)")
	platform := fs.String("platform", "", "image platform, e.g. linux/amd64")
	inputDigest := fs.String("input-digest", "", "the service's input digest")
	dirty := fs.Bool("dirty", false, "the source had uncommitted changes (recorded as externalParameters.dirty)")
	started := fs.String("started", "", "when the build started (RFC 3339)")
	finished := fs.String("finished", "", "when the build finished (RFC 3339)")
	out := fs.String("out", "", "write the predicate here instead of stdout")
	var bases, versions keyValues
	fs.Var(&bases, "base-image", "REF=sha256:DIGEST of a resolved base image (repeatable)")
	fs.Var(&versions, "builder-version", "NAME=VERSION of a builder part, e.g. dagger=v0.19.10 (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *service == "" {
		return fmt.Errorf("%w: -service is required", errUsage)
	}
	cfg, err := config.Load(*source)
	if err != nil {
		return err
	}
	svc, err := cfg.Service(*service)
	if err != nil {
		return err
	}
	st, err := optionalTime("started", *started)
	if err != nil {
		return err
	}
	fin, err := optionalTime("finished", *finished)
	if err != nil {
		return err
	}
	b := provenance.Build{
		BuilderID: *builderID, BuilderVersion: versions.mapOf(),
		Service: svc.Name, Repository: *repository, Ref: *ref, Commit: *commit,
		Dockerfile: path.Join(svc.Dir, svc.Dockerfile), Target: svc.Target, Platform: *platform,
		BuildArgs: svc.BuildArgs, InputDigest: *inputDigest, Dirty: *dirty,
		InvocationID: os.Getenv(wire.EnvRun), StartedOn: st, FinishedOn: fin,
	}
	for _, kv := range bases {
		r, d, _ := strings.Cut(kv, "=")
		dep, err := provenance.ImageDependency(r, d)
		if err != nil {
			return fmt.Errorf("-base-image %s: %w", kv, err)
		}
		b.BaseImages = append(b.BaseImages, dep)
	}
	p, err := provenance.SLSA(b)
	if err != nil {
		return fmt.Errorf("provenance of %s: %w", svc.Name, err)
	}
	return writeOut(*out, stdout, append(p, '\n'))
}

func runTestResult(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("test-result", stderr)
	service := fs.String("service", "", "service tested (required)")
	result := fs.String("result", "", "PASSED, WARNED or FAILED (default: from the lists)")
	url := fs.String("url", "", "link to the run's log or report")
	out := fs.String("out", "", "write the predicate here instead of stdout")
	suitesFile := fs.String("suites", "", "JSON file: each kind of test (unit, integration) with its status (passed, failed, not configured, skipped), command, counts and reason; replaces -passed, -warned and -failed")
	var passed, warned, failed listFlag
	var configs keyValues
	fs.Var(&passed, "passed", "passed tests or suites (repeatable, comma-separated)")
	fs.Var(&warned, "warned", "tests or suites that passed with warnings")
	fs.Var(&failed, "failed", "failed tests or suites")
	fs.Var(&configs, "config", "NAME=URI of what was run, e.g. unit=git+https://…@<sha>#services/api/service.yaml (repeatable; default: the service's tests)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *service == "" {
		return fmt.Errorf("%w: -service is required", errUsage)
	}
	run := provenance.TestRun{Result: *result, URL: *url, Passed: passed, Warned: warned, Failed: failed, Service: *service}
	if *suitesFile != "" {
		b, err := os.ReadFile(*suitesFile)
		if err != nil {
			return fmt.Errorf("reading the test suites: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&run.Suites); err != nil {
			return fmt.Errorf("%s: the test suites are not a JSON object of kind → {status, command, counts, reason}: %w", *suitesFile, err)
		}
	}
	for _, kv := range configs {
		n, u, _ := strings.Cut(kv, "=")
		run.Configuration = append(run.Configuration, provenance.ResourceDescriptor{Name: n, URI: u})
	}
	if len(run.Configuration) == 0 {
		for _, k := range provenance.TestSuiteKinds {
			if s, ok := run.Suites[k]; ok && s.Command != "" {
				run.Configuration = append(run.Configuration, provenance.ResourceDescriptor{Name: k + ": " + s.Command})
			}
		}
	}
	if len(run.Configuration) == 0 {
		run.Configuration = []provenance.ResourceDescriptor{{Name: "slipway test " + *service}}
	}
	p, err := provenance.TestResult(run)
	if err != nil {
		return fmt.Errorf("test result of %s: %w", *service, err)
	}
	return writeOut(*out, stdout, append(p, '\n'))
}
