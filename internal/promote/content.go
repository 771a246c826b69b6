package promote

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/slipwayci/slipway/internal/config"
	"github.com/slipwayci/slipway/internal/provenance"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testout"
	"github.com/slipwayci/slipway/internal/vuln"
)

// ErrAttestation: a required attestation verifies, but what it says does
// not let the image into the environment (tests that did not pass, a scan
// that fails the policy or is too old, provenance of another service,
// repository or commit, an SBOM of another image).
var ErrAttestation = errors.New("attestation content refused")

// contentError is a refusal for what a verified attestation says. Its text
// is the reason alone; it matches ErrAttestation.
type contentError struct{ msg string }

func (e *contentError) Error() string        { return e.msg }
func (e *contentError) Is(target error) bool { return target == ErrAttestation }

func refusef(format string, args ...any) error {
	return &contentError{fmt.Sprintf(format, args...)}
}

// IgnoreLoader returns the vulnerability ignore entries that apply to a
// service (the same files ci reads), to re-judge attested findings.
type IgnoreLoader func(config.Service) (vuln.IgnoreList, error)

// content holds what judging the attestations of one candidate needs.
type content struct {
	env    config.Environment
	svc    config.Service
	digest string
	// sourceURL is the configured source repository ("" when the
	// promotion was not told one).
	sourceURL string
	// signedCommits are the source-commit annotations of the verified
	// signatures that name the service.
	signedCommits []string
	// rescanned is set when a re-scan under env's policy decides the
	// vulnerability gate.
	rescanned bool
	ignores   IgnoreLoader
	now       time.Time
	// decision is the re-judged vulnerability gate, for the report.
	decision *vuln.Decision
}

// judge returns nil when one of the statements of kind satisfies the
// environment, else the reason (of the most recent vuln scan; of the first
// statement for the other kinds).
func (ct *content) judge(kind string, sts []signing.Statement) error {
	if kind == "vuln" {
		return ct.judgeVuln(sts)
	}
	var first error
	for _, st := range sts {
		err := ct.subject(kind, st)
		if err == nil {
			switch kind {
			case "test":
				err = ct.judgeTest(st.Predicate)
			case "slsa":
				err = ct.judgeSLSA(st.Predicate)
			case "sbom":
				err = ct.judgeSBOM(st.Predicate)
			}
		}
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = refusef("no %s attestation to judge", kind)
	}
	return first
}

// subject checks that the statement is about exactly the digest promoted.
func (ct *content) subject(kind string, st signing.Statement) error {
	alg, hex, _ := strings.Cut(ct.digest, ":")
	if len(st.Subject) != 1 || st.Subject[0].Digest[alg] != hex || len(st.Subject[0].Digest) != 1 {
		var about []string
		for _, s := range st.Subject {
			for a, h := range s.Digest {
				about = append(about, a+":"+h)
			}
		}
		sort.Strings(about)
		return refusef("%s attestation's subject is %s, not exactly %s", kind, orNothing(strings.Join(about, ", ")), ct.digest)
	}
	return nil
}

// serviceFile names the service's configuration file for messages.
func (ct *content) serviceFile() string { return serviceFile(ct.svc) }

func (ct *content) judgeTest(pred json.RawMessage) error {
	rep, err := provenance.ReadTestResult(pred)
	if err != nil {
		return refusef("test attestation cannot be read: %v", err)
	}
	if rep.Service != ct.svc.Name {
		return refusef("test attestation is about service %s, not %s", orNothing(rep.Service), ct.svc.Name)
	}
	if rep.Suites == nil {
		return refusef("test attestation records no per-kind results (unit, integration), so it cannot say the tests passed; publish the image again with this version of slipway")
	}
	need := []string{"unit"}
	if ct.svc.Test.Integration != "" {
		need = append(need, "integration")
	}
	for _, kind := range need {
		s, ok := rep.Suites[kind]
		if ok && s.Status == testout.Passed {
			continue
		}
		said := "records no " + kind + " tests"
		if ok {
			said = "says " + kind + " tests " + statusPhrase(s.Status)
			if s.Reason != "" {
				said += " (" + s.Reason + ")"
			}
		}
		why := ct.env.Name + " requires passed " + kind + " tests"
		if kind == "integration" {
			why += " (" + ct.svc.Name + " declares them: " + ct.serviceFile() + " test.integration)"
		}
		return refusef("test attestation %s; %s", said, why)
	}
	return nil
}

// statusPhrase makes a suite status read as a sentence's end.
func statusPhrase(status string) string {
	switch status {
	case testout.Failed:
		return "failed"
	case testout.NotConfigured:
		return "were not configured"
	case testout.Skipped:
		return "were skipped"
	}
	return fmt.Sprintf("are %q", status)
}

// normalRepo makes repository URLs comparable: scp-like addresses as
// ssh:// URLs, without "git+", a trailing slash or ".git".
func normalRepo(u string) string {
	u = provenance.RepositoryURL(strings.TrimPrefix(strings.TrimSpace(u), "git+"))
	u = strings.TrimSuffix(strings.TrimSuffix(u, "/"), ".git")
	return strings.ToLower(u)
}

func (ct *content) judgeSLSA(pred json.RawMessage) error {
	f, err := provenance.ReadSLSA(pred)
	if err != nil {
		return refusef("slsa attestation cannot be read: %v", err)
	}
	if f.BuildType != provenance.BuildType {
		return refusef("slsa attestation's build type is %s, not slipway's (%s): it does not say which service, repository and commit were built", orNothing(f.BuildType), provenance.BuildType)
	}
	if f.Service != ct.svc.Name {
		return refusef("slsa attestation says the image was built for service %s, not %s", orNothing(f.Service), ct.svc.Name)
	}
	if ct.sourceURL != "" && normalRepo(f.Repository) != normalRepo(ct.sourceURL) {
		return refusef("slsa attestation says the image was built from %s, not the configured source %s", orNothing(f.Repository), ct.sourceURL)
	}
	if f.Dirty {
		return refusef("slsa attestation says the image was built from a tree with uncommitted changes (commit %s, dirty); %s requires provenance of committed source", orNothing(f.Commit), ct.env.Name)
	}
	for _, c := range ct.signedCommits {
		if c == f.Commit {
			return nil
		}
	}
	if len(ct.signedCommits) == 0 {
		return refusef("slsa attestation's commit %s cannot be checked: no valid signature of service %s records a source commit (dev.slipway.source-commit)", orNothing(f.Commit), ct.svc.Name)
	}
	return refusef("slsa attestation says the image was built from commit %s, but its signature records %s", orNothing(f.Commit), strings.Join(ct.signedCommits, ", "))
}

func (ct *content) judgeSBOM(pred json.RawMessage) error {
	subj, err := provenance.ReadCycloneDXSubject(pred)
	if err != nil {
		return refusef("sbom attestation: %v", err)
	}
	if subj.Version != ct.digest && !strings.Contains(subj.PURL, "@"+ct.digest) && !strings.Contains(subj.PURL, "@"+strings.Replace(ct.digest, ":", "%3A", 1)) {
		return refusef("sbom attestation describes %s, not %s (metadata.component)", orNothing(subj.Version), ct.digest)
	}
	image := provenance.PURLName(subj.PURL)
	if image == "" && subj.Name != ct.digest {
		image = path.Base(subj.Name)
	}
	if image != ct.svc.Image {
		return refusef("sbom attestation describes image %s, not %s's image %s (metadata.component)", orNothing(image), ct.svc.Name, ct.svc.Image)
	}
	return nil
}

// judgeVuln judges the most recent scan: it must name the service; when no
// re-scan runs, it must be recent enough (maxScanAge) and its findings must
// pass the environment's policy with the service's ignore files.
func (ct *content) judgeVuln(sts []signing.Statement) error {
	type scan struct {
		st    signing.Statement
		facts provenance.ScanFacts
	}
	var scans []scan
	var first error
	for _, st := range sts {
		if err := ct.subject("vuln", st); err != nil {
			first = cmpErr(first, err)
			continue
		}
		f, err := provenance.ReadVulnScan(st.Predicate)
		if err != nil {
			first = cmpErr(first, refusef("vuln attestation cannot be read: %v", err))
			continue
		}
		scans = append(scans, scan{st, f})
	}
	if len(scans) == 0 {
		if first == nil {
			first = refusef("no vuln attestation to judge")
		}
		return first
	}
	sort.SliceStable(scans, func(i, j int) bool { return scans[i].facts.FinishedOn.After(scans[j].facts.FinishedOn) })
	s := scans[0].facts
	if s.Service != ct.svc.Name {
		return refusef("vuln attestation is a scan of service %s, not %s", orNothing(s.Service), ct.svc.Name)
	}
	if ct.rescanned {
		return nil
	}
	when := s.FinishedOn.UTC().Format(time.RFC3339)
	if max := ct.env.MaxScanAge.D(); max > 0 && ct.now.Sub(s.FinishedOn) > max {
		return refusef("vuln attestation's scan finished %s, %s ago: older than %s's maxScanAge %s; re-scan it (ci with --vuln-db) or promote with a vulnerability database", when, ct.now.Sub(s.FinishedOn).Round(time.Second), ct.env.Name, ct.env.MaxScanAge.D())
	}
	var findings []vuln.Finding
	if len(s.Findings) > 0 && string(s.Findings) != "null" {
		if err := json.Unmarshal(s.Findings, &findings); err != nil {
			return refusef("vuln attestation's findings cannot be read: %v", err)
		}
	} else {
		return refusef("vuln attestation records no findings list (scanner.result.findings), so it cannot be judged under %s's policy", ct.env.Name)
	}
	var ignores vuln.IgnoreList
	if ct.ignores != nil {
		var err error
		if ignores, err = ct.ignores(ct.svc); err != nil {
			return refusef("reading the vulnerability ignore files of %s: %v", ct.svc.Name, err)
		}
	}
	d := vuln.Evaluate(findings, ct.env.Policy, ignores, ct.now)
	ct.decision = &d
	if !d.Pass {
		return refusef("vuln attestation's scan (finished %s) fails %s's policy (failOn %s): %s", when, ct.env.Name, ct.env.Policy.FailOn, strings.Join(d.Reasons, "; "))
	}
	return nil
}

func cmpErr(first, err error) error {
	if first == nil {
		return err
	}
	return first
}

func orNothing(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
