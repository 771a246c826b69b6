// Fixture is the Dagger module of slipway's end-to-end tests. It has the
// layout slipway's own module uses: the repository's root go.mod holds
// plain-Go packages under internal/, and the module in ci/ (its own go.mod,
// replacing the root module) imports them.
package main

import (
	"context"

	"example.com/slipway-e2e/daggermod/internal/greet"
)

// Fixture is the module's main object.
type Fixture struct{}

// Greet returns a greeting computed by the root module's internal/greet.
func (m *Fixture) Greet(name string) string {
	return greet.Greeting(name)
}

// Kernel runs a container from a mirrored image inside the module and
// returns the name of the kernel it ran on.
func (m *Fixture) Kernel(ctx context.Context) (string, error) {
	return dag.Container().From("alpine:3.22").WithExec([]string{"uname", "-s"}).Stdout(ctx)
}
