package config

import (
	"strings"
	"testing"

	"github.com/slipwayci/slipway/internal/testutil"
)

// The repository's own configuration and sample services must load.
func TestRepositoryConfigLoads(t *testing.T) {
	cfg, err := Load(testutil.RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range cfg.Services {
		names = append(names, s.Name+":"+s.Language)
		if len(s.Dependencies) == 0 || s.Test.Integration == "" {
			t.Errorf("sample service %s declares no integration test with a dependency", s.Name)
		}
	}
	if got := strings.Join(names, " "); got != "catalog:python notify:node orders:go" {
		t.Fatalf("services = %s", got)
	}
	if cfg.Project.Name != "shop" || cfg.Project.Registry.Prefix != "shop" {
		t.Errorf("project = %+v", cfg.Project)
	}
}
