# slipway: every entry point a person or CI needs. Each target does its own set-up.
SHELL := /usr/bin/env bash

.PHONY: demo test unit e2e engine-up engine-down engine-status bench fmt vet

## demo: run the whole pipeline (`ci`) on the sample monorepo against the embedded default
demo:
	./hack/demo.sh

## test: everything: set-up, static checks, unit tests, the engine harness and end-to-end tests
test:
	./hack/test.sh

## unit: plain-Go tests only (no engine)
unit:
	./hack/test.sh unit

## e2e: end-to-end tests through a real Dagger engine (brings one up if needed)
e2e:
	./hack/test.sh e2e

engine-up:
	./hack/engine.sh up
engine-down:
	./hack/engine.sh down
engine-status:
	./hack/engine.sh status

## bench: print the project's figures (benchmarks, no assertions on time)
bench:
	./hack/bench.sh

fmt:
	gofmt -w $$(git ls-files '*.go')
vet:
	go vet ./...
