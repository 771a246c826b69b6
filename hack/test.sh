#!/usr/bin/env bash
# test.sh [unit|e2e|all]: every check of the project, with its own set-up.
#
#   unit  gofmt, go vet and go test of the root module (no engine) and of the
#         harness's tools module
#   e2e   bring the engine up (hack/engine.sh up: host packages, engine build,
#         registry, base images), then SLIPWAY_E2E=1 go test ./e2e/...
#   all   both (the default; `make test` and .ci/run)
#
# An engine this script started is stopped again at the end; one that was
# already running is left running. A summary of the phases ends the output.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SLIPWAY_ROOT"

what="${1:-all}"
case "$what" in unit | e2e | all) ;; *) die "usage: test.sh [unit|e2e|all]" ;; esac

results=()
failed=0
started_engine=0

# phase NAME CMD...: run a phase, record its status and duration.
phase() {
	local name="$1" t rc
	shift
	step "$name"
	t=$(date +%s)
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		results+=("$(printf '  %-28s ok    %4ss' "$name" $(($(date +%s) - t)))")
	else
		results+=("$(printf '  %-28s FAIL  %4ss  (exit %s)' "$name" $(($(date +%s) - t)) $rc)")
		failed=1
	fi
	return $rc
}

summary() {
	local rc=$?
	if [ $started_engine -eq 1 ]; then
		step "stopping the engine this run started"
		./hack/engine.sh down || true
	fi
	printf '\n== summary (%s, %ss)\n' "$what" $(($(date +%s) - _t0))
	printf '%s\n' "${results[@]}"
	if [ $failed -ne 0 ] || [ $rc -ne 0 ]; then
		printf 'RESULT: FAIL\n'
		exit 1
	fi
	printf 'RESULT: ok\n'
}
trap summary EXIT

gofmt_check() {
	local files bad
	mapfile -t files < <(git ls-files -co --exclude-standard '*.go')
	bad="$(gofmt -l "${files[@]}")"
	if [ -n "$bad" ]; then
		echo "gofmt needed on:" >&2
		echo "$bad" >&2
		return 1
	fi
	echo "gofmt: ${#files[@]} files ok"
}

root_vet() { go vet ./...; }
# The unit tests run the real Trivy (internal/vuln). Its cold build takes
# about 8 minutes and 3.5 GB of RAM: build it here, alone, before the test
# binaries run in parallel (and build their own, lighter tools); testutil.Tool
# then finds it in the shared cache, as engine.sh up does later. The same
# goes for Gitea, the Sigstore stack (Fulcio, Rekor v2, cosign v3) of the
# keyless signing tests, and the Kubernetes control plane and Flux of the
# verification tests.
tools_build() {
	./hack/build.sh trivy >/dev/null && ./hack/build.sh gitea >/dev/null && ./hack/build.sh sigstore >/dev/null &&
		./hack/build.sh k8s >/dev/null
}
root_unit() { go test -count=1 ./...; }
harness_unit() {
	(cd hack/engine && GOFLAGS="-buildvcs=false -mod=readonly" go vet ./cmd/... ./internal/... &&
		GOFLAGS="-buildvcs=false -mod=readonly" go test -count=1 ./cmd/... ./internal/...)
}

engine_up() {
	# Hold the harness lock until the end (engine up, tests, engine down).
	if [ "$(id -u)" = 0 ]; then
		engine_lock
	fi
	if ! ./hack/engine.sh status >/dev/null 2>&1; then
		started_engine=1
	fi
	# Also on loopback TCP, for the shared-engine test (docs/scaling.md).
	export SLIPWAY_ENGINE_TCP="${SLIPWAY_ENGINE_TCP-127.0.0.1:5098}"
	./hack/engine.sh up || return 1
	eval "$(./hack/engine.sh env)"
	log "engine: ${_EXPERIMENTAL_DAGGER_RUNNER_HOST:-stock dagger CLI}, registry: ${SLIPWAY_LOCAL_REGISTRY:-none}"
}

# The prebuilt worker of this checkout, published into the harness registry
# as the release workflow publishes it: the end-to-end tests run it as users
# run the released worker (and compile it from source where they do not pass
# it).
worker_image() {
	SLIPWAY_WORKER_IMAGE="$(./hack/worker.sh)" || return 1
	export SLIPWAY_WORKER_IMAGE
	log "worker image: $SLIPWAY_WORKER_IMAGE"
}

# The module's own code, checked on the host like any Go package: generate
# its Dagger bindings with the pinned engine's codegen (dagger develop, in a
# scratch copy so the checkout stays as it is), then go vet and the unit
# tests of ci/'s pure helpers.
module_code() {
	local tmp rc=0
	tmp="$(mktemp -d)"
	cp -r dagger.json go.mod go.sum LICENSE ci internal "$tmp/"
	rm -f "$tmp"/ci/dagger.gen.go
	rm -rf "$tmp"/ci/internal
	if "$_EXPERIMENTAL_DAGGER_CLI_BIN" develop -m "$tmp" --progress=plain >"$tmp.log" 2>&1; then
		# The generated client reads its session from the environment when the
		# package loads; the helpers under test never call the engine.
		(cd "$tmp/ci" && GOFLAGS=-mod=mod go vet ./... &&
			DAGGER_SESSION_PORT=1 DAGGER_SESSION_TOKEN=unit-tests GOFLAGS=-mod=mod go test -count=1 ./...) || rc=1
	else
		tail -30 "$tmp.log" >&2
		rc=1
	fi
	rm -rf "$tmp" "$tmp.log"
	return $rc
}

e2e_tests() {
	SLIPWAY_E2E=1 go test -count=1 -timeout 60m -v ./e2e/...
}

if [ "$what" = unit ] || [ "$what" = all ]; then
	phase "gofmt" gofmt_check
	phase "go vet (root module)" root_vet
	phase "tools (Trivy, Gitea, Sigstore, k8s)" tools_build
	phase "unit tests (root module)" root_unit
	phase "harness tools module" harness_unit
fi
if [ "$what" = e2e ] || [ "$what" = all ]; then
	if phase "engine up" engine_up; then
		phase "module code (ci/)" module_code
		phase "worker image" worker_image
		phase "end-to-end tests" e2e_tests
	else
		results+=("  end-to-end tests             not run (no engine)")
	fi
fi
