package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipwayci/slipway/internal/ghpackages/ghpackagestest"
	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/report"
)

// TestModulePruneThroughThePackagesAPI: a registry like ghcr.io, which
// deletes nothing through the registry API, pruned through the module with
// --packages-api pointing at a stand-in of GitHub's packages API (held to
// its documented endpoints). The replaced orders image goes, with its
// signature, through the API; what dev runs stays; nothing is reported
// deleted that the API did not delete.
func TestModulePruneThroughThePackagesAPI(t *testing.T) {
	ip := bridgeAddr(t)
	const token = "ghp-e2e-packages-token"
	t.Setenv("SLIPWAY_E2E_REGISTRY_PASSWORD", token)
	base := registrytest.Handler()
	host := serveOn(t, ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && r.Header.Get("X-Packages-Stand-In") != "1" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
			return
		}
		base.ServeHTTP(w, r)
	}))
	r := newSlipwayRun(t)
	r.edit("slipway.yaml", func(s string) string {
		return strings.Replace(s, `  address: ""`, fmt.Sprintf("  address: %q\n  insecure: [%q]", host, host), 1)
	})
	r.commit("a registry that deletes only through its packages API")
	r.moduleArgs = []string{"--registry-username", "ci-bot", "--registry-password", "env://SLIPWAY_E2E_REGISTRY_PASSWORD"}

	r.mustCall("ci", "--service", "orders")
	old := byName(r.lastReport())["orders"].Digest
	if err := os.WriteFile(filepath.Join(r.fixture, "services/orders/CHANGELOG.md"), []byte("replaces the first image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.commit("orders: replaces the first image")
	r.mustCall("ci", "--service", "orders")
	current := byName(r.lastReport())["orders"].Digest

	// Every manifest of orders is a package version, as ghcr.io shows it.
	repo := host + "/" + r.project + "/orders"
	plain := []crane.Option{func(o *crane.Options) { o.Name = append(o.Name, name.Insecure) }, crane.WithTransport(&http.Transport{})}
	api := &ghpackagestest.StandIn{Owner: r.project, Org: true, Token: token}
	tags, err := crane.ListTags(repo, plain...)
	if err != nil {
		t.Fatal(err)
	}
	byDigest := map[string][]string{}
	for _, tag := range tags {
		d, err := crane.Digest(repo+":"+tag, plain...)
		if err != nil {
			t.Fatal(err)
		}
		byDigest[d] = append(byDigest[d], tag)
	}
	for d, ts := range byDigest {
		api.Add("orders", d, ts...)
	}
	api.OnDelete = func(pkg string, v ghpackagestest.Version) error {
		for _, ref := range append(v.Tags, v.Digest) {
			req, _ := http.NewRequest(http.MethodDelete, "http://"+host+"/v2/"+r.project+"/"+pkg+"/manifests/"+ref, nil)
			req.Header.Set("X-Packages-Stand-In", "1")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
		}
		return nil
	}
	apiURL := "http://" + serveOn(t, ip, api)

	r.mustCall("prune", "--older-than", "1ns", "--keep", "0", "--service", "orders", "--apply", "--packages-api", apiURL)
	rep := r.lastReportOf(report.Prune)
	if _, err := crane.Digest(repo+"@"+old, plain...); err == nil {
		t.Errorf("the replaced image %s is still in the registry", old)
	}
	if _, err := crane.Digest(repo+"@"+current, plain...); err != nil {
		t.Errorf("the image dev runs, %s, is gone: %v", current, err)
	}
	if !rep.OK() || rep.Count(report.Pruned) != 1 {
		t.Errorf("prune report: ok %v, pruned %d:\n%s", rep.OK(), rep.Count(report.Pruned), rep.Text())
	}
	deletes := 0
	for _, c := range api.Calls() {
		if strings.HasPrefix(c, "DELETE /orgs/"+r.project+"/packages/container/orders/versions/") {
			deletes++
		}
	}
	if deletes < 2 { // the image and its signature at least
		t.Errorf("%d versions deleted through the API: %q", deletes, api.Calls())
	}
	if v := api.Violations(); len(v) > 0 {
		t.Errorf("requests outside the documented API: %q", v)
	}
}
