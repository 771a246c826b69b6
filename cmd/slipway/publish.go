package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/publish"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/reuse"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/state"
	"github.com/slipwayci/slipway/internal/wire"
)

func init() {
	register("publish", "push an image tarball by digest, sign it, then tag it (JSON result)", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runPublish(ctx, "publish", args, stdout, stderr)
	})
	register("retag", "reuse an image found by its input digest once proven (denylist, signature, attestations): sign it and give it this commit's tags (JSON result)", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return runPublish(ctx, "retag", args, stdout, stderr)
	})
	register("reuse-check", "say whether an image found by its input digest may be reused, writing nothing (JSON result)", runReuseCheck)
	register("state-snapshot", "read the GitOps repository's state file (pins, denylist) once, for the rest of a run (JSON)", runStateSnapshot)
}

// publishResult is what publish and retag write: the service's publishing
// result, or (retag) why the image was not reused.
type publishResult struct {
	wire.PublishResult
	ReuseRefused *reuse.Refusal `json:"reuseRefused,omitempty"`
}

// reuseFlags are the flags of the reuse checks.
type reuseFlags struct {
	stateFile *string
	require   *listFlag
	platforms *listFlag
}

func addReuseFlags(fs *flag.FlagSet) reuseFlags {
	r := reuseFlags{stateFile: fs.String("state", "", "state snapshot (state-snapshot's JSON): its denylist is honoured"), require: &listFlag{}, platforms: &listFlag{}}
	fs.Var(r.require, "require-attestation", "attestation kind an image must carry, verified, to be reused (repeatable)")
	fs.Var(r.platforms, "platform", "platform the service is built for: the image must be an index holding a signed image of each (repeatable)")
	return r
}

// state reads the snapshot; nil without one.
func (r reuseFlags) state() (*state.State, error) {
	if *r.stateFile == "" {
		return nil, nil
	}
	return state.ReadSnapshot(*r.stateFile)
}

// open connects to the registry of refs with the signer of this run's key
// (nil without one) and reads the deployment state the flags name.
func (r reuseFlags) open(insecure listFlag, refs ...string) (*registry.Client, *signing.Signer, *state.State, error) {
	c, err := newRegistry(insecure, refs...)
	if err != nil {
		return nil, nil, nil, err
	}
	signer, err := newSigner(c)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := r.state()
	if err != nil {
		return nil, nil, nil, err
	}
	return c, signer, st, nil
}

// check runs the reuse checks on ref for service.
func (r reuseFlags) check(ctx context.Context, c *registry.Client, signer *signing.Signer, st *state.State, ref, service string) (*reuse.Refusal, error) {
	o := reuse.Options{Service: service, State: st, RequireAttestations: *r.require, Platforms: *r.platforms}
	if signer != nil {
		v, err := newVerifier(c, "")
		if err != nil {
			return nil, err
		}
		if v == nil {
			// A keyless pipeline with no accepted identity cannot tell its
			// own images from anyone's.
			return &reuse.Refusal{Reason: reuse.ForeignKey, Digest: ref,
				Detail: "images are signed keylessly, and slipway.yaml names no signer to accept (signing.identities)"}, nil
		}
		o.Verifier = v
	}
	return reuse.Check(ctx, c, ref, o)
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
	force := fs.Bool("force", false, "move the commit's tag when it already names another digest")
	index := fs.Bool("index", false, "publish an archive of one image as an index of that image (a multi-platform service built for one platform)")
	rf := addReuseFlags(fs)
	var tags, insecure, preds listFlag
	fs.Var(&tags, "tag", "tag to give the image (repeatable)")
	fs.Func("predicate", "KIND=FILE: attest this predicate (slsa, sbom, vuln, test) after signing, before tagging (repeatable)", func(v string) error {
		preds = append(preds, v)
		return nil
	})
	var childPreds listFlag
	fs.Func("platform-predicate", "PLATFORM:KIND=FILE: attest this predicate on the index's image of PLATFORM (linux/arm64:sbom=…), signed first (repeatable)", func(v string) error {
		childPreds = append(childPreds, v)
		return nil
	})
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *repo == "" || *service == "" {
		return fmt.Errorf("%w: -repo and -service are required", errUsage)
	}
	c, signer, st, err := rf.open(insecure, *repo, *ref)
	if err != nil {
		return err
	}
	o := publish.Options{Registry: c, Signer: signer, Service: *service, Commit: *commit, RunID: os.Getenv(wire.EnvRun), InputDigest: *inputDigest, Tags: tags, Force: *force, Index: *index}
	if st != nil {
		o.Denied = st.DenyReason
	}
	for _, kv := range preds {
		p, err := readPredicate(kv)
		if err != nil {
			return fmt.Errorf("-predicate %s: %w", kv, err)
		}
		if signer == nil {
			fmt.Fprintf(stderr, "no signing key: %s predicate not attested\n", kv)
			continue
		}
		o.Attestations = append(o.Attestations, p)
	}
	for _, v := range childPreds {
		plat, kv, ok := strings.Cut(v, ":")
		if !ok || plat == "" {
			return fmt.Errorf("%w: -platform-predicate %q: want PLATFORM:KIND=FILE", errUsage, v)
		}
		p, err := readPredicate(kv)
		if err != nil {
			return fmt.Errorf("-platform-predicate %s: %w", v, err)
		}
		if signer == nil {
			fmt.Fprintf(stderr, "no signing key: %s predicate of %s not attested\n", kv, plat)
			continue
		}
		if o.Children == nil {
			o.Children = map[string][]publish.Predicate{}
		}
		o.Children[plat] = append(o.Children[plat], p)
	}
	var res publishResult
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
		res.Service = r
	default:
		if *ref == "" {
			return fmt.Errorf("%w: -ref is required", errUsage)
		}
		// The image is proven before anything is written for it.
		refusal, err := rf.check(ctx, c, signer, st, *ref, *service)
		if err != nil {
			return err
		}
		if refusal != nil {
			fmt.Fprintf(stderr, "not reused: %v\n", refusal)
			res.ReuseRefused, res.ReuseNote = refusal, refusal.Note(*service)
			break
		}
		r, err := publish.Existing(ctx, *ref, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "reused %s@%s signed=%t tags=%v\n", r.Repository, r.Digest, r.Signature != "", r.Tags)
		res.Service = r
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeOut(*out, stdout, append(b, '\n'))
}

// reuseCheckResult is reuse-check's JSON result.
type reuseCheckResult struct {
	wire.ReuseCheck
	Refused *reuse.Refusal `json:"refused,omitempty"`
}

func runReuseCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reuse-check", stderr)
	ref := fs.String("ref", "", "digest reference of the image found by its input digest (required)")
	service := fs.String("service", "", "service the image must be signed for (required)")
	export := fs.String("export", "", "when reusable, also write the image here as a tarball (for the scanner)")
	out := fs.String("out", "", "write the JSON result here instead of stdout")
	rf := addReuseFlags(fs)
	var insecure listFlag
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ref == "" || *service == "" {
		return fmt.Errorf("%w: -ref and -service are required", errUsage)
	}
	c, signer, st, err := rf.open(insecure, *ref)
	if err != nil {
		return err
	}
	refusal, err := rf.check(ctx, c, signer, st, *ref, *service)
	if err != nil {
		return err
	}
	res := reuseCheckResult{ReuseCheck: wire.ReuseCheck{Reusable: refusal == nil, Verified: signer != nil}, Refused: refusal}
	if refusal != nil {
		res.Note = refusal.Note(*service)
		fmt.Fprintf(stderr, "not reusable: %v\n", refusal)
	} else if *export != "" {
		if err := c.ExportOCITarball(ctx, *ref, *export); err != nil {
			return fmt.Errorf("service %s: exporting %s for the scan: %w", *service, *ref, err)
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeOut(*out, stdout, append(b, '\n'))
}

func runStateSnapshot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("state-snapshot", stderr)
	g := addGitopsFlags(fs)
	out := fs.String("out", "", "write the JSON snapshot here instead of stdout")
	var preflight listFlag
	fs.Var(&preflight, "preflight", "first check that the GitOps repository can take this environment's deployments, as the preflight command does (repeatable)")
	registry := fs.String("registry", "", "with --preflight: the registry address deployments name images by")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	if len(preflight) > 0 {
		if err := checkLayout(ctx, stderr, cfg, url, gopts, preflight, *registry); err != nil {
			return err
		}
	}
	st, tip, err := state.Load(ctx, url, cfg.Project.GitOps.Branch, state.Path(cfg), gopts...)
	if err != nil {
		return fmt.Errorf("reading the denylist from the GitOps repository's state file: %w", err)
	}
	fmt.Fprintf(stderr, "state: %s at %.12s: %d pins, %d denylisted digests\n", st.File(), tip, len(st.Pins()), len(st.Denylist()))
	b, err := json.MarshalIndent(st.Snapshot(tip), "", "  ")
	if err != nil {
		return err
	}
	return writeOut(*out, stdout, append(b, '\n'))
}

// readPredicate reads KIND=FILE and checks the predicate is of its kind.
func readPredicate(kv string) (publish.Predicate, error) {
	kindName, file, ok := strings.Cut(kv, "=")
	if !ok {
		return publish.Predicate{}, fmt.Errorf("%w: want KIND=FILE", errUsage)
	}
	k, err := provenance.KindOf(kindName)
	if err != nil {
		return publish.Predicate{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return publish.Predicate{}, err
	}
	if err := provenance.Check(k.Name, b); err != nil {
		return publish.Predicate{}, err
	}
	return publish.Predicate{Type: k.PredicateType, Body: b}, nil
}
