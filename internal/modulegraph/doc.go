// Package modulegraph checks that the Dagger module stays light to load.
// Every fresh engine compiles the module (ci/) and every package it
// imports before the first function runs, so the plain-Go packages the
// module imports must not pull in the heavy libraries the worker uses
// (git, cosign, registry transports, cloud SDKs). It holds tests only:
//
//	go test ./internal/modulegraph/
package modulegraph
