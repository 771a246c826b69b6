package config

import (
	"fmt"
	"io/fs"
	"net"
	"path"
	"regexp"
	"strings"
	"time"
)

var (
	dnsLabel  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	imageName = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*$`)
	// A registry host with optional port, then optional path components.
	registryAddr = regexp.MustCompile(`^[a-zA-Z0-9.-]+(:[0-9]+)?(/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*$`)
	envVarName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Severities in increasing order; NONE never blocks.
var Severities = []string{"NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// AttestationKinds are the accepted values of requireAttestations.
var AttestationKinds = []string{"slsa", "sbom", "vuln", "test"}

func (p *Project) validate(c collector) {
	if p.Version != 1 {
		c.add("version", "unsupported version %d (only 1 exists)", p.Version)
	}
	if !dnsLabel.MatchString(p.Name) {
		c.add("name", "%q is not a valid name (lower-case letters, digits and dashes)", p.Name)
	}
	if p.ServicesDir != "" {
		if err := relPath(p.ServicesDir); err != "" {
			c.add("servicesDir", "%s", err)
		}
		if !p.servicesFromDir {
			c.add("servicesDir", "services is set too: keep one (servicesDir: dir means services: [dir/*])")
		}
	}
	for i, g := range p.Services {
		if err := relPath(g); err != "" {
			c.add(fmt.Sprintf("services[%d]", i), "%s", err)
		}
	}
	for i, s := range p.Shared {
		if err := relPath(s); err != "" {
			c.add(fmt.Sprintf("shared[%d]", i), "%s", err)
		}
	}
	checkEnv(c, "env", p.Env)
	for i, f := range p.CACertificates {
		if err := relPath(f); err != "" {
			c.add(fmt.Sprintf("caCertificates[%d]", i), "%s", err)
		}
	}
	checkCommands(c, "setup", p.Setup)
	if p.Parallelism < 1 || p.Parallelism > 64 {
		c.add("parallelism", "must be between 1 and 64, got %d", p.Parallelism)
	}
	if a := p.Registry.Address; a != "" && !registryAddr.MatchString(a) {
		c.add("registry.address", "%q is not a registry address such as ghcr.io/acme or registry.local:5000", a)
	}
	if pr := p.Registry.Prefix; pr != "" && !imageName.MatchString(pr) {
		c.add("registry.prefix", "%q is not a valid repository path (lower-case letters, digits, . _ - /)", pr)
	}
	seen := map[string]bool{}
	for i, e := range p.Environments {
		f := fmt.Sprintf("environments[%d]", i)
		switch {
		case !dnsLabel.MatchString(e.Name):
			c.add(f+".name", "%q is not a valid environment name (lower-case letters, digits and dashes)", e.Name)
		case seen[e.Name]:
			c.add(f+".name", "environment %q is declared twice", e.Name)
		}
		seen[e.Name] = true
		if !contains(Severities, e.Policy.FailOn) {
			c.add(f+".policy.failOn", "%q is not a severity (one of %s)", e.Policy.FailOn, strings.Join(Severities, ", "))
		}
		for j, a := range e.RequireAttestations {
			if !contains(AttestationKinds, a) {
				c.add(fmt.Sprintf("%s.requireAttestations[%d]", f, j), "%q is not an attestation kind (one of %s)", a, strings.Join(AttestationKinds, ", "))
			}
		}
		if e.MaxScanAge.D() < 0 {
			c.add(f+".maxScanAge", "%s is negative (a duration such as 168h; leave it out for no limit)", e.MaxScanAge.D())
		}
		if e.MaxScanAge.D() > 0 && !contains(e.RequireAttestations, "vuln") {
			c.add(f+".maxScanAge", "bounds the age of the vuln attestation, but requireAttestations does not list vuln")
		}
		checkIdentities(c, f+".signedBy", e.SignedBy)
		e.validateGates(c, f, p.Environments)
		if e.Mode != "commit" && e.Mode != "pull-request" {
			c.add(f+".mode", "%q is not a GitOps mode (commit or pull-request)", e.Mode)
		}
	}
	if err := relPath(p.GitOps.Path); err != "" {
		c.add("gitops.path", "%s", err)
	}
	var sharing []string
	for i, e := range p.Environments {
		if e.Directory == "" {
			sharing = append(sharing, e.Name)
			continue
		}
		if err := relPath(e.Directory); err != "" {
			c.add(fmt.Sprintf("environments[%d].directory", i), "%s", err)
		}
	}
	if err := relPath(strings.ReplaceAll(p.GitOps.Overlay, "{env}", "env")); err != "" {
		c.add("gitops.overlay", "%s", err)
	} else if !strings.Contains(p.GitOps.Overlay, "{env}") && len(sharing) > 1 {
		c.add("gitops.overlay", "%q has no {env}, so environments %s would write the same files: use {env} in it, or give each environment its own directory (environments[].directory)",
			p.GitOps.Overlay, strings.Join(sharing, ", "))
	}
	if f := strings.ToLower(p.GitOps.Forge); f != "" && f != "github" && f != "gitea" && f != "forgejo" {
		c.add("gitops.forge", "%q: want github or gitea (Forgejo speaks Gitea's API)", p.GitOps.Forge)
	}
	if a := p.GitOps.ForgeAPI; a != "" && !strings.HasPrefix(a, "https://") && !strings.HasPrefix(a, "http://") {
		c.add("gitops.forgeAPI", "%q is not an http(s) URL such as https://gitea.example.com/api/v1", a)
	}
	if b := p.GitOps.PullRequestBranch; !strings.Contains(b, "{env}") {
		c.add("gitops.pullRequestBranch", "%q has no {env}: every environment needs a branch of its own", b)
	} else if strings.ContainsAny(b, " ~^:?*[\\") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.Contains(b, "..") {
		c.add("gitops.pullRequestBranch", "%q is not a valid branch name pattern", b)
	}
	if r := p.GitOps.Repo; r != "" && !(strings.HasPrefix(r, "https://") || strings.HasPrefix(r, "http://") || strings.HasPrefix(r, "ssh://") || strings.HasPrefix(r, "file://") || strings.Contains(r, "@")) {
		c.add("gitops.repo", "%q is not a git URL (https://…, ssh://…, git@host:path or file://…)", r)
	}
	if strings.Contains(p.GitOps.Repo, "://") && strings.Contains(strings.SplitN(p.GitOps.Repo, "://", 2)[1], "@") && strings.HasPrefix(p.GitOps.Repo, "http") {
		c.add("gitops.repo", "credentials must not be written in the URL; pass the token as a secret (--gitops-token)")
	}
	if s := p.Scan.Scanner; s != "trivy" && s != "osv-scanner" {
		c.add("scan.scanner", "%q is not a supported scanner (trivy or osv-scanner)", s)
	}
	if f := p.Signing.Format; f != "bundle" && f != "classic" {
		c.add("signing.format", "%q is not a signature format (bundle, the default, or classic for verifiers on cosign v2)", f)
	}
	checkIdentities(c, "signing.identities", p.Signing.Identities)
	for _, f := range []struct{ field, path string }{{"signing.keyless.signingConfig", p.Signing.Keyless.SigningConfig}, {"signing.keyless.trustedRoot", p.Signing.Keyless.TrustedRoot}} {
		if f.path == "" {
			continue
		}
		if err := relPath(f.path); err != "" {
			c.add(f.field, "%s", err)
		}
	}
	checkPlatforms(c, "images.platforms", p.Images.Platforms)
	labels := map[string]bool{}
	for i, l := range p.Images.RequiredLabels {
		f := fmt.Sprintf("images.requiredLabels[%d]", i)
		switch {
		case l == "" || strings.ContainsAny(l, " \t=\"'"):
			c.add(f, "%q is not a label key", l)
		case labels[l]:
			c.add(f, "%q is listed twice", l)
		}
		labels[l] = true
	}
}

// Within reports whether the repository path p is dir or lies below it
// ("." holds everything).
func Within(p, dir string) bool {
	p, dir = path.Clean(p), path.Clean(dir)
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

// relPath checks a path is relative, clean and stays inside the repository.
func relPath(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case path.IsAbs(p):
		return fmt.Sprintf("%q must be relative to the repository root", p)
	case path.Clean(p) != strings.TrimSuffix(p, "/") || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Sprintf("%q must be a clean path inside the repository", p)
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var languages = []string{"go", "python", "node", "java", "dotnet", "rust", "docker"}

func (s *Service) validate(fsys fs.FS, c collector) {
	if !dnsLabel.MatchString(s.Name) {
		c.add("name", "%q is not a valid service name (lower-case letters, digits and dashes, at most 63)", s.Name)
	}
	if !contains(languages, s.Language) {
		c.add("language", "%q is not a supported language (one of %s)", s.Language, strings.Join(languages, ", "))
	}
	dfField, ctxField := "dockerfile", "build.context"
	if s.Build.Dockerfile != "" {
		dfField = "build.dockerfile"
	}
	df := path.Join(s.Dir, s.Dockerfile)
	ctxOK := true
	if err := relPath(s.Context); err != "" {
		c.add(ctxField, "%s", err)
		ctxOK = false
	} else if st, err := fs.Stat(fsys, s.Context); err != nil || !st.IsDir() {
		c.add(ctxField, "%s is not a directory of the repository", s.Context)
		ctxOK = false
	}
	switch {
	case path.IsAbs(s.Dockerfile) || strings.HasPrefix(path.Clean(s.Dockerfile), ".."):
		c.add(dfField, "%q must be a path inside the service directory", s.Dockerfile)
	case !exists(fsys, df):
		c.add(dfField, "%s does not exist", df)
	case ctxOK && !Within(df, s.Context):
		if s.Build.Context != "" {
			dfField = ctxField
		}
		c.add(dfField, "%s is outside the build context %s: the Dockerfile is read from the context; move it, or set build.context to a directory that holds it", df, s.Context)
	}
	if !imageName.MatchString(s.Image) {
		c.add("image", "%q is not a valid repository name (lower-case letters, digits, . _ - /)", s.Image)
	}
	if s.Port < 1 || s.Port > 65535 {
		c.add("port", "%d is not a TCP port (1-65535)", s.Port)
	}
	for i, sh := range s.Shared {
		if err := relPath(sh); err != "" {
			c.add(fmt.Sprintf("shared[%d]", i), "%s", err)
		} else if !exists(fsys, sh) {
			c.add(fmt.Sprintf("shared[%d]", i), "%s does not exist", sh)
		}
	}
	if s.Test.Target != "" && s.Test.Unit != "" && s.unitSet {
		c.add("test.target", "test.unit is set too: the stage takes the place of the unit test command; keep one")
	}
	if !s.Test.Skip && s.Test.Image == "" && (s.Test.Unit != "" || s.Test.Integration != "") {
		c.add("test.image", "no default test image for language %q: set test.image", s.Language)
	}
	switch s.Smoke.Protocol {
	case "http", "grpc", "tcp":
	default:
		c.add("smoke.protocol", "%q is not a probe protocol (http, grpc or tcp)", s.Smoke.Protocol)
	}
	if s.Smoke.Protocol != "http" && (len(s.Smoke.Requests) > 0 || s.Smoke.ExpectStatus != 0) {
		c.add("smoke.protocol", "smoke.requests and smoke.expectStatus are HTTP: they do not apply to %s", s.Smoke.Protocol)
	}
	checkEnv(c, "test.env", s.Test.Env)
	checkCommands(c, "test.setup", s.Test.Setup)
	checkPlatforms(c, "build.platforms", s.Platforms)
	for i, id := range s.BuildSecrets {
		if !envVarName.MatchString(id) {
			c.add(fmt.Sprintf("build.secrets[%d]", i), "%q is not a secret id (letters, digits and _, as in RUN --mount=type=secret,id=ID)", id)
		}
	}
	checkEnv(c, "env", s.Env)
	names := map[string]bool{}
	for i, d := range s.Dependencies {
		f := fmt.Sprintf("dependencies[%d]", i)
		switch {
		case !dnsLabel.MatchString(d.Name):
			c.add(f+".name", "%q is not a valid host name", d.Name)
		case names[d.Name]:
			c.add(f+".name", "dependency %q is declared twice", d.Name)
		}
		names[d.Name] = true
		if d.Image == "" {
			c.add(f+".image", "must name the image to run, e.g. postgres:15-bookworm")
		}
		if d.Port < 1 || d.Port > 65535 {
			c.add(f+".port", "%d is not a TCP port (1-65535)", d.Port)
		}
		checkEnv(c, f+".env", d.Env)
	}
	if !strings.HasPrefix(s.Smoke.Path, "/") {
		c.add("smoke.path", "%q must start with /", s.Smoke.Path)
	}
	if st := s.Smoke.ExpectStatus; st != 0 && (st < 100 || st > 599) {
		c.add("smoke.expectStatus", "%d is not an HTTP status", st)
	}
	if s.Smoke.Timeout.D() <= 0 || s.Smoke.Timeout.D() > 10*time.Minute {
		c.add("smoke.timeout", "must be between 1s and 10m")
	}
	for i, r := range s.Smoke.Requests {
		f := fmt.Sprintf("smoke.requests[%d]", i)
		if !strings.HasPrefix(r.Path, "/") {
			c.add(f+".path", "%q must start with /", r.Path)
		}
		if r.Status < 100 || r.Status > 599 {
			c.add(f+".status", "%d is not an HTTP status", r.Status)
		}
	}
	switch s.Deploy.Kind {
	case "kustomize", "helm", "manifest":
	default:
		c.add("deploy.kind", "%q is not a deploy kind (kustomize, helm or manifest)", s.Deploy.Kind)
	}
	if s.Deploy.Create && s.Deploy.Kind != "kustomize" {
		c.add("deploy.create", "only a kustomize images entry can be created (deploy.kind is %s)", s.Deploy.Kind)
	}
	if s.Deploy.Kind == "manifest" && s.Deploy.File == "" {
		c.add("deploy.file", "is required for deploy.kind manifest (the file holding the Deployment, relative to the environment directory)")
	} else if s.Deploy.File != "" {
		// A leading / means the GitOps repository's root rather than the
		// environment's directory.
		if err := relPath(strings.TrimPrefix(s.Deploy.File, "/")); err != "" {
			c.add("deploy.file", "%s", err)
		}
	}
}

// checkCommands refuses empty shell commands in a list.
func checkCommands(c collector, field string, cmds []string) {
	for i, cmd := range cmds {
		if strings.TrimSpace(cmd) == "" {
			c.add(fmt.Sprintf("%s[%d]", field, i), "empty command")
		}
	}
}

func checkEnv(c collector, field string, env map[string]string) {
	for k := range env {
		if !envVarName.MatchString(k) {
			c.add(field, "%q is not a valid environment variable name", k)
		}
		if looksSecret(k) {
			c.add(field+"."+k, "looks like a secret: configuration files are not for secrets (pass them as Dagger secrets)")
		}
	}
}

// looksSecret flags variable names that conventionally hold credentials,
// unless they are clearly test fixtures (the value is not inspected).
func looksSecret(name string) bool {
	n := strings.ToUpper(name)
	for _, w := range []string{"TOKEN", "API_KEY", "SECRET", "PRIVATE_KEY"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// crossValidate checks references between files: deploy environments must
// exist and service and image names must be unique.
func (cfg *Config) crossValidate(errs *Errors) {
	envs := map[string]bool{}
	for _, e := range cfg.Project.Environments {
		envs[e.Name] = true
	}
	names := map[string]string{}
	images := map[string]string{}
	for _, s := range cfg.Services {
		file, prefix := s.File, ""
		if file == "" {
			file = path.Join(s.Dir, "Dockerfile")
		}
		if _, ok := cfg.Project.ServiceConfig[s.Dir]; ok {
			file, prefix = ProjectFile, "serviceConfig."+s.Dir+"."
		}
		if other, ok := names[s.Name]; ok {
			*errs = append(*errs, &Error{File: file, Field: prefix + "name", Msg: fmt.Sprintf("service name %q is also used by %s", s.Name, other)})
		}
		names[s.Name] = s.Dir
		if other, ok := images[s.Image]; ok {
			*errs = append(*errs, &Error{File: file, Field: prefix + "image", Msg: fmt.Sprintf("image %q is also used by service %s", s.Image, other)})
		}
		images[s.Image] = s.Name
		for i, e := range s.Deploy.Environments {
			if !envs[e] {
				*errs = append(*errs, &Error{File: file, Field: fmt.Sprintf("%sdeploy.environments[%d]", prefix, i), Msg: fmt.Sprintf("unknown environment %q (slipway.yaml declares %s)", e, strings.Join(cfg.EnvironmentNames(), ", "))})
			}
		}
	}
}

// checkIdentities validates keyless signer identities.
func checkIdentities(c collector, field string, ids []Identity) {
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		if (id.Issuer == "") == (id.IssuerRegexp == "") {
			c.add(f, "give exactly one of issuer and issuerRegexp (the OIDC issuer, e.g. %s)", "https://token.actions.githubusercontent.com")
		}
		if (id.Subject == "") == (id.SubjectRegexp == "") {
			c.add(f, "give exactly one of subject and subjectRegexp (the certificate identity, e.g. https://github.com/OWNER/REPO/.github/workflows/ci.yml@refs/heads/main)")
		}
		for _, re := range []struct{ name, v string }{{"issuerRegexp", id.IssuerRegexp}, {"subjectRegexp", id.SubjectRegexp}} {
			if re.v == "" {
				continue
			}
			if _, err := regexp.Compile(re.v); err != nil {
				c.add(f+"."+re.name, "%q is not a regular expression: %v", re.v, err)
			}
		}
		if id.Workflow != "" && (strings.HasPrefix(id.Workflow, "/") || strings.Contains(id.Workflow, "@")) {
			c.add(f+".workflow", "%q: give the workflow file's path in the repository, e.g. .github/workflows/ci.yml", id.Workflow)
		}
		if id.Repository != "" && strings.Count(id.Repository, "/") != 1 {
			c.add(f+".repository", "%q is not owner/name", id.Repository)
		}
	}
}

// validateGates checks an environment's cluster and promotion gates.
func (e Environment) validateGates(c collector, f string, envs []Environment) {
	if cl := e.Cluster; cl != nil {
		if !contains(ClusterControllers, cl.Controller) {
			c.add(f+".cluster.controller", "%q is not a GitOps controller slipway reads (one of %s)", cl.Controller, strings.Join(ClusterControllers, ", "))
		}
		if cl.Controller != "none" && cl.Controller != "" && len(cl.Objects) == 0 {
			c.add(f+".cluster.objects", "lists no %s object (namespace/name of the %s that applies %s)", cl.Controller, map[string]string{"flux": "Kustomization", "argocd": "Application"}[cl.Controller], e.Name)
		}
		if cl.Controller == "none" && len(cl.Objects) > 0 {
			c.add(f+".cluster.objects", "controller is none: there is no object to read (remove objects, or name the controller)")
		}
		for i, o := range cl.Objects {
			if ns, name, ok := strings.Cut(o, "/"); !ok || !dnsLabel.MatchString(ns) || name == "" || strings.Contains(name, "/") {
				c.add(fmt.Sprintf("%s.cluster.objects[%d]", f, i), "%q is not namespace/name", o)
			}
		}
		for i, ns := range cl.Namespaces {
			if !dnsLabel.MatchString(ns) {
				c.add(fmt.Sprintf("%s.cluster.namespaces[%d]", f, i), "%q is not a namespace name", ns)
			}
		}
		if cl.Timeout < 0 {
			c.add(f+".cluster.timeout", "%s is negative", cl.Timeout.D())
		}
		for i, pr := range cl.Probes {
			pf := fmt.Sprintf("%s.cluster.probes[%d]", f, i)
			n := 0
			for _, v := range []string{pr.HTTP, pr.GRPC, pr.TCP} {
				if v != "" {
					n++
				}
			}
			if n != 1 {
				c.add(pf, "give exactly one of http, grpc and tcp")
			}
			if pr.Service == "" {
				c.add(pf+".service", "names no service")
			}
			if pr.HTTP != "" && !strings.HasPrefix(pr.HTTP, "http://") && !strings.HasPrefix(pr.HTTP, "https://") {
				c.add(pf+".http", "%q is not an http(s) URL", pr.HTTP)
			}
			for _, hp := range []struct{ name, v string }{{"grpc", pr.GRPC}, {"tcp", pr.TCP}} {
				if hp.v == "" {
					continue
				}
				if _, port, err := net.SplitHostPort(hp.v); err != nil || port == "" {
					c.add(pf+"."+hp.name, "%q is not host:port", hp.v)
				}
			}
			if pr.Status != 0 && (pr.Status < 100 || pr.Status > 599) {
				c.add(pf+".status", "%d is not an HTTP status", pr.Status)
			}
		}
	}
	for i, v := range e.RequireVerifiedIn {
		vf := fmt.Sprintf("%s.requireVerifiedIn[%d]", f, i)
		var src *Environment
		for j := range envs {
			if envs[j].Name == v {
				src = &envs[j]
			}
		}
		switch {
		case v == e.Name:
			c.add(vf, "%q is this environment: an image is verified here only after it is promoted", v)
		case src == nil:
			c.add(vf, "%q is not a declared environment", v)
		case src.Cluster == nil:
			c.add(vf, "environment %s has no cluster: nothing can be verified there (give it environments[].cluster)", v)
		}
	}
	if e.MinSoak < 0 {
		c.add(f+".minSoak", "%s is negative (a duration such as 2h)", e.MinSoak.D())
	}
	for i, k := range e.Approvers.Keys {
		if err := relPath(k); err != "" {
			c.add(fmt.Sprintf("%s.approvers.keys[%d]", f, i), "%s", err)
		}
	}
	checkIdentities(c, f+".approvers.identities", e.Approvers.Identities)
	if e.RequireApproval && len(e.Approvers.Keys) == 0 && len(e.Approvers.Identities) == 0 && e.Mode != "pull-request" {
		c.add(f+".requireApproval", "no approvers: list approvers.keys (cosign public keys) or approvers.identities (keyless signers)")
	}
}
