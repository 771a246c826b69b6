package promote

import (
	"context"
	"testing"
)

// BenchmarkPromoteNoOp measures a promotion that finds everything in place:
// clone, read, verify three signatures, plan, write nothing.
func BenchmarkPromoteNoOp(b *testing.B) {
	f := newFixture(b)
	devReady(f)
	if _, err := Run(context.Background(), f.options("dev", "staging")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Run(context.Background(), f.options("dev", "staging")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPromoteDryRunProd measures every check prod makes (signature and
// three attestations for each of three services) and the diff.
func BenchmarkPromoteDryRunProd(b *testing.B) {
	f := newFixture(b)
	devReady(f)
	o := f.options("dev", "prod")
	o.DryRun = true
	b.ResetTimer()
	for b.Loop() {
		if _, err := Run(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
}
