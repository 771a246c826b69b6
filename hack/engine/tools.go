//go:build tools

// Package tools pins the Dagger commands the harness builds: the engine, the
// dagger CLI, the container init, the dnsname CNI plugin and the SDK codegen.
package tools

import (
	_ "github.com/dagger/dagger/cmd/codegen"
	_ "github.com/dagger/dagger/cmd/dagger"
	_ "github.com/dagger/dagger/cmd/dnsname"
	_ "github.com/dagger/dagger/cmd/engine"
	_ "github.com/dagger/dagger/cmd/init"
)
