package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/deploy"
	"github.com/slipwayci/slipway/internal/forge"
	"github.com/slipwayci/slipway/internal/gitops"
	"github.com/slipwayci/slipway/internal/wire"
)

func init() {
	register("deploy", "write images into one environment of the GitOps repository (JSON result)", runDeploy)
	register("preflight", "check, writing nothing, that the GitOps repository can take every service's deployment", runPreflight)
}

// gitopsFlags are the flags that say which GitOps repository to write.
type gitopsFlags struct {
	source, repo, throwaway, branch *string
}

func addGitopsFlags(fs interface {
	String(name, value, usage string) *string
}) gitopsFlags {
	return gitopsFlags{
		source:    fs.String("source", ".", "repository root (slipway.yaml, services/, deploy/)"),
		repo:      fs.String("repo", "", "GitOps repository URL (default: gitops.repo in slipway.yaml)"),
		throwaway: fs.String("throwaway", "", "use (and seed on first use) a throwaway bare repository at this path"),
		branch:    fs.String("branch", "", "GitOps branch (default: gitops.branch in slipway.yaml)"),
	}
}

// open loads the configuration and works out the repository URL and the
// git options (auth from the environment, author, pull-request client).
func (g gitopsFlags) open(ctx context.Context, stderr io.Writer) (*config.Config, string, []gitops.Option, error) {
	cfg, err := config.Load(*g.source)
	if err != nil {
		return nil, "", nil, err
	}
	gc := &cfg.Project.GitOps
	if *g.branch != "" {
		gc.Branch = *g.branch
	}
	opts := []gitops.Option{gitops.WithAuthor(gc.AuthorName, gc.AuthorEmail)}
	if *g.throwaway != "" {
		// The throwaway repository is seeded from the source's gitops.path:
		// say what is missing in the terms of the configuration, for every
		// command that writes or reads it.
		if st, err := os.Stat(filepath.Join(*g.source, filepath.FromSlash(gc.Path))); err != nil || !st.IsDir() {
			return nil, "", nil, fmt.Errorf("%s: gitops.path: the repository has no directory %s: with no GitOps repository configured (gitops.repo), deployments go to a throwaway one seeded from it; "+
				"add %s/ with a directory per environment (%s), or set gitops.path or gitops.repo", config.ProjectFile, gc.Path, gc.Path, gc.Overlay)
		}
		gitops.UseInProcessFileTransport()
		created, err := gitops.SeedThrowaway(ctx, *g.throwaway, gc.Branch, os.DirFS(*g.source), gc.Path, gc.AuthorName, gc.AuthorEmail)
		if err != nil {
			return nil, "", nil, err
		}
		if created {
			fmt.Fprintf(stderr, "gitops: created the throwaway repository from %s/\n", gc.Path)
		}
		// No forge hosts it: a pull-request environment's branch is pushed
		// there, and no pull request is opened.
		opts = append(opts, gitops.WithPullRequests(gitops.BranchOnly{}))
		return cfg, *g.throwaway, opts, nil
	}
	url := *g.repo
	if url == "" {
		url = gc.Repo
	}
	if url == "" {
		return nil, "", nil, fmt.Errorf("no GitOps repository: pass --gitops-repo or set gitops.repo in slipway.yaml")
	}
	token := os.Getenv(wire.EnvGitopsToken)
	switch key := os.Getenv(wire.EnvGitopsSSHKey); {
	case key != "":
		hosts := os.Getenv(wire.EnvGitopsKnownHosts)
		if hosts == "" {
			return nil, "", nil, fmt.Errorf("--gitops-ssh-key needs --gitops-known-hosts: slipway never trusts an unknown SSH host")
		}
		cb, err := gitops.KnownHosts([]byte(hosts))
		if err != nil {
			return nil, "", nil, fmt.Errorf("--gitops-known-hosts: %w", err)
		}
		user := "git"
		if at := strings.IndexByte(url, '@'); at > 0 && !strings.Contains(url[:at], "/") {
			user = strings.TrimPrefix(url[:at], "ssh://")
		}
		auth, err := gitops.SSHKeyAuth(user, []byte(key), "", cb)
		if err != nil {
			return nil, "", nil, fmt.Errorf("--gitops-ssh-key: %w", err)
		}
		opts = append(opts, gitops.WithAuth(auth))
	case token != "":
		opts = append(opts, gitops.WithAuth(gitops.TokenAuth(token)))
	}
	// The forge's API (pull requests) is reached with the token; git itself
	// with the SSH key or the token. Without a token, only writes to a
	// pull-request environment fail, naming the flag
	// (gitops.ErrNoPullRequests).
	if token != "" && slices.ContainsFunc(cfg.Project.Environments, func(e config.Environment) bool { return e.Mode == "pull-request" }) {
		client, err := forgeClient(gc, url, token)
		if err != nil {
			return nil, "", nil, fmt.Errorf("pull requests: %w", err)
		}
		opts = append(opts, gitops.WithPullRequests(client))
	}
	return cfg, url, opts, nil
}

// forgeClient is the pull-request client of the GitOps repository's forge
// (gitops.forge): GitHub at gitops.githubAPI, or Gitea at gitops.forgeAPI
// (default https://<host>/api/v1).
func forgeClient(gc *config.GitOps, url, token string) (*forge.Client, error) {
	kind, err := forge.ParseKind(gc.Forge)
	if err != nil {
		return nil, err
	}
	name, err := forge.RepositoryFromURL(url)
	if err != nil {
		return nil, err
	}
	api := gc.GitHubAPI
	if kind == forge.Gitea {
		if api = gc.ForgeAPI; api == "" {
			if api, err = forge.APIBase(kind, url); err != nil {
				return nil, err
			}
		}
	}
	return forge.New(kind, name, token, forge.WithBaseURL(api))
}

func runDeploy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("deploy", stderr)
	g := addGitopsFlags(fs)
	env := fs.String("env", "", "environment to write (required)")
	changesFile := fs.String("changes", "", `JSON file: [{"service","repository","digest"|"tag"}] (required)`)
	commit := fs.String("commit", "", "source commit the images were built from (required)")
	dryRun := fs.Bool("dry-run", false, "print the diff, write nothing")
	sourceURL := fs.String("source-url", "", "the source repository's web address, for links in pull requests")
	complete := fs.Bool("complete", false, "the changes are every service the environment deploys (a pull request left with nothing to do is closed)")
	out := fs.String("out", "", "write the JSON result here instead of stdout")
	var insecure listFlag
	fs.Var(&insecure, "insecure", "registry host reached over plain HTTP (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *env == "" || *changesFile == "" || *commit == "" {
		return fmt.Errorf("%w: -env, -changes and -commit are required", errUsage)
	}
	b, err := os.ReadFile(*changesFile)
	if err != nil {
		return err
	}
	var changes []deploy.Change
	if err := json.Unmarshal(b, &changes); err != nil {
		return fmt.Errorf("%s: %w", *changesFile, err)
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	var hosts []string
	for _, c := range changes {
		hosts = append(hosts, c.Repository)
	}
	reg, err := newRegistry(insecure, hosts...)
	if err != nil {
		return err
	}
	verifier, err := newVerifier(reg, *env)
	if err != nil {
		return err
	}
	res, err := deploy.Run(ctx, deploy.Options{Config: cfg, Environment: *env, Changes: changes, SourceCommit: *commit, SourceURL: *sourceURL, Complete: *complete, DryRun: *dryRun,
		Registry: reg, Verifier: verifier, RepoURL: url, GitOptions: gopts})
	if err != nil {
		return err
	}
	switch {
	case !res.Changed && res.PullRequestState == "closed":
		fmt.Fprintf(stderr, "gitops %s: already up to date, closed its pull request %s\n", *env, res.PullRequest)
	case !res.Changed:
		fmt.Fprintf(stderr, "gitops %s: already up to date, no commit\n", *env)
	case *dryRun:
		fmt.Fprintf(stderr, "gitops %s: would change (dry run)\n", *env)
	case res.PullRequestState == "branch only":
		fmt.Fprintf(stderr, "gitops %s: branch %s pushed (no pull request: the repository has no forge)\n", *env, res.Branch)
	case res.PullRequest != "":
		fmt.Fprintf(stderr, "gitops %s: pull request %s (branch %s, commit %s)\n", *env, res.PullRequest, res.Branch, res.Commit)
	default:
		fmt.Fprintf(stderr, "gitops %s: commit %s\n", *env, res.Commit)
	}
	jb, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return writeOut(*out, stdout, append(jb, '\n'))
}

func runPreflight(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("preflight", stderr)
	g := addGitopsFlags(fs)
	var envs listFlag
	fs.Var(&envs, "env", "check only this environment (repeatable; default: every environment)")
	registry := fs.String("registry", "", "the registry address deployments name images by (default: registry.address in slipway.yaml)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, url, gopts, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	return checkLayout(ctx, stderr, cfg, url, gopts, envs, *registry)
}

// checkLayout is the preflight of envs (every environment when none is
// given) against a checkout of the GitOps repository, naming images as a
// deploy to registry (default: registry.address) would.
func checkLayout(ctx context.Context, stderr io.Writer, cfg *config.Config, url string, gopts []gitops.Option, envs []string, registry string) error {
	repo, err := gitops.Clone(ctx, url, gopts...)
	if err != nil {
		return err
	}
	defer repo.Close()
	if _, err := repo.Checkout(ctx, cfg.Project.GitOps.Branch); err != nil {
		return err
	}
	if registry == "" {
		registry = cfg.Project.Registry.Address
	}
	if err := deploy.PreflightError(deploy.Preflight(repo.Dir(), cfg, envs, registry)); err != nil {
		return err
	}
	checked := strings.Join(envs, ", ")
	if checked == "" {
		checked = strings.Join(cfg.EnvironmentNames(), ", ")
	}
	fmt.Fprintf(stderr, "preflight: the GitOps repository takes every service's deployment (%s)\n", checked)
	return nil
}
