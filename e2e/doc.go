// Package e2e holds slipway's end-to-end tests: they drive a real Dagger
// engine (the offline harness of hack/engine.sh, or any engine a laptop
// already has) through the Go SDK and the dagger CLI.
//
// The tests run only with SLIPWAY_E2E=1; without it they skip. With it and
// no reachable engine, they fail. The engine is found through the usual
// client variables (_EXPERIMENTAL_DAGGER_RUNNER_HOST,
// _EXPERIMENTAL_DAGGER_CLI_BIN); when those are unset the exports written by
// `hack/engine.sh up` (/run/slipway-engine/env, or $SLIPWAY_ENGINE_ENV) are
// used. SLIPWAY_LOCAL_REGISTRY names a registry the engine can push to
// (127.0.0.1:PORT for the harness); tests that publish skip without it.
package e2e
