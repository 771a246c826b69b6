package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/envcheck"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/promote"
	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/vuln"
	"github.com/slipwayci/slipway/internal/wire"
)

func init() {
	register("promote", "promote what one environment runs into the next: verify, copy by digest, one GitOps change (report JSON)", runPromote)
}

func runPromote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("promote", stderr)
	g := addGitopsFlags(fs)
	from := fs.String("from", "", "source environment (required)")
	to := fs.String("to", "", "target environment (required)")
	dryRun := fs.Bool("dry-run", false, "check everything, print what would be copied and the GitOps diff, write nothing")
	regAddr := fs.String("registry", "", "registry address the credentials are for (default: registry.address in slipway.yaml)")
	toRegistry := fs.String("to-registry", "", "copy the images into this registry address for the target (default: tag them where they are)")
	out := fs.String("out", "", "write the report JSON here instead of stdout")
	sign := fs.Bool("sign", false, "countersign what is promoted, keylessly (an OIDC token in the environment): the source's signers must have signed it, the target must accept this run's identity")
	scanBin, vulnDB := scanFlags(fs)
	sourceURL := sourceURLFlag(fs)
	var services, insecure listFlag
	fs.Var(&services, "service", "promote only this service (repeatable; default: every service deployed to both)")
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return fmt.Errorf("%w: -from and -to are required", errUsage)
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	reg, err := registryFor(ctx, cfg, url, gopts, insecure, []string{*from, *to}, *regAddr, *toRegistry)
	if err != nil {
		return err
	}
	verifier, err := newVerifier(reg, *to)
	if err != nil {
		return err
	}
	var signer *signing.Signer
	var sourceVerifier *signing.Verifier
	if *sign {
		if signer, err = newSigner(reg); err != nil {
			return err
		}
		if signer == nil || !signer.Keyless() {
			return fmt.Errorf("%w: --sign countersigns keylessly: give the module an OIDC token (--oidc-token, or --oidc-request-url and --oidc-request-token), not a key", errUsage)
		}
		if sourceVerifier, err = newVerifier(reg, *from); err != nil {
			return err
		}
	}
	scanner, err := newRescan(*scanBin, *vulnDB, *g.source, cfg, reg)
	if err != nil {
		return err
	}
	toEnv, err := cfg.Environment(*to)
	if err != nil {
		return err
	}
	approvers, err := approverVerifiers(*g.source, toEnv, reg)
	if err != nil {
		return err
	}
	var live promote.LiveCheck
	if kc := os.Getenv(wire.EnvKubeconfig); kc != "" {
		live = envcheck.Live(cfg, []byte(kc), 30*time.Second)
	}
	rep, err := promote.Run(ctx, promote.Options{
		Config: cfg, From: *from, To: *to, Services: services, DryRun: *dryRun,
		Registry: reg, Verifier: verifier, TargetRegistry: *toRegistry, Scanner: scanner,
		RepoURL: url, GitOptions: gopts, SourceURL: *sourceURL, Ignores: ignoreLoader(*g.source, cfg),
		Signer: signer, SourceVerifier: sourceVerifier, RunID: os.Getenv(wire.EnvRun),
		Approvers: approvers, Live: live,
	})
	return finishReport(rep, err, *out, stdout, stderr)
}

// sourceURLFlag adds --source-url: the repository the SLSA provenance of
// promoted images must name.
func sourceURLFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("source-url", "", "source repository the images' SLSA provenance must name (as ci's --source-url); default: check only that its commit is the signed one")
}

// ignoreLoader reads a service's vulnerability ignore files from the
// repository root, as ci does, to re-judge attested findings.
func ignoreLoader(source string, cfg *config.Config) promote.IgnoreLoader {
	return func(svc config.Service) (vuln.IgnoreList, error) {
		return vuln.LoadIgnores(os.DirFS(source), vuln.IgnoreFiles(cfg.Project, svc)...)
	}
}

// finishReport writes the report (also when the run was refused, so that
// callers can show why), prints its summary to stderr, and returns the
// run's error.
func finishReport(rep *report.Report, runErr error, out string, stdout, stderr io.Writer) error {
	if rep != nil && runErr != nil && rep.OK() {
		// The run failed outside any one service's or environment's
		// verdict: say so in the report, not only in the exit status.
		rep.Error = runErr.Error()
	}
	if rep != nil {
		fmt.Fprint(stderr, rep.Text()+rep.Diffs())
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		if err := writeOut(out, stdout, b); err != nil {
			return err
		}
	}
	return runErr
}

// registryFor builds the registry client with the credentials from the
// environment for every registry the run may touch: the configured one,
// the ones given, and (when credentials are set) the ones the environments'
// manifests name, read from the GitOps repository.
func registryFor(ctx context.Context, cfg *config.Config, url string, gopts []gitops.Option, insecure []string, envs []string, addrs ...string) (*registry.Client, error) {
	hosts := append([]string{cfg.Project.Registry.Address}, addrs...)
	if os.Getenv(wire.EnvRegistryPassword) != "" {
		more, err := manifestHosts(ctx, cfg, url, gopts, envs)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, more...)
	}
	return newRegistry(insecure, hosts...)
}

// manifestHosts returns the registry hosts of the images the environments
// run.
func manifestHosts(ctx context.Context, cfg *config.Config, url string, gopts []gitops.Option, envs []string) ([]string, error) {
	imgs, err := deployedImages(ctx, cfg, url, gopts, envs)
	if err != nil {
		return nil, err
	}
	return imageHosts(imgs), nil
}

// deployed is the image one service runs in one environment.
type deployed struct {
	env, service string
	gitops.Current
}

// deployedImages reads, from the GitOps branch, the image every service
// runs in each of envs (services whose manifests say nothing readable are
// left out: the runs that need them report it).
func deployedImages(ctx context.Context, cfg *config.Config, url string, gopts []gitops.Option, envs []string) ([]deployed, error) {
	repo, err := gitops.Clone(ctx, url, gopts...)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	if _, err := repo.Checkout(ctx, cfg.Project.GitOps.Branch); err != nil {
		return nil, err
	}
	layout := deploy.Layout(cfg)
	var out []deployed
	for _, env := range envs {
		for _, s := range cfg.Services {
			if !s.DeploysTo(env) {
				continue
			}
			m, err := gitops.ReadImages(repo.Dir(), layout, env, []string{s.Name})
			if err != nil {
				continue
			}
			out = append(out, deployed{env: env, service: s.Name, Current: m[s.Name]})
		}
	}
	return out, nil
}

// imageHosts returns the registry hosts the images name.
func imageHosts(imgs []deployed) []string {
	var hosts []string
	for _, d := range imgs {
		if h := hostOf(d.Image.Name); strings.ContainsAny(h, ".:") {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// actor names who runs a command: --by, else the CI actor, else the user.
func actor(by string) string {
	for _, v := range []string{by, os.Getenv("GITHUB_ACTOR"), os.Getenv("USER")} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return "slipway"
}
