package retention

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/ghpackages"
	"github.com/slipwayci/slipway/internal/ghpackages/ghpackagestest"
)

// packagesOnly is a registry that deletes nothing through the registry API
// (as ghcr.io): every DELETE is 405 UNSUPPORTED unless it comes from the
// packages API stand-in, which deletes a version's manifest and, with it,
// every tag naming it.
func packagesOnly(next http.Handler) http.Handler {
	digestOnly := digestOnlyDeletes(next)
	refuse := refuseDeletes(http.StatusMethodNotAllowed, "UNSUPPORTED")(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && r.Header.Get("X-Packages-Stand-In") == "1" {
			digestOnly.ServeHTTP(w, r)
			return
		}
		refuse.ServeHTTP(w, r)
	})
}

// On a registry like ghcr.io, prune deletes through the packages API: the
// same images go as on a registry that deletes (checkApplied), each with
// all its tags, and no request leaves the documented endpoints.
func TestApplyThroughThePackagesAPI(t *testing.T) {
	s := newScene(t, packagesOnly)
	api := &ghpackagestest.StandIn{Owner: "shop", Org: true, Token: "ghp-test"}
	// Every manifest of the two repositories is a package version.
	for _, svc := range []string{"orders", "catalog"} {
		byDigest := map[string][]string{}
		for _, tag := range s.tags(svc) {
			d, err := s.reg.Resolve(s.ctx, s.repo(svc)+":"+tag)
			if err != nil {
				t.Fatal(err)
			}
			byDigest[d.DigestStr()] = append(byDigest[d.DigestStr()], tag)
		}
		// Untagged manifests (an index's platform manifests, untagged
		// images) are versions too.
		for _, ref := range s.refs() {
			if repo, d, _ := strings.Cut(ref, "@"); repo == s.repo(svc) {
				byDigest[d] = append(byDigest[d], []string{}...)
			}
		}
		for d, tags := range byDigest {
			api.Add(svc, d, tags...)
		}
	}
	api.OnDelete = func(pkg string, v ghpackagestest.Version) error {
		req, _ := http.NewRequest(http.MethodDelete, "http://"+s.host+"/v2/shop/"+pkg+"/manifests/"+v.Digest, nil)
		req.Header.Set("X-Packages-Stand-In", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return errors.New(resp.Status)
		}
		return nil
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	client, err := ghpackages.New(srv.URL, "ghp-test")
	if err != nil {
		t.Fatal(err)
	}

	res, err := Plan(s.ctx, s.options())
	if err != nil {
		t.Fatal(err)
	}
	out, err := Apply(s.ctx, s.reg, res, WithPackageAPI(s.host, client))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	s.checkApplied(t, res, out)
	if v := api.Violations(); len(v) > 0 {
		t.Errorf("requests outside the documented API: %q", v)
	}
	deletes := 0
	for _, c := range api.Calls() {
		if strings.HasPrefix(c, "DELETE ") {
			deletes++
			if !strings.HasPrefix(c, "DELETE /orgs/shop/packages/container/") {
				t.Errorf("delete call %s", c)
			}
		}
	}
	if deletes != len(out.Deleted) || deletes == 0 {
		t.Errorf("%d DELETE calls, %d deleted: %q", deletes, len(out.Deleted), out.Deleted)
	}
	for _, ref := range out.Deleted {
		if !strings.Contains(ref, "@sha256:") {
			t.Errorf("reported deleted %s, which is no digest the API deleted", ref)
		}
	}

	// A token that may not delete: refused with what to do, nothing
	// reported deleted.
	s2 := newScene(t, packagesOnly)
	api2 := &ghpackagestest.StandIn{Owner: "shop", Org: true, Token: "the-real-one"}
	srv2 := httptest.NewServer(api2)
	t.Cleanup(srv2.Close)
	weak, _ := ghpackages.New(srv2.URL, "read-only")
	res2, err := Plan(s2.ctx, s2.options())
	if err != nil {
		t.Fatal(err)
	}
	out2, err := Apply(s2.ctx, s2.reg, res2, WithPackageAPI(s2.host, weak))
	if !errors.Is(err, ErrDeletionRefused) || !strings.Contains(err.Error(), "delete:packages") || len(out2.Deleted) != 0 {
		t.Fatalf("weak token: %v, deleted %q", err, out2.Deleted)
	}
}

func TestPackagesClient(t *testing.T) {
	ctx := context.Background()
	for _, org := range []bool{true, false} {
		api := &ghpackagestest.StandIn{Owner: "acme", Org: org, Token: "tok"}
		for i := 0; i < 150; i++ { // two pages
			api.Add("shop/orders", "sha256:"+strings.Repeat("0", 61)+itoa3(i), "t"+itoa3(i))
		}
		srv := httptest.NewServer(api)
		c, err := ghpackages.New(srv.URL, "tok")
		if err != nil {
			t.Fatal(err)
		}
		target := "sha256:" + strings.Repeat("0", 61) + itoa3(140)
		if err := c.DeleteDigest(ctx, "ghcr.io/acme/shop/orders", target); err != nil {
			t.Fatalf("org %v: %v", org, err)
		}
		if err := c.DeleteDigest(ctx, "ghcr.io/acme/shop/orders", target); !errors.Is(err, ghpackages.ErrNotFound) {
			t.Errorf("org %v: deleting twice: %v", org, err)
		}
		if n := len(api.Versions("shop/orders")); n != 149 {
			t.Errorf("org %v: %d versions left", org, n)
		}
		if v := api.Violations(); len(v) > 0 {
			t.Errorf("org %v: violations %q", org, v)
		}
		srv.Close()
	}
	if _, _, err := ghpackages.Package("ghcr.io/acme"); err == nil {
		t.Error("a repository without a package name was accepted")
	}
	if _, err := ghpackages.New("", ""); err == nil || !strings.Contains(err.Error(), "delete:packages") {
		t.Errorf("no token: %v", err)
	}
}

func itoa3(i int) string {
	return string([]byte{byte('0' + i/100), byte('0' + i/10%10), byte('0' + i%10)})
}
