#!/usr/bin/env bash
# demo.sh: the main job on an embedded default. Until slipway's Dagger module
# exists it runs the engine smoke pipeline (hack/demo): a real two-stage
# build, a run of the image, a publish to the local registry and the digest
# read back. Brings the engine up if needed and stops it again if it did.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

if [ "$(id -u)" = 0 ]; then
	engine_lock # held until the end: up, pipeline, down
fi
started=0
if ! ./hack/engine.sh status >/dev/null 2>&1; then
	started=1
fi
trap '[ $started -eq 1 ] && ./hack/engine.sh down' EXIT
./hack/engine.sh up
eval "$(./hack/engine.sh env)"

step "smoke pipeline: build e2e/testdata/dockerbuild, run it, publish it"
go run ./hack/demo
