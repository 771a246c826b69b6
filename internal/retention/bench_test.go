package retention

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/slipwayci/slipway/internal/registry/registrytest"
	"github.com/slipwayci/slipway/internal/signing"
)

// BenchmarkPlan plans one repository of 200 images (half of them signed
// and attested, one a day for 200 days) and reports the registry requests
// a plan takes.
func BenchmarkPlan(b *testing.B) {
	var counter *registrytest.Counter
	f := newFixture(b, func(next http.Handler) http.Handler {
		counter = registrytest.Count(next)
		return counter
	})
	for i := 0; i < 200; i++ {
		s := spec{seed: int64(i + 1), label: f.now.Add(-time.Duration(i) * day), tags: []string{fmt.Sprintf("%040x", i+1)}}
		if i%2 == 0 {
			s.sign, s.attest = true, []string{signing.PredicateSLSAProvenanceV1}
		}
		f.push("orders", s)
	}
	f.ready()
	o := f.options()
	o.Services = []string{"orders"}
	counter.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Plan(f.ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		if _, deleted, _ := res.Counts(); deleted != 170 {
			b.Fatalf("deleted %d, want 170", deleted)
		}
	}
	b.ReportMetric(float64(counter.Stats().Requests)/float64(b.N), "requests/op")
}
