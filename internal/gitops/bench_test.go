package gitops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const benchServices = 50

// benchRemote makes a bare repository whose dev overlay lists 50 services.
func benchRemote(b *testing.B) string {
	root := b.TempDir()
	bare := newRemote(b, root)
	work := filepath.Join(root, "seed50")
	runGit(b, root, "clone", "-q", bare, work)
	var k strings.Builder
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n")
	for i := 0; i < benchServices; i++ {
		fmt.Fprintf(&k, "  # service %d\n  - name: svc%02d\n    newName: registry.example.com/shop/svc%02d\n    newTag: \"0.9.0\"\n    digest: %s\n", i, i, i, dig(-i-1))
	}
	os.WriteFile(filepath.Join(work, "deploy/overlays/dev/kustomization.yaml"), []byte(k.String()), 0o644)
	runGit(b, work, "commit", "-q", "-am", "fifty services")
	runGit(b, work, "push", "-q", "origin", "main")
	return bare
}

func benchChanges(round int) []Change {
	changes := make([]Change, benchServices)
	for i := range changes {
		changes[i] = Change{
			Service: fmt.Sprintf("svc%02d", i), Image: fmt.Sprintf("registry.example.com/shop/svc%02d", i),
			Tag: fmt.Sprintf("1.%d.0", round), Digest: dig(round*1000 + i),
		}
	}
	return changes
}

// BenchmarkUpdate50Services measures one GitOps update of 50 services:
// fetch, reset, 50 edits, commit and push to a local bare repository.
func BenchmarkUpdate50Services(b *testing.B) {
	bare := benchRemote(b)
	r, err := Clone(context.Background(), bare)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res, err := r.Update(context.Background(), Layout{}, Request{Environment: "dev", Changes: benchChanges(i + 1), SourceCommit: source})
		if err != nil || !res.Pushed || len(res.Services) != benchServices {
			b.Fatalf("update: %+v, %v", res, err)
		}
	}
	b.StopTimer()
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/update")
	b.ReportMetric(float64(per.Microseconds())/1000/benchServices, "ms/service")
}

// BenchmarkPlan50Services measures the edits alone (no git): 50 kustomize
// entries rewritten in one file plus its diff.
func BenchmarkPlan50Services(b *testing.B) {
	bare := benchRemote(b)
	dir := b.TempDir()
	runGit(b, dir, "clone", "-q", bare, "w")
	dir = filepath.Join(dir, "w")
	changes := benchChanges(7)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := PlanUpdate(dir, Layout{}, "dev", changes)
		if err != nil || !p.Changed() || p.Diff() == "" {
			b.Fatal(err)
		}
	}
}
