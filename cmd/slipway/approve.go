package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/gates"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
)

func init() {
	register("approve", "approve a digest for an environment that requires approval: a signed approval attached to the image (report JSON)", runApprove)
}

func runApprove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("approve", stderr)
	g := addGitopsFlags(fs)
	env := fs.String("env", "", "environment the digest may go to (required)")
	digest := fs.String("digest", "", "image digest, sha256:… (required)")
	service := fs.String("service", "", "service the digest is (default: found in the environments' manifests)")
	reason := fs.String("reason", "", "why, recorded in the approval")
	by := fs.String("by", "", "who approves (default: $GITHUB_ACTOR, else $USER)")
	regAddr := fs.String("registry", "", "registry address (default: registry.address in slipway.yaml)")
	out := fs.String("out", "", "write the report JSON here instead of stdout")
	var insecure listFlag
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *env == "" || *digest == "" {
		return fmt.Errorf("%w: -env and -digest are required", errUsage)
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	rep := &report.Report{Kind: report.Approve, Project: cfg.Project.Name, Started: time.Now()}
	e, err := cfg.Environment(*env)
	if err != nil {
		return finishReport(rep, err, *out, stdout, stderr)
	}
	// What every environment runs: where the digest is found, and the
	// registries credentials go to (one read of the GitOps repository).
	imgs, err := deployedImages(ctx, cfg, url, gopts, cfg.EnvironmentNames())
	if err != nil {
		return err
	}
	reg, err := newRegistry(insecure, append([]string{cfg.Project.Registry.Address, *regAddr}, imageHosts(imgs)...)...)
	if err != nil {
		return err
	}
	signer, err := newSigner(reg)
	if err != nil {
		return err
	}
	if signer == nil {
		return finishReport(rep, fmt.Errorf("approving signs the approval: give your cosign key (--signing-key) or an OIDC token"), *out, stdout, stderr)
	}
	if err := acceptedApprover(ctx, *g.source, e, signer); err != nil {
		return finishReport(rep, err, *out, stdout, stderr)
	}
	svc, ref, err := findDigest(ctx, cfg, imgs, reg, *service, *digest, *regAddr)
	if err != nil {
		return finishReport(rep, err, *out, stdout, stderr)
	}
	a := gates.Approval{Environment: e.Name, Service: svc, Digest: *digest, By: actor(*by), Reason: *reason, Time: time.Now().UTC()}
	if err := a.Validate(); err != nil {
		return finishReport(rep, err, *out, stdout, stderr)
	}
	b, _ := json.Marshal(a)
	res, err := signer.Attest(ctx, ref, gates.PredicateApproval, b)
	s := report.Service{Name: svc, Repository: strings.SplitN(ref, "@", 2)[0], Digest: *digest, Status: report.Approved}
	if err != nil {
		s.Status, s.Stage, s.Error = report.Failed, "approve", err.Error()
	} else {
		s.Signature = res.Ref
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s approved %s of %s for %s (%s)", a.By, report.ShortDigest(*digest), svc, e.Name, res.Ref))
	}
	rep.Services = append(rep.Services, s)
	rep.Finished = time.Now()
	return finishReport(rep, err, *out, stdout, stderr)
}

// acceptedApprover refuses, before anything is written, a signer env does
// not take approvals from (a key not among approvers.keys; a keyless
// identity not among approvers.identities).
func acceptedApprover(ctx context.Context, source string, e config.Environment, s *signing.Signer) error {
	if !e.RequireApproval {
		return fmt.Errorf("environments[%s] does not set requireApproval: an approval would change nothing", e.Name)
	}
	if s.Keyless() {
		id, err := s.Identity(ctx)
		if err != nil {
			return err
		}
		if ids := approverIdentities(e); len(ids) > 0 {
			vs, err := approverVerifiers(source, e, nil)
			if err != nil {
				return err
			}
			if vs[len(vs)-1].AcceptsSigner(id) == nil {
				return nil
			}
		}
		return fmt.Errorf("%s does not take approvals from %s (environments[%s].approvers.identities)", e.Name, id, e.Name)
	}
	keys, err := approverKeys(source, e)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if samePublicKey(k.pem, s.PublicKeyPEM()) {
			return nil
		}
	}
	return fmt.Errorf("%s does not take approvals from this key: it is not among environments[%s].approvers.keys (%s)", e.Name, e.Name, strings.Join(e.Approvers.Keys, ", "))
}

type approverKey struct {
	file string
	pem  []byte
}

// approverKeys reads env's approvers.keys from the repository.
func approverKeys(source string, e config.Environment) ([]approverKey, error) {
	var out []approverKey
	for i, f := range e.Approvers.Keys {
		b, err := os.ReadFile(filepath.Join(source, filepath.FromSlash(f)))
		if err != nil {
			return nil, fmt.Errorf("%s: environments[%s].approvers.keys[%d]: %w", config.ProjectFile, e.Name, i, err)
		}
		out = append(out, approverKey{file: f, pem: b})
	}
	return out, nil
}

func approverIdentities(e config.Environment) []signing.Identity {
	var ids []signing.Identity
	b, _ := json.Marshal(e.Approvers.Identities)
	_ = json.Unmarshal(b, &ids)
	return ids
}

// approverVerifiers returns one verifier per approver key and one for the
// approver identities of env.
func approverVerifiers(source string, e config.Environment, c *registry.Client) ([]*signing.Verifier, error) {
	if !e.RequireApproval {
		return nil, nil
	}
	keys, err := approverKeys(source, e)
	if err != nil {
		return nil, err
	}
	var out []*signing.Verifier
	for i, k := range keys {
		v, err := signing.NewVerifier(k.pem, nil, registryOpt(c)...)
		if err != nil {
			return nil, fmt.Errorf("%s: environments[%s].approvers.keys[%d] (%s): %w", config.ProjectFile, e.Name, i, k.file, err)
		}
		out = append(out, v)
	}
	if ids := approverIdentities(e); len(ids) > 0 {
		k, err := keylessSettings()
		if err != nil {
			return nil, err
		}
		p := &signing.KeylessPolicy{Identities: ids, AttestedBy: ids, IgnoreSCT: k.IgnoreSCT}
		if k.TrustedRoot != "" {
			p.TrustedRoot = []byte(k.TrustedRoot)
		}
		v, err := signing.NewVerifier(nil, p, registryOpt(c)...)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func registryOpt(c *registry.Client) []signing.Option {
	if c == nil {
		return nil
	}
	return []signing.Option{signing.WithRegistry(c)}
}

func samePublicKey(a, b []byte) bool {
	return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
}

// findDigest finds the repository of digest: the given service's image in
// any environment's manifests (or in the configured registry), else the
// one service whose manifests name the digest.
func findDigest(ctx context.Context, cfg *config.Config, imgs []deployed, reg *registry.Client, service, digest, regAddr string) (string, string, error) {
	if service != "" {
		if _, err := cfg.Service(service); err != nil {
			return "", "", err
		}
	}
	var repos []string
	for _, d := range imgs {
		if service != "" && d.service != service || d.Image.Name == "" {
			continue
		}
		ref := d.Image.Name + "@" + digest
		if ok, err := reg.Exists(ctx, ref); err == nil && ok {
			return d.service, ref, nil
		}
		repos = append(repos, d.Image.Name)
	}
	if service != "" {
		addr := regAddr
		if addr == "" {
			addr = cfg.Project.Registry.Address
		}
		if addr != "" {
			s, _ := cfg.Service(service)
			ref := cfg.Project.ImageRepository(addr, s) + "@" + digest
			if ok, err := reg.Exists(ctx, ref); err == nil && ok {
				return service, ref, nil
			}
		}
	}
	return "", "", fmt.Errorf("%s is in none of the repositories the environments run (%s): give --service, or check the digest", digest, strings.Join(dedupe(repos), ", "))
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
