package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/slipwayci/slipway/internal/registry"
	"github.com/slipwayci/slipway/internal/report"
	"github.com/slipwayci/slipway/internal/signing"
	"github.com/slipwayci/slipway/internal/testutil"
)

// registryView is what the registry says about one digest: the tags that
// name it and the manifest digest of its cosign signature tag ("" when
// there is none).
type registryView struct {
	tags []string
	sig  string
}

func viewOf(t *testing.T, repo, digest string) registryView {
	t.Helper()
	tags, err := crane.ListTags(repo)
	if err != nil {
		t.Fatal(err)
	}
	var v registryView
	for _, tg := range tags {
		if strings.HasPrefix(tg, "sha256-") {
			continue
		}
		if d, err := crane.Digest(repo + ":" + tg); err == nil && d == digest {
			v.tags = append(v.tags, tg)
		}
	}
	v.sig, _ = crane.Digest(repo + ":" + strings.Replace(digest, ":", "-", 1) + ".sig")
	return v
}

// cosignVerifies runs the stock cosign CLI against repo@digest with the
// project's public key.
func (r *slipwayRun) cosignVerifies(repo, digest string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.Tool(r.t, "cosign"), "verify", "--key", r.pubFile, "--insecure-ignore-tlog=true",
		"--allow-http-registry", "--allow-insecure-registry", repo+"@"+digest)
	cmd.Env = append(os.Environ(), "COSIGN_EXPERIMENTAL=0", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1")
	if b, err := cmd.CombinedOutput(); err != nil {
		r.t.Errorf("cosign verify %s@%s: %v\n%s", repo, digest, err, b)
	}
}

// signatures returns `images --format json`'s signature state per
// service and tag.
func (r *slipwayRun) signatures() map[string]map[string]string {
	r.t.Helper()
	r.mustCall("images", "--format", "json")
	var repos []struct {
		Repository string
		Tags       []struct{ Tag, Digest, Signature string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &repos); err != nil {
		r.t.Fatalf("images JSON: %v\n%s", err, r.stdout)
	}
	out := map[string]map[string]string{}
	for _, repo := range repos {
		svc := repo.Repository[strings.LastIndex(repo.Repository, "/")+1:]
		out[svc] = map[string]string{}
		for _, tg := range repo.Tags {
			out[svc][tg.Tag] = tg.Signature
		}
	}
	return out
}

func noteWith(rep *report.Report, parts ...string) bool {
	for _, n := range rep.Notes {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(n, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestModuleReuseTrustsOnlyProvenImages plants images under the input tags
// of the services, as anyone with push access to the registry could (input
// digests follow from public source): ci must neither sign nor deploy them,
// and must rebuild and say why. A denylisted digest is never reused either.
// Then --force moves a commit's tag only in the open, and a reused image
// goes through the same vulnerability gate as a new one.
func TestModuleReuseTrustsOnlyProvenImages(t *testing.T) {
	r := newSlipwayRun(t)
	ctx := context.Background()

	// 1. A first run publishes the three services, signed.
	r.mustCall("ci")
	first := byName(r.lastReport())
	reg := r.exposeRegistry()
	repoOf := func(svc string) string { return strings.Replace(first[svc].Repository, "registry:5000", reg, 1) }
	sigs := r.signatures()
	for _, svc := range []string{"orders", "catalog", "notify"} {
		if first[svc].Status != report.Built || sigs[svc][r.git("rev-parse", "HEAD")] != "verified" {
			t.Fatalf("%s after the first run: %+v, images says %v", svc, first[svc], sigs[svc])
		}
	}

	// 2. Plant: orders gets an unsigned image under its input tag, catalog
	//    one signed (for catalog) by another key; both carry the right
	//    label. notify's real image is rejected.
	c, err := registry.New(registry.WithInsecure(reg))
	if err != nil {
		t.Fatal(err)
	}
	plant := func(svc string) string {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", "amd64"
		cf.Config.Labels = map[string]string{registry.InputDigestLabel: first[svc].InputDigest, "dev.slipway.service": svc}
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		it, _ := registry.InputTag(first[svc].InputDigest)
		d, err := c.PushImage(ctx, img, repoOf(svc)+":"+it, repoOf(svc)+":planted")
		if err != nil {
			t.Fatal(err)
		}
		return d.DigestStr()
	}
	plantedOrders, plantedCatalog := plant("orders"), plant("catalog")
	kp, err := signing.GenerateKeyPair([]byte("attacker"))
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := signing.LoadSigner(kp.PrivateKeyPEM, []byte("attacker"), signing.WithRegistry(c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attacker.Sign(ctx, repoOf("catalog")+"@"+plantedCatalog, map[string]string{signing.AnnotationService: "catalog"}); err != nil {
		t.Fatal(err)
	}
	r.mustCall("reject", "--digest", first["notify"].Digest, "--reason", "e2e: rejected build")

	// images tells the planted images from the real ones.
	sigs = r.signatures()
	if sigs["orders"]["planted"] != "unsigned" || sigs["catalog"]["planted"] != "invalid" {
		t.Errorf("images on the planted images: orders %v, catalog %v", sigs["orders"], sigs["catalog"])
	}
	before := map[string]registryView{"orders": viewOf(t, repoOf("orders"), plantedOrders), "catalog": viewOf(t, repoOf("catalog"), plantedCatalog),
		"notify": viewOf(t, repoOf("notify"), first["notify"].Digest)}
	if before["orders"].sig != "" || before["catalog"].sig == "" {
		t.Fatalf("planted: %+v", before)
	}
	commitsBefore, devBefore := r.gitopsState()

	// 3. The next commit's ci rebuilds all three and says why.
	r.edit("slipway.yaml", func(s string) string { return s + "# a change that touches no service's inputs\n" })
	second := r.commit("touch the configuration's comments")
	r.mustCall("ci")
	rep := r.lastReport()
	got := byName(rep)
	t.Logf("notes of the run after the plant:\n%s", strings.Join(rep.Notes, "\n"))
	for svc, want := range map[string][]string{
		"orders":  {"orders: input-digest image " + plantedOrders, "has no valid signature by the configured key", "rebuilt"},
		"catalog": {"catalog: input-digest image " + plantedCatalog, "has no valid signature by the configured key", "rebuilt"},
		"notify":  {"notify: input-digest image " + first["notify"].Digest, "is denylisted", "e2e: rejected build", "rebuilt"},
	} {
		if got[svc].Status != report.Built {
			t.Errorf("%s: %+v", svc, got[svc])
		}
		if !noteWith(rep, want...) {
			t.Errorf("no note says %q:\n%s", want, strings.Join(rep.Notes, "\n"))
		}
	}
	after := map[string]registryView{"orders": viewOf(t, repoOf("orders"), plantedOrders), "catalog": viewOf(t, repoOf("catalog"), plantedCatalog),
		"notify": viewOf(t, repoOf("notify"), first["notify"].Digest)}
	for svc, b := range before {
		a := after[svc]
		if a.sig != b.sig || slices.Contains(a.tags, second) {
			t.Errorf("%s: the refused image was signed or tagged: before %+v, after %+v", svc, b, a)
		}
	}
	commitsAfter, devAfter := r.gitopsState()
	for _, d := range []string{plantedOrders, plantedCatalog, first["notify"].Digest} {
		if strings.Contains(devAfter, d) {
			t.Errorf("dev runs the refused image %s:\n%s", d, devAfter)
		}
	}
	for _, svc := range []string{"orders", "catalog", "notify"} {
		if !strings.Contains(devAfter, got[svc].Digest) {
			t.Errorf("dev does not run the rebuilt %s %s:\n%s", svc, got[svc].Digest, devAfter)
		}
		r.cosignVerifies(repoOf(svc), got[svc].Digest)
	}
	if commitsAfter != commitsBefore+1 || devAfter == devBefore {
		t.Errorf("GitOps: %d commits before, %d after", commitsBefore, commitsAfter)
	}

	// 4. --force on a commit that already has its tag: the tag moves, and the
	//    report names the old and the new digest.
	r.mustCall("ci", "--force", "--service", "orders")
	rep = r.lastReport()
	forced := byName(rep)["orders"]
	t.Logf("notes of the forced run:\n%s", strings.Join(rep.Notes, "\n"))
	mv := forced.Moved
	if forced.Status != report.Built || mv == nil || mv.Tag != second || mv.From != got["orders"].Digest || mv.To != forced.Digest || mv.From == mv.To {
		t.Fatalf("forced orders: %+v (moved %+v), before %s", forced, mv, got["orders"].Digest)
	}
	if !noteWith(rep, "--force moved tag "+second, got["orders"].Digest, forced.Digest) {
		t.Errorf("no note names the move:\n%s", strings.Join(rep.Notes, "\n"))
	}
	if d, _ := crane.Digest(repoOf("orders") + ":" + second); d != forced.Digest {
		t.Errorf("orders:%s names %s, want %s", second, d, forced.Digest)
	}
	r.cosignVerifies(repoOf("orders"), forced.Digest)

	// 5. With scanning on, reused images are scanned under the same gate as
	//    new ones: catalog passes and is reused; orders (whose Go standard
	//    library the test database marks critical) fails at scan, untagged.
	r.edit("slipway.yaml", func(s string) string { return s + "# another\n" })
	third := r.commit("another comment")
	out, err := r.call("--vuln-db", writeVulnDB(t), "ci", "--service", "orders", "--service", "catalog")
	if err == nil {
		t.Fatalf("ci reused an image that fails the scan gate:\n%s", tail(out, 30))
	}
	rep = r.lastReport()
	got3 := byName(rep)
	t.Logf("the gated run:\n%s", rep.Text())
	if o := got3["orders"]; o.Status != report.Failed || o.Stage != "scan" || !strings.Contains(strings.Join(o.Blocked, ","), "2099-0101") {
		t.Errorf("orders, reused but blocked: %+v", o)
	}
	if !untagged(t, repoOf("orders")+":"+third) {
		t.Error("orders was tagged for a commit although its reused image fails the gate")
	}
	scanned := func(s report.Service) bool {
		for _, d := range s.Durations {
			if d.Stage == "scan" {
				return true
			}
		}
		return false
	}
	if cat := got3["catalog"]; cat.Status != report.Reused || cat.Digest != got["catalog"].Digest || !scanned(cat) {
		t.Errorf("catalog, reused and scanned: %+v", cat)
	}
	if d, _ := crane.Digest(repoOf("catalog") + ":" + third); d != got["catalog"].Digest {
		t.Errorf("catalog:%s names %s, want %s", third, d, got["catalog"].Digest)
	}
}
