package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

func TestParseShard(t *testing.T) {
	for _, ok := range []string{"1/1", "2/3", " 3/3 "} {
		if _, err := ParseShard(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0/2", "3/2", "1", "a/b", "1/0", "-1/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Every service lands in exactly one shard, the split is not degenerate,
// and adding services never moves an existing one.
func TestShardAssignment(t *testing.T) {
	const n = 3
	names := make([]string, 60)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%02d", i)
	}
	where := map[string]int{}
	count := map[int]int{}
	for _, name := range names {
		owners := 0
		for k := 1; k <= n; k++ {
			if (Shard{k, n}).Owns(name) {
				owners++
				where[name] = k
				count[k]++
			}
		}
		if owners != 1 {
			t.Fatalf("%s is owned by %d shards", name, owners)
		}
	}
	for k := 1; k <= n; k++ {
		if count[k] < 10 {
			t.Errorf("shard %d/%d owns %d of 60 services: %v", k, n, count[k], count)
		}
	}
	// The assignment is a function of the name and N alone.
	for _, name := range names[:30] {
		if !(Shard{where[name], n}).Owns(name) {
			t.Errorf("%s moved", name)
		}
	}
	if !(Shard{1, 1}).Owns("anything") {
		t.Error("1/1 must own everything")
	}
}

func TestServiceList(t *testing.T) {
	p, err := Make(context.Background(), repo(), Options{Finder: finder{"ghcr.io/acme/api|" + mustDigest(t, "api"): "ghcr.io/acme/api@sha256:" + fmt.Sprintf("%064d", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.ServiceList(2)
	if err != nil {
		t.Fatal(err)
	}
	var got []ServiceInfo
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "api" || got[1].Name != "web" {
		t.Fatalf("list %s", b)
	}
	if got[0].Affected || got[0].Image != "ghcr.io/acme/api@sha256:"+fmt.Sprintf("%064d", 1) {
		t.Errorf("api (image exists): %+v", got[0])
	}
	if !got[1].Affected || got[1].Image != "ghcr.io/acme/web" || got[1].Language != "node" || got[1].InputDigest == "" {
		t.Errorf("web (affected): %+v", got[1])
	}
	for _, s := range got {
		if s.Shard < 1 || s.Shard > 2 || !(Shard{s.Shard, 2}).Owns(s.Name) {
			t.Errorf("%s: shard %d", s.Name, s.Shard)
		}
	}
}

// mustDigest is the input digest of a service of repo().
func mustDigest(t *testing.T, name string) string {
	t.Helper()
	p, err := Make(context.Background(), repo(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := p.Service(name)
	if !ok {
		t.Fatalf("no service %s", name)
	}
	return s.Inputs.Digest
}

func TestMakeShard(t *testing.T) {
	seen := map[string]int{}
	for k := 1; k <= 2; k++ {
		p, err := Make(context.Background(), repo(), Options{Shard: Shard{K: k, N: 2}})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Services {
			if s.Selected {
				seen[s.Name]++
				if !(Shard{k, 2}).Owns(s.Name) {
					t.Errorf("shard %d/2 selected %s, which it does not own", k, s.Name)
				}
			}
		}
	}
	if seen["api"] != 1 || seen["web"] != 1 {
		t.Errorf("every service must be selected by exactly one shard: %v", seen)
	}
}
